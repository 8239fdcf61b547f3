//! Arbitrary forwarding-header bytes through every client-IP source: never a panic,
//! always an answer, never a trusted proxy unless it is the peer.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_shield::client_ip::{ClientIpConfig, ClientIpSource, extract};
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
    let got = extract(&headers, Some("10.0.0.1:443".parse().unwrap()), &cfg).expect("a peer always gives an answer");
    assert!(got.source == IpSource::Peer || !cfg.is_trusted(got.ip));
});
