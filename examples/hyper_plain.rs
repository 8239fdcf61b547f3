//! Plain hyper 1 (HTTP/1 server) + hyper-util (Tokio IO, tower adapter), no axum: the layers through `tower::ServiceBuilder`, the
//! socket peer handed over as a `PeerAddr` extension.
//!
//! ```text
//! cargo run --example hyper_plain           # PORT=3000 by default
//! curl localhost:3000/                      # -> "hello 127.0.0.1"
//! ```
//!
//! Per client: 3 requests a minute; past that, 429 `RATE_LIMITED` in the JSON error body.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_shield::client_ip::ClientIpLayer;
use tower_shield::core::{ClientIp, PeerAddr, Quota};
use tower_shield::ratelimit::RateLimitLayer;

async fn hello(req: http::Request<Incoming>) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let who = req
        .extensions()
        .get::<ClientIp>()
        .map_or_else(|| "unknown".to_owned(), |c| c.ip.to_string());
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "hello {who}\n"
    )))))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // One limiter (and its counters) for every connection.
    let limit = RateLimitLayer::new(Quota::per_minute(3));
    loop {
        let (stream, peer) = listener.accept().await?;
        let svc = ServiceBuilder::new()
            // hyper knows the peer; the layers read it from this extension.
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                req
            })
            .layer(ClientIpLayer::peer())
            .layer(limit.clone())
            .service_fn(hello);
        tokio::spawn(async move {
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .await
            {
                eprintln!("connection error: {e}");
            }
        });
    }
}
