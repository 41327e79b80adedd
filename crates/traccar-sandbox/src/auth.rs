//! Authentication as Traccar's `SecurityRequestFilter` does it: an `Authorization` header
//! (Basic email/login + password, or a Bearer token) wins over the `JSESSIONID` cookie session.
//!
//! Tokens are stateless signed blobs like Traccar's: base64url(signature || JSON payload), here
//! signed with HMAC-SHA256 under a random per-server key instead of ECDSA (a 32-byte signature
//! instead of a DER one). The payload is `{"u":userId,"e":"<expiry>"}` (plus a random `"i"` from
//! v6.11, used for revocation). Tokens survive password changes, as on Traccar.
//!
//! This module resolves *who* is calling; it never decides what they may do.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::errors::ApiError;
use super::store::{Store, User};
use super::version::TraccarVersion;
use super::wire::format_time;

/// A cookie session (`JSESSIONID`).
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub user_id: Option<i64>,
    /// Set when the session was opened with `GET /api/session?token=`: the token's expiry.
    pub expiration: Option<DateTime<Utc>>,
    /// The `Origin` header of the login request, if any (checked from v6.12).
    pub origin: Option<String>,
}

/// The request's `Origin` and `Host` headers, for the v6.12 session origin check.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestOrigin<'a> {
    pub origin: Option<&'a str>,
    pub host: Option<&'a str>,
}

impl RequestOrigin<'_> {
    /// `SecurityRequestFilter`: an `Origin` must equal the one stored at login or, when none was
    /// stored, name the same host as the `Host` header. Requests without `Origin` pass.
    fn allows(&self, stored: Option<&str>) -> bool {
        let Some(origin) = self.origin else {
            return true;
        };
        match stored {
            Some(stored) => stored == origin,
            None => {
                let host = origin
                    .split_once("://")
                    .map(|(_, rest)| rest)
                    .unwrap_or(origin);
                Some(host) == self.host
            }
        }
    }
}

/// Server-side authentication state: signing key, cookie sessions, revoked token ids.
#[derive(Debug)]
pub struct AuthState {
    key: [u8; 32],
    pub sessions: HashMap<String, Session>,
    pub revoked: HashSet<String>,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            key: rand::random(),
            sessions: HashMap::new(),
            revoked: HashSet::new(),
        }
    }
}

/// base64url like `java.util.Base64.getUrlDecoder()`: lenient about padding and trailing bits.
const URL_SAFE_NO_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const BLOCK: usize = 64;
const SIGNATURE_LEN: usize = 32;

fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut padded = [0u8; BLOCK];
    padded[..key.len()].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(padded.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(padded.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// What a presented token turned out to be.
#[derive(Debug, PartialEq)]
pub enum TokenCheck {
    /// Valid, for this user id, with this expiry.
    Valid(i64, DateTime<Utc>),
    /// Bad signature, expired or revoked: 401.
    Rejected,
}

impl AuthState {
    /// Issues a token for `user_id` expiring at `expiration`.
    pub fn issue_token(
        &self,
        version: TraccarVersion,
        user_id: i64,
        expiration: DateTime<Utc>,
    ) -> String {
        let payload = if version.token_revocation() {
            serde_json::json!({"i": hex::encode(rand::random::<[u8; 8]>()), "u": user_id, "e": format_time(&expiration)})
        } else {
            serde_json::json!({"u": user_id, "e": format_time(&expiration)})
        };
        let payload = payload.to_string().into_bytes();
        let mut blob = hmac(&self.key, &payload).to_vec();
        blob.extend_from_slice(&payload);
        URL_SAFE_NO_PAD.encode(blob)
    }

    /// Verifies a token. Garbage that cannot even be split gives 400 (Traccar's
    /// ArrayIndexOutOfBoundsException); a bad signature, expiry or revocation gives `Rejected`.
    pub fn verify_token(&self, token: &str) -> Result<TokenCheck, ApiError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| {
                ApiError::other(
                    "java.lang.IllegalArgumentException",
                    Some("Illegal base64 character"),
                )
            })?;
        if bytes.len() <= SIGNATURE_LEN {
            // Traccar reads a signature length from the first byte and copies past it.
            let index = bytes.first().map(|b| i64::from(*b as i8)).unwrap_or(0) + 1;
            return Err(ApiError::other(
                "java.lang.ArrayIndexOutOfBoundsException",
                Some(&format!(
                    "arraycopy: source index {index} out of bounds for byte[{}]",
                    bytes.len()
                )),
            ));
        }
        let (signature, payload) = bytes.split_at(SIGNATURE_LEN);
        let expected = hmac(&self.key, payload);
        if expected
            .iter()
            .zip(signature)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Ok(TokenCheck::Rejected);
        }
        let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| {
            ApiError::other(
                "com.fasterxml.jackson.core.JsonParseException",
                Some(&e.to_string()),
            )
        })?;
        let user_id = value.get("u").and_then(|u| u.as_i64()).unwrap_or(0);
        let expiration = value
            .get("e")
            .and_then(|e| e.as_str())
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc));
        let Some(expiration) = expiration else {
            return Ok(TokenCheck::Rejected);
        };
        if expiration <= Utc::now() {
            return Ok(TokenCheck::Rejected);
        }
        if let Some(id) = value.get("i").and_then(|i| i.as_str())
            && self.revoked.contains(id)
        {
            return Ok(TokenCheck::Rejected);
        }
        Ok(TokenCheck::Valid(user_id, expiration))
    }

    /// The random id inside a token, for revocation (None for pre-6.11 tokens or garbage).
    pub fn token_id(&self, token: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
        let payload = bytes.get(SIGNATURE_LEN..)?;
        let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
        value.get("i")?.as_str().map(str::to_string)
    }

    /// Opens a new cookie session and returns its id.
    pub fn open_session(
        &mut self,
        user_id: i64,
        expiration: Option<DateTime<Utc>>,
        origin: Option<String>,
    ) -> String {
        let id = format!("node0{}", hex::encode(rand::random::<[u8; 12]>()));
        self.sessions.insert(
            id.clone(),
            Session {
                user_id: Some(user_id),
                expiration,
                origin,
            },
        );
        id
    }
}

/// Outcome of checking a login identifier and password.
#[derive(Debug, PartialEq)]
pub enum Login {
    Ok(i64),
    /// Unknown user or wrong password.
    Failed,
    /// Right password, but the user has a `totpKey` and no code was given.
    CodeRequired,
}

/// `LoginService.login`: matches `email` or `login` (case-insensitively from v6.13, exactly
/// before), the first row wins. A user without a password fails with Traccar's NPE (400).
/// A user with a `totpKey` must also give the current `code` (Basic auth never can: 401).
pub fn login(
    store: &Store,
    version: TraccarVersion,
    identifier: &str,
    password: &str,
    code: Option<&str>,
) -> Result<Login, ApiError> {
    let identifier = identifier.trim();
    let exact = |value: &Option<String>| value.as_deref() == Some(identifier);
    let found = store
        .users_by_identifier(identifier)
        .into_iter()
        .find(|u| version.case_insensitive_login() || exact(&u.email) || exact(&u.login));
    let Some(user) = found else {
        return Ok(Login::Failed);
    };
    match &user.password {
        None => Err(ApiError::npe(
            "Cannot invoke \"String.toCharArray()\" because \"data\" is null",
        )),
        Some(hash) if hash.verify(password) => {
            match user.totp_key.as_deref().filter(|k| !k.is_empty()) {
                None => Ok(Login::Ok(user.id)),
                Some(key) => match code {
                    None => Ok(Login::CodeRequired),
                    Some(code) => match code.trim().parse::<u32>() {
                        Ok(code) if super::totp::verify(key, code, Utc::now().timestamp()) => {
                            Ok(Login::Ok(user.id))
                        }
                        Ok(_) => Err(ApiError::security("User authorization failed")),
                        Err(_) => Err(ApiError::other(
                            "java.lang.NumberFormatException",
                            Some(&format!("For input string: \"{code}\"")),
                        )),
                    },
                },
            }
        }
        Some(_) => Ok(Login::Failed),
    }
}

/// `User is disabled` / `User has expired` (`Disableable.checkDisabled`).
pub fn check_disabled(user: &User) -> Result<(), ApiError> {
    if user.disabled {
        return Err(ApiError::security("User is disabled"));
    }
    if user.expiration_time.is_some_and(|t| t < Utc::now()) {
        return Err(ApiError::security("User has expired"));
    }
    Ok(())
}

/// The identity a request carries.
#[derive(Debug, PartialEq)]
pub enum Identity {
    /// Authenticated as this user.
    User(i64),
    /// Credentials were sent but did not authenticate (401 on protected endpoints).
    Failed,
    /// Nothing was sent.
    None,
}

/// Resolves the caller from the `Authorization` header, else the cookie session. Errors are
/// the exceptions Traccar lets escape the filter (400 on any endpoint).
pub fn identify(
    store: &Store,
    auth: &mut AuthState,
    version: TraccarVersion,
    authorization: Option<&str>,
    session_id: Option<&str>,
    origin: RequestOrigin<'_>,
) -> Result<Identity, ApiError> {
    if let Some(header) = authorization {
        let (scheme, credentials) = match header.split_once(' ') {
            Some((s, c)) => (s, c),
            None => {
                if version.case_insensitive_scheme() {
                    return Err(ApiError::other(
                        "java.lang.ArrayIndexOutOfBoundsException",
                        Some("Index 1 out of bounds for length 1"),
                    ));
                }
                ("Basic", "")
            }
        };
        let bearer = if version.case_insensitive_scheme() {
            scheme.eq_ignore_ascii_case("bearer")
        } else {
            scheme == "Bearer"
        };
        let basic = if version.case_insensitive_scheme() {
            scheme.eq_ignore_ascii_case("basic")
        } else {
            !bearer
        };
        let user_id = if bearer {
            match auth.verify_token(credentials.trim())? {
                TokenCheck::Valid(id, _) => {
                    if store.user(id).is_none() {
                        if !version.deleted_user_token_npe() {
                            // 5.x: the login finds no user, so nobody is authenticated.
                            return Ok(Identity::Failed);
                        }
                        // 6.0 to 6.14.5: the filter dereferences the missing user
                        // (`registerRequest(user.getId())`, seen on real 6.14.4).
                        return Err(ApiError::npe(
                            "Cannot invoke \"org.traccar.model.User.getId()\" because \"user\" is null",
                        ));
                    }
                    id
                }
                TokenCheck::Rejected => return Ok(Identity::Failed),
            }
        } else if basic {
            let decoded = STANDARD.decode(credentials.trim()).map_err(|_| {
                ApiError::other(
                    "java.lang.IllegalArgumentException",
                    Some("Illegal base64 character 2d"),
                )
            })?;
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            let Some((identifier, password)) = decoded.split_once(':') else {
                return Err(ApiError::other(
                    "java.lang.ArrayIndexOutOfBoundsException",
                    Some("Index 1 out of bounds for length 1"),
                ));
            };
            match login(store, version, identifier, password, None)? {
                Login::Ok(id) => id,
                // TOTP users cannot use Basic: the code is never supplied.
                Login::CodeRequired => return Ok(Identity::Failed),
                Login::Failed if version.bad_credentials_npe() => {
                    return Err(ApiError::npe(
                        "Cannot invoke \"org.traccar.api.security.LoginResult.getUser()\" because \"loginResult\" is null",
                    ));
                }
                Login::Failed => return Ok(Identity::Failed),
            }
        } else {
            // "Unsupported authorization scheme" is a SecurityException: unauthenticated.
            return Ok(Identity::Failed);
        };
        return Ok(match store.user(user_id) {
            Some(user) if check_disabled(user).is_ok() => Identity::User(user_id),
            _ => Identity::Failed,
        });
    }
    if let Some(sid) = session_id
        && let Some(session) = auth.sessions.get(sid).cloned()
        && let Some(user_id) = session.user_id
    {
        if session.expiration.is_some_and(|e| e <= Utc::now()) {
            auth.sessions.remove(sid);
            return Ok(Identity::None);
        }
        if version.session_origin_check() && !origin.allows(session.origin.as_deref()) {
            return Ok(Identity::None);
        }
        return Ok(match store.user(user_id) {
            Some(user) if check_disabled(user).is_ok() => Identity::User(user_id),
            _ => Identity::None,
        });
    }
    Ok(Identity::None)
}
