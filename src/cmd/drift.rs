//! `fleetform drift`: plans, tells pending changes from drift (`views::drift`), adds who changed
//! each drifted user where the server keeps an audit log, and reports. Never writes to the
//! server.

use super::{Io, Known, Session, connect_to_file, load_files, write_metrics};
use crate::backend::Backend;
use crate::cli::{DriftArgs, DriftFormat};
use crate::config::Loaded;
use crate::views::drift;

/// `fleetform drift` from the command line.
pub async fn run(args: &DriftArgs, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let mut known = Known::default();
    let result = async {
        let loaded = load_files(&args.server.file)?;
        known.file(&loaded);
        let session = Session::reading(io, &args.server.output);
        let backend = connect_to_file(&loaded, &args.server.connect, session).await?;
        run_with(&backend, &loaded, args, io).await
    }
    .await;
    known.finish(result, args.metrics.path(), "drift")
}

/// `fleetform drift` against a connected backend.
pub async fn run_with<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &DriftArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let (plan, live) =
        crate::fetch_and_plan(backend, &loaded.desired, &crate::PlanOptions::default()).await?;
    let mut report = drift::classify(&loaded.desired, &live, &plan);
    if !report.drift.is_empty() {
        let drifted: Vec<_> = report.drifted_users(&loaded.desired).into_iter().collect();
        report.audit = backend.audit(&drifted).await;
    }
    match args.format {
        DriftFormat::Text => drift::text(&report, io.out)?,
        DriftFormat::Json => writeln!(io.out, "{}", serde_json::to_string_pretty(&report)?)?,
    }
    write_metrics(
        args.metrics.path(),
        "drift",
        &plan.fleet,
        plan.summary(),
        |run| {
            run.drift = Some((
                report.drift.len(),
                report.drifted_users(&loaded.desired).len(),
                report.pending.len(),
            ));
        },
    )?;
    Ok(report.exit_code())
}
