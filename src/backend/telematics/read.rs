//! Reading an instance: the paged listing of its users (inactive ones included), checked for a
//! list that shifted while it was read, and the model's live state built from it: users keyed
//! by ClientId, their ownership (`ownership.rs`), and the users fleetform may not touch.
//!
//! Design: the listing. `POST /v1/Management/users/GetFilteredPage` with the instance as the
//! only filter, `ShowInactiveUsers: true` and a stable sort (`DeviceToken`), page by page while
//! `HasNextPage`, with the largest page the service takes (the maximum is undocumented: 1,000
//! is asked first, then 100 and 50 when a first page is refused). Every page says how many
//! users the instance has (`TotalUsers`): the walk is trusted only when the first and last page
//! agree, and the users read (distinct DeviceTokens) are exactly that many; otherwise someone
//! changed the instance during the walk (a user on a page boundary would be read twice or not
//! at all), and the walk starts again, at most three times, then fails.
//!
//! Design: the model.
//! - A user without a ClientId cannot be keyed: it is never read, so never changed.
//! - A user whose `AccountInfo.InstanceId` names another instance (a service that ignores the
//!   filter) is never read.
//! - Several users with one ClientId are one untouchable entry naming them all (DeviceToken
//!   and creation date): fleetform never guesses which one the file means. In the file, the
//!   plan refuses it at the user's position; registered by this fleet, the rules refuse the
//!   run (a prune would otherwise skip it silently).
//! - A user with a status fleetform does not know (`Deleted`) is untouchable.
//! - The marker: this fleet when the DeviceToken proves it, or when the file names the user
//!   (adopted by being named: managed while the file names it, never pruned, since nothing on
//!   the server can record an adoption); `ANOTHER_FLEET` when the token proves another fleet;
//!   none otherwise.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use reqwest::Method;
use serde_json::{Value as Json, json};

use super::TelematicsBackend;
use super::api::{ApiError, Request, get};
use super::ownership::{Registrant, registrant};
use super::rules::ANOTHER_FLEET;
use super::wire::{Status, WireUser, read_user};
use crate::core::model::{Live, LiveUser, Scope, UserKey};

/// The page sizes tried, largest first: the service documents no maximum.
pub const PAGE_SIZES: [u32; 3] = [1000, 100, 50];

/// Walks of the listing before fleetform gives up on a list that keeps changing.
const WALKS: usize = 3;

/// What the apply needs of a user fleetform read: where to send changes and what to send back.
#[derive(Clone, Debug)]
pub struct Known {
    pub token: String,
    pub client_id: String,
    pub user_fields: serde_json::Map<String, Json>,
}

/// One walk's outcome.
struct Walk {
    users: Vec<WireUser>,
    /// `TotalUsers` of the first and the last page.
    totals: (Option<u64>, Option<u64>),
    distinct: usize,
}

impl TelematicsBackend {
    /// Every user of the instance, inactive ones included.
    pub(super) async fn list_users(&self) -> anyhow::Result<Vec<WireUser>> {
        let mut last = None;
        for _ in 0..WALKS {
            let walk = self.walk().await?;
            let (first, end) = walk.totals;
            let consistent = first == end
                && end.is_none_or(|total| total == walk.distinct as u64)
                && walk.distinct == walk.users.len();
            if consistent {
                return Ok(walk.users);
            }
            last = Some((first, end, walk.users.len(), walk.distinct));
        }
        let (first, end, read, distinct) = last.unwrap_or_default();
        let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
        bail!(
            "the instance's user list changed while fleetform read it, {WALKS} times in a row \
             (the service counted {} users at the start and {} at the end; {read} listed, \
             {distinct} distinct): fleetform does not plan from a list it cannot trust. Try \
             again when nobody else is registering or deleting users",
            count(first),
            count(end)
        )
    }

    async fn walk(&self) -> anyhow::Result<Walk> {
        let mut sizes = PAGE_SIZES
            .iter()
            .copied()
            .filter(|s| *s <= self.page_size.load(std::sync::atomic::Ordering::Relaxed))
            .peekable();
        let mut size = sizes.next().unwrap_or(PAGE_SIZES[PAGE_SIZES.len() - 1]);
        let mut users = Vec::new();
        let mut tokens = BTreeSet::new();
        let mut totals = (None, None);
        let mut page = 1u32;
        let progress = &self.options.progress;
        loop {
            let result = match self.page(page, size).await {
                Ok(result) => result,
                // The first page refused: perhaps too large a page. Smaller ones are tried.
                Err(e)
                    if page == 1
                        && matches!(e.status, Some(400 | 413 | 422))
                        && sizes.peek().is_some() =>
                {
                    size = sizes.next().unwrap_or(size);
                    self.page_size
                        .store(size, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                Err(e) => return Err(anyhow::Error::new(e).context("listing the instance's users")),
            };
            let listed = get(&result, "Users")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let total = get(&result, "TotalUsers").and_then(Json::as_u64);
            if page == 1 {
                totals.0 = total;
                progress.start("Reading users", total.unwrap_or(0));
            }
            totals.1 = total;
            progress.advance(listed.len() as u64);
            for user in &listed {
                if let Some(user) = read_user(user) {
                    tokens.insert(user.token.to_ascii_lowercase());
                    users.push(user);
                }
            }
            let more = get(&result, "HasNextPage")
                .and_then(Json::as_bool)
                .unwrap_or(listed.len() as u64 == u64::from(size));
            // A page that says there is more but lists nobody would loop forever.
            if !more || listed.is_empty() {
                if more {
                    totals.1 = None;
                }
                break;
            }
            page += 1;
        }
        progress.finish();
        Ok(Walk {
            distinct: tokens.len(),
            users,
            totals,
        })
    }

    async fn page(&self, page: u32, size: u32) -> Result<Json, ApiError> {
        self.page_sorted(page, size, "DeviceToken").await
    }

    /// The newest users of the instance, at least `count` of them where the service gives
    /// pages that large: one page sorted by `DateCreatedDesc`, for reading back what a bulk
    /// registration created. Not checked for shifts: a user it misses is looked up by itself
    /// (`write.rs`).
    pub(super) async fn newest(&self, count: usize) -> Result<Vec<WireUser>, ApiError> {
        let size = u32::try_from(count)
            .unwrap_or(u32::MAX)
            .max(self.page_size.load(std::sync::atomic::Ordering::Relaxed));
        let result = self.page_sorted(1, size, "DateCreatedDesc").await?;
        Ok(get(&result, "Users")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(read_user)
            .filter(|u| u.instance.as_ref().is_none_or(|i| i == self.api.instance()))
            .collect())
    }

    async fn page_sorted(&self, page: u32, size: u32, sort: &str) -> Result<Json, ApiError> {
        let body = json!({
            "InstanceIds": [self.api.instance()],
            "PageNumber": page,
            "PageSize": size,
            "IncludeAccountInfo": true,
            "ShowInactiveUsers": true,
            "Sort": sort,
            "ActivityStatuses": [],
        });
        let request = Request {
            body: Some(&body),
            // A read, although a POST.
            idempotent: true,
            ..Request::admin(Method::POST, "/v1/Management/users/GetFilteredPage")
        };
        self.api.call(&request).await
    }

    /// The live state for `scope` (see the design comment), remembering for the apply where
    /// each user is.
    pub(super) async fn fetch_live(&self, scope: &Scope) -> anyhow::Result<Live> {
        let listed = self.list_users().await?;
        let instance = self.api.instance().to_string();
        let mut by_key: BTreeMap<UserKey, Vec<WireUser>> = BTreeMap::new();
        for user in listed {
            if user.instance.as_ref().is_some_and(|i| *i != instance) {
                continue;
            }
            let Some(client_id) = &user.client_id else {
                continue;
            };
            by_key
                .entry(UserKey::exact(client_id))
                .or_default()
                .push(user);
        }
        let mut users = BTreeMap::new();
        let mut known = std::collections::HashMap::new();
        for (key, mut group) in by_key {
            let in_file = scope.emails.contains(&key);
            let registrants: Vec<Registrant> = group
                .iter()
                .map(|u| registrant(&u.token, &instance, &scope.fleet, key.as_str()))
                .collect();
            let marker = if registrants.contains(&Registrant::ThisFleet)
                || in_file && !registrants.contains(&Registrant::AnotherFleet)
            {
                Some(scope.fleet.clone())
            } else if registrants.contains(&Registrant::AnotherFleet) {
                Some(ANOTHER_FLEET.to_string())
            } else {
                None
            };
            group.sort_by(|a, b| a.token.cmp(&b.token));
            let first = group.swap_remove(0);
            let untouchable = if !group.is_empty() {
                let mut all = vec![&first];
                all.extend(group.iter());
                let named: Vec<String> = all
                    .iter()
                    .map(|u| match &u.created {
                        Some(created) => format!("{} (created {created})", u.token),
                        None => u.token.clone(),
                    })
                    .collect();
                Some(format!(
                    "shares its clientId with {} other user(s) on the server (DeviceTokens {}): \
                     fleetform never guesses which one is meant; give each its own ClientId, or \
                     delete the extra ones, in DataHub",
                    group.len(),
                    named.join(", ")
                ))
            } else if let Status::Other(status) = &first.status {
                Some(format!(
                    "has the status {status:?}, which fleetform does not manage (only Active and \
                     Inactive); remove the user from the file or restore it in DataHub"
                ))
            } else {
                None
            };
            known.insert(
                key.clone(),
                Known {
                    token: first.token.clone(),
                    client_id: key.as_str().to_string(),
                    user_fields: first.user_fields.clone(),
                },
            );
            users.insert(
                key.clone(),
                LiveUser {
                    email: first.client_id.clone().unwrap_or_else(|| key.to_string()),
                    untouchable,
                    marker,
                    fields: first.fields,
                    links: Default::default(),
                    managed_by: BTreeSet::new(),
                },
            );
        }
        *self.known() = known;
        Ok(Live {
            account: self.account(),
            users,
            targets: Default::default(),
            ambiguous: Default::default(),
            owner_targets: Default::default(),
            objects: Default::default(),
            unnamed: Default::default(),
            choices: Default::default(),
            now: chrono::Utc::now(),
        })
    }
}
