use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use ipnet::IpNet;
use tower_layer::Layer;

use super::headers::{self, HeaderMode, Report};
use super::key::{self, AllowList, Key, KeyPrefix, Plan, PlanConfig, Policy, PolicySet};
use super::service::RateLimitService;
use crate::core::body::{InnerBody, WrappedBody};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::quota::Quota;
use crate::core::reject::{Rejection, RejectionKind, Renderer};
use crate::core::store::{MAX_POLICIES, MemoryRateStore, RateOutcome, RateStore};

/// Most CIDRs in the allow-list (it is scanned linearly on every request).
pub const MAX_ALLOW_CIDRS: usize = 1024;
/// Most principal ids in the allow-list.
pub const MAX_ALLOW_KEYS: usize = 100_000;

/// What the layer does when a memory store at its bound refuses a new key
/// ([`StoreError::Full`](crate::core::store::StoreError::Full)).
///
/// With the default store ([`OnFull::Coarsen`](crate::core::store::OnFull::Coarsen)) a
/// new *client address* is never refused: under memory pressure it is counted with the
/// other new clients of its network (a [`Coarsened`] request). Only keys with no coarser
/// form (a [`Key::Principal`], a [`Key::custom`] value) can be refused, and only at the
/// bound. A store built with
/// [`OnFull::RefuseNew`](crate::core::store::OnFull::RefuseNew) refuses every new key
/// there; one built with
/// [`OnFull::EvictOldest`](crate::core::store::OnFull::EvictOldest) never reports full
/// (an evicted client's count restarts).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStoreFull {
    /// Answer the new key 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1`. The default:
    /// keys already tracked keep their limits and a flood of fresh keys gains nothing.
    #[default]
    Reject,
    /// Insert a [`ChallengeMark`](crate::core::ChallengeMark) (`reason`
    /// `"ratelimit.store_full"`) and pass the request on, so a proof-of-work layer further
    /// in challenges it. Only use this with a `PowLayer` inside this layer: without one
    /// the request goes through unlimited.
    Challenge,
}

/// What the layer does when the store cannot answer (a Redis outage, a timeout).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStoreError {
    /// Answer 503 `SERVICE_UNAVAILABLE`. The default: an outage never lifts the limits.
    #[default]
    FailClosed,
    /// Let the request through without limits (logged at `warn`).
    FailOpen,
}

/// HTTP statuses as a bitset, for response-based charging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusSet([u64; 16]);

impl StatusSet {
    pub(crate) fn contains(&self, s: StatusCode) -> bool {
        let i = usize::from(s.as_u16());
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn insert(&mut self, s: StatusCode) {
        let i = usize::from(s.as_u16());
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
}

/// The marker a dry-run layer inserts (into the request and the response extensions)
/// when it would have answered 429.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DryRunLimited {
    /// The first policy that would have denied.
    pub policy: String,
    /// The `Retry-After` the client would have been sent.
    pub retry_after: Duration,
}

/// The mark a request carries (in its extensions, and a refusal's response extensions)
/// when the memory store, under memory pressure, counted its client under a coarser
/// network than its own rate key: the client was new while the key table was above 7/8
/// full, so it shares a counter with the other new clients of `net` (see
/// [`OnFull::Coarsen`](crate::core::store::OnFull::Coarsen)). Clients tracked before the
/// pressure keep their own counters and never carry it.
///
/// Each such decision also counts `tower_shield_rate_coarsened_total{level}` (with the
/// `metrics` feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coarsened {
    /// The network the client was counted under (e.g. its IPv4 /24 or IPv6 /48).
    pub net: ipnet::IpNet,
    /// How many steps coarser than its own rate key (1 to 3, see
    /// [`coarser`](crate::ratelimit::coarser)).
    pub level: u8,
}

/// What [`RateLimitLayer::peek`] found for a request, without charging it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Whether the request would be admitted now (`true` when allow-listed or when no
    /// policy applies).
    pub allowed: bool,
    /// Each applied policy, in order.
    pub policies: Vec<PolicyStatus>,
    /// When not admitted: the wait before it would be, rounded up to whole seconds.
    pub retry_after: Option<Duration>,
}

impl RateLimitStatus {
    /// The status the header reports describe (one place for `peek` and `expose_status`).
    fn from_reports(reports: &[headers::Report<'_>], outcome: &RateOutcome) -> Self {
        Self {
            allowed: outcome.allowed(),
            retry_after: headers::retry_after(reports).map(Duration::from_secs),
            policies: reports
                .iter()
                .map(|r| PolicyStatus {
                    name: r.name.to_owned(),
                    limit: r.quota.burst_size(),
                    remaining: r.remaining,
                    reset_after: Duration::from_secs(r.reset_secs),
                    denied: r.denied,
                })
                .collect(),
        }
    }
}

/// One policy's state for one key, as [`RateLimitLayer::peek`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyStatus {
    /// The policy name.
    pub name: String,
    /// Its burst (the `q` of `RateLimit-Policy`).
    pub limit: u32,
    /// Requests left: from [`RateLimitLayer::peek`], before this request; seen by a
    /// handler through [`RateLimitLayer::expose_status`], after it was charged (what the
    /// `RateLimit` header reports).
    pub remaining: u32,
    /// Until the policy is back to a full burst (for a denying policy: until the request
    /// would fit), rounded up to whole seconds.
    pub reset_after: Duration,
    /// Whether this policy would deny the request.
    pub denied: bool,
}

/// Rate limits requests with GCRA quotas, answering 429 `RATE_LIMITED` past them.
///
/// [`RateLimitLayer::new`] gives secure defaults: one policy named `default`, keyed by
/// client address (IPv6 by /64), checked against a bounded in-memory store (a million
/// keys, new keys refused with 503 when full of live ones), IETF draft headers, fail
/// closed. See the [module docs](super) for the rest.
#[derive(Debug)]
pub struct RateLimitLayer<St = MemoryRateStore, M = InnerBody> {
    pub(crate) shared: Shared<St>,
    mode: PhantomData<fn() -> M>,
}

impl<St, M> Clone for RateLimitLayer<St, M> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            mode: PhantomData,
        }
    }
}

/// The layer's configuration, shared by every service it builds.
#[derive(Debug)]
pub(crate) struct Shared<St> {
    pub store: Arc<St>,
    pub policies: Vec<Policy>,
    pub policy_header: Option<HeaderValue>,
    pub prefix: Arc<str>,
    /// Derived in [`Layer::layer`] from `prefix` and `policies`.
    pub key_prefixes: Vec<KeyPrefix>,
    pub header_mode: HeaderMode,
    pub on_full: OnStoreFull,
    pub on_error: OnStoreError,
    pub charge_on: Option<StatusSet>,
    pub dry_run: bool,
    pub allow: AllowList,
    pub principal_quotas: bool,
    pub expose_status: bool,
    pub renderer: Renderer,
    pub clock: SharedClock,
}

impl<St> Clone for Shared<St> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            policies: self.policies.clone(),
            policy_header: self.policy_header.clone(),
            prefix: self.prefix.clone(),
            key_prefixes: self.key_prefixes.clone(),
            header_mode: self.header_mode,
            on_full: self.on_full,
            on_error: self.on_error,
            charge_on: self.charge_on,
            dry_run: self.dry_run,
            allow: self.allow.clone(),
            principal_quotas: self.principal_quotas,
            expose_status: self.expose_status,
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl RateLimitLayer<MemoryRateStore> {
    /// One policy named `default`: `quota` per client address, in a new
    /// [`MemoryRateStore`]. A quota that admits nothing denies every request.
    ///
    /// ```
    /// use tower_shield::core::Quota;
    /// use tower_shield::ratelimit::RateLimitLayer;
    /// let layer = RateLimitLayer::new(Quota::per_second(20).burst(40));
    /// # let _ = layer;
    /// ```
    pub fn new(quota: Quota) -> Self {
        let policy = Policy {
            name: "default".into(),
            quota,
            key: Key::ClientIp,
            cost: 1,
            routes: None,
        };
        Self::from_parts(Arc::new(MemoryRateStore::new()), vec![policy])
    }

    /// Several named policies, checked all-then-commit (a denial by one charges none),
    /// in a new [`MemoryRateStore`]. 1 to 8 policies with distinct names.
    ///
    /// ```
    /// use tower_shield::core::Quota;
    /// use tower_shield::ratelimit::{Key, Policy, RateLimitLayer};
    /// let layer = RateLimitLayer::with_policies([
    ///     Policy::new("burst", Quota::per_second(10).burst(20))?,
    ///     Policy::new("hourly", Quota::per_hour(1000))?.key(Key::Principal),
    /// ])?;
    /// # let _ = layer;
    /// # Ok::<(), tower_shield::core::ConfigError>(())
    /// ```
    pub fn with_policies(policies: impl IntoIterator<Item = Policy>) -> Result<Self, ConfigError> {
        let policies: Vec<Policy> = policies.into_iter().collect();
        check_policies(&policies)?;
        Ok(Self::from_parts(Arc::new(MemoryRateStore::new()), policies))
    }
}

fn check_policies(policies: &[Policy]) -> Result<(), ConfigError> {
    if policies.is_empty() || policies.len() > MAX_POLICIES {
        return Err(ConfigError::new("policies", "give 1 to 8 policies"));
    }
    for (i, p) in policies.iter().enumerate() {
        if policies.iter().take(i).any(|q| q.name == p.name) {
            return Err(ConfigError::new(
                "policies",
                format!("duplicate policy name `{}`", p.name),
            ));
        }
        if key::PRINCIPAL_NAMES.contains(&&*p.name) {
            return Err(ConfigError::new(
                "policies",
                format!("`{}` is reserved for principal quotas", p.name),
            ));
        }
    }
    Ok(())
}

impl<St: RateStore> RateLimitLayer<St> {
    fn from_parts(store: Arc<St>, policies: Vec<Policy>) -> Self {
        Self {
            mode: PhantomData,
            shared: Shared {
                store,
                policies,
                policy_header: None,
                prefix: "rl".into(),
                key_prefixes: Vec::new(),
                header_mode: HeaderMode::default(),
                on_full: OnStoreFull::default(),
                on_error: OnStoreError::default(),
                charge_on: None,
                dry_run: false,
                allow: AllowList::default(),
                principal_quotas: true,
                expose_status: false,
                renderer: Renderer::default(),
                clock: Arc::new(SystemClock),
            },
        }
    }
}

impl<St: RateStore, M> RateLimitLayer<St, M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> RateLimitLayer<St, InnerBody> {
        self.with_mode()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> RateLimitLayer<St, WrappedBody> {
        self.with_mode()
    }

    /// The same layer in another body mode (the shield's, which answers for all its layers).
    pub(crate) fn with_mode<M2>(self) -> RateLimitLayer<St, M2> {
        RateLimitLayer {
            shared: self.shared,
            mode: PhantomData,
        }
    }

    /// Adds a policy (at most 8 in all, names distinct).
    pub fn policy(mut self, policy: Policy) -> Result<Self, ConfigError> {
        self.shared.policies.push(policy);
        check_policies(&self.shared.policies)?;
        Ok(self)
    }

    /// Uses `store` for the counters (a configured [`MemoryRateStore`], an
    /// `Arc<MemoryRateStore>` shared with other layers, or the Redis store). Its future
    /// must be `Unpin` (a `Ready` or a `Pin<Box<..>>` are).
    pub fn store<St2: RateStore>(self, store: St2) -> RateLimitLayer<St2, M> {
        let s = self.shared;
        RateLimitLayer {
            mode: PhantomData,
            shared: Shared {
                store: Arc::new(store),
                policies: s.policies,
                policy_header: None,
                prefix: s.prefix,
                key_prefixes: Vec::new(),
                header_mode: s.header_mode,
                on_full: s.on_full,
                on_error: s.on_error,
                charge_on: s.charge_on,
                dry_run: s.dry_run,
                allow: s.allow,
                principal_quotas: s.principal_quotas,
                expose_status: s.expose_status,
                renderer: s.renderer,
                clock: s.clock,
            },
        }
    }

    /// Which headers responses carry (default [`HeaderMode::Ietf`]).
    pub fn headers(mut self, mode: HeaderMode) -> Self {
        self.shared.header_mode = mode;
        self
    }

    /// What to do when the store is full of live keys (default [`OnStoreFull::Reject`]).
    pub fn on_store_full(mut self, action: OnStoreFull) -> Self {
        self.shared.on_full = action;
        self
    }

    /// What to do when the store cannot answer (default [`OnStoreError::FailClosed`]).
    pub fn on_store_error(mut self, policy: OnStoreError) -> Self {
        self.shared.on_error = policy;
        self
    }

    /// Response-based charging: only responses with one of `statuses` count against the
    /// quotas (e.g. `[401, 403]` to limit password guessing without limiting users who
    /// log in). Each request is first checked without charging (a spent quota still
    /// answers 429 before your handler runs), then charged once its response status is
    /// known. Caveat: requests in flight at the same time are all admitted by the first
    /// check, so a client can exceed the quota by its concurrency; combine with a plain
    /// policy on a second layer if that matters.
    pub fn count_only(
        mut self,
        statuses: impl IntoIterator<Item = StatusCode>,
    ) -> Result<Self, ConfigError> {
        let mut set = StatusSet([0; 16]);
        let mut any = false;
        for s in statuses {
            set.insert(s);
            any = true;
        }
        if !any {
            return Err(ConfigError::new("count_only", "give at least one status"));
        }
        self.shared.charge_on = Some(set);
        Ok(self)
    }

    /// Dry run: decide and charge as usual, but never answer 429 and add no headers;
    /// a would-be denial is logged (`info`) and marked with [`DryRunLimited`] in the
    /// request and response extensions. For trying a quota on live traffic.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.shared.dry_run = on;
        self
    }

    /// Never limits clients in these networks (matched on the client address,
    /// [`ClientIp::ip`](crate::core::ClientIp::ip) or the peer). At most 1024 in all.
    pub fn allow_cidrs(
        mut self,
        nets: impl IntoIterator<Item = IpNet>,
    ) -> Result<Self, ConfigError> {
        self.shared.allow.nets.extend(nets);
        if self.shared.allow.nets.len() > MAX_ALLOW_CIDRS {
            return Err(ConfigError::new("allow_cidrs", "at most 1024 networks"));
        }
        Ok(self)
    }

    /// Never limits these principals (matched on [`Principal::id`](crate::core::Principal::id)).
    /// At most 100,000 in all.
    pub fn allow_keys<K: Into<Box<str>>>(
        mut self,
        ids: impl IntoIterator<Item = K>,
    ) -> Result<Self, ConfigError> {
        self.shared
            .allow
            .keys
            .extend(ids.into_iter().map(Into::into));
        if self.shared.allow.keys.len() > MAX_ALLOW_KEYS {
            return Err(ConfigError::new("allow_keys", "at most 100000 keys"));
        }
        Ok(self)
    }

    /// Whether a [`Principal`](crate::core::Principal) carrying its own `quotas` is
    /// limited by those (keyed by its id, reported as `principal`, `principal-2`, ...)
    /// instead of this layer's policies (default `true`).
    pub fn principal_quotas(mut self, on: bool) -> Self {
        self.shared.principal_quotas = on;
        self
    }

    /// The prefix of every counter key (default `rl`), so layers sharing a store keep
    /// separate counters. 1 to 32 of `A-Z a-z 0-9 - _ .`.
    pub fn key_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        key::check_name("key_prefix", prefix)?;
        self.shared.prefix = prefix.into();
        Ok(self)
    }

    /// How rejections are rendered.
    pub fn renderer(mut self, renderer: Renderer) -> Self {
        self.shared.renderer = renderer;
        self
    }

    /// The clock rejections are stamped with. The store keeps its own clock (see
    /// [`MemoryRateStore::builder`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.shared.clock = clock;
        self
    }

    /// Checks `req` against the layer's policies as a request would be, without
    /// charging anything: for a status endpoint, or a handler that wants to know before
    /// doing expensive work. Errors are the rejection the layer would answer with
    /// (no client address, a bad custom key, a store that cannot answer).
    ///
    /// ```
    /// use tower_shield::core::{PeerAddr, Quota};
    /// use tower_shield::ratelimit::RateLimitLayer;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let layer = RateLimitLayer::new(Quota::per_minute(10));
    /// let mut req = http::Request::get("/").body(()).unwrap();
    /// req.extensions_mut().insert(PeerAddr("192.0.2.1:1000".parse().unwrap()));
    /// let status = layer.peek(&req).await.unwrap();
    /// assert!(status.allowed);
    /// assert_eq!(status.policies[0].remaining, 10);
    /// assert_eq!(layer.metrics().tracked_keys(), Some(0), "a peek stores nothing");
    /// # }
    /// ```
    pub fn peek<B>(
        &self,
        req: &http::Request<B>,
    ) -> impl std::future::Future<Output = Result<RateLimitStatus, Rejection>> + Send + 'static
    {
        let sh = &self.shared;
        let (check, applied) = match key::plan(req, &sh.plan_config()) {
            key::Planned::Skip => (None, Vec::new()),
            key::Planned::Reject(r) => (Some(Err(r)), Vec::new()),
            key::Planned::Check(plan) => {
                let applied: Vec<(String, Quota, u32)> = plan
                    .each(&sh.policies)
                    .map(|a| (a.name.to_owned(), a.quota, a.cost))
                    .collect();
                let (fut, _) = sh.ask(req, &plan, crate::core::store::CheckMode::Peek);
                (Some(Ok(fut)), applied)
            }
        };
        async move {
            let outcome = match check {
                None => {
                    return Ok(RateLimitStatus {
                        allowed: true,
                        policies: Vec::new(),
                        retry_after: None,
                    });
                }
                Some(Err(r)) => return Err(r),
                Some(Ok(fut)) => fut.await.map_err(|e| {
                    Rejection::new(
                        RejectionKind::StoreUnavailable,
                        format!("rate limiter: {e}"),
                    )
                })?,
            };
            let reports = headers::reports(
                applied.iter().map(|(name, quota, cost)| key::Applied {
                    name,
                    quota: *quota,
                    cost: *cost,
                }),
                &outcome,
                false,
            );
            Ok(RateLimitStatus::from_reports(&reports, &outcome))
        }
    }

    /// Inserts a [`RateLimitStatus`] into each admitted request's extensions, so handlers
    /// can report the quota in their body (as the 602TechSec API's `rateLimitInfo`
    /// does). Off by default: it costs an allocation per request.
    pub fn expose_status(mut self, on: bool) -> Self {
        self.shared.expose_status = on;
        self
    }

    /// The configured policies.
    pub fn policies(&self) -> &[Policy] {
        &self.shared.policies
    }

    /// A handle for metrics (tracked keys), usable after the layer is consumed.
    pub fn metrics(&self) -> RateLimitMetrics<St> {
        RateLimitMetrics {
            store: self.shared.store.clone(),
        }
    }
}

/// Metrics of a rate limiter's store.
#[derive(Debug)]
pub struct RateLimitMetrics<St> {
    store: Arc<St>,
}

impl<St> Clone for RateLimitMetrics<St> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
        }
    }
}

impl<St: RateStore> RateLimitMetrics<St> {
    /// How many keys the store tracks now (`None` when the store cannot say cheaply).
    pub fn tracked_keys(&self) -> Option<usize> {
        self.store.tracked_keys()
    }
}

impl<S, St: RateStore, M> Layer<S> for RateLimitLayer<St, M> {
    type Service = RateLimitService<S, St, M>;

    fn layer(&self, inner: S) -> Self::Service {
        let mut shared = self.shared.clone();
        let field = headers::policy_field(shared.policies.iter().map(|p| (&*p.name, p.quota)));
        shared.policy_header = HeaderValue::try_from(field).ok();
        shared.key_prefixes = (shared.policies.iter())
            .map(|p| KeyPrefix::new(&shared.prefix, &p.name))
            .collect();
        RateLimitService {
            inner,
            shared: Arc::new(shared),
            mode: PhantomData,
        }
    }
}

impl<St> Shared<St> {
    pub(crate) fn plan_config(&self) -> PlanConfig<'_> {
        PlanConfig {
            prefix: &self.prefix,
            policies: &self.policies,
            key_prefixes: &self.key_prefixes,
            allow: &self.allow,
            principal_quotas: self.principal_quotas,
            coarsen: 0,
        }
    }

    /// The status a handler sees with [`RateLimitLayer::expose_status`].
    pub(crate) fn status(
        &self,
        plan: &Plan,
        outcome: &RateOutcome,
        committed: bool,
    ) -> RateLimitStatus {
        let reports = headers::reports(plan.each(&self.policies), outcome, committed);
        RateLimitStatus::from_reports(&reports, outcome)
    }

    /// The headers for an outcome (nothing in dry-run mode).
    pub(crate) fn headers(
        &self,
        plan: &Plan,
        outcome: &RateOutcome,
        committed: bool,
    ) -> headers::Pending {
        if self.dry_run || self.header_mode == HeaderMode::Off {
            return headers::Pending::default();
        }
        let reports = headers::reports(plan.each(&self.policies), outcome, committed);
        headers::pending(
            self.header_mode,
            self.policy_value(plan),
            &reports,
            outcome.now_ns,
        )
    }

    /// The `RateLimit-Policy` value when it does not depend on the request (every
    /// configured policy applies, or a principal's own quotas do); `None`: render it.
    fn policy_value(&self, plan: &Plan) -> Option<HeaderValue> {
        match &plan.set {
            PolicySet::Configured if plan.len() == self.policies.len() => {
                self.policy_header.clone()
            }
            PolicySet::Principal(q) if self.header_mode != HeaderMode::Legacy => {
                headers::principal_policy(q)
            }
            _ => None,
        }
    }

    /// What a denial answers: the rejection (with `Retry-After` and the rate-limit
    /// headers), or in dry-run mode the marker.
    pub(crate) fn denial(
        &self,
        plan: &Plan,
        outcome: &RateOutcome,
    ) -> Result<Rejection, DryRunLimited> {
        let reports: smallvec::SmallVec<[Report<'_>; 2]> =
            headers::reports(plan.each(&self.policies), outcome, false);
        let retry = headers::retry_after(&reports).unwrap_or(1);
        let policy = reports.iter().find(|r| r.denied).map_or("", |r| r.name);
        if self.dry_run {
            tracing::info!(
                policy,
                retry_after = retry,
                "rate limit (dry run): would answer 429"
            );
            return Err(DryRunLimited {
                policy: policy.to_owned(),
                retry_after: Duration::from_secs(retry),
            });
        }
        let mut rejection = Rejection::new(
            RejectionKind::RateLimited,
            format!("Rate limit exceeded (policy \"{policy}\"). Retry in {retry} seconds."),
        )
        .with_header(http::header::RETRY_AFTER, HeaderValue::from(retry));
        if self.header_mode != HeaderMode::Off {
            for (name, value) in headers::render_with(
                self.header_mode,
                self.policy_value(plan),
                &reports,
                outcome.now_ns,
            ) {
                rejection = rejection.with_header(name, value);
            }
        }
        Ok(rejection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_checked() {
        let p = |n: &str| Policy::new(n, Quota::per_second(1)).unwrap();
        assert!(RateLimitLayer::with_policies([]).is_err());
        assert!(RateLimitLayer::with_policies([p("a"), p("a")]).is_err());
        assert!(RateLimitLayer::with_policies([p("principal")]).is_err());
        assert!(RateLimitLayer::with_policies((0..9).map(|i| p(&format!("p{i}")))).is_err());
        let l = RateLimitLayer::with_policies((0..8).map(|i| p(&format!("p{i}")))).unwrap();
        assert!(l.policy(p("x")).is_err());
        assert!(
            RateLimitLayer::new(Quota::per_second(1))
                .count_only([])
                .is_err()
        );
        assert!(
            RateLimitLayer::new(Quota::per_second(1))
                .key_prefix("a b")
                .is_err()
        );
        assert!(
            RateLimitLayer::new(Quota::per_second(1))
                .allow_cidrs(
                    (0..1025u32)
                        .map(|i| IpNet::from(ipnet::Ipv4Net::from(std::net::Ipv4Addr::from(i))))
                )
                .is_err()
        );
    }

    #[test]
    fn status_set() {
        let mut s = StatusSet([0; 16]);
        s.insert(StatusCode::UNAUTHORIZED);
        assert!(s.contains(StatusCode::UNAUTHORIZED));
        assert!(!s.contains(StatusCode::OK));
        let max = StatusCode::from_u16(999).unwrap();
        s.insert(max);
        assert!(s.contains(max));
    }
}
