use tower_layer::Layer;

use super::classifier::Classifier;
use super::service::ClassifyService;
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
#[derive(Clone, Debug)]
pub struct ClassifyLayer {
    pub(crate) classifier: Classifier,
    pub(crate) on_challenge: OnChallenge,
    pub(crate) dry_run: bool,
    pub(crate) renderer: Renderer,
    pub(crate) clock: SharedClock,
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
        }
    }

    /// A layer over the embedded data with the default policy.
    pub fn embedded() -> Self {
        Self::new(Classifier::embedded())
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

impl<S> Layer<S> for ClassifyLayer {
    type Service = ClassifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClassifyService {
            inner,
            // One Arc: axum clones the service for every request.
            layer: std::sync::Arc::new(self.clone()),
        }
    }
}
