//! # tower-shield
//!
//! Inline request protection for [axum] and [hyper] apps, as composable
//! [tower] layers. The decisions that hosted security APIs sell one network round trip
//! at a time (who is the client, is the request signed, is it a bot, how fast may it go,
//! has it paid a proof of work) are made in-process, in nanoseconds to microseconds.
//!
//! | module | decides | feature |
//! |---|---|---|
//! | `client_ip` | the real client address behind trusted proxies (`ClientIpLayer`) | `client-ip` |
//! | `auth` | which principal sent it: API keys (`ApiKeyLayer`), JWTs (`JwtLayer`) | `apikey`, `jwt` |
//! | `signature` | is the request signed by a known key, SigV4 style (`SignatureLayer`) | `signature` |
//! | `classify` | human or bot, risk, VPN/proxy/Tor/hosting flags (`ClassifyLayer`) | `classify` |
//! | `ratelimit` | is this key within its quota, GCRA (`RateLimitLayer`) | `ratelimit` |
//! | `pow` | has the client paid a proof-of-work token (`PowLayer`, the challenge API) | `pow` |
//! | `pow::admin` | ECURTIY site management, analytics and dashboard over SQLite or PostgreSQL | `pow-admin` |
//! | `intel` | email, URL and IP intelligence | `intel` |
//! | `redis` | the shared state of a fleet on Redis (`RedisStore`) | `redis` |
//!
//! [`Shield`] stacks the layers in the right order in one layer. Layers talk to each
//! other and to handlers only through typed request extensions
//! ([`ClientIp`](core::ClientIp), [`Principal`](core::Principal), the classifier's
//! verdict), which handlers read as axum extractors. Every refusal is a response carrying
//! a typed [`Rejection`](core::Rejection), never a service error.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tower::ServiceExt;
//! use tower_shield::{Shield, core::ClientIp, client_ip::ClientIpSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let shield = Shield::builder()
//!     .client_ip(ClientIpSource::RightmostXForwardedFor, ["10.0.0.0/8".parse()?])
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(|ip: ClientIp| async move { ip.to_string() }))
//!     .layer(shield);
//!
//! // A request that came through the proxy at 10.0.0.2 on behalf of 203.0.113.9:
//! let mut req = http::Request::get("/")
//!     .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
//!     .body(axum::body::Body::empty())?;
//! req.extensions_mut().insert(tower_shield::core::PeerAddr("10.0.0.2:4000".parse()?));
//! let res = app.oneshot(req).await?;
//! assert_eq!(res.status(), 200);
//! let body = axum::body::to_bytes(res.into_body(), 1024).await?;
//! assert_eq!(body, "203.0.113.9");
//! # Ok(()) }
//! ```
//!
//! [axum]: https://docs.rs/axum
//! [hyper]: https://docs.rs/hyper
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README's example compiles (it serves forever, so it is not run).
#[cfg(all(doctest, feature = "classify", feature = "pow", feature = "ratelimit"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod core;

#[cfg(feature = "classify")]
pub mod classify;

#[cfg(feature = "client-ip")]
pub mod client_ip;

#[cfg(feature = "ratelimit")]
pub mod ratelimit;

#[cfg(feature = "signature")]
pub mod signature;

#[cfg(feature = "pow")]
pub mod pow;
#[cfg(feature = "redis")]
pub mod redis;

#[cfg(any(feature = "apikey", feature = "jwt"))]
pub mod auth;

#[cfg(feature = "intel")]
pub mod intel;

#[cfg(feature = "client-ip")]
pub mod shield;

#[cfg(feature = "client-ip")]
pub use shield::{Shield, ShieldBuilder, ShieldFuture, ShieldService};
