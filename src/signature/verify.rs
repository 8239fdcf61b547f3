//! Strict parsing of SigV4 credentials and the pure, synchronous [`Verifier`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};

use super::canonical::{
    CanonicalError, CanonicalParts, Dialect, MAX_SIGNED_HEADERS, MAX_TOKEN_LEN, UNSIGNED_PAYLOAD,
    X_AMZ_SIGNATURE, canonical_request_hash, header_values, query_pairs, signed_names,
};
use super::keys::{DEFAULT_KEY_CACHE_ENTRIES, KeyCache, KeyStore, valid_key_id};
use super::sign::{MAX_PRESIGN_EXPIRES, SigningKey, X_AMZ_CONTENT_SHA256, X_AMZ_DATE, hex32};
use crate::core::ct::ct_eq;
use crate::core::error::ConfigError;
use crate::core::ext::{Principal, PrincipalKind};
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::secret::Secret;

/// Longest `Authorization` value parsed; longer is malformed.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The default time window: a request's `X-Amz-Date` may be this far from the
/// server's clock either way (the seed's "within 5 minutes").
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);

/// Most headers [`Verifier::require_signed_header`] can require.
pub const MAX_REQUIRED_HEADERS: usize = 16;

/// The default most body bytes buffered and hashed: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// Why a signed request was refused.
///
/// [`SignatureError::rejection`] maps each to a status and code: malformed
/// credentials are **400 `INVALID_REQUEST`** (see the [module docs](super#status-codes)),
/// everything about *which* key signed and *whether* it matches is **401
/// `INVALID_SIGNATURE`** with one message, so an unknown key and a wrong signature
/// cannot be told apart.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Authorization` header and no presigned query. 401.
    Missing,
    /// The credentials cannot be parsed, are duplicated, or contradict themselves
    /// (scope date not the `X-Amz-Date` date, a signed header absent, ...). 400.
    Malformed(&'static str),
    /// The credential scope is for another region, service or scheme. 401.
    WrongScope,
    /// The timestamp is outside the window, or a presigned URL has expired. 401 `SIGNATURE_EXPIRED`.
    Expired,
    /// The signature is well-formed but breaks the policy (a required header not
    /// signed, `UNSIGNED-PAYLOAD` not enabled). 401.
    Policy(&'static str),
    /// The body does not hash to the signed `x-amz-content-sha256`. 401.
    ContentMismatch,
    /// Unknown key or wrong signature: deliberately one case. 401.
    Mismatch,
    /// The same signed request was already accepted (replay protection). 401
    /// `SIGNATURE_REPLAYED`.
    Replayed,
    /// The body is longer than the verifier buffers. 413.
    PayloadTooLarge,
    /// The body could not be read. 400.
    Body,
    /// The replay store could not answer. 503.
    StoreUnavailable,
}

impl SignatureError {
    /// The rejection the layer answers with.
    pub fn rejection(&self) -> Rejection {
        use RejectionKind as K;
        let (kind, msg) = match *self {
            Self::Missing => (
                K::InvalidSignature,
                "missing request signature (Authorization header)",
            ),
            Self::Malformed(m) => (K::InvalidRequest, m),
            Self::WrongScope => (
                K::InvalidSignature,
                "credential scope does not match this service",
            ),
            Self::Expired => (
                K::SignatureExpired,
                "request timestamp is outside the accepted window",
            ),
            Self::Policy(m) => (K::InvalidSignature, m),
            Self::ContentMismatch => (
                K::InvalidSignature,
                "body does not match x-amz-content-sha256",
            ),
            Self::Mismatch => (K::InvalidSignature, "signature does not match"),
            Self::Replayed => (K::SignatureReplayed, "signed request was already used"),
            Self::PayloadTooLarge => (K::PayloadTooLarge, "request body is too large to verify"),
            Self::Body => (K::InvalidRequest, "request body could not be read"),
            Self::StoreUnavailable => (K::StoreUnavailable, "replay store unavailable"),
        };
        Rejection::new(kind, msg)
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rejection().message())
    }
}

impl std::error::Error for SignatureError {}

/// A parsed `Authorization` header (or presigned query): borrowed, not yet verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// The key id.
    pub key_id: &'a str,
    /// The scope date, `YYYYMMDD`.
    pub date: &'a str,
    /// The `SignedHeaders` list (lower-case, sorted, `;`-separated).
    pub signed_headers: &'a str,
    /// The 32 signature bytes.
    pub signature: [u8; 32],
}

/// Parses `ALGORITHM Credential=KEY/DATE/SCOPE..., SignedHeaders=a;b, Signature=HEX`
/// strictly for `dialect`: the dialect's algorithm; the three components each
/// exactly once (any order, `,` with optional spaces between them) and nothing
/// else; a credential with exactly the dialect's number of scope parts;
/// `SignedHeaders` lower-case, sorted, unique; a 64-digit lower-hex signature.
///
/// ```
/// use tower_shield::signature::{Dialect, SignatureError, parse_authorization};
/// let v = format!("HMAC-SHA256 Credential=alk_1/20250115/verus/aws4_request, SignedHeaders=x-amz-date, Signature={}", "ab".repeat(32));
/// let c = parse_authorization(v.as_bytes(), &Dialect::verus()).unwrap();
/// assert_eq!((c.key_id, c.date, c.signed_headers), ("alk_1", "20250115", "x-amz-date"));
/// assert!(matches!(parse_authorization(b"HMAC-SHA256 Credential=x", &Dialect::verus()), Err(SignatureError::Malformed(_))));
/// ```
pub fn parse_authorization<'a>(
    value: &'a [u8],
    dialect: &Dialect,
) -> Result<Credentials<'a>, SignatureError> {
    use SignatureError::Malformed;
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(Malformed("Authorization header is too long"));
    }
    let sp = find_byte(value, b' ').ok_or(Malformed("Authorization header has no algorithm"))?;
    let (alg, mut rest) = value.split_at(sp);
    if alg != dialect.algorithm().as_bytes() {
        return Err(Malformed("unsupported signature algorithm"));
    }
    let mut cred: Option<&[u8]> = None;
    let mut signed: Option<&[u8]> = None;
    let mut sig: Option<&[u8]> = None;
    // The `,`-separated components.
    loop {
        let (component, next) = split_once_byte(rest, b',');
        let component = trim_spaces(component);
        let eq =
            find_byte(component, b'=').ok_or(Malformed("Authorization component without '='"))?;
        let (name, v) = component.split_at(eq);
        let v = v.get(1..).unwrap_or_default();
        let slot = match name {
            b"Credential" => &mut cred,
            b"SignedHeaders" => &mut signed,
            b"Signature" => &mut sig,
            _ => return Err(Malformed("unknown Authorization component")),
        };
        if slot.replace(v).is_some() {
            return Err(Malformed("repeated Authorization component"));
        }
        match next {
            Some(next) => rest = next,
            None => break,
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        return Err(Malformed(
            "Authorization needs Credential, SignedHeaders and Signature",
        ));
    };
    // One UTF-8 check of the whole value (ASCII in practice): the parts below are
    // sliced from it rather than checked one by one.
    let text = std::str::from_utf8(value).ok();
    let (key_id, date) = parse_credential(cred, dialect, value, text)?;
    let signed = sub_str(value, text, signed)
        .ok_or(Malformed("SignedHeaders must be lower-case header names"))?;
    check_signed_headers(signed.as_bytes())?;
    Ok(Credentials {
        key_id,
        date,
        signed_headers: signed,
        signature: parse_signature(sig)?,
    })
}

/// `part`, a sub-slice of `whole`, as a `&str`: sliced out of `text` (`whole` as
/// UTF-8, when it is) without a second check, else checked on its own.
fn sub_str<'a>(whole: &'a [u8], text: Option<&'a str>, part: &'a [u8]) -> Option<&'a str> {
    if part.is_empty() {
        return Some("");
    }
    text.and_then(|text| {
        let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        text.get(start..start.checked_add(part.len())?)
    })
    .or_else(|| std::str::from_utf8(part).ok())
}

fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

/// The index of the first `needle` in `hay`, looking at eight bytes at a time.
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default()) ^ pattern;
        // The lowest set bit marks the first zero byte of `word` (a borrow can only
        // mark bytes above a zero one), i.e. the first `needle`.
        let zero = word.wrapping_sub(LO) & !word & HI;
        if zero != 0 {
            return Some(base + (zero.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let tail = chunks.remainder();
    tail.iter().position(|&b| b == needle).map(|i| base + i)
}

/// `s` up to the first `sep`, and what follows it (`None` without a `sep`).
fn split_once_byte(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match find_byte(s, sep) {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            Some(s.get(i + 1..).unwrap_or_default()),
        ),
        None => (s, None),
    }
}

/// `KEY/DATE/scope.../aws4_request` -> (key, date). The scope tail must equal the
/// dialect's ([`SignatureError::WrongScope`] otherwise). `cred` is a sub-slice of
/// `whole`, and `text` is `whole` as UTF-8 when it is (see [`sub_str`]).
fn parse_credential<'a>(
    cred: &'a [u8],
    dialect: &Dialect,
    whole: &'a [u8],
    text: Option<&'a str>,
) -> Result<(&'a str, &'a str), SignatureError> {
    use SignatureError::Malformed;
    let (key_id, after_key) = split_once_byte(cred, b'/');
    let (date, tail) = match after_key {
        Some(rest) => split_once_byte(rest, b'/'),
        None => (&[][..], None),
    };
    if !valid_key_id(key_id) {
        return Err(Malformed("invalid key id in Credential"));
    }
    if date.len() != 8 || !date.iter().all(u8::is_ascii_digit) {
        return Err(Malformed("invalid date in Credential"));
    }
    let want = dialect.scope_tail();
    if !tail.is_some_and(|t| is_scope(t, want)) {
        // Not the dialect's scope: find out why, part by part.
        let mut tail_ok = true;
        let mut n = 0usize;
        let parts = tail.into_iter().flat_map(|t| t.split(|&b| b == b'/'));
        for (i, part) in parts.enumerate() {
            if part.is_empty() || part.len() > MAX_TOKEN_LEN {
                return Err(Malformed("invalid Credential scope"));
            }
            tail_ok &= want.get(i).is_some_and(|w| w.as_bytes() == part);
            n = i + 1;
        }
        if n != want.len() {
            return Err(Malformed("Credential has the wrong number of scope parts"));
        }
        if !tail_ok {
            return Err(SignatureError::WrongScope);
        }
    }
    // Both were checked to be ASCII above.
    match (sub_str(whole, text, key_id), sub_str(whole, text, date)) {
        (Some(k), Some(d)) => Ok((k, d)),
        _ => Err(Malformed("invalid Credential")),
    }
}

/// `tail` is exactly the scope parts `want` joined with `/`. (Scope parts are
/// non-empty, at most [`MAX_TOKEN_LEN`] bytes and never contain `/`: the
/// [`Dialect`] constructors make sure.)
fn is_scope(mut tail: &[u8], want: &[Box<str>]) -> bool {
    let Some((last, init)) = want.split_last() else {
        return false;
    };
    for w in init {
        match tail
            .strip_prefix(w.as_bytes())
            .and_then(|r| r.strip_prefix(b"/"))
        {
            Some(r) => tail = r,
            None => return false,
        }
    }
    tail == last.as_bytes()
}

const fn is_header_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// [`is_header_name_byte`] as a table: one load per byte.
static HEADER_NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_header_name_byte(i as u8);
        i += 1;
    }
    t
};

/// Lower-case header names, `;`-separated, strictly ascending (sorted, unique), at
/// most [`MAX_SIGNED_HEADERS`].
pub fn parse_signed_headers(list: &str) -> Result<&str, SignatureError> {
    check_signed_headers(list.as_bytes()).map(|()| list)
}

fn check_signed_headers(list: &[u8]) -> Result<(), SignatureError> {
    use SignatureError::Malformed;
    let mut prev: Option<&[u8]> = None;
    for (i, name) in list.split(|&b| b == b';').enumerate() {
        if i >= MAX_SIGNED_HEADERS {
            return Err(Malformed("too many SignedHeaders"));
        }
        let valid = name
            .iter()
            .fold(true, |ok, &b| ok & HEADER_NAME_BYTE[usize::from(b)]);
        if name.is_empty() || name.len() > MAX_TOKEN_LEN || !valid {
            return Err(Malformed("SignedHeaders must be lower-case header names"));
        }
        if prev.is_some_and(|p| p >= name) {
            return Err(Malformed("SignedHeaders must be sorted and unique"));
        }
        prev = Some(name);
    }
    Ok(())
}

/// 64 lower-case hex digits -> 32 bytes, eight digits at a time.
fn parse_signature(sig: &[u8]) -> Result<[u8; 32], SignatureError> {
    const L: u64 = 0x0101_0101_0101_0101;
    const H: u64 = 0x8080_8080_8080_8080;
    let malformed = SignatureError::Malformed("Signature must be 64 lower-case hex digits");
    let sig: &[u8; 64] = sig.try_into().map_err(|_| malformed)?;
    let mut out = [0u8; 32];
    let mut bad = 0u64;
    for (dst, src) in out.chunks_exact_mut(4).zip(sig.chunks_exact(8)) {
        let v = u64::from_le_bytes(src.try_into().unwrap_or_default());
        // Per byte: (byte & 0x7f) >= c. Setting each byte's high bit first keeps
        // every subtraction inside its byte; bytes with the high bit set are bad.
        let t = v | H;
        let at_least = |c: u8| t.wrapping_sub(L * u64::from(c)) & H;
        let digit = at_least(b'0') & !at_least(b'9' + 1);
        let letter = at_least(b'a') & !at_least(b'f' + 1);
        bad |= (v & H) | (H & !(digit | letter));
        // '0'..='9' have low nibbles 0..=9, 'a'..='f' 1..=6 (plus 9 is 10..=15).
        let nibbles = (v & (L * 0x0f)) + (letter >> 7) * 9;
        // Even bytes: high nibble << 4 | the next byte's nibble.
        let pairs = ((nibbles << 4) | (nibbles >> 8)).to_le_bytes();
        if let ([a, _, b, _, c, _, d, _], [w, x, y, z]) = (pairs, dst) {
            (*w, *x, *y, *z) = (a, b, c, d);
        }
    }
    if bad != 0 {
        return Err(malformed);
    }
    Ok(out)
}

/// `YYYYMMDDTHHMMSSZ` -> time since the Unix epoch.
pub fn parse_amz_date(s: &[u8]) -> Option<Duration> {
    let s: &[u8; 16] = s.try_into().ok()?;
    if s[8] != b'T' || s[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let digits = s.get(r)?;
        digits.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let hour = u8::try_from(num(9..11)?).ok()?;
    let minute = u8::try_from(num(11..13)?).ok()?;
    let second = u8::try_from(num(13..15)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(hour, minute, second).ok()?;
    let ts = time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    Some(Duration::from_secs(u64::try_from(ts).ok()?))
}

/// How the payload hash is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    /// Hash the body.
    Body,
    /// A signed `x-amz-content-sha256` that the body must hash to.
    Declared([u8; 64]),
    /// `UNSIGNED-PAYLOAD` (enabled by policy).
    Unsigned,
}

/// What [`Verifier::check_head`] decided from the request head, before the body is read.
pub struct HeadCheck {
    key_id: Arc<str>,
    amz_date: [u8; 16],
    signed_headers: smallvec::SmallVec<[u8; 96]>,
    signature: [u8; 32],
    key: SigningKey,
    known: bool,
    presigned: bool,
    content: Content,
    replay_ttl: Duration,
}

impl HeadCheck {
    /// Whether the body's SHA-256 is part of the check (not `UNSIGNED-PAYLOAD`): a caller
    /// reading the body hashes it as it goes and calls [`Verifier::finish_hashed`].
    pub fn hashes_body(&self) -> bool {
        !matches!(self.content, Content::Unsigned)
    }

    /// The signed header list (validated ASCII).
    fn signed(&self) -> &str {
        std::str::from_utf8(&self.signed_headers).unwrap_or_default()
    }

    /// The claimed key id (not yet verified).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl fmt::Debug for HeadCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadCheck")
            .field("key_id", &self.key_id)
            .field("signed_headers", &self.signed())
            .field("presigned", &self.presigned)
            .finish_non_exhaustive()
    }
}

/// A request whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The key id that signed it.
    pub key_id: Arc<str>,
    /// The signature bytes (the replay-protection key).
    pub signature: [u8; 32],
    /// Whether it came as a presigned URL.
    pub presigned: bool,
    /// How long it must be remembered to be refused a second time.
    pub replay_ttl: Duration,
}

impl Verified {
    /// The [`Principal`] the layer inserts: the key id, kind `Signature`.
    pub fn principal(&self) -> Principal {
        Principal::new(self.key_id.clone(), PrincipalKind::Signature)
    }

    /// The single-use key replay protection stores: `sig:` key id `:` hex signature.
    pub fn replay_key(&self) -> String {
        let mut s = String::with_capacity(5 + self.key_id.len() + 64);
        s.push_str("sig:");
        s.push_str(&self.key_id);
        s.push(':');
        s.push_str(&crate::core::ct::encode_hex(&self.signature));
        s
    }
}

/// Verifies SigV4 requests in one [`Dialect`]: pure, synchronous, clock injected.
///
/// Secure defaults: ±5 minutes window, `x-amz-date` must be signed, the body is
/// hashed (at most 1 MiB), `UNSIGNED-PAYLOAD` refused, derived keys cached (4096).
///
/// ```
/// use std::time::Duration;
/// use tower_shield::signature::{Dialect, Signer, StaticKeys, Verifier, SignatureError};
///
/// let keys = StaticKeys::new().key("alk_1", "als_secret").unwrap();
/// let verifier = Verifier::new(Dialect::verus(), keys);
/// let now = Duration::from_secs(1_736_937_000);
/// let mut req = http::Request::post("/verus/classify").body(b"{}".to_vec()).unwrap();
/// Signer::new(Dialect::verus(), "alk_1", "als_secret").sign(&mut req, now).unwrap();
/// assert_eq!(&*verifier.verify_request(&req, now).unwrap().key_id, "alk_1");
/// // Six minutes later the same request is stale.
/// let later = now + Duration::from_secs(360);
/// assert_eq!(verifier.verify_request(&req, later), Err(SignatureError::Expired));
/// ```
pub struct Verifier {
    dialect: Dialect,
    keys: Arc<dyn KeyStore>,
    cache: KeyCache,
    decoy: Secret,
    window: Duration,
    required: Vec<Box<str>>,
    allow_unsigned: bool,
    body_limit: usize,
}

impl Verifier {
    /// A verifier for `dialect` with the keys of `keys`, with the secure defaults.
    pub fn new(dialect: Dialect, keys: impl KeyStore) -> Self {
        let mut decoy = [0u8; 32];
        if getrandom::fill(&mut decoy).is_err() {
            decoy = [0x5a; 32];
        }
        Self {
            dialect,
            keys: Arc::new(keys),
            cache: KeyCache::new(DEFAULT_KEY_CACHE_ENTRIES),
            decoy: Secret::new(decoy.to_vec()),
            window: DEFAULT_WINDOW,
            required: vec!["x-amz-date".into()],
            allow_unsigned: false,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// How far `X-Amz-Date` may be from the server's clock, either way
    /// (1 second ..= 1 hour; default 5 minutes).
    pub fn window(mut self, window: Duration) -> Result<Self, ConfigError> {
        if window < Duration::from_secs(1) || window > Duration::from_secs(3600) {
            return Err(ConfigError::new("window", "must be 1 s ..= 1 hour"));
        }
        self.window = window;
        Ok(self)
    }

    /// Also requires `name` to be among the signed headers (`host` is recommended:
    /// it binds the signature to your hostname). `x-amz-date` is always required.
    pub fn require_signed_header(mut self, name: &str) -> Result<Self, ConfigError> {
        let lower = name.to_ascii_lowercase();
        if parse_signed_headers(&lower).is_err() || lower.contains(';') {
            return Err(ConfigError::new(
                "require_signed_header",
                "not a header name",
            ));
        }
        if !self.required.iter().any(|r| **r == *lower) {
            if self.required.len() >= MAX_REQUIRED_HEADERS {
                return Err(ConfigError::new(
                    "require_signed_header",
                    "at most 16 required headers",
                ));
            }
            self.required.push(lower.into());
        }
        Ok(self)
    }

    /// Accepts `UNSIGNED-PAYLOAD`, so the body is **not** authenticated: anyone who
    /// sees one signed request can replay its head with another body. Off by default.
    pub fn insecure_allow_unsigned_payload(mut self, allow: bool) -> Self {
        self.allow_unsigned = allow;
        self
    }

    /// Most body bytes buffered and hashed (default 1 MiB); longer bodies get 413
    /// without the rest being read.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Bound of the derived-key cache (default 4096; 0 disables it).
    pub fn key_cache_entries(mut self, entries: usize) -> Self {
        self.cache = KeyCache::new(entries);
        self
    }

    /// The dialect.
    pub fn dialect(&self) -> &Dialect {
        &self.dialect
    }

    /// The time window.
    pub fn window_len(&self) -> Duration {
        self.window
    }

    /// The body limit in bytes.
    pub fn body_limit_bytes(&self) -> usize {
        self.body_limit
    }

    /// The derived-key cache (e.g. to [`KeyCache::clear`] it after rotating secrets).
    pub fn key_cache(&self) -> &KeyCache {
        &self.cache
    }

    /// Verifies a request whose body is bytes.
    pub fn verify_request<B: AsRef<[u8]>>(
        &self,
        req: &Request<B>,
        now: Duration,
    ) -> Result<Verified, SignatureError> {
        let head = self.check_head(req.method(), req.uri(), req.headers(), now)?;
        self.finish(
            &head,
            req.method(),
            req.uri(),
            req.headers(),
            req.body().as_ref(),
        )
    }

    /// Verifies the head `parts` of a request whose body is `body`.
    pub fn verify(
        &self,
        parts: &Parts,
        body: &[u8],
        now: Duration,
    ) -> Result<Verified, SignatureError> {
        let head = self.check_head(&parts.method, &parts.uri, &parts.headers, now)?;
        self.finish(&head, &parts.method, &parts.uri, &parts.headers, body)
    }

    /// Phase one, from the head alone: parse the credentials, check the time and the
    /// policy, and look the key up (an unknown key gets a decoy, and fails only in
    /// [`Verifier::finish`], in the same time as a wrong signature).
    pub fn check_head(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now: Duration,
    ) -> Result<HeadCheck, SignatureError> {
        let _ = method;
        use SignatureError::Malformed;
        let mut auths = headers.get_all(AUTHORIZATION).iter();
        let auth = auths.next();
        if auths.next().is_some() {
            return Err(Malformed("more than one Authorization header"));
        }
        let query = uri
            .query()
            .filter(|q| self.dialect.presigned() && q.contains("X-Amz-"));
        let presign = match query {
            Some(q) => parse_presigned(q, &self.dialect)?,
            None => None,
        };
        let mut head = match (auth, presign) {
            (Some(_), Some(_)) => {
                return Err(Malformed(
                    "both an Authorization header and a presigned query",
                ));
            }
            (None, None) => return Err(SignatureError::Missing),
            (Some(auth), None) => self.check_header_auth(auth, headers, now)?,
            (None, Some(p)) => self.check_presigned(p, now)?,
        };
        // One pass over the signed names: all present, the required ones among them.
        let mut required_seen = 0u32;
        let mut content_signed = false;
        for name in signed_names(head.signed()) {
            let present = header_values(headers, name).iter().next().is_some()
                || (name == "host" && uri.authority().is_some());
            if !present {
                return Err(Malformed("a signed header is missing from the request"));
            }
            content_signed |= name == "x-amz-content-sha256";
            if let Some(i) = self.required.iter().position(|r| **r == *name) {
                required_seen |= 1 << i;
            }
        }
        for (i, req) in self.required.iter().enumerate() {
            let via_query = head.presigned && &**req == "x-amz-date";
            if required_seen & (1 << i) == 0 && !via_query {
                return Err(SignatureError::Policy("a required header is not signed"));
            }
        }
        if content_signed {
            // (`head` was made with `Content::Body`, the answer when it is not signed.)
            head.content = self.content_mode(headers)?;
        }
        Ok(head)
    }

    fn check_header_auth(
        &self,
        auth: &HeaderValue,
        headers: &HeaderMap,
        now: Duration,
    ) -> Result<HeadCheck, SignatureError> {
        use SignatureError::Malformed;
        let creds = parse_authorization(auth.as_bytes(), &self.dialect)?;
        let mut dates = headers.get_all(X_AMZ_DATE).iter();
        let amz_date = dates.next().ok_or(Malformed("missing X-Amz-Date header"))?;
        if dates.next().is_some() {
            return Err(Malformed("more than one X-Amz-Date header"));
        }
        let amz_date: [u8; 16] = amz_date
            .as_bytes()
            .try_into()
            .map_err(|_| Malformed("X-Amz-Date must be YYYYMMDDTHHMMSSZ"))?;
        let t =
            parse_amz_date(&amz_date).ok_or(Malformed("X-Amz-Date must be YYYYMMDDTHHMMSSZ"))?;
        if amz_date.get(..8) != Some(creds.date.as_bytes()) {
            return Err(Malformed("Credential date is not the X-Amz-Date date"));
        }
        let skew = now.abs_diff(t);
        if skew > self.window {
            return Err(SignatureError::Expired);
        }
        Ok(self.head(creds, amz_date, false, self.window.saturating_mul(2)))
    }

    fn check_presigned(&self, p: Presigned, now: Duration) -> Result<HeadCheck, SignatureError> {
        use SignatureError::Malformed;
        let creds = Credentials {
            key_id: &p.key_id,
            date: &p.date,
            signed_headers: &p.signed_headers,
            signature: p.signature,
        };
        let t =
            parse_amz_date(&p.amz_date).ok_or(Malformed("X-Amz-Date must be YYYYMMDDTHHMMSSZ"))?;
        if p.amz_date.get(..8) != Some(p.date.as_bytes()) {
            return Err(Malformed("Credential date is not the X-Amz-Date date"));
        }
        if t > now.saturating_add(self.window) || now > t.saturating_add(p.expires) {
            return Err(SignatureError::Expired);
        }
        let ttl = t
            .saturating_add(p.expires)
            .saturating_sub(now)
            .max(self.window.saturating_mul(2));
        Ok(self.head(creds, p.amz_date, true, ttl))
    }

    fn head(
        &self,
        c: Credentials<'_>,
        amz_date: [u8; 16],
        presigned: bool,
        ttl: Duration,
    ) -> HeadCheck {
        // The key is looked up here; an unknown one gets a decoy and fails only in
        // `finish`, after the same work as a wrong signature.
        let (key, key_id, known) =
            match self
                .cache
                .lookup(&*self.keys, c.key_id, c.date, &self.dialect)
            {
                Some((key, id)) => (key, id, true),
                None => (
                    SigningKey::derive(&self.decoy, c.date, &self.dialect),
                    Arc::from(c.key_id),
                    false,
                ),
            };
        HeadCheck {
            key_id,
            amz_date,
            signed_headers: smallvec::SmallVec::from_slice(c.signed_headers.as_bytes()),
            signature: c.signature,
            key,
            known,
            presigned,
            content: Content::Body,
            replay_ttl: ttl,
        }
    }

    /// How the payload hash is obtained when `x-amz-content-sha256` is signed.
    fn content_mode(&self, headers: &HeaderMap) -> Result<Content, SignatureError> {
        use SignatureError::Malformed;
        let mut values = headers.get_all(X_AMZ_CONTENT_SHA256).iter();
        let v = values
            .next()
            .ok_or(Malformed("missing x-amz-content-sha256"))?;
        if values.next().is_some() {
            return Err(Malformed("more than one x-amz-content-sha256 header"));
        }
        if v.as_bytes() == UNSIGNED_PAYLOAD.as_bytes() {
            return if self.allow_unsigned {
                Ok(Content::Unsigned)
            } else {
                Err(SignatureError::Policy("UNSIGNED-PAYLOAD is not accepted"))
            };
        }
        let hex: [u8; 64] = v
            .as_bytes()
            .try_into()
            .ok()
            .filter(|h: &[u8; 64]| h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or(Malformed(
                "x-amz-content-sha256 must be 64 lower-case hex digits or UNSIGNED-PAYLOAD",
            ))?;
        Ok(Content::Declared(hex))
    }

    /// Phase two, with the body: hash it, rebuild the canonical request, and compare
    /// the 32 signature bytes in constant time.
    pub fn finish(
        &self,
        head: &HeadCheck,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, SignatureError> {
        let digest = head
            .hashes_body()
            .then(|| <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(body)));
        self.finish_hashed(head, method, uri, headers, body.len(), digest)
    }

    /// [`Verifier::finish`] for a body already hashed while it was read: `body_len` bytes
    /// whose SHA-256 is `digest` (needed when [`HeadCheck::hashes_body`]).
    pub fn finish_hashed(
        &self,
        head: &HeadCheck,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body_len: usize,
        digest: Option<[u8; 32]>,
    ) -> Result<Verified, SignatureError> {
        if body_len > self.body_limit {
            return Err(SignatureError::PayloadTooLarge);
        }
        let hashed;
        let payload: &[u8] = match (&head.content, digest) {
            (Content::Unsigned, _) => UNSIGNED_PAYLOAD.as_bytes(),
            // A caller that did not hash the body: nothing can match.
            (_, None) => return Err(SignatureError::Mismatch),
            (Content::Body, Some(d)) => {
                hashed = hex32(&d);
                &hashed
            }
            (Content::Declared(declared), Some(d)) => {
                hashed = hex32(&d);
                if !ct_eq(&hashed, declared) {
                    return Err(SignatureError::ContentMismatch);
                }
                declared
            }
        };
        let mut ok = self.matches(head, method, uri, headers, payload)?;
        if !ok && head.presigned && self.allow_unsigned && head.content == Content::Body {
            // S3-style presigned URLs sign UNSIGNED-PAYLOAD without saying so.
            ok = self.matches(head, method, uri, headers, UNSIGNED_PAYLOAD.as_bytes())?;
        }
        if !(ok & head.known) {
            return Err(SignatureError::Mismatch);
        }
        Ok(Verified {
            key_id: head.key_id.clone(),
            signature: head.signature,
            presigned: head.presigned,
            replay_ttl: head.replay_ttl,
        })
    }

    fn matches(
        &self,
        head: &HeadCheck,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        payload: &[u8],
    ) -> Result<bool, SignatureError> {
        let hash = canonical_request_hash(
            &self.dialect,
            &CanonicalParts {
                method,
                uri,
                headers,
                signed_headers: head.signed(),
                payload_hash: payload,
                presigned: head.presigned,
            },
        )
        .map_err(|e| match e {
            CanonicalError::MissingSignedHeader => {
                SignatureError::Malformed("a signed header is missing from the request")
            }
            CanonicalError::TooManyQueryParams => {
                SignatureError::Malformed("too many query parameters")
            }
        })?;
        let key = &head.key;
        let date = head.amz_date.get(..8).unwrap_or_default();
        let expected = key.sign_parts(&self.dialect, &head.amz_date, date, &hash);
        Ok(ct_eq(&expected, &head.signature))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("dialect", &self.dialect)
            .field("window", &self.window)
            .field("required", &self.required)
            .field("allow_unsigned", &self.allow_unsigned)
            .field("body_limit", &self.body_limit)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Presigned query credentials, owned (they were percent-decoded).
struct Presigned {
    key_id: String,
    date: String,
    amz_date: [u8; 16],
    expires: Duration,
    signed_headers: String,
    signature: [u8; 32],
}

/// `Some` when the query carries `X-Amz-Signature`; then every other auth parameter
/// must be there exactly once and well-formed.
fn parse_presigned(query: &str, dialect: &Dialect) -> Result<Option<Presigned>, SignatureError> {
    use SignatureError::Malformed;
    let pairs = query_pairs(query).map_err(|_| Malformed("too many query parameters"))?;
    let mut found: [Option<&[u8]>; 6] = [None; 6];
    const NAMES: [&str; 6] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        X_AMZ_SIGNATURE,
    ];
    for (k, v) in &pairs {
        if let Some(i) = NAMES.iter().position(|n| n.as_bytes() == &**k) {
            let slot = found.get_mut(i).ok_or(Malformed("presigned query"))?;
            if slot.replace(v).is_some() {
                return Err(Malformed("repeated presigned query parameter"));
            }
        }
    }
    let [alg, cred, date, expires, signed, sig] = found;
    let Some(sig) = sig else { return Ok(None) };
    let (Some(alg), Some(cred), Some(date), Some(expires), Some(signed)) =
        (alg, cred, date, expires, signed)
    else {
        return Err(Malformed("presigned URL lacks an X-Amz-* parameter"));
    };
    let text = |b: &[u8]| -> Result<String, SignatureError> {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| s.len() <= MAX_AUTHORIZATION_LEN && s.bytes().all(|c| c.is_ascii_graphic()))
            .map(str::to_owned)
            .ok_or(Malformed("presigned query parameter is not visible ASCII"))
    };
    if text(alg)? != dialect.algorithm() {
        return Err(Malformed("unsupported signature algorithm"));
    }
    let cred = text(cred)?;
    let (key_id, cdate) = parse_credential(cred.as_bytes(), dialect, cred.as_bytes(), Some(&cred))?;
    let expires = text(expires)?;
    let secs: u64 =
        (!expires.is_empty() && expires.len() <= 6 && expires.bytes().all(|b| b.is_ascii_digit()))
            .then(|| expires.parse().ok())
            .flatten()
            .filter(|s| (1..=MAX_PRESIGN_EXPIRES.as_secs()).contains(s))
            .ok_or(Malformed("X-Amz-Expires must be 1..=604800 seconds"))?;
    let signed = text(signed)?;
    parse_signed_headers(&signed)?;
    let amz_date: [u8; 16] = date
        .try_into()
        .map_err(|_| Malformed("X-Amz-Date must be YYYYMMDDTHHMMSSZ"))?;
    Ok(Some(Presigned {
        key_id: key_id.to_owned(),
        date: cdate.to_owned(),
        amz_date,
        expires: Duration::from_secs(secs),
        signature: parse_signature(text(sig)?.as_bytes())?,
        signed_headers: signed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn auth(s: &str) -> Result<Credentials<'_>, SignatureError> {
        parse_authorization(s.as_bytes(), &Dialect::verus())
    }

    #[test]
    fn parses_the_seed_format_and_variants() {
        let v = format!(
            "HMAC-SHA256 Credential=alk_x/20250115/verus/aws4_request, SignedHeaders=x-amz-date, Signature={SIG}"
        );
        let c = auth(&v).unwrap();
        assert_eq!(c.key_id, "alk_x");
        assert_eq!(c.signature[0], 0x01);
        // no spaces after commas, different order
        let v = format!(
            "HMAC-SHA256 Signature={SIG},Credential=alk_x/20250115/verus/aws4_request,SignedHeaders=host;x-amz-date"
        );
        assert_eq!(auth(&v).unwrap().signed_headers, "host;x-amz-date");
    }

    #[test]
    fn rejects_malformed() {
        let ok_cred = "Credential=alk_x/20250115/verus/aws4_request";
        let cases = [
            String::new(),
            "HMAC-SHA256".into(),
            format!("AWS4-HMAC-SHA256 {ok_cred}, SignedHeaders=x-amz-date, Signature={SIG}"),
            format!("HMAC-SHA256 {ok_cred}, SignedHeaders=x-amz-date"),
            format!("HMAC-SHA256 {ok_cred}, {ok_cred}, SignedHeaders=x-amz-date, Signature={SIG}"),
            format!("HMAC-SHA256 {ok_cred}, SignedHeaders=x-amz-date, Signature={SIG}, Extra=1"),
            format!("HMAC-SHA256 {ok_cred}, SignedHeaders=X-Amz-Date, Signature={SIG}"),
            format!("HMAC-SHA256 {ok_cred}, SignedHeaders=x-amz-date;host, Signature={SIG}"),
            format!("HMAC-SHA256 {ok_cred}, SignedHeaders=host;host, Signature={SIG}"),
            format!("HMAC-SHA256 {ok_cred}, SignedHeaders=, Signature={SIG}"),
            format!(
                "HMAC-SHA256 {ok_cred}, SignedHeaders=x-amz-date, Signature={}",
                SIG.to_uppercase()
            ),
            format!(
                "HMAC-SHA256 {ok_cred}, SignedHeaders=x-amz-date, Signature={}",
                &SIG[..63]
            ),
            format!(
                "HMAC-SHA256 Credential=alk_x/2025011/verus/aws4_request, SignedHeaders=x-amz-date, Signature={SIG}"
            ),
            format!(
                "HMAC-SHA256 Credential=alk_x/20250115/verus, SignedHeaders=x-amz-date, Signature={SIG}"
            ),
            format!(
                "HMAC-SHA256 Credential=/20250115/verus/aws4_request, SignedHeaders=x-amz-date, Signature={SIG}"
            ),
            format!(
                "HMAC-SHA256 Credential=alk_x/20250115/verus/aws4_request/x, SignedHeaders=x-amz-date, Signature={SIG}"
            ),
        ];
        for c in &cases {
            assert!(
                matches!(auth(c), Err(SignatureError::Malformed(_))),
                "{c:?} -> {:?}",
                auth(c)
            );
        }
        let wrong = format!(
            "HMAC-SHA256 Credential=alk_x/20250115/other/aws4_request, SignedHeaders=x-amz-date, Signature={SIG}"
        );
        assert_eq!(auth(&wrong), Err(SignatureError::WrongScope));
        assert!(matches!(
            parse_authorization(&vec![b'a'; 5000], &Dialect::verus()),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn amz_dates() {
        assert_eq!(
            parse_amz_date(b"20250115T103000Z"),
            Some(Duration::from_secs(1_736_937_000))
        );
        assert_eq!(parse_amz_date(b"19700101T000000Z"), Some(Duration::ZERO));
        for bad in [
            &b"20250115T103000"[..],
            b"20251315T103000Z",
            b"20250230T103000Z",
            b"20250115T243000Z",
            b"2025011XT103000Z",
            b"20250115 103000Z",
            b"+0250115T103000Z",
            b"19691231T235959Z",
        ] {
            assert_eq!(
                parse_amz_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The parsers as they were before they were sped up, kept as the reference
    /// the fast ones must agree with on every input, error messages included.
    mod reference {
        use super::super::{
            Credentials, Dialect, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS, MAX_TOKEN_LEN,
            SignatureError,
        };
        use crate::core::ct::decode_hex_into;

        fn old_valid_key_id(id: &[u8]) -> bool {
            !id.is_empty()
                && id.len() <= MAX_TOKEN_LEN
                && id
                    .iter()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b',' | b'=' | b';'))
        }

        pub(super) fn parse_authorization<'a>(
            value: &'a [u8],
            dialect: &Dialect,
        ) -> Result<Credentials<'a>, SignatureError> {
            use SignatureError::Malformed;
            if value.len() > MAX_AUTHORIZATION_LEN {
                return Err(Malformed("Authorization header is too long"));
            }
            let sp = value
                .iter()
                .position(|&b| b == b' ')
                .ok_or(Malformed("Authorization header has no algorithm"))?;
            let (alg, rest) = value.split_at(sp);
            if alg != dialect.algorithm().as_bytes() {
                return Err(Malformed("unsupported signature algorithm"));
            }
            let mut cred: Option<&[u8]> = None;
            let mut signed: Option<&[u8]> = None;
            let mut sig: Option<&[u8]> = None;
            for component in rest.split(|&b| b == b',') {
                let component = trim_spaces(component);
                let eq = component
                    .iter()
                    .position(|&b| b == b'=')
                    .ok_or(Malformed("Authorization component without '='"))?;
                let (name, v) = component.split_at(eq);
                let v = v.get(1..).unwrap_or_default();
                let slot = match name {
                    b"Credential" => &mut cred,
                    b"SignedHeaders" => &mut signed,
                    b"Signature" => &mut sig,
                    _ => return Err(Malformed("unknown Authorization component")),
                };
                if slot.replace(v).is_some() {
                    return Err(Malformed("repeated Authorization component"));
                }
            }
            let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
                return Err(Malformed(
                    "Authorization needs Credential, SignedHeaders and Signature",
                ));
            };
            let (key_id, date) = parse_credential(cred, dialect)?;
            let signed = std::str::from_utf8(signed)
                .map_err(|_| Malformed("SignedHeaders must be lower-case header names"))?;
            Ok(Credentials {
                key_id,
                date,
                signed_headers: parse_signed_headers(signed)?,
                signature: parse_signature(sig)?,
            })
        }

        fn trim_spaces(mut s: &[u8]) -> &[u8] {
            while let [b' ', rest @ ..] = s {
                s = rest;
            }
            while let [rest @ .., b' '] = s {
                s = rest;
            }
            s
        }

        fn parse_credential<'a>(
            cred: &'a [u8],
            dialect: &Dialect,
        ) -> Result<(&'a str, &'a str), SignatureError> {
            use SignatureError::Malformed;
            let mut parts = cred.split(|&b| b == b'/');
            let key_id = parts.next().unwrap_or_default();
            let date = parts.next().unwrap_or_default();
            if !old_valid_key_id(key_id) {
                return Err(Malformed("invalid key id in Credential"));
            }
            if date.len() != 8 || !date.iter().all(u8::is_ascii_digit) {
                return Err(Malformed("invalid date in Credential"));
            }
            let mut tail_ok = true;
            let mut n = 0usize;
            for (i, part) in parts.enumerate() {
                if part.is_empty() || part.len() > MAX_TOKEN_LEN {
                    return Err(Malformed("invalid Credential scope"));
                }
                tail_ok &= dialect
                    .scope_tail()
                    .get(i)
                    .is_some_and(|want| want.as_bytes() == part);
                n = i + 1;
            }
            if n != dialect.scope_tail().len() {
                return Err(Malformed("Credential has the wrong number of scope parts"));
            }
            if !tail_ok {
                return Err(SignatureError::WrongScope);
            }
            // Both were checked to be ASCII above.
            match (std::str::from_utf8(key_id), std::str::from_utf8(date)) {
                (Ok(k), Ok(d)) => Ok((k, d)),
                _ => Err(Malformed("invalid Credential")),
            }
        }

        const fn is_header_name_byte(b: u8) -> bool {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        }

        pub(super) fn parse_signed_headers(list: &str) -> Result<&str, SignatureError> {
            use SignatureError::Malformed;
            let mut prev: Option<&[u8]> = None;
            for (i, name) in list.as_bytes().split(|&b| b == b';').enumerate() {
                if i >= MAX_SIGNED_HEADERS {
                    return Err(Malformed("too many SignedHeaders"));
                }
                if name.is_empty()
                    || name.len() > MAX_TOKEN_LEN
                    || !name.iter().all(|&b| is_header_name_byte(b))
                {
                    return Err(Malformed("SignedHeaders must be lower-case header names"));
                }
                if prev.is_some_and(|p| p >= name) {
                    return Err(Malformed("SignedHeaders must be sorted and unique"));
                }
                prev = Some(name);
            }
            Ok(list)
        }

        fn parse_signature(sig: &[u8]) -> Result<[u8; 32], SignatureError> {
            let mut out = [0u8; 32];
            let lower = sig.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            match decode_hex_into(sig, &mut out) {
                Some(()) if lower => Ok(out),
                _ => Err(SignatureError::Malformed(
                    "Signature must be 64 lower-case hex digits",
                )),
            }
        }
    }

    /// A well-formed `Authorization` value, for mutating.
    fn good_auth(d: &Dialect) -> String {
        format!(
            "{} Credential=AKIDEXAMPLE/20250115/{}, SignedHeaders=content-type;host;x-amz-date, Signature={SIG}",
            d.algorithm(),
            d.scope_tail().join("/")
        )
    }

    fn dialects() -> [Dialect; 3] {
        [
            Dialect::verus(),
            Dialect::aws("us-east-1", "execute-api").unwrap(),
            Dialect::aws_s3("eu-west-1").unwrap(),
        ]
    }

    fn same_as_reference(bytes: &[u8]) -> Result<(), TestCaseError> {
        for d in dialects() {
            prop_assert_eq!(
                parse_authorization(bytes, &d),
                reference::parse_authorization(bytes, &d),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        if let Ok(s) = std::str::from_utf8(bytes) {
            prop_assert_eq!(parse_signed_headers(s), reference::parse_signed_headers(s));
        }
        Ok(())
    }

    #[test]
    fn signature_digits_agree_with_the_reference_for_every_byte() {
        for d in dialects() {
            let good = good_auth(&d).into_bytes();
            let sig_at = good.len() - 64;
            for i in sig_at..good.len() {
                for b in 0..=255u8 {
                    let mut v = good.clone();
                    v[i] = b;
                    assert_eq!(
                        parse_authorization(&v, &d),
                        reference::parse_authorization(&v, &d),
                        "{i} {b}"
                    );
                }
            }
        }
        // Every byte value decodes as it should.
        for hi in 0..16u8 {
            for lo in 0..16u8 {
                let hex = format!("{:x}{:x}", hi, lo).repeat(32);
                let want = [(hi << 4) | lo; 32];
                assert_eq!(parse_signature(hex.as_bytes()), Ok(want));
            }
        }
    }

    #[test]
    fn fast_parsers_agree_with_the_reference_on_every_one_byte_edit() {
        let bytes: &[u8] = b"\0\t ,/;=0aAzZ-_.~\x7f\x80\xc3\xa9";
        for d in dialects() {
            let good = good_auth(&d).into_bytes();
            assert!(parse_authorization(&good, &d).is_ok());
            for i in 0..=good.len() {
                let mut removed = good.clone();
                if i < good.len() {
                    removed.remove(i);
                    same_as_reference(&removed).unwrap();
                }
                for &b in bytes {
                    let mut changed = good.clone();
                    if i < good.len() {
                        changed[i] = b;
                        same_as_reference(&changed).unwrap();
                    }
                    let mut inserted = good.clone();
                    inserted.insert(i, b);
                    same_as_reference(&inserted).unwrap();
                }
            }
        }
        for list in [
            "", ";", "a;", ";a", "a;a", "b;a", "a;b", "a;B", "a;\u{e9}", "a b",
        ] {
            assert_eq!(
                parse_signed_headers(list),
                reference::parse_signed_headers(list),
                "{list:?}"
            );
        }
        let many = (0..70).map(|i| format!("h{i:03}")).collect::<Vec<_>>();
        for n in [63, 64, 65, 70] {
            let list = many[..n].join(";");
            assert_eq!(
                parse_signed_headers(&list),
                reference::parse_signed_headers(&list)
            );
            let bad = format!("{list};\u{e9}");
            assert_eq!(
                parse_signed_headers(&bad),
                reference::parse_signed_headers(&bad)
            );
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_errors_are_4xx(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            for d in [Dialect::verus(), Dialect::aws("us-east-1", "s3").unwrap()] {
                if let Err(e) = parse_authorization(&bytes, &d) {
                    prop_assert!(e.rejection().status().is_client_error());
                }
            }
        }

        #[test]
        fn find_byte_finds_the_first(
            needle in any::<u8>(),
            picks in proptest::collection::vec(0usize..6, 0..40),
        ) {
            // Bytes next to the needle's bit pattern, where a word-at-a-time search
            // could be fooled by a borrow.
            let near = [needle, needle ^ 1, needle ^ 0x80, needle.wrapping_add(1), needle.wrapping_sub(1), 0];
            let hay: Vec<u8> = picks.iter().map(|&i| near[i]).collect();
            prop_assert_eq!(find_byte(&hay, needle), hay.iter().position(|&b| b == needle));
        }

        #[test]
        fn fast_parsers_agree_with_the_reference(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            same_as_reference(&bytes)?;
        }

        #[test]
        fn fast_parsers_agree_with_the_reference_on_near_misses(
            d in 0usize..3,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
        ) {
            let mut v = good_auth(&dialects()[d]).into_bytes();
            for (at, op, b) in edits {
                let i = at.index(v.len() + 1);
                match op {
                    0 if i < v.len() => { v[i] = b; }
                    1 if i < v.len() => { v.remove(i); }
                    _ => v.insert(i, b),
                }
            }
            same_as_reference(&v)?;
        }

        #[test]
        fn structured_garbage_never_panics(
            alg in prop_oneof![Just("HMAC-SHA256".to_owned()), Just("AWS4-HMAC-SHA256".to_owned()), "[ -~]{0,12}"],
            comps in proptest::collection::vec(("[A-Za-z]{0,14}", "[ -~]{0,80}"), 0..5),
            sep in prop_oneof![Just(", "), Just(","), Just(" , "), Just(";")].prop_map(str::to_owned),
        ) {
            let v = format!("{alg} {}", comps.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(&sep));
            if let Err(e) = parse_authorization(v.as_bytes(), &Dialect::verus()) {
                prop_assert!(e.rejection().status().is_client_error());
            }
        }
    }
}
