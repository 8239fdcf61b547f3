//! The stores `Shield` hands its layers: memory by default, Redis for a fleet, with no
//! box on the memory path.

use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::core::store::{
    CheckMode, MemoryRateStore, MemorySingleUseStore, RateCheck, RateOutcome, RateStore,
    SingleUseStore, StoreError,
};

/// Rate counters for `Shield`: in this process, or on Redis.
#[derive(Clone, Debug)]
pub enum ShieldRateStore {
    /// The bounded in-memory store.
    Memory(MemoryRateStore),
    /// The Redis store (feature `redis`).
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisStore),
}

/// Single-use keys for `Shield`: in this process, or on Redis.
#[derive(Clone, Debug)]
pub enum ShieldSingleUseStore {
    /// The bounded in-memory store.
    Memory(MemorySingleUseStore),
    /// The Redis store (feature `redis`).
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisStore),
}

/// The future of a `Shield` store: ready at once from memory, boxed from Redis.
pub enum StoreFuture<T> {
    /// Decided in memory.
    Ready(Ready<T>),
    /// Waiting on Redis.
    #[cfg(feature = "redis")]
    Boxed(crate::redis::BoxFuture<T>),
}

impl<T> std::fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreFuture")
    }
}

impl<T> Future for StoreFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Both variants are `Unpin`.
        match self.get_mut() {
            StoreFuture::Ready(r) => Pin::new(r).poll(cx),
            #[cfg(feature = "redis")]
            StoreFuture::Boxed(b) => b.as_mut().poll(cx),
        }
    }
}

impl RateStore for ShieldRateStore {
    type Future = StoreFuture<Result<RateOutcome, StoreError>>;

    fn check(&self, checks: &[RateCheck<'_>], mode: CheckMode) -> Self::Future {
        match self {
            ShieldRateStore::Memory(m) => StoreFuture::Ready(m.check(checks, mode)),
            #[cfg(feature = "redis")]
            ShieldRateStore::Redis(r) => StoreFuture::Boxed(r.check(checks, mode)),
        }
    }

    fn tracked_keys(&self) -> Option<usize> {
        match self {
            ShieldRateStore::Memory(m) => m.tracked_keys(),
            #[cfg(feature = "redis")]
            ShieldRateStore::Redis(r) => RateStore::tracked_keys(r),
        }
    }
}

impl SingleUseStore for ShieldSingleUseStore {
    type Future = StoreFuture<Result<bool, StoreError>>;

    fn insert_if_absent(&self, key: &str, ttl: Duration) -> Self::Future {
        match self {
            ShieldSingleUseStore::Memory(m) => StoreFuture::Ready(m.insert_if_absent(key, ttl)),
            #[cfg(feature = "redis")]
            ShieldSingleUseStore::Redis(r) => StoreFuture::Boxed(r.insert_if_absent(key, ttl)),
        }
    }

    fn tracked_keys(&self) -> Option<usize> {
        match self {
            ShieldSingleUseStore::Memory(m) => m.tracked_keys(),
            #[cfg(feature = "redis")]
            ShieldSingleUseStore::Redis(r) => SingleUseStore::tracked_keys(r),
        }
    }
}
