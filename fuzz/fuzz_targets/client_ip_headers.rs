//! Arbitrary forwarding-header bytes through every client-IP source: never a panic,
//! always an answer, and from the sources that walk a chain (rightmost untrusted
//! `X-Forwarded-For`, `Forwarded`) never a trusted proxy unless it is the peer. A
//! single-address header is taken as it is (see `ClientIpSource`): the answer is then
//! the peer or exactly the header's one value. And the byte-level hop walk: whatever
//! bytes a client puts left of the proxy's hop, the answer is that hop.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_shield::client_ip::{ClientIpConfig, ClientIpSource, ExtractError, extract, parse_hop};
use tower_shield::core::IpSource;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let source = match selector % 6 {
        0 => ClientIpSource::RightmostXForwardedFor,
        1 => ClientIpSource::XForwardedForHop(usize::from(selector >> 4)),
        2 => ClientIpSource::Forwarded,
        3 => ClientIpSource::x_real_ip(),
        4 => ClientIpSource::cf_connecting_ip(),
        _ => ClientIpSource::Peer,
    };
    let cfg = ClientIpConfig::new(source, ["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
    let mut headers = HeaderMap::new();
    for chunk in rest.split(|b| *b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(chunk) {
            for name in ["x-forwarded-for", "forwarded", "x-real-ip", "cf-connecting-ip"] {
                headers.append(name, v.clone());
            }
        }
    }
    let peer = Some("10.0.0.1:443".parse().unwrap());
    client_part_never_decides(rest, peer);
    let got = match extract(&headers, peer, &cfg) {
        Ok(got) => got,
        Err(ExtractError::UnreadableForwarding) => {
            assert!(!matches!(cfg.source, ClientIpSource::Peer | ClientIpSource::Header(_)));
            return;
        }
        Err(e) => panic!("a peer always gives an answer: {e}"),
    };
    let walks_a_chain = matches!(
        cfg.source,
        ClientIpSource::RightmostXForwardedFor | ClientIpSource::Forwarded
    );
    assert!(got.source == IpSource::Peer || !walks_a_chain || !cfg.is_trusted(got.ip));
    if let ClientIpSource::Header(name) = &cfg.source {
        if got.source != IpSource::Peer {
            let mut values = headers.get_all(name).iter();
            let only = values.next().and_then(|v| v.to_str().ok()).and_then(parse_hop);
            assert!(values.next().is_none(), "one value, or no answer from it");
            assert_eq!(only, Some(got.ip));
        }
    }
});

/// `data` as the client's part of the header (every line but the proxy's), then the
/// hop a trusted proxy appended: the answer is always that hop.
fn client_part_never_decides(data: &[u8], peer: Option<std::net::SocketAddr>) {
    let hop = "198.51.100.23";
    for (source, name, appended) in [
        (ClientIpSource::RightmostXForwardedFor, "x-forwarded-for", format!(", {hop}, 10.0.0.9")),
        (ClientIpSource::Forwarded, "forwarded", format!(", for={hop};proto=https, for=10.0.0.9")),
    ] {
        let cfg = ClientIpConfig::new(source, ["10.0.0.0/8".parse().unwrap()]);
        let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
        let Some((last, earlier)) = lines.split_last() else { return };
        let mut headers = HeaderMap::new();
        for line in earlier {
            if let Ok(v) = HeaderValue::from_bytes(line) {
                headers.append(name, v);
            }
        }
        let Ok(v) = HeaderValue::from_bytes(&[last, appended.as_bytes()].concat()) else { return };
        headers.append(name, v);
        let got = extract(&headers, peer, &cfg).expect("the proxy's hop is readable");
        assert_eq!(got.ip.to_string(), hop);
    }
}
