//! Verified crawlers (issue 19, item 4) through the demo users run (`app::build`): a
//! Googlebot user agent from Google's published crawler range is verified, the same
//! user agent from an AWS address (3.5.140.2) is spoofed, in `/verus/classify`,
//! `/api/v2/verify` and the sample app, with `[classify] allow_verified_crawlers`.

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
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower_shield::signature::{Dialect, Signer};

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
/// In Google's `googlebot.json` (66.249.64.0/27 .. 66.249.79.224/27).
const GOOGLE: &str = "66.249.66.1";
/// AWS (AS16509), in no crawler operator's list.
const AWS: &str = "3.5.140.2";

async fn serve_with(toml: &str) -> SocketAddr {
    demo_app::serve(toml).await
}

async fn send(req: http::Request<Vec<u8>>) -> (u16, Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let (parts, body) = req.into_parts();
    let res = client
        .request(http::Request::from_parts(
            parts,
            Full::new(bytes::Bytes::from(body)),
        ))
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn verus(addr: SocketAddr, body: Value) -> (u16, Value) {
    let mut req = http::Request::post(format!("http://{addr}/verus/classify"))
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes())
        .unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Signer::new(
        Dialect::verus(),
        "alk_1234567890abcdef",
        "als_abcdefghijklmnopqrstuvwxyz1234567890",
    )
    .sign(&mut req, now)
    .unwrap();
    send(req).await
}

async fn verify_v2(addr: SocketAddr, ip: &str, ua: &str) -> (u16, Value) {
    let body =
        json!({"ipAddress": ip, "hostName": "example.com", "requestPath": "/", "userAgent": ua});
    let req = http::Request::post(format!("http://{addr}/api/v2/verify"))
        .header("content-type", "application/json")
        .header("x-api-key", "tsk_demo_key")
        .body(body.to_string().into_bytes())
        .unwrap();
    send(req).await
}

async fn sample_app(addr: SocketAddr, ip: &str, ua: &str) -> u16 {
    let req = http::Request::get(format!("http://{addr}/app/"))
        .header("user-agent", ua)
        .header("x-forwarded-for", ip)
        .body(Vec::new())
        .unwrap();
    send(req).await.0
}

const XFF: &str =
    "[client_ip]\nsource = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

#[tokio::test]
async fn verus_classify_tells_a_verified_googlebot_from_a_forged_one() {
    let addr = serve_with("").await;
    let (s, v) = verus(addr, json!({"ipAddress": GOOGLE, "userAgent": GOOGLEBOT})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["human"], false, "{v}");
    assert_eq!(
        v["crawler"],
        json!({"name": "Googlebot", "operator": "Google", "category": "search", "verified": true}),
        "{v}"
    );
    let (s, v) = verus(addr, json!({"ipAddress": AWS, "userAgent": GOOGLEBOT})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["human"], false, "{v}");
    assert!(v["certainty"].as_u64().unwrap() >= 99, "{v}");
    assert_eq!(
        v["crawler"],
        json!({"name": "Googlebot", "operator": "Google", "verified": false}),
        "{v}"
    );
    // The seed's own request (no userAgent) answers in the seed's shape.
    let (s, v) = verus(addr, json!({"ipAddress": GOOGLE})).await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("crawler").is_none() && v["human"] == false, "{v}");
    // A browser UA claims no crawler.
    let (_, v) = verus(
        addr,
        json!({"ipAddress": AWS, "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}),
    )
    .await;
    assert!(v.get("crawler").is_none(), "{v}");
    // Bad input is a clear 400 in the seed's shape.
    let (s, v) = verus(addr, json!({"ipAddress": GOOGLE, "userAgent": "a\u{7f}b"})).await;
    assert_eq!((s, v["statusCode"].as_u64()), (400, Some(400)), "{v}");
    let (s, v) = verus(
        addr,
        json!({"ipAddress": GOOGLE, "userAgent": "x".repeat(1025)}),
    )
    .await;
    assert_eq!((s, v["statusCode"].as_u64()), (400, Some(400)), "{v}");
    let (s, v) = verus(addr, json!({"ipAddress": GOOGLE, "userAgent": 7})).await;
    assert_eq!((s, v["statusCode"].as_u64()), (400, Some(400)), "{v}");
}

#[tokio::test]
async fn techsec_v2_reports_verified_and_spoofed_crawlers() {
    for (toml, allowed) in [
        ("", false),
        ("[classify]\nallow_verified_crawlers = true\n", true),
    ] {
        let addr = serve_with(toml).await;
        let (s, v) = verify_v2(addr, GOOGLE, GOOGLEBOT).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["crawler"]["verified"], true, "{v}");
        assert_eq!(v["crawler"]["operator"], "Google", "{v}");
        assert_eq!(v["securityFlags"]["isBot"], true, "{v}");
        assert_eq!(v["isAllowed"], allowed, "{toml:?}: {v}");
        let (s, v) = verify_v2(addr, AWS, GOOGLEBOT).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["crawler"]["verified"], false, "{v}");
        assert_eq!(v["isAllowed"], false, "{v}");
        assert!(
            v["reason"].as_str().unwrap().contains("ua.spoofed_crawler"),
            "{v}"
        );
        assert!(v["riskScore"].as_u64().unwrap() >= 99, "{v}");
    }
}

#[tokio::test]
async fn allow_verified_crawlers_lets_the_real_googlebot_into_the_sample_app() {
    let strict = serve_with(XFF).await;
    let seo = serve_with(&format!(
        "{XFF}\n[classify]\nallow_verified_crawlers = true\n"
    ))
    .await;
    // By default every crawler is blocked, real or not.
    assert_eq!(sample_app(strict, GOOGLE, GOOGLEBOT).await, 403);
    assert_eq!(sample_app(strict, AWS, GOOGLEBOT).await, 403);
    // With the knob: the real one in, the forged one (from AWS, or from a consumer
    // network) still out.
    assert_eq!(sample_app(seo, GOOGLE, GOOGLEBOT).await, 200);
    assert_eq!(sample_app(seo, AWS, GOOGLEBOT).await, 403);
    assert_eq!(sample_app(seo, "81.2.69.160", GOOGLEBOT).await, 403);
    // Other operators too: bingbot from Bing's own list.
    let bing = tower_shield::classify::Crawlers::embedded()
        .nets()
        .find(|(l, _)| &*l.id == "bing-bingbot")
        .map(|(_, n)| n.network().to_string())
        .unwrap();
    let bingbot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36";
    assert_eq!(sample_app(seo, &bing, bingbot).await, 200);
    assert_eq!(sample_app(seo, GOOGLE, bingbot).await, 403);
}
