//! The demo's `GET /metrics`: traffic through the demo router moves the tower-shield
//! counters by exactly the decisions it made. (One test per binary: the Prometheus
//! recorder is process-wide.)

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

use std::collections::BTreeMap;
use std::net::SocketAddr;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

async fn serve() -> SocketAddr {
    demo_app::serve("").await
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut req = http::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// `name{a="x",b="y"} value` lines -> (name, sorted labels) -> value.
type Scrape = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn parse(text: &str) -> Scrape {
    let mut out = Scrape::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').expect("label=value");
                (k.to_owned(), v.trim_matches('"').to_owned())
            })
            .collect();
        out.insert((name.to_owned(), labels), value.parse().expect("a number"));
    }
    out
}

fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    s.get(&(name.to_owned(), want)).copied().unwrap_or(0.0)
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = get(addr, "/metrics", &[]).await;
    assert_eq!(status, 200, "{body}");
    parse(&body)
}

#[tokio::test]
async fn the_scrape_counts_the_decisions_just_made() {
    let addr = serve().await;
    let before = scrape(addr).await;
    const D: &str = "tower_shield_decisions_total";
    let refused = [
        ("code", "INVALID_API_KEY"),
        ("layer", "apikey"),
        ("outcome", "refused"),
    ];
    let ip_allowed = [("code", ""), ("layer", "client_ip"), ("outcome", "allowed")];
    let rl_allowed = [("code", ""), ("layer", "ratelimit"), ("outcome", "allowed")];

    for _ in 0..3 {
        let (status, body) = get(addr, "/app/api/data", &[("x-api-key", "tsk_not_a_key")]).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("INVALID_API_KEY"), "{body}");
    }
    let (status, _) = get(
        addr,
        "/app/",
        &[("user-agent", "Mozilla/5.0"), ("accept", "text/html")],
    )
    .await;
    assert!(status == 200 || status == 401 || status == 403, "{status}");
    let after = scrape(addr).await;

    assert_eq!(
        value(&after, D, &refused) - value(&before, D, &refused),
        3.0
    );
    // Every one of the four requests passed the client-IP layer; the one that got past
    // the API-key layer reached the rate limit.
    assert_eq!(
        value(&after, D, &ip_allowed) - value(&before, D, &ip_allowed),
        4.0
    );
    assert_eq!(
        value(&after, D, &rl_allowed) - value(&before, D, &rl_allowed),
        1.0
    );
    // Nothing else was refused in between.
    let refusals = |s: &Scrape| -> f64 {
        s.iter()
            .filter(|((n, l), _)| n == D && l.get("outcome").map(String::as_str) == Some("refused"))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(refusals(&after) - refusals(&before), 3.0);
}
