//! `RedisStore` on a real 3-master Redis Cluster that the tests start themselves: a slot
//! migration under load, and a master killed under load and brought back.
//!
//! Each test has a cluster of its own (they change its layout); the store suite itself
//! runs on a cluster in `tests/stores.rs`.
#![cfg(feature = "redis")]

#[path = "common/cluster.rs"]
mod cluster;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tower_shield::core::quota::Quota;
use tower_shield::core::store::{CheckMode, RateCheck, RateStore, SingleUseStore};
use tower_shield::redis::{FailurePolicy, RedisStore};

fn unique(name: &str) -> String {
    format!(
        "{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn start() -> cluster::Cluster {
    tokio::task::spawn_blocking(cluster::Cluster::start)
        .await
        .unwrap()
}

/// Slots move from one master to another (`redis-cli --cluster reshard`) while two stores
/// charge keys spread over every slot range: every key is allowed exactly its quota, and
/// every single-use key is won exactly once (MOVED and ASK followed, no wrong decision).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migration_under_load_makes_no_wrong_decision() {
    let cluster = Arc::new(start().await);
    let prefix = unique("migrate");
    let mk = || async {
        RedisStore::cluster_builder(cluster.urls())
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(3))
            .failure_policy(FailurePolicy::FailClosed)
            .connect()
            .await
            .unwrap()
    };
    let stores = [Arc::new(mk().await), Arc::new(mk().await)];
    const KEYS: usize = 200;
    const QUOTA: usize = 5;
    const TRIES: usize = 8;
    let allowed: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let won: Arc<Vec<AtomicUsize>> = Arc::new((0..KEYS).map(|_| AtomicUsize::new(0)).collect());
    let errors = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for round in 0..TRIES {
        for (n, s) in stores.iter().enumerate() {
            let (s, allowed, won, errors) =
                (s.clone(), allowed.clone(), won.clone(), errors.clone());
            load.push(tokio::spawn(async move {
                for k in 0..KEYS {
                    let key = format!("k{k}");
                    let check = [RateCheck {
                        key: &key,
                        gcra: Quota::per_hour(QUOTA as u32).gcra(),
                        cost: 1,
                    }];
                    // Each store tries each key TRIES / 2 times in all.
                    if round % 2 == n {
                        match s.check(&check, CheckMode::Charge).await {
                            Ok(o) if o.allowed() => {
                                allowed[k].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) => {
                                eprintln!("{key}: {e}");
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    match s.insert_if_absent(&key, Duration::from_secs(60)).await {
                        Ok(true) => {
                            won[k].fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            eprintln!("{key}: {e}");
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }
    // Under that load: 1,000 slots from the first master to the second, then back.
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || {
        c.reshard(0, 1, 1000);
        c.reshard(1, 0, 1000);
    })
    .await
    .unwrap();
    for t in load {
        t.await.unwrap();
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0, "no call failed");
    for k in 0..KEYS {
        assert_eq!(allowed[k].load(Ordering::Relaxed), QUOTA, "key k{k}");
        assert_eq!(won[k].load(Ordering::Relaxed), 1, "token k{k}");
    }
}

/// One master killed under load: the failure policy answers (fail closed: errors, never
/// a wrong allow), no call waits past its timeout (plus scheduling slack), and decisions
/// come back from the cluster once the node is restarted on its port and config file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_lost_and_back() {
    let mut cluster = start().await;
    let timeout = Duration::from_millis(200);
    let store = RedisStore::cluster_builder(cluster.urls())
        .prefix(unique("loss"))
        .timeout(timeout)
        .failure_policy(FailurePolicy::FailClosed)
        .breaker(5, Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let q = Quota::per_hour(3).gcra();
    let keys: Vec<String> = (0..30).map(|k| format!("user{k}")).collect();
    let charge = |s: RedisStore, key: String| async move {
        let check = [RateCheck {
            key: &key,
            gcra: q,
            cost: 1,
        }];
        let t0 = Instant::now();
        let r = s.check(&check, CheckMode::Charge).await;
        (r, t0.elapsed())
    };
    // One charge each while healthy.
    for k in &keys {
        let (r, _) = charge(store.clone(), k.clone()).await;
        assert!(r.unwrap().allowed());
    }
    let dead = 1;
    cluster = tokio::task::spawn_blocking(move || {
        cluster.kill(dead);
        cluster
    })
    .await
    .unwrap();
    let slack = Duration::from_millis(800);
    let mut failed = 0;
    // Charges each key has had (one while healthy).
    let mut charged = vec![1u32; keys.len()];
    for round in 0..4 {
        for (i, k) in keys.iter().enumerate() {
            let (r, took) = charge(store.clone(), k.clone()).await;
            assert!(
                took <= timeout + slack,
                "round {round} {k}: waited {took:?}"
            );
            match r {
                // Fail closed: an error, or an answer from a live master.
                Err(_) => failed += 1,
                Ok(o) => {
                    assert_eq!(
                        o.allowed(),
                        charged[i] < 3,
                        "{k}: a live master's answer is right"
                    );
                    if o.allowed() {
                        charged[i] += 1;
                    }
                }
            }
        }
    }
    assert!(failed > 0, "the lost master's keys fail closed");
    let stats = store.stats();
    assert!(
        stats.errors + stats.timeouts + stats.skipped > 0,
        "{stats:?}"
    );

    cluster = tokio::task::spawn_blocking(move || {
        cluster.restart(dead);
        cluster
    })
    .await
    .unwrap();
    // Back: every key is answered by the cluster again (no persistence: the restarted
    // master's keys start afresh, the others keep their counts).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let mut all = true;
        for k in &keys {
            let check = [RateCheck {
                key: k,
                gcra: q,
                cost: 1,
            }];
            if store.check(&check, CheckMode::Peek).await.is_err() {
                all = false;
            }
        }
        if all {
            break;
        }
        assert!(
            Instant::now() < end,
            "decisions did not recover: {:?}",
            store.stats()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        store
            .insert_if_absent("after", Duration::from_secs(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_if_absent("after", Duration::from_secs(10))
            .await
            .unwrap()
    );
    drop(cluster);
}
