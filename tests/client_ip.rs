//! ClientIpLayer through a real axum Router, driven with `oneshot`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower_shield::Shield;
use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};
use tower_shield::core::{ClientIp, PeerAddr, Rejection, RejectionKind};

fn app(source: ClientIpSource) -> Router {
    let shield = Shield::builder()
        .client_ip(
            source,
            ["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()],
        )
        .build()
        .unwrap();
    Router::new()
        .route(
            "/",
            get(|ip: ClientIp| async move { format!("{} {:?} {}", ip.ip, ip.source, ip.rate_key) }),
        )
        .layer(shield)
}

async fn ask(app: Router, peer: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = Request::get("/");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// (name, source, peer, headers, expected body prefix)
type Case<'a> = (
    &'a str,
    ClientIpSource,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a str,
);

#[tokio::test]
async fn spoofing_vectors_through_the_layer() {
    use ClientIpSource::*;
    let long = format!("{}1.2.3.4", "9.9.9.9, ".repeat(1000));
    let cases: Vec<Case<'_>> = vec![
        (
            "leftmost spoof",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "6.6.6.6, 1.2.3.4")],
            "1.2.3.4 XForwardedFor",
        ),
        (
            "several headers",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "1.2.3.4"),
            ],
            "1.2.3.4 XForwardedFor",
        ),
        (
            "garbage entry",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "1.2.3.4, <script>")],
            "400",
        ),
        (
            "empty entry",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "1.2.3.4, ")],
            "1.2.3.4 XForwardedFor",
        ),
        (
            "only trusted proxies",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "10.1.1.1, 10.2.2.2")],
            "10.0.0.1 Peer",
        ),
        (
            "ipv6 zone and port",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "fe80::2%eth0, [2001:db8::7]:8443")],
            "2001:db8::7 XForwardedFor",
        ),
        (
            "ipv6 zone dropped",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "[2001:db8::7]:8443, fe80::2%25eth0")],
            "fe80::2 XForwardedFor",
        ),
        (
            "ipv6 bad zone",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", "fe80::2%e/th0")],
            "400",
        ),
        (
            "oversized header",
            RightmostXForwardedFor,
            "10.0.0.1:1",
            vec![("x-forwarded-for", &long)],
            "1.2.3.4 XForwardedFor",
        ),
        (
            "forwarded quoted comma",
            Forwarded,
            "10.0.0.1:1",
            vec![("forwarded", "for=\"198.51.100.4\";note=\"a, for=6.6.6.6\"")],
            "198.51.100.4 Forwarded",
        ),
        (
            "forwarded obfuscated",
            Forwarded,
            "10.0.0.1:1",
            vec![("forwarded", "for=198.51.100.4, for=_gazonk")],
            "400",
        ),
        (
            "untrusted peer",
            RightmostXForwardedFor,
            "203.0.113.50:1",
            vec![("x-forwarded-for", "1.2.3.4")],
            "203.0.113.50 Peer",
        ),
        (
            "untrusted peer, header source",
            ClientIpSource::cf_connecting_ip(),
            "203.0.113.50:1",
            vec![("cf-connecting-ip", "1.2.3.4")],
            "203.0.113.50 Peer",
        ),
        (
            "v6 peer keyed by /64",
            Peer,
            "[2001:db8:1:2:aaaa::1]:1",
            vec![],
            "2001:db8:1:2:aaaa::1 Peer 2001:db8:1:2::/64",
        ),
        (
            "trusted v6 proxy",
            RightmostXForwardedFor,
            "[fd00::5]:1",
            vec![("x-forwarded-for", "2001:db8::9")],
            "2001:db8::9 XForwardedFor",
        ),
    ];
    for (name, source, peer, headers, want) in cases {
        let (status, body) = ask(app(source), peer, &headers).await;
        if want == "400" {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
            assert!(body.contains("INVALID_FORWARDED_HEADER"), "{name}: {body}");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            body.starts_with(want),
            "{name}: got {body:?}, want {want:?}"
        );
    }
}

/// Issue 17, item 1: one non-ASCII byte (or 5 KB) in the part of `X-Forwarded-For` the
/// client wrote made the whole header unreadable and the layer answered with the proxy.
/// Now the proxy's hop decides, and an unreadable client hop is a typed 400.
#[tokio::test]
async fn the_client_part_of_the_header_cannot_make_the_proxy_the_client() {
    for (source, name, value, want) in [
        (
            ClientIpSource::RightmostXForwardedFor,
            "x-forwarded-for",
            b"\xff, 198.51.100.23".to_vec(),
            "198.51.100.23 XForwardedFor",
        ),
        (
            ClientIpSource::RightmostXForwardedFor,
            "x-forwarded-for",
            [&b"9.9.9.9, ".repeat(600)[..], b"198.51.100.23"].concat(),
            "198.51.100.23 XForwardedFor",
        ),
        (
            ClientIpSource::Forwarded,
            "forwarded",
            b"for=\"\xff, for=198.51.100.23".to_vec(),
            "198.51.100.23 Forwarded",
        ),
    ] {
        let mut req = Request::get("/").body(Body::empty()).unwrap();
        req.headers_mut()
            .insert(name, http::HeaderValue::from_bytes(&value).unwrap());
        req.extensions_mut()
            .insert(PeerAddr("127.0.0.1:4000".parse().unwrap()));
        let shield = Shield::builder()
            .client_ip(source, ["127.0.0.1/32".parse().unwrap()])
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/",
                get(|ip: ClientIp| async move { format!("{} {:?}", ip.ip, ip.source) }),
            )
            .layer(shield);
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        assert_eq!(body, want);

        // The client's own hop unreadable: refused with a code, not answered as the proxy.
        let mut req = Request::get("/").body(Body::empty()).unwrap();
        req.headers_mut().insert(
            name,
            http::HeaderValue::from_bytes(b"198.51.100.23, \xff").unwrap(),
        );
        req.extensions_mut()
            .insert(PeerAddr("127.0.0.1:4000".parse().unwrap()));
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            res.extensions().get::<Rejection>().map(|r| r.kind()),
            Some(RejectionKind::InvalidForwardedHeader)
        );
    }
}

#[tokio::test]
async fn axum_connect_info_is_the_peer() {
    let app = Router::new()
        .route("/", get(|ip: ClientIp| async move { ip.ip.to_string() }))
        .layer(ClientIpLayer::peer())
        .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 33], 1234))));
    let res = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        axum::body::to_bytes(res.into_body(), 64).await.unwrap(),
        "192.0.2.33"
    );
}

#[tokio::test]
async fn no_peer_is_a_loud_typed_500() {
    let app = Router::new()
        .route("/", get(|| async { "unreachable" }))
        .layer(ClientIpLayer::peer());
    let res = app
        .oneshot(
            Request::get("/")
                .header("x-request-id", "req_t1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        res.extensions().get::<Rejection>().map(|r| r.kind()),
        Some(RejectionKind::Misconfigured)
    );
    let body: serde_json::Value =
        serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 4096).await.unwrap())
            .unwrap();
    assert_eq!(body["error"]["code"], "SERVER_MISCONFIGURED");
    assert_eq!(body["error"]["requestId"], "req_t1");
}

#[tokio::test]
async fn ipv6_prefix_is_configurable_and_checked() {
    assert!(ClientIpLayer::peer().v6_prefix(0).is_err());
    assert!(ClientIpLayer::peer().v6_prefix(129).is_err());
    let shield = Shield::builder().ipv6_prefix(48).build().unwrap();
    let app = Router::new()
        .route(
            "/",
            get(|ip: ClientIp| async move { ip.rate_key.to_string() }),
        )
        .layer(shield);
    let (status, body) = ask(app, "[2001:db8:1:2::1]:1", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2001:db8:1::/48"));
    assert!(Shield::builder().ipv6_prefix(200).build().is_err());
}
