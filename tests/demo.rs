//! The demo server's router on a real socket, driven by a real HTTP client.

#[path = "../examples/demo/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/demo/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "common/demo_app.rs"]
mod demo_app;
#[path = "../examples/demo/seeds/mod.rs"]
#[allow(dead_code)]
mod seeds;

use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

async fn serve(toml: &str) -> SocketAddr {
    demo_app::serve(toml).await
}

async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn untrusted_peer_headers_are_ignored_by_default() {
    let addr = serve("").await;
    let (status, headers, body) = get(addr, "/api/whoami", &[("x-forwarded-for", "1.2.3.4")]).await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["clientIp"]["ip"], "127.0.0.1");
    assert_eq!(v["clientIp"]["source"], "peer");
    // Loopback is special-purpose: {human: true, certainty: 0}, as the Auspex seed says.
    assert_eq!(v["verdict"]["human"], true, "{v}");
    assert_eq!(v["verdict"]["certainty"], 0, "{v}");
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"));
    assert_eq!(v["requestId"], id);
}

#[tokio::test]
async fn trusted_proxy_forwarding_is_read_from_the_right() {
    let addr =
        serve("[client_ip]\nsource = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n")
            .await;
    for xff in ["1.2.3.4", "6.6.6.6, 1.2.3.4"] {
        let (status, _, body) = get(addr, "/api/whoami", &[("x-forwarded-for", xff)]).await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["clientIp"]["ip"], "1.2.3.4", "{xff}");
        assert_eq!(v["clientIp"]["source"], "x-forwarded-for");
    }
}

/// Issue 17, item 1, through the demo as users run it: bytes the client writes left of
/// the proxy's hop (here one non-ASCII byte) used to make the whole header unreadable, so
/// the shield judged the proxy (loopback: human) and let a `curl` from AWS through.
#[tokio::test]
async fn the_client_part_of_the_forwarding_header_cannot_bypass_classification() {
    let addr =
        serve("[client_ip]\nsource = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n")
            .await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut answers = Vec::new();
    for xff in [
        &b"3.5.140.2"[..],
        b"\xff, 3.5.140.2",
        b"\xff\xfe garbage;;, 3.5.140.2",
    ] {
        let req = http::Request::get(format!("http://{addr}/app/"))
            .header("user-agent", "curl/8.5.0")
            .header(
                "x-forwarded-for",
                http::HeaderValue::from_bytes(xff).unwrap(),
            )
            .body(Empty::new())
            .unwrap();
        let res = client.request(req).await.unwrap();
        answers.push(res.status().as_u16());
    }
    assert_eq!(
        answers,
        [403, 403, 403],
        "an HTTP library from AWS, whatever is left of its hop"
    );
}

#[tokio::test]
async fn health_and_index() {
    let addr = serve("").await;
    let (status, _, body) = get(addr, "/healthz", &[]).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, headers, body) = get(addr, "/", &[("x-request-id", "req_given")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-request-id"], "req_given");
    for (_, path, _) in app::ENDPOINTS {
        assert!(body.contains(path), "index lists {path}");
    }
    // The ECURTIY widget page and its scripts, served by the library through /captcha.
    for path in [
        "/captcha/demo",
        "/captcha/widget/shield-pow.js",
        "/captcha/widget/worker.js",
    ] {
        let (status, _, _) = get(addr, path, &[]).await;
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn the_sample_api_needs_a_key_and_counts_per_key() {
    let addr = serve("[[api_keys]]\nkey = \"tsk_test_key_1\"\nrequests_per_hour = 2\npermissions = [\"verify\"]\n").await;
    let (status, _, body) = get(addr, "/app/api/data", &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("INVALID_API_KEY"));
    for _ in 0..2 {
        let (status, _, body) =
            get(addr, "/app/api/data", &[("x-api-key", "tsk_test_key_1")]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, headers, body) =
        get(addr, "/app/api/data", &[("x-api-key", "tsk_test_key_1")]).await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, body) = get(addr, "/api/whoami", &[("x-api-key", "tsk_test_key_1")]).await;
    assert_eq!(status, 429, "the key's quota covers every route: {body}");
    let (status, _, body) = get(addr, "/api/whoami", &[]).await;
    assert_eq!(
        status, 200,
        "anonymous requests use the per-client limit: {body}"
    );
}

/// Two demo instances started from one config with `[store] backend = "redis"` share one
/// quota per key (needs Redis at 127.0.0.1:6379, as `.ci/run` provides).
#[tokio::test]
async fn two_instances_on_redis_act_as_one() {
    let prefix = format!(
        "demo-fleet-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let cfg = format!(
        "[[api_keys]]\nkey = \"tsk_fleet_key\"\nrequests_per_hour = 6\n[store]\nbackend = \"redis\"\nprefix = \"{prefix}\"\ntimeout_ms = 2000\non_failure = \"closed\"\n"
    );
    let (a, b) = (serve(&cfg).await, serve(&cfg).await);
    let mut ok = 0;
    for i in 0..12 {
        let addr = if i % 2 == 0 { a } else { b };
        let (status, _, body) = get(addr, "/app/api/data", &[("x-api-key", "tsk_fleet_key")]).await;
        match status {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected {other}: {body} (is Redis up at 127.0.0.1:6379?)"),
        }
    }
    assert_eq!(ok, 6, "one quota across both instances");
}
