//! `fleetform apply`: plans (or reads a saved plan and proves it still holds), shows the plan,
//! checks the safety limits, asks for approval, applies, and writes the report, the generated
//! passwords (`--credentials-out`) and the metrics. The writes themselves are `crate::apply`'s.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};

use super::{Approval, Io, Known, Session, connect, connect_to_file, load_files, write_metrics};
use crate::backend::Backend;
use crate::cli::ApplyArgs;
use crate::config::{Loaded, Redactions};
use crate::core::model::{Action, Desired, Live};
use crate::core::plan::Plan;
use crate::core::secret::Secret;
use crate::views::render::{Format, Notes, Passwords};
use crate::views::{count, saved};
use crate::{ApplyOptions, PlanOptions, exit};

/// Set by `main`'s Ctrl-C handler; `apply` checks it between slices of work and the backend right
/// before each request it starts (`PhaseContext::cancel`). Nothing else sets
/// it, so library callers and tests are unaffected (they pass their own flag).
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// `fleetform apply` from the command line: `-f FILE` or a saved plan.
pub async fn run(args: &ApplyArgs, approval: Approval<'_>, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let mut known = Known::default();
    let session = Session {
        batch_size: Some(args.batch_size),
        ..Session::reading(io, &args.server.output)
    };
    let result = async {
        // Before anything is read: a credentials file that cannot be written is no reason to
        // find out after the plan.
        if let Some(path) = &args.credentials_out {
            check_credentials_path(path, args.force)?;
        }
        if let Some(path) = args.saved_plan() {
            let saved = read_saved(path)?;
            known.fleet(&saved.scope.fleet);
            let backend = connect(
                saved::backend_of(&saved)?,
                &args.server.connect,
                session,
                (Some(saved.server.url.as_str()), ""),
                saved.server.instance.as_deref(),
            )
            .await?;
            return run_saved(&backend, &saved, args, approval, io).await;
        }
        let loaded = load_files(&args.server.file)?;
        known.file(&loaded);
        let backend = connect_to_file(&loaded, &args.server.connect, session).await?;
        run_with(&backend, &loaded, args, approval, io).await
    }
    .await;
    known.finish(result, args.saved.metrics.path(), "apply")
}

/// `fleetform apply -f FILE` against a connected backend.
pub async fn run_with<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let options = PlanOptions {
        targets: args.server.target.clone(),
    };
    let (plan, live) = crate::fetch_and_plan(backend, &loaded.desired, &options).await?;
    let fleet = (
        &loaded.desired,
        &live,
        &loaded.redactions,
        &UnreadLinks::new(),
    );
    execute(backend, &plan, fleet, args, approval, io).await
}

/// Reads and parses a saved plan file.
pub fn read_saved(path: &Path) -> anyhow::Result<saved::SavedPlan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let yaml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    saved::parse(&text).with_context(|| {
        if yaml {
            format!(
                "reading the saved plan {0} (a fleet file is given with -f: `fleetform apply -f {0}`)",
                path.display()
            )
        } else {
            format!("reading the saved plan {}", path.display())
        }
    })
}

/// `fleetform apply --plan FILE`: re-reads what the saved plan read, refuses if anything
/// changed, else applies its actions.
pub async fn run_saved<B: Backend>(
    backend: &B,
    saved: &saved::SavedPlan,
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let account = backend.describe().await?;
    let plan = saved::plan_of(saved, account.clone())?;
    // Only what the plan's actions and safety checks depend on is read again.
    let scope = saved::apply_scope(saved, &plan);
    let live = backend
        .fetch(&scope)
        .await
        .context("reading the server's state")?;
    let reasons = saved::stale_reasons(saved, &account, &live, &scope);
    if !reasons.is_empty() {
        bail!(
            "the saved plan is stale, nothing was applied:\n  - {}\nmake a new plan (`fleetform plan --out`) and review it",
            reasons.join("\n  - ")
        );
    }
    if !args.server.output.quiet {
        writeln!(
            io.out,
            "Saved plan of {} checked: {} ({} {}) as {}, and the {} it read ({}) and the device/group catalogue are unchanged.\n",
            saved
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            saved.server.url,
            saved.server.backend,
            saved.server.version,
            saved.account.email,
            count(
                saved.scope.emails.len().max(saved.fingerprints.users.len()),
                "user"
            ),
            match &scope.links_of {
                None => "with their links".to_string(),
                Some(only) => format!(
                    "with the links of the {} its actions name",
                    count(only.len(), "user")
                ),
            }
        )?;
    }
    let desired = saved.scope.to_desired(saved::backend_of(saved)?);
    let unread = saved::unread_link_counts(saved, &scope);
    // A saved plan does not read the fleet file, so it knows no substituted values.
    let fleet = (&desired, &live, &Redactions::default(), &unread);
    execute(backend, &plan, fleet, args, approval, io).await
}

/// The plan-time link counts of users whose links were not read again (`saved::unread_link_counts`).
type UnreadLinks = std::collections::BTreeMap<crate::core::model::UserKey, usize>;

/// Shows `plan`, checks the safety limits against the fleet and the live state it was made
/// from, asks for approval and applies it (shared by `apply -f` and `apply --plan`). The
/// server's messages in the report have the file's substituted values redacted.
async fn execute<B: Backend>(
    backend: &B,
    plan: &Plan,
    (desired, live, redactions, unread): (&Desired, &Live, &Redactions, &UnreadLinks),
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let notes = Notes {
        refusal: None,
        passwords: plan.backend.capabilities.generated_passwords.then_some(
            match &args.credentials_out {
                Some(path) => Passwords::File(path),
                None => Passwords::Discarded,
            },
        ),
        quiet: args.server.output.quiet,
    };
    crate::render_with(plan, &notes, Format::Text, io.color, io.out)?;
    // Metrics of a run that applies nothing: a scheduled job's metrics stay fresh when all is
    // well, and a cancelled apply counts as a failed run.
    let nothing_applied = |success: bool| {
        write_metrics(
            args.saved.metrics.path(),
            "apply",
            &plan.fleet,
            plan.summary(),
            |run| {
                run.success = success;
                run.applied = Some((0, 0, 0));
            },
        )
    };
    if plan.actions.is_empty() {
        nothing_applied(true)?;
        return Ok(exit::OK);
    }
    // After the plan is shown, so the refusal's numbers can be checked against it, and before
    // asking, so nobody approves what will be refused.
    crate::core::safety::check_with(desired, live, plan, args.allow_mass_removal, unread)?;
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
                nothing_applied(false)?;
                return Ok(exit::ERROR);
            }
        }
    }
    if INTERRUPTED.load(Ordering::SeqCst) {
        writeln!(io.out, "Apply cancelled; nothing was changed.")?;
        nothing_applied(false)?;
        return Ok(exit::ERROR);
    }
    // Opened before the first write, so a path that cannot be written stops the run early.
    let creates = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::CreateUser { .. }))
        .count();
    let mut credentials_file = match (&args.credentials_out, creates) {
        (Some(path), n) if n > 0 => Some(open_credentials_file(path, args.force)?),
        _ => None,
    };
    let quiet = args.server.output.quiet;
    let bar = io.progress_for(&args.server.output);
    let options = ApplyOptions {
        allow_mass_removal: args.allow_mass_removal,
        cancel: Some(&INTERRUPTED),
        progress: Some(&bar),
    };
    // `-q`: no phase lines; the report below still says what was done and what failed.
    let mut sink = io::sink();
    let phases: &mut dyn Write = if quiet {
        &mut sink
    } else {
        writeln!(io.out)?;
        &mut *io.out
    };
    let mut report = crate::apply(backend, plan, (desired, live), options, phases).await?;
    // A Ctrl-C that came after the last request had started cut nothing short, but the run was
    // still asked to stop: it says so, and exits non-zero, like any interrupted run.
    if INTERRUPTED.load(Ordering::SeqCst) {
        report.interrupted = true;
    }
    for (_, failure) in &mut report.failed {
        *failure = failure.map_message(|message| redactions.apply(message));
    }
    write_metrics(
        args.saved.metrics.path(),
        "apply",
        &plan.fleet,
        plan.summary(),
        |run| {
            run.success = report.is_success();
            run.applied = Some((report.done.len(), report.failed.len(), report.skipped.len()));
        },
    )?;
    if let (Some(file), Some(path)) = (credentials_file.as_mut(), &args.credentials_out) {
        write_credentials(file, path, &report.credentials)
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(
            io.out,
            "Passwords of {} written to {}.",
            count(report.credentials.len(), "new user"),
            path.display()
        )?;
    } else if !report.credentials.is_empty() {
        writeln!(
            io.out,
            "{} created with random passwords that were not saved (pass --credentials-out PATH to keep them).",
            count(report.credentials.len(), "user")
        )?;
    }
    report.write_to(io.out)?;
    if report.interrupted && report.skipped.is_empty() && report.failed.is_empty() {
        bail!(
            "apply was interrupted after its last request had started: {} done, nothing left to do",
            count(report.done.len(), "action")
        )
    } else if report.interrupted {
        let not_started = report.not_started();
        bail!(
            "apply was interrupted: {} done, {} failed, {} skipped, {} not started; run apply again to finish",
            count(report.done.len(), "action"),
            report.failed.len(),
            report.skipped.len() - not_started,
            not_started
        )
    } else if report.is_success() {
        Ok(exit::OK)
    } else {
        bail!(
            "apply did not finish: {} failed and {} skipped; fix the cause and run apply again to finish",
            count(report.failed.len(), "action"),
            report.skipped.len()
        )
    }
}

/// Checks, before anything is read, that `--credentials-out` can be created: it does not exist
/// (unless `force`) and its directory takes a new file. Creates nothing that stays.
pub fn check_credentials_path(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!(
            "--credentials-out {} is a directory; name a file",
            path.display()
        );
    }
    if path.exists() && !force {
        bail!(
            "--credentials-out {} already exists; move it away or pass --force to overwrite it",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".fleetform-probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| {
            format!(
                "--credentials-out {}: cannot create a file in {}",
                path.display(),
                dir.display()
            )
        })?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))?;
    Ok(())
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
