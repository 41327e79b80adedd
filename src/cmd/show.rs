//! `fleetform show PLAN.json`: renders a saved plan (from `plan --out`) in any format without
//! contacting a server, for the pull-request comment of a plan made elsewhere. It says how old
//! the plan is and what it was made against (server, account, fleet file), and what apply will
//! refuse of it. Reads one file; writes only to its output.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Io;
use crate::cli::{Format, ShowArgs};
use crate::exit;
use crate::views::render::{self, Notes, Passwords};
use crate::views::saved::{self, SavedPlan};

/// `fleetform show` from the command line.
pub fn run(args: &ShowArgs, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let saved = super::apply::read_saved(&args.plan)?;
    show(&saved, args.format, Utc::now(), io)
}

/// Renders `saved` as it stands at `now`.
pub fn show(
    saved: &SavedPlan,
    format: Format,
    now: DateTime<Utc>,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let plan = saved::plan_of(saved, saved::account_of(saved))?;
    let made = made_against(saved, now);
    // The refusal `plan --out` found (a saved plan keeps no live state to judge it again).
    let refusal = saved.plan.get("apply_refusal");
    let warning = refusal
        .and_then(|r| r.get("message"))
        .and_then(|m| m.as_str());
    let notes = Notes {
        refusal: None,
        passwords: plan
            .backend
            .capabilities
            .generated_passwords
            .then_some(Passwords::AtApply),
        quiet: false,
    };
    match format {
        Format::Text => {
            writeln!(io.out, "{made}\n")?;
            render::text_with(&plan, &notes, io.out, io.color)?;
            if let Some(warning) = warning {
                writeln!(io.out, "Warning: {warning}")?;
            }
        }
        Format::Markdown => {
            writeln!(io.out, "> {made}\n")?;
            if let Some(warning) = warning {
                writeln!(io.out, "> [!WARNING]\n> **{}**\n", warning)?;
            }
            render::markdown_with(&plan, &notes, io.out)?;
        }
        Format::Json => {
            let mut value = render::json(&plan);
            if let Some(object) = value.as_object_mut() {
                if let Some(refusal) = refusal {
                    object.insert("apply_refusal".into(), refusal.clone());
                }
                object.insert(
                    "saved".into(),
                    json!({
                        "created_at": saved.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "age_seconds": (now - saved.created_at).num_seconds().max(0),
                        "fleetform_version": saved.fleetform_version,
                        "fleet_file": { "path": saved.fleet_file.path, "sha256": saved.fleet_file.sha256 },
                    }),
                );
            }
            writeln!(io.out, "{}", serde_json::to_string_pretty(&value)?)?;
        }
    }
    Ok(exit::OK)
}

/// One sentence: when the plan was made and against what.
fn made_against(saved: &SavedPlan, now: DateTime<Utc>) -> String {
    let sha = saved
        .fleet_file
        .sha256
        .get(..12)
        .unwrap_or(&saved.fleet_file.sha256);
    format!(
        "Saved plan made {} ({}) by fleetform {} against {} ({} {}) as {} ({}), from {} (sha256 {sha}…). \
         Apply it with `fleetform apply PLAN.json`; apply refuses it if anything it read has changed since.",
        age(now - saved.created_at),
        saved
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        saved.fleetform_version,
        saved.server.url,
        saved.server.backend,
        saved.server.version,
        saved.account.email,
        saved.account.role,
        saved.fleet_file.path,
    )
}

/// "3 hours ago", "just now", "in the future" (a clock ahead of ours).
fn age(delta: chrono::TimeDelta) -> String {
    use crate::views::count;
    let seconds = delta.num_seconds();
    if seconds < 0 {
        return "in the future (the clock that made it is ahead of this one)".into();
    }
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    let n = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    if minutes < 1 {
        "just now".into()
    } else if hours < 1 {
        format!("{} ago", count(n(minutes), "minute"))
    } else if days < 1 {
        format!("{} ago", count(n(hours), "hour"))
    } else {
        format!("{} ago", count(n(days), "day"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_people_say_them() {
        let t = chrono::TimeDelta::seconds;
        assert_eq!(age(t(5)), "just now");
        assert_eq!(age(t(60)), "1 minute ago");
        assert_eq!(age(t(7200)), "2 hours ago");
        assert_eq!(age(t(86_400 * 3)), "3 days ago");
        assert!(age(t(-10)).starts_with("in the future"));
    }
}
