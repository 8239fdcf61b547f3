//! Bounded memos: verdicts keyed by client network, user-agent hash and header
//! findings, and user-agent findings keyed by the agent and the header presence bits.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use crate::core::hash::PassThrough;
use crate::core::verdict::Verdict;

use super::score::RequestSignals;

/// What a verdict is cached under: the IPv4 address or the IPv6 /64, the table record
/// of the exact address (so a listed address narrower than /64, a single Tor exit, never
/// shares its neighbours' entry), the header-consistency bits, and one keyed hash of all
/// of these and the user agent (which stands for the user agent in comparisons: two
/// agents collide only by chance, as with any keyed 64-bit digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CacheKey {
    net: u128,
    v6: bool,
    rec: u32,
    hdr: u8,
    hash: u64,
}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // `hash` is a function of every other field: equal keys hash alike.
        state.write_u64(self.hash);
    }
}

/// At most `capacity` values (about: `quick_cache`'s S3-FIFO admission and eviction, in
/// shards) under keys that hash as their own keyed-hash field ([`CacheKey`], [`UaKey`]), so
/// the cache hashes nothing again. Entries from an older table generation are misses.
pub(crate) struct Memo<K, V> {
    cache: quick_cache::sync::Cache<K, (u64, V), quick_cache::UnitWeighter, PassThrough>,
    hasher: std::collections::hash_map::RandomState,
}

impl<K: Eq + std::hash::Hash, V: Clone> std::fmt::Debug for Memo<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("capacity", &self.cache.capacity())
            .finish_non_exhaustive()
    }
}

/// Verdicts by client network, table record, header bits and user agent.
pub(crate) type VerdictCache = Memo<CacheKey, Verdict>;

/// What a user agent and the presence bits of the headers scored beside it say (the
/// pattern match and the header-consistency findings), whatever the address: a new
/// address with a known agent costs a table lookup and a score, not a pattern match.
pub(crate) type UaMemo = Memo<UaKey, RequestSignals>;

/// A [`UaMemo`] key: the presence bits, whether there is an agent, its length, and one
/// keyed hash of the three and the agent's bytes (which stands for the agent, as in
/// [`CacheKey`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UaKey {
    hdr: u8,
    some: bool,
    len: usize,
    hash: u64,
}

impl std::hash::Hash for UaKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<K: Eq + std::hash::Hash, V: Clone> Memo<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            cache: quick_cache::sync::Cache::with(
                capacity,
                capacity as u64,
                quick_cache::UnitWeighter,
                PassThrough,
                Default::default(),
            ),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub(crate) fn get(&self, key: &K, generation: u64) -> Option<V> {
        match self.cache.get(key) {
            Some((g, v)) if g == generation => Some(v),
            _ => None,
        }
    }

    pub(crate) fn insert(&self, key: K, generation: u64, value: V) {
        self.cache.insert(key, (generation, value));
    }

    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.cache.capacity() as usize
    }
}

impl VerdictCache {
    /// The [`UaMemo`] key of an agent and presence bits: one keyed SipHash pass over the
    /// agent's bytes, which [`VerdictCache::key_for`] reuses (the agent is hashed once
    /// per request, not once per map).
    pub(crate) fn ua_key(&self, ua: Option<&[u8]>, hdr: u8) -> UaKey {
        let bytes = ua.unwrap_or_default();
        let mut fixed = [0u8; 16];
        fixed[0] = hdr;
        fixed[1] = u8::from(ua.is_some());
        fixed[8..].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        let mut h = self.hasher.build_hasher();
        h.write(&fixed);
        h.write(bytes);
        UaKey {
            hdr,
            some: ua.is_some(),
            len: bytes.len(),
            hash: h.finish(),
        }
    }

    /// The verdict key for a request from `ip` (table record `rec`) whose agent and
    /// presence bits are `ua`. Keyed again (attacker-chosen addresses and agents cannot
    /// aim at one bucket without the per-cache key) over one 32-byte block.
    pub(crate) fn key_for(&self, ip: IpAddr, rec: u32, ua: &UaKey) -> CacheKey {
        let (net, v6) = match crate::core::ext::unmap(ip) {
            IpAddr::V4(a) => (u128::from(u32::from(a)), false),
            IpAddr::V6(a) => (u128::from(a) & !u128::from(u64::MAX), true),
        };
        let mut fixed = [0u8; 32];
        fixed[..16].copy_from_slice(&net.to_le_bytes());
        fixed[16..20].copy_from_slice(&rec.to_le_bytes());
        fixed[20] = u8::from(v6);
        fixed[24..].copy_from_slice(&ua.hash.to_le_bytes());
        let mut h = self.hasher.build_hasher();
        h.write(&fixed);
        CacheKey {
            net,
            v6,
            rec,
            hdr: ua.hdr,
            hash: h.finish(),
        }
    }

    /// [`VerdictCache::key_for`] from the agent's bytes.
    #[cfg(test)]
    pub(crate) fn key(&self, ip: IpAddr, rec: u32, ua: Option<&[u8]>, hdr: u8) -> CacheKey {
        self.key_for(ip, rec, &self.ua_key(ua, hdr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::score::{Policy, score};

    #[test]
    fn bounded_and_keyed_by_v6_64() {
        let c = VerdictCache::new(64);
        let v = score(None, None, &Policy::default());
        for i in 0..10_000u32 {
            let k = c.key(IpAddr::V4(i.into()), 0, Some(b"ua"), 0);
            c.insert(k, 1, v.clone());
        }
        assert!(c.len() <= c.capacity());
        let a = c.key("2001:db8::1".parse().unwrap(), 0, None, 0);
        let b = c.key("2001:db8::ffff:1".parse().unwrap(), 0, None, 0);
        let d = c.key("2001:db8:0:1::1".parse().unwrap(), 0, None, 0);
        assert_eq!(a, b);
        assert_ne!(a, d);
        c.insert(a, 7, v.clone());
        assert!(c.get(&b, 7).is_some());
        assert!(c.get(&b, 8).is_none(), "older generation is a miss");
        assert_ne!(
            c.key("1.2.3.4".parse().unwrap(), 0, Some(b"x"), 0),
            c.key("1.2.3.4".parse().unwrap(), 0, Some(b"y"), 0)
        );
        // No agent and an empty agent, and each field, make different keys.
        let ip = "1.2.3.4".parse().unwrap();
        let base = c.key(ip, 0, Some(b"ua"), 0);
        for other in [
            c.key(ip, 0, None, 0),
            c.key(ip, 0, Some(b""), 0),
            c.key(ip, 1, Some(b"ua"), 0),
            c.key(ip, 0, Some(b"ua"), 1),
            c.key("1.2.3.5".parse().unwrap(), 0, Some(b"ua"), 0),
            c.key("::1.2.3.4".parse().unwrap(), 0, Some(b"ua"), 0),
        ] {
            assert_ne!(base.hash, other.hash);
        }
        assert_ne!(c.key(ip, 0, None, 0).hash, c.key(ip, 0, Some(b""), 0).hash);
        assert_eq!(
            base,
            c.key(ip, 0, Some(b"ua"), 0),
            "the same input, the same key"
        );
    }
}
