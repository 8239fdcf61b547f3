use std::marker::PhantomData;
use std::sync::Arc;

use ipnet::IpNet;
use tower_layer::Layer;

use super::extract::{ClientIpConfig, ClientIpSource};
use super::service::ClientIpService;
use crate::core::body::{InnerBody, WrappedBody};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::reject::Renderer;

/// Inserts the request's [`ClientIp`](crate::core::ClientIp) into its extensions.
///
/// See the [module docs](super) for sources, trust and fallbacks.
#[derive(Debug)]
pub struct ClientIpLayer<M = InnerBody> {
    pub(crate) config: Arc<ClientIpConfig>,
    pub(crate) renderer: Renderer,
    pub(crate) clock: SharedClock,
    mode: PhantomData<fn() -> M>,
}

// By hand: a derive would ask `M: Clone` of the body mode marker.
impl<M> Clone for ClientIpLayer<M> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
            mode: PhantomData,
        }
    }
}

impl ClientIpLayer {
    /// The socket peer is the client; forwarding headers are ignored. The secure default.
    pub fn peer() -> Self {
        Self::new(ClientIpSource::Peer, [])
    }

    /// Reads `source` when the socket peer is one of the `trusted` proxies.
    pub fn new(source: ClientIpSource, trusted: impl IntoIterator<Item = IpNet>) -> Self {
        Self::from_config(ClientIpConfig::new(source, trusted))
    }

    /// A layer from a full config.
    pub fn from_config(config: ClientIpConfig) -> Self {
        Self {
            config: Arc::new(config),
            renderer: Renderer::default(),
            clock: Arc::new(SystemClock),
            mode: PhantomData,
        }
    }
}

impl<M> ClientIpLayer<M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> ClientIpLayer<InnerBody> {
        self.with_mode()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> ClientIpLayer<WrappedBody> {
        self.with_mode()
    }

    pub(crate) fn with_mode<M2>(self) -> ClientIpLayer<M2> {
        ClientIpLayer {
            config: self.config,
            renderer: self.renderer,
            clock: self.clock,
            mode: PhantomData,
        }
    }

    /// IPv6 prefix length for [`ClientIp::rate_key`](crate::core::ClientIp::rate_key), 1..=128 (default 64).
    pub fn v6_prefix(mut self, bits: u8) -> Result<Self, ConfigError> {
        if !(1..=128).contains(&bits) {
            return Err(ConfigError::new("v6_prefix", "must be 1..=128"));
        }
        Arc::make_mut(&mut self.config).v6_prefix = bits;
        Ok(self)
    }

    /// Most bytes of a forwarding header read from the right (default 4096); see
    /// [`ClientIpConfig::max_header_bytes`].
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).max_header_bytes = bytes;
        self
    }

    /// How rejections are rendered.
    pub fn renderer(mut self, renderer: Renderer) -> Self {
        self.renderer = renderer;
        self
    }

    /// The clock rejections are stamped with.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The config in force.
    pub fn config(&self) -> &ClientIpConfig {
        &self.config
    }
}

impl Default for ClientIpLayer {
    fn default() -> Self {
        Self::peer()
    }
}

impl<S, M> Layer<S> for ClientIpLayer<M> {
    type Service = ClientIpService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientIpService {
            inner,
            // One Arc: axum clones the service for every request.
            layer: Arc::new(self.clone()),
        }
    }
}
