//! Real-browser end to end for the ECURTIY admin dashboard: Debian's headless Chromium,
//! driven by `playwright-core` (tests/peers/admin_browser.mjs), at phone width, signs in,
//! creates a site, solves the widget for it, sees the verification in the charts and
//! regenerates the keys. Screenshots land in `target/admin-*.png`.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/peers/node_modules` (run
//! `scripts/install-browser-deps.sh`). Without them this test FAILS, it never passes silently.
#![cfg(feature = "pow-admin")]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use axum::Router;
use tower_shield::pow::Pow;
use tower_shield::pow::admin::{Admin, AdminAuth, SqlSites};
use tower_shield::pow::api::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && root
                .join("tests/peers/node_modules/playwright-core")
                .exists(),
        "the real-browser test needs /usr/bin/chromium and tests/peers/node_modules: run scripts/install-browser-deps.sh"
    );
    let db = std::env::temp_dir().join(format!(
        "tower_shield_admin_browser_{}.db",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let sites = SqlSites::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    let password = "browser test password";
    let auth = AdminAuth::new(&AdminAuth::hash_password(password).unwrap()).unwrap();
    let pow = Pow::builder()
        .secret("admin-browser-secret-admin-browser-secret")
        .unwrap()
        .build();
    let captcha = Api::new(pow, sites.clone())
        .into_router()
        .merge(Admin::new(sites, auth).base_path("/captcha").into_router());
    let app = Router::new().nest("/captcha", captcha);
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
    let script = root.join("tests/peers/admin_browser.mjs");
    let base = format!("http://{addr}");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(base)
            .arg(password)
            .arg(out_dir)
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    server.abort();
    let _ = std::fs::remove_file(&db);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success() && stdout.contains("PASS"),
        "headless Chromium run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
