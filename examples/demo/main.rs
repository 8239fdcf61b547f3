//! The tower-shield demo server.
//!
//! ```text
//! cargo run --release --example demo                      # 127.0.0.1:8080, embedded defaults
//! cargo run --release --example demo -- --listen 0.0.0.0:9000 --config demo.toml
//! ```
//!
//! `examples/demo/demo.example.toml` shows every setting, each with a comment.

mod app;
mod config;
mod seeds;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::config::Config;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "demo", about = "A sample app wrapped in tower-shield")]
struct Args {
    /// Address to listen on [default: the config's `listen`, else 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// A TOML config file; without one the demo runs on embedded defaults.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: bad config: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let built = match app::build(&config).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: bad config: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(listen);
    println!("tower-shield demo listening on http://{addr}");
    match &args.config {
        Some(p) => println!("config: {}", p.display()),
        None => println!("config: embedded defaults (client IP = socket peer)"),
    }
    for (method, path, what) in app::ENDPOINTS {
        println!("  {method:<4} http://{addr}{path:<16} {what}");
    }
    println!(
        "credentials{}:",
        if args.config.is_some() {
            ""
        } else {
            " (embedded demo defaults)"
        }
    );
    for k in &config.api_keys {
        println!(
            "  API key      {}  ({} requests/hour, permissions {:?})",
            k.key, k.requests_per_hour, k.permissions
        );
    }
    for k in &config.signing_keys {
        println!("  signing key  {} / {}", k.id, k.secret);
    }
    for s in &config.sites {
        println!(
            "  site         {} / {}  (difficulty {}, {})",
            s.site_key, s.secret_key, s.difficulty, s.mode
        );
    }
    println!(
        "store: {:?}{}",
        config.store.backend,
        if config.store.backend == config::Backend::Redis {
            let at = if config.store.cluster_nodes.is_empty() {
                redact_userinfo(&config.store.redis_url)
            } else {
                let nodes: Vec<String> = config
                    .store
                    .cluster_nodes
                    .iter()
                    .map(|n| redact_userinfo(n))
                    .collect();
                format!("cluster {}", nodes.join(", "))
            };
            format!(" at {at} (prefix {:?})", config.store.prefix)
        } else {
            String::new()
        }
    );
    println!("  JWT key      {}", built.jwt_key);
    println!("ECURTIY sites and analytics: {}", built.database_url);
    println!("  dashboard    http://{addr}/captcha/admin/");
    match &built.one_time_admin {
        Some(once) => {
            println!(
                "  admin password (one-time, this run only; set [admin] password_hash to keep one): {}",
                once.password
            );
            if let Some(t) = &once.token {
                println!(
                    "  admin token  {t}  (curl -H 'Authorization: Bearer {t}' http://{addr}/captcha/api/sites)"
                );
            }
        }
        None => println!("  admin password: from the config's [admin] password_hash"),
    }
    println!("try:");
    println!("  curl -H 'X-Forwarded-For: 1.2.3.4' http://{addr}/api/whoami");
    if let Some(k) = config.api_keys.first() {
        println!(
            "  curl -H 'X-API-Key: {}' http://{addr}/app/api/data",
            k.key
        );
    }
    let served = axum::serve(
        listener,
        built
            .router
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    // Write the analytics events still queued (a crash would lose them; a shutdown need not).
    built.sites.flush().await;
    match served {
        Ok(()) => {
            tracing::info!("shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: server failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}

/// `redis://user:secret@host:6379` -> `redis://***@host:6379`: the startup banner names the
/// store without printing its password.
fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme + 3 => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
