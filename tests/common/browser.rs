//! What the real-browser tests share: the tool check, a server on a free port, and a
//! playwright-core script run against it (its stdout must end in `PASS`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) without Debian's chromium, node and playwright-core.
pub fn require_tools() {
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium (Debian package `chromium`)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node");
    }
    if !root()
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

/// Serves `app` on a free loopback port (with `ConnectInfo`) until the test ends.
#[allow(dead_code)]
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// Runs `node tests/peers/<script> <base-url> <args...> <screenshot dir>`; panics with the
/// output unless it exits 0 and prints `PASS`. Returns its stdout.
#[allow(dead_code)]
pub async fn run_script(script: &str, addr: SocketAddr, args: &[&str]) -> String {
    run_script_in(script, addr, args, root().join("target")).await
}

/// [`run_script`] with the screenshots in `target/browser-shots/<dir>/` (named in the
/// test's output).
#[allow(dead_code)]
pub async fn run_script_shots(script: &str, addr: SocketAddr, args: &[&str], dir: &str) -> String {
    let out_dir = root().join("target/browser-shots").join(dir);
    println!("screenshots: {}", out_dir.display());
    run_script_in(script, addr, args, out_dir).await
}

async fn run_script_in(script: &str, addr: SocketAddr, args: &[&str], out_dir: PathBuf) -> String {
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/peers").join(script))
        .arg(format!("http://{addr}"))
        .args(args)
        .arg(out_dir);
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success() && stdout.contains("PASS"),
        "headless Chromium run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}
