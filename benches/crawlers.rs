//! What checking a claimed crawler costs: a verdict on a cache miss for a Googlebot
//! user agent from Google's published range (verified) and from AWS (spoofed), next to
//! the same verdict with the check off (`Crawlers::empty`), and the claim lookup alone.
//!
//! `cargo bench --all-features --bench crawlers`

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use tower_shield::classify::{Classifier, Crawlers};

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// The fastest of 9 batches, in ns per call (as in `benches/classify.rs`).
fn min_batch(name: &str, iters: u32, mut f: impl FnMut()) {
    for _ in 0..iters {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..9 {
        let t = std::time::Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    eprintln!("min-of-9-batches {name}: {best:.1} ns");
}

fn crawlers(c: &mut Criterion) {
    let mut h = HeaderMap::new();
    h.insert("user-agent", HeaderValue::from_static(GOOGLEBOT));
    let checked = Classifier::embedded();
    let unchecked = Classifier::builder().crawlers(Crawlers::empty()).build();
    let google: IpAddr = "66.249.66.1".parse().unwrap();
    let aws: IpAddr = "3.5.140.2".parse().unwrap();
    assert!(
        checked
            .classify_uncached(google, &h)
            .verified_crawler
            .is_some()
    );
    assert!(
        checked
            .classify_uncached(aws, &h)
            .has_reason("ua.spoofed_crawler")
    );
    for (name, cl, ip) in [
        ("crawler/miss_googlebot_verified", &checked, google),
        ("crawler/miss_googlebot_spoofed", &checked, aws),
        ("crawler/miss_googlebot_unchecked", &unchecked, aws),
    ] {
        min_batch(name, 20_000, || {
            black_box(cl.classify_uncached(black_box(ip), &h));
        });
    }
    let dir = Crawlers::embedded();
    let mut g = c.benchmark_group("crawler");
    g.bench_function("claim_and_check", |b| {
        b.iter(|| black_box(dir.check(black_box(aws), black_box(GOOGLEBOT.as_bytes()))))
    });
    g.bench_function("miss_googlebot_verified", |b| {
        b.iter(|| black_box(checked.classify_uncached(black_box(google), &h)))
    });
    g.bench_function("miss_googlebot_spoofed", |b| {
        b.iter(|| black_box(checked.classify_uncached(black_box(aws), &h)))
    });
    g.bench_function("miss_googlebot_unchecked", |b| {
        b.iter(|| black_box(unchecked.classify_uncached(black_box(aws), &h)))
    });
    g.bench_function("hit_googlebot_verified", |b| {
        b.iter(|| black_box(checked.classify(black_box(google), &h)))
    });
    g.finish();
}

criterion_group!(benches, crawlers);
criterion_main!(benches);
