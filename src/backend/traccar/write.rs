//! Writing plan phases to a Traccar server: creates, read-modify-write updates, deletes, and
//! links in `/api/permissions/bulk` batches. Only `apply` calls into this file.

use std::collections::BTreeMap;

use futures::{StreamExt, stream};
use reqwest::Method;
use serde_json::{Map, Value as Json, json};

use super::api::ApiError;
use super::wire::{self, Id};
use super::{TraccarBackend, id_of, random_password};
use crate::backend::{Applied, Outcome};
use crate::model::{Action, DISABLED_AT_ATTRIBUTE, Field, LinkKind, UserKey, Value};
use crate::plan;

impl TraccarBackend {
    pub(super) async fn apply_actions(&self, actions: &[Action]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = actions.iter().map(|_| None).collect();
        // Links and unlinks go in bulk batches; everything else one request (or two) each.
        let mut links: Vec<usize> = Vec::new();
        let mut singles: Vec<usize> = Vec::new();
        for (i, a) in actions.iter().enumerate() {
            match a {
                Action::Link { .. } | Action::Unlink { .. } => links.push(i),
                _ => singles.push(i),
            }
        }
        let single_results: Vec<(usize, Outcome)> = stream::iter(singles)
            .map(|i| async move { (i, self.apply_one(&actions[i]).await) })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        for (i, o) in single_results {
            outcomes[i] = Some(o);
        }
        for (i, o) in self.apply_links(actions, &links).await {
            outcomes[i] = Some(o);
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err("internal error: action was not run".into())))
            .collect()
    }

    fn user_id(&self, email: &str) -> Result<Id, String> {
        self.ids()
            .users
            .get(&UserKey::new(email))
            .copied()
            .ok_or_else(|| {
                format!("user {email} is not known on the server (was it deleted since the plan?)")
            })
    }

    async fn apply_one(&self, action: &Action) -> Outcome {
        match action {
            Action::CreateUser {
                email,
                fields,
                managed_by,
            } => self.create_user(email, fields, managed_by.as_deref()).await,
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
                    .any(|c| c.field == Field::Disabled && c.after != Value::Bool(true))
                {
                    fields.push((&stamp, &Value::Null));
                }
                self.update_user(email, &fields, *adopt).await
            }
            Action::DisableUser { email } => {
                // The time of the disable starts `pruneAfter`'s grace period.
                let disabled_at = plan::disabled_at_value(chrono::Utc::now());
                let stamp = Field::Attribute(DISABLED_AT_ATTRIBUTE.into());
                self.update_user(
                    email,
                    &[
                        (&Field::Disabled, &Value::Bool(true)),
                        (&stamp, &disabled_at),
                    ],
                    false,
                )
                .await
            }
            Action::DeleteUser { email } => {
                let id = self.user_id(email)?;
                self.api
                    .write(Method::DELETE, &format!("/api/users/{}", id.0), None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Applied::Done)
            }
            Action::Link { .. } | Action::Unlink { .. } => {
                Err("internal error: links are applied in batches".into())
            }
        }
    }

    async fn create_user(
        &self,
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
        let fleet = self.ids().fleet.clone();
        wire::set_marker(&mut body, &fleet);
        body.insert("password".into(), json!(password.expose()));
        let created: Map<String, Json> = self
            .api
            .post("/api/users", &Json::Object(body))
            .await
            .map_err(|e| e.to_string())?;
        let id = id_of(&created).ok_or("POST /api/users -> 200: the answer has no id")?;
        self.ids().users.insert(UserKey::new(email), id);
        if managed_by.is_some() {
            let manager = self
                .ids()
                .manager
                .ok_or("the manager account is not known on the server")?;
            self.api
                .write(
                    Method::POST,
                    "/api/permissions",
                    Some(&json!({"userId": manager.0, "managedUserId": id.0})),
                )
                .await
                .map_err(|e| format!("user created, but linking it to its manager failed: {e}"))?;
        }
        Ok(Applied::Created { password })
    }

    /// Read-modify-write: Traccar's PUT replaces the whole object, so the current object is
    /// read right before the write and only the managed keys change.
    async fn update_user(&self, email: &str, fields: &[(&Field, &Value)], adopt: bool) -> Outcome {
        let id = self.user_id(email)?;
        let path = format!("/api/users/{}", id.0);
        let mut user: Map<String, Json> =
            self.api.get(&path, &[]).await.map_err(|e| e.to_string())?;
        wire::set_fields(&mut user, fields.iter().copied());
        if adopt {
            let fleet = self.ids().fleet.clone();
            wire::set_marker(&mut user, &fleet);
        }
        // GET answers `"password": null`; sending nothing keeps the stored password.
        user.remove("password");
        self.api
            .write(Method::PUT, &path, Some(&Json::Object(user)))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Applied::Done)
    }

    /// The permission object of a link: owner key first, as Traccar requires.
    fn link_body(&self, action: &Action) -> Result<(LinkKind, Json), String> {
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
            _ => return Err("internal error: not a link".into()),
        };
        let user = self.user_id(email)?;
        let ids = self.ids();
        let (key, id) = match kind {
            LinkKind::Device => (
                "deviceId",
                ids.devices
                    .get(target)
                    .ok_or_else(|| format!("device {target} is not known on the server"))?,
            ),
            LinkKind::Group => (
                "groupId",
                ids.groups
                    .get(target)
                    .ok_or_else(|| format!("group {target} is not known on the server"))?,
            ),
        };
        let mut body = Map::new();
        body.insert("userId".into(), json!(user.0));
        body.insert(key.into(), json!(id.0));
        Ok((kind, Json::Object(body)))
    }

    /// Applies links and unlinks in `/api/permissions/bulk` batches of one key set. Bulk is not
    /// transactional on Traccar: when a batch fails, its items are retried one by one, links
    /// with DELETE first so that an item the failed batch did apply is not duplicated.
    async fn apply_links(&self, actions: &[Action], indices: &[usize]) -> Vec<(usize, Outcome)> {
        let mut results = Vec::new();
        let mut batches: BTreeMap<(bool, LinkKind), Vec<(usize, Json)>> = BTreeMap::new();
        let mut relink: Vec<(usize, Json)> = Vec::new();
        for &i in indices {
            let action = &actions[i];
            match self.link_body(action) {
                Err(e) => results.push((i, Err(e))),
                Ok((kind, body)) => {
                    let is_link = matches!(action, Action::Link { .. });
                    let uncertain = is_link
                        && kind == LinkKind::Group
                        && self.ids().uncertain_groups.contains(&(
                            UserKey::new(action.email()),
                            match action {
                                Action::Link { target, .. } => target.clone(),
                                _ => String::new(),
                            },
                        ));
                    if uncertain {
                        relink.push((i, body));
                    } else {
                        batches.entry((is_link, kind)).or_default().push((i, body));
                    }
                }
            }
        }
        // Uncertain group links: delete any existing rows first, then link.
        if !relink.is_empty() {
            let bodies: Vec<Json> = relink.iter().map(|(_, b)| b.clone()).collect();
            let _ = self
                .api
                .write(
                    Method::DELETE,
                    "/api/permissions/bulk",
                    Some(&Json::Array(bodies)),
                )
                .await;
            batches
                .entry((true, LinkKind::Group))
                .or_default()
                .extend(relink);
        }
        let mut chunks: Vec<(bool, Vec<(usize, Json)>)> = Vec::new();
        // Without bulk (`--no-bulk`, the benchmark's baseline) every link is its own request.
        let batch_size = if self.options.bulk {
            self.options.batch_size.max(1)
        } else {
            1
        };
        for ((is_link, _), items) in batches {
            for chunk in items.chunks(batch_size) {
                chunks.push((is_link, chunk.to_vec()));
            }
        }
        let chunk_results: Vec<Vec<(usize, Outcome)>> = stream::iter(chunks)
            .map(|(is_link, chunk)| async move { self.apply_link_chunk(is_link, chunk).await })
            .buffer_unordered(self.options.concurrency)
            .collect()
            .await;
        results.extend(chunk_results.into_iter().flatten());
        results
    }

    async fn apply_link_chunk(
        &self,
        is_link: bool,
        chunk: Vec<(usize, Json)>,
    ) -> Vec<(usize, Outcome)> {
        let method = if is_link {
            Method::POST
        } else {
            Method::DELETE
        };
        let (path, body) = match chunk.as_slice() {
            [(_, single)] if !self.options.bulk => ("/api/permissions", single.clone()),
            _ => (
                "/api/permissions/bulk",
                Json::Array(chunk.iter().map(|(_, b)| b.clone()).collect()),
            ),
        };
        let bulk = self.api.write(method.clone(), path, Some(&body)).await;
        match bulk {
            Ok(()) => chunk
                .into_iter()
                .map(|(i, _)| (i, Ok(Applied::Done)))
                .collect(),
            Err(_) => {
                let mut out = Vec::with_capacity(chunk.len());
                for (i, body) in chunk {
                    out.push((i, self.apply_single_link(is_link, &body).await));
                }
                out
            }
        }
    }

    async fn apply_single_link(&self, is_link: bool, body: &Json) -> Outcome {
        let result: Result<(), ApiError> = async {
            // DELETE is a no-op when missing and removes duplicates; it makes the retry exact.
            self.api
                .write(Method::DELETE, "/api/permissions", Some(body))
                .await?;
            if is_link {
                self.api
                    .write(Method::POST, "/api/permissions", Some(body))
                    .await?;
            }
            Ok(())
        }
        .await;
        result.map(|()| Applied::Done).map_err(|e| e.to_string())
    }
}
