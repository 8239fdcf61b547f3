use std::marker::PhantomData;

use tower_layer::Layer;

use super::classifier::Classifier;
use super::service::ClassifyService;
use crate::core::body::{InnerBody, WrappedBody};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::reject::Renderer;

/// What [`ClassifyLayer`] does with a verdict whose action is "challenge".
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnChallenge {
    /// Insert a [`ChallengeMark`](crate::core::ChallengeMark) and pass the request on, for
    /// a `PowLayer` stacked behind this one. Without one, nothing enforces the challenge.
    MarkForPow,
    /// Answer 403 `BLOCKED` (the default: secure when no proof-of-work layer is stacked).
    #[default]
    Forbidden,
    /// Answer 429 `RATE_LIMITED` with `Retry-After`, which well-behaved clients back off on.
    TooManyRequests,
}

/// Classifies each request and inserts its [`Verdict`](crate::core::verdict::Verdict);
/// blocks or challenges per the verdict's action. See the [module docs](super).
#[derive(Debug)]
pub struct ClassifyLayer<M = InnerBody> {
    pub(crate) classifier: Classifier,
    pub(crate) on_challenge: OnChallenge,
    pub(crate) dry_run: bool,
    pub(crate) renderer: Renderer,
    pub(crate) clock: SharedClock,
    mode: PhantomData<fn() -> M>,
}

// By hand: a derive would ask `M: Clone` of the body mode marker.
impl<M> Clone for ClassifyLayer<M> {
    fn clone(&self) -> Self {
        Self {
            classifier: self.classifier.clone(),
            on_challenge: self.on_challenge,
            dry_run: self.dry_run,
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
            mode: PhantomData,
        }
    }
}

impl ClassifyLayer {
    /// A layer over `classifier` that enforces its actions.
    pub fn new(classifier: Classifier) -> Self {
        Self {
            classifier,
            on_challenge: OnChallenge::default(),
            dry_run: false,
            renderer: Renderer::default(),
            clock: std::sync::Arc::new(SystemClock),
            mode: PhantomData,
        }
    }

    /// A layer over the embedded data with the default policy.
    pub fn embedded() -> Self {
        Self::new(Classifier::embedded())
    }
}

impl<M> ClassifyLayer<M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> ClassifyLayer<InnerBody> {
        self.with_mode()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> ClassifyLayer<WrappedBody> {
        self.with_mode()
    }

    pub(crate) fn with_mode<M2>(self) -> ClassifyLayer<M2> {
        ClassifyLayer {
            classifier: self.classifier,
            on_challenge: self.on_challenge,
            dry_run: self.dry_run,
            renderer: self.renderer,
            clock: self.clock,
            mode: PhantomData,
        }
    }

    /// Only annotate: insert the verdict, never refuse or mark a request.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// What to do when the action is "challenge" (default [`OnChallenge::Forbidden`]).
    pub fn on_challenge(mut self, on_challenge: OnChallenge) -> Self {
        self.on_challenge = on_challenge;
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

    /// The classifier (clone it to swap tables at run time).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}

impl<S, M> Layer<S> for ClassifyLayer<M> {
    type Service = ClassifyService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        ClassifyService {
            inner,
            // One Arc: axum clones the service for every request.
            layer: std::sync::Arc::new(self.clone()),
        }
    }
}
