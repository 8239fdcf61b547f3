//! Sites: who may ask for challenges and validate tokens.
//!
//! [`SiteStore`] is the seam for persistence: the in-memory [`MemorySiteStore`] here, a
//! SQL store later (site management and analytics). It is object safe
//! (`Arc<dyn SiteStore>`) so a server can pick a backend at run time; its futures are
//! boxed because real backends do IO. Besides lookups it has two hooks with
//! permissive defaults: [`SiteStore::charge`] (monthly quotas, QUOTA_EXCEEDED) and
//! [`SiteStore::record`] (analytics; must not block: push to a bounded queue).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::challenge::MAX_SITE_KEY_LEN;
use crate::core::ct::ct_eq;
use crate::core::error::ConfigError;
use crate::core::store::StoreError;

/// Most sites a [`MemorySiteStore`] holds.
pub const MAX_MEMORY_SITES: usize = 10_000;

/// How the widget presents itself (the seed's `mode`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The user ticks a box; solving starts on the click (or earlier, in the background).
    #[default]
    Checkbox,
    /// No visible control: the widget solves on load and fills in the token.
    Invisible,
}

impl Mode {
    /// `checkbox` or `invisible`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Checkbox => "checkbox",
            Mode::Invisible => "invisible",
        }
    }
}

/// One site: its public key, a digest of its secret key, and its settings.
#[derive(Clone)]
pub struct Site {
    /// A stable id (analytics and management key on it; keys may be regenerated).
    pub id: Arc<str>,
    /// The public site key, e.g. `eck_live_...` (at most 64 bytes).
    pub site_key: Arc<str>,
    secret_digest: [u8; 32],
    /// A display name.
    pub name: Arc<str>,
    /// The site's domain, when known (informational for now; not enforced).
    pub domain: Option<Arc<str>>,
    /// Inactive sites get SITE_INACTIVE.
    pub active: bool,
    /// Checkbox or invisible.
    pub mode: Mode,
    /// The base difficulty (clamped to the engine's bounds).
    pub difficulty: u8,
    /// Verifications allowed per calendar month, if limited (enforced by stores that
    /// implement [`SiteStore::charge`]).
    pub monthly_quota: Option<u64>,
}

impl Site {
    /// An active checkbox site at difficulty 16 with id = site key. Only a SHA-256 digest
    /// of `secret_key` is kept.
    pub fn new(site_key: &str, secret_key: &str) -> Result<Self, ConfigError> {
        if site_key.is_empty() || site_key.len() > MAX_SITE_KEY_LEN {
            return Err(ConfigError::new("site.site_key", "must be 1 to 64 bytes"));
        }
        if secret_key.len() < 8 {
            return Err(ConfigError::new(
                "site.secret_key",
                "must be at least 8 bytes",
            ));
        }
        Ok(Self {
            id: site_key.into(),
            site_key: site_key.into(),
            secret_digest: Sha256::digest(secret_key.as_bytes()).into(),
            name: site_key.into(),
            domain: None,
            active: true,
            mode: Mode::Checkbox,
            difficulty: super::DEFAULT_DIFFICULTY,
            monthly_quota: None,
        })
    }

    /// A site whose secret is known only by its SHA-256 digest (as a database holds it).
    pub fn with_secret_digest(site_key: &str, digest: [u8; 32]) -> Result<Self, ConfigError> {
        let mut s = Self::new(site_key, "placeholder")?;
        s.secret_digest = digest;
        Ok(s)
    }

    /// Sets the id.
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.into();
        self
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the base difficulty.
    pub fn difficulty(mut self, bits: u8) -> Self {
        self.difficulty = bits;
        self
    }

    /// Sets the domain.
    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Activates or deactivates the site.
    pub fn active(mut self, active: bool) -> Self {
        self.active = active;
        self
    }

    /// `true` when `presented` is the site's secret key. Constant time (over digests).
    pub fn secret_matches(&self, presented: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        ct_eq(&d, &self.secret_digest)
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site")
            .field("id", &self.id)
            .field("site_key", &self.site_key)
            .field("secret_key", &"[REDACTED]")
            .field("active", &self.active)
            .field("mode", &self.mode)
            .field("difficulty", &self.difficulty)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// A boxed future of a site store.
pub type SiteFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The answer of a quota charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaDecision {
    /// Within quota (or unlimited).
    Allowed,
    /// The monthly quota is used up.
    Exceeded,
}

/// Which API call an analytics event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `POST /api/verify`.
    Verify,
    /// `POST /api/validate`.
    Validate,
}

/// One verification or validation, for analytics.
#[derive(Clone, Debug)]
pub struct VerificationEvent {
    /// The site's id.
    pub site_id: Arc<str>,
    /// Verify or validate.
    pub kind: EventKind,
    /// When, since the Unix epoch.
    pub at: Duration,
    /// Whether it succeeded.
    pub passed: bool,
    /// The risk score, when one was computed.
    pub risk_score: Option<f64>,
    /// The reported solve time, ms.
    pub solve_time_ms: Option<u64>,
    /// The error code when it failed.
    pub error: Option<&'static str>,
}

/// Where sites come from.
pub trait SiteStore: Send + Sync + 'static {
    /// The site with this public key, if any (active or not).
    fn site_by_key<'a>(&'a self, site_key: &'a str) -> SiteFuture<'a, Option<Site>>;

    /// Counts one challenge against the site's monthly quota. The default allows all.
    fn charge<'a>(&'a self, site: &'a Site, now: Duration) -> SiteFuture<'a, QuotaDecision> {
        let _ = (site, now);
        Box::pin(std::future::ready(Ok(QuotaDecision::Allowed)))
    }

    /// Records an event for analytics. Must return at once (queue it); the default drops it.
    fn record(&self, event: VerificationEvent) {
        let _ = event;
    }
}

impl<T: SiteStore + ?Sized> SiteStore for Arc<T> {
    fn site_by_key<'a>(&'a self, site_key: &'a str) -> SiteFuture<'a, Option<Site>> {
        (**self).site_by_key(site_key)
    }
    fn charge<'a>(&'a self, site: &'a Site, now: Duration) -> SiteFuture<'a, QuotaDecision> {
        (**self).charge(site, now)
    }
    fn record(&self, event: VerificationEvent) {
        (**self).record(event)
    }
}

/// Sites in memory, keyed by site key; at most [`MAX_MEMORY_SITES`].
///
/// ```
/// use tower_shield::pow::{MemorySiteStore, Site, Mode};
/// let sites = MemorySiteStore::new();
/// sites.insert(Site::new("eck_live_demo", "ecs_live_demo").unwrap().mode(Mode::Checkbox)).unwrap();
/// assert_eq!(sites.len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct MemorySiteStore {
    sites: Arc<RwLock<HashMap<Arc<str>, Site>>>,
}

impl MemorySiteStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a site.
    pub fn insert(&self, site: Site) -> Result<(), ConfigError> {
        let mut map = self.sites.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_MEMORY_SITES && !map.contains_key(&site.site_key) {
            return Err(ConfigError::new("sites", "too many sites"));
        }
        map.insert(site.site_key.clone(), site);
        Ok(())
    }

    /// Removes a site by key; returns it.
    pub fn remove(&self, site_key: &str) -> Option<Site> {
        self.sites
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(site_key)
    }

    /// The site with `site_key`, now.
    pub fn get(&self, site_key: &str) -> Option<Site> {
        self.sites
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(site_key)
            .cloned()
    }

    /// How many sites.
    pub fn len(&self) -> usize {
        self.sites.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemorySiteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySiteStore")
            .field("sites", &self.len())
            .finish()
    }
}

impl SiteStore for MemorySiteStore {
    fn site_by_key<'a>(&'a self, site_key: &'a str) -> SiteFuture<'a, Option<Site>> {
        Box::pin(std::future::ready(Ok(self.get(site_key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_digested_and_compared() {
        let s = Site::new("eck_live_demo", "ecs_live_demo").unwrap();
        assert!(s.secret_matches("ecs_live_demo"));
        assert!(!s.secret_matches("ecs_live_demO"));
        assert!(!format!("{s:?}").contains("ecs_live"));
        let d: [u8; 32] = Sha256::digest(b"ecs_live_x").into();
        assert!(
            Site::with_secret_digest("k", d)
                .unwrap()
                .secret_matches("ecs_live_x")
        );
        assert!(Site::new("", "ecs_live_demo").is_err());
        assert!(Site::new(&"k".repeat(65), "ecs_live_demo").is_err());
    }

    #[tokio::test]
    async fn memory_store_looks_up() {
        let st = MemorySiteStore::new();
        st.insert(Site::new("a", "secret-a-1").unwrap()).unwrap();
        assert!(st.site_by_key("a").await.unwrap().is_some());
        assert!(st.site_by_key("b").await.unwrap().is_none());
        assert_eq!(
            st.charge(&st.get("a").unwrap(), Duration::ZERO)
                .await
                .unwrap(),
            QuotaDecision::Allowed
        );
        assert!(st.remove("a").is_some());
        assert!(st.is_empty());
    }
}
