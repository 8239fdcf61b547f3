//! JWT integration tests: PyJWT as a peer (tokens it mints verify here, tokens minted
//! here verify there through our JWKS), and a JWKS endpoint on 127.0.0.1 driven through
//! lazy load, unknown-kid refresh, rotation, outage and recovery.
#![cfg(feature = "jwt")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_shield::auth::{
    JwtAlgorithm, JwtClaims, JwtError, JwtLayer, JwtSigner, KeyRing, RemoteJwks, SigningKey,
    VerifyingKey,
};
use tower_shield::core::{Clock, ManualClock, Rejection, RejectionKind, SystemClock};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intel/jwt");
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pyjwt_peer.py");

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap()
}

fn pyjwt(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(PEER)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 not runnable ({e}): install Python 3 and `pip install pyjwt cryptography`"
            )
        });
    assert!(
        out.status.success(),
        "the PyJWT peer failed (is it installed? `pip install pyjwt cryptography`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn now() -> u64 {
    SystemClock.now().as_secs()
}

#[test]
fn pyjwt_minted_tokens_verify() {
    let ring = KeyRing::of([
        VerifyingKey::rsa_pem("rsa-1", &pem("rsa1.pub.pem")).unwrap(),
        VerifyingKey::ec_pem("ec-1", &pem("ec1.pub.pem")).unwrap(),
        VerifyingKey::ed_pem("ed-1", &pem("ed1.pub.pem")).unwrap(),
    ])
    .unwrap();
    let layer = JwtLayer::new(ring)
        .algorithms([
            JwtAlgorithm::RS256,
            JwtAlgorithm::ES256,
            JwtAlgorithm::EdDSA,
        ])
        .unwrap()
        .issuer("https://issuer.example")
        .audience("api");
    let claims = json!({
        "sub": "user-42", "iss": "https://issuer.example", "aud": ["api"],
        "exp": now() + 300, "nbf": now() - 5, "iat": now(), "scope": "read write",
    })
    .to_string();
    for (alg, key, kid) in [
        ("RS256", "rsa1.pem", "rsa-1"),
        ("ES256", "ec1.pem", "ec-1"),
        ("EdDSA", "ed1.pem", "ed-1"),
    ] {
        let token = pyjwt(&["mint", alg, &format!("{DATA}/{key}"), kid, &claims]);
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let c = layer
            .authenticate(&h, &"/".parse().unwrap())
            .unwrap_or_else(|e| panic!("{alg}: {e}"))
            .unwrap();
        assert_eq!(c.sub.as_deref(), Some("user-42"), "{alg}");
        assert!(c.has_scope("write"));
        assert_eq!(c.kid.as_ref(), kid);
    }
    // Expired by PyJWT's hand, beyond the leeway.
    let expired =
        json!({"sub": "u", "iss": "https://issuer.example", "aud": "api", "exp": now() - 120})
            .to_string();
    let token = pyjwt(&[
        "mint",
        "RS256",
        &format!("{DATA}/rsa1.pem"),
        "rsa-1",
        &expired,
    ]);
    let mut h = http::HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    assert_eq!(
        layer.authenticate(&h, &"/".parse().unwrap()),
        Err(JwtError::Expired)
    );
    // A kid naming a key of another algorithm.
    let token = pyjwt(&[
        "mint",
        "ES256",
        &format!("{DATA}/ec1.pem"),
        "rsa-1",
        &claims,
    ]);
    h.insert("authorization", format!("Bearer {token}").parse().unwrap());
    assert_eq!(
        layer.authenticate(&h, &"/".parse().unwrap()),
        Err(JwtError::KeyAlgorithmMismatch)
    );
}

#[test]
fn pyjwt_verifies_our_tokens_through_our_jwks() {
    let signer = JwtSigner::new(SigningKey::rsa_pem("k-old", &pem("rsa1.pem")).unwrap())
        .unwrap()
        .audience("api");
    let old = signer.sign_for("alice", &["read"]).unwrap();
    signer
        .rotate(SigningKey::ed_pem("k-new", &pem("ed1.pem")).unwrap())
        .unwrap();
    let new = signer.sign_for("bob", &[]).unwrap();
    let jwks = signer.jwks().to_string();
    for (token, sub) in [(old, "alice"), (new, "bob")] {
        let claims: Value =
            serde_json::from_str(&pyjwt(&["verify", &jwks, &token, "api"])).unwrap();
        assert_eq!(claims["sub"], sub);
    }
}

// ---------------------------------------------------------------- JWKS endpoint

#[derive(Clone)]
struct Jwks {
    up: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    doc: Arc<Mutex<Value>>,
    delay: Duration,
}

async fn jwks_handler(State(s): State<Jwks>) -> axum::response::Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(s.delay).await;
    if !s.up.load(Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, "down").into_response();
    }
    let doc = s.doc.lock().unwrap().to_string();
    (
        [
            ("content-type", "application/json"),
            ("cache-control", "public, max-age=120"),
        ],
        doc,
    )
        .into_response()
}

async fn jwks_server(doc: Value, delay: Duration) -> (SocketAddr, Jwks) {
    let state = Jwks {
        up: Arc::new(AtomicBool::new(true)),
        hits: Arc::new(AtomicUsize::new(0)),
        doc: Arc::new(Mutex::new(doc)),
        delay,
    };
    let app = Router::new()
        .route("/.well-known/jwks.json", get(jwks_handler))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, state)
}

struct Rig {
    clock: ManualClock,
    server: Jwks,
    svc: tower::util::BoxCloneSyncService<
        Request<()>,
        Response<tower_shield::core::ShieldBody<String>>,
        Infallible,
    >,
}

impl Rig {
    async fn new(doc: Value, delay: Duration) -> Self {
        let (addr, server) = jwks_server(doc, delay).await;
        let clock = ManualClock::new(SystemClock.now());
        let jwks = RemoteJwks::http(&format!("http://{addr}/.well-known/jwks.json"))
            .unwrap()
            .clock(Arc::new(clock.clone()));
        let svc = ServiceBuilder::new()
            .layer(
                JwtLayer::jwks(jwks)
                    .algorithms([JwtAlgorithm::RS256, JwtAlgorithm::EdDSA])
                    .unwrap()
                    .clock(Arc::new(clock.clone()))
                    .wrapped_body(),
            )
            .service(service_fn(|req: Request<()>| async move {
                let c = req.extensions().get::<JwtClaims>().cloned().unwrap();
                Ok::<_, Infallible>(Response::new(c.kid.to_string()))
            }));
        Self {
            clock,
            server,
            svc: tower::util::BoxCloneSyncService::new(svc),
        }
    }

    async fn call(&self, token: &str) -> (StatusCode, Option<RejectionKind>) {
        let req = Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap();
        let res = self.svc.clone().oneshot(req).await.unwrap();
        (
            res.status(),
            res.extensions().get::<Rejection>().map(|r| r.kind()),
        )
    }

    fn hits(&self) -> usize {
        self.server.hits.load(Ordering::SeqCst)
    }
}

fn signer(kid: &str, file: &str) -> JwtSigner {
    let key = if file.starts_with("ed") {
        SigningKey::ed_pem(kid, &pem(file)).unwrap()
    } else {
        SigningKey::rsa_pem(kid, &pem(file)).unwrap()
    };
    JwtSigner::new(key).unwrap()
}

#[tokio::test]
async fn jwks_lazy_load_unknown_kid_and_rotation() {
    let a = signer("a", "rsa1.pem");
    let b = signer("b", "ed1.pem");
    let rig = Rig::new(a.jwks(), Duration::ZERO).await;
    assert_eq!(
        rig.hits(),
        0,
        "lazy: nothing fetched before a token needs a key"
    );
    let ta = a.sign_for("u", &[]).unwrap();
    assert_eq!(rig.call(&ta).await.0, StatusCode::OK);
    assert_eq!(rig.call(&ta).await.0, StatusCode::OK);
    assert_eq!(rig.hits(), 1, "cached");

    // An unknown kid: one refresh, then 401; a second one within 10 s fetches nothing.
    let tb = b.sign_for("u", &[]).unwrap();
    assert_eq!(
        rig.call(&tb).await,
        (StatusCode::UNAUTHORIZED, Some(RejectionKind::InvalidToken))
    );
    assert_eq!(rig.hits(), 2);
    assert_eq!(rig.call(&tb).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(rig.hits(), 2, "at most one unknown-kid refresh per 10 s");

    // The issuer rotates: b is published. After 10 s the next unknown kid refetches.
    *rig.server.doc.lock().unwrap() = json!({"keys": [a.jwks()["keys"][0], b.jwks()["keys"][0]]});
    rig.clock.advance(Duration::from_secs(10));
    assert_eq!(rig.call(&tb).await.0, StatusCode::OK);
    assert_eq!(rig.hits(), 3);
    assert_eq!(
        rig.call(&ta).await.0,
        StatusCode::OK,
        "old key still verifies"
    );
}

#[tokio::test]
async fn jwks_cold_start_is_single_flight() {
    let a = signer("a", "rsa1.pem");
    let rig = Rig::new(a.jwks(), Duration::from_millis(100)).await;
    let ta = a.sign_for("u", &[]).unwrap();
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let svc = rig.svc.clone();
            let req = Request::get("/")
                .header("authorization", format!("Bearer {ta}"))
                .body(())
                .unwrap();
            async move { (svc.oneshot(req).await.unwrap().status(), ()) }
        })
        .collect();
    for (status, _) in futures_join_all(calls).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(rig.hits(), 1, "32 concurrent cold requests, one fetch");
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(fs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn jwks_outage_is_503_then_recovers_and_keeps_the_last_good_set() {
    let a = signer("a", "rsa1.pem");
    let rig = Rig::new(a.jwks(), Duration::ZERO).await;
    let ta = a.sign_for("u", &[]).unwrap();
    rig.server.up.store(false, Ordering::SeqCst);
    assert_eq!(
        rig.call(&ta).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(RejectionKind::StoreUnavailable)
        )
    );
    assert_eq!(rig.hits(), 1);
    assert_eq!(rig.call(&ta).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rig.hits(), 1, "no refetch within 10 s of a failure");
    rig.server.up.store(true, Ordering::SeqCst);
    rig.clock.advance(Duration::from_secs(10));
    assert_eq!(rig.call(&ta).await.0, StatusCode::OK, "recovered");
    assert_eq!(rig.hits(), 2);

    // Down again after a good load: the stale set keeps serving while the background
    // refresh (max-age 120 s has passed) fails.
    rig.server.up.store(false, Ordering::SeqCst);
    rig.clock.advance(Duration::from_secs(121));
    for _ in 0..3 {
        assert_eq!(rig.call(&ta).await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(rig.hits(), 3, "one background refresh attempt");
    // Garbage from the endpoint is an outage too, never a panic.
    *rig.server.doc.lock().unwrap() =
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "z", "x": "AAAA"}]});
    rig.server.up.store(true, Ordering::SeqCst);
    rig.clock.advance(Duration::from_secs(11));
    assert_eq!(rig.call(&ta).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        rig.call(&ta).await.0,
        StatusCode::OK,
        "the last good set is kept"
    );
}

#[tokio::test]
async fn https_jwks_needs_a_custom_fetcher() {
    assert!(RemoteJwks::http("https://issuer.example/.well-known/jwks.json").is_err());
    assert!(RemoteJwks::http("not a url").is_err());
}

/// `JwtLayer::inner_body`: through a JWKS fetch (the boxed state), an accepted token and
/// a refusal, all in the app's own body type (axum's `Body`, pinned on the service).
#[tokio::test]
async fn inner_body_answers_in_the_app_body_type() {
    use axum::body::Body;
    let a = signer("a", "rsa1.pem");
    let (addr, server) = jwks_server(a.jwks(), Duration::ZERO).await;
    let jwks = RemoteJwks::http(&format!("http://{addr}/.well-known/jwks.json")).unwrap();
    let svc = ServiceBuilder::new()
        .layer(JwtLayer::jwks(jwks).inner_body())
        .service(service_fn(|req: Request<()>| async move {
            let c = req.extensions().get::<JwtClaims>().cloned().unwrap();
            Ok::<_, Infallible>(Response::new(Body::from(c.sub.unwrap().to_string())))
        }));
    let req = |token: &str| {
        Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(())
            .unwrap()
    };
    let text = |res: Response<Body>| async move {
        axum::body::to_bytes(res.into_body(), 4096).await.unwrap()
    };
    let token = a.sign_for("alice", &[]).unwrap();
    let res: Response<Body> = svc.clone().oneshot(req(&token)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        1,
        "the first token fetched the keys"
    );
    assert_eq!(text(res).await, "alice");
    let res: Response<Body> = svc.clone().oneshot(req(&token)).await.unwrap();
    assert_eq!(text(res).await, "alice", "cached keys: the unboxed path");
    let res: Response<Body> = svc.oneshot(req("not.a.token")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.extensions().get::<Rejection>().is_some());
    let v: Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_TOKEN");
}
