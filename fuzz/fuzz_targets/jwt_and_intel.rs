//! Attacker bytes through the JWT and intel parsers: compact JWS tokens (header, claims,
//! signature), bearer and cookie extraction, JWKS documents, email addresses, URLs and
//! blocklists. Never a panic; nothing unsigned ever verifies.
#![no_main]

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tower_shield::auth::{
    JwtAlgorithm, JwtLayer, KeyRing, KeySet, VerifyingKey, bearer_token, cookie_token, parse_header,
};
use tower_shield::intel::{DomainList, EmailChecker, UrlChecker, parse_email};

const RSA_PUB: &[u8] = include_bytes!("../../tests/data/intel/jwt/rsa1.pub.pem");
const ED_PUB: &[u8] = include_bytes!("../../tests/data/intel/jwt/ed1.pub.pem");

fn layer() -> &'static JwtLayer {
    static L: OnceLock<JwtLayer> = OnceLock::new();
    L.get_or_init(|| {
        let ring = KeyRing::of([
            VerifyingKey::rsa_pem("rsa", RSA_PUB).expect("rsa"),
            VerifyingKey::ed_pem("ed", ED_PUB).expect("ed"),
        ])
        .expect("ring");
        JwtLayer::new(ring)
            .algorithms([JwtAlgorithm::RS256, JwtAlgorithm::EdDSA, JwtAlgorithm::HS256])
            .expect("algs")
            .from_cookie("access_token")
            .expect("cookie")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match kind % 6 {
        0 => {
            let _ = parse_header(&text);
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {text}")) {
                h.insert(http::header::AUTHORIZATION, v);
            }
            // Random bytes can never carry a valid RSA/Ed25519 signature.
            assert!(layer().authenticate(&h, &"/".parse().expect("uri")).is_err());
        }
        1 => {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(rest) {
                h.insert(http::header::COOKIE, v.clone());
                h.insert(http::header::AUTHORIZATION, v);
            }
            let _ = bearer_token(&h);
            let _ = cookie_token(&h, "access_token");
            let _ = layer().authenticate(&h, &"/".parse().expect("uri"));
        }
        2 => {
            let _ = KeySet::from_jwks(rest);
        }
        3 => {
            if let Ok(p) = parse_email(&text) {
                assert!(p.local.len() <= 64 && p.domain.len() <= 253);
            }
            let r = EmailChecker::embedded().check(&text);
            assert!(r.fraud_score <= 100);
        }
        4 => {
            if let Ok(r) = UrlChecker::new().check(&text) {
                assert!(r.risk_score <= 100);
            }
        }
        _ => {
            let list = DomainList::parse(&text);
            let _ = list.matches("a.b.example");
        }
    }
});
