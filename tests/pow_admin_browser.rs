//! Real-browser end to end for the ECURTIY admin dashboard, through the demo as users start
//! it: the built demo binary with a config file, on a free port, under its own `/captcha`
//! mount, signed in with the one-time password it prints. Debian's headless Chromium,
//! driven by `playwright-core` (tests/peers/admin_browser.mjs), signs in, lists the sites,
//! creates one, edits it, solves the widget for it, reads the analytics and their charts
//! for every period, regenerates the keys, deletes the site and signs out. One screenshot
//! per page lands in `target/browser-shots/dashboard/` (printed in the test output).
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/peers/node_modules` (run
//! `scripts/install-browser-deps.sh`). Without them this test FAILS, it never passes silently.
#![cfg(feature = "pow-admin")]

#[path = "common/browser.rs"]
mod browser;
#[path = "common/demo_process.rs"]
mod demo_process;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_through_the_demo_in_headless_chromium() {
    browser::require_tools();
    let demo = demo_process::start("tower_shield_admin_browser", "");
    browser::run_script_shots(
        "admin_browser.mjs",
        demo.addr,
        &[&demo.password],
        "dashboard",
    )
    .await;
}
