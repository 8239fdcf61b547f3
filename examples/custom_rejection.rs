//! Your own error body: every refusal rendered by a closure, while the layers keep
//! adding `Retry-After` and the typed `Rejection` extension.
//!
//! ```text
//! cargo run --example custom_rejection      # PORT=3000 by default
//! for i in 1 2 3; do curl -i localhost:3000/; done
//! # the third: 429, body "slow down (RATE_LIMITED)", content-type text/plain
//! ```

use std::net::SocketAddr;

use axum::{Router, routing::get};
use bytes::Bytes;
use tower_shield::Shield;
use tower_shield::core::Quota;
use tower_shield::core::reject::{Rejection, RejectionContext, Renderer};

fn plain(r: &Rejection, cx: &RejectionContext) -> http::Response<Bytes> {
    let mut res = http::Response::new(Bytes::from(format!(
        "slow down ({}) request {}\n",
        r.code(),
        cx.request_id
    )));
    *res.status_mut() = r.status();
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    res
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Two requests per client per minute, so the third is refused.
    let shield = Shield::builder()
        .rate_limit(Quota::per_minute(2))
        .renderer(Renderer::new(plain))
        .build()?;
    let app = Router::new()
        .route("/", get(|| async { "ok\n" }))
        .layer(shield);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
