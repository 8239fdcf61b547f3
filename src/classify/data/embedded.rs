//! The snapshot compiled into the crate: special-purpose ranges plus the prefixes of a
//! curated list of hosting/datacenter ASNs.
//!
//! Regenerate with `python3 scripts/classify-data.py`. The ranges come from the npm
//! package `@ip-location-db/asn` (CC BY 4.0: RouteViews, DB-IP and the NRO; attribution
//! required when you redistribute); the ASN list (AWS, Google Cloud, Microsoft Azure,
//! Oracle, Alibaba, Tencent, DigitalOcean, Linode/Akamai, Vultr, OVH, Hetzner, Scaleway,
//! Contabo, Leaseweb) is curated in that script. A snapshot ages: cloud providers add
//! ranges every week. Load fresher and fuller data with the [loaders](super::loaders)
//! and swap it in at run time with `Classifier::swap_tables`.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use super::loaders::HostingAsns;
use super::{NetInfo, NetKind, PrefixTable, TableBuilder};

/// `start,end,asn` ranges of the curated hosting ASNs.
pub const HOSTING_CSV: &str = include_str!("hosting.csv");
/// `asn,provider,org` of the curated hosting ASNs.
pub const HOSTING_ASNS_CSV: &str = include_str!("hosting-asns.csv");

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

/// A builder holding the whole embedded snapshot, to add your own sources to.
pub fn builder() -> TableBuilder {
    let mut b = TableBuilder::with_special_ranges();
    add_hosting(&mut b);
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
    fn every_embedded_line_parses() {
        let asns = hosting_asns();
        assert!(asns.len() >= 20);
        let mut n = 0;
        for line in HOSTING_CSV.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            assert!(f[0].parse::<IpAddr>().is_ok() && f[1].parse::<IpAddr>().is_ok());
            assert!(asns.provider(f[2].parse().unwrap()).is_some(), "{line}");
            n += 1;
        }
        assert!(n > 10_000);
    }
}
