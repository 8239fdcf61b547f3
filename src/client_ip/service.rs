use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::extract::{ExtractError, extract};
use super::layer::ClientIpLayer;
use crate::core::body::{BodyMode, InnerBody, ShieldBody};
use crate::core::ext::peer_addr;
use crate::core::future::ResponseFuture;
use crate::core::reject::{Rejection, RejectionKind};

/// The service [`ClientIpLayer`] wraps around an inner service.
#[derive(Debug)]
pub struct ClientIpService<S, M = InnerBody> {
    pub(crate) inner: S,
    pub(crate) layer: std::sync::Arc<ClientIpLayer<M>>,
}

impl<S: Clone, M> Clone for ClientIpService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, M> ClientIpService<S, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for ClientIpService<S, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        match self.layer.decide(&mut req) {
            Ok(_) => ResponseFuture::inner(self.inner.call(req)),
            Err(res) => ResponseFuture::ready(res),
        }
    }
}

impl<M> ClientIpLayer<M> {
    /// The layer's decision: inserts the [`ClientIp`](crate::core::ClientIp) and returns
    /// its address, or the response that refuses the request (no socket peer address:
    /// 500; an unreadable client hop behind a trusted proxy: 400).
    // The refusal is returned once and goes straight into the response future; boxing
    // it would add an allocation to every refused request.
    #[allow(clippy::result_large_err)]
    pub(crate) fn decide<ReqB, ResB>(
        &self,
        req: &mut Request<ReqB>,
    ) -> Result<std::net::IpAddr, Response<ShieldBody<ResB>>> {
        let client = self.judge(req)?;
        req.extensions_mut().insert(client);
        Ok(client.ip)
    }

    /// [`decide`](Self::decide) without inserting: the client, for a caller that keeps
    /// it elsewhere (`Shield`'s one extension).
    #[allow(clippy::result_large_err)]
    pub(crate) fn judge<ReqB, ResB>(
        &self,
        req: &Request<ReqB>,
    ) -> Result<crate::core::ext::ClientIp, Response<ShieldBody<ResB>>> {
        let peer = peer_addr(req.extensions());
        match extract(req.headers(), peer, &self.config) {
            Ok(client) => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::ClientIp);
                Ok(client)
            }
            Err(ExtractError::UnreadableForwarding) => Err(self.renderer.refuse(
                crate::core::metrics::Layer::ClientIp,
                req,
                self.clock.now(),
                Rejection::new(
                    RejectionKind::InvalidForwardedHeader,
                    "the forwarding header's client address is unreadable",
                ),
            )),
            Err(_) => {
                Err(self.renderer.refuse(
                    crate::core::metrics::Layer::ClientIp,
                    req,
                    self.clock.now(),
                    Rejection::new(
                        RejectionKind::Misconfigured,
                        "no client address: serve with into_make_service_with_connect_info::<SocketAddr>() or insert PeerAddr",
                    ),
                ))
            }
        }
    }
}
