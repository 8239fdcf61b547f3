use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use http::{Request, Response};
use tower_service::Service;

use super::future::{After, ChargeAfter, RateLimitFuture, State, Waiting};
use super::key::{self, Plan, PlanConfig, Planned};
use super::layer::{Coarsened, OnStoreError, OnStoreFull, Shared};
use crate::core::body::{BodyMode, InnerBody, ShieldBody};
use crate::core::ext::ChallengeMark;
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::store::{CheckMode, MemoryRateStore, RateOutcome, RateStore, StoreError};

/// The service [`RateLimitLayer`](super::RateLimitLayer) wraps around an inner service.
///
/// `poll_ready` is the inner service's; limits are decided in `call` and a denial is a
/// 429 response, never an error or a `Pending`.
#[derive(Debug)]
pub struct RateLimitService<S, St = MemoryRateStore, M = InnerBody> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<St>>,
    pub(crate) mode: PhantomData<fn() -> M>,
}

impl<S: Clone, St, M> Clone for RateLimitService<S, St, M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            mode: PhantomData,
        }
    }
}

impl<S, St: RateStore, M> RateLimitService<S, St, M> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// How many keys the store tracks now (for metrics).
    pub fn tracked_keys(&self) -> Option<usize> {
        self.shared.store.tracked_keys()
    }
}

impl<S, St, M, ReqB, ResB> Service<Request<ReqB>> for RateLimitService<S, St, M>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    St: RateStore,
    St::Future: Unpin,
    M: BodyMode<ResB>,
{
    type Response = Response<M::Body>;
    type Error = S::Error;
    type Future = RateLimitFuture<S, ReqB, ResB, St, M>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let sh = &*self.shared;
        let plan = match key::plan(&req, &sh.plan_config()) {
            Planned::Skip => {
                return RateLimitFuture::new(State::inner(self.inner.call(req), After::Nothing));
            }
            Planned::Reject(r) => return RateLimitFuture::new(State::ready(reject(sh, &req, r))),
            Planned::Check(p) => p,
        };
        let mode = if sh.charge_on.is_some() {
            CheckMode::Peek
        } else {
            CheckMode::Charge
        };
        // One load and compare for a memory store with room; the coarse plan is only
        // built under memory pressure, out of line.
        let level = sh.store.coarsening();
        let (mut check, mut coarse) = if level == 0 {
            (sh.store.check(&plan.checks(&sh.policies), mode), None)
        } else {
            sh.ask_coarse(&req, &plan, mode, level)
        };
        // A memory store answers at once: decide now, without cloning the inner service.
        // A networked store's future is polled again (with the task's waker) later.
        let mut cx = Context::from_waker(Waker::noop());
        let mut polled = Pin::new(&mut check).poll(&mut cx);
        if level == 0 && matches!(polled, Poll::Ready(Err(StoreError::Full))) {
            // The table filled between the pressure reading and the check (other
            // requests' inserts). A full answer charged nothing, so ask once more with
            // the coarser keys when the store now wants them and the plan has them: a new
            // client is counted with its network rather than refused.
            if let Some((fut, wide)) = sh.retry_coarse(&req, &plan, mode) {
                (check, coarse) = (fut, Some(wide));
                polled = Pin::new(&mut check).poll(&mut cx);
            }
        }
        match polled {
            // The hot path, built in place (the request is not moved through `dispatch`):
            // charged and allowed, with nothing to expose to the handler.
            Poll::Ready(Ok(outcome))
                if mode == CheckMode::Charge
                    && outcome.allowed()
                    && !sh.expose_status
                    && !outcome.coarsened =>
            {
                crate::core::metrics::allowed(crate::core::metrics::Layer::RateLimit);
                let headers = sh.headers(&plan, &outcome, true);
                RateLimitFuture::new(State::inner(self.inner.call(req), After::Headers(headers)))
            }
            Poll::Ready(result) => RateLimitFuture::new(dispatch(
                &self.shared,
                &mut self.inner,
                req,
                plan,
                coarse,
                mode,
                result,
            )),
            Poll::Pending => {
                let clone = self.inner.clone();
                let svc = std::mem::replace(&mut self.inner, clone);
                RateLimitFuture::new(State::checking(
                    check,
                    Waiting {
                        svc,
                        req,
                        plan,
                        coarse,
                        mode,
                        shared: self.shared.clone(),
                    },
                ))
            }
        }
    }
}

fn reject<St, ReqB, ResB>(
    sh: &Shared<St>,
    req: &Request<ReqB>,
    r: Rejection,
) -> Response<ShieldBody<ResB>> {
    sh.renderer.refuse(
        crate::core::metrics::Layer::RateLimit,
        req,
        sh.clock.now(),
        r,
    )
}

/// The coarser plan offered to the store with a request's check, under memory pressure.
#[derive(Debug)]
pub(crate) struct Coarse {
    /// The same policies' keys with the client's network `mark.level` steps coarser.
    pub plan: Plan,
    /// What the request is marked with when the store used the coarser keys.
    pub mark: Coarsened,
}

impl<St: RateStore> Shared<St> {
    /// Asks the store about `plan`. When the store reports memory pressure
    /// ([`RateStore::coarsening`]), the same keys at a coarser client network are
    /// offered too (planned here, only then), and returned for a later charge and the mark.
    pub(crate) fn ask<B>(
        &self,
        req: &Request<B>,
        plan: &Plan,
        mode: CheckMode,
    ) -> (St::Future, Option<Box<Coarse>>) {
        match self.store.coarsening() {
            0 => (self.store.check(&plan.checks(&self.policies), mode), None),
            level => self.ask_coarse(req, plan, mode, level),
        }
    }

    /// [`Shared::ask`] under memory pressure (`level` > 0).
    #[cold]
    #[inline(never)]
    pub(crate) fn ask_coarse<B>(
        &self,
        req: &Request<B>,
        plan: &Plan,
        mode: CheckMode,
        level: u8,
    ) -> (St::Future, Option<Box<Coarse>>) {
        if let Some(coarse) = self.plan_coarse(req, level)
            && let Some(fut) = self.offer(plan, Some(&coarse), mode)
        {
            return (fut, Some(coarse));
        }
        (self.store.check(&plan.checks(&self.policies), mode), None)
    }

    /// The request's keys at its client network `level` steps coarser, with the mark;
    /// `None` when the request has no client address to coarsen.
    fn plan_coarse<B>(&self, req: &Request<B>, level: u8) -> Option<Box<Coarse>> {
        let (_, net) = key::client_key(req.extensions())?;
        let cfg = PlanConfig {
            coarsen: level,
            ..self.plan_config()
        };
        let Planned::Check(wide) = key::plan(req, &cfg) else {
            return None;
        };
        Some(Box::new(Coarse {
            plan: wide,
            mark: Coarsened {
                net: key::coarser(net, level),
                level,
            },
        }))
    }

    /// After a [`StoreError::Full`] from a check without coarse keys: the same check with
    /// them, when the store reports pressure now and the plan has a coarser form; `None`
    /// (nothing checked) otherwise, e.g. a store that never coarsens or a principal's key.
    #[cold]
    #[inline(never)]
    pub(crate) fn retry_coarse<B>(
        &self,
        req: &Request<B>,
        plan: &Plan,
        mode: CheckMode,
    ) -> Option<(St::Future, Box<Coarse>)> {
        let level = self.store.coarsening();
        if level == 0 {
            return None;
        }
        let coarse = self.plan_coarse(req, level)?;
        let fut = self.offer(plan, Some(&coarse), mode)?;
        Some((fut, coarse))
    }

    /// Checks `plan` offering `coarse`'s keys; `None` when no key differs (then there is
    /// nothing to offer and the caller checks `plan` alone).
    pub(crate) fn offer(
        &self,
        plan: &Plan,
        coarse: Option<&Coarse>,
        mode: CheckMode,
    ) -> Option<St::Future> {
        let exact = plan.checks(&self.policies);
        let wide = coarse?.plan.checks(&self.policies);
        if wide.len() != exact.len() {
            return None;
        }
        let offered: smallvec::SmallVec<[Option<&str>; 2]> = (exact.iter().zip(&wide))
            .map(|(e, w)| (e.key != w.key).then_some(w.key))
            .collect();
        if offered.iter().all(Option::is_none) {
            return None;
        }
        Some(self.store.check_coarsened(&exact, &offered, mode))
    }
}

/// Acts on the store's answer: call the inner service (with what to do after), or answer.
pub(crate) fn dispatch<S, St, ReqB, ResB>(
    sh: &Arc<Shared<St>>,
    svc: &mut S,
    mut req: Request<ReqB>,
    plan: Plan,
    coarse: Option<Box<Coarse>>,
    mode: CheckMode,
    result: Result<RateOutcome, StoreError>,
) -> State<S, ReqB, ResB, St>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    St: RateStore,
{
    let mark = match (&result, &coarse) {
        (Ok(o), Some(c)) if o.coarsened => {
            crate::core::metrics::coarsened(c.mark.level);
            req.extensions_mut().insert(c.mark);
            Some(c.mark)
        }
        _ => None,
    };
    match result {
        Ok(outcome) if outcome.allowed() => match mode {
            CheckMode::Charge => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::RateLimit);
                let headers = sh.headers(&plan, &outcome, true);
                if sh.expose_status {
                    req.extensions_mut()
                        .insert(sh.status(&plan, &outcome, true));
                }
                State::inner(svc.call(req), After::Headers(headers))
            }
            CheckMode::Peek => {
                crate::core::metrics::allowed(crate::core::metrics::Layer::RateLimit);
                if sh.expose_status {
                    req.extensions_mut()
                        .insert(sh.status(&plan, &outcome, false));
                }
                State::inner(
                    svc.call(req),
                    After::Charge(Box::new(ChargeAfter {
                        shared: sh.clone(),
                        plan,
                        coarse,
                        peek: outcome,
                    })),
                )
            }
        },
        Ok(outcome) => match sh.denial(&plan, &outcome) {
            Ok(rejection) => {
                let mut res = reject(sh, &req, rejection);
                if let Some(m) = mark {
                    res.extensions_mut().insert(m);
                }
                State::ready(res)
            }
            Err(marker) => {
                req.extensions_mut().insert(marker.clone());
                State::inner(svc.call(req), After::DryRun(marker))
            }
        },
        Err(StoreError::Full) => match sh.on_full {
            OnStoreFull::Reject => {
                // Logged once, as the refusal (`core::metrics`).
                let r = Rejection::new(
                    RejectionKind::StoreUnavailable,
                    "The rate limiter is at capacity. Retry shortly.",
                )
                .with_retry_after(std::time::Duration::from_secs(1));
                State::ready(reject(sh, &req, r))
            }
            OnStoreFull::Challenge => {
                req.extensions_mut().insert(ChallengeMark {
                    reason: "ratelimit.store_full",
                    difficulty: None,
                });
                State::inner(svc.call(req), After::Nothing)
            }
        },
        Err(e) => match sh.on_error {
            OnStoreError::FailClosed => {
                // Logged once, as the refusal; the store logs its own failure.
                let _ = e;
                let r = Rejection::new(
                    RejectionKind::StoreUnavailable,
                    "The rate limiter is unavailable. Retry shortly.",
                )
                .with_retry_after(std::time::Duration::from_secs(1));
                State::ready(reject(sh, &req, r))
            }
            OnStoreError::FailOpen => {
                tracing::warn!(error = %e, "rate limiter store failed: failing open");
                State::inner(svc.call(req), After::Nothing)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::time::Duration;

    use http::{StatusCode, header::RETRY_AFTER};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    use super::*;
    use crate::core::clock::ManualClock;
    use crate::core::ext::{PeerAddr, Principal, PrincipalKind};
    use crate::core::quota::Quota;
    use crate::core::store::OnFull;
    use crate::ratelimit::{
        DryRunLimited, HeaderMode, Key, OnStoreError, OnStoreFull, Policy, RateLimitLayer,
    };

    const T0: u64 = 1_700_000_000;

    fn clock() -> ManualClock {
        ManualClock::new(Duration::from_secs(T0))
    }

    fn store(c: &ManualClock) -> MemoryRateStore {
        MemoryRateStore::builder().clock(c.clone()).build()
    }

    /// An app answering 401 on `/login-fail`, 200 elsewhere.
    fn app()
    -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send> + Clone
    {
        service_fn(|req: Request<()>| async move {
            let mut res = Response::new(String::from("ok"));
            if req.uri().path() == "/login-fail" {
                *res.status_mut() = StatusCode::UNAUTHORIZED;
            }
            Ok::<_, Infallible>(res)
        })
    }

    fn req_from(path: &str, ip: &str) -> Request<()> {
        let mut r = Request::get(path).body(()).unwrap();
        r.extensions_mut()
            .insert(PeerAddr(format!("{ip}:4000").parse().unwrap()));
        r
    }

    fn req() -> Request<()> {
        req_from("/", "203.0.113.7")
    }

    fn header<'a, B>(res: &'a Response<B>, name: &str) -> Option<&'a str> {
        res.headers().get(name).map(|v| v.to_str().unwrap())
    }

    async fn send<St>(layer: &RateLimitLayer<St>, r: Request<()>) -> Response<ShieldBody<String>>
    where
        St: RateStore,
        St::Future: Unpin,
    {
        ServiceBuilder::new()
            .layer(layer.clone().wrapped_body())
            .service(app())
            .oneshot(r)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn exact_counts_and_headers_at_each_step() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(3)).store(store(&c));
        let svc = ServiceBuilder::new()
            .layer(layer.wrapped_body())
            .service(app());
        for (i, left) in [2, 1, 0].into_iter().enumerate() {
            let res = svc.clone().oneshot(req()).await.unwrap();
            assert_eq!(res.status(), 200, "request {i}");
            assert_eq!(
                header(&res, "ratelimit-policy"),
                Some(r#""default";q=3;w=60"#)
            );
            let t = 20 * (i + 1);
            assert_eq!(
                header(&res, "ratelimit"),
                Some(&*format!(r#""default";r={left};t={t}"#))
            );
        }
        let res = svc.clone().oneshot(req()).await.unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(header(&res, "retry-after"), Some("20"));
        assert_eq!(header(&res, "ratelimit"), Some(r#""default";r=0;t=20"#));
        assert_eq!(header(&res, "content-type"), Some("application/json"));
        assert_eq!(
            res.extensions().get::<Rejection>().map(|r| r.kind()),
            Some(RejectionKind::RateLimited)
        );
        // One nanosecond short of the emission interval: still denied, Retry-After 1.
        c.advance(Duration::from_secs(20) - Duration::from_nanos(1));
        let res = svc.clone().oneshot(req()).await.unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(header(&res, "retry-after"), Some("1"));
        c.advance(Duration::from_nanos(1));
        let res = svc.clone().oneshot(req()).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit"), Some(r#""default";r=0;t=60"#));
        assert_eq!(svc.clone().oneshot(req()).await.unwrap().status(), 429);
        // Another client is not affected.
        assert_eq!(
            svc.oneshot(req_from("/", "203.0.113.8"))
                .await
                .unwrap()
                .status(),
            200
        );
    }

    /// With `expose_status` the handler sees the charged request's status (the charged and
    /// allowed fast path in `call` leaves that case to `dispatch`); without it, none.
    #[tokio::test]
    async fn handlers_can_read_the_status_when_exposed() {
        let c = clock();
        let left = |layer: RateLimitLayer| async move {
            let svc = ServiceBuilder::new()
                .layer(layer.wrapped_body())
                .service(service_fn(|req: Request<()>| async move {
                    let s = req
                        .extensions()
                        .get::<crate::ratelimit::RateLimitStatus>()
                        .cloned();
                    Ok::<_, Infallible>(Response::new(s.map(|s| s.policies[0].remaining)))
                }));
            match svc.oneshot(req()).await.unwrap().into_body() {
                ShieldBody::Inner { body } => body,
                ShieldBody::Full { .. } => panic!("refused"),
            }
        };
        let layer = RateLimitLayer::new(Quota::per_hour(1000)).store(store(&c));
        assert_eq!(left(layer.clone().expose_status(true)).await, Some(999));
        assert_eq!(left(layer).await, None, "not exposed");
    }

    #[tokio::test]
    async fn legacy_headers_use_unix_seconds() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_hour(1000))
            .store(store(&c))
            .headers(HeaderMode::Legacy);
        let res = send(&layer, req()).await;
        assert_eq!(header(&res, "x-ratelimit-limit"), Some("1000"));
        assert_eq!(header(&res, "x-ratelimit-remaining"), Some("999"));
        // Back to a full quota after one emission interval (3.6 s), rounded up.
        assert_eq!(
            header(&res, "x-ratelimit-reset"),
            Some(&*(T0 + 4).to_string())
        );
        assert!(header(&res, "ratelimit").is_none());
    }

    #[tokio::test]
    async fn a_denial_by_one_policy_charges_none() {
        let c = clock();
        let layer = RateLimitLayer::with_policies([
            Policy::new("loose", Quota::per_second(100)).unwrap(),
            Policy::new("tight", Quota::per_minute(2)).unwrap(),
        ])
        .unwrap()
        .store(store(&c));
        assert_eq!(send(&layer, req()).await.status(), 200);
        let res = send(&layer, req()).await;
        assert_eq!(
            header(&res, "ratelimit"),
            Some(r#""loose";r=98;t=1, "tight";r=0;t=60"#)
        );
        for _ in 0..5 {
            let res = send(&layer, req()).await;
            assert_eq!(res.status(), 429);
            assert_eq!(header(&res, "retry-after"), Some("30"));
            // `loose` still shows 98 left: the denied requests were not charged to it.
            assert_eq!(
                header(&res, "ratelimit"),
                Some(r#""loose";r=98;t=1, "tight";r=0;t=30"#)
            );
        }
    }

    #[tokio::test]
    async fn response_based_charging_counts_only_chosen_statuses() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(2))
            .store(store(&c))
            .count_only([StatusCode::UNAUTHORIZED])
            .unwrap();
        for _ in 0..5 {
            let res = send(&layer, req_from("/login-ok", "203.0.113.7")).await;
            assert_eq!(res.status(), 200);
            assert_eq!(header(&res, "ratelimit"), Some(r#""default";r=2;t=0"#));
        }
        let res = send(&layer, req_from("/login-fail", "203.0.113.7")).await;
        assert_eq!(res.status(), 401);
        assert_eq!(header(&res, "ratelimit"), Some(r#""default";r=1;t=30"#));
        assert_eq!(
            send(&layer, req_from("/login-fail", "203.0.113.7"))
                .await
                .status(),
            401
        );
        // Spent: even a request that would succeed is refused before the handler.
        let res = send(&layer, req_from("/login-ok", "203.0.113.7")).await;
        assert_eq!(res.status(), 429);
        assert_eq!(header(&res, "retry-after"), Some("30"));
    }

    #[tokio::test]
    async fn dry_run_marks_but_never_refuses() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(1))
            .store(store(&c))
            .dry_run(true);
        assert_eq!(send(&layer, req()).await.status(), 200);
        let res = send(&layer, req()).await;
        assert_eq!(res.status(), 200);
        assert!(header(&res, "ratelimit").is_none());
        assert_eq!(
            res.extensions().get::<DryRunLimited>(),
            Some(&DryRunLimited {
                policy: "default".into(),
                retry_after: Duration::from_secs(60)
            })
        );
    }

    #[tokio::test]
    async fn allow_list_of_networks_and_principals() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(1))
            .store(store(&c))
            .allow_cidrs(["10.0.0.0/8".parse().unwrap()])
            .unwrap()
            .allow_keys(["partner"])
            .unwrap();
        for _ in 0..5 {
            let res = send(&layer, req_from("/", "10.1.2.3")).await;
            assert_eq!(res.status(), 200);
            assert!(header(&res, "ratelimit").is_none());
        }
        for _ in 0..5 {
            let mut r = req();
            r.extensions_mut()
                .insert(Principal::new("partner", PrincipalKind::ApiKey));
            assert_eq!(send(&layer, r).await.status(), 200);
        }
        assert_eq!(send(&layer, req()).await.status(), 200);
        assert_eq!(send(&layer, req()).await.status(), 429);
    }

    #[tokio::test]
    async fn principal_quotas_replace_the_defaults() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(1)).store(store(&c));
        let principal = || {
            let mut p = Principal::new("tsk_live_1", PrincipalKind::ApiKey);
            p.quotas = Some(std::sync::Arc::from([Quota::per_hour(3)]));
            let mut r = req();
            r.extensions_mut().insert(p);
            r
        };
        for left in [2, 1, 0] {
            let res = send(&layer, principal()).await;
            assert_eq!(res.status(), 200);
            assert_eq!(
                header(&res, "ratelimit-policy"),
                Some(r#""principal";q=3;w=3600"#)
            );
            assert!(
                header(&res, "ratelimit")
                    .unwrap()
                    .starts_with(&format!(r#""principal";r={left};"#))
            );
        }
        assert_eq!(send(&layer, principal()).await.status(), 429);
        // The anonymous client at the same address has its own default limit.
        assert_eq!(send(&layer, req()).await.status(), 200);
    }

    #[tokio::test]
    async fn store_full_rejects_or_challenges_or_evicts() {
        let c = clock();
        let small = MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(1)
            .on_full(OnFull::RefuseNew)
            .build();
        let layer = RateLimitLayer::new(Quota::per_minute(5)).store(small);
        assert_eq!(send(&layer, req()).await.status(), 200);
        let res = send(&layer, req_from("/", "198.51.100.1")).await;
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers()[RETRY_AFTER], "1");
        assert_eq!(layer.metrics().tracked_keys(), Some(1));

        let layer = layer.on_store_full(OnStoreFull::Challenge);
        let svc = ServiceBuilder::new()
            .layer(layer.wrapped_body())
            .service(service_fn(|req: Request<()>| async move {
                let marked = req
                    .extensions()
                    .get::<crate::core::ChallengeMark>()
                    .map(|m| m.reason);
                Ok::<_, Infallible>(Response::new(format!("{marked:?}")))
            }));
        let res = svc.oneshot(req_from("/", "198.51.100.1")).await.unwrap();
        assert_eq!(res.status(), 200);
        let ShieldBody::Inner { body } = res.into_body() else {
            panic!("inner body")
        };
        assert_eq!(body, r#"Some("ratelimit.store_full")"#);

        let evicting = MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(1)
            .on_full(OnFull::EvictOldest)
            .build();
        let layer = RateLimitLayer::new(Quota::per_minute(5)).store(evicting);
        assert_eq!(send(&layer, req()).await.status(), 200);
        assert_eq!(
            send(&layer, req_from("/", "198.51.100.1")).await.status(),
            200
        );
        assert_eq!(layer.metrics().tracked_keys(), Some(1));
    }

    /// A store whose answers take one trip through the executor, like Redis.
    struct Slow(MemoryRateStore);

    impl RateStore for Slow {
        type Future = Pin<Box<dyn Future<Output = Result<RateOutcome, StoreError>> + Send>>;

        fn check(
            &self,
            checks: &[crate::core::store::RateCheck<'_>],
            mode: CheckMode,
        ) -> Self::Future {
            let r = self.0.check(checks, mode).into_inner();
            Box::pin(async move {
                tokio::task::yield_now().await;
                r
            })
        }
    }

    struct Down;

    impl RateStore for Down {
        type Future = std::future::Ready<Result<RateOutcome, StoreError>>;

        fn check(&self, _: &[crate::core::store::RateCheck<'_>], _: CheckMode) -> Self::Future {
            std::future::ready(Err(StoreError::Unavailable("connection refused".into())))
        }
    }

    #[tokio::test]
    async fn a_store_that_answers_later_works_the_same() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(2)).store(Slow(store(&c)));
        assert_eq!(send(&layer, req()).await.status(), 200);
        let res = send(&layer, req()).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit"), Some(r#""default";r=0;t=60"#));
        assert_eq!(send(&layer, req()).await.status(), 429);

        let layer = RateLimitLayer::new(Quota::per_minute(1))
            .store(Slow(store(&c)))
            .count_only([StatusCode::UNAUTHORIZED])
            .unwrap();
        assert_eq!(
            send(&layer, req_from("/login-ok", "192.0.2.1"))
                .await
                .status(),
            200
        );
        assert_eq!(
            send(&layer, req_from("/login-fail", "192.0.2.1"))
                .await
                .status(),
            401
        );
        assert_eq!(
            send(&layer, req_from("/login-ok", "192.0.2.1"))
                .await
                .status(),
            429
        );
    }

    #[tokio::test]
    async fn store_errors_fail_closed_by_default_or_open_by_choice() {
        let layer = RateLimitLayer::new(Quota::per_minute(1)).store(Down);
        let res = send(&layer, req()).await;
        assert_eq!(res.status(), 503);
        assert_eq!(
            res.extensions().get::<Rejection>().map(|r| r.kind()),
            Some(RejectionKind::StoreUnavailable)
        );
        let layer = layer.on_store_error(OnStoreError::FailOpen);
        let res = send(&layer, req()).await;
        assert_eq!(res.status(), 200);
        assert!(header(&res, "ratelimit").is_none());
    }

    #[tokio::test]
    async fn no_client_address_is_a_loud_500_unless_the_key_needs_none() {
        let layer = RateLimitLayer::new(Quota::per_minute(1));
        let res = send(&layer, Request::new(())).await;
        assert_eq!(res.status(), 500);
        let global = RateLimitLayer::with_policies([Policy::new("all", Quota::per_minute(1))
            .unwrap()
            .key(Key::Global)])
        .unwrap();
        assert_eq!(send(&global, Request::new(())).await.status(), 200);
        assert_eq!(send(&global, req()).await.status(), 429);
    }

    /// An app answering with the `Coarsened` mark it sees, if any.
    fn mark_app()
    -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send> + Clone
    {
        service_fn(|req: Request<()>| async move {
            let m = req.extensions().get::<Coarsened>().copied();
            Ok::<_, Infallible>(Response::new(
                m.map_or(String::new(), |m| format!("{}@{}", m.net, m.level)),
            ))
        })
    }

    /// Sends `r` through `layer` in front of [`mark_app`]: the status and the mark.
    async fn send_marked(layer: &RateLimitLayer, r: Request<()>) -> (u16, String) {
        let res = ServiceBuilder::new()
            .layer(layer.clone().wrapped_body())
            .service(mark_app())
            .oneshot(r)
            .await
            .unwrap();
        let status = res.status().as_u16();
        match res.into_body() {
            ShieldBody::Inner { body } => (status, body),
            ShieldBody::Full { .. } => (status, String::new()),
        }
    }

    /// 1,000 distinct IPv4 clients in 10.0.0.0/8 (200 /16s, 5 /24s each), one request
    /// each at the same instant; the statuses seen.
    async fn flood_v4(layer: &RateLimitLayer) -> Vec<u16> {
        let mut seen = Vec::new();
        for i in 0..1000u32 {
            let ip = format!("10.{}.{}.1", i % 200, i / 200);
            seen.push(send(layer, req_from("/", &ip)).await.status().as_u16());
        }
        seen
    }

    fn small_store(c: &ManualClock) -> MemoryRateStore {
        MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(64)
            .build()
    }

    /// The table-full flood (issue 17): 1,000 distinct clients against a 64-key table.
    /// Nobody is refused 503, the bound holds, and a fresh client is served at once,
    /// during the flood and after it (before the fix: 503 until the flood's keys expired,
    /// up to one quota period after the flood).
    #[tokio::test]
    async fn a_fresh_client_is_served_during_and_after_a_table_full_flood() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(1)).store(small_store(&c));
        let seen = flood_v4(&layer).await;
        assert!(!seen.contains(&503), "nobody is refused for capacity");
        assert!(seen.iter().filter(|s| **s == 200).count() >= 56);
        assert!(layer.metrics().tracked_keys().unwrap() <= 64);
        let (status, mark) = send_marked(&layer, req_from("/", "192.0.2.7")).await;
        assert_eq!(status, 200, "served during the flood");
        assert!(
            mark.starts_with("192."),
            "counted under its network: {mark}"
        );
        // The flood is over; its keys are live for most of a minute more.
        c.advance(Duration::from_secs(10));
        assert_eq!(
            send(&layer, req_from("/", "198.51.100.9")).await.status(),
            200,
            "served after the flood"
        );
        assert!(layer.metrics().tracked_keys().unwrap() <= 64);
    }

    #[tokio::test]
    async fn expired_entries_go_before_anyone_is_coarsened() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_second(1)).store(small_store(&c));
        for i in 0..60 {
            assert_eq!(
                send(&layer, req_from("/", &format!("10.0.{i}.1")))
                    .await
                    .status(),
                200
            );
        }
        assert_eq!(layer.metrics().tracked_keys(), Some(60));
        // Every entry's arrival time is now past: they hold no information.
        c.advance(Duration::from_secs(2));
        let (status, mark) = send_marked(&layer, req_from("/", "192.0.2.7")).await;
        assert_eq!(
            (status, &*mark),
            (200, ""),
            "its own key, not a coarser one"
        );
        assert_eq!(layer.metrics().tracked_keys(), Some(1));
    }

    #[tokio::test]
    async fn an_ipv6_flood_of_64s_coarsens_to_its_48() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(1)).store(small_store(&c));
        let mut marks = Vec::new();
        for i in 0..100 {
            let ip = format!("[2001:db8:1:{i:x}::1]");
            marks.push(send_marked(&layer, req_from("/", &ip)).await);
        }
        // 7/8 of 64 with their own /64s, then the rest of the /48 shares one counter.
        assert!(marks[..56].iter().all(|m| *m == (200, String::new())));
        assert_eq!(marks[56], (200, "2001:db8:1::/48@1".to_owned()));
        assert!(marks[57..].iter().all(|m| m.0 == 429), "limited together");
        // Another /48 is not limited by this one's flood.
        let (status, mark) = send_marked(&layer, req_from("/", "[2001:db8:2::1]")).await;
        assert_eq!((status, &*mark), (200, "2001:db8:2::/48@1"));
        assert_eq!(layer.metrics().tracked_keys(), Some(58));
    }

    #[tokio::test]
    async fn clients_tracked_before_the_flood_keep_their_own_counters() {
        let c = clock();
        let layer = RateLimitLayer::new(Quota::per_minute(2)).store(small_store(&c));
        let res = send(&layer, req()).await;
        assert_eq!(header(&res, "ratelimit"), Some(r#""default";r=1;t=30"#));
        flood_v4(&layer).await;
        let (status, mark) = send_marked(&layer, req()).await;
        assert_eq!((status, &*mark), (200, ""), "its own counter, no mark");
        assert_eq!(send(&layer, req()).await.status(), 429, "and its own limit");
        // A new neighbour is counted under a coarser network, apart from it.
        let (status, mark) = send_marked(&layer, req_from("/", "203.0.113.8")).await;
        assert_eq!(status, 200);
        assert!(mark.starts_with("203."), "{mark}");
        assert!(layer.metrics().tracked_keys().unwrap() <= 64);
    }

    #[tokio::test]
    async fn keys_without_a_network_are_refused_only_at_the_bound() {
        let c = clock();
        let layer = RateLimitLayer::with_policies([Policy::new("p", Quota::per_minute(1))
            .unwrap()
            .key(Key::Principal)])
        .unwrap()
        .store(small_store(&c));
        let principal = |id: String| {
            let mut r = req();
            r.extensions_mut()
                .insert(Principal::new(id, PrincipalKind::ApiKey));
            r
        };
        for i in 0..64 {
            assert_eq!(send(&layer, principal(format!("k{i}"))).await.status(), 200);
        }
        assert_eq!(send(&layer, principal("k64".into())).await.status(), 503);
        assert_eq!(layer.metrics().tracked_keys(), Some(64));
    }
}
