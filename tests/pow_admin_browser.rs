//! Real-browser end to end for the ECURTIY admin dashboard: Debian's headless Chromium,
//! driven by `playwright-core` (tests/peers/admin_browser.mjs), at phone width, signs in,
//! creates a site, solves the widget for it, sees the verification in the charts and
//! regenerates the keys. Screenshots land in `target/admin-*.png`.
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/peers/node_modules` (run
//! `scripts/install-browser-deps.sh`). Without them this test FAILS, it never passes silently.
#![cfg(feature = "pow-admin")]

#[path = "common/browser.rs"]
mod browser;

use axum::Router;
use tower_shield::pow::Pow;
use tower_shield::pow::admin::{Admin, AdminAuth, SqlSites};
use tower_shield::pow::api::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    browser::require_tools();
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
    let addr = browser::serve(app).await;
    browser::run_script("admin_browser.mjs", addr, &[password]).await;
    let _ = std::fs::remove_file(&db);
}
