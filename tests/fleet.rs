//! The real demo binary, twice, on one store: every decision a fleet must share is shared
//! (the 602TechSec quota, signature replays on `/verus/classify`, single-use PoW tokens).
//!
//! Each test starts two `target/debug/examples/demo` processes (built by `cargo test`, or
//! here with `cargo build --example demo` when missing) from one config with a unique key
//! prefix, on free ports, and alternates requests between them: once on the Redis at
//! `REDIS_URL` (default `redis://127.0.0.1:6379`), once on a 3-master Redis Cluster the
//! test starts itself.
#![cfg(feature = "redis")]

#[path = "common/cluster.rs"]
mod cluster;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

fn demo_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug/examples/demo");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "--example", "demo"])
            .current_dir(&root)
            .status()
            .expect("cargo build --example demo");
        assert!(ok.success(), "cargo build --example demo failed");
    }
    bin
}

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

/// A demo process, killed on drop.
struct Demo {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo(store_toml: &str, tag: &str) -> Demo {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("demo.db");
    let config = dir.join("demo.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\n\
             [database]\nurl = \"sqlite://{}?mode=rwc\"\n\
             [pow]\nsecret = \"fleet-shared-pow-secret-0123456789abcdef\"\n\
             [[api_keys]]\nkey = \"tsk_fleet_key_10\"\nrequests_per_hour = 10\npermissions = [\"verify\"]\n\
             {store_toml}",
            db.display()
        ),
    )
    .unwrap();
    let child = Command::new(demo_binary())
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the demo");
    let end = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < end, "demo did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Demo { child, addr }
}

async fn verify(addr: SocketAddr, key: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let body = r#"{"ipAddress":"203.0.113.7","hostName":"example.com","requestPath":"/","userAgent":"Mozilla/5.0"}"#;
    let req = http::Request::post(format!("http://{addr}/api/verify"))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from_static(body.as_bytes())))
        .unwrap();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// 20 requests alternating between two instances on a 10/hour key: exactly 10 allowed.
async fn ten_of_twenty(store_toml: &str) {
    let a = start_demo(store_toml, "fleet-a");
    let b = start_demo(store_toml, "fleet-b");
    let mut allowed = 0;
    for i in 0..20 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        match verify(addr, "tsk_fleet_key_10").await {
            (200, _) => allowed += 1,
            (429, body) => assert!(body.contains("RATE_LIMITED"), "{body}"),
            (status, body) => panic!("request {i}: unexpected {status}: {body}"),
        }
    }
    assert_eq!(allowed, 10, "one 10/hour quota across both instances");
}

fn one_redis() -> String {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\nprefix = \"{}\"\ntimeout_ms = 2000\non_failure = \"closed\"\n",
        unique("fleet")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_on_one_redis_share_the_techsec_quota() {
    ten_of_twenty(&one_redis()).await;
}

async fn send(req: http::Request<Full<bytes::Bytes>>) -> (u16, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let res = client.request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// One Auspex (Verus) signed `POST /verus/classify`, with the demo's default key pair.
fn signed_classify(at: Duration) -> http::Request<Vec<u8>> {
    let mut req = http::Request::post("/verus/classify")
        .header("content-type", "application/json")
        .body(br#"{"ipAddress": "8.8.8.8"}"#.to_vec())
        .unwrap();
    tower_shield::signature::Signer::new(
        tower_shield::signature::Dialect::verus(),
        "alk_1234567890abcdef",
        "als_abcdefghijklmnopqrstuvwxyz1234567890",
    )
    .sign(&mut req, at)
    .unwrap();
    req
}

/// The same signed request, sent to `addr`.
async fn send_signed(
    addr: SocketAddr,
    signed: &http::Request<Vec<u8>>,
) -> (u16, serde_json::Value) {
    let mut b = http::Request::post(format!("http://{addr}/verus/classify"));
    for (k, v) in signed.headers() {
        b = b.header(k, v);
    }
    send(
        b.body(Full::new(bytes::Bytes::from(signed.body().clone())))
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_on_one_redis_refuse_a_signature_replay() {
    replay_refused(&one_redis()).await;
}

async fn replay_refused(store: &str) {
    let a = start_demo(store, "fleet-sig-a");
    let b = start_demo(store, "fleet-sig-b");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let signed = signed_classify(at);
    let (status, v) = send_signed(a.addr, &signed).await;
    assert_eq!(status, 200, "first use on A: {v}");
    for (name, addr) in [("B", b.addr), ("A", a.addr)] {
        let (status, v) = send_signed(addr, &signed).await;
        assert_eq!(status, 401, "replay on {name}: {v}");
        // The Auspex wire format carries the message, not the code: this is the
        // `SIGNATURE_REPLAYED` reason (`SignatureError::Replayed`).
        assert_eq!(
            v["error"], "signed request was already used",
            "replay on {name}: {v}"
        );
    }
}

async fn post_json(
    addr: SocketAddr,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    send(
        http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .unwrap(),
    )
    .await
}

/// A challenge from `addr` for the demo site, solved and verified there: the token.
async fn pow_token(addr: SocketAddr) -> String {
    let started = Instant::now();
    let (status, ch) = post_json(
        addr,
        "/captcha/api/challenge",
        serde_json::json!({"siteKey": "eck_live_demo"}),
    )
    .await;
    assert_eq!(status, 200, "{ch}");
    let prefix = ch["prefix"].as_str().unwrap().to_owned();
    let difficulty = ch["difficulty"].as_u64().unwrap() as u8;
    let nonce = tokio::task::spawn_blocking(move || {
        tower_shield::pow::solve(&prefix, difficulty, 0, u64::MAX).unwrap()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let solve_ms = started.elapsed().as_millis() as u64 - 50;
    let (status, v) = post_json(
        addr,
        "/captcha/api/verify",
        serde_json::json!({
            "challengeId": ch["challengeId"], "nonce": nonce, "solveTimeMs": solve_ms,
            "fingerprint": "sha256_hash_of_browser_data",
            "behavioral": {"mouseEntropy": 4.2, "interactionCount": 15, "sessionDuration": solve_ms + 2000}
        }),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

async fn validate(addr: SocketAddr, token: &str) -> (u16, serde_json::Value) {
    post_json(
        addr,
        "/captcha/api/validate",
        serde_json::json!({"token": token, "secretKey": "ecs_live_demo"}),
    )
    .await
}

async fn protected(addr: SocketAddr, token: &str) -> u16 {
    send(
        http::Request::get(format!("http://{addr}/app/protected"))
            .header("accept", "application/json")
            .header("x-shield-token", token)
            .body(Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_on_one_redis_use_a_pow_token_once() {
    pow_once(&one_redis()).await;
}

async fn pow_once(store: &str) {
    let a = start_demo(store, "fleet-pow-a");
    let b = start_demo(store, "fleet-pow-b");

    // Validated by the site's backend: once on B, then A refuses it.
    let token = pow_token(a.addr).await;
    let (status, v) = validate(b.addr, &token).await;
    assert_eq!(status, 200, "token from A validated on B: {v}");
    assert_eq!(v["success"], true, "{v}");
    let (status, v) = validate(a.addr, &token).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (401, Some("TOKEN_USED")),
        "second validation on A: {v}"
    );

    // Redeemed at the protected route: once on B, then A refuses it.
    let token = pow_token(a.addr).await;
    assert_eq!(protected(b.addr, &token).await, 200, "token from A on B");
    assert_ne!(
        protected(a.addr, &token).await,
        200,
        "the same token again on A"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_on_one_redis_cluster_share_the_techsec_quota() {
    let cluster = tokio::task::spawn_blocking(cluster::Cluster::start)
        .await
        .unwrap();
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let store = format!(
        "[store]\nbackend = \"redis\"\ncluster_nodes = [{}]\nprefix = \"{}\"\ntimeout_ms = 2000\non_failure = \"closed\"\n",
        nodes.join(", "),
        unique("cfleet")
    );
    ten_of_twenty(&store).await;
    drop(cluster);
}

fn cluster_store(cluster: &cluster::Cluster) -> String {
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[store]\nbackend = \"redis\"\ncluster_nodes = [{}]\nprefix = \"{}\"\ntimeout_ms = 2000\non_failure = \"closed\"\n",
        nodes.join(", "),
        unique("cfleet")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_on_one_redis_cluster_refuse_a_signature_replay_and_use_a_pow_token_once() {
    let cluster = tokio::task::spawn_blocking(cluster::Cluster::start)
        .await
        .unwrap();
    let store = cluster_store(&cluster);
    replay_refused(&store).await;
    pow_once(&store).await;
    drop(cluster);
}
