//! RateLimitLayer driven end to end: axum routers, ClientIpLayer in front, a manual clock.
#![cfg(all(feature = "ratelimit", feature = "client-ip", feature = "axum"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};
use tower_shield::core::quota::Quota;
use tower_shield::core::store::{
    CheckMode, MemoryRateStore, OnFull, RateCheck, RateOutcome, RateStore, StoreError,
};
use tower_shield::core::{ManualClock, PeerAddr, Rejection, RejectionKind};
use tower_shield::ratelimit::{HeaderMode, Policy, RateLimitLayer};

const T0: Duration = Duration::from_secs(1_700_000_000);

fn clock() -> ManualClock {
    ManualClock::new(T0)
}

fn store(c: &ManualClock) -> MemoryRateStore {
    MemoryRateStore::builder().clock(c.clone()).build()
}

fn router(layer: RateLimitLayer) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/login",
            post(|body: String| async move {
                if body == "right" {
                    (StatusCode::OK, "welcome")
                } else {
                    (StatusCode::UNAUTHORIZED, "no")
                }
            }),
        )
        .layer(layer)
        // Outermost: the client address is decided before anything keys on it.
        .layer(ClientIpLayer::new(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        ))
}

/// A request from `client`, as forwarded by the trusted proxy 10.0.0.2.
fn from(client: &str) -> Request<Body> {
    let mut r = Request::get("/")
        .header("x-forwarded-for", client)
        .body(Body::empty())
        .unwrap();
    r.extensions_mut()
        .insert(PeerAddr(SocketAddr::from(([10, 0, 0, 2], 4000))));
    r
}

fn login(client: &str, password: &'static str) -> Request<Body> {
    let mut r = Request::post("/login")
        .header("x-forwarded-for", client)
        .body(Body::from(password))
        .unwrap();
    r.extensions_mut()
        .insert(PeerAddr(SocketAddr::from(([10, 0, 0, 2], 4000))));
    r
}

fn h(res: &http::Response<Body>, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn burst_then_steady_state() {
    let c = clock();
    let app = router(RateLimitLayer::new(Quota::per_second(10).burst(20)).store(store(&c)));
    for i in 0..20 {
        let res = app.clone().oneshot(from("203.0.113.7")).await.unwrap();
        assert_eq!(res.status(), 200, "burst request {i}");
        assert_eq!(
            h(&res, "ratelimit"),
            format!(
                r#""default";r={};t={}"#,
                19 - i,
                ((i + 1) as u64).div_ceil(10)
            )
        );
    }
    let res = app.clone().oneshot(from("203.0.113.7")).await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(
        h(&res, "retry-after"),
        "1",
        "a 100 ms wait is rounded up to 1 s, never 0"
    );
    assert_eq!(h(&res, "ratelimit-policy"), r#""default";q=20;w=2"#);
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    assert!(
        v["error"]["requestId"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );

    // Steady state: one request per 100 ms, no more.
    for step in 0..50 {
        c.advance(Duration::from_millis(100));
        assert_eq!(
            app.clone()
                .oneshot(from("203.0.113.7"))
                .await
                .unwrap()
                .status(),
            200,
            "step {step}"
        );
        assert_eq!(
            app.clone()
                .oneshot(from("203.0.113.7"))
                .await
                .unwrap()
                .status(),
            429,
            "step {step}"
        );
    }
    // Idle for two seconds: the full burst is back, and no more.
    c.advance(Duration::from_secs(2));
    let mut ok = 0;
    for _ in 0..30 {
        ok += usize::from(
            app.clone()
                .oneshot(from("203.0.113.7"))
                .await
                .unwrap()
                .status()
                == 200,
        );
    }
    assert_eq!(ok, 20);
}

#[tokio::test]
async fn quota_boundaries_are_exact() {
    let c = clock();
    let app = router(
        RateLimitLayer::new(Quota::per_hour(1000))
            .store(store(&c))
            .headers(HeaderMode::Both),
    );
    for i in 0..1000u32 {
        let res = app.clone().oneshot(from("198.51.100.1")).await.unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(h(&res, "x-ratelimit-remaining"), (999 - i).to_string());
        assert_eq!(h(&res, "x-ratelimit-limit"), "1000");
    }
    let res = app.clone().oneshot(from("198.51.100.1")).await.unwrap();
    assert_eq!(res.status(), 429);
    // One emission interval: 3.6 s, rounded up.
    assert_eq!(h(&res, "retry-after"), "4");
    assert_eq!(h(&res, "x-ratelimit-remaining"), "0");
    let reset: u64 = h(&res, "x-ratelimit-reset").parse().unwrap();
    assert_eq!(
        reset,
        T0.as_secs() + 4,
        "the legacy reset is never earlier than Retry-After"
    );
    c.advance(Duration::from_millis(3599));
    assert_eq!(
        app.clone()
            .oneshot(from("198.51.100.1"))
            .await
            .unwrap()
            .status(),
        429
    );
    c.advance(Duration::from_millis(1));
    assert_eq!(
        app.clone()
            .oneshot(from("198.51.100.1"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("198.51.100.1"))
            .await
            .unwrap()
            .status(),
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_tasks_on_one_key_get_exactly_the_quota() {
    let c = clock();
    let app = router(RateLimitLayer::new(Quota::per_hour(300)).store(store(&c)));
    let ok = Arc::new(AtomicUsize::new(0));
    let limited = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (app, ok, limited) = (app.clone(), ok.clone(), limited.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                match app
                    .clone()
                    .oneshot(from("192.0.2.55"))
                    .await
                    .unwrap()
                    .status()
                {
                    StatusCode::OK => ok.fetch_add(1, Ordering::Relaxed),
                    StatusCode::TOO_MANY_REQUESTS => limited.fetch_add(1, Ordering::Relaxed),
                    s => panic!("unexpected {s}"),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 300);
    assert_eq!(limited.load(Ordering::Relaxed), 16 * 50 - 300);
}

#[tokio::test]
async fn ipv6_clients_are_aggregated_by_64() {
    let c = clock();
    let app = router(RateLimitLayer::new(Quota::per_minute(2)).store(store(&c)));
    assert_eq!(
        app.clone()
            .oneshot(from("2001:db8:aa:1::1"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("2001:db8:aa:1:ffff:ffff:ffff:fffe"))
            .await
            .unwrap()
            .status(),
        200
    );
    // A third address in the same /64 shares the spent quota.
    assert_eq!(
        app.clone()
            .oneshot(from("2001:db8:aa:1:1234::9"))
            .await
            .unwrap()
            .status(),
        429
    );
    // The neighbouring /64 has its own.
    assert_eq!(
        app.clone()
            .oneshot(from("2001:db8:aa:2::1"))
            .await
            .unwrap()
            .status(),
        200
    );
    // IPv4 is per address.
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.1"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("192.0.2.2"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_leftmost_forwarded_hop_cannot_mint_new_buckets() {
    let c = clock();
    let app = router(RateLimitLayer::new(Quota::per_minute(1)).store(store(&c)));
    let spoof = |fake: &str| {
        let mut r = Request::get("/")
            .header("x-forwarded-for", format!("{fake}, 203.0.113.50"))
            .body(Body::empty())
            .unwrap();
        r.extensions_mut()
            .insert(PeerAddr(SocketAddr::from(([10, 0, 0, 2], 4000))));
        r
    };
    assert_eq!(
        app.clone()
            .oneshot(spoof("1.1.1.1"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(spoof("2.2.2.2"))
            .await
            .unwrap()
            .status(),
        429
    );
}

#[tokio::test]
async fn several_policies_and_a_denial_charges_nothing() {
    let c = clock();
    let layer = RateLimitLayer::with_policies([
        Policy::new("burst", Quota::per_second(10).burst(20)).unwrap(),
        Policy::new("hourly", Quota::per_hour(25)).unwrap(),
    ])
    .unwrap()
    .store(store(&c));
    let app = router(layer);
    for _ in 0..20 {
        assert_eq!(
            app.clone()
                .oneshot(from("203.0.113.9"))
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // `burst` denies the next 100; `hourly` must not lose a single unit to them.
    for _ in 0..100 {
        let res = app.clone().oneshot(from("203.0.113.9")).await.unwrap();
        assert_eq!(res.status(), 429);
        assert!(
            h(&res, "ratelimit").contains(r#""hourly";r=5;"#),
            "{}",
            h(&res, "ratelimit")
        );
    }
    c.advance(Duration::from_secs(2));
    let mut ok = 0;
    for _ in 0..20 {
        ok += usize::from(
            app.clone()
                .oneshot(from("203.0.113.9"))
                .await
                .unwrap()
                .status()
                == 200,
        );
    }
    assert_eq!(ok, 5, "exactly the hourly remainder");
    let res = app.clone().oneshot(from("203.0.113.9")).await.unwrap();
    assert_eq!(
        h(&res, "ratelimit-policy"),
        r#""burst";q=20;w=2, "hourly";q=25;w=3600"#
    );
    assert_eq!(
        h(&res, "retry-after"),
        "142",
        "the hourly wait, the longer of the denials"
    );
}

#[tokio::test]
async fn only_failed_logins_count() {
    let c = clock();
    let layer = RateLimitLayer::new(Quota::per_minute(3))
        .store(store(&c))
        .count_only([StatusCode::UNAUTHORIZED])
        .unwrap();
    let app = router(layer);
    for _ in 0..10 {
        assert_eq!(
            app.clone()
                .oneshot(login("203.0.113.20", "right"))
                .await
                .unwrap()
                .status(),
            200
        );
    }
    for _ in 0..3 {
        assert_eq!(
            app.clone()
                .oneshot(login("203.0.113.20", "guess"))
                .await
                .unwrap()
                .status(),
            401
        );
    }
    // Three failures: locked out for 20 s, even with the right password.
    let res = app
        .clone()
        .oneshot(login("203.0.113.20", "right"))
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(h(&res, "retry-after"), "20");
    // Another client is unaffected.
    assert_eq!(
        app.clone()
            .oneshot(login("203.0.113.21", "right"))
            .await
            .unwrap()
            .status(),
        200
    );
    c.advance(Duration::from_secs(20));
    assert_eq!(
        app.clone()
            .oneshot(login("203.0.113.20", "right"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn dry_run_and_allow_list() {
    let c = clock();
    let app = router(
        RateLimitLayer::new(Quota::per_minute(1))
            .store(store(&c))
            .dry_run(true),
    );
    for _ in 0..5 {
        let res = app.clone().oneshot(from("203.0.113.30")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("ratelimit").is_none());
    }
    let app = router(
        RateLimitLayer::new(Quota::per_minute(1))
            .store(store(&c))
            .allow_cidrs(["198.51.100.0/24".parse().unwrap()])
            .unwrap(),
    );
    for _ in 0..5 {
        assert_eq!(
            app.clone()
                .oneshot(from("198.51.100.77"))
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        app.clone()
            .oneshot(from("203.0.113.30"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.clone()
            .oneshot(from("203.0.113.30"))
            .await
            .unwrap()
            .status(),
        429
    );
}

/// A million distinct keys against a store capped at 10,000: memory stays bounded, and
/// with the default policy the live keys keep their limits.
#[test]
fn a_flood_of_a_million_keys_stays_under_the_cap() {
    let c = clock();
    let s = MemoryRateStore::builder()
        .clock(c.clone())
        .max_keys(10_000)
        .build();
    let q = Quota::per_hour(5).gcra();
    let refused = AtomicUsize::new(0);
    // Two threads, half the keys each (CI has two cores).
    std::thread::scope(|scope| {
        for half in 0..2u32 {
            let (s, refused) = (&s, &refused);
            scope.spawn(move || {
                let mut key = String::with_capacity(32);
                for i in (half * 500_000)..((half + 1) * 500_000) {
                    key.clear();
                    key.push_str("rl:default:ip:");
                    key.push_str(itoa(i, &mut [0u8; 10]));
                    let check = [RateCheck {
                        key: &key,
                        gcra: q,
                        cost: 1,
                    }];
                    match s.check(&check, CheckMode::Charge).into_inner() {
                        Ok(o) => assert!(o.allowed()),
                        Err(StoreError::Full) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("{e}"),
                    }
                    assert!(s.len() <= 10_000);
                }
            });
        }
    });
    let refused = refused.into_inner();
    assert_eq!(s.len(), 10_000);
    assert_eq!(refused, 990_000);
    // The first tracked keys are still limited: 4 more requests, then no more.
    let k0 = [RateCheck {
        key: "rl:default:ip:1",
        gcra: q,
        cost: 1,
    }];
    for _ in 0..4 {
        assert!(
            s.check(&k0, CheckMode::Charge)
                .into_inner()
                .unwrap()
                .allowed()
        );
    }
    assert!(
        !s.check(&k0, CheckMode::Charge)
            .into_inner()
            .unwrap()
            .allowed()
    );

    // Evicting instead: every new key is served, the bound still holds.
    let e = MemoryRateStore::builder()
        .clock(c)
        .max_keys(10_000)
        .on_full(OnFull::EvictOldest)
        .build();
    let mut key = String::new();
    for i in 0..100_000u32 {
        key.clear();
        key.push('k');
        key.push_str(itoa(i, &mut [0u8; 10]));
        assert!(
            e.check(
                &[RateCheck {
                    key: &key,
                    gcra: q,
                    cost: 1
                }],
                CheckMode::Charge
            )
            .into_inner()
            .unwrap()
            .allowed()
        );
    }
    assert!(e.len() <= 10_000);
}

fn itoa(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap()
}

/// A flood of 5,000 fresh addresses against a 1,000-key table, through the layer: by
/// default nobody is refused for capacity (new clients are counted by network once the
/// table is under pressure) and the client tracked before keeps its own limit; with
/// `OnFull::RefuseNew` the new clients get 503 instead.
#[tokio::test]
async fn a_flood_through_the_layer_coarsens_new_clients_and_keeps_the_old() {
    for on_full in [OnFull::Coarsen, OnFull::RefuseNew] {
        let c = clock();
        let small = MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(1000)
            .on_full(on_full)
            .build();
        let layer = RateLimitLayer::new(Quota::per_minute(2)).store(small);
        let metrics = layer.metrics();
        let app = router(layer);
        let status = |ip: &str| {
            let app = app.clone();
            let req = from(ip);
            async move { app.oneshot(req).await.unwrap() }
        };
        assert_eq!(status("192.0.2.1").await.status(), 200);
        let mut unavailable = 0;
        for i in 0..5000u32 {
            let ip = std::net::Ipv4Addr::from(0xC633_0000 + i).to_string();
            let res = status(&ip).await;
            if res.status() == 503 {
                unavailable += 1;
                let r = res.extensions().get::<Rejection>().unwrap();
                assert_eq!(r.kind(), RejectionKind::StoreUnavailable);
            }
        }
        assert!(metrics.tracked_keys().unwrap() <= 1000);
        let fresh = status("203.0.113.9").await.status();
        match on_full {
            OnFull::RefuseNew => {
                assert_eq!(unavailable, 5000 - 999);
                assert_eq!(fresh, 503);
            }
            _ => {
                assert_eq!(unavailable, 0, "{on_full:?}");
                assert_eq!(fresh, 200, "a fresh client is served during the flood");
            }
        }
        // The client tracked before the flood keeps its own counter and limit.
        assert_eq!(status("192.0.2.1").await.status(), 200, "{on_full:?}");
        assert_eq!(status("192.0.2.1").await.status(), 429, "{on_full:?}");
    }
}

#[tokio::test]
async fn route_policies_count_only_their_routes() {
    let c = clock();
    let layer = RateLimitLayer::with_policies([
        Policy::new("site", Quota::per_minute(100)).unwrap(),
        Policy::new("login", Quota::per_minute(2))
            .unwrap()
            .routes(["/login"])
            .unwrap(),
    ])
    .unwrap()
    .store(store(&c));
    let app = router(layer);
    for _ in 0..2 {
        let res = app
            .clone()
            .oneshot(login("203.0.113.40", "guess"))
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(
            h(&res, "ratelimit-policy"),
            r#""site";q=100;w=60, "login";q=2;w=60"#
        );
    }
    assert_eq!(
        app.clone()
            .oneshot(login("203.0.113.40", "guess"))
            .await
            .unwrap()
            .status(),
        429
    );
    // Other routes only see the site-wide policy.
    let res = app.clone().oneshot(from("203.0.113.40")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(h(&res, "ratelimit-policy"), r#""site";q=100;w=60"#);
    assert_eq!(h(&res, "ratelimit"), r#""site";r=97;t=2"#);
}

/// `inner_body`: the same answers in the inner service's own body type (here axum's
/// `Body`, which axum then takes as it is instead of boxing it again).
#[tokio::test]
async fn inner_body_answers_in_the_inner_body_type() {
    use tower::Layer;
    let c = clock();
    let inner = tower::service_fn(|req: Request<Body>| async move {
        let status = if req.uri().path() == "/fail" {
            401
        } else {
            200
        };
        Ok::<_, std::convert::Infallible>(
            http::Response::builder()
                .status(status)
                .body(Body::from("from the handler"))
                .unwrap(),
        )
    });
    let text = |res: http::Response<Body>| async move {
        axum::body::to_bytes(res.into_body(), 4096).await.unwrap()
    };
    let svc = RateLimitLayer::new(Quota::per_minute(1))
        .store(store(&c))
        .inner_body()
        .layer(inner);
    let res: http::Response<Body> = svc.clone().oneshot(from("203.0.113.30")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(h(&res, "ratelimit").starts_with(r#""default";r=0;"#));
    assert_eq!(text(res).await, "from the handler");
    let res: http::Response<Body> = svc.clone().oneshot(from("203.0.113.30")).await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(h(&res, "retry-after"), "60");
    assert_eq!(h(&res, "content-type"), "application/json");
    assert_eq!(
        res.extensions().get::<Rejection>().map(Rejection::kind),
        Some(RejectionKind::RateLimited)
    );
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");

    // Charged after the handler (`count_only`): the handler's body passes through.
    let svc = RateLimitLayer::new(Quota::per_minute(1))
        .store(store(&c))
        .count_only([StatusCode::UNAUTHORIZED])
        .unwrap()
        .inner_body()
        .layer(inner);
    let mut fail = from("203.0.113.31");
    *fail.uri_mut() = "/fail".parse().unwrap();
    let res = svc.clone().oneshot(fail).await.unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        h(&res, "ratelimit").starts_with(r#""default";r=0;"#),
        "charged after the handler, and said so"
    );
    assert_eq!(text(res).await, "from the handler");
    let res = svc.clone().oneshot(from("203.0.113.31")).await.unwrap();
    assert_eq!(res.status(), 429);
}

/// The issue's stack, `ClientIpLayer` + `RateLimitLayer`, both with `inner_body`, under one
/// `Router::layer`: axum's own `Body` all the way, and each layer's refusal in it.
#[tokio::test]
async fn client_ip_and_rate_limit_answer_in_the_inner_body_type() {
    let c = clock();
    let app = Router::new().route("/", get(|| async { "ok" })).layer(
        tower::ServiceBuilder::new()
            .layer(
                ClientIpLayer::new(
                    ClientIpSource::RightmostXForwardedFor,
                    ["10.0.0.0/8".parse().unwrap()],
                )
                .inner_body(),
            )
            .layer(
                RateLimitLayer::new(Quota::per_minute(1))
                    .store(store(&c))
                    .inner_body(),
            ),
    );
    let text = |res: http::Response<Body>| async move {
        axum::body::to_bytes(res.into_body(), 4096).await.unwrap()
    };
    // The same layers over a service: axum's `Body` out, with no `ShieldBody` around it
    // (a router would take either, so the type is pinned here).
    let svc = tower::ServiceBuilder::new()
        .layer(ClientIpLayer::peer().inner_body())
        .layer(RateLimitLayer::new(Quota::per_minute(1)).inner_body())
        .service(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("ok")))
        }));
    let res: http::Response<Body> = svc.oneshot(from("203.0.113.51")).await.unwrap();
    assert_eq!(text(res).await, "ok");
    // An `inner_body` layer over one in the wrapped mode: its body is that layer's
    // `ShieldBody`, built from bytes for its own refusals.
    let svc = tower::ServiceBuilder::new()
        .layer(ClientIpLayer::peer().inner_body())
        .layer(RateLimitLayer::new(Quota::per_minute(1)).wrapped_body())
        .service(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("ok")))
        }));
    let res: http::Response<tower_shield::core::ShieldBody<Body>> =
        svc.oneshot(Request::new(Body::empty())).await.unwrap();
    assert_eq!(res.status(), 500);
    let res = app.clone().oneshot(from("203.0.113.50")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(text(res).await, "ok");
    let res = app.clone().oneshot(from("203.0.113.50")).await.unwrap();
    assert_eq!(res.status(), 429);
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    // No socket peer: the client-IP layer refuses (a misconfiguration), in axum's body.
    let res = app.oneshot(Request::new(Body::empty())).await.unwrap();
    assert_eq!(res.status(), 500);
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "SERVER_MISCONFIGURED");
}

/// Under pressure the app sees which network a new client was counted under, and the
/// scrape counts it (`tower_shield_rate_coarsened_total{level}`).
#[tokio::test]
async fn a_coarsened_client_carries_the_mark_and_the_scrape_counts_it() {
    use tower_shield::ratelimit::Coarsened;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let c = clock();
    let small = MemoryRateStore::builder()
        .clock(c.clone())
        .max_keys(64)
        .build();
    let app = Router::new()
        .route(
            "/",
            get(|req: Request<Body>| async move {
                match req.extensions().get::<Coarsened>() {
                    Some(m) => format!("{} {}", m.net, m.level),
                    None => String::new(),
                }
            }),
        )
        .layer(RateLimitLayer::new(Quota::per_minute(100)).store(small))
        .layer(ClientIpLayer::new(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        ));
    let mut marks = Vec::new();
    for i in 0..200u32 {
        let ip = std::net::Ipv4Addr::from(0xC633_0000 + i * 256).to_string();
        let res = app.clone().oneshot(from(&ip)).await.unwrap();
        // Counted together under a wide network, new clients meet that network's quota.
        assert!(
            matches!(res.status().as_u16(), 200 | 429),
            "{}",
            res.status()
        );
        if res.status() != 200 {
            continue;
        }
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        if !body.is_empty() {
            marks.push((ip, String::from_utf8(body.to_vec()).unwrap()));
        }
    }
    assert!(!marks.is_empty(), "a flood past 7/8 of 64 keys coarsens");
    for (ip, mark) in &marks {
        let net = ip.rsplit_once('.').unwrap().0;
        let allowed = [
            format!("{net}.0/24 1"),
            "198.51.0.0/16 2".to_owned(),
            "198.0.0.0/8 3".to_owned(),
        ];
        assert!(allowed.contains(mark), "{ip}: {mark}");
    }
    let scrape = handle.render();
    let counted: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("tower_shield_rate_coarsened_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(counted as usize >= marks.len(), "{scrape}");
}

/// A store that filled between the layer's pressure reading and its check: `coarsening`
/// still says 0, the plain check says `Full`, the coarse one has room.
struct FilledMeanwhile {
    coarse_checks: AtomicUsize,
    readings: AtomicUsize,
}

impl RateStore for FilledMeanwhile {
    type Future = std::future::Ready<Result<RateOutcome, StoreError>>;

    fn check(&self, _: &[RateCheck<'_>], _: CheckMode) -> Self::Future {
        std::future::ready(Err(StoreError::Full))
    }

    /// Room at the layer's first reading, pressure from then on.
    fn coarsening(&self) -> u8 {
        let n = self.readings.fetch_add(1, Ordering::Relaxed);
        u8::from(n > 0)
    }

    fn check_coarsened(
        &self,
        checks: &[RateCheck<'_>],
        coarse: &[Option<&str>],
        _: CheckMode,
    ) -> Self::Future {
        assert!(
            coarse.iter().any(Option::is_some),
            "a coarser key is offered"
        );
        self.coarse_checks.fetch_add(1, Ordering::Relaxed);
        let results = checks
            .iter()
            .map(|_| tower_shield::core::quota::GcraOutcome {
                allowed: true,
                new_tat: 1,
                remaining: 99,
                reset_after_ns: 1,
                retry_after_ns: 0,
            })
            .collect();
        std::future::ready(Ok(RateOutcome {
            now_ns: 1,
            results,
            coarsened: true,
        }))
    }
}

#[tokio::test]
async fn a_table_that_fills_between_reading_and_checking_coarsens_instead_of_refusing() {
    use tower_shield::ratelimit::Coarsened;
    let store = Arc::new(FilledMeanwhile {
        coarse_checks: Default::default(),
        readings: Default::default(),
    });
    let app = Router::new()
        .route(
            "/",
            get(|req: Request<Body>| async move {
                req.extensions()
                    .get::<Coarsened>()
                    .map(|m| format!("{} {}", m.net, m.level))
                    .unwrap_or_default()
            }),
        )
        .layer(RateLimitLayer::new(Quota::per_minute(100)).store(store.clone()))
        .layer(ClientIpLayer::new(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        ));
    let res = app.oneshot(from("198.51.100.7")).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"198.51.100.0/24 1");
    assert_eq!(store.coarse_checks.load(Ordering::Relaxed), 1);
}

/// A refused new key charges no other policy: with a full `RefuseNew` table, a new
/// client's 503 leaves the global quota as it was (and is not retried as coarse).
#[tokio::test]
async fn a_full_table_refusal_charges_no_policy() {
    let c = clock();
    let full = MemoryRateStore::builder()
        .clock(c.clone())
        .max_keys(2)
        .on_full(OnFull::RefuseNew)
        .build();
    let layer = RateLimitLayer::with_policies([
        Policy::new("global", Quota::per_minute(4))
            .unwrap()
            .key(tower_shield::ratelimit::Key::Global),
        Policy::new("ip", Quota::per_minute(100)).unwrap(),
    ])
    .unwrap()
    .store(full.clone());
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(layer)
        .layer(ClientIpLayer::new(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        ));
    let mut answers = Vec::new();
    for ip in [
        "198.51.100.1",
        "203.0.113.9",
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.1",
    ] {
        answers.push(
            app.clone()
                .oneshot(from(ip))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    // The global key and one client fill the table; the second client is refused without
    // spending the global quota, so the first still gets all four, then 429.
    assert_eq!(answers, [200, 503, 200, 200, 200, 429]);
}
