//! Unpadded base64url (RFC 4648 §5), the alphabet of challenge ids and tokens.
//!
//! Small and strict: decoding rejects padding, non-alphabet bytes, impossible lengths
//! and non-canonical trailing bits, so every id has exactly one spelling.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Appends the base64url encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let sym = |v: u32| char::from(ALPHABET[(v & 63) as usize]);
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(sym(n >> 6));
        out.push(sym(n));
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.push(sym(n >> 18));
            out.push(sym(n >> 12));
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.push(sym(n >> 18));
            out.push(sym(n >> 12));
            out.push(sym(n >> 6));
        }
        _ => {}
    }
}

fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes `s` into `out`, returning the decoded length; `None` on any malformed input
/// or when `out` is too small.
pub(crate) fn decode_into(s: &[u8], out: &mut [u8]) -> Option<usize> {
    if s.len() % 4 == 1 || s.len().div_ceil(4) * 3 > out.len() + 2 {
        return None;
    }
    let mut n = 0usize;
    let mut put = |b: u8, n: &mut usize| -> Option<()> {
        *out.get_mut(*n)? = b;
        *n += 1;
        Some(())
    };
    let mut chunks = s.chunks_exact(4);
    for c in &mut chunks {
        let mut v = 0u32;
        for &ch in c {
            v = v << 6 | value(ch)?;
        }
        put((v >> 16) as u8, &mut n)?;
        put((v >> 8) as u8, &mut n)?;
        put(v as u8, &mut n)?;
    }
    match *chunks.remainder() {
        [a, b] => {
            let v = value(a)? << 18 | value(b)? << 12;
            if v & 0xffff != 0 {
                return None;
            }
            put((v >> 16) as u8, &mut n)?;
        }
        [a, b, c] => {
            let v = value(a)? << 18 | value(b)? << 12 | value(c)? << 6;
            if v & 0xff != 0 {
                return None;
            }
            put((v >> 16) as u8, &mut n)?;
            put((v >> 8) as u8, &mut n)?;
        }
        [] => {}
        _ => return None,
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(b: &[u8]) -> String {
        let mut s = String::new();
        encode_into(b, &mut s);
        s
    }

    #[test]
    fn rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(plain.as_bytes()), coded);
            let mut out = [0u8; 8];
            let n = decode_into(coded.as_bytes(), &mut out).unwrap();
            assert_eq!(&out[..n], plain.as_bytes());
        }
        assert_eq!(enc(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn rejects_malformed() {
        let mut out = [0u8; 16];
        for bad in ["Z", "Zg==", "Zh", "Zm9", "Z+8", "Zm9v!", "Zm/v"] {
            assert!(decode_into(bad.as_bytes(), &mut out).is_none(), "{bad}");
        }
        // Too long for the buffer.
        assert!(decode_into(enc(&[0u8; 17]).as_bytes(), &mut out).is_none());
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let s = enc(&bytes);
            let mut out = [0u8; 96];
            let n = decode_into(s.as_bytes(), &mut out);
            prop_assert_eq!(n, Some(bytes.len()));
            prop_assert_eq!(&out[..bytes.len()], &bytes[..]);
        }

        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = [0u8; 64];
            let _ = decode_into(&s, &mut out);
        }
    }
}
