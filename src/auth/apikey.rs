//! API keys: `X-API-Key`, `Authorization: Bearer`, and (opt-in) a query parameter.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use sha2::{Digest, Sha256};
use tower_layer::Layer;
use tower_service::Service;

use crate::core::body::{BodyMode, InnerBody, ShieldBody, WrappedBody};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::ext::{Principal, PrincipalKind};
use crate::core::future::ResponseFuture;
use crate::core::hash::PassThrough;
use crate::core::quota::Quota;
use crate::core::reject::{Rejection, RejectionKind, Renderer};

/// `X-API-Key`.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Longest API key read (bytes). Longer presented keys are refused unread.
pub const MAX_KEY_LEN: usize = 256;

/// The SHA-256 of an API key: what the store holds instead of the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    /// The digest of `key`.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// `true` when `self` and `other` are the same digest, in constant time
    /// ([`ct_eq`](crate::core::ct::ct_eq)).
    ///
    /// Why constant time at all: [`StaticApiKeys`] finds a record by hashing and `==` on
    /// the digest, which leaks only how much of a *digest* matched, and a guess at a
    /// SHA-256 digest cannot be steered byte by byte; but an [`ApiKeyStore`] may hand back
    /// a record for a digest it did not compare (a prefix index, a cache), and this check
    /// is what then stands between a near miss and a login.
    pub fn ct_eq(&self, other: &KeyDigest) -> bool {
        crate::core::ct::ct_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyDigest({}..)",
            crate::core::ct::encode_hex(&self.0[..4])
        )
    }
}

/// What is known about one key.
#[derive(Clone, Debug)]
pub struct ApiKeyRecord {
    /// The principal id handlers and rate limits see (never the key itself).
    pub id: Arc<str>,
    /// Permissions, e.g. `["verify"]`.
    pub permissions: Arc<[Arc<str>]>,
    /// The key's own rate limits (its plan), applied by `RateLimitLayer` in place of the defaults.
    pub quotas: Option<Arc<[Quota]>>,
    /// A revoked key is refused like an unknown one.
    pub revoked: bool,
}

/// Finds a key's record by the digest of the presented key.
///
/// Implement it over your database; lookups are synchronous, so keep the keys (or a
/// cache of them) in memory.
pub trait ApiKeyStore: Send + Sync + 'static {
    /// The record for the key whose SHA-256 is `digest`.
    fn find(&self, digest: &KeyDigest) -> Option<(KeyDigest, ApiKeyRecord)>;
}

impl<T: ApiKeyStore + ?Sized> ApiKeyStore for Arc<T> {
    fn find(&self, digest: &KeyDigest) -> Option<(KeyDigest, ApiKeyRecord)> {
        (**self).find(digest)
    }
}

/// A fixed set of keys, held only as SHA-256 digests.
///
/// ```
/// use tower_shield::auth::{ApiKeyStore, KeyDigest, StaticApiKeys};
/// use tower_shield::core::Quota;
///
/// let keys = StaticApiKeys::new()
///     .key("tsk_demo_key", ["verify"], Some(Quota::per_hour(1000)))
///     .unwrap();
/// assert!(keys.find(&KeyDigest::of("tsk_demo_key")).is_some());
/// assert!(keys.find(&KeyDigest::of("tsk_other")).is_none());
/// ```
#[derive(Clone, Default)]
pub struct StaticApiKeys {
    // A key's SHA-256 digest is already uniform: its first eight bytes are the hash.
    // Presented keys only look up; the entries are the operator's, so choosing keys whose
    // digests share a bucket gains nothing.
    keys: HashMap<KeyDigest, ApiKeyRecord, PassThrough>,
}

impl StaticApiKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` with `permissions` and an optional quota of its own. Its principal id
    /// (what handlers, logs, rate-limit store keys and `whoami` answers see) is
    /// [`StaticApiKeys::digest_id`]: `key_` and 12 hex digits of the key's SHA-256, which
    /// reveal nothing of the key. Use [`StaticApiKeys::named_key`] for a name of yours.
    pub fn key<P, S>(
        self,
        key: &str,
        permissions: P,
        quota: Option<Quota>,
    ) -> Result<Self, ConfigError>
    where
        P: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let id = Self::digest_id(key);
        self.named_key(&id, key, permissions, quota)
    }

    /// The principal id [`StaticApiKeys::key`] gives `key`: `key_` and the first 12 hex
    /// digits (48 bits) of its SHA-256.
    ///
    /// ```
    /// use tower_shield::auth::StaticApiKeys;
    /// let id = StaticApiKeys::digest_id("tsk_demo_key");
    /// assert!(id.starts_with("key_") && id.len() == 16 && !id.contains("tsk"));
    /// ```
    pub fn digest_id(key: &str) -> String {
        let digest = KeyDigest::of(key);
        format!("key_{}", crate::core::ct::encode_hex(&digest.0[..6]))
    }

    /// [`StaticApiKeys::key`] with the principal id `name` (say, the customer's name); the
    /// name is yours to keep free of key material.
    pub fn named_key<P, S>(
        self,
        name: &str,
        key: &str,
        permissions: P,
        quota: Option<Quota>,
    ) -> Result<Self, ConfigError>
    where
        P: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "api key name",
                "must be 1..=128 visible ASCII characters",
            ));
        }
        let id = name;
        self.record(
            key,
            ApiKeyRecord {
                id: id.into(),
                permissions: permissions.into_iter().map(Into::into).collect(),
                quotas: quota.map(|q| Arc::from([q])),
                revoked: false,
            },
        )
    }

    /// Adds `key` with a full record.
    pub fn record(mut self, key: &str, record: ApiKeyRecord) -> Result<Self, ConfigError> {
        if key.len() < 8 || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "api key",
                "must be 8..=256 visible ASCII characters",
            ));
        }
        if self.keys.insert(KeyDigest::of(key), record).is_some() {
            return Err(ConfigError::new("api key", "duplicate key"));
        }
        Ok(self)
    }

    /// Marks `key` revoked.
    pub fn revoke(mut self, key: &str) -> Self {
        if let Some(r) = self.keys.get_mut(&KeyDigest::of(key)) {
            r.revoked = true;
        }
        self
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

impl fmt::Debug for StaticApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticApiKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl ApiKeyStore for StaticApiKeys {
    fn find(&self, digest: &KeyDigest) -> Option<(KeyDigest, ApiKeyRecord)> {
        self.keys
            .get_key_value(digest)
            .map(|(k, v)| (*k, v.clone()))
    }
}

/// Where the layer looked for a key and what it found: the pure decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    /// No key anywhere.
    Missing,
    /// More than one, or a malformed one (two `X-API-Key` headers, a key and a different
    /// bearer, a non-ASCII or oversized value).
    Ambiguous,
    /// One key.
    Key(std::borrow::Cow<'a, str>),
}

/// Finds the one API key of a request: `X-API-Key`, `Authorization: Bearer`, and the
/// `query_param` when one is given.
pub fn presented_key<'a>(
    headers: &'a HeaderMap,
    uri: &'a Uri,
    query_param: Option<&str>,
) -> Presented<'a> {
    let mut found: Option<std::borrow::Cow<'a, str>> = None;
    let add =
        |found: &mut Option<std::borrow::Cow<'a, str>>, k: std::borrow::Cow<'a, str>| -> bool {
            if k.is_empty() || k.len() > MAX_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return false;
            }
            match found {
                Some(prev) if *prev != k => false,
                _ => {
                    *found = Some(k);
                    true
                }
            }
        };
    // Two `X-API-Key` (or `Authorization`) fields are ambiguous whatever they hold.
    let (api_key, auth) = match key_headers(headers) {
        Some(found) => found,
        None => return Presented::Ambiguous,
    };
    if let Some(v) = api_key {
        // The first key seen, and `header_key` checked what `add` would: taken as is.
        match header_key(v.as_bytes()) {
            Some(s) => found = Some(std::borrow::Cow::Borrowed(s)),
            None => return Presented::Ambiguous,
        }
    }
    if let Some(v) = auth
        && let Ok(s) = v.to_str()
        && let Some((scheme, token)) = s.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
        && !add(&mut found, std::borrow::Cow::Borrowed(token.trim()))
    {
        return Presented::Ambiguous;
    }
    if let (Some(param), Some(query)) = (query_param, uri.query()) {
        let mut seen = 0;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == param {
                seen += 1;
                let accepted = seen == 1
                    && percent_decode(v)
                        .is_some_and(|d| add(&mut found, std::borrow::Cow::Owned(d)));
                if !accepted {
                    return Presented::Ambiguous;
                }
            }
        }
    }
    match found {
        Some(k) => Presented::Key(k),
        None => Presented::Missing,
    }
}

/// The one `X-API-Key` and the one `Authorization` field of `headers` (each `None` when
/// absent); `None` when either is repeated. A request's few fields are read in one pass
/// (one name comparison each) rather than hashing both names; one with many fields
/// falls back to the two lookups.
fn key_headers(headers: &HeaderMap) -> Option<(Option<&HeaderValue>, Option<&HeaderValue>)> {
    if headers.len() > crate::core::ONE_PASS_MAX_HEADERS {
        return Some((
            only(headers.get_all(X_API_KEY).iter())?,
            only(headers.get_all(AUTHORIZATION).iter())?,
        ));
    }
    let (mut api_key, mut auth) = (None, None);
    for (name, value) in headers {
        // `Authorization` is a standard name (compared as an enum tag); `X-API-Key` is
        // custom (compared as bytes, after the length).
        let slot = if *name == AUTHORIZATION {
            &mut auth
        } else if *name == X_API_KEY {
            &mut api_key
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    Some((api_key, auth))
}

/// The only item of `values`: `Some(None)` when empty, `None` when there are several.
fn only<'a>(
    mut values: http::header::ValueIter<'a, HeaderValue>,
) -> Option<Option<&'a HeaderValue>> {
    let first = values.next();
    if values.next().is_some() {
        return None;
    }
    Some(first)
}

/// An `X-API-Key` value as a key: spaces and tabs around it dropped, then 1 to
/// [`MAX_KEY_LEN`] visible ASCII characters (no space), else `None`. One pass: what
/// `HeaderValue::to_str`, `str::trim` and the key check did in three (a value `to_str`
/// accepts holds no other whitespace than spaces and tabs, so `trim` cut only those).
fn header_key(value: &[u8]) -> Option<&str> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b))?;
    let end = value.iter().rposition(|b| !blank(b))? + 1;
    let key = value.get(start..end)?;
    if key.len() > MAX_KEY_LEN || !key.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    std::str::from_utf8(key).ok()
}

/// `application/x-www-form-urlencoded` value decoding; `None` on bad escapes or non-UTF-8.
fn percent_decode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    if b.len() > MAX_KEY_LEN * 3 {
        return None;
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let mut byte = [0u8; 1];
                crate::core::ct::decode_hex_into(b.get(i + 1..i + 3)?, &mut byte)?;
                out.push(byte[0]);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Authenticates requests by API key and inserts the [`Principal`].
///
/// See the [module docs](super) for sources, storage and caveats.
pub struct ApiKeyLayer<K = StaticApiKeys, M = InnerBody> {
    inner: Arc<Config<K>>,
    mode: PhantomData<fn() -> M>,
}

struct Config<K> {
    keys: Arc<K>,
    required: Vec<Arc<str>>,
    query_param: Option<String>,
    optional: bool,
    renderer: Renderer,
    clock: SharedClock,
}

impl<K> Clone for Config<K> {
    fn clone(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            required: self.required.clone(),
            query_param: self.query_param.clone(),
            optional: self.optional,
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<K, M> Clone for ApiKeyLayer<K, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            mode: PhantomData,
        }
    }
}

impl<K, M> fmt::Debug for ApiKeyLayer<K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyLayer")
            .field("required", &self.inner.required)
            .field("query_param", &self.inner.query_param)
            .field("optional", &self.inner.optional)
            .finish()
    }
}

impl<K: ApiKeyStore> ApiKeyLayer<K> {
    /// Requires a valid key from `keys` on every request; keys are read from `X-API-Key`
    /// and `Authorization: Bearer` only.
    pub fn new(keys: K) -> Self {
        Self {
            inner: Arc::new(Config {
                keys: Arc::new(keys),
                required: Vec::new(),
                query_param: None,
                optional: false,
                renderer: Renderer::default(),
                clock: Arc::new(SystemClock),
            }),
            mode: PhantomData,
        }
    }
}

impl<K: ApiKeyStore, M> ApiKeyLayer<K, M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> ApiKeyLayer<K, InnerBody> {
        self.with_mode()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> ApiKeyLayer<K, WrappedBody> {
        self.with_mode()
    }

    pub(crate) fn with_mode<M2>(self) -> ApiKeyLayer<K, M2> {
        ApiKeyLayer {
            inner: self.inner,
            mode: PhantomData,
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config<K>)) -> Self {
        f(Arc::make_mut(&mut self.inner));
        self
    }

    /// Also requires `permission` (403 `INSUFFICIENT_PERMISSIONS` without it).
    pub fn require(self, permission: impl Into<Arc<str>>) -> Self {
        let p = permission.into();
        self.edit(|c| c.required.push(p))
    }

    /// Also reads the key from the query parameter `name` (e.g. `apiKey`). Keys in URLs
    /// end up in access logs, proxies and `Referer` headers: enable this only for
    /// clients that cannot send a header.
    pub fn insecure_allow_query(self, name: &str) -> Result<Self, ConfigError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::new(
                "query parameter",
                "must be a non-empty [A-Za-z0-9_-] name",
            ));
        }
        let name = name.to_owned();
        Ok(self.edit(|c| c.query_param = Some(name)))
    }

    /// Lets requests without any key through unauthenticated (no `Principal`); a
    /// presented but invalid key is still refused.
    pub fn optional(self) -> Self {
        self.edit(|c| c.optional = true)
    }

    /// How rejections are rendered.
    pub fn renderer(self, renderer: Renderer) -> Self {
        self.edit(|c| c.renderer = renderer)
    }

    /// The clock rejections are stamped with.
    pub fn clock(self, clock: SharedClock) -> Self {
        self.edit(|c| c.clock = clock)
    }

    /// The pure decision for a request's headers and URI.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<Option<Principal>, Rejection> {
        let c = &self.inner;
        let key = match presented_key(headers, uri, c.query_param.as_deref()) {
            Presented::Missing if c.optional => return Ok(None),
            Presented::Missing => {
                return Err(Rejection::new(
                    RejectionKind::InvalidApiKey,
                    "An API key is required",
                ));
            }
            Presented::Ambiguous => {
                return Err(Rejection::new(
                    RejectionKind::InvalidApiKey,
                    "The provided API key is invalid or has been revoked",
                ));
            }
            Presented::Key(k) => k,
        };
        let digest = KeyDigest::of(&key);
        let record = match c.keys.find(&digest) {
            Some((stored, record)) if stored.ct_eq(&digest) && !record.revoked => record,
            _ => {
                return Err(Rejection::new(
                    RejectionKind::InvalidApiKey,
                    "The provided API key is invalid or has been revoked",
                ));
            }
        };
        let principal = Principal {
            id: record.id,
            kind: PrincipalKind::ApiKey,
            permissions: record.permissions,
            quotas: record.quotas,
        };
        if let Some(missing) = c.required.iter().find(|p| !principal.has_permission(p)) {
            return Err(Rejection::new(
                RejectionKind::InsufficientPermissions,
                format!("API key doesn't have the required permission: {missing}"),
            ));
        }
        Ok(Some(principal))
    }
}

impl<S, K: ApiKeyStore, M> Layer<S> for ApiKeyLayer<K, M> {
    type Service = ApiKeyService<S, K, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiKeyService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ApiKeyLayer`] wraps around an inner service.
pub struct ApiKeyService<S, K = StaticApiKeys, M = InnerBody> {
    inner: S,
    layer: ApiKeyLayer<K, M>,
}

impl<S: Clone, K, M> Clone for ApiKeyService<S, K, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, K, M> fmt::Debug for ApiKeyService<S, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, K, M, ReqB, ResB> Service<Request<ReqB>> for ApiKeyService<S, K, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    K: ApiKeyStore,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        match self.layer.decide(&mut req) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(res) => ResponseFuture::ready(res),
        }
    }
}

impl<K: ApiKeyStore, M> ApiKeyLayer<K, M> {
    /// The layer's decision: inserts the [`Principal`] (if a key was presented), or
    /// returns the response that refuses the request.
    // The refusal is returned once and goes straight into the response future; boxing
    // it would add an allocation to every refused request.
    #[allow(clippy::result_large_err)]
    pub(crate) fn decide<ReqB, ResB>(
        &self,
        req: &mut Request<ReqB>,
    ) -> Result<(), Response<ShieldBody<ResB>>> {
        if let Some(p) = self.judge(req)? {
            req.extensions_mut().insert(p);
        }
        Ok(())
    }

    /// [`decide`](Self::decide) without inserting: the principal, for a caller that keeps
    /// it elsewhere (`Shield`'s one extension).
    #[allow(clippy::result_large_err)]
    pub(crate) fn judge<ReqB, ResB>(
        &self,
        req: &Request<ReqB>,
    ) -> Result<Option<Principal>, Response<ShieldBody<ResB>>> {
        match self.authenticate(req.headers(), req.uri()) {
            Ok(principal) => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::ApiKey);
                Ok(principal)
            }
            Err(rejection) => {
                let c = &self.inner;
                Err(c.renderer.refuse(
                    crate::core::metrics::Layer::ApiKey,
                    req,
                    c.clock.now(),
                    rejection,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layer() -> ApiKeyLayer {
        ApiKeyLayer::new(
            StaticApiKeys::new()
                .key("tsk_demo_key", ["verify"], Some(Quota::per_hour(1000)))
                .unwrap()
                .key("tsk_read_only", ["read"], None)
                .unwrap()
                .key("tsk_revoked_1", ["verify"], None)
                .unwrap()
                .revoke("tsk_revoked_1"),
        )
        .require("verify")
    }

    fn auth(
        l: &ApiKeyLayer,
        headers: &[(&str, &str)],
        uri: &str,
    ) -> Result<Option<Principal>, RejectionKind> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        l.authenticate(&h, &uri.parse().unwrap())
            .map_err(|r| r.kind())
    }

    #[test]
    fn sources_and_outcomes() {
        let l = layer();
        let ok = auth(&l, &[("x-api-key", "tsk_demo_key")], "/")
            .unwrap()
            .unwrap();
        assert_eq!(ok.kind, PrincipalKind::ApiKey);
        // Issue 17, item 7: the id held the key's first 8 characters (`tsk_demo..`).
        assert!(
            !ok.id.contains("tsk_demo"),
            "the id reveals nothing of the key: {}",
            ok.id
        );
        assert_eq!(&*ok.id, StaticApiKeys::digest_id("tsk_demo_key"));
        assert!(ok.id.starts_with("key_") && ok.id.len() == 16);
        assert_eq!(ok.quotas.as_deref(), Some(&[Quota::per_hour(1000)][..]));
        assert!(auth(&l, &[("authorization", "Bearer tsk_demo_key")], "/").is_ok());
        assert!(
            auth(
                &l,
                &[
                    ("authorization", "bearer tsk_demo_key"),
                    ("x-api-key", "tsk_demo_key")
                ],
                "/"
            )
            .is_ok(),
            "the same key twice is fine"
        );
        use RejectionKind::*;
        assert_eq!(auth(&l, &[], "/"), Err(InvalidApiKey));
        assert_eq!(
            auth(&l, &[("x-api-key", "tsk_unknown_k")], "/"),
            Err(InvalidApiKey)
        );
        assert_eq!(
            auth(&l, &[("x-api-key", "tsk_revoked_1")], "/"),
            Err(InvalidApiKey)
        );
        assert_eq!(
            auth(&l, &[("x-api-key", "tsk_read_only")], "/"),
            Err(InsufficientPermissions)
        );
        assert_eq!(
            auth(
                &l,
                &[("x-api-key", "tsk_demo_key"), ("x-api-key", "tsk_demo_key")],
                "/"
            ),
            Err(InvalidApiKey)
        );
        assert_eq!(
            auth(
                &l,
                &[
                    ("x-api-key", "tsk_demo_key"),
                    ("authorization", "Bearer tsk_read_only")
                ],
                "/"
            ),
            Err(InvalidApiKey)
        );
        assert_eq!(
            auth(&l, &[], "/?apiKey=tsk_demo_key"),
            Err(InvalidApiKey),
            "query is off by default"
        );
    }

    #[test]
    fn query_param_when_enabled() {
        let l = layer().insecure_allow_query("apiKey").unwrap();
        assert!(auth(&l, &[], "/api/verify?apiKey=tsk_demo_key").is_ok());
        assert!(auth(&l, &[], "/api/verify?x=1&apiKey=tsk%5Fdemo%5Fkey").is_ok());
        assert_eq!(
            auth(&l, &[], "/?apiKey=tsk_demo_key&apiKey=tsk_demo_key"),
            Err(RejectionKind::InvalidApiKey)
        );
        assert_eq!(
            auth(&l, &[], "/?apiKey=%zz"),
            Err(RejectionKind::InvalidApiKey)
        );
        assert!(
            ApiKeyLayer::new(StaticApiKeys::new())
                .insecure_allow_query("a b")
                .is_err()
        );
    }

    #[test]
    fn optional_lets_anonymous_through_but_not_bad_keys() {
        let l = ApiKeyLayer::new(
            StaticApiKeys::new()
                .key("tsk_demo_key", ["verify"], None)
                .unwrap(),
        )
        .optional();
        assert_eq!(auth(&l, &[], "/"), Ok(None));
        assert_eq!(
            auth(&l, &[("x-api-key", "wrong-key-123")], "/"),
            Err(RejectionKind::InvalidApiKey)
        );
    }

    #[test]
    fn bad_static_keys_are_config_errors() {
        assert!(StaticApiKeys::new().key("short", ["x"], None).is_err());
        assert!(
            StaticApiKeys::new()
                .key("has space in it", ["x"], None)
                .is_err()
        );
        assert!(
            StaticApiKeys::new()
                .key("tsk_dup_key", ["x"], None)
                .unwrap()
                .key("tsk_dup_key", ["y"], None)
                .is_err()
        );
    }

    /// The header part of `presented_key` before the one-pass rewrite: two lookups,
    /// `to_str`, `trim` and the key check, kept to test the rewrite against.
    fn presented_by_lookup(headers: &HeaderMap) -> Presented<'_> {
        let mut found: Option<std::borrow::Cow<'_, str>> = None;
        let mut add = |k: std::borrow::Cow<'static, str>| -> bool {
            if k.is_empty() || k.len() > MAX_KEY_LEN || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return false;
            }
            match &found {
                Some(prev) if prev != &k => false,
                _ => {
                    found = Some(k);
                    true
                }
            }
        };
        let mut api_keys = headers.get_all(X_API_KEY).iter();
        if let Some(v) = api_keys.next() {
            if api_keys.next().is_some() {
                return Presented::Ambiguous;
            }
            match v.to_str() {
                Ok(s) if add(std::borrow::Cow::Owned(s.trim().to_owned())) => {}
                _ => return Presented::Ambiguous,
            }
        }
        let mut auths = headers.get_all(AUTHORIZATION).iter();
        if let Some(v) = auths.next() {
            if auths.next().is_some() {
                return Presented::Ambiguous;
            }
            if let Ok(s) = v.to_str()
                && let Some((scheme, token)) = s.split_once(' ')
                && scheme.eq_ignore_ascii_case("bearer")
                && !add(std::borrow::Cow::Owned(token.trim().to_owned()))
            {
                return Presented::Ambiguous;
            }
        }
        match found {
            Some(k) => Presented::Key(k),
            None => Presented::Missing,
        }
    }

    #[test]
    fn many_fields_take_the_lookup_path() {
        let mut h = HeaderMap::new();
        for i in 0..20 {
            h.insert(
                HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                "v".parse().unwrap(),
            );
        }
        h.insert(X_API_KEY, " tsk_demo_key\t".parse().unwrap());
        let uri: Uri = "/".parse().unwrap();
        assert_eq!(
            presented_key(&h, &uri, None),
            Presented::Key("tsk_demo_key".into())
        );
        h.append(X_API_KEY, "tsk_demo_key".parse().unwrap());
        assert_eq!(presented_key(&h, &uri, None), Presented::Ambiguous);
        h.remove(X_API_KEY);
        h.append(AUTHORIZATION, "Bearer a".parse().unwrap());
        h.append(AUTHORIZATION, "Bearer a".parse().unwrap());
        assert_eq!(presented_key(&h, &uri, None), Presented::Ambiguous);
    }

    /// A field value from a small alphabet that hits every branch: blanks, bearer
    /// schemes, controls, non-ASCII, DEL, and keys of every length near the bound.
    fn hostile_value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(
                prop_oneof![
                    Just(b' '),
                    Just(b'\t'),
                    Just(b'a'),
                    Just(b'k'),
                    Just(0x7f),
                    Just(0x80),
                    Just(0xff),
                    Just(0x01),
                    Just(b'"'),
                ],
                0..12
            ),
            (0usize..3, "[a-z]{0,4}", 0usize..3, any::<bool>()).prop_map(
                |(pre, k, post, bearer)| {
                    let mut v = Vec::new();
                    if bearer {
                        v.extend_from_slice(b"Bearer ");
                    }
                    v.extend(std::iter::repeat_n(b' ', pre));
                    v.extend_from_slice(k.as_bytes());
                    v.extend(std::iter::repeat_n(b'\t', post));
                    v
                }
            ),
            (250usize..260, any::<bool>()).prop_map(|(n, bearer)| {
                let mut v = if bearer {
                    b"bearer ".to_vec()
                } else {
                    Vec::new()
                };
                v.extend(std::iter::repeat_n(b'x', n));
                v
            }),
        ]
    }

    proptest! {
        #[test]
        fn one_pass_equals_lookups(
            fields in proptest::collection::vec((0usize..4, hostile_value()), 0..6),
            filler in 0usize..20,
        ) {
            let mut h = HeaderMap::new();
            for i in 0..filler {
                h.append(
                    HeaderName::from_bytes(format!("x-f{i}").as_bytes()).unwrap(),
                    http::HeaderValue::from_static("1"),
                );
            }
            for (name, v) in &fields {
                let name = [X_API_KEY, AUTHORIZATION, http::header::ACCEPT, HeaderName::from_static("x-api-keys")][*name].clone();
                if let Ok(v) = http::HeaderValue::from_bytes(v) {
                    h.append(name, v);
                }
            }
            let uri: Uri = "/".parse().unwrap();
            prop_assert_eq!(presented_key(&h, &uri, None), presented_by_lookup(&h));
        }

    }

    proptest! {
        #[test]
        fn never_panics_and_only_the_key_passes(
            key in proptest::collection::vec(any::<u8>(), 0..300),
            q in "[ -~]{0,200}",
        ) {
            let l = layer().insecure_allow_query("apiKey").unwrap();
            let mut h = HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_bytes(&key) {
                h.insert(X_API_KEY, v.clone());
                h.insert(AUTHORIZATION, v);
            }
            let uri: Uri = format!("/?{}", q.replace([' ', '#', '"', '<', '>', '`', '{', '}', '|', '\\', '^'], "")).parse().unwrap_or_default();
            if let Ok(Some(p)) = l.authenticate(&h, &uri) {
                prop_assert!(p.has_permission("verify"));
            }
        }
    }
}
