//! Live classification feeds: fetch providers' published ranges at run time, validate
//! them, and swap a rebuilt table into a [`Classifier`] (feature `feeds`).
//!
//! A [`FeedUpdater`] holds a list of [`Feed`]s (a URL and the [`FeedFormat`] of its
//! bytes). Each round it fetches every feed over HTTPS (hyper + rustls on `ring`, the
//! Mozilla roots of `webpki-roots`), then rebuilds the table from a base (by default
//! the embedded snapshot) plus the last good data of every feed, and swaps it in with
//! [`Classifier::swap_table`]; requests in flight finish on the old table.
//!
//! * **Conditional requests.** The `ETag` and `Last-Modified` of the last good answer
//!   are sent back as `If-None-Match` / `If-Modified-Since`; `304 Not Modified` keeps
//!   the feed's current data and costs no rebuild.
//! * **Bounds.** A feed's body is read up to [`Feed::max_bytes`] (default
//!   [`DEFAULT_MAX_FEED_BYTES`], at most the loaders' [`MAX_INPUT_BYTES`]); a larger
//!   `Content-Length` or body fails the feed at once. Each fetch (connect, headers and
//!   body) has a timeout ([`FeedUpdaterBuilder::timeout`], default 30 s); at most
//!   [`FeedUpdaterBuilder::concurrency`] fetches run at once (default 4); at most
//!   [`MAX_FEEDS`] feeds. The updater keeps the last good body of each feed (to rebuild
//!   from), so its memory is bounded by the sum of the feeds' `max_bytes`.
//! * **Validation.** The bytes must be UTF-8 and parse with the feed's loader from
//!   [`loaders`] (the only parsers remote bytes reach; they are fuzzed), and yield at
//!   least one range with no more entries skipped than added. Anything else fails the
//!   feed.
//! * **Failure keeps the last good data.** A failed feed (network error, timeout, non-2xx,
//!   oversized, malformed) keeps the ranges of its last good answer; a feed that never
//!   succeeded contributes nothing. The table is never emptied: with every feed failing
//!   the classifier keeps its current table (the embedded snapshot at start). Each
//!   failed feed logs exactly one `warn` line per round.
//! * **Schedule.** [`FeedUpdater::spawn`] runs a round at once and then every
//!   [`FeedUpdaterBuilder::interval`] (default 6 h) plus a random jitter of up to
//!   [`FeedUpdaterBuilder::jitter`] (default a tenth of the interval), so a fleet does
//!   not hit a provider in step.
//! * **Age.** [`FeedUpdater::status`] tells, per feed, the last attempt, the last
//!   success, the last change, the last error, the validators, the size and the range
//!   count, for metrics and readiness probes.
//!
//! Only `https://` URLs are accepted, except plain `http://` to a loopback address
//! (`127.0.0.0/8`, `::1`, `localhost`), and to any host with
//! [`FeedUpdaterBuilder::insecure_http`]. The URLs and formats are your configuration;
//! the bytes are remote and untrusted, which is why they go through the loaders only.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use tower_shield::classify::Classifier;
//! use tower_shield::classify::feeds::{Feed, FeedFormat, FeedUpdater};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let classifier = Classifier::embedded();
//! let updater = FeedUpdater::builder(classifier.clone())
//!     .feed(Feed::new("https://ip-ranges.amazonaws.com/ip-ranges.json", FeedFormat::Aws)?)
//!     .feed(Feed::new(
//!         "https://check.torproject.org/torbulkexitlist",
//!         FeedFormat::TorBulkExitList,
//!     )?)
//!     .interval(Duration::from_secs(6 * 3600))
//!     .build()?;
//! // The first round runs now; then every 6 h plus up to 36 min of jitter.
//! let task = updater.spawn();
//! # tokio::time::sleep(Duration::from_secs(5)).await;
//! for feed in updater.status() {
//!     println!("{} last success {:?}, last error {:?}", feed.name, feed.last_success, feed.last_error);
//! }
//! drop(task); // stops the schedule
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, CONTENT_LENGTH, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    USER_AGENT,
};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Classifier;
use super::data::loaders::{self, LoadStats, MAX_INPUT_BYTES};
use super::data::{LoadError, NetInfo, NetKind, TableBuilder, embedded};
use crate::core::ConfigError;

/// Default bound on one feed's body (32 MiB: Azure's service tags are about 4 MiB, the
/// ip-location-db ASN CSVs about 20 MiB).
pub const DEFAULT_MAX_FEED_BYTES: usize = 32 << 20;
/// The most feeds one updater holds.
pub const MAX_FEEDS: usize = 64;
/// The longest error text kept in a [`FeedStatus`] (bytes; longer ones are cut).
pub const MAX_ERROR_LEN: usize = 512;

/// What a feed's bytes are, i.e. which loader validates and loads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedFormat {
    /// AWS `ip-ranges.json` ([`loaders::aws_ip_ranges`]).
    Aws,
    /// Google Cloud `cloud.json` (or `goog.json`) as hosting ([`loaders::google_cloud`]).
    GoogleCloud,
    /// Google's crawler / fetcher lists (`googlebot.json`, `special-crawlers.json`,
    /// `user-triggered-fetchers.json`) as crawler ranges.
    GoogleCrawler,
    /// Azure service tags ([`loaders::azure_service_tags`]).
    Azure,
    /// The Tor Project's bulk exit list ([`loaders::tor_bulk_exit_list`]).
    TorBulkExitList,
    /// The Tor Project's `exit-addresses` document ([`loaders::tor_exit_addresses`]).
    TorExitAddresses,
    /// A plain CIDR list ([`loaders::cidr_list`]) whose entries get this kind, labelled
    /// with the feed's name.
    CidrList(NetKind),
    /// An ip-location-db ASN CSV ([`loaders::asn_csv`]), hosting ASNs from the embedded
    /// curated list.
    AsnCsv,
    /// A crawler operator's published list in its own JSON shape
    /// ([`loaders::operator_prefixes`]: Google's `googlebot.json` and friends, Bing's
    /// `bingbot.json`, OpenAI's `gptbot.json`, ...), replacing list number `n` of the
    /// embedded [`Crawlers`](super::crawlers::Crawlers) directory: it feeds both the
    /// crawler ranges of the table and the verified-crawler check. Named
    /// `crawler:<list id>`, e.g. `crawler:google-googlebot`, `crawler:bing-bingbot`,
    /// `crawler:openai-gptbot`.
    CrawlerList(u8),
}

impl FeedFormat {
    /// Parses a format name: `aws`, `google-cloud`, `google-crawler`, `azure`,
    /// `tor-bulk-exit-list` (or `tor`), `tor-exit-addresses`, `asn-csv`, or
    /// `cidr-<kind>` with a [`NetKind`] name (`cidr-hosting`, `cidr-vpn`, `cidr-proxy`,
    /// `cidr-tor`, `cidr-crawler`, ...), or `crawler:<list id>` for a crawler operator's
    /// list (`crawler:google-googlebot`, `crawler:bing-bingbot`, ...: the ids of
    /// [`Crawlers::embedded`](super::crawlers::Crawlers::embedded)).
    pub fn from_name(name: &str) -> Result<Self, ConfigError> {
        let n = name.trim().to_ascii_lowercase();
        Ok(match n.as_str() {
            "aws" => Self::Aws,
            "google-cloud" | "gcp" => Self::GoogleCloud,
            "google-crawler" => Self::GoogleCrawler,
            "azure" => Self::Azure,
            "tor" | "tor-bulk-exit-list" => Self::TorBulkExitList,
            "tor-exit-addresses" => Self::TorExitAddresses,
            "asn-csv" => Self::AsnCsv,
            other => match other.strip_prefix("cidr-").and_then(NetKind::from_name) {
                Some(kind) => Self::CidrList(kind),
                None if other.starts_with("crawler:") => {
                    let id = other.trim_start_matches("crawler:");
                    let lists = super::crawlers::Crawlers::embedded();
                    let Some(n) = lists
                        .lists()
                        .iter()
                        .position(|l| l.id.eq_ignore_ascii_case(id))
                        .and_then(|n| u8::try_from(n).ok())
                    else {
                        let known: Vec<&str> = lists.lists().iter().map(|l| &*l.id).collect();
                        return Err(ConfigError::new(
                            "feed format",
                            format!("unknown crawler list {id:?} (known: {})", known.join(", ")),
                        ));
                    };
                    Self::CrawlerList(n)
                }
                None => {
                    return Err(ConfigError::new(
                        "feed format",
                        format!("unknown feed format {name:?}"),
                    ));
                }
            },
        })
    }

    /// Loads `text` into `b` with this format's loader.
    pub fn load(
        self,
        b: &mut TableBuilder,
        text: &str,
        name: &str,
    ) -> Result<LoadStats, LoadError> {
        match self {
            Self::Aws => loaders::aws_ip_ranges(b, text),
            Self::GoogleCloud => loaders::google_cloud(b, text, NetKind::HOSTING, "Google Cloud"),
            Self::GoogleCrawler => loaders::google_cloud(b, text, NetKind::CRAWLER, "Googlebot"),
            Self::Azure => loaders::azure_service_tags(b, text),
            Self::TorBulkExitList => loaders::tor_bulk_exit_list(b, text),
            Self::TorExitAddresses => loaders::tor_exit_addresses(b, text),
            Self::CidrList(kind) => loaders::cidr_list(b, text, NetInfo::tagged(kind, name)),
            Self::AsnCsv => loaders::asn_csv(b, text, &embedded::hosting_asns()),
            Self::CrawlerList(n) => {
                let lists = super::crawlers::Crawlers::embedded();
                let op = lists
                    .lists()
                    .get(usize::from(n))
                    .map_or_else(|| Arc::from(name), |l| l.operator.clone());
                loaders::crawler_ranges(b, text, NetInfo::tagged(NetKind::CRAWLER, op))
            }
        }
    }

    /// The embedded crawler list this feed replaces, if it is a [`FeedFormat::CrawlerList`].
    fn crawler_list(self) -> Option<Arc<str>> {
        match self {
            Self::CrawlerList(n) => super::crawlers::Crawlers::embedded()
                .lists()
                .get(usize::from(n))
                .map(|l| l.id.clone()),
            _ => None,
        }
    }
}

/// One feed: where to fetch it and what its bytes are.
#[derive(Clone, Debug)]
pub struct Feed {
    name: Arc<str>,
    uri: Uri,
    format: FeedFormat,
    max_bytes: usize,
}

impl Feed {
    /// A feed at `url` (checked when the updater is built) of `format`, named by its URL.
    pub fn new(url: &str, format: FeedFormat) -> Result<Self, ConfigError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| ConfigError::new("feed url", format!("not a URL: {url:?}")))?;
        if uri.host().is_none() || !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(ConfigError::new(
                "feed url",
                format!("needs https://host/...: {url:?}"),
            ));
        }
        Ok(Self {
            name: Arc::from(url),
            uri,
            format,
            max_bytes: DEFAULT_MAX_FEED_BYTES,
        })
    }

    /// Names the feed (in logs, status and `cidr-*` labels); default: its URL.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Arc::from(name);
        self
    }

    /// Bounds the body (bytes, at most [`MAX_INPUT_BYTES`]); default
    /// [`DEFAULT_MAX_FEED_BYTES`].
    pub fn max_bytes(mut self, max: usize) -> Result<Self, ConfigError> {
        if max == 0 || max > MAX_INPUT_BYTES {
            return Err(ConfigError::new(
                "feed max_bytes",
                format!("must be 1..={MAX_INPUT_BYTES}"),
            ));
        }
        self.max_bytes = max;
        Ok(self)
    }

    fn is_loopback(&self) -> bool {
        let host = self.uri.host().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// What is known about one feed, for metrics and readiness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedStatus {
    /// The feed's name (its URL unless named).
    pub name: Arc<str>,
    /// The feed's URL.
    pub url: String,
    /// When the last fetch started.
    pub last_attempt: Option<SystemTime>,
    /// When a fetch last succeeded (200 with valid data, or 304).
    pub last_success: Option<SystemTime>,
    /// When the feed's data last changed (a valid 200).
    pub last_change: Option<SystemTime>,
    /// The error of the last attempt, `None` when it succeeded.
    pub last_error: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The `ETag` of the data in use.
    pub etag: Option<String>,
    /// The `Last-Modified` of the data in use.
    pub last_modified: Option<String>,
    /// Size of the data in use, bytes.
    pub bytes: usize,
    /// Ranges the data in use added.
    pub ranges: usize,
}

impl FeedStatus {
    /// Time since the last success at `now` (`None`: never succeeded).
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        self.last_success
            .map(|t| now.duration_since(t).unwrap_or(Duration::ZERO))
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Feeds whose data changed (valid 200).
    pub updated: usize,
    /// Feeds answered 304.
    pub not_modified: usize,
    /// Feeds that failed (and kept their last good data).
    pub failed: usize,
    /// Whether a rebuilt table was swapped in.
    pub swapped: bool,
}

#[derive(Debug)]
struct FeedState {
    feed: Feed,
    status: FeedStatus,
    /// The last good body, rebuilt from on every swap.
    good: Option<Bytes>,
}

type Base = Arc<dyn Fn() -> TableBuilder + Send + Sync>;

struct Inner {
    classifier: Classifier,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    feeds: Vec<Mutex<FeedState>>,
    base: Base,
    timeout: Duration,
    concurrency: usize,
    interval: Duration,
    jitter: Duration,
    /// One round at a time.
    round: tokio::sync::Mutex<()>,
}

/// Fetches feeds and swaps the rebuilt table into a [`Classifier`]; clones share state.
/// See the [module docs](self).
#[derive(Clone)]
pub struct FeedUpdater {
    inner: Arc<Inner>,
}

impl fmt::Debug for FeedUpdater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedUpdater")
            .field("feeds", &self.inner.feeds.len())
            .field("interval", &self.inner.interval)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`FeedUpdater`].
pub struct FeedUpdaterBuilder {
    classifier: Classifier,
    feeds: Vec<Feed>,
    base: Base,
    timeout: Duration,
    concurrency: usize,
    interval: Duration,
    jitter: Option<Duration>,
    insecure_http: bool,
}

impl fmt::Debug for FeedUpdaterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedUpdaterBuilder")
            .field("feeds", &self.feeds)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl FeedUpdaterBuilder {
    /// Adds a feed (at most [`MAX_FEEDS`]).
    pub fn feed(mut self, feed: Feed) -> Self {
        self.feeds.push(feed);
        self
    }

    /// The table every rebuild starts from; default [`embedded::builder`] (the embedded
    /// snapshot).
    pub fn base(mut self, base: impl Fn() -> TableBuilder + Send + Sync + 'static) -> Self {
        self.base = Arc::new(base);
        self
    }

    /// Time limit of one fetch, connect to last body byte (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Fetches running at once (default 4, at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Time between rounds of [`FeedUpdater::spawn`] (default 6 h, at least 1 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_secs(1));
        self
    }

    /// The most random delay added to each interval (default a tenth of the interval).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = Some(jitter);
        self
    }

    /// Allows plain `http://` feeds on any host (off: only loopback hosts may use
    /// `http://`). Plain HTTP lets anyone on the path rewrite your ranges.
    pub fn insecure_http(mut self, allow: bool) -> Self {
        self.insecure_http = allow;
        self
    }

    /// Checks the feeds and builds the updater (fetches nothing yet).
    pub fn build(self) -> Result<FeedUpdater, ConfigError> {
        if self.feeds.len() > MAX_FEEDS {
            return Err(ConfigError::new(
                "feeds",
                format!("at most {MAX_FEEDS} feeds"),
            ));
        }
        for f in &self.feeds {
            if f.uri.scheme_str() == Some("http") && !self.insecure_http && !f.is_loopback() {
                return Err(ConfigError::new(
                    "feed url",
                    format!(
                        "{}: plain http:// only to loopback; use https:// (or insecure_http)",
                        f.uri
                    ),
                ));
            }
        }
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ConfigError::new("feeds tls", e.to_string()))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(tls);
        let feeds = self
            .feeds
            .into_iter()
            .map(|feed| {
                Mutex::new(FeedState {
                    status: FeedStatus {
                        name: feed.name.clone(),
                        url: feed.uri.to_string(),
                        ..FeedStatus::default()
                    },
                    feed,
                    good: None,
                })
            })
            .collect();
        Ok(FeedUpdater {
            inner: Arc::new(Inner {
                classifier: self.classifier,
                client,
                feeds,
                base: self.base,
                timeout: self.timeout,
                concurrency: self.concurrency,
                jitter: self.jitter.unwrap_or(self.interval / 10),
                interval: self.interval,
                round: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

/// A fetch that succeeded.
#[derive(Debug)]
enum Fetched {
    Changed {
        body: Bytes,
        etag: Option<String>,
        last_modified: Option<String>,
        ranges: usize,
    },
    NotModified,
}

/// A body with its `ETag` and `Last-Modified`.
type Body = (Bytes, Option<String>, Option<String>);

fn header_string(v: Option<&HeaderValue>) -> Option<String> {
    v.and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Loads `body` of `format` into a scratch builder: the schema check of one feed.
fn validate(format: FeedFormat, name: &str, body: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let mut scratch = TableBuilder::new();
    let stats = format
        .load(&mut scratch, text, name)
        .map_err(|e| e.to_string())?;
    if stats.added == 0 {
        return Err("no ranges in the feed".into());
    }
    if stats.skipped > stats.added {
        return Err(format!(
            "{} entries skipped against {} added: not this format",
            stats.skipped, stats.added
        ));
    }
    Ok(stats.added)
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl FeedUpdater {
    /// A builder for an updater swapping tables into `classifier`.
    pub fn builder(classifier: Classifier) -> FeedUpdaterBuilder {
        FeedUpdaterBuilder {
            classifier,
            feeds: Vec::new(),
            base: Arc::new(embedded::builder),
            timeout: Duration::from_secs(30),
            concurrency: 4,
            interval: Duration::from_secs(6 * 3600),
            jitter: None,
            insecure_http: false,
        }
    }

    /// The status of every feed, in the order they were added.
    pub fn status(&self) -> Vec<FeedStatus> {
        self.inner
            .feeds
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .status
                    .clone()
            })
            .collect()
    }

    /// The classifier this updater swaps tables into.
    pub fn classifier(&self) -> &Classifier {
        &self.inner.classifier
    }

    /// Fetches every feed once (at most `concurrency` at a time) and, when any feed's
    /// data changed, swaps in the table rebuilt from the base and every feed's last
    /// good data. Rounds never overlap (a second caller waits).
    pub async fn refresh(&self) -> RoundReport {
        let _one = self.inner.round.lock().await;
        let permits = Arc::new(tokio::sync::Semaphore::new(self.inner.concurrency));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..self.inner.feeds.len() {
            let this = self.clone();
            let permits = permits.clone();
            set.spawn(async move {
                let _permit = permits.acquire_owned().await.ok();
                this.refresh_feed(i).await
            });
        }
        let mut report = RoundReport::default();
        while let Some(done) = set.join_next().await {
            match done {
                Ok(Some(true)) => report.updated += 1,
                Ok(Some(false)) => report.not_modified += 1,
                Ok(None) => report.failed += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::error!(error = %e, "classify feeds: a fetch task died");
                }
            }
        }
        if report.updated > 0 {
            report.swapped = self.rebuild().await;
        }
        report
    }

    /// One feed: `Some(true)` changed, `Some(false)` 304, `None` failed (logged once).
    async fn refresh_feed(&self, i: usize) -> Option<bool> {
        let slot = self.inner.feeds.get(i)?;
        let (feed, etag, last_modified, has_good) = {
            let mut st = slot.lock().unwrap_or_else(PoisonError::into_inner);
            st.status.last_attempt = Some(SystemTime::now());
            (
                st.feed.clone(),
                st.status.etag.clone(),
                st.status.last_modified.clone(),
                st.good.is_some(),
            )
        };
        let validators = if has_good {
            (etag, last_modified)
        } else {
            (None, None)
        };
        let result =
            match tokio::time::timeout(self.inner.timeout, self.fetch(&feed, validators)).await {
                Ok(r) => r,
                Err(_) => Err(format!("timed out after {:?}", self.inner.timeout)),
            };
        let result = match result {
            Ok(None) => Ok(Fetched::NotModified),
            Ok(Some((body, etag, last_modified))) => {
                let (format, name) = (feed.format, feed.name.clone());
                let checked = body.clone();
                match tokio::task::spawn_blocking(move || validate(format, &name, &checked)).await {
                    Ok(Ok(ranges)) => Ok(Fetched::Changed {
                        body,
                        etag,
                        last_modified,
                        ranges,
                    }),
                    Ok(Err(e)) => Err(format!("invalid {format:?} data: {e}")),
                    Err(e) => Err(format!("validation task failed: {e}")),
                }
            }
            Err(e) => Err(e),
        };
        let now = SystemTime::now();
        let mut st = slot.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(Fetched::Changed {
                body,
                etag,
                last_modified,
                ranges,
            }) => {
                st.status.last_success = Some(now);
                st.status.last_change = Some(now);
                st.status.last_error = None;
                st.status.consecutive_failures = 0;
                st.status.etag = etag;
                st.status.last_modified = last_modified;
                st.status.bytes = body.len();
                st.status.ranges = ranges;
                st.good = Some(body);
                tracing::info!(feed = %feed.name, ranges, "classify feed updated");
                Some(true)
            }
            Ok(Fetched::NotModified) => {
                st.status.last_success = Some(now);
                st.status.last_error = None;
                st.status.consecutive_failures = 0;
                Some(false)
            }
            Err(e) => {
                let e = cut(e);
                let kept = if st.good.is_some() {
                    "keeping its last good data"
                } else {
                    "no data from it yet"
                };
                tracing::warn!(
                    feed = %feed.name,
                    url = %feed.uri,
                    error = %e,
                    "classify feed failed; {kept}"
                );
                st.status.last_error = Some(e);
                st.status.consecutive_failures = st.status.consecutive_failures.saturating_add(1);
                None
            }
        }
    }

    /// GETs `feed`: the body within its bound and its validators, or `None` on 304.
    async fn fetch(
        &self,
        feed: &Feed,
        (etag, last_modified): (Option<String>, Option<String>),
    ) -> Result<Option<Body>, String> {
        let mut req = Request::get(feed.uri.clone())
            .header(
                USER_AGENT,
                concat!("tower-shield-feeds/", env!("CARGO_PKG_VERSION")),
            )
            .header(ACCEPT_ENCODING, "identity");
        if let Some(v) = etag.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            req = req.header(IF_NONE_MATCH, v);
        }
        if let Some(v) = last_modified
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            req = req.header(IF_MODIFIED_SINCE, v);
        }
        let req = req.body(Empty::new()).map_err(|e| e.to_string())?;
        let res = self
            .inner
            .client
            .request(req)
            .await
            .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
        let status = res.status();
        if status == StatusCode::NOT_MODIFIED {
            return if etag.is_some() || last_modified.is_some() {
                Ok(None)
            } else {
                Err("304 Not Modified to an unconditional request".into())
            };
        }
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
        }
        let declared = res
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > feed.max_bytes as u64) {
            return Err(format!(
                "Content-Length {} over the {}-byte bound",
                declared.unwrap_or(0),
                feed.max_bytes
            ));
        }
        let new_etag = header_string(res.headers().get(ETAG));
        let new_modified = header_string(res.headers().get(LAST_MODIFIED));
        let body = Limited::new(res.into_body(), feed.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("body over the {}-byte bound", feed.max_bytes)
                } else {
                    format!("body read failed: {}", error_chain(e.as_ref()))
                }
            })?
            .to_bytes();
        Ok(Some((body, new_etag, new_modified)))
    }

    /// Rebuilds from the base and every feed's last good data and swaps it in.
    async fn rebuild(&self) -> bool {
        let inputs: Vec<(FeedFormat, Arc<str>, Bytes)> = self
            .inner
            .feeds
            .iter()
            .filter_map(|s| {
                let st = s.lock().unwrap_or_else(PoisonError::into_inner);
                st.good
                    .clone()
                    .map(|b| (st.feed.format, st.feed.name.clone(), b))
            })
            .collect();
        let base = self.inner.base.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut b = base();
            let mut crawlers: Option<super::crawlers::CrawlersBuilder> = None;
            for (format, name, body) in &inputs {
                // Validated when fetched; a loader is deterministic, so this succeeds
                // unless the table's range bound is hit.
                let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
                format
                    .load(&mut b, text, name)
                    .map_err(|e| format!("{name}: {e}"))?;
                if let Some(list) = format.crawler_list() {
                    crawlers
                        .get_or_insert_with(super::crawlers::CrawlersBuilder::embedded)
                        .list_json(&list, text)
                        .map_err(|e| format!("{name}: {e}"))?;
                }
            }
            Ok::<_, String>((
                b.build(),
                crawlers.map(super::crawlers::CrawlersBuilder::build),
            ))
        })
        .await;
        match built {
            Ok(Ok((table, crawlers))) => {
                if let Some(c) = crawlers {
                    self.inner.classifier.swap_crawlers(c);
                }
                self.inner.classifier.swap_table(table);
                true
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "classify feeds: rebuild failed; keeping the current table");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "classify feeds: rebuild task died; keeping the current table");
                false
            }
        }
    }

    /// The delay before the next round: the interval plus a random jitter.
    fn next_delay(&self) -> Duration {
        let mut r = [0u8; 8];
        let jitter_ns = u64::try_from(self.inner.jitter.as_nanos()).unwrap_or(u64::MAX);
        let extra = if jitter_ns == 0 || getrandom::fill(&mut r).is_err() {
            0
        } else {
            u64::from_le_bytes(r) % jitter_ns
        };
        self.inner.interval + Duration::from_nanos(extra)
    }

    /// Runs a round now, then one every interval plus jitter, on the current Tokio
    /// runtime. Dropping the returned [`FeedTask`] stops it.
    pub fn spawn(&self) -> FeedTask {
        let this = self.clone();
        let handle = tokio::spawn(async move {
            loop {
                let report = this.refresh().await;
                tracing::debug!(?report, "classify feeds: round done");
                tokio::time::sleep(this.next_delay()).await;
            }
        });
        FeedTask { handle }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The schedule of [`FeedUpdater::spawn`]; dropping it stops the schedule.
#[derive(Debug)]
pub struct FeedTask {
    handle: tokio::task::JoinHandle<()>,
}

impl FeedTask {
    /// Lets the schedule run until the runtime shuts down.
    pub fn detach(self) {
        std::mem::forget(self);
    }
}

impl Drop for FeedTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}
