//! Intel integration tests: a local stand-in for an IPQS-compatible API feeds `IpIntel`
//! in the background; disposable addresses from the shipped list; URL blocklists from files.
#![cfg(feature = "intel")]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::json;
use tower_shield::classify::Classifier;
use tower_shield::core::Secret;
use tower_shield::intel::{
    DomainList, EmailChecker, IpIntel, IpqsProvider, ProviderError, UrlChecker,
};

/// Speaks IPQS's documented IP JSON; 1.1.1.1 is a VPN, key `goodkey` only.
async fn stand_in(hits: Arc<AtomicUsize>) -> SocketAddr {
    async fn ip(
        State(hits): State<Arc<AtomicUsize>>,
        Path((key, ip)): Path<(String, String)>,
    ) -> axum::Json<serde_json::Value> {
        hits.fetch_add(1, Ordering::SeqCst);
        if key != "goodkey" {
            return axum::Json(
                json!({"success": false, "message": "Invalid or unauthorized key."}),
            );
        }
        let vpn = ip == "1.1.1.1";
        axum::Json(json!({
            "success": true, "message": "Success", "fraud_score": if vpn { 88 } else { 0 },
            "country_code": "AU", "region": "Queensland", "city": "Brisbane",
            "ISP": "Example ISP", "ASN": 13335, "organization": "Example",
            "is_crawler": false, "timezone": "Australia/Brisbane", "mobile": false,
            "host": "one.one.one.one", "proxy": vpn, "vpn": vpn, "tor": false,
            "active_vpn": false, "active_tor": false, "recent_abuse": false,
            "bot_status": false, "request_id": "abc"
        }))
    }
    let app = Router::new()
        .route("/api/json/ip/{key}/{ip}", get(ip))
        .with_state(hits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn provider_feeds_lookups_in_the_background() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = stand_in(hits.clone()).await;
    let provider = IpqsProvider::new(
        &format!("http://{addr}/api/json"),
        Some(Secret::from("goodkey")),
    )
    .unwrap();
    let intel = IpIntel::new(Classifier::embedded())
        .with_provider(provider, 100, Duration::from_secs(3600))
        .unwrap();
    let ip: IpAddr = "1.1.1.1".parse().unwrap();
    let first = intel.lookup(ip);
    assert_eq!(first.source, "local", "the request path never waits");
    assert!(!first.vpn);
    for _ in 0..100 {
        if intel.cached() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let later = intel.lookup(ip);
    assert_eq!(later.source, "local+remote");
    assert!(later.vpn && later.proxy && later.fraud_score >= 88);
    assert_eq!(later.country_code.as_deref(), Some("AU"));
    assert_eq!(later.city.as_deref(), Some("Brisbane"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    intel.lookup(ip);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "cached");

    let direct = intel
        .lookup_remote("8.8.8.8".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(direct.source, "local+remote");
}

#[tokio::test]
async fn provider_errors() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = stand_in(hits).await;
    let bad = IpqsProvider::new(
        &format!("http://{addr}/api/json"),
        Some(Secret::from("wrongkey")),
    )
    .unwrap();
    assert!(matches!(
        bad.fetch("1.1.1.1".parse().unwrap()).await,
        Err(ProviderError::Refused(_))
    ));
    let none = IpqsProvider::new(&format!("http://{addr}/api/json"), None).unwrap();
    assert_eq!(
        none.fetch("1.1.1.1".parse().unwrap()).await,
        Err(ProviderError::KeyNotFound)
    );
    // A dead provider times out quickly and never panics.
    let dead = IpqsProvider::new("http://127.0.0.1:9/api/json", Some(Secret::from("goodkey")))
        .unwrap()
        .timeout(Duration::from_millis(200));
    assert!(matches!(
        dead.fetch("1.1.1.1".parse().unwrap()).await,
        Err(ProviderError::Unavailable(_))
    ));
    // Without a provider the remote lookup is KEY_NOT_FOUND.
    let local = IpIntel::new(Classifier::embedded());
    assert_eq!(
        local.lookup_remote("1.1.1.1".parse().unwrap()).await,
        Err(ProviderError::KeyNotFound)
    );
}

#[test]
fn disposable_addresses_from_the_shipped_list_are_caught() {
    let list = include_str!("../src/intel/data/disposable-domains.txt");
    let c = EmailChecker::embedded();
    let domains: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(domains.len() > 5000);
    for d in domains.iter().step_by(97) {
        let r = c.check(&format!("someone@{d}"));
        if r.valid {
            assert!(r.disposable, "{d}");
        }
    }
    for ordinary in [
        "jane.doe@gmail.com",
        "ops@rust-lang.org",
        "john@example.co.uk",
        "a.b@outlook.com",
    ] {
        let r = c.check(ordinary);
        assert!(r.valid && !r.disposable, "{ordinary}: {r:?}");
    }
}

#[test]
fn url_blocklists_from_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/intel");
    let hosts = std::fs::read_to_string(format!("{dir}/phishing.hosts")).unwrap();
    let plain = std::fs::read_to_string(format!("{dir}/malware.txt")).unwrap();
    let c = UrlChecker::new()
        .phishing(DomainList::parse(&hosts))
        .malware(DomainList::parse(&plain));
    assert!(
        c.check("https://login.secure-bank-verify.example/")
            .unwrap()
            .phishing
    );
    assert!(
        c.check("http://payload.example/dropper.exe")
            .unwrap()
            .malware
    );
    assert!(!c.check("https://www.rust-lang.org/").unwrap().is_unsafe);
}
