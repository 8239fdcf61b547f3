//! The IANA special-purpose address registries (IPv4 and IPv6), built in.
//!
//! Addresses in these ranges say nothing about who the client is: they are your own
//! network, a proxy you forgot to trust, a test, or forged. The classifier gives them
//! `human: true, certainty: 0`, as the Auspex Verus API documents for private addresses.

use super::{NetInfo, NetKind, TableBuilder};

/// `(CIDR, name)` of every special-purpose block: IANA IPv4 and IPv6 Special-Purpose
/// Address Registries, plus multicast and the reserved 240.0.0.0/4.
pub const SPECIAL_RANGES: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this-network"),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared-address-space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "ietf-protocol-assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "as112-v4"),
    ("192.52.193.0/24", "amt"),
    ("192.88.99.0/24", "deprecated-6to4-relay"),
    ("192.168.0.0/16", "private-use"),
    ("192.175.48.0/24", "direct-delegation-as112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited-broadcast"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "ipv4-ipv6-translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy-prefix"),
    ("2001::/23", "ietf-protocol-assignments"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct-delegation-as112"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment-routing-sids"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

/// Adds [`SPECIAL_RANGES`] to `builder`, each tagged [`NetKind::SPECIAL`] with its name.
pub fn add_special_ranges(builder: &mut TableBuilder) {
    for (cidr, name) in SPECIAL_RANGES {
        if let Ok(net) = cidr.parse() {
            // The list is far below any builder bound; an error here is impossible.
            let _ = builder.add_net(net, NetInfo::tagged(NetKind::SPECIAL, *name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_parses_and_is_found() {
        let mut b = TableBuilder::new();
        add_special_ranges(&mut b);
        let t = b.build();
        for (cidr, name) in SPECIAL_RANGES {
            let net: ipnet::IpNet = cidr.parse().unwrap();
            for ip in [net.network(), net.broadcast()] {
                let r = t.lookup(ip).unwrap();
                assert!(r.kind.contains(NetKind::SPECIAL), "{cidr}");
                // Where a narrower listed range holds the address, its name wins.
                let nested = SPECIAL_RANGES.iter().any(|(c, _)| {
                    let n: ipnet::IpNet = c.parse().unwrap();
                    n.prefix_len() > net.prefix_len() && n.contains(&ip)
                });
                if !nested {
                    assert_eq!(r.label.as_deref(), Some(*name), "{cidr}");
                }
            }
        }
        assert!(t.lookup("8.8.8.8".parse().unwrap()).is_none());
        assert!(t.lookup("2600::1".parse().unwrap()).is_none());
    }
}
