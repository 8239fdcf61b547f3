//! Keys from a JWKS endpoint: lazy load, `Cache-Control: max-age` refresh in the
//! background, one single-flight refresh per 10 s for an unknown `kid`, and the last good
//! set kept through outages.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL};
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::jwt::{JwtAlgorithm, JwtError, KeySet, VerifyingKey};
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;

/// Largest JWKS body read (bytes).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The shortest interval between two refreshes caused by unknown `kid`s.
pub const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(10);

/// A fetched JWKS document.
#[derive(Clone, Debug)]
pub struct JwksDocument {
    /// The body (JSON `{"keys": [...]}`).
    pub body: Bytes,
    /// `Cache-Control: max-age` of the response (`Some(0)` for `no-store`/`no-cache`).
    pub max_age: Option<Duration>,
}

/// Why a JWKS fetch failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchError(pub String);

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "jwks fetch failed: {}", self.0)
    }
}

impl std::error::Error for FetchError {}

/// The future a [`JwksFetcher`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<JwksDocument, FetchError>> + Send + 'a>>;

/// Fetches a JWKS document. Implement it over your HTTP client (for HTTPS endpoints, or
/// to add authentication); [`HttpJwksFetcher`] is the built-in plain-HTTP one.
pub trait JwksFetcher: Send + Sync + 'static {
    /// One fetch. Bound its time and size: the layer waits on it for the first request
    /// and for unknown `kid`s.
    fn fetch(&self) -> FetchFuture<'_>;
}

/// `Cache-Control: max-age=N` of a response; `Some(0)` for `no-store` / `no-cache`.
pub fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut out = None;
    for v in headers.get_all(CACHE_CONTROL) {
        let Ok(s) = v.to_str() else { continue };
        for d in s.split(',').map(str::trim) {
            let lower = d.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(n) = lower.strip_prefix("max-age=")
                && let Ok(n) = n.trim_matches('"').parse::<u64>()
            {
                out = Some(Duration::from_secs(n));
            }
        }
    }
    out
}

/// Fetches a JWKS over plain HTTP with hyper-util (timeout 5 s, at most
/// [`MAX_JWKS_BYTES`]). For `https://` endpoints implement [`JwksFetcher`] over a TLS
/// client: this crate does not pull in a TLS stack.
#[derive(Clone)]
pub struct HttpJwksFetcher {
    uri: Uri,
    timeout: Duration,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl fmt::Debug for HttpJwksFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpJwksFetcher")
            .field("uri", &self.uri)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpJwksFetcher {
    /// A fetcher for `url` (`http://host[:port]/path`).
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| ConfigError::new("jwks url", "not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ConfigError::new(
                "jwks url",
                "the built-in fetcher speaks http:// only; implement JwksFetcher for https",
            ));
        }
        Ok(Self {
            uri,
            timeout: Duration::from_secs(5),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        })
    }

    /// The whole fetch's time limit (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl JwksFetcher for HttpJwksFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let work = async {
                let req = Request::get(self.uri.clone())
                    .header(ACCEPT, "application/json")
                    .body(Empty::new())
                    .map_err(|e| FetchError(e.to_string()))?;
                let res = self
                    .client
                    .request(req)
                    .await
                    .map_err(|e| FetchError(e.to_string()))?;
                if res.status() != StatusCode::OK {
                    return Err(FetchError(format!("status {}", res.status())));
                }
                let max_age = cache_max_age(res.headers());
                let body = Limited::new(res.into_body(), MAX_JWKS_BYTES)
                    .collect()
                    .await
                    .map_err(|e| FetchError(e.to_string()))?
                    .to_bytes();
                Ok(JwksDocument { body, max_age })
            };
            tokio::time::timeout(self.timeout, work)
                .await
                .map_err(|_| FetchError("timed out".into()))?
        })
    }
}

/// How often a [`RemoteJwks`] refreshes.
#[derive(Clone, Copy, Debug)]
struct Policy {
    default_ttl: Duration,
    min_ttl: Duration,
    max_ttl: Duration,
    retry: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// When the current set goes stale (background refresh after this).
    expires_at: Duration,
    /// Completed fetch attempts, successful or not.
    attempts: u64,
    last_forced: Option<Duration>,
    last_failure: Option<Duration>,
    in_flight: bool,
}

struct Remote {
    fetcher: Box<dyn JwksFetcher>,
    keys: ArcSwapOption<KeySet>,
    state: Mutex<State>,
    flight: tokio::sync::Mutex<()>,
    background: AtomicBool,
    clock: SharedClock,
    policy: Policy,
}

/// Verification keys fetched from a JWKS endpoint, shared by clones.
///
/// * Lazy: nothing is fetched until the first token needs a key (or [`prefetch`](Self::prefetch)).
/// * Fresh: the set is refetched in the background once `Cache-Control: max-age`
///   (clamped to 30 s..=24 h, default 5 min) has passed; requests keep using the old set.
/// * Unknown `kid`: at most one refresh per [`UNKNOWN_KID_INTERVAL`], single-flight
///   (concurrent requests wait for the same fetch); otherwise 401 at once.
/// * Outages: a failed fetch keeps the last good set. With no set ever loaded the layer
///   answers 503 (retrying at most every 10 s), never panics.
/// * Only asymmetric keys (`RSA`, `EC` P-256, `OKP` Ed25519) are taken from the document.
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Remote>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("keys", &self.inner.keys.load().as_ref().map(|k| k.len()))
            .field("policy", &self.inner.policy)
            .finish()
    }
}

/// What a synchronous key lookup found.
pub(crate) enum Lookup {
    Found(Arc<VerifyingKey>),
    Unknown,
    Unavailable,
    Fetch,
}

impl RemoteJwks {
    /// Keys from `url` with the built-in plain-HTTP fetcher.
    pub fn http(url: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(HttpJwksFetcher::new(url)?))
    }

    /// Keys from `fetcher`.
    pub fn new(fetcher: impl JwksFetcher) -> Self {
        Self {
            inner: Arc::new(Remote {
                fetcher: Box::new(fetcher),
                keys: ArcSwapOption::empty(),
                state: Mutex::new(State::default()),
                flight: tokio::sync::Mutex::new(()),
                background: AtomicBool::new(false),
                clock: Arc::new(SystemClock),
                policy: Policy {
                    default_ttl: Duration::from_secs(300),
                    min_ttl: Duration::from_secs(30),
                    max_ttl: Duration::from_secs(86_400),
                    retry: UNKNOWN_KID_INTERVAL,
                },
            }),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Remote)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut r) => {
                f(&mut r);
                Self { inner: Arc::new(r) }
            }
            // Already shared: settings are fixed once clones exist.
            Err(inner) => Self { inner },
        }
    }

    /// The clock refresh timing reads (tests pass a `ManualClock`). Call before cloning.
    pub fn clock(self, clock: SharedClock) -> Self {
        self.edit(|r| r.clock = clock)
    }

    /// The refresh interval when the response has no `max-age` (default 5 min). Call
    /// before cloning.
    pub fn default_ttl(self, ttl: Duration) -> Self {
        self.edit(|r| r.policy.default_ttl = ttl)
    }

    /// The key set in force, if one was loaded.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.inner.keys.load_full()
    }

    /// Fetches now (single-flight with any other fetch); `Err` leaves the last good set.
    pub async fn prefetch(&self) -> Result<(), FetchError> {
        let _g = self.inner.flight.lock().await;
        self.inner.fetch_locked().await
    }

    fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    pub(crate) fn lookup(&self, kid: Option<&str>, alg: JwtAlgorithm) -> Lookup {
        let now = self.now();
        let Some(set) = self.inner.keys.load_full() else {
            let st = self.inner.lock();
            return if !st.in_flight && recent(st.last_failure, now, self.inner.policy.retry) {
                Lookup::Unavailable
            } else {
                Lookup::Fetch
            };
        };
        let stale = self.inner.lock().expires_at <= now;
        if stale {
            self.refresh_in_background();
        }
        let key = match kid {
            Some(kid) => set.get(kid),
            None => set.only_of(alg),
        };
        match key {
            Some(k) => Lookup::Found(k.clone()),
            None => {
                let st = self.inner.lock();
                if st.in_flight || !recent(st.last_forced, now, UNKNOWN_KID_INTERVAL) {
                    Lookup::Fetch
                } else {
                    Lookup::Unknown
                }
            }
        }
    }

    /// The key for a token, refreshing first if the rules allow (the slow path).
    pub(crate) async fn resolve(
        &self,
        kid: Option<&str>,
        alg: JwtAlgorithm,
    ) -> Result<Arc<VerifyingKey>, JwtError> {
        match self.lookup(kid, alg) {
            Lookup::Found(k) => return Ok(k),
            Lookup::Unknown => return Err(JwtError::UnknownKey),
            Lookup::Unavailable => return Err(JwtError::KeysUnavailable),
            Lookup::Fetch => {}
        }
        let seen = self.inner.lock().attempts;
        {
            let _g = self.inner.flight.lock().await;
            let now = self.now();
            let go = {
                let mut st = self.inner.lock();
                let has_keys = self.inner.keys.load().is_some();
                let go = st.attempts == seen
                    && if has_keys {
                        !recent(st.last_forced, now, UNKNOWN_KID_INTERVAL)
                    } else {
                        !recent(st.last_failure, now, self.inner.policy.retry)
                    };
                if go && has_keys {
                    st.last_forced = Some(now);
                }
                go
            };
            if go && let Err(e) = self.inner.fetch_locked().await {
                tracing::warn!(error = %e, "jwks: refresh failed; keeping the last good keys");
            }
        }
        let Some(set) = self.inner.keys.load_full() else {
            return Err(JwtError::KeysUnavailable);
        };
        match kid {
            Some(kid) => set.get(kid),
            None => set.only_of(alg),
        }
        .cloned()
        .ok_or(JwtError::UnknownKey)
    }

    fn refresh_in_background(&self) {
        if self.inner.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.inner.background.store(false, Ordering::Release);
            return;
        };
        let inner = self.inner.clone();
        handle.spawn(async move {
            {
                let _g = inner.flight.lock().await;
                // Someone may have refreshed while we waited.
                if inner.lock().expires_at <= inner.clock.now()
                    && let Err(e) = inner.fetch_locked().await
                {
                    tracing::warn!(error = %e, "jwks: background refresh failed; keeping the last good keys");
                }
            }
            inner.background.store(false, Ordering::Release);
        });
    }
}

fn recent(at: Option<Duration>, now: Duration, window: Duration) -> bool {
    at.is_some_and(|t| now < t.saturating_add(window))
}

impl Remote {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave State inconsistent (plain fields).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One fetch; the caller holds `flight`.
    async fn fetch_locked(&self) -> Result<(), FetchError> {
        self.lock().in_flight = true;
        let r = self.fetcher.fetch().await.and_then(|doc| {
            let set = KeySet::from_jwks(&doc.body).map_err(|e| FetchError(e.to_string()))?;
            if set.is_empty() {
                return Err(FetchError("no usable keys in the document".into()));
            }
            Ok((set, doc.max_age))
        });
        let now = self.clock.now();
        let mut st = self.lock();
        st.in_flight = false;
        st.attempts += 1;
        match r {
            Ok((set, max_age)) => {
                let p = self.policy;
                let ttl = max_age.unwrap_or(p.default_ttl).clamp(p.min_ttl, p.max_ttl);
                self.keys.store(Some(Arc::new(set)));
                st.expires_at = now.saturating_add(ttl);
                st.last_failure = None;
                Ok(())
            }
            Err(e) => {
                st.last_failure = Some(now);
                st.expires_at = now.saturating_add(self.policy.retry);
                Err(e)
            }
        }
    }
}
