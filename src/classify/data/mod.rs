//! The network data plane: one merged IPv4 + IPv6 range table answering in one lookup.
//!
//! Sources (the built-in special-purpose ranges, the embedded hosting snapshot, and
//! whatever the loaders read) are added to a [`TableBuilder`] as inclusive address ranges,
//! each with a [`NetInfo`]. [`TableBuilder::build`] flattens overlaps into disjoint
//! ranges (kinds are OR-ed; ASN, organisation and geo come from the narrowest range that
//! has them) and stores each family as a sorted array of range starts plus a 64 Ki-entry
//! first-level index on the top 16 bits, so a lookup is one index read and a short
//! binary search. Records are interned: a table of 500 000 ranges takes about 8 bytes per
//! IPv4 range and 20 per IPv6 range, plus one record per distinct network.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::core::verdict::Geo;

pub mod embedded;
pub mod loaders;
pub mod special;

/// What kind of network an address belongs to. A set of bits; combine with `|`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NetKind(u16);

impl NetKind {
    /// No kind.
    pub const NONE: NetKind = NetKind(0);
    /// Hosting, datacenter or cloud network.
    pub const HOSTING: NetKind = NetKind(1);
    /// A VPN provider's exit range.
    pub const VPN: NetKind = NetKind(1 << 1);
    /// An open or commercial proxy.
    pub const PROXY: NetKind = NetKind(1 << 2);
    /// A Tor exit node.
    pub const TOR: NetKind = NetKind(1 << 3);
    /// A published crawler range (e.g. Googlebot's).
    pub const CRAWLER: NetKind = NetKind(1 << 4);
    /// An IANA special-purpose range (private, loopback, documentation, ...).
    pub const SPECIAL: NetKind = NetKind(1 << 5);

    const NAMES: [(NetKind, &'static str); 6] = [
        (NetKind::HOSTING, "hosting"),
        (NetKind::VPN, "vpn"),
        (NetKind::PROXY, "proxy"),
        (NetKind::TOR, "tor"),
        (NetKind::CRAWLER, "crawler"),
        (NetKind::SPECIAL, "special"),
    ];

    /// `true` when every bit of `other` is set in `self`.
    pub const fn contains(self, other: NetKind) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// `true` when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kind named `name` (`hosting`, `datacenter`, `vpn`, `proxy`, `tor`, `crawler`,
    /// `special`), for tags in list files and configs.
    pub fn from_name(name: &str) -> Option<NetKind> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("datacenter") || name.eq_ignore_ascii_case("cloud") {
            return Some(NetKind::HOSTING);
        }
        Self::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(k, _)| *k)
    }
}

impl std::ops::BitOr for NetKind {
    type Output = NetKind;
    fn bitor(self, rhs: NetKind) -> NetKind {
        NetKind(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for NetKind {
    fn bitor_assign(&mut self, rhs: NetKind) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for NetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for (k, n) in Self::NAMES {
            if self.contains(k) {
                set.entry(&n);
            }
        }
        set.finish()
    }
}

/// What the table knows about a network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetInfo {
    /// Kinds of network (hosting, VPN, Tor, ...).
    pub kind: NetKind,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Organisation (AS name, or cloud provider).
    pub org: Option<Arc<str>>,
    /// A short label for reasons: provider (`"AWS"`), list name (`"tor-exits"`) or the
    /// special-purpose range's name (`"private-use"`).
    pub label: Option<Arc<str>>,
    /// Location, from a geo source.
    pub geo: Option<Geo>,
}

impl NetInfo {
    /// A record of `kind` labelled `label`.
    pub fn tagged(kind: NetKind, label: impl Into<Arc<str>>) -> Self {
        Self {
            kind,
            label: Some(label.into()),
            ..Self::default()
        }
    }
}

/// Why data could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    source: &'static str,
    line: usize,
    reason: String,
}

impl LoadError {
    /// An error in `source` (a format name) at 1-based `line` (0: not line-based).
    pub fn new(source: &'static str, line: usize, reason: impl Into<String>) -> Self {
        Self {
            source,
            line,
            reason: reason.into(),
        }
    }

    /// The format that failed, e.g. `"aws-ip-ranges"`.
    pub fn format(&self) -> &'static str {
        self.source
    }

    /// The 1-based line, or 0.
    pub fn line(&self) -> usize {
        self.line
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{} line {}: {}", self.source, self.line, self.reason)
        } else {
            write!(f, "{}: {}", self.source, self.reason)
        }
    }
}

impl std::error::Error for LoadError {}

/// Default bound on the ranges one builder accepts (8 Mi, enough for every public
/// ASN and geo database at once).
pub const DEFAULT_MAX_RANGES: usize = 8 << 20;

/// Collects ranges from any number of sources, then builds a [`PrefixTable`].
///
/// ```
/// use tower_shield::classify::data::{NetInfo, NetKind, TableBuilder};
///
/// let mut b = TableBuilder::new();
/// b.add_net("203.0.113.0/24".parse().unwrap(), NetInfo::tagged(NetKind::TOR, "test")).unwrap();
/// let t = b.build();
/// assert!(t.lookup("203.0.113.9".parse().unwrap()).unwrap().kind.contains(NetKind::TOR));
/// assert!(t.lookup("203.0.114.1".parse().unwrap()).is_none());
/// ```
#[derive(Debug)]
pub struct TableBuilder {
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    records: Vec<NetInfo>,
    interned: HashMap<NetInfo, u32>,
    max_ranges: usize,
}

impl Default for TableBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TableBuilder {
    /// An empty builder accepting up to [`DEFAULT_MAX_RANGES`] ranges.
    pub fn new() -> Self {
        Self {
            v4: Vec::new(),
            v6: Vec::new(),
            records: Vec::new(),
            interned: HashMap::new(),
            max_ranges: DEFAULT_MAX_RANGES,
        }
    }

    /// A builder pre-loaded with the IANA special-purpose ranges.
    pub fn with_special_ranges() -> Self {
        let mut b = Self::new();
        special::add_special_ranges(&mut b);
        b
    }

    /// Caps the number of ranges (adding more fails with a [`LoadError`]).
    pub fn max_ranges(mut self, max: usize) -> Self {
        self.max_ranges = max;
        self
    }

    /// Ranges added so far.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// `true` when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn intern(&mut self, info: NetInfo) -> u32 {
        if let Some(id) = self.interned.get(&info) {
            return *id;
        }
        let id = u32::try_from(self.records.len()).unwrap_or(u32::MAX - 1);
        self.records.push(info.clone());
        self.interned.insert(info, id);
        id
    }

    fn room(&self) -> Result<(), LoadError> {
        if self.len() >= self.max_ranges {
            return Err(LoadError::new(
                "table",
                0,
                format!("more than {} ranges", self.max_ranges),
            ));
        }
        Ok(())
    }

    /// Adds a network.
    pub fn add_net(&mut self, net: IpNet, info: NetInfo) -> Result<(), LoadError> {
        let net = net.trunc();
        self.add_range(net.network(), net.broadcast(), info)
    }

    /// Adds the inclusive range `start..=end` (both of one family, `start <= end`).
    /// IPv4-mapped IPv6 bounds are stored as IPv4.
    pub fn add_range(
        &mut self,
        start: IpAddr,
        end: IpAddr,
        info: NetInfo,
    ) -> Result<(), LoadError> {
        self.room()?;
        match (crate::core::ext::unmap(start), crate::core::ext::unmap(end)) {
            (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => {
                let id = self.intern(info);
                self.v4.push((u32::from(s), u32::from(e), id));
                Ok(())
            }
            (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => {
                let id = self.intern(info);
                self.v6.push((u128::from(s), u128::from(e), id));
                Ok(())
            }
            _ => Err(LoadError::new(
                "table",
                0,
                format!("bad range {start}-{end}"),
            )),
        }
    }

    /// Flattens the ranges into a lookup table.
    pub fn build(self) -> PrefixTable {
        let mut records = self.records;
        let mut merged: HashMap<Vec<u32>, u32> = HashMap::new();
        let v4 = flatten(&self.v4, &mut records, &mut merged);
        let v6 = flatten(&self.v6, &mut records, &mut merged);
        let mut records: Vec<Arc<NetInfo>> = records.into_iter().map(Arc::new).collect();
        records.shrink_to_fit();
        PrefixTable {
            v4: Dir::new(v4),
            v6: Dir::new(v6),
            records,
        }
    }
}

/// A key type of the table: `u32` for IPv4, `u128` for IPv6.
trait Key: Copy + Ord + fmt::Debug {
    const ZERO: Self;
    fn succ(self) -> Option<Self>;
    fn top16(self) -> usize;
    fn span(start: Self, end: Self) -> u128;
}

impl Key for u32 {
    const ZERO: Self = 0;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn top16(self) -> usize {
        (self >> 16) as usize
    }
    fn span(start: Self, end: Self) -> u128 {
        u128::from(end - start)
    }
}

impl Key for u128 {
    const ZERO: Self = 0;
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
    fn top16(self) -> usize {
        (self >> 112) as usize
    }
    fn span(start: Self, end: Self) -> u128 {
        end - start
    }
}

/// Record id of "nothing known".
const NONE: u32 = u32::MAX;

/// Sweeps the (possibly overlapping) ranges into disjoint `(start, record)` runs that
/// cover the whole key space from zero.
fn flatten<K: Key>(
    ranges: &[(K, K, u32)],
    records: &mut Vec<NetInfo>,
    merged: &mut HashMap<Vec<u32>, u32>,
) -> Vec<(K, u32)> {
    // Events: (position, is_start, range index). Ends are at `end + 1`.
    let mut events: Vec<(K, bool, usize)> = Vec::with_capacity(ranges.len() * 2);
    for (i, (s, e, _)) in ranges.iter().enumerate() {
        events.push((*s, true, i));
        if let Some(after) = e.succ() {
            events.push((after, false, i));
        }
    }
    events.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out: Vec<(K, u32)> = Vec::with_capacity(events.len() + 1);
    let mut active: Vec<usize> = Vec::new();
    let mut idx = 0;
    if events.first().is_none_or(|e| e.0 != K::ZERO) {
        out.push((K::ZERO, NONE));
    }
    while let Some(&(pos, _, _)) = events.get(idx) {
        while let Some(&(p, is_start, i)) = events.get(idx) {
            if p != pos {
                break;
            }
            if is_start {
                active.push(i);
            } else if let Some(at) = active.iter().position(|&a| a == i) {
                active.swap_remove(at);
            }
            idx += 1;
        }
        let rec = merge_active(&active, ranges, records, merged);
        match out.last() {
            Some(&(_, last)) if last == rec => {}
            _ => out.push((pos, rec)),
        }
    }
    out
}

/// The record for a set of active ranges: one range's own record, or an interned merge
/// (kinds OR-ed, the rest from the narrowest range that has it).
fn merge_active<K: Key>(
    active: &[usize],
    ranges: &[(K, K, u32)],
    records: &mut Vec<NetInfo>,
    merged: &mut HashMap<Vec<u32>, u32>,
) -> u32 {
    let mut by_width: Vec<(u128, u32)> = active
        .iter()
        .filter_map(|&i| ranges.get(i))
        .map(|&(s, e, id)| (K::span(s, e), id))
        .collect();
    match by_width.as_slice() {
        [] => return NONE,
        [(_, id)] => return *id,
        _ => {}
    }
    by_width.sort_unstable();
    by_width.dedup_by_key(|(_, id)| *id);
    let ids: Vec<u32> = by_width.iter().map(|(_, id)| *id).collect();
    if let [id] = ids.as_slice() {
        return *id;
    }
    if let Some(id) = merged.get(&ids) {
        return *id;
    }
    let mut out = NetInfo::default();
    for id in &ids {
        let Some(r) = records.get(*id as usize) else {
            continue;
        };
        out.kind |= r.kind;
        if out.asn.is_none() {
            out.asn = r.asn;
        }
        if out.org.is_none() {
            out.org.clone_from(&r.org);
        }
        if out.label.is_none() {
            out.label.clone_from(&r.label);
        }
        if out.geo.is_none() {
            out.geo.clone_from(&r.geo);
        }
    }
    let id = u32::try_from(records.len()).unwrap_or(NONE - 1);
    records.push(out);
    merged.insert(ids, id);
    id
}

/// One family's sorted run starts, their records and the top-16-bit index.
#[derive(Clone)]
struct Dir<K> {
    starts: Vec<K>,
    recs: Vec<u32>,
    /// `index[b]` = first position whose start has top 16 bits `>= b`; 65 537 entries.
    index: Vec<u32>,
}

impl<K: Key> Dir<K> {
    fn new(runs: Vec<(K, u32)>) -> Self {
        let (mut starts, mut recs): (Vec<K>, Vec<u32>) = runs.into_iter().unzip();
        starts.shrink_to_fit();
        recs.shrink_to_fit();
        let mut index = Vec::with_capacity(65_537);
        let mut pos = 0usize;
        for b in 0..=65_536usize {
            while starts.get(pos).is_some_and(|s| s.top16() < b) {
                pos += 1;
            }
            index.push(u32::try_from(pos).unwrap_or(u32::MAX));
        }
        Self {
            starts,
            recs,
            index,
        }
    }

    #[inline]
    fn lookup(&self, k: K) -> u32 {
        let b = k.top16();
        let lo = self.index.get(b).copied().unwrap_or(0) as usize;
        let hi = self.index.get(b + 1).copied().unwrap_or(0) as usize;
        let n = self
            .starts
            .get(lo..hi)
            .map_or(0, |s| s.partition_point(|s| *s <= k));
        // starts[0] == 0 <= k, so at least one run starts at or before k.
        (lo + n)
            .checked_sub(1)
            .and_then(|i| self.recs.get(i))
            .copied()
            .unwrap_or(NONE)
    }

    fn bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<K>()
            + self.recs.capacity() * 4
            + self.index.capacity() * 4
    }
}

/// An immutable IPv4 + IPv6 range table. Cheap to share (`Arc` it); swap a whole new
/// one in to update.
#[derive(Clone)]
pub struct PrefixTable {
    v4: Dir<u32>,
    v6: Dir<u128>,
    records: Vec<Arc<NetInfo>>,
}

impl PrefixTable {
    /// An empty table.
    pub fn empty() -> Self {
        TableBuilder::new().build()
    }

    /// What the table knows about `ip` (IPv4-mapped IPv6 is looked up as IPv4).
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<&NetInfo> {
        self.lookup_arc(ip).map(|a| &**a)
    }

    /// Like [`PrefixTable::lookup`], sharing the record.
    #[inline]
    pub fn lookup_arc(&self, ip: IpAddr) -> Option<&Arc<NetInfo>> {
        self.records.get(self.lookup_id(ip) as usize)
    }

    /// The id of the record for `ip` (`u32::MAX`: nothing known), for cache keys.
    #[inline]
    pub(crate) fn lookup_id(&self, ip: IpAddr) -> u32 {
        match ip {
            IpAddr::V4(v4) => self.v4.lookup(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => self.v4.lookup(u32::from(v4)),
                None => self.v6.lookup(u128::from(v6)),
            },
        }
    }

    /// The record with id `id`.
    pub(crate) fn record(&self, id: u32) -> Option<&NetInfo> {
        self.records.get(id as usize).map(|a| &**a)
    }

    /// Disjoint runs stored (IPv4, IPv6), including "nothing known" gaps.
    pub fn runs(&self) -> (usize, usize) {
        (self.v4.starts.len(), self.v6.starts.len())
    }

    /// Approximate heap bytes the table holds (arrays, indexes and records).
    pub fn memory_bytes(&self) -> usize {
        // Strings are shared between records: count each once.
        let mut seen = std::collections::HashSet::new();
        let mut strings = 0;
        for r in &self.records {
            let geo = r.geo.iter().flat_map(|g| [&g.country, &g.region, &g.city]);
            for s in [&r.org, &r.label].into_iter().chain(geo).flatten() {
                if seen.insert(Arc::as_ptr(s).cast::<u8>()) {
                    strings += s.len() + 16;
                }
            }
        }
        let recs = self.records.len() * (std::mem::size_of::<NetInfo>() + 16);
        self.v4.bytes() + self.v6.bytes() + self.records.capacity() * 8 + recs + strings
    }
}

impl fmt::Debug for PrefixTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v4, v6) = self.runs();
        f.debug_struct("PrefixTable")
            .field("v4_runs", &v4)
            .field("v6_runs", &v6)
            .field("records", &self.records.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overlaps_merge_kinds_and_keep_the_narrowest_asn() {
        let mut b = TableBuilder::new();
        let mut wide = NetInfo::tagged(NetKind::HOSTING, "wide");
        wide.asn = Some(1);
        let mut narrow = NetInfo::tagged(NetKind::TOR, "narrow");
        narrow.asn = Some(2);
        b.add_net("10.0.0.0/8".parse().unwrap(), wide).unwrap();
        b.add_net("10.1.2.0/24".parse().unwrap(), narrow).unwrap();
        let t = b.build();
        let r = t.lookup(ip("10.1.2.3")).unwrap();
        assert!(r.kind.contains(NetKind::TOR) && r.kind.contains(NetKind::HOSTING));
        assert_eq!(r.asn, Some(2));
        assert_eq!(t.lookup(ip("10.1.3.0")).unwrap().asn, Some(1));
        assert_eq!(t.lookup(ip("10.255.255.255")).unwrap().asn, Some(1));
        assert!(t.lookup(ip("11.0.0.0")).is_none());
        assert!(t.lookup(ip("9.255.255.255")).is_none());
        assert_eq!(t.lookup(ip("::ffff:10.1.2.3")).unwrap().asn, Some(2));
    }

    #[test]
    fn edges_of_the_key_space() {
        let mut b = TableBuilder::new();
        b.add_net(
            "0.0.0.0/8".parse().unwrap(),
            NetInfo::tagged(NetKind::SPECIAL, "a"),
        )
        .unwrap();
        b.add_net(
            "255.255.255.255/32".parse().unwrap(),
            NetInfo::tagged(NetKind::SPECIAL, "b"),
        )
        .unwrap();
        b.add_net(
            "ffff::/16".parse().unwrap(),
            NetInfo::tagged(NetKind::VPN, "c"),
        )
        .unwrap();
        let t = b.build();
        assert!(t.lookup(ip("0.0.0.0")).is_some());
        assert!(t.lookup(ip("255.255.255.255")).is_some());
        assert!(t.lookup(ip("255.255.255.254")).is_none());
        assert!(
            t.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
                .is_some()
        );
        assert!(t.lookup(ip("fffe::1")).is_none());
    }

    #[test]
    fn bounded() {
        let mut b = TableBuilder::new().max_ranges(1);
        b.add_net("1.0.0.0/24".parse().unwrap(), NetInfo::default())
            .unwrap();
        assert!(
            b.add_net("2.0.0.0/24".parse().unwrap(), NetInfo::default())
                .is_err()
        );
        assert!(
            b.add_range(ip("2.0.0.0"), ip("1.0.0.0"), NetInfo::default())
                .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn lookup_agrees_with_a_linear_scan(
            nets in proptest::collection::vec((proptest::prelude::any::<u32>(), 8u8..=32, 0u8..4), 0..40),
            probes in proptest::collection::vec(proptest::prelude::any::<u32>(), 0..64),
        ) {
            let kinds = [NetKind::HOSTING, NetKind::VPN, NetKind::TOR, NetKind::PROXY];
            let mut b = TableBuilder::new();
            let mut list = Vec::new();
            for (addr, len, k) in &nets {
                let net = ipnet::Ipv4Net::new((*addr).into(), *len).unwrap().trunc();
                let kind = kinds[*k as usize];
                b.add_net(net.into(), NetInfo { kind, ..NetInfo::default() }).unwrap();
                list.push((net, kind));
            }
            let t = b.build();
            let mut extra: Vec<u32> = list.iter().flat_map(|(n, _)| {
                let s = u32::from(n.network());
                let e = u32::from(n.broadcast());
                [s, e, s.wrapping_sub(1), e.wrapping_add(1)]
            }).collect();
            extra.extend(probes);
            for p in extra {
                let a = std::net::Ipv4Addr::from(p);
                let mut want = NetKind::NONE;
                for (n, k) in &list {
                    if n.contains(&a) { want |= *k; }
                }
                let got = t.lookup(IpAddr::V4(a)).map(|r| r.kind).unwrap_or_default();
                proptest::prop_assert_eq!(got, want, "at {}", a);
            }
        }
    }
}
