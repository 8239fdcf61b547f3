//! One store suite, run against every backend: the memory stores and Redis.
//!
//! Redis tests use the real server at `REDIS_URL` (default `redis://127.0.0.1:6379`) and
//! fail, with how to start it, when it is not there. They never pass silently.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tower_shield::core::quota::Quota;
use tower_shield::core::store::{
    CheckMode, MemoryRateStore, MemorySingleUseStore, RateCheck, RateStore, SingleUseStore,
};
use tower_shield::redis::{FailurePolicy, RedisStore};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A unique prefix per test run, so runs and tests never share keys.
fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "t{}-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn redis_store() -> RedisStore {
    let url = redis_url();
    RedisStore::builder(&url)
        .prefix(unique("suite"))
        // A loaded 2-core CI box: generous, since these tests are about semantics.
        .timeout(Duration::from_secs(2))
        .failure_policy(FailurePolicy::FailClosed)
        .connect()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is required at {url} ({e}). Start it with:\n  redis-server --daemonize yes --port 6379 --save ''\nor set REDIS_URL."
            )
        })
}

macro_rules! store_suite {
    ($backend:ident, $rate:expr, $once:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn charges_up_to_the_quota_then_denies() {
                let s = $rate;
                let check = [RateCheck {
                    key: "k",
                    gcra: Quota::per_hour(3).gcra(),
                    cost: 1,
                }];
                for want_remaining in [2, 1, 0] {
                    let o = s.check(&check, CheckMode::Charge).await.unwrap();
                    assert!(o.allowed());
                    assert_eq!(o.results[0].remaining, want_remaining);
                }
                let o = s.check(&check, CheckMode::Charge).await.unwrap();
                assert!(!o.allowed());
                let retry = o.results[0].retry_after_ns;
                // One emission interval (20 min), less the little time the test took.
                assert!(
                    retry > 1_190_000_000_000 && retry <= 1_200_000_000_000,
                    "{retry}"
                );
            }

            #[tokio::test]
            async fn peek_changes_nothing() {
                let s = $rate;
                let check = [RateCheck {
                    key: "p",
                    gcra: Quota::per_hour(1).gcra(),
                    cost: 1,
                }];
                for _ in 0..3 {
                    assert!(s.check(&check, CheckMode::Peek).await.unwrap().allowed());
                }
                assert!(s.check(&check, CheckMode::Charge).await.unwrap().allowed());
                assert!(!s.check(&check, CheckMode::Peek).await.unwrap().allowed());
            }

            #[tokio::test]
            async fn a_denial_by_one_policy_charges_none() {
                let s = $rate;
                let loose = RateCheck {
                    key: "{c}:loose",
                    gcra: Quota::per_hour(100).gcra(),
                    cost: 1,
                };
                let tight = RateCheck {
                    key: "{c}:tight",
                    gcra: Quota::per_hour(1).gcra(),
                    cost: 1,
                };
                assert!(
                    s.check(&[loose, tight], CheckMode::Charge)
                        .await
                        .unwrap()
                        .allowed()
                );
                for _ in 0..5 {
                    let o = s.check(&[loose, tight], CheckMode::Charge).await.unwrap();
                    assert!(!o.allowed());
                    assert!(o.results[0].allowed && !o.results[1].allowed);
                }
                let o = s.check(&[loose], CheckMode::Peek).await.unwrap();
                assert_eq!(
                    o.results[0].remaining,
                    100 - 1 - 1,
                    "charged once, not six times"
                );
            }

            #[tokio::test]
            async fn weighted_costs_and_impossible_costs() {
                let s = $rate;
                let q = Quota::per_hour(10).gcra();
                let o = s
                    .check(
                        &[RateCheck {
                            key: "w",
                            gcra: q,
                            cost: 4,
                        }],
                        CheckMode::Charge,
                    )
                    .await
                    .unwrap();
                assert_eq!((o.allowed(), o.results[0].remaining), (true, 6));
                let o = s
                    .check(
                        &[RateCheck {
                            key: "w",
                            gcra: q,
                            cost: 11,
                        }],
                        CheckMode::Charge,
                    )
                    .await
                    .unwrap();
                assert!(!o.allowed());
                assert_eq!(o.results[0].retry_after_ns, u64::MAX);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_callers_get_exactly_the_quota() {
                let s = Arc::new($rate);
                let allowed = Arc::new(AtomicUsize::new(0));
                let mut tasks = Vec::new();
                for _ in 0..32 {
                    let (s, allowed) = (s.clone(), allowed.clone());
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..10 {
                            let check = [RateCheck {
                                key: "hot",
                                gcra: Quota::per_hour(100).gcra(),
                                cost: 1,
                            }];
                            if s.check(&check, CheckMode::Charge).await.unwrap().allowed() {
                                allowed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                assert_eq!(allowed.load(Ordering::Relaxed), 100);
            }

            #[tokio::test]
            async fn single_use_once_and_expiry() {
                let s = $once;
                assert!(
                    s.insert_if_absent("tok", Duration::from_millis(300))
                        .await
                        .unwrap()
                );
                assert!(
                    !s.insert_if_absent("tok", Duration::from_millis(300))
                        .await
                        .unwrap()
                );
                assert!(
                    s.insert_if_absent("other", Duration::from_secs(60))
                        .await
                        .unwrap()
                );
                tokio::time::sleep(Duration::from_millis(400)).await;
                assert!(
                    s.insert_if_absent("tok", Duration::from_secs(60))
                        .await
                        .unwrap(),
                    "expired keys are usable again"
                );
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sixty_four_concurrent_redemptions_one_winner() {
                let s = Arc::new($once);
                let wins = Arc::new(AtomicUsize::new(0));
                let mut tasks = Vec::new();
                for _ in 0..64 {
                    let (s, wins) = (s.clone(), wins.clone());
                    tasks.push(tokio::spawn(async move {
                        if s.insert_if_absent("contested", Duration::from_secs(30))
                            .await
                            .unwrap()
                        {
                            wins.fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
                assert_eq!(wins.load(Ordering::Relaxed), 1);
            }
        }
    };
}

store_suite!(memory, MemoryRateStore::new(), MemorySingleUseStore::new());
store_suite!(redis, redis_store().await, redis_store().await);

/// Two independent stores on one Redis (two instances of a fleet) share one quota and
/// one set of single-use keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_two_acts_as_one() {
    let prefix = unique("fleet");
    let url = redis_url();
    let mk = || async {
        RedisStore::builder(&url)
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(2))
            .failure_policy(FailurePolicy::FailClosed)
            .connect()
            .await
            .expect(
                "Redis at REDIS_URL (start: redis-server --daemonize yes --port 6379 --save '')",
            )
    };
    let (a, b) = (Arc::new(mk().await), Arc::new(mk().await));
    let allowed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let allowed = allowed.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let check = [RateCheck {
                    key: "shared-key",
                    gcra: Quota::per_hour(50).gcra(),
                    cost: 1,
                }];
                if s.check(&check, CheckMode::Charge).await.unwrap().allowed() {
                    allowed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(allowed.load(Ordering::Relaxed), 50, "one combined quota");

    let wins = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let wins = wins.clone();
        tasks.push(tokio::spawn(async move {
            if s.insert_if_absent("fleet-token", Duration::from_secs(30))
                .await
                .unwrap()
            {
                wins.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        wins.load(Ordering::Relaxed),
        1,
        "one redemption across the fleet"
    );
}

/// Over-limit keys are answered from the local deny cache, not Redis.
#[tokio::test]
async fn denials_are_cached_locally_until_retry() {
    let s = redis_store().await;
    let check = [RateCheck {
        key: "greedy",
        gcra: Quota::per_hour(1).gcra(),
        cost: 1,
    }];
    assert!(s.check(&check, CheckMode::Charge).await.unwrap().allowed());
    let before = s.stats();
    for _ in 0..10 {
        assert!(!s.check(&check, CheckMode::Charge).await.unwrap().allowed());
    }
    let after = s.stats();
    assert_eq!(
        after.answered - before.answered,
        1,
        "only the first denial reached Redis"
    );
    assert_eq!(after.deny_cache_hits - before.deny_cache_hits, 9);
}

/// `RateLimitLayer::inner_body` on Redis: the store answers later (the layer's waiting
/// state), and the answers still come in the inner service's own body type.
#[tokio::test]
async fn a_layer_on_redis_answers_in_the_inner_body_type() {
    use axum::body::Body;
    use http::{Request, Response, StatusCode};
    use tower::{Layer, ServiceExt};
    use tower_shield::core::PeerAddr;
    use tower_shield::ratelimit::RateLimitLayer;

    let svc = RateLimitLayer::new(Quota::per_minute(1))
        .store(redis_store().await)
        .inner_body()
        .layer(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("from the handler")))
        }));
    let req = || {
        let mut r = Request::new(Body::empty());
        r.extensions_mut()
            .insert(PeerAddr("192.0.2.77:1000".parse().unwrap()));
        r
    };
    let text = |res: Response<Body>| async move {
        axum::body::to_bytes(res.into_body(), 4096).await.unwrap()
    };
    let res: Response<Body> = svc.clone().oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("ratelimit"));
    assert_eq!(&text(res).await[..], b"from the handler");
    let res = svc.clone().oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
}
