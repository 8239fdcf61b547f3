//! Constant-time comparison for secrets, signatures and tokens.
//!
//! Compare anything an attacker may be guessing with these functions, never with `==`:
//! `==` on slices returns at the first differing byte and leaks how much of a guess was right.

use subtle::ConstantTimeEq;

/// `true` when `a` and `b` are equal, in time that depends only on their lengths.
///
/// A length mismatch returns `false` at once: lengths of MACs, hashes and tokens
/// are public. The bytes are compared eight at a time: the words' differences are OR-ed
/// together without a branch, and the one comparison left is `subtle`'s (a 32-byte digest
/// is four XORs, not 32 `subtle` steps).
///
/// ```
/// use tower_shield::core::ct::ct_eq;
/// assert!(ct_eq(b"secret", b"secret"));
/// assert!(!ct_eq(b"secret", b"secreT"));
/// assert!(!ct_eq(b"secret", b"secret!"));
/// ```
#[inline]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or_default());
    let (mut wa, mut wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut diff = (&mut wa)
        .zip(&mut wb)
        .fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    for (x, y) in wa.remainder().iter().zip(wb.remainder()) {
        diff |= u64::from(x ^ y);
    }
    diff.ct_eq(&0).into()
}

/// Decodes lower- or upper-case hex into `out`; `None` unless `hex` is exactly
/// `2 * out.len()` hex digits. Runs in time independent of the digits' values.
pub fn decode_hex_into(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != out.len() * 2 {
        return None;
    }
    let mut bad = 0u8;
    for (pair, byte) in hex.chunks_exact(2).zip(out.iter_mut()) {
        let (hi, hi_bad) = nibble(pair[0]);
        let (lo, lo_bad) = nibble(pair[1]);
        bad |= hi_bad | lo_bad;
        *byte = (hi << 4) | lo;
    }
    (bad == 0).then_some(())
}

/// One hex digit without data-dependent branches: (value, 1 if invalid else 0).
#[inline]
fn nibble(c: u8) -> (u8, u8) {
    let digit = c.wrapping_sub(b'0');
    let lower = (c | 0x20).wrapping_sub(b'a');
    let is_digit = ((digit as i16 - 10) >> 8) as u8 & 1; // 1 when digit < 10
    let is_alpha = ((lower as i16 - 6) >> 8) as u8 & 1; // 1 when lower < 6
    let value =
        (digit & is_digit.wrapping_neg()) | (lower.wrapping_add(10) & is_alpha.wrapping_neg());
    (value, (is_digit | is_alpha) ^ 1)
}

/// Lower-case hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let mut out = [0u8; 3];
        assert!(decode_hex_into(b"00ffA0", &mut out).is_some());
        assert_eq!(out, [0x00, 0xff, 0xa0]);
        assert!(decode_hex_into(b"00ffg0", &mut out).is_none());
        assert!(decode_hex_into(b"00ff", &mut out).is_none());
        assert!(decode_hex_into(b"00ff:0", &mut out).is_none());
        assert!(decode_hex_into(b"00ff/0", &mut out).is_none());
        assert!(decode_hex_into(b"00ff@0", &mut out).is_none());
        assert!(decode_hex_into(b"00ff`0", &mut out).is_none());
        assert_eq!(encode_hex(&[0x00, 0xff, 0xa0]), "00ffa0");
    }

    proptest! {
        #[test]
        fn hex_matches_reference(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let hex = encode_hex(&bytes);
            let mut out = vec![0u8; bytes.len()];
            prop_assert!(decode_hex_into(hex.as_bytes(), &mut out).is_some());
            prop_assert_eq!(&out, &bytes);
            let upper = hex.to_ascii_uppercase();
            prop_assert!(decode_hex_into(upper.as_bytes(), &mut out).is_some());
            prop_assert_eq!(&out, &bytes);
        }

        #[test]
        fn hex_rejects_what_std_rejects(s in "[ -~]{0,8}") {
            let mut out = vec![0u8; s.len() / 2];
            let ours = decode_hex_into(s.as_bytes(), &mut out).is_some();
            let std_ok = s.len() % 2 == 0 && s.bytes().all(|c| c.is_ascii_hexdigit());
            prop_assert_eq!(ours, std_ok);
        }

        #[test]
        fn ct_eq_sees_every_bit(len in 0usize..48, seed in any::<u8>()) {
            let a: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
            prop_assert!(ct_eq(&a, &a));
            for i in 0..len {
                for bit in 0..8 {
                    let mut b = a.clone();
                    b[i] ^= 1 << bit;
                    prop_assert!(!ct_eq(&a, &b) && !ct_eq(&b, &a), "byte {} bit {}", i, bit);
                }
            }
        }

        #[test]
        fn ct_eq_is_eq(a in proptest::collection::vec(any::<u8>(), 0..16), b in proptest::collection::vec(any::<u8>(), 0..16)) {
            prop_assert_eq!(ct_eq(&a, &b), a == b);
        }
    }
}
