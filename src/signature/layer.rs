use std::fmt;
use std::sync::Arc;

use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use tower_layer::Layer;

use super::service::SignatureService;
use super::verify::{SignatureError, Verifier};
use crate::core::body::ShieldBody;
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::reject::{Rejection, RejectionContext, Renderer};
use crate::core::store::{MemorySingleUseStore, SingleUseStore};

/// Verifies SigV4 request signatures, inserts the signer's
/// [`Principal`](crate::core::Principal), and passes the request on with its body
/// intact (as [`SignedBody`](super::SignedBody)).
///
/// See the [module docs](super) for the rules, status codes and caveats.
/// `R` is the replay store's type; replay protection is off until
/// [`SignatureLayer::replay_protection`] is called.
pub struct SignatureLayer<R = MemorySingleUseStore> {
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) replay: Option<Arc<R>>,
    pub(crate) renderer: Renderer,
    pub(crate) clock: SharedClock,
}

impl SignatureLayer {
    /// A layer around `verifier`, without replay protection, on the system clock.
    pub fn new(verifier: Verifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            replay: None,
            renderer: Renderer::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl<R: SingleUseStore> SignatureLayer<R> {
    /// Accepts each signed request once: its (key id, signature) is remembered in
    /// `store` for twice the time window (a presigned URL: until it expires, at
    /// least twice the window). A store error answers 503 (fail closed).
    pub fn replay_protection<R2: SingleUseStore>(self, store: R2) -> SignatureLayer<R2> {
        SignatureLayer {
            verifier: self.verifier,
            replay: Some(Arc::new(store)),
            renderer: self.renderer,
            clock: self.clock,
        }
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
    pub(crate) fn reject<B>(
        &self,
        cx: &RejectionContext,
        err: SignatureError,
    ) -> Response<ShieldBody<B>> {
        self.renderer.reject_with(cx, self.rejection(err))
    }
}

impl<R> Clone for SignatureLayer<R> {
    fn clone(&self) -> Self {
        Self {
            verifier: self.verifier.clone(),
            replay: self.replay.clone(),
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<R> fmt::Debug for SignatureLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureLayer")
            .field("verifier", &self.verifier)
            .field("replay_protection", &self.replay.is_some())
            .field("renderer", &self.renderer)
            .finish_non_exhaustive()
    }
}

impl<S, R> Layer<S> for SignatureLayer<R> {
    type Service = SignatureService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        SignatureService {
            inner,
            layer: self.clone(),
        }
    }
}
