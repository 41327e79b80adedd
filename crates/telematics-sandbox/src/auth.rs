//! Credentials the sandbox issues and checks: HS256 JWTs (admin and user) with an expiry read
//! from the sandbox clock, single-use refresh tokens bound to the access token they came with,
//! and the per-address login rate limit (notes §2).
//!
//! It owns the signing key, the refresh-token table and the login counters; it never sees HTTP
//! and never logs or returns a token except to the caller that asked for it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The login rate limit: at most `max` logins per `window` from one address; the attempt over it
/// is answered 429 and the address stays blocked for `block` (notes §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginLimit {
    pub max: u32,
    pub window: Duration,
    pub block: Duration,
}

impl Default for LoginLimit {
    /// 5 logins per minute, then a one-hour block: the rule three of the official sources give
    /// (notes §2.4: S3, S4, S5).
    fn default() -> LoginLimit {
        LoginLimit {
            max: 5,
            window: Duration::from_secs(60),
            block: Duration::from_secs(3600),
        }
    }
}

/// Who a token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The admin API credential (its email).
    Admin(String),
    /// A registered user: its DeviceToken and instance.
    User {
        device_token: String,
        instance_id: String,
    },
}

/// Why a bearer token was refused (answered 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Missing,
    Invalid,
    /// Expired at this Unix time (seconds).
    Expired(u64),
}

/// An issued pair, as the login, refresh and registration answers carry it.
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    pub refresh_token: String,
}

struct RefreshEntry {
    principal: Principal,
    /// The `jti` of the access token issued with it.
    jti: String,
    expires: SystemTime,
}

#[derive(Default)]
struct LoginWindow {
    attempts: VecDeque<SystemTime>,
    blocked_until: Option<SystemTime>,
}

/// Keys, refresh tokens and login counters.
pub struct AuthState {
    key: [u8; 32],
    refresh: HashMap<String, RefreshEntry>,
    logins: HashMap<IpAddr, LoginWindow>,
}

impl Default for AuthState {
    fn default() -> AuthState {
        AuthState {
            key: rand::random(),
            refresh: HashMap::new(),
            logins: HashMap::new(),
        }
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // RFC 2104 with a 64-byte block; keys here are at most a block long, so they are only
    // zero-padded (a longer key would be hashed first; none is).
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for (i, k) in key.iter().enumerate() {
        ipad[i] ^= k;
        opad[i] ^= k;
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize();
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer);
    out
}

impl AuthState {
    /// Issues an access JWT living `lifetime` from `now`, and a refresh token living
    /// `refresh_lifetime`.
    pub fn issue(
        &mut self,
        principal: Principal,
        now: SystemTime,
        lifetime: Duration,
        refresh_lifetime: Duration,
    ) -> Issued {
        let jti = hex_random::<16>();
        let iat = unix(now);
        let expires_in = lifetime.as_secs();
        let mut claims = json!({
            "jti": jti,
            "iat": iat,
            "nbf": iat,
            "exp": iat + expires_in,
            "iss": "telematics-sandbox",
        });
        match &principal {
            Principal::Admin(email) => {
                claims["role"] = json!("Admin");
                claims["sub"] = json!(email);
            }
            Principal::User {
                device_token,
                instance_id,
            } => {
                claims["role"] = json!("User");
                claims["sub"] = json!(device_token);
                claims["InstanceId"] = json!(instance_id);
            }
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.key, signed.as_bytes()));
        let refresh_token = STANDARD.encode(rand::random::<[u8; 48]>());
        self.refresh.insert(
            refresh_token.clone(),
            RefreshEntry {
                principal,
                jti,
                expires: now + refresh_lifetime,
            },
        );
        Issued {
            token: format!("{signed}.{signature}"),
            expires_in,
            refresh_token,
        }
    }

    /// The claims of a JWT this sandbox signed, expired or not.
    fn claims(&self, token: &str) -> Option<(Principal, String, u64)> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = hmac_sha256(&self.key, format!("{header}.{payload}").as_bytes());
        let given = URL_SAFE_NO_PAD.decode(signature).ok()?;
        // Not constant-time: this is a test server on loopback.
        if given != expected {
            return None;
        }
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let sub = claims["sub"].as_str()?.to_string();
        let principal = match claims["role"].as_str()? {
            "Admin" => Principal::Admin(sub),
            "User" => Principal::User {
                device_token: sub,
                instance_id: claims["InstanceId"].as_str()?.to_string(),
            },
            _ => return None,
        };
        Some((
            principal,
            claims["jti"].as_str()?.to_string(),
            claims["exp"].as_u64()?,
        ))
    }

    /// Checks an `Authorization` header value: a bearer JWT of this sandbox, not expired at `now`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now: SystemTime,
    ) -> Result<Principal, TokenError> {
        let value = authorization.ok_or(TokenError::Missing)?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(TokenError::Missing),
        };
        let (principal, _, exp) = self.claims(token).ok_or(TokenError::Invalid)?;
        if unix(now) >= exp {
            return Err(TokenError::Expired(exp));
        }
        Ok(principal)
    }

    /// `POST /v1/Auth/RefreshToken`: the refresh token must be unused, unexpired and issued
    /// with this access token (which may itself be expired). It is used up; a new pair comes back.
    pub fn refresh(
        &mut self,
        access_token: &str,
        refresh_token: &str,
        now: SystemTime,
        lifetime: Duration,
        refresh_lifetime: Duration,
    ) -> Option<(Principal, Issued)> {
        let (principal, jti, _) = self.claims(access_token)?;
        let entry = self.refresh.get(refresh_token)?;
        if entry.jti != jti || entry.principal != principal || entry.expires <= now {
            return None;
        }
        self.refresh.remove(refresh_token);
        let issued = self.issue(principal.clone(), now, lifetime, refresh_lifetime);
        Some((principal, issued))
    }

    /// Counts a login attempt from `ip`; `Err(seconds left in the block)` when it is refused.
    pub fn count_login(
        &mut self,
        ip: IpAddr,
        now: SystemTime,
        limit: &LoginLimit,
    ) -> Result<(), u64> {
        let window = self.logins.entry(ip).or_default();
        if let Some(until) = window.blocked_until {
            if until > now {
                return Err(until.duration_since(now).map_or(0, |d| d.as_secs()));
            }
            window.blocked_until = None;
            window.attempts.clear();
        }
        while window
            .attempts
            .front()
            .is_some_and(|t| now.duration_since(*t).unwrap_or_default() >= limit.window)
        {
            window.attempts.pop_front();
        }
        if window.attempts.len() >= limit.max as usize {
            window.blocked_until = Some(now + limit.block);
            return Err(limit.block.as_secs());
        }
        window.attempts.push_back(now);
        Ok(())
    }

    /// Forgets every login attempt and block.
    pub fn reset_login_limit(&mut self) {
        self.logins.clear();
    }
}

fn hex_random<const N: usize>() -> String {
    rand::random::<[u8; N]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_token_is_valid_until_it_expires_and_only_for_this_sandbox() {
        let mut auth = AuthState::default();
        let now = SystemTime::now();
        let issued = auth.issue(Principal::Admin("a@x".into()), now, DAY, DAY * 90);
        let header = format!("Bearer {}", issued.token);
        assert_eq!(
            auth.authenticate(Some(&header), now),
            Ok(Principal::Admin("a@x".into()))
        );
        assert!(matches!(
            auth.authenticate(Some(&header), now + DAY),
            Err(TokenError::Expired(_))
        ));
        let other = AuthState::default();
        assert_eq!(
            other.authenticate(Some(&header), now),
            Err(TokenError::Invalid)
        );
        assert_eq!(auth.authenticate(None, now), Err(TokenError::Missing));
        let mut tampered = issued.token.clone();
        tampered.insert(10, 'x');
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {tampered}")), now),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_refresh_token_works_once_and_only_with_its_access_token() {
        let mut auth = AuthState::default();
        let now = SystemTime::now();
        let a = auth.issue(Principal::Admin("a@x".into()), now, DAY, DAY);
        let b = auth.issue(Principal::Admin("a@x".into()), now, DAY, DAY);
        assert!(
            auth.refresh(&b.token, &a.refresh_token, now, DAY, DAY)
                .is_none()
        );
        let later = now + DAY * 2;
        assert!(
            auth.refresh(&a.token, &a.refresh_token, later, DAY, DAY)
                .is_none(),
            "the refresh token expired"
        );
        let (who, fresh) = auth
            .refresh(&b.token, &b.refresh_token, now, DAY, DAY)
            .unwrap();
        assert_eq!(who, Principal::Admin("a@x".into()));
        assert!(
            auth.refresh(&b.token, &b.refresh_token, now, DAY, DAY)
                .is_none()
        );
        assert!(
            auth.refresh(&fresh.token, &fresh.refresh_token, now, DAY, DAY)
                .is_some()
        );
    }

    #[test]
    fn the_login_limit_blocks_after_max_and_lifts_after_the_block() {
        let mut auth = AuthState::default();
        let limit = LoginLimit::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = SystemTime::now();
        for _ in 0..5 {
            assert_eq!(auth.count_login(ip, now, &limit), Ok(()));
        }
        assert_eq!(auth.count_login(ip, now, &limit), Err(3600));
        // Still blocked after the window has passed: the block is an hour.
        let later = now + Duration::from_secs(120);
        assert!(auth.count_login(ip, later, &limit).is_err());
        let after = now + Duration::from_secs(3601);
        assert_eq!(auth.count_login(ip, after, &limit), Ok(()));
        // Attempts older than the window do not count.
        let mut auth = AuthState::default();
        for i in 0..10 {
            assert_eq!(
                auth.count_login(ip, now + Duration::from_secs(13 * i), &limit),
                Ok(())
            );
        }
    }
}
