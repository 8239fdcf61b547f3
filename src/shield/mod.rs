//! [`Shield`]: the whole stack in one layer, in the order of the architecture:
//! client IP, then authentication, classification, rate limiting and proof of work.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use ipnet::IpNet;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::client_ip::{ClientIpLayer, ClientIpService, ClientIpSource};
use crate::core::body::ShieldBody;
use crate::core::clock::{Clock, SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::reject::Renderer;

/// The whole protection stack as one tower [`Layer`].
///
/// Built by [`Shield::builder`]; every part it holds is also usable alone. The order is
/// fixed so no layer runs before what it depends on: the client address is known
/// before anything keys on it.
///
/// ```
/// use tower_shield::Shield;
/// use tower_shield::client_ip::ClientIpSource;
///
/// let shield = Shield::builder()
///     .client_ip(ClientIpSource::RightmostXForwardedFor, ["10.0.0.0/8".parse().unwrap()])
///     .build()
///     .unwrap();
/// # let _ = shield;
/// ```
#[derive(Clone, Debug)]
pub struct Shield {
    client_ip: ClientIpLayer,
}

impl Shield {
    /// A builder with secure defaults: the client is the socket peer.
    pub fn builder() -> ShieldBuilder {
        ShieldBuilder::default()
    }
}

/// Builds a [`Shield`].
#[derive(Debug)]
pub struct ShieldBuilder {
    client_ip: ClientIpLayer,
    v6_prefix: Option<u8>,
    renderer: Renderer,
    clock: SharedClock,
}

impl Default for ShieldBuilder {
    fn default() -> Self {
        Self {
            client_ip: ClientIpLayer::peer(),
            v6_prefix: None,
            renderer: Renderer::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl ShieldBuilder {
    /// Reads the client address from `source` when the peer is one of `trusted`.
    pub fn client_ip(
        mut self,
        source: ClientIpSource,
        trusted: impl IntoIterator<Item = IpNet>,
    ) -> Self {
        self.client_ip = ClientIpLayer::new(source, trusted);
        self
    }

    /// Uses a fully configured client-IP layer.
    pub fn client_ip_layer(mut self, layer: ClientIpLayer) -> Self {
        self.client_ip = layer;
        self
    }

    /// IPv6 prefix length clients are keyed by (default 64).
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.v6_prefix = Some(bits);
        self
    }

    /// How every layer renders its rejections.
    pub fn renderer(mut self, renderer: Renderer) -> Self {
        self.renderer = renderer;
        self
    }

    /// The clock every layer reads (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The stack, or the first setting that cannot work.
    pub fn build(self) -> Result<Shield, ConfigError> {
        let mut client_ip = self
            .client_ip
            .renderer(self.renderer.clone())
            .clock(self.clock.clone());
        if let Some(bits) = self.v6_prefix {
            client_ip = client_ip.v6_prefix(bits)?;
        }
        Ok(Shield { client_ip })
    }
}

impl<S> Layer<S> for Shield {
    type Service = ShieldService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ShieldService {
            inner: self.client_ip.layer(inner),
        }
    }
}

/// The service a [`Shield`] wraps around your app.
#[derive(Clone, Debug)]
pub struct ShieldService<S> {
    inner: ClientIpService<S>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ShieldService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ShieldBody<ResB>>;
    type Error = S::Error;
    type Future = ShieldFuture<<ClientIpService<S> as Service<Request<ReqB>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        ShieldFuture {
            inner: self.inner.call(req),
        }
    }
}

pin_project! {
    /// The response future of [`ShieldService`].
    pub struct ShieldFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for ShieldFuture<F>
where
    F: Future<Output = Result<Response<ShieldBody<B>>, E>>,
{
    type Output = Result<Response<ShieldBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(ready!(self.project().inner.poll(cx)))
    }
}
