//! Proof-of-work hot paths: issuing a challenge, and verifying a solution plus minting
//! and checking its token. Target: under 2 µs each.
//!
//! `cargo bench --bench pow --features pow -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tower_shield::core::ManualClock;
use tower_shield::core::store::{MemorySingleUseStore, SingleUseStore};
use tower_shield::pow::{Mode, Pow, SolutionInfo, solve};

fn bench(c: &mut Criterion) {
    // The store keeps its own (manual) clock, moved on now and then so that keys from
    // earlier iterations expire: the store is bounded (a million live keys) and a long
    // run would otherwise fill it, which it answers with `Full` (fail closed).
    let store_clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let pow = Pow::builder()
        .secret("bench-secret-bench-secret-bench-secret!")
        .unwrap()
        .store(
            MemorySingleUseStore::builder()
                .clock(store_clock.clone())
                .build(),
        )
        .difficulty(1, 16, 18)
        .unwrap()
        .load_threshold(None)
        .build();
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    let now = pow.now();
    let info = SolutionInfo {
        solve_time_ms: Some(1850),
        behavior: Some(tower_shield::pow::risk::Behavior {
            mouse_entropy: 4.2,
            interaction_count: 15,
            session_duration: 3500,
        }),
        fingerprint: true,
    };

    let mut g = c.benchmark_group("pow");
    g.bench_function("issue", |b| {
        b.iter(|| {
            black_box(pow.issue_at(
                black_box("eck_live_demo"),
                16,
                Some(ip),
                Mode::Checkbox,
                now,
            ))
        })
    });
    g.bench_function("issue_adaptive", |b| {
        b.iter(|| black_box(pow.issue("eck_live_demo", 16, Some(ip), None, None, Mode::Checkbox)))
    });

    // One solved challenge; verification costs one SHA-256 whatever the difficulty.
    let ch = pow.issue_at("eck_live_demo", 16, Some(ip), Mode::Checkbox, now);
    let nonce = solve(&ch.prefix, 16, 0, 1 << 30).unwrap();
    g.bench_function("verify_solution", |b| {
        b.iter(|| black_box(pow.check_solution(black_box(&ch.challenge_id), nonce, Some(ip), now)))
    });
    g.bench_function("verify_solution_and_mint_token", |b| {
        b.iter(|| {
            let claims = pow
                .check_solution(black_box(&ch.challenge_id), nonce, Some(ip), now)
                .unwrap();
            black_box(
                pow.finish(&claims, nonce, &info, Mode::Checkbox, now)
                    .map(|m| m.token),
            )
        })
    });
    let token = {
        let claims = pow
            .check_solution(&ch.challenge_id, nonce, Some(ip), now)
            .unwrap();
        pow.finish(&claims, nonce, &info, Mode::Checkbox, now)
            .unwrap()
            .token
    };
    g.bench_function("check_token", |b| {
        b.iter(|| black_box(pow.check_token(black_box(&token), now)))
    });
    // The whole verify step with the memory single-use store: check, redeem, score, mint.
    let mut made = 0u64;
    g.bench_function("verify_redeem_mint_memory_store", |b| {
        b.iter_batched(
            || {
                made += 1;
                if made.is_multiple_of(200_000) {
                    store_clock.advance(Duration::from_secs(600));
                }
                let ch = pow.issue_at("eck_live_demo", 4, Some(ip), Mode::Checkbox, now);
                let n = solve(&ch.prefix, 4, 0, 1 << 20).unwrap();
                (ch.challenge_id, n)
            },
            |(id, n)| {
                let claims = pow.check_solution(&id, n, Some(ip), now).unwrap();
                let first = futures_now(pow.redeem_challenge(&claims, now));
                assert!(first);
                black_box(
                    pow.finish(&claims, n, &info, Mode::Checkbox, now)
                        .map(|m| m.token),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let _ = pow.store().tracked_keys();
}

/// Polls a memory-store future, which is always ready.
fn futures_now<
    F: std::future::Future<Output = Result<bool, tower_shield::core::store::StoreError>>,
>(
    f: F,
) -> bool {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.unwrap(),
        std::task::Poll::Pending => panic!("memory store is synchronous"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
