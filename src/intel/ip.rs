//! IP intelligence in IPQS's shape, from the classify engine, optionally enriched by a
//! remote IPQS-compatible provider in the background.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::classify::Classifier;
use crate::core::clock::{SharedClock, SystemClock};
use crate::core::error::ConfigError;
use crate::core::reject::{Rejection, RejectionKind};
use crate::core::secret::Secret;
use crate::core::verdict::Verdict;

/// IPQS's documented base URL.
pub const IPQS_BASE_URL: &str = "https://www.ipqualityscore.com/api/json";
/// Default capacity of the remote-result cache (entries).
pub const DEFAULT_REMOTE_CACHE: usize = 10_000;
/// Largest provider response read (bytes).
pub const MAX_PROVIDER_BYTES: usize = 64 * 1024;

/// The verdict on an address, with IPQS's field names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IpResult {
    /// Always `true` for an answered lookup (IPQS shape).
    pub success: bool,
    /// 0-100.
    pub fraud_score: u8,
    /// Open or commercial proxy (or VPN, or Tor, as IPQS counts them).
    pub proxy: bool,
    /// VPN.
    pub vpn: bool,
    /// Tor exit.
    pub tor: bool,
    /// Automated traffic from this address.
    pub bot_status: bool,
    /// Hosting / datacenter network.
    pub is_hosting: bool,
    /// The network's organisation.
    #[serde(rename = "ISP")]
    pub isp: Option<String>,
    /// The announcing AS number.
    #[serde(rename = "ASN")]
    pub asn: Option<u32>,
    /// ISO country code.
    pub country_code: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// `local`, or `local+remote` once the provider's answer is cached.
    pub source: &'static str,
    /// The classifier's reason codes.
    pub reasons: Vec<&'static str>,
}

impl IpResult {
    /// The IPQS shape of a classify [`Verdict`] for an address.
    pub fn from_verdict(v: &Verdict) -> Self {
        let geo = v.geo.as_ref();
        Self {
            success: true,
            fraud_score: v.risk_score,
            proxy: v.flags.proxy || v.flags.vpn || v.flags.tor,
            vpn: v.flags.vpn,
            tor: v.flags.tor,
            bot_status: v.flags.bot,
            is_hosting: v.flags.hosting,
            isp: v.org.as_deref().map(str::to_owned),
            asn: v.asn,
            country_code: geo.and_then(|g| g.country.as_deref()).map(str::to_owned),
            region: geo.and_then(|g| g.region.as_deref()).map(str::to_owned),
            city: geo.and_then(|g| g.city.as_deref()).map(str::to_owned),
            source: "local",
            reasons: v.reason_codes().collect(),
        }
    }

    fn merge(&mut self, r: &RemoteIp) {
        self.fraud_score = self.fraud_score.max(r.fraud_score.min(100));
        self.proxy |= r.proxy;
        self.vpn |= r.vpn;
        self.tor |= r.tor;
        self.bot_status |= r.bot_status;
        let fill = |mine: &mut Option<String>, theirs: &Option<String>| {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        };
        fill(&mut self.isp, &r.isp);
        fill(&mut self.country_code, &r.country_code);
        fill(&mut self.region, &r.region);
        fill(&mut self.city, &r.city);
        self.asn = self.asn.or(r.asn);
        self.source = "local+remote";
    }
}

/// What an IPQS-compatible provider answered for an address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RemoteIp {
    /// `success`.
    #[serde(default)]
    pub success: bool,
    /// `message` (on errors).
    #[serde(default)]
    pub message: Option<String>,
    /// `fraud_score`.
    #[serde(default)]
    pub fraud_score: u8,
    /// `proxy`.
    #[serde(default)]
    pub proxy: bool,
    /// `vpn`.
    #[serde(default)]
    pub vpn: bool,
    /// `tor`.
    #[serde(default)]
    pub tor: bool,
    /// `bot_status`.
    #[serde(default)]
    pub bot_status: bool,
    /// `ISP`.
    #[serde(default, rename = "ISP")]
    pub isp: Option<String>,
    /// `ASN`.
    #[serde(default, rename = "ASN")]
    pub asn: Option<u32>,
    /// `country_code`.
    #[serde(default)]
    pub country_code: Option<String>,
    /// `region`.
    #[serde(default)]
    pub region: Option<String>,
    /// `city`.
    #[serde(default)]
    pub city: Option<String>,
}

/// Why a provider lookup failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderError {
    /// No API key configured (`KEY_NOT_FOUND`).
    KeyNotFound,
    /// Timeout, connection error, bad status or body.
    Unavailable(String),
    /// The provider answered `success: false`.
    Refused(String),
}

impl ProviderError {
    /// The rejection for an API answer: 500 `KEY_NOT_FOUND` or 503.
    pub fn to_rejection(&self) -> Rejection {
        match self {
            Self::KeyNotFound => Rejection::new(
                RejectionKind::KeyNotFound,
                "No API key is configured for the IP intelligence provider",
            ),
            _ => Rejection::new(
                RejectionKind::StoreUnavailable,
                "The IP intelligence provider is unavailable",
            ),
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyNotFound => f.write_str("KEY_NOT_FOUND: no provider key configured"),
            Self::Unavailable(e) => write!(f, "provider unavailable: {e}"),
            Self::Refused(e) => write!(f, "provider refused: {e}"),
        }
    }
}

impl std::error::Error for ProviderError {}

/// An IPQS-compatible HTTP API: `GET {base}/ip/{key}/{ip}`. The built-in client speaks
/// plain HTTP (a sidecar, a stand-in); put a TLS-terminating proxy in front for
/// `https://www.ipqualityscore.com`.
#[derive(Clone)]
pub struct IpqsProvider {
    base: String,
    key: Option<Secret>,
    timeout: Duration,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl fmt::Debug for IpqsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpqsProvider")
            .field("base", &self.base)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl IpqsProvider {
    /// A provider at `base` (e.g. `http://127.0.0.1:8080/api/json`) with `key` (the seed
    /// reads it from the `ipqs_access_key` secret); `None` answers `KEY_NOT_FOUND`.
    pub fn new(base: &str, key: Option<Secret>) -> Result<Self, ConfigError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|_| ConfigError::new("ipqs base url", "not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(ConfigError::new(
                "ipqs base url",
                "the built-in client speaks http:// only",
            ));
        }
        if key.as_ref().is_some_and(|k| {
            k.is_empty() || k.len() > 128 || !k.expose().iter().all(u8::is_ascii_alphanumeric)
        }) {
            return Err(ConfigError::new(
                "ipqs key",
                "1..=128 ASCII letters and digits",
            ));
        }
        Ok(Self {
            base,
            key,
            timeout: Duration::from_secs(2),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        })
    }

    /// The time limit of one lookup (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// One lookup.
    pub async fn fetch(&self, ip: IpAddr) -> Result<RemoteIp, ProviderError> {
        let key = self.key.as_ref().ok_or(ProviderError::KeyNotFound)?;
        let key = std::str::from_utf8(key.expose()).map_err(|_| ProviderError::KeyNotFound)?;
        let uri: Uri = format!("{}/ip/{key}/{ip}", self.base)
            .parse()
            .map_err(|_| ProviderError::Unavailable("bad uri".into()))?;
        let work = async {
            let req = Request::get(uri)
                .header(ACCEPT, "application/json")
                .body(Empty::new())
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            if res.status() != StatusCode::OK {
                return Err(ProviderError::Unavailable(format!(
                    "status {}",
                    res.status()
                )));
            }
            let body = Limited::new(res.into_body(), MAX_PROVIDER_BYTES)
                .collect()
                .await
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?
                .to_bytes();
            let r: RemoteIp = serde_json::from_slice(&body)
                .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
            if !r.success {
                return Err(ProviderError::Refused(r.message.unwrap_or_default()));
            }
            Ok(r)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ProviderError::Unavailable("timed out".into()))?
    }
}

/// A bounded FIFO cache of provider answers with a time to live.
struct Cache {
    map: HashMap<IpAddr, (Duration, Arc<RemoteIp>)>,
    order: VecDeque<IpAddr>,
    pending: HashSet<IpAddr>,
    capacity: usize,
}

impl Cache {
    fn insert(&mut self, ip: IpAddr, at: Duration, r: Arc<RemoteIp>) {
        if self.map.insert(ip, (at, r)).is_none() {
            self.order.push_back(ip);
        }
        while self.map.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
    }
}

struct Remote {
    provider: IpqsProvider,
    cache: Mutex<Cache>,
    queue: tokio::sync::mpsc::Sender<IpAddr>,
    ttl: Duration,
    clock: SharedClock,
}

/// IP lookups: the classify engine's verdict in IPQS's shape, at once and in-process.
/// With [`with_provider`](Self::with_provider), addresses not yet known to the provider
/// are queued (bounded, deduplicated, dropped when the queue is full) for a background
/// task; its answers (cached up to a capacity, for a TTL) enrich later lookups. The
/// request path never waits on the network.
#[derive(Clone)]
pub struct IpIntel {
    classifier: Classifier,
    remote: Option<Arc<Remote>>,
}

impl fmt::Debug for IpIntel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpIntel")
            .field("remote", &self.remote.as_ref().map(|r| &r.provider))
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Cache>) -> std::sync::MutexGuard<'_, Cache> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IpIntel {
    /// Lookups from `classifier` alone.
    pub fn new(classifier: Classifier) -> Self {
        Self {
            classifier,
            remote: None,
        }
    }

    /// Adds a background provider with a cache of `capacity` answers kept for `ttl`.
    /// Starts its task on the current tokio runtime (call inside one).
    pub fn with_provider(
        self,
        provider: IpqsProvider,
        capacity: usize,
        ttl: Duration,
    ) -> Result<Self, ConfigError> {
        self.with_provider_clock(provider, capacity, ttl, Arc::new(SystemClock))
    }

    /// [`with_provider`](Self::with_provider) with the clock cache ages are read from.
    pub fn with_provider_clock(
        mut self,
        provider: IpqsProvider,
        capacity: usize,
        ttl: Duration,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| ConfigError::new("ip provider", "needs a tokio runtime"))?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<IpAddr>(1024);
        let remote = Arc::new(Remote {
            provider,
            cache: Mutex::new(Cache {
                map: HashMap::new(),
                order: VecDeque::new(),
                pending: HashSet::new(),
                capacity: capacity.max(1),
            }),
            queue: tx,
            ttl,
            clock,
        });
        let weak = Arc::downgrade(&remote);
        handle.spawn(async move {
            while let Some(ip) = rx.recv().await {
                let Some(r) = weak.upgrade() else { break };
                let got = r.provider.fetch(ip).await;
                let mut c = lock(&r.cache);
                c.pending.remove(&ip);
                match got {
                    Ok(answer) => c.insert(ip, r.clock.now(), Arc::new(answer)),
                    Err(e) => tracing::debug!(%ip, error = %e, "ip provider lookup failed"),
                }
            }
        });
        self.remote = Some(remote);
        Ok(self)
    }

    /// The result for `ip` now: local verdict, merged with a fresh cached provider answer;
    /// queues a background lookup when there is none.
    pub fn lookup(&self, ip: IpAddr) -> IpResult {
        let mut r = IpResult::from_verdict(&self.classifier.classify_ip(ip));
        if let Some(remote) = &self.remote {
            let now = remote.clock.now();
            let mut c = lock(&remote.cache);
            match c.map.get(&ip) {
                Some((at, answer)) if now < at.saturating_add(remote.ttl) => r.merge(answer),
                _ => {
                    if c.pending.len() < 1024
                        && c.pending.insert(ip)
                        && remote.queue.try_send(ip).is_err()
                    {
                        c.pending.remove(&ip);
                    }
                }
            }
        }
        r
    }

    /// Asks the provider now (not from the request path of a layer; for an API that
    /// promises a remote answer). `KeyNotFound` without a key.
    pub async fn lookup_remote(&self, ip: IpAddr) -> Result<IpResult, ProviderError> {
        let remote = self.remote.as_ref().ok_or(ProviderError::KeyNotFound)?;
        let answer = Arc::new(remote.provider.fetch(ip).await?);
        let mut r = IpResult::from_verdict(&self.classifier.classify_ip(ip));
        r.merge(&answer);
        lock(&remote.cache).insert(ip, remote.clock.now(), answer);
        Ok(r)
    }

    /// Provider answers cached right now.
    pub fn cached(&self) -> usize {
        self.remote.as_ref().map_or(0, |r| lock(&r.cache).map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_shape() {
        let intel = IpIntel::new(Classifier::embedded());
        let r = intel.lookup("3.5.140.2".parse().unwrap());
        assert!(r.success && r.is_hosting && r.fraud_score > 0, "{r:?}");
        let j = serde_json::to_value(&r).unwrap();
        for k in [
            "fraud_score",
            "proxy",
            "vpn",
            "tor",
            "bot_status",
            "ISP",
            "ASN",
            "country_code",
            "region",
            "city",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        let r = intel.lookup("10.0.0.1".parse().unwrap());
        assert_eq!(r.fraud_score, 0);
    }

    #[test]
    fn cache_is_bounded() {
        let mut c = Cache {
            map: HashMap::new(),
            order: VecDeque::new(),
            pending: HashSet::new(),
            capacity: 3,
        };
        for i in 0..10u8 {
            c.insert(IpAddr::from([10, 0, 0, i]), Duration::ZERO, Arc::default());
        }
        assert_eq!(c.map.len(), 3);
        assert!(c.map.contains_key(&IpAddr::from([10, 0, 0, 9])));
    }

    #[tokio::test]
    async fn no_key_is_key_not_found() {
        let p = IpqsProvider::new("http://127.0.0.1:9/api/json", None).unwrap();
        assert_eq!(
            p.fetch("1.2.3.4".parse().unwrap()).await,
            Err(ProviderError::KeyNotFound)
        );
        assert_eq!(
            ProviderError::KeyNotFound.to_rejection().code(),
            "KEY_NOT_FOUND"
        );
        assert!(IpqsProvider::new("https://www.ipqualityscore.com/api/json", None).is_err());
        assert!(IpqsProvider::new("http://x/api", Some(Secret::from("bad key/../"))).is_err());
    }
}
