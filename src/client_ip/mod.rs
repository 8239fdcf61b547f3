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
//! anything there).
//!
//! The walk reads the header's raw bytes from the right and stops at the client's hop:
//! what stands left of it is the client's own text and is never read, so no byte there
//! (non-ASCII, an unbalanced quote, 10 KB of padding) changes the answer. Several lines
//! of the header count as one list, in order; empty list elements are skipped.
//!
//! * No forwarding header, a chain made only of trusted proxies, or one shorter than the
//!   configured hop count: the socket peer is the client (nothing a client can cause).
//! * The hop where the client must stand is unreadable (not an address, not ASCII, an
//!   `unknown`/obfuscated/missing `Forwarded` node) or begins more than
//!   [`max_header_bytes`](ClientIpLayer::max_header_bytes) from the right: **400
//!   `INVALID_FORWARDED_HEADER`**. Falling back to the peer there would put the client
//!   in its proxy's place (and its rate-limit bucket, and its classification); refusing
//!   costs only the client that sent the bytes.
//! * A single-address header (`X-Real-IP` and the like) that is absent, repeated or
//!   unreadable: the peer. Your edge sets it whole, a client cannot append to it.
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
//!         Ok::<_, Infallible>(Response::new(axum::body::Body::from(ip.to_string())))
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

pub use extract::{
    ClientIpConfig, ClientIpSource, ExtractError, X_FORWARDED_FOR, extract, parse_hop,
};
pub use layer::ClientIpLayer;
pub use service::ClientIpService;
