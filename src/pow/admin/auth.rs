//! Admin authentication: an argon2 password for the dashboard (a session cookie after
//! login), an optional bearer token for scripts, and CSRF tokens for cookie-authenticated
//! writes.

use std::fmt;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::core::ct::{ct_eq, decode_hex_into, encode_hex};
use crate::core::error::ConfigError;
use crate::core::reject::{Rejection, RejectionKind};

/// Session key: logged in as the admin.
pub(crate) const SESSION_ADMIN: &str = "ecurtiy.admin";
/// Session key: the CSRF token of this session.
pub(crate) const SESSION_CSRF: &str = "ecurtiy.csrf";
/// Header carrying the CSRF token on cookie-authenticated API writes.
pub const X_CSRF_TOKEN: &str = "x-csrf-token";
/// Shortest admin bearer token accepted.
pub const MIN_TOKEN_LEN: usize = 32;

/// Who may administer sites: a password (as an argon2 PHC hash) and optionally a bearer
/// token (kept as its SHA-256 digest).
///
/// ```
/// use tower_shield::pow::admin::AdminAuth;
/// let hash = AdminAuth::hash_password("correct horse battery staple").unwrap();
/// let auth = AdminAuth::new(&hash).unwrap().token("a-long-random-token-for-scripts-0123456789").unwrap();
/// assert!(auth.verify_password("correct horse battery staple"));
/// assert!(!auth.verify_password("wrong"));
/// ```
#[derive(Clone)]
pub struct AdminAuth {
    password_hash: Arc<str>,
    token_digest: Option<[u8; 32]>,
    /// At most two argon2 verifications at once: each costs ~19 MiB and tens of ms.
    hashing: Arc<Semaphore>,
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAuth")
            .field("password_hash", &"[REDACTED]")
            .field("token", &self.token_digest.map(|_| "[REDACTED]"))
            .finish()
    }
}

impl AdminAuth {
    /// From an argon2 PHC string (`$argon2id$v=19$m=...`), as [`AdminAuth::hash_password`]
    /// or the `argon2` CLI make.
    pub fn new(password_hash: &str) -> Result<Self, ConfigError> {
        let parsed = PasswordHash::new(password_hash).map_err(|_| {
            ConfigError::new("admin.password_hash", "is not a PHC string ($argon2id$...)")
        })?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(ConfigError::new(
                "admin.password_hash",
                "must be an argon2 hash",
            ));
        }
        Ok(Self {
            password_hash: password_hash.into(),
            token_digest: None,
            hashing: Arc::new(Semaphore::new(2)),
        })
    }

    /// Hashes `password` with argon2id and a random salt (default parameters).
    pub fn hash_password(password: &str) -> Result<String, ConfigError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|_| ConfigError::new("admin.password", "no OS randomness for a salt"))?;
        let salt = SaltString::encode_b64(&salt)
            .map_err(|_| ConfigError::new("admin.password", "salt encoding failed"))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| ConfigError::new("admin.password", "hashing failed"))
    }

    /// Also accept `Authorization: Bearer <token>` (at least 32 bytes); only its SHA-256
    /// digest is kept.
    pub fn token(mut self, token: &str) -> Result<Self, ConfigError> {
        if token.len() < MIN_TOKEN_LEN {
            return Err(ConfigError::new("admin.token", "must be at least 32 bytes"));
        }
        self.token_digest = Some(Sha256::digest(token.as_bytes()).into());
        Ok(self)
    }

    /// Accept the bearer token whose SHA-256 digest is `hex` (64 hex digits), so the
    /// token itself need not be in the configuration.
    pub fn token_sha256(mut self, hex: &str) -> Result<Self, ConfigError> {
        let mut d = [0u8; 32];
        decode_hex_into(hex.as_bytes(), &mut d)
            .ok_or_else(|| ConfigError::new("admin.token_sha256", "must be 64 hex digits"))?;
        self.token_digest = Some(d);
        Ok(self)
    }

    /// Checks a password (blocking: argon2 takes tens of milliseconds).
    pub fn verify_password(&self, password: &str) -> bool {
        PasswordHash::new(&self.password_hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    }

    /// Checks a password on the blocking pool, at most two at a time.
    pub async fn verify_password_async(&self, password: String) -> bool {
        let Ok(_permit) = self.hashing.clone().acquire_owned().await else {
            return false;
        };
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.verify_password(&password))
            .await
            .unwrap_or(false)
    }

    /// `Some(true)` for a valid bearer token, `Some(false)` for a wrong or malformed
    /// `Authorization` header, `None` when there is none.
    pub(crate) fn bearer(&self, headers: &HeaderMap) -> Option<bool> {
        let v = headers.get(AUTHORIZATION)?;
        let ok = (|| {
            let s = v.to_str().ok()?;
            let (scheme, token) = s.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            let want = self.token_digest?;
            let got: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
            Some(ct_eq(&got, &want))
        })();
        Some(ok.unwrap_or(false))
    }
}

/// A fresh CSRF token (32 random bytes, hex).
pub(crate) fn new_csrf_token() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).ok()?;
    Some(encode_hex(&b))
}

/// `true` for methods that change nothing (no CSRF check).
pub(crate) fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Compares a presented CSRF token with the session's, in constant time.
pub(crate) fn csrf_ok(presented: Option<&str>, expected: Option<&str>) -> bool {
    match (presented, expected) {
        (Some(p), Some(e)) if !e.is_empty() => {
            p.len() == e.len() && ct_eq(p.as_bytes(), e.as_bytes())
        }
        _ => false,
    }
}

pub(crate) fn unauthorized() -> Rejection {
    Rejection::new(
        RejectionKind::Unauthorized,
        "Sign in to the dashboard or send the admin bearer token",
    )
}

pub(crate) fn csrf_failed() -> Rejection {
    Rejection::new(
        RejectionKind::CsrfFailed,
        "A cookie-authenticated write needs the session's CSRF token (X-CSRF-Token)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_csrf() {
        let hash = AdminAuth::hash_password("pw-1").unwrap();
        let a = AdminAuth::new(&hash)
            .unwrap()
            .token("t".repeat(40).as_str())
            .unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(a.bearer(&h), None);
        h.insert(
            AUTHORIZATION,
            format!("Bearer {}", "t".repeat(40)).parse().unwrap(),
        );
        assert_eq!(a.bearer(&h), Some(true));
        h.insert(
            AUTHORIZATION,
            format!("bearer {}", "t".repeat(39)).parse().unwrap(),
        );
        assert_eq!(a.bearer(&h), Some(false));
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(a.bearer(&h), Some(false));
        let no_token = AdminAuth::new(&hash).unwrap();
        h.insert(AUTHORIZATION, "Bearer anything".parse().unwrap());
        assert_eq!(no_token.bearer(&h), Some(false));
        assert!(AdminAuth::new("plain").is_err());
        assert!(AdminAuth::new(&hash).unwrap().token("short").is_err());
        assert!(AdminAuth::new(&hash).unwrap().token_sha256("zz").is_err());
        assert!(csrf_ok(Some("abc"), Some("abc")));
        assert!(!csrf_ok(Some("abd"), Some("abc")));
        assert!(!csrf_ok(None, Some("abc")));
        assert!(!csrf_ok(Some(""), Some("")));
        assert!(!format!("{a:?}").contains("argon2"));
    }
}
