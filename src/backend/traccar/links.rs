//! Inference of a user's direct group links on servers that cannot list them, and the
//! groups a plan's moves would take out of the billing account's sight (`owner_keeps`).
//!
//! Traccar up to 6.14.5 has no exact read of user→group links: `GET /api/groups?userId=X`
//! returns the linked groups *plus* their children and grandchildren, and the only listing
//! (`GET /api/permissions`, 6.14.0+) fails for the user/group pair until after 6.14.5. So the
//! direct links are inferred from the visible set R:
//!
//! - a group in R whose parent and grandparent are not in R can only be visible through its own
//!   link: it is a *known* direct link;
//! - a nested group in R that the file lists counts as linked when one of its two nearest
//!   ancestors is in R and listed in the file too, and stays one of its two nearest ancestors
//!   in the tree the plan leaves (the file's `parent:`s): the user keeps seeing it either way;
//! - a nested group in R that the file lists, whose visible ancestors are all going away (or
//!   stop being its ancestors because the file moves it or them), is *uncertain*: it is reported as unlinked so the plan links it, and the backend links it with
//!   DELETE then POST so that no duplicate row is created if it was linked after all;
//! - a nested group in R that the file does not list, with a visible ancestor the file lists
//!   and keeps above it, is left alone: the user sees it through that ancestor whether or not it is also linked
//!   directly, and no read can tell the two apart;
//! - a nested group in R that the file does not list, whose visible ancestors the file does not
//!   list either, *may* be linked directly: it counts as linked, so the plan unlinks it in the
//!   same run as its ancestor (Traccar answers 204 to a DELETE of a link that does not exist).
//!   Leaving it alone would let a direct link survive the ancestor's unlink: more access than
//!   the file grants until a second run (observed on 6.9.1).
//!
//! The result errs towards less access, never more: after one run no group is visible that the
//! file does not grant, directly or through a listed ancestor.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::model::{
    Action, Desired, LinkKind, LiveObject, ObjectKind, Problem, UserKey, Value,
};

/// The live groups, by name.
type Objects = BTreeMap<String, LiveObject>;

/// The inferred direct links and the subset that must be re-linked with DELETE then POST.
#[derive(Debug, PartialEq, Eq)]
pub struct Inferred<T> {
    pub linked: BTreeSet<T>,
    pub uncertain: BTreeSet<T>,
}

impl<T> Default for Inferred<T> {
    fn default() -> Self {
        Inferred {
            linked: BTreeSet::new(),
            uncertain: BTreeSet::new(),
        }
    }
}

/// A group's two nearest ancestors in `parents` (a group link shows three levels).
fn ancestors<T: Ord + Clone>(parents: &BTreeMap<T, Option<T>>, g: &T) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(2);
    let mut cur = g.clone();
    for _ in 0..2 {
        match parents.get(&cur).cloned().flatten() {
            Some(p) => {
                out.push(p.clone());
                cur = p;
            }
            None => break,
        }
    }
    out
}

/// `visible`: the ids `GET /api/groups?userId=X` returned; `parents`: every group's parent;
/// `after`: every group's parent once the plan is applied (`parents` with the file's moves);
/// `desired`: the ids of the groups the file lists for the user.
pub fn infer_group_links<T: Ord + Clone>(
    visible: &BTreeSet<T>,
    parents: &BTreeMap<T, Option<T>>,
    after: &BTreeMap<T, Option<T>>,
    desired: &BTreeSet<T>,
) -> Inferred<T> {
    let mut result = Inferred::default();
    for g in visible {
        let visible_ancestors: Vec<T> = ancestors(parents, g)
            .into_iter()
            .filter(|a| visible.contains(a))
            .collect();
        // A listed ancestor the plan keeps above the group: the user sees the group through it
        // before and after, linked directly or not.
        let kept_above = ancestors(after, g);
        let listed_ancestor = visible_ancestors
            .iter()
            .any(|a| desired.contains(a) && kept_above.contains(a));
        if visible_ancestors.is_empty() {
            result.linked.insert(g.clone());
        } else if desired.contains(g) {
            if listed_ancestor {
                result.linked.insert(g.clone());
            } else {
                result.uncertain.insert(g.clone());
            }
        } else if !listed_ancestor {
            result.linked.insert(g.clone());
        }
    }
    result
}

/// The groups a user linked to `direct` sees: those groups, their children and grandchildren
/// (Traccar expands a group link three levels deep).
pub fn visible_groups<T: Ord + Clone>(
    direct: &BTreeSet<T>,
    parents: &BTreeMap<T, Option<T>>,
) -> BTreeSet<T> {
    parents
        .keys()
        .filter(|g| direct.contains(*g) || ancestors(parents, g).iter().any(|a| direct.contains(a)))
        .cloned()
        .collect()
}

/// The billing account's groups must stay its own (the seed: a device unlinked from it stops
/// working). A manager sees a group through its own link or one on the group's parent or
/// grandparent, so a plan that moves a group (`parent:`) can take it, with its devices, out of
/// the billing account's sight: Traccar accepts the move (it checks only the new parent) and
/// the account loses the group; any later request about it is refused (`Group access
/// denied`). As administrator with `manager:`, the plan links such a group to the manager
/// directly (`owner_keeps`); as the manager credential, which cannot link itself, the plan is
/// refused at the entry of the group that moves (`groups_leaving_the_owner`).
///
/// The holder's direct links cannot all be read (see the header): a group it sees with no
/// seen ancestor above it is linked directly; others count as seen only through their
/// ancestors, which errs towards a link too many (admin) or a refusal (manager), never a loss.
struct Leaving {
    /// Groups the holder sees today and would not after the plan, each with the group whose
    /// move causes it (itself or an ancestor) and that move's parents, before and after.
    groups: Vec<(String, String, Option<String>, Option<String>)>,
    /// The tree after the plan, and the holder's direct links (known, and the plan's).
    after: BTreeMap<String, Option<String>>,
    direct: BTreeSet<String>,
}

/// The account that must keep the fleet's groups, as the backend's rules name it.
pub struct Holder<'a> {
    /// Its email, as the server spells it.
    pub email: String,
    /// The groups it sees today (its links, their children and grandchildren).
    pub seen: &'a BTreeSet<String>,
    /// Whether the acting account may link groups to it (an administrator: yes; the holder
    /// itself: no).
    pub may_link: bool,
    /// The link kind of groups, their object kind and the name of their parent field.
    pub link: LinkKind,
    pub kind: ObjectKind,
    pub parent: &'static str,
}

fn leaving(
    desired: &Desired,
    groups: &Objects,
    actions: &[Action],
    holder: &Holder,
) -> Option<Leaving> {
    let (seen, group_kind) = (holder.seen, holder.kind);
    let spec = desired.backend.object(group_kind)?;
    let parent = spec.field(holder.parent)?;
    let parent_of = |value: Option<&Value>| match value {
        Some(Value::Text(p)) => Some(p.clone()),
        _ => None,
    };
    let now: BTreeMap<String, Option<String>> = groups
        .iter()
        .map(|(key, g)| (key.clone(), parent_of(g.fields.get(&parent))))
        .collect();
    let mut after = now.clone();
    let mut direct: BTreeSet<String> = seen
        .iter()
        .filter(|g| !ancestors(&now, *g).iter().any(|a| seen.contains(a)))
        .cloned()
        .collect();
    let mut moved: BTreeMap<&str, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for action in actions {
        match action {
            // The plan's new groups are linked to the holder (the creator link, or the link
            // `core::objects` adds for `manager:`).
            Action::CreateObject { kind, key, fields } if *kind == group_kind => {
                after.insert(key.clone(), parent_of(fields.get(&parent)));
                direct.insert(key.clone());
            }
            Action::UpdateObject {
                kind, key, changes, ..
            } if *kind == group_kind => {
                if let Some(change) = changes.iter().find(|c| c.field == parent) {
                    let to = parent_of(Some(&change.after));
                    moved.insert(key, (parent_of(Some(&change.before)), to.clone()));
                    after.insert(key.clone(), to);
                }
            }
            Action::DeleteObject { kind, key } if *kind == group_kind => {
                deleted.insert(key);
            }
            Action::Link {
                email,
                kind,
                target,
            } if *kind == holder.link && UserKey::new(email) == UserKey::new(&holder.email) => {
                direct.insert(target.clone());
            }
            _ => {}
        }
    }
    let still = visible_groups(&direct, &after);
    let groups = seen
        .iter()
        .filter(|g| !still.contains(*g) && !deleted.contains(g.as_str()))
        .filter_map(|group| {
            // The move that takes it away: its own, or an ancestor's.
            let cause = std::iter::once(group.clone())
                .chain(ancestors(&now, group))
                .find(|g| moved.contains_key(g.as_str()))?;
            let (from, to) = moved[cause.as_str()].clone();
            Some((group.clone(), cause, from, to))
        })
        .collect();
    Some(Leaving {
        groups,
        after,
        direct,
    })
}

/// As administrator with `manager:`: links to the manager for the groups the plan's moves
/// would take out of its sight, the topmost of each moved subtree only (a link shows the
/// group's children and grandchildren too).
pub fn owner_keeps(
    desired: &Desired,
    groups: &Objects,
    actions: &[Action],
    holder: &Holder,
) -> Vec<Action> {
    if !holder.may_link {
        return Vec::new();
    }
    let Some(Leaving {
        groups,
        after,
        mut direct,
    }) = leaving(desired, groups, actions, holder)
    else {
        return Vec::new();
    };
    let mut lost: BTreeSet<String> = groups.into_iter().map(|(g, ..)| g).collect();
    let mut links = Vec::new();
    while !lost.is_empty() {
        let top: Vec<String> = lost
            .iter()
            .filter(|g| !ancestors(&after, *g).iter().any(|a| lost.contains(a)))
            .cloned()
            .collect();
        if top.is_empty() {
            break;
        }
        for group in top {
            direct.insert(group.clone());
            links.push(Action::Link {
                email: holder.email.clone(),
                kind: holder.link,
                target: group,
            });
        }
        let still = visible_groups(&direct, &after);
        lost.retain(|g| !still.contains(g));
    }
    links
}

/// Moves that would take groups out of the billing account's sight and that the plan does not
/// make up for (see `owner_keeps`): refused at the entry of the group that moves.
pub fn groups_leaving_the_owner(
    desired: &Desired,
    groups: &Objects,
    actions: &[Action],
    holder: &Holder,
) -> Vec<Problem> {
    let Some(leaving) = leaving(desired, groups, actions, holder) else {
        return Vec::new();
    };
    let group_kind = holder.kind;
    let holder = &holder.email;
    let name = |p: &Option<String>| p.clone().unwrap_or_else(|| "none".to_string());
    leaving
        .groups
        .iter()
        .map(|(group, cause, from, to)| {
            let through = if cause == group {
                String::new()
            } else {
                format!(" (it is under group {cause}, which the plan moves)")
            };
            let origin = desired
                .objects
                .get(&group_kind)
                .and_then(|o| o.get(cause.as_str()))
                .and_then(|o| o.origin.clone());
            Problem {
                user: None,
                origin,
                message: format!(
                    "group {group}: the plan moves group {cause} (parent {} -> {}), which takes \
                     {group}{through} and its devices out of what {holder} sees (a group link \
                     shows the group, its children and grandchildren); the fleet must stay in \
                     the billing account. Keep it under one of {holder}'s groups, or have an \
                     administrator link {group} to {holder} directly first",
                    name(from),
                    name(to),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::traccar::wire::Id;

    fn ids(v: &[i64]) -> BTreeSet<Id> {
        v.iter().map(|i| Id(*i)).collect()
    }

    /// 1 <- 2 <- 3 <- 4 (4's parent is 3, ...), and 5 alone.
    fn tree() -> BTreeMap<Id, Option<Id>> {
        [
            (1, None),
            (2, Some(1)),
            (3, Some(2)),
            (4, Some(3)),
            (5, None),
        ]
        .into_iter()
        .map(|(g, p)| (Id(g), p.map(Id)))
        .collect()
    }

    #[test]
    fn a_group_link_shows_three_levels() {
        assert_eq!(visible_groups(&ids(&[1]), &tree()), ids(&[1, 2, 3]));
        assert_eq!(visible_groups(&ids(&[2, 5]), &tree()), ids(&[2, 3, 4, 5]));
        assert!(visible_groups(&ids(&[]), &tree()).is_empty());
    }

    #[test]
    fn flat_groups_are_exact() {
        let r = infer_group_links(&ids(&[1, 5]), &tree(), &tree(), &ids(&[5]));
        assert_eq!(r.linked, ids(&[1, 5]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn children_seen_through_a_listed_parent_are_not_links() {
        // linked to 1: sees 1, 2, 3.
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &tree(), &ids(&[1]));
        assert_eq!(r.linked, ids(&[1]));
    }

    #[test]
    fn children_of_a_parent_that_goes_away_go_with_it() {
        // Sees 1, 2, 3 and the file lists only 5: 2 and 3 may be linked directly too, so they
        // are unlinked with 1 and nothing stays visible.
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &tree(), &ids(&[5]));
        assert_eq!(r.linked, ids(&[1, 2, 3]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn a_listed_child_under_a_listed_parent_counts_as_linked() {
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &tree(), &ids(&[1, 2]));
        assert_eq!(r.linked, ids(&[1, 2]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn a_listed_child_whose_parent_goes_away_is_relinked() {
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &tree(), &ids(&[2]));
        assert_eq!(r.linked, ids(&[1]));
        assert_eq!(r.uncertain, ids(&[2]));
    }

    #[test]
    fn a_listed_child_the_file_moves_away_from_a_listed_parent_is_relinked() {
        // Linked to 1 (sees 1, 2, 3); the file lists 1 and 2 and moves 2 to the top level.
        // Through 1 the user sees 2 today, not after the move: 2 may not be linked directly.
        let mut after = tree();
        after.insert(Id(2), None);
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &after, &ids(&[1, 2]));
        assert_eq!(r.linked, ids(&[1]));
        assert_eq!(r.uncertain, ids(&[2]));
        // Moved but still under 1 (as grandchild, via 5 under 1): still seen through 1.
        let mut after = tree();
        after.insert(Id(5), Some(Id(1)));
        after.insert(Id(2), Some(Id(5)));
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &after, &ids(&[1, 2]));
        assert_eq!(r.linked, ids(&[1, 2]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn an_unlisted_child_the_file_moves_away_from_a_listed_parent_is_unlinked() {
        // Sees 1, 2, 3; the file lists 1 only and moves 2 to the top level: a direct link to
        // 2 would outlive the move, so 2 counts as linked and the plan unlinks it.
        let mut after = tree();
        after.insert(Id(2), None);
        // 3 moves with 2, away from 1: the same holds for it.
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &after, &ids(&[1]));
        assert_eq!(r.linked, ids(&[1, 2, 3]));
        assert!(r.uncertain.is_empty());
    }
}
