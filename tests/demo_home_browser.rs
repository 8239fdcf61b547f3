//! Real-browser end to end for the demo's home page, through the demo binary as users start
//! it: Debian's headless Chromium, driven by `playwright-core`
//! (tests/peers/demo_home_browser.mjs), submits every "try it" form (602TechSec v1 and v2,
//! Auspex Verus signed in the browser with WebCrypto, Engineering11 token, `me` and the
//! three lookups, an ECURTIY challenge), checks each answer the page shows, and follows the
//! links to the widget page and the dashboard. Screenshots land in
//! `target/browser-shots/home/` (printed in the test output).
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/peers/node_modules` (run
//! `scripts/install-browser-deps.sh`). Without them this test FAILS, it never passes silently.
#![cfg(feature = "pow-admin")]

#[path = "common/browser.rs"]
mod browser;
#[path = "common/demo_process.rs"]
mod demo_process;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_page_try_it_forms_in_headless_chromium() {
    browser::require_tools();
    let demo = demo_process::start("tower_shield_home_browser", "");
    browser::run_script_shots("demo_home_browser.mjs", demo.addr, &[], "home").await;
}
