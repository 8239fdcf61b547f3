//! The demo's app, built by the function `main` uses, served in-process on a free port.
//! Included by the test files that also include the demo's `app` and `config` modules.
#![allow(dead_code)] // each including file uses some of it

use std::net::SocketAddr;

/// Parses `toml` as the demo's config, with what a test must not share: a SQLite file of
/// its own (unless the config names a database), never the working directory's `data/`;
/// and the generated JWT key in one temporary folder shared by the tests (one RSA key
/// generation).
pub fn config(toml: &str) -> crate::config::Config {
    let mut cfg = crate::config::Config::parse(toml).unwrap();
    if cfg.database.url.is_none() {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "tower_shield_demo_{}_{}_{n}.db",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        cfg.database.url = Some(format!("sqlite://{}?mode=rwc", path.display()));
    }
    cfg.database.data_dir = std::env::temp_dir().join("tower_shield_demo_data");
    cfg
}

/// Serves `router` with the peer address the layers read; its address.
pub async fn serve_router(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// The demo with `toml`'s config ([`config`]), served; its address.
pub async fn serve(toml: &str) -> SocketAddr {
    serve_router(crate::app::router(&config(toml)).await.unwrap()).await
}
