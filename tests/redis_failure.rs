//! A Redis that dies mid-run: each failure policy behaves as documented, no call waits
//! past the timeout, and the store recovers by itself when Redis returns.
//!
//! Starts its own `redis-server` on a free port (never touches the shared one).
#![cfg(feature = "redis")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tower_shield::core::quota::Quota;
use tower_shield::core::store::{CheckMode, RateCheck, RateStore, SingleUseStore, StoreError};
use tower_shield::redis::{FailurePolicy, RedisStore};

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (Debian package redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TIMEOUT: Duration = Duration::from_millis(50);
/// How late a call may finish past the timeout on a loaded CI machine; a hang is seconds.
const SLACK: Duration = Duration::from_millis(500);

async fn store(port: u16, policy: FailurePolicy) -> RedisStore {
    RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .prefix("failure-test")
        .timeout(TIMEOUT)
        .breaker(3, Duration::from_millis(200))
        .failure_policy(policy)
        .connect()
        .await
        .unwrap()
}

fn q(key: &str) -> [RateCheck<'_>; 1] {
    [RateCheck {
        key,
        gcra: Quota::per_hour(10).gcra(),
        cost: 1,
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_policy_survives_a_dead_redis_and_recovers() {
    let port = free_port();
    let mut server = Server::start(port);
    let open = store(port, FailurePolicy::FailOpen).await;
    let closed = store(port, FailurePolicy::FailClosed).await;
    let local = store(port, FailurePolicy::LocalFallback { instances: 2 }).await;
    for s in [&open, &closed, &local] {
        assert!(
            s.check(&q("warm"), CheckMode::Charge)
                .await
                .unwrap()
                .allowed()
        );
    }

    server.kill();

    // Fail open: allowed, single use still refused (a replay is never allowed).
    for i in 0..10 {
        let t = Instant::now();
        let o = open.check(&q("k"), CheckMode::Charge).await.unwrap();
        assert!(o.allowed(), "fail open allows (call {i})");
        assert!(
            t.elapsed() < TIMEOUT + SLACK,
            "call {i} waited {:?}",
            t.elapsed()
        );
    }
    assert!(
        open.insert_if_absent("tok", Duration::from_secs(5))
            .await
            .is_err()
    );
    assert!(
        open.stats().breaker_open,
        "consecutive failures open the breaker"
    );
    assert!(
        open.stats().skipped > 0,
        "an open breaker keeps calls from the dead Redis"
    );

    // Fail closed: errors, quickly.
    for _ in 0..5 {
        let t = Instant::now();
        let r = closed.check(&q("k"), CheckMode::Charge).await;
        assert!(
            matches!(r, Err(StoreError::Unavailable(_) | StoreError::Timeout)),
            "{r:?}"
        );
        assert!(t.elapsed() < TIMEOUT + SLACK);
    }
    assert!(
        closed
            .insert_if_absent("tok", Duration::from_secs(5))
            .await
            .is_err()
    );

    // Local fallback: half of the 10/hour quota on this instance; single use fails closed.
    let mut allowed = 0;
    for _ in 0..10 {
        let t = Instant::now();
        if local
            .check(&q("local-key"), CheckMode::Charge)
            .await
            .unwrap()
            .allowed()
        {
            allowed += 1;
        }
        assert!(t.elapsed() < TIMEOUT + SLACK);
    }
    assert_eq!(allowed, 5, "quota / instances");
    for s in [&open, &local] {
        assert!(
            s.insert_if_absent("tok", Duration::from_secs(5))
                .await
                .is_err(),
            "a single-use mark Redis did not take is never taken"
        );
    }

    // Redis returns on the same port: every store finds it again by itself.
    let _server = Server::start(server.port);
    for (name, s) in [("open", &open), ("closed", &closed), ("local", &local)] {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let answered = s.stats().answered;
            let r = s.check(&q("after"), CheckMode::Peek).await;
            if r.is_ok() && s.stats().answered > answered {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "store did not recover: {:?}",
                s.stats()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!s.stats().breaker_open);
        let key = format!("fresh-after-recovery-{name}");
        assert!(
            s.insert_if_absent(&key, Duration::from_secs(5))
                .await
                .unwrap()
        );
        assert!(
            !s.insert_if_absent(&key, Duration::from_secs(5))
                .await
                .unwrap(),
            "single use again fleet-wide"
        );
    }
}

#[tokio::test]
async fn lazy_connect_starts_without_redis() {
    let port = free_port();
    let s = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .timeout(TIMEOUT)
        .failure_policy(FailurePolicy::LocalFallback { instances: 1 })
        .connect_lazy()
        .unwrap();
    let o = s.check(&q("k"), CheckMode::Charge).await.unwrap();
    assert!(o.allowed(), "answered locally while Redis is absent");
    assert!(s.stats().fallbacks >= 1);
    assert!(
        RedisStore::connect(format!("redis://127.0.0.1:{port}"))
            .await
            .is_err(),
        "eager connect reports the outage"
    );
}

/// Redis's own command counters show one command per decision: one EVALSHA per rate
/// check (after the script is loaded once), one SET per single-use insert.
#[tokio::test]
async fn exactly_one_round_trip_per_decision() {
    let port = free_port();
    let _server = Server::start(port);
    let s = RedisStore::builder(format!("redis://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(2))
        .deny_cache(0)
        .failure_policy(FailurePolicy::FailClosed)
        .connect()
        .await
        .unwrap();
    // First call loads the script (EVALSHA -> NOSCRIPT -> SCRIPT LOAD -> EVALSHA).
    s.check(&q("warm"), CheckMode::Charge).await.unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut admin)
        .await
        .unwrap();
    let checks = [
        RateCheck {
            key: "{c}:a",
            gcra: Quota::per_second(1000).gcra(),
            cost: 1,
        },
        RateCheck {
            key: "{c}:b",
            gcra: Quota::per_hour(100_000).gcra(),
            cost: 1,
        },
    ];
    for _ in 0..100 {
        s.check(&checks, CheckMode::Charge).await.unwrap();
    }
    for i in 0..50 {
        s.insert_if_absent(&format!("t{i}"), Duration::from_secs(5))
            .await
            .unwrap();
    }
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut admin)
        .await
        .unwrap();
    let calls = |cmd: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{cmd}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(calls("evalsha"), 100, "{info}");
    assert_eq!(
        calls("eval") + calls("script|load") + calls("script"),
        0,
        "{info}"
    );
    // SET counts the script's own writes too (`redis.call('SET')` inside EVALSHA is counted
    // as a SET): 100 decisions x 2 keys written, plus 50 single-use inserts.
    assert_eq!(calls("set"), 200 + 50, "{info}");
    assert_eq!(
        calls("get"),
        200,
        "the script's reads, inside the same round trip"
    );
}

/// Issue 17, item 3: a proof-of-work token passed three times across a Redis outage
/// (down: validate on A, validate on B; back: validate on A again). Redeeming a token is
/// one single-use insert of its key; it now fails closed under every failure policy, so
/// of the whole sequence at most one redemption succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_redeemed_at_most_once_across_an_outage() {
    for policy in [
        FailurePolicy::LocalFallback { instances: 2 },
        FailurePolicy::FailOpen,
        FailurePolicy::FailClosed,
    ] {
        let port = free_port();
        let mut server = Server::start(port);
        let a = store(port, policy).await;
        let b = store(port, policy).await;
        let token = format!("pow:tok:{policy:?}");
        let ttl = Duration::from_secs(60);
        server.kill();
        let mut passes = 0;
        passes += usize::from(matches!(a.insert_if_absent(&token, ttl).await, Ok(true)));
        passes += usize::from(matches!(b.insert_if_absent(&token, ttl).await, Ok(true)));
        let _server = Server::start(server.port);
        // Validate on A again once it reaches Redis (until then it fails closed).
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let answered = a.stats().answered;
            let r = a.insert_if_absent(&token, ttl).await;
            if a.stats().answered > answered {
                passes += usize::from(matches!(r, Ok(true)));
                break;
            }
            assert!(Instant::now() < deadline, "A did not reach Redis again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(passes <= 1, "{policy:?}: the token passed {passes} times");
    }
}
