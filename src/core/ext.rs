//! The typed request extensions layers use to talk to each other and to handlers.
//!
//! Layers never call each other: each reads what an earlier one inserted into the
//! request's extensions and inserts its own finding. These types live in `core` so
//! no capability module imports another.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use crate::core::quota::Quota;

/// Where a [`ClientIp`] came from.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IpSource {
    /// The socket peer address.
    Peer,
    /// A hop of `X-Forwarded-For` sent by a trusted proxy.
    XForwardedFor,
    /// A hop of RFC 7239 `Forwarded` sent by a trusted proxy.
    Forwarded,
    /// A single-value header (`CF-Connecting-IP`, `X-Real-IP`, ...) sent by a trusted proxy.
    Header,
}

/// Who the client is, as decided by `ClientIpLayer`.
///
/// `rate_key` is what per-client limits and caches key on: the address itself for
/// IPv4, its network prefix for IPv6 (default /64, since one subscriber usually holds
/// a whole /64 and could otherwise rotate through 2^64 addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ClientIp {
    /// The client's address (IPv4-mapped IPv6 unmapped).
    pub ip: IpAddr,
    /// The key for per-client state.
    pub rate_key: IpNet,
    /// Where `ip` came from.
    pub source: IpSource,
}

impl ClientIp {
    /// A client seen directly as the socket peer, with the default IPv6 /64 aggregation.
    pub fn from_peer(ip: IpAddr) -> Self {
        Self::new(ip, IpSource::Peer, 64)
    }

    /// A client at `ip`, aggregating IPv6 to `/v6_prefix` for `rate_key`.
    pub fn new(ip: IpAddr, source: IpSource, v6_prefix: u8) -> Self {
        let ip = unmap(ip);
        let rate_key = match ip {
            IpAddr::V4(v4) => IpNet::from(ipnet::Ipv4Net::from(v4)),
            IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, v6_prefix.min(128))
                .map(|n| IpNet::from(n.trunc()))
                .unwrap_or_else(|_| IpNet::from(ipnet::Ipv6Net::from(v6))),
        };
        Self {
            ip,
            rate_key,
            source,
        }
    }
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ip.fmt(f)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as plain IPv4; anything else unchanged.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The socket peer address, for servers that do not use axum's `ConnectInfo`.
///
/// Insert it into each request's extensions (plain hyper: in the `service_fn` that
/// accepts the connection); `ClientIpLayer` reads it when axum's
/// `ConnectInfo<SocketAddr>` is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The socket peer of a request: [`PeerAddr`], else axum's `ConnectInfo<SocketAddr>`,
/// else axum's `MockConnectInfo<SocketAddr>` (feature `axum`).
pub fn peer_addr(ext: &http::Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(a)) = ext.get::<PeerAddr>() {
        return Some(*a);
    }
    #[cfg(feature = "axum")]
    if let Some(ci) = ext.get::<ConnectInfo>() {
        return Some(ci.0);
    }
    // axum's test helper; its `ConnectInfo` extractor falls back to it the same way.
    #[cfg(feature = "axum")]
    if let Some(mock) = ext.get::<axum::extract::connect_info::MockConnectInfo<SocketAddr>>() {
        return Some(mock.0);
    }
    None
}

#[cfg(feature = "axum")]
type ConnectInfo = axum::extract::ConnectInfo<SocketAddr>;

/// How a [`Principal`] authenticated.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    /// An API key (`X-API-Key`, bearer, or query).
    ApiKey,
    /// A request signature (SigV4-style).
    Signature,
    /// A JSON Web Token.
    Jwt,
}

/// Which authenticated party sent the request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Principal {
    /// The key id, signature key id or token subject.
    pub id: Arc<str>,
    /// How it authenticated.
    pub kind: PrincipalKind,
    /// What it may do.
    pub permissions: Arc<[Arc<str>]>,
    /// Per-principal rate limits that `RateLimitLayer` applies instead of its defaults.
    #[serde(skip)]
    pub quotas: Option<Arc<[Quota]>>,
}

impl Principal {
    /// A principal with no permissions and no quota of its own.
    pub fn new(id: impl Into<Arc<str>>, kind: PrincipalKind) -> Self {
        Self {
            id: id.into(),
            kind,
            permissions: Arc::new([]),
            quotas: None,
        }
    }

    /// `true` when the principal holds `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| &**p == permission)
    }
}

/// A request an earlier layer wants challenged with proof of work (for example the
/// classifier's "challenge" action). `PowLayer` acts on it; without one stacked, the
/// layer that set it answers on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeMark {
    /// Why (a stable reason code, e.g. `"verdict.challenge"`).
    pub reason: &'static str,
    /// A difficulty the marker asks for, when it has an opinion.
    pub difficulty: Option<u8>,
}

/// Everything a [`Shield`](crate::Shield) decided about a request before the rest of the
/// stack, in one request extension (one allocation and one map insert per request,
/// instead of one per finding).
///
/// Read it with the axum extractors ([`ClientIp`], [`Principal`],
/// [`Verdict`](crate::core::verdict::Verdict), which look here and at the typed
/// extensions the layers insert when used alone), or with [`client_ip`], [`principal`],
/// [`verdict`] and [`challenge_mark`] on `req.extensions()`. A layer's own typed
/// extension, inserted by a layer behind the shield (a `SignatureLayer`'s `Principal`,
/// say), takes precedence: it was decided later.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Decided {
    /// The client, as `ClientIpLayer` decides it.
    pub client: Option<ClientIp>,
    /// The principal an API key authenticated.
    pub principal: Option<Principal>,
    /// The classifier's verdict.
    pub verdict: Option<crate::core::verdict::Verdict>,
    /// The classifier's request for proof of work.
    pub mark: Option<ChallengeMark>,
}

/// The request's [`ClientIp`]: `ClientIpLayer`'s, else the one a `Shield` decided.
#[inline]
pub fn client_ip(ext: &http::Extensions) -> Option<&ClientIp> {
    ext.get::<ClientIp>()
        .or_else(|| ext.get::<Decided>().and_then(|d| d.client.as_ref()))
}

/// The request's [`Principal`]: an authentication layer's, else a `Shield`'s.
#[inline]
pub fn principal(ext: &http::Extensions) -> Option<&Principal> {
    ext.get::<Principal>()
        .or_else(|| ext.get::<Decided>().and_then(|d| d.principal.as_ref()))
}

/// The request's [`Verdict`](crate::core::verdict::Verdict): `ClassifyLayer`'s, else a
/// `Shield`'s.
#[inline]
pub fn verdict(ext: &http::Extensions) -> Option<&crate::core::verdict::Verdict> {
    ext.get::<crate::core::verdict::Verdict>()
        .or_else(|| ext.get::<Decided>().and_then(|d| d.verdict.as_ref()))
}

/// The request's [`ChallengeMark`]: an earlier layer's, else a `Shield`'s.
#[inline]
pub fn challenge_mark(ext: &http::Extensions) -> Option<&ChallengeMark> {
    ext.get::<ChallengeMark>()
        .or_else(|| ext.get::<Decided>().and_then(|d| d.mark.as_ref()))
}
