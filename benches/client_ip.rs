//! Client-IP extraction: the pure decision `ClientIpLayer` makes per request.
//!
//! `cargo bench --bench client_ip`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use tower_shield::client_ip::{ClientIpConfig, ClientIpSource, extract};

fn bench(c: &mut Criterion) {
    let trusted = [
        "10.0.0.0/8".parse().unwrap(),
        "172.16.0.0/12".parse().unwrap(),
        "192.168.0.0/16".parse().unwrap(),
    ];
    let peer_only = ClientIpConfig::new(ClientIpSource::Peer, []);
    let xff = ClientIpConfig::new(ClientIpSource::RightmostXForwardedFor, trusted);
    let forwarded = ClientIpConfig::new(ClientIpSource::Forwarded, trusted);
    let peer: Option<SocketAddr> = Some("10.0.0.2:40000".parse().unwrap());

    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("Mozilla/5.0"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_static("203.0.113.195, 10.1.2.3, 172.16.5.4"),
    );
    headers.insert(
        "forwarded",
        HeaderValue::from_static(
            "for=203.0.113.195;proto=https, for=10.1.2.3, for=\"172.16.5.4:8080\"",
        ),
    );

    let mut g = c.benchmark_group("client_ip");
    g.bench_function("peer_only", |b| {
        b.iter(|| extract(black_box(&headers), black_box(peer), &peer_only))
    });
    g.bench_function("xff_3_hops_trusted_cidrs", |b| {
        b.iter(|| extract(black_box(&headers), black_box(peer), &xff))
    });
    g.bench_function("forwarded_3_hops_trusted_cidrs", |b| {
        b.iter(|| extract(black_box(&headers), black_box(peer), &forwarded))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
