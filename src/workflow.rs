//! workflow: the GitOps commands wired together: saving a plan (`plan --out`), applying a saved
//! plan (`apply --plan`), `drift`, `export` and `--metrics-out`. Like `commands`, it returns
//! exit codes and writes to injected writers; the decisions live in the pure modules `saved`,
//! `drift`, `export` and `metrics`.

use std::path::Path;

use anyhow::{Context, bail};

use crate::apply::Report as ApplyReport;
use crate::backend::Backend;
use crate::backend::traccar::api::Credentials;
use crate::backend::traccar::{Options, TraccarBackend};
use crate::cli::ApplyArgs;
use crate::commands::{self, Approval, Io};
use crate::config::Loaded;
use crate::drift;
use crate::export;
use crate::gitops_args::{
    ApplyPlanArgs, DriftArgs, DriftFormat, ExportArgs, ExportScope, PlanOutArgs,
};
use crate::metrics;
use crate::model::{Live, Scope};
use crate::plan::Plan;
use crate::saved;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The bytes the fleet file digest covers: the file, or for a directory every `*.yaml` and
/// `*.yml` in it, by name, each preceded by its name.
/// The bytes the saved plan's digest covers: every file read, name and content, in order.
fn fleet_file_bytes(files: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for file in files {
        if files.len() > 1 {
            bytes.extend_from_slice(file.as_bytes());
            bytes.push(0);
        }
        bytes.extend(std::fs::read(file).with_context(|| format!("reading {file}"))?);
    }
    Ok(bytes)
}

/// After `plan`: writes `--out` and `--metrics-out` when asked.
pub fn save_plan(
    plan: &Plan,
    live: &Live,
    loaded: &Loaded,
    args: &PlanOutArgs,
) -> anyhow::Result<()> {
    if let Some(out) = &args.out {
        let bytes = fleet_file_bytes(&loaded.sources)?;
        let mut saved = saved::save(
            plan,
            live,
            &Scope::of(&loaded.desired),
            &loaded.source,
            &bytes,
        );
        saved.scope.safety = loaded.desired.safety;
        let text = format!("{}\n", serde_json::to_string_pretty(&saved)?);
        metrics::write_atomically(out, &text)?;
    }
    if let Some(path) = &args.metrics_out {
        let run = metrics::Run {
            command: "plan".into(),
            fleet: plan.fleet.clone(),
            success: true,
            timestamp: now(),
            summary: Some(plan.summary()),
            ..metrics::Run::default()
        };
        metrics::write_atomically(path, &metrics::render(&run))?;
    }
    Ok(())
}

/// After an apply: writes `--metrics-out` when asked.
pub fn apply_metrics(
    plan: &Plan,
    report: &ApplyReport,
    args: &ApplyPlanArgs,
) -> anyhow::Result<()> {
    if let Some(path) = &args.metrics_out {
        let run = metrics::Run {
            command: "apply".into(),
            fleet: plan.fleet.clone(),
            success: report.is_success(),
            timestamp: now(),
            summary: Some(plan.summary()),
            applied: Some((report.done.len(), report.failed.len(), report.skipped.len())),
            ..metrics::Run::default()
        };
        metrics::write_atomically(path, &metrics::render(&run))?;
    }
    Ok(())
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

/// Connects to `url` with the usual options.
pub async fn connect_url(
    url: &str,
    credentials: &Credentials,
    options: Options,
) -> anyhow::Result<TraccarBackend> {
    TraccarBackend::connect(url, credentials, options)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// Reads and parses a saved plan file.
pub fn read_saved(path: &Path) -> anyhow::Result<saved::SavedPlan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    saved::parse(&text).with_context(|| format!("reading the saved plan {}", path.display()))
}

/// `apply --plan FILE` from the command line: connects to the saved server (or `--url`).
pub async fn apply_saved_command(
    path: &Path,
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let saved = read_saved(path)?;
    let credentials = commands::credentials_from_env()?;
    let url = args
        .server
        .url
        .clone()
        .unwrap_or_else(|| saved.server.url.clone());
    let backend = connect_url(&url, &credentials, commands::backend_options(&args.server)).await?;
    apply_saved(&backend, &saved, args, approval, io).await
}

/// Re-reads what the saved plan read, refuses if anything changed, else applies its actions.
pub async fn apply_saved<B: Backend>(
    backend: &B,
    saved: &saved::SavedPlan,
    args: &ApplyArgs,
    approval: Approval<'_>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let account = backend.describe().await?;
    let live = backend
        .fetch(&saved.scope.to_scope())
        .await
        .context("reading the server's state")?;
    let reasons = saved::stale_reasons(saved, &account, &live);
    if !reasons.is_empty() {
        bail!(
            "the saved plan is stale, nothing was applied:\n  - {}\nmake a new plan (`fleetform plan --out`) and review it",
            reasons.join("\n  - ")
        );
    }
    let plan = saved::plan_of(saved, live.account.clone())?;
    writeln!(
        io.out,
        "Saved plan of {} checked: {} ({} {}) as {}, and the {} user(s) and the device/group catalogue it read, are unchanged.\n",
        saved
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        saved.server.url,
        saved.server.backend,
        saved.server.version,
        saved.account.email,
        saved.fingerprints.users.len()
    )?;
    let desired = saved.scope.to_desired();
    commands::execute_plan(backend, &plan, (&desired, &live), args, approval, io).await
}

/// `fleetform drift`: plans, classifies, reports. Never writes to the server.
pub async fn drift_command<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &DriftArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let (plan, live) = commands::make_plan_and_live(backend, loaded).await?;
    let mut report = drift::classify(&loaded.desired, &live, &plan);
    if !report.drift.is_empty() {
        let drifted: Vec<_> = report.drifted_users().into_iter().collect();
        report.audit = backend.audit(&drifted).await;
    }
    match args.format {
        DriftFormat::Text => drift::text(&report, io.out)?,
        DriftFormat::Json => writeln!(io.out, "{}", serde_json::to_string_pretty(&report)?)?,
    }
    if let Some(path) = &args.metrics_out {
        let run = metrics::Run {
            command: "drift".into(),
            fleet: plan.fleet.clone(),
            success: true,
            timestamp: now(),
            summary: Some(plan.summary()),
            drift: Some((
                report.drift.len(),
                report.drifted_users().len(),
                report.pending.len(),
            )),
            ..metrics::Run::default()
        };
        metrics::write_atomically(path, &metrics::render(&run))?;
    }
    Ok(report.exit_code())
}

/// `fleetform export`: lists users, reads the links of those exported, writes the file.
pub async fn export_command<B: Backend>(
    backend: &B,
    args: &ExportArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let account = backend.describe().await?;
    // The listing reads no links (no emails, no fleet); the second fetch reads the links of
    // exactly the exported users.
    let scope = |fleet: &str, emails| Scope {
        fleet: fleet.to_string(),
        emails,
        manager: None,
        desired_groups: Default::default(),
    };
    let listed = backend
        .fetch(&scope("", Default::default()))
        .await
        .context("listing users")?;
    let which = match args.scope {
        ExportScope::Managed => export::Which::Managed,
        ExportScope::All => export::Which::All,
    };
    let users = export::select(&listed, &args.fleet, which);
    let live = backend
        .fetch(&scope(&args.fleet, users.clone()))
        .await
        .context("reading the exported users' links")?;
    let header = format!(
        "Exported by fleetform {} from {} as {} on {}.\nReview it before the first apply.",
        env!("CARGO_PKG_VERSION"),
        account.url,
        account.email,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let text = export::fleet_file(&live, &args.fleet, &users, args.infer_roles, &header)
        .map_err(|problems| anyhow::anyhow!("the exported file would not be valid:\n{problems}"))?;
    match &args.output {
        None => io.out.write_all(text.as_bytes())?,
        Some(path) => {
            if path.exists() && !args.force {
                bail!(
                    "{} already exists; move it away or pass --force to overwrite it",
                    path.display()
                );
            }
            metrics::write_atomically(path, &text)?;
            writeln!(
                io.err,
                "Exported {} user(s) to {}.",
                users.len(),
                path.display()
            )?;
        }
    }
    Ok(commands::EXIT_OK)
}
