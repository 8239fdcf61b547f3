//! One instance of a fleet: rate limits kept on Redis, so every instance started with the
//! same `REDIS_URL` and `PREFIX` shares one quota per client.
//!
//! ```text
//! PORT=3001 cargo run --example redis_fleet &     # REDIS_URL=redis://127.0.0.1:6379
//! PORT=3002 cargo run --example redis_fleet &
//! curl localhost:3001/; curl localhost:3002/; curl localhost:3001/; curl localhost:3002/
//! # the fourth answers 429: 3 requests a minute per client, across both instances
//! ```

use std::net::SocketAddr;

use axum::{Router, routing::get};
use tower_shield::Shield;
use tower_shield::core::Quota;
use tower_shield::redis::RedisStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = std::env::var("PREFIX").unwrap_or_else(|_| "fleet-example".into());
    // Connects on first use; until Redis answers, the failure policy (fail closed) answers.
    let store = RedisStore::builder(url).prefix(prefix).connect_lazy()?;
    let shield = Shield::builder()
        .rate_limit(Quota::per_minute(3))
        .redis(store)
        .build()?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let app = Router::new()
        .route(
            "/",
            get(move || async move { format!("instance {port}\n") }),
        )
        .layer(shield);
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
