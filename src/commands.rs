//! The commands behind the CLI: each wires config, backend, plan, render and apply together and
//! returns an exit code. Output goes to injected writers; nothing here prints errors (main does,
//! once) and nothing here decides what a plan contains.

use std::fs::OpenOptions;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::apply;
use crate::backend::Backend;
use crate::backend::traccar::api::Credentials;
use crate::backend::traccar::{Options, TraccarBackend};
use crate::cli::{ApplyArgs, Color, Format, PlanArgs, ServerArgs};
use crate::config::{self, Loaded};
use crate::model::{Desired, Live, Scope};
use crate::plan::Plan;
use crate::render;
use crate::safety;
use crate::secret::Secret;
use crate::target;

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;

/// Where output goes and how it looks.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub color: bool,
}

pub fn use_color(choice: Color, is_terminal: bool) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Reads credentials from the environment. Nothing else may hold them.
pub fn credentials_from_env() -> anyhow::Result<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("TRACCAR_TOKEN") {
        return Ok(Credentials::Token(Secret::new(token)));
    }
    if let Some(email) = var("TRACCAR_EMAIL") {
        let Some(password) = var("TRACCAR_PASSWORD") else {
            bail!("TRACCAR_EMAIL is set but TRACCAR_PASSWORD is not; set both, or TRACCAR_TOKEN");
        };
        return Ok(Credentials::Password {
            email,
            password: Secret::new(password),
        });
    }
    if let Some(basic) = var("TRACCAR_AUTH_TOKEN") {
        return Credentials::from_basic_token(&Secret::new(basic));
    }
    bail!(
        "no credentials: set TRACCAR_TOKEN (an API token), or TRACCAR_EMAIL and TRACCAR_PASSWORD, or TRACCAR_AUTH_TOKEN (base64 of email:password)"
    )
}

/// Loads one fleet file (or directory).
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    load_files(&[path.to_path_buf()])
}

/// Loads and merges the fleet files (`-f`, repeatable; a directory stands for its files).
pub fn load_files(paths: &[PathBuf]) -> anyhow::Result<Loaded> {
    config::load_many(paths).map_err(|problems| anyhow::anyhow!("{problems}"))
}

pub fn validate(paths: &[PathBuf], io: &mut Io<'_>) -> anyhow::Result<i32> {
    let loaded = load_files(paths)?;
    writeln!(
        io.out,
        "{}: valid (fleet {}, {} users).",
        loaded.source,
        loaded.desired.fleet,
        loaded.desired.users.len()
    )?;
    Ok(EXIT_OK)
}

/// The backend options the server flags ask for.
pub fn backend_options(args: &ServerArgs) -> Options {
    Options {
        concurrency: usize::from(args.concurrency),
        batch_size: args.batch_size as usize,
        bulk: !args.no_bulk,
        timeout: Duration::from_secs(args.timeout.max(1)),
        insecure_http: args.insecure_http,
        verbose: args.verbose,
        ca_certs: args.ca_cert.clone(),
        ..Options::default()
    }
}

/// Connects to the server the flags, environment or file name.
pub async fn connect(
    args: &ServerArgs,
    loaded: &Loaded,
    credentials: &Credentials,
) -> anyhow::Result<TraccarBackend> {
    let Some(url) = args.url.clone().or_else(|| loaded.server_url.clone()) else {
        bail!(
            "no server URL: set server.url in {}, TRACCAR_URL, or --url",
            loaded.source
        );
    };
    let options = backend_options(args);
    TraccarBackend::connect(&url, credentials, options)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                crate::backend::traccar::api::redact_url(&url)
            )
        })
}

/// The pipeline up to the plan: describe, fetch, diff and check. No writes.
pub async fn make_plan<B: Backend>(backend: &B, loaded: &Loaded) -> anyhow::Result<Plan> {
    Ok(make_plan_and_live(backend, loaded).await?.0)
}

/// `make_plan`, also returning the live state it read (for saved plans, drift reports, the
/// safety limits and `--target`).
pub async fn make_plan_and_live<B: Backend>(
    backend: &B,
    loaded: &Loaded,
) -> anyhow::Result<(Plan, Live)> {
    backend.describe().await?;
    let live = backend
        .fetch(&Scope::of(&loaded.desired))
        .await
        .context("reading the server's state")?;
    // Adds each user's applied record (see drift.rs) and plans.
    let plan = crate::drift::plan_recorded(&loaded.desired, &live).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "{}\n{} problem(s) found before any change was made; nothing was applied",
            lines.join("\n"),
            problems.len()
        )
    })?;
    Ok((plan, live))
}

/// `make_plan_and_live`, narrowed to `--target` users (all users when none are given).
pub async fn make_targeted_plan<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    targets: &[String],
) -> anyhow::Result<(Plan, Live)> {
    let (plan, live) = make_plan_and_live(backend, loaded).await?;
    let plan = target::restrict(plan, targets, &loaded.desired, &live)?;
    Ok((plan, live))
}

pub fn render_plan(plan: &Plan, format: Format, io: &mut Io<'_>) -> anyhow::Result<()> {
    match format {
        Format::Text => render::text(plan, io.out, io.color)?,
        Format::Markdown => render::markdown(plan, io.out)?,
        Format::Json => render::write_json(plan, io.out)?,
    }
    Ok(())
}

pub async fn plan_command<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &PlanArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let (plan, live) = make_targeted_plan(backend, loaded, &args.server.target).await?;
    render_plan(&plan, args.format, io)?;
    crate::workflow::save_plan(&plan, &live, loaded, &args.saved)?;
    Ok(if args.detailed_exitcode && !plan.actions.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// How apply gets its confirmation.
pub enum Approval<'a> {
    /// `--auto-approve`.
    Auto,
    /// Ask on a terminal: the answer is read from this reader.
    Ask(&'a mut dyn BufRead),
    /// No terminal and no `--auto-approve`: refuse.
    Refuse,
}

pub async fn apply_command<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let (plan, live) = make_targeted_plan(backend, loaded, &args.server.target).await?;
    execute_plan(backend, &plan, (&loaded.desired, &live), args, approval, io).await
}

/// Shows `plan`, checks the safety limits against the fleet and the live state it was made
/// from, asks for approval and applies it (shared by `apply -f` and `apply --plan`).
pub async fn execute_plan<B: Backend>(
    backend: &B,
    plan: &Plan,
    (desired, live): (&Desired, &Live),
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    render_plan(plan, Format::Text, io)?;
    if plan.actions.is_empty() {
        return Ok(EXIT_OK);
    }
    // After the plan is shown, so the refusal's numbers can be checked against it.
    safety::check(desired, live, plan, args.allow_mass_removal)?;
    match approval {
        Approval::Auto => {}
        Approval::Refuse => bail!(
            "not applying: standard input is not a terminal; review the plan and pass --auto-approve"
        ),
        Approval::Ask(input) => {
            write!(
                io.out,
                "\nApply these changes to {}? Only 'yes' is accepted: ",
                plan.account.url
            )?;
            io.out.flush()?;
            let mut answer = String::new();
            input.read_line(&mut answer)?;
            if answer.trim() != "yes" {
                writeln!(io.out, "Apply cancelled; nothing was changed.")?;
                return Ok(EXIT_ERROR);
            }
        }
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        writeln!(io.out, "Apply cancelled; nothing was changed.")?;
        return Ok(EXIT_ERROR);
    }
    // Opened before the first write, so a path that cannot be written stops the run early.
    let creates = plan
        .actions
        .iter()
        .filter(|a| matches!(a, crate::model::Action::CreateUser { .. }))
        .count();
    let mut credentials_file = match (&args.credentials_out, creates) {
        (Some(path), n) if n > 0 => Some(open_credentials_file(path, args.force)?),
        _ => None,
    };
    writeln!(io.out)?;
    let report = apply::apply_with_cancel(backend, plan, io.out, &INTERRUPTED).await;
    crate::workflow::apply_metrics(plan, &report, &args.saved)?;
    if let (Some(file), Some(path)) = (credentials_file.as_mut(), &args.credentials_out) {
        write_credentials(file, path, &report.credentials)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(
            io.out,
            "Passwords of {} new user(s) written to {}.",
            report.credentials.len(),
            path.display()
        )?;
    } else if !report.credentials.is_empty() {
        writeln!(
            io.out,
            "{} user(s) created with random passwords that were not saved (pass --credentials-out PATH to keep them).",
            report.credentials.len()
        )?;
    }
    report.write_to(io.out)?;
    if report.interrupted {
        bail!(
            "apply was interrupted: {} action(s) done, {} failed, {} not started; run apply again to finish",
            report.done.len(),
            report.failed.len(),
            report.skipped.len()
        )
    } else if report.is_success() {
        Ok(EXIT_OK)
    } else {
        bail!(
            "apply did not finish: {} action(s) failed and {} were skipped; fix the cause and run apply again to finish",
            report.failed.len(),
            report.skipped.len()
        )
    }
}

/// Set by the Ctrl-C handler (`cancel_on_ctrl_c`, installed by `main` for `apply`); `apply`
/// checks it between slices of work. Nothing else sets it, so library callers and tests are
/// unaffected (they pass their own flag to `apply::apply_with_cancel`).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C stop an apply cleanly: the first Ctrl-C lets the requests in flight finish and
/// the report print (exit 1); a second one exits at once (130, as a shell would).
pub fn cancel_on_ctrl_c() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!(
            "Interrupted: finishing the requests in flight (Ctrl-C again to stop at once)..."
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

/// Creates the credentials file with mode 0600; refuses to overwrite without `force`.
pub fn open_credentials_file(path: &Path, force: bool) -> anyhow::Result<std::fs::File> {
    let mut options = OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists; move it away or pass --force to overwrite it",
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("creating {}", path.display()))
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // With --force the file may have existed with wider permissions.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn write_credentials(
    file: &mut std::fs::File,
    path: &Path,
    credentials: &[(String, Secret)],
) -> anyhow::Result<()> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json {
        let rows: Vec<serde_json::Value> = credentials
            .iter()
            .map(|(email, pw)| serde_json::json!({"email": email, "password": pw.expose()}))
            .collect();
        writeln!(file, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        writeln!(file, "email,password")?;
        for (email, pw) in credentials {
            // Generated passwords are URL-safe base64; emails cannot hold commas or quotes
            // that matter here, but quote them anyway for spreadsheet safety.
            writeln!(file, "\"{}\",{}", email.replace('"', "\"\""), pw.expose())?;
        }
    }
    file.sync_all()?;
    Ok(())
}

/// Asks on a terminal, refuses otherwise, unless auto-approved.
pub fn approval_for<'a>(auto: bool, stdin: &'a mut dyn BufRead, is_terminal: bool) -> Approval<'a> {
    if auto {
        Approval::Auto
    } else if is_terminal {
        Approval::Ask(stdin)
    } else {
        Approval::Refuse
    }
}

/// Whether standard input is a terminal (for `apply`'s confirmation).
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    //! The wiring of plan and apply: `--target`, the safety refusal and its override, and the
    //! markdown format, against an in-memory backend that records what it is asked to do.

    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::backend::{Applied, Outcome};
    use crate::model::{Account, Action, LiveUser, Role, UserKey};

    const ADMIN: &str = "admin@x.test";

    struct Fake {
        live: Live,
        applied: Mutex<Vec<Action>>,
    }

    impl Backend for Fake {
        async fn describe(&self) -> anyhow::Result<Account> {
            Ok(self.live.account.clone())
        }
        async fn fetch(&self, _scope: &Scope) -> anyhow::Result<Live> {
            Ok(self.live.clone())
        }
        async fn apply_phase(&self, actions: &[Action]) -> Vec<Outcome> {
            let mut applied = self.applied.lock().expect("lock");
            applied.extend(actions.iter().cloned());
            actions
                .iter()
                .map(|a| match a {
                    Action::CreateUser { .. } => Ok(Applied::Created {
                        password: crate::secret::Secret::new("pw"),
                    }),
                    _ => Ok(Applied::Done),
                })
                .collect()
        }
    }

    /// A server with the admin and `n` users of fleet `acme`, `u0@x.test`..
    fn fake(n: usize) -> Fake {
        let user = |email: &str, marker: Option<&str>| LiveUser {
            email: email.into(),
            administrator: email == ADMIN,
            marker: marker.map(str::to_string),
            fields: BTreeMap::new(),
            devices: BTreeSet::new(),
            groups: BTreeSet::new(),
            managed_by: BTreeSet::new(),
        };
        let mut users: BTreeMap<UserKey, LiveUser> = (0..n)
            .map(|i| {
                let email = format!("u{i}@x.test");
                (UserKey::new(&email), user(&email, Some("acme")))
            })
            .collect();
        users.insert(UserKey::new(ADMIN), user(ADMIN, None));
        Fake {
            live: Live {
                account: Account {
                    backend: "fake".into(),
                    url: "http://127.0.0.1:1".into(),
                    server_version: "6.14.5".into(),
                    email: ADMIN.into(),
                    role: Role::Admin,
                },
                users,
                devices: BTreeSet::new(),
                groups: BTreeSet::new(),
                ambiguous_groups: BTreeSet::new(),
                manager_devices: None,
                now: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            },
            applied: Mutex::new(Vec::new()),
        }
    }

    /// A fleet file keeping users `u{keep}` and adding `new@x.test`.
    fn file(keep: std::ops::Range<usize>) -> Loaded {
        let mut text = "version: 1\nfleet: acme\nusers:\n  - email: new@x.test\n".to_string();
        for i in keep {
            text.push_str(&format!("  - email: u{i}@x.test\n"));
        }
        config::parse(&text, "fleet.yaml").expect("valid")
    }

    fn server(targets: &[&str]) -> ServerArgs {
        ServerArgs {
            file: vec![],
            url: None,
            insecure_http: false,
            ca_cert: vec![],
            concurrency: 1,
            batch_size: 500,
            no_bulk: false,
            timeout: 1,
            target: targets.iter().map(|t| t.to_string()).collect(),
            verbose: false,
        }
    }

    fn apply_args(targets: &[&str], allow: bool) -> ApplyArgs {
        ApplyArgs {
            server: server(targets),
            auto_approve: true,
            credentials_out: None,
            force: false,
            allow_mass_removal: allow,
            saved: Default::default(),
        }
    }

    async fn run_apply(backend: &Fake, loaded: &Loaded, args: &ApplyArgs) -> anyhow::Result<i32> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            color: false,
        };
        apply_command(backend, loaded, args, Approval::Auto, &mut io).await
    }

    fn applied(backend: &Fake) -> Vec<String> {
        backend
            .applied
            .lock()
            .expect("lock")
            .iter()
            .map(crate::apply::describe)
            .collect()
    }

    #[tokio::test]
    async fn apply_refuses_mass_removal_before_any_write_unless_overridden() {
        // 10 managed users, the file keeps 7: 3 deletes are 30% > 25%.
        let backend = fake(10);
        let loaded = file(0..7);
        let refused = run_apply(&backend, &loaded, &apply_args(&[], false)).await;
        let message = format!("{:#}", refused.expect_err("refused"));
        assert!(
            message.contains("3 of the fleet's 10 managed users (30%)"),
            "{message}"
        );
        assert!(message.contains("--allow-mass-removal"), "{message}");
        assert!(applied(&backend).is_empty(), "nothing may be written");

        let code = run_apply(&backend, &loaded, &apply_args(&[], true)).await;
        assert_eq!(code.expect("applied"), EXIT_OK);
        assert_eq!(
            applied(&backend),
            [
                "delete user u7@x.test",
                "delete user u8@x.test",
                "delete user u9@x.test",
                "create user new@x.test"
            ]
        );
    }

    #[tokio::test]
    async fn target_limits_apply_and_the_safety_check_sees_the_narrowed_plan() {
        let backend = fake(10);
        let loaded = file(0..7);
        let code = run_apply(&backend, &loaded, &apply_args(&["U8@x.test"], false)).await;
        assert_eq!(code.expect("one delete is within the limits"), EXIT_OK);
        assert_eq!(applied(&backend), ["delete user u8@x.test"]);

        let unknown = run_apply(&backend, &loaded, &apply_args(&["nobody@x.test"], false)).await;
        let message = format!("{:#}", unknown.expect_err("unknown target"));
        assert!(message.contains("--target nobody@x.test"), "{message}");
    }

    #[tokio::test]
    async fn plan_renders_markdown_for_the_targets() {
        let backend = fake(2);
        let loaded = file(0..1);
        let args = PlanArgs {
            server: server(&["u1@x.test"]),
            format: Format::Markdown,
            detailed_exitcode: true,
            saved: Default::default(),
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            color: false,
        };
        let code = plan_command(&backend, &loaded, &args, &mut io)
            .await
            .expect("plan");
        assert_eq!(code, EXIT_CHANGES);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with("### fleetform plan for fleet `acme`"),
            "{text}"
        );
        assert!(text.contains("**`u1@x.test`**: delete"), "{text}");
        assert!(!text.contains("new@x.test"), "{text}");
    }
}
