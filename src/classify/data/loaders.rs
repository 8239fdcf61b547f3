//! Loaders for the real formats network lists are published in.
//!
//! Each reads text the caller fetched (tower-shield does no network IO) and adds ranges
//! to a [`TableBuilder`]. Line formats skip lines they cannot parse and count them in
//! [`LoadStats::skipped`] (published lists carry headers, comments and the odd junk
//! line); JSON formats fail as a whole on malformed JSON. Inputs are bounded: at most
//! [`MAX_INPUT_BYTES`] per call, and the builder's own range cap.
//!
//! | function | format |
//! |---|---|
//! | [`cidr_list`] | one CIDR or address per line, `#`/`;` comments, one tag for the list |
//! | [`aws_ip_ranges`] | AWS `ip-ranges.json` |
//! | [`google_cloud`] | Google Cloud `cloud.json` (also `goog.json`, `googlebot.json`) |
//! | [`azure_service_tags`] | Azure `ServiceTags_Public_*.json` |
//! | [`operator_prefixes`], [`crawler_ranges`] | crawler operators' lists: Google `googlebot.json` and friends, Bing `bingbot.json`, OpenAI, Perplexity, DuckDuckGo, Common Crawl |
//! | [`tor_bulk_exit_list`] | Tor Project bulk exit list (one address per line) |
//! | [`tor_exit_addresses`] | Tor Project `exit-addresses` (`ExitAddress a.b.c.d ...` lines) |
//! | [`asn_csv`] | ip-location-db ASN CSV `start,end,asn,org`, joined with a [`HostingAsns`] list |
//! | [`country_csv`] | ip-location-db country CSV `start,end,CC` (geo-whois-asn-country, dbip-country, geolite2-country, ...) |
//! | [`mmdb`] | MaxMind DB (`.mmdb`): GeoIP2/GeoLite2 City, Country and ASN, DB-IP and ip-location-db files |

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::{LoadError, NetInfo, NetKind, TableBuilder};

/// The most bytes one loader call reads (256 MiB).
pub const MAX_INPUT_BYTES: usize = 256 << 20;

/// What a loader did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Ranges added.
    pub added: usize,
    /// Lines or entries that could not be parsed and were skipped.
    pub skipped: usize,
}

fn check_size(format: &'static str, text: &str) -> Result<(), LoadError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(LoadError::new(
            format,
            0,
            format!("input larger than {MAX_INPUT_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Parses a CIDR (`203.0.113.0/24`, `2001:db8::/32`) or a bare address (as /32 or /128).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if s.contains('/') {
        s.parse::<IpNet>().ok().map(|n| n.trunc())
    } else {
        s.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// A plain list: one CIDR or address per line (the first whitespace- or comma-separated
/// token), blank lines and `#`/`;` comments ignored. Every entry gets `info`.
///
/// ```
/// use tower_shield::classify::data::{NetInfo, NetKind, TableBuilder, loaders};
///
/// let mut b = TableBuilder::new();
/// let list = "# my VPN exits\n198.51.100.0/24\n2001:db8:1::/48 ; office\nnot-an-ip\n";
/// let stats = loaders::cidr_list(&mut b, list, NetInfo::tagged(NetKind::VPN, "my-vpn")).unwrap();
/// assert_eq!((stats.added, stats.skipped), (2, 1));
/// ```
pub fn cidr_list(b: &mut TableBuilder, text: &str, info: NetInfo) -> Result<LoadStats, LoadError> {
    check_size("cidr-list", text)?;
    let mut stats = LoadStats::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("").trim();
        let Some(tok) = line.split([' ', '\t', ',']).find(|t| !t.is_empty()) else {
            continue;
        };
        match parse_net(tok) {
            Some(net) => {
                b.add_net(net, info.clone())?;
                stats.added += 1;
            }
            None => stats.skipped += 1,
        }
    }
    Ok(stats)
}

fn nets_into(
    b: &mut TableBuilder,
    nets: impl Iterator<Item = Option<String>>,
    info: &NetInfo,
    stats: &mut LoadStats,
) -> Result<(), LoadError> {
    for n in nets {
        match n.as_deref().and_then(parse_net) {
            Some(net) => {
                b.add_net(net, info.clone())?;
                stats.added += 1;
            }
            None => stats.skipped += 1,
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct AwsRanges {
    #[serde(default)]
    prefixes: Vec<AwsPrefix>,
    #[serde(default)]
    ipv6_prefixes: Vec<AwsPrefix>,
}

#[derive(serde::Deserialize)]
struct AwsPrefix {
    #[serde(default)]
    ip_prefix: Option<String>,
    #[serde(default)]
    ipv6_prefix: Option<String>,
}

/// AWS `ip-ranges.json` (`prefixes[].ip_prefix`, `ipv6_prefixes[].ipv6_prefix`), as
/// hosting ranges of organisation "Amazon Web Services" labelled `AWS`.
pub fn aws_ip_ranges(b: &mut TableBuilder, json: &str) -> Result<LoadStats, LoadError> {
    check_size("aws-ip-ranges", json)?;
    let doc: AwsRanges = serde_json::from_str(json)
        .map_err(|e| LoadError::new("aws-ip-ranges", e.line(), e.to_string()))?;
    let info = NetInfo {
        kind: NetKind::HOSTING,
        org: Some("Amazon Web Services".into()),
        label: Some("AWS".into()),
        ..NetInfo::default()
    };
    let mut stats = LoadStats::default();
    let all = doc
        .prefixes
        .into_iter()
        .chain(doc.ipv6_prefixes)
        .map(|p| p.ip_prefix.or(p.ipv6_prefix));
    nets_into(b, all, &info, &mut stats)?;
    Ok(stats)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleRanges {
    #[serde(default)]
    prefixes: Vec<GooglePrefix>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GooglePrefix {
    #[serde(default)]
    ipv4_prefix: Option<String>,
    #[serde(default)]
    ipv6_prefix: Option<String>,
}

/// Google's `cloud.json` (`prefixes[].ipv4Prefix` / `ipv6Prefix`) as hosting ranges
/// labelled `label` (e.g. `"Google Cloud"`). The same shape serves `goog.json` and the
/// crawler lists `googlebot.json` / `special-crawlers.json`: pass `kind`
/// [`NetKind::CRAWLER`] for those.
pub fn google_cloud(
    b: &mut TableBuilder,
    json: &str,
    kind: NetKind,
    label: &str,
) -> Result<LoadStats, LoadError> {
    check_size("google-cloud", json)?;
    let doc: GoogleRanges = serde_json::from_str(json)
        .map_err(|e| LoadError::new("google-cloud", e.line(), e.to_string()))?;
    let info = NetInfo {
        kind,
        org: Some("Google LLC".into()),
        label: Some(label.into()),
        ..NetInfo::default()
    };
    let mut stats = LoadStats::default();
    let all = doc
        .prefixes
        .into_iter()
        .map(|p| p.ipv4_prefix.or(p.ipv6_prefix));
    nets_into(b, all, &info, &mut stats)?;
    Ok(stats)
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperatorRanges {
    /// Required: a document without it is not a range list.
    prefixes: Vec<GooglePrefix>,
}

/// The prefixes of a crawler operator's published list, in the shape Google
/// (`googlebot.json`, `special-crawlers.json`, `user-triggered-fetchers*.json`), Bing
/// (`bingbot.json`), OpenAI (`gptbot.json`, `searchbot.json`, `chatgpt-user.json`),
/// Perplexity, DuckDuckGo and Common Crawl publish:
/// `{"creationTime": ..., "prefixes": [{"ipv4Prefix": "..."} | {"ipv6Prefix": "..."}]}`.
///
/// Strict, because a bad list would turn a real crawler into a "spoofed" one: malformed
/// JSON, a missing `prefixes` array, no valid prefix at all, or more entries skipped than
/// read are errors. Entries that are not prefixes are counted in
/// [`LoadStats::skipped`].
///
/// ```
/// use tower_shield::classify::data::loaders;
///
/// let json = r#"{"creationTime":"2026-09-01T23:00:00.000000","prefixes":[{"ipv6Prefix":"2001:4860:4801:10::/64"},{"ipv4Prefix":"66.249.64.0/27"}]}"#;
/// let (nets, stats) = loaders::operator_prefixes(json).unwrap();
/// assert_eq!((nets.len(), stats.skipped), (2, 0));
/// assert!(loaders::operator_prefixes(r#"{"creationTime":"x"}"#).is_err());
/// ```
pub fn operator_prefixes(json: &str) -> Result<(Vec<IpNet>, LoadStats), LoadError> {
    const F: &str = "operator-ranges";
    check_size(F, json)?;
    let doc: OperatorRanges =
        serde_json::from_str(json).map_err(|e| LoadError::new(F, e.line(), e.to_string()))?;
    let mut stats = LoadStats::default();
    let mut nets = Vec::with_capacity(doc.prefixes.len());
    for p in doc.prefixes {
        match p
            .ipv4_prefix
            .or(p.ipv6_prefix)
            .as_deref()
            .and_then(parse_net)
        {
            Some(n) => {
                nets.push(n);
                stats.added += 1;
            }
            None => stats.skipped += 1,
        }
    }
    if nets.is_empty() {
        return Err(LoadError::new(F, 0, "no valid prefix"));
    }
    if stats.skipped > stats.added {
        return Err(LoadError::new(
            F,
            0,
            format!(
                "{} of {} entries are not prefixes",
                stats.skipped,
                stats.skipped + stats.added
            ),
        ));
    }
    Ok((nets, stats))
}

/// A crawler operator's published list ([`operator_prefixes`]) as crawler ranges with
/// `info` (give it [`NetKind::CRAWLER`] and a label such as `"Googlebot"`).
pub fn crawler_ranges(
    b: &mut TableBuilder,
    json: &str,
    info: NetInfo,
) -> Result<LoadStats, LoadError> {
    let (nets, stats) = operator_prefixes(json)?;
    for n in nets {
        b.add_net(n, info.clone())?;
    }
    Ok(stats)
}

#[derive(serde::Deserialize)]
struct AzureTags {
    #[serde(default)]
    values: Vec<AzureValue>,
}

#[derive(serde::Deserialize)]
struct AzureValue {
    #[serde(default)]
    properties: AzureProps,
}

#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureProps {
    #[serde(default)]
    address_prefixes: Vec<String>,
}

/// Azure service tags (`values[].properties.addressPrefixes[]`) as hosting ranges
/// labelled `Azure`.
pub fn azure_service_tags(b: &mut TableBuilder, json: &str) -> Result<LoadStats, LoadError> {
    check_size("azure-service-tags", json)?;
    let doc: AzureTags = serde_json::from_str(json)
        .map_err(|e| LoadError::new("azure-service-tags", e.line(), e.to_string()))?;
    let info = NetInfo {
        kind: NetKind::HOSTING,
        org: Some("Microsoft Azure".into()),
        label: Some("Azure".into()),
        ..NetInfo::default()
    };
    let mut stats = LoadStats::default();
    let all = doc
        .values
        .into_iter()
        .flat_map(|v| v.properties.address_prefixes)
        .map(Some);
    nets_into(b, all, &info, &mut stats)?;
    Ok(stats)
}

fn tor_info() -> NetInfo {
    NetInfo::tagged(NetKind::TOR, "tor-exit")
}

/// The Tor Project's bulk exit list: one address per line.
pub fn tor_bulk_exit_list(b: &mut TableBuilder, text: &str) -> Result<LoadStats, LoadError> {
    cidr_list(b, text, tor_info())
}

/// The Tor Project's `exit-addresses` document: every `ExitAddress <ip> <date> <time>`
/// line (other lines, `ExitNode`, `Published`, `LastStatus`, are ignored).
pub fn tor_exit_addresses(b: &mut TableBuilder, text: &str) -> Result<LoadStats, LoadError> {
    check_size("tor-exit-addresses", text)?;
    let info = tor_info();
    let mut stats = LoadStats::default();
    for line in text.lines() {
        let mut parts = line.split_ascii_whitespace();
        if parts.next() != Some("ExitAddress") {
            continue;
        }
        match parts.next().and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(ip) => {
                b.add_net(IpNet::from(ip), info.clone())?;
                stats.added += 1;
            }
            None => stats.skipped += 1,
        }
    }
    Ok(stats)
}

/// Which autonomous systems are hosting/datacenter networks, with a provider name each.
#[derive(Clone, Debug, Default)]
pub struct HostingAsns {
    map: HashMap<u32, Arc<str>>,
}

impl HostingAsns {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `asn` run by `provider`.
    pub fn insert(&mut self, asn: u32, provider: impl Into<Arc<str>>) -> &mut Self {
        self.map.insert(asn, provider.into());
        self
    }

    /// The provider of `asn`, when it is a hosting network.
    pub fn provider(&self, asn: u32) -> Option<&Arc<str>> {
        self.map.get(&asn)
    }

    /// Number of ASNs listed.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when no ASN is listed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Parses `asn,provider[,...]` lines (`#` comments; an optional `AS` prefix).
    pub fn parse(text: &str) -> Result<Self, LoadError> {
        check_size("hosting-asns", text)?;
        let mut out = Self::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.split(',');
            let asn = f
                .next()
                .map(|a| a.trim().trim_start_matches("AS").trim_start_matches("as"))
                .and_then(|a| a.parse::<u32>().ok())
                .ok_or_else(|| LoadError::new("hosting-asns", n + 1, "bad ASN"))?;
            let provider = f.next().map(str::trim).filter(|p| !p.is_empty());
            out.insert(asn, provider.unwrap_or("hosting"));
        }
        Ok(out)
    }
}

/// Splits one CSV record with RFC 4180 quoting into at most `N` fields.
fn csv_fields<const N: usize>(line: &str) -> Option<[&str; N]> {
    let mut out = [""; N];
    let mut rest = line;
    for (i, slot) in out.iter_mut().enumerate() {
        let last = i + 1 == N;
        if let Some(q) = rest.strip_prefix('"') {
            // Quoted: up to the closing quote not followed by another quote.
            let bytes = q.as_bytes();
            let mut j = 0;
            loop {
                match bytes.get(j) {
                    Some(b'"') if bytes.get(j + 1) == Some(&b'"') => j += 2,
                    Some(b'"') => break,
                    Some(_) => j += 1,
                    None => return None,
                }
            }
            *slot = q.get(..j)?;
            rest = q.get(j + 1..)?;
            if !last {
                rest = rest.strip_prefix(',')?;
            }
        } else if last {
            *slot = rest;
        } else {
            let (a, b) = rest.split_once(',')?;
            *slot = a;
            rest = b;
        }
    }
    Some(out)
}

/// An ip-location-db ASN CSV (`start,end,asn,org`, inclusive ranges, addresses in text
/// form), every range tagged with its ASN and organisation and, when the ASN is in
/// `hosting`, as a hosting range labelled with the provider.
///
/// ```
/// use tower_shield::classify::data::{NetKind, TableBuilder, loaders::{self, HostingAsns}};
///
/// let mut hosting = HostingAsns::new();
/// hosting.insert(14061, "DigitalOcean");
/// let mut b = TableBuilder::new();
/// let csv = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n5.101.96.0,5.101.111.255,14061,DigitalOcean LLC\n";
/// loaders::asn_csv(&mut b, csv, &hosting).unwrap();
/// let t = b.build();
/// let r = t.lookup("1.0.0.1".parse().unwrap()).unwrap();
/// assert_eq!((r.asn, r.org.as_deref()), (Some(13335), Some("Cloudflare, Inc.")));
/// assert!(t.lookup("5.101.100.1".parse().unwrap()).unwrap().kind.contains(NetKind::HOSTING));
/// ```
pub fn asn_csv(
    b: &mut TableBuilder,
    text: &str,
    hosting: &HostingAsns,
) -> Result<LoadStats, LoadError> {
    check_size("asn-csv", text)?;
    let mut stats = LoadStats::default();
    let mut orgs: HashMap<(u32, &str), Arc<str>> = HashMap::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some([s, e, asn, org]) = csv_fields::<4>(line) else {
            stats.skipped += 1;
            continue;
        };
        let (Ok(s), Ok(e), Ok(asn)) = (
            s.trim().parse::<IpAddr>(),
            e.trim().parse::<IpAddr>(),
            asn.trim().parse::<u32>(),
        ) else {
            stats.skipped += 1;
            continue;
        };
        let org = orgs
            .entry((asn, org))
            .or_insert_with(|| Arc::from(org.replace("\"\"", "\"")))
            .clone();
        let provider = hosting.provider(asn);
        let info = NetInfo {
            kind: if provider.is_some() {
                NetKind::HOSTING
            } else {
                NetKind::NONE
            },
            asn: Some(asn),
            org: (!org.is_empty()).then_some(org),
            label: provider.cloned(),
            geo: None,
        };
        if b.add_range(s, e, info).is_ok() {
            stats.added += 1;
        } else if b.len() >= b.max_ranges {
            return Err(LoadError::new("asn-csv", 0, "table range cap reached"));
        } else {
            stats.skipped += 1;
        }
    }
    Ok(stats)
}

/// An ip-location-db country CSV (`start,end,CC` per line: the
/// `geo-whois-asn-country`, `asn-country`, `dbip-country` and `geolite2-country`
/// packages): each range gets `geo.country` (upper-cased ISO 3166-1 alpha-2) and no kind.
/// Lines that do not parse, or whose code is not two ASCII letters, are skipped.
///
/// ```
/// use tower_shield::classify::data::{TableBuilder, loaders};
///
/// let mut b = TableBuilder::new();
/// let csv = "1.0.0.0,1.0.0.255,AU\n2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,jp\nbad\n";
/// let stats = loaders::country_csv(&mut b, csv).unwrap();
/// assert_eq!((stats.added, stats.skipped), (2, 1));
/// let t = b.build();
/// let geo = t.lookup("1.0.0.1".parse().unwrap()).unwrap().geo.as_ref().unwrap();
/// assert_eq!(geo.country.as_deref(), Some("AU"));
/// ```
pub fn country_csv(b: &mut TableBuilder, text: &str) -> Result<LoadStats, LoadError> {
    check_size("country-csv", text)?;
    let mut stats = LoadStats::default();
    let mut countries = Countries::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split(',');
        let (Some(s), Some(e), Some(cc), None) = (f.next(), f.next(), f.next(), f.next()) else {
            stats.skipped += 1;
            continue;
        };
        let (Ok(s), Ok(e), Some(info)) = (
            s.trim().parse::<IpAddr>(),
            e.trim().parse::<IpAddr>(),
            countries.info(cc.trim().as_bytes()),
        ) else {
            stats.skipped += 1;
            continue;
        };
        if b.add_range(s, e, info).is_ok() {
            stats.added += 1;
        } else if b.len() >= b.max_ranges {
            return Err(LoadError::new("country-csv", 0, "table range cap reached"));
        } else {
            stats.skipped += 1;
        }
    }
    Ok(stats)
}

/// One shared record per country code.
#[derive(Default)]
pub(super) struct Countries(HashMap<[u8; 2], NetInfo>);

impl Countries {
    /// The record for a two-letter code (any case), `None` for anything else.
    pub(super) fn info(&mut self, cc: &[u8]) -> Option<NetInfo> {
        let &[a, b] = cc else { return None };
        if !a.is_ascii_alphabetic() || !b.is_ascii_alphabetic() {
            return None;
        }
        let key = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        let info = self.0.entry(key).or_insert_with(|| NetInfo {
            geo: Some(crate::core::verdict::Geo {
                country: std::str::from_utf8(&key).ok().map(Arc::from),
                region: None,
                city: None,
            }),
            ..NetInfo::default()
        });
        Some(info.clone())
    }
}

#[derive(serde::Deserialize, Default)]
struct MmdbNames {
    #[serde(default)]
    en: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct MmdbIso {
    #[serde(default)]
    iso_code: Option<String>,
    #[serde(default)]
    names: MmdbNames,
}

/// `city` is a map in GeoIP2 files and a plain name in ip-location-db's.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum MmdbCity {
    Map(MmdbIso),
    Name(String),
}

/// The fields of a GeoIP2 City/Country/ASN record and of ip-location-db's flat records
/// that the classifier uses; everything else is skipped.
#[derive(serde::Deserialize, Default)]
struct MmdbRecord {
    #[serde(default)]
    country: Option<MmdbIso>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    subdivisions: Option<Vec<MmdbIso>>,
    #[serde(default)]
    state1: Option<String>,
    #[serde(default)]
    city: Option<MmdbCity>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    autonomous_system_organization: Option<String>,
}

/// A MaxMind DB (`.mmdb`) file: every network in it, with country, region, city, ASN and
/// organisation where the record has them (GeoIP2/GeoLite2 City, Country and ASN files,
/// DB-IP lite files, and ip-location-db's flat `country_code`/`state1`/`city` records),
/// merged into the one table. `hosting` marks networks of listed ASNs as hosting.
///
/// The whole database is read into the table, so a lookup stays one lookup; a full City
/// database is a few million networks, within [`DEFAULT_MAX_RANGES`](super::DEFAULT_MAX_RANGES).
/// Records that do not decode are skipped and counted.
pub fn mmdb(
    b: &mut TableBuilder,
    bytes: Vec<u8>,
    hosting: &HostingAsns,
) -> Result<LoadStats, LoadError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(LoadError::new(
            "mmdb",
            0,
            format!("input larger than {MAX_INPUT_BYTES} bytes"),
        ));
    }
    let reader = maxminddb::Reader::from_source(bytes)
        .map_err(|e| LoadError::new("mmdb", 0, e.to_string()))?;
    let networks = reader
        .networks(maxminddb::WithinOptions::default())
        .map_err(|e| LoadError::new("mmdb", 0, e.to_string()))?;
    let mut strings: HashMap<String, Arc<str>> = HashMap::new();
    let mut intern = |s: Option<String>| -> Option<Arc<str>> {
        let s = s.filter(|s| !s.is_empty())?;
        Some(
            strings
                .entry(s)
                .or_insert_with_key(|k| Arc::from(k.as_str()))
                .clone(),
        )
    };
    let mut stats = LoadStats::default();
    for item in networks {
        let Ok(item) = item else {
            stats.skipped += 1;
            continue;
        };
        let (Ok(net), Ok(Some(rec))) = (item.network(), item.decode::<MmdbRecord>()) else {
            stats.skipped += 1;
            continue;
        };
        let Ok(net) = IpNet::new(net.ip(), net.prefix()) else {
            stats.skipped += 1;
            continue;
        };
        let country = rec.country.and_then(|c| c.iso_code).or(rec.country_code);
        let region = rec
            .subdivisions
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.iso_code.or(s.names.en))
            .or(rec.state1);
        let city = match rec.city {
            Some(MmdbCity::Map(m)) => m.names.en,
            Some(MmdbCity::Name(n)) => Some(n),
            None => None,
        };
        let geo = crate::core::verdict::Geo {
            country: intern(country),
            region: intern(region),
            city: intern(city),
        };
        let has_geo = geo.country.is_some() || geo.region.is_some() || geo.city.is_some();
        let asn = rec.autonomous_system_number;
        let provider = asn.and_then(|a| hosting.provider(a)).cloned();
        let info = NetInfo {
            kind: if provider.is_some() {
                NetKind::HOSTING
            } else {
                NetKind::NONE
            },
            asn,
            org: intern(rec.autonomous_system_organization),
            label: provider,
            geo: has_geo.then_some(geo),
        };
        b.add_net(net, info)?;
        stats.added += 1;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(
            csv_fields::<4>("a,b,1,\"x, \"\"y\"\"\""),
            Some(["a", "b", "1", "x, \"\"y\"\""])
        );
        assert_eq!(
            csv_fields::<4>("a,b,1,plain, org"),
            Some(["a", "b", "1", "plain, org"])
        );
        assert_eq!(csv_fields::<4>("a,b"), None);
        assert_eq!(csv_fields::<4>("a,b,1,\"open"), None);
    }

    #[test]
    fn tor_formats() {
        let mut b = TableBuilder::new();
        let ea = "ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nPublished 2024-01-01 10:00:00\nExitAddress 192.0.2.44 2024-01-01 10:10:00\nExitAddress nope 2024\n";
        let s = tor_exit_addresses(&mut b, ea).unwrap();
        assert_eq!((s.added, s.skipped), (1, 1));
        let s = tor_bulk_exit_list(&mut b, "198.51.100.7\n2001:db8::7\n").unwrap();
        assert_eq!(s.added, 2);
        let t = b.build();
        for ip in ["192.0.2.44", "198.51.100.7", "2001:db8::7"] {
            assert!(
                t.lookup(ip.parse().unwrap())
                    .unwrap()
                    .kind
                    .contains(NetKind::TOR)
            );
        }
    }

    #[test]
    fn mmdb_garbage_is_an_error() {
        let mut b = TableBuilder::new();
        assert!(mmdb(&mut b, b"not a database".to_vec(), &HostingAsns::new()).is_err());
        assert!(mmdb(&mut b, Vec::new(), &HostingAsns::new()).is_err());
    }

    #[test]
    fn bad_json_fails_whole() {
        let mut b = TableBuilder::new();
        assert!(aws_ip_ranges(&mut b, "{").is_err());
        assert!(google_cloud(&mut b, "\"x\"", NetKind::HOSTING, "g").is_err());
        assert!(azure_service_tags(&mut b, "null").is_err());
        assert!(b.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn loaders_never_panic(s in "\\PC{0,400}") {
            let mut b = TableBuilder::new();
            let _ = cidr_list(&mut b, &s, NetInfo::default());
            let _ = tor_exit_addresses(&mut b, &s);
            let _ = asn_csv(&mut b, &s, &HostingAsns::new());
            let _ = aws_ip_ranges(&mut b, &s);
            let _ = crawler_ranges(&mut b, &s, NetInfo::tagged(NetKind::CRAWLER, "c"));
            let _ = HostingAsns::parse(&s);
            let _ = b.build();
        }

        #[test]
        fn cidr_list_round_trips(nets in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u8..=32), 0..30)) {
            let text: String = nets.iter().map(|(a, l)| format!("{}/{}\n", std::net::Ipv4Addr::from(*a), l)).collect();
            let mut b = TableBuilder::new();
            let s = cidr_list(&mut b, &text, NetInfo::tagged(NetKind::PROXY, "p")).unwrap();
            proptest::prop_assert_eq!(s.added, nets.len());
            let t = b.build();
            for (a, _) in &nets {
                let hit = t.lookup(IpAddr::V4((*a).into())).map(|r| r.kind);
                proptest::prop_assert_eq!(hit, Some(NetKind::PROXY));
            }
        }

        #[test]
        fn country_csv_round_trips(rows in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u32..1000, "[A-Za-z]{2}|[a-z0-9]{0,3}"), 0..20)) {
            let mut text = String::new();
            let mut good = Vec::new();
            for (s, len, cc) in &rows {
                let e = s.saturating_add(*len);
                let (sa, ea) = (std::net::Ipv4Addr::from(*s), std::net::Ipv4Addr::from(e));
                text.push_str(&format!("{sa},{ea},{cc}\n"));
                if cc.len() == 2 && cc.bytes().all(|c| c.is_ascii_alphabetic()) {
                    good.push((*s, cc.to_ascii_uppercase()));
                }
            }
            let mut b = TableBuilder::new();
            let st = country_csv(&mut b, &text).unwrap();
            proptest::prop_assert_eq!(st.added, good.len());
            proptest::prop_assert_eq!(st.added + st.skipped, rows.len());
            let t = b.build();
            for (s, _) in &good {
                let r = t.lookup(IpAddr::V4((*s).into()));
                let cc = r.and_then(|r| r.geo.as_ref()).and_then(|g| g.country.as_deref());
                proptest::prop_assert!(cc.is_some_and(|c| good.iter().any(|(_, g)| g == c)));
            }
        }

        #[test]
        fn asn_csv_round_trips(rows in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u32..1000, 1u32..400_000, "[a-zA-Z ,\"]{0,12}"), 0..20)) {
            let mut text = String::new();
            for (s, len, asn, org) in &rows {
                let e = s.saturating_add(*len);
                text.push_str(&format!("{},{},{},\"{}\"\n", std::net::Ipv4Addr::from(*s), std::net::Ipv4Addr::from(e), asn, org.replace('"', "\"\"")));
            }
            let mut b = TableBuilder::new();
            let st = asn_csv(&mut b, &text, &HostingAsns::new()).unwrap();
            proptest::prop_assert_eq!(st.added, rows.len());
        }
    }
}
