//! Inference of a user's direct group links on servers that cannot list them.
//!
//! Traccar up to 6.14.5 has no exact read of user→group links: `GET /api/groups?userId=X`
//! returns the linked groups *plus* their children and grandchildren, and the only listing
//! (`GET /api/permissions`, 6.14.0+) fails for the user/group pair until after 6.14.5. So the
//! direct links are inferred from the visible set R:
//!
//! - a group in R whose parent and grandparent are not in R can only be visible through its own
//!   link: it is a *known* direct link;
//! - a nested group in R that the file lists counts as linked when one of its two nearest
//!   ancestors is in R and listed in the file too (the user keeps seeing it either way);
//! - a nested group in R that the file lists, whose visible ancestors are all going away, is
//!   *uncertain*: it is reported as unlinked so the plan links it, and the backend links it with
//!   DELETE then POST so that no duplicate row is created if it was linked after all;
//! - a nested group in R that the file does not list, with a visible ancestor the file lists,
//!   is left alone: the user sees it through that ancestor whether or not it is also linked
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

use super::wire::Id;

/// The inferred direct links and the subset that must be re-linked with DELETE then POST.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inferred {
    pub linked: BTreeSet<Id>,
    pub uncertain: BTreeSet<Id>,
}

/// `visible`: the ids `GET /api/groups?userId=X` returned; `parents`: every group's parent;
/// `desired`: the ids of the groups the file lists for the user.
pub fn infer_group_links(
    visible: &BTreeSet<Id>,
    parents: &BTreeMap<Id, Option<Id>>,
    desired: &BTreeSet<Id>,
) -> Inferred {
    let ancestors = |g: Id| -> Vec<Id> {
        let mut out = Vec::with_capacity(2);
        let mut cur = g;
        for _ in 0..2 {
            match parents.get(&cur).copied().flatten() {
                Some(p) => {
                    out.push(p);
                    cur = p;
                }
                None => break,
            }
        }
        out
    };
    let mut result = Inferred::default();
    for &g in visible {
        let visible_ancestors: Vec<Id> = ancestors(g)
            .into_iter()
            .filter(|a| visible.contains(a))
            .collect();
        let listed_ancestor = visible_ancestors.iter().any(|a| desired.contains(a));
        if visible_ancestors.is_empty() {
            result.linked.insert(g);
        } else if desired.contains(&g) {
            if listed_ancestor {
                result.linked.insert(g);
            } else {
                result.uncertain.insert(g);
            }
        } else if !listed_ancestor {
            result.linked.insert(g);
        }
    }
    result
}

/// The groups a user linked to `direct` sees: those groups, their children and grandchildren
/// (Traccar expands a group link three levels deep).
pub fn visible_groups(direct: &BTreeSet<Id>, parents: &BTreeMap<Id, Option<Id>>) -> BTreeSet<Id> {
    parents
        .keys()
        .copied()
        .filter(|&g| {
            let mut current = Some(g);
            (0..3).any(|_| match current {
                Some(c) => {
                    current = parents.get(&c).copied().flatten();
                    direct.contains(&c)
                }
                None => false,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = infer_group_links(&ids(&[1, 5]), &tree(), &ids(&[5]));
        assert_eq!(r.linked, ids(&[1, 5]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn children_seen_through_a_listed_parent_are_not_links() {
        // linked to 1: sees 1, 2, 3.
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &ids(&[1]));
        assert_eq!(r.linked, ids(&[1]));
    }

    #[test]
    fn children_of_a_parent_that_goes_away_go_with_it() {
        // Sees 1, 2, 3 and the file lists only 5: 2 and 3 may be linked directly too, so they
        // are unlinked with 1 and nothing stays visible.
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &ids(&[5]));
        assert_eq!(r.linked, ids(&[1, 2, 3]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn a_listed_child_under_a_listed_parent_counts_as_linked() {
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &ids(&[1, 2]));
        assert_eq!(r.linked, ids(&[1, 2]));
        assert!(r.uncertain.is_empty());
    }

    #[test]
    fn a_listed_child_whose_parent_goes_away_is_relinked() {
        let r = infer_group_links(&ids(&[1, 2, 3]), &tree(), &ids(&[2]));
        assert_eq!(r.linked, ids(&[1]));
        assert_eq!(r.uncertain, ids(&[2]));
    }
}
