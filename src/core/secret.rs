//! A wrapper for secret material whose `Debug` never shows it.

use std::fmt;

use crate::core::ct::ct_eq;

/// Secret bytes (API secrets, HMAC keys, passwords).
///
/// `Debug` prints `Secret([REDACTED; n bytes])`, so a secret inside a config
/// struct cannot leak through `{:?}` or a `tracing` field. Equality is constant-time.
/// The memory is overwritten with zeros when dropped (best effort: copies made
/// by the caller before wrapping are not reached).
///
/// ```
/// use tower_shield::core::secret::Secret;
/// let s = Secret::from("als_abcdefghijklmnopqrstuvwxyz1234567890");
/// assert_eq!(format!("{s:?}"), "Secret([REDACTED; 40 bytes])");
/// assert_eq!(s.expose(), b"als_abcdefghijklmnopqrstuvwxyz1234567890");
/// ```
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into().into_boxed_slice())
    }

    /// The secret bytes. Call this only where the bytes are used (keyed hashing, comparison).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} bytes])", self.0.len())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // A volatile write keeps the compiler from dropping the wipe as a dead store.
            // SAFETY-free: `std::ptr::write_volatile` needs unsafe, so use `black_box` instead.
            *b = std::hint::black_box(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_eq_works() {
        let a = Secret::from("hunter2");
        assert!(!format!("{a:?}").contains("hunter2"));
        assert_eq!(a, Secret::from(String::from("hunter2")));
        assert_ne!(a, Secret::from("hunter3"));
        assert_eq!(a.len(), 7);
        assert!(!a.is_empty());
    }
}
