//! The commands behind the CLI: each wires config, backend, plan, render and apply together and
//! returns an exit code. Output goes to injected writers; nothing here prints errors (main does,
//! once) and nothing here decides what a plan contains.

use std::fs::OpenOptions;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::apply;
use crate::backend::Backend;
use crate::backend::traccar::api::Credentials;
use crate::backend::traccar::{Options, TraccarBackend};
use crate::cli::{ApplyArgs, Color, Format, PlanArgs, ServerArgs};
use crate::config::{self, Loaded};
use crate::model::Scope;
use crate::plan::{self, Plan};
use crate::render;
use crate::secret::Secret;

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

pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    config::load(path).map_err(|problems| anyhow::anyhow!("{problems}"))
}

pub fn validate(path: &Path, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let loaded = load(path)?;
    writeln!(
        io.out,
        "{}: valid (fleet {}, {} users).",
        path.display(),
        loaded.desired.fleet,
        loaded.desired.users.len()
    )?;
    Ok(EXIT_OK)
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
    let options = Options {
        concurrency: usize::from(args.concurrency),
        timeout: Duration::from_secs(args.timeout.max(1)),
        insecure_http: args.insecure_http,
        verbose: args.verbose,
        ..Options::default()
    };
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
    backend.describe().await?;
    let live = backend
        .fetch(&Scope::of(&loaded.desired))
        .await
        .context("reading the server's state")?;
    plan::plan(&loaded.desired, &live).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        anyhow::anyhow!(
            "{}\n{} problem(s) found before any change was made; nothing was applied",
            lines.join("\n"),
            problems.len()
        )
    })
}

pub fn render_plan(plan: &Plan, format: Format, io: &mut Io<'_>) -> anyhow::Result<()> {
    match format {
        Format::Text => render::text(plan, io.out, io.color)?,
        Format::Json => {
            writeln!(
                io.out,
                "{}",
                serde_json::to_string_pretty(&render::json(plan))?
            )?;
        }
    }
    Ok(())
}

pub async fn plan_command<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &PlanArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let plan = make_plan(backend, loaded).await?;
    render_plan(&plan, args.format, io)?;
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
    cancel: &AtomicBool,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let plan = make_plan(backend, loaded).await?;
    render_plan(&plan, Format::Text, io)?;
    if plan.actions.is_empty() {
        return Ok(EXIT_OK);
    }
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
    if cancel.load(Ordering::SeqCst) {
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
    let report = apply::apply_with_cancel(backend, &plan, io.out, cancel).await;
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

/// A flag that Ctrl-C sets, for `apply_command`: the first Ctrl-C lets the requests in flight
/// finish and the report print; a second one exits at once (130, as a shell would).
pub fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        set.store(true, Ordering::SeqCst);
        eprintln!(
            "Interrupted: finishing the requests in flight (Ctrl-C again to stop at once)..."
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
    flag
}
