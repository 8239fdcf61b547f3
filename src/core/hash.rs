//! The hasher of maps whose keys already are uniform hashes or digests (a keyed SipHash
//! digest, a SHA-256 digest): taking the key's bits is the whole hash, with no second
//! hash per lookup.

use std::hash::{BuildHasher, Hasher};

/// Builds [`PassThroughHasher`]s. For keys that hash as one `u64` (its value is the
/// hash) or as a digest's bytes (their first eight bytes are; a slice's length prefix,
/// the same for every key of a fixed-size digest, is skipped).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PassThrough;

/// See [`PassThrough`].
#[derive(Default)]
pub(crate) struct PassThroughHasher(u64);

impl BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = [0u8; 8];
        for (d, b) in h.iter_mut().zip(bytes) {
            *d = *b;
        }
        self.0 ^= u64::from_le_bytes(h);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 ^= i;
    }
    fn write_usize(&mut self, _: usize) {
        // Only ever a length prefix here (`[u8; 32]` hashes its length first). Not for
        // keys that hash a `usize` of their own, or two digests (they would fold together).
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_hash() {
        assert_eq!(PassThrough.hash_one(0xDEAD_BEEF_u64), 0xDEAD_BEEF);
        let digest: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        assert_eq!(
            PassThrough.hash_one(digest),
            u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_ne!(
            PassThrough.hash_one(digest),
            PassThrough.hash_one([0u8; 32])
        );
    }
}
