//! The real demo binary, twice, on one store: every decision a fleet must share is shared.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_on_one_redis_share_the_techsec_quota() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let store = format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\nprefix = \"{}\"\ntimeout_ms = 2000\non_failure = \"closed\"\n",
        unique("fleet")
    );
    ten_of_twenty(&store).await;
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
