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

/// The value of each byte as a base64url digit; [`INVALID`] for bytes outside the alphabet.
const DECODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};
/// Not a digit. Its top bit is set, so OR-ing digits together flags any invalid one.
const INVALID: u8 = 0xff;

/// Decodes `s` into `out`, returning the decoded length; `None` on any malformed input
/// or when `out` is too small.
///
/// Table-driven, four characters to three bytes per step; validity is accumulated and
/// checked once at the end (the input's validity is not secret, this only saves branches).
pub(crate) fn decode_into(s: &[u8], out: &mut [u8]) -> Option<usize> {
    let full = s.len() / 4;
    let n = full * 3
        + match s.len() % 4 {
            0 => 0,
            2 => 1,
            3 => 2,
            _ => return None,
        };
    let out = out.get_mut(..n)?;
    let (body, tail) = s.split_at(full * 4);
    let (out_body, out_tail) = out.split_at_mut(full * 3);
    let d = |c: u8| DECODE[usize::from(c)];
    let mut bad = 0u8;
    // Eight characters to six bytes a step, then at most one step of four to three.
    let mut c8 = body.chunks_exact(8);
    let mut o6 = out_body.chunks_exact_mut(6);
    for (c, o) in (&mut c8).zip(&mut o6) {
        let v = c.iter().fold(0u64, |v, &ch| {
            let x = d(ch);
            bad |= x;
            v << 6 | u64::from(x)
        });
        o.copy_from_slice(&v.to_be_bytes()[2..]);
    }
    for (c, o) in c8
        .remainder()
        .chunks_exact(4)
        .zip(o6.into_remainder().chunks_exact_mut(3))
    {
        let v = c.iter().fold(0u32, |v, &ch| {
            let x = d(ch);
            bad |= x;
            v << 6 | u32::from(x)
        });
        o.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    match (tail, out_tail) {
        ([], []) => {}
        (&[a, b], [o0]) => {
            let (a, b) = (d(a), d(b));
            // The last digit's low 4 bits are padding and must be zero (canonical).
            bad |= a | b | u8::from(b & 0x0f != 0) << 7;
            *o0 = a << 2 | b >> 4;
        }
        (&[a, b, c], [o0, o1]) => {
            let (a, b, c) = (d(a), d(b), d(c));
            // The last digit's low 2 bits are padding and must be zero (canonical).
            bad |= a | b | c | u8::from(c & 0x03 != 0) << 7;
            *o0 = a << 2 | b >> 4;
            *o1 = b << 4 | c >> 2;
        }
        _ => return None,
    }
    (bad & 0x80 == 0).then_some(n)
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

    /// The decoder before the table-driven one (kept as the reference it must agree with).
    fn reference_decode(s: &[u8], out: &mut [u8]) -> Option<usize> {
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

    /// Both decoders on `s` with an `cap`-byte buffer: same answer, same bytes.
    fn agree(s: &[u8], cap: usize) -> Result<(), String> {
        let (mut a, mut b) = (vec![0u8; cap], vec![0u8; cap]);
        let (x, y) = (decode_into(s, &mut a), reference_decode(s, &mut b));
        if x != y {
            return Err(format!("{s:?} cap {cap}: new {x:?}, reference {y:?}"));
        }
        if let Some(n) = x
            && a[..n] != b[..n]
        {
            return Err(format!("{s:?} cap {cap}: bytes differ"));
        }
        Ok(())
    }

    /// Every string of up to two bytes, and every three-byte string over the alphabet
    /// and its neighbours, with buffers from too small to ample.
    #[test]
    fn agrees_with_reference_exhaustively_on_short_inputs() {
        for cap in 0..4 {
            agree(b"", cap).unwrap();
            for a in 0..=255u8 {
                agree(&[a], cap).unwrap();
                for b in 0..=255u8 {
                    agree(&[a, b], cap).unwrap();
                }
            }
        }
        let mut chars: Vec<u8> = ALPHABET.to_vec();
        chars.extend_from_slice(b"=+/.@[`{ \0\x7f\x80\xff");
        for &a in &chars {
            for &b in &chars {
                for &c in &chars {
                    for cap in 1..4 {
                        agree(&[a, b, c], cap).unwrap();
                    }
                }
            }
        }
    }

    /// One byte wrong anywhere in a valid encoding: both reject it (or both accept).
    #[test]
    fn agrees_with_reference_on_every_single_corruption() {
        let s = enc(&(0u8..=200).collect::<Vec<_>>());
        for i in 0..s.len() {
            for bad in 0..=255u8 {
                let mut t = s.clone().into_bytes();
                t[i] = bad;
                agree(&t, 201).unwrap();
            }
        }
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
        fn agrees_with_reference_on_encodings(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                                              slack in 0usize..4, cut in 0usize..4) {
            let s = enc(&bytes);
            let s = &s.as_bytes()[..s.len().saturating_sub(cut)];
            for cap in [bytes.len().saturating_sub(slack), bytes.len() + slack] {
                prop_assert!(agree(s, cap).is_ok(), "{:?}", agree(s, cap));
            }
        }

        #[test]
        fn agrees_with_reference_on_near_alphabet(s in "[A-Za-z0-9_=+/.-]{0,90}", cap in 0usize..80) {
            prop_assert!(agree(s.as_bytes(), cap).is_ok(), "{:?}", agree(s.as_bytes(), cap));
        }

        #[test]
        fn agrees_with_reference_on_any_bytes(s in proptest::collection::vec(any::<u8>(), 0..90),
                                              cap in 0usize..80) {
            prop_assert!(agree(&s, cap).is_ok(), "{:?}", agree(&s, cap));
        }

        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = [0u8; 64];
            let _ = decode_into(&s, &mut out);
        }
    }
}
