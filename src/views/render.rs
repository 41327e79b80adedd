//! render: pure. Turns a `Plan` into what people and machines read: a Terraform-like text view
//! (`text`), a markdown report for pull-request comments (`markdown`) and a versioned JSON
//! contract (`json`, `json_string`). Output goes into an injected
//! writer or is returned as a value. It must not compute, reorder or filter actions (the plan
//! is the single source of truth), must not decide whether to colour (the caller passes
//! `color`), and must never print a secret: the model has none, and none may be added here.
//!
//! Design of the text view: actions are grouped per user, users in key order (the backend's key
//! rule; Traccar: lower-cased email), so a reviewer reads one block per person: a header with `+` (create), `~` (update or
//! links only) or `-` (delete, disable), the field lines, then the link lines (removals before
//! additions, as they run). The last line always counts every kind of action, and an empty plan says
//! "No changes." so scripts and humans can tell at a glance.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Map, json};

use crate::core::model::{Action, Field, UserKey, Value};
use crate::core::plan::{Assessed, FORMAT_VERSION, Phase, Plan};
use crate::core::record::APPLIED_ATTRIBUTE;
use crate::core::risk::Risk;
use crate::core::safety::{Breach, OVERRIDE_FLAG, SafetyRefusal};
use crate::views::count;

/// What a view says besides the plan itself: what `apply` will do with it that the actions do
/// not show. The views only print these facts; the commands establish them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Notes<'a> {
    /// The refusal `apply` will make (the fleet file's safety limits), so that a plan shown in
    /// a pull request never looks fine when it will be refused on merge.
    pub refusal: Option<&'a SafetyRefusal>,
    /// Where the passwords generated for new users go; `None`: say nothing.
    pub passwords: Option<Passwords<'a>>,
    /// `-q`: the text view shows only its summary line (and the notes).
    pub quiet: bool,
}

/// Where the generated passwords of the users a plan creates will go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passwords<'a> {
    /// Written to this `--credentials-out` file.
    File(&'a std::path::Path),
    /// Not saved anywhere (apply without `--credentials-out`).
    Discarded,
    /// Decided at apply (the plan command: `--credentials-out` is apply's).
    AtApply,
}

/// How many users the plan creates (each gets a generated password).
fn creates(plan: &Plan) -> usize {
    plan.actions
        .iter()
        .filter(|a| matches!(a, Action::CreateUser { .. }))
        .count()
}

/// An update that only rewrites fleetform's applied record (bookkeeping, not shown as a field).
fn record_only(action: &Action) -> bool {
    matches!(action, Action::UpdateUser { changes, .. } if !changes.is_empty() && changes.iter().all(|c| !shown(&c.field)))
}

/// The updates a reviewer sees, and those that only rewrite the applied record.
fn updates(plan: &Plan) -> (usize, usize) {
    let record = plan.actions.iter().filter(|a| record_only(a)).count();
    (plan.summary().update - record, record)
}

/// The sentence about passwords, when the plan creates users.
fn passwords_sentence(plan: &Plan, passwords: Option<Passwords<'_>>) -> Option<String> {
    let n = creates(plan);
    let passwords = passwords?;
    if n == 0 {
        return None;
    }
    let what = count(n, "password");
    Some(match passwords {
        Passwords::File(path) => format!(
            "{what} will be generated for the new users and written to {} (mode 0600).",
            path.display()
        ),
        Passwords::Discarded => format!(
            "{what} will be generated for the new users and not saved anywhere (pass \
             --credentials-out PATH to keep them)."
        ),
        Passwords::AtApply => format!(
            "{what} will be generated at apply for the new users; pass --credentials-out PATH \
             to apply to keep them, or they are not saved anywhere."
        ),
    })
}

/// The JSON plan's `apply_refusal` (also kept in a saved plan, for `show`).
pub fn refusal_json(refusal: &SafetyRefusal) -> serde_json::Value {
    json!({
        "breaches": refusal.breaches.iter().map(Breach::to_string).collect::<Vec<_>>(),
        "override_flag": OVERRIDE_FLAG,
        "message": refusal_sentence(refusal),
    })
}

/// The refusal in a plan's words: what apply will refuse and the flag that overrides it.
fn refusal_sentence(refusal: &SafetyRefusal) -> String {
    let breaches: Vec<String> = refusal.breaches.iter().map(Breach::to_string).collect();
    format!(
        "apply will refuse this plan: {}. Review it, then pass {OVERRIDE_FLAG} to apply it \
         anyway, or change the limits under `safety:` in the fleet file.",
        breaches.join("; and ")
    )
}

/// An action with its risk assessment, as the views take them from `Plan::steps`.
type Step<'a> = (&'a Action, &'a Assessed);

/// The views of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Whether a field is shown to people. fleetform's applied record (`fleetformApplied`, see
/// drift.rs) rides along with every change of a user or object; it is bookkeeping, not a change anyone
/// reviews, so the text and markdown views leave it out (the JSON plan keeps it).
fn shown(field: &Field) -> bool {
    !matches!(field, Field::Attribute(key) if key == APPLIED_ATTRIBUTE)
}

/// The human view of a plan, Terraform style. ANSI colour only when `color` is true.
pub fn text(plan: &Plan, out: &mut dyn Write, color: bool) -> io::Result<()> {
    text_with(plan, &Notes::default(), out, color)
}

/// `text`, with the notes after the summary line (and only the summary under `notes.quiet`).
pub fn text_with(
    plan: &Plan,
    notes: &Notes<'_>,
    out: &mut dyn Write,
    color: bool,
) -> io::Result<()> {
    if plan.is_empty() {
        return writeln!(out, "No changes. The fleet matches the server.");
    }
    let paint = |code: &str, s: &str| {
        if color {
            format!("{code}{s}{RESET}")
        } else {
            s.to_string()
        }
    };

    if notes.quiet {
        summary_line(plan, out, color)?;
        return text_notes(plan, notes, out, color);
    }
    let account = &plan.account;
    writeln!(
        out,
        "fleetform will change fleet {} on {} ({} {}) as {} ({}):",
        plan.fleet,
        account.url,
        account.backend,
        account.server_version,
        account.email,
        account.role.as_str()
    )?;

    for ((_, kind, key), steps) in objects(plan) {
        writeln!(out)?;
        let (sign, code, note) = object_header(plan, &steps);
        let header_risk = steps
            .iter()
            .filter(|(a, _)| !matches!(a, Action::UpdateObject { .. }))
            .map(|(_, r)| r.risk)
            .min()
            .unwrap_or(Risk::None);
        writeln!(
            out,
            "  {} {kind} {key}{note}{}",
            paint(code, sign),
            tag(header_risk)
        )?;
        for (action, assessed) in steps {
            match action {
                Action::CreateObject { fields, .. } => {
                    for (field, value) in fields.iter().filter(|(f, _)| shown(f)) {
                        writeln!(out, "      {field}: {value}")?;
                    }
                }
                Action::UpdateObject { changes, .. } => {
                    for (i, change) in changes.iter().enumerate().filter(|(_, c)| shown(&c.field)) {
                        writeln!(
                            out,
                            "      {}: {} -> {}{}",
                            change.field,
                            change.before,
                            after(&change.field, &change.after),
                            tag(assessed.change(i))
                        )?;
                    }
                }
                Action::LinkObject {
                    target_kind,
                    target,
                    ..
                } => writeln!(out, "      {} {target_kind} {target}", paint(GREEN, "+"))?,
                Action::UnlinkObject {
                    target_kind,
                    target,
                    ..
                } => writeln!(out, "      {} {target_kind} {target}", paint(RED, "-"))?,
                _ => {}
            }
            for line in &assessed.cascades {
                writeln!(out, "      by the server: {line}")?;
            }
        }
    }

    for steps in users(plan).values() {
        writeln!(out)?;
        let actions: Vec<&Action> = steps.iter().map(|(a, _)| *a).collect();
        let (sign, code, email, note) = header(plan, &actions);
        // Creates, deletes and disables are labelled on the header; updates per field line.
        let header_risk = steps
            .iter()
            .filter(|(a, _)| {
                !matches!(
                    a,
                    Action::UpdateUser { .. } | Action::Link { .. } | Action::Unlink { .. }
                )
            })
            .map(|(_, r)| r.risk)
            .min()
            .unwrap_or(Risk::None);
        writeln!(
            out,
            "  {} user {email}{note}{}",
            paint(code, sign),
            tag(header_risk)
        )?;
        // Fields before links, whatever the phase order: the block reads as "who, what, access".
        let (links, others): (Vec<Step<'_>>, Vec<Step<'_>>) = steps
            .iter()
            .partition(|(a, _)| matches!(a, Action::Link { .. } | Action::Unlink { .. }));
        for (action, assessed) in others.into_iter().chain(links) {
            match action {
                Action::CreateUser { fields, .. } => {
                    for (field, value) in fields.iter().filter(|(f, _)| shown(f)) {
                        writeln!(out, "      {field}: {value}")?;
                    }
                }
                Action::UpdateUser { .. } if record_only(action) => {
                    writeln!(out, "      (fleetform's applied record only: bookkeeping)")?;
                }
                Action::UpdateUser { changes, .. } => {
                    for (i, change) in changes.iter().enumerate().filter(|(_, c)| shown(&c.field)) {
                        writeln!(
                            out,
                            "      {}: {} -> {}{}",
                            change.field,
                            change.before,
                            after(&change.field, &change.after),
                            tag(assessed.change(i))
                        )?;
                    }
                }
                Action::Link { kind, target, .. } => {
                    let label = tag(assessed.risk);
                    writeln!(out, "      {} {kind} {target}{label}", paint(GREEN, "+"))?;
                }
                Action::Unlink { kind, target, .. } => {
                    let label = tag(assessed.risk);
                    writeln!(out, "      {} {kind} {target}{label}", paint(RED, "-"))?;
                }
                Action::DisableUser { .. }
                | Action::DeleteUser { .. }
                | Action::CreateObject { .. }
                | Action::UpdateObject { .. }
                | Action::DeleteObject { .. }
                | Action::LinkObject { .. }
                | Action::UnlinkObject { .. } => {}
            }
        }
    }

    writeln!(out)?;
    summary_line(plan, out, color)?;
    text_notes(plan, notes, out, color)
}

/// `Plan: 1 to create, ...`: every kind of action counted; updates that only rewrite the
/// applied record are counted apart, as their lines say.
fn summary_line(plan: &Plan, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let s = plan.summary();
    let (update, record) = updates(plan);
    let record = if record > 0 {
        format!(
            " (and {} of fleetform's applied record only)",
            count(record, "update")
        )
    } else {
        String::new()
    };
    let bold = if color {
        format!("{BOLD}Plan:{RESET}")
    } else {
        "Plan:".into()
    };
    // Objects are counted apart (the counts before them are users'), and only when the plan
    // has some, so a users-only plan reads as it always did.
    let objects = if s.has_objects() {
        format!(
            "; objects: {} to create, {} to update, {} to delete",
            s.create_object, s.update_object, s.delete_object
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{bold} {} to create, {} to update{record}, {} to delete, {} to disable, {} to add, {} \
         to remove{objects}.",
        s.create,
        update,
        s.delete,
        s.disable,
        count(s.link, "link"),
        count(s.unlink, "link"),
    )
}

/// The block key of an object: its kind's place in the backend's list, the kind, the key.
type ObjectBlock = (usize, crate::core::model::ObjectKind, String);

/// The plan's object actions per object, objects in the backend's kind order, then by key.
fn objects(plan: &Plan) -> BTreeMap<ObjectBlock, Vec<Step<'_>>> {
    let mut blocks: BTreeMap<ObjectBlock, Vec<Step<'_>>> = BTreeMap::new();
    for step in plan.steps() {
        if let Some((kind, key)) = step.0.object() {
            let order = plan
                .backend
                .objects
                .iter()
                .position(|o| o.kind == kind)
                .unwrap_or(usize::MAX);
            blocks
                .entry((order, kind, key.to_string()))
                .or_default()
                .push(step);
        }
    }
    blocks
}

/// The plan's user actions per user, in key order.
fn users(plan: &Plan) -> BTreeMap<UserKey, Vec<Step<'_>>> {
    let mut users: BTreeMap<UserKey, Vec<Step<'_>>> = BTreeMap::new();
    for step in plan.steps() {
        if let Some(email) = step.0.user() {
            users.entry(plan.key(email)).or_default().push(step);
        }
    }
    users
}

/// The header of one object's block: sign, colour, a note.
fn object_header(plan: &Plan, steps: &[Step<'_>]) -> (&'static str, &'static str, String) {
    for (action, _) in steps {
        match action {
            Action::CreateObject { .. } => return ("+", GREEN, String::new()),
            Action::DeleteObject { .. } => return ("-", RED, " (delete)".into()),
            Action::UpdateObject { adopt: true, .. } => {
                return ("~", YELLOW, format!(" (adopt into fleet {})", plan.fleet));
            }
            _ => {}
        }
    }
    ("~", YELLOW, String::new())
}

/// The notes of the text view, after the summary line.
fn text_notes(plan: &Plan, notes: &Notes<'_>, out: &mut dyn Write, color: bool) -> io::Result<()> {
    if let Some(sentence) = passwords_sentence(plan, notes.passwords) {
        writeln!(out, "{sentence}")?;
    }
    if let Some(refusal) = notes.refusal {
        let warning = if color {
            format!("{RED}{BOLD}Warning:{RESET}")
        } else {
            "Warning:".into()
        };
        writeln!(out, "{warning} {}", refusal_sentence(refusal))?;
    }
    Ok(())
}

/// ` [escalation]` and the like at the end of a text line; nothing for `Risk::None`.
fn tag(risk: Risk) -> String {
    match risk {
        Risk::None => String::new(),
        other => format!("  {}", other.tag()),
    }
}

/// The header of one user's block: sign, its colour, the email as the plan spells it, a note.
fn header<'a>(
    plan: &Plan,
    actions: &[&'a Action],
) -> (&'static str, &'static str, &'a str, String) {
    for action in actions {
        match action {
            Action::CreateUser {
                email, managed_by, ..
            } => {
                let note = managed_by
                    .as_ref()
                    .map(|m| format!(" (managed by {m})"))
                    .unwrap_or_default();
                return ("+", GREEN, email, note);
            }
            Action::DeleteUser { email } if plan.backend.capabilities.delete_erases_data => {
                return (
                    "-",
                    RED,
                    email,
                    " (delete, irreversible: the user and all its data)".into(),
                );
            }
            Action::DeleteUser { email } => return ("-", RED, email, " (delete)".into()),
            Action::DisableUser { email } => return ("-", RED, email, " (disable)".into()),
            Action::UpdateUser { email, adopt, .. } => {
                let note = if *adopt {
                    format!(" (adopt into fleet {})", plan.fleet)
                } else {
                    String::new()
                };
                return ("~", YELLOW, email, note);
            }
            Action::Link { .. }
            | Action::Unlink { .. }
            | Action::CreateObject { .. }
            | Action::UpdateObject { .. }
            | Action::DeleteObject { .. }
            | Action::LinkObject { .. }
            | Action::UnlinkObject { .. } => {}
        }
    }
    // Only links: the user exists and stays as it is.
    let email = actions.first().map_or("", |a| a.email());
    ("~", YELLOW, email, String::new())
}

/// A null attribute is removed rather than set to null; say so.
fn after(field: &Field, value: &Value) -> String {
    match (field, value) {
        (Field::Attribute(_), Value::Null) => "(removed)".into(),
        _ => value.to_string(),
    }
}

/// The pull-request view of a plan, GitHub-flavoured markdown: a heading naming the fleet and
/// server, a table of counts per action kind, a table of counts per risk label (see
/// `crate::core::risk`), then one block per user, riskiest users first (then by email), each line
/// labelled. Values are shown as code spans so nothing in them is read as markdown.
pub fn markdown(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    markdown_with(plan, &Notes::default(), out)
}

/// `markdown`, with the notes under the counts: the refusal as a warning block first.
pub fn markdown_with(plan: &Plan, notes: &Notes<'_>, out: &mut dyn Write) -> io::Result<()> {
    let account = &plan.account;
    writeln!(out, "### fleetform plan for fleet {}", code(&plan.fleet))?;
    writeln!(out)?;
    writeln!(
        out,
        "Server {} ({} {}), as {} ({}).",
        code(&account.url),
        account.backend,
        account.server_version,
        code(&account.email),
        account.role.as_str()
    )?;
    writeln!(out)?;
    if plan.is_empty() {
        return writeln!(out, "**No changes.** The fleet matches the server.");
    }

    if let Some(refusal) = notes.refusal {
        writeln!(out, "> [!WARNING]")?;
        writeln!(out, "> **{}**", refusal_sentence(refusal))?;
        writeln!(out)?;
    }
    let s = plan.summary();
    let (update, record) = updates(plan);
    writeln!(out, "| Action | Count |")?;
    writeln!(out, "| --- | ---: |")?;
    let record_row = (record > 0).then_some(("update fleetform's applied record only", record));
    for (what, n) in [("create user", s.create), ("update user", update)]
        .into_iter()
        .chain(record_row)
        .chain([
            ("delete user", s.delete),
            ("disable user", s.disable),
            ("add link", s.link),
            ("remove link", s.unlink),
        ])
        .chain(
            [
                ("create object", s.create_object),
                ("update object", s.update_object),
                ("delete object", s.delete_object),
            ]
            .into_iter()
            .filter(|_| s.has_objects()),
        )
    {
        writeln!(out, "| {what} | {n} |")?;
    }
    writeln!(out)?;
    if let Some(sentence) = passwords_sentence(plan, notes.passwords) {
        writeln!(out, "{sentence}")?;
        writeln!(out)?;
    }
    writeln!(out, "| Risk | Actions |")?;
    writeln!(out, "| --- | ---: |")?;
    for label in Risk::ALL {
        let n = plan.steps().filter(|(_, r)| r.risk == label).count();
        writeln!(out, "| {} | {n} |", md_risk(label))?;
    }

    let objects = objects(plan);
    let object_blocks = riskiest_first(&objects);
    if !object_blocks.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### Changes per object, riskiest first")?;
    }
    for (worst, (_, kind, key), steps) in object_blocks {
        writeln!(out)?;
        let (_, _, note) = object_header(plan, steps);
        let verb = steps
            .iter()
            .find_map(|(a, _)| match a {
                Action::CreateObject { .. } => Some("create"),
                Action::DeleteObject { .. } => Some("delete"),
                Action::UpdateObject { .. } => Some("update"),
                _ => None,
            })
            .unwrap_or("update");
        let note = if verb == "delete" {
            String::new()
        } else {
            note
        };
        writeln!(
            out,
            "**{kind} {}**: {verb}{note}: {}",
            code(key),
            md_risk(worst)
        )?;
        writeln!(out)?;
        let mut lines = 0;
        for (action, assessed) in steps {
            match action {
                Action::CreateObject { fields, .. } => {
                    for (field, value) in fields.iter().filter(|(f, _)| shown(f)) {
                        writeln!(
                            out,
                            "- {}: {}",
                            code(&field.name()),
                            code(&value.to_string())
                        )?;
                        lines += 1;
                    }
                }
                Action::UpdateObject { changes, .. } => {
                    for (i, change) in changes.iter().enumerate().filter(|(_, c)| shown(&c.field)) {
                        writeln!(
                            out,
                            "- {}: {} → {}{}",
                            code(&change.field.name()),
                            code(&change.before.to_string()),
                            code(&after(&change.field, &change.after)),
                            md_label(assessed.change(i))
                        )?;
                        lines += 1;
                    }
                }
                Action::DeleteObject { .. } => {
                    writeln!(out, "- delete the {kind} and its links")?;
                    for line in &assessed.cascades {
                        writeln!(out, "- by the server: {}", code(line))?;
                        lines += 1;
                    }
                    lines += 1;
                }
                Action::LinkObject {
                    target_kind,
                    target,
                    ..
                } => {
                    writeln!(out, "- link {target_kind} {}", code(target))?;
                    lines += 1;
                }
                Action::UnlinkObject {
                    target_kind,
                    target,
                    ..
                } => {
                    writeln!(out, "- unlink {target_kind} {}", code(target))?;
                    lines += 1;
                }
                _ => {}
            }
        }
        if lines == 0 {
            writeln!(out, "- no field changes")?;
        }
    }

    let users = users(plan);
    let blocks = riskiest_first(&users);

    if !blocks.is_empty() {
        writeln!(out)?;
        writeln!(out, "#### Changes per user, riskiest first")?;
    }
    for (worst, _, steps) in blocks {
        writeln!(out)?;
        let actions: Vec<&Action> = steps.iter().map(|(a, _)| *a).collect();
        let (_, _, email, note) = header(plan, &actions);
        let verb = actions
            .iter()
            .find_map(|a| match a {
                Action::CreateUser { .. } => Some("create"),
                Action::DeleteUser { .. } => Some("delete"),
                Action::DisableUser { .. } => Some("disable"),
                Action::UpdateUser { .. } => Some("update"),
                _ => None,
            })
            .unwrap_or("links");
        let note = if matches!(verb, "delete" | "disable") {
            String::new()
        } else {
            note
        };
        writeln!(out, "**{}**: {verb}{note}: {}", code(email), md_risk(worst))?;
        writeln!(out)?;
        let (links, others): (Vec<Step<'_>>, Vec<Step<'_>>) = steps
            .iter()
            .partition(|(a, _)| matches!(a, Action::Link { .. } | Action::Unlink { .. }));
        let mut lines = 0;
        for (action, assessed) in others.into_iter().chain(links) {
            match action {
                Action::CreateUser { fields, .. } => {
                    for (field, value) in fields.iter().filter(|(f, _)| shown(f)) {
                        writeln!(
                            out,
                            "- {}: {}",
                            code(&field.name()),
                            code(&value.to_string())
                        )?;
                        lines += 1;
                    }
                }
                Action::UpdateUser { changes, .. } => {
                    for (i, change) in changes.iter().enumerate().filter(|(_, c)| shown(&c.field)) {
                        writeln!(
                            out,
                            "- {}: {} → {}{}",
                            code(&change.field.name()),
                            code(&change.before.to_string()),
                            code(&after(&change.field, &change.after)),
                            md_label(assessed.change(i))
                        )?;
                        lines += 1;
                    }
                }
                Action::Link { kind, target, .. } => {
                    writeln!(
                        out,
                        "- add {kind} {}{}",
                        code(target),
                        md_label(assessed.risk)
                    )?;
                    lines += 1;
                }
                Action::Unlink { kind, target, .. } => {
                    writeln!(
                        out,
                        "- remove {kind} {}{}",
                        code(target),
                        md_label(assessed.risk)
                    )?;
                    lines += 1;
                }
                Action::DisableUser { .. } => {
                    writeln!(out, "- disable the account (it keeps its links)")?;
                    lines += 1;
                }
                Action::DeleteUser { .. } if plan.backend.capabilities.delete_erases_data => {
                    writeln!(
                        out,
                        "- delete the account and everything the server keeps about it \
                         (**irreversible**)"
                    )?;
                    lines += 1;
                }
                Action::DeleteUser { .. } => {
                    writeln!(out, "- delete the account and its links")?;
                    lines += 1;
                }
                Action::CreateObject { .. }
                | Action::UpdateObject { .. }
                | Action::DeleteObject { .. }
                | Action::LinkObject { .. }
                | Action::UnlinkObject { .. } => {}
            }
        }
        if lines == 0 {
            let only_record = actions.iter().any(|a| record_only(a));
            writeln!(
                out,
                "{}",
                if only_record {
                    "- fleetform's applied record only (bookkeeping)"
                } else {
                    "- no field changes"
                }
            )?;
        }
    }
    Ok(())
}

/// A risk label for markdown: the serious ones stand out.
fn md_risk(risk: Risk) -> String {
    match risk {
        Risk::PrivilegeEscalation | Risk::AccountRemoved | Risk::ObjectRemoved => {
            format!("**⚠️ {}**", risk.title())
        }
        other => other.title().to_string(),
    }
}

/// ` · <label>` at the end of a markdown line; nothing for `Risk::None`.
fn md_label(risk: Risk) -> String {
    match risk {
        Risk::None => String::new(),
        other => format!(" · {}", md_risk(other)),
    }
}

/// A CommonMark code span holding `text` literally, whatever backticks it contains; `|` is
/// escaped so a span can sit in a table cell.
fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ").replace('|', "\\|");
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || longest > 0 {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The machine view of a plan: a versioned contract for CI, bots and audit logs.
///
/// Format version 1 (`crate::core::plan::FORMAT_VERSION`); fields are only ever added within a
/// version, and a change of meaning or a removal bumps it:
///
/// ```text
/// {
///   "format_version": 1,
///   "fleet": "acme-bikes",                      // the fleet file's identity (marker)
///   "server": { "backend": "traccar", "url": "https://…", "version": "6.14.5" },
///   "account": { "email": "admin@…", "role": "admin" | "manager" | "user" },
///   "summary": { "create": 1, "update": 1, "delete": 0, "disable": 0, "link": 2, "unlink": 1,
///                "update_record_only": 0,            // of "update", those that only rewrite
///                                                    // fleetform's applied record (added in 1)
///                "create_object": 0, "update_object": 0, "delete_object": 0 },
///                                                    // objects of every kind (added in 1)
///   "apply_refusal": {                          // only when apply will refuse the plan
///     "breaches": ["…"], "override_flag": "--allow-mass-removal", "message": "…" },
///   "actions": [                                // in execution order
///     { "phase": "unlink" | "disable" | "delete" | "delete_object" | "update"
///              | "create_object" | "update_object" | "create" | "link",
///       "risk": "privilege_escalation" | "account_removed" | "object_removed"
///             | "access_revoked" | "access_granted" | "none", // added in 1 (core::risk)
///       "action": "create_user", "email": "…", "managed_by": "…" | null,
///       "fields": { "<field>": <value>, … } },
///     { …, "action": "update_user", "email": "…", "adopt": true | false,
///       "changes": [ { "field": "<field>", "before": <value>, "after": <value> }, … ] },
///     { …, "action": "link" | "unlink", "email": "…", "kind": "device" | "group" | "manager",
///       "target": "<device uniqueId, group name, or the manager's email>" },
///     { …, "action": "disable_user" | "delete_user", "email": "…" },
///     // objects (added in 1): "kind" is the backend's object kind ("device", "group"), "key"
///     // its key (uniqueId, name); references are fields holding the target's key
///     { …, "action": "create_object", "kind": "…", "key": "…", "fields": { … } },
///     { …, "action": "update_object", "kind": "…", "key": "…", "adopt": true | false,
///       "changes": [ … ] },
///     { …, "action": "delete_object", "kind": "…", "key": "…",
///       "cascades": [ "device BT-1: group North -> none", "ann@x.at: loses its link to it" ] }
///                 // cascades (added in 1, only when there are some): what the server does on
///                 // its own because of the delete (`core::cascade`)
///     { …, "action": "delete_user", "email": "…", "irreversible": true }   // added in 1:
///                 // where a delete also erases the user's data (telematics), never undone
///   ]
/// }
/// ```
///
/// `risk` labels what the action does to access (see `crate::core::risk` for the rules); it was
/// added to format version 1 without a bump, as an addition that older readers ignore.
/// `<field>` is Traccar's camelCase field name or `attributes.<key>`. `<value>` is JSON: null,
/// a boolean, an integer, a string, a time as an RFC 3339 string at second precision in UTC
/// (`"2027-01-01T00:00:00Z"`), or any JSON for structured attributes. An attribute whose
/// `after` is null is removed. Emails are spelled as the file (create) or the server (others)
/// spells them. No password, token or other secret ever appears: created users' passwords are
/// generated at apply time and are not part of the plan.
pub fn json(plan: &Plan) -> serde_json::Value {
    // The same serialization as `write_json`, collected into a value.
    serde_json::to_value(JsonPlan(plan, None)).unwrap_or(serde_json::Value::Null)
}

/// `json`, pretty-printed into `out` one action at a time: a plan of 300,000 actions never
/// exists as one JSON tree in memory.
pub fn write_json(plan: &Plan, out: &mut dyn Write) -> io::Result<()> {
    write_json_with(plan, &Notes::default(), out)
}

/// `write_json`, with the refusal apply will make (`apply_refusal`, only when there is one).
pub fn write_json_with(plan: &Plan, notes: &Notes<'_>, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &JsonPlan(plan, notes.refusal))
        .map_err(io::Error::other)?;
    writeln!(out)
}

pub fn json_string(plan: &Plan) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and the output is UTF-8 JSON.
    let _ = write_json(plan, &mut out);
    let mut text = String::from_utf8(out).unwrap_or_default();
    text.truncate(text.trim_end().len());
    text
}

/// The JSON contract documented on `json`, serialized lazily: the header fields, then each
/// action converted to a value only while it is written.
struct JsonPlan<'a>(&'a Plan, Option<&'a SafetyRefusal>);

struct JsonActions<'a>(&'a Plan);

impl serde::Serialize for JsonActions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.actions.len()))?;
        for (action, assessed) in self.0.steps() {
            let mut json = action_json(action, assessed.risk);
            if !assessed.cascades.is_empty()
                && let Some(object) = json.as_object_mut()
            {
                object.insert("cascades".into(), json!(assessed.cascades));
            }
            if matches!(action, Action::DeleteUser { .. })
                && self.0.backend.capabilities.delete_erases_data
                && let Some(object) = json.as_object_mut()
            {
                object.insert("irreversible".into(), json!(true));
            }
            seq.serialize_element(&json)?;
        }
        seq.end()
    }
}

impl serde::Serialize for JsonPlan<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let plan = self.0;
        let s = plan.summary();
        let (_, record_only) = updates(plan);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("format_version", &FORMAT_VERSION)?;
        map.serialize_entry("fleet", &plan.fleet)?;
        map.serialize_entry(
            "server",
            &json!({
                "backend": plan.account.backend,
                "url": plan.account.url,
                "version": plan.account.server_version,
            }),
        )?;
        map.serialize_entry(
            "account",
            &json!({
                "email": plan.account.email,
                "role": plan.account.role.as_str(),
            }),
        )?;
        map.serialize_entry(
            "summary",
            &json!({
                "create": s.create,
                "update": s.update,
                "delete": s.delete,
                "disable": s.disable,
                "link": s.link,
                "unlink": s.unlink,
                "update_record_only": record_only,
                "create_object": s.create_object,
                "update_object": s.update_object,
                "delete_object": s.delete_object,
            }),
        )?;
        if let Some(refusal) = self.1 {
            map.serialize_entry("apply_refusal", &refusal_json(refusal))?;
        }
        map.serialize_entry("actions", &JsonActions(plan))?;
        map.end()
    }
}

/// An action as the JSON plan holds it: its phase and risk, then the action's own encoding
/// (`Serialize` on `core::model::Action`, which saved plans read back with `Action::from_json`).
fn action_json(action: &Action, risk: Risk) -> serde_json::Value {
    let mut object = Map::new();
    object.insert("phase".into(), json!(Phase::of(action).name()));
    object.insert("risk".into(), json!(risk.name()));
    if let Ok(serde_json::Value::Object(own)) = serde_json::to_value(action) {
        object.extend(own);
    }
    serde_json::Value::Object(object)
}

/// The blocks of a markdown plan (per object or per user) with the riskiest step of each,
/// riskiest first, then by key.
fn riskiest_first<'a, 'p, K: Ord>(
    blocks: &'a BTreeMap<K, Vec<Step<'p>>>,
) -> Vec<(Risk, &'a K, &'a Vec<Step<'p>>)> {
    let mut out: Vec<(Risk, &K, &Vec<Step<'p>>)> = blocks
        .iter()
        .map(|(key, steps)| {
            let worst = steps
                .iter()
                .map(|(_, r)| r.risk)
                .min()
                .unwrap_or(Risk::None);
            (worst, key, steps)
        })
        .collect();
    out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    out
}

#[cfg(test)]
mod tests {
    #[allow(unused_imports, reason = "not every test module needs both")]
    use crate::testing::{DEVICE, GROUP, TRACCAR, tf};
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::core::diff::tests::{BOSS, FLEET, account, link, unlink};
    use crate::core::model::FieldChange;

    /// Every kind of action, in execution order, as `plan` would order them.
    fn representative() -> Plan {
        let expires = Utc.with_ymd_and_hms(2027, 6, 30, 23, 59, 59).unwrap();
        Plan::new(
            TRACCAR,
            FLEET.into(),
            account("admin"),
            vec![
                unlink("Anna@x.test", GROUP, "Graz"),
                unlink("links@x.test", DEVICE, "BT-000001"),
                Action::DisableUser {
                    email: "left@x.test".into(),
                },
                Action::DeleteUser {
                    email: "old@x.test".into(),
                },
                Action::UpdateUser {
                    email: "Anna@x.test".into(),
                    changes: vec![
                        FieldChange {
                            field: tf("phone"),
                            before: Value::Null,
                            after: Value::Text("+43 1 234".into()),
                        },
                        FieldChange {
                            field: tf("expirationTime"),
                            before: Value::Null,
                            after: Value::time(expires),
                        },
                        FieldChange {
                            field: Field::Attribute("costCenter".into()),
                            before: Value::Int(4711),
                            after: Value::Null,
                        },
                    ],
                    adopt: true,
                },
                Action::UpdateUser {
                    email: "bert@x.test".into(),
                    changes: vec![
                        FieldChange {
                            field: tf("readonly"),
                            before: Value::Bool(false),
                            after: Value::Bool(true),
                        },
                        FieldChange {
                            field: tf("userLimit"),
                            before: Value::Int(0),
                            after: Value::Int(5),
                        },
                    ],
                    adopt: false,
                },
                Action::CreateUser {
                    email: "max@mustermann.at".into(),
                    fields: [
                        (tf("name"), Value::Text("Max Mustermann".into())),
                        (tf("deviceLimit"), Value::Int(0)),
                        (Field::Attribute("team".into()), Value::Text("north".into())),
                    ]
                    .into_iter()
                    .collect(),
                    managed_by: Some(BOSS.into()),
                },
                link("Anna@x.test", DEVICE, "BT-000123"),
                link("links@x.test", GROUP, "Vienna"),
                link("max@mustermann.at", DEVICE, "BT-000123"),
                link("max@mustermann.at", GROUP, "Vienna"),
            ],
        )
    }

    fn empty() -> Plan {
        let mut plan = representative();
        plan.retain(|_| false);
        plan
    }

    fn render_text(plan: &Plan, color: bool) -> String {
        let mut out = Vec::new();
        text(plan, &mut out, color).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    /// Snapshots show the escape character as `\e` so they stay readable.
    fn visible(s: &str) -> String {
        s.replace('\x1b', "\\e")
    }

    #[test]
    fn the_applied_record_is_left_out_of_text_and_markdown_but_kept_in_json() {
        let record = Field::Attribute(APPLIED_ATTRIBUTE.into());
        let plan = Plan::new(
            TRACCAR,
            FLEET.into(),
            account("admin"),
            vec![Action::UpdateUser {
                email: "a@x.test".into(),
                changes: vec![
                    FieldChange {
                        field: tf("readonly"),
                        before: Value::Bool(false),
                        after: Value::Bool(true),
                    },
                    FieldChange {
                        field: record.clone(),
                        before: Value::Text("v1:old".into()),
                        after: Value::Text("v1:new".into()),
                    },
                ],
                adopt: false,
            }],
        );
        let text = render_text(&plan, false);
        assert!(text.contains("readonly: false -> true"), "{text}");
        assert!(!text.contains("v1:new"), "{text}");
        let mut md = Vec::new();
        markdown(&plan, &mut md).expect("write to a Vec");
        assert!(!String::from_utf8(md).expect("utf-8").contains("v1:new"));
        assert!(json_string(&plan).contains("v1:new"));
    }

    /// An update that only rewrites the applied record is shown as such and counted apart, so
    /// the summary matches the lines a reviewer sees.
    #[test]
    fn record_only_updates_are_counted_as_bookkeeping() {
        let record = Field::Attribute(APPLIED_ATTRIBUTE.into());
        let plan = Plan::new(
            TRACCAR,
            FLEET.into(),
            account("admin"),
            vec![
                Action::UpdateUser {
                    email: "a@x.test".into(),
                    changes: vec![FieldChange {
                        field: record.clone(),
                        before: Value::Text("v1:old".into()),
                        after: Value::Text("v1:new".into()),
                    }],
                    adopt: false,
                },
                Action::UpdateUser {
                    email: "b@x.test".into(),
                    changes: vec![FieldChange {
                        field: tf("readonly"),
                        before: Value::Bool(false),
                        after: Value::Bool(true),
                    }],
                    adopt: false,
                },
                link("b@x.test", DEVICE, "BT-1"),
            ],
        );
        let text = render_text(&plan, false);
        assert!(
            text.contains(
                "Plan: 0 to create, 1 to update (and 1 update of fleetform's applied record only), \
                 0 to delete, 0 to disable, 1 link to add, 0 links to remove."
            ),
            "{text}"
        );
        assert!(
            text.contains("a@x.test\n      (fleetform's applied record only: bookkeeping)"),
            "{text}"
        );
        let md = render_markdown(&plan);
        assert!(md.contains("| update user | 1 |"), "{md}");
        assert!(
            md.contains("| update fleetform's applied record only | 1 |"),
            "{md}"
        );
        assert!(
            md.contains("- fleetform's applied record only (bookkeeping)"),
            "{md}"
        );
        let value = json(&plan);
        assert_eq!(value["summary"]["update"], json!(2));
        assert_eq!(value["summary"]["update_record_only"], json!(1));
    }

    /// `plan` shows the refusal apply will make, in every format, with the override flag, and
    /// where the generated passwords will go.
    #[test]
    fn notes_show_the_refusal_and_the_passwords_in_every_format() {
        let refusal = SafetyRefusal {
            breaches: vec![Breach::RemovesEveryone { managed: 2 }],
        };
        let notes = Notes {
            refusal: Some(&refusal),
            passwords: Some(Passwords::Discarded),
            quiet: false,
        };
        let plan = representative();
        let mut text = Vec::new();
        text_with(&plan, &notes, &mut text, false).expect("text");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(
            text.contains("Warning: apply will refuse this plan: the plan deletes or disables every one of the fleet's 2 managed users"),
            "{text}"
        );
        assert!(text.contains("--allow-mass-removal"), "{text}");
        assert!(
            text.contains("1 password will be generated for the new users and not saved anywhere"),
            "{text}"
        );
        let mut md = Vec::new();
        markdown_with(&plan, &notes, &mut md).expect("markdown");
        let md = String::from_utf8(md).expect("utf-8");
        assert!(md.contains("> [!WARNING]"), "{md}");
        assert!(md.contains("--allow-mass-removal"), "{md}");
        let mut js = Vec::new();
        write_json_with(&plan, &notes, &mut js).expect("json");
        let value: serde_json::Value = serde_json::from_slice(&js).expect("json");
        assert_eq!(
            value["apply_refusal"]["override_flag"],
            json!("--allow-mass-removal")
        );
        assert!(value.get("apply_refusal").is_some());
        assert!(
            json(&plan).get("apply_refusal").is_none(),
            "only when refused"
        );

        let quiet = Notes {
            quiet: true,
            ..notes
        };
        let mut short = Vec::new();
        text_with(&plan, &quiet, &mut short, false).expect("text");
        let short = String::from_utf8(short).expect("utf-8");
        assert!(short.starts_with("Plan: "), "{short}");
        assert!(!short.contains("max@mustermann.at"), "{short}");
        assert!(short.contains("Warning: apply will refuse"), "{short}");
    }

    #[test]
    fn text_snapshot() {
        insta::assert_snapshot!("text_plain", render_text(&representative(), false));
    }

    #[test]
    fn text_color_snapshot() {
        insta::assert_snapshot!("text_color", visible(&render_text(&representative(), true)));
    }

    #[test]
    fn text_empty_snapshot() {
        let plain = render_text(&empty(), false);
        assert!(plain.contains("No changes."));
        assert_eq!(render_text(&empty(), true), plain, "nothing to colour");
        insta::assert_snapshot!("text_empty", plain);
    }

    fn render_markdown(plan: &Plan) -> String {
        let mut out = Vec::new();
        markdown(plan, &mut out).expect("write to a Vec");
        String::from_utf8(out).expect("utf-8")
    }

    /// Devices and groups next to a user: one action of each object kind, in plan order.
    fn with_objects() -> Plan {
        use crate::backend::traccar::rules::{DEVICE_OBJECT, GROUP_OBJECT};
        let of = |kind, name: &str| {
            TRACCAR
                .object(kind)
                .and_then(|s| s.field(name))
                .expect("declared")
        };
        let text = |s: &str| Value::Text(s.into());
        let mut actions = vec![
            unlink("anna@x.test", GROUP, "Old"),
            Action::DeleteObject {
                kind: GROUP_OBJECT,
                key: "Old".into(),
            },
            Action::CreateObject {
                kind: GROUP_OBJECT,
                key: "Vienna-North".into(),
                fields: [(of(GROUP_OBJECT, "parent"), text("Vienna"))].into(),
            },
            Action::UpdateObject {
                kind: GROUP_OBJECT,
                key: "Vienna".into(),
                adopt: true,
                changes: vec![],
            },
            Action::CreateObject {
                kind: DEVICE_OBJECT,
                key: "BT-000200".into(),
                fields: [
                    (of(DEVICE_OBJECT, "name"), text("Bike 200")),
                    (of(DEVICE_OBJECT, "group"), text("Vienna-North")),
                ]
                .into(),
            },
            Action::UpdateObject {
                kind: DEVICE_OBJECT,
                key: "BT-000101".into(),
                adopt: false,
                changes: vec![
                    FieldChange {
                        field: of(DEVICE_OBJECT, "group"),
                        before: text("Vienna"),
                        after: Value::Null,
                    },
                    FieldChange {
                        field: of(DEVICE_OBJECT, "category"),
                        before: Value::Null,
                        after: text("bicycle"),
                    },
                ],
            },
            link("anna@x.test", DEVICE, "BT-000200"),
            link(BOSS, GROUP, "Vienna-North"),
        ];
        crate::core::plan::sort(TRACCAR, &mut actions);
        Plan::new(TRACCAR, FLEET.into(), account("admin"), actions)
    }

    #[test]
    fn object_snapshots() {
        let plan = with_objects();
        let text = render_text(&plan, false);
        assert!(
            text.contains("objects: 2 to create, 2 to update, 1 to delete."),
            "{text}"
        );
        insta::assert_snapshot!("objects_text", text);
        insta::assert_snapshot!("objects_markdown", render_markdown(&plan));
        insta::assert_snapshot!("objects_json", json_string(&plan));
        let json = json(&plan);
        assert_eq!(json["summary"]["delete_object"], 1);
        let risks: Vec<(&str, &str)> = json["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().unwrap_or(""),
                    a["risk"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert!(
            risks.contains(&("delete_object", "object_removed")),
            "{risks:?}"
        );
        // A device leaving its group revokes its users' access; a new one in a group grants.
        assert!(
            risks.contains(&("update_object", "access_revoked")),
            "{risks:?}"
        );
        assert!(
            risks.contains(&("create_object", "access_granted")),
            "{risks:?}"
        );
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!("markdown", render_markdown(&representative()));
    }

    #[test]
    fn markdown_empty_snapshot() {
        let md = render_markdown(&empty());
        assert!(md.contains("No changes."));
        insta::assert_snapshot!("markdown_empty", md);
    }

    #[test]
    fn markdown_puts_risky_users_first() {
        let md = render_markdown(&representative());
        let pos = |needle: &str| {
            md.find(needle)
                .unwrap_or_else(|| panic!("{needle} in\n{md}"))
        };
        // bert becomes a manager (escalation), then removals, then revocations, then grants.
        assert!(pos("**`bert@x.test`**") < pos("**`left@x.test`**"));
        assert!(pos("**`left@x.test`**") < pos("**`Anna@x.test`**"));
        assert!(pos("**`old@x.test`**") < pos("**`max@mustermann.at`**"));
    }

    #[test]
    fn code_spans_survive_backticks_and_pipes() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("a|b"), "`a\\|b`");
    }

    #[test]
    fn json_snapshot() {
        insta::assert_snapshot!("json", json_string(&representative()));
    }

    #[test]
    fn json_empty_snapshot() {
        insta::assert_snapshot!("json_empty", json_string(&empty()));
    }

    #[test]
    fn text_without_color_has_no_escapes() {
        assert!(!render_text(&representative(), false).contains('\x1b'));
        assert!(render_text(&representative(), true).contains(GREEN));
    }

    #[test]
    fn json_is_versioned_and_counts_match() {
        let value = json(&representative());
        assert_eq!(value["format_version"], json!(FORMAT_VERSION));
        assert_eq!(value["summary"]["link"], json!(4));
        assert_eq!(
            value["actions"].as_array().map(Vec::len),
            Some(representative().actions.len())
        );
        assert_eq!(value["actions"][0]["risk"], json!("access_revoked"));
        assert_eq!(value["actions"][2]["risk"], json!("account_removed"));
        assert!(
            !json_string(&representative())
                .to_lowercase()
                .contains("password")
        );
    }

    #[test]
    fn a_failing_writer_is_an_error_not_a_panic() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(text(&representative(), &mut Broken, false).is_err());
    }
}
