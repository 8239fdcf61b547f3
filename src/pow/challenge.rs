//! The pure core: the work rule, and the signed, stateless challenge ids, tokens and
//! passes. No IO and no clock reads here: every function takes `now`.
//!
//! # Wire formats
//!
//! All three are a type prefix and unpadded base64url of `payload || tag`, where `tag`
//! is HMAC-SHA-256 over `payload` truncated to 128 bits under the key named by the
//! payload's key id, and the payload's first byte names the type (so a token can never
//! pass for a challenge, nor a pass for a token):
//!
//! | type | prefix | payload after type, version, key id |
//! |---|---|---|
//! | challenge | `ch_` | difficulty, issued ms, expires ms, 16 random bytes, IP binding, site key |
//! | token | `ect_` | issued ms, expires ms, id (the challenge's random bytes), risk in 1/1000, solve ms, site key |
//! | pass | `esp_` | issued ms, expires ms, 16 random bytes, IP binding, site key |
//!
//! The challenge's `prefix` (what the client hashes) is the lower-case hex of its 16
//! random bytes. An IP binding is the client's network (default /24 for IPv4, /56 for
//! IPv6) in clear: the id is handed to that very client, and a binding needs no lookup.
//!
//! Encoded strings are at most [`MAX_ENCODED_LEN`] bytes and site keys at most
//! [`MAX_SITE_KEY_LEN`]; longer input is refused before any decoding.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::b64;

use crate::core::ct::{ct_eq, encode_hex};
use crate::core::error::ConfigError;
use crate::core::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Longest challenge id, token or pass accepted, in bytes.
pub const MAX_ENCODED_LEN: usize = 400;
/// Longest site key, in bytes.
pub const MAX_SITE_KEY_LEN: usize = 64;
/// Shortest HMAC key accepted (bytes).
pub const MIN_KEY_LEN: usize = 32;
/// Most keys a [`Keyring`] holds.
pub const MAX_KEYS: usize = 16;
/// The hardest difficulty any configuration may ask for (leading zero bits).
pub const MAX_DIFFICULTY: u8 = 32;

const TAG_LEN: usize = 16;
const VERSION: u8 = 1;
const BUF: usize = 300;

/// `true` when SHA-256 over `prefix` followed by the decimal ASCII digits of `nonce`
/// has at least `difficulty` leading zero bits: the work rule.
///
/// ```
/// use tower_shield::pow::work_ok;
/// // SHA-256("abc0") = 0x4be6...: 1 leading zero bit.
/// assert!(work_ok(b"abc", 0, 1));
/// assert!(!work_ok(b"abc", 0, 2));
/// ```
pub fn work_ok(prefix: &[u8], nonce: u64, difficulty: u8) -> bool {
    leading_zero_bits(&work_hash(prefix, nonce)) >= u32::from(difficulty)
}

/// SHA-256 over `prefix || decimal(nonce)`.
pub fn work_hash(prefix: &[u8], nonce: u64) -> [u8; 32] {
    let mut digits = [0u8; 20];
    let d = decimal(nonce, &mut digits);
    let mut h = Sha256::new();
    h.update(prefix);
    h.update(d);
    h.finalize().into()
}

fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
}

/// Leading zero bits of a hash.
pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for &b in hash {
        if b == 0 {
            bits += 8;
        } else {
            return bits + b.leading_zeros();
        }
    }
    bits
}

/// Searches nonces from `start` for one that satisfies the work rule: what the widget
/// does, for tests, benches and native clients. Gives up after `max_tries`.
pub fn solve(prefix: &str, difficulty: u8, start: u64, max_tries: u64) -> Option<u64> {
    (start..start.saturating_add(max_tries)).find(|&n| work_ok(prefix.as_bytes(), n, difficulty))
}

/// HMAC keys with ids, for rotation: new ids are signed with the current key, and ids
/// signed with any key still in the ring verify.
///
/// Rotate by adding the new key as current and keeping the old one until the longest
/// lifetime (challenge, token or pass) has passed, then dropping it.
#[derive(Clone)]
pub struct Keyring {
    current: u8,
    keys: Vec<(u8, HmacSha256)>,
}

impl Keyring {
    /// A ring with one key, id `kid`. The secret must be at least [`MIN_KEY_LEN`] bytes.
    pub fn new(kid: u8, secret: &Secret) -> Result<Self, ConfigError> {
        let mut ring = Self {
            current: kid,
            keys: Vec::new(),
        };
        ring.insert(kid, secret)?;
        Ok(ring)
    }

    /// A ring with a random key (id 0): ids do not survive a restart nor verify on other
    /// instances. For tests and single-process demos.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        let mac =
            <HmacSha256 as Mac>::new_from_slice(&bytes).unwrap_or_else(|_| unreachable_hmac());
        Self {
            current: 0,
            keys: vec![(0, mac)],
        }
    }

    /// Adds a key that still verifies but does not sign (the previous key after a rotation).
    pub fn with_previous(mut self, kid: u8, secret: &Secret) -> Result<Self, ConfigError> {
        self.insert(kid, secret)?;
        Ok(self)
    }

    fn insert(&mut self, kid: u8, secret: &Secret) -> Result<(), ConfigError> {
        if secret.len() < MIN_KEY_LEN {
            return Err(ConfigError::new(
                "pow.secret",
                format!("must be at least {MIN_KEY_LEN} bytes"),
            ));
        }
        if self.keys.iter().any(|(k, _)| *k == kid) {
            return Err(ConfigError::new("pow.key_id", "duplicate key id"));
        }
        if self.keys.len() >= MAX_KEYS {
            return Err(ConfigError::new("pow.keys", "too many keys"));
        }
        let mac = <HmacSha256 as Mac>::new_from_slice(secret.expose())
            .map_err(|_| ConfigError::new("pow.secret", "unusable HMAC key"))?;
        self.keys.push((kid, mac));
        Ok(())
    }

    /// The id new values are signed with.
    pub fn current_id(&self) -> u8 {
        self.current
    }

    fn key(&self, kid: u8) -> Option<&HmacSha256> {
        self.keys.iter().find(|(k, _)| *k == kid).map(|(_, m)| m)
    }

    fn tag(&self, kid: u8, payload: &[u8]) -> Option<[u8; TAG_LEN]> {
        let mut mac = self.key(kid)?.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(full.get(..TAG_LEN)?);
        Some(tag)
    }
}

fn unreachable_hmac() -> HmacSha256 {
    // HMAC accepts keys of any length; this is never reached.
    panic!("HMAC-SHA-256 rejected a 32-byte key")
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<u8> = self.keys.iter().map(|(k, _)| *k).collect();
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("ids", &ids)
            .finish_non_exhaustive()
    }
}

/// Fills `out` from the OS; on failure (no OS randomness) from a hash of the time and
/// a counter, which stays unique though not unpredictable.
pub(crate) fn fill_random(out: &mut [u8]) {
    if getrandom::fill(out).is_ok() {
        return;
    }
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(N.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(format!("{:?}", std::time::SystemTime::now()));
    let d = h.finalize();
    for (o, b) in out.iter_mut().zip(d.iter().cycle()) {
        *o = *b;
    }
}

/// A fast source of unpredictable 16-byte values: SHA-256 of a random 32-byte seed
/// and a counter (one compression per value, no system call).
#[derive(Debug)]
pub(crate) struct RandomSource {
    seed: [u8; 32],
    counter: std::sync::atomic::AtomicU64,
}

impl RandomSource {
    pub(crate) fn new() -> Self {
        let mut seed = [0u8; 32];
        fill_random(&mut seed);
        Self {
            seed,
            counter: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn next16(&self) -> [u8; 16] {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(n.to_le_bytes());
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(d.get(..16).unwrap_or(&[0u8; 16]));
        out
    }
}

/// The client network a challenge or pass is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpBinding {
    /// The network address (host bits zero).
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl IpBinding {
    /// The network of `ip` at `/v4_len` (IPv4) or `/v6_len` (IPv6).
    pub fn of(ip: IpAddr, v4_len: u8, v6_len: u8) -> Self {
        match crate::core::ext::unmap(ip) {
            IpAddr::V4(v4) => {
                let len = v4_len.min(32);
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                Self {
                    addr: IpAddr::V4((u32::from(v4) & mask).into()),
                    len,
                }
            }
            IpAddr::V6(v6) => {
                let len = v6_len.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Self {
                    addr: IpAddr::V6((u128::from(v6) & mask).into()),
                    len,
                }
            }
        }
    }
}

impl fmt::Display for IpBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// What a challenge id says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeClaims {
    /// Key id it was signed with.
    pub kid: u8,
    /// Leading zero bits required.
    pub difficulty: u8,
    /// Issue time, ms since the Unix epoch.
    pub issued_ms: u64,
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: u64,
    /// The random bytes; the prefix is their hex, and they name the challenge in the
    /// single-use store.
    pub random: [u8; 16],
    /// The client network it was issued to, if bound.
    pub binding: Option<IpBinding>,
    /// The site key it was issued for.
    pub site: String,
}

impl ChallengeClaims {
    /// The string the client hashes: lower-case hex of the random bytes (32 characters).
    pub fn prefix(&self) -> String {
        encode_hex(&self.random)
    }
}

/// Whether a signed token is a single-use token or a reusable pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `ect_`: redeemable once (ECURTIY's verification token).
    Token,
    /// `esp_`: reusable until it expires, bound to the client network (the inline layer's pass).
    Pass,
}

/// What a token or pass says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenClaims {
    /// Token or pass.
    pub kind: TokenKind,
    /// Key id it was signed with.
    pub kid: u8,
    /// Creation time, ms since the Unix epoch.
    pub issued_ms: u64,
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: u64,
    /// Unique id (for a token: its challenge's random bytes; it names the token in the
    /// single-use store).
    pub id: [u8; 16],
    /// The risk score at verification, in thousandths (0..=1000). Tokens only.
    pub risk_milli: u16,
    /// The solve time the client reported, ms. Tokens only.
    pub solve_ms: u32,
    /// The client network, for passes.
    pub binding: Option<IpBinding>,
    /// The site key.
    pub site: String,
}

impl TokenClaims {
    /// The risk score as a fraction, 0.0..=1.0.
    pub fn risk_score(&self) -> f64 {
        f64::from(self.risk_milli.min(1000)) / 1000.0
    }
}

/// Why an encoded value did not decode. All of these are client errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Wrong type prefix, too long, bad base64, truncated or with trailing bytes.
    Malformed,
    /// Unknown key id or a tag that does not match: forged or tampered.
    BadTag,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed",
            Self::BadTag => "signature mismatch",
        })
    }
}

const T_CHALLENGE: u8 = b'C';
const T_TOKEN: u8 = b'T';
const T_PASS: u8 = b'P';

struct Writer {
    buf: [u8; BUF],
    len: usize,
}

impl Writer {
    fn new() -> Self {
        Self {
            buf: [0; BUF],
            len: 0,
        }
    }
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn binding(&mut self, b: Option<IpBinding>) {
        match b {
            None => self.u8(0),
            Some(IpBinding {
                addr: IpAddr::V4(a),
                len,
            }) => {
                self.u8(4);
                self.u8(len);
                self.put(&a.octets());
            }
            Some(IpBinding {
                addr: IpAddr::V6(a),
                len,
            }) => {
                self.u8(6);
                self.u8(len);
                self.put(&a.octets());
            }
        }
    }
    fn site(&mut self, site: &str) {
        let s = site.as_bytes();
        let s = s.get(..MAX_SITE_KEY_LEN).unwrap_or(s);
        self.u8(s.len() as u8);
        self.put(s);
    }
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn arr16(&mut self) -> Option<[u8; 16]> {
        self.take(16)?.try_into().ok()
    }
    fn binding(&mut self) -> Option<Option<IpBinding>> {
        match self.u8()? {
            0 => Some(None),
            4 => {
                let len = self.u8()?;
                let o: [u8; 4] = self.take(4)?.try_into().ok()?;
                (len <= 32).then_some(Some(IpBinding {
                    addr: IpAddr::from(o),
                    len,
                }))
            }
            6 => {
                let len = self.u8()?;
                let o: [u8; 16] = self.take(16)?.try_into().ok()?;
                (len <= 128).then_some(Some(IpBinding {
                    addr: IpAddr::from(o),
                    len,
                }))
            }
            _ => None,
        }
    }
    fn site(&mut self) -> Option<&'a str> {
        let n = usize::from(self.u8()?);
        if n > MAX_SITE_KEY_LEN {
            return None;
        }
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

fn seal(ring: &Keyring, prefix: &str, w: &Writer) -> String {
    let payload = w.bytes();
    let tag = ring.tag(ring.current, payload).unwrap_or([0; TAG_LEN]);
    let mut out = String::with_capacity(prefix.len() + (payload.len() + TAG_LEN) * 4 / 3 + 4);
    out.push_str(prefix);
    let mut all = [0u8; BUF + TAG_LEN];
    let n = payload.len() + TAG_LEN;
    if let Some(dst) = all.get_mut(..payload.len()) {
        dst.copy_from_slice(payload);
    }
    if let Some(dst) = all.get_mut(payload.len()..n) {
        dst.copy_from_slice(&tag);
    }
    b64::encode_into(all.get(..n).unwrap_or_default(), &mut out);
    out
}

/// Checks prefix, length, base64 and tag; returns the payload after type and version.
fn open<'b>(
    ring: &Keyring,
    prefix: &str,
    ty: u8,
    s: &str,
    buf: &'b mut [u8; BUF + TAG_LEN],
) -> Result<(u8, Reader<'b>), DecodeError> {
    if s.len() > MAX_ENCODED_LEN {
        return Err(DecodeError::Malformed);
    }
    let body = s.strip_prefix(prefix).ok_or(DecodeError::Malformed)?;
    let n = b64::decode_into(body.as_bytes(), buf).ok_or(DecodeError::Malformed)?;
    let all = buf.get(..n).ok_or(DecodeError::Malformed)?;
    if all.len() < 3 + TAG_LEN {
        return Err(DecodeError::Malformed);
    }
    let (payload, tag) = all.split_at(all.len() - TAG_LEN);
    let mut r = Reader(payload);
    let (t, v, kid) = (r.u8(), r.u8(), r.u8());
    if t != Some(ty) || v != Some(VERSION) {
        return Err(DecodeError::Malformed);
    }
    let kid = kid.ok_or(DecodeError::Malformed)?;
    let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| DecodeError::Malformed)?;
    let expect = ring.tag(kid, payload).ok_or(DecodeError::BadTag)?;
    if !ct_eq(&expect, &tag) {
        return Err(DecodeError::BadTag);
    }
    Ok((kid, r))
}

/// Signs challenge claims into a `ch_` id (the claims' `kid` is replaced by the ring's current).
pub fn encode_challenge(ring: &Keyring, c: &ChallengeClaims) -> String {
    let mut w = Writer::new();
    w.put(&[T_CHALLENGE, VERSION, ring.current, c.difficulty]);
    w.put(&c.issued_ms.to_be_bytes());
    w.put(&c.expires_ms.to_be_bytes());
    w.put(&c.random);
    w.binding(c.binding);
    w.site(&c.site);
    seal(ring, "ch_", &w)
}

/// Verifies and decodes a `ch_` id. Never panics; any input that is not an id this ring
/// signed is an error.
pub fn decode_challenge(ring: &Keyring, s: &str) -> Result<ChallengeClaims, DecodeError> {
    let mut buf = [0u8; BUF + TAG_LEN];
    let (kid, mut r) = open(ring, "ch_", T_CHALLENGE, s, &mut buf)?;
    let mut parse = || -> Option<ChallengeClaims> {
        let c = ChallengeClaims {
            kid,
            difficulty: r.u8()?,
            issued_ms: r.u64()?,
            expires_ms: r.u64()?,
            random: r.arr16()?,
            binding: r.binding()?,
            site: r.site()?.to_owned(),
        };
        r.end()?;
        Some(c)
    };
    parse().ok_or(DecodeError::Malformed)
}

/// Signs token or pass claims into an `ect_` token or `esp_` pass.
pub fn encode_token(ring: &Keyring, t: &TokenClaims) -> String {
    let mut w = Writer::new();
    let (ty, prefix) = match t.kind {
        TokenKind::Token => (T_TOKEN, "ect_"),
        TokenKind::Pass => (T_PASS, "esp_"),
    };
    w.put(&[ty, VERSION, ring.current]);
    w.put(&t.issued_ms.to_be_bytes());
    w.put(&t.expires_ms.to_be_bytes());
    w.put(&t.id);
    match t.kind {
        TokenKind::Token => {
            w.put(&t.risk_milli.min(1000).to_be_bytes());
            w.put(&t.solve_ms.to_be_bytes());
        }
        TokenKind::Pass => w.binding(t.binding),
    }
    w.site(&t.site);
    seal(ring, prefix, &w)
}

/// What [`decode_token_in`] decodes into.
pub(crate) type DecodeBuf = [u8; BUF + TAG_LEN];

/// A fresh [`DecodeBuf`].
pub(crate) const fn decode_buf() -> DecodeBuf {
    [0; BUF + TAG_LEN]
}

/// [`TokenClaims`] whose site borrows the decoding buffer: what [`decode_token_in`]
/// returns, so checking a pass allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenView<'b> {
    pub(crate) kind: TokenKind,
    pub(crate) kid: u8,
    pub(crate) issued_ms: u64,
    pub(crate) expires_ms: u64,
    pub(crate) id: [u8; 16],
    pub(crate) risk_milli: u16,
    pub(crate) solve_ms: u32,
    pub(crate) binding: Option<IpBinding>,
    pub(crate) site: &'b str,
}

impl TokenView<'_> {
    /// The owned claims.
    pub(crate) fn to_claims(&self) -> TokenClaims {
        TokenClaims {
            kind: self.kind,
            kid: self.kid,
            issued_ms: self.issued_ms,
            expires_ms: self.expires_ms,
            id: self.id,
            risk_milli: self.risk_milli,
            solve_ms: self.solve_ms,
            binding: self.binding,
            site: self.site.to_owned(),
        }
    }
}

/// Verifies and decodes an `ect_` token or `esp_` pass (told apart by the prefix).
pub fn decode_token(ring: &Keyring, s: &str) -> Result<TokenClaims, DecodeError> {
    let mut buf = decode_buf();
    decode_token_in(ring, s, &mut buf).map(|t| t.to_claims())
}

/// [`decode_token`] into `buf`, without allocating.
#[inline]
pub(crate) fn decode_token_in<'b>(
    ring: &Keyring,
    s: &str,
    buf: &'b mut DecodeBuf,
) -> Result<TokenView<'b>, DecodeError> {
    let (kind, prefix, ty) = if s.starts_with("ect_") {
        (TokenKind::Token, "ect_", T_TOKEN)
    } else if s.starts_with("esp_") {
        (TokenKind::Pass, "esp_", T_PASS)
    } else {
        return Err(DecodeError::Malformed);
    };
    let (kid, mut r) = open(ring, prefix, ty, s, buf)?;
    let mut parse = || -> Option<TokenView<'b>> {
        let issued_ms = r.u64()?;
        let expires_ms = r.u64()?;
        let id = r.arr16()?;
        let (risk_milli, solve_ms, binding) = match kind {
            TokenKind::Token => (r.u16()?.min(1000), r.u32()?, None),
            TokenKind::Pass => (0, 0, r.binding()?),
        };
        let t = TokenView {
            kind,
            kid,
            issued_ms,
            expires_ms,
            id,
            risk_milli,
            solve_ms,
            binding,
            site: r.site()?,
        };
        r.end()?;
        Some(t)
    };
    parse().ok_or(DecodeError::Malformed)
}

/// Milliseconds since the epoch, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(7, &Secret::from("0123456789abcdef0123456789abcdef")).unwrap()
    }

    fn claims() -> ChallengeClaims {
        ChallengeClaims {
            kid: 7,
            difficulty: 16,
            issued_ms: 1_700_000_000_000,
            expires_ms: 1_700_000_300_000,
            random: [0xab; 16],
            binding: Some(IpBinding::of("203.0.113.77".parse().unwrap(), 24, 56)),
            site: "eck_live_demo".into(),
        }
    }

    /// Vectors computed independently (Python hashlib):
    /// sha256(b"abc0") = 4be6..., sha256(b"hello42") = ..., and a 16-bit solution.
    #[test]
    fn work_rule_vectors() {
        assert_eq!(
            encode_hex(&work_hash(b"abc", 0)),
            encode_hex(&Sha256::digest(b"abc0"))
        );
        assert_eq!(
            encode_hex(&work_hash(b"p", 18_446_744_073_709_551_615)),
            encode_hex(&Sha256::digest(b"p18446744073709551615"))
        );
        // sha256("abc0") starts 0x4b = 0100_1011: exactly one leading zero bit.
        assert_eq!(leading_zero_bits(&work_hash(b"abc", 0)), 1);
        assert_eq!(leading_zero_bits(&[0, 0, 0x0f, 0xff]), 20);
        assert_eq!(leading_zero_bits(&[0; 4]), 32);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        // Difficulty 0 accepts anything.
        assert!(work_ok(b"x", 123, 0));
        // A found solution satisfies exactly its rule; the nonce's decimal form matters.
        let prefix = "00000000000000000000000000000000";
        let n = solve(prefix, 12, 0, 1 << 22).unwrap();
        assert!(work_ok(prefix.as_bytes(), n, 12));
        assert!(leading_zero_bits(&Sha256::digest(format!("{prefix}{n}"))) >= 12);
        assert_eq!(solve(prefix, 12, 0, n), None, "no smaller nonce solves it");
    }

    #[test]
    fn pinned_vector() {
        // Cross-checked with: python3 -c "import hashlib;print(hashlib.sha256(b'tower-shield-vector2345').hexdigest())"
        // (the widget's pure-JS SHA-256 is exercised against the server by tests/pow_browser.rs).
        let h = work_hash(b"tower-shield-vector", 2345);
        assert_eq!(
            h,
            <[u8; 32]>::from(Sha256::digest(b"tower-shield-vector2345"))
        );
    }

    #[test]
    fn challenge_round_trip_and_tamper() {
        let r = ring();
        let c = claims();
        let id = encode_challenge(&r, &c);
        assert!(id.starts_with("ch_") && id.len() < MAX_ENCODED_LEN);
        assert_eq!(decode_challenge(&r, &id).unwrap(), c);
        assert_eq!(c.prefix().len(), 32);
        // Flip each character: never a valid id.
        let bytes = id.as_bytes();
        for i in 3..bytes.len() {
            let mut t = bytes.to_vec();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            assert!(decode_challenge(&r, &t).is_err(), "index {i}");
        }
        // Another key: bad tag.
        let other = Keyring::new(7, &Secret::from("ffffffffffffffffffffffffffffffff")).unwrap();
        assert_eq!(decode_challenge(&other, &id), Err(DecodeError::BadTag));
        // A token is not a challenge.
        assert!(decode_token(&r, &id).is_err());
    }

    #[test]
    fn rotation() {
        let old = ring();
        let id = encode_challenge(&old, &claims());
        let new = Keyring::new(8, &Secret::from("ffffffffffffffffffffffffffffffff"))
            .unwrap()
            .with_previous(7, &Secret::from("0123456789abcdef0123456789abcdef"))
            .unwrap();
        assert_eq!(decode_challenge(&new, &id).unwrap().kid, 7);
        let id2 = encode_challenge(&new, &claims());
        assert_eq!(decode_challenge(&new, &id2).unwrap().kid, 8);
        assert_eq!(decode_challenge(&old, &id2), Err(DecodeError::BadTag));
        assert!(Keyring::new(1, &Secret::from("short")).is_err());
    }

    #[test]
    fn tokens_and_passes() {
        let r = ring();
        let t = TokenClaims {
            kind: TokenKind::Token,
            kid: 7,
            issued_ms: 1,
            expires_ms: 2,
            id: [3; 16],
            risk_milli: 150,
            solve_ms: 1850,
            binding: None,
            site: "eck_live_demo".into(),
        };
        let s = encode_token(&r, &t);
        assert!(s.starts_with("ect_"));
        assert_eq!(decode_token(&r, &s).unwrap(), t);
        let p = TokenClaims {
            kind: TokenKind::Pass,
            risk_milli: 0,
            solve_ms: 0,
            binding: Some(IpBinding::of("2001:db8::1".parse().unwrap(), 24, 56)),
            ..t.clone()
        };
        let s = encode_token(&r, &p);
        assert!(s.starts_with("esp_"));
        assert_eq!(decode_token(&r, &s).unwrap(), p);
        // A pass relabelled as a token fails.
        let relabelled = s.replacen("esp_", "ect_", 1);
        assert!(decode_token(&r, &relabelled).is_err());
    }

    #[test]
    fn bindings_mask() {
        let b = IpBinding::of("203.0.113.77".parse().unwrap(), 24, 56);
        assert_eq!(b.to_string(), "203.0.113.0/24");
        let b6 = IpBinding::of("2001:db8:1:2ff::1".parse().unwrap(), 24, 56);
        assert_eq!(b6.to_string(), "2001:db8:1:200::/56");
        let mapped = IpBinding::of("::ffff:203.0.113.9".parse().unwrap(), 24, 56);
        assert_eq!(mapped, b);
        assert_eq!(
            IpBinding::of("1.2.3.4".parse().unwrap(), 0, 0).to_string(),
            "0.0.0.0/0"
        );
    }

    proptest! {
        #[test]
        fn decoding_never_panics(s in ".{0,500}") {
            let r = ring();
            let _ = decode_challenge(&r, &s);
            let _ = decode_token(&r, &s);
            let with_prefix = format!("ch_{s}");
            prop_assert!(decode_challenge(&r, &with_prefix).is_err());
            let t = format!("ect_{s}");
            prop_assert!(decode_token(&r, &t).is_err());
        }

        #[test]
        fn token_views_match_owned_claims(pass in any::<bool>(), issued in any::<u64>(),
                                          id in any::<[u8; 16]>(), site in "\\PC{0,20}",
                                          flip in any::<Option<(prop::sample::Index, u8)>>()) {
            let r = ring();
            let t = TokenClaims {
                kind: if pass { TokenKind::Pass } else { TokenKind::Token },
                kid: 7,
                issued_ms: issued,
                expires_ms: issued.wrapping_add(1),
                id,
                risk_milli: if pass { 0 } else { 999 },
                solve_ms: if pass { 0 } else { 1234 },
                binding: pass.then(|| IpBinding::of("192.0.2.9".parse().unwrap(), 24, 56)),
                site,
            };
            let mut s = encode_token(&r, &t).into_bytes();
            if let Some((i, b)) = flip {
                let i = i.index(s.len());
                s[i] = b;
            }
            let s = String::from_utf8_lossy(&s);
            let mut buf = decode_buf();
            let view = decode_token_in(&r, &s, &mut buf).map(|v| v.to_claims());
            prop_assert_eq!(&view, &decode_token(&r, &s));
            if flip.is_none() && t.site.len() <= MAX_SITE_KEY_LEN {
                prop_assert_eq!(view, Ok(t));
            }
        }

        #[test]
        fn b64_bodies_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = ring();
            let mut s = String::from("ch_");
            b64::encode_into(&bytes, &mut s);
            prop_assert!(decode_challenge(&r, &s).is_err());
        }

        #[test]
        fn claims_round_trip(d in 0u8..=32, issued in any::<u64>(), ttl in any::<u64>(),
                             random in any::<[u8; 16]>(), site in "[a-z_]{0,64}", v4 in any::<bool>()) {
            let r = ring();
            let ip: IpAddr = if v4 { "198.51.100.3".parse().unwrap() } else { "2001:db8::7".parse().unwrap() };
            let c = ChallengeClaims { kid: 7, difficulty: d, issued_ms: issued, expires_ms: issued.saturating_add(ttl),
                random, binding: Some(IpBinding::of(ip, 24, 56)), site };
            prop_assert_eq!(decode_challenge(&r, &encode_challenge(&r, &c)).unwrap(), c);
        }
    }
}
