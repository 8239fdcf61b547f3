//! Real-browser end to end: Debian's headless Chromium, driven by `playwright-core`
//! (tests/peers/pow_browser.mjs), solves the widget on the demo page, calls a route
//! behind `PowLayer` with the token, then passes the layer's interstitial on a protected
//! page. Screenshots land in `target/pow-*.png`; the widget's hash rate is printed.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/peers/node_modules` (run
//! `scripts/install-browser-deps.sh`). Without them this test FAILS, it never passes silently.
#![cfg(all(feature = "pow", feature = "axum"))]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use axum::Router;
use axum::routing::get;
use tower_shield::pow::api::Api;
use tower_shield::pow::{MemorySiteStore, Pow, PowLayer, Site};

fn require_tools(root: &Path) {
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium (Debian package `chromium`)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node");
    }
    if !root
        .join("tests/peers/node_modules/playwright-core")
        .exists()
    {
        missing.push("tests/peers/node_modules/playwright-core");
    }
    assert!(
        missing.is_empty(),
        "the real-browser test needs {}: run scripts/install-browser-deps.sh",
        missing.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_and_interstitial_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    require_tools(root);

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

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let out_dir = root.join("target");
    std::fs::create_dir_all(&out_dir).unwrap();
    let script = root.join("tests/peers/pow_browser.mjs");
    let base = format!("http://{addr}");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(base)
            .arg(out_dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success() && stdout.contains("PASS"),
        "headless Chromium run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("widget hash rate:"));
}
