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
use tower_shield::core::{ClientIp, Principal};
use tower_shield::pow::admin::{Admin, SqlSites};
use tower_shield::pow::api::Api;
use tower_shield::redis::{FailurePolicy, RedisStore};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Backend, Config, ConfigProblem, OnFailure};
use crate::seeds;
use tower_shield::classify::{Classifier, ClassifyLayer, Verdict};
use tower_shield::shield::ShieldBuilder;

/// Endpoints the index page and the start-up banner list: (method, path, what).
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/", "this page"),
    ("GET", "/healthz", "liveness probe"),
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
    let classifier = Classifier::embedded();
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
    if config.store.backend == Backend::Redis {
        let st = &config.store;
        let policy = match st.on_failure {
            OnFailure::Local => FailurePolicy::LocalFallback {
                instances: st.instances.max(1),
            },
            OnFailure::Open => FailurePolicy::FailOpen,
            OnFailure::Closed => FailurePolicy::FailClosed,
        };
        let store = RedisStore::builder(&st.redis_url)
            .prefix(st.prefix.clone())
            .timeout(std::time::Duration::from_millis(st.timeout_ms.max(1)))
            .failure_policy(policy)
            .connect_lazy()
            .map_err(|e| ConfigProblem(format!("store.redis_url: {e}")))?;
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
        .layer(app_shield.inner_body());
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
    let diag = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(index))
        .routes(routes!(healthz))
        .routes(routes!(whoami))
        .layer(diag_shield.inner_body());
    let sample = diag.merge(sample);
    // The seed APIs, each with its own authentication and error shape, as documented.
    let judges = seeds::techsec::Judges {
        full: classifier.clone(),
        ua_only: Classifier::builder()
            .weights(tower_shield::classify::Weights {
                no_accept: 0,
                no_accept_language: 0,
                no_accept_encoding: 0,
                no_sec_ch_ua: 0,
                ..Default::default()
            })
            .build(),
    };
    let techsec = seeds::techsec::router(config.api_key_store()?, judges).map_err(ConfigProblem)?;
    let (signer, key_source) =
        seeds::engineering11::signer_from_env_or_ephemeral().map_err(ConfigProblem)?;
    tracing::info!(key_source, kid = %signer.active_kid(), "engineering11: JWT signing key");
    let engineering11 = seeds::engineering11::router(
        config.api_key_store()?,
        seeds::engineering11::default_services(signer, classifier.clone()),
    )
    .map_err(ConfigProblem)?;
    let (router, api) = sample
        .merge(seeds::auspex::router(config, classifier, replay_store)?)
        .merge(techsec)
        .merge(engineering11)
        .merge(seeds::ecurtiy::router(captcha, config.client_ip.layer()?))
        .split_for_parts();
    let api = std::sync::Arc::new(api);
    let openapi = axum::routing::get(move || {
        let api = api.clone();
        async move { Json((*api).clone()) }
    });
    let router = router
        .route("/openapi.json", openapi)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeShieldRequestId))
        .layer(TraceLayer::new_for_http());
    Ok(Built {
        router,
        database_url: redact(&database_url),
        sites: keep_sites,
        one_time_admin,
    })
}

/// The index page.
#[utoipa::path(get, path = "/", tag = "demo",
    responses(
        (status = 200, description = "An HTML page listing the endpoints", content_type = "text/html", body = String),
        (status = 401, description = "An invalid API key was presented", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
async fn index() -> Html<String> {
    let rows: String = ENDPOINTS
        .iter()
        .map(|(m, p, what)| {
            format!("<li><code>{m} <a href=\"{p}\">{p}</a></code> &mdash; {what}</li>")
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>tower-shield demo</title></head><body>\
         <h1>tower-shield demo</h1>\
         <p>A sample app wrapped in <code>tower_shield::Shield</code>. Endpoints:</p>\
         <ul>{rows}</ul></body></html>"
    ))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "demo",
    responses(
        (status = 200, description = "Always `ok`", content_type = "text/plain", body = String),
        (status = 401, description = "An invalid API key was presented", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
async fn healthz() -> &'static str {
    "ok"
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
