use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower_service::Service;

use super::layer::{ClassifyLayer, OnChallenge};
use crate::core::body::{BodyMode, InnerBody, ShieldBody};
use crate::core::ext::{ChallengeMark, peer_addr};
use crate::core::future::ResponseFuture;
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::verdict::{Action, Verdict};

/// How long a client told 429 on a challenge is asked to wait.
const CHALLENGE_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The service [`ClassifyLayer`] wraps around an inner service.
#[derive(Debug)]
pub struct ClassifyService<S, M = InnerBody> {
    pub(crate) inner: S,
    pub(crate) layer: std::sync::Arc<ClassifyLayer<M>>,
}

impl<S: Clone, M> Clone for ClassifyService<S, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, M> ClassifyService<S, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// What the layer does with a verdict: pure, for tests and other layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// Pass the request on.
    Pass,
    /// Pass it on, marked for proof of work.
    Mark(ChallengeMark),
    /// Refuse it.
    Reject(RejectionKind),
}

/// Decides what to do with `verdict` under the layer's settings.
pub fn enforcement(verdict: &Verdict, on_challenge: OnChallenge, dry_run: bool) -> Enforcement {
    if dry_run {
        return Enforcement::Pass;
    }
    match (verdict.action, on_challenge) {
        (Action::Block, _) => Enforcement::Reject(RejectionKind::Blocked),
        (Action::Challenge, OnChallenge::MarkForPow) => Enforcement::Mark(ChallengeMark {
            reason: "verdict.challenge",
            difficulty: None,
        }),
        (Action::Challenge, OnChallenge::TooManyRequests) => {
            Enforcement::Reject(RejectionKind::RateLimited)
        }
        (Action::Challenge, _) => Enforcement::Reject(RejectionKind::Blocked),
        _ => Enforcement::Pass,
    }
}

impl<S, M, ReqB, ResB> Service<Request<ReqB>> for ClassifyService<S, M>
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
        let ip = crate::core::ext::client_ip(req.extensions())
            .map(|c| c.ip)
            .or_else(|| peer_addr(req.extensions()).map(|a| a.ip()));
        match self.layer.decide(ip, &mut req) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(res) => ResponseFuture::ready(res),
        }
    }
}

impl<M> ClassifyLayer<M> {
    /// The layer's decision for a client at `ip`: inserts the [`Verdict`] (and a
    /// [`ChallengeMark`] when marking for proof of work), or returns the response that
    /// refuses the request.
    // The refusal is returned once and goes straight into the response future; boxing
    // it would add an allocation to every refused request.
    #[allow(clippy::result_large_err)]
    pub(crate) fn decide<ReqB, ResB>(
        &self,
        ip: Option<std::net::IpAddr>,
        req: &mut Request<ReqB>,
    ) -> Result<(), Response<ShieldBody<ResB>>> {
        let (verdict, mark) = self.judge(ip, req)?;
        req.extensions_mut().insert(verdict);
        if let Some(mark) = mark {
            req.extensions_mut().insert(mark);
        }
        Ok(())
    }

    /// [`decide`](Self::decide) without inserting: the verdict and the mark, for a caller
    /// that keeps them elsewhere (`Shield`'s one extension).
    #[allow(clippy::result_large_err)]
    pub(crate) fn judge<ReqB, ResB>(
        &self,
        ip: Option<std::net::IpAddr>,
        req: &Request<ReqB>,
    ) -> Result<(Verdict, Option<ChallengeMark>), Response<ShieldBody<ResB>>> {
        let Some(ip) = ip else {
            return Err(self.renderer.refuse(
                crate::core::metrics::Layer::Classify,
                req,
                self.clock.now(),
                Rejection::new(
                    RejectionKind::Misconfigured,
                    "no client address: add ClientIpLayer, or serve with into_make_service_with_connect_info::<SocketAddr>()",
                ),
            ));
        };
        let verdict = self.classifier.classify(ip, req.headers());
        crate::core::metrics::classify_data_age();
        match enforcement(&verdict, self.on_challenge, self.dry_run) {
            Enforcement::Pass => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::Classify);
                Ok((verdict, None))
            }
            Enforcement::Mark(mark) => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::Classify);
                Ok((verdict, Some(mark)))
            }
            Enforcement::Reject(kind) => {
                let rejection = match kind {
                    RejectionKind::RateLimited => {
                        Rejection::new(kind, "automated traffic: slow down")
                            .with_retry_after(CHALLENGE_RETRY_AFTER)
                    }
                    _ => Rejection::new(kind, "request blocked"),
                };
                // The reasons stay server-side (response extensions, logs): telling a
                // scraper which signal fired tells it what to fix.
                let mut res = self.renderer.refuse(
                    crate::core::metrics::Layer::Classify,
                    req,
                    self.clock.now(),
                    rejection,
                );
                res.extensions_mut().insert(verdict);
                Err(res)
            }
        }
    }
}
