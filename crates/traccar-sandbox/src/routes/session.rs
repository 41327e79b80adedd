//! `/api/session` and `/api/session/token[/revoke]` (`SessionResource`): form login into a cookie
//! session, "who am I" for cookie sessions and `?token=`, logout, and Bearer token issue/revoke.

use chrono::{DateTime, Duration, Utc};

use super::{Ctx, Reply};
use crate::auth::{self, Login, TokenCheck};
use crate::errors::ApiError;
use crate::wire::user_json;

/// Default token lifetime (`TokenManager.DEFAULT_EXPIRATION_DAYS`).
const TOKEN_DAYS: i64 = 7;

pub fn get(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    if let Some(token) = ctx.query.first("token") {
        let (user_id, expiration) = match ctx.auth.verify_token(token)? {
            TokenCheck::Valid(id, e) => (id, e),
            TokenCheck::Rejected => return Err(ApiError::unauthorized()),
        };
        let Some(user) = ctx.store.user(user_id) else {
            return Err(ApiError::npe(
                "Cannot invoke \"org.traccar.model.User.getDisabled()\" because \"user\" is null",
            ));
        };
        if auth::check_disabled(user).is_err() {
            return Err(ApiError::unauthorized());
        }
        let json = user_json(user, false, ctx.version);
        let sid = ctx
            .auth
            .open_session(user_id, Some(expiration), ctx.origin.clone());
        return Ok(Reply::WithSession(Box::new(Reply::Json(json)), sid));
    }
    // Only the cookie session counts here; Basic/Bearer headers do not.
    let user = ctx
        .session_id
        .as_deref()
        .and_then(|sid| ctx.auth.sessions.get(sid))
        .and_then(|s| s.user_id)
        .and_then(|id| ctx.store.user(id));
    match user {
        Some(user) => Ok(Reply::Json(user_json(user, false, ctx.version))),
        None => Err(ApiError::web(404)),
    }
}

pub fn login(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let form = ctx.form();
    let email = form.first("email").unwrap_or_default().to_string();
    let password = form.first("password").unwrap_or_default().to_string();
    let code = form
        .first("code")
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    match auth::login(ctx.store, ctx.version, &email, &password, code.as_deref())? {
        Login::CodeRequired => Err(ApiError::TotpRequired),
        Login::Ok(id) => {
            let Some(user) = ctx.store.user(id) else {
                return Err(ApiError::unauthorized());
            };
            // Disabled/expired: SecurityException, 400 here (only CodeRequired is caught).
            auth::check_disabled(user)?;
            let json = user_json(user, false, ctx.version);
            if let Some(old) = ctx.session_id.take() {
                ctx.auth.sessions.remove(&old);
            }
            let sid = ctx.auth.open_session(id, None, ctx.origin.clone());
            Ok(Reply::WithSession(Box::new(Reply::Json(json)), sid))
        }
        Login::Failed if ctx.version.bad_credentials_npe() => Err(ApiError::npe(
            "Cannot invoke \"org.traccar.api.security.LoginResult.getUser()\" because \"loginResult\" is null",
        )),
        Login::Failed => Err(ApiError::unauthorized()),
    }
}

/// `GET /api/session/{id}`: an admin, or a manager of `{id}`, switches its cookie session to
/// that user (a session is opened when the caller used Basic or Bearer).
pub fn impersonate(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let id = ctx.path_id;
    crate::rules::check_user(ctx.store, ctx.me, id)?;
    let Some(user) = ctx.store.user(id) else {
        return Err(ApiError::JettyNotFound(ctx.uri.clone()));
    };
    let json = user_json(user, false, ctx.version);
    if let Some(session) = ctx
        .session_id
        .as_deref()
        .and_then(|sid| ctx.auth.sessions.get_mut(sid))
    {
        session.user_id = Some(id);
        return Ok(Reply::Json(json));
    }
    let sid = ctx.auth.open_session(id, None, ctx.origin.clone());
    Ok(Reply::WithSession(Box::new(Reply::Json(json)), sid))
}

pub fn logout(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    if let Some(session) = ctx
        .session_id
        .as_deref()
        .and_then(|sid| ctx.auth.sessions.get_mut(sid))
    {
        session.user_id = None;
    }
    Ok(Reply::NoContent)
}

/// `ISO_ZONED_DATE_TIME`: the zone is mandatory.
fn parse_expiration(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::Java {
            status: 400,
            class: "org.glassfish.jersey.server.ParamException$FormParamException".to_string(),
            message: Some("HTTP 400 Bad Request".to_string()),
            cause: Some((
                "java.time.format.DateTimeParseException".to_string(),
                format!("Text '{raw}' could not be parsed at index 0"),
            )),
            site: "org.glassfish.jersey.server.internal.inject.FormParamValueParamProvider$FormParamValueProvider.apply(FormParamValueParamProvider.java:80)",
        })
}

pub fn token(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let form = ctx.form();
    let requested = match form.first("expiration").filter(|e| !e.is_empty()) {
        Some(raw) => Some(parse_expiration(raw)?),
        None => None,
    };
    let expiration = match (ctx.session_expiration(), requested) {
        // A session opened from an expiring token caps new tokens; without a requested
        // expiration Traccar dereferences null here.
        (Some(_), None) => {
            return Err(ApiError::npe(
                "Cannot invoke \"java.util.Date.after(java.util.Date)\" because \"expiration\" is null",
            ));
        }
        (Some(cap), Some(e)) => e.min(cap),
        (None, Some(e)) => e,
        (None, None) => Utc::now() + Duration::days(TOKEN_DAYS),
    };
    Ok(Reply::Text(ctx.auth.issue_token(
        ctx.version,
        ctx.me,
        expiration,
    )))
}

pub fn revoke(ctx: &mut Ctx<'_>) -> Result<Reply, ApiError> {
    let form = ctx.form();
    let token = form.first("token").unwrap_or_default().to_string();
    match ctx.auth.verify_token(&token)? {
        TokenCheck::Valid(..) => {
            if let Some(id) = ctx.auth.token_id(&token) {
                ctx.auth.revoked.insert(id);
            }
            Ok(Reply::NoContent)
        }
        TokenCheck::Rejected => Err(ApiError::security("Invalid signature")),
    }
}
