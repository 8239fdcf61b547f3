//! Who sent the request: API keys (feature `apikey`) and JSON Web Tokens (feature `jwt`).
//!
//! With feature `jwt`: `JwtLayer` verifies bearer tokens (RS256 by default, ES256 and
//! EdDSA on request, HS256 only with an explicit shared secret, `none` never) against a
//! static key ring or a JWKS URL (`RemoteJwks`), and `JwtSigner` issues them from a key
//! ring with rotation and publishes the JWKS. Their docs carry the threat model and a
//! runnable example.
//!
//! [`ApiKeyLayer`] reads one API key from `X-API-Key` or `Authorization: Bearer` (and,
//! only when enabled with [`ApiKeyLayer::insecure_allow_query`], from a query parameter
//! such as the 602TechSec API's `?apiKey=`), looks it up, and inserts a
//! [`Principal`](crate::core::Principal) with the key's id, permissions and its own
//! quotas, which `RateLimitLayer` applies per key.
//!
//! Refusals: 401 `INVALID_API_KEY` for a missing, unknown, revoked or ambiguous key
//! (two different keys in one request), all with the same message so an unknown key and
//! a revoked one look alike; 403 `INSUFFICIENT_PERMISSIONS` for a valid key without a
//! permission the layer requires.
//!
//! # Storage and threat model
//!
//! * Keys are held only as SHA-256 digests ([`StaticApiKeys`], or your
//!   [`ApiKeyStore`]); a presented key is hashed, looked up by its digest and compared
//!   in constant time. A memory dump or a leaked config of digests does not reveal keys.
//!   API keys must be long and random: a digest does not slow down guessing a short one.
//! * The principal id is a prefix of the key and a digest fragment, so logs and
//!   `/whoami` never echo a key.
//! * Query-string keys leak into access logs, proxies, browser history and `Referer`;
//!   they are off unless enabled, and the enabling method says so in its name.
//! * Presented keys longer than [`MAX_KEY_LEN`] bytes are refused unread.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_shield::auth::{ApiKeyLayer, StaticApiKeys};
//! use tower_shield::core::Quota;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let keys = StaticApiKeys::new().key("tsk_live_0123456789", ["verify"], Some(Quota::per_hour(1000))).unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(ApiKeyLayer::new(keys).require("verify"))
//!     .service(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(axum::body::Body::from("ok"))) }));
//!
//! let ok = Request::get("/").header("x-api-key", "tsk_live_0123456789").body(()).unwrap();
//! assert_eq!(svc.clone().oneshot(ok).await.unwrap().status(), StatusCode::OK);
//! let bad = Request::get("/").header("x-api-key", "tsk_live_guess").body(()).unwrap();
//! assert_eq!(svc.oneshot(bad).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

mod apikey;

pub use apikey::{
    ApiKeyLayer, ApiKeyRecord, ApiKeyService, ApiKeyStore, KeyDigest, MAX_KEY_LEN, Presented,
    StaticApiKeys, X_API_KEY, presented_key,
};

#[cfg(feature = "jwt")]
mod jwks;
#[cfg(feature = "jwt")]
mod jwt;
#[cfg(feature = "jwt")]
mod signer;
#[cfg(feature = "jwt")]
mod verified;

#[cfg(feature = "jwt")]
pub use jwks::{
    FetchError, FetchFuture, HttpJwksFetcher, JwksDocument, JwksFetcher, MAX_JWKS_BYTES,
    RemoteJwks, UNKNOWN_KID_INTERVAL, cache_max_age,
};
#[cfg(all(feature = "jwt", feature = "axum"))]
pub use jwt::Claims;
#[cfg(feature = "jwt")]
pub use jwt::{
    DEFAULT_LEEWAY, JwtAlgorithm, JwtClaims, JwtError, JwtFuture, JwtLayer, JwtService, KeyRing,
    KeySet, MAX_KEYS, MAX_LEEWAY, MAX_SCOPES, MAX_TOKEN_LEN, MIN_HS256_SECRET, TokenHeader,
    Validation, VerifyingKey, bearer_token, cookie_token, parse_header,
};
#[cfg(feature = "jwt")]
pub use signer::{
    DEFAULT_KEY_RING, DEFAULT_SIGNING_KEY, DEFAULT_TTL, EnvKeySource, JwtSigner, KeySource,
    KeySourceError, PemFileKeySource, SignError, SigningKey,
};
#[cfg(feature = "jwt")]
pub use verified::MAX_VERIFIED_CACHE;
