//! Redis store throughput: decisions per second from one process over loopback with 64
//! concurrent callers, one round trip each. `scripts/bench-redis.sh` runs this beside
//! `redis-benchmark -t set` so the two can be compared in one session.
//!
//! `cargo bench --features redis --bench redis` (needs Redis at REDIS_URL, default
//! redis://127.0.0.1:6379).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tower_shield::core::quota::Quota;
use tower_shield::core::store::{CheckMode, RateCheck, RateStore, SingleUseStore};
use tower_shield::redis::{FailurePolicy, RedisStore};

const CALLERS: u64 = 64;
const PER_ITER: u64 = 6_400;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // REDIS_CLUSTER_NODES=redis://127.0.0.1:7000,redis://127.0.0.1:7001: the same bench on
    // a Redis Cluster (scripts/bench-redis.sh starts one).
    let cluster = std::env::var("REDIS_CLUSTER_NODES").ok();
    let builder = match &cluster {
        Some(nodes) => RedisStore::cluster_builder(nodes.split(',').map(str::to_owned)),
        None => RedisStore::builder(&url),
    };
    let url = cluster.clone().unwrap_or(url);
    let store = rt.block_on(async {
        builder
            .prefix(format!("bench{}", std::process::id()))
            .timeout(Duration::from_secs(1))
            .failure_policy(FailurePolicy::FailClosed)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("Redis at {url}: {e}"))
    });
    let store = Arc::new(store);
    let mut g = c.benchmark_group("redis_64_callers");
    g.throughput(Throughput::Elements(PER_ITER));
    g.sample_size(10);
    g.bench_function("rate_check", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut tasks = Vec::with_capacity(CALLERS as usize);
                    for caller in 0..CALLERS {
                        let s = store.clone();
                        tasks.push(tokio::spawn(async move {
                            let key = format!("ip:10.0.{}.{}", caller / 256, caller % 256);
                            for _ in 0..PER_ITER / CALLERS {
                                let check = [RateCheck {
                                    key: &key,
                                    gcra: Quota::per_second(1_000_000).gcra(),
                                    cost: 1,
                                }];
                                let o = s.check(&check, CheckMode::Charge).await.unwrap();
                                std::hint::black_box(o);
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("single_use_insert", |b| {
        let mut round = 0u64;
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    round += 1;
                    let mut tasks = Vec::with_capacity(CALLERS as usize);
                    for caller in 0..CALLERS {
                        let s = store.clone();
                        tasks.push(tokio::spawn(async move {
                            for i in 0..PER_ITER / CALLERS {
                                let key = format!("tok-{round}-{caller}-{i}");
                                let o = s
                                    .insert_if_absent(&key, Duration::from_secs(10))
                                    .await
                                    .unwrap();
                                std::hint::black_box(o);
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
