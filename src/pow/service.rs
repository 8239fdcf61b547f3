//! [`PowService`] and its named response future.
//!
//! The decision is made in `call`. Redeeming a token or a challenge goes through the
//! single-use store: a memory store answers at once (the future is polled once in
//! `call`, and the inner service is called without being cloned); a networked store's
//! future is kept in [`PowFuture`] with a clone of the inner service.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::challenge::ChallengeClaims;
use super::engine::SolutionInfo;
use super::layer::{Config, Decision};
use super::wire;
use crate::core::body::{BodyMode, InnerBody, ShieldBody};
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::store::{MemorySingleUseStore, SingleUseStore, StoreError};

/// The service [`PowLayer`](super::PowLayer) wraps around an inner service.
pub struct PowService<S, U = MemorySingleUseStore, M = InnerBody> {
    pub(crate) inner: S,
    pub(crate) cfg: Arc<Config<U>>,
    pub(crate) mode: PhantomData<fn() -> M>,
}

impl<S: Clone, U, M> Clone for PowService<S, U, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            cfg: self.cfg.clone(),
            mode: PhantomData,
        }
    }
}

impl<S: std::fmt::Debug, U, M> std::fmt::Debug for PowService<S, U, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, U, M> PowService<S, U, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

type Headers = Vec<(HeaderName, HeaderValue)>;

/// What waits for the store.
pub(crate) enum Then<S, ReqB> {
    /// A token being redeemed: forward the request on first use.
    Forward {
        svc: S,
        req: Request<ReqB>,
        from_cookie: bool,
    },
    /// A challenge being redeemed at the verify endpoint.
    Verify {
        req: Request<ReqB>,
        claims: Box<ChallengeClaims>,
        nonce: u64,
        info: SolutionInfo,
    },
}

pin_project! {
    #[project = StateProj]
    pub(crate) enum State<S, ReqB, ResB, U>
    where
        S: Service<Request<ReqB>>,
        U: SingleUseStore,
    {
        Inner {
            #[pin]
            fut: S::Future,
            after: Headers,
        },
        Ready {
            res: Option<Response<ShieldBody<ResB>>>,
        },
        // Boxed: only a store that does IO (Redis) gets here, and the request it holds
        // would otherwise make every response future of the stack larger.
        Redeeming {
            check: U::Future,
            then: Option<Box<Then<S, ReqB>>>,
            cfg: Arc<Config<U>>,
            now: Duration,
        },
    }
}

pin_project! {
    /// The response future of [`PowService`].
    pub struct PowFuture<S, ReqB, ResB, U, M = InnerBody>
    where
        S: Service<Request<ReqB>>,
        U: SingleUseStore,
    {
        #[pin]
        state: State<S, ReqB, ResB, U>,
        mode: PhantomData<fn() -> M>,
    }
}

fn ready<S, ReqB, ResB, U>(res: Response<Bytes>) -> State<S, ReqB, ResB, U>
where
    S: Service<Request<ReqB>>,
    U: SingleUseStore,
{
    State::Ready {
        res: Some(res.map(ShieldBody::full)),
    }
}

fn store_failed(e: &StoreError) -> Rejection {
    tracing::error!(error = %e, "pow single-use store failed: failing closed");
    Rejection::new(
        RejectionKind::StoreUnavailable,
        "Verification is temporarily unavailable. Retry shortly.",
    )
    .with_retry_after(Duration::from_secs(1))
}

/// The answer when a token's redemption did not succeed.
fn denied<U: SingleUseStore, B>(
    cfg: &Config<U>,
    req: &Request<B>,
    result: Result<bool, StoreError>,
    now: Duration,
) -> Response<Bytes> {
    match result {
        Err(e) => wire::error(req.headers(), now, store_failed(&e)),
        _ => cfg.challenge_response(
            req,
            Rejection::new(RejectionKind::TokenUsed, "The token has already been used"),
            now,
        ),
    }
}

/// Acts on the store's answer.
fn resolve<S, ReqB, ResB, U>(
    cfg: &Config<U>,
    then: Then<S, ReqB>,
    result: Result<bool, StoreError>,
    now: Duration,
) -> State<S, ReqB, ResB, U>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    U: SingleUseStore,
{
    match then {
        Then::Forward {
            mut svc,
            req,
            from_cookie,
        } => match result {
            Ok(true) => {
                crate::core::metrics::pow(crate::core::metrics::PowEvent::Redeemed);
                let after = cfg.after_redeem(&req, from_cookie, now);
                State::Inner {
                    fut: svc.call(req),
                    after,
                }
            }
            other => ready(denied(cfg, &req, other, now)),
        },
        Then::Verify {
            req,
            claims,
            nonce,
            info,
        } => match result {
            Ok(true) => ready(cfg.verified(&req, &claims, nonce, &info, now)),
            Ok(false) => ready(wire::error(
                req.headers(),
                now,
                Rejection::new(
                    RejectionKind::ChallengeExpired,
                    "The challenge was already used",
                ),
            )),
            Err(e) => ready(wire::error(req.headers(), now, store_failed(&e))),
        },
    }
}

impl<S, U, M, ReqB, ResB> Service<Request<ReqB>> for PowService<S, U, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    U: SingleUseStore,
    U::Future: Unpin,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = PowFuture<S, ReqB, ResB, U, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let now = self.cfg.pow.now();
        match self.cfg.decide(&req, now) {
            // The hot path, built in place: a request with a valid pass (or an
            // unprotected one) goes straight to the inner service.
            Decision::Pass => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::Pow);
                PowFuture {
                    state: State::Inner {
                        fut: self.inner.call(req),
                        after: Vec::new(),
                    },
                    mode: PhantomData,
                }
            }
            decision => PowFuture {
                state: self.answer(decision, req, now),
                mode: PhantomData,
            },
        }
    }
}

impl<S, U, M> PowService<S, U, M>
where
    U: SingleUseStore,
    U::Future: Unpin,
{
    /// The state for a decision; `call` builds the [`Decision::Pass`] one in place and
    /// sends only the others here, out of line, so its pass path stays small (fewer and
    /// smaller moves of the request and the future).
    #[inline(never)]
    fn answer<ReqB, ResB>(
        &mut self,
        decision: Decision,
        req: Request<ReqB>,
        now: Duration,
    ) -> State<S, ReqB, ResB, U>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    {
        let cfg = &*self.cfg;
        match decision {
            Decision::Pass => State::Inner {
                fut: self.inner.call(req),
                after: Vec::new(),
            },
            Decision::Asset(a) => ready(Config::<U>::asset(a)),
            Decision::NewChallenge => ready(wire::json(http::StatusCode::OK, &cfg.issue(&req))),
            Decision::Reject(r) => {
                crate::core::metrics::refused(
                    crate::core::metrics::Layer::Pow,
                    &r,
                    crate::core::metrics::client_of(req.extensions()),
                );
                ready(wire::error(req.headers(), now, r))
            }
            Decision::Challenge(r) => ready(cfg.challenge_response(&req, r, now)),
            Decision::Verify {
                claims,
                nonce,
                info,
            } => {
                let check = cfg.pow.redeem_challenge(&claims, now);
                let then = Then::Verify {
                    req,
                    claims: Box::new(claims),
                    nonce,
                    info,
                };
                self.redeem(check, then, now)
            }
            Decision::Redeem { token, from_cookie } => {
                let check = cfg.pow.redeem_token(&token, now);
                // The inner service is only cloned if the store does not answer at once.
                self.redeem_forward(check, req, from_cookie, now)
            }
        }
    }
}

impl<S, U, M> PowService<S, U, M>
where
    U: SingleUseStore,
    U::Future: Unpin,
{
    fn redeem<ReqB, ResB>(
        &mut self,
        mut check: U::Future,
        then: Then<S, ReqB>,
        now: Duration,
    ) -> State<S, ReqB, ResB, U>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>>,
    {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut check).poll(&mut cx) {
            Poll::Ready(r) => resolve(&self.cfg, then, r, now),
            Poll::Pending => State::Redeeming {
                check,
                then: Some(Box::new(then)),
                cfg: self.cfg.clone(),
                now,
            },
        }
    }

    fn redeem_forward<ReqB, ResB>(
        &mut self,
        mut check: U::Future,
        req: Request<ReqB>,
        from_cookie: bool,
        now: Duration,
    ) -> State<S, ReqB, ResB, U>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut check).poll(&mut cx) {
            Poll::Ready(Ok(true)) => {
                let after = self.cfg.after_redeem(&req, from_cookie, now);
                State::Inner {
                    fut: self.inner.call(req),
                    after,
                }
            }
            Poll::Ready(other) => ready(denied(&self.cfg, &req, other, now)),
            Poll::Pending => {
                let clone = self.inner.clone();
                let svc = std::mem::replace(&mut self.inner, clone);
                State::Redeeming {
                    check,
                    then: Some(Box::new(Then::Forward {
                        svc,
                        req,
                        from_cookie,
                    })),
                    cfg: self.cfg.clone(),
                    now,
                }
            }
        }
    }
}

impl<S, ReqB, ResB, U, M> Future for PowFuture<S, ReqB, ResB, U, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    U: SingleUseStore,
    U::Future: Unpin,
    M: BodyMode<ResB>,
{
    type Output = Result<Response<M::Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Inner { fut, after } => {
                    let mut res = ready!(fut.poll(cx))?;
                    for (k, v) in after.drain(..) {
                        res.headers_mut().append(k, v);
                    }
                    return Poll::Ready(Ok(M::from_inner(res)));
                }
                StateProj::Ready { res } => {
                    return match res.take() {
                        Some(r) => Poll::Ready(Ok(M::from_shield(r))),
                        None => panic!("PowFuture polled after completion"),
                    };
                }
                StateProj::Redeeming {
                    check,
                    then,
                    cfg,
                    now,
                } => {
                    let r = ready!(Pin::new(check).poll(cx));
                    let Some(then) = then.take() else {
                        panic!("PowFuture polled after completion")
                    };
                    let (cfg, now) = (cfg.clone(), *now);
                    let next = resolve(&cfg, *then, r, now);
                    state.set(next);
                }
            }
        }
    }
}
