//! The response future of [`RateLimitService`](super::RateLimitService): a named state
//! machine, no box. With a memory store the decision is made in `call` and the future
//! is only the inner service's future plus the headers to add.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::headers::Pending;
use super::key::Plan;
use super::layer::{DryRunLimited, Shared};
use super::service::{Coarse, dispatch};
use crate::core::body::{BodyMode, InnerBody, ShieldBody};
use crate::core::store::{CheckMode, RateOutcome, RateStore};

/// What to do with the inner service's response.
pub(crate) enum After<St> {
    /// Nothing (allow-listed, failed open, handed to proof of work).
    Nothing,
    /// Add these headers.
    Headers(Pending),
    /// Dry run: mark the response.
    DryRun(DryRunLimited),
    /// Response-based charging: charge if the status counts. Boxed: only layers with
    /// `count_only` get here, and the box keeps every other layer's future small.
    Charge(Box<ChargeAfter<St>>),
}

/// A peeked decision waiting for the response status.
pub(crate) struct ChargeAfter<St> {
    pub shared: Arc<Shared<St>>,
    pub plan: Plan,
    /// The coarser keys offered with the peek (memory pressure), offered again.
    pub coarse: Option<Box<Coarse>>,
    pub peek: RateOutcome,
}

/// A request waiting for a store that did not answer at once.
pub(crate) struct Waiting<S, ReqB, St> {
    pub svc: S,
    pub req: Request<ReqB>,
    pub plan: Plan,
    pub coarse: Option<Box<Coarse>>,
    pub mode: CheckMode,
    pub shared: Arc<Shared<St>>,
}

/// A response waiting for its charge to be committed.
pub(crate) struct Charging<ResB, St: RateStore> {
    check: St::Future,
    res: Option<Response<ResB>>,
    charge: Option<Box<ChargeAfter<St>>>,
}

pin_project! {
    #[project = StateProj]
    pub(crate) enum State<S, ReqB, ResB, St>
    where
        S: Service<Request<ReqB>>,
        St: RateStore,
    {
        Checking {
            check: St::Future,
            // Boxed: only a store that does IO (Redis) gets here.
            waiting: Option<Box<Waiting<S, ReqB, St>>>,
        },
        Inner {
            #[pin]
            fut: S::Future,
            after: After<St>,
        },
        // Boxed, like `Checking`: only `count_only` layers get here.
        Charging {
            charging: Box<Charging<ResB, St>>,
        },
        Ready {
            res: Option<Response<ShieldBody<ResB>>>,
        },
    }
}

impl<S, ReqB, ResB, St> State<S, ReqB, ResB, St>
where
    S: Service<Request<ReqB>>,
    St: RateStore,
{
    pub(crate) fn inner(fut: S::Future, after: After<St>) -> Self {
        Self::Inner { fut, after }
    }

    pub(crate) fn ready(res: Response<ShieldBody<ResB>>) -> Self {
        Self::Ready { res: Some(res) }
    }

    pub(crate) fn checking(check: St::Future, waiting: Waiting<S, ReqB, St>) -> Self {
        Self::Checking {
            check,
            waiting: Some(Box::new(waiting)),
        }
    }
}

pin_project! {
    /// The response future of [`RateLimitService`](super::RateLimitService).
    pub struct RateLimitFuture<S, ReqB, ResB, St, M = InnerBody>
    where
        S: Service<Request<ReqB>>,
        St: RateStore,
    {
        #[pin]
        state: State<S, ReqB, ResB, St>,
        mode: PhantomData<fn() -> M>,
    }
}

impl<S, ReqB, ResB, St, M> RateLimitFuture<S, ReqB, ResB, St, M>
where
    S: Service<Request<ReqB>>,
    St: RateStore,
{
    pub(crate) fn new(state: State<S, ReqB, ResB, St>) -> Self {
        Self {
            state,
            mode: PhantomData,
        }
    }
}

fn add_headers<B>(res: &mut Response<B>, headers: Pending) {
    headers.add_to(res.headers_mut());
}

impl<S, ReqB, ResB, St, M> Future for RateLimitFuture<S, ReqB, ResB, St, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    St: RateStore,
    St::Future: Unpin,
    M: BodyMode<ResB>,
{
    type Output = Result<Response<M::Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Checking { check, waiting } => {
                    let result = ready!(Pin::new(check).poll(cx));
                    let Some(w) = waiting.take() else {
                        panic!("RateLimitFuture polled after completion");
                    };
                    let Waiting {
                        mut svc,
                        req,
                        plan,
                        coarse,
                        mode,
                        shared,
                    } = *w;
                    dispatch(&shared, &mut svc, req, plan, coarse, mode, result)
                }
                StateProj::Inner { fut, after } => {
                    let mut res = ready!(fut.poll(cx))?;
                    match std::mem::replace(after, After::Nothing) {
                        After::Charge(c)
                            if c.shared.charge_on.is_some_and(|s| s.contains(res.status())) =>
                        {
                            let sh = &c.shared;
                            let check = sh
                                .offer(&c.plan, c.coarse.as_deref(), CheckMode::Charge)
                                .unwrap_or_else(|| {
                                    sh.store
                                        .check(&c.plan.checks(&sh.policies), CheckMode::Charge)
                                });
                            State::Charging {
                                charging: Box::new(Charging {
                                    check,
                                    res: Some(res),
                                    charge: Some(c),
                                }),
                            }
                        }
                        after => {
                            match after {
                                After::Nothing => {}
                                After::Headers(h) => add_headers(&mut res, h),
                                After::DryRun(marker) => {
                                    res.extensions_mut().insert(marker);
                                }
                                After::Charge(c) => {
                                    add_headers(
                                        &mut res,
                                        c.shared.headers(&c.plan, &c.peek, false),
                                    );
                                }
                            }
                            return Poll::Ready(Ok(M::from_inner(res)));
                        }
                    }
                }
                StateProj::Charging { charging } => {
                    let Charging { check, res, charge } = &mut **charging;
                    let result = ready!(Pin::new(check).poll(cx));
                    let (Some(mut res), Some(c)) = (res.take(), charge.take()) else {
                        panic!("RateLimitFuture polled after completion");
                    };
                    let h = match result {
                        Ok(o) => c.shared.headers(&c.plan, &o, o.allowed()),
                        Err(e) => {
                            tracing::warn!(error = %e, "rate limiter could not charge a response");
                            c.shared.headers(&c.plan, &c.peek, false)
                        }
                    };
                    add_headers(&mut res, h);
                    return Poll::Ready(Ok(M::from_inner(res)));
                }
                StateProj::Ready { res } => {
                    return match res.take() {
                        Some(r) => Poll::Ready(Ok(M::from_shield(r))),
                        None => panic!("RateLimitFuture polled after completion"),
                    };
                }
            };
            state.set(next);
        }
    }
}
