//! What a request is counted against: keys, policies and the per-request plan.
//!
//! Everything here is pure: [`plan`] reads a request's method, URI, headers and
//! extensions and returns the counter keys to check, without touching a store.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap, Method, Request, Uri};
use smallvec::SmallVec;

use crate::core::error::ConfigError;
use crate::core::ext::{ClientIp, peer_addr};
use crate::core::quota::Quota;
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::store::{MAX_COARSENING, MAX_POLICIES, RateCheck};

/// Longest policy name or key prefix, in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// Longest value a [`Key::custom`] closure may return, in bytes; a longer one is refused
/// with 400 `INVALID_REQUEST` (the value usually comes from the client).
pub const MAX_CUSTOM_KEY_LEN: usize = 256;
/// Longest route pattern of [`Policy::routes`], in bytes.
pub const MAX_ROUTE_LEN: usize = 256;
/// Most route patterns one policy may list.
pub const MAX_ROUTES: usize = 64;

/// The names principal quotas are reported under, in order.
pub(crate) const PRINCIPAL_NAMES: [&str; MAX_POLICIES] = [
    "principal",
    "principal-2",
    "principal-3",
    "principal-4",
    "principal-5",
    "principal-6",
    "principal-7",
    "principal-8",
];

/// The parts of a request a [`Key::custom`] closure may read.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URI.
    pub uri: &'a Uri,
    /// The headers (attacker-controlled unless a trusted proxy wrote them).
    pub headers: &'a HeaderMap,
    /// The extensions (`ClientIp`, `Principal`, ... as earlier layers inserted them).
    pub extensions: &'a Extensions,
}

type KeyFnInner = dyn Fn(&RequestParts<'_>) -> Option<String> + Send + Sync;

/// What a policy counts requests against.
#[non_exhaustive]
#[derive(Clone, Default)]
pub enum Key {
    /// The client's [`ClientIp::rate_key`]: the address for IPv4, its /64 (by default)
    /// for IPv6. Without a `ClientIp` extension (no `ClientIpLayer` in front), the socket
    /// peer address ([`peer_addr`]) aggregated the same way; with neither, the request
    /// is answered 500 `SERVER_MISCONFIGURED` rather than counted in a shared bucket.
    #[default]
    ClientIp,
    /// The authenticated [`Principal`](crate::core::Principal)'s id (API key id, signature key id, JWT subject).
    /// Requests without a principal are counted by client address as for
    /// [`Key::ClientIp`], in a separate namespace.
    Principal,
    /// One counter for every request: a global ceiling.
    Global,
    /// A value computed by your closure; `None` means the policy does not apply to the
    /// request. Values longer than [`MAX_CUSTOM_KEY_LEN`] are refused with 400.
    Custom(Arc<KeyFnInner>),
}

impl Key {
    /// A key computed by `f`.
    ///
    /// ```
    /// use tower_shield::ratelimit::Key;
    /// // Count per tenant header (only trustworthy when a proxy you run sets it).
    /// let key = Key::custom(|r| r.headers.get("x-tenant").and_then(|v| v.to_str().ok()).map(str::to_owned));
    /// # let _ = key;
    /// ```
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&RequestParts<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Self::Custom(Arc::new(f))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientIp => f.write_str("ClientIp"),
            Self::Principal => f.write_str("Principal"),
            Self::Global => f.write_str("Global"),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// One named limit: a quota, what it counts against, and a request's weight.
///
/// ```
/// use tower_shield::core::Quota;
/// use tower_shield::ratelimit::{Key, Policy};
///
/// let burst = Policy::new("burst", Quota::per_second(10).burst(20))?;
/// let hourly = Policy::new("hourly", Quota::per_hour(1000))?.key(Key::Principal);
/// assert!(Policy::new("bad name", Quota::per_second(1)).is_err());
/// assert!(Policy::new("none", Quota::per_second(0)).is_err());
/// # let _ = (burst, hourly);
/// # Ok::<(), tower_shield::core::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) name: Arc<str>,
    pub(crate) quota: Quota,
    pub(crate) key: Key,
    pub(crate) cost: u32,
    pub(crate) routes: Option<Arc<[Box<str>]>>,
}

impl Policy {
    /// A policy named `name` (1 to 32 of `A-Z a-z 0-9 - _ .`; it appears in the
    /// `RateLimit` headers and the counter keys), keyed by client address, cost 1.
    /// A quota that admits nothing is an error.
    pub fn new(name: &str, quota: Quota) -> Result<Self, ConfigError> {
        check_name("policy name", name)?;
        if quota.gcra().burst == 0 {
            return Err(ConfigError::new(
                "quota",
                "admits no request (zero count, period or burst)",
            ));
        }
        Ok(Self {
            name: name.into(),
            quota,
            key: Key::ClientIp,
            cost: 1,
            routes: None,
        })
    }

    /// What the policy counts against (default [`Key::ClientIp`]).
    pub fn key(mut self, key: Key) -> Self {
        self.key = key;
        self
    }

    /// Route + key: the policy applies only to requests whose path matches one of
    /// `patterns`, with a separate counter per pattern (and per key). A pattern is an
    /// exact path (`/login`) or a prefix ending in `*` (`/api/*`); the first match wins;
    /// the query is ignored. Requests on other paths are not counted by this policy.
    ///
    /// Counters are per *pattern*, never per raw path, so a client cannot mint fresh
    /// counters (or fill the store) by varying the path. 1 to 64 patterns, each
    /// starting with `/` and at most 256 bytes.
    ///
    /// ```
    /// use tower_shield::core::Quota;
    /// use tower_shield::ratelimit::Policy;
    /// let login = Policy::new("login", Quota::per_minute(5))?.routes(["/login", "/password-reset/*"])?;
    /// # let _ = login;
    /// # Ok::<(), tower_shield::core::ConfigError>(())
    /// ```
    pub fn routes<I, R>(mut self, patterns: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = R>,
        R: AsRef<str>,
    {
        let routes: Vec<Box<str>> = patterns.into_iter().map(|r| r.as_ref().into()).collect();
        if routes.is_empty() || routes.len() > MAX_ROUTES {
            return Err(ConfigError::new("routes", "give 1 to 64 patterns"));
        }
        if routes
            .iter()
            .any(|r| !r.starts_with('/') || r.len() > MAX_ROUTE_LEN)
        {
            return Err(ConfigError::new(
                "routes",
                "patterns start with `/` and are at most 256 bytes",
            ));
        }
        self.routes = Some(routes.into());
        Ok(self)
    }

    /// How much each request costs (default 1); 1..=burst.
    pub fn cost(mut self, cost: u32) -> Result<Self, ConfigError> {
        if cost == 0 || cost > self.quota.burst_size() {
            return Err(ConfigError::new("cost", "must be 1..=the quota's burst"));
        }
        self.cost = cost;
        Ok(self)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }
}

pub(crate) fn check_name(field: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ConfigError::new(field, "must be 1 to 32 bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ConfigError::new(
            field,
            "only A-Z a-z 0-9 - _ . are allowed",
        ));
    }
    Ok(())
}

/// Which policies a request is checked against.
#[derive(Clone, Debug)]
pub(crate) enum PolicySet {
    /// The layer's configured policies.
    Configured,
    /// The principal's own quotas (first [`MAX_POLICIES`]), keyed by its id.
    Principal(Arc<[Quota]>),
}

/// One policy as applied to one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Applied<'a> {
    pub name: &'a str,
    pub quota: Quota,
    pub cost: u32,
}

/// How many bytes of text [`StackStr`] holds before it moves to the heap by default
/// (header values: built, copied into a `HeaderValue` and dropped where they are made).
const STACK_STR_LEN: usize = 96;

/// The inline capacity of a [`Plan`]'s keys, all of them together (one buffer). The
/// most that keeps a whole `Plan` at 128 bytes: the compiler moves it with a few vector
/// moves instead of a `memcpy` call, and a plan is moved several times per request.
/// One or two keys of the usual shapes fit (`rl:default:ip:203.0.113.7/32` is 28 bytes,
/// an IPv6 /64 key about 35, a principal's `rl:p0:p5:alice` 14); longer sets of keys
/// move to the heap (one allocation).
const KEY_LEN: usize = 72;

/// The text of a plan's keys.
pub(crate) type KeyStr = StackStr<KEY_LEN>;

/// Text built without a heap allocation up to `N` bytes (rate keys, header values). Only
/// `&str`s and ASCII bytes are pushed, so it is always UTF-8. `N` is below 256.
#[derive(Clone, Debug)]
pub(crate) enum StackStr<const N: usize = STACK_STR_LEN> {
    /// The first `len` bytes of `buf`.
    Inline { buf: [u8; N], len: u8 },
    /// Longer text.
    Heap(String),
}

impl<const N: usize> Default for StackStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> StackStr<N> {
    pub(crate) const fn new() -> Self {
        const { assert!(N < 256, "the inline length is a u8") };
        Self::Inline {
            buf: [0; N],
            len: 0,
        }
    }

    #[inline(always)]
    fn push_bytes(&mut self, bytes: &[u8]) {
        match self {
            Self::Inline { buf, len } => {
                let at = usize::from(*len);
                if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
                    dst.copy_from_slice(bytes);
                    // `at + bytes.len() <= N < 256`.
                    *len = (at + bytes.len()) as u8;
                    return;
                }
                let mut s = String::with_capacity(at + bytes.len() + 32);
                s.push_str(std::str::from_utf8(buf.get(..at).unwrap_or_default()).unwrap_or(""));
                s.push_str(std::str::from_utf8(bytes).unwrap_or(""));
                *self = Self::Heap(s);
            }
            Self::Heap(s) => s.push_str(std::str::from_utf8(bytes).unwrap_or("")),
        }
    }

    #[inline(always)]
    pub(crate) fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    /// Pushes the first `len` bytes of `bytes` (ASCII), copying all `M` when they fit:
    /// a fixed-size copy is a few register moves, a copy of a run-time length is a
    /// `memcpy` call. What lies past the length is never read.
    #[inline(always)]
    fn push_padded<const M: usize>(&mut self, bytes: &[u8; M], len: usize) {
        let len = len.min(M);
        debug_assert!(bytes.get(..len).is_some_and(<[u8]>::is_ascii));
        if let Self::Inline { buf, len: at } = self {
            let start = usize::from(*at);
            if let Some(dst) = buf.get_mut(start..start + M) {
                dst.copy_from_slice(bytes);
                // `len <= M` and `start + M <= N < 256`.
                *at = (start + len) as u8;
                return;
            }
        }
        self.push_bytes(bytes.get(..len).unwrap_or_default());
    }

    /// Pushes a policy's key prefix.
    #[inline(always)]
    pub(crate) fn push_prefix(&mut self, p: &KeyPrefix) {
        match p {
            KeyPrefix::Short { buf, len } => self.push_padded(buf, usize::from(*len)),
            KeyPrefix::Long(s) => self.push_str(s),
        }
    }

    /// Pushes an ASCII byte (a separator or a tag).
    #[inline(always)]
    pub(crate) fn push_ascii(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        if b.is_ascii() {
            self.push_bytes(&[b]);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub(crate) fn truncate(&mut self, to: usize) {
        match self {
            Self::Inline { len, .. } => *len = (*len).min(u8::try_from(to).unwrap_or(u8::MAX)),
            Self::Heap(s) => {
                if s.is_char_boundary(to) {
                    s.truncate(to);
                }
            }
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { buf, len } => buf.get(..usize::from(*len)).unwrap_or_default(),
            Self::Heap(s) => s.as_bytes(),
        }
    }

    /// The text between two lengths it had (`""` if they are not such lengths).
    pub(crate) fn get(&self, range: std::ops::Range<usize>) -> &str {
        self.as_bytes()
            .get(range)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub(crate) fn as_str(&self) -> &str {
        self.get(0..self.len())
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// A policy's `{prefix}:{name}:`, written when the layer is built. Up to
/// [`SHORT_PREFIX`] bytes it is padded, so a plan copies it with fixed-size moves.
#[derive(Clone, Debug)]
pub(crate) enum KeyPrefix {
    /// The first `len` bytes of `buf` (ASCII: prefixes and policy names are).
    Short { buf: [u8; SHORT_PREFIX], len: u8 },
    /// A longer one.
    Long(Box<str>),
}

/// How long a [`KeyPrefix`] may be and stay padded: `rl:default:` is 11 bytes.
const SHORT_PREFIX: usize = 32;

impl KeyPrefix {
    pub(crate) fn new(prefix: &str, policy: &str) -> Self {
        let text = format!("{prefix}:{policy}:");
        let mut buf = [0u8; SHORT_PREFIX];
        match (buf.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(dst), Ok(len)) if text.is_ascii() => {
                dst.copy_from_slice(text.as_bytes());
                Self::Short { buf, len }
            }
            _ => Self::Long(text.into()),
        }
    }
}

/// The counters one request is checked against: every key in one buffer, on the stack
/// for keys up to [`KEY_LEN`] bytes in all.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub set: PolicySet,
    keys: KeyStr,
    /// Per applied policy: its index in the set and its key's end offset in `keys`.
    slots: SmallVec<[(u8, u32); 2]>,
}

impl Plan {
    /// The store checks, in policy order.
    pub fn checks<'a>(&'a self, policies: &'a [Policy]) -> SmallVec<[RateCheck<'a>; 2]> {
        // Pushed one by one: `collect` into a `SmallVec` costs more than the checks.
        let mut checks = SmallVec::new();
        let mut start = 0usize;
        for &(i, end) in &self.slots {
            let end = end as usize;
            let key = self.keys.get(start..end);
            start = end;
            let a = self.applied(policies, i);
            checks.push(RateCheck {
                key,
                gcra: a.quota.gcra(),
                cost: a.cost,
            });
        }
        checks
    }

    /// The applied policies, in the order of [`Plan::checks`].
    pub fn applied<'a>(&'a self, policies: &'a [Policy], i: u8) -> Applied<'a> {
        let i = usize::from(i);
        match &self.set {
            PolicySet::Configured => match policies.get(i) {
                Some(p) => Applied {
                    name: &p.name,
                    quota: p.quota,
                    cost: p.cost,
                },
                None => Applied {
                    name: "",
                    quota: Quota::per_second(0),
                    cost: 1,
                },
            },
            PolicySet::Principal(q) => Applied {
                name: PRINCIPAL_NAMES.get(i).copied().unwrap_or(""),
                quota: q.get(i).copied().unwrap_or(Quota::per_second(0)),
                cost: 1,
            },
        }
    }

    /// The applied policies in order.
    pub fn each<'a>(&'a self, policies: &'a [Policy]) -> impl Iterator<Item = Applied<'a>> + 'a {
        self.slots
            .iter()
            .map(move |&(i, _)| self.applied(policies, i))
    }

    /// How many policies apply.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
}

/// What the rate limiter does with a request before any store is asked.
#[derive(Debug)]
pub(crate) enum Planned {
    /// Not limited (allow-listed, or no policy applies).
    Skip,
    /// Check these counters.
    Check(Plan),
    /// Refuse without counting (no client address; an oversized custom key).
    Reject(Rejection),
}

/// The allow-list: principal ids and client networks that are never limited.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowList {
    pub keys: std::collections::HashSet<Box<str>>,
    pub nets: Vec<ipnet::IpNet>,
}

/// Everything [`plan`] reads from the layer's configuration.
pub(crate) struct PlanConfig<'a> {
    pub prefix: &'a str,
    pub policies: &'a [Policy],
    /// Per policy, `{prefix}:{name}:` written once when the layer is built (empty for a
    /// layer asked directly, as by `peek`: the parts are then pushed one by one).
    pub key_prefixes: &'a [KeyPrefix],
    pub allow: &'a AllowList,
    pub principal_quotas: bool,
    /// Steps coarser (see [`coarser`]) to write client networks at: 0 for the exact
    /// plan, the store's [`coarsening`](crate::core::store::RateStore::coarsening) for
    /// the coarse plan offered under memory pressure.
    pub coarsen: u8,
}

/// Decides which counters `req` is checked against. Pure: reads the request only.
pub(crate) fn plan<B>(req: &Request<B>, cfg: &PlanConfig<'_>) -> Planned {
    let ext = req.extensions();
    let principal = crate::core::ext::principal(ext);
    let client = client_key(ext);
    if !cfg.allow.keys.is_empty() && principal.is_some_and(|p| cfg.allow.keys.contains(&*p.id)) {
        return Planned::Skip;
    }
    if !cfg.allow.nets.is_empty()
        && client.is_some_and(|(ip, _)| cfg.allow.nets.iter().any(|n| n.contains(&ip)))
    {
        return Planned::Skip;
    }
    let mut keys = KeyStr::new();
    let mut slots = SmallVec::new();
    let parts = RequestParts {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        extensions: ext,
    };

    let own = principal
        .filter(|_| cfg.principal_quotas)
        .and_then(|p| p.quotas.as_ref().filter(|q| !q.is_empty()).map(|q| (p, q)));
    if let Some((p, q)) = own {
        for (i, _) in q.iter().take(MAX_POLICIES).enumerate() {
            let name = PRINCIPAL_NAMES.get(i).copied().unwrap_or("");
            push3(&mut keys, cfg.prefix, ":", name);
            keys.push_ascii(b':');
            keys.push_ascii(b'{');
            push_principal(&mut keys, &p.id);
            keys.push_ascii(b'}');
            slots.push((i as u8, keys.len() as u32));
        }
        return Planned::Check(Plan {
            set: PolicySet::Principal(q.clone()),
            keys,
            slots,
        });
    }

    for (i, policy) in cfg.policies.iter().take(MAX_POLICIES).enumerate() {
        let mark = keys.len();
        match cfg.key_prefixes.get(i) {
            Some(p) => keys.push_prefix(p),
            None => {
                push3(&mut keys, cfg.prefix, ":", &policy.name);
                keys.push_ascii(b':');
            }
        }
        if let Some(routes) = &policy.routes {
            match match_route(routes, req.uri().path()) {
                Some(pattern) => {
                    push_len_prefixed(&mut keys, b'r', pattern);
                    keys.push_ascii(b':');
                }
                None => {
                    keys.truncate(mark);
                    continue;
                }
            }
        }
        // The subject is a Redis Cluster hash tag (`{...}`): the policies of one subject
        // land in one slot, so a store on a cluster decides them in one script.
        keys.push_ascii(b'{');
        let ok = match &policy.key {
            Key::Global => {
                keys.push_ascii(b'g');
                true
            }
            Key::ClientIp => match client {
                Some((_, net)) => {
                    push_net(&mut keys, widen(net, cfg.coarsen));
                    true
                }
                None => return Planned::Reject(no_client()),
            },
            Key::Principal => match (principal, client) {
                (Some(p), _) => {
                    push_principal(&mut keys, &p.id);
                    true
                }
                (None, Some((_, net))) => {
                    push_net(&mut keys, widen(net, cfg.coarsen));
                    true
                }
                (None, None) => return Planned::Reject(no_client()),
            },
            Key::Custom(f) => match f(&parts) {
                Some(v) if v.len() > MAX_CUSTOM_KEY_LEN => {
                    return Planned::Reject(Rejection::new(
                        RejectionKind::InvalidRequest,
                        "rate-limit key too long",
                    ));
                }
                Some(v) => {
                    push_len_prefixed(&mut keys, b'c', &v);
                    true
                }
                None => false,
            },
        };
        if ok {
            keys.push_ascii(b'}');
            slots.push((i as u8, keys.len() as u32));
        } else {
            keys.truncate(mark);
        }
    }
    if slots.is_empty() {
        return Planned::Skip;
    }
    Planned::Check(Plan {
        set: PolicySet::Configured,
        keys,
        slots,
    })
}

fn push_principal<const N: usize>(keys: &mut StackStr<N>, id: &str) {
    push_len_prefixed(keys, b'p', id);
}

fn push3<const N: usize>(keys: &mut StackStr<N>, a: &str, b: &str, c: &str) {
    keys.push_str(a);
    keys.push_str(b);
    keys.push_str(c);
}

/// `{tag}{len}:{value}`: the length keeps values that contain `:` unambiguous.
fn push_len_prefixed<const N: usize>(keys: &mut StackStr<N>, tag: u8, value: &str) {
    keys.push_ascii(tag);
    push_u64(keys, value.len() as u64);
    keys.push_ascii(b':');
    keys.push_str(value);
}

/// `ip:{net}`, with IPv4 written by hand (the common case, without `fmt` and with one
/// fixed-size copy).
fn push_net<const N: usize>(keys: &mut StackStr<N>, net: ipnet::IpNet) {
    match net {
        ipnet::IpNet::V4(v4) => {
            // `ip:a.b.c.d/nn` is at most 21 bytes: written here, copied once.
            let mut buf: [u8; IP_TEXT] = *b"ip:..................";
            let mut len = 3;
            let mut put = |b: u8| {
                if let Some(slot) = buf.get_mut(len) {
                    *slot = b;
                    len += 1;
                }
            };
            for (i, o) in v4.addr().octets().into_iter().enumerate() {
                if i > 0 {
                    put(b'.');
                }
                if o >= 100 {
                    put(b'0' + o / 100);
                }
                if o >= 10 {
                    put(b'0' + o / 10 % 10);
                }
                put(b'0' + o % 10);
            }
            put(b'/');
            let p = v4.prefix_len();
            if p >= 10 {
                put(b'0' + p / 10);
            }
            put(b'0' + p % 10);
            keys.push_padded(&buf, len);
        }
        v6 => {
            keys.push_str("ip:");
            let _ = write!(keys, "{v6}");
        }
    }
}

/// The longest `ip:` text of an IPv4 network (`ip:255.255.255.255/32`).
const IP_TEXT: usize = 21;

/// `00` to `99`, for writing two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// Decimal digits of `n`, without `fmt`, two at a time.
#[inline]
pub(crate) fn push_u64<const N: usize>(out: &mut StackStr<N>, n: u64) {
    if n < 10 {
        out.push_bytes(&[b'0' + n as u8]);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    fn put_pair(buf: &mut [u8; 20], i: usize, pair: u64) {
        let p = pair as usize * 2;
        if let (Some(dst), Some(src)) = (buf.get_mut(i..i + 2), DIGIT_PAIRS.get(p..p + 2)) {
            dst.copy_from_slice(src);
        }
    }
    while n >= 100 {
        i -= 2;
        put_pair(&mut buf, i, n % 100);
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        put_pair(&mut buf, i, n);
    } else {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + n as u8;
        }
    }
    out.push_bytes(buf.get(i..).unwrap_or(&[]));
}

/// The first pattern `path` matches: exact, or by prefix for a pattern ending in `*`.
fn match_route<'a>(routes: &'a [Box<str>], path: &str) -> Option<&'a str> {
    routes
        .iter()
        .map(|r| &**r)
        .find(|r| match r.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == *r,
        })
}

fn no_client() -> Rejection {
    Rejection::new(
        RejectionKind::Misconfigured,
        "no client address for the rate limiter: add ClientIpLayer, or serve with into_make_service_with_connect_info::<SocketAddr>() or insert PeerAddr",
    )
}

/// `net`, or [`coarser`] under memory pressure: the common case (0) costs one compare.
#[inline(always)]
fn widen(net: ipnet::IpNet, steps: u8) -> ipnet::IpNet {
    if steps == 0 { net } else { coarser(net, steps) }
}

/// `net` widened by `steps` (0 to [`MAX_COARSENING`]): IPv4 /24, /16, /8; IPv6 /48,
/// /32, /16. A network already wider than a step's prefix stays as it is, and steps past
/// the last give the last.
///
/// This is how a memory store under pressure counts new clients (see
/// [`OnFull::Coarsen`](crate::core::store::OnFull::Coarsen)): together by network rather
/// than refused.
///
/// ```
/// use tower_shield::ratelimit::coarser;
/// let v4: ipnet::IpNet = "203.0.113.7/32".parse().unwrap();
/// assert_eq!(coarser(v4, 0), v4);
/// assert_eq!(coarser(v4, 1).to_string(), "203.0.113.0/24");
/// assert_eq!(coarser(v4, 3).to_string(), "203.0.0.0/8");
/// let v6: ipnet::IpNet = "2001:db8:1:2::/64".parse().unwrap();
/// assert_eq!(coarser(v6, 1).to_string(), "2001:db8:1::/48");
/// assert_eq!(coarser(v6, 2).to_string(), "2001:db8::/32");
/// ```
#[inline(never)]
pub fn coarser(net: ipnet::IpNet, steps: u8) -> ipnet::IpNet {
    const V4: [u8; MAX_COARSENING as usize] = [24, 16, 8];
    const V6: [u8; MAX_COARSENING as usize] = [48, 32, 16];
    let Some(step) = usize::from(steps.min(MAX_COARSENING)).checked_sub(1) else {
        return net;
    };
    let to = match net {
        ipnet::IpNet::V4(_) => V4.get(step).copied().unwrap_or(8),
        ipnet::IpNet::V6(_) => V6.get(step).copied().unwrap_or(16),
    };
    if net.prefix_len() <= to {
        return net;
    }
    ipnet::IpNet::new(net.network(), to).map_or(net, |n| n.trunc())
}

/// The client's address and rate key: `ClientIp` when an earlier layer decided it, else
/// the socket peer with the default IPv6 /64 aggregation.
pub(crate) fn client_key(ext: &Extensions) -> Option<(IpAddr, ipnet::IpNet)> {
    if let Some(c) = crate::core::ext::client_ip(ext) {
        return Some((c.ip, c.rate_key));
    }
    peer_addr(ext).map(|a| {
        let c = ClientIp::from_peer(a.ip());
        (c.ip, c.rate_key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ext::{IpSource, PeerAddr, Principal, PrincipalKind};

    fn cfg<'a>(policies: &'a [Policy], allow: &'a AllowList) -> PlanConfig<'a> {
        PlanConfig {
            prefix: "rl",
            policies,
            key_prefixes: &[],
            allow,
            principal_quotas: true,
            coarsen: 0,
        }
    }

    /// Plans `req` twice, with the key prefixes a layer writes when it is built and with
    /// the parts pushed one by one, and checks the keys agree (every test here sees both).
    fn plan<B>(req: &Request<B>, cfg: &PlanConfig<'_>) -> Planned {
        let prefixes: Vec<KeyPrefix> = (cfg.policies.iter())
            .map(|p| KeyPrefix::new(cfg.prefix, &p.name))
            .collect();
        let built = PlanConfig {
            key_prefixes: &prefixes,
            ..*cfg
        };
        let (a, b) = (super::plan(req, cfg), super::plan(req, &built));
        if let (Planned::Check(x), Planned::Check(y)) = (&a, &b) {
            assert_eq!(x.keys.as_str(), y.keys.as_str());
            assert_eq!(x.slots, y.slots);
        } else {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        }
        a
    }

    /// One push of a [`StackStr`] differential test against `String`.
    #[derive(Clone, Debug)]
    enum Push {
        Str(String),
        Net(ipnet::IpNet),
        Prefix(String),
        Number(u64),
        Truncate(usize),
    }

    fn push_strategy() -> impl proptest::strategy::Strategy<Value = Push> {
        use proptest::prelude::*;
        prop_oneof![
            "[a-z:é]{0,40}".prop_map(Push::Str),
            (any::<u32>(), 0u8..=32)
                .prop_map(|(a, p)| Push::Net(ipnet::Ipv4Net::new(a.into(), p).unwrap().into())),
            (any::<u128>(), 0u8..=128)
                .prop_map(|(a, p)| Push::Net(ipnet::Ipv6Net::new(a.into(), p).unwrap().into())),
            "[a-z]{1,40}".prop_map(Push::Prefix),
            any::<u64>().prop_map(Push::Number),
            (0usize..120).prop_map(Push::Truncate),
        ]
    }

    proptest::proptest! {
        /// Whatever is pushed, inline or spilled, padded copies or not, the text is what
        /// a `String` would hold.
        #[test]
        fn stack_text_is_what_a_string_holds(
            pushes in proptest::collection::vec(push_strategy(), 0..12)
        ) {
            let mut s = KeyStr::new();
            let mut want = String::new();
            let mut marks = vec![0];
            for p in pushes {
                match p {
                    Push::Str(t) => {
                        s.push_str(&t);
                        want.push_str(&t);
                    }
                    Push::Net(n) => {
                        push_net(&mut s, n);
                        want.push_str(&format!("ip:{n}"));
                    }
                    Push::Prefix(name) => {
                        s.push_prefix(&KeyPrefix::new("rl", &name));
                        want.push_str(&format!("rl:{name}:"));
                    }
                    Push::Number(n) => {
                        push_u64(&mut s, n);
                        want.push_str(&n.to_string());
                    }
                    Push::Truncate(i) => {
                        // Only to a length the text had, as `plan` does.
                        let to = marks[i % marks.len()];
                        s.truncate(to);
                        want.truncate(to);
                        marks.retain(|m| *m <= to);
                    }
                }
                marks.push(want.len());
                proptest::prop_assert_eq!(s.as_str(), want.as_str());
            }
        }
    }

    #[test]
    fn long_key_prefixes_are_pushed_as_text() {
        let name = "n".repeat(32);
        let short = KeyPrefix::new("rl", "default");
        assert!(matches!(short, KeyPrefix::Short { len: 11, .. }));
        assert!(matches!(KeyPrefix::new("rl", &name), KeyPrefix::Long(_)));
        let policies = [Policy::new(&name, Quota::per_second(1)).unwrap()];
        let allow = AllowList::default();
        let mut r = Request::new(());
        r.extensions_mut()
            .insert(PeerAddr("192.0.2.9:1".parse().unwrap()));
        assert_eq!(
            keys_of(&plan(&r, &cfg(&policies, &allow)), &policies),
            [format!("rl:{name}:{{ip:192.0.2.9/32}}")]
        );
        // Another layer prefix, short and long.
        let short = [Policy::new("default", Quota::per_second(1)).unwrap()];
        for (prefix, policies) in [("api", &short[..]), ("api", &policies[..])] {
            let c = PlanConfig {
                prefix,
                ..cfg(policies, &allow)
            };
            assert_eq!(
                keys_of(&plan(&r, &c), policies),
                [format!("api:{}:{{ip:192.0.2.9/32}}", policies[0].name)]
            );
        }
    }

    fn keys_of(p: &Planned, policies: &[Policy]) -> Vec<String> {
        match p {
            Planned::Check(plan) => plan
                .checks(policies)
                .iter()
                .map(|c| c.key.to_owned())
                .collect(),
            other => panic!("expected a check, got {other:?}"),
        }
    }

    #[test]
    fn hand_written_numbers_and_addresses() {
        for n in [
            0u64,
            7,
            10,
            99,
            100,
            101,
            255,
            1000,
            65_535,
            999_999_999,
            u64::MAX,
        ]
        .into_iter()
        .chain((0..10_000u64).map(|k| k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (k % 64)))
        {
            let mut s = StackStr::<96>::new();
            push_u64(&mut s, n);
            assert_eq!(s.as_str(), n.to_string());
        }
        for net in [
            "0.0.0.0/32",
            "203.0.113.7/32",
            "10.0.0.0/8",
            "2001:db8::/64",
        ] {
            let mut s = StackStr::<96>::new();
            push_net(&mut s, net.parse().unwrap());
            assert_eq!(s.as_str(), format!("ip:{net}"));
        }
    }

    #[test]
    fn a_plan_moves_without_a_memcpy_call() {
        // x86-64 codegen inlines moves up to 128 bytes; a plan is moved several times
        // per request (see `KEY_LEN`).
        assert!(
            std::mem::size_of::<Plan>() <= 128,
            "{}",
            std::mem::size_of::<Plan>()
        );
        assert!(
            std::mem::size_of::<Planned>() <= 128,
            "{}",
            std::mem::size_of::<Planned>()
        );
        let mut keys = KeyStr::new();
        keys.push_str("rl:default:");
        push_net(&mut keys, "2001:db8:85a3:8d3::/64".parse().unwrap());
        assert!(
            matches!(keys, StackStr::Inline { .. }),
            "an IPv6 /64 key stays inline"
        );
        let mut keys = KeyStr::new();
        for name in ["default", "burst00"] {
            push3(&mut keys, "rl", ":", name);
            keys.push_ascii(b':');
            push_net(&mut keys, "203.0.113.7/32".parse().unwrap());
        }
        assert!(
            matches!(keys, StackStr::Inline { .. }),
            "two IPv4 keys stay inline"
        );
    }

    #[test]
    fn stack_text_moves_to_the_heap_when_long() {
        let mut s = StackStr::<96>::new();
        s.push_str("rl:x:");
        let mark = s.len();
        let long = "é".repeat(60);
        s.push_str(&long);
        assert!(matches!(s, StackStr::Heap(_)));
        assert_eq!(s.as_str(), format!("rl:x:{long}"));
        assert_eq!(s.get(0..mark), "rl:x:");
        s.truncate(mark);
        s.push_ascii(b'g');
        assert_eq!(s.as_str(), "rl:x:g");
        let mut s = StackStr::<96>::new();
        s.push_str("abc");
        s.truncate(1);
        assert_eq!(s.as_str(), "a");
        assert_eq!(s.get(0..9), "", "not a length it had");
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let policies = [Policy::new("default", Quota::per_second(1)).unwrap()];
        let allow = AllowList::default();
        let mut a = Request::new(());
        a.extensions_mut().insert(ClientIp::new(
            "2001:db8:1:2::1".parse().unwrap(),
            IpSource::Peer,
            64,
        ));
        let mut b = Request::new(());
        b.extensions_mut().insert(ClientIp::new(
            "2001:db8:1:2:ffff::9".parse().unwrap(),
            IpSource::Peer,
            64,
        ));
        let ka = keys_of(&plan(&a, &cfg(&policies, &allow)), &policies);
        assert_eq!(ka, ["rl:default:{ip:2001:db8:1:2::/64}"]);
        assert_eq!(ka, keys_of(&plan(&b, &cfg(&policies, &allow)), &policies));
    }

    #[test]
    fn falls_back_to_the_peer_and_refuses_without_one() {
        let policies = [Policy::new("default", Quota::per_second(1)).unwrap()];
        let allow = AllowList::default();
        let mut r = Request::new(());
        r.extensions_mut()
            .insert(PeerAddr("192.0.2.9:1234".parse().unwrap()));
        assert_eq!(
            keys_of(&plan(&r, &cfg(&policies, &allow)), &policies),
            ["rl:default:{ip:192.0.2.9/32}"]
        );
        let bare = Request::new(());
        assert!(
            matches!(plan(&bare, &cfg(&policies, &allow)), Planned::Reject(r) if r.kind() == RejectionKind::Misconfigured)
        );
        // A global key needs no address.
        let g = [Policy::new("all", Quota::per_second(1))
            .unwrap()
            .key(Key::Global)];
        assert_eq!(keys_of(&plan(&bare, &cfg(&g, &allow)), &g), ["rl:all:{g}"]);
    }

    #[test]
    fn principal_keys_quotas_and_route() {
        let policies = [
            Policy::new("burst", Quota::per_second(1))
                .unwrap()
                .key(Key::Principal)
                .routes(["/login", "/api/*"])
                .unwrap(),
            Policy::new("tenant", Quota::per_second(1))
                .unwrap()
                .key(Key::custom(|r| {
                    r.headers
                        .get("x-tenant")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })),
        ];
        let allow = AllowList::default();
        let mut r = Request::get("/login").body(()).unwrap();
        r.extensions_mut()
            .insert(Principal::new("key_1", PrincipalKind::ApiKey));
        r.extensions_mut()
            .insert(PeerAddr("192.0.2.9:1".parse().unwrap()));
        // The custom key does not apply without the header.
        assert_eq!(
            keys_of(&plan(&r, &cfg(&policies, &allow)), &policies),
            ["rl:burst:r6:/login:{p5:key_1}"]
        );
        r.headers_mut().insert("x-tenant", "acme".parse().unwrap());
        assert_eq!(
            keys_of(&plan(&r, &cfg(&policies, &allow)), &policies),
            ["rl:burst:r6:/login:{p5:key_1}", "rl:tenant:{c4:acme}"]
        );
        r.headers_mut()
            .insert("x-tenant", "a".repeat(300).parse().unwrap());
        assert!(
            matches!(plan(&r, &cfg(&policies, &allow)), Planned::Reject(r) if r.kind() == RejectionKind::InvalidRequest)
        );

        // Route patterns: one counter per pattern, other paths not counted.
        let mut api = Request::get("/api/v2/verify?x=1").body(()).unwrap();
        api.extensions_mut()
            .insert(Principal::new("key_1", PrincipalKind::ApiKey));
        assert_eq!(
            keys_of(&plan(&api, &cfg(&policies, &allow)), &policies),
            ["rl:burst:r6:/api/*:{p5:key_1}"]
        );
        *api.uri_mut() = "/other".parse().unwrap();
        assert!(matches!(plan(&api, &cfg(&policies, &allow)), Planned::Skip));

        // Principal quotas replace the configured policies.
        let mut p = Principal::new("key_1", PrincipalKind::ApiKey);
        p.quotas = Some(Arc::from([Quota::per_hour(1000), Quota::per_day(5000)]));
        let mut r = Request::new(());
        r.extensions_mut().insert(p);
        let planned = plan(&r, &cfg(&policies, &allow));
        assert_eq!(
            keys_of(&planned, &policies),
            ["rl:principal:{p5:key_1}", "rl:principal-2:{p5:key_1}"]
        );
    }

    #[test]
    fn allow_list_skips() {
        let policies = [Policy::new("default", Quota::per_second(1)).unwrap()];
        let mut allow = AllowList::default();
        allow.nets.push("10.0.0.0/8".parse().unwrap());
        allow.keys.insert("partner".into());
        let mut r = Request::new(());
        r.extensions_mut()
            .insert(PeerAddr("10.2.3.4:1".parse().unwrap()));
        assert!(matches!(plan(&r, &cfg(&policies, &allow)), Planned::Skip));
        let mut r = Request::new(());
        r.extensions_mut()
            .insert(PeerAddr("192.0.2.1:1".parse().unwrap()));
        assert!(matches!(
            plan(&r, &cfg(&policies, &allow)),
            Planned::Check(_)
        ));
        r.extensions_mut()
            .insert(Principal::new("partner", PrincipalKind::ApiKey));
        assert!(matches!(plan(&r, &cfg(&policies, &allow)), Planned::Skip));
    }

    #[test]
    fn names_are_checked() {
        assert!(Policy::new("", Quota::per_second(1)).is_err());
        assert!(Policy::new(&"a".repeat(33), Quota::per_second(1)).is_err());
        assert!(Policy::new("a\"b", Quota::per_second(1)).is_err());
        assert!(Policy::new("ok-1_a.b", Quota::per_second(1)).is_ok());
        assert!(
            Policy::new("c", Quota::per_second(5))
                .unwrap()
                .cost(6)
                .is_err()
        );
        assert!(
            Policy::new("c", Quota::per_second(5))
                .unwrap()
                .cost(0)
                .is_err()
        );
        let p = || Policy::new("r", Quota::per_second(5)).unwrap();
        assert!(p().routes(Vec::<String>::new()).is_err());
        assert!(p().routes(["login"]).is_err());
        assert!(p().routes([format!("/{}", "a".repeat(256))]).is_err());
        assert!(p().routes((0..65).map(|i| format!("/{i}"))).is_err());
    }
}
