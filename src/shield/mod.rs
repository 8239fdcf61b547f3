//! [`Shield`]: the whole stack in one layer, in the order of the architecture:
//! client IP, then authentication, (classification,) rate limiting (and proof of work).

mod stack;
mod store;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use ipnet::IpNet;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

pub use stack::{Lift, Opt, OptFuture};
pub use store::{ShieldRateStore, ShieldSingleUseStore, StoreFuture};

use crate::client_ip::{ClientIpLayer, ClientIpSource};
use crate::core::body::{BodyMode, InnerBody, ShieldBody, WrappedBody};
use crate::core::clock::{Clock, SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::ext::Decided;
use crate::core::reject::Renderer;
use crate::core::store::{MemoryRateStore, MemorySingleUseStore};
#[cfg(any(feature = "pow", feature = "ratelimit"))]
use stack::OptLayer;

#[cfg(feature = "apikey")]
use crate::auth::{ApiKeyLayer, ApiKeyStore};
#[cfg(feature = "classify")]
use crate::classify::ClassifyLayer;
#[cfg(feature = "ratelimit")]
use crate::core::quota::Quota;
#[cfg(feature = "pow")]
use crate::pow::{Pow, PowLayer, PowService};
#[cfg(feature = "ratelimit")]
use crate::ratelimit::{RateLimitLayer, RateLimitService};

/// Configures the proof-of-work layer `Shield` builds.
#[cfg(feature = "pow")]
type PowConfigure = Box<
    dyn FnOnce(
            PowLayer<ShieldSingleUseStore>,
        ) -> Result<PowLayer<ShieldSingleUseStore>, ConfigError>
        + Send,
>;

/// The API-key store type `Shield` holds.
#[cfg(feature = "apikey")]
pub type DynApiKeys = Arc<dyn ApiKeyStore>;

// The stack, innermost first. Each optional level is `Opt<Layer's service, level below>`.
#[cfg(feature = "pow")]
type L0<S> = Opt<PowService<Lift<S>, ShieldSingleUseStore, WrappedBody>, Lift<S>>;
#[cfg(not(feature = "pow"))]
type L0<S> = Lift<S>;
#[cfg(feature = "ratelimit")]
type L1<S> = Opt<RateLimitService<L0<S>, ShieldRateStore, WrappedBody>, L0<S>>;
#[cfg(not(feature = "ratelimit"))]
type L1<S> = L0<S>;
/// What runs after the synchronous front: the layers that may wait on a store.
type Rest<S> = L1<S>;

/// The decisions that never wait (client address, API key, classification), made in
/// [`ShieldService::call`] one after the other on the request in place: one `Arc` for
/// axum to clone per request and no service, future or response move per decision.
#[derive(Debug)]
struct Front {
    client_ip: ClientIpLayer,
    #[cfg(feature = "apikey")]
    api_keys: Option<ApiKeyLayer<DynApiKeys>>,
    #[cfg(feature = "classify")]
    classify: Option<ClassifyLayer>,
}

impl Front {
    /// Runs the front's layers in order; the first refusal is the response.
    #[inline]
    // The refusal is returned once and goes straight into the response future; boxing
    // it would add an allocation to every refused request.
    #[allow(clippy::result_large_err)]
    fn decide<ReqB, ResB>(
        &self,
        req: &mut Request<ReqB>,
    ) -> Result<(), Response<ShieldBody<ResB>>> {
        let client = self.client_ip.judge(req)?;
        // One extension for everything decided here (one box and one map insert, not
        // one per finding); inserted first, so a refusal below logs the client.
        req.extensions_mut().insert(Decided {
            client: Some(client),
            ..Decided::default()
        });
        #[cfg(feature = "apikey")]
        if let Some(l) = &self.api_keys
            && let Some(p) = l.judge(req)?
            && let Some(d) = req.extensions_mut().get_mut::<Decided>()
        {
            d.principal = Some(p);
        }
        #[cfg(feature = "classify")]
        if let Some(l) = &self.classify {
            let (verdict, mark) = l.judge(Some(client.ip), req)?;
            if let Some(d) = req.extensions_mut().get_mut::<Decided>() {
                d.verdict = Some(verdict);
                d.mark = mark;
            }
        }
        Ok(())
    }
}

/// The whole protection stack as one tower [`Layer`].
///
/// Built by [`Shield::builder`]; every part is also usable alone. The order is fixed so
/// no layer runs before what it depends on: the client address is known before anything
/// keys on it, and the principal before per-key quotas are looked up.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower::ServiceExt;
/// use tower_shield::{Shield, core::{PeerAddr, Quota}};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shield = Shield::builder().rate_limit(Quota::per_minute(1)).build().unwrap();
/// let app = Router::new().route("/", get(|| async { "hi" })).layer(shield);
/// let req = || {
///     let mut r = http::Request::get("/").body(axum::body::Body::empty()).unwrap();
///     r.extensions_mut().insert(PeerAddr("198.51.100.2:1000".parse().unwrap()));
///     r
/// };
/// assert_eq!(app.clone().oneshot(req()).await.unwrap().status(), 200);
/// assert_eq!(app.oneshot(req()).await.unwrap().status(), 429);
/// # }
/// ```
pub struct Shield<M = InnerBody> {
    mode: PhantomData<fn() -> M>,
    front: Arc<Front>,
    #[cfg(feature = "ratelimit")]
    rate_limit: Option<RateLimitLayer<ShieldRateStore, WrappedBody>>,
    #[cfg(feature = "pow")]
    pow: Option<PowLayer<ShieldSingleUseStore, WrappedBody>>,
    rate_store: ShieldRateStore,
    single_use: ShieldSingleUseStore,
}

// By hand: a derive would ask `M: Clone` / `M: Debug` of the marker.
impl<M> Clone for Shield<M> {
    fn clone(&self) -> Self {
        Self {
            mode: PhantomData,
            front: self.front.clone(),
            #[cfg(feature = "ratelimit")]
            rate_limit: self.rate_limit.clone(),
            #[cfg(feature = "pow")]
            pow: self.pow.clone(),
            rate_store: self.rate_store.clone(),
            single_use: self.single_use.clone(),
        }
    }
}

impl<M> std::fmt::Debug for Shield<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Shield");
        d.field("front", &self.front);
        #[cfg(feature = "ratelimit")]
        d.field("rate_limit", &self.rate_limit);
        #[cfg(feature = "pow")]
        d.field("pow", &self.pow);
        d.field("rate_store", &self.rate_store)
            .field("single_use", &self.single_use)
            .field("mode", &std::any::type_name::<M>())
            .finish()
    }
}

impl Shield {
    /// A builder with secure defaults: the client is the socket peer, nothing else runs
    /// until configured.
    pub fn builder() -> ShieldBuilder {
        ShieldBuilder::default()
    }
}

impl<M> Shield<M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> Shield<InnerBody> {
        self.with_mode()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> Shield<WrappedBody> {
        self.with_mode()
    }

    fn with_mode<M2>(self) -> Shield<M2> {
        Shield {
            mode: PhantomData,
            front: self.front,
            #[cfg(feature = "ratelimit")]
            rate_limit: self.rate_limit,
            #[cfg(feature = "pow")]
            pow: self.pow,
            rate_store: self.rate_store,
            single_use: self.single_use,
        }
    }

    /// The rate store every stateful layer of this shield shares.
    pub fn rate_store(&self) -> &ShieldRateStore {
        &self.rate_store
    }

    /// A rate-limit layer for `quota` on **this shield's store**, for a route or router
    /// that needs its own limit. On a fleet (`ShieldBuilder::redis`) its counters are
    /// shared by every instance, like the shield's own; a bare `RateLimitLayer::new`
    /// would count in a private memory store on each instance instead. Give it its own
    /// [`key_prefix`](RateLimitLayer::key_prefix) so its counters stay apart from the
    /// shield's (the default prefix `rl` is the shield's).
    ///
    /// ```
    /// use axum::{Router, routing::post};
    /// use tower_shield::{Shield, core::Quota};
    ///
    /// let shield = Shield::builder().rate_limit(Quota::per_second(20)).build().unwrap();
    /// let login = shield
    ///     .rate_limit_layer(Quota::per_minute(5))
    ///     .key_prefix("login")
    ///     .unwrap();
    /// let app: Router = Router::new()
    ///     .route("/login", post(|| async { "ok" }).route_layer(login))
    ///     .layer(shield);
    /// ```
    #[cfg(feature = "ratelimit")]
    pub fn rate_limit_layer(&self, quota: Quota) -> RateLimitLayer<ShieldRateStore> {
        RateLimitLayer::new(quota).store(self.rate_store.clone())
    }

    /// The single-use store (proof-of-work tokens, signature replay) of this shield.
    pub fn single_use_store(&self) -> &ShieldSingleUseStore {
        &self.single_use
    }

    /// The proof-of-work engine, to mount its challenge API (`pow::api::Api`) with the
    /// same keys and store, so the tokens it issues pass this shield.
    #[cfg(feature = "pow")]
    pub fn pow(&self) -> Option<&Pow<ShieldSingleUseStore>> {
        self.pow.as_ref().map(PowLayer::pow)
    }
}

/// Builds a [`Shield`].
pub struct ShieldBuilder {
    client_ip: ClientIpLayer,
    v6_prefix: Option<u8>,
    renderer: Renderer,
    /// Set by [`ShieldBuilder::clock`]; without it the layers read the system clock and
    /// the memory rate store keeps its own (the CPU's timestamp counter, no system call
    /// per request).
    clock: Option<SharedClock>,
    #[cfg(feature = "apikey")]
    api_keys: Option<ApiKeyLayer<DynApiKeys>>,
    #[cfg(feature = "classify")]
    classify: Option<ClassifyLayer>,
    #[cfg(feature = "ratelimit")]
    rate_limit: Option<RateLimitLayer>,
    #[cfg(feature = "pow")]
    pow: Option<(crate::core::secret::Secret, PowConfigure)>,
    rate_store: Option<ShieldRateStore>,
    single_use: Option<ShieldSingleUseStore>,
    max_tracked_keys: usize,
}

impl std::fmt::Debug for ShieldBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShieldBuilder")
            .field("client_ip", &self.client_ip)
            .finish_non_exhaustive()
    }
}

impl Default for ShieldBuilder {
    fn default() -> Self {
        Self {
            client_ip: ClientIpLayer::peer(),
            v6_prefix: None,
            renderer: Renderer::default(),
            clock: None,
            #[cfg(feature = "apikey")]
            api_keys: None,
            #[cfg(feature = "classify")]
            classify: None,
            #[cfg(feature = "ratelimit")]
            rate_limit: None,
            #[cfg(feature = "pow")]
            pow: None,
            rate_store: None,
            single_use: None,
            max_tracked_keys: MemoryRateStore::DEFAULT_MAX_KEYS,
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
    /// Its body mode does not matter: the shield answers in one body type for all its
    /// layers (`Shield::wrapped_body` to change it).
    pub fn client_ip_layer<M>(mut self, layer: ClientIpLayer<M>) -> Self {
        self.client_ip = layer.with_mode();
        self
    }

    /// IPv6 prefix length clients are keyed by (default 64).
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.v6_prefix = Some(bits);
        self
    }

    /// Authenticates API keys from `keys` when a request presents one (`X-API-Key` or
    /// `Authorization: Bearer`); an invalid key is refused with 401, a request without
    /// one passes anonymously. Routes that need a key demand it with the `Principal`
    /// extractor or their own `ApiKeyLayer` (`route_layer`).
    #[cfg(feature = "apikey")]
    pub fn api_keys(mut self, keys: impl ApiKeyStore) -> Self {
        let keys: DynApiKeys = Arc::new(keys);
        self.api_keys = Some(ApiKeyLayer::new(keys).optional());
        self
    }

    /// Uses a fully configured API-key layer (for example one that also reads
    /// `?apiKey=`, or requires a key on every request).
    /// Its body mode does not matter: the shield answers in one body type for all its
    /// layers (`Shield::wrapped_body` to change it).
    #[cfg(feature = "apikey")]
    pub fn api_key_layer<M>(mut self, layer: ApiKeyLayer<DynApiKeys, M>) -> Self {
        self.api_keys = Some(layer.with_mode());
        self
    }

    /// Classifies every request (human or bot, risk, network flags) and inserts its
    /// `Verdict`; blocks per the verdict's action. With no proof-of-work layer stacked, a
    /// "challenge" verdict is answered 403 (the layer's default).
    #[cfg(feature = "classify")]
    pub fn classify(mut self, classifier: crate::classify::Classifier) -> Self {
        self.classify = Some(ClassifyLayer::new(classifier));
        self
    }

    /// Uses a fully configured classify layer (dry run, challenge handling).
    /// Its body mode does not matter: the shield answers in one body type for all its
    /// layers (`Shield::wrapped_body` to change it).
    #[cfg(feature = "classify")]
    pub fn classify_layer<M>(mut self, layer: ClassifyLayer<M>) -> Self {
        self.classify = Some(layer.with_mode());
        self
    }

    /// Limits each client (its `ClientIp::rate_key`) to `quota`; a principal with its own
    /// quotas (an API key's plan) is limited by those instead.
    #[cfg(feature = "ratelimit")]
    pub fn rate_limit(mut self, quota: Quota) -> Self {
        self.rate_limit = Some(RateLimitLayer::new(quota));
        self
    }

    /// Uses a fully configured rate-limit layer. Its counters move to the shield's store
    /// (memory, or Redis with `ShieldBuilder::redis`, feature `redis`). Its body mode does
    /// not matter: the shield answers in one body type for all its layers
    /// (`Shield::wrapped_body` to change it).
    #[cfg(feature = "ratelimit")]
    pub fn rate_limit_layer<M>(mut self, layer: RateLimitLayer<MemoryRateStore, M>) -> Self {
        self.rate_limit = Some(layer.with_mode());
        self
    }

    /// Demands proof of work from the requests an earlier layer marks (a classifier verdict
    /// of "challenge", a rate limiter handing over a client): the `PowLayer` in
    /// `when_challenged` mode, keyed by `secret` (at least 32 bytes; the same on every
    /// instance of a fleet), on the shield's single-use store. A classifier stacked with
    /// it marks challenged requests instead of refusing them.
    #[cfg(feature = "pow")]
    pub fn pow(self, secret: impl Into<crate::core::secret::Secret>) -> Self {
        self.pow_with(secret, |l| Ok(l.when_challenged()))
    }

    /// Like [`ShieldBuilder::pow`], with your own configuration of the layer (protected
    /// paths, token mode, site key, ...).
    #[cfg(feature = "pow")]
    pub fn pow_with<F>(
        mut self,
        secret: impl Into<crate::core::secret::Secret>,
        configure: F,
    ) -> Self
    where
        F: FnOnce(
                PowLayer<ShieldSingleUseStore>,
            ) -> Result<PowLayer<ShieldSingleUseStore>, ConfigError>
            + Send
            + 'static,
    {
        self.pow = Some((secret.into(), Box::new(configure)));
        self
    }

    /// Bound on keys each in-memory store tracks (default 1,000,000).
    pub fn max_tracked_keys(mut self, max: usize) -> Self {
        self.max_tracked_keys = max;
        self
    }

    /// Uses `store` for rate counters (to share one store between several shields).
    pub fn rate_store(mut self, store: ShieldRateStore) -> Self {
        self.rate_store = Some(store);
        self
    }

    /// Uses `store` for single-use keys (to share one store between several shields).
    pub fn single_use_store(mut self, store: ShieldSingleUseStore) -> Self {
        self.single_use = Some(store);
        self
    }

    /// Keeps rate counters and single-use keys on Redis, shared by every instance.
    #[cfg(feature = "redis")]
    pub fn redis(mut self, store: crate::redis::RedisStore) -> Self {
        self.rate_store = Some(ShieldRateStore::Redis(store.clone()));
        self.single_use = Some(ShieldSingleUseStore::Redis(store));
        self
    }

    /// How every layer renders its rejections.
    pub fn renderer(mut self, renderer: Renderer) -> Self {
        self.renderer = renderer;
        self
    }

    /// The clock every layer reads (default: the system clock), and the clock of the
    /// in-memory single-use store the shield creates. When set, it also drives the
    /// in-memory rate store (so a `ManualClock` moves everything); unset, that store
    /// keeps its own monotonic clock (the CPU's timestamp counter anchored to the system
    /// clock, a few nanoseconds a read instead of a system call on every request).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The stack, or the first setting that cannot work.
    pub fn build(self) -> Result<Shield, ConfigError> {
        let clock: SharedClock = match &self.clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let mut client_ip = self
            .client_ip
            .renderer(self.renderer.clone())
            .clock(clock.clone());
        if let Some(bits) = self.v6_prefix {
            client_ip = client_ip.v6_prefix(bits)?;
        }
        let rate_store = self.rate_store.unwrap_or_else(|| {
            let b = MemoryRateStore::builder().max_keys(self.max_tracked_keys);
            ShieldRateStore::Memory(match &self.clock {
                Some(c) => b.clock(c.clone()).build(),
                None => b.build(),
            })
        });
        let single_use = self.single_use.unwrap_or_else(|| {
            // Always the layers' clock: a single-use id must stay redeemed for as long as
            // `Pow` (on that clock) still takes its token, even across a wall-clock step.
            // It is read per token redeemed, not per request.
            ShieldSingleUseStore::Memory(
                MemorySingleUseStore::builder()
                    .max_keys(self.max_tracked_keys)
                    .clock(clock.clone())
                    .build(),
            )
        });
        #[cfg(feature = "pow")]
        let pow = match self.pow {
            Some((secret, configure)) => {
                let engine = Pow::builder()
                    .secret(secret)?
                    .store(single_use.clone())
                    .clock(clock.clone())
                    .build();
                Some(configure(PowLayer::new(engine).renderer(self.renderer.clone()))?.with_mode())
            }
            None => None,
        };
        #[cfg(all(feature = "pow", feature = "classify"))]
        let classify = match (self.classify, pow.is_some()) {
            (Some(l), true) => Some(l.on_challenge(crate::classify::OnChallenge::MarkForPow)),
            (l, _) => l,
        };
        #[cfg(all(not(feature = "pow"), feature = "classify"))]
        let classify = self.classify;
        Ok(Shield {
            mode: PhantomData,
            front: Arc::new(Front {
                client_ip,
                #[cfg(feature = "apikey")]
                api_keys: self
                    .api_keys
                    .map(|l| l.renderer(self.renderer.clone()).clock(clock.clone())),
                #[cfg(feature = "classify")]
                classify: classify.map(|l| l.renderer(self.renderer.clone()).clock(clock.clone())),
            }),
            #[cfg(feature = "pow")]
            pow,
            #[cfg(feature = "ratelimit")]
            rate_limit: self.rate_limit.map(|l| {
                l.with_mode()
                    .renderer(self.renderer.clone())
                    .clock(clock.clone())
                    .store(rate_store.clone())
            }),
            rate_store,
            single_use,
        })
    }
}

impl<S, M> Layer<S> for Shield<M> {
    type Service = ShieldService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        #[cfg(feature = "pow")]
        let l0 = OptLayer(self.pow.clone()).layer(Lift(inner));
        #[cfg(not(feature = "pow"))]
        let l0 = Lift(inner);
        #[cfg(feature = "ratelimit")]
        let l1 = OptLayer(self.rate_limit.clone()).layer(l0);
        #[cfg(not(feature = "ratelimit"))]
        let l1 = l0;
        ShieldService {
            front: self.front.clone(),
            rest: l1,
            mode: PhantomData,
        }
    }
}

/// The service a [`Shield`] wraps around your app.
pub struct ShieldService<S, M = InnerBody> {
    front: Arc<Front>,
    rest: Rest<S>,
    mode: PhantomData<fn() -> M>,
}

impl<S: Clone, M> Clone for ShieldService<S, M> {
    fn clone(&self) -> Self {
        Self {
            front: self.front.clone(),
            rest: self.rest.clone(),
            mode: PhantomData,
        }
    }
}

impl<S, M> std::fmt::Debug for ShieldService<S, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShieldService").finish_non_exhaustive()
    }
}

impl<S, M, ReqB, ResB, E> Service<Request<ReqB>> for ShieldService<S, M>
where
    Rest<S>: Service<Request<ReqB>, Response = Response<ShieldBody<ResB>>, Error = E>,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = E;
    type Future = ShieldFuture<<Rest<S> as Service<Request<ReqB>>>::Future, ResB, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.rest.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        match self.front.decide(&mut req) {
            Ok(()) => ShieldFuture {
                state: ShieldState::Inner {
                    inner: self.rest.call(req),
                },
                mode: PhantomData,
            },
            Err(res) => ShieldFuture {
                state: ShieldState::Ready { res: Some(res) },
                mode: PhantomData,
            },
        }
    }
}

pin_project! {
    /// The response future of [`ShieldService`]: the rest of the stack's, or a refusal
    /// decided in `call`.
    pub struct ShieldFuture<F, B, M = InnerBody> {
        #[pin]
        state: ShieldState<F, B>,
        mode: PhantomData<fn() -> M>,
    }
}

pin_project! {
    #[project = ShieldStateProj]
    enum ShieldState<F, B> {
        // Waiting on the rate limiter, proof of work and the app.
        Inner { #[pin] inner: F },
        // Refused in `call`.
        Ready { res: Option<Response<ShieldBody<B>>> },
    }
}

impl<F, B, M, E> Future for ShieldFuture<F, B, M>
where
    F: Future<Output = Result<Response<ShieldBody<B>>, E>>,
    M: BodyMode<B>,
{
    type Output = Result<Response<M::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            ShieldStateProj::Inner { inner } => inner.poll(cx).map_ok(M::from_shield),
            ShieldStateProj::Ready { res } => match res.take() {
                Some(r) => Poll::Ready(Ok(M::from_shield(r))),
                None => panic!("ShieldFuture polled after completion"),
            },
        }
    }
}

#[cfg(all(test, feature = "apikey", feature = "classify"))]
mod tests {
    use super::*;
    use crate::auth::StaticApiKeys;
    use crate::core::ext::{self, ClientIp, PeerAddr, Principal};
    use crate::core::verdict::Verdict;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[tokio::test]
    async fn everything_decided_in_front_is_one_extension_and_the_readers_find_it() {
        let keys = StaticApiKeys::new()
            .key("tsk_one_0123456789abcdef", ["read"], None)
            .unwrap();
        let shield = Shield::builder()
            .api_keys(keys)
            .classify(crate::classify::Classifier::embedded())
            .build()
            .unwrap();
        let app = shield.layer(tower::service_fn(|req: Request<()>| async move {
            let e = req.extensions();
            // One `Decided`, no typed extension per finding.
            assert!(e.get::<ClientIp>().is_none());
            assert!(e.get::<Principal>().is_none());
            assert!(e.get::<Verdict>().is_none());
            let d = e.get::<Decided>().unwrap();
            assert_eq!(d.client.unwrap().ip.to_string(), "81.2.69.160");
            let found = format!(
                "{} {} {}",
                ext::client_ip(e).unwrap().ip,
                ext::principal(e).unwrap().id,
                ext::verdict(e).is_some(),
            );
            Ok::<_, Infallible>(http::Response::new(axum::body::Body::from(found)))
        }));
        let mut req = Request::get("/")
            .header("x-api-key", "tsk_one_0123456789abcdef")
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            )
            .header("accept", "text/html")
            .header("accept-language", "en")
            .header("accept-encoding", "gzip")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr("81.2.69.160:4000".parse().unwrap()));
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let want = format!(
            "81.2.69.160 {} true",
            StaticApiKeys::digest_id("tsk_one_0123456789abcdef")
        );
        assert_eq!(&body[..], want.as_bytes());
    }
}
