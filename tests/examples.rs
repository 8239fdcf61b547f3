//! Every small example in `examples/` started as a process and asked what its doc says
//! it serves. `cargo test` builds the examples first; they are run from
//! `target/<profile>/examples/`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A running example; killed on drop.
struct Running(Child, SocketAddr);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(name: &str, env: &[(&str, &str)]) -> Running {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} missing: run `cargo build --examples`",
        path.display()
    );
    let mut child = Command::new(&path)
        .env("PORT", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{name} said {line:?}"))
        .parse()
        .unwrap();
    Running(child, addr)
}

async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req.body(Full::default()).unwrap()).await
}

async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let mut req = http::Request::post(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req.body(Full::default()).unwrap()).await
}

async fn send(req: http::Request<Full<bytes::Bytes>>) -> (u16, http::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let res = client.request(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

const BROWSER: &[(&str, &str)] = &[
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    ),
    ("accept", "text/html"),
    ("accept-language", "en"),
    ("accept-encoding", "gzip"),
];

#[tokio::test]
async fn axum_basic_reads_client_ip_and_verdict_and_limits() {
    let ex = start("axum_basic", &[]);
    let (status, _, body) = get(ex.1, "/", BROWSER).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("client 127.0.0.1 (Peer): human=true"),
        "{body}"
    );
    // Burst 10: the eleventh request at once is refused.
    let mut last = 0;
    for _ in 0..10 {
        last = get(ex.1, "/", BROWSER).await.0;
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn hyper_plain_serves_the_peer_and_limits_at_three_a_minute() {
    let ex = start("hyper_plain", &[]);
    for _ in 0..3 {
        let (status, _, body) = get(ex.1, "/", &[]).await;
        assert_eq!((status, body.as_str()), (200, "hello 127.0.0.1\n"));
    }
    let (status, headers, body) = get(ex.1, "/", &[]).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn custom_rejection_answers_with_its_own_body() {
    let ex = start("custom_rejection", &[]);
    for _ in 0..2 {
        assert_eq!(get(ex.1, "/", &[]).await.0, 200);
    }
    let (status, headers, body) = get(ex.1, "/", &[("x-request-id", "abc123")]).await;
    assert_eq!(status, 429);
    assert_eq!(headers["content-type"], "text/plain");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(body, "slow down (RATE_LIMITED) request abc123\n");
}

#[tokio::test]
async fn redis_fleet_instances_share_one_quota() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("fleet-example-test-{}-{nanos}", std::process::id());
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let env = [("PREFIX", prefix.as_str()), ("REDIS_URL", url.as_str())];
    let a = start("redis_fleet", &env);
    let b = start("redis_fleet", &env);
    let mut statuses = Vec::new();
    for ex in [&a, &b, &a, &b] {
        let (status, _, body) = get(ex.1, "/", &[]).await;
        if status == 200 {
            assert_eq!(body, format!("instance {}\n", ex.1.port()));
        }
        statuses.push(status);
    }
    // 3 a minute per client across both instances (PORT=0: each names its own port).
    assert_eq!(statuses, [200, 200, 200, 429], "is Redis up at {url}?");
}

#[tokio::test]
async fn per_route_signs_one_group_limits_login_and_asks_work_on_signup() {
    use tower_shield::signature::{Dialect, Signer};
    let ex = start("per_route", &[]);
    let addr = ex.1;

    // The partner group: unsigned is refused, signed by the partner's key passes.
    let (status, headers, body) = get(addr, "/api/partner/orders", &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(headers.contains_key("www-authenticate"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_SIGNATURE");
    let signer = Signer::new(
        Dialect::verus(),
        "alk_partner_0123456789",
        "als_partner_secret_0123456789abcdefghij",
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let mut req = http::Request::get(format!("http://{addr}/api/partner/orders"))
        .body(bytes::Bytes::new())
        .unwrap();
    signer.sign(&mut req, now()).unwrap();
    let (status, _, body) = send(req.map(Full::new)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "orders for alk_partner_0123456789\n")
    );
    // Signed by another secret: refused the same way.
    let mut req = http::Request::get(format!("http://{addr}/api/partner/orders"))
        .body(bytes::Bytes::new())
        .unwrap();
    Signer::new(
        Dialect::verus(),
        "alk_partner_0123456789",
        "als_not_the_partner_secret_0123456789ab",
    )
    .sign(&mut req, now())
    .unwrap();
    assert_eq!(send(req.map(Full::new)).await.0, 401);
    // The rest of the app needs no signature, nor any work.
    let (status, _, body) = get(addr, "/", &[]).await;
    assert_eq!((status, body.as_str()), (200, "home\n"));

    // /login: 3 a minute, then 429; / still answers.
    for _ in 0..3 {
        assert_eq!(post(addr, "/login", &[]).await.0, 200);
    }
    let (status, headers, body) = post(addr, "/login", &[]).await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    assert_eq!(get(addr, "/", &[]).await.0, 200);

    // /signup: no token, 401 with a challenge; solved and redeemed, the pass opens it.
    let (status, _, body) = post(addr, "/signup", &[]).await;
    assert_eq!(status, 401, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "CHALLENGE_REQUIRED");
    let c = &v["challenge"];
    let nonce = tower_shield::pow::solve(
        c["prefix"].as_str().unwrap(),
        c["difficulty"].as_u64().unwrap() as u8,
        0,
        1 << 28,
    )
    .unwrap();
    let (status, _, body) = post(addr, "/signup", &[("x-shield-token", "esp_forged")]).await;
    assert_eq!(status, 401, "a forged pass: {body}");
    let url = format!(
        "/.shield/pow/verify?challengeId={}&nonce={nonce}",
        c["challengeId"].as_str().unwrap()
    );
    let (status, headers, body) = post(addr, &url, &[]).await;
    assert_eq!(status, 200, "{body}");
    let pass = headers["x-shield-pass"].to_str().unwrap().to_owned();
    let (status, _, body) = post(addr, "/signup", &[("x-shield-token", &pass)]).await;
    assert_eq!((status, body.as_str()), (200, "signed up\n"));
}

#[tokio::test]
async fn live_data_swaps_in_edited_ranges_while_serving() {
    let dir = std::env::temp_dir().join(format!(
        "tower-shield-live-data-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("ranges.csv");
    std::fs::write(&csv, "# nothing of our own yet\nnot-a-range,tor\n").unwrap();
    let ex = start("live_data", &[("RANGES", csv.to_str().unwrap())]);
    let from = |ip: &'static str| {
        let mut h = BROWSER.to_vec();
        h.push(("x-forwarded-for", ip));
        h
    };
    let (status, _, body) = get(ex.1, "/", &from("81.2.69.160")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "81.2.69.160: human=true hosting=false tor=false action=allow (data generation 0)\n"
        )
    );

    // The same process, the file edited: within the reload interval plus one table
    // build (seconds in a debug build) the same address is a hosting network.
    replace(&csv, "81.2.69.0/24,hosting,example-cloud\n");
    let (status, hosting) = until_not(ex.1, &from("81.2.69.160"), &body).await;
    assert_eq!(
        (status, hosting.as_str()),
        (
            200,
            "81.2.69.160: human=false hosting=true tor=false action=monitor (data generation 1)\n"
        )
    );
    // Only that range changed: its neighbour is still human, on the new data.
    let (status, _, body) = get(ex.1, "/", &from("81.2.70.1")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "81.2.70.1: human=true hosting=false tor=false action=allow (data generation 1)\n"
        )
    );

    // Listed as a Tor exit as well: refused.
    replace(
        &csv,
        "81.2.69.0/24,hosting,example-cloud\n81.2.69.160/32,tor,example-exits\n",
    );
    let (status, body) = until_not(ex.1, &from("81.2.69.160"), &hosting).await;
    assert_eq!(status, 403, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "BLOCKED", "{body}");
    drop(ex);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replaces `path` atomically (written beside it, then renamed), as a data feed should be
/// updated: a reload never reads half a file.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls `/` until it answers something other than `current`, which it must keep
/// answering meanwhile (the server serves on the old table while the new one is built).
async fn until_not(addr: SocketAddr, headers: &[(&str, &str)], current: &str) -> (u16, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (status, _, body) = get(addr, "/", headers).await;
        if body != current {
            return (status, body);
        }
        assert!(std::time::Instant::now() < deadline, "no reload: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
