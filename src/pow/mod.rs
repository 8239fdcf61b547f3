//! Proof of work (feature `pow`): [`PowLayer`] inline, and an ECURTIY-compatible
//! challenge / verify / validate API ([`api::Api`], with `axum`) with a browser widget.
//!
//! A client pays for access by finding a `nonce` such that SHA-256 over the challenge's
//! `prefix` followed by the nonce's decimal digits has `difficulty` leading zero bits
//! ([`work_ok`]). A browser does that in a Web Worker in a second or two at the default
//! difficulty 16 (the seed's range is 14-18); a bot farm pays for every request.
//!
//! # Stateless, signed, single use
//!
//! * Challenge ids (`ch_`) are signed (HMAC-SHA-256 with a key id, [`Keyring`] for
//!   rotation) and carry site, difficulty, prefix, expiry (5 minutes) and the client's
//!   network (/24 IPv4, /56 IPv6, configurable): any instance verifies with no storage.
//! * `verify` redeems the challenge id in the [`SingleUseStore`](crate::core::store::SingleUseStore)
//!   (memory, or Redis for a fleet) before anything else can come of it: one challenge
//!   yields at most one token, even under concurrent submissions, and a solution that
//!   fails the risk check is spent too (no retrying with other behavioural data).
//! * Tokens (`ect_`) are signed, valid 5 minutes and redeemed once (`validate`, or
//!   [`PowLayer`] in per-request mode). Passes (`esp_`) are [`PowLayer`]'s reusable
//!   short-lived credential, bound to the client network and scoped to the layer's site.
//! * Difficulty adapts ([`adapt_difficulty`]): a [`ChallengeMark`](crate::core::ChallengeMark)'s
//!   difficulty, the classifier's [`Verdict`](crate::core::verdict::Verdict) (Tor, bot,
//!   hosting, proxy/VPN), the issue rate, and your closure ([`PowBuilder::difficulty_fn`]),
//!   clamped to configured bounds (default 14..=18).
//! * Risk is scored from timing and behaviour ([`risk`]); at 0.7 or more, HIGH_RISK_SCORE.
//!
//! # Inline: [`PowLayer`]
//!
//! Protects everything (default), some paths ([`PowLayer::protect_paths`]), or what an
//! earlier layer marked ([`PowLayer::when_challenged`]); never `/healthz`, `/robots.txt`,
//! `/favicon.ico`, `/.well-known/` nor `OPTIONS` preflights. A request passes with a
//! token or pass in `X-Shield-Token`, or a pass in the `shield_pass` cookie. Without
//! one, a browser (`GET` with `Accept: text/html`) gets an interstitial page (401,
//! `no-store`, strict CSP) that solves in the background, posts to the layer's own
//! endpoint `/.shield/pow/verify`, receives the pass cookie and reloads; an API client gets
//! 401 (or 428) with the crate's JSON error plus a `challenge` object (with `verifyUrl`)
//! to solve and redeem the same way. In [`TokenMode::SingleUse`] every request spends a
//! token instead.
//!
//! # Threat model and caveats
//!
//! * Proof of work prices requests, it does not identify people: a determined attacker
//!   with native code solves difficulty 16 in a millisecond. Pair it with rate limits;
//!   raise difficulty for suspicious traffic rather than for everyone.
//! * The risk score reads client-reported behaviour, except the server-timed interval
//!   between issue and verify: it stops naive scripts, not a careful forger.
//! * Binding uses the client address the layers see: put `ClientIpLayer` in front behind
//!   a proxy. Without `ClientIp` the socket peer is used; with neither, challenges and
//!   passes are issued unbound. Mobile clients that change network mid-solve get a
//!   fresh challenge (the widget refetches on `INVALID_SOLUTION`/`CHALLENGE_EXPIRED`).
//! * Passes are bearer credentials for their lifetime within their network; per-request
//!   mode trades convenience for strictness.
//! * Only `GET`/`HEAD` navigations get the interstitial: a challenged form `POST` gets the
//!   JSON answer, since its body cannot be replayed after the solve. Protect the page
//!   that shows the form instead, or put the widget in the form.
//! * Mount the ECURTIY router outside the layer's protected paths (or
//!   [`PowLayer::allow_path`] it): the widget must reach `/api/challenge` without a pass.
//! * Good crawlers are challenged like everyone else; exempt them by path, or by
//!   protecting only what [`PowLayer::when_challenged`] marks.
//! * Tokens and challenges are single use per store: with the memory store, per process.
//!   Use a shared store (Redis) behind a load balancer. A store failure fails closed (503).
//! * All input is bounded: ids and tokens 400 bytes, site keys 64, API bodies 4 KiB,
//!   query strings 2 KiB, 64 cookies; decoding never panics (property tests, fuzz target
//!   `pow_tokens`).
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_shield::core::PeerAddr;
//! use tower_shield::pow::{Pow, PowLayer, solve};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let pow = Pow::new("a secret of at least thirty-two bytes!!").unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(PowLayer::new(pow).difficulty(14))
//!     .service(service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(axum::body::Body::from("hello"))) }));
//! let req = |uri: &str, method: http::Method, token: Option<&str>| {
//!     let mut r = Request::builder().method(method).uri(uri);
//!     if let Some(t) = token { r = r.header("x-shield-token", t); }
//!     let mut r = r.body(()).unwrap();
//!     r.extensions_mut().insert(PeerAddr("203.0.113.7:5000".parse().unwrap()));
//!     r
//! };
//!
//! // No token: 401 with a challenge to solve.
//! let res = svc.clone().oneshot(req("/", http::Method::GET, None)).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
//! let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! let c = &v["challenge"];
//! let nonce = solve(c["prefix"].as_str().unwrap(), 14, 0, 1 << 26).unwrap();
//!
//! // Redeem the solution at the layer's endpoint: a pass comes back.
//! let url = format!("/.shield/pow/verify?challengeId={}&nonce={nonce}", c["challengeId"].as_str().unwrap());
//! let res = svc.clone().oneshot(req(&url, http::Method::POST, None)).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let pass = res.headers()["x-shield-pass"].to_str().unwrap().to_owned();
//!
//! // The pass opens the protected route, as often as needed until it expires.
//! for _ in 0..3 {
//!     let res = svc.clone().oneshot(req("/", http::Method::GET, Some(&pass))).await.unwrap();
//!     assert_eq!(res.status(), StatusCode::OK);
//! }
//! // Health checks are never challenged.
//! let res = svc.oneshot(req("/healthz", http::Method::GET, None)).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! # }
//! ```

#[cfg(feature = "pow-admin")]
pub mod admin;
#[cfg(feature = "axum")]
pub mod api;
mod b64;
pub mod challenge;
mod engine;
mod layer;
pub mod risk;
mod service;
pub mod site;
pub mod widget;
mod wire;

pub use challenge::{Keyring, TokenKind, solve, work_ok};
pub use engine::{
    CHALLENGE_TTL, Challenge, DEFAULT_DIFFICULTY, DEFAULT_MAX_DIFFICULTY, DEFAULT_MIN_DIFFICULTY,
    DifficultyContext, Minted, Pow, PowBuilder, REDEEM_SKEW_MARGIN, SolutionInfo, TOKEN_TTL,
    adapt_difficulty,
};
pub use layer::{DEFAULT_PASS_TTL, PowLayer, TokenMode, X_SHIELD_PASS, X_SHIELD_TOKEN};
pub use risk::RISK_THRESHOLD;
pub use service::{PowFuture, PowService};
pub use site::{MemorySiteStore, Mode, Site, SiteStore};
