//! Redis implementations of the [`core::store`](crate::core::store) traits (feature `redis`).
//!
//! When an app runs on several machines, each must enforce **one** quota per key and
//! redeem each token **once**. [`RedisStore`] implements both
//! [`RateStore`](crate::core::store::RateStore) and
//! [`SingleUseStore`](crate::core::store::SingleUseStore), so any layer that takes a
//! store takes it in place of the memory stores, with no other change.
//!
//! # Failure
//!
//! Redis is a network service: it can be down, slow or unreachable. Every call is
//! bounded by a timeout (default 5 ms). Consecutive failures open a circuit breaker that
//! stops calling Redis for a cool-down, then lets one probe through. While Redis cannot
//! answer, the [`FailurePolicy`] decides: fail open, fail closed, or fall back to a
//! per-instance memory store at `1/instances` of each quota (the default, with
//! `instances = 1`). That policy is for rate counters only: single-use keys
//! (proof-of-work tokens and challenges, signature replay marks) **fail closed under
//! every policy**, so a token is never accepted while its mark cannot be written
//! fleet-wide (the layers answer 503 until Redis answers). [`RedisStore::stats`] counts
//! errors, timeouts, fallbacks and breaker skips, and state changes are logged through
//! `tracing`.
//!
//! # Caveats
//!
//! * With `LocalFallback`, a fleet that loses Redis enforces its quotas per instance
//!   (divide by `instances`); proof-of-work validation and signed requests with replay
//!   protection are refused (503) until Redis returns.
//! * Time comes from Redis (`TIME`), at microsecond resolution, so instance clocks do not
//!   matter for rate limits. Single-use expiry is Redis's `PX`.
//! * No TLS (`rediss://`) is compiled in. Keep Redis on a private network.
//!
//! # Example
//!
//! ```no_run
//! use tower_shield::core::quota::Quota;
//! use tower_shield::core::store::{CheckMode, RateCheck, RateStore};
//! use tower_shield::redis::{FailurePolicy, RedisStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::builder("redis://127.0.0.1:6379")
//!     .prefix("myapp")
//!     .failure_policy(FailurePolicy::LocalFallback { instances: 4 })
//!     .connect()
//!     .await?;
//! let check = [RateCheck { key: "ip:203.0.113.7", gcra: Quota::per_second(10).gcra(), cost: 1 }];
//! let outcome = store.check(&check, CheckMode::Charge).await?;
//! assert!(outcome.allowed());
//! # Ok(()) }
//! ```

mod breaker;
mod store;

pub use store::{BoxFuture, FailurePolicy, RedisStats, RedisStore, RedisStoreBuilder};
