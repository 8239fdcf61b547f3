use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;

use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use tower_layer::Layer;

use super::SignedBody;
use super::service::SignatureService;
use super::verify::{SignatureError, Verifier};
use crate::core::body::{InnerBody, ShieldBody, WrappedBody};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::reject::{Rejection, RejectionContext, Renderer};
use crate::core::store::{MemorySingleUseStore, SingleUseStore};

/// Verifies SigV4 request signatures, inserts the signer's
/// [`Principal`](crate::core::Principal), and passes the request on with its body
/// intact: by default as [`SignedBody`](super::SignedBody), or any body type built
/// from [`Bytes`] chosen with [`SignatureLayer::forward_body`] (e.g.
/// `axum::body::Body`, so a stack has one body type whether or not it verifies).
///
/// See the [module docs](super) for the rules, status codes and caveats.
/// `R` is the replay store's type; replay protection is off until
/// [`SignatureLayer::replay_protection`] is called. `B` is the body type the inner
/// service receives.
pub struct SignatureLayer<R = MemorySingleUseStore, B = SignedBody, M = InnerBody> {
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) replay: Option<Arc<R>>,
    pub(crate) renderer: Renderer,
    pub(crate) clock: SharedClock,
    pub(crate) _body: PhantomData<fn() -> B>,
    pub(crate) _mode: PhantomData<fn() -> M>,
}

impl SignatureLayer {
    /// A layer around `verifier`, without replay protection, on the system clock.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            replay: None,
            renderer: Renderer::default(),
            clock: Arc::new(SystemClock),
            _body: PhantomData,
            _mode: PhantomData,
        }
    }
}

impl<R: SingleUseStore, B, M> SignatureLayer<R, B, M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> SignatureLayer<R, B, InnerBody> {
        self.retyped()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> SignatureLayer<R, B, WrappedBody> {
        self.retyped()
    }

    /// The same layer with another forwarded body type or body mode.
    fn retyped<B2, M2>(self) -> SignatureLayer<R, B2, M2> {
        SignatureLayer {
            verifier: self.verifier,
            replay: self.replay,
            renderer: self.renderer,
            clock: self.clock,
            _body: PhantomData,
            _mode: PhantomData,
        }
    }

    /// Accepts each signed request once: its (key id, signature) is remembered in
    /// `store` for twice the time window (a presigned URL: until it expires, at
    /// least twice the window). A store error answers 503 (fail closed).
    pub fn replay_protection<R2: SingleUseStore>(self, store: R2) -> SignatureLayer<R2, B, M> {
        SignatureLayer {
            verifier: self.verifier,
            replay: Some(Arc::new(store)),
            renderer: self.renderer,
            clock: self.clock,
            _body: PhantomData,
            _mode: PhantomData,
        }
    }

    /// Hands the inner service the verified body as `B2` (any `From<Bytes>` body,
    /// e.g. `axum::body::Body`) instead of [`SignedBody`](super::SignedBody).
    pub fn forward_body<B2: From<Bytes>>(self) -> SignatureLayer<R, B2, M> {
        self.retyped()
    }

    /// How rejections are rendered.
    pub fn renderer(mut self, renderer: Renderer) -> Self {
        self.renderer = renderer;
        self
    }

    /// The clock the time window is checked against.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The verifier (to verify outside a service, or clear its key cache).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The rejection for `err`, with `WWW-Authenticate: <algorithm>` on 401s.
    pub(crate) fn rejection(&self, err: SignatureError) -> Rejection {
        tracing::debug!(reason = %err, "SignatureLayer: refused");
        let mut rejection = err.rejection();
        if rejection.status() == StatusCode::UNAUTHORIZED
            && let Ok(v) = HeaderValue::from_str(self.verifier.dialect().algorithm())
        {
            rejection = rejection.with_header(WWW_AUTHENTICATE, v);
        }
        rejection
    }

    /// The response for `err`: the shared JSON body, the rejection in the extensions.
    pub(crate) fn reject<ResB>(
        &self,
        cx: &RejectionContext,
        err: SignatureError,
    ) -> Response<ShieldBody<ResB>> {
        self.renderer.refuse_with(
            crate::core::metrics::Layer::Signature,
            cx,
            self.rejection(err),
        )
    }
}

impl<R, B, M> Clone for SignatureLayer<R, B, M> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            replay: self.replay.clone(),
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
            _body: PhantomData,
            _mode: PhantomData,
        }
    }
}

impl<R, B, M> fmt::Debug for SignatureLayer<R, B, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureLayer")
            .field("verifier", &self.verifier)
            .field("replay_protection", &self.replay.is_some())
            .field("renderer", &self.renderer)
            .finish_non_exhaustive()
    }
}

impl<S, R, B, M> Layer<S> for SignatureLayer<R, B, M> {
    type Service = SignatureService<S, R, B, M>;

    fn layer(&self, inner: S) -> Self::Service {
        SignatureService {
            inner,
            // One Arc: axum clones the service, and the future takes the layer, per request.
            layer: Arc::new(self.clone()),
        }
    }
}
