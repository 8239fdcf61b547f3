//! Proof of work end to end through `oneshot`: the inline layer's interstitial and API
//! flows, per-request tokens, concurrency (64 tasks, one winner), the ECURTIY router's
//! tokens accepted inline, and property tests that attacker bytes only ever get a 4xx.
#![cfg(all(feature = "pow", feature = "axum"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use proptest::prelude::*;
use tower::ServiceExt;
use tower_shield::core::store::MemorySingleUseStore;
use tower_shield::core::verdict::{Action, Flags, Verdict};
use tower_shield::core::{ChallengeMark, ManualClock, PeerAddr, Rejection, RejectionKind};
use tower_shield::pow::api::Api;
use tower_shield::pow::{MemorySiteStore, Pow, PowLayer, Site, TokenMode, solve};

const SECRET: &str = "integration-secret-integration-secret";
const CLIENT: &str = "203.0.113.7:5000";

fn engine(clock: &ManualClock) -> Pow {
    Pow::builder()
        .secret(SECRET)
        .unwrap()
        .clock(clock.clone())
        .store(MemorySingleUseStore::builder().clock(clock.clone()).build())
        .difficulty(1, 10, 20)
        .unwrap()
        .build()
}

fn clock() -> ManualClock {
    ManualClock::new(Duration::from_secs(1_733_659_200))
}

fn app(layer: PowLayer) -> Router {
    Router::new()
        .route("/app", get(|| async { "the app" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/public", get(|| async { "public" }))
        .layer(layer)
}

fn request(method: &str, uri: &str, peer: &str) -> http::request::Builder {
    let _ = peer;
    Request::builder().method(method).uri(uri)
}

fn with_peer(mut req: Request<Body>, peer: &str) -> Request<Body> {
    req.extensions_mut()
        .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    req
}

async fn send(
    app: &Router,
    req: Request<Body>,
) -> (StatusCode, http::HeaderMap, String, Option<Rejection>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let rejection = res.extensions().get::<Rejection>().cloned();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&body).into_owned(),
        rejection,
    )
}

fn get_json(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut b = request("GET", uri, CLIENT).header("accept", "application/json");
    if let Some(t) = token {
        b = b.header("x-shield-token", t);
    }
    with_peer(b.body(Body::empty()).unwrap(), CLIENT)
}

/// Solves a challenge object and redeems it at the layer's endpoint; returns the token.
async fn redeem(
    app: &Router,
    c: &serde_json::Value,
    peer: &str,
) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let prefix = c["prefix"].as_str().unwrap();
    let d = c["difficulty"].as_u64().unwrap() as u8;
    let nonce = solve(prefix, d, 0, 1 << 26).unwrap();
    let url = format!(
        "{}?challengeId={}&nonce={nonce}&solveTimeMs=900&mouseEntropy=0&interactionCount=0&sessionDuration=2000",
        c["verifyUrl"].as_str().unwrap(),
        c["challengeId"].as_str().unwrap()
    );
    let req = with_peer(
        request("POST", &url, peer)
            .header("accept", "application/json")
            .body(Body::empty())
            .unwrap(),
        peer,
    );
    let (s, h, body, _) = send(app, req).await;
    (s, h, serde_json::from_str(&body).unwrap_or_default())
}

#[tokio::test]
async fn interstitial_flow_for_browsers() {
    let clock = clock();
    let app = app(PowLayer::new(engine(&clock)));
    // A browser navigation without a pass: the interstitial, with its challenge embedded.
    let req = with_peer(
        request("GET", "/app", CLIENT)
            .header("accept", "text/html,application/xhtml+xml")
            .body(Body::empty())
            .unwrap(),
        CLIENT,
    );
    let (s, h, page, rejection) = send(&app, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(rejection.unwrap().kind(), RejectionKind::ChallengeRequired);
    assert!(page.contains(r#"src="/.shield/pow/shield-pow.js""#));
    let start = page
        .find(r#"<script type="application/json" id="shield-pow-config">"#)
        .unwrap();
    let json_start = page[start..].find('>').unwrap() + start + 1;
    let json_end = page[json_start..].find("</script>").unwrap() + json_start;
    let cfg: serde_json::Value = serde_json::from_str(&page[json_start..json_end]).unwrap();
    assert_eq!(cfg["verifyUrl"], "/.shield/pow/verify");
    assert_eq!(cfg["challenge"]["mode"], "invisible");

    // The page's script: solve, post the solution, get the pass cookie, reload.
    let mut c = cfg["challenge"].clone();
    c["verifyUrl"] = cfg["verifyUrl"].clone();
    clock.advance(Duration::from_secs(2));
    let (s, h, v) = redeem(&app, &c, CLIENT).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    let cookie = h["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("shield_pass=esp_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure")
    );
    let pass_cookie = cookie.split(';').next().unwrap().to_owned();

    // The reload, and parallel requests, all pass with the cookie.
    for _ in 0..5 {
        let req = with_peer(
            request("GET", "/app", CLIENT)
                .header("accept", "text/html")
                .header("cookie", format!("theme=dark; {pass_cookie}"))
                .body(Body::empty())
                .unwrap(),
            CLIENT,
        );
        let (s, _, body, _) = send(&app, req).await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "the app"));
    }
    // The pass is bound to the network: another /24 is challenged again.
    let req = with_peer(
        request("GET", "/app", "198.51.100.1:1")
            .header("cookie", pass_cookie.clone())
            .body(Body::empty())
            .unwrap(),
        "198.51.100.1:1",
    );
    assert_eq!(send(&app, req).await.0, StatusCode::UNAUTHORIZED);
    // ...and it expires.
    clock.advance(Duration::from_secs(15 * 60));
    let req = with_peer(
        request("GET", "/app", CLIENT)
            .header("cookie", pass_cookie)
            .body(Body::empty())
            .unwrap(),
        CLIENT,
    );
    let (s, _, _, r) = send(&app, req).await;
    assert_eq!(
        (s, r.unwrap().kind()),
        (StatusCode::UNAUTHORIZED, RejectionKind::TokenExpired)
    );
}

#[tokio::test]
async fn assets_allow_list_and_solution_reuse() {
    let clock = clock();
    let app = app(PowLayer::new(engine(&clock)));
    for (path, ct) in [
        (
            "/.shield/pow/shield-pow.js",
            "text/javascript; charset=utf-8",
        ),
        ("/.shield/pow/worker.js", "text/javascript; charset=utf-8"),
        ("/.shield/pow/shield-pow.css", "text/css; charset=utf-8"),
    ] {
        let (s, h, _, _) = send(&app, get_json(path, None)).await;
        assert_eq!(
            (s, h["content-type"].to_str().unwrap()),
            (StatusCode::OK, ct),
            "{path}"
        );
    }
    let (s, _, body, _) = send(&app, get_json("/healthz", None)).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "ok"));
    // A fresh challenge from the endpoint, redeemed twice: the second is refused.
    let req = with_peer(
        request("POST", "/.shield/pow/challenge", CLIENT)
            .body(Body::empty())
            .unwrap(),
        CLIENT,
    );
    let (s, _, body, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::OK);
    let c: serde_json::Value = serde_json::from_str(&body).unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(redeem(&app, &c, CLIENT).await.0, StatusCode::OK);
    let (s, _, e) = redeem(&app, &c, CLIENT).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("CHALLENGE_EXPIRED"))
    );
    // From another network: refused.
    let req = with_peer(
        request("POST", "/.shield/pow/challenge", CLIENT)
            .body(Body::empty())
            .unwrap(),
        CLIENT,
    );
    let c: serde_json::Value = serde_json::from_str(&send(&app, req).await.2).unwrap();
    let (s, _, e) = redeem(&app, &c, "192.0.2.1:9").await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_SOLUTION"))
    );
    // Unknown endpoint.
    let (s, _, _, _) = send(&app, get_json("/.shield/pow/nope", None)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_clients_with_single_use_tokens() {
    let clock = clock();
    let layer = PowLayer::new(engine(&clock))
        .token_mode(TokenMode::SingleUse)
        .unwrap()
        .protect_paths(["/app"])
        .unwrap()
        .precondition_required();
    let app = app(layer);
    assert_eq!(
        send(&app, get_json("/public", None)).await.0,
        StatusCode::OK
    );
    let (s, h, body, _) = send(&app, get_json("/app", None)).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(h["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "CHALLENGE_REQUIRED");
    let c = &v["challenge"];
    assert!(c["challengeId"].as_str().unwrap().starts_with("ch_"));
    clock.advance(Duration::from_secs(1));
    let (s, h, t) = redeem(&app, c, CLIENT).await;
    assert_eq!(s, StatusCode::OK);
    let token = t["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ect_"));
    assert!(
        h["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("shield_token=ect_")
    );
    let (s, _, body, _) = send(&app, get_json("/app", Some(&token))).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "the app"));
    // Spent: the next request gets TOKEN_USED and a new challenge.
    let (s, _, body, _) = send(&app, get_json("/app", Some(&token))).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::PRECONDITION_REQUIRED, Some("TOKEN_USED"))
    );
    assert!(v["challenge"]["challengeId"].is_string());
    // Garbage and passes are refused in this mode.
    for bad in ["ect_", "esp_AAAA", "nonsense", &"x".repeat(5000)] {
        let (s, _, _, r) = send(&app, get_json("/app", Some(bad))).await;
        assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{bad}");
        assert!(r.is_some());
    }
}

#[tokio::test]
async fn sixty_four_concurrent_redemptions_one_winner() {
    let clock = clock();
    let layer = PowLayer::new(engine(&clock))
        .token_mode(TokenMode::SingleUse)
        .unwrap();
    let app = app(layer);
    let (_, _, body, _) = send(&app, get_json("/app", None)).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let c = v["challenge"].clone();
    let nonce = solve(
        c["prefix"].as_str().unwrap(),
        c["difficulty"].as_u64().unwrap() as u8,
        0,
        1 << 26,
    )
    .unwrap();
    // 64 tasks submit the same solution: exactly one token comes out.
    let url = format!(
        "/.shield/pow/verify?challengeId={}&nonce={nonce}",
        c["challengeId"].as_str().unwrap()
    );
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let app = app.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let req = with_peer(Request::post(&url).body(Body::empty()).unwrap(), CLIENT);
            send(&app, req).await
        }));
    }
    let mut tokens = Vec::new();
    for t in tasks {
        let (s, _, body, _) = t.await.unwrap();
        if s == StatusCode::OK {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            tokens.push(v["token"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(s, StatusCode::BAD_REQUEST);
        }
    }
    assert_eq!(tokens.len(), 1, "one challenge, one token");
    // 64 tasks present that token: exactly one gets through.
    let token = Arc::new(tokens.pop().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let app = app.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            send(&app, get_json("/app", Some(&token))).await.0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn api_tokens_are_accepted_inline_and_validate_concurrently_once() {
    let clock = clock();
    let pow = engine(&clock);
    let sites = MemorySiteStore::new();
    sites
        .insert(
            Site::new("eck_live_demo", "ecs_live_demo")
                .unwrap()
                .difficulty(10),
        )
        .unwrap();
    let api = Api::new(pow.clone(), sites).into_router();
    let protected = Router::new()
        .route("/app", get(|| async { "the app" }))
        .layer(PowLayer::new(pow).accept_site_tokens("eck_live_demo"));
    let app = Router::new().nest("/captcha", api).merge(protected);
    let post = |path: &str, body: serde_json::Value| {
        with_peer(
            Request::post(path)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            CLIENT,
        )
    };
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (_, _, body, _) = send(
            &app,
            post(
                "/captcha/api/challenge",
                serde_json::json!({"siteKey": "eck_live_demo"}),
            ),
        )
        .await;
        let c: serde_json::Value = serde_json::from_str(&body).unwrap();
        let nonce = solve(c["prefix"].as_str().unwrap(), 10, 0, 1 << 26).unwrap();
        clock.advance(Duration::from_secs(2));
        let (s, _, body, _) = send(
            &app,
            post(
                "/captcha/api/verify",
                serde_json::json!({"challengeId": c["challengeId"], "nonce": nonce, "solveTimeMs": 1500,
                    "fingerprint": "fp", "behavioral": {"mouseEntropy": 2.5, "interactionCount": 3, "sessionDuration": 4000}}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
    }
    // The widget's token opens the protected route, and the layer hands out a pass.
    let (s, h, body, _) = send(&app, get_json("/app", Some(&tokens[0]))).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "the app"));
    assert!(h["x-shield-pass"].to_str().unwrap().starts_with("esp_"));
    // 64 concurrent validations of the other token: one success, the rest TOKEN_USED.
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let app = app.clone();
        let body = serde_json::json!({"token": tokens[1], "secretKey": "ecs_live_demo"});
        tasks.push(tokio::spawn(async move {
            let (s, _, body, _) = send(&app, post("/captcha/api/validate", body)).await;
            (s, body)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (s, body) = t.await.unwrap();
        if s == StatusCode::OK {
            ok += 1;
        } else {
            assert!(body.contains("TOKEN_USED"), "{body}");
        }
    }
    assert_eq!(ok, 1);
    // A layer scoped to another site does not take these tokens.
    let (s, _, body, _) = send(
        &app,
        post(
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_live_demo"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn marked_requests_only() {
    let clock = clock();
    let layer = PowLayer::new(engine(&clock)).when_challenged();
    let inner = Router::new().route("/app", get(|| async { "the app" }));
    let app = inner.layer(layer);
    assert_eq!(send(&app, get_json("/app", None)).await.0, StatusCode::OK);
    let mut req = get_json("/app", None);
    req.extensions_mut().insert(ChallengeMark {
        reason: "ratelimit.store_full",
        difficulty: Some(12),
    });
    let (s, _, body, _) = send(&app, req).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (s, v["challenge"]["difficulty"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(12))
    );
    let mut req = get_json("/app", None);
    req.extensions_mut().insert(Verdict {
        human: false,
        certainty: 60,
        risk_score: 60,
        flags: Flags {
            hosting: true,
            ..Flags::default()
        },
        geo: None,
        asn: None,
        org: None,
        reasons: Arc::new([]),
        action: Action::Challenge,
        verified_crawler: None,
    });
    let (s, _, body, _) = send(&app, req).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (s, v["challenge"]["difficulty"].as_u64()),
        (StatusCode::UNAUTHORIZED, Some(11))
    );
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,300}",
        "(ch_|ect_|esp_)[A-Za-z0-9_-]{0,300}",
        "[0-9]{0,25}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Whatever a client sends to the API, the answer is a 4xx JSON error, never a 5xx or a panic.
    #[test]
    fn api_answers_garbage_with_4xx(id in arb_text(), nonce in arb_text(), token in arb_text(), key in arb_text(), raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = clock();
            let sites = MemorySiteStore::new();
            sites.insert(Site::new("eck_live_demo", "ecs_live_demo").unwrap()).unwrap();
            let app = Api::new(engine(&clock), sites).into_router();
            let bodies = [
                (String::from("/api/verify"), serde_json::json!({"challengeId": id, "nonce": nonce}).to_string().into_bytes()),
                (String::from("/api/verify"), serde_json::json!({"challengeId": id, "nonce": 5, "solveTimeMs": "x"}).to_string().into_bytes()),
                (String::from("/api/validate"), serde_json::json!({"token": token, "secretKey": key}).to_string().into_bytes()),
                (String::from("/api/challenge"), serde_json::json!({"siteKey": key}).to_string().into_bytes()),
                (String::from("/api/verify"), raw.clone()),
                (String::from("/api/validate"), raw.clone()),
            ];
            for (path, body) in bodies {
                let req = with_peer(Request::post(path.as_str()).body(Body::from(body)).unwrap(), CLIENT);
                let res = app.clone().oneshot(req).await.unwrap();
                assert!(res.status().is_client_error(), "{path}: {}", res.status());
                assert!(res.extensions().get::<Rejection>().is_some());
            }
        });
    }

    /// Whatever a client presents to the layer, it gets a 4xx (challenge or error).
    #[test]
    fn layer_answers_garbage_with_4xx(token in arb_text(), q in ".{0,400}") {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = clock();
            let app = app(PowLayer::new(engine(&clock)));
            if let Ok(v) = http::HeaderValue::from_str(&token) {
                let mut req = get_json("/app", None);
                req.headers_mut().insert("x-shield-token", v.clone());
                assert!(app.clone().oneshot(req).await.unwrap().status().is_client_error());
                let mut req = get_json("/app", None);
                if let Ok(c) = http::HeaderValue::from_str(&format!("shield_pass={token}; shield_token={token}")) {
                    req.headers_mut().insert("cookie", c);
                    assert!(app.clone().oneshot(req).await.unwrap().status().is_client_error());
                }
            }
            let enc: String = q.bytes().map(|b| if b.is_ascii_alphanumeric() || b"=&_-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
            if let Ok(req) = Request::post(format!("/.shield/pow/verify?{enc}")).body(Body::empty()) {
                let res = app.clone().oneshot(with_peer(req, CLIENT)).await.unwrap();
                assert!(res.status().is_client_error(), "{}", res.status());
            }
        });
    }
}

/// `PowLayer::inner_body`: a challenge, a redemption and a pass, all in the app's own body
/// type (axum's `Body`, pinned on the service), and the whole flow under a router.
#[tokio::test]
async fn inner_body_challenges_and_passes_in_the_app_body_type() {
    use tower::Layer;
    let clock = clock();
    let layer = PowLayer::new(engine(&clock))
        .protect_paths(["/app"])
        .unwrap()
        .inner_body();
    let svc = layer
        .clone()
        .layer(tower::service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("the app")))
        }));
    let res: http::Response<Body> = svc
        .clone()
        .oneshot(get_json("/public", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res: http::Response<Body> = svc.oneshot(get_json("/app", None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.extensions().get::<Rejection>().is_some());
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "CHALLENGE_REQUIRED");

    let app = Router::new()
        .route("/app", get(|| async { "the app" }))
        .layer(layer);
    let (s, _, body, _) = send(&app, get_json("/app", None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    clock.advance(Duration::from_secs(1));
    let (s, _, t) = redeem(&app, &v["challenge"], CLIENT).await;
    assert_eq!(s, StatusCode::OK);
    let token = t["token"].as_str().unwrap().to_owned();
    let (s, _, body, _) = send(&app, get_json("/app", Some(&token))).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "the app"));
}
