//! axum extractors for the types the layers insert (feature `axum`).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::core::clock::{Clock, SystemClock};
use crate::core::ext::{ClientIp, Principal, peer_addr};
use crate::core::reject::{Rejection, RejectionContext, RejectionKind, Renderer};

impl IntoResponse for Rejection {
    /// The default JSON body at the system clock's time, with a fresh request id.
    fn into_response(self) -> Response {
        let cx = RejectionContext::from_headers(&http::HeaderMap::new(), SystemClock.now());
        Renderer::default()
            .reject_with::<axum::body::Body>(&cx, self)
            .map(crate::core::body::ShieldBody::into_axum)
    }
}

/// Reads the [`ClientIp`] that `ClientIpLayer` inserted; without the layer, the socket
/// peer (`ConnectInfo<SocketAddr>` or [`PeerAddr`](crate::core::ext::PeerAddr)). With
/// neither, the handler is misconfigured and the request fails with 500.
impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        from_parts(parts).ok_or_else(|| {
            Rejection::new(
                RejectionKind::Misconfigured,
                "no client address: add ClientIpLayer, or serve with into_make_service_with_connect_info",
            )
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(from_parts(parts))
    }
}

fn from_parts(parts: &Parts) -> Option<ClientIp> {
    crate::core::ext::client_ip(&parts.extensions)
        .copied()
        .or_else(|| peer_addr(&parts.extensions).map(|a| ClientIp::from_peer(a.ip())))
}

/// Reads the [`Principal`] an authentication layer inserted; 401 without one.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        crate::core::ext::principal(&parts.extensions)
            .cloned()
            .ok_or_else(|| Rejection::new(RejectionKind::InvalidApiKey, "authentication required"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(crate::core::ext::principal(&parts.extensions).cloned())
    }
}
