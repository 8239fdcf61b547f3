//! The Engineering11 demo routes, mounted alone on a free port and driven over HTTP:
//! API key -> token -> protected route, JWKS, rotation, lookups, and the OpenAPI document.
#![cfg(all(feature = "jwt", feature = "intel", feature = "apikey"))]

#[allow(dead_code)]
#[path = "../examples/demo/seeds/engineering11.rs"]
mod engineering11;

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tower_shield::auth::{JwtSigner, SigningKey, StaticApiKeys};
use tower_shield::classify::Classifier;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intel/jwt");

async fn serve(signer: JwtSigner) -> (SocketAddr, Value) {
    let keys = StaticApiKeys::new()
        .key("tsk_e11_demo_key", ["verify"], None)
        .unwrap();
    let services = engineering11::default_services(signer, Classifier::embedded());
    let (app, api) = engineering11::router(keys, services)
        .unwrap()
        .split_for_parts();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, serde_json::to_value(api).unwrap())
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, http::HeaderMap, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = body.map(|v| v.to_string()).unwrap_or_default();
    let res = client
        .request(
            b.header("content-type", "application/json")
                .body(Full::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn signer(kid: &str, file: &str) -> JwtSigner {
    let pem = std::fs::read(format!("{DATA}/{file}")).unwrap();
    JwtSigner::new(SigningKey::from_pem(kid, &pem).unwrap())
        .unwrap()
        .audience(engineering11::AUDIENCE)
}

#[tokio::test]
async fn token_jwks_and_protected_route() {
    let s = signer("jwt/base-signing-key", "rsa1.pem");
    let (addr, _) = serve(s.clone()).await;

    let (st, _, body) = send(addr, "POST", "/api/jwt/token", &[], None).await;
    assert_eq!(st, 401);
    assert_eq!(body["error"]["code"], "INVALID_API_KEY");
    let (st, _, body) = send(
        addr,
        "POST",
        "/api/jwt/token",
        &[("x-api-key", "tsk_e11_demo_key")],
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["kid"], "jwt/base-signing-key");

    let bearer = format!("Bearer {token}");
    let (st, _, me) = send(
        addr,
        "GET",
        "/api/jwt/me",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["alg"], "RS256");
    assert_eq!(me["scopes"], json!(["verify"]));

    let (st, h, body) = send(addr, "GET", "/api/jwt/me", &[], None).await;
    assert_eq!(st, 401);
    assert_eq!(h["www-authenticate"], "Bearer");
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    let (st, h, _) = send(
        addr,
        "GET",
        "/api/jwt/me",
        &[("authorization", "Bearer a.b.c")],
        None,
    )
    .await;
    assert_eq!(st, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let (st, h, jwks) = send(addr, "GET", "/.well-known/jwks.json", &[], None).await;
    assert_eq!(st, 200);
    assert!(h["cache-control"].to_str().unwrap().contains("max-age"));
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["kid"], "jwt/base-signing-key");

    // Rotation: the new key signs, the old token still verifies, both are published.
    s.rotate(
        SigningKey::from_pem(
            "jwt/key-2",
            &std::fs::read(format!("{DATA}/ed1.pem")).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let (_, _, body) = send(
        addr,
        "POST",
        "/api/jwt/token",
        &[("authorization", "Bearer tsk_e11_demo_key")],
        None,
    )
    .await;
    let new = format!("Bearer {}", body["token"].as_str().unwrap());
    let (st, _, me) = send(addr, "GET", "/api/jwt/me", &[("authorization", &new)], None).await;
    assert_eq!((st, me["alg"].as_str()), (200, Some("EdDSA")));
    assert_eq!(
        send(
            addr,
            "GET",
            "/api/jwt/me",
            &[("authorization", &bearer)],
            None
        )
        .await
        .0,
        200
    );
    let (_, _, jwks) = send(addr, "GET", "/.well-known/jwks.json", &[], None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    s.retire("jwt/base-signing-key").unwrap();
    assert_eq!(
        send(
            addr,
            "GET",
            "/api/jwt/me",
            &[("authorization", &bearer)],
            None
        )
        .await
        .0,
        401
    );
}

#[tokio::test]
async fn lookups() {
    let (addr, _) = serve(signer("k", "ed1.pem")).await;
    let (st, _, r) = send(addr, "GET", "/api/lookup/ip/3.5.140.2", &[], None).await;
    assert_eq!(st, 200);
    assert!(
        r["fraud_score"].as_u64().unwrap() > 0 && r["is_hosting"] == true,
        "{r}"
    );
    assert!(r.get("ISP").is_some() && r.get("ASN").is_some());
    // Country geolocation is embedded: filled with no configuration.
    assert_eq!(r["country_code"], "KR", "{r}"); // AWS ap-northeast-2 (Seoul)
    // A Tor exit of the embedded list (issue 19).
    let (st, _, r) = send(addr, "GET", "/api/lookup/ip/185.220.101.1", &[], None).await;
    assert_eq!(st, 200);
    assert!(
        r["tor"] == true && r["proxy"] == true && r["fraud_score"].as_u64() >= Some(90),
        "{r}"
    );
    assert_eq!(
        send(addr, "GET", "/api/lookup/ip/not-an-ip", &[], None)
            .await
            .0,
        400
    );
    let (st, _, r) = send(addr, "GET", "/api/lookup/ip/1.1.1.1?remote=true", &[], None).await;
    // The client asked for a remote lookup this server has no key for: a 4xx, never a 5xx.
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (400, Some("KEY_NOT_FOUND"))
    );
    let (st, _, r) = send(
        addr,
        "GET",
        "/api/lookup/ip/1.1.1.1?remote=maybe",
        &[],
        None,
    )
    .await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );

    let (st, _, r) = send(
        addr,
        "POST",
        "/api/lookup/email",
        &[],
        Some(json!({"email": "bob@mailinator.com"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (r["valid"].as_bool(), r["disposable"].as_bool()),
        (Some(true), Some(true))
    );
    let (_, _, r) = send(
        addr,
        "POST",
        "/api/lookup/email",
        &[],
        Some(json!({"email": "jane@example.com"})),
    )
    .await;
    assert_eq!(
        (r["valid"].as_bool(), r["disposable"].as_bool()),
        (Some(true), Some(false))
    );
    let (st, _, r) = send(
        addr,
        "POST",
        "/api/lookup/email",
        &[],
        Some(json!({"mail": 1})),
    )
    .await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (400, Some("INVALID_REQUEST"))
    );

    let (st, _, r) = send(
        addr,
        "POST",
        "/api/lookup/url",
        &[],
        Some(json!({"url": "https://xn--pypal-4ve.com/login"})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(r["suspicious"], true, "{r}");
    let (st, _, r) = send(
        addr,
        "POST",
        "/api/lookup/url",
        &[],
        Some(json!({"url": "http://"})),
    )
    .await;
    assert_eq!(
        (st, r["error"]["code"].as_str()),
        (400, Some("INVALID_URL"))
    );
}

#[tokio::test]
async fn openapi_documents_every_route_and_error() {
    let (_, api) = serve(signer("k", "ed1.pem")).await;
    for (path, method, statuses) in [
        ("/api/jwt/token", "post", &["200", "401", "500"][..]),
        ("/.well-known/jwks.json", "get", &["200"][..]),
        ("/api/jwt/me", "get", &["200", "401", "403"][..]),
        ("/api/lookup/ip/{ip}", "get", &["200", "400", "503"][..]),
        ("/api/lookup/email", "post", &["200", "400", "413"][..]),
        ("/api/lookup/url", "post", &["200", "400", "413"][..]),
    ] {
        let op = &api["paths"][path][method];
        assert!(op.is_object(), "{method} {path} missing");
        for s in statuses {
            assert!(
                op["responses"][s]["content"]["application/json"].is_object(),
                "{path} {s}"
            );
        }
    }
}

/// Issue 17, item 6: the lookups read about 2 MB of a 10 MB body before answering 413.
/// A declared length over the bound is refused before a byte is read; a body without
/// one is read only up to the bound.
#[tokio::test]
async fn lookups_stop_reading_at_the_body_limit() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    const TEN_MB: usize = 10 * 1024 * 1024;
    const CHUNK: usize = 16 * 1024;
    let keys = StaticApiKeys::new()
        .key("tsk_e11_demo_key", ["verify"], None)
        .unwrap();
    let services = engineering11::default_services(signer("k", "ed1.pem"), Classifier::embedded());
    let (app, _) = engineering11::router(keys, services)
        .unwrap()
        .split_for_parts();
    for path in ["/api/lookup/email", "/api/lookup/url"] {
        for declare_length in [true, false] {
            let read = Arc::new(AtomicUsize::new(0));
            let chunks = Counted {
                left: TEN_MB,
                chunk: CHUNK,
                read: read.clone(),
            };
            let mut req = http::Request::post(path).header("content-type", "application/json");
            if declare_length {
                req = req.header("content-length", TEN_MB.to_string());
            }
            let req = req.body(axum::body::Body::new(chunks)).unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status(), 413, "{path} {declare_length}");
            let body: Value =
                serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes())
                    .unwrap();
            assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE", "{body}");
            let read = read.load(Ordering::SeqCst);
            let most = if declare_length {
                0
            } else {
                engineering11::BODY_LIMIT + CHUNK
            };
            assert!(read <= most, "{path}: read {read} bytes of {TEN_MB}");
        }
    }
}

/// A body of `left` spaces in `chunk`-sized frames that counts the bytes it hands out.
struct Counted {
    left: usize,
    chunk: usize,
    read: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        let n = self.chunk.min(self.left);
        if n == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= n;
        self.read.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![b' '; n])))))
    }
}
