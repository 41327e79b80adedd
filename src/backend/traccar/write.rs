//! Writing plan phases to a Traccar server: creates, read-modify-write updates, deletes, and
//! links in `/api/permissions/bulk` batches: users' links (to devices, groups, the simple
//! kinds, their manager) and devices' and groups' links to objects (`{deviceId, geofenceId}`)
//! share one batch path (`apply_links`, `link_batch`, `unlink_batch`), one batch per key set
//! (`LinkSet`), as Traccar requires. Only `apply` calls into this file.
//!
//! Failure paths: reads, PUTs and DELETEs are retried by the client (`api.rs`); POSTs are not,
//! because Traccar would create a second user or a duplicate link row. A create or a link batch
//! that failed ambiguously is checked by reading the server back before anything is sent again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use super::api::ApiError;
use super::rules::{DEVICE, GROUP, MANAGER, field_named};
use super::wire::{self, Id};
use super::{TraccarBackend, email_of, id_of, objects, random_password};
use crate::backend::{Applied, Failure, Outcome, PhaseContext};
use crate::core::model::{
    Action, DISABLED_AT_ATTRIBUTE, Field, LinkKind, ObjectKind, UserKey, Value,
};
use crate::core::plan;

impl TraccarBackend {
    pub(super) async fn apply_actions(
        &self,
        context: &PhaseContext<'_>,
        actions: &[Action],
    ) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = actions.iter().map(|_| None).collect();
        // Links and unlinks go in bulk batches; everything else one request (or two) each.
        let mut links: Vec<usize> = Vec::new();
        let mut singles: Vec<usize> = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            match a {
                Action::Link { .. }
                | Action::Unlink { .. }
                | Action::LinkObject { .. }
                | Action::UnlinkObject { .. } => links.push(i),
                _ => singles.push(i),
            }
        }
        let current = self.current_users(actions, &singles).await;
        let current = &current;
        // The cancellation flag is read as each request is about to start (`buffer_unordered`
        // starts a future when it takes it in), so after Ctrl-C only the requests in flight
        // finish.
        let single_results: Vec<(usize, Outcome)> = stream::iter(singles)
            .map(|i| async move {
                if context.cancelled() {
                    return (i, Err(Failure::NotStarted));
                }
                let outcome = self.apply_one(context, &actions[i], current).await;
                context.progress.advance(1);
                (i, outcome)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (i, o) in single_results {
            outcomes[i] = Some(o);
        }
        self.link_created_to_manager(context, actions, &mut outcomes)
            .await;
        for (i, o) in self.apply_links(context, actions, &links).await {
            outcomes[i] = Some(o);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(Failure::NotAnswered)))
            .collect()
    }

    fn user_id(&self, email: &str) -> Result<Id, Failure> {
        self.ids()
            .users
            .get(&UserKey::new(email))
            .copied()
            .ok_or_else(|| {
                Failure::Unknown(format!(
                    "user {email} is not known on the server (was it deleted since the plan?)"
                ))
            })
    }

    /// The current objects of the users this slice updates, read with one `GET /api/users`
    /// instead of one `GET /api/users/{id}` each, when that is cheaper: at least two updates,
    /// and at least one per `USERS_PER_UPDATE_FOR_LIST` users on the server (the list carries
    /// every user). Empty when not worth it or when the read failed: `update_user` then reads
    /// the user itself. Read right before the slice's PUTs, as each per-user read would be.
    async fn current_users(
        &self,
        actions: &[Action],
        singles: &[usize],
    ) -> HashMap<Id, Map<String, Json>> {
        let wanted: HashSet<Id> = singles
            .iter()
            .filter(|&&i| {
                matches!(
                    actions[i],
                    Action::UpdateUser { .. } | Action::DisableUser { .. }
                )
            })
            .filter_map(|&i| self.user_id(actions[i].email()).ok())
            .collect();
        let users = self.ids().users.len();
        if wanted.len() < 2 || wanted.len() * USERS_PER_UPDATE_FOR_LIST < users {
            return HashMap::new();
        }
        let Ok(list) = self.api.get::<Vec<Json>>("/api/users", &[]).await else {
            return HashMap::new();
        };
        list.into_iter()
            .filter_map(|u| match u {
                Json::Object(m) => id_of(&m).filter(|id| wanted.contains(id)).map(|id| (id, m)),
                _ => None,
            })
            .collect()
    }

    async fn apply_one(
        &self,
        context: &PhaseContext<'_>,
        action: &Action,
        current: &HashMap<Id, Map<String, Json>>,
    ) -> Outcome {
        match action {
            Action::CreateUser {
                email,
                fields,
                managed_by,
            } => {
                self.create_user(context.fleet, email, fields, managed_by.as_deref())
                    .await
            }
            Action::UpdateUser {
                email,
                changes,
                adopt,
            } => {
                let mut fields: Vec<(&Field, &Value)> =
                    changes.iter().map(|c| (&c.field, &c.after)).collect();
                // A user enabled again carries no stale disable time.
                let stamp = Field::Attribute(DISABLED_AT_ATTRIBUTE.into());
                if changes
                    .iter()
                    .any(|c| c.field.is("disabled") && c.after != Value::Bool(true))
                {
                    fields.push((&stamp, &Value::Null));
                }
                let adopt = adopt.then_some(context.fleet);
                self.update_user(email, &fields, adopt, current).await
            }
            Action::DisableUser { email } => {
                // The time of the disable starts `pruneAfter`'s grace period.
                let disabled_at = plan::disabled_at_value(context.now);
                let stamp = Field::Attribute(DISABLED_AT_ATTRIBUTE.into());
                let disabled = field_named("disabled");
                self.update_user(
                    email,
                    &[(&disabled, &Value::Bool(true)), (&stamp, &disabled_at)],
                    None,
                    current,
                )
                .await
            }
            Action::DeleteUser { email } => {
                let id = self.user_id(email)?;
                match self
                    .api
                    .write(Method::DELETE, &format!("/api/users/{}", id.0), None)
                    .await
                {
                    Ok(()) => Ok(Applied::Done),
                    // A manager is refused the DELETE of a user that is gone, which is what a
                    // retry sees when an earlier try was applied but its answer was lost.
                    Err(e) => match self.find_user(email).await {
                        Ok(None) => Ok(Applied::Done),
                        _ => Err(e.to_string().into()),
                    },
                }
            }
            Action::Link { .. }
            | Action::Unlink { .. }
            | Action::LinkObject { .. }
            | Action::UnlinkObject { .. } => {
                Err("internal error: links are applied in batches".into())
            }
            Action::CreateObject { .. }
            | Action::UpdateObject { .. }
            | Action::DeleteObject { .. } => self.apply_object(context, action).await,
        }
    }

    /// Creates a user. A create that failed ambiguously (timeout, reset, 5xx, a garbled answer)
    /// may have happened, so the user is looked up by email before the create is sent again:
    /// there is never a duplicate. The same generated password is sent every time, so the one
    /// reported is right whichever try created the user.
    async fn create_user(
        &self,
        fleet: &str,
        email: &str,
        fields: &BTreeMap<Field, Value>,
        managed_by: Option<&str>,
    ) -> Outcome {
        let password = random_password();
        let mut body = Map::new();
        body.insert("email".into(), json!(email.trim()));
        // `name` is NOT NULL in Traccar; a file without a name gets the email as the name.
        body.insert("name".into(), json!(email.trim()));
        // Sent explicitly: Traccar's Java default for deviceLimit is 0, not the DB's -1.
        body.insert("deviceLimit".into(), json!(0));
        body.insert("userLimit".into(), json!(0));
        body.insert("attributes".into(), json!({}));
        wire::set_fields(&mut body, fields);
        wire::set_marker(&mut body, fleet);
        body.insert("password".into(), json!(password.expose()));
        let body = Json::Object(body);
        let max = self.options.retry.max_attempts.max(1);
        let mut attempt = 0;
        let id = loop {
            attempt += 1;
            let error = match self
                .api
                .post::<Map<String, Json>>("/api/users", &body)
                .await
            {
                Ok(created) => {
                    break id_of(&created).ok_or("POST /api/users -> 200: the answer has no id")?;
                }
                Err(e) if e.is_retryable() => e,
                Err(e) if email_taken(&e) => {
                    // The database's own text (a constraint dump) helps no one: said plainly.
                    return Err(Failure::Refused(format!(
                        "{} {} -> 400 (unique email): the email {email} is already taken by a \
                         user that {} cannot see (outside its view; a manager cannot check \
                         this before the create); ask an administrator, or change the email \
                         in the file",
                        e.method,
                        e.path,
                        self.account().email
                    )));
                }
                Err(e) => return Err(e.to_string().into()),
            };
            match self.find_user(email).await {
                Ok(Some(user)) => {
                    if wire::marker(&user).as_deref() != Some(fleet) {
                        return Err(Failure::Refused(format!(
                            "{error}; meanwhile a user {email} appeared that this fleet did not create; it is left alone"
                        )));
                    }
                    break id_of(&user).ok_or("GET /api/users: the user has no id")?;
                }
                Ok(None) if attempt < max => {
                    tokio::time::sleep(self.options.retry.delay(attempt, None)).await;
                }
                Ok(None) => {
                    return Err(Failure::Refused(format!(
                        "{error} (not created after {attempt} attempts)"
                    )));
                }
                Err(read) => {
                    return Err(Failure::Refused(format!(
                        "{error}; whether the user was created is unknown ({read}); the next run finds out"
                    )));
                }
            }
        };
        self.ids().users.insert(UserKey::new(email), id);
        if managed_by.is_some() && self.ids().manager.is_none() {
            return Err("the manager account is not known on the server".into());
        }
        // The link to the manager is sent with the other creates' in `/api/permissions/bulk`
        // batches (`link_created_to_manager`).
        Ok(Applied::Created { password })
    }

    /// Links the users this phase created with `managed_by` to the fleet's manager account, in
    /// `/api/permissions/bulk` batches (one request per `--batch-size` users instead of one per
    /// user), checked like every link batch (`link_batch`: a failed batch is read back, never
    /// sent blindly again). A user whose link failed is deleted again (it has no links and no
    /// one has its password yet): reported as failed, its generated password would be lost,
    /// while the next run creates it again, managed, and reports the new password. A run killed
    /// between the create and the batch leaves the user unmanaged, and the next plan links it
    /// (a `manager` link), as before.
    async fn link_created_to_manager(
        &self,
        context: &PhaseContext<'_>,
        actions: &[Action],
        outcomes: &mut [Option<Outcome>],
    ) {
        let Some(manager) = self.ids().manager else {
            return;
        };
        let mut items: Vec<LinkItem> = Vec::new();
        for (index, action) in actions.iter().enumerate() {
            let Action::CreateUser {
                email,
                managed_by: Some(_),
                ..
            } = action
            else {
                continue;
            };
            if !matches!(outcomes[index], Some(Ok(Applied::Created { .. }))) {
                continue;
            }
            let Some(user) = self.ids().users.get(&UserKey::new(email)).copied() else {
                continue;
            };
            items.push(LinkItem {
                index,
                owner: user,
                target: manager,
                body: json!({"userId": manager.0, "managedUserId": user.0}),
            });
        }
        let results: Vec<Vec<(usize, Outcome)>> = stream::iter(self.chunks(items))
            .map(|chunk| self.link_batch(context, LinkSet::User(MANAGER), chunk))
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        for (index, result) in results.into_iter().flatten() {
            let Err(e) = result else { continue };
            let email = actions[index].email();
            let Some(id) = self.ids().users.get(&UserKey::new(email)).copied() else {
                continue;
            };
            let undo = self
                .api
                .write(Method::DELETE, &format!("/api/users/{}", id.0), None)
                .await;
            self.ids().users.remove(&UserKey::new(email));
            outcomes[index] = Some(Err(Failure::Refused(match undo {
                Ok(()) => format!(
                    "linking the new user to its manager failed, so it was deleted again for the next run to create: {e}"
                ),
                Err(u) => format!(
                    "user created, but linking it to its manager failed ({e}) and deleting it again failed too ({u}); link it to the manager by hand"
                ),
            })));
        }
    }

    /// The user with this email (case-insensitively) among the users the account can see.
    async fn find_user(&self, email: &str) -> Result<Option<Map<String, Json>>, ApiError> {
        let key = UserKey::new(email);
        let users: Vec<Json> = self.api.get("/api/users", &[]).await?;
        Ok(users.into_iter().find_map(|u| match u {
            Json::Object(m) if UserKey::new(&email_of(&m)) == key => Some(m),
            _ => None,
        }))
    }

    /// Read-modify-write: Traccar's PUT replaces the whole object, so the current object is
    /// read right before the write (`current`: read for the whole slice, see `current_users`;
    /// otherwise `GET /api/users/{id}`) and only the managed keys change.
    /// `adopt`: the fleet whose marker an unmarked user gets.
    async fn update_user(
        &self,
        email: &str,
        fields: &[(&Field, &Value)],
        adopt: Option<&str>,
        current: &HashMap<Id, Map<String, Json>>,
    ) -> Outcome {
        let id = self.user_id(email)?;
        let path = format!("/api/users/{}", id.0);
        let mut user: Map<String, Json> = match current.get(&id) {
            Some(user) => user.clone(),
            None => self.api.get(&path, &[]).await.map_err(|e| e.to_string())?,
        };
        wire::set_fields(&mut user, fields.iter().copied());
        if let Some(fleet) = adopt {
            wire::set_marker(&mut user, fleet);
        }
        // GET answers `"password": null`; sending nothing keeps the stored password.
        user.remove("password");
        self.api
            .write(Method::PUT, &path, Some(&Json::Object(user)))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Applied::Done)
    }

    /// The permission object of a link and its key set: owner key first, as Traccar requires.
    fn link_item(&self, index: usize, action: &Action) -> Result<(LinkSet, LinkItem), Failure> {
        let (email, kind, target) = match action {
            Action::Link {
                email,
                kind,
                target,
            }
            | Action::Unlink {
                email,
                kind,
                target,
            } => (email, *kind, target),
            Action::LinkObject {
                kind,
                key,
                target_kind,
                target,
            }
            | Action::UnlinkObject {
                kind,
                key,
                target_kind,
                target,
            } => {
                let (body, owner, target) =
                    self.object_permission(*kind, key, *target_kind, target)?;
                let set = LinkSet::Object {
                    owner: *kind,
                    target: *target_kind,
                };
                return Ok((
                    set,
                    LinkItem {
                        index,
                        owner,
                        target,
                        body,
                    },
                ));
            }
            _ => return Err(Failure::Refused("internal error: not a link".into())),
        };
        let user = self.user_id(email)?;
        let ids = self.ids();
        let (key, id) = match kind {
            MANAGER => {
                // The owner of a managed-user link is the manager: `{userId: manager,
                // managedUserId: user}`. The item keeps (user, manager) like the other kinds.
                let manager = ids.manager.ok_or_else(|| {
                    Failure::Unknown(format!(
                        "the manager account {target} is not known on the server"
                    ))
                })?;
                let mut body = Map::new();
                body.insert("userId".into(), json!(manager.0));
                body.insert("managedUserId".into(), json!(user.0));
                return Ok((
                    LinkSet::User(kind),
                    LinkItem {
                        index,
                        owner: user,
                        target: manager,
                        body: Json::Object(body),
                    },
                ));
            }
            kind => {
                let wire = objects::wire_linked_by(kind).ok_or_else(|| {
                    Failure::Refused(format!("internal error: unknown link kind {kind}"))
                })?;
                let (_, property) = wire.link.unwrap_or((kind, ""));
                let id = ids
                    .objects
                    .get(&wire.kind)
                    .and_then(|ids| ids.get(target))
                    .copied()
                    .ok_or_else(|| {
                        Failure::Unknown(format!("{kind} {target} is not known on the server"))
                    })?;
                (property, id)
            }
        };
        let mut body = Map::new();
        body.insert("userId".into(), json!(user.0));
        body.insert(key.into(), json!(id.0));
        Ok((
            LinkSet::User(kind),
            LinkItem {
                index,
                owner: user,
                target: id,
                body: Json::Object(body),
            },
        ))
    }

    /// Applies links and unlinks (users' and objects') in `/api/permissions/bulk` batches of
    /// one key set (see `link_batch` and `unlink_batch` for what happens when a batch fails).
    async fn apply_links(
        &self,
        context: &PhaseContext<'_>,
        actions: &[Action],
        indices: &[usize],
    ) -> Vec<(usize, Outcome)> {
        let mut results = Vec::new();
        let mut batches: BTreeMap<(bool, LinkSet), Vec<LinkItem>> = BTreeMap::new();
        let mut relink: Vec<LinkItem> = Vec::new();
        for &i in indices {
            let action = &actions[i];
            match self.link_item(i, action) {
                Err(e) => results.push((i, Err(e))),
                Ok((set, item)) => {
                    let is_link = matches!(action, Action::Link { .. } | Action::LinkObject { .. });
                    let uncertain = match action {
                        Action::Link { email, target, .. } if set == LinkSet::User(GROUP) => self
                            .ids()
                            .uncertain_groups
                            .contains(&(UserKey::new(email), target.clone())),
                        _ => false,
                    };
                    if uncertain {
                        relink.push(item);
                    } else {
                        batches.entry((is_link, set)).or_default().push(item);
                    }
                }
            }
        }
        // Uncertain group links: delete any existing rows first, then link. Should the DELETE
        // fail, the link may get a duplicate row, which grants nothing more.
        if !relink.is_empty() && !context.cancelled() {
            let bodies: Vec<Json> = relink.iter().map(|i| i.body.clone()).collect();
            let _ = self
                .api
                .write(
                    Method::DELETE,
                    "/api/permissions/bulk",
                    Some(&Json::Array(bodies)),
                )
                .await;
            batches
                .entry((true, LinkSet::User(GROUP)))
                .or_default()
                .extend(relink);
        }
        let mut chunks: Vec<(bool, LinkSet, Vec<LinkItem>)> = Vec::new();
        for ((is_link, set), items) in batches {
            chunks.extend(
                self.chunks(items)
                    .into_iter()
                    .map(|chunk| (is_link, set, chunk)),
            );
        }
        let chunk_results: Vec<Vec<(usize, Outcome)>> = stream::iter(chunks)
            .map(|(is_link, set, chunk)| async move {
                let results = if is_link {
                    self.link_batch(context, set, chunk).await
                } else {
                    self.unlink_batch(context, chunk).await
                };
                context.progress.advance(results.len() as u64);
                results
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        results.extend(chunk_results.into_iter().flatten());
        results
    }

    /// `items` cut into batches of `--batch-size`; without bulk (`--no-bulk`, the benchmark's
    /// baseline) every link is its own request.
    fn chunks(&self, items: Vec<LinkItem>) -> Vec<Vec<LinkItem>> {
        let batch_size = if self.options.bulk {
            self.options.batch_size.max(1)
        } else {
            1
        };
        let mut chunks = Vec::new();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            chunks.push(items.by_ref().take(batch_size).collect());
        }
        chunks
    }

    /// The request for a batch: `/api/permissions/bulk` with an array, or, without bulk
    /// (`--no-bulk`: batches of one), `/api/permissions` with the one object.
    fn permissions_request(&self, batch: &[LinkItem]) -> (&'static str, Json) {
        match batch {
            [one] if !self.options.bulk => ("/api/permissions", one.body.clone()),
            _ => (
                "/api/permissions/bulk",
                Json::Array(batch.iter().map(|i| i.body.clone()).collect()),
            ),
        }
    }

    /// Unlinks are idempotent (DELETE of a missing link is a no-op), so the client already
    /// retried the batch after ambiguous failures. A refusal (say, of one item) stops a Traccar
    /// bulk half way: the items are then deleted one by one, each with its own outcome.
    async fn unlink_batch(
        &self,
        context: &PhaseContext<'_>,
        batch: Vec<LinkItem>,
    ) -> Vec<(usize, Outcome)> {
        if context.cancelled() {
            return not_started(batch);
        }
        let (path, body) = self.permissions_request(&batch);
        match self.api.write(Method::DELETE, path, Some(&body)).await {
            Ok(()) => batch
                .into_iter()
                .map(|i| (i.index, Ok(Applied::Done)))
                .collect(),
            Err(e) if e.is_retryable() => batch
                .into_iter()
                .map(|i| (i.index, Err(e.to_string().into())))
                .collect(),
            Err(_) => {
                let mut out = Vec::with_capacity(batch.len());
                for item in batch {
                    if context.cancelled() {
                        out.push((item.index, Err(Failure::NotStarted)));
                        continue;
                    }
                    let one = self
                        .api
                        .write(Method::DELETE, "/api/permissions", Some(&item.body))
                        .await;
                    out.push((
                        item.index,
                        one.map(|()| Applied::Done)
                            .map_err(|e| Failure::Refused(e.to_string())),
                    ));
                }
                out
            }
        }
    }

    /// Links are POSTs, and Traccar inserts a duplicate row for a link that exists, so a failed
    /// batch is never sent again blindly. After a failure the links are read back (one
    /// `GET /api/permissions` listing where the server has an exact one, otherwise
    /// `GET /api/devices?userId=` per user of the batch, and for object links
    /// `GET /api/geofences?deviceId=` per device or group of the batch, `all=true` as
    /// administrator): what is there is done, and only what
    /// is missing is sent again. Traccar applies a bulk in order and stops at the first refusal,
    /// so after a refusal the first missing item is the refused one: it fails with the server's
    /// message and the rest goes on. Where links cannot be read back exactly (group links before
    /// 6.14.6), the batch is unlinked first, which leaves less access and a known state, then
    /// sent again (after a refusal, one item at a time).
    async fn link_batch(
        &self,
        context: &PhaseContext<'_>,
        set: LinkSet,
        batch: Vec<LinkItem>,
    ) -> Vec<(usize, Outcome)> {
        let max = self.options.retry.max_attempts.max(1);
        let mut out = Vec::with_capacity(batch.len());
        let mut queue: VecDeque<Vec<LinkItem>> = VecDeque::from([batch]);
        let mut retries = 0;
        // Refusals in a row with nothing applied in between: a refusal of the whole request
        // (read-only account, lost session) would otherwise cost one round per item.
        let mut refusals = 0;
        let mut last_refusal = String::new();
        let fail = |out: &mut Vec<(usize, Outcome)>, items: Vec<LinkItem>, message: &str| {
            out.extend(
                items
                    .into_iter()
                    .map(|i| (i.index, Err(Failure::Refused(message.to_string())))),
            );
        };
        while let Some(batch) = queue.pop_front() {
            if batch.is_empty() {
                continue;
            }
            if refusals >= MAX_REFUSALS_IN_A_ROW {
                fail(&mut out, batch, &last_refusal);
                continue;
            }
            // What is left was read back (or undone) before: not sending it leaves it known.
            if context.cancelled() {
                out.extend(not_started(batch));
                continue;
            }
            let bodies = Json::Array(batch.iter().map(|i| i.body.clone()).collect());
            let (path, body) = self.permissions_request(&batch);
            let error = match self.api.write(Method::POST, path, Some(&body)).await {
                Ok(()) => {
                    refusals = 0;
                    out.extend(batch.into_iter().map(|i| (i.index, Ok(Applied::Done))));
                    continue;
                }
                Err(e) => e,
            };
            let retry = error.is_retryable();
            if retry {
                retries += 1;
            } else {
                refusals += 1;
                last_refusal = error.to_string();
            }
            match self.present_links(set, &batch).await {
                Some(present) => {
                    let (done, missing): (Vec<LinkItem>, Vec<LinkItem>) = batch
                        .into_iter()
                        .partition(|i| present.contains(&(i.owner, i.target)));
                    if !done.is_empty() {
                        refusals = 0;
                    }
                    out.extend(done.into_iter().map(|i| (i.index, Ok(Applied::Done))));
                    if missing.is_empty() {
                        continue;
                    }
                    if !retry {
                        let mut rest = missing.into_iter();
                        if let Some(refused) = rest.next() {
                            out.push((refused.index, Err(error.to_string().into())));
                        }
                        queue.push_front(rest.collect());
                    } else if retries >= max {
                        fail(&mut out, missing, &error.to_string());
                    } else {
                        tokio::time::sleep(self.options.retry.delay(retries, None)).await;
                        queue.push_front(missing);
                    }
                }
                None => {
                    if let Err(undo) = self
                        .api
                        .write(Method::DELETE, "/api/permissions/bulk", Some(&bodies))
                        .await
                    {
                        let message = format!(
                            "{error}; the batch's state is unknown and undoing it failed too: {undo}"
                        );
                        fail(&mut out, batch, &message);
                    } else if retry && retries >= max {
                        fail(&mut out, batch, &error.to_string());
                    } else if retry {
                        tokio::time::sleep(self.options.retry.delay(retries, None)).await;
                        queue.push_front(batch);
                    } else if batch.len() > 1 {
                        for item in batch.into_iter().rev() {
                            queue.push_front(vec![item]);
                        }
                    } else {
                        fail(&mut out, batch, &error.to_string());
                    }
                }
            }
        }
        out
    }

    /// The (owner, target) links of this key set that exist for the owners of `items`, read
    /// exactly; `None` when the server cannot list them exactly or the read failed.
    async fn present_links(&self, set: LinkSet, items: &[LinkItem]) -> Option<HashSet<(Id, Id)>> {
        let kind = match set {
            LinkSet::Object { owner, target } => {
                // Per device or group of the batch: its list of the target kind.
                return self
                    .per_owner(items, |id| async move {
                        self.objects_linked_to(owner, id, target).await
                    })
                    .await;
            }
            LinkSet::User(kind) => kind,
        };
        match kind {
            DEVICE if self.has_permission_listing() => self
                .list_permissions("deviceId")
                .await
                .ok()
                .map(|rows| rows.into_iter().collect()),
            kind if kind != GROUP && kind != MANAGER => {
                // Devices on servers without the listing, and every simple kind: per user.
                let path = objects::wire_linked_by(kind)?.path;
                self.per_owner(items, |user| async move {
                    let query = [("userId", user.0.to_string())];
                    let list = self.list(path, &query).await.ok()?;
                    Some(
                        list.iter()
                            .filter_map(|d| Some(Id(d.get("id").and_then(Json::as_i64)?)))
                            .collect(),
                    )
                })
                .await
            }
            GROUP if self.has_group_listing() => self
                .list_permissions("groupId")
                .await
                .ok()
                .map(|rows| rows.into_iter().collect()),
            GROUP => None,
            MANAGER => {
                let manager = self.ids().manager?;
                let query = [("userId", manager.0.to_string())];
                let managed = self.list("/api/users", &query).await.ok()?;
                Some(
                    managed
                        .iter()
                        .filter_map(|u| Some((Id(u.get("id").and_then(Json::as_i64)?), manager)))
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// The links of the owners of `items`, read with `read` once per owner (`--concurrency` at
    /// a time); `None` when one read failed.
    async fn per_owner<F, R>(&self, items: &[LinkItem], read: F) -> Option<HashSet<(Id, Id)>>
    where
        F: Fn(Id) -> R,
        R: std::future::Future<Output = Option<Vec<Id>>>,
    {
        let owners: BTreeSet<Id> = items.iter().map(|i| i.owner).collect();
        let lists: Vec<(Id, Vec<Id>)> = stream::iter(owners)
            .map(|owner| {
                let list = read(owner);
                async move { list.await.map(|l| (owner, l)).ok_or(()) }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await
            .ok()?;
        Some(
            lists
                .into_iter()
                .flat_map(|(owner, list)| list.into_iter().map(move |target| (owner, target)))
                .collect(),
        )
    }
}

/// An update slice reads the user list (one request) instead of each user (one request per
/// update) when it updates at least one user per this many users on the server: the list's
/// size grows with the server, a single user's does not.
const USERS_PER_UPDATE_FOR_LIST: usize = 100;

/// After this many refusals of a link batch in a row, with nothing applied in between, the
/// rest of the batch fails with the last refusal instead of being tried item by item.
const MAX_REFUSALS_IN_A_ROW: u32 = 3;

/// One link or unlink of a batch: the action's index, the owner's id (the user; for a
/// managed-user link, the managed user; a device or group), the target's id and the permission
/// body.
struct LinkItem {
    index: usize,
    owner: Id,
    target: Id,
    body: Json,
}

/// The key set of a batch: Traccar takes one key set per `/api/permissions/bulk` request
/// (`checkPermissionTypes`, a 400 before anything is written otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum LinkSet {
    /// Users' links of one kind: `{userId, deviceId}`, `{userId, geofenceId}`, ...; a managed
    /// user's `{userId: manager, managedUserId}`.
    User(LinkKind),
    /// Links of `target` objects to devices or groups: `{deviceId, geofenceId}`, ...
    Object {
        owner: ObjectKind,
        target: ObjectKind,
    },
}

/// Whether a refused create failed on the unique email constraint: the email belongs to a user
/// the acting account cannot see (it would have been planned as an update otherwise). H2 says
/// `Unique index or primary key violation: "PUBLIC.…ON PUBLIC.TC_USERS(EMAIL …"`, MySQL
/// `Duplicate entry … for key 'email'`, PostgreSQL `duplicate key value … (email)`.
fn email_taken(error: &super::api::ApiError) -> bool {
    let message = error.message.to_lowercase();
    error.status == Some(400)
        && message.contains("email")
        && ["unique index", "duplicate entry", "duplicate key", "23505"]
            .iter()
            .any(|w| message.contains(w))
}

/// Every item of `batch` as not started (the run was cancelled before its request).
fn not_started(batch: Vec<LinkItem>) -> Vec<(usize, Outcome)> {
    batch
        .into_iter()
        .map(|i| (i.index, Err(Failure::NotStarted)))
        .collect()
}
