//! Storage for the stateful layers: rate counters and single-use keys.
//!
//! Two small traits carry all shared state:
//!
//! * [`RateStore`]: atomically check and update the GCRA arrival times of several
//!   policies at once, all-then-commit (a denial by any policy charges none);
//! * [`SingleUseStore`]: insert a key if absent, with a time to live (proof-of-work
//!   tokens, signature replay).
//!
//! Each returns a named future type, so the memory stores answer with
//! [`std::future::Ready`] (no box, no allocation) while a networked store (Redis)
//! returns a boxed future that owns its connection.
//!
//! The memory implementations ([`MemoryRateStore`], [`MemorySingleUseStore`]) are
//! sharded ([`dashmap`]) and hold at most a configured number of keys; what happens
//! when that bound is reached is explicit ([`OnFull`]).
//!
//! # Memory pressure and coarser keys
//!
//! A full table must not lock new clients out. A rate store may report, through
//! [`RateStore::coarsening`], that it is under memory pressure; the rate limiter then
//! offers, with each check, the same subject's key at a coarser network prefix
//! ([`RateStore::check_coarsened`]: IPv4 /24, IPv6 /48, then wider). The store counts a
//! subject it already tracks under its own key, and a subject it does not under the
//! coarser one, so under a flood new clients are limited together by network instead of
//! refused together. Coarsening is a memory-store concern: the default
//! [`MemoryRateStore`] ([`OnFull::Coarsen`]) does it; stores with their own memory policy
//! (Redis: `maxmemory` and key expiry) keep the defaults, which never coarsen.

mod memory;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use memory::{MemoryRateStore, MemorySingleUseStore, MemoryStoreBuilder, OnFull, Sweeper};

use crate::core::quota::{Gcra, GcraOutcome};

/// The most policies one [`RateStore::check`] may carry.
pub const MAX_POLICIES: usize = 8;

/// One policy to check for one request.
#[derive(Clone, Copy, Debug)]
pub struct RateCheck<'a> {
    /// The counter's key, e.g. `"api:ip:203.0.113.7"`. Stores may hash it.
    pub key: &'a str,
    /// The policy's parameters.
    pub gcra: Gcra,
    /// The request's weight (usually 1).
    pub cost: u32,
}

/// Whether a check charges the counters or only looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckMode {
    /// Charge every policy when all allow.
    Charge,
    /// Decide as `Charge` would, but change nothing.
    Peek,
}

/// What a [`RateStore::check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateOutcome {
    /// The store's clock at the decision, nanoseconds since the Unix epoch.
    pub now_ns: u64,
    /// One outcome per check, in the order given. `remaining` counts what is left
    /// after this request (for a peek: after one more request of the given cost).
    pub results: smallvec::SmallVec<[GcraOutcome; 2]>,
    /// `true` when at least one check was counted under its coarser key (see
    /// [`RateStore::check_coarsened`]); always `false` from [`RateStore::check`].
    pub coarsened: bool,
}

impl RateOutcome {
    /// `true` when every policy allowed.
    #[inline]
    pub fn allowed(&self) -> bool {
        self.results.iter().all(|r| r.allowed)
    }
}

/// Why a store could not answer.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A memory store is at its key bound and cannot admit this key (its policy is to
    /// refuse new keys, or the key has no coarser form to share).
    Full,
    /// The call took longer than the store's timeout.
    Timeout,
    /// The backend is unreachable or answered with an error.
    Unavailable(Cow<'static, str>),
    /// The call itself is invalid (e.g. more than [`MAX_POLICIES`] policies).
    Invalid(Cow<'static, str>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("store is full"),
            Self::Timeout => f.write_str("store timed out"),
            Self::Unavailable(why) => write!(f, "store unavailable: {why}"),
            Self::Invalid(why) => write!(f, "invalid store call: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Atomic GCRA counters.
pub trait RateStore: Send + Sync + 'static {
    /// The future [`RateStore::check`] returns; it owns what it needs.
    type Future: Future<Output = Result<RateOutcome, StoreError>> + Send + 'static;

    /// Checks all `checks` at the store's current time; in [`CheckMode::Charge`],
    /// commits every new arrival time if and only if all allow.
    fn check(&self, checks: &[RateCheck<'_>], mode: CheckMode) -> Self::Future;

    /// How many keys the store tracks now, when it knows cheaply (for metrics).
    fn tracked_keys(&self) -> Option<usize> {
        None
    }

    /// How many steps coarser new subjects should be tracked at now: 0 (the default) when
    /// the store has room, 1 to [`MAX_COARSENING`] as its key table fills. Called once per
    /// request, so it must be cheap (a memory store reads one counter; below its pressure
    /// mark it answers 0 without any other work).
    fn coarsening(&self) -> u8 {
        0
    }

    /// As [`RateStore::check`], with an optional coarser key for each check
    /// (`coarse[i]` for `checks[i]`; missing entries mean none). A store that tracks
    /// `checks[i].key` decides on it; one that does not may decide on `coarse[i]` instead,
    /// and says so in [`RateOutcome::coarsened`]. The default ignores `coarse`.
    fn check_coarsened(
        &self,
        checks: &[RateCheck<'_>],
        coarse: &[Option<&str>],
        mode: CheckMode,
    ) -> Self::Future {
        let _ = coarse;
        self.check(checks, mode)
    }
}

/// The most steps [`RateStore::coarsening`] answers (IPv4 /24, /16, /8; IPv6 /48, /32, /16).
pub const MAX_COARSENING: u8 = 3;

impl<T: RateStore + ?Sized> RateStore for Arc<T> {
    type Future = T::Future;

    fn check(&self, checks: &[RateCheck<'_>], mode: CheckMode) -> Self::Future {
        (**self).check(checks, mode)
    }

    fn tracked_keys(&self) -> Option<usize> {
        (**self).tracked_keys()
    }

    fn coarsening(&self) -> u8 {
        (**self).coarsening()
    }

    fn check_coarsened(
        &self,
        checks: &[RateCheck<'_>],
        coarse: &[Option<&str>],
        mode: CheckMode,
    ) -> Self::Future {
        (**self).check_coarsened(checks, coarse, mode)
    }
}

/// A set of keys each usable once within a time to live.
pub trait SingleUseStore: Send + Sync + 'static {
    /// The future [`SingleUseStore::insert_if_absent`] returns.
    type Future: Future<Output = Result<bool, StoreError>> + Send + 'static;

    /// Inserts `key` unless it is present and unexpired. `Ok(true)` means this call
    /// was the first use; `Ok(false)` means the key was already used.
    fn insert_if_absent(&self, key: &str, ttl: Duration) -> Self::Future;

    /// How many keys the store tracks now, when it knows cheaply.
    fn tracked_keys(&self) -> Option<usize> {
        None
    }
}

impl<T: SingleUseStore + ?Sized> SingleUseStore for Arc<T> {
    type Future = T::Future;

    fn insert_if_absent(&self, key: &str, ttl: Duration) -> Self::Future {
        (**self).insert_if_absent(key, ttl)
    }

    fn tracked_keys(&self) -> Option<usize> {
        (**self).tracked_keys()
    }
}
