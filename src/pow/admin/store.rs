//! [`SqlSites`]: sites, monthly usage and analytics events in SQLite or PostgreSQL.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use super::analytics::{self, Analytics, BucketAgg, Period, RecentVerification};
use crate::core::clock::{Clock, SystemClock};
use crate::core::ct::{decode_hex_into, encode_hex};
use crate::core::reject::rfc3339;
use crate::core::store::StoreError;
use crate::pow::site::{
    EventKind, Mode, QuotaDecision, Site, SiteFuture, SiteStore, VerificationEvent,
};
use crate::pow::{DEFAULT_MAX_DIFFICULTY, DEFAULT_MIN_DIFFICULTY};

/// Most sites a [`SqlSites`] holds (creating more is refused).
pub const MAX_SITES: u64 = 10_000;
/// Longest site name, characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Events older than this are deleted (the longest analytics period).
pub const RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

const MAX_CACHED_KEYS: usize = 4096;
const MIGRATIONS: [(i64, &str, &str); 3] = [
    (1, "init", include_str!("migrations/0001_init.sql")),
    (
        2,
        "imports and tombstones",
        include_str!("migrations/0002_imports_tombstones.sql"),
    ),
    (
        3,
        "sites before imports were tracked",
        include_str!("migrations/0003_mark_existing_imported.sql"),
    ),
];
/// Longest solve time stored, ms (a day): the client reports it, and sums must not overflow.
pub const MAX_SOLVE_TIME_MS: u64 = 86_400_000;

/// Why a site operation was refused.
#[derive(Debug)]
pub enum AdminError {
    /// A field is invalid: (field, reason).
    Invalid(&'static str, Cow<'static, str>),
    /// The database failed.
    Store(StoreError),
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(field, why) => write!(f, "{field}: {why}"),
            Self::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(db_err(e))
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut => StoreError::Timeout,
        e => StoreError::Unavailable(e.to_string().into()),
    }
}

fn invalid(field: &'static str, why: &'static str) -> AdminError {
    AdminError::Invalid(field, Cow::Borrowed(why))
}

/// A site as the admin side sees it (no secret: only its digest is stored).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteRecord {
    /// `site_...`, stable across key regeneration.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The site's domain, if set.
    pub domain: Option<String>,
    /// The public site key.
    pub site_key: String,
    /// `checkbox` or `invisible`.
    pub mode: Mode,
    /// Base difficulty, 14 to 18.
    pub difficulty: u8,
    /// Inactive sites get SITE_INACTIVE.
    pub active: bool,
    /// Verifications allowed per calendar month (UTC); `None` is unlimited.
    pub monthly_quota: Option<u64>,
    /// Verifications recorded this month.
    pub verifications_this_month: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A site's keys, as generated: the secret is shown once and stored only as a digest.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Keys {
    /// `eck_live_...`.
    pub site_key: String,
    /// `ecs_live_...`.
    pub secret_key: String,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("site_key", &self.site_key)
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Fields to create or change a site (`POST`/`PATCH` bodies). Absent fields keep their
/// value (or the default, on create); `domain` and `monthlyQuota` may be `null` to clear.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteInput {
    /// 1 to 100 characters.
    pub name: Option<String>,
    /// A host name.
    #[serde(default, deserialize_with = "double_option")]
    pub domain: Option<Option<String>>,
    /// `checkbox` or `invisible`.
    pub mode: Option<Mode>,
    /// 14 to 18.
    pub difficulty: Option<u8>,
    /// Active or not.
    pub active: Option<bool>,
    /// Verifications per month, 1 to 10^12.
    #[serde(default, deserialize_with = "double_option")]
    pub monthly_quota: Option<Option<u64>>,
}

impl SiteInput {
    /// Checks every present field as create and update would (pure; no database).
    ///
    /// ```
    /// use tower_shield::pow::admin::SiteInput;
    /// let ok: SiteInput = serde_json::from_str(r#"{"name": "Shop", "difficulty": 15}"#).unwrap();
    /// assert!(ok.validate().is_ok());
    /// let bad: SiteInput = serde_json::from_str(r#"{"difficulty": 30}"#).unwrap();
    /// assert!(bad.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), AdminError> {
        Fields::new_site().apply(self).map(|_| ())
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Fields {
    name: String,
    domain: Option<String>,
    mode: Mode,
    difficulty: u8,
    active: bool,
    monthly_quota: Option<u64>,
}

impl Fields {
    /// A new site's settings before its input: an active checkbox site at the default
    /// difficulty, with no domain and no quota.
    fn new_site() -> Self {
        Self {
            name: String::new(),
            domain: None,
            mode: Mode::Checkbox,
            difficulty: crate::pow::DEFAULT_DIFFICULTY,
            active: true,
            monthly_quota: None,
        }
    }

    fn apply(mut self, input: &SiteInput) -> Result<Self, AdminError> {
        if let Some(name) = &input.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(invalid("name", "must be 1 to 100 characters"));
            }
            if name.chars().any(char::is_control) {
                return Err(invalid("name", "must not contain control characters"));
            }
            self.name = name.to_owned();
        }
        if let Some(domain) = &input.domain {
            self.domain = match domain.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(d) => Some(valid_domain(d)?),
            };
        }
        if let Some(mode) = input.mode {
            self.mode = mode;
        }
        if let Some(d) = input.difficulty {
            if !(DEFAULT_MIN_DIFFICULTY..=DEFAULT_MAX_DIFFICULTY).contains(&d) {
                return Err(invalid("difficulty", "must be 14 to 18"));
            }
            self.difficulty = d;
        }
        if let Some(a) = input.active {
            self.active = a;
        }
        if let Some(q) = input.monthly_quota {
            if matches!(q, Some(0)) || q.is_some_and(|q| q > 1_000_000_000_000) {
                return Err(invalid("monthlyQuota", "must be 1 to 10^12, or null"));
            }
            self.monthly_quota = q;
        }
        Ok(self)
    }
}

/// A host name, or `*`: the site's widget may run on any origin (an explicit opt-in a
/// CORS policy built on the domains can honour).
fn valid_domain(d: &str) -> Result<String, AdminError> {
    let d = d.to_ascii_lowercase();
    let ok = d == "*"
        || d.len() <= 253
            && !d.starts_with(['.', '-'])
            && !d.ends_with(['.', '-'])
            && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(d)
    } else {
        Err(invalid(
            "domain",
            "must be a host name such as example.com, or *",
        ))
    }
}

fn random_hex(bytes: usize) -> Result<String, AdminError> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|_| {
        AdminError::Store(StoreError::Unavailable(
            "no OS randomness for key generation".into(),
        ))
    })?;
    Ok(encode_hex(&b))
}

fn new_keys() -> Result<(Keys, String), AdminError> {
    let keys = Keys {
        site_key: format!("eck_live_{}", random_hex(16)?),
        secret_key: format!("ecs_live_{}", random_hex(24)?),
    };
    let digest = secret_digest_hex(&keys.secret_key);
    Ok((keys, digest))
}

fn secret_digest_hex(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    encode_hex(&Sha256::digest(secret.as_bytes()))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `YYYY-MM` (UTC) of a time since the epoch.
pub fn month_of(at: Duration) -> String {
    let k = month_key(at);
    format!("{:04}-{:02}", k / 100, k % 100)
}

/// The calendar month (UTC) as `year * 100 + month`: compared in memory per event, no
/// string built.
fn month_key(at: Duration) -> u32 {
    let secs = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    u32::try_from(t.year()).unwrap_or(0) * 100 + u32::from(u8::from(t.month()))
}

/// Counters of the analytics recorder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events written to the database.
    pub written: u64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Events lost because the database refused a batch three times.
    pub failed: u64,
}

#[derive(Default)]
struct Stats {
    queued: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

enum Msg {
    /// An event, and whether `record` counted it as pending (only those are uncounted).
    Event(VerificationEvent, bool),
    Flush(oneshot::Sender<()>),
}

struct UsageEntry {
    /// [`month_key`] of the month counted.
    month: u32,
    db: u64,
    fetched: Instant,
    /// Verify events queued but not yet written.
    pending: u64,
}

/// When a lookup was made, and what it found.
type CachedSite = (Instant, Option<Site>);

struct Shared {
    stats: Stats,
    /// site id -> this month's usage as last read, plus what is queued.
    usage: Mutex<HashMap<Arc<str>, UsageEntry>>,
    /// site key -> (read at, site): sites that exist (at most as many as there are
    /// sites, plus keys replaced since).
    sites: Mutex<HashMap<Box<str>, CachedSite>>,
    /// Keys that named no site, when looked up: bounded apart, so a stream of made-up
    /// keys cannot push the real sites out.
    unknown: Mutex<HashMap<Box<str>, Instant>>,
    /// Bumped by every change: a lookup that started before a change does not cache.
    generation: AtomicU64,
    /// Held for writing by the writer from a batch's commit to moving its events from
    /// `pending` to `db`, and for reading by a quota refresh: a refresh never reads a
    /// count that already holds events still counted as pending (a double count).
    gate: tokio::sync::RwLock<()>,
}

struct Inner {
    pool: AnyPool,
    clock: Arc<dyn Clock>,
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    cache_ttl: Duration,
    usage_ttl: Duration,
}

/// Sites, monthly usage and verification events in SQLite (the embedded default) or
/// PostgreSQL (for fleets), through sqlx's `Any` driver and one migration set.
///
/// It is a [`SiteStore`] for the challenge API ([`Api`](crate::pow::api::Api)), and the
/// backend of the admin API and dashboard ([`Admin`](super::Admin)).
///
/// * **Lookups** are cached per instance for [`SqlSitesBuilder::cache_ttl`] (default
///   2 s, at most 4096 keys): changes made through this instance apply at once, changes
///   made by another instance within the TTL.
/// * **Recording** never waits on the database: [`SiteStore::record`] pushes onto a
///   bounded queue ([`SqlSitesBuilder::queue_capacity`], default 65,536) and one task
///   writes what has accumulated in a single transaction (a multi-row insert and the
///   monthly usage upserts). A full queue drops the event and counts it
///   ([`RecorderStats::dropped`]); a batch the database refuses three times is counted
///   in [`RecorderStats::failed`]. **A crash loses what is queued and not yet written**:
///   at most the queue's capacity, in practice the events of the last few milliseconds.
///   [`SqlSites::flush`] waits until everything queued so far is written.
/// * **Quotas** count verifications per calendar month (UTC). The challenge check reads
///   the stored count at most every [`SqlSitesBuilder::usage_ttl`] (default 1 s) plus
///   this instance's queued events, so a fleet can overshoot a quota by what the other
///   instances verify within that second.
/// * **Retention**: a maintenance task, apart from the writer, deletes events older than
///   90 days, what deleted sites left behind (by a tombstone kept a day, for events that
///   other instances wrote after the delete) and expired admin sessions, every 10 minutes.
/// * **Bad input**: solve times are capped at a day when stored, keys and ids that cannot
///   exist never reach the database, and unknown keys are cached apart (bounded) so
///   made-up keys cannot push real sites out of the cache.
/// ```no_run
/// use tower_shield::pow::admin::{SqlSites, SiteInput};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let sites = SqlSites::connect("sqlite://data/ecurtiy.db?mode=rwc").await?;
/// let (site, keys) = sites.create(&SiteInput { name: Some("Shop".into()), ..Default::default() }).await?;
/// println!("{} {}", site.site_key, keys.secret_key);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlSites {
    inner: Arc<Inner>,
}

impl fmt::Debug for SqlSites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSites")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Builds a [`SqlSites`].
#[derive(Debug)]
pub struct SqlSitesBuilder {
    url: String,
    clock: Arc<dyn Clock>,
    queue_capacity: usize,
    batch: usize,
    cache_ttl: Duration,
    usage_ttl: Duration,
    max_connections: u32,
}

impl SqlSitesBuilder {
    /// The clock for analytics windows, timestamps and months (tests use a manual one).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Bound of the analytics queue (default 65,536; at least 16).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(16);
        self
    }

    /// Most events per write (default 2048; 1 to 4096).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.clamp(1, 4096);
        self
    }

    /// How long a site lookup is cached (default 2 s; zero disables).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long a monthly usage count is reused by the quota check (default 1 s).
    pub fn usage_ttl(mut self, ttl: Duration) -> Self {
        self.usage_ttl = ttl;
        self
    }

    /// Pool size (default 8).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Connects, migrates and starts the writer task (call inside a Tokio runtime).
    pub async fn connect(self) -> Result<SqlSites, AdminError> {
        sqlx::any::install_default_drivers();
        let mut opts = AnyPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(5));
        if self.url.starts_with("sqlite:")
            && (self.url.contains(":memory:") || self.url.contains("mode=memory"))
        {
            // Every connection to an in-memory SQLite database is a database of its own:
            // keep exactly one, for ever.
            opts = opts
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = opts.connect(&self.url).await?;
        migrate(&pool).await?;
        let shared = Arc::new(Shared {
            stats: Stats::default(),
            usage: Mutex::new(HashMap::new()),
            sites: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            gate: tokio::sync::RwLock::new(()),
        });
        let (tx, rx) = mpsc::channel(self.queue_capacity);
        tokio::spawn(writer(pool.clone(), rx, shared.clone(), self.batch));
        let inner = Arc::new(Inner {
            pool,
            clock: self.clock,
            tx,
            shared,
            cache_ttl: self.cache_ttl,
            usage_ttl: self.usage_ttl,
        });
        tokio::spawn(maintenance_task(Arc::downgrade(&inner)));
        Ok(SqlSites { inner })
    }
}

async fn migrate(pool: &AnyPool) -> Result<(), AdminError> {
    use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

    #[derive(Debug)]
    struct Embedded;
    impl<'s> MigrationSource<'s> for Embedded {
        fn resolve(
            self,
        ) -> futures_core_shim::BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>>
        {
            Box::pin(async {
                Ok(MIGRATIONS
                    .iter()
                    .map(|(v, d, sql)| {
                        Migration::new(
                            *v,
                            Cow::Borrowed(*d),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect())
            })
        }
    }
    let m = Migrator::new(Embedded)
        .await
        .map_err(|e| AdminError::Store(StoreError::Unavailable(e.to_string().into())))?;
    m.run(pool)
        .await
        .map_err(|e| AdminError::Store(StoreError::Unavailable(e.to_string().into())))
}

mod futures_core_shim {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}

/// Which unique column a lookup goes by.
#[derive(Clone, Copy)]
enum SiteColumn {
    Id,
    SiteKey,
}

const SITE_COLUMNS: &str = "s.id, s.name, s.domain, s.mode, s.difficulty, s.active, \
     s.monthly_quota, s.site_key, s.secret_sha256, s.created_ms, s.updated_ms, \
     COALESCE(u.verifications, 0) AS used";

fn record_of(row: &AnyRow) -> Result<(SiteRecord, String), sqlx::Error> {
    let mode: String = row.try_get("mode")?;
    let q: Option<i64> = row.try_get("monthly_quota")?;
    let rec = SiteRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domain: row.try_get("domain")?,
        site_key: row.try_get("site_key")?,
        mode: if mode == "invisible" {
            Mode::Invisible
        } else {
            Mode::Checkbox
        },
        difficulty: u8::try_from(row.try_get::<i64, _>("difficulty")?).unwrap_or(16),
        active: row.try_get::<i64, _>("active")? != 0,
        monthly_quota: q.and_then(|q| u64::try_from(q).ok()),
        verifications_this_month: u64::try_from(row.try_get::<i64, _>("used")?).unwrap_or(0),
        created_at: rfc3339(Duration::from_millis(
            u64::try_from(row.try_get::<i64, _>("created_ms")?).unwrap_or(0),
        )),
        updated_at: rfc3339(Duration::from_millis(
            u64::try_from(row.try_get::<i64, _>("updated_ms")?).unwrap_or(0),
        )),
    };
    Ok((rec, row.try_get("secret_sha256")?))
}

fn site_of(rec: &SiteRecord, digest_hex: &str) -> Option<Site> {
    let mut d = [0u8; 32];
    decode_hex_into(digest_hex.as_bytes(), &mut d)?;
    let mut s = Site::with_secret_digest(&rec.site_key, d)
        .ok()?
        .id(&rec.id)
        .mode(rec.mode)
        .difficulty(rec.difficulty)
        .active(rec.active);
    s.name = rec.name.as_str().into();
    s.domain = rec.domain.as_deref().map(Into::into);
    s.monthly_quota = rec.monthly_quota;
    Some(s)
}

impl SqlSites {
    /// Connects to `url` (`sqlite://path?mode=rwc`, `sqlite::memory:` for one
    /// connection, or `postgres://...`) with the defaults, and migrates.
    pub async fn connect(url: &str) -> Result<Self, AdminError> {
        Self::builder(url).connect().await
    }

    /// A builder for `url`.
    pub fn builder(url: &str) -> SqlSitesBuilder {
        SqlSitesBuilder {
            url: url.to_owned(),
            clock: Arc::new(SystemClock),
            queue_capacity: 65_536,
            batch: 2048,
            cache_ttl: Duration::from_secs(2),
            usage_ttl: Duration::from_secs(1),
            max_connections: 8,
        }
    }

    /// The connection pool (for the session store and your own queries).
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The recorder's counters.
    pub fn stats(&self) -> RecorderStats {
        let s = &self.inner.shared.stats;
        RecorderStats {
            queued: s.queued.load(Ordering::Relaxed),
            written: s.written.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
        }
    }

    fn now(&self) -> Duration {
        self.inner.clock.now()
    }

    fn forget_cached(&self) {
        let sh = &self.inner.shared;
        // Bumped under both locks: a lookup compares the generation under the lock it
        // inserts with, so it either inserts before this clear or sees the new value.
        let mut sites = lock(&sh.sites);
        let mut unknown = lock(&sh.unknown);
        sh.generation.fetch_add(1, Ordering::SeqCst);
        sites.clear();
        unknown.clear();
    }

    /// Every site, oldest first, with this month's verification counts.
    pub async fn list(&self) -> Result<Vec<SiteRecord>, StoreError> {
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM ecurtiy_sites s LEFT JOIN ecurtiy_usage u \
             ON u.site_id = s.id AND u.month = $1 ORDER BY s.created_ms, s.id LIMIT {MAX_SITES}"
        );
        let rows = sqlx::query(&sql)
            .bind(month_of(self.now()))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| record_of(r).map(|(rec, _)| rec).map_err(db_err))
            .collect()
    }

    /// The site whose `column` (`id` or `site_key`) is `value`, with its secret digest.
    async fn fetch(
        &self,
        column: SiteColumn,
        value: &str,
    ) -> Result<Option<(SiteRecord, String)>, StoreError> {
        let sql = format!(
            "SELECT {SITE_COLUMNS} FROM ecurtiy_sites s LEFT JOIN ecurtiy_usage u \
             ON u.site_id = s.id AND u.month = $1 WHERE s.{} = $2",
            match column {
                SiteColumn::Id => "id",
                SiteColumn::SiteKey => "site_key",
            }
        );
        let row = sqlx::query(&sql)
            .bind(month_of(self.now()))
            .bind(value)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(record_of).transpose().map_err(db_err)
    }

    async fn get_full(&self, id: &str) -> Result<Option<(SiteRecord, String)>, StoreError> {
        self.fetch(SiteColumn::Id, id).await
    }

    /// One site by id.
    pub async fn get(&self, id: &str) -> Result<Option<SiteRecord>, StoreError> {
        Ok(self.get_full(id).await?.map(|(r, _)| r))
    }

    /// Creates a site with fresh keys. `name` is required; the rest defaults to an active
    /// checkbox site at difficulty 16 with no domain and no quota.
    pub async fn create(&self, input: &SiteInput) -> Result<(SiteRecord, Keys), AdminError> {
        if input.name.is_none() {
            return Err(invalid("name", "is required"));
        }
        let f = Fields::new_site().apply(input)?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM ecurtiy_sites")
            .fetch_one(&self.inner.pool)
            .await?
            .try_get("n")?;
        if u64::try_from(count).unwrap_or(0) >= MAX_SITES {
            return Err(invalid("site", "the site limit (10,000) is reached"));
        }
        let id = format!("site_{}", random_hex(12)?);
        let (keys, digest) = new_keys()?;
        let now = ms(self.now());
        sqlx::query(
            "INSERT INTO ecurtiy_sites (id, name, domain, mode, difficulty, active, \
             monthly_quota, site_key, secret_sha256, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(&f.name)
        .bind(f.domain.clone())
        .bind(f.mode.as_str())
        .bind(i64::from(f.difficulty))
        .bind(i64::from(f.active))
        .bind(f.monthly_quota.map(|q| q as i64))
        .bind(&keys.site_key)
        .bind(&digest)
        .bind(now)
        .bind(now)
        .execute(&self.inner.pool)
        .await?;
        let rec = self
            .get(&id)
            .await?
            .ok_or(AdminError::Store(StoreError::Unavailable(
                "the new site vanished".into(),
            )))?;
        Ok((rec, keys))
    }

    /// Adds a site with known keys (a site from a configuration file), once: a key that
    /// was imported before is not imported again, so a site an operator deleted or
    /// re-keyed does not come back at the next start. Its id is `site_` and 24 hex digits
    /// of the key's SHA-256. Returns `true` when it was added.
    pub async fn import(&self, site: &Site, secret_digest: [u8; 32]) -> Result<bool, AdminError> {
        use sha2::{Digest, Sha256};
        let now = ms(self.now());
        let id = format!(
            "site_{}",
            &encode_hex(&Sha256::digest(site.site_key.as_bytes()))[..24]
        );
        let mut tx = self.inner.pool.begin().await?;
        let first = sqlx::query(
            "INSERT INTO ecurtiy_imports (site_key, imported_ms) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(site.site_key.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let mut added = false;
        if first {
            added = sqlx::query(
                "INSERT INTO ecurtiy_sites (id, name, domain, mode, difficulty, active, \
                 monthly_quota, site_key, secret_sha256, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(site.name.to_string())
            .bind(site.domain.as_deref().map(str::to_owned))
            .bind(site.mode.as_str())
            .bind(i64::from(site.difficulty))
            .bind(i64::from(site.active))
            .bind(site.monthly_quota.map(|q| q as i64))
            .bind(site.site_key.to_string())
            .bind(encode_hex(&secret_digest))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        }
        tx.commit().await?;
        self.forget_cached();
        Ok(added)
    }

    /// Changes a site; `None` when there is no such site.
    pub async fn update(
        &self,
        id: &str,
        input: &SiteInput,
    ) -> Result<Option<SiteRecord>, AdminError> {
        let Some((cur, _)) = self.get_full(id).await? else {
            return Ok(None);
        };
        let f = Fields {
            name: cur.name,
            domain: cur.domain,
            mode: cur.mode,
            difficulty: cur.difficulty,
            active: cur.active,
            monthly_quota: cur.monthly_quota,
        }
        .apply(input)?;
        sqlx::query(
            "UPDATE ecurtiy_sites SET name = $1, domain = $2, mode = $3, difficulty = $4, \
             active = $5, monthly_quota = $6, updated_ms = $7 WHERE id = $8",
        )
        .bind(&f.name)
        .bind(f.domain.clone())
        .bind(f.mode.as_str())
        .bind(i64::from(f.difficulty))
        .bind(i64::from(f.active))
        .bind(f.monthly_quota.map(|q| q as i64))
        .bind(ms(self.now()))
        .bind(id)
        .execute(&self.inner.pool)
        .await?;
        self.forget_cached();
        Ok(self.get(id).await?)
    }

    /// New site and secret keys; the old ones stop working at once on this instance
    /// (within the cache TTL on others). `None` when there is no such site.
    pub async fn regenerate_keys(
        &self,
        id: &str,
    ) -> Result<Option<(SiteRecord, Keys)>, AdminError> {
        let (keys, digest) = new_keys()?;
        let n = sqlx::query(
            "UPDATE ecurtiy_sites SET site_key = $1, secret_sha256 = $2, updated_ms = $3 \
             WHERE id = $4",
        )
        .bind(&keys.site_key)
        .bind(&digest)
        .bind(ms(self.now()))
        .bind(id)
        .execute(&self.inner.pool)
        .await?
        .rows_affected();
        self.forget_cached();
        if n == 0 {
            return Ok(None);
        }
        Ok(self.get(id).await?.map(|r| (r, keys)))
    }

    /// Deletes a site with its events and usage; `false` when there was none.
    pub async fn delete(&self, id: &str) -> Result<bool, AdminError> {
        let mut tx = self.inner.pool.begin().await?;
        sqlx::query("DELETE FROM ecurtiy_events WHERE site_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM ecurtiy_usage WHERE site_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM ecurtiy_sites WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 1 {
            // Instances that still had the site cached may write a few events after this:
            // the maintenance task sweeps them by this tombstone.
            sqlx::query(
                "INSERT INTO ecurtiy_deleted_sites (site_id, deleted_ms) VALUES ($1, $2) \
                 ON CONFLICT (site_id) DO UPDATE SET deleted_ms = excluded.deleted_ms",
            )
            .bind(id)
            .bind(ms(self.now()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.forget_cached();
        lock(&self.inner.shared.usage).remove(id);
        if n == 1 {
            // This instance's own queued events for the site: write them, then delete
            // them. The site is gone already; what fails here the tombstone sweeps later.
            self.flush().await;
            for sql in [
                "DELETE FROM ecurtiy_events WHERE site_id = $1",
                "DELETE FROM ecurtiy_usage WHERE site_id = $1",
            ] {
                if let Err(e) = sqlx::query(sql).bind(id).execute(&self.inner.pool).await {
                    tracing::warn!(error = %e, site = id, "ECURTIY: cleanup after delete failed");
                }
            }
        }
        Ok(n == 1)
    }

    /// Analytics of verifications over `period`; `None` when there is no such site.
    pub async fn analytics(
        &self,
        id: &str,
        period: Period,
    ) -> Result<Option<Analytics>, StoreError> {
        if self.get(id).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let (start, end) = period.window(now);
        let (start, end) = (start as i64, end as i64);
        let rows = sqlx::query(
            "SELECT (at_ms - $2) / $3 AS b, COUNT(*) AS n, \
             CAST(SUM(passed) AS BIGINT) AS passed, \
             SUM(CAST(solve_time_ms AS DOUBLE PRECISION)) AS solve_sum, \
             COUNT(solve_time_ms) AS solve_n, \
             CAST(SUM(risk_score) AS DOUBLE PRECISION) AS risk_sum, \
             COUNT(risk_score) AS risk_n \
             FROM ecurtiy_events WHERE site_id = $1 AND kind = 'verify' \
             AND at_ms >= $2 AND at_ms <= $4 GROUP BY (at_ms - $2) / $3",
        )
        .bind(id)
        .bind(start)
        .bind(period.bucket_ms() as i64)
        .bind(end)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_err)?;
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        let aggs = rows
            .iter()
            .map(|r| {
                Ok(BucketAgg {
                    index: u(r.try_get("b")?),
                    total: u(r.try_get("n")?),
                    passed: u(r.try_get::<Option<i64>, _>("passed")?.unwrap_or(0)),
                    solve_sum_ms: r.try_get::<Option<f64>, _>("solve_sum")?.unwrap_or(0.0),
                    solve_n: u(r.try_get("solve_n")?),
                    risk_sum: r.try_get::<Option<f64>, _>("risk_sum")?.unwrap_or(0.0),
                    risk_n: u(r.try_get("risk_n")?),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err)?;
        let recent = sqlx::query(
            "SELECT at_ms, passed, risk_score, solve_time_ms, error FROM ecurtiy_events \
             WHERE site_id = $1 AND kind = 'verify' AND at_ms >= $2 AND at_ms <= $3 \
             ORDER BY at_ms DESC LIMIT 10",
        )
        .bind(id)
        .bind(start)
        .bind(end)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| {
            Ok(RecentVerification {
                passed: r.try_get::<i64, _>("passed")? != 0,
                risk_score: r.try_get("risk_score")?,
                solve_time_ms: r
                    .try_get::<Option<i64>, _>("solve_time_ms")?
                    .map(|v| u64::try_from(v).unwrap_or(0)),
                error: r.try_get("error")?,
                created_at: rfc3339(Duration::from_millis(u(r.try_get("at_ms")?))),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(db_err)?;
        Ok(Some(analytics::build(id, period, now, &aggs, recent)))
    }

    /// Waits until every event queued before this call is written (or failed).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn lookup(&self, site_key: &str) -> Result<Option<Site>, StoreError> {
        // Keys are printable ASCII; anything else names no site and never reaches the
        // database (PostgreSQL refuses NUL bytes in text with an error).
        if site_key.is_empty()
            || site_key.len() > crate::pow::challenge::MAX_SITE_KEY_LEN
            || !site_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Ok(None);
        }
        let ttl = self.inner.cache_ttl;
        let sh = &self.inner.shared;
        if !ttl.is_zero() {
            if let Some((at, s)) = lock(&sh.sites).get(site_key)
                && at.elapsed() < ttl
            {
                return Ok(s.clone());
            }
            if lock(&sh.unknown)
                .get(site_key)
                .is_some_and(|at| at.elapsed() < ttl)
            {
                return Ok(None);
            }
        }
        let generation = sh.generation.load(Ordering::SeqCst);
        let site = match self.fetch(SiteColumn::SiteKey, site_key).await? {
            Some((rec, digest)) => site_of(&rec, &digest),
            None => None,
        };
        // A change (update, new keys, delete) since the query started: the answer may be
        // stale, so it is not cached.
        if !ttl.is_zero() {
            if site.is_some() {
                let mut c = lock(&sh.sites);
                if sh.generation.load(Ordering::SeqCst) == generation {
                    if c.len() >= MAX_SITES as usize * 2 {
                        c.clear();
                    }
                    c.insert(site_key.into(), (Instant::now(), site.clone()));
                }
            } else {
                let mut c = lock(&sh.unknown);
                if sh.generation.load(Ordering::SeqCst) == generation {
                    if c.len() >= MAX_CACHED_KEYS {
                        c.clear();
                    }
                    c.insert(site_key.into(), Instant::now());
                }
            }
        }
        Ok(site)
    }

    async fn charge_inner(&self, site: &Site, now: Duration) -> Result<QuotaDecision, StoreError> {
        let Some(quota) = site.monthly_quota else {
            return Ok(QuotaDecision::Allowed);
        };
        let month = month_key(now);
        let cached = {
            let u = lock(&self.inner.shared.usage);
            u.get(&site.id)
                .filter(|e| e.month == month && e.fetched.elapsed() < self.inner.usage_ttl)
                .map(|e| e.db + e.pending)
        };
        let used = match cached {
            Some(n) => n,
            None => {
                let _gate = self.inner.shared.gate.read().await;
                let db: i64 = sqlx::query(
                    "SELECT COALESCE(MAX(verifications), 0) AS n FROM ecurtiy_usage \
                     WHERE site_id = $1 AND month = $2",
                )
                .bind(site.id.as_ref())
                .bind(month_of(now))
                .fetch_one(&self.inner.pool)
                .await
                .map_err(db_err)?
                .try_get("n")
                .map_err(db_err)?;
                let db = u64::try_from(db).unwrap_or(0);
                let mut u = lock(&self.inner.shared.usage);
                let e = u.entry(site.id.clone()).or_insert(UsageEntry {
                    month,
                    db,
                    fetched: Instant::now(),
                    pending: 0,
                });
                if e.month != month {
                    e.month = month;
                    e.pending = 0;
                }
                e.db = db;
                e.fetched = Instant::now();
                e.db + e.pending
            }
        };
        Ok(if used >= quota {
            QuotaDecision::Exceeded
        } else {
            QuotaDecision::Allowed
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SiteStore for SqlSites {
    fn site_by_key<'a>(&'a self, site_key: &'a str) -> SiteFuture<'a, Option<Site>> {
        Box::pin(self.lookup(site_key))
    }

    fn charge<'a>(&'a self, site: &'a Site, now: Duration) -> SiteFuture<'a, QuotaDecision> {
        Box::pin(self.charge_inner(site, now))
    }

    fn record(&self, event: VerificationEvent) {
        let shared = &self.inner.shared;
        // Counted as pending *before* it is queued: the writer may write it (and move it
        // from pending to written) before `try_send` even returns.
        let month = month_key(event.at);
        let counted = event.kind == EventKind::Verify && {
            let mut u = lock(&shared.usage);
            match u.get_mut(&event.site_id) {
                Some(e) if e.month == month => {
                    e.pending += 1;
                    true
                }
                _ => false,
            }
        };
        let site = counted.then(|| event.site_id.clone());
        match self.inner.tx.try_send(Msg::Event(event, counted)) {
            Ok(()) => {
                shared.stats.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                if let Some(site) = site {
                    let mut u = lock(&shared.usage);
                    if let Some(e) = u.get_mut(&site)
                        && e.month == month
                    {
                        e.pending = e.pending.saturating_sub(1);
                    }
                }
                let n = shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n + 1,
                        "ECURTIY analytics queue full: event dropped"
                    );
                }
            }
        }
    }
}

/// The writer task: drains the queue in batches until every sender is gone.
async fn writer(pool: AnyPool, mut rx: mpsc::Receiver<Msg>, shared: Arc<Shared>, batch: usize) {
    let sigil = match pool.acquire().await {
        Ok(c) if c.backend_name().eq_ignore_ascii_case("sqlite") => '?',
        _ => '$',
    };
    let mut msgs = Vec::with_capacity(batch);
    loop {
        if rx.recv_many(&mut msgs, batch).await == 0 {
            return; // every SqlSites is gone
        }
        let mut events = Vec::with_capacity(msgs.len());
        let mut counted = Vec::with_capacity(msgs.len());
        let mut flushes = Vec::new();
        for m in msgs.drain(..) {
            match m {
                Msg::Event(e, c) => {
                    events.push(e);
                    counted.push(c);
                }
                Msg::Flush(f) => flushes.push(f),
            }
        }
        if !events.is_empty() {
            write_with_retry(&pool, sigil, &events, &counted, &shared).await;
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Retention and sweeping, every 10 minutes (first after 5 s), apart from the writer so a
/// long delete never holds up the queue; ends when the store is dropped.
async fn maintenance_task(inner: std::sync::Weak<Inner>) {
    let mut wait = Duration::from_secs(5);
    loop {
        tokio::time::sleep(wait).await;
        wait = Duration::from_secs(600);
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = maintenance(&inner.pool, inner.clock.now()).await {
            tracing::warn!(error = %e, "ECURTIY analytics maintenance failed");
        }
    }
}

async fn write_with_retry(
    pool: &AnyPool,
    sigil: char,
    events: &[VerificationEvent],
    counted: &[bool],
    shared: &Shared,
) {
    let n = events.len() as u64;
    // Verify events of the month each site's usage entry holds, with whether `record`
    // counted them as pending.
    let verifies = || {
        events
            .iter()
            .zip(counted)
            .filter(|(e, _)| e.kind == EventKind::Verify)
    };
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=3 {
        let gate = shared.gate.write().await;
        let res = write_batch(pool, sigil, events).await;
        match res {
            Ok(()) => {
                shared.stats.written.fetch_add(n, Ordering::Relaxed);
                let mut u = lock(&shared.usage);
                for (e, &was_counted) in verifies() {
                    if let Some(entry) = u.get_mut(&e.site_id)
                        && entry.month == month_key(e.at)
                    {
                        if was_counted {
                            entry.pending = entry.pending.saturating_sub(1);
                        }
                        entry.db += 1;
                    }
                }
                return;
            }
            Err(e) if attempt < 3 => {
                drop(gate);
                tracing::warn!(error = %e, attempt, "ECURTIY analytics write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 5;
            }
            Err(e) => {
                tracing::error!(error = %e, events = n, "ECURTIY analytics batch lost");
                shared.stats.failed.fetch_add(n, Ordering::Relaxed);
                // They will never be counted in the database: stop counting them here.
                let mut u = lock(&shared.usage);
                for (e, _) in verifies().filter(|(_, c)| **c) {
                    if let Some(entry) = u.get_mut(&e.site_id)
                        && entry.month == month_key(e.at)
                    {
                        entry.pending = entry.pending.saturating_sub(1);
                    }
                }
            }
        }
    }
}

/// Placeholders `($1, ..., $k), ($k+1, ...)` for `rows` rows of `cols` columns, with
/// `sigil` `$` (PostgreSQL), or `?` for SQLite, which gets anonymous `?`s: sqlx asks SQLite
/// for every parameter's name, a linear search for `$N` and `?N` alike, so a long
/// statement with numbered parameters costs quadratic time (seconds at 28k parameters).
fn placeholders(rows: usize, cols: usize, sigil: char) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push(sigil);
            if sigil == '$' {
                s.push_str(&(r * cols + c + 1).to_string());
            }
        }
        s.push(')');
    }
    s
}

async fn write_batch(
    pool: &AnyPool,
    sigil: char,
    events: &[VerificationEvent],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // At most 4096 rows x 7 columns = 28,672 binds: under SQLite's 32,766 and
    // PostgreSQL's 65,535.
    let sql = format!(
        "INSERT INTO ecurtiy_events (site_id, at_ms, kind, passed, risk_score, \
         solve_time_ms, error) VALUES {}",
        placeholders(events.len(), 7, sigil)
    );
    let mut q = sqlx::query(&sql);
    let mut usage: HashMap<(&str, String), i64> = HashMap::new();
    for e in events {
        q = q
            .bind(e.site_id.to_string())
            .bind(ms(e.at))
            .bind(match e.kind {
                EventKind::Verify => "verify",
                EventKind::Validate => "validate",
            })
            .bind(i64::from(e.passed))
            .bind(e.risk_score.filter(|r| r.is_finite()))
            .bind(e.solve_time_ms.map(|v| v.min(MAX_SOLVE_TIME_MS) as i64))
            .bind(e.error.map(str::to_owned));
        if e.kind == EventKind::Verify {
            *usage.entry((&e.site_id, month_of(e.at))).or_default() += 1;
        }
    }
    q.execute(&mut *tx).await?;
    for ((site, month), n) in usage {
        sqlx::query(
            "INSERT INTO ecurtiy_usage (site_id, month, verifications) VALUES ($1, $2, $3) \
             ON CONFLICT (site_id, month) DO UPDATE \
             SET verifications = ecurtiy_usage.verifications + excluded.verifications",
        )
        .bind(site)
        .bind(month)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Deletes events past retention, what deleted sites left behind, and expired sessions.
async fn maintenance(pool: &AnyPool, now: Duration) -> Result<(), sqlx::Error> {
    let cutoff = ms(now.saturating_sub(RETENTION + Duration::from_secs(24 * 3600)));
    sqlx::query("DELETE FROM ecurtiy_events WHERE at_ms < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    sqlx::query(
        "DELETE FROM ecurtiy_events WHERE site_id IN (SELECT site_id FROM ecurtiy_deleted_sites)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "DELETE FROM ecurtiy_usage WHERE site_id IN (SELECT site_id FROM ecurtiy_deleted_sites)",
    )
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM ecurtiy_deleted_sites WHERE deleted_ms < $1")
        .bind(ms(now.saturating_sub(Duration::from_secs(24 * 3600))))
        .execute(pool)
        .await?;
    // Session expiry is wall-clock time (tower-sessions sets it so), whatever the clock.
    sqlx::query("DELETE FROM ecurtiy_admin_sessions WHERE expiry_ms < $1")
        .bind(super::session::now_ms())
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn validation_never_panics_and_keeps_domains_clean(
            name in ".{0,120}", domain in ".{0,60}", d in any::<u8>(), q in any::<u64>(),
        ) {
            let input = SiteInput {
                name: Some(name),
                domain: Some(Some(domain)),
                difficulty: Some(d),
                monthly_quota: Some(Some(q)),
                ..Default::default()
            };
            let base = Fields { name: "x".into(), domain: None, mode: Mode::Checkbox, difficulty: 16, active: true, monthly_quota: None };
            if let Ok(f) = base.apply(&input) {
                prop_assert!((14..=18).contains(&f.difficulty));
                prop_assert!(f.domain.iter().all(|d| d.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')));
                prop_assert!(!f.name.is_empty() && f.name.chars().count() <= MAX_NAME_CHARS);
            }
        }

        #[test]
        fn input_json_never_panics(s in ".{0,200}") {
            if let Ok(i) = serde_json::from_str::<SiteInput>(&s) {
                let _ = i.validate();
            }
        }
    }

    #[test]
    fn placeholders_number_rows() {
        assert_eq!(placeholders(2, 3, '$'), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(2, 2, '?'), "(?, ?), (?, ?)");
    }

    #[test]
    fn months_are_utc() {
        assert_eq!(month_key(Duration::from_secs(1_733_661_296)), 202_412);
        assert_eq!(month_of(Duration::from_secs(1_733_661_296)), "2024-12");
        assert_eq!(month_of(Duration::from_secs(1_735_689_599)), "2024-12");
        assert_eq!(month_of(Duration::from_secs(1_735_689_600)), "2025-01");
    }

    #[test]
    fn fields_validate() {
        let base = Fields {
            name: "x".into(),
            domain: None,
            mode: Mode::Checkbox,
            difficulty: 16,
            active: true,
            monthly_quota: None,
        };
        let ok = |i: SiteInput| base.clone().apply(&i);
        assert!(
            ok(SiteInput {
                name: Some(" ".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            ok(SiteInput {
                name: Some("a\u{7}".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            ok(SiteInput {
                difficulty: Some(13),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            ok(SiteInput {
                monthly_quota: Some(Some(0)),
                ..Default::default()
            })
            .is_err()
        );
        for bad in ["-a.com", "a..com", "a com", "a.com.", "<script>"] {
            assert!(
                ok(SiteInput {
                    domain: Some(Some(bad.into())),
                    ..Default::default()
                })
                .is_err(),
                "{bad}"
            );
        }
        let f = ok(SiteInput {
            domain: Some(Some("Shop.Example.COM".into())),
            monthly_quota: Some(Some(5)),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.domain.as_deref(), Some("shop.example.com"));
        assert_eq!(f.monthly_quota, Some(5));
        let cleared = f
            .apply(&serde_json::from_str(r#"{"domain": null, "monthlyQuota": null}"#).unwrap())
            .unwrap();
        assert_eq!(cleared.domain, None);
        assert_eq!(cleared.monthly_quota, None);
        assert!(serde_json::from_str::<SiteInput>(r#"{"nope": 1}"#).is_err());
    }
}
