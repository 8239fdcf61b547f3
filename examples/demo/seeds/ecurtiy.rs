//! ECURTIY under `/captcha`: the library's proof-of-work API (`tower_shield::pow::api`)
//! and widget, with its three API operations documented in the OpenAPI document.
//!
//! Every route here forwards to the library's own router (prefix stripped), so the
//! documented operations are the real ones; the schemas below describe the seed's wire
//! format, and schemathesis checks the real responses against them in CI.

// The request and response types only describe the wire format for the OpenAPI document;
// the library parses and writes the real messages.
#![allow(dead_code)]

use axum::Router;
use axum::extract::{Extension, Request};
use axum::response::Response;
use axum::routing::any;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tower_shield::core::Quota;
use tower_shield::ratelimit::RateLimitLayer;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the API is mounted.
pub const PREFIX: &str = "/captcha";

/// The `/captcha` routes over the library router `api` (built with `Api::into_router`).
pub fn router(api: Router) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(challenge))
        .routes(routes!(verify))
        .routes(routes!(validate))
        // The widget's scripts and the demo page: served by the library as they are.
        .route("/captcha/widget/{file}", axum::routing::get(forward))
        .route("/captcha/demo", axum::routing::get(forward))
        // Site management, analytics and the dashboard (library `pow::admin`). Sign-in
        // costs an argon2 hash: at most 10 attempts a minute per client address.
        .route("/captcha/api/sites", any(forward))
        .route("/captcha/api/sites/{*rest}", any(forward))
        .route("/captcha/api/analytics/{*rest}", any(forward))
        .route("/captcha/admin", any(forward))
        .route(
            "/captcha/admin/login",
            axum::routing::get(forward)
                .post(forward.layer(RateLimitLayer::new(Quota::per_minute(10).burst(10)))),
        )
        .route("/captcha/admin/{*rest}", any(forward))
        .layer(Extension(LibraryApi(api)))
}

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
async fn challenge(api: Extension<LibraryApi>, req: Request) -> Response {
    forward(api, req).await
}

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
