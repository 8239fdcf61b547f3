//! The bounded cache of verified tokens behind [`JwtLayer::cache_verified`](super::JwtLayer::cache_verified).
//!
//! Keyed by the SHA-256 of the token string; an entry holds the verified claims, the header
//! and the very key (`Arc`) that verified it. The layer takes a hit only while the token is
//! unexpired (`now < exp`, no leeway: the leeway window falls back to full verification)
//! and while the same key is still what the ring or JWKS resolves the header to, so a
//! removed, replaced or ambiguous key is never outlived by its cache entries.
//!
//! Bound: 16 shards (fewer for small capacities), each two generations of at most
//! `capacity / (2 * shards)` entries; when the current generation is full the previous one
//! is dropped whole and the current becomes the previous. A hit in the previous generation
//! moves to the current. So at most `capacity` entries, every operation O(1), and the
//! tokens in use survive while those not seen for a while go. Only tokens that verified
//! enter, so a client without valid tokens cannot fill it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::jwt::{JwtClaims, TokenHeader, VerifyingKey};

/// The largest [`JwtLayer::cache_verified`](super::JwtLayer::cache_verified) capacity.
pub const MAX_VERIFIED_CACHE: usize = 1 << 20;

const MAX_SHARDS: usize = 16;

/// SHA-256 of a token.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// One verified token.
pub(crate) struct Entry {
    pub(crate) header: TokenHeader,
    pub(crate) key: Arc<VerifyingKey>,
    pub(crate) claims: JwtClaims,
}

#[derive(Default)]
struct Shard {
    current: HashMap<TokenDigest, Arc<Entry>>,
    previous: HashMap<TokenDigest, Arc<Entry>>,
}

impl Shard {
    fn put(&mut self, d: TokenDigest, e: Arc<Entry>, per_generation: usize) {
        if self.current.len() >= per_generation && !self.current.contains_key(&d) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(d, e);
    }
}

pub(crate) struct VerifiedCache {
    shards: Box<[Mutex<Shard>]>,
    per_generation: usize,
    capacity: usize,
    hits: AtomicU64,
}

impl VerifiedCache {
    /// `capacity` in `2..=MAX_VERIFIED_CACHE` (checked by the builder).
    pub(crate) fn new(capacity: usize) -> Self {
        let shards = (capacity / 64).clamp(1, MAX_SHARDS);
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            per_generation: (capacity / (2 * shards)).max(1),
            capacity,
            hits: AtomicU64::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn shard(&self, d: &TokenDigest) -> std::sync::MutexGuard<'_, Shard> {
        let i = usize::from(d[0]) % self.shards.len();
        // A panic while holding the lock leaves a consistent map (insert/take only).
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `d` if it is still within its times at `now` (`nbf` with `leeway`,
    /// strictly before `exp`); an expired one is dropped.
    pub(crate) fn get(&self, d: &TokenDigest, now: u64, leeway: u64) -> Option<Arc<Entry>> {
        let mut s = self.shard(d);
        let e = match s.current.get(d) {
            Some(e) => e.clone(),
            None => {
                let e = s.previous.remove(d)?;
                s.put(*d, e.clone(), self.per_generation);
                e
            }
        };
        let c = &e.claims;
        if now >= c.exp {
            s.current.remove(d);
            return None;
        }
        if c.nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return None;
        }
        Some(e)
    }

    /// Counts an entry the layer used.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets `d` (its key is gone or changed).
    pub(crate) fn remove(&self, d: &TokenDigest) {
        let mut s = self.shard(d);
        s.current.remove(d);
        s.previous.remove(d);
    }

    pub(crate) fn insert(&self, d: TokenDigest, e: Entry) {
        self.shard(&d).put(d, Arc::new(e), self.per_generation);
    }

    /// Entries used so far (tests, and the layer's `Debug`).
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                s.current.len() + s.previous.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::JwtAlgorithm;

    fn entry(exp: u64) -> Entry {
        let key = Arc::new(
            VerifyingKey::hs256(
                "k",
                &crate::core::Secret::from("0123456789abcdef0123456789abcdef"),
            )
            .unwrap(),
        );
        Entry {
            header: TokenHeader {
                alg: JwtAlgorithm::HS256,
                kid: Some("k".into()),
            },
            key,
            claims: JwtClaims {
                sub: None,
                iss: None,
                aud: Arc::new([]),
                exp,
                nbf: None,
                iat: None,
                jti: None,
                scopes: Arc::new([]),
                kid: "k".into(),
                alg: JwtAlgorithm::HS256,
                raw: Arc::default(),
            },
        }
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        for cap in [2, 3, 31, 64, 100, 1000, 4096] {
            let c = VerifiedCache::new(cap);
            for i in 0..(cap * 5) {
                c.insert(digest(&i.to_string()), entry(100));
                assert!(c.len() <= cap, "capacity {cap}: {} entries", c.len());
            }
        }
    }

    #[test]
    fn recently_used_tokens_survive_a_generation_turn() {
        let c = VerifiedCache::new(64);
        let hot = digest("hot");
        c.insert(hot, entry(100));
        for i in 0..10_000 {
            c.insert(digest(&i.to_string()), entry(100));
            if i % 8 == 0 {
                assert!(c.get(&hot, 0, 0).is_some(), "lost after {i}");
            }
        }
    }

    #[test]
    fn entries_end_at_exp_and_wait_for_nbf() {
        let c = VerifiedCache::new(16);
        let d = digest("t");
        c.insert(d, entry(100));
        assert!(c.get(&d, 99, 0).is_some());
        assert!(c.get(&d, 100, 60).is_none(), "no leeway past exp");
        assert!(c.get(&d, 50, 0).is_none(), "dropped once expired");
        let mut e = entry(100);
        e.claims.nbf = Some(50);
        c.insert(d, e);
        assert!(c.get(&d, 10, 0).is_none(), "a clock set back before nbf");
        assert!(c.get(&d, 45, 5).is_some());
        c.remove(&d);
        assert!(c.get(&d, 45, 5).is_none());
    }
}
