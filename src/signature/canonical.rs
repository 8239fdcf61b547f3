//! The canonical request of SigV4, by AWS's rules, parameterised by a [`Dialect`].
//!
//! Everything here is pure and synchronous. The canonical request is never built as
//! a string on the hot path: it is streamed into a SHA-256 ([`Sink`]), and only
//! tests and debugging ask for the bytes ([`canonical_request`]).

use std::borrow::Cow;
use std::fmt;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, GetAll, HOST};
use http::{HeaderMap, HeaderValue, Method, Uri};
use sha2::{Digest, Sha256};

use super::sign::{X_AMZ_CONTENT_SHA256, X_AMZ_DATE};
use crate::core::error::ConfigError;

/// The payload hash that says "the body is not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The query parameter that carries a presigned URL's signature (never part of the
/// canonical query string).
pub const X_AMZ_SIGNATURE: &str = "X-Amz-Signature";

/// Most query parameters a signed request may carry; more is a malformed request.
pub const MAX_QUERY_PARAMS: usize = 256;

/// Most headers a request may sign.
pub const MAX_SIGNED_HEADERS: usize = 64;

/// Longest accepted key id, credential scope part, or `SignedHeaders` list entry.
pub const MAX_TOKEN_LEN: usize = 128;

/// How the canonical URI is derived from the path the request carries on the wire
/// (which the client already percent-encoded once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UriEncoding {
    /// The wire path as it is: Amazon S3's rule, and what the Verus seed clients sign
    /// (they sign exactly the `uri` they send).
    Single,
    /// The wire path URI-encoded once more (every `%` becomes `%25`, and so on): the
    /// rule of every AWS service but S3, and what botocore and the AWS SDKs do by default.
    Double,
}

/// One SigV4 scheme: its algorithm label, its credential scope, and how it builds
/// the canonical URI.
///
/// * [`Dialect::verus()`]: the Auspex Verus scheme (`HMAC-SHA256`,
///   `YYYYMMDD/verus/aws4_request`, path as sent, no presigned URLs).
/// * [`Dialect::aws`]: real AWS SigV4 (`AWS4-HMAC-SHA256`,
///   `YYYYMMDD/region/service/aws4_request`, double URI encoding with path
///   normalisation, presigned URLs accepted).
/// * [`Dialect::aws_s3`]: the S3 variant (single encoding, no normalisation).
///
/// ```
/// use tower_shield::signature::{Dialect, UriEncoding};
/// let d = Dialect::aws("eu-west-1", "execute-api").unwrap();
/// assert_eq!(d.algorithm(), "AWS4-HMAC-SHA256");
/// assert_eq!(d.uri_encoding(), UriEncoding::Double);
/// assert_eq!(Dialect::verus().credential_scope("20250115"), "20250115/verus/aws4_request");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Dialect {
    algorithm: Cow<'static, str>,
    /// The scope after the date, e.g. `["us-east-1", "s3", "aws4_request"]`.
    scope_tail: Box<[Box<str>]>,
    uri_encoding: UriEncoding,
    normalize_path: bool,
    presigned: bool,
    /// Whether the dialect's own clients sign `host` (AWS SDKs do, the Verus seed does not).
    signs_host: bool,
}

impl Dialect {
    /// The Auspex Verus dialect, exactly as the seed's six clients sign.
    pub fn verus() -> Self {
        Self {
            algorithm: Cow::Borrowed("HMAC-SHA256"),
            scope_tail: Box::new(["verus".into(), "aws4_request".into()]),
            uri_encoding: UriEncoding::Single,
            normalize_path: false,
            presigned: false,
            signs_host: false,
        }
    }

    /// Real AWS SigV4 for `service` in `region` (both non-empty, at most 128 bytes
    /// of `[A-Za-z0-9._-]`).
    pub fn aws(region: &str, service: &str) -> Result<Self, ConfigError> {
        check_scope_part("region", region)?;
        check_scope_part("service", service)?;
        Ok(Self {
            algorithm: Cow::Borrowed("AWS4-HMAC-SHA256"),
            scope_tail: Box::new([region.into(), service.into(), "aws4_request".into()]),
            uri_encoding: UriEncoding::Double,
            normalize_path: true,
            presigned: true,
            signs_host: true,
        })
    }

    /// AWS SigV4 as Amazon S3 applies it: service `s3`, single URI encoding, no
    /// path normalisation.
    pub fn aws_s3(region: &str) -> Result<Self, ConfigError> {
        Ok(Self::aws(region, "s3")?
            .with_uri_encoding(UriEncoding::Single)
            .with_normalize_path(false))
    }

    /// Sets the URI encoding rule.
    pub fn with_uri_encoding(mut self, encoding: UriEncoding) -> Self {
        self.uri_encoding = encoding;
        self
    }

    /// Whether to remove `.`/`..` segments and empty segments (`//`) from the path
    /// before encoding it, as botocore does for every service but S3.
    pub fn with_normalize_path(mut self, normalize: bool) -> Self {
        self.normalize_path = normalize;
        self
    }

    /// Whether presigned query authentication (`X-Amz-Signature` in the URL) is
    /// accepted. On by default for [`Dialect::aws`], off for [`Dialect::verus`].
    pub fn with_presigned(mut self, presigned: bool) -> Self {
        self.presigned = presigned;
        self
    }

    /// The algorithm label, e.g. `AWS4-HMAC-SHA256`.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The credential scope after the date.
    pub fn scope_tail(&self) -> &[Box<str>] {
        &self.scope_tail
    }

    /// The URI encoding rule.
    pub fn uri_encoding(&self) -> UriEncoding {
        self.uri_encoding
    }

    /// Whether the path is normalised.
    pub fn normalize_path(&self) -> bool {
        self.normalize_path
    }

    /// Whether presigned URLs are accepted.
    pub fn presigned(&self) -> bool {
        self.presigned
    }

    /// Whether [`Signer`](super::Signer) signs `host` by default in this dialect.
    pub fn signs_host(&self) -> bool {
        self.signs_host
    }

    /// `date/tail/...`, e.g. `20250115/verus/aws4_request`.
    pub fn credential_scope(&self, date: &str) -> String {
        let mut s = String::with_capacity(64);
        s.push_str(date);
        for part in self.scope_tail.iter() {
            s.push('/');
            s.push_str(part);
        }
        s
    }
}

impl fmt::Debug for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialect")
            .field("algorithm", &self.algorithm)
            .field("scope_tail", &self.scope_tail)
            .field("uri_encoding", &self.uri_encoding)
            .field("normalize_path", &self.normalize_path)
            .field("presigned", &self.presigned)
            .finish()
    }
}

fn check_scope_part(field: &'static str, v: &str) -> Result<(), ConfigError> {
    if v.is_empty() || v.len() > MAX_TOKEN_LEN {
        return Err(ConfigError::new(field, "must be 1..=128 bytes"));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ConfigError::new(field, "must be [A-Za-z0-9._-]"));
    }
    Ok(())
}

/// Where canonical bytes go: a hash on the hot path, a `Vec` for tests.
pub trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// 1 KiB on the stack, spilling to the heap for larger canonical requests.
struct StackBuf {
    buf: [u8; 1024],
    len: usize,
    spill: Vec<u8>,
}

impl StackBuf {
    fn new() -> Self {
        Self {
            buf: [0; 1024],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn as_slice(&self) -> &[u8] {
        if self.spill.is_empty() {
            self.buf.get(..self.len).unwrap_or_default()
        } else {
            &self.spill
        }
    }
}

impl Sink for StackBuf {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.spill.is_empty() {
            let end = self.len + bytes.len();
            if let Some(dst) = self.buf.get_mut(self.len..end) {
                dst.copy_from_slice(bytes);
                self.len = end;
                return;
            }
            self.spill.reserve(end.max(2048));
            self.spill
                .extend_from_slice(self.buf.get(..self.len).unwrap_or_default());
        }
        self.spill.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Why a canonical request cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanonicalError {
    /// A header named in `SignedHeaders` is not on the request.
    MissingSignedHeader,
    /// More than [`MAX_QUERY_PARAMS`] query parameters.
    TooManyQueryParams,
}

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingSignedHeader => "a signed header is missing from the request",
            Self::TooManyQueryParams => "too many query parameters",
        })
    }
}

/// What a canonical request is made of.
#[derive(Clone, Copy, Debug)]
pub struct CanonicalParts<'a> {
    /// The method, verbatim.
    pub method: &'a Method,
    /// The request target (path and query as on the wire).
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The `SignedHeaders` list: lower-case names, sorted, `;`-separated (validated by the caller).
    pub signed_headers: &'a str,
    /// The payload hash as it goes in the canonical request (64 lower-hex digits or `UNSIGNED-PAYLOAD`).
    pub payload_hash: &'a [u8],
    /// Leave `X-Amz-Signature` out of the query (presigned URLs).
    pub presigned: bool,
}

/// Streams the canonical request of `parts` under `dialect` into `sink`:
///
/// ```text
/// METHOD \n canonical-uri \n canonical-query \n (name:value \n)* \n signed-headers \n payload-hash
/// ```
pub fn write_canonical_request<S: Sink>(
    dialect: &Dialect,
    parts: &CanonicalParts<'_>,
    sink: &mut S,
) -> Result<(), CanonicalError> {
    sink.put(parts.method.as_str().as_bytes());
    sink.put(b"\n");
    write_canonical_uri(dialect, parts.uri.path(), sink);
    sink.put(b"\n");
    write_canonical_query(parts.uri.query(), parts.presigned, sink)?;
    sink.put(b"\n");
    for name in signed_names(parts.signed_headers) {
        sink.put(name.as_bytes());
        sink.put(b":");
        let mut any = false;
        for value in header_values(parts.headers, name) {
            if any {
                sink.put(b",");
            }
            any = true;
            write_trimmed(value.as_bytes(), sink);
        }
        if !any {
            // HTTP/2 carries the host in `:authority`, which lands in the URI.
            match (name, parts.uri.authority()) {
                ("host", Some(auth)) => write_trimmed(auth.as_str().as_bytes(), sink),
                _ => return Err(CanonicalError::MissingSignedHeader),
            }
        }
        sink.put(b"\n");
    }
    sink.put(b"\n");
    sink.put(parts.signed_headers.as_bytes());
    sink.put(b"\n");
    sink.put(parts.payload_hash);
    Ok(())
}

/// The names of a `SignedHeaders` list: `list.split(';')`, without the set-up of
/// `str`'s searcher, which costs more than scanning such short names.
pub(crate) fn signed_names(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(list);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.bytes().position(|b| b == b';') {
            Some(i) => {
                rest = s.get(i + 1..);
                s.get(..i)
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// The values of header `name` (lower-case). The names SigV4 clients sign most
/// are looked up by their `HeaderName`, which spares `HeaderMap` parsing `name`
/// again (as it does for a `&str`); the answer is the same.
pub(crate) fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> GetAll<'h, HeaderValue> {
    match name {
        "host" => headers.get_all(HOST),
        "x-amz-date" => headers.get_all(X_AMZ_DATE),
        "content-type" => headers.get_all(CONTENT_TYPE),
        "x-amz-content-sha256" => headers.get_all(X_AMZ_CONTENT_SHA256),
        "content-length" => headers.get_all(CONTENT_LENGTH),
        _ => headers.get_all(name),
    }
}

/// The canonical request as bytes (for tests, debugging and error reports).
pub fn canonical_request(
    dialect: &Dialect,
    parts: &CanonicalParts<'_>,
) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_canonical_request(dialect, parts, &mut out)?;
    Ok(out)
}

/// SHA-256 of the canonical request.
pub fn canonical_request_hash(
    dialect: &Dialect,
    parts: &CanonicalParts<'_>,
) -> Result<[u8; 32], CanonicalError> {
    // Gathering the small pieces first and hashing once is faster than feeding the
    // hash piece by piece; the buffer is bounded by the request head's size.
    let mut buf = StackBuf::new();
    write_canonical_request(dialect, parts, &mut buf)?;
    Ok(Sha256::digest(buf.as_slice()).into())
}

/// Trims SP/HTAB at both ends and folds inner runs of them into one space.
fn write_trimmed<S: Sink>(value: &[u8], sink: &mut S) {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    if !value.iter().any(is_ws) {
        // The usual case: nothing to trim or fold.
        sink.put(value);
        return;
    }
    let start = value.iter().position(|b| !is_ws(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| i + 1);
    let value = value.get(start..end).unwrap_or_default();
    let mut run_start = 0;
    let mut i = 0;
    while i < value.len() {
        if value.get(i).is_some_and(is_ws) {
            sink.put(value.get(run_start..i).unwrap_or_default());
            sink.put(b" ");
            while value.get(i).is_some_and(is_ws) {
                i += 1;
            }
            run_start = i;
        } else {
            i += 1;
        }
    }
    sink.put(value.get(run_start..).unwrap_or_default());
}

/// The canonical URI of a wire path.
pub fn write_canonical_uri<S: Sink>(dialect: &Dialect, path: &str, sink: &mut S) {
    let path: Cow<'_, str> = if dialect.normalize_path {
        remove_dot_segments(path)
    } else {
        Cow::Borrowed(path)
    };
    if path.is_empty() {
        sink.put(b"/");
        return;
    }
    match dialect.uri_encoding {
        UriEncoding::Single => sink.put(path.as_bytes()),
        UriEncoding::Double => uri_encode(path.as_bytes(), true, sink),
    }
}

/// RFC 3986 dot-segment removal that also drops empty segments, as botocore's
/// `normalize_url_path`: `/a//b/./c/../d/` becomes `/a/b/d/`.
pub fn remove_dot_segments(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if !needs_normalizing(path.as_bytes()) {
        return Cow::Borrowed(path);
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::with_capacity(path.len());
    if path.starts_with('/') {
        s.push('/');
    }
    s.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        s.push('/');
    }
    Cow::Owned(s)
}

/// `path` has an empty segment between two slashes (`//`), or a `.` or `..` segment.
fn needs_normalizing(path: &[u8]) -> bool {
    let dot_segment = |seg_len: usize, dots: usize| seg_len == dots && (1..=2).contains(&seg_len);
    let (mut prev, mut seg_len, mut dots) = (0u8, 0usize, 0usize);
    for &b in path {
        if b == b'/' {
            if prev == b'/' || dot_segment(seg_len, dots) {
                return true;
            }
            (seg_len, dots) = (0, 0);
        } else {
            seg_len += 1;
            dots += usize::from(b == b'.');
        }
        prev = b;
    }
    dot_segment(seg_len, dots)
}

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// [`is_unreserved`] as a table, and `/` kept or not: `[unreserved, unreserved or '/']`.
static URI_KEEP: [[bool; 256]; 2] = {
    let mut t = [[false; 256]; 2];
    let mut i = 0;
    while i < 256 {
        t[0][i] = is_unreserved(i as u8);
        t[1][i] = t[0][i] || i == b'/' as usize;
        i += 1;
    }
    t
};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// AWS `UriEncode`: every byte but `A-Za-z0-9-._~` (and `/` when `keep_slash`)
/// becomes `%XX` with upper-case hex.
pub fn uri_encode<S: Sink>(bytes: &[u8], keep_slash: bool, sink: &mut S) {
    let keep = &URI_KEEP[usize::from(keep_slash)];
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if keep[usize::from(b)] {
            continue;
        }
        sink.put(bytes.get(run_start..i).unwrap_or_default());
        let esc = [
            b'%',
            HEX_UPPER[usize::from(b >> 4)],
            HEX_UPPER[usize::from(b & 0xf)],
        ];
        sink.put(&esc);
        run_start = i + 1;
    }
    sink.put(bytes.get(run_start..).unwrap_or_default());
}

/// Percent-decodes `s` (`%XX` only; `+` stays `+`; a `%` not followed by two hex
/// digits stays a literal `%`).
pub fn percent_decode(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

/// A percent-decoded query parameter: (key, value).
pub type QueryPair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// The query's `(key, value)` pairs, percent-decoded, in wire order (empty `&&`
/// segments skipped; a pair without `=` has an empty value). At most
/// [`MAX_QUERY_PARAMS`].
pub fn query_pairs(query: &str) -> Result<Vec<QueryPair<'_>>, CanonicalError> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_QUERY_PARAMS {
            return Err(CanonicalError::TooManyQueryParams);
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        pairs.push((percent_decode(k.as_bytes()), percent_decode(v.as_bytes())));
    }
    Ok(pairs)
}

/// The canonical query string: each key and value decoded and re-encoded with
/// AWS `UriEncode`, sorted by encoded key then encoded value, joined with `&`.
pub fn write_canonical_query<S: Sink>(
    query: Option<&str>,
    presigned: bool,
    sink: &mut S,
) -> Result<(), CanonicalError> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(());
    };
    let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (k, v) in query_pairs(query)? {
        if presigned && *k == *X_AMZ_SIGNATURE.as_bytes() {
            continue;
        }
        let mut ek = Vec::with_capacity(k.len());
        uri_encode(&k, false, &mut ek);
        let mut ev = Vec::with_capacity(v.len());
        uri_encode(&v, false, &mut ev);
        encoded.push((ek, ev));
    }
    encoded.sort_unstable();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            sink.put(b"&");
        }
        sink.put(k);
        sink.put(b"=");
        sink.put(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str, keep_slash: bool) -> String {
        let mut v = Vec::new();
        uri_encode(s.as_bytes(), keep_slash, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn cq(q: &str) -> String {
        let mut v = Vec::new();
        write_canonical_query(Some(q), true, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    fn trimmed(s: &str) -> String {
        let mut v = Vec::new();
        write_trimmed(s.as_bytes(), &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn uri_encoding_follows_aws() {
        assert_eq!(enc("/a b/c~d_e.f-g", true), "/a%20b/c~d_e.f-g");
        assert_eq!(enc("/a%20b", true), "/a%2520b");
        assert_eq!(enc("a/b=c+d", false), "a%2Fb%3Dc%2Bd");
        assert_eq!(enc("é", false), "%C3%A9");
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(cq("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(cq("key=a%20b&flag&x=%7e"), "flag=&key=a%20b&x=~");
        assert_eq!(cq("q=a+b&&z=%zz"), "q=a%2Bb&z=%25zz");
        assert_eq!(cq("X-Amz-Signature=abc&A=1"), "A=1");
        // Sorted by the *encoded* key: `%5B` (for `[`) sorts before `A`.
        assert_eq!(cq("%5B=1&A=2"), "%5B=1&A=2");
        let many = vec!["a=1"; MAX_QUERY_PARAMS + 1].join("&");
        let mut v = Vec::new();
        assert_eq!(
            write_canonical_query(Some(&many), false, &mut v),
            Err(CanonicalError::TooManyQueryParams)
        );
    }

    #[test]
    fn stack_buffer_spills_in_order() {
        let mut b = StackBuf::new();
        let chunk = [7u8; 300];
        let mut want = Vec::new();
        for i in 0..10u8 {
            b.put(&chunk);
            b.put(&[i]);
            want.extend_from_slice(&chunk);
            want.push(i);
        }
        assert_eq!(b.as_slice(), &want[..]);
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        assert_eq!(trimmed("  a   b \t c  "), "a b c");
        assert_eq!(trimmed(""), "");
        assert_eq!(trimmed("   "), "");
        assert_eq!(trimmed("x"), "x");
    }

    #[test]
    fn needs_normalizing_matches_its_definition() {
        let old = |p: &str| p.contains("//") || p.split('/').any(|seg| seg == "." || seg == "..");
        let alphabet = ["/", ".", "a", "..", "%2E"];
        let mut paths = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for p in &paths {
                for a in alphabet {
                    next.push(format!("{p}{a}"));
                }
            }
            paths.extend(next);
            paths.sort();
            paths.dedup();
        }
        for p in &paths {
            assert_eq!(needs_normalizing(p.as_bytes()), old(p), "{p:?}");
        }
        for p in ["/...", "/a./b", "/.a/", "/v1/classify", "/a/b/.", "/a/../b"] {
            assert_eq!(needs_normalizing(p.as_bytes()), old(p), "{p:?}");
        }
    }

    #[test]
    fn signed_names_split_like_str_split() {
        for list in [
            "",
            ";",
            "a",
            "a;b",
            "a;;b",
            "a;",
            ";a",
            "host;x-amz-date",
            "é;b",
        ] {
            assert_eq!(
                signed_names(list).collect::<Vec<_>>(),
                list.split(';').collect::<Vec<_>>(),
                "{list:?}"
            );
        }
    }

    #[test]
    fn uri_encode_table_matches_is_unreserved() {
        for b in 0..=255u8 {
            for keep_slash in [false, true] {
                let mut v = Vec::new();
                uri_encode(&[b], keep_slash, &mut v);
                let kept = is_unreserved(b) || (keep_slash && b == b'/');
                let want = if kept {
                    vec![b]
                } else {
                    format!("%{b:02X}").into_bytes()
                };
                assert_eq!(v, want);
            }
        }
    }

    #[test]
    fn dot_segments_like_botocore() {
        assert_eq!(remove_dot_segments("/a//b/./c/../d/"), "/a/b/d/");
        assert_eq!(remove_dot_segments("/../.."), "/");
        assert_eq!(remove_dot_segments("/a/b"), "/a/b");
        assert_eq!(remove_dot_segments(""), "/");
        assert_eq!(remove_dot_segments("//"), "/");
    }

    #[test]
    fn canonical_request_layout_matches_the_seed() {
        let uri: Uri = "/verus/classify".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-date", "20250115T103000Z".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        let cr = canonical_request(
            &Dialect::verus(),
            &CanonicalParts {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                signed_headers: "x-amz-date",
                payload_hash: b"abc",
                presigned: false,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(cr).unwrap(),
            "POST\n/verus/classify\n\nx-amz-date:20250115T103000Z\n\nx-amz-date\nabc"
        );
    }

    #[test]
    fn missing_signed_header_and_host_fallback() {
        let uri: Uri = "https://example.com:8443/x".parse().unwrap();
        let headers = HeaderMap::new();
        let p = CanonicalParts {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
            signed_headers: "host",
            payload_hash: b"h",
            presigned: false,
        };
        let cr = canonical_request(&Dialect::aws("us-east-1", "svc").unwrap(), &p).unwrap();
        assert!(
            String::from_utf8(cr)
                .unwrap()
                .contains("\nhost:example.com:8443\n")
        );
        let p = CanonicalParts {
            signed_headers: "x-foo",
            ..p
        };
        assert_eq!(
            canonical_request(&Dialect::verus(), &p),
            Err(CanonicalError::MissingSignedHeader)
        );
    }

    #[test]
    fn aws_dialect_checks_scope_parts() {
        assert!(Dialect::aws("", "s3").is_err());
        assert!(Dialect::aws("us/east", "s3").is_err());
        assert!(Dialect::aws("us-east-1", "execute-api").is_ok());
        let s3 = Dialect::aws_s3("us-east-1").unwrap();
        assert_eq!(s3.uri_encoding(), UriEncoding::Single);
        assert!(!s3.normalize_path());
        assert_eq!(
            Dialect::verus().credential_scope("20250115"),
            "20250115/verus/aws4_request"
        );
    }
}
