//! ECURTIY under `/captcha`: the library's proof-of-work API (`tower_shield::pow::api`)
//! and widget, with its three API operations documented in the OpenAPI document.
//!
//! Every route here forwards to the library's own router (prefix stripped), so the
//! documented operations are the real ones; the schemas below describe the seed's wire
//! format, and schemathesis checks the real responses against them in CI.

// The request and response types only describe the wire format for the OpenAPI document;
// the library parses and writes the real messages.
#![allow(dead_code)]

use std::collections::HashSet;

use axum::Router;
use axum::extract::{Extension, Request};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tower_shield::client_ip::ClientIpLayer;
use tower_shield::core::{Quota, Rejection, RejectionKind};
use tower_shield::pow::SiteStore;
use tower_shield::ratelimit::RateLimitLayer;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the API is mounted.
pub const PREFIX: &str = "/captcha";

/// The `/captcha` routes over the library router `api` (built with `Api::into_router`);
/// `client_ip` keys the sign-in rate limit (behind a proxy, the proxy's address would
/// lock everyone out together).
///
/// Only routes without path parameters forward through a handler of their own (the three
/// API operations, and the sign-in, for its rate limit); everything else under `/captcha`
/// reaches the library router through `nest_service`. A request that matched an outer
/// route with parameters carries them in its extensions, and axum *appends* the inner
/// router's parameters to them: the library's `Path<String>` then sees two values and
/// refuses ("Wrong number of path arguments"). `nest_service`'s own tail parameter is the
/// one axum leaves out.
///
/// The three API operations are limited per client address (`limit`, on the demo's
/// configured store); `challenge` and `verify` answer browsers on the origins `cors`
/// allows (see [`cors`]); `validate` is server-to-server and sends no CORS headers.
pub fn router(
    api: Router,
    client_ip: ClientIpLayer,
    limit: RateLimitLayer<tower_shield::shield::ShieldRateStore>,
    site_limit: SiteLimit,
    cors: tower_http::cors::CorsLayer,
) -> OpenApiRouter {
    let library = OpenApiRouter::with_openapi(AdminDoc::openapi())
        // The dashboard's sign-in costs an argon2 hash: at most 10 attempts a minute per
        // client address.
        .route(
            "/captcha/admin/login",
            axum::routing::get(forward).merge(
                axum::routing::post(forward).layer(
                    tower::ServiceBuilder::new()
                        .layer(client_ip.clone())
                        .layer(RateLimitLayer::new(Quota::per_minute(10).burst(10))),
                ),
            ),
        )
        // The widget's scripts, the demo page, site management, analytics and the
        // dashboard: the library router as it is (documented by `AdminDoc`).
        .nest_service(PREFIX, api.clone());
    let limited = tower::ServiceBuilder::new()
        .layer(client_ip.clone())
        .layer(limit.renderer(ecurtiy_renderer()));
    let browser = OpenApiRouter::new()
        .routes(routes!(challenge))
        .routes(routes!(verify))
        .layer(Extension(site_limit))
        .layer(limited.clone())
        // Outside the limit: a preflight costs nothing and names no site.
        .layer(cors);
    OpenApiRouter::new()
        .routes(routes!(validate))
        .layer(limited)
        .merge(browser)
        .layer(Extension(LibraryApi(api.clone())))
        .merge(library.layer(Extension(LibraryApi(api))))
}

/// Rate-limit refusals in ECURTIY's error shape (`RATE_LIMITED`, with `Retry-After`).
fn ecurtiy_renderer() -> tower_shield::core::reject::Renderer {
    use tower_shield::core::reject::{Rejection, RejectionContext, Renderer};
    Renderer::new(|r: &Rejection, cx: &RejectionContext| {
        let body = serde_json::json!({
            "success": false,
            "error": {
                "code": r.code(),
                "message": r.message(),
                "timestamp": cx.timestamp(),
                "requestId": cx.request_id,
            }
        });
        let mut res = http::Response::new(axum::body::Bytes::from(
            serde_json::to_vec(&body).unwrap_or_default(),
        ));
        *res.status_mut() = r.status();
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        res
    })
}

/// How long the snapshot of the sites' domains serves CORS decisions before it is read
/// again from the site database.
pub const ORIGINS_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// At most this many domains are kept in the snapshot (the first by the store's order);
/// origins of sites beyond it are refused, with a warning.
pub const MAX_ORIGIN_DOMAINS: usize = 10_000;

/// The domains of every active site, read from the site store at most every
/// [`ORIGINS_TTL`] (one reader at a time; the others wait for its answer).
#[derive(Clone)]
struct SiteDomains {
    sites: tower_shield::pow::admin::SqlSites,
    snapshot: std::sync::Arc<tokio::sync::Mutex<Option<DomainSnapshot>>>,
}

/// When the domains were read, and what they were.
type DomainSnapshot = (std::time::Instant, std::sync::Arc<HashSet<String>>);

impl SiteDomains {
    async fn current(&self) -> std::sync::Arc<HashSet<String>> {
        let mut g = self.snapshot.lock().await;
        if let Some((at, set)) = g.as_ref()
            && at.elapsed() < ORIGINS_TTL
        {
            return set.clone();
        }
        let set = match self.sites.list().await {
            Ok(list) => {
                if list.len() > MAX_ORIGIN_DOMAINS {
                    tracing::warn!(
                        sites = list.len(),
                        "cors: more sites than the domain snapshot holds"
                    );
                }
                let set: HashSet<String> = list
                    .into_iter()
                    .filter(|s| s.active)
                    .filter_map(|s| s.domain)
                    .take(MAX_ORIGIN_DOMAINS)
                    .map(|d| d.to_ascii_lowercase())
                    .collect();
                std::sync::Arc::new(set)
            }
            Err(e) => {
                // Keep the last good snapshot while the database cannot answer.
                tracing::warn!(error = %e, "cors: cannot read the sites' domains");
                if let Some((_, set)) = g.as_ref() {
                    return set.clone();
                }
                return std::sync::Arc::new(HashSet::new());
            }
        };
        *g = Some((std::time::Instant::now(), set.clone()));
        set
    }
}

/// The host of an `Origin` value (`http` or `https` only), lower-cased; `None` for
/// anything else (`null`, other schemes, garbage).
pub fn origin_host(origin: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(origin).ok()?;
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))?;
    let uri: http::uri::Authority = rest.parse().ok()?;
    if uri.as_str().contains('@') {
        return None;
    }
    Some(uri.host().to_ascii_lowercase())
}

/// CORS for `challenge` and `verify`: a page may call them from a browser when its
/// origin's host is the configured domain of an active site, or any origin once an active
/// site's domain is `*` (that site's explicit opt-in; looked up in `sites`, see
/// [`ORIGINS_TTL`]), or from any origin when `allow_any_origin`. Preflights are answered
/// for `POST` with `Content-Type` (cached by the browser ten minutes).
pub fn cors(
    sites: tower_shield::pow::admin::SqlSites,
    allow_any_origin: bool,
) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let domains = SiteDomains {
        sites,
        snapshot: Default::default(),
    };
    let origin = if allow_any_origin {
        AllowOrigin::any()
    } else {
        AllowOrigin::async_predicate(move |origin: http::HeaderValue, _parts| {
            let domains = domains.clone();
            async move {
                match origin_host(origin.as_bytes()) {
                    Some(host) => {
                        let set = domains.current().await;
                        set.contains(&host) || set.contains("*")
                    }
                    None => false,
                }
            }
        })
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([http::Method::POST])
        .allow_headers([http::header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600))
}

/// The site management and analytics operations: documented here, served by the library
/// router behind `nest_service` (see [`router`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_sites,
    create_site,
    get_site,
    patch_site,
    delete_site,
    regenerate_keys,
    analytics
))]
struct AdminDoc;

#[derive(Clone)]
struct LibraryApi(Router);

/// Hands the request to the library router with `/captcha` stripped from its path.
async fn forward(Extension(LibraryApi(api)): Extension<LibraryApi>, mut req: Request) -> Response {
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let inner = pq
        .strip_prefix(PREFIX)
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    if let Ok(uri) = inner.parse() {
        *req.uri_mut() = uri;
    }
    match api.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// `POST /api/challenge` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeRequest {
    /// The public site key (`eck_live_...`).
    site_key: String,
}

/// A proof-of-work challenge.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeResponse {
    /// `ch_...`, signed: it carries everything needed to verify the solution.
    challenge_id: String,
    /// Hash `prefix` followed by the decimal nonce with SHA-256.
    prefix: String,
    /// Leading zero bits the hash needs (14-18).
    difficulty: u8,
    /// RFC 3339, five minutes after issue.
    expires_at: String,
    /// `checkbox` or `invisible`.
    mode: String,
}

/// Behavioural data from the widget.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Behavioral {
    mouse_entropy: Option<f64>,
    interaction_count: Option<f64>,
    session_duration: Option<f64>,
}

/// `POST /api/verify` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    challenge_id: String,
    /// The nonce that solves the challenge (a number, or its decimal string).
    nonce: u64,
    solve_time_ms: Option<f64>,
    fingerprint: Option<String>,
    behavioral: Option<Behavioral>,
}

/// A single-use verification token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    success: bool,
    /// `ect_...`, valid five minutes, usable once.
    token: String,
    expires_at: String,
}

/// `POST /api/validate` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateRequest {
    token: String,
    /// The site's secret key (`ecs_live_...`).
    secret_key: String,
}

/// What the verification found.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateData {
    passed: bool,
    /// 0.0-1.0; a verification passes below 0.7.
    risk_score: f64,
    solve_time_ms: u64,
    created_at: String,
}

/// The validation result.
#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    success: bool,
    data: ValidateData,
}

/// ECURTIY's error body.
#[derive(Serialize, ToSchema)]
pub struct EcurtiyError {
    /// Always `false`.
    success: bool,
    error: crate::app::ErrorObject,
}

/// Generate a proof-of-work challenge for a site.
#[utoipa::path(post, path = "/captcha/api/challenge", tag = "ECURTIY",
    request_body(content = ChallengeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A challenge", body = ChallengeResponse),
        (status = 400, description = "INVALID_REQUEST", body = EcurtiyError),
        (status = 401, description = "INVALID_SITE_KEY", body = EcurtiyError),
        (status = 403, description = "SITE_INACTIVE", body = EcurtiyError),
        (status = 413, description = "Body too large", body = EcurtiyError),
        (status = 429, description = "QUOTA_EXCEEDED or RATE_LIMITED", body = EcurtiyError),
    ))]
async fn challenge(
    api: Extension<LibraryApi>,
    Extension(site_limit): Extension<SiteLimit>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let bytes = match axum::body::to_bytes(body, tower_shield::pow::api::DEFAULT_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            let r = Rejection::new(
                RejectionKind::PayloadTooLarge,
                "The request body is too large or unreadable",
            );
            return site_limit.refuse(&parts.headers, now, r);
        }
    };
    if let Some(refused) = site_limit.check(&parts.headers, &bytes, now).await {
        return refused;
    }
    forward(
        api,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    )
    .await
}

/// The per-site challenge limit: every client of one site together may ask for at most
/// `quota` challenges (`[captcha] requests_per_minute_per_site`), on the demo's store, so a
/// fleet shares it. It stands beside the per-address limit: one address cannot exhaust a
/// site's budget alone, and many addresses cannot flood one site's widget unnoticed.
///
/// Only a site the database knows, and that is active, is counted: a made-up site key is
/// left to the library (`INVALID_SITE_KEY`) and never takes a counter, so random keys
/// cannot fill the rate table.
#[derive(Clone)]
pub struct SiteLimit {
    store: tower_shield::shield::ShieldRateStore,
    gcra: tower_shield::core::quota::Gcra,
    sites: tower_shield::pow::admin::SqlSites,
}

impl SiteLimit {
    /// `quota` per site of `sites`, on `store`.
    pub fn new(
        store: tower_shield::shield::ShieldRateStore,
        quota: Quota,
        sites: tower_shield::pow::admin::SqlSites,
    ) -> Self {
        Self {
            store,
            gcra: quota.gcra(),
            sites,
        }
    }

    /// `Some(429)` when the challenge's site is over its quota. A body that names no
    /// well-formed site key, or a key of no active site, is left to the library (it
    /// answers `INVALID_REQUEST`, `INVALID_SITE_KEY` or `SITE_INACTIVE`); a store that
    /// cannot answer lets the request on (the per-address limit still holds), with a
    /// warning.
    async fn check(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: std::time::Duration,
    ) -> Option<Response> {
        use tower_shield::core::store::{CheckMode, RateCheck, RateStore};
        let site_key = serde_json::from_slice::<ChallengeRequest>(body)
            .ok()?
            .site_key;
        let well_formed = (1..=MAX_SITE_KEY_LEN).contains(&site_key.len())
            && site_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !well_formed {
            return None;
        }
        match self.sites.site_by_key(&site_key).await {
            Ok(Some(site)) if site.active => {}
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "captcha: site lookup failed; per-site limit skipped");
                return None;
            }
        }
        let key = format!("captcha-site:{{{site_key}}}");
        let check = RateCheck {
            key: &key,
            gcra: self.gcra,
            cost: 1,
        };
        match self.store.check(&[check], CheckMode::Charge).await {
            Ok(outcome) if outcome.allowed() => None,
            Ok(outcome) => {
                let wait = outcome.results.first().map_or(0, |r| r.retry_after_ns);
                let r = Rejection::new(
                    RejectionKind::RateLimited,
                    "This site has asked for too many challenges. Retry shortly.",
                )
                .with_retry_after(std::time::Duration::from_nanos(wait));
                Some(self.refuse(headers, now, r))
            }
            Err(e) => {
                tracing::warn!(error = %e, "captcha: per-site limit store failed; letting the challenge on");
                None
            }
        }
    }

    fn refuse(
        &self,
        headers: &http::HeaderMap,
        now: std::time::Duration,
        r: Rejection,
    ) -> Response {
        let cx = tower_shield::core::reject::RejectionContext::from_headers(headers, now);
        ecurtiy_renderer()
            .refuse_with::<axum::body::Body>(tower_shield::core::metrics::Layer::Pow, &cx, r)
            .map(axum::body::Body::new)
    }
}

/// Site keys longer than this are not counted (the library refuses them anyway).
const MAX_SITE_KEY_LEN: usize = 128;

/// Submit a solution and behavioural data for a single-use token.
#[utoipa::path(post, path = "/captcha/api/verify", tag = "ECURTIY",
    request_body(content = VerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A token", body = VerifyResponse),
        (status = 400, description = "INVALID_REQUEST, CHALLENGE_EXPIRED or INVALID_SOLUTION", body = EcurtiyError),
        (status = 401, description = "INVALID_SITE_KEY", body = EcurtiyError),
        (status = 403, description = "HIGH_RISK_SCORE or SITE_INACTIVE", body = EcurtiyError),
        (status = 413, description = "Body too large", body = EcurtiyError),
        (status = 429, description = "RATE_LIMITED", body = EcurtiyError),
    ))]
async fn verify(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// Validate a token server-side (marks it used).
#[utoipa::path(post, path = "/captcha/api/validate", tag = "ECURTIY",
    request_body(content = ValidateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The verification", body = ValidateResponse),
        (status = 400, description = "INVALID_REQUEST", body = EcurtiyError),
        (status = 401, description = "INVALID_SECRET_KEY, INVALID_TOKEN, TOKEN_EXPIRED or TOKEN_USED", body = EcurtiyError),
        (status = 413, description = "Body too large", body = EcurtiyError),
        (status = 429, description = "RATE_LIMITED", body = EcurtiyError),
    ))]
async fn validate(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

// ---------------------------------------------------------------- site management

/// Fields of a site to create (`name` required) or change (absent fields keep their
/// value; `domain` and `monthlyQuota` may be `null` to clear them).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteFields {
    /// 1 to 100 characters, no control characters.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// A host name such as `shop.example.com`.
    domain: Option<String>,
    /// `checkbox` or `invisible`.
    mode: Option<WidgetMode>,
    /// Base difficulty in leading zero bits.
    #[schema(minimum = 14, maximum = 18)]
    difficulty: Option<u8>,
    /// Inactive sites get SITE_INACTIVE.
    active: Option<bool>,
    /// Verifications allowed per calendar month (UTC); `null` for no limit.
    #[schema(minimum = 1, maximum = 1_000_000_000_000u64)]
    monthly_quota: Option<u64>,
}

/// How the widget presents itself.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WidgetMode {
    Checkbox,
    Invisible,
}

/// A site (its secret key is stored hashed and never shown again).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteBody {
    /// `site_...`, stable across key regeneration.
    id: String,
    name: String,
    domain: Option<String>,
    /// The public site key, `eck_live_...`.
    site_key: String,
    mode: WidgetMode,
    difficulty: u8,
    active: bool,
    monthly_quota: Option<u64>,
    /// Verifications recorded this calendar month (UTC).
    verifications_this_month: u64,
    created_at: String,
    updated_at: String,
}

/// A site with its new secret key, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteWithSecret {
    #[serde(flatten)]
    site: SiteBody,
    /// `ecs_live_...`: for `/api/validate`; keep it on the server.
    secret_key: String,
}

/// One site.
#[derive(Serialize, ToSchema)]
pub struct SiteResponse {
    success: bool,
    data: SiteBody,
}

/// Every site.
#[derive(Serialize, ToSchema)]
pub struct SiteListResponse {
    success: bool,
    data: Vec<SiteBody>,
}

/// A site with its keys.
#[derive(Serialize, ToSchema)]
pub struct SiteKeysResponse {
    success: bool,
    data: SiteWithSecret,
}

/// What was deleted.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    id: String,
    deleted: bool,
}

/// A deletion.
#[derive(Serialize, ToSchema)]
pub struct DeletedResponse {
    success: bool,
    data: Deleted,
}

/// `period`.
#[derive(Deserialize, ToSchema)]
pub enum PeriodParam {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
    #[serde(rename = "90d")]
    Quarter,
}

/// Totals over the period.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsSummary {
    total_verifications: u64,
    passed_verifications: u64,
    failed_verifications: u64,
    /// Percent, one decimal.
    pass_rate: f64,
    avg_solve_time_ms: u64,
    avg_risk_score: f64,
}

/// One bucket: an hour (24h) or a UTC day.
#[derive(Serialize, ToSchema)]
pub struct ChartPoint {
    /// The bucket's start, RFC 3339.
    date: String,
    total: u64,
    passed: u64,
    failed: u64,
}

/// One verification.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentVerification {
    passed: bool,
    risk_score: Option<f64>,
    solve_time_ms: Option<u64>,
    /// The error code of a failure.
    error: Option<String>,
    created_at: String,
}

/// Analytics of a site.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsResponse {
    success: bool,
    site_id: String,
    period: String,
    summary: AnalyticsSummary,
    chart_data: Vec<ChartPoint>,
    /// The last 10 in the period, newest first.
    recent_verifications: Vec<RecentVerification>,
}

/// List every site.
#[utoipa::path(get, path = "/captcha/api/sites", tag = "ECURTIY admin",
    params(("Authorization" = String, Header, description = "`Bearer <admin token>` (or a dashboard session cookie)")),
    responses(
        (status = 200, description = "The sites", body = SiteListResponse),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn list_sites(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// Create a site with generated keys.
#[utoipa::path(post, path = "/captcha/api/sites", tag = "ECURTIY admin",
    params(("Authorization" = String, Header, description = "`Bearer <admin token>`; with the session cookie instead, also `X-CSRF-Token`")),
    request_body(content = SiteFields, content_type = "application/json"),
    responses(
        (status = 201, description = "The site and its keys (the secret key is shown only now)", body = SiteKeysResponse,
            links(
                ("GetSite" = (operation_id = "get_site", parameters(("id" = "$response.body#/data/id")))),
                ("PatchSite" = (operation_id = "patch_site", parameters(("id" = "$response.body#/data/id")))),
                ("RegenerateKeys" = (operation_id = "regenerate_keys", parameters(("id" = "$response.body#/data/id")))),
                ("Analytics" = (operation_id = "analytics", parameters(("siteId" = "$response.body#/data/id")))),
                ("DeleteSite" = (operation_id = "delete_site", parameters(("id" = "$response.body#/data/id")))),
            )),
        (status = 400, description = "INVALID_REQUEST", body = EcurtiyError),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 403, description = "CSRF_FAILED", body = EcurtiyError),
        (status = 413, description = "Body too large", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn create_site(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// One site.
#[utoipa::path(get, path = "/captcha/api/sites/{id}", tag = "ECURTIY admin",
    params(("id" = String, Path, description = "`site_...`"),
           ("Authorization" = String, Header, description = "`Bearer <admin token>`")),
    responses(
        (status = 200, description = "The site", body = SiteResponse),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 404, description = "NOT_FOUND", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn get_site(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// Change a site's settings.
#[utoipa::path(patch, path = "/captcha/api/sites/{id}", tag = "ECURTIY admin",
    params(("id" = String, Path, description = "`site_...`"),
           ("Authorization" = String, Header, description = "`Bearer <admin token>`")),
    request_body(content = SiteFields, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed site", body = SiteResponse),
        (status = 400, description = "INVALID_REQUEST", body = EcurtiyError),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 403, description = "CSRF_FAILED", body = EcurtiyError),
        (status = 404, description = "NOT_FOUND", body = EcurtiyError),
        (status = 413, description = "Body too large", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn patch_site(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// Delete a site and all its data.
#[utoipa::path(delete, path = "/captcha/api/sites/{id}", tag = "ECURTIY admin",
    params(("id" = String, Path, description = "`site_...`"),
           ("Authorization" = String, Header, description = "`Bearer <admin token>`")),
    responses(
        (status = 200, description = "Deleted", body = DeletedResponse),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 403, description = "CSRF_FAILED", body = EcurtiyError),
        (status = 404, description = "NOT_FOUND", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn delete_site(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// New site and secret keys; the old ones stop working.
#[utoipa::path(post, path = "/captcha/api/sites/{id}/regenerate-keys", tag = "ECURTIY admin",
    params(("id" = String, Path, description = "`site_...`"),
           ("Authorization" = String, Header, description = "`Bearer <admin token>`")),
    responses(
        (status = 200, description = "The site and its new keys", body = SiteKeysResponse),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 403, description = "CSRF_FAILED", body = EcurtiyError),
        (status = 404, description = "NOT_FOUND", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn regenerate_keys(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

/// Verification analytics of a site.
#[utoipa::path(get, path = "/captcha/api/analytics/{siteId}", tag = "ECURTIY admin",
    params(("siteId" = String, Path, description = "`site_...`"),
           ("period" = inline(Option<PeriodParam>), Query, description = "24h (hourly buckets), 7d (default), 30d or 90d (daily)"),
           ("Authorization" = String, Header, description = "`Bearer <admin token>`")),
    responses(
        (status = 200, description = "Summary, chart data and the last 10 verifications", body = AnalyticsResponse),
        (status = 400, description = "INVALID_REQUEST (a bad period)", body = EcurtiyError),
        (status = 401, description = "UNAUTHORIZED", body = EcurtiyError),
        (status = 404, description = "NOT_FOUND", body = EcurtiyError),
        (status = 503, description = "The database is unavailable", body = EcurtiyError),
    ))]
async fn analytics(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}
