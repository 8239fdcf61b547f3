//! Proof of work across a fleet: two instances share only the signing secret and a Redis
//! single-use store. Challenges are stateless (issued by one, verified by the other);
//! each challenge and each token is redeemed once fleet-wide.
//!
//! Uses the real Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`) and FAILS, with
//! how to start it, when it is not there.
#![cfg(all(feature = "pow", feature = "axum", feature = "redis"))]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_shield::core::PeerAddr;
use tower_shield::pow::api::Api;
use tower_shield::pow::{MemorySiteStore, Pow, Site, solve};
use tower_shield::redis::{FailurePolicy, RedisStore};

const SECRET: &str = "fleet-secret-fleet-secret-fleet-secret";

async fn instance(prefix: &str) -> Router {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::builder(&url)
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        .failure_policy(FailurePolicy::FailClosed)
        .connect()
        .await
        .unwrap_or_else(|e| {
            panic!("Redis is required at {url} ({e}). Start it with:\n  redis-server --daemonize yes --port 6379 --save ''\nor set REDIS_URL.")
        });
    let pow = Pow::builder()
        .secret(SECRET)
        .unwrap()
        .store(store)
        .difficulty(1, 10, 18)
        .unwrap()
        .build();
    let sites = MemorySiteStore::new();
    sites
        .insert(
            Site::new("eck_live_demo", "ecs_live_demo")
                .unwrap()
                .difficulty(10),
        )
        .unwrap();
    Api::new(pow, sites).into_router()
}

async fn post(
    app: &Router,
    path: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(PeerAddr("198.51.100.7:4000".parse::<SocketAddr>().unwrap()));
    let res = app.clone().oneshot(req).await.unwrap();
    let s = res.status();
    let b = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    (s, serde_json::from_slice(&b).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_per_challenge_and_one_validation_per_token_fleet_wide() {
    let prefix = format!(
        "pow-fleet-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let a = instance(&prefix).await;
    let b = instance(&prefix).await;
    let (s, c) = post(
        &a,
        "/api/challenge",
        serde_json::json!({"siteKey": "eck_live_demo"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let nonce = solve(c["prefix"].as_str().unwrap(), 10, 0, 1 << 26).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let body = serde_json::json!({"challengeId": c["challengeId"], "nonce": nonce, "solveTimeMs": 5,
        "fingerprint": "fp", "behavioral": {"mouseEntropy": 2.0, "interactionCount": 2, "sessionDuration": 900}});
    // 32 submissions on each instance at once: exactly one token.
    let mut tasks = Vec::new();
    for i in 0..64 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            post(&app, "/api/verify", body).await
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        if s == StatusCode::OK {
            tokens.push(v["token"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(v["error"]["code"], "CHALLENGE_EXPIRED", "{v}");
        }
    }
    assert_eq!(tokens.len(), 1, "one challenge, one token, fleet-wide");
    let v = serde_json::json!({"token": tokens[0], "secretKey": "ecs_live_demo"});
    let (s, ok) = post(&b, "/api/validate", v.clone()).await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    let (s, used) = post(&a, "/api/validate", v).await;
    assert_eq!(
        (s, used["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("TOKEN_USED"))
    );
}

/// The inline layer with a networked store: redemption waits on Redis inside `PowFuture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_redeems_through_redis() {
    use axum::routing::get;
    use tower_shield::pow::{PowLayer, TokenMode};
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = RedisStore::builder(&url)
        .prefix(format!("pow-layer-{}", std::process::id()))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("Redis is required at {url} ({e})"));
    let pow = Pow::builder()
        .secret(SECRET)
        .unwrap()
        .store(store)
        .difficulty(1, 8, 18)
        .unwrap()
        .build();
    let app = Router::new()
        .route("/app", get(|| async { "the app" }))
        .layer(PowLayer::new(pow).token_mode(TokenMode::SingleUse).unwrap());
    let peer = PeerAddr("198.51.100.7:4000".parse::<SocketAddr>().unwrap());
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let mut req = req;
            req.extensions_mut().insert(peer);
            let res = app.oneshot(req).await.unwrap();
            let s = res.status();
            let b = axum::body::to_bytes(res.into_body(), 1 << 16)
                .await
                .unwrap();
            (
                s,
                serde_json::from_slice::<serde_json::Value>(&b).unwrap_or_default(),
            )
        }
    };
    let (s, v) = send(Request::get("/app").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let c = &v["challenge"];
    let nonce = solve(c["prefix"].as_str().unwrap(), 8, 0, 1 << 24).unwrap();
    let url = format!(
        "/.shield/pow/verify?challengeId={}&nonce={nonce}",
        c["challengeId"].as_str().unwrap()
    );
    let (s, t) = send(Request::post(&url).body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, again) = send(Request::post(&url).body(Body::empty()).unwrap()).await;
    assert_eq!(
        (s, again["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("CHALLENGE_EXPIRED"))
    );
    let token = t["token"].as_str().unwrap().to_owned();
    let get = || {
        Request::get("/app")
            .header("x-shield-token", token.as_str())
            .body(Body::empty())
            .unwrap()
    };
    let (s, _) = send(get()).await;
    assert_eq!(s, StatusCode::OK);
    let (s, used) = send(get()).await;
    assert_eq!(
        (s, used["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("TOKEN_USED"))
    );
}
