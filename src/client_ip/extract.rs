//! Pure client-address extraction over a [`HeaderMap`] and the socket peer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use http::header::{FORWARDED, HeaderName};
use ipnet::IpNet;

use crate::core::ext::{ClientIp, IpSource, unmap};

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Where the client address is read from.
///
/// Every source but [`ClientIpSource::Peer`] is read **only** when the socket peer is
/// one of the trusted proxies; from anyone else forwarding headers are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The socket peer. Right when clients connect directly.
    Peer,
    /// The rightmost `X-Forwarded-For` hop that is not a trusted proxy. Right behind
    /// any chain of proxies you list as trusted.
    RightmostXForwardedFor,
    /// The `n`-th `X-Forwarded-For` hop from the right (1 = rightmost). Right when
    /// exactly `n` proxies of yours append to the header. The hop is taken as it is,
    /// even inside a trusted range (you counted the proxies).
    XForwardedForHop(usize),
    /// The rightmost RFC 7239 `Forwarded` `for=` node that is not a trusted proxy.
    Forwarded,
    /// A header your edge sets to a single address (`CF-Connecting-IP`, `X-Real-IP`,
    /// `True-Client-IP`, `Fly-Client-IP`). The address is taken as the edge wrote it,
    /// even inside a trusted range: an internal client behind the edge keeps its own
    /// address (as nginx's `real_ip_header` does for a single-address header).
    Header(HeaderName),
}

impl ClientIpSource {
    /// Cloudflare's `CF-Connecting-IP`.
    pub fn cf_connecting_ip() -> Self {
        Self::Header(HeaderName::from_static("cf-connecting-ip"))
    }

    /// nginx's conventional `X-Real-IP`.
    pub fn x_real_ip() -> Self {
        Self::Header(HeaderName::from_static("x-real-ip"))
    }

    /// Akamai's and Cloudflare Enterprise's `True-Client-IP`.
    pub fn true_client_ip() -> Self {
        Self::Header(HeaderName::from_static("true-client-ip"))
    }

    /// Fly.io's `Fly-Client-IP`.
    pub fn fly_client_ip() -> Self {
        Self::Header(HeaderName::from_static("fly-client-ip"))
    }
}

/// How to extract: the source, the trusted proxies and the bounds.
#[derive(Clone, Debug)]
pub struct ClientIpConfig {
    /// Where to read the address.
    pub source: ClientIpSource,
    /// Proxies whose forwarding headers are believed.
    pub trusted: Vec<IpNet>,
    /// IPv6 prefix length that [`ClientIp::rate_key`] aggregates to (default 64).
    pub v6_prefix: u8,
    /// Most bytes of forwarding headers read, all instances together (default 4096).
    /// A longer header falls back to the peer.
    pub max_header_bytes: usize,
}

impl ClientIpConfig {
    /// The default bound on forwarding-header bytes.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 4096;

    /// A config for `source` behind `trusted` proxies.
    pub fn new(source: ClientIpSource, trusted: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            source,
            trusted: trusted.into_iter().map(|n| n.trunc()).collect(),
            v6_prefix: 64,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
        }
    }

    /// `true` when `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.is_trusted_unmapped(unmap(ip))
    }

    /// [`ClientIpConfig::is_trusted`] for an address already unmapped (the peer after
    /// `unmap`, every hop `parse_hop` returns).
    fn is_trusted_unmapped(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| net_contains(n, ip))
    }
}

/// `IpNet::contains`, as one masked compare (no network and broadcast addresses built).
#[inline]
fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(n.prefix_len()))
                .unwrap_or(0);
            (u32::from(a) ^ u32::from(n.addr())) & mask == 0
        }
        (IpNet::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(n.prefix_len()))
                .unwrap_or(0);
            (u128::from(a) ^ u128::from(n.addr())) & mask == 0
        }
        _ => false,
    }
}

/// The client of a request from `headers` and the socket `peer`, per `config`.
///
/// `None` only when `peer` is `None`: with no socket address there is nothing safe to
/// fall back to. Whenever the forwarding data is absent, odd, too long, unparseable,
/// shorter than configured or (for the sources that walk a chain right to left,
/// `RightmostXForwardedFor` and `Forwarded`) made only of trusted proxies, the answer is
/// the peer.
///
/// ```
/// use tower_shield::client_ip::{ClientIpConfig, ClientIpSource, extract};
/// use http::HeaderMap;
///
/// let cfg = ClientIpConfig::new(ClientIpSource::RightmostXForwardedFor, ["10.0.0.0/8".parse().unwrap()]);
/// let mut h = HeaderMap::new();
/// h.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3".parse().unwrap());
/// let from_proxy = extract(&h, Some("10.0.0.2:443".parse().unwrap()), &cfg).unwrap();
/// assert_eq!(from_proxy.ip.to_string(), "198.51.100.7");
/// let direct = extract(&h, Some("203.0.113.5:443".parse().unwrap()), &cfg).unwrap();
/// assert_eq!(direct.ip.to_string(), "203.0.113.5"); // untrusted peer: headers ignored
/// ```
pub fn extract(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    config: &ClientIpConfig,
) -> Option<ClientIp> {
    let peer_ip = unmap(peer?.ip());
    let from_peer = || Some(ClientIp::new(peer_ip, IpSource::Peer, config.v6_prefix));
    if config.source == ClientIpSource::Peer || !config.is_trusted_unmapped(peer_ip) {
        return from_peer();
    }
    let found = match &config.source {
        ClientIpSource::Peer => None,
        ClientIpSource::RightmostXForwardedFor => {
            joined(headers, &X_FORWARDED_FOR, config.max_header_bytes)
                .and_then(|v| rightmost_untrusted(hops_from_right(&v), config))
                .map(|ip| (ip, IpSource::XForwardedFor))
        }
        ClientIpSource::XForwardedForHop(n) => {
            joined(headers, &X_FORWARDED_FOR, config.max_header_bytes)
                .and_then(|v| nth_from_right(&v, *n))
                .map(|ip| (ip, IpSource::XForwardedFor))
        }
        ClientIpSource::Forwarded => joined(headers, &FORWARDED, config.max_header_bytes)
            .and_then(|v| rightmost_untrusted(forwarded_for_nodes(&v).rev(), config))
            .map(|ip| (ip, IpSource::Forwarded)),
        ClientIpSource::Header(name) => single(headers, name, config.max_header_bytes)
            .and_then(parse_hop)
            .map(|ip| (ip, IpSource::Header)),
    };
    match found {
        Some((ip, source)) => Some(ClientIp::new(ip, source, config.v6_prefix)),
        None => from_peer(),
    }
}

/// All instances of `name`, in order, joined with `,`; `None` when absent, not
/// visible ASCII, or longer than `max` bytes in all.
fn joined<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    max: usize,
) -> Option<std::borrow::Cow<'a, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let mut total = first.len();
    let Some(second) = values.next() else {
        return (total <= max).then(|| first.to_str().ok().map(std::borrow::Cow::Borrowed))?;
    };
    let mut out = String::from(first.to_str().ok()?);
    for v in std::iter::once(second).chain(values) {
        total += v.len() + 1;
        if total > max {
            return None;
        }
        out.push(',');
        out.push_str(v.to_str().ok()?);
    }
    (total <= max).then_some(std::borrow::Cow::Owned(out))
}

/// The one instance of `name`; `None` when absent, repeated, or too long.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName, max: usize) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let v = values.next()?;
    if values.next().is_some() || v.len() > max {
        return None;
    }
    v.to_str().ok()
}

/// Walks hops given right to left, skipping trusted proxies; the first untrusted hop
/// wins. Any unparseable hop, or a chain of only trusted proxies, gives `None`. Hops come
/// from [`parse_hop`], already unmapped.
fn rightmost_untrusted<I>(hops_from_right: I, config: &ClientIpConfig) -> Option<IpAddr>
where
    I: Iterator<Item = Option<IpAddr>>,
{
    for hop in hops_from_right {
        let ip = hop?;
        if !config.is_trusted_unmapped(ip) {
            return Some(ip);
        }
    }
    None
}

/// The comma-separated hops of `value`, right to left, cut off with a plain byte loop
/// (hops are short: `str::rsplit`'s `memrchr` set-up costs more than it saves).
fn hops_from_right(value: &str) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let r = rest?;
        let (left, hop) = match r.as_bytes().iter().rposition(|b| *b == b',') {
            Some(i) => (r.get(..i), r.get(i + 1..).unwrap_or_default()),
            None => (None, r),
        };
        rest = left;
        Some(parse_hop(hop))
    })
}

fn nth_from_right(value: &str, n: usize) -> Option<IpAddr> {
    if n == 0 {
        return None;
    }
    value.rsplit(',').nth(n - 1).and_then(parse_hop)
}

/// Parses one hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, `fe80::1%eth0` (zone dropped). Surrounding spaces and tabs
/// are ignored. IPv4-mapped IPv6 is unmapped.
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = trim_space_tab(hop);
    if hop.is_empty() || hop.len() > 64 {
        return None;
    }
    let ip = if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !after.is_empty() && !is_port(after.strip_prefix(':')?) {
            return None;
        }
        IpAddr::V6(parse_v6(inside)?)
    } else if let Some(v4) = parse_v4(hop.as_bytes()) {
        IpAddr::V4(v4)
    } else if let Some((addr, port)) = hop
        .split_once(':')
        .filter(|(a, _)| !a.contains(':') && a.contains('.'))
    {
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(parse_v4(addr.as_bytes())?)
    } else {
        IpAddr::V6(parse_v6(hop)?)
    };
    Some(unmap(ip))
}

/// Dotted-quad IPv4 exactly as `Ipv4Addr::from_str` accepts it (four groups of one to
/// three ASCII digits, each at most 255, no leading zero in a group of two or more), in
/// one pass without std's backtracking parser.
fn parse_v4(s: &[u8]) -> Option<Ipv4Addr> {
    if s.len() > 15 {
        return None;
    }
    // A group is checked when it ends (at a dot or the end): 1..=3 digits, at most 255,
    // and no leading zero, i.e. at least 10 with two digits and 100 with three. Fifteen
    // bytes at most, so `value` cannot overflow before that check.
    fn group(value: u64, digits: usize) -> Option<u8> {
        const LEAST: [u64; 4] = [u64::MAX, 0, 10, 100];
        let least = *LEAST.get(digits)?;
        if value < least || value > 255 {
            return None;
        }
        Some(value as u8)
    }
    let mut octets = [0u8; 4];
    let mut n = 0;
    let (mut value, mut digits) = (0u64, 0usize);
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d <= 9 {
            value = value * 10 + u64::from(d);
            digits += 1;
        } else if b == b'.' {
            // A fifth group has no slot.
            *octets.get_mut(n)? = group(value, digits)?;
            n += 1;
            (value, digits) = (0, 0);
        } else {
            return None;
        }
    }
    if n != 3 {
        return None;
    }
    octets[3] = group(value, digits)?;
    Some(Ipv4Addr::from(octets))
}

/// `s` without leading and trailing spaces and tabs (bytewise: both are ASCII, so the
/// cut is always on a character boundary).
fn trim_space_tab(s: &str) -> &str {
    let b = s.as_bytes();
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or("")
}

fn parse_v6(s: &str) -> Option<Ipv6Addr> {
    let addr = match s.split_once('%') {
        Some((addr, zone))
            if !zone.is_empty()
                && zone
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') =>
        {
            addr
        }
        Some(_) => return None,
        None => s,
    };
    addr.parse().ok()
}

fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u16>().is_ok()
}

/// The `for=` node of each RFC 7239 element, in order. An element without `for`,
/// or whose node is `unknown`, obfuscated (`_hidden`) or unparseable, yields `None`
/// (which ends a right-to-left walk). Quoted strings may hold `,` `;` `=`.
///
/// Up to eight elements are held inline (no allocation for a usual chain of proxies).
fn forwarded_for_nodes(value: &str) -> smallvec::IntoIter<[Option<IpAddr>; 8]> {
    let mut nodes = smallvec::SmallVec::<[Option<IpAddr>; 8]>::new();
    for element in split_unquoted(value, b',') {
        let mut node = None;
        let mut seen_for = false;
        for pair in split_unquoted(element, b';') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("for") {
                if seen_for {
                    node = None; // duplicated `for` in one element: ambiguous
                    break;
                }
                seen_for = true;
                node = unquote(v.trim()).and_then(|n| parse_node(&n));
            }
        }
        nodes.push(node);
    }
    nodes.into_iter()
}

/// Splits on `sep` outside double quotes (honouring `\` escapes inside them).
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut in_quotes = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            let b = bytes[i];
            if in_quotes && b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'"' {
                in_quotes = !in_quotes;
            } else if b == sep && !in_quotes {
                let part = &s[start..i];
                i += 1;
                start = i;
                return Some(part);
            }
            i += 1;
        }
        done = true;
        Some(s.get(start..).unwrap_or(""))
    })
}

/// A token, or a quoted-string with escapes removed.
fn unquote(v: &str) -> Option<std::borrow::Cow<'_, str>> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(std::borrow::Cow::Borrowed(v));
    };
    let inner = inner.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(std::borrow::Cow::Owned(out))
}

/// An RFC 7239 node: `1.2.3.4`, `1.2.3.4:port`, `[v6]`, `[v6]:port`. `unknown` and
/// obfuscated identifiers are `None`; a bare IPv6 (not bracketed, as the RFC requires)
/// is accepted.
fn parse_node(node: &str) -> Option<IpAddr> {
    if node.eq_ignore_ascii_case("unknown") || node.starts_with('_') {
        return None;
    }
    if let Some((_, port)) = node
        .rsplit_once("]:")
        .or_else(|| node.split_once(':').filter(|(a, _)| a.contains('.')))
    {
        // Obfuscated ports (`_abc`) are allowed by the RFC; the address is what counts.
        if port.starts_with('_') {
            let addr = &node[..node.len() - port.len() - 1];
            return parse_hop(addr);
        }
    }
    parse_hop(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    fn cfg(source: ClientIpSource) -> ClientIpConfig {
        ClientIpConfig::new(
            source,
            [
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8:ffff::/48".parse().unwrap(),
            ],
        )
    }

    fn run(
        source: ClientIpSource,
        peer_addr: &str,
        headers: &[(&str, &[u8])],
    ) -> (String, IpSource) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        let c = extract(&h, peer(peer_addr), &cfg(source)).unwrap();
        (c.ip.to_string(), c.source)
    }

    use ClientIpSource::*;
    use IpSource as S;

    /// (name, source, peer, headers, expected ip, expected source)
    type Case<'a> = (
        &'a str,
        ClientIpSource,
        &'a str,
        &'a [(&'a str, &'a [u8])],
        &'a str,
        IpSource,
    );

    #[test]
    fn spoofing_vectors() {
        let xff = "x-forwarded-for";
        let fwd = "forwarded";
        let long = "1.2.3.4, ".repeat(600);
        let cases: &[Case<'_>] = &[
            (
                "untrusted peer's headers ignored",
                RightmostXForwardedFor,
                "198.51.100.1:1",
                &[(xff, b"1.2.3.4")],
                "198.51.100.1",
                S::Peer,
            ),
            (
                "leftmost spoof skipped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "trusted hops skipped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4, 10.1.1.1, 10.2.2.2")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "several headers merged in order",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6"), (xff, b"1.2.3.4, 10.0.0.9")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "garbage hop falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4, garbage")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "empty hop falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4,,")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "empty header falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "only trusted proxies falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"10.0.0.7, 10.0.0.8")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "no header falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "v4 with port",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4:5678")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "bracketed v6 with port",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"[2001:db8::1]:443")],
                "2001:db8::1",
                S::XForwardedFor,
            ),
            (
                "v6 zone id dropped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"fe80::1%eth0")],
                "fe80::1",
                S::XForwardedFor,
            ),
            (
                "v4-mapped v6 unmapped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"::ffff:1.2.3.4")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "mapped trusted peer",
                RightmostXForwardedFor,
                "[::ffff:10.0.0.1]:1",
                &[(xff, b"1.2.3.4")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "trusted v6 proxy",
                RightmostXForwardedFor,
                "[2001:db8:ffff::1]:1",
                &[(xff, b"2001:db8:1::5")],
                "2001:db8:1::5",
                S::XForwardedFor,
            ),
            (
                "oversized header falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, long.as_bytes())],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "non-ascii header falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4\xff")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "hop 1 is rightmost",
                XForwardedForHop(1),
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "hop 2",
                XForwardedForHop(2),
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4, 10.0.0.3")],
                "1.2.3.4",
                S::XForwardedFor,
            ),
            (
                "chain shorter than hops",
                XForwardedForHop(3),
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4, 10.0.0.3")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "hop 0 is nonsense",
                XForwardedForHop(0),
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "forwarded basic",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60;proto=http;by=203.0.113.43")],
                "192.0.2.60",
                S::Forwarded,
            ),
            (
                "forwarded rightmost untrusted",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=6.6.6.6, for=192.0.2.60, for=10.0.0.5")],
                "192.0.2.60",
                S::Forwarded,
            ),
            (
                "forwarded quoted v6 with port",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=\"[2001:db8:cafe::17]:4711\"")],
                "2001:db8:cafe::17",
                S::Forwarded,
            ),
            (
                "forwarded quoted comma stays one element",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60;x=\"a,for=6.6.6.6\"")],
                "192.0.2.60",
                S::Forwarded,
            ),
            (
                "forwarded obfuscated ends walk",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60, for=_hidden")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "forwarded unknown ends walk",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60, for=unknown")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "forwarded obfuscated port ok",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=\"192.0.2.60:_port\"")],
                "192.0.2.60",
                S::Forwarded,
            ),
            (
                "forwarded case-insensitive key",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"For=192.0.2.60")],
                "192.0.2.60",
                S::Forwarded,
            ),
            (
                "forwarded missing for",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"proto=https")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "forwarded unterminated quote",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=\"192.0.2.60")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "forwarded duplicate for",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=1.1.1.1;for=2.2.2.2")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "single header",
                ClientIpSource::cf_connecting_ip(),
                "10.0.0.1:1",
                &[("cf-connecting-ip", b"203.0.113.9")],
                "203.0.113.9",
                S::Header,
            ),
            (
                "single header repeated",
                ClientIpSource::x_real_ip(),
                "10.0.0.1:1",
                &[("x-real-ip", b"1.1.1.1"), ("x-real-ip", b"2.2.2.2")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "single header from untrusted",
                ClientIpSource::true_client_ip(),
                "8.8.8.8:1",
                &[("true-client-ip", b"1.1.1.1")],
                "8.8.8.8",
                S::Peer,
            ),
            (
                "single header garbage",
                ClientIpSource::fly_client_ip(),
                "10.0.0.1:1",
                &[("fly-client-ip", b"nope")],
                "10.0.0.1",
                S::Peer,
            ),
            (
                "peer source ignores headers",
                Peer,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4")],
                "10.0.0.1",
                S::Peer,
            ),
        ];
        for (name, source, p, headers, want_ip, want_source) in cases {
            let (ip, source) = run(source.clone(), p, headers);
            assert_eq!((ip.as_str(), source), (*want_ip, *want_source), "{name}");
        }
    }

    /// A single-address header or a counted hop is taken as it is, even inside a trusted
    /// range (an internal client keeps its own address); only the sources that walk a
    /// chain skip trusted addresses, and fall back to the peer when nothing else is left.
    #[test]
    fn as_is_sources_keep_addresses_inside_trusted_ranges() {
        for source in [
            ClientIpSource::x_real_ip(),
            ClientIpSource::cf_connecting_ip(),
        ] {
            let Header(name) = &source else {
                unreachable!()
            };
            let name = name.as_str().to_owned();
            assert_eq!(
                run(source, "10.0.0.1:443", &[(&name, b"10.1.0.1")]),
                ("10.1.0.1".into(), S::Header)
            );
        }
        let chain: &[u8] = b"198.51.100.7, 10.9.9.9, 10.0.0.2";
        for (source, want) in [
            (XForwardedForHop(2), ("10.9.9.9", S::XForwardedFor)),
            (RightmostXForwardedFor, ("198.51.100.7", S::XForwardedFor)),
        ] {
            let got = run(source, "10.0.0.1:443", &[("x-forwarded-for", chain)]);
            assert_eq!(got, (want.0.into(), want.1));
        }
        assert_eq!(
            run(
                RightmostXForwardedFor,
                "10.0.0.1:443",
                &[("x-forwarded-for", b"10.9.9.9")]
            ),
            ("10.0.0.1".into(), S::Peer)
        );
    }

    #[test]
    fn no_peer_no_answer() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        assert!(extract(&h, None, &cfg(RightmostXForwardedFor)).is_none());
    }

    #[test]
    fn rate_key_aggregates_v6() {
        let c = extract(
            &HeaderMap::new(),
            peer("[2001:db8:1:2:3:4:5:6]:1"),
            &cfg(Peer),
        )
        .unwrap();
        assert_eq!(c.rate_key.to_string(), "2001:db8:1:2::/64");
        let mut c48 = cfg(Peer);
        c48.v6_prefix = 48;
        let c = extract(&HeaderMap::new(), peer("[2001:db8:1:2:3:4:5:6]:1"), &c48).unwrap();
        assert_eq!(c.rate_key.to_string(), "2001:db8:1::/48");
        let c = extract(&HeaderMap::new(), peer("192.0.2.1:1"), &cfg(Peer)).unwrap();
        assert_eq!(c.rate_key.to_string(), "192.0.2.1/32");
    }

    #[test]
    fn trims_only_spaces_and_tabs() {
        for s in [
            "",
            " ",
            "\t \t",
            "a",
            " a",
            "a ",
            "\ta b\t ",
            " é ",
            "\n1\r",
            "  x\u{a0} ",
        ] {
            assert_eq!(trim_space_tab(s), s.trim_matches([' ', '\t']), "{s:?}");
        }
    }

    #[test]
    fn hop_parser_edges() {
        for bad in [
            "",
            " ",
            "1.2.3",
            "1.2.3.4:",
            "1.2.3.4:99999",
            "1.2.3.4:port",
            "[::1",
            "[::1]x",
            "[::1]:",
            "::1%",
            "fe80::1%a b",
            "1.2.3.4.5",
            "[1.2.3.4]",
        ] {
            assert_eq!(parse_hop(bad), None, "{bad:?}");
        }
        assert_eq!(parse_hop(" \t1.2.3.4 "), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(
            parse_hop("[::ffff:1.2.3.4]:80"),
            Some("1.2.3.4".parse().unwrap())
        );
    }

    /// Hop-ish text: digits (with zeros), dots, colons, brackets, blanks, hex letters,
    /// a zone, a comma and non-ASCII, so that near-misses of every form come up.
    fn hop_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9.]{0,18}",
            "[0-9.:]{0,24}",
            "[0-9a-fA-F.:\\[\\]% \t,é]{0,30}",
            (any::<[u8; 4]>(), 0usize..4).prop_map(|(o, pad)| {
                // Valid quads, sometimes zero-padded (std refuses those).
                o.iter()
                    .map(|b| format!("{b:0pad$}"))
                    .collect::<Vec<_>>()
                    .join(".")
            }),
            any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
            (any::<std::net::Ipv4Addr>(), any::<u32>()).prop_map(|(a, p)| format!("{a}:{p}")),
            "\\PC{0,20}",
        ]
    }

    #[test]
    fn forwarded_chains_longer_than_the_inline_nodes() {
        for n in [1usize, 7, 8, 9, 20] {
            let mut hops: Vec<String> = (0..n).map(|i| format!("for=192.0.2.{i}")).collect();
            hops.extend((0..n).map(|i| format!("for=10.0.0.{i}")));
            let (ip, source) = run(
                Forwarded,
                "10.0.0.1:1",
                &[("forwarded", hops.join(", ").as_bytes())],
            );
            assert_eq!(
                (ip, source),
                (format!("192.0.2.{}", n - 1), S::Forwarded),
                "{n}"
            );
            assert_eq!(forwarded_for_nodes(&hops.join(",")).len(), 2 * n);
        }
    }

    #[test]
    fn v4_edges_match_std() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.0",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "01.2.3.4",
            "1.02.3.4",
            "1.2.3.00",
            "1.2.3.0",
            "1..2.3",
            "1.2.3.1000",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.-4",
            "001.002.003.004",
            "1.2.3.4:80",
            "999.1.1.1",
            "1.2.3.25a",
            "",
        ] {
            assert_eq!(parse_v4(s.as_bytes()), s.parse::<Ipv4Addr>().ok(), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_v4_equals_std(s in hop_text()) {
            prop_assert_eq!(parse_v4(s.as_bytes()), s.parse::<Ipv4Addr>().ok());
        }

        #[test]
        fn parse_v4_equals_std_any_bytes(b in proptest::collection::vec(any::<u8>(), 0..20)) {
            let want = std::str::from_utf8(&b).ok().and_then(|s| s.parse::<Ipv4Addr>().ok());
            prop_assert_eq!(parse_v4(&b), want);
        }

        #[test]
        fn net_contains_equals_ipnet(
            v4 in any::<(std::net::Ipv4Addr, std::net::Ipv4Addr)>(),
            v6 in any::<(std::net::Ipv6Addr, std::net::Ipv6Addr)>(),
            len in 0u8..=128,
            share in 0u32..=128,
        ) {
            // Addresses that share `share` leading bits with the net, so both answers come up.
            let a4 = u32::from(v4.0);
            let mask4 = u32::MAX.checked_shl(32 - share.min(32)).unwrap_or(0);
            let ip4 = (a4 & mask4) | (u32::from(v4.1) & !mask4);
            let a6 = u128::from(v6.0);
            let mask6 = u128::MAX.checked_shl(128 - share).unwrap_or(0);
            let ip6 = (a6 & mask6) | (u128::from(v6.1) & !mask6);
            let nets = [
                IpNet::V4(ipnet::Ipv4Net::new(v4.0, len.min(32)).unwrap()),
                IpNet::V6(ipnet::Ipv6Net::new(v6.0, len).unwrap()),
            ];
            let ips = [
                IpAddr::V4(ip4.into()),
                IpAddr::V6(ip6.into()),
                IpAddr::V4(v4.1),
                IpAddr::V6(v6.1),
            ];
            for net in &nets {
                for ip in ips {
                    prop_assert_eq!(net_contains(net, ip), net.contains(&ip), "{} {}", net, ip);
                }
            }
        }

        #[test]
        fn xff_walk_equals_split_walk(
            hops in proptest::collection::vec(
                prop_oneof![
                    hop_text(),
                    any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
                    (0u8..4).prop_map(|i| format!(" 10.0.0.{i}")),
                ],
                0..5,
            ),
        ) {
            let v = hops.join(",");
            let c = cfg(RightmostXForwardedFor);
            prop_assert_eq!(
                rightmost_untrusted(hops_from_right(&v), &c),
                rightmost_untrusted(v.split(',').rev().map(parse_hop), &c)
            );
        }

        #[test]
        fn bytewise_trim_equals_trim_matches(s in "[ \t\\PC]{0,12}") {
            prop_assert_eq!(trim_space_tab(&s), s.trim_matches([' ', '\t']));
        }

        #[test]
        fn never_panics_and_always_answers(
            values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..4),
            source in 0usize..6,
        ) {
            let mut h = HeaderMap::new();
            let source = [RightmostXForwardedFor, XForwardedForHop(2), Forwarded, ClientIpSource::x_real_ip(), Peer, XForwardedForHop(1)][source].clone();
            for v in &values {
                if let Ok(v) = HeaderValue::from_bytes(v) {
                    h.append(X_FORWARDED_FOR, v.clone());
                    h.append(FORWARDED, v.clone());
                    h.append("x-real-ip", v);
                }
            }
            let got = extract(&h, peer("10.0.0.1:1"), &cfg(source));
            prop_assert!(got.is_some());
            // Whatever the headers say, the answer is never a trusted proxy unless it is the peer.
            let got = got.unwrap();
            prop_assert!(got.source == IpSource::Peer || !cfg(Peer).is_trusted(got.ip));
        }

        #[test]
        fn forwarded_never_panics(s in "[ -~]{0,120}") {
            for node in forwarded_for_nodes(&s) { let _ = node; }
            let _ = parse_hop(&s);
        }

        #[test]
        fn xff_picks_the_rightmost_untrusted(
            chain in proptest::collection::vec(any::<std::net::Ipv4Addr>(), 1..8),
            trusted_tail in 0usize..3,
        ) {
            let mut hops: Vec<String> = chain.iter().map(|ip| ip.to_string()).collect();
            for i in 0..trusted_tail { hops.push(format!("10.9.9.{i}")); }
            let mut h = HeaderMap::new();
            h.insert(X_FORWARDED_FOR, HeaderValue::from_str(&hops.join(", ")).unwrap());
            let got = extract(&h, peer("10.0.0.1:1"), &cfg(RightmostXForwardedFor)).unwrap();
            let want = chain.iter().rev().find(|ip| !cfg(Peer).is_trusted(IpAddr::V4(**ip)));
            match want {
                Some(ip) => prop_assert_eq!(got.ip, IpAddr::V4(*ip)),
                None => prop_assert_eq!(got.source, IpSource::Peer),
            }
        }
    }
}
