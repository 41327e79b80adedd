//! `fleetform plan`: reads the server, shows the plan (text, JSON or markdown), and saves it
//! (`--out`) and its metrics (`--metrics-out`) when asked. Never writes to the server.

use anyhow::Context;

use super::{Io, Known, Session, connect_to_file, load_files, write_metrics};
use crate::backend::Backend;
use crate::cli::{PlanArgs, PlanOutArgs};
use crate::config::Loaded;
use crate::core::model::{Live, Scope};
use crate::core::plan::Plan;
use crate::core::safety::SafetyRefusal;
use crate::views::render::{Notes, Passwords};
use crate::views::{metrics, saved};
use crate::{PlanOptions, exit};

/// `fleetform plan` from the command line.
pub async fn run(args: &PlanArgs, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let mut known = Known::default();
    let result = async {
        let loaded = load_files(&args.server.file)?;
        known.file(&loaded);
        let session = Session::reading(io, &args.server.output);
        let backend = connect_to_file(&loaded, &args.server.connect, session).await?;
        run_with(&backend, &loaded, args, io).await
    }
    .await;
    known.finish(result, args.saved.metrics.path(), "plan")
}

/// `fleetform plan` against a connected backend.
pub async fn run_with<B: Backend>(
    backend: &B,
    loaded: &Loaded,
    args: &PlanArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let options = PlanOptions {
        targets: args.server.target.clone(),
    };
    let (plan, live) = crate::fetch_and_plan(backend, &loaded.desired, &options).await?;
    // What apply will refuse is shown now, in every format, with the flag that overrides it.
    let refusal = crate::core::safety::check(&loaded.desired, &live, &plan, false).err();
    let notes = Notes {
        refusal: refusal.as_ref(),
        passwords: loaded
            .desired
            .backend
            .capabilities
            .generated_passwords
            .then_some(Passwords::AtApply),
        quiet: args.server.output.quiet,
    };
    crate::render_with(&plan, &notes, args.format.into(), io.color, io.out)?;
    save(&plan, &live, loaded, refusal.as_ref(), &args.saved)?;
    Ok(if args.detailed_exitcode && !plan.actions.is_empty() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

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
fn save(
    plan: &Plan,
    live: &Live,
    loaded: &Loaded,
    refusal: Option<&SafetyRefusal>,
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
        saved.server.instance.clone_from(&loaded.server_instance);
        // For `fleetform show`: the refusal apply will make, as the JSON plan says it.
        if let (Some(refusal), Some(object)) = (refusal, saved.plan.as_object_mut()) {
            object.insert(
                "apply_refusal".into(),
                crate::views::render::refusal_json(refusal),
            );
        }
        let text = format!("{}\n", serde_json::to_string_pretty(&saved)?);
        metrics::write_atomically(out, &text)?;
    }
    write_metrics(
        args.metrics.path(),
        "plan",
        &plan.fleet,
        plan.summary(),
        |_| {},
    )
}
