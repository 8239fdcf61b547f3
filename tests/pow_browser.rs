//! Real-browser end to end: Debian's headless Chromium, driven by `playwright-core`
//! (tests/peers/pow_browser.mjs), solves the widget on the demo page, calls a route
//! behind `PowLayer` with the token, then passes the layer's interstitial on a protected
//! page. Screenshots land in `target/pow-*.png`; the widget's hash rate is printed.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/peers/node_modules` (run
//! `scripts/install-browser-deps.sh`). Without them this test FAILS, it never passes silently.
#![cfg(all(feature = "pow", feature = "axum"))]

#[path = "common/browser.rs"]
mod browser;

use axum::Router;
use axum::routing::get;
use tower_shield::pow::api::Api;
use tower_shield::pow::{MemorySiteStore, Pow, PowLayer, Site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_and_interstitial_in_headless_chromium() {
    browser::require_tools();

    let pow = Pow::builder()
        .secret("browser-test-secret-browser-test-secret")
        .unwrap()
        .build();
    let sites = MemorySiteStore::new();
    sites
        .insert(Site::new("eck_live_demo", "ecs_live_demo").unwrap())
        .unwrap();
    let captcha = Api::new(pow.clone(), sites)
        .demo_page("eck_live_demo")
        .demo_protected_url("/app/api/data")
        .into_router();
    let protected = Router::new()
        .route(
            "/app/",
            get(|| async {
                axum::response::Html(
                    "<!doctype html><title>app</title><h1 id=app>Protected app</h1>",
                )
            }),
        )
        .route(
            "/app/api/data",
            get(|| async { r#"{"data":"secret stuff"}"# }),
        )
        .layer(
            PowLayer::new(pow)
                .protect_paths(["/app"])
                .unwrap()
                .accept_site_tokens("eck_live_demo"),
        );
    let app = Router::new().nest("/captcha", captcha).merge(protected);

    let addr = browser::serve(app).await;
    let stdout = browser::run_script("pow_browser.mjs", addr, &[]).await;
    assert!(stdout.contains("widget hash rate:"));
}
