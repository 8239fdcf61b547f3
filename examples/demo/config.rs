//! The demo's TOML configuration (`--config FILE`).

use std::net::SocketAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use tower_shield::auth::StaticApiKeys;
use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};
use tower_shield::core::Quota;
use tower_shield::pow::admin::AdminAuth;
use tower_shield::pow::{MemorySiteStore, Mode, Site};

/// The whole file. Unknown keys are errors, so a typo never silently does nothing.
/// A section left out takes the embedded demo defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to listen (overridden by `--listen`).
    pub listen: Option<SocketAddr>,
    /// `[client_ip]`.
    #[serde(default)]
    pub client_ip: ClientIpToml,
    /// `[[api_keys]]`, 602TechSec style.
    #[serde(default = "default_api_keys")]
    pub api_keys: Vec<ApiKeyToml>,
    /// `[[signing_keys]]`, Auspex Verus style.
    #[serde(default = "default_signing_keys")]
    pub signing_keys: Vec<SigningKeyToml>,
    /// `[[sites]]`, ECURTIY style.
    #[serde(default = "default_sites")]
    pub sites: Vec<SiteToml>,
    /// `[rate_limit]`: the per-client limit for anonymous requests.
    #[serde(default)]
    pub rate_limit: RateLimitToml,
    /// `[store]`: where shared state lives.
    #[serde(default)]
    pub store: StoreToml,
    /// `[pow]`: the proof-of-work keys.
    #[serde(default)]
    pub pow: PowToml,
    /// `[database]`: where ECURTIY sites and analytics live.
    #[serde(default)]
    pub database: DatabaseToml,
    /// `[admin]`: who may manage sites.
    #[serde(default)]
    pub admin: AdminToml,
    /// `[classify]`: live classification feeds.
    #[serde(default)]
    pub classify: ClassifyToml,
    /// `[captcha]`: the ECURTIY API's browser access (CORS) and rate limits.
    #[serde(default)]
    pub captcha: CaptchaToml,
    /// `[jwt]`: the Engineering11 token signer and its key ring.
    #[serde(default)]
    pub jwt: JwtToml,
}

/// `[jwt]`: the key ring the Engineering11 API signs and verifies tokens with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtToml {
    /// What the active key signs with: `"RS256"` (default, as the seed), `"ES256"` or
    /// `"EdDSA"`. With no `[[jwt.keys]]` the demo generates a key of this algorithm
    /// (`"RS256"`: RSA-2048, or `"EdDSA"`) on first start into `database.data_dir`.
    #[serde(default = "default_jwt_algorithm")]
    pub algorithm: String,
    /// Token lifetime in seconds (default 900; 1..=2592000).
    #[serde(default = "default_jwt_ttl")]
    pub ttl_secs: u64,
    /// `[[jwt.keys]]`: the ring. Exactly one entry is `active = true` and signs; the
    /// others are still published in the JWKS and still verify tokens until removed.
    #[serde(default)]
    pub keys: Vec<JwtKeyToml>,
}

/// The file name of the key the demo generates in `database.data_dir`.
pub const GENERATED_JWT_KEY_FILE: &str = "jwt-signing-key.pem";

fn default_jwt_algorithm() -> String {
    "RS256".into()
}

fn default_jwt_ttl() -> u64 {
    900
}

impl Default for JwtToml {
    fn default() -> Self {
        Self {
            algorithm: default_jwt_algorithm(),
            ttl_secs: default_jwt_ttl(),
            keys: Vec::new(),
        }
    }
}

/// One `[[jwt.keys]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyToml {
    /// The key id tokens carry in their header (1..=256 visible ASCII characters).
    pub kid: String,
    /// A PEM file (relative paths from the working directory): a private key (PKCS#8
    /// `PRIVATE KEY` or `RSA PRIVATE KEY`), or for a key that is not active a public
    /// key (`PUBLIC KEY`) is enough.
    pub pem_file: Option<std::path::PathBuf>,
    /// The PEM itself, instead of `pem_file`.
    pub pem: Option<String>,
    /// The one key that signs new tokens (default false).
    #[serde(default)]
    pub active: bool,
}

impl JwtToml {
    /// Structural checks (no file is read): every error names its field.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        if !matches!(self.algorithm.as_str(), "RS256" | "ES256" | "EdDSA") {
            return Err(ConfigProblem(
                "jwt.algorithm: must be \"RS256\", \"ES256\" or \"EdDSA\"".into(),
            ));
        }
        if self.keys.is_empty() && self.algorithm == "ES256" {
            return Err(ConfigProblem(
                "jwt.algorithm: the demo generates RS256 or EdDSA keys; give an ES256 key in [[jwt.keys]]"
                    .into(),
            ));
        }
        if !(1..=30 * 86_400).contains(&self.ttl_secs) {
            return Err(ConfigProblem("jwt.ttl_secs: must be 1..=2592000".into()));
        }
        if self.keys.len() > tower_shield::auth::MAX_KEYS {
            return Err(ConfigProblem(format!(
                "jwt.keys: at most {} keys",
                tower_shield::auth::MAX_KEYS
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, k) in self.keys.iter().enumerate() {
            if k.kid.is_empty() || k.kid.len() > 256 || !k.kid.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(ConfigProblem(format!(
                    "jwt.keys[{i}].kid: must be 1..=256 visible ASCII characters"
                )));
            }
            if !seen.insert(k.kid.as_str()) {
                return Err(ConfigProblem(format!(
                    "jwt.keys[{i}].kid: {:?} appears twice",
                    k.kid
                )));
            }
            match (&k.pem_file, &k.pem) {
                (Some(_), Some(_)) => {
                    return Err(ConfigProblem(format!(
                        "jwt.keys[{i}].pem: give pem_file or pem, not both"
                    )));
                }
                (None, None) => {
                    return Err(ConfigProblem(format!(
                        "jwt.keys[{i}].pem_file: required (or an inline pem)"
                    )));
                }
                _ => {}
            }
        }
        let active = self.keys.iter().filter(|k| k.active).count();
        if !self.keys.is_empty() && active != 1 {
            return Err(ConfigProblem(format!(
                "jwt.keys: exactly one key must have active = true ({active} do)"
            )));
        }
        Ok(())
    }
}

/// `[captcha]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaToml {
    /// Let a page on any origin call `challenge` and `verify` (default false: only pages
    /// on a site's configured domain may).
    #[serde(default)]
    pub allow_any_origin: bool,
    /// `challenge` + `verify` + `validate` calls a minute per client address (default 60).
    #[serde(default = "default_per_client")]
    pub requests_per_minute_per_client: u32,
    /// `challenge` calls a minute per site, from all its clients together (default 600).
    #[serde(default = "default_per_site")]
    pub requests_per_minute_per_site: u32,
}

fn default_per_client() -> u32 {
    60
}

fn default_per_site() -> u32 {
    600
}

impl Default for CaptchaToml {
    fn default() -> Self {
        Self {
            allow_any_origin: false,
            requests_per_minute_per_client: default_per_client(),
            requests_per_minute_per_site: default_per_site(),
        }
    }
}

/// `[database]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseToml {
    /// `sqlite://path?mode=rwc` or `postgres://user@host/db`. Default: a SQLite file
    /// `ecurtiy.db` in `data_dir`.
    pub url: Option<String>,
    /// Created when missing (default `data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: std::path::PathBuf,
}

fn default_data_dir() -> std::path::PathBuf {
    "data".into()
}

impl Default for DatabaseToml {
    fn default() -> Self {
        Self {
            url: None,
            data_dir: default_data_dir(),
        }
    }
}

/// `[admin]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToml {
    /// An argon2 PHC string (`$argon2id$v=19$...`). Without one the demo makes a
    /// one-time password at start and prints it.
    pub password_hash: Option<String>,
    /// SHA-256 (hex) of a bearer token for scripts (`Authorization: Bearer ...`).
    pub token_sha256: Option<String>,
    /// `Secure` cookies (default true; browsers accept them from http://localhost).
    #[serde(default = "yes")]
    pub secure_cookie: bool,
}

fn yes() -> bool {
    true
}

impl Default for AdminToml {
    fn default() -> Self {
        Self {
            password_hash: None,
            token_sha256: None,
            secure_cookie: true,
        }
    }
}

/// Admin credentials made up for one run (no `[admin] password_hash`).
pub struct OneTimeAdmin {
    /// The password to sign in with.
    pub password: String,
    /// A bearer token for the API (unless `[admin] token_sha256` is set).
    pub token: Option<String>,
}

/// `[pow]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowToml {
    /// The key that signs challenges, tokens and passes (at least 32 characters). Every
    /// instance of a fleet needs the same one; without it the demo derives one from the
    /// sites' secret keys, so instances started from one config agree.
    pub secret: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: None,
            client_ip: ClientIpToml::default(),
            api_keys: default_api_keys(),
            signing_keys: default_signing_keys(),
            sites: default_sites(),
            rate_limit: RateLimitToml::default(),
            store: StoreToml::default(),
            pow: PowToml::default(),
            database: DatabaseToml::default(),
            admin: AdminToml::default(),
            classify: ClassifyToml::default(),
            captcha: CaptchaToml::default(),
            jwt: JwtToml::default(),
        }
    }
}

/// One `[[api_keys]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyToml {
    /// The key clients send in `X-API-Key` (or `?apiKey=`).
    pub key: String,
    /// Its hourly quota.
    pub requests_per_hour: u32,
    /// What it may do, e.g. `["verify"]`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The principal id logs, store keys and `whoami` show (default: `key_` and 12 hex
    /// digits of the key's SHA-256, which reveal nothing of the key).
    #[serde(default)]
    pub name: Option<String>,
}

/// One `[[signing_keys]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyToml {
    /// The key id (`alk_...`).
    pub id: String,
    /// The shared secret (`als_...`).
    pub secret: String,
}

/// One `[[sites]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteToml {
    /// The public site key (`eck_live_...`).
    pub site_key: String,
    /// The server-side secret (`ecs_live_...`).
    pub secret_key: String,
    /// Proof-of-work difficulty in bits (14..=18).
    #[serde(default = "default_difficulty")]
    pub difficulty: u8,
    /// `"checkbox"` or `"invisible"`.
    #[serde(default = "default_mode")]
    pub mode: String,
}

/// `[rate_limit]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitToml {
    /// Requests per minute per client address (default 120).
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    /// How many may arrive at once (default: the per-minute count).
    pub burst: Option<u32>,
}

impl Default for RateLimitToml {
    fn default() -> Self {
        Self {
            requests_per_minute: default_per_minute(),
            burst: None,
        }
    }
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreToml {
    /// `"memory"` (default) or `"redis"`.
    #[serde(default)]
    pub backend: Backend,
    /// With `"redis"`: the server (default `redis://127.0.0.1:6379`).
    #[serde(default = "default_redis_url")]
    pub redis_url: String,
    /// With `"redis"`: the key prefix every instance of one fleet shares (default `"shield-demo"`).
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// With `"redis"`: longest wait for one Redis call, in milliseconds (default 20).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// With `"redis"`: what to do while Redis cannot answer: `"local"` (default: limit on
    /// this instance at quota / `instances`), `"open"` or `"closed"`.
    #[serde(default)]
    pub on_failure: OnFailure,
    /// With `on_failure = "local"`: how many instances share the quotas (default 1).
    #[serde(default = "default_instances")]
    pub instances: u32,
    /// With `"redis"`: seed nodes of a Redis Cluster (`["redis://127.0.0.1:7000", ...]`);
    /// when set, the store uses the cluster and `redis_url` is ignored.
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
}

/// `store.on_failure`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// Decide on this instance alone.
    #[default]
    Local,
    /// Allow.
    Open,
    /// Refuse with 503.
    Closed,
}

fn default_timeout_ms() -> u64 {
    20
}

fn default_instances() -> u32 {
    1
}

impl Default for StoreToml {
    fn default() -> Self {
        Self {
            backend: Backend::Memory,
            redis_url: default_redis_url(),
            prefix: default_prefix(),
            timeout_ms: default_timeout_ms(),
            on_failure: OnFailure::Local,
            instances: default_instances(),
            cluster_nodes: Vec::new(),
        }
    }
}

/// Where shared state lives.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// In this process.
    #[default]
    Memory,
    /// On Redis, shared by every instance started from the same config.
    Redis,
}

fn default_api_keys() -> Vec<ApiKeyToml> {
    vec![ApiKeyToml {
        key: "tsk_demo_key".into(),
        requests_per_hour: 1000,
        permissions: vec!["verify".into()],
        name: None,
    }]
}

fn default_signing_keys() -> Vec<SigningKeyToml> {
    // The Auspex seed's own example pair, so its sample code works as printed.
    vec![SigningKeyToml {
        id: "alk_1234567890abcdef".into(),
        secret: "als_abcdefghijklmnopqrstuvwxyz1234567890".into(),
    }]
}

fn default_sites() -> Vec<SiteToml> {
    vec![SiteToml {
        site_key: "eck_live_demo".into(),
        secret_key: "ecs_live_demo".into(),
        difficulty: default_difficulty(),
        mode: default_mode(),
    }]
}

fn default_difficulty() -> u8 {
    16
}

fn default_mode() -> String {
    "checkbox".into()
}

fn default_per_minute() -> u32 {
    120
}

fn default_redis_url() -> String {
    "redis://127.0.0.1:6379".into()
}

fn default_prefix() -> String {
    "shield-demo".into()
}

/// `[client_ip]`: where the client address comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIpToml {
    /// `"peer"` (default), `"x-forwarded-for"`, `"forwarded"` or `"header"`.
    #[serde(default)]
    pub source: SourceName,
    /// Proxies whose forwarding headers are believed, as CIDRs.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// With `"x-forwarded-for"`: take the n-th hop from the right instead of the
    /// rightmost untrusted one.
    pub hops: Option<usize>,
    /// With `"header"`: the header name, e.g. `"CF-Connecting-IP"`.
    pub header: Option<String>,
    /// IPv6 prefix length clients are keyed by (default 64).
    pub ipv6_prefix: Option<u8>,
}

impl Default for ClientIpToml {
    fn default() -> Self {
        Self {
            source: SourceName::Peer,
            trusted_proxies: Vec::new(),
            hops: None,
            header: None,
            ipv6_prefix: None,
        }
    }
}

/// The names `source` accepts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SourceName {
    /// The socket peer.
    #[default]
    Peer,
    /// `X-Forwarded-For`.
    XForwardedFor,
    /// RFC 7239 `Forwarded`.
    Forwarded,
    /// A single-address header.
    Header,
}

/// A config problem, naming the field.
#[derive(Debug)]
pub struct ConfigProblem(pub String);

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigProblem {}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigProblem> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigProblem(format!("{}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| ConfigProblem(format!("{}: {e}", path.display())))
    }

    /// Parses and checks TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigProblem> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigProblem(e.to_string()))?;
        cfg.client_ip.layer()?;
        cfg.api_key_store()?;
        cfg.jwt.check()?;
        for (name, value) in [
            (
                "rate_limit.requests_per_minute",
                cfg.rate_limit.requests_per_minute,
            ),
            (
                "captcha.requests_per_minute_per_client",
                cfg.captcha.requests_per_minute_per_client,
            ),
            (
                "captcha.requests_per_minute_per_site",
                cfg.captcha.requests_per_minute_per_site,
            ),
        ] {
            if value == 0 {
                return Err(ConfigProblem(format!("{name}: must be at least 1")));
            }
        }
        for (i, site) in cfg.sites.iter().enumerate() {
            if !(14..=18).contains(&site.difficulty) {
                return Err(ConfigProblem(format!(
                    "sites[{i}].difficulty: must be 14..=18"
                )));
            }
            if site.mode != "checkbox" && site.mode != "invisible" {
                return Err(ConfigProblem(format!(
                    "sites[{i}].mode: must be \"checkbox\" or \"invisible\""
                )));
            }
        }
        if let Some(secret) = &cfg.pow.secret
            && secret.len() < 32
        {
            return Err(ConfigProblem("pow.secret: at least 32 characters".into()));
        }
        cfg.site_store()?;
        if cfg.admin.password_hash.is_some() {
            cfg.admin_auth()?;
        }
        if let Some(url) = &cfg.database.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(ConfigProblem(
                "database.url: must start with sqlite: or postgres://".into(),
            ));
        }
        for (i, k) in cfg.signing_keys.iter().enumerate() {
            if k.id.is_empty() || k.secret.len() < 16 {
                return Err(ConfigProblem(format!(
                    "signing_keys[{i}]: id must be set and secret at least 16 characters"
                )));
            }
        }
        Ok(cfg)
    }

    /// The database URL: `[database] url`, or a SQLite file in `data_dir` (created).
    pub fn database_url(&self) -> Result<String, ConfigProblem> {
        if let Some(u) = &self.database.url {
            return Ok(u.clone());
        }
        let dir = &self.database.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigProblem(format!("database.data_dir: {}: {e}", dir.display())))?;
        Ok(format!("sqlite://{}/ecurtiy.db?mode=rwc", dir.display()))
    }

    /// The admin credentials, and the one-time ones when the config has none.
    pub fn admin_auth(&self) -> Result<(AdminAuth, Option<OneTimeAdmin>), ConfigProblem> {
        let bad = |e: tower_shield::core::error::ConfigError| ConfigProblem(e.to_string());
        let (mut auth, one_time) = match &self.admin.password_hash {
            Some(h) => (AdminAuth::new(h).map_err(bad)?, None),
            None => {
                let mut b = [0u8; 36];
                getrandom::fill(&mut b)
                    .map_err(|_| ConfigProblem("admin: no OS randomness".into()))?;
                let hex = tower_shield::core::ct::encode_hex(&b);
                let once = OneTimeAdmin {
                    password: hex[..20].to_owned(),
                    token: self
                        .admin
                        .token_sha256
                        .is_none()
                        .then(|| hex[20..].to_owned()),
                };
                let hash = AdminAuth::hash_password(&once.password).map_err(bad)?;
                let mut auth = AdminAuth::new(&hash).map_err(bad)?;
                if let Some(t) = &once.token {
                    auth = auth.token(t).map_err(bad)?;
                }
                (auth, Some(once))
            }
        };
        if let Some(t) = &self.admin.token_sha256 {
            auth = auth.token_sha256(t).map_err(bad)?;
        }
        Ok((auth, one_time))
    }

    /// The `[[sites]]` as sites with their secret digests, for import into the database.
    pub fn sites_to_import(&self) -> Result<Vec<(Site, [u8; 32])>, ConfigProblem> {
        use sha2::Digest;
        let store = self.site_store()?;
        Ok(self
            .sites
            .iter()
            .filter_map(|s| {
                let mut site = store.get(&s.site_key)?;
                site.name = format!("{} (from the config)", s.site_key).into();
                Some((site, sha2::Sha256::digest(s.secret_key.as_bytes()).into()))
            })
            .collect())
    }

    /// The proof-of-work signing secret: `[pow] secret`, or derived from the config.
    pub fn pow_secret(&self) -> String {
        if let Some(s) = &self.pow.secret {
            return s.clone();
        }
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"tower-shield demo pow secret v1");
        for site in &self.sites {
            h.update(site.site_key.as_bytes());
            h.update([0]);
            h.update(site.secret_key.as_bytes());
            h.update([0]);
        }
        tower_shield::core::ct::encode_hex(&h.finalize())
    }

    /// The ECURTIY sites.
    pub fn site_store(&self) -> Result<MemorySiteStore, ConfigProblem> {
        let store = MemorySiteStore::new();
        for (i, s) in self.sites.iter().enumerate() {
            let mode = if s.mode == "invisible" {
                Mode::Invisible
            } else {
                Mode::Checkbox
            };
            let site = Site::new(&s.site_key, &s.secret_key)
                .map_err(|e| ConfigProblem(format!("sites[{i}]: {e}")))?
                .mode(mode)
                .difficulty(s.difficulty);
            store
                .insert(site)
                .map_err(|e| ConfigProblem(format!("sites[{i}]: {e}")))?;
        }
        Ok(store)
    }

    /// The API keys as a store (only their digests are kept).
    pub fn api_key_store(&self) -> Result<StaticApiKeys, ConfigProblem> {
        let mut keys = StaticApiKeys::new();
        for (i, k) in self.api_keys.iter().enumerate() {
            if k.requests_per_hour == 0 {
                return Err(ConfigProblem(format!(
                    "api_keys[{i}].requests_per_hour: must be at least 1"
                )));
            }
            let id = match &k.name {
                Some(name) => name.clone(),
                None => StaticApiKeys::digest_id(&k.key),
            };
            keys = keys
                .named_key(
                    &id,
                    &k.key,
                    k.permissions.clone(),
                    Some(Quota::per_hour(k.requests_per_hour)),
                )
                .map_err(|e| {
                    let field = if e.field() == "api key name" {
                        "name"
                    } else {
                        "key"
                    };
                    ConfigProblem(format!("api_keys[{i}].{field}: {e}"))
                })?;
        }
        Ok(keys)
    }

    /// The per-client quota for anonymous requests.
    pub fn client_quota(&self) -> Quota {
        let q = Quota::per_minute(self.rate_limit.requests_per_minute);
        match self.rate_limit.burst {
            Some(b) => q.burst(b),
            None => q,
        }
    }
}

impl ClientIpToml {
    /// The client-IP layer this table describes.
    pub fn layer(&self) -> Result<ClientIpLayer, ConfigProblem> {
        let bad = |field: &str, why: &str| ConfigProblem(format!("client_ip.{field}: {why}"));
        if self.hops.is_some() && self.source != SourceName::XForwardedFor {
            return Err(bad("hops", "only applies to source = \"x-forwarded-for\""));
        }
        if self.header.is_some() && self.source != SourceName::Header {
            return Err(bad("header", "only applies to source = \"header\""));
        }
        let source = match self.source {
            SourceName::Peer => ClientIpSource::Peer,
            SourceName::XForwardedFor => match self.hops {
                None => ClientIpSource::RightmostXForwardedFor,
                Some(0) => return Err(bad("hops", "must be at least 1 (1 = the rightmost hop)")),
                Some(n) => ClientIpSource::XForwardedForHop(n),
            },
            SourceName::Forwarded => ClientIpSource::Forwarded,
            SourceName::Header => {
                let name = self
                    .header
                    .as_deref()
                    .ok_or_else(|| bad("header", "required when source = \"header\""))?;
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| bad("header", "not a valid header name"))?;
                ClientIpSource::Header(name)
            }
        };
        if source != ClientIpSource::Peer && self.trusted_proxies.is_empty() {
            tracing::warn!(
                "client_ip.trusted_proxies is empty: forwarding headers will never be read"
            );
        }
        let mut layer = ClientIpLayer::new(source, self.trusted_proxies.iter().copied());
        if let Some(bits) = self.ipv6_prefix {
            layer = layer
                .v6_prefix(bits)
                .map_err(|e| bad("ipv6_prefix", &e.to_string()))?;
        }
        Ok(layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.client_ip.source, SourceName::Peer);
        assert!(c.listen.is_none());
        assert_eq!(c.api_keys[0].key, "tsk_demo_key");
        assert_eq!(c.signing_keys[0].id, "alk_1234567890abcdef");
        assert_eq!(c.sites[0].site_key, "eck_live_demo");
        assert_eq!(c.store.backend, Backend::Memory);
        assert_eq!(c.jwt.algorithm, "RS256");
        assert_eq!(c.jwt.ttl_secs, 900);
        assert!(c.jwt.keys.is_empty());
    }

    #[test]
    fn the_example_file_parses() {
        let c = Config::parse(include_str!("demo.example.toml")).unwrap();
        assert_eq!(c.jwt.algorithm, "RS256");
        assert_eq!(c.rate_limit.requests_per_minute, 120);
    }

    #[test]
    fn a_jwt_ring_parses() {
        let c = Config::parse(
            r#"
[jwt]
algorithm = "RS256"
ttl_secs = 600
[[jwt.keys]]
kid = "2026-01"
pem_file = "keys/2026-01.pem"
[[jwt.keys]]
kid = "2026-06"
pem_file = "keys/2026-06.pem"
active = true
"#,
        )
        .unwrap();
        assert_eq!(c.jwt.keys.len(), 2);
        assert!(c.jwt.keys[1].active && !c.jwt.keys[0].active);
    }

    #[test]
    fn the_issue_example_parses() {
        let c = Config::parse(
            r#"
listen = "127.0.0.1:8080"
[client_ip]
source = "peer"
[[api_keys]]
key = "tsk_demo_key"
requests_per_hour = 1000
permissions = ["verify"]
[[signing_keys]]
id = "alk_1234567890abcdef"
secret = "als_abcdefghijklmnopqrstuvwxyz1234567890"
[[sites]]
site_key = "eck_live_demo"
secret_key = "ecs_live_demo"
difficulty = 16
mode = "checkbox"
[store]
backend = "memory"
redis_url = "redis://127.0.0.1:6379"
"#,
        )
        .unwrap();
        assert_eq!(c.api_keys[0].requests_per_hour, 1000);
    }

    #[test]
    fn errors_name_the_field() {
        for (text, field) in [
            ("[client_ip]\nsource = \"header\"", "client_ip.header"),
            ("[client_ip]\nsource = \"peer\"\nhops = 2", "client_ip.hops"),
            (
                "[client_ip]\nsource = \"x-forwarded-for\"\nhops = 0",
                "client_ip.hops",
            ),
            ("[client_ip]\nsource = \"carrier-pigeon\"", "source"),
            (
                "[client_ip]\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "trusted_proxies",
            ),
            ("[client_ip]\nipv6_prefix = 0", "client_ip.ipv6_prefix"),
            ("listen = \"nope\"", "listen"),
            ("lisen = \"127.0.0.1:1\"", "lisen"),
            (
                "[[api_keys]]\nkey = \"short\"\nrequests_per_hour = 5",
                "api_keys[0].key",
            ),
            (
                "[[api_keys]]\nkey = \"tsk_long_enough\"\nrequests_per_hour = 0",
                "api_keys[0].requests_per_hour",
            ),
            (
                "[[sites]]\nsite_key = \"a\"\nsecret_key = \"b\"\ndifficulty = 30",
                "sites[0].difficulty",
            ),
            ("[store]\nbackend = \"etcd\"", "backend"),
            (
                "[rate_limit]\nrequests_per_minute = 0",
                "rate_limit.requests_per_minute",
            ),
            (
                "[captcha]\nrequests_per_minute_per_client = 0",
                "captcha.requests_per_minute_per_client",
            ),
            (
                "[captcha]\nrequests_per_minute_per_site = 0",
                "captcha.requests_per_minute_per_site",
            ),
            ("[jwt]\nalgorithm = \"HS256\"", "jwt.algorithm"),
            ("[jwt]\nalgorithm = \"ES256\"", "jwt.algorithm"),
            ("[jwt]\nttl_secs = 0", "jwt.ttl_secs"),
            ("[jwt]\nttl_secs = 2592001", "jwt.ttl_secs"),
            ("[jwt]\nkeyring = \"jwt\"", "keyring"),
            (
                "[[jwt.keys]]\nkid = \"a\"\nactive = true",
                "jwt.keys[0].pem_file",
            ),
            (
                "[[jwt.keys]]\nkid = \"a\"\npem = \"x\"\npem_file = \"a.pem\"\nactive = true",
                "jwt.keys[0].pem",
            ),
            (
                "[[jwt.keys]]\nkid = \"\"\npem = \"x\"\nactive = true",
                "jwt.keys[0].kid",
            ),
            (
                "[[jwt.keys]]\nkid = \"has space\"\npem = \"x\"\nactive = true",
                "jwt.keys[0].kid",
            ),
            (
                "[[jwt.keys]]\nkid = \"a\"\npem = \"x\"\nactive = true\n[[jwt.keys]]\nkid = \"a\"\npem = \"y\"",
                "jwt.keys[1].kid",
            ),
            (
                "[[jwt.keys]]\nkid = \"a\"\npem = \"x\"",
                "jwt.keys: exactly one",
            ),
            (
                "[[jwt.keys]]\nkid = \"a\"\npem = \"x\"\nactive = true\n[[jwt.keys]]\nkid = \"b\"\npem = \"y\"\nactive = true",
                "jwt.keys: exactly one",
            ),
            (
                "[[jwt.keys]]\nkid = \"a\"\npem = \"x\"\nactive = \"yes\"",
                "active",
            ),
            (
                "[[jwt.keys]]\nkid = \"a\"\npem = \"x\"\nprimary = true",
                "primary",
            ),
        ] {
            let err = Config::parse(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
    }
}

/// `[classify]`: live feeds merged over the embedded snapshot.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyToml {
    /// `feeds = [{ url = "https://...", format = "aws" }, ...]`.
    #[serde(default)]
    pub feeds: Vec<FeedToml>,
    /// Seconds between feed rounds (default 6 h; a random tenth more as jitter).
    pub feed_interval_secs: Option<u64>,
    /// Seconds one fetch may take (default 30).
    pub feed_timeout_secs: Option<u64>,
    /// Allow plain `http://` feeds to non-loopback hosts (default false).
    #[serde(default)]
    pub insecure_http: bool,
    /// Let verified crawlers through (a Googlebot, bingbot, GPTBot, ... UA from an
    /// address its operator publishes); a forged one stays blocked (default false).
    #[serde(default)]
    pub allow_verified_crawlers: bool,
}

/// One entry of `[classify] feeds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedToml {
    /// Where to fetch it.
    pub url: String,
    /// Its format (`aws`, `google-cloud`, `google-crawler`, `azure`, `tor`,
    /// `tor-exit-addresses`, `asn-csv`, `cidr-<kind>`).
    pub format: String,
    /// A name for logs and status (default: the URL).
    pub name: Option<String>,
    /// The body bound in bytes (default 32 MiB).
    pub max_bytes: Option<usize>,
}

impl ClassifyToml {
    /// The classifier builder for this section (embedded data).
    pub fn classifier_builder(&self) -> tower_shield::classify::ClassifierBuilder {
        let b = tower_shield::classify::Classifier::builder();
        if self.allow_verified_crawlers {
            b.allow_verified_crawlers()
        } else {
            b
        }
    }

    /// The feed updater for `classifier`, `None` with no feeds configured.
    pub fn feed_updater(
        &self,
        classifier: tower_shield::classify::Classifier,
    ) -> Result<Option<tower_shield::classify::feeds::FeedUpdater>, ConfigProblem> {
        use tower_shield::classify::feeds::{Feed, FeedFormat, FeedUpdater};
        if self.feeds.is_empty() {
            return Ok(None);
        }
        let problem =
            |e: tower_shield::core::ConfigError| ConfigProblem(format!("classify.feeds: {e}"));
        let mut b = FeedUpdater::builder(classifier).insecure_http(self.insecure_http);
        if let Some(s) = self.feed_interval_secs {
            b = b.interval(std::time::Duration::from_secs(s));
        }
        if let Some(s) = self.feed_timeout_secs {
            b = b.timeout(std::time::Duration::from_secs(s));
        }
        for f in &self.feeds {
            let mut feed = Feed::new(&f.url, FeedFormat::from_name(&f.format).map_err(problem)?)
                .map_err(problem)?;
            if let Some(name) = &f.name {
                feed = feed.name(name);
            }
            if let Some(max) = f.max_bytes {
                feed = feed.max_bytes(max).map_err(problem)?;
            }
            b = b.feed(feed);
        }
        b.build().map(Some).map_err(problem)
    }
}
