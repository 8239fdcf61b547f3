//! The demo's router: a sample app wrapped in the `Shield`, with its OpenAPI document
//! generated from the handlers (`utoipa`), served at `/openapi.json`.

use axum::Json;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Serialize;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_shield::Shield;
use tower_shield::core::reject::MakeShieldRequestId;
use tower_shield::core::{ClientIp, Principal, Quota};
use tower_shield::pow::admin::{Admin, SqlSites};
use tower_shield::pow::api::Api;
use tower_shield::redis::{FailurePolicy, RedisStore};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Backend, Config, ConfigProblem, OnFailure};

/// The home page (its own file, so the tests that include this one need no new module).
#[path = "home.rs"]
pub mod home;
use crate::seeds;
use tower_shield::classify::{ClassifyLayer, Verdict};
use tower_shield::shield::ShieldBuilder;

/// Endpoints the index page and the start-up banner list: (method, path, what).
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/", "this page"),
    ("GET", "/healthz", "liveness probe (outside every limit)"),
    (
        "GET",
        "/readyz",
        "readiness: 503 while the site database or the store cannot answer",
    ),
    (
        "GET",
        "/metrics",
        "Prometheus metrics: decisions, refusals by code, store, PoW",
    ),
    (
        "GET",
        "/openapi.json",
        "the OpenAPI 3 document of every endpoint",
    ),
    (
        "GET",
        "/api/whoami",
        "what the shield decided about you (client IP, principal)",
    ),
    (
        "GET",
        "/app/",
        "the sample app's page (rate limited per client)",
    ),
    (
        "GET",
        "/app/api/data",
        "sample API: needs an API key (X-API-Key), limited by the key's hourly quota",
    ),
];

/// The document's frame; paths and schemas come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "tower-shield demo", description = "A sample app wrapped in tower-shield, and the seed APIs served in-process."),
    components(schemas(ErrorBody, ErrorObject)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// Declares how clients authenticate.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The shared error body of every refusal.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorObject,
}

/// The error object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    /// A stable machine code, e.g. `RATE_LIMITED`.
    code: String,
    /// A human-readable message.
    message: String,
    /// RFC 3339 UTC.
    timestamp: String,
    /// The request id (`x-request-id`).
    request_id: String,
}

/// The demo app and what `main` prints about it.
pub struct Built {
    /// The whole app.
    pub router: Router,
    /// The database the ECURTIY sites and analytics live in (password redacted).
    pub database_url: String,
    /// The site store, to flush its analytics queue at shutdown.
    pub sites: SqlSites,
    /// Admin credentials made up for this run, when the config has none.
    pub one_time_admin: Option<crate::config::OneTimeAdmin>,
    /// The JWT signing key's id, algorithm and origin (never key material).
    pub jwt_key: String,
}

/// `scheme://user:password@host/...` without the password (which may hold `@` itself).
fn redact(url: &str) -> String {
    let Some(s) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let end = url[s..].find(['/', '?']).map_or(url.len(), |i| s + i);
    let Some(at) = url[s..end].rfind('@').map(|i| s + i) else {
        return url.to_owned();
    };
    match url[s..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..s], &url[at..]),
        None => url.to_owned(),
    }
}

/// The whole demo app for `config` (see [`build`]); the tests use it.
#[allow(dead_code)]
pub async fn router(config: &Config) -> Result<Router, ConfigProblem> {
    build(config).await.map(|b| b.router)
}

/// The whole demo app for `config`. Needs a Tokio runtime: it opens (and migrates) the
/// site database; the Redis store connects lazily.
pub async fn build(config: &Config) -> Result<Built, ConfigProblem> {
    install_metrics();
    let database_url = config.database_url()?;
    let sites = SqlSites::connect(&database_url)
        .await
        .map_err(|e| ConfigProblem(format!("database.url: {e}")))?;
    for (site, digest) in config.sites_to_import()? {
        sites
            .import(&site, digest)
            .await
            .map_err(|e| ConfigProblem(format!("sites: {e}")))?;
    }
    let (admin_auth, one_time_admin) = config.admin_auth()?;
    let keep_sites = sites.clone();
    let classifier = config.classify.classifier_builder().build();
    if let Some(feeds) = config.classify.feed_updater(classifier.clone())? {
        // Starts on the embedded snapshot; each failed feed logs one line per round.
        feeds.spawn().detach();
    }
    let quota = config.client_quota();
    let keys = std::sync::Arc::new(config.api_key_store()?);
    let base = || -> Result<ShieldBuilder, ConfigProblem> {
        Ok(Shield::builder()
            .client_ip_layer(config.client_ip.layer()?)
            .api_keys(keys.clone())
            .rate_limit(quota))
    };
    // The sample app, behind the whole shield: its classifier enforces, and asks for proof
    // of work where its verdict says "challenge"; `/app/protected` always needs a token.
    let site_key = config
        .sites
        .first()
        .map(|s| s.site_key.clone())
        .unwrap_or_default();
    let accept = site_key.clone();
    let mut app_shield =
        base()?
            .classify(classifier.clone())
            .pow_with(config.pow_secret(), move |l| {
                let l = l.when_challenged().protect_paths(["/app/protected"])?;
                Ok(if accept.is_empty() {
                    l
                } else {
                    l.accept_site_tokens(&accept)
                })
            });
    let mut ready_store = None;
    if config.store.backend == Backend::Redis {
        let st = &config.store;
        let policy = match st.on_failure {
            OnFailure::Local => FailurePolicy::LocalFallback {
                instances: st.instances.max(1),
            },
            OnFailure::Open => FailurePolicy::FailOpen,
            OnFailure::Closed => FailurePolicy::FailClosed,
        };
        let builder = if st.cluster_nodes.is_empty() {
            RedisStore::builder(&st.redis_url)
        } else {
            RedisStore::cluster_builder(st.cluster_nodes.iter().cloned())
        };
        let store = builder
            .prefix(st.prefix.clone())
            .timeout(std::time::Duration::from_millis(st.timeout_ms.max(1)))
            .failure_policy(policy)
            .connect_lazy()
            .map_err(|e| ConfigProblem(format!("store.redis_url: {e}")))?;
        ready_store = Some(store.clone());
        app_shield = app_shield.redis(store);
    }
    let app_shield = app_shield
        .build()
        .map_err(|e| ConfigProblem(e.to_string()))?;
    // The demo's own pages and diagnostics: the same shield, but the classifier only
    // annotates (so `/api/whoami` shows a verdict to any client, curl included), sharing
    // the sample app's counters.
    let diag_shield = base()?
        .classify_layer(ClassifyLayer::new(classifier.clone()).dry_run(true))
        .rate_store(app_shield.rate_store().clone())
        .single_use_store(app_shield.single_use_store().clone())
        .build()
        .map_err(|e| ConfigProblem(e.to_string()))?;
    let captcha_store = app_shield.rate_store().clone();
    // 602TechSec: each key's own hourly quota (from its principal), on the configured
    // store, so a fleet keeps one quota per key; the fallback quota only applies to a key
    // configured without one.
    let techsec_limit = diag_shield.rate_limit_layer(tower_shield::core::Quota::per_hour(1000));
    let pow = app_shield
        .pow()
        .cloned()
        .ok_or_else(|| ConfigProblem("pow: not configured".into()))?;
    // Signed /verus/classify requests are single use on the same store.
    let replay_store = app_shield.single_use_store().clone();
    let sample = OpenApiRouter::new()
        .routes(routes!(app_page))
        .routes(routes!(app_data))
        .routes(routes!(app_protected))
        // The layer answers these itself (interstitial scripts and verify); the route makes
        // sure such requests reach the sample app's shield.
        .route(
            "/.shield/pow/{*rest}",
            axum::routing::any(|| async { http::StatusCode::NOT_FOUND }),
        )
        .layer(app_shield);
    let cors_sites = sites.clone();
    // ECURTIY: the challenge API and the widget, mounted under /captcha.
    let mut captcha = Api::new(pow, sites.clone()).demo_protected_url("/app/protected");
    if !site_key.is_empty() {
        captcha = captcha.demo_page(&site_key);
    }
    // Site management, analytics and the dashboard (`/captcha/admin/`), on the same database.
    let admin = Admin::new(sites, admin_auth)
        .base_path(seeds::ecurtiy::PREFIX)
        .secure_cookie(config.admin.secure_cookie)
        .into_router();
    let captcha = captcha.into_router().merge(admin);
    let readiness = Readiness {
        sites: keep_sites.clone(),
        store: ready_store,
    };
    let diag = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(index))
        .routes(routes!(whoami))
        .route("/home.js", axum::routing::get(home::script))
        .layer(axum::Extension(HomePage(home::render(config).into())))
        .layer(diag_shield)
        // The probes: outside every limit (a load balancer's probe must never meet a 429).
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .layer(axum::Extension(readiness));
    let sample = diag.merge(sample);
    // The seed APIs, each with its own authentication and error shape, as documented.
    let judges = seeds::techsec::Judges {
        full: classifier.clone(),
        ua_only: config
            .classify
            .classifier_builder()
            .weights(tower_shield::classify::Weights {
                no_accept: 0,
                no_accept_language: 0,
                no_accept_encoding: 0,
                no_sec_ch_ua: 0,
                ..Default::default()
            })
            .build(),
    };
    let techsec = seeds::techsec::router(config.api_key_store()?, judges, techsec_limit)
        .map_err(ConfigProblem)?;
    let jwt_keys = seeds::jwt_keys::load(&config.jwt, &config.database.data_dir)?;
    tracing::info!(
        origin = jwt_keys.origin.word(),
        kid = %jwt_keys.signer.active_kid(),
        older = jwt_keys.older.len(),
        "engineering11: JWT signing key"
    );
    let jwt_key = jwt_keys.describe();
    let engineering11 = seeds::engineering11::router(
        config.api_key_store()?,
        seeds::engineering11::default_services(jwt_keys.signer, classifier.clone()),
    )
    .map_err(ConfigProblem)?;
    let (router, api) = sample
        .merge(seeds::auspex::router(config, classifier, replay_store)?)
        .merge(techsec)
        .merge(engineering11)
        .merge(seeds::ecurtiy::router(
            captcha,
            config.client_ip.layer()?,
            tower_shield::ratelimit::RateLimitLayer::new(Quota::per_minute(
                config.captcha.requests_per_minute_per_client,
            ))
            .key_prefix("captcha")
            .map_err(|e| ConfigProblem(e.to_string()))?
            .store(captcha_store.clone()),
            seeds::ecurtiy::SiteLimit::new(
                captcha_store,
                Quota::per_minute(config.captcha.requests_per_minute_per_site),
                keep_sites.clone(),
            ),
            seeds::ecurtiy::cors(cors_sites, config.captcha.allow_any_origin),
        ))
        .split_for_parts();
    let api = std::sync::Arc::new(api);
    let openapi = axum::routing::get(move || {
        let api = api.clone();
        async move { Json((*api).clone()) }
    });
    let router = router
        .route("/openapi.json", openapi)
        .route("/metrics", axum::routing::get(metrics_page))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeShieldRequestId))
        // Refusals are logged once by tower-shield itself (`tower_shield::refusal`); the
        // trace layer logs only a server error no layer accounted for.
        .layer(TraceLayer::new_for_http().on_failure(()).on_response(
            |res: &http::Response<_>, latency: std::time::Duration, _: &tracing::Span| {
                if res.status().is_server_error()
                    && res
                        .extensions()
                        .get::<tower_shield::core::Rejection>()
                        .is_none()
                {
                    tracing::error!(status = res.status().as_u16(), ?latency, "server error");
                }
            },
        ));
    Ok(Built {
        router,
        database_url: redact(&database_url),
        sites: keep_sites,
        one_time_admin,
        jwt_key,
    })
}

/// Gives axum's empty `404` (no route) and `405` (no such method on a route) a JSON body in
/// the shape of the seed the path belongs to: ECURTIY's under `/captcha`, Auspex's under
/// `/verus`, 602TechSec's everywhere else. Responses that already carry a body type pass as
/// they are; headers (`Allow`, `x-request-id`) are kept.
async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // Only what an error body needs, kept without copying the request's header map or path
    // on the way in (every request passes here; few become a 404 or 405).
    enum Shape {
        Ecurtiy,
        Auspex,
        TechSec,
    }
    let path = req.uri().path();
    let shape = if path == seeds::ecurtiy::PREFIX
        || path
            .strip_prefix(seeds::ecurtiy::PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        Shape::Ecurtiy
    } else if path.starts_with("/verus/") {
        Shape::Auspex
    } else {
        Shape::TechSec
    };
    // One value or none, as `RejectionContext` reads it (two values: a fresh id).
    let mut ids = req.headers().get_all("x-request-id").iter();
    let request_id = match (ids.next(), ids.next()) {
        (Some(id), None) => Some(id.clone()),
        _ => None,
    };
    let res = next.run(req).await;
    let status = res.status();
    let (code, message) = match status {
        http::StatusCode::NOT_FOUND => ("NOT_FOUND", "No such endpoint"),
        http::StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "This endpoint does not answer this method",
        ),
        _ => return res,
    };
    if res.headers().contains_key(http::header::CONTENT_TYPE) {
        return res;
    }
    let mut headers = http::HeaderMap::new();
    if let Some(id) = request_id {
        headers.insert("x-request-id", id);
    }
    let cx = tower_shield::core::reject::RejectionContext::from_headers(
        &headers,
        tower_shield::core::clock::Clock::now(&tower_shield::core::clock::SystemClock),
    );
    let error = ErrorObject {
        code: code.to_owned(),
        message: message.to_owned(),
        timestamp: cx.timestamp(),
        request_id: cx.request_id.clone(),
    };
    let body = match shape {
        Shape::Ecurtiy => serde_json::json!({ "success": false, "error": error }),
        Shape::Auspex => serde_json::json!({ "error": message, "statusCode": status.as_u16() }),
        Shape::TechSec => serde_json::json!({ "error": error }),
    };
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let mut out = (status, Json(body)).into_response();
    if cx.generated_id
        && let Ok(v) = http::HeaderValue::from_str(&cx.request_id)
    {
        out.headers_mut().insert("x-request-id", v);
    }
    for (k, v) in parts.headers.iter() {
        if !out.headers().contains_key(k) {
            out.headers_mut().insert(k, v.clone());
        }
    }
    out
}

/// The process's Prometheus recorder (installed once; tests build many routers).
fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "no /metrics: recorder not installed"))
                .ok()?;
            // Histograms need periodic upkeep to stay bounded.
            let upkeep = handle.clone();
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            Some(handle)
        })
        .as_ref()
}

/// Installs the demo's Prometheus recorder (call before serving).
pub fn install_metrics() {
    let _ = prometheus();
}

/// `GET /metrics`: every tower-shield counter, Prometheus text format.
async fn metrics_page() -> impl axum::response::IntoResponse {
    match prometheus() {
        Some(h) => (
            http::StatusCode::OK,
            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        ),
        None => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            String::new(),
        ),
    }
}

/// The index page.
#[utoipa::path(get, path = "/", tag = "demo",
    responses(
        (status = 200, description = "An HTML page listing the endpoints", content_type = "text/html", body = String),
        (status = 401, description = "An invalid API key was presented", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
async fn index(axum::Extension(page): axum::Extension<HomePage>) -> axum::response::Response {
    home::page_response(&page.0)
}

/// The home page's HTML, rendered once from the config.
#[derive(Clone)]
struct HomePage(std::sync::Arc<str>);

/// Every seed API endpoint the demo serves, for the home page: (seed, method, path, what).
pub const SEED_ENDPOINTS: &[(&str, &str, &str, &str)] = &[
    (
        "602TechSec",
        "POST",
        "/api/verify",
        "verify a request (X-API-Key)",
    ),
    (
        "602TechSec",
        "POST",
        "/api/v2/verify",
        "verify a request with its details",
    ),
    (
        "Auspex Verus",
        "POST",
        "/verus/classify",
        "classify an address (SigV4-style signed)",
    ),
    (
        "Engineering11",
        "POST",
        "/api/jwt/token",
        "a JWT for an API key",
    ),
    (
        "Engineering11",
        "GET",
        "/api/jwt/me",
        "who the bearer token says you are",
    ),
    (
        "Engineering11",
        "GET",
        "/.well-known/jwks.json",
        "the public signing keys",
    ),
    (
        "Engineering11",
        "GET",
        "/api/lookup/ip/{ip}",
        "look an address up",
    ),
    (
        "Engineering11",
        "POST",
        "/api/lookup/email",
        "look an e-mail address up",
    ),
    ("Engineering11", "POST", "/api/lookup/url", "look a URL up"),
    (
        "ECURTIY",
        "POST",
        "/captcha/api/challenge",
        "a proof-of-work challenge (site key)",
    ),
    (
        "ECURTIY",
        "POST",
        "/captcha/api/verify",
        "a solution for a single-use token",
    ),
    (
        "ECURTIY",
        "POST",
        "/captcha/api/validate",
        "validate a token server-side (secret key)",
    ),
    (
        "ECURTIY",
        "GET",
        "/captcha/api/sites",
        "list sites (admin token)",
    ),
    (
        "ECURTIY",
        "POST",
        "/captcha/api/sites",
        "create a site (admin token)",
    ),
    (
        "ECURTIY",
        "GET",
        "/captcha/api/sites/{id}",
        "one site (admin token)",
    ),
    (
        "ECURTIY",
        "PATCH",
        "/captcha/api/sites/{id}",
        "change a site (admin token)",
    ),
    (
        "ECURTIY",
        "DELETE",
        "/captcha/api/sites/{id}",
        "delete a site (admin token)",
    ),
    (
        "ECURTIY",
        "POST",
        "/captcha/api/sites/{id}/regenerate-keys",
        "new keys (admin token)",
    ),
    (
        "ECURTIY",
        "GET",
        "/captcha/api/analytics/{siteId}",
        "analytics: period 24h, 7d, 30d, 90d",
    ),
    ("ECURTIY", "GET", "/captcha/demo", "the widget's demo page"),
    ("ECURTIY", "GET", "/captcha/admin/", "the dashboard"),
];

/// Liveness: outside every limit.
#[utoipa::path(get, path = "/healthz", tag = "demo",
    responses(
        (status = 200, description = "Always `ok`", content_type = "text/plain", body = String),
    ))]
async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` asks.
#[derive(Clone)]
struct Readiness {
    /// The ECURTIY site database.
    sites: SqlSites,
    /// The configured Redis store, when `[store] backend = "redis"`.
    store: Option<RedisStore>,
}

/// How long one readiness check may take before it counts as failed.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The readiness checks.
#[derive(Serialize, ToSchema)]
pub struct ReadyChecks {
    /// `ok`, or why the site database cannot answer.
    database: String,
    /// `ok`, `not configured` (the memory store), or why Redis cannot answer.
    store: String,
}

/// The readiness answer.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `unavailable`.
    status: &'static str,
    checks: ReadyChecks,
}

/// Readiness: `503` while the site database or the configured store cannot answer (each
/// asked with a 2 s bound), `200` otherwise; outside every limit.
#[utoipa::path(get, path = "/readyz", tag = "demo",
    responses(
        (status = 200, description = "Database and store answer", body = Ready),
        (status = 503, description = "The database or the store cannot answer", body = Ready),
    ))]
async fn readyz(axum::Extension(r): axum::Extension<Readiness>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let db = async {
        match tokio::time::timeout(
            READY_TIMEOUT,
            sqlx::query("SELECT 1").execute(r.sites.pool()),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let store = async {
        match &r.store {
            None => Ok(false),
            Some(s) => match tokio::time::timeout(READY_TIMEOUT, s.ping()).await {
                Ok(Ok(())) => Ok(true),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".to_owned()),
            },
        }
    };
    let (db, store) = tokio::join!(db, store);
    let ok = db.is_ok() && store.is_ok();
    let checks = ReadyChecks {
        database: db.err().unwrap_or_else(|| "ok".to_owned()),
        store: match store {
            Ok(true) => "ok".to_owned(),
            Ok(false) => "not configured".to_owned(),
            Err(e) => e,
        },
    };
    let status = if ok {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Ready {
        status: if ok { "ready" } else { "unavailable" },
        checks,
    };
    (
        status,
        [(http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

/// What the shield decided about the caller.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    client_ip: ClientIpView,
    principal: Option<PrincipalView>,
    /// The classifier's verdict: human, certainty, risk score, flags, reasons, action.
    #[schema(value_type = Option<Object>)]
    verdict: Option<serde_json::Value>,
    request_id: Option<String>,
}

/// The client address.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientIpView {
    /// The address.
    ip: String,
    /// The key per-client state uses (the address, or the IPv6 /64).
    rate_key: String,
    /// Where the address came from.
    source: String,
}

/// The authenticated principal.
#[derive(Serialize, ToSchema)]
pub struct PrincipalView {
    /// The key id (never the key).
    id: String,
    /// How it authenticated.
    kind: String,
    /// What it may do.
    permissions: Vec<String>,
}

impl From<&Principal> for PrincipalView {
    fn from(p: &Principal) -> Self {
        Self {
            id: p.id.to_string(),
            kind: serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            permissions: p.permissions.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// What the shield decided about you.
#[utoipa::path(get, path = "/api/whoami", tag = "demo",
    responses(
        (status = 200, description = "The client IP, principal and verdict", body = WhoAmI),
        (status = 401, description = "An invalid API key was presented", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
async fn whoami(
    ip: ClientIp,
    principal: Option<Principal>,
    verdict: Option<Verdict>,
    headers: HeaderMap,
) -> Json<WhoAmI> {
    Json(WhoAmI {
        client_ip: ClientIpView {
            ip: ip.ip.to_string(),
            rate_key: ip.rate_key.to_string(),
            source: serde_json::to_value(ip.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        },
        principal: principal.as_ref().map(PrincipalView::from),
        verdict: verdict.and_then(|v| serde_json::to_value(v).ok()),
        request_id: headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    })
}

/// The sample app's page.
#[utoipa::path(get, path = "/app/", tag = "sample app",
    responses(
        (status = 200, description = "An HTML page", content_type = "text/html", body = String),
        (status = 401, description = "An invalid API key was presented", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
async fn app_page(ip: ClientIp) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sample app</title></head><body><h1>Sample app</h1>\
         <p>Hello, {ip}. Every request to this page went through the shield.</p></body></html>"
    ))
}

/// Sample data for an API-key holder.
#[derive(Serialize, ToSchema)]
pub struct AppData {
    /// Some numbers.
    data: Vec<u32>,
    /// The key id that asked.
    principal: String,
}

/// Sample API: needs an API key; the `Principal` extractor answers 401 without one.
#[utoipa::path(get, path = "/app/api/data", tag = "sample app",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Data for the key holder", body = AppData),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 429, description = "The key's hourly quota is used up", body = ErrorBody),
    ))]
async fn app_data(principal: Principal) -> Json<AppData> {
    Json(AppData {
        data: vec![1, 2, 3],
        principal: principal.id.to_string(),
    })
}

/// Needs a proof-of-work token (from `/captcha`) in `X-Shield-Token`, every time.
#[utoipa::path(get, path = "/app/protected", tag = "sample app",
    params(("X-Shield-Token" = Option<String>, Header, description = "An ect_ token from /captcha/api/verify, or a pass")),
    responses(
        (status = 200, description = "Data for a client that paid proof of work", body = AppData),
        (status = 401, description = "A proof-of-work token is needed (the body carries a challenge)"),
        (status = 403, description = "Blocked by the classifier", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
async fn app_protected(ip: ClientIp) -> Json<AppData> {
    Json(AppData {
        data: vec![4, 5, 6],
        principal: format!("pow:{ip}"),
    })
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:p@ss@db:5432/x?sslmode=require"),
            "postgres://u:***@db:5432/x?sslmode=require"
        );
        assert_eq!(super::redact("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(
            super::redact("sqlite://data/e.db?mode=rwc"),
            "sqlite://data/e.db?mode=rwc"
        );
        assert_eq!(super::redact("sqlite::memory:"), "sqlite::memory:");
    }
}
