//! JWT verification with a cached key (RS256, EdDSA, ES256), a repeated token with and
//! without `JwtLayer::cache_verified`, and the email / URL checks.
//!
//! `cargo bench --bench jwt --features jwt,intel -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tower_shield::auth::{JwtAlgorithm, JwtLayer, JwtSigner, SigningKey};
use tower_shield::intel::{EmailChecker, UrlChecker};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intel/jwt");

fn signer(kid: &str, file: &str) -> JwtSigner {
    let pem = std::fs::read(format!("{DATA}/{file}")).expect("test key");
    JwtSigner::new(SigningKey::from_pem(kid, &pem).expect("key")).expect("signer")
}

fn jwt(c: &mut Criterion) {
    let mut g = c.benchmark_group("jwt/verify_cached_key");
    for (name, kid, file) in [
        ("RS256", "r", "rsa1.pem"),
        ("EdDSA", "e", "ed1.pem"),
        ("ES256", "p", "ec1.pem"),
    ] {
        let s = signer(kid, file);
        let token = s.sign_for("user-42", &["read", "write"]).expect("token");
        let layer = JwtLayer::new(s.key_ring())
            .algorithms([
                JwtAlgorithm::RS256,
                JwtAlgorithm::EdDSA,
                JwtAlgorithm::ES256,
            ])
            .expect("algs");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        let uri: http::Uri = "/".parse().expect("uri");
        assert!(layer.authenticate(&headers, &uri).is_ok());
        g.bench_function(name, |b| {
            b.iter(|| black_box(layer.authenticate(black_box(&headers), &uri)))
        });
    }
    g.finish();
    // The same token again: every time through the signature check (cold), or remembered
    // by digest after the first (cached).
    let mut g = c.benchmark_group("jwt/verify_repeat");
    for (name, kid, file, alg) in [
        ("RS256", "r", "rsa1.pem", JwtAlgorithm::RS256),
        ("EdDSA", "e", "ed1.pem", JwtAlgorithm::EdDSA),
    ] {
        let s = signer(kid, file);
        let token = s.sign_for("user-42", &["read", "write"]).expect("token");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        let uri: http::Uri = "/".parse().expect("uri");
        let cold = JwtLayer::new(s.key_ring()).algorithms([alg]).expect("algs");
        let cached = cold.clone().cache_verified(4096).expect("cache");
        assert!(cached.authenticate(&headers, &uri).is_ok());
        g.bench_function(format!("{name}/cold"), |b| {
            b.iter(|| black_box(cold.authenticate(black_box(&headers), &uri)))
        });
        g.bench_function(format!("{name}/cached"), |b| {
            b.iter(|| black_box(cached.authenticate(black_box(&headers), &uri)))
        });
    }
    g.finish();
    let s = signer("r", "rsa1.pem");
    c.bench_function("jwt/sign/RS256", |b| {
        b.iter(|| black_box(s.sign_for("u", &["read"])))
    });
    let s = signer("e", "ed1.pem");
    c.bench_function("jwt/sign/EdDSA", |b| {
        b.iter(|| black_box(s.sign_for("u", &["read"])))
    });
}

fn intel(c: &mut Criterion) {
    let email = EmailChecker::embedded();
    let _ = email.check("warm@example.com");
    let mut g = c.benchmark_group("intel");
    g.bench_function("email/ordinary", |b| {
        b.iter(|| black_box(email.check(black_box("jane.doe+news@sub.example.co.uk"))))
    });
    g.bench_function("email/disposable", |b| {
        b.iter(|| black_box(email.check(black_box("someone@mailinator.com"))))
    });
    let urls = UrlChecker::new();
    g.bench_function("url/ordinary", |b| {
        b.iter(|| black_box(urls.check(black_box("https://www.example.com/path?q=1"))))
    });
    g.bench_function("url/homograph", |b| {
        b.iter(|| black_box(urls.check(black_box("https://xn--pypal-4ve.com/login"))))
    });
    g.finish();
}

criterion_group!(benches, jwt, intel);
criterion_main!(benches);
