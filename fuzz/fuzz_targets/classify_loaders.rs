//! Every classify loader, the user-agent matcher and the verified-crawler directory (its
//! TSV, operators' JSON lists, claims) over arbitrary bytes: no panic, and a built table
//! answers lookups for any address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_shield::classify::data::loaders::{self, HostingAsns};
use tower_shield::classify::{Crawlers, CrawlersBuilder, NetInfo, NetKind, TableBuilder, UaMatcher};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let _ = UaMatcher::embedded().find(Some(rest));
    // The verified-crawler directory: claims over any bytes, from any address.
    let crawlers = Crawlers::embedded();
    for probe in ["66.249.66.1", "3.5.140.2", "2001:4860:4801:10::1"] {
        if let Ok(ip) = probe.parse() {
            let _ = crawlers.check(ip, rest);
        }
    }
    let mut b = TableBuilder::new().max_ranges(10_000);
    if selector % 9 == 8 {
        let _ = loaders::mmdb(&mut b, rest.to_vec(), &HostingAsns::new());
        let _ = b.build();
        return;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if selector % 11 == 10 {
        // The crawler directory's TSV, and an operator's JSON list replacing one of its
        // lists (then checked against).
        if let Ok(c) = CrawlersBuilder::parse(text) {
            let _ = c.build().check("192.0.2.1".parse().unwrap(), b"Googlebot/2.1");
        }
        let mut cb = CrawlersBuilder::embedded();
        let _ = cb.list_json("google-googlebot", text);
        let c = cb.build();
        let _ = c.check("66.249.66.1".parse().unwrap(), b"Googlebot/2.1");
        let _ = loaders::crawler_ranges(&mut b, text, NetInfo::tagged(NetKind::CRAWLER, "fuzz"));
        let _ = b.build();
        return;
    }
    let _ = match selector % 8 {
        0 => loaders::cidr_list(&mut b, text, NetInfo::tagged(NetKind::PROXY, "fuzz")),
        1 => loaders::aws_ip_ranges(&mut b, text),
        2 => loaders::google_cloud(&mut b, text, NetKind::HOSTING, "fuzz"),
        3 => loaders::azure_service_tags(&mut b, text),
        4 => loaders::tor_bulk_exit_list(&mut b, text),
        5 => loaders::tor_exit_addresses(&mut b, text),
        6 => loaders::country_csv(&mut b, text),
        _ => {
            let mut hosting = HostingAsns::parse(text).unwrap_or_default();
            hosting.insert(1, "fuzz");
            loaders::asn_csv(&mut b, text, &hosting)
        }
    };
    let t = b.build();
    for probe in [
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "ffff::1",
        "10.1.2.3",
        "2001:db8::1",
    ] {
        if let Ok(ip) = probe.parse() {
            let _ = t.lookup(ip);
        }
    }
});
