//! Applying one plan phase on the service: updates, deactivations and deletes of users read
//! by the fetch, and registrations of new ones. The actions of a phase run concurrently
//! (`--concurrency`), each started only while the run is not cancelled.
//!
//! Design: registrations are not idempotent (notes §3), so none is ever sent twice blindly.
//! - Every user is registered with a DeviceToken of fleetform's making (`ownership.rs`) and
//!   `CreateAccessToken: false`. When the answer is lost (timeout, reset, 5xx, an unreadable
//!   answer), fleetform looks the ClientId up (`GET /v1/Management/users/find`); a user found
//!   there is the registration that went through (the fetch saw no user with that ClientId),
//!   and only when none is found is the registration sent again, with the same token, at most
//!   three times in all.
//! - Bulk registration (`POST /v1/Registration/CreateMany`, UNVERIFIED: no public source shows
//!   its body or answer) is used only behind detection: the first create phase of two or more
//!   users sends one batch (`--batch-size` users) as an array of single-registration bodies.
//!   Whatever the answer, the instance's newest users are read back (one listing page sorted
//!   by `DateCreatedDesc`; a user of an accepted or unclear batch missing there is looked up by
//!   its ClientId), each user of the batch that exists is done, and the others are registered
//!   one by one. Any refusal, lost answer, or a batch answered as accepted that created nobody,
//!   turns bulk registration off for the rest of the run. `--no-bulk` never tries it.
//! - Registration is documented to take the profile fields but `Country`, `District` and
//!   `City`, and the telematics flags; those three and a deactivated status are set by an
//!   update right after the registration (UNVERIFIED which the service takes at registration;
//!   the update makes it not matter).
//!
//! Updates send only the profile fields that differ, and `UserFields` whole (`wire.rs`), to
//! the user named in the `UserDeviceToken` header. A deactivation writes `Enabled: false` and
//! `Status: Deactivated`. A delete (`DELETE /v1/Management/users/{DeviceToken}`, irreversible)
//! that finds the user gone (404) is done.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Map, Value as Json};

use super::TelematicsBackend;
use super::api::{ApiError, Auth, Failure as ApiFailure, Request, get};
use super::ownership::{new_token, same_token};
use super::read::Known;
use super::wire::{registration, update_body};
use crate::backend::{Applied, Failure, Outcome, PhaseContext};
use crate::core::model::{Action, Field, UserKey, Value};

/// Registration attempts of one user when answers are lost.
const REGISTER_ATTEMPTS: usize = 3;

/// Whether `POST /v1/Registration/CreateMany` is used (see the design comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bulk {
    Untried,
    Works,
    Off,
}

/// A user found on the server: its DeviceToken and its `UserFields`.
type Found = (String, Map<String, Json>);

/// A registration prepared for one user.
struct NewUser<'a> {
    index: usize,
    client_id: &'a str,
    token: String,
    body: Json,
    /// What an update sets right after (`wire::registration`).
    after: BTreeMap<Field, Value>,
    /// The `UserFields` registered, the base of that update.
    user_fields: Map<String, Json>,
}

fn refused(e: &ApiError) -> Failure {
    if e.status == Some(404) {
        Failure::Unknown(e.to_string())
    } else {
        Failure::Refused(e.to_string())
    }
}

impl TelematicsBackend {
    pub(super) async fn apply_actions(
        &self,
        context: &PhaseContext<'_>,
        actions: &[Action],
    ) -> Vec<Outcome> {
        let creates: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, Action::CreateUser { .. }))
            .map(|(i, _)| i)
            .collect();
        let mut outcomes: Vec<Option<Outcome>> = (0..actions.len()).map(|_| None).collect();
        if !creates.is_empty() {
            for (i, outcome) in self.create_all(context, actions, &creates).await {
                outcomes[i] = Some(outcome);
            }
        }
        let others: Vec<usize> = (0..actions.len())
            .filter(|i| outcomes[*i].is_none())
            .collect();
        let results: Vec<(usize, Outcome)> = futures::stream::iter(others)
            .map(|i| async move { (i, self.apply_one(context, &actions[i]).await) })
            .buffer_unordered(self.options.concurrency.max(1))
            .collect()
            .await;
        for (i, outcome) in results {
            outcomes[i] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(Failure::NotAnswered)))
            .collect()
    }

    async fn apply_one(&self, context: &PhaseContext<'_>, action: &Action) -> Outcome {
        if context.cancelled() {
            return Err(Failure::NotStarted);
        }
        let outcome = match action {
            Action::UpdateUser { email, changes, .. } => {
                let after: BTreeMap<Field, Value> = changes
                    .iter()
                    .map(|c| (c.field.clone(), c.after.clone()))
                    .collect();
                self.update(email, &after).await
            }
            Action::DisableUser { email } => {
                let off: BTreeMap<Field, Value> =
                    [(super::rules::field_named("enabled"), Value::Bool(false))].into();
                self.update(email, &off).await
            }
            Action::DeleteUser { email } => self.delete(email).await,
            Action::CreateUser { .. } => Err(Failure::NotAnswered),
            Action::Link { kind, .. } | Action::Unlink { kind, .. } => Err(Failure::Refused(
                format!("the telematics service has no {kind} links"),
            )),
            Action::CreateObject { kind, .. }
            | Action::UpdateObject { kind, .. }
            | Action::DeleteObject { kind, .. }
            | Action::LinkObject { kind, .. }
            | Action::UnlinkObject { kind, .. } => Err(Failure::Refused(format!(
                "the telematics service has no {kind} objects"
            ))),
        };
        context.progress.advance(1);
        outcome
    }

    fn known_user(&self, client_id: &str) -> Result<Known, Failure> {
        self.known()
            .get(&UserKey::exact(client_id))
            .cloned()
            .ok_or_else(|| {
                Failure::Unknown(format!(
                    "user {client_id} was not read from the server (deleted since the plan?)"
                ))
            })
    }

    /// `PUT /v1/Management/users` with `changes` (field -> new value).
    async fn update(&self, client_id: &str, changes: &BTreeMap<Field, Value>) -> Outcome {
        let known = self.known_user(client_id)?;
        let body = update_body(&known.client_id, &known.user_fields, changes);
        if body.as_object().is_none_or(Map::is_empty) {
            return Ok(Applied::Done);
        }
        self.put(&known.token, &body)
            .await
            .map_err(|e| refused(&e))?;
        // Later writes in this run send `UserFields` back as they are now.
        if let Some(fields) = get(&body, "UserFields").and_then(Json::as_object)
            && let Some(k) = self.known().get_mut(&UserKey::exact(client_id))
        {
            k.user_fields = fields.clone();
        }
        Ok(Applied::Done)
    }

    async fn put(&self, token: &str, body: &Json) -> Result<Json, ApiError> {
        let headers = [("UserDeviceToken", token.to_string())];
        let request = Request {
            body: Some(body),
            headers: &headers,
            ..Request::admin(Method::PUT, "/v1/Management/users")
        };
        self.api.call(&request).await
    }

    async fn delete(&self, client_id: &str) -> Outcome {
        let known = self.known_user(client_id)?;
        let path = format!("/v1/Management/users/{}", known.token);
        match self.api.call(&Request::admin(Method::DELETE, &path)).await {
            Ok(_) => Ok(Applied::Done),
            // Already gone (a retry after a lost answer, or deleted by hand since the plan).
            Err(e) if e.status == Some(404) => Ok(Applied::Done),
            Err(e) => Err(refused(&e)),
        }
    }

    /// Registers the users of the create actions at `indexes`, in bulk where the service
    /// takes it, one by one otherwise.
    async fn create_all(
        &self,
        context: &PhaseContext<'_>,
        actions: &[Action],
        indexes: &[usize],
    ) -> Vec<(usize, Outcome)> {
        let instance = self.api.instance().to_string();
        let news: Vec<NewUser<'_>> = indexes
            .iter()
            .filter_map(|&index| match &actions[index] {
                Action::CreateUser { email, fields, .. } => {
                    let token = new_token(&instance, context.fleet, email);
                    let (body, after) = registration(email, &token, fields);
                    let user_fields = get(&body, "UserFields")
                        .and_then(Json::as_object)
                        .cloned()
                        .unwrap_or_default();
                    Some(NewUser {
                        index,
                        client_id: email,
                        token,
                        body,
                        after,
                        user_fields,
                    })
                }
                _ => None,
            })
            .collect();
        let mut results = Vec::new();
        let mut single: Vec<usize> = Vec::new();
        let bulk = *self.bulk_state();
        if self.options.bulk && news.len() >= 2 && bulk != Bulk::Off && !context.cancelled() {
            let (done, rest) = self.create_many(context, &news).await;
            results.extend(done);
            single.extend(rest);
        } else {
            single.extend(0..news.len());
        }
        let news = &news;
        let one_by_one: Vec<(usize, Outcome)> = futures::stream::iter(single)
            .map(|n| async move {
                let new = &news[n];
                if context.cancelled() {
                    return (new.index, Err(Failure::NotStarted));
                }
                let outcome = self.register(new).await;
                context.progress.advance(1);
                (new.index, outcome)
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .collect()
            .await;
        results.extend(one_by_one);
        results
    }

    /// The bulk attempt: batches while the service takes them, then a read-back: the
    /// instance's newest users (one listing page), and for a user of an accepted or unclear
    /// batch missing there, a lookup of its own. Returns the outcomes of the users that exist
    /// and the users still to register (indexes into `news`).
    async fn create_many(
        &self,
        context: &PhaseContext<'_>,
        news: &[NewUser<'_>],
    ) -> (Vec<(usize, Outcome)>, Vec<usize>) {
        // Each batch sent, and whether the service may have created users of it.
        let mut batches: Vec<(std::ops::Range<usize>, bool)> = Vec::new();
        let mut accepted = 0;
        let size = self.options.batch_size.max(2);
        let mut start = 0;
        while start < news.len() && !context.cancelled() && *self.bulk_state() != Bulk::Off {
            let end = (start + size).min(news.len());
            let bodies = Json::Array(news[start..end].iter().map(|n| n.body.clone()).collect());
            let request = Request {
                body: Some(&bodies),
                auth: Auth::Instance,
                idempotent: false,
                ..Request::admin(Method::POST, "/v1/Registration/CreateMany")
            };
            let maybe_created = match self.api.call(&request).await {
                Ok(_) => {
                    accepted += end - start;
                    *self.bulk_state() = Bulk::Works;
                    true
                }
                Err(e) => {
                    *self.bulk_state() = Bulk::Off;
                    // A refusal created nothing (what the newest users show is still taken);
                    // a lost answer may have created anyone.
                    e.failure == ApiFailure::Ambiguous
                }
            };
            batches.push((start..end, maybe_created));
            start = end;
        }
        let sent = start;
        if sent == 0 {
            return (Vec::new(), (0..news.len()).collect());
        }
        // Whatever the batches created is among the newest users. A page that cannot be read
        // leaves every user to its own lookup.
        let newest: BTreeMap<String, Found> = self
            .newest(sent)
            .await
            .map(|users| {
                users
                    .into_iter()
                    .filter_map(|u| Some((u.client_id.clone()?, (u.token, u.user_fields))))
                    .collect()
            })
            .unwrap_or_default();
        let mut done = Vec::new();
        let mut rest: Vec<usize> = (sent..news.len()).collect();
        let mut created: Vec<(usize, String)> = Vec::new();
        for (range, maybe_created) in batches {
            for i in range {
                let new = &news[i];
                let found = match newest.get(new.client_id) {
                    Some(found) => Some(found.clone()),
                    None if maybe_created => match self.find(new.client_id).await {
                        Ok(found) => found,
                        Err(e) => {
                            done.push((
                                new.index,
                                Err(Failure::Refused(format!(
                                    "a bulk registration of this user was sent, and looking it \
                                     up to see whether it was created failed ({e}), so it was \
                                     not registered again: run `fleetform plan` to see whether \
                                     {} exists",
                                    new.client_id
                                ))),
                            ));
                            continue;
                        }
                    },
                    None => None,
                };
                match found {
                    Some((token, user_fields)) => {
                        self.remember(new.client_id, &token, user_fields);
                        created.push((i, token));
                    }
                    None => rest.push(i),
                }
            }
        }
        if accepted > 0 && created.is_empty() {
            // "Accepted" and nobody there: not the shape the service takes.
            *self.bulk_state() = Bulk::Off;
        }
        let finished: Vec<(usize, Outcome)> = futures::stream::iter(created)
            .map(|(i, token)| async move {
                let new = &news[i];
                let outcome = self.finish_registration(new, &token).await;
                context.progress.advance(1);
                (new.index, outcome)
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .collect()
            .await;
        done.extend(finished);
        (done, rest)
    }

    /// One registration, resolving a lost answer by looking the ClientId up before sending it
    /// again (see the design comment).
    async fn register(&self, new: &NewUser<'_>) -> Outcome {
        let request = Request {
            body: Some(&new.body),
            auth: Auth::Instance,
            idempotent: false,
            ..Request::admin(Method::POST, "/v1/Registration/create")
        };
        let mut last = None;
        for _ in 0..REGISTER_ATTEMPTS {
            match self.api.call(&request).await {
                Ok(result) => {
                    let token = get(&result, "DeviceToken")
                        .and_then(Json::as_str)
                        .map_or_else(|| new.token.clone(), str::to_string);
                    self.remember(new.client_id, &token, new.user_fields.clone());
                    return self.finish_registration(new, &token).await;
                }
                Err(e) if e.failure == ApiFailure::Permanent => {
                    return Err(Failure::Refused(e.to_string()));
                }
                Err(e) => {
                    // Lost, or not sent: did it go through?
                    match self.find(new.client_id).await {
                        Ok(Some((token, user_fields))) => {
                            self.remember(new.client_id, &token, user_fields);
                            return self.finish_registration(new, &token).await;
                        }
                        Ok(None) => last = Some(e),
                        Err(find) => {
                            return Err(Failure::Refused(format!(
                                "{e}; then looking the user up to see whether the registration \
                                 went through failed ({find}), so it was not sent again: run \
                                 `fleetform plan` to see whether {} exists",
                                new.client_id
                            )));
                        }
                    }
                }
            }
        }
        Err(Failure::Refused(match last {
            Some(e) => format!(
                "{e} (registration sent {REGISTER_ATTEMPTS} times; the user is not on the server)"
            ),
            None => "registration failed".into(),
        }))
    }

    /// After a registration: the update of what registration does not take, if any.
    async fn finish_registration(&self, new: &NewUser<'_>, token: &str) -> Outcome {
        if !same_token(token, &new.token) {
            // The service chose its own DeviceToken: the user is managed while the file names
            // it, never pruned (nothing proves this fleet registered it).
            self.tokens_ignored.fetch_add(1, Ordering::Relaxed);
        }
        if new.after.is_empty() {
            return Ok(Applied::Done);
        }
        let body = update_body(new.client_id, &new.user_fields, &new.after);
        self.put(token, &body).await.map_err(|e| {
            Failure::Refused(format!(
                "registered, but setting {} right after failed: {e}",
                new.after
                    .keys()
                    .map(Field::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        Ok(Applied::Done)
    }

    /// `GET /v1/Management/users/find?ClientId=` in this instance: the user's DeviceToken and
    /// `UserFields`, if one exists.
    async fn find(&self, client_id: &str) -> Result<Option<Found>, ApiError> {
        let query = [
            ("ClientId", client_id.to_string()),
            ("ShowInactiveUsers", "true".to_string()),
            ("IncludeAccountInfo", "true".to_string()),
        ];
        let request = Request {
            query: &query,
            ..Request::admin(Method::GET, "/v1/Management/users/find")
        };
        let result = self.api.call(&request).await?;
        let instance = self.api.instance();
        Ok(result
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(super::wire::read_user)
            .find(|u| {
                u.client_id.as_deref() == Some(client_id)
                    && u.instance.as_deref().is_none_or(|i| i == instance)
            })
            .map(|u| (u.token, u.user_fields)))
    }

    fn remember(&self, client_id: &str, token: &str, user_fields: Map<String, Json>) {
        self.known().insert(
            UserKey::exact(client_id),
            Known {
                token: token.to_string(),
                client_id: client_id.to_string(),
                user_fields,
            },
        );
    }
}
