//! Who the client really is (feature `client-ip`).
//!
//! [`ClientIpLayer`] decides the client's address once and inserts a
//! [`ClientIp`](crate::core::ClientIp) into the request's extensions; every later layer
//! and handler reads that instead of re-parsing headers.
//!
//! # Trust
//!
//! Forwarding headers are written by whoever sends the request, so they are read
//! **only when the socket peer is one of the trusted proxies** you configure, and then
//! walked from the right: the rightmost hop that is not one of your proxies is the
//! client. The leftmost `X-Forwarded-For` entry is never used (any client can put
//! anything there). On anything odd (a header that is empty, too long, not ASCII,
//! unparseable, shorter than the configured hop count, made only of trusted proxies,
//! or an `unknown`/obfuscated `Forwarded` node) the layer falls back to the socket
//! peer: it never guesses and never lumps clients into a shared "unknown" bucket.
//!
//! The socket peer comes from axum's `ConnectInfo<SocketAddr>` (serve with
//! `into_make_service_with_connect_info::<SocketAddr>()`), or from a
//! [`PeerAddr`](crate::core::PeerAddr) extension under plain hyper. With neither, the
//! layer answers 500 `SERVER_MISCONFIGURED` rather than run without a client address.
//!
//! # Caveats
//!
//! * A trusted CIDR that is too wide (say, your whole cloud region) lets anyone in it
//!   forge addresses. List your proxies, not your neighbours.
//! * Behind a CDN, the CDN's egress ranges must be trusted, and change over time.
//! * IPv6 clients are keyed by their /64 (configurable) in
//!   [`ClientIp::rate_key`](crate::core::ClientIp::rate_key).
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};
//! use tower_shield::core::{ClientIp, PeerAddr};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(ClientIpLayer::new(ClientIpSource::RightmostXForwardedFor, ["10.0.0.0/8".parse().unwrap()]))
//!     .service(service_fn(|req: Request<()>| async move {
//!         let ip = req.extensions().get::<ClientIp>().unwrap().ip;
//!         Ok::<_, Infallible>(Response::new(ip.to_string()))
//!     }));
//!
//! let mut req = Request::get("/").header("x-forwarded-for", "198.51.100.7").body(()).unwrap();
//! req.extensions_mut().insert(PeerAddr("10.1.2.3:5000".parse().unwrap()));
//! let res = svc.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // No peer address reaches the layer: a loud 500, not a guess.
//! let res = svc.oneshot(Request::get("/").body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
//! # }
//! ```

mod extract;
mod layer;
mod service;

pub use extract::{ClientIpConfig, ClientIpSource, X_FORWARDED_FOR, extract, parse_hop};
pub use layer::ClientIpLayer;
pub use service::ClientIpService;
