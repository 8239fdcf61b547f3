//! Where signing keys come from: the [`KeyStore`] trait, a static in-memory store,
//! and a bounded cache of derived keys per (key id, date).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};

use crate::core::hash::PassThrough;
use std::sync::Arc;

use dashmap::DashMap;

use super::canonical::{Dialect, MAX_TOKEN_LEN};
use super::sign::SigningKey;
use crate::core::error::ConfigError;
use crate::core::secret::Secret;

/// Maps a key id to its secret, or a key id and a date to a derived signing key.
///
/// Implement [`KeyStore::secret`] when the store holds raw secrets (the default
/// [`KeyStore::signing_key`] derives from it), or implement
/// [`KeyStore::signing_key`] alone when it only holds keys derived elsewhere (for
/// example pushed daily by a secrets manager), so the raw secret never lives in this
/// process. Lookups are synchronous and must be cheap; the verifier caches derived
/// keys in a [`KeyCache`], so a store is asked about once per key per day.
///
/// Answer `None` for an unknown key: the verifier then completes the full
/// computation with a decoy key, so an unknown key and a wrong signature get the
/// same answer in about the same time.
pub trait KeyStore: Send + Sync + 'static {
    /// The raw secret of `key_id`.
    fn secret(&self, key_id: &str) -> Option<&Secret> {
        let _ = key_id;
        None
    }

    /// The signing key of `key_id` for `date` (`YYYYMMDD`) under `dialect`.
    fn signing_key(&self, key_id: &str, date: &str, dialect: &Dialect) -> Option<SigningKey> {
        self.secret(key_id)
            .map(|s| SigningKey::derive(s, date, dialect))
    }
}

impl<T: KeyStore + ?Sized> KeyStore for Arc<T> {
    fn secret(&self, key_id: &str) -> Option<&Secret> {
        (**self).secret(key_id)
    }

    fn signing_key(&self, key_id: &str, date: &str, dialect: &Dialect) -> Option<SigningKey> {
        (**self).signing_key(key_id, date, dialect)
    }
}

impl<T: KeyStore + ?Sized> KeyStore for Box<T> {
    fn secret(&self, key_id: &str) -> Option<&Secret> {
        (**self).secret(key_id)
    }

    fn signing_key(&self, key_id: &str, date: &str, dialect: &Dialect) -> Option<SigningKey> {
        (**self).signing_key(key_id, date, dialect)
    }
}

/// A fixed set of key ids and secrets, held in memory.
///
/// ```
/// use tower_shield::signature::{KeyStore, StaticKeys};
/// let keys = StaticKeys::new().key("alk_1234567890abcdef", "als_abcdefghijklmnopqrstuvwxyz1234567890").unwrap();
/// assert!(keys.secret("alk_1234567890abcdef").is_some());
/// assert!(keys.secret("alk_unknown").is_none());
/// assert!(StaticKeys::new().key("has/slash", "s").is_err());
/// ```
#[derive(Clone, Default)]
pub struct StaticKeys {
    keys: HashMap<Box<str>, Secret>,
}

impl StaticKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `key_id` with `secret`. A key id is 1..=128 bytes of visible
    /// ASCII without `/`, `,`, `=` or `;`; a secret is not empty.
    pub fn key(mut self, key_id: &str, secret: impl Into<Secret>) -> Result<Self, ConfigError> {
        if !valid_key_id(key_id.as_bytes()) {
            return Err(ConfigError::new(
                "key_id",
                "must be 1..=128 visible ASCII bytes without '/', ',', '=' or ';'",
            ));
        }
        let secret = secret.into();
        if secret.is_empty() {
            return Err(ConfigError::new("secret", "must not be empty"));
        }
        self.keys.insert(key_id.into(), secret);
        Ok(self)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyStore for StaticKeys {
    fn secret(&self, key_id: &str) -> Option<&Secret> {
        self.keys.get(key_id)
    }
}

impl fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeys")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `true` for a key id the parser can accept.
pub(crate) fn valid_key_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TOKEN_LEN
        && id
            .iter()
            .fold(true, |ok, &b| ok & KEY_ID_BYTE[usize::from(b)])
}

/// The bytes a key id may hold: visible ASCII but `/`, `,`, `=` and `;`.
static KEY_ID_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_graphic() && !matches!(b, b'/' | b',' | b'=' | b';');
        i += 1;
    }
    t
};

/// The default bound of a [`KeyCache`].
pub const DEFAULT_KEY_CACHE_ENTRIES: usize = 4096;

struct Entry {
    key_id: Arc<str>,
    date: [u8; 8],
    key: SigningKey,
}

/// A bounded cache of derived signing keys per (key id, date).
///
/// Only keys the store knows are cached (never a miss), and the verifier asks only
/// for dates within its time window, so the cache holds at most about two entries
/// per active key. It is also hard-bounded: when it reaches `max_entries` it drops
/// every entry for another date than the one being inserted, and if that is not
/// enough, everything. Deriving a key costs four HMACs (about a microsecond).
pub struct KeyCache {
    /// Keyed by the (key id, date) hash of `hasher`, whose entries are checked.
    map: DashMap<u64, Entry, PassThrough>,
    hasher: RandomState,
    max_entries: usize,
    /// Bumped by [`KeyCache::clear`]: a key derived before a clear (from a secret that
    /// may have been rotated since) is returned to its caller but not cached.
    generation: std::sync::atomic::AtomicU64,
}

impl KeyCache {
    /// A cache of at most `max_entries` keys (0 disables caching).
    pub fn new(max_entries: usize) -> Self {
        Self {
            map: DashMap::with_hasher(PassThrough),
            hasher: RandomState::new(),
            max_entries,
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The cached key, else the store's (cached when found).
    pub fn get_or_derive(
        &self,
        store: &dyn KeyStore,
        key_id: &str,
        date: &str,
        dialect: &Dialect,
    ) -> Option<SigningKey> {
        self.lookup(store, key_id, date, dialect).map(|(k, _)| k)
    }

    /// Like [`KeyCache::get_or_derive`], with the key id as a shared string (no
    /// allocation on a hit).
    pub(crate) fn lookup(
        &self,
        store: &dyn KeyStore,
        key_id: &str,
        date: &str,
        dialect: &Dialect,
    ) -> Option<(SigningKey, Arc<str>)> {
        let Ok(date8) = <[u8; 8]>::try_from(date.as_bytes()) else {
            return store
                .signing_key(key_id, date, dialect)
                .map(|k| (k, Arc::from(key_id)));
        };
        if self.max_entries == 0 {
            return store
                .signing_key(key_id, date, dialect)
                .map(|k| (k, Arc::from(key_id)));
        }
        // The key id and the 8-byte date, one after the other: unambiguous.
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key_id.as_bytes());
        hasher.write(&date8);
        let h = hasher.finish();
        if let Some(e) = self.map.get(&h)
            && &*e.key_id == key_id
            && e.date == date8
        {
            return Some((e.key.clone(), e.key_id.clone()));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let key = store.signing_key(key_id, date, dialect)?;
        let id: Arc<str> = Arc::from(key_id);
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            return Some((key, id));
        }
        if self.map.len() >= self.max_entries {
            self.map.retain(|_, e| e.date == date8);
            if self.map.len() >= self.max_entries {
                self.map.clear();
            }
        }
        self.map.insert(
            h,
            Entry {
                key_id: id.clone(),
                date: date8,
                key: key.clone(),
            },
        );
        // A clear that ran meanwhile may have missed this entry: take it out again.
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            self.map.remove(&h);
        }
        Some((key, id))
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when none are.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops every cached key (call after rotating a secret).
    pub fn clear(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.map.clear();
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("entries", &self.map.len())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting(StaticKeys, AtomicUsize);

    impl KeyStore for Counting {
        fn signing_key(&self, key_id: &str, date: &str, dialect: &Dialect) -> Option<SigningKey> {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.signing_key(key_id, date, dialect)
        }
    }

    #[test]
    fn cache_derives_once_per_key_and_date_and_stays_bounded() {
        let store = Counting(
            StaticKeys::new()
                .key("a", "s")
                .unwrap()
                .key("b", "t")
                .unwrap(),
            AtomicUsize::new(0),
        );
        let cache = KeyCache::new(2);
        let d = Dialect::verus();
        let k1 = cache.get_or_derive(&store, "a", "20250115", &d).unwrap();
        let k2 = cache.get_or_derive(&store, "a", "20250115", &d).unwrap();
        assert_eq!(k1.sign(b"x"), k2.sign(b"x"));
        assert_eq!(store.1.load(Ordering::Relaxed), 1);
        assert!(
            cache
                .get_or_derive(&store, "nope", "20250115", &d)
                .is_none()
        );
        assert_eq!(cache.len(), 1, "misses are not cached");
        cache.get_or_derive(&store, "b", "20250115", &d).unwrap();
        cache.get_or_derive(&store, "a", "20250116", &d).unwrap();
        assert!(cache.len() <= 2);
        // a different date gives a different key
        let k3 = cache.get_or_derive(&store, "a", "20250116", &d).unwrap();
        assert_ne!(k1.sign(b"x"), k3.sign(b"x"));
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(valid_key_id(b"alk_1234567890abcdef"));
        assert!(!valid_key_id(b""));
        assert!(!valid_key_id(b"a b"));
        assert!(!valid_key_id(b"a/b"));
        assert!(!valid_key_id(&[b'a'; 129]));
        assert!(StaticKeys::new().key("a", "").is_err());
        let k = StaticKeys::new().key("a", "secret").unwrap();
        assert!(!format!("{k:?}").contains("secret\""));
    }
}
