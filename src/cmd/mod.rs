//! The commands: one file each. A command parses nothing (clap did), calls the pipeline in
//! `lib.rs`, writes its output to the injected writers and returns an exit code
//! (`crate::exit`). Nothing here prints on its own, exits the process or decides what a plan
//! contains. This file holds what every command shares: the writers, loading the fleet files,
//! the one path that connects to a server (and always redacts its URL), approval and the
//! metrics file.

pub mod apply;
pub mod completions;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod drift;
pub mod export;
pub mod plan;
pub mod progress;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod show;
pub mod validate;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::backend::{ConnectOptions, Connected, Progress, RequestLog, redact_url};
use crate::cli::{Color, ConnectArgs, OutputArgs};
use crate::config::{self, Loaded, Redactions};
use crate::core::model::Description;
use crate::core::plan::Summary;
use crate::views::metrics;

/// Where output goes and how it looks.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub color: bool,
    /// Where `-v` logs requests (the binary's writes to stderr). Not `err`: the requests of one
    /// phase run concurrently.
    pub request_log: RequestLog,
    /// The progress bar of long reads and applies: drawn on stderr when it is a terminal
    /// (`cmd::progress::Bar`), `Progress::none()` elsewhere and under `-q`.
    pub progress: Progress,
}

impl Io<'_> {
    /// The request log for `-v`, if asked for.
    pub fn log_for(&self, output: &OutputArgs) -> Option<RequestLog> {
        output.verbose.then(|| self.request_log.clone())
    }

    /// The progress bar, unless `-q`, or `-v` (whose request lines would cut through it).
    pub fn progress_for(&self, output: &OutputArgs) -> Progress {
        if output.quiet || output.verbose {
            Progress::none()
        } else {
            self.progress.clone()
        }
    }
}

pub fn use_color(choice: Color, is_terminal: bool) -> bool {
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Loads and merges the fleet files (`-f`, repeatable; a directory stands for its files).
/// Without `-f`: the default of the current directory (`default_files`).
pub fn load_files(paths: &[PathBuf]) -> anyhow::Result<Loaded> {
    let defaults;
    let paths = if paths.is_empty() {
        defaults = default_files(Path::new("."))?;
        &defaults
    } else {
        paths
    };
    config::load_many(paths).map_err(|problems| anyhow::anyhow!("{problems}"))
}

/// What `-f` reads when it is not given, in `dir`: `fleet.yaml`, else the directory
/// `fleet.d/`; both at once is ambiguous, neither is an error saying what was looked for.
pub fn default_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let file = dir.join("fleet.yaml");
    let folder = dir.join("fleet.d");
    // Named as the user would type them, not joined to `.`.
    let shown = |p: &Path| p.strip_prefix(".").unwrap_or(p).to_path_buf();
    match (file.is_file(), folder.is_dir()) {
        (true, false) => Ok(vec![shown(&file)]),
        (false, true) => Ok(vec![shown(&folder)]),
        (true, true) => bail!(
            "both {} and {}/ exist; pass -f to choose which fleet file to use",
            shown(&file).display(),
            shown(&folder).display()
        ),
        (false, false) => bail!(
            "no fleet file: found neither {} nor {}/; pass -f FILE (or -f DIRECTORY)",
            shown(&file).display(),
            shown(&folder).display()
        ),
    }
}

/// Loads one fleet file (or directory).
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    load_files(&[path.to_path_buf()])
}

/// What a command adds to the connection flags: `-v`'s log, the progress bar of reads, and
/// apply's `--batch-size`.
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub log: Option<RequestLog>,
    pub progress: Progress,
    /// `None`: the backend's default (commands that never write links).
    pub batch_size: Option<u32>,
}

impl Session {
    /// `-v`'s log and the progress bar (unless `-q`) of a command that only reads.
    pub fn reading(io: &Io<'_>, output: &OutputArgs) -> Session {
        Session {
            log: io.log_for(output),
            progress: io.progress_for(output),
            batch_size: None,
        }
    }
}

/// The connection options the connection flags ask for (`instance`: the fleet's instance,
/// on servers that host several).
pub fn backend_options(
    args: &ConnectArgs,
    session: Session,
    instance: Option<&str>,
) -> ConnectOptions {
    ConnectOptions {
        concurrency: args.concurrency.map(usize::from),
        batch_size: session.batch_size.map(|n| n as usize),
        bulk: !args.no_bulk,
        timeout: Duration::from_secs(args.timeout.max(1)),
        insecure_http: args.insecure_http,
        log: session.log,
        progress: session.progress,
        ca_certs: args.ca_cert.clone(),
        instance: instance.map(str::to_string),
        token_cache: args.token_cache.clone(),
    }
}

/// The one way a command connects: to a server of `backend`'s kind, at the URL from
/// `--url`/`TRACCAR_URL`, else `fallback` (the file's `server.url` or a saved plan's server,
/// named by `fallback_source`), in `instance` where the server hosts several, with credentials
/// from the environment (in the backend's precedence; `-v` says which were used), requests
/// logged to the session's log (`-v`). Every error names the server with its credentials
/// redacted.
pub async fn connect(
    backend: &Description,
    args: &ConnectArgs,
    session: Session,
    (fallback, fallback_source): (Option<&str>, &str),
    instance: Option<&str>,
) -> anyhow::Result<Connected> {
    let (login, which) = crate::backend::login_from_env(backend)?;
    if let Some(log) = &session.log {
        log.line(&which);
    }
    let Some(url) = args.url.as_deref().or(fallback) else {
        bail!("no server URL: set {fallback_source}TRACCAR_URL, or --url");
    };
    crate::backend::connect(url, &login, backend_options(args, session, instance))
        .await
        .with_context(|| format!("connecting to {}", redact_url(url)))
}

/// `connect`, to the server a loaded fleet file names (its kind, and `server.url` unless
/// `--url` or `TRACCAR_URL` is given).
pub async fn connect_to_file(
    loaded: &Loaded,
    args: &ConnectArgs,
    session: Session,
) -> anyhow::Result<Connected> {
    connect(
        loaded.desired.backend,
        args,
        session,
        (
            loaded.server_url.as_deref(),
            &format!("server.url in {}, ", loaded.source),
        ),
        loaded.server_instance.as_deref(),
    )
    .await
}

/// What a run knows once the fleet file (or a saved plan) is read, so that its failure is still
/// reported well: the fleet, for the metrics, and the substituted values, to redact.
#[derive(Default)]
pub struct Known {
    fleet: String,
    redactions: Redactions,
}

impl Known {
    /// The fleet file was read.
    pub fn file(&mut self, loaded: &Loaded) {
        self.fleet.clone_from(&loaded.desired.fleet);
        self.redactions.clone_from(&loaded.redactions);
    }

    /// A saved plan of `fleet` was read (it holds no substituted values).
    pub fn fleet(&mut self, fleet: &str) {
        self.fleet = fleet.to_string();
    }

    /// The command's result, with substituted values redacted from its error and the failure
    /// written to `--metrics-out` (when given).
    pub fn finish(
        &self,
        result: anyhow::Result<i32>,
        metrics_out: Option<&Path>,
        command: &str,
    ) -> anyhow::Result<i32> {
        record_failure(
            redact_error(result, &self.redactions),
            metrics_out,
            command,
            &self.fleet,
        )
    }
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

/// The current time for metrics files, in Unix seconds.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Writes a successful run to `--metrics-out` (when given).
pub fn write_metrics(
    path: Option<&Path>,
    command: &str,
    fleet: &str,
    summary: Summary,
    extra: impl FnOnce(&mut metrics::Run),
) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let mut run = metrics::Run {
        command: command.into(),
        fleet: fleet.into(),
        success: true,
        timestamp: now(),
        summary: Some(summary),
        ..metrics::Run::default()
    };
    extra(&mut run);
    metrics::write_atomically(path, &metrics::render(&run))
}

/// Keeps the fleet file's substituted `${VAR}` values out of an error before `main` prints it:
/// the error may repeat a server's answer, or a plan refusal, that quotes them.
pub fn redact_error(result: anyhow::Result<i32>, redactions: &Redactions) -> anyhow::Result<i32> {
    result.map_err(|e| {
        if redactions.is_empty() {
            e
        } else {
            anyhow::anyhow!(redactions.apply(&format!("{e:#}")))
        }
    })
}

/// Writes a failure to `--metrics-out` (when given) if `result` is an error, then returns it.
pub fn record_failure(
    result: anyhow::Result<i32>,
    metrics_out: Option<&Path>,
    command: &str,
    fleet: &str,
) -> anyhow::Result<i32> {
    if let (Err(_), Some(path)) = (&result, metrics_out) {
        let run = metrics::Run {
            command: command.into(),
            fleet: fleet.into(),
            success: false,
            timestamp: now(),
            ..metrics::Run::default()
        };
        // The command's own error is the one to report.
        let _ = metrics::write_atomically(path, &metrics::render(&run));
    }
    result
}

#[cfg(test)]
mod tests {
    //! The wiring of plan and apply: `--target`, the safety refusal and its override, and the
    //! markdown format, against an in-memory backend that records what it is asked to do.

    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{TRACCAR, tf};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::backend::{Applied, Backend, Outcome};
    use crate::cli::{ApplyArgs, ConnectArgs, Format, PlanArgs, ServerArgs};
    use crate::core::model::{Account, Action, Live, LiveUser, Scope, UserKey};
    use crate::exit::{CHANGES as EXIT_CHANGES, OK as EXIT_OK};

    const ADMIN: &str = "admin@x.test";

    struct Fake {
        live: Live,
        applied: Mutex<Vec<Action>>,
    }

    impl Backend for Fake {
        fn description(&self) -> &'static crate::core::model::Description {
            TRACCAR
        }
        async fn describe(&self) -> anyhow::Result<Account> {
            Ok(self.live.account.clone())
        }
        async fn fetch(&self, _scope: &Scope) -> anyhow::Result<Live> {
            Ok(self.live.clone())
        }
        async fn apply_phase(
            &self,
            _context: &crate::backend::PhaseContext<'_>,
            actions: &[Action],
        ) -> Vec<Outcome> {
            let mut applied = self.applied.lock().expect("lock");
            applied.extend(actions.iter().cloned());
            actions
                .iter()
                .map(|a| match a {
                    Action::CreateUser { .. } => Ok(Applied::Created {
                        password: crate::core::secret::Secret::new("pw"),
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
            untouchable: (email == ADMIN).then(|| crate::testing::ADMINISTRATOR.to_string()),
            marker: marker.map(str::to_string),
            fields: BTreeMap::new(),
            links: Default::default(),
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
                    role: "admin".into(),
                },
                users,
                targets: Default::default(),
                ambiguous: Default::default(),
                owner_targets: Default::default(),
                now: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
                objects: Default::default(),
                unnamed: Default::default(),
                choices: Default::default(),
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
            connect: ConnectArgs {
                url: None,
                token_cache: None,
                insecure_http: false,
                ca_cert: vec![],
                concurrency: Some(1),
                no_bulk: false,
                timeout: 1,
            },
            target: targets.iter().map(|t| t.to_string()).collect(),
            output: Default::default(),
        }
    }

    fn apply_args(targets: &[&str], allow: bool) -> ApplyArgs {
        ApplyArgs {
            plan_file: None,
            batch_size: 500,
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
            request_log: RequestLog::new(|_| {}),
            progress: Progress::none(),
        };
        apply::run_with(backend, loaded, args, Approval::Auto, &mut io).await
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
            request_log: RequestLog::new(|_| {}),
            progress: Progress::none(),
        };
        let code = plan::run_with(&backend, &loaded, &args, &mut io)
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
