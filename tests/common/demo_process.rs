//! The demo as users start it: the built binary `target/<profile>/examples/demo` with a
//! config file of its own, on a free port, its one-time admin password read from what it
//! prints at start (as a user reads it off the terminal).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A running demo; killed (and its temporary directory removed) on drop.
pub struct Demo {
    child: Child,
    /// Where it listens.
    #[allow(dead_code)]
    pub addr: SocketAddr,
    /// The one-time admin password it printed (not every test signs in).
    #[allow(dead_code)]
    pub password: String,
    /// What it printed at start, up to and including the admin password line.
    #[allow(dead_code)]
    pub banner: Vec<String>,
    /// Its temporary directory (config, database and generated JWT key).
    pub dir: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().and_then(|m| m.modified()).ok()
        };
        newest = newest.max(t);
    }
    newest
}

/// The demo binary beside this test binary (`target/<profile>/examples/demo`). `cargo test`
/// builds it; with `--test NAME` cargo builds only that test, so a missing binary, or one
/// older than the sources under `src/` and `examples/demo/`, is built here first (the test
/// must never drive a stale demo).
pub fn demo_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir
        .join("examples")
        .join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let sources = newest_mtime(&root.join("src")).max(newest_mtime(&root.join("examples/demo")));
    if built.is_none() || built < sources {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--all-features", "--example", "demo"])
            .current_dir(root);
        // Without the variables cargo set for this test (CARGO_PKG_*, CARGO_MANIFEST_DIR,
        // ...): build scripts that watch them would otherwise rebuild on every switch
        // between this build and the test build.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if (k.starts_with("CARGO_")
                && !matches!(&*k, "CARGO_HOME" | "CARGO_TARGET_DIR" | "CARGO_BUILD_JOBS"))
                || k == "OUT_DIR"
            {
                cmd.env_remove(&*k);
            }
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let ok = cmd.status().expect("cargo build --example demo");
        assert!(ok.success(), "cargo build --example demo failed");
    }
    bin
}

/// Starts the demo with `extra_toml` appended to a config that sets `listen` (a free
/// port) and a SQLite database and the data directory (where its JWT signing key is
/// generated) in a fresh temporary directory. Waits until it listens.
pub fn start(tag: &str, extra_toml: &str) -> Demo {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("demo.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\n[database]\nurl = \"sqlite://{}?mode=rwc\"\ndata_dir = \"{}\"\n{extra_toml}",
            dir.join("demo.db").display(),
            dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(demo_binary())
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the demo");
    // Read the banner up to the admin password; keep draining stdout after (logs).
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        let mut banner = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.is_some() {
                banner.push(line.clone());
            }
            if let Some(pw) = line
                .split_once("admin password (one-time")
                .and_then(|(_, rest)| rest.rsplit_once(": "))
                .map(|(_, pw)| pw.trim().to_owned())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send((pw, std::mem::take(&mut banner)));
            }
        }
    });
    let (password, banner) = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(got) => got,
        Err(_) => {
            let _ = child.kill();
            panic!("the demo printed no one-time admin password");
        }
    };
    let end = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < end, "demo did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Demo {
        child,
        addr,
        password,
        banner,
        dir,
    }
}
