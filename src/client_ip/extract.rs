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
    /// Most bytes of a forwarding header read, counted from the right end of its last
    /// line (default 4096). The walk stops at the client's hop, so a longer header is
    /// fine as long as that hop begins within the bound; one that begins beyond it is
    /// refused ([`ExtractError::UnreadableForwarding`]). A single-address header longer
    /// than this is ignored (the peer answers).
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

/// Why [`extract`] gives no client address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtractError {
    /// The request carries no socket peer address: nothing safe to fall back to.
    NoPeer,
    /// Behind a trusted proxy, the hop where the client's address must stand (the
    /// rightmost untrusted `X-Forwarded-For` hop or `Forwarded` element, or the counted
    /// hop) is unreadable, or lies beyond [`ClientIpConfig::max_header_bytes`] from the
    /// right. Answering with the peer would put the client in the proxy's place.
    UnreadableForwarding,
}

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoPeer => "no socket peer address",
            Self::UnreadableForwarding => {
                "the forwarding header's client hop is unreadable or beyond the byte bound"
            }
        })
    }
}

impl std::error::Error for ExtractError {}

/// The client of a request from `headers` and the socket `peer`, per `config`.
///
/// The sources that walk a chain read the header's raw bytes **from the right**,
/// element by element, and stop at the first hop that is not a trusted proxy: the bytes
/// to its left (the client's own text) are never looked at, so nothing a client writes
/// there changes the answer. Several lines of the header count as one list, in order.
/// Empty list elements are skipped (RFC 9110 §5.6.1).
///
/// * The peer is the answer when it is not a trusted proxy, when the header is absent,
///   when every hop in it is a trusted proxy, or (counted hop) when the chain is shorter
///   than the count: nothing in these cases is the client's doing.
/// * [`ExtractError::UnreadableForwarding`] when the hop where the client must stand is
///   unreadable (not an address, not ASCII, `unknown`/obfuscated) or begins more than
///   `max_header_bytes` from the right. The layer answers 400 `INVALID_FORWARDED_HEADER`.
/// * [`ExtractError::NoPeer`] when `peer` is `None`.
///
/// ```
/// use tower_shield::client_ip::{ClientIpConfig, ClientIpSource, ExtractError, extract};
/// use http::{HeaderMap, HeaderValue};
///
/// let cfg = ClientIpConfig::new(ClientIpSource::RightmostXForwardedFor, ["10.0.0.0/8".parse().unwrap()]);
/// let mut h = HeaderMap::new();
/// h.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3".parse().unwrap());
/// let from_proxy = extract(&h, Some("10.0.0.2:443".parse().unwrap()), &cfg).unwrap();
/// assert_eq!(from_proxy.ip.to_string(), "198.51.100.7");
/// let direct = extract(&h, Some("203.0.113.5:443".parse().unwrap()), &cfg).unwrap();
/// assert_eq!(direct.ip.to_string(), "203.0.113.5"); // untrusted peer: headers ignored
///
/// // Whatever the client wrote left of the proxy's hop does not matter...
/// h.insert("x-forwarded-for", HeaderValue::from_bytes(b"\xff, 198.51.100.7").unwrap());
/// let ip = extract(&h, Some("10.0.0.2:443".parse().unwrap()), &cfg).unwrap();
/// assert_eq!(ip.ip.to_string(), "198.51.100.7");
/// // ...and an unreadable client hop is refused, never answered with the proxy.
/// h.insert("x-forwarded-for", HeaderValue::from_bytes(b"198.51.100.7\xff").unwrap());
/// let err = extract(&h, Some("10.0.0.2:443".parse().unwrap()), &cfg).unwrap_err();
/// assert_eq!(err, ExtractError::UnreadableForwarding);
/// ```
pub fn extract(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    config: &ClientIpConfig,
) -> Result<ClientIp, ExtractError> {
    let peer_ip = unmap(peer.ok_or(ExtractError::NoPeer)?.ip());
    if config.source == ClientIpSource::Peer || !config.is_trusted_unmapped(peer_ip) {
        return Ok(ClientIp::new(peer_ip, IpSource::Peer, config.v6_prefix));
    }
    let budget = config.max_header_bytes;
    let found = match &config.source {
        ClientIpSource::Peer => Walk::Peer,
        ClientIpSource::RightmostXForwardedFor => rightmost_untrusted(
            elements_from_right(headers, &X_FORWARDED_FOR, false, budget),
            parse_hop_bytes,
            config,
        )
        .map(IpSource::XForwardedFor),
        ClientIpSource::XForwardedForHop(n) => nth_from_right(
            elements_from_right(headers, &X_FORWARDED_FOR, false, budget),
            *n,
        )
        .map(IpSource::XForwardedFor),
        ClientIpSource::Forwarded => rightmost_untrusted(
            elements_from_right(headers, &FORWARDED, true, budget),
            forwarded_element_node,
            config,
        )
        .map(IpSource::Forwarded),
        ClientIpSource::Header(name) => match single(headers, name, budget).and_then(parse_hop) {
            Some(ip) => Walk::Found(ip, IpSource::Header),
            None => Walk::Peer,
        },
    };
    match found {
        Walk::Found(ip, source) => Ok(ClientIp::new(ip, source, config.v6_prefix)),
        Walk::Peer => Ok(ClientIp::new(peer_ip, IpSource::Peer, config.v6_prefix)),
        Walk::Unreadable => Err(ExtractError::UnreadableForwarding),
    }
}

/// The outcome of a walk over a forwarding header.
#[derive(Debug, PartialEq, Eq)]
enum Walk<T = ()> {
    /// The client's address (and, once mapped, its source).
    Found(IpAddr, T),
    /// Nothing in the header speaks for a client: the peer is the answer.
    Peer,
    /// The hop where the client must stand is unreadable or beyond the bound.
    Unreadable,
}

impl Walk {
    fn map(self, source: IpSource) -> Walk<IpSource> {
        match self {
            Walk::Found(ip, ()) => Walk::Found(ip, source),
            Walk::Peer => Walk::Peer,
            Walk::Unreadable => Walk::Unreadable,
        }
    }
}

/// One list element read from the right: its bytes (blanks trimmed, never empty), or
/// `Err` once the next element would begin beyond the byte budget.
type Element<'a> = Result<&'a [u8], ()>;

/// The list elements of every `name` line, right to left (the last line first), over
/// the raw bytes. A line boundary always ends an element. With `quoted`, commas inside
/// an RFC 7230 quoted-string do not split (`Forwarded`). At most `budget` bytes are
/// looked at, counted from the right end of the last line; the element that would cross
/// the budget comes out as `Err` and ends the walk.
fn elements_from_right<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    quoted: bool,
    budget: usize,
) -> impl Iterator<Item = Element<'a>> + 'a {
    let mut lines = headers.get_all(name).iter().rev();
    let mut rest: &'a [u8] = &[];
    let mut budget = Some(budget);
    std::iter::from_fn(move || {
        loop {
            let left = budget?;
            if rest.is_empty() {
                rest = lines.next()?.as_bytes();
                continue;
            }
            // Only the last `left + 1` bytes may hold the separator that ends this element.
            let window = rest.len().saturating_sub(left.saturating_add(1));
            let cut = if quoted {
                rposition_unquoted_comma(rest, window)
            } else {
                rest.get(window..)
                    .and_then(|w| w.iter().rposition(|b| *b == b','))
                    .map(|i| i + window)
            };
            let (before, element) = match cut {
                Some(i) => (
                    rest.get(..i).unwrap_or_default(),
                    rest.get(i + 1..).unwrap_or_default(),
                ),
                None if window == 0 => (&[][..], rest),
                None => {
                    budget = None;
                    return Some(Err(()));
                }
            };
            let used = rest.len() - before.len();
            if used > left {
                budget = None;
                return Some(Err(()));
            }
            budget = Some(left - used);
            rest = before;
            let element = trim_blank_bytes(element);
            if !element.is_empty() {
                return Some(Ok(element));
            }
        }
    })
}

/// The rightmost `,` of `s` at or after `from` that is outside a quoted-string, reading
/// right to left. A `"` closes (seen from the right) a quoted-string unless an odd run
/// of `\` escapes it. An unterminated quoted-string swallows the rest: no comma.
fn rposition_unquoted_comma(s: &[u8], from: usize) -> Option<usize> {
    let mut in_quotes = false;
    let mut i = s.len();
    while i > from {
        i -= 1;
        match s.get(i).copied() {
            Some(b'"') => {
                let backslashes = s
                    .get(..i)
                    .unwrap_or_default()
                    .iter()
                    .rev()
                    .take_while(|b| **b == b'\\')
                    .count();
                if !in_quotes || backslashes % 2 == 0 {
                    in_quotes = !in_quotes;
                }
            }
            Some(b',') if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

/// `s` without leading and trailing spaces and tabs.
fn trim_blank_bytes(s: &[u8]) -> &[u8] {
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = s.iter().position(|c| !blank(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !blank(c)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// [`parse_hop`] over raw header bytes (non-UTF-8 is unreadable).
fn parse_hop_bytes(hop: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(hop).ok().and_then(parse_hop)
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

/// Walks elements right to left, skipping trusted proxies; the first untrusted hop wins
/// and nothing left of it is read. An unreadable element before that is
/// [`Walk::Unreadable`]; a chain of only trusted proxies (or none) is [`Walk::Peer`].
/// Addresses come from `parse` (via [`parse_hop`], already unmapped).
fn rightmost_untrusted<'a, I>(
    elements: I,
    parse: impl Fn(&[u8]) -> Option<IpAddr>,
    config: &ClientIpConfig,
) -> Walk
where
    I: Iterator<Item = Element<'a>>,
{
    for element in elements {
        let Some(ip) = element.ok().and_then(&parse) else {
            return Walk::Unreadable;
        };
        if !config.is_trusted_unmapped(ip) {
            return Walk::Found(ip, ());
        }
    }
    Walk::Peer
}

/// The `n`-th element from the right (1 = rightmost), taken as it is; the elements right
/// of it are counted, not parsed. A chain shorter than `n` (or `n == 0`) is the peer.
fn nth_from_right<'a>(mut elements: impl Iterator<Item = Element<'a>>, n: usize) -> Walk {
    let Some(skip) = n.checked_sub(1) else {
        return Walk::Peer;
    };
    match elements.nth(skip) {
        None => Walk::Peer,
        Some(element) => match element.ok().and_then(parse_hop_bytes) {
            Some(ip) => Walk::Found(ip, ()),
            None => Walk::Unreadable,
        },
    }
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

/// The `for=` node of one RFC 7239 element. An element without `for`, with two, or
/// whose node is `unknown`, obfuscated (`_hidden`), unparseable or not ASCII is `None`.
/// Quoted strings may hold `;` `=`.
fn forwarded_element_node(element: &[u8]) -> Option<IpAddr> {
    let element = std::str::from_utf8(element).ok()?;
    let mut node = None;
    for pair in split_unquoted(element, b';') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("for") {
            if node.is_some() {
                return None; // duplicated `for` in one element: ambiguous
            }
            node = Some(unquote(v.trim()).and_then(|n| parse_node(&n)));
        }
    }
    node.flatten()
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
        try_run(source, peer_addr, headers).unwrap()
    }

    fn try_run(
        source: ClientIpSource,
        peer_addr: &str,
        headers: &[(&str, &[u8])],
    ) -> Result<(String, IpSource), ExtractError> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_bytes(v).unwrap(),
            );
        }
        let c = extract(&h, peer(peer_addr), &cfg(source))?;
        Ok((c.ip.to_string(), c.source))
    }

    use ClientIpSource::*;
    use IpSource as S;

    /// (name, source, peer, headers, expected ip, expected source)
    type Case<'a> = (
        &'a str,
        ClientIpSource,
        &'a str,
        &'a [(&'a str, &'a [u8])],
        Result<(&'a str, IpSource), ExtractError>,
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
                Ok(("198.51.100.1", S::Peer)),
            ),
            (
                "leftmost spoof skipped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "trusted hops skipped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4, 10.1.1.1, 10.2.2.2")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "several headers merged in order",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6"), (xff, b"1.2.3.4, 10.0.0.9")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "garbage client hop is refused",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4, garbage")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "empty list elements are skipped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4,,")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "empty header falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"")],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "only trusted proxies falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"10.0.0.7, 10.0.0.8")],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "no header falls back",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "v4 with port",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4:5678")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "bracketed v6 with port",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"[2001:db8::1]:443")],
                Ok(("2001:db8::1", S::XForwardedFor)),
            ),
            (
                "v6 zone id dropped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"fe80::1%eth0")],
                Ok(("fe80::1", S::XForwardedFor)),
            ),
            (
                "v4-mapped v6 unmapped",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"::ffff:1.2.3.4")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "mapped trusted peer",
                RightmostXForwardedFor,
                "[::ffff:10.0.0.1]:1",
                &[(xff, b"1.2.3.4")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "trusted v6 proxy",
                RightmostXForwardedFor,
                "[2001:db8:ffff::1]:1",
                &[(xff, b"2001:db8:1::5")],
                Ok(("2001:db8:1::5", S::XForwardedFor)),
            ),
            (
                "oversized client part is never read",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, long.as_bytes())],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "non-ascii client hop is refused",
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4\xff")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "hop 1 is rightmost",
                XForwardedForHop(1),
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "hop 2",
                XForwardedForHop(2),
                "10.0.0.1:1",
                &[(xff, b"6.6.6.6, 1.2.3.4, 10.0.0.3")],
                Ok(("1.2.3.4", S::XForwardedFor)),
            ),
            (
                "chain shorter than hops",
                XForwardedForHop(3),
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4, 10.0.0.3")],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "hop 0 is nonsense",
                XForwardedForHop(0),
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4")],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "forwarded basic",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60;proto=http;by=203.0.113.43")],
                Ok(("192.0.2.60", S::Forwarded)),
            ),
            (
                "forwarded rightmost untrusted",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=6.6.6.6, for=192.0.2.60, for=10.0.0.5")],
                Ok(("192.0.2.60", S::Forwarded)),
            ),
            (
                "forwarded quoted v6 with port",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=\"[2001:db8:cafe::17]:4711\"")],
                Ok(("2001:db8:cafe::17", S::Forwarded)),
            ),
            (
                "forwarded quoted comma stays one element",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60;x=\"a,for=6.6.6.6\"")],
                Ok(("192.0.2.60", S::Forwarded)),
            ),
            (
                "forwarded obfuscated client node is refused",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60, for=_hidden")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "forwarded unknown client node is refused",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=192.0.2.60, for=unknown")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "forwarded obfuscated port ok",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=\"192.0.2.60:_port\"")],
                Ok(("192.0.2.60", S::Forwarded)),
            ),
            (
                "forwarded case-insensitive key",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"For=192.0.2.60")],
                Ok(("192.0.2.60", S::Forwarded)),
            ),
            (
                "forwarded element without for is refused",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"proto=https")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "forwarded unterminated quote is refused",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=\"192.0.2.60")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "forwarded duplicate for is refused",
                Forwarded,
                "10.0.0.1:1",
                &[(fwd, b"for=1.1.1.1;for=2.2.2.2")],
                Err(ExtractError::UnreadableForwarding),
            ),
            (
                "single header",
                ClientIpSource::cf_connecting_ip(),
                "10.0.0.1:1",
                &[("cf-connecting-ip", b"203.0.113.9")],
                Ok(("203.0.113.9", S::Header)),
            ),
            (
                "single header repeated",
                ClientIpSource::x_real_ip(),
                "10.0.0.1:1",
                &[("x-real-ip", b"1.1.1.1"), ("x-real-ip", b"2.2.2.2")],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "single header from untrusted",
                ClientIpSource::true_client_ip(),
                "8.8.8.8:1",
                &[("true-client-ip", b"1.1.1.1")],
                Ok(("8.8.8.8", S::Peer)),
            ),
            (
                "single header garbage",
                ClientIpSource::fly_client_ip(),
                "10.0.0.1:1",
                &[("fly-client-ip", b"nope")],
                Ok(("10.0.0.1", S::Peer)),
            ),
            (
                "peer source ignores headers",
                Peer,
                "10.0.0.1:1",
                &[(xff, b"1.2.3.4")],
                Ok(("10.0.0.1", S::Peer)),
            ),
        ];
        for (name, source, p, headers, want) in cases {
            let got = try_run(source.clone(), p, headers);
            let got = got
                .as_ref()
                .map(|(ip, s)| (ip.as_str(), *s))
                .map_err(|e| *e);
            assert_eq!(got, *want, "{name}");
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

    /// The client's hop is read within the byte bound from the right, and a client hop
    /// that begins beyond it is refused, never answered with the proxy.
    #[test]
    fn byte_bound_counts_from_the_right() {
        let many_trusted = "10.0.0.7, ".repeat(500);
        let chain = format!("198.51.100.7, {many_trusted}10.0.0.8");
        assert_eq!(
            try_run(
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[("x-forwarded-for", chain.as_bytes())]
            ),
            Err(ExtractError::UnreadableForwarding)
        );
        let long_left = format!("{}, 198.51.100.7", "\u{e9}".repeat(5000));
        assert_eq!(
            run(
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[("x-forwarded-for", long_left.as_bytes())]
            ),
            ("198.51.100.7".into(), S::XForwardedFor)
        );
        let one_long_hop = "1".repeat(5000);
        assert_eq!(
            try_run(
                RightmostXForwardedFor,
                "10.0.0.1:1",
                &[("x-forwarded-for", one_long_hop.as_bytes())]
            ),
            Err(ExtractError::UnreadableForwarding)
        );
    }

    #[test]
    fn quoted_commas_from_the_right() {
        for (s, want) in [
            (&br#"a, b"#[..], Some(1)),
            (br#"for="a,b""#, None),
            (br#"x, for="a,b""#, Some(1)),
            (br#"x, for="a\",b""#, Some(1)),
            (br#"x, for="a\\",b"#, Some(12)),
            (br#"for="a,b"#, Some(6)),
        ] {
            assert_eq!(
                rposition_unquoted_comma(s, 0),
                want,
                "{}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn no_peer_no_answer() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        assert_eq!(
            extract(&h, None, &cfg(RightmostXForwardedFor)),
            Err(ExtractError::NoPeer)
        );
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

        /// Over well-formed-enough chains (no quotes, no budget hit), the byte walk from
        /// the right answers what a naive split of the joined text answers.
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
            let mut h = HeaderMap::new();
            h.insert(X_FORWARDED_FOR, HeaderValue::from_str(&v).unwrap());
            let c = cfg(RightmostXForwardedFor);
            let mut want = Walk::Peer;
            for hop in v.split(',').rev().filter(|h| !h.trim_matches([' ', '\t']).is_empty()) {
                match parse_hop(hop) {
                    None => { want = Walk::Unreadable; break; }
                    Some(ip) if !c.is_trusted(ip) => { want = Walk::Found(ip, ()); break; }
                    Some(_) => {}
                }
            }
            prop_assert_eq!(
                rightmost_untrusted(elements_from_right(&h, &X_FORWARDED_FOR, false, 4096), parse_hop_bytes, &c),
                want
            );
        }

        /// Issue 17: whatever bytes the client puts left of the proxy's hop (non-ASCII,
        /// quotes, commas, more than the byte bound, on the same line or an earlier one),
        /// the answer is the hop the trusted proxy wrote.
        #[test]
        fn the_client_part_never_decides(
            client in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'"'), Just(b','), Just(b'\\'), Just(b';'), Just(b'=')]
                    .prop_filter("header value byte", |b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)),
                0..200,
            ),
            pad in prop_oneof![Just(0usize), Just(5000usize)],
            hop in any::<std::net::Ipv4Addr>().prop_filter("untrusted", |a| a.octets()[0] != 10),
            trusted_tail in 0usize..3,
            same_line in any::<bool>(),
        ) {
            let mut left = client.clone();
            left.extend(std::iter::repeat_n(b'x', pad));
            let tail: String = (0..trusted_tail).map(|i| format!(", 10.9.9.{i}")).collect();
            for (source, name, right) in [
                (RightmostXForwardedFor, X_FORWARDED_FOR, format!("{hop}{tail}")),
                (Forwarded, FORWARDED, format!("for={hop};proto=https{}", tail.replace(", ", ", for="))),
            ] {
                let mut h = HeaderMap::new();
                if same_line {
                    let mut v = left.clone();
                    v.extend_from_slice(b", ");
                    v.extend_from_slice(right.as_bytes());
                    h.append(name.clone(), HeaderValue::from_bytes(&v).unwrap());
                } else {
                    h.append(name.clone(), HeaderValue::from_bytes(&left).unwrap());
                    h.append(name.clone(), HeaderValue::from_str(&right).unwrap());
                }
                let got = extract(&h, peer("10.0.0.1:1"), &cfg(source.clone()));
                prop_assert_eq!(got.map(|c| c.ip), Ok(IpAddr::V4(hop)), "{:?}", source);
            }
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
            prop_assert_ne!(got, Err(ExtractError::NoPeer));
            // Whatever the headers say, the answer is never a trusted proxy unless it is the peer.
            if let Ok(got) = got {
                prop_assert!(got.source == IpSource::Peer || !cfg(Peer).is_trusted(got.ip));
            }
        }

        #[test]
        fn forwarded_never_panics(s in "[ -~]{0,120}") {
            let _ = forwarded_element_node(s.as_bytes());
            let _ = rposition_unquoted_comma(s.as_bytes(), 0);
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
