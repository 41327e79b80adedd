//! metrics: `--metrics-out FILE`, Prometheus text-format metrics for node_exporter's textfile
//! collector. `render` is pure; `write_atomically` writes a temporary file beside the target
//! and renames it over, so the collector never reads half a file.
//!
//! Metrics (every one labelled with `command` and `fleet`):
//! - `fleetform_last_run_timestamp_seconds`: when the run ended (Unix time);
//! - `fleetform_last_run_success`: 1 when the command did its job (a plan or drift report with
//!   changes is a success), 0 on error or when an apply did not finish;
//! - `fleetform_plan_actions{kind}`: the plan's actions per kind (create, update, delete,
//!   disable, link, unlink: users; create_object, update_object, delete_object: devices,
//!   groups and any other object kind);
//! - `fleetform_apply_actions{result}` (apply only): done, failed, skipped;
//! - `fleetform_drift_changes`, `fleetform_drift_objects`, `fleetform_pending_changes` (drift
//!   only): drifted changes, users with drift, pending changes.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::core::plan::Summary;

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub command: String,
    pub fleet: String,
    pub success: bool,
    pub timestamp: i64,
    pub summary: Option<Summary>,
    /// done, failed, skipped.
    pub applied: Option<(usize, usize, usize)>,
    /// drift changes, drifted users, pending changes.
    pub drift: Option<(usize, usize, usize)>,
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The text exposition format (version 0.0.4) of one run.
pub fn render(run: &Run) -> String {
    let labels = format!(
        "command=\"{}\",fleet=\"{}\"",
        escape(&run.command),
        escape(&run.fleet)
    );
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, rows: &[(String, i64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (extra, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}{extra}}} {value}");
        }
    };
    metric(
        "fleetform_last_run_timestamp_seconds",
        "When fleetform last ran this command (Unix time).",
        &[(String::new(), run.timestamp)],
    );
    metric(
        "fleetform_last_run_success",
        "1 when the last run did its job, 0 when it failed.",
        &[(String::new(), i64::from(run.success))],
    );
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    if let Some(s) = &run.summary {
        let rows: Vec<(String, i64)> = [
            ("create", s.create),
            ("update", s.update),
            ("delete", s.delete),
            ("disable", s.disable),
            ("link", s.link),
            ("unlink", s.unlink),
            ("create_object", s.create_object),
            ("update_object", s.update_object),
            ("delete_object", s.delete_object),
        ]
        .iter()
        .map(|(kind, n)| (format!(",kind=\"{kind}\""), count(*n)))
        .collect();
        metric(
            "fleetform_plan_actions",
            "Actions in the last plan, per kind.",
            &rows,
        );
    }
    if let Some((done, failed, skipped)) = run.applied {
        let rows: Vec<(String, i64)> = [("done", done), ("failed", failed), ("skipped", skipped)]
            .iter()
            .map(|(result, n)| (format!(",result=\"{result}\""), count(*n)))
            .collect();
        metric(
            "fleetform_apply_actions",
            "Actions of the last apply, per result.",
            &rows,
        );
    }
    if let Some((changes, objects, pending)) = run.drift {
        metric(
            "fleetform_drift_changes",
            "Managed fields and links changed on the server behind the file's back.",
            &[(String::new(), count(changes))],
        );
        metric(
            "fleetform_drift_objects",
            "Users with drift.",
            &[(String::new(), count(objects))],
        );
        metric(
            "fleetform_pending_changes",
            "Changes the file asks for that were not applied yet.",
            &[(String::new(), count(pending))],
        );
    }
    out
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming {} to {}", tmp.display(), path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_every_sample_has_help_and_type() {
        let text = render(&Run {
            command: "drift".into(),
            fleet: "a\"b".into(),
            success: true,
            timestamp: 1,
            summary: Some(Summary::default()),
            applied: None,
            drift: Some((1, 1, 0)),
        });
        assert!(text.contains("fleet=\"a\\\"b\""), "{text}");
        assert!(text.contains("fleetform_drift_objects{command=\"drift\",fleet=\"a\\\"b\"} 1"));
        assert_eq!(text.matches("# TYPE").count(), 6);
    }

    #[test]
    fn object_actions_are_counted_by_kind_of_action() {
        let text = render(&Run {
            command: "plan".into(),
            fleet: "f".into(),
            success: true,
            timestamp: 1,
            summary: Some(Summary {
                create_object: 2,
                delete_object: 1,
                ..Summary::default()
            }),
            applied: None,
            drift: None,
        });
        for (kind, n) in [
            ("create_object", 2),
            ("update_object", 0),
            ("delete_object", 1),
        ] {
            let line = format!(
                "fleetform_plan_actions{{command=\"plan\",fleet=\"f\",kind=\"{kind}\"}} {n}"
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
    }
}
