//! [`RedisStore`]: the `core::store` traits on Redis.

use std::future::Future;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use smallvec::SmallVec;

use super::breaker::{Breaker, Gate};
use crate::core::clock::{Clock, SystemClock};
use crate::core::quota::{Gcra, GcraOutcome, gcra};
use crate::core::store::{
    CheckMode, MAX_POLICIES, MemoryRateStore, RateCheck, RateOutcome, RateStore, SingleUseStore,
    StoreError,
};

/// A boxed, sendable future: the one allocation per decision that network IO costs.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a store does when Redis cannot answer (down, slow past the timeout, or skipped
/// by the open circuit breaker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Rate checks allow, as a fresh key would be allowed.
    ///
    /// Under every policy, single-use inserts (proof-of-work tokens and challenges,
    /// signature replay marks) **fail closed**: while Redis cannot answer they return the
    /// error and the layer refuses (503). A mark that cannot be written fleet-wide is never
    /// taken as written: a per-instance memory set would accept the same token once on
    /// each instance and once more when Redis returns.
    FailOpen,
    /// Every call returns the error; the layer answers 503.
    FailClosed,
    /// Decide rate limits on this instance alone, at `1 / instances` of each quota (at
    /// least a burst of 1). Set `instances` to the fleet size so the fleet as a whole
    /// stays near the configured quota. Single-use inserts fail closed (see
    /// [`FailurePolicy::FailOpen`]).
    LocalFallback {
        /// How many instances share the quota.
        instances: u32,
    },
}

/// Counters of what the store did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Calls that reached Redis and were answered.
    pub answered: u64,
    /// Calls that failed with an error from Redis or the connection.
    pub errors: u64,
    /// Calls that ran past the timeout.
    pub timeouts: u64,
    /// Calls the open breaker kept from Redis.
    pub skipped: u64,
    /// Calls answered by the failure policy (open, closed or local).
    pub fallbacks: u64,
    /// Rate checks answered from the local deny cache.
    pub deny_cache_hits: u64,
    /// Whether the breaker is open now.
    pub breaker_open: bool,
}

#[derive(Debug, Default)]
struct Counters {
    answered: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    skipped: AtomicU64,
    fallbacks: AtomicU64,
    deny_cache_hits: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A denial remembered until it can no longer be a denial.
#[derive(Debug)]
struct Denied {
    at: Instant,
    until: Instant,
    outcome: RateOutcome,
}

/// Builds a [`RedisStore`].
#[derive(Debug)]
pub struct RedisStoreBuilder {
    target: Target,
    prefix: String,
    timeout: Duration,
    policy: FailurePolicy,
    breaker_threshold: u32,
    breaker_cool_down: Duration,
    deny_cache_max: usize,
    local_max_keys: usize,
}

impl RedisStoreBuilder {
    /// Key prefix (default `"shield"`). Keys are `PREFIX:rl:{KEY}` and `PREFIX:once:{KEY}`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Longest wait for one Redis call before the failure policy answers (default 5 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What to do when Redis cannot answer (default `LocalFallback { instances: 1 }`).
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Open the circuit after `failures` consecutive failures, for `cool_down`, then probe
    /// with one call (default 5 failures, 1 s).
    pub fn breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.breaker_threshold = failures;
        self.breaker_cool_down = cool_down;
        self
    }

    /// Most denials remembered locally (default 65,536); 0 turns the deny cache off.
    pub fn deny_cache(mut self, max_entries: usize) -> Self {
        self.deny_cache_max = max_entries;
        self
    }

    /// Bound on keys of the local fallback rate store (default 100,000).
    pub fn local_max_keys(mut self, max_keys: usize) -> Self {
        self.local_max_keys = max_keys;
        self
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_millis(250).max(self.timeout)
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout()))
            .set_response_timeout(None)
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200))
    }

    /// The cluster client: primaries only (no `read_from_replicas`, so no decision is
    /// ever read from a `READONLY` replica), MOVED and ASK followed by redis-rs, and few,
    /// short retries, since the store's own timeout bounds every call anyway.
    fn cluster_client(&self, nodes: &[String]) -> Result<ClusterClient, StoreError> {
        if nodes.is_empty() {
            return Err(StoreError::Invalid("redis cluster: no nodes".into()));
        }
        ClusterClientBuilder::new(nodes.iter().map(String::as_str))
            .connection_timeout(self.connect_timeout())
            .retries(2)
            .min_retry_wait(1)
            .max_retry_wait(50)
            .build()
            .map_err(|e| StoreError::Invalid(format!("redis cluster nodes: {e}").into()))
    }

    fn single_client(url: &str) -> Result<redis::Client, StoreError> {
        redis::Client::open(url).map_err(|e| StoreError::Invalid(format!("redis url: {e}").into()))
    }

    /// Connects now; fails when Redis (or, for a cluster, every seed node) is unreachable.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        let down = |e: redis::RedisError| StoreError::Unavailable(format!("redis: {e}").into());
        let conn = match &self.target {
            Target::Single(url) => {
                let client = Self::single_client(url)?;
                Conn::Single(
                    ConnectionManager::new_with_config(client, self.manager_config())
                        .await
                        .map_err(down)?,
                )
            }
            Target::Cluster(nodes) => {
                let cluster = LazyCluster::new(self.cluster_client(nodes)?);
                cluster.get().await.map_err(down)?;
                Conn::Cluster(Box::new(cluster))
            }
        };
        Ok(self.finish(conn))
    }

    /// Returns at once, so an app can start while Redis is down (the failure policy
    /// answers until it is up), and starts connecting in the background right away so
    /// the first decisions do not pay for the connection. Needs a Tokio runtime.
    pub fn connect_lazy(self) -> Result<RedisStore, StoreError> {
        let conn = match &self.target {
            Target::Single(url) => {
                let client = Self::single_client(url)?;
                Conn::Single(
                    ConnectionManager::new_lazy_with_config(client, self.manager_config())
                        .map_err(|e| StoreError::Unavailable(format!("redis: {e}").into()))?,
                )
            }
            Target::Cluster(nodes) => {
                Conn::Cluster(Box::new(LazyCluster::new(self.cluster_client(nodes)?)))
            }
        };
        let mut warm = conn.clone();
        tokio::spawn(async move {
            let ping = redis::cmd("PING");
            if let Err(e) = ping.query_async::<String>(&mut warm).await {
                tracing::warn!(error = %e, "redis store: first connection failed; the failure policy answers until Redis is up");
            }
        });
        Ok(self.finish(conn))
    }

    fn finish(self, conn: Conn) -> RedisStore {
        let local_rate = MemoryRateStore::builder()
            .max_keys(self.local_max_keys)
            .build();
        RedisStore {
            inner: Arc::new(Inner {
                conn,
                script: redis::Script::new(include_str!("gcra.lua")),
                prefix: self.prefix,
                timeout: self.timeout,
                policy: self.policy,
                breaker: Breaker::new(self.breaker_threshold, self.breaker_cool_down),
                deny: DashMap::new(),
                deny_max: self.deny_cache_max,
                deny_hasher: RandomState::new(),
                local_rate,
                counters: Counters::default(),
            }),
        }
    }
}

/// Rate counters and single-use keys on Redis, shared by every instance of a fleet.
///
/// * Rate checks run one Lua script (EVALSHA, loaded again on `NOSCRIPT`): all of a
///   request's policies in **one round trip**, on Redis's own clock (`TIME`, microsecond
///   resolution), all-then-commit, each arrival time written only when allowed and with a
///   `PX` expiry at the moment it stops mattering.
/// * Single-use keys are `SET key 1 NX PX ttl`: exactly one caller in the fleet wins.
/// * Every call is bounded by a timeout (default 5 ms); failures feed a circuit breaker,
///   and while Redis cannot answer the [`FailurePolicy`] does.
/// * A denial is remembered locally until its retry time, so a client hammering past its
///   limit costs Redis nothing.
///
/// Keys are `PREFIX:rl:{KEY}` and `PREFIX:once:{KEY}`. The braces are a Redis Cluster
/// hash tag; if a key already contains `{...}`, it is used as is. On Cluster, the policies
/// of one request must share a hash tag (name them `{client}:burst`, `{client}:hourly`).
///
/// Needs a Tokio runtime.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    policy: FailurePolicy,
    breaker: Breaker,
    deny: DashMap<u64, Denied>,
    deny_max: usize,
    deny_hasher: RandomState,
    local_rate: MemoryRateStore,
    counters: Counters,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("policy", &self.inner.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

impl RedisStore {
    /// A builder for `url` (`redis://host:port/db`, `rediss://` is not enabled).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        Self::builder_for(Target::Single(url.into()))
    }

    /// A builder for a Redis Cluster, found from any of `nodes` (`redis://host:port`,
    /// one or more primaries; the rest of the cluster is discovered from them).
    ///
    /// The store speaks the same traits, timeouts, breaker and failure policy as on one
    /// node. Each decision is one script or one `SET` on the primary that owns the slot of
    /// its keys (MOVED and ASK are followed, so slots may migrate under load); replicas are
    /// never read. All keys of one rate check must hash to one slot: keys the store tags
    /// itself do, and the rate-limit layer tags each key with its subject (client or
    /// principal), so policies on one subject share a slot. A check whose keys span slots
    /// is refused with [`StoreError::Invalid`] before it reaches the cluster.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tower_shield::core::store::StoreError> {
    /// let store = tower_shield::redis::RedisStore::cluster_builder([
    ///     "redis://10.0.0.1:6379",
    ///     "redis://10.0.0.2:6379",
    /// ])
    /// .prefix("myapp")
    /// .connect()
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn cluster_builder<I, S>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::builder_for(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    fn builder_for(target: Target) -> RedisStoreBuilder {
        RedisStoreBuilder {
            target,
            prefix: "shield".into(),
            timeout: Duration::from_millis(5),
            policy: FailurePolicy::LocalFallback { instances: 1 },
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(1),
            deny_cache_max: 65_536,
            local_max_keys: 100_000,
        }
    }

    /// Connects to `url` with the defaults.
    pub async fn connect(url: impl Into<String>) -> Result<Self, StoreError> {
        Self::builder(url).connect().await
    }

    /// What the store has done so far.
    pub fn stats(&self) -> RedisStats {
        let c = &self.inner.counters;
        RedisStats {
            answered: c.answered.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            fallbacks: c.fallbacks.load(Ordering::Relaxed),
            deny_cache_hits: c.deny_cache_hits.load(Ordering::Relaxed),
            breaker_open: self.inner.breaker.is_open(),
        }
    }

    /// `PING` within the timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.inner.conn.clone();
        let cmd = redis::cmd("PING");
        let call = cmd.query_async::<String>(&mut conn);
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Unavailable(e.to_string().into())),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    fn key(&self, kind: &str, key: &str) -> String {
        let p = &self.inner.prefix;
        if key.contains('{') && key.contains('}') {
            format!("{p}:{kind}:{key}")
        } else {
            format!("{p}:{kind}:{{{key}}}")
        }
    }
}

impl Inner {
    fn deny_key(&self, checks: &[RateCheck<'_>]) -> u64 {
        let mut h = self.deny_hasher.build_hasher();
        for c in checks {
            c.key.hash(&mut h);
            c.gcra.hash(&mut h);
            c.cost.hash(&mut h);
        }
        h.finish()
    }

    fn cached_denial(&self, key: u64) -> Option<RateOutcome> {
        let now = Instant::now();
        let hit = self.deny.get(&key)?;
        if now >= hit.until {
            drop(hit);
            self.deny.remove_if(&key, |_, d| now >= d.until);
            return None;
        }
        let elapsed = u64::try_from((now - hit.at).as_nanos()).unwrap_or(u64::MAX);
        let mut outcome = hit.outcome.clone();
        outcome.now_ns = outcome.now_ns.saturating_add(elapsed);
        for r in &mut outcome.results {
            r.reset_after_ns = r.reset_after_ns.saturating_sub(elapsed);
            if r.retry_after_ns != u64::MAX {
                r.retry_after_ns = r.retry_after_ns.saturating_sub(elapsed);
            }
        }
        bump(&self.counters.deny_cache_hits);
        Some(outcome)
    }

    fn remember_denial(&self, key: u64, outcome: &RateOutcome) {
        if self.deny_max == 0 || outcome.allowed() {
            return;
        }
        // It stays a denial at least until the slowest denying policy would allow; a policy
        // that never allows is re-asked after a minute (its config may change).
        let wait = outcome
            .results
            .iter()
            .filter(|r| !r.allowed)
            .map(|r| r.retry_after_ns.min(60_000_000_000))
            .max()
            .unwrap_or(0);
        if wait == 0 {
            return;
        }
        if self.deny.len() >= self.deny_max {
            let now = Instant::now();
            self.deny.retain(|_, d| d.until > now);
            if self.deny.len() >= self.deny_max {
                return;
            }
        }
        let at = Instant::now();
        self.deny.insert(
            key,
            Denied {
                at,
                until: at + Duration::from_nanos(wait),
                outcome: outcome.clone(),
            },
        );
    }

    fn rate_fallback(
        &self,
        checks: &[RateCheck<'_>],
        mode: CheckMode,
        why: StoreError,
    ) -> Result<RateOutcome, StoreError> {
        bump(&self.counters.fallbacks);
        match self.policy {
            FailurePolicy::FailClosed => Err(why),
            FailurePolicy::FailOpen => {
                let now = SystemClock.now_nanos();
                Ok(RateOutcome {
                    now_ns: now,
                    results: checks
                        .iter()
                        .map(|c| gcra(0, now, c.gcra, c.cost))
                        .collect(),
                    coarsened: false,
                })
            }
            FailurePolicy::LocalFallback { instances } => {
                let n = instances.max(1);
                let scaled: SmallVec<[RateCheck<'_>; 2]> = checks
                    .iter()
                    .map(|c| RateCheck {
                        key: c.key,
                        gcra: Gcra {
                            emission_ns: c.gcra.emission_ns.saturating_mul(u64::from(n)),
                            burst: if c.gcra.burst == 0 {
                                0
                            } else {
                                (c.gcra.burst / n).max(1)
                            },
                        },
                        cost: c.cost,
                    })
                    .collect();
                self.local_rate.check(&scaled, mode).into_inner()
            }
        }
    }

    /// Single use fails closed under every policy: a mark Redis did not take is not
    /// taken (see [`FailurePolicy::FailOpen`]).
    fn once_fallback(&self, why: StoreError) -> Result<bool, StoreError> {
        bump(&self.counters.fallbacks);
        Err(why)
    }

    /// Records the result of a Redis call in the breaker and the counters.
    fn record<T>(
        &self,
        result: &Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
        started: std::time::Instant,
    ) -> Option<StoreError> {
        let outcome = match result {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "error",
            Err(_) => "timeout",
        };
        crate::core::metrics::store_call("redis", started.elapsed(), outcome);
        let err = match result {
            Ok(Ok(_)) => {
                bump(&self.counters.answered);
                if self.breaker.success() {
                    crate::core::metrics::breaker("redis", false);
                    tracing::info!(prefix = %self.prefix, "redis store recovered; circuit closed");
                }
                return None;
            }
            Ok(Err(e)) => {
                bump(&self.counters.errors);
                tracing::debug!(error = %e, "redis store call failed");
                StoreError::Unavailable(e.to_string().into())
            }
            Err(_) => {
                bump(&self.counters.timeouts);
                tracing::debug!(timeout = ?self.timeout, "redis store call timed out");
                StoreError::Timeout
            }
        };
        if self.breaker.failure() {
            crate::core::metrics::breaker("redis", true);
            tracing::warn!(prefix = %self.prefix, error = %err, policy = ?self.policy, "redis store failing; circuit open");
        }
        Some(err)
    }
}

/// Turns the script's reply into an outcome (times from microseconds to nanoseconds).
fn parse_reply(reply: &[i64], checks: usize) -> Result<RateOutcome, StoreError> {
    let bad = || StoreError::Unavailable("unexpected reply from the rate script".into());
    if reply.len() != 1 + 4 * checks {
        return Err(bad());
    }
    let us = |v: i64| u64::try_from(v).unwrap_or(0).saturating_mul(1000);
    let now_ns = us(*reply.first().ok_or_else(bad)?);
    let results = reply[1..]
        .chunks_exact(4)
        .map(|r| {
            let allowed = r[0] == 1;
            GcraOutcome {
                allowed,
                // Redis keeps the arrival time; callers of the trait use the rest.
                new_tat: 0,
                remaining: u32::try_from(r[1].max(0)).unwrap_or(u32::MAX),
                reset_after_ns: us(r[2]),
                retry_after_ns: if r[3] < 0 { u64::MAX } else { us(r[3]) },
            }
        })
        .collect();
    Ok(RateOutcome {
        now_ns,
        results,
        coarsened: false,
    })
}

impl RateStore for RedisStore {
    type Future = BoxFuture<Result<RateOutcome, StoreError>>;

    fn check(&self, checks: &[RateCheck<'_>], mode: CheckMode) -> Self::Future {
        if checks.len() > MAX_POLICIES {
            return Box::pin(std::future::ready(Err(StoreError::Invalid(
                "more than MAX_POLICIES policies".into(),
            ))));
        }
        let inner = &self.inner;
        let deny_key = inner.deny_key(checks);
        if let Some(denied) = inner.cached_denial(deny_key) {
            return Box::pin(std::future::ready(Ok(denied)));
        }
        if inner.breaker.gate() == Gate::Skip {
            bump(&inner.counters.skipped);
            let r =
                inner.rate_fallback(checks, mode, StoreError::Unavailable("circuit open".into()));
            return Box::pin(std::future::ready(r));
        }
        let keys: SmallVec<[String; 2]> = checks.iter().map(|c| self.key("rl", c.key)).collect();
        if inner.conn.is_cluster() && !one_slot(&keys) {
            return Box::pin(std::future::ready(Err(StoreError::Invalid(
                "redis cluster: the keys of one rate check hash to different slots; give them one {hash tag}".into(),
            ))));
        }
        // The fallback needs the checks after the call; keep owned copies.
        let owned: SmallVec<[(String, Gcra, u32); 2]> = checks
            .iter()
            .map(|c| (c.key.to_owned(), c.gcra, c.cost))
            .collect();
        let this = self.clone();
        let mut conn = inner.conn.clone();
        let timeout = inner.timeout;
        Box::pin(async move {
            let mut invocation = this.inner.script.prepare_invoke();
            invocation.arg(if mode == CheckMode::Charge { "1" } else { "0" });
            for (key, (_, g, cost)) in keys.iter().zip(&owned) {
                // Microsecond resolution: a rate faster than 1,000,000/s rounds to 1 us.
                let emission_us = if g.emission_ns == 0 {
                    0
                } else {
                    (g.emission_ns / 1000).max(1)
                };
                invocation.key(key).arg(emission_us).arg(g.burst).arg(*cost);
            }
            let started = std::time::Instant::now();
            let result =
                tokio::time::timeout(timeout, invocation.invoke_async::<Vec<i64>>(&mut conn)).await;
            let inner = &this.inner;
            let failure = inner.record(&result, started);
            let borrowed: SmallVec<[RateCheck<'_>; 2]> = owned
                .iter()
                .map(|(k, g, c)| RateCheck {
                    key: k,
                    gcra: *g,
                    cost: *c,
                })
                .collect();
            match (result, failure) {
                (Ok(Ok(reply)), None) => {
                    let outcome = parse_reply(&reply, borrowed.len())?;
                    if mode == CheckMode::Charge {
                        inner.remember_denial(deny_key, &outcome);
                    }
                    Ok(outcome)
                }
                (_, Some(err)) => inner.rate_fallback(&borrowed, mode, err),
                (_, None) => {
                    inner.rate_fallback(&borrowed, mode, StoreError::Unavailable("no reply".into()))
                }
            }
        })
    }

    fn tracked_keys(&self) -> Option<usize> {
        None
    }
}

impl SingleUseStore for RedisStore {
    type Future = BoxFuture<Result<bool, StoreError>>;

    fn insert_if_absent(&self, key: &str, ttl: Duration) -> Self::Future {
        let inner = &self.inner;
        if inner.breaker.gate() == Gate::Skip {
            bump(&inner.counters.skipped);
            let r = inner.once_fallback(StoreError::Unavailable("circuit open".into()));
            return Box::pin(std::future::ready(r));
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
            + u64::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key("once", key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let this = self.clone();
        let mut conn = inner.conn.clone();
        let timeout = inner.timeout;
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result =
                tokio::time::timeout(timeout, cmd.query_async::<Option<String>>(&mut conn)).await;
            let failure = this.inner.record(&result, started);
            match (result, failure) {
                (Ok(Ok(reply)), None) => Ok(reply.is_some()),
                (_, Some(err)) => this.inner.once_fallback(err),
                (_, None) => this
                    .inner
                    .once_fallback(StoreError::Unavailable("no reply".into())),
            }
        })
    }
}

/// Where the store connects.
#[derive(Clone, Debug)]
enum Target {
    Single(String),
    Cluster(Vec<String>),
}

/// One node through a `ConnectionManager`, or a cluster through redis-rs' cluster client.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(Box<LazyCluster>),
}

impl Conn {
    fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}

/// A cluster connection made on first use (and retried on the next call while it cannot
/// be made), so `connect_lazy` returns at once; redis-rs then keeps its node connections
/// and slot map up to date.
#[derive(Clone)]
struct LazyCluster {
    client: ClusterClient,
    conn: Arc<tokio::sync::OnceCell<ClusterConnection>>,
}

impl LazyCluster {
    fn new(client: ClusterClient) -> Self {
        Self {
            client,
            conn: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    async fn get(&self) -> redis::RedisResult<ClusterConnection> {
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => Box::pin(async move {
                let mut conn = c.get().await?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => Box::pin(async move {
                let mut conn = c.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(_) => 0,
        }
    }
}

/// The part of `key` Redis Cluster hashes: the text between the first `{` and the next
/// `}` when that is not empty, else the whole key (the Redis Cluster specification).
fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.find('}')
            && close > 0
        {
            return &rest[..close];
        }
    }
    key
}

/// Whether all keys share one hash tag, so one slot on any cluster layout. (Keys with
/// different tags may share a slot by chance; they are refused anyway, so a check that
/// works on one cluster works on every cluster.)
fn one_slot(keys: &[String]) -> bool {
    let mut tags = keys.iter().map(|k| hash_tag(k));
    match tags.next() {
        Some(first) => tags.all(|t| t == first),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_decision_share_a_slot() {
        let a = "shield:rl:rl:default:{n4:203.0.113.0/32}".to_owned();
        let b = "shield:rl:rl:hourly:{n4:203.0.113.0/32}".to_owned();
        let c = "shield:rl:rl:hourly:{n4:198.51.100.0/32}".to_owned();
        assert!(one_slot(&[a.clone(), b.clone()]));
        assert!(!one_slot(&[a, c]));
        assert!(one_slot(&[]));
        assert_eq!(hash_tag("a{b}c{d}"), "b");
        assert_eq!(hash_tag("a{}c{d}"), "a{}c{d}");
        assert_eq!(hash_tag("a{bc"), "a{bc");
        assert_eq!(hash_tag("a}b{c}"), "c");
    }

    #[test]
    fn reply_parsing_is_strict() {
        assert!(parse_reply(&[1], 1).is_err());
        assert!(parse_reply(&[], 0).is_err());
        let o = parse_reply(&[1_700_000_000_000_000, 0, 3, 500, -1], 1).unwrap();
        assert_eq!(o.now_ns, 1_700_000_000_000_000_000);
        assert!(!o.allowed());
        assert_eq!(o.results[0].remaining, 3);
        assert_eq!(o.results[0].reset_after_ns, 500_000);
        assert_eq!(o.results[0].retry_after_ns, u64::MAX);
    }
}
