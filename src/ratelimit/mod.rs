//! Rate limiting with GCRA quotas (feature `ratelimit`).
//!
//! [`RateLimitLayer`] counts each request against one or more named [`Policy`]s and
//! answers 429 `RATE_LIMITED` (the shared JSON error body, with `Retry-After`) past any
//! of them. Quotas read the way they are written: `Quota::per_hour(1000)` is a thousand
//! requests an hour, `Quota::per_second(20).burst(40)` twenty a second with up to forty
//! at once. Time is integer nanoseconds; each key costs one arrival time in the store.
//!
//! # Keys
//!
//! By default a client is its [`ClientIp::rate_key`](crate::core::ClientIp::rate_key)
//! as `ClientIpLayer` decided it: the address for IPv4, the /64 for IPv6, so one
//! subscriber cannot rotate through its 2^64 addresses. **Without `ClientIpLayer` in
//! front, the socket peer address is used** (axum's `ConnectInfo<SocketAddr>` or a
//! [`PeerAddr`](crate::core::PeerAddr) extension), aggregated the same way; with neither
//! the layer answers 500 `SERVER_MISCONFIGURED` instead of counting everyone in one
//! bucket. Other keys: the authenticated [`Principal`](crate::core::Principal)'s id
//! ([`Key::Principal`]), one global counter ([`Key::Global`]), any of these per route
//! pattern on chosen routes ([`Policy::routes`], e.g. `/login`), or your closure
//! ([`Key::custom`]). A principal that carries its own `quotas` (an API key's plan) is
//! limited by those instead of the layer's policies.
//!
//! Several policies (say 10/s burst 20 *and* 1000/hour) are checked all-then-commit: a
//! request denied by one is charged to none, so a client hammering the short limit does
//! not drain its hourly quota with refused requests. [`RateLimitLayer::peek`] checks a
//! request the same way without charging it.
//!
//! # Headers
//!
//! By default the IETF draft fields (draft-ietf-httpapi-ratelimit-headers, the
//! `RateLimit-Policy` / `RateLimit` form of drafts 08 and later); the legacy
//! `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds, as
//! the 602TechSec API sends them) by [`HeaderMode::Legacy`]. A 429 always carries
//! `Retry-After`: whole seconds, rounded up, at least 1, never earlier than the moment
//! the request would be admitted. The [`headers`] module has the exact semantics.
//!
//! # Storage and bounds
//!
//! Counters live behind the [`RateStore`](crate::core::store::RateStore) trait. The
//! default [`MemoryRateStore`](crate::core::store::MemoryRateStore) is sharded and never
//! tracks more than a million keys (about 22 to 40 bytes each). A full table does not
//! lock new clients out:
//!
//! 1. from 7/8 of the bound it first drops the entries that hold no information (their
//!    arrival time has passed; also on a timer with
//!    [`MemoryRateStore::spawn_sweeper`](crate::core::store::MemoryRateStore::spawn_sweeper));
//! 2. if still above 7/8, a client it does not track yet is counted under a coarser
//!    network ([`coarser`]): IPv4 /24 or IPv6 /48, then /16 and /32 from 15/16, then /8
//!    and /16 from 31/32. New clients of one network are limited together instead of
//!    refused together; clients already tracked keep their own counters. The request
//!    carries a [`Coarsened`] mark (the handler can read it) and the decision is counted
//!    (`tower_shield_rate_coarsened_total`);
//! 3. at the bound itself a coarse key the table lacks takes the room of the sampled
//!    entry closest to expiry; keys with no network ([`Key::Principal`], [`Key::custom`])
//!    are refused there, and the layer answers 503 ([`OnStoreFull::Reject`]) or hands the
//!    client to proof of work ([`OnStoreFull::Challenge`]).
//!
//! A store built with `OnFull::RefuseNew` refuses every new key at the bound (the older
//! behaviour: new clients get 503 until keys expire), one with `OnFull::EvictOldest`
//! evicts instead. Coarsening is the memory store's memory policy: the Redis store has
//! its own (`maxmemory`, key expiry) and never coarsens. A store that fails (Redis down)
//! fails closed by default ([`OnStoreError`]). The key count is exposed for metrics
//! ([`RateLimitLayer::metrics`]).
//!
//! Also: response-based charging ([`RateLimitLayer::count_only`], e.g. only 401s count
//! against a login quota), dry run ([`RateLimitLayer::dry_run`]) and an allow-list of
//! principals and networks ([`RateLimitLayer::allow_keys`], [`RateLimitLayer::allow_cidrs`]).
//!
//! # Threat model and caveats
//!
//! * The limiter is only as good as its key. Behind a proxy, put `ClientIpLayer` with
//!   your proxies as trusted in front; otherwise every client shares the proxy's bucket.
//!   Never key on a raw `X-Forwarded-For` from a [`Key::custom`] closure.
//! * An attacker with many addresses (a botnet, an IPv6 block wider than the
//!   aggregation prefix) gets many buckets: per-client limits slow single sources, a
//!   [`Key::Global`] policy caps the total.
//! * A flood of fresh keys cannot grow memory past the store's bound, cannot evict or
//!   share the counter of a client tracked before it, and cannot lock new clients out:
//!   measured by `scripts/flood_probe.sh`, a fresh client is served at once during and
//!   after a flood of 1.05 x the bound (BENCHMARKS.md). The price is shared counters
//!   while the table is under pressure: a new client shares its /24 (IPv6 /48), or wider,
//!   with the other new clients there, so a flood from its own network can hold it to
//!   that network's quota, at worst for one quota period after the pressure ends. At
//!   the bound, a flood spread over many /8s (IPv6 /16s) can evict entries close to
//!   expiry to make room for their coarse keys.
//! * The memory store is per process: N instances behind a load balancer admit N times
//!   the quota. Use the Redis store for a fleet.
//! * Response-based charging checks before and charges after, so concurrent requests
//!   from one client can exceed the quota by the client's concurrency.
//! * Dry run and [`OnStoreError::FailOpen`] admit everything; they are for rollout and
//!   availability, not protection.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_shield::core::{PeerAddr, Quota};
//! use tower_shield::ratelimit::RateLimitLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(RateLimitLayer::new(Quota::per_minute(2)))
//!     .service(service_fn(|_req: Request<()>| async { Ok::<_, Infallible>(Response::new(axum::body::Body::from("ok"))) }));
//!
//! let req = || {
//!     let mut r = Request::get("/").body(()).unwrap();
//!     r.extensions_mut().insert(PeerAddr("203.0.113.7:5000".parse().unwrap()));
//!     r
//! };
//! let res = svc.clone().oneshot(req()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.headers()["ratelimit-policy"], r#""default";q=2;w=60"#);
//! assert_eq!(res.headers()["ratelimit"], r#""default";r=1;t=30"#);
//! assert_eq!(svc.clone().oneshot(req()).await.unwrap().status(), StatusCode::OK);
//!
//! // The third request within the minute: 429, with the wait until one more fits.
//! let res = svc.clone().oneshot(req()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
//! let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
//! assert!((29..=30).contains(&retry));
//! # }
//! ```

mod future;
pub mod headers;
mod key;
mod layer;
mod service;

pub use future::RateLimitFuture;
pub use headers::HeaderMode;
pub use key::{
    Key, MAX_CUSTOM_KEY_LEN, MAX_NAME_LEN, MAX_ROUTE_LEN, MAX_ROUTES, Policy, RequestParts, coarser,
};
pub use layer::{
    Coarsened, DryRunLimited, MAX_ALLOW_CIDRS, MAX_ALLOW_KEYS, OnStoreError, OnStoreFull,
    PolicyStatus, RateLimitLayer, RateLimitMetrics, RateLimitStatus,
};
pub use service::RateLimitService;
