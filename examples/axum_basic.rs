//! An axum router wrapped in the whole `Shield`: handlers read what it decided.
//!
//! ```text
//! cargo run --example axum_basic            # PORT=3000 by default
//! curl -A 'Mozilla/5.0' -H 'Accept: text/html' localhost:3000/
//! # -> "client 127.0.0.1 (Peer): human=true risk_score=... action=Allow"
//! ```
//!
//! Per client: 5 requests a second, 10 at once; past that, 429 `RATE_LIMITED`.

use std::net::SocketAddr;

use axum::{Router, routing::get};
use tower_shield::Shield;
use tower_shield::classify::{Classifier, Verdict};
use tower_shield::core::{ClientIp, Quota};

async fn hello(ip: ClientIp, verdict: Verdict) -> String {
    format!(
        "client {} ({:?}): human={} risk_score={} action={:?}\n",
        ip.ip, ip.source, verdict.human, verdict.risk_score, verdict.action
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let shield = Shield::builder()
        .classify(Classifier::embedded())
        .rate_limit(Quota::per_second(5).burst(10))
        .build()?;
    let app = Router::new().route("/", get(hello)).layer(shield);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // The shield needs the socket peer: serve with connect info.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
