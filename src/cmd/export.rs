//! `fleetform export`: lists the users a fleet manages (or every user it may manage), reads
//! their links (their given-only lists too), and writes a fleet file that plans no changes
//! (`views::export`), with the objects it manages (or may manage) and their devices' and
//! groups' lists of linked objects, and the calendars' files beside `--output`. Never writes
//! to the server.

use anyhow::{Context, bail};

use super::{Io, Session, connect};
use crate::backend::Backend;
use crate::cli::{ExportArgs, ExportScope};
use crate::core::model::Scope;
use crate::exit;
use crate::views::{export, metrics};

/// `fleetform export` from the command line.
pub async fn run(args: &ExportArgs, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let kind = crate::backend::describe(&args.kind)
        .with_context(|| format!("unknown server kind {:?}", args.kind))?;
    if kind.capabilities.instance && args.instance_id.is_none() {
        bail!(
            "--instance-id is required for {} servers: the id of the instance (user group) to export",
            kind.kind
        );
    }
    if !kind.capabilities.instance && args.instance_id.is_some() {
        bail!(
            "--instance-id is only for servers with instances; {} has none",
            kind.kind
        );
    }
    let backend = connect(
        kind,
        &args.connect,
        Session::reading(io, &args.verbosity),
        (None, ""),
        args.instance_id.as_deref(),
    )
    .await?;
    run_with(&backend, args, io).await
}

/// `fleetform export` against a connected backend.
pub async fn run_with<B: Backend>(
    backend: &B,
    args: &ExportArgs,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let account = backend.describe().await?;
    // The listing reads no links (no emails, no fleet); the second fetch reads the links of
    // exactly the exported users. Both read every object kind whole (markers, fields).
    let kinds: std::collections::BTreeMap<_, _> = backend
        .description()
        .objects
        .iter()
        .map(|spec| (spec.kind, Default::default()))
        .collect();
    // Users' given-only lists (geofences, drivers, ...) are read for the exported users as if
    // each gave an empty one, so the file lists what they have.
    let given_only: crate::core::model::Links = backend
        .description()
        .links
        .iter()
        .filter(|spec| spec.given_only)
        .map(|spec| (spec.kind, Default::default()))
        .collect();
    let scope = |fleet: &str, emails: std::collections::BTreeSet<_>, object_lists| Scope {
        fleet: fleet.to_string(),
        desired_links: emails
            .iter()
            .map(|key| (Clone::clone(key), given_only.clone()))
            .collect(),
        emails,
        manager: None,
        links_of: None,
        unmanaged: Default::default(),
        objects: kinds.clone(),
        object_lists,
        tree: Default::default(),
    };
    // The listing names the fleet: a backend that proves ownership by fleet (telematics) can
    // only tell this fleet's users with it. It reads the links of this fleet's marked users,
    // which are exactly the users `managed` exports, so that scope needs no second read.
    let listed = backend
        .fetch(&scope(&args.fleet, Default::default(), Default::default()))
        .await
        .context("listing users")?;
    let which = match args.scope {
        ExportScope::Managed => export::Which::Managed,
        ExportScope::All => export::Which::All,
    };
    let users = export::select(backend.description(), &listed, &args.fleet, which);
    // The lists of linked objects of the devices and groups the listing shows will be
    // exported: read by the second fetch (one request per object and listed kind).
    let (chosen, _) = export::select_objects(backend.description(), &listed, &args.fleet, which);
    let object_lists = export::object_lists(backend.description(), &listed, &chosen);
    let mut live = backend
        .fetch(&scope(&args.fleet, users.clone(), object_lists))
        .await
        .context("reading the exported users' links")?;
    let (objects, notes) = export::select_objects(backend.description(), &live, &args.fleet, which);
    live.objects = objects;
    let mut header = format!(
        "Exported by fleetform {} from {} as {} on {}.\nReview it before the first apply.",
        env!("CARGO_PKG_VERSION"),
        account.url,
        account.email,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for note in notes {
        header.push('\n');
        header.push_str(&note);
    }
    // Managers are left out so the file never adopts a billing account by accident.
    for email in export::left_out_managers(backend.description(), &listed, which) {
        header.push_str(&format!(
            "\nNot exported: {email}, a manager (user limit set), such as a billing account. If \
             it is this fleet's billing account, add `manager: {email}`; to keep one file per \
             billing account, export again logged in as it (its users only); to manage it as a \
             user, list it by hand."
        ));
    }
    let server = export::Server {
        url: &account.url,
        instance: args.instance_id.as_deref(),
    };
    let text = export::fleet_file(
        backend.description(),
        &live,
        (&args.fleet, &server),
        &users,
        args.infer_roles,
        &header,
    )
    .map_err(|problems| anyhow::anyhow!("the exported file would not be valid:\n{problems}"))?;
    if let Some(path) = &args.output
        && path.exists()
        && !args.force
    {
        bail!(
            "{} already exists; move it away or pass --force to overwrite it",
            path.display()
        );
    }
    // The files the fleet file names beside it (calendars), written first, beside --output.
    let beside = export::files_beside(backend.description(), &live);
    if let (None, Some((relative, _))) = (&args.output, beside.values().next()) {
        bail!(
            "the export holds calendars, whose iCalendar files are written beside the fleet file \
             (e.g. {relative}): pass --output FILE so they have a place"
        );
    }
    let base = args
        .output
        .as_ref()
        .and_then(|p| p.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    for (relative, content) in beside.into_values() {
        let path = base.join(&relative);
        if path.exists() && !args.force {
            bail!(
                "{} already exists; move it away or pass --force to overwrite it",
                path.display()
            );
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        metrics::write_atomically(&path, &content)?;
        writeln!(io.err, "Wrote {}.", path.display())?;
    }
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
                "Exported {} to {}.",
                crate::views::count(users.len(), "user"),
                path.display()
            )?;
        }
    }
    Ok(exit::OK)
}
