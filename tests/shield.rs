//! The composed stack: client IP -> API key -> rate limit, through a real axum Router.
#![cfg(all(feature = "ratelimit", feature = "apikey"))]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_shield::Shield;
use tower_shield::auth::StaticApiKeys;
use tower_shield::client_ip::ClientIpSource;
use tower_shield::core::{
    ClientIp, ManualClock, PeerAddr, Principal, Quota, Rejection, RejectionKind,
};

fn app(clock: ManualClock) -> Router {
    let keys = StaticApiKeys::new()
        .key("tsk_demo_key", ["verify"], Some(Quota::per_hour(5)))
        .unwrap();
    let shield = Shield::builder()
        .client_ip(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        )
        .api_keys(keys)
        .rate_limit(Quota::per_minute(3))
        .clock(clock)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/",
            get(|ip: ClientIp, p: Option<Principal>| async move {
                format!(
                    "{} {}",
                    ip.ip,
                    p.map(|p| p.id.to_string()).unwrap_or_default()
                )
            }),
        )
        .route(
            "/private",
            get(|p: Principal| async move { p.id.to_string() }),
        )
        .layer(shield)
}

/// Clients behind the trusted proxy 10.0.0.0/8, one API key (`tsk_demo_key`).
fn behind_the_proxy_with_a_key() -> tower_shield::ShieldBuilder {
    Shield::builder()
        .client_ip(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        )
        .api_keys(
            StaticApiKeys::new()
                .key("tsk_demo_key", ["verify"], None)
                .unwrap(),
        )
}

fn req(path: &str, xff: &str, key: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header("x-forwarded-for", xff);
    if let Some(k) = key {
        b = b.header("x-api-key", k);
    }
    let mut r = b.body(Body::empty()).unwrap();
    r.extensions_mut()
        .insert(PeerAddr("10.0.0.1:443".parse().unwrap()));
    r
}

#[tokio::test]
async fn anonymous_clients_are_limited_per_client_ip() {
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let app = app(clock.clone());
    for _ in 0..3 {
        let res = app
            .clone()
            .oneshot(req("/", "6.6.6.6, 203.0.113.1", None))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app
        .clone()
        .oneshot(req("/", "7.7.7.7, 203.0.113.1", None))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the spoofed leftmost hop does not buy a new bucket"
    );
    assert_eq!(
        res.extensions().get::<Rejection>().map(|r| r.kind()),
        Some(RejectionKind::RateLimited)
    );
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value =
        serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 4096).await.unwrap())
            .unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(
        body["error"]["timestamp"], "2023-11-14T22:13:20Z",
        "stamped by the injected clock"
    );
    // Another client is unaffected; after 20 s one more request fits.
    assert_eq!(
        app.clone()
            .oneshot(req("/", "203.0.113.2", None))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(20));
    assert_eq!(
        app.clone()
            .oneshot(req("/", "203.0.113.1", None))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn api_keys_authenticate_and_carry_their_own_quota() {
    let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    let app = app(clock);
    for i in 0..5 {
        let res = app
            .clone()
            .oneshot(req("/private", "203.0.113.9", Some("tsk_demo_key")))
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "request {i}: the key's 5/hour, not the IP's 3/minute"
        );
    }
    let res = app
        .clone()
        .oneshot(req("/private", "203.0.113.9", Some("tsk_demo_key")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = app
        .clone()
        .oneshot(req("/private", "203.0.113.9", Some("tsk_wrong_key")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.extensions().get::<Rejection>().map(|r| r.kind()),
        Some(RejectionKind::InvalidApiKey)
    );
    let res = app
        .clone()
        .oneshot(req("/private", "203.0.113.9", None))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the Principal extractor demands a key"
    );
}

/// With a classifier stacked, handlers read the `Verdict`, and the stack enforces the
/// action the pure `classify` function gives for the same address and headers.
#[cfg(feature = "classify")]
#[tokio::test]
async fn the_classifier_decides_and_handlers_read_its_verdict() {
    use tower_shield::classify::{Action, Classifier, Verdict, classify};
    let shield = Shield::builder()
        .client_ip(
            ClientIpSource::RightmostXForwardedFor,
            ["10.0.0.0/8".parse().unwrap()],
        )
        .classify(Classifier::embedded())
        .rate_limit(Quota::per_minute(1000))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|v: Verdict| async move { format!("{} {}", v.human, v.action) }),
        )
        .layer(shield);
    let browser = [
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        ("accept", "text/html"),
        ("accept-language", "en"),
        ("accept-encoding", "gzip"),
    ];
    let script = [("user-agent", "python-requests/2.31.0")];
    let empty: [(&str, &str); 0] = [];
    for (client, headers) in [
        ("203.0.113.1", &browser[..]),
        ("203.0.113.2", &script[..]),
        ("203.0.113.3", &empty[..]),
    ] {
        let mut b = Request::get("/").header("x-forwarded-for", client);
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            b = b.header(*k, *v);
            map.insert(*k, v.parse().unwrap());
        }
        let expected = classify(client.parse().unwrap(), &map);
        let mut r = b.body(Body::empty()).unwrap();
        r.extensions_mut()
            .insert(PeerAddr("10.0.0.1:443".parse().unwrap()));
        let res = app.clone().oneshot(r).await.unwrap();
        match expected.action {
            Action::Block | Action::Challenge => {
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{client} {headers:?}");
                assert_eq!(
                    res.extensions().get::<Rejection>().map(|r| r.kind()),
                    Some(RejectionKind::Blocked)
                );
            }
            _ => {
                assert_eq!(res.status(), StatusCode::OK, "{client} {headers:?}");
                let body = axum::body::to_bytes(res.into_body(), 256).await.unwrap();
                assert_eq!(body, format!("{} {}", expected.human, expected.action));
            }
        }
    }
    // A browser on a residential-looking address is let through as a human.
    let res = classify(
        "203.0.113.1".parse().unwrap(),
        &browser
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect(),
    );
    assert!(res.action.is_allowed());
}

/// The front of the stack decides in order, and the first refusal is the answer: no
/// socket peer is a misconfiguration before any key is read; a bad key is refused before
/// the classifier would block the client; a refused request reaches no handler.
#[cfg(feature = "classify")]
#[tokio::test]
async fn the_first_refusal_in_stack_order_is_the_answer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower_shield::classify::Classifier;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let shield = behind_the_proxy_with_a_key()
        .classify(Classifier::embedded())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/",
            get(move || async move {
                counted.fetch_add(1, Ordering::Relaxed);
                "ok"
            }),
        )
        .layer(shield);
    let kind = |res: &http::Response<Body>| res.extensions().get::<Rejection>().map(|r| r.kind());
    let script = |key: &str| {
        let mut r = req("/", "81.2.69.160", Some(key));
        r.headers_mut()
            .insert("user-agent", "python-requests/2.32.3".parse().unwrap());
        r
    };

    let mut no_peer = script("tsk_wrong");
    no_peer.extensions_mut().remove::<PeerAddr>();
    let res = app.clone().oneshot(no_peer).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(kind(&res), Some(RejectionKind::Misconfigured));

    let res = app.clone().oneshot(script("tsk_wrong")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kind(&res), Some(RejectionKind::InvalidApiKey));

    let res = app.clone().oneshot(script("tsk_demo_key")).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a script UA is blocked"
    );
    assert_eq!(kind(&res), Some(RejectionKind::Blocked));
    assert_eq!(hits.load(Ordering::Relaxed), 0);
}

/// `Shield::inner_body`: the same answers in the app's own body type (axum's `Body`), so
/// axum takes the response as it is.
#[tokio::test]
async fn inner_body_answers_in_the_app_body_type() {
    use tower::Layer;
    let shield = behind_the_proxy_with_a_key()
        .rate_limit(Quota::per_minute(1))
        .clock(ManualClock::new(Duration::from_secs(1_700_000_000)))
        .build()
        .unwrap()
        .inner_body();
    let app = shield.layer(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("from the app")))
    }));
    let text = |res: http::Response<Body>| async move {
        axum::body::to_bytes(res.into_body(), 4096).await.unwrap()
    };
    let res: http::Response<Body> = app
        .clone()
        .oneshot(req("/", "203.0.113.40", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await, "from the app");
    // Refused by the rate limiter (in the rest of the stack) ...
    let res = app
        .clone()
        .oneshot(req("/", "203.0.113.40", None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "RATE_LIMITED");
    // ... and in the front (a wrong key).
    let res = app
        .clone()
        .oneshot(req("/", "203.0.113.41", Some("tsk_wrong")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_API_KEY");
    // Under axum's `Router::layer` as well.
    let router = Router::new()
        .route("/", get(|| async { "hi" }))
        .layer(Shield::builder().build().unwrap().inner_body());
    let mut r = Request::get("/").body(Body::empty()).unwrap();
    r.extensions_mut()
        .insert(PeerAddr("198.51.100.2:1000".parse().unwrap()));
    assert_eq!(text(router.oneshot(r).await.unwrap()).await, "hi");
}

/// `ApiKeyLayer::inner_body`: alone, the same answers in the inner service's own body.
#[tokio::test]
async fn an_api_key_layer_answers_in_the_inner_body_type() {
    use tower::Layer;
    use tower_shield::auth::ApiKeyLayer;
    let svc = ApiKeyLayer::new(
        StaticApiKeys::new()
            .key("tsk_demo_key", ["verify"], None)
            .unwrap(),
    )
    .inner_body()
    .layer(tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("in")))
    }));
    let text = |res: http::Response<Body>| async move {
        axum::body::to_bytes(res.into_body(), 4096).await.unwrap()
    };
    let res = svc
        .clone()
        .oneshot(req("/", "203.0.113.60", Some("tsk_demo_key")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await, "in");
    let res = svc
        .oneshot(req("/", "203.0.113.60", Some("tsk_wrong")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.extensions().get::<Rejection>().is_some());
    let v: serde_json::Value = serde_json::from_slice(&text(res).await).unwrap();
    assert_eq!(v["error"]["code"], "INVALID_API_KEY");
}

/// The builder takes layers configured in either body mode; the shield's own decides.
#[test]
fn the_builder_takes_layers_in_either_body_mode() {
    use tower_shield::auth::ApiKeyLayer;
    use tower_shield::classify::ClassifyLayer;
    use tower_shield::client_ip::ClientIpLayer;
    use tower_shield::ratelimit::RateLimitLayer;
    let keys: tower_shield::shield::DynApiKeys = std::sync::Arc::new(StaticApiKeys::new());
    let shield = Shield::builder()
        .client_ip_layer(ClientIpLayer::peer().inner_body())
        .api_key_layer(ApiKeyLayer::new(keys).optional().inner_body())
        .classify_layer(ClassifyLayer::embedded().inner_body())
        .rate_limit_layer(RateLimitLayer::new(Quota::per_second(10)).inner_body())
        .build()
        .unwrap();
    let _: Router = Router::new()
        .route("/", get(|| async { "hi" }))
        .layer(shield.inner_body());
}
