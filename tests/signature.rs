//! SignatureLayer against independent peers: a hashlib/hmac port of the Verus seed
//! client (`peers/verus_ref.py`) and botocore's real SigV4 signers
//! (`peers/botocore_sign.py`). These tests need `python3` (and `botocore`); without
//! them they FAIL with a message saying what to install, never pass silently.
#![cfg(all(feature = "signature", feature = "axum"))]

use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Frame;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_shield::core::store::{MemorySingleUseStore, SingleUseStore, StoreError};
use tower_shield::core::{ManualClock, Principal, PrincipalKind, Rejection, RejectionKind};
use tower_shield::signature::{
    Dialect, SignatureError, SignatureLayer, Signer, StaticKeys, Verifier, parse_amz_date,
    payload_hash,
};

const VERUS_KEY: &str = "alk_1234567890abcdef";
const VERUS_SECRET: &str = "als_abcdefghijklmnopqrstuvwxyz1234567890";
const AWS_KEY: &str = "AKIDEXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const T0: &str = "20250115T103000Z";

fn t0() -> Duration {
    parse_amz_date(T0.as_bytes()).unwrap()
}

// ---------------------------------------------------------------- peers

fn run_peer(script: &str, input: &Value) -> Value {
    let path = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("python3 is required by the signature peer tests and could not be started ({e}): install python3 and `pip install botocore`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer {script} failed ({}): {}\n(the signature tests need python3 with botocore: `pip install botocore`)",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("peer output is JSON")
}

/// A request as plain data, so it can be mutated byte by byte.
#[derive(Clone, Debug)]
struct Sample {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Sample {
    fn from_peer(v: &Value) -> Self {
        let url: Uri = v["url"].as_str().unwrap().parse().unwrap();
        Self {
            method: v["method"].as_str().unwrap().to_owned(),
            target: url.path_and_query().unwrap().as_str().to_owned(),
            headers: v["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h[0].as_str().unwrap().to_owned(),
                        h[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            body: v["body"].as_str().unwrap().as_bytes().to_vec(),
        }
    }

    /// `None` when the bytes no longer make a valid HTTP request.
    fn parts(&self) -> Option<http::request::Parts> {
        let method = Method::from_bytes(self.method.as_bytes()).ok()?;
        let uri: Uri = self.target.parse().ok()?;
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in &self.headers {
            req = req.header(
                HeaderName::from_bytes(k.as_bytes()).ok()?,
                HeaderValue::from_bytes(v.as_bytes()).ok()?,
            );
        }
        Some(req.body(()).ok()?.into_parts().0)
    }

    fn request(&self) -> Request<Body> {
        let parts = self.parts().expect("valid request");
        Request::from_parts(parts, Body::from(self.body.clone()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The signed header names, from `Authorization` or `X-Amz-SignedHeaders`.
    fn signed_headers(&self) -> Vec<String> {
        if let Some(auth) = self.header("authorization") {
            let list = auth
                .split("SignedHeaders=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            return list.split(';').map(str::to_owned).collect();
        }
        let q = self.target.split_once('?').unwrap().1;
        let list = q
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
            .unwrap();
        list.replace("%3B", ";")
            .split(';')
            .map(str::to_owned)
            .collect()
    }

    /// Every one-byte mutation (XOR 0x01, which never flips case) of the method,
    /// the path, the query, each signed header's value and the body.
    fn mutations(&self) -> Vec<(String, Sample)> {
        let mut out = Vec::new();
        let flip = |s: &[u8], i: usize| {
            let mut s = s.to_vec();
            s[i] ^= 0x01;
            s
        };
        for i in 0..self.method.len() {
            let mut m = self.clone();
            m.method = String::from_utf8_lossy(&flip(self.method.as_bytes(), i)).into_owned();
            out.push((format!("method byte {i}"), m));
        }
        let qpos = self.target.find('?').unwrap_or(self.target.len());
        for i in 0..self.target.len() {
            let mut m = self.clone();
            m.target = String::from_utf8_lossy(&flip(self.target.as_bytes(), i)).into_owned();
            let what = if i < qpos { "path" } else { "query" };
            out.push((format!("{what} byte {i} of {:?}", self.target), m));
        }
        let signed = self.signed_headers();
        for (hi, (name, value)) in self.headers.iter().enumerate() {
            if !signed.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                continue;
            }
            for i in 0..value.len() {
                let mut m = self.clone();
                m.headers[hi].1 = String::from_utf8_lossy(&flip(value.as_bytes(), i)).into_owned();
                out.push((format!("header {name} byte {i}"), m));
            }
        }
        for i in 0..self.body.len() {
            let mut m = self.clone();
            m.body = flip(&self.body, i);
            out.push((format!("body byte {i}"), m));
        }
        out
    }
}

fn aws_verifier() -> Verifier {
    Verifier::new(
        Dialect::aws("us-east-1", "execute-api").unwrap(),
        StaticKeys::new().key(AWS_KEY, AWS_SECRET).unwrap(),
    )
}

fn verus_verifier() -> Verifier {
    Verifier::new(
        Dialect::verus(),
        StaticKeys::new().key(VERUS_KEY, VERUS_SECRET).unwrap(),
    )
}

fn verify(v: &Verifier, s: &Sample, now: Duration) -> Result<String, SignatureError> {
    let parts = s
        .parts()
        .ok_or(SignatureError::Malformed("not a valid request"))?;
    v.verify(&parts, &s.body, now)
        .map(|ok| ok.key_id.to_string())
}

fn assert_all_mutations_fail(v: &Verifier, s: &Sample, now: Duration) -> usize {
    assert!(
        verify(v, s, now).is_ok(),
        "the unmutated request must verify: {s:?}"
    );
    let mut tried = 0;
    for (what, m) in s.mutations() {
        if m.parts().is_none() {
            continue; // not sendable
        }
        tried += 1;
        assert!(
            verify(v, &m, now).is_err(),
            "mutation of {what} still verified: {m:?}"
        );
    }
    tried
}

// ---------------------------------------------------------------- Verus

fn verus_cases() -> Vec<(Value, &'static str)> {
    let c = |method: &str, uri: &str, body: &str, amz_date: &str| json!({"method": method, "uri": uri, "body": body, "key": VERUS_KEY, "secret": VERUS_SECRET, "amz_date": amz_date});
    vec![
        (
            c("POST", "/verus/classify", r#"{"ipAddress": "8.8.8.8"}"#, T0),
            "seed request",
        ),
        (
            c(
                "POST",
                "/verus/classify",
                r#"{"ipAddress": "2001:4860:4860::8888"}"#,
                "20240229T235959Z",
            ),
            "ipv6, leap day",
        ),
        (
            c("GET", "/verus/status", "", "20251231T000000Z"),
            "empty body",
        ),
        (
            c(
                "POST",
                "/v1/a%20b/c~d",
                r#"{"note": "héllo wörld"}"#,
                "20260101T120000Z",
            ),
            "encoded path, UTF-8 body",
        ),
        (
            c("PUT", "/verus/classify", &"x".repeat(5000), T0),
            "5 KB body",
        ),
    ]
}

fn verus_sample(case: &Value, auth: &str) -> Sample {
    Sample {
        method: case["method"].as_str().unwrap().into(),
        target: case["uri"].as_str().unwrap().into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            (
                "X-Amz-Date".into(),
                case["amz_date"].as_str().unwrap().into(),
            ),
            ("Authorization".into(), auth.into()),
        ],
        body: case["body"].as_str().unwrap().as_bytes().to_vec(),
    }
}

#[test]
fn verus_reference_signs_and_rust_verifies() {
    let cases = verus_cases();
    let input = Value::Array(cases.iter().map(|(c, _)| c.clone()).collect());
    let out = run_peer("verus_ref.py", &input);
    let v = verus_verifier();
    for ((case, what), res) in cases.iter().zip(out.as_array().unwrap()) {
        let s = verus_sample(case, res["authorization"].as_str().unwrap());
        let now = parse_amz_date(case["amz_date"].as_str().unwrap().as_bytes()).unwrap()
            + Duration::from_secs(42);
        assert_eq!(verify(&v, &s, now).as_deref(), Ok(VERUS_KEY), "{what}");
        let mut wrong = s.clone();
        wrong.body.push(b' ');
        assert_eq!(
            verify(&v, &wrong, now),
            Err(SignatureError::Mismatch),
            "{what}"
        );
    }
}

#[test]
fn rust_signer_matches_the_verus_reference_byte_for_byte() {
    let cases = verus_cases();
    let input = Value::Array(cases.iter().map(|(c, _)| c.clone()).collect());
    let out = run_peer("verus_ref.py", &input);
    let signer = Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET);
    for ((case, what), res) in cases.iter().zip(out.as_array().unwrap()) {
        let now = parse_amz_date(case["amz_date"].as_str().unwrap().as_bytes()).unwrap();
        let mut req = Request::builder()
            .method(case["method"].as_str().unwrap())
            .uri(case["uri"].as_str().unwrap())
            .header("content-type", "application/json")
            .body(case["body"].as_str().unwrap().as_bytes().to_vec())
            .unwrap();
        signer.sign(&mut req, now).unwrap();
        assert_eq!(
            req.headers()["authorization"],
            res["authorization"].as_str().unwrap(),
            "{what}"
        );
        assert_eq!(
            req.headers()["x-amz-date"],
            case["amz_date"].as_str().unwrap(),
            "{what}"
        );
        // and the canonical request is the reference's, byte for byte
        let (parts, body) = req.into_parts();
        let cr = tower_shield::signature::canonical_request(
            &Dialect::verus(),
            &tower_shield::signature::CanonicalParts {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                signed_headers: "x-amz-date",
                payload_hash: &payload_hash(&body),
                presigned: false,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(cr).unwrap(),
            res["canonical_request"].as_str().unwrap(),
            "{what}"
        );
    }
}

#[test]
fn every_one_byte_mutation_of_a_verus_request_fails() {
    let (case, _) = verus_cases().remove(0);
    let out = run_peer("verus_ref.py", &json!([case.clone()]));
    let s = verus_sample(&case, out[0]["authorization"].as_str().unwrap());
    let tried = assert_all_mutations_fail(&verus_verifier(), &s, t0());
    assert!(tried > 30, "{tried}");
}

#[tokio::test]
async fn verus_reference_request_through_an_axum_router() {
    let (case, _) = verus_cases().remove(0);
    let out = run_peer("verus_ref.py", &json!([case.clone()]));
    let s = verus_sample(&case, out[0]["authorization"].as_str().unwrap());
    let app = echo_router(verus_layer(t0()));
    let res = app.oneshot(s.request()).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(
        body,
        format!("{VERUS_KEY}|signature|{}", case["body"].as_str().unwrap())
    );
}

/// The seed's own Python client, unchanged but for the URL, against a live server
/// on the system clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_python_client_unchanged_is_accepted() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route(
            "/verus/classify",
            post(
                |Extension(p): Extension<Principal>, body: String| async move {
                    assert_eq!(&*p.id, VERUS_KEY);
                    assert_eq!(body, r#"{"ipAddress": "8.8.8.8"}"#);
                    axum::Json(json!({"human": false, "certainty": 100}))
                },
            ),
        )
        .layer(SignatureLayer::new(verus_verifier()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let script = format!("{}/tests/peers/verus_ref.py", env!("CARGO_MANIFEST_DIR"));
    let url = format!("http://{addr}/verus/classify");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg("--seed-client")
            .arg(url)
            .output()
            .unwrap_or_else(|e| panic!("python3 is required by the signature peer tests ({e})"))
    })
    .await
    .unwrap();
    server.abort();
    assert!(
        out.status.success(),
        "seed client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Human: False, Certainty: 100%"
    );
}

// ---------------------------------------------------------------- AWS / botocore

fn boto_case(
    method: &str,
    url: &str,
    headers: Value,
    body: &str,
    mode: &str,
    expires: u64,
) -> Value {
    json!({"method": method, "url": url, "headers": headers, "body": body, "key": AWS_KEY, "secret": AWS_SECRET,
           "region": "us-east-1", "service": "execute-api", "mode": mode, "expires": expires, "timestamp": T0})
}

fn botocore_cases() -> Vec<(Value, &'static str)> {
    let body = r#"{"ipAddress": "203.0.113.7", "tags": ["a", "b"]}"#;
    let sha = String::from_utf8(payload_hash(body.as_bytes()).to_vec()).unwrap();
    vec![
        (
            boto_case(
                "GET",
                "https://api.example.com/v1/items/a%20b?b=2&a=1&a=0&empty=&q=hello%20world",
                json!([["X-Custom", "  spaced   value  "]]),
                "",
                "header",
                0,
            ),
            "GET with a query string",
        ),
        (
            boto_case(
                "POST",
                "https://api.example.com/v1/things",
                json!([
                    ["Content-Type", "application/json"],
                    ["X-Amz-Meta-Owner", "team a"],
                    ["X-Trace", "abc-123"]
                ]),
                body,
                "header",
                0,
            ),
            "POST with a body and several signed headers",
        ),
        (
            boto_case(
                "PUT",
                "https://api.example.com/v1/things/7",
                json!([
                    ["Content-Type", "application/json"],
                    ["X-Amz-Content-SHA256", sha]
                ]),
                body,
                "header",
                0,
            ),
            "PUT with a signed x-amz-content-sha256",
        ),
        (
            boto_case(
                "GET",
                "https://api.example.com/v1/report?format=csv&limit=10",
                json!([]),
                "",
                "presign",
                3600,
            ),
            "presigned GET with a query",
        ),
        (
            boto_case(
                "GET",
                "https://api.example.com/download/file.txt",
                json!([]),
                "",
                "presign",
                604_800,
            ),
            "presigned GET, 7 days",
        ),
    ]
}

#[test]
fn botocore_signed_requests_verify_and_every_mutation_fails() {
    let cases = botocore_cases();
    let out = run_peer(
        "botocore_sign.py",
        &Value::Array(cases.iter().map(|(c, _)| c.clone()).collect()),
    );
    let v = aws_verifier();
    let mut total = 0;
    for ((_, what), res) in cases.iter().zip(out.as_array().unwrap()) {
        let s = Sample::from_peer(res);
        assert_eq!(
            verify(&v, &s, t0() + Duration::from_secs(5)).as_deref(),
            Ok(AWS_KEY),
            "{what}: {s:?}"
        );
        let tried = assert_all_mutations_fail(&v, &s, t0() + Duration::from_secs(5));
        assert!(tried > 20, "{what}: only {tried} mutations");
        total += tried;
    }
    assert!(total > 500, "{total}");
}

#[test]
fn botocore_s3_signer_verifies_with_the_s3_dialect() {
    let mut case = boto_case(
        "PUT",
        "http://bucket.s3.amazonaws.com/photos/key%20with%20space.txt",
        json!([["Content-Type", "text/plain"]]),
        "hello s3",
        "s3-header",
        0,
    );
    case["service"] = json!("s3");
    let out = run_peer("botocore_sign.py", &json!([case]));
    let s = Sample::from_peer(&out[0]);
    let v = Verifier::new(
        Dialect::aws_s3("us-east-1").unwrap(),
        StaticKeys::new().key(AWS_KEY, AWS_SECRET).unwrap(),
    );
    assert_eq!(verify(&v, &s, t0()).as_deref(), Ok(AWS_KEY), "{s:?}");
    // The body is checked against the signed x-amz-content-sha256.
    let mut m = s.clone();
    m.body[0] ^= 1;
    assert_eq!(verify(&v, &m, t0()), Err(SignatureError::ContentMismatch));
}

#[test]
fn rust_aws_signer_matches_botocore() {
    let (case, _) = botocore_cases().remove(1);
    let out = run_peer("botocore_sign.py", &json!([case]));
    let boto = Sample::from_peer(&out[0]);
    let signer = Signer::new(
        Dialect::aws("us-east-1", "execute-api").unwrap(),
        AWS_KEY,
        AWS_SECRET,
    )
    .sign_header(HeaderName::from_static("content-type"))
    .sign_header(HeaderName::from_static("x-amz-meta-owner"))
    .sign_header(HeaderName::from_static("x-trace"));
    let mut req = Request::post("https://api.example.com/v1/things")
        .header("content-type", "application/json")
        .header("x-amz-meta-owner", "team a")
        .header("x-trace", "abc-123")
        .body(boto.body.clone())
        .unwrap();
    signer.sign(&mut req, t0()).unwrap();
    assert_eq!(
        req.headers()[AUTHORIZATION],
        boto.header("authorization").unwrap()
    );
    assert_eq!(req.headers()[HOST], "api.example.com");
}

#[test]
fn presigned_expiry_rules() {
    let v = aws_verifier();
    let out = run_peer(
        "botocore_sign.py",
        &json!([
            boto_case(
                "GET",
                "https://api.example.com/x",
                json!([]),
                "",
                "presign",
                600
            ),
            boto_case(
                "GET",
                "https://api.example.com/x",
                json!([]),
                "",
                "presign",
                604_801
            ),
        ]),
    );
    let ok = Sample::from_peer(&out[0]);
    assert!(verify(&v, &ok, t0() + Duration::from_secs(600)).is_ok());
    assert_eq!(
        verify(&v, &ok, t0() + Duration::from_secs(601)),
        Err(SignatureError::Expired)
    );
    assert_eq!(
        verify(&v, &ok, t0() - Duration::from_secs(301)),
        Err(SignatureError::Expired)
    );
    let too_long = Sample::from_peer(&out[1]);
    assert!(matches!(
        verify(&v, &too_long, t0()),
        Err(SignatureError::Malformed(_))
    ));
    // Header auth and a presigned query at once: malformed.
    let mut both = ok.clone();
    both.headers
        .push(("Authorization".into(), "AWS4-HMAC-SHA256 x".into()));
    assert!(matches!(
        verify(&v, &both, t0()),
        Err(SignatureError::Malformed(_))
    ));
    // The Verus dialect does not take presigned URLs at all.
    assert_eq!(
        verify(&verus_verifier(), &ok, t0()),
        Err(SignatureError::Missing)
    );
}

#[test]
fn rust_presigned_urls_verify() {
    let signer = Signer::new(
        Dialect::aws("us-east-1", "execute-api").unwrap(),
        AWS_KEY,
        AWS_SECRET,
    );
    let (mut parts, ()) = Request::get("https://api.example.com/v1/report?format=csv&x=a%20b")
        .body(())
        .unwrap()
        .into_parts();
    signer
        .presign(&mut parts, b"", Duration::from_secs(900), t0())
        .unwrap();
    // As a server sees it: origin-form target plus a Host header.
    let target = parts.uri.path_and_query().unwrap().as_str().to_owned();
    parts.uri = target.parse().unwrap();
    assert!(verify(&aws_verifier(), &sample_of(&parts, b""), t0()).is_ok());
    assert!(
        signer
            .presign(&mut parts, b"", Duration::from_secs(604_801), t0())
            .is_err()
    );
    let verus = Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET);
    assert!(
        verus
            .presign(&mut parts, b"", Duration::from_secs(60), t0())
            .is_err()
    );
}

fn sample_of(parts: &http::request::Parts, body: &[u8]) -> Sample {
    Sample {
        method: parts.method.to_string(),
        target: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

// ---------------------------------------------------------------- the layer

fn verus_layer(now: Duration) -> SignatureLayer {
    SignatureLayer::new(verus_verifier()).clock(Arc::new(ManualClock::new(now)))
}

/// Answers `key|kind|body` so tests see the Principal and the body the layer passed on.
fn echo_router<L>(layer: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request<Body>>>::Response: axum::response::IntoResponse + 'static,
    <L::Service as tower::Service<Request<Body>>>::Future: Send + 'static,
{
    async fn echo(Extension(p): Extension<Principal>, body: String) -> String {
        let kind = if p.kind == PrincipalKind::Signature {
            "signature"
        } else {
            "other"
        };
        format!("{}|{kind}|{body}", p.id)
    }
    Router::new()
        .route("/verus/classify", post(echo).put(echo))
        .route("/verus/status", get(echo))
        .layer(layer)
}

fn signed_verus(body: &str, at: Duration) -> Request<Body> {
    let mut req = Request::post("/verus/classify")
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap();
    Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET)
        .sign(&mut req, at)
        .unwrap();
    req.map(Body::from)
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, Option<RejectionKind>, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let kind = res.extensions().get::<Rejection>().map(Rejection::kind);
    let www = res.headers().get("www-authenticate").cloned();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(www.unwrap(), "HMAC-SHA256");
    }
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body)
        .unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
    (status, kind, json)
}

#[tokio::test]
async fn window_boundaries() {
    let clock = ManualClock::new(t0());
    let app = echo_router(SignatureLayer::new(verus_verifier()).clock(Arc::new(clock.clone())));
    for (offset, ok) in [
        (0i64, true),
        (300, true),
        (-300, true),
        (301, false),
        (-301, false),
        (86_400, false),
    ] {
        let at = if offset >= 0 {
            t0() + Duration::from_secs(offset as u64)
        } else {
            t0() - Duration::from_secs((-offset) as u64)
        };
        clock.set(at);
        let (status, kind, _) = call(&app, signed_verus("{}", t0())).await;
        if ok {
            assert_eq!(status, 200, "server clock at {offset:+} s");
        } else {
            assert_eq!(
                (status, kind),
                (
                    StatusCode::UNAUTHORIZED,
                    Some(RejectionKind::SignatureExpired)
                ),
                "{offset:+}"
            );
        }
    }
    // Sub-second: the window is inclusive to the nanosecond.
    clock.set(t0() + Duration::from_secs(300) + Duration::from_nanos(1));
    assert_eq!(call(&app, signed_verus("{}", t0())).await.0, 401);
}

#[tokio::test]
async fn duplicate_authorization_or_date_is_malformed() {
    let app = echo_router(verus_layer(t0()));
    let mut req = signed_verus("{}", t0());
    let auth = req.headers()[AUTHORIZATION].clone();
    req.headers_mut().append(AUTHORIZATION, auth);
    let (status, kind, body) = call(&app, req).await;
    assert_eq!(
        (status, kind),
        (StatusCode::BAD_REQUEST, Some(RejectionKind::InvalidRequest))
    );
    assert_eq!(body["error"]["code"], "INVALID_REQUEST");

    let mut req = signed_verus("{}", t0());
    req.headers_mut()
        .append("x-amz-date", HeaderValue::from_static(T0));
    let (status, kind, _) = call(&app, req).await;
    assert_eq!(
        (status, kind),
        (StatusCode::BAD_REQUEST, Some(RejectionKind::InvalidRequest))
    );
}

#[tokio::test]
async fn unknown_key_and_bad_signature_look_the_same() {
    let app = echo_router(verus_layer(t0()));
    let mut unknown = Request::post("/verus/classify")
        .body(b"{}".to_vec())
        .unwrap();
    Signer::new(Dialect::verus(), "alk_unknown", VERUS_SECRET)
        .sign(&mut unknown, t0())
        .unwrap();
    let mut wrong = Request::post("/verus/classify")
        .body(b"{}".to_vec())
        .unwrap();
    Signer::new(Dialect::verus(), VERUS_KEY, "als_wrong")
        .sign(&mut wrong, t0())
        .unwrap();
    let a = call(&app, unknown.map(Body::from)).await;
    let b = call(&app, wrong.map(Body::from)).await;
    assert_eq!(
        (a.0, a.1),
        (
            StatusCode::UNAUTHORIZED,
            Some(RejectionKind::InvalidSignature)
        )
    );
    assert_eq!((a.0, a.1), (b.0, b.1));
    assert_eq!(a.2["error"]["code"], b.2["error"]["code"]);
    assert_eq!(a.2["error"]["message"], b.2["error"]["message"]);
    // Missing credentials: 401 too.
    let (status, kind, _) = call(
        &app,
        Request::post("/verus/classify")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::UNAUTHORIZED,
            Some(RejectionKind::InvalidSignature)
        )
    );
}

#[tokio::test]
async fn body_over_the_limit_is_413_without_reading_the_rest() {
    let layer = SignatureLayer::new(verus_verifier().body_limit(4096))
        .clock(Arc::new(ManualClock::new(t0())));
    let app = echo_router(layer);
    // Declared length over the limit: refused before any read.
    let (status, kind, _) = call(&app, signed_verus(&"x".repeat(5000), t0())).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(RejectionKind::PayloadTooLarge)
        )
    );
    // Exactly at the limit: fine.
    assert_eq!(
        call(&app, signed_verus(&"x".repeat(4096), t0())).await.0,
        200
    );
    // A stream of unknown length: stops at the first chunk past the limit.
    let polled = Arc::new(AtomicUsize::new(0));
    let mut req = signed_verus("{}", t0());
    *req.body_mut() = Body::new(Endless(polled.clone()));
    let (status, _, _) = call(&app, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        polled.load(Ordering::SeqCst),
        5,
        "4 x 1 KiB fit, the 5th is refused, nothing more is read"
    );
}

/// A body of endless 1 KiB chunks that counts how often it is polled.
struct Endless(Arc<AtomicUsize>);

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 1024])))))
    }
}

#[tokio::test]
async fn replay_protection_accepts_each_signed_request_once() {
    let layer = verus_layer(t0()).replay_protection(MemorySingleUseStore::new());
    let app = echo_router(layer);
    assert_eq!(call(&app, signed_verus("{}", t0())).await.0, 200);
    let (status, kind, body) = call(&app, signed_verus("{}", t0())).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::UNAUTHORIZED,
            Some(RejectionKind::SignatureReplayed)
        )
    );
    assert_eq!(body["error"]["message"], "signed request was already used");
    assert_eq!(body["error"]["code"], "SIGNATURE_REPLAYED");
    // Signed a second later: a new signature, accepted.
    assert_eq!(
        call(&app, signed_verus("{}", t0() + Duration::from_secs(1)))
            .await
            .0,
        200
    );

    // A store that cannot answer: fail closed with 503.
    let app = echo_router(verus_layer(t0()).replay_protection(Broken));
    let (status, kind, _) = call(&app, signed_verus("{}", t0())).await;
    assert_eq!(
        (status, kind),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(RejectionKind::StoreUnavailable)
        )
    );
}

struct Broken;

impl SingleUseStore for Broken {
    type Future = std::future::Ready<Result<bool, StoreError>>;
    fn insert_if_absent(&self, _: &str, _: Duration) -> Self::Future {
        std::future::ready(Err(StoreError::Timeout))
    }
}

#[tokio::test]
async fn unsigned_payload_only_when_enabled_and_signed_hash_is_checked() {
    let unsigned = || {
        let mut req = Request::post("/verus/classify")
            .body(b"{}".to_vec())
            .unwrap();
        Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET)
            .unsigned_payload(true)
            .sign(&mut req, t0())
            .unwrap();
        req.map(Body::from)
    };
    let app = echo_router(verus_layer(t0()));
    let (status, _, body) = call(&app, unsigned()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "UNSIGNED-PAYLOAD is not accepted");
    let lax = SignatureLayer::new(verus_verifier().insecure_allow_unsigned_payload(true))
        .clock(Arc::new(ManualClock::new(t0())));
    assert_eq!(call(&echo_router(lax), unsigned()).await.0, 200);

    // A signed x-amz-content-sha256 is still checked against the body.
    let mut req = Request::post("/verus/classify")
        .body(b"{\"a\":1}".to_vec())
        .unwrap();
    Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET)
        .content_sha256(true)
        .sign(&mut req, t0())
        .unwrap();
    assert_eq!(call(&app, req.clone().map(Body::from)).await.0, 200);
    let tampered = req.map(|_| Body::from("{\"a\":2}"));
    let (status, _, body) = call(&app, tampered).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"]["message"],
        "body does not match x-amz-content-sha256"
    );
}

#[tokio::test]
async fn required_host_policy() {
    let strict = SignatureLayer::new(verus_verifier().require_signed_header("Host").unwrap())
        .clock(Arc::new(ManualClock::new(t0())));
    let app = echo_router(strict);
    // The seed's clients sign only x-amz-date: refused by this policy.
    assert_eq!(call(&app, signed_verus("{}", t0())).await.0, 401);
    let mut req = Request::post("/verus/classify")
        .header("host", "api.example.com")
        .body(b"{}".to_vec())
        .unwrap();
    Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET)
        .sign_header(HOST)
        .sign(&mut req, t0())
        .unwrap();
    assert!(
        req.headers()[AUTHORIZATION]
            .to_str()
            .unwrap()
            .contains("SignedHeaders=host;x-amz-date,")
    );
    assert_eq!(call(&app, req.clone().map(Body::from)).await.0, 200);
    // Another host: the signature no longer matches.
    req.headers_mut()
        .insert(HOST, HeaderValue::from_static("evil.example.com"));
    assert_eq!(call(&app, req.map(Body::from)).await.0, 401);
}

#[tokio::test]
async fn verifies_under_plain_tower_with_any_body_type() {
    use tower::{ServiceBuilder, service_fn};
    // A `String` response body: the layer answers in `ShieldBody<String>`.
    let svc = ServiceBuilder::new()
        .layer(verus_layer(t0()).wrapped_body())
        .service(service_fn(
            |req: Request<tower_shield::signature::SignedBody>| async move {
                let id = req.extensions().get::<Principal>().unwrap().id.clone();
                Ok::<_, Infallible>(Response::new(id.to_string()))
            },
        ));
    let req = signed_verus("{}", t0());
    let (parts, _) = req.into_parts();
    let req = Request::from_parts(parts, http_body_util::Full::new(Bytes::from_static(b"{}")));
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn forward_body_chooses_the_inner_body_type() {
    use tower::{ServiceBuilder, service_fn};
    let svc = ServiceBuilder::new()
        .layer(verus_layer(t0()).forward_body::<Body>())
        .service(service_fn(|req: Request<Body>| async move {
            let body = axum::body::to_bytes(req.into_body(), 1024).await.unwrap();
            Ok::<_, Infallible>(Response::new(Body::from(body)))
        }));
    let res = svc
        .oneshot(signed_verus(r#"{"k": 1}"#, t0()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(Body::new(res.into_body()), 1024)
        .await
        .unwrap();
    assert_eq!(body, r#"{"k": 1}"#);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever the Authorization value, the layer never panics and answers a 4xx.
    #[test]
    fn malformed_authorization_is_always_4xx(
        value in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "HMAC-SHA256 [ -~]{0,200}".prop_map(String::into_bytes),
            "HMAC-SHA256 Credential=[ -~]{0,40}/[0-9]{0,9}/verus/aws4_request, SignedHeaders=[a-z;-]{0,30}, Signature=[0-9a-fA-F]{60,66}".prop_map(String::into_bytes),
        ],
        date in prop_oneof![Just(T0.to_owned()), "[0-9TZ]{0,20}"],
    ) {
        let Ok(value) = HeaderValue::from_bytes(&value) else { return Ok(()) };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let app = echo_router(verus_layer(t0()));
        let mut req = Request::post("/verus/classify").body(Body::from("{}")).unwrap();
        req.headers_mut().insert(AUTHORIZATION, value);
        if let Ok(d) = HeaderValue::from_str(&date) {
            req.headers_mut().insert("x-amz-date", d);
        }
        let res = rt.block_on(app.oneshot(req)).unwrap();
        prop_assert!(res.status().is_client_error(), "{}", res.status());
        prop_assert!(res.extensions().get::<Rejection>().is_some());
    }
}

/// `SignatureLayer::inner_body`: a verified request reaches the app and its answer comes
/// back in the app's own body type (axum's `Body`, pinned on the service); a refusal too.
#[tokio::test]
async fn inner_body_answers_in_the_app_body_type() {
    use tower::Layer;
    let svc = verus_layer(t0())
        .forward_body::<Body>()
        .inner_body()
        .layer(tower::service_fn(|req: Request<Body>| async move {
            let body = axum::body::to_bytes(req.into_body(), 1 << 16)
                .await
                .unwrap();
            Ok::<_, Infallible>(http::Response::new(Body::from(body)))
        }));
    let res: http::Response<Body> = svc
        .clone()
        .oneshot(signed_verus(r#"{"ip":"192.0.2.1"}"#, t0()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"ip":"192.0.2.1"}"#);
    let mut forged = signed_verus(r#"{"ip":"192.0.2.1"}"#, t0());
    *forged.body_mut() = Body::from(r#"{"ip":"192.0.2.2"}"#);
    let res: http::Response<Body> = svc.oneshot(forged).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "HMAC-SHA256");
    assert_eq!(
        res.extensions().get::<Rejection>().map(Rejection::kind),
        Some(RejectionKind::InvalidSignature),
        "a changed body changes its hash, so the signature does not match"
    );
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_SIGNATURE");
    // Under a router as well.
    let app = echo_router(verus_layer(t0()).inner_body());
    let (status, _, v) = call(&app, signed_verus("{}", t0())).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::OK,
            Value::String(format!("{VERUS_KEY}|signature|{{}}"))
        )
    );
}

/// Issue 17, item 2: the identical signed request was accepted again and again. Two
/// stacks, each on its own `RedisStore` connection to the real Redis (a fleet of two):
/// of 64 concurrent copies of one signed request, exactly one is served; every other is
/// 401 `SIGNATURE_REPLAYED`.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_replays_across_two_redis_instances() {
    use tower_shield::redis::{FailurePolicy, RedisStore};
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!(
        "ts-replay-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut apps = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::builder(&url)
            .prefix(prefix.clone())
            .timeout(Duration::from_secs(2))
            .failure_policy(FailurePolicy::FailClosed)
            .connect()
            .await
            .unwrap_or_else(|e| {
                panic!("Redis is required at {url} ({e}); start redis-server or set REDIS_URL")
            });
        apps.push(echo_router(verus_layer(t0()).replay_protection(store)));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let app = apps[i % 2].clone();
        tasks.spawn(async move { call(&app, signed_verus("{\"ip\":\"1.2.3.4\"}", t0())).await });
    }
    let (mut served, mut replayed) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            (StatusCode::OK, _, _) => served += 1,
            (StatusCode::UNAUTHORIZED, Some(RejectionKind::SignatureReplayed), _) => replayed += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((served, replayed), (1, 63));
}

/// The memory store: the same, on one store shared by two stacks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_64_concurrent_replays_on_one_memory_store() {
    let store = Arc::new(MemorySingleUseStore::new());
    let apps = [
        echo_router(verus_layer(t0()).replay_protection(store.clone())),
        echo_router(verus_layer(t0()).replay_protection(store)),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let app = apps[i % 2].clone();
        tasks.spawn(async move { call(&app, signed_verus("{}", t0())).await.0 });
    }
    let mut served = 0;
    while let Some(r) = tasks.join_next().await {
        served += usize::from(r.unwrap() == StatusCode::OK);
    }
    assert_eq!(served, 1);
}

/// A body sent as the given frames, one per poll.
struct Frames(std::collections::VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test]
async fn a_body_in_several_frames_is_hashed_as_it_arrives() {
    // The body is hashed frame by frame while it is read: a signed body cut into frames
    // of any sizes verifies and reaches the handler whole; one byte changed in a later
    // frame does not verify.
    let app = echo_router(verus_layer(t0()));
    let text: String = (0..3000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let framed = |cuts: &[usize], flip: Option<usize>| {
        let mut bytes = text.clone().into_bytes();
        if let Some(i) = flip {
            bytes[i] ^= 1;
        }
        let mut frames = std::collections::VecDeque::new();
        let mut at = 0;
        for &c in cuts.iter().chain([bytes.len()].iter()) {
            frames.push_back(Bytes::copy_from_slice(&bytes[at..c]));
            at = c;
        }
        let mut req = signed_verus(&text, t0());
        *req.body_mut() = Body::new(Frames(frames));
        req
    };
    for cuts in [
        &[][..],
        &[1][..],
        &[1000, 1001, 2048][..],
        &[10, 20, 30, 2999][..],
    ] {
        let (status, _, body) = call(&app, framed(cuts, None)).await;
        assert_eq!(status, 200, "cuts {cuts:?}");
        assert_eq!(
            body,
            Value::String(format!("{VERUS_KEY}|signature|{text}")),
            "cuts {cuts:?}"
        );
        let (status, kind, _) = call(&app, framed(cuts, Some(2500))).await;
        assert_eq!(
            (status, kind),
            (
                StatusCode::UNAUTHORIZED,
                Some(RejectionKind::InvalidSignature)
            ),
            "cuts {cuts:?}"
        );
    }
}

/// A signature layer on a nested router checks the path the client sent and signed
/// (axum strips the nest's prefix from the URI the inner router sees), and a request
/// signed for the stripped path is refused.
#[tokio::test]
async fn a_layer_on_a_nested_router_checks_the_path_the_client_signed() {
    let partner = Router::new()
        .route(
            "/classify",
            post(|Extension(p): Extension<Principal>| async move { p.id.to_string() }),
        )
        .route_layer(verus_layer(t0()));
    let app = Router::new().nest("/verus", partner);
    let sign = |path: &str| {
        let mut req = Request::post(path)
            .header("host", "localhost")
            .body(b"{}".to_vec())
            .unwrap();
        Signer::new(Dialect::verus(), VERUS_KEY, VERUS_SECRET)
            .sign(&mut req, t0())
            .unwrap();
        req.map(Body::from)
    };
    let (status, _, body) = call(&app, sign("/verus/classify")).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, Value::String(VERUS_KEY.into()))
    );
    let mut stripped = sign("/classify");
    *stripped.uri_mut() = Uri::from_static("/verus/classify");
    let (status, kind, _) = call(&app, stripped).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(kind, Some(RejectionKind::InvalidSignature));
}
