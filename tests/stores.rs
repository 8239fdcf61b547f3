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

#[path = "common/cluster.rs"]
mod cluster;

/// One 3-master cluster for this test binary, started on first use (its nodes stop when
/// the binary exits).
fn shared_cluster() -> &'static cluster::Cluster {
    static CLUSTER: std::sync::OnceLock<cluster::Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(cluster::Cluster::start)
}

async fn cluster_store_with(prefix: String) -> RedisStore {
    let urls = tokio::task::spawn_blocking(|| shared_cluster().urls())
        .await
        .unwrap();
    RedisStore::cluster_builder(urls)
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        .failure_policy(FailurePolicy::FailClosed)
        .connect()
        .await
        .expect("connect to the test cluster")
}

async fn cluster_store() -> RedisStore {
    cluster_store_with(unique("cluster")).await
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
store_suite!(redis_cluster, cluster_store().await, cluster_store().await);

/// Two stores on one Redis Cluster (two instances of a fleet): one quota per key across
/// them, on keys spread over every master, and one winner per single-use key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_two_on_a_cluster_acts_as_one() {
    let prefix = unique("cfleet");
    let a = Arc::new(cluster_store_with(prefix.clone()).await);
    let b = Arc::new(cluster_store_with(prefix).await);
    let allowed: Arc<Vec<AtomicUsize>> = Arc::new((0..30).map(|_| AtomicUsize::new(0)).collect());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let s = if t % 2 == 0 { a.clone() } else { b.clone() };
        let allowed = allowed.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..30 {
                let key = format!("user-{k}");
                let check = [RateCheck {
                    key: &key,
                    gcra: Quota::per_hour(10).gcra(),
                    cost: 1,
                }];
                if s.check(&check, CheckMode::Charge).await.unwrap().allowed() {
                    allowed[k].fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (k, n) in allowed.iter().enumerate() {
        assert_eq!(n.load(Ordering::Relaxed), 10, "key {k}: 10 of 16 allowed");
    }
    for k in 0..30 {
        let key = format!("token-{k}");
        let wins = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (wins, key) = (wins.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                if s.insert_if_absent(&key, Duration::from_secs(30))
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
        assert_eq!(wins.load(Ordering::Relaxed), 1, "{key}: one redemption");
    }
}

/// On a cluster, the policies of one check must share a hash tag; a check across slots is
/// refused before it reaches Redis (Redis would answer CROSSSLOT).
#[tokio::test]
async fn a_check_across_slots_is_refused_on_a_cluster() {
    let s = cluster_store().await;
    let q = Quota::per_hour(5).gcra();
    let across = [
        RateCheck {
            key: "alice:burst",
            gcra: q,
            cost: 1,
        },
        RateCheck {
            key: "bob:hourly",
            gcra: q,
            cost: 1,
        },
    ];
    assert!(matches!(
        s.check(&across, CheckMode::Charge).await,
        Err(tower_shield::core::store::StoreError::Invalid(_))
    ));
}

/// The rate-limit layer tags each key with its subject, so a layer with two policies on a
/// cluster decides both in one script (no CROSSSLOT), exactly.
#[tokio::test]
async fn a_two_policy_layer_on_a_cluster() {
    use axum::body::Body;
    use http::Request;
    use tower::Layer;
    use tower::{ServiceExt, service_fn};
    use tower_shield::ratelimit::{Policy, RateLimitLayer};
    let layer = RateLimitLayer::with_policies([
        Policy::new("burst", Quota::per_minute(3)).unwrap(),
        Policy::new("hourly", Quota::per_hour(100)).unwrap(),
    ])
    .unwrap()
    .store(cluster_store().await);
    let svc = layer.layer(service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
    }));
    let mut codes = Vec::new();
    for _ in 0..5 {
        let mut req = Request::new(Body::empty());
        req.extensions_mut().insert(tower_shield::core::PeerAddr(
            "198.51.100.7:4000".parse().unwrap(),
        ));
        codes.push(svc.clone().oneshot(req).await.unwrap().status().as_u16());
    }
    assert_eq!(codes, [200, 200, 200, 429, 429]);
}

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
