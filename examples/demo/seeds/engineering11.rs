//! Engineering11 Security API: JWT issuing and verification over a key ring with a JWKS,
//! and IPQS-shaped email, IP and URL lookups, all in-process.
//!
//! * `POST /api/jwt/token`: a token for a valid API key (`X-API-Key` or bearer); its
//!   subject is the key's principal id, its scopes the key's permissions.
//! * `GET /.well-known/jwks.json`: the public keys of the ring.
//! * `GET /api/jwt/me`: protected by `JwtLayer`; echoes the verified claims.
//! * `GET /api/lookup/ip/{ip}`, `POST /api/lookup/email`, `POST /api/lookup/url`.
//!
//! Self-contained (its own error schema) so tests can mount it without the rest of the demo.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use tower_shield::auth::{
    ApiKeyLayer, JwtAlgorithm, JwtClaims, JwtLayer, JwtSigner, StaticApiKeys,
};
use tower_shield::core::{Principal, Rejection, RejectionKind};
use tower_shield::intel::{EmailChecker, EmailResult, IpIntel, IpResult, UrlChecker, UrlResult};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The audience of the demo's tokens.
pub const AUDIENCE: &str = "engineering11-demo";
/// Verified tokens remembered by `/api/jwt/me`'s layer.
pub const VERIFIED_TOKENS: usize = 4096;
/// Largest lookup body read.
pub const BODY_LIMIT: usize = 8 * 1024;

/// What the routes share.
#[derive(Clone)]
pub struct Services {
    /// Issues tokens; its ring verifies them.
    pub signer: JwtSigner,
    /// IP lookups.
    pub ip: IpIntel,
    /// Email checks.
    pub email: EmailChecker,
    /// URL checks.
    pub urls: UrlChecker,
}

/// The Engineering11 routes. `keys` are the API keys that may obtain tokens.
pub fn router(keys: StaticApiKeys, services: Services) -> Result<OpenApiRouter, String> {
    let jwt = JwtLayer::new(services.signer.key_ring())
        .algorithms([
            JwtAlgorithm::RS256,
            JwtAlgorithm::ES256,
            JwtAlgorithm::EdDSA,
        ])
        .map_err(|e| e.to_string())?
        .audience(AUDIENCE)
        // A client repeating its token skips the RSA check; a key removed from the ring
        // ends its remembered tokens at once.
        .cache_verified(VERIFIED_TOKENS)
        .map_err(|e| e.to_string())?;
    let token = OpenApiRouter::new()
        .routes(routes!(issue_token))
        .route_layer(ApiKeyLayer::new(keys));
    let me = OpenApiRouter::new().routes(routes!(me)).route_layer(jwt);
    let open = OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(lookup_ip))
        .routes(routes!(lookup_email))
        .routes(routes!(lookup_url));
    Ok(token
        .merge(me)
        .merge(open)
        .layer(Extension(Arc::new(services))))
}

/// Every refusal: `{"error": {code, message, timestamp, requestId}}`.
#[derive(Serialize, ToSchema)]
pub struct E11Error {
    error: E11ErrorObject,
}

/// The error object.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct E11ErrorObject {
    /// A stable machine code, e.g. `INVALID_URL`.
    code: String,
    /// A human-readable message.
    message: String,
    /// RFC 3339 UTC.
    timestamp: String,
    /// The request id.
    request_id: String,
}

fn reject(kind: RejectionKind, message: &'static str) -> Response {
    Rejection::new(kind, message).into_response()
}

/// Reads and parses a JSON body of at most [`BODY_LIMIT`] bytes: a `Content-Length` over
/// the bound is refused before any byte is read, and a body without one is read only up
/// to the bound (413 then, the rest never read).
async fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<T, Rejection> {
    let too_large = || Rejection::new(RejectionKind::PayloadTooLarge, "Body larger than 8 KiB");
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let body: Bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| too_large())?;
    serde_json::from_slice(&body)
        .map_err(|_| Rejection::new(RejectionKind::InvalidRequest, "Invalid request format"))
}

/// An issued token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The JWT.
    token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until it expires.
    expires_in: u64,
    /// The key that signed it.
    kid: String,
    /// The audience it is for.
    audience: String,
}

/// A JWT for the calling API key.
#[utoipa::path(post, path = "/api/jwt/token", tag = "Engineering11",
    params(("X-API-Key" = Option<String>, Header, description = "The API key (or send it as a bearer token)")),
    responses(
        (status = 200, description = "A signed token", body = TokenResponse),
        (status = 401, description = "Invalid or missing API key", body = E11Error),
        (status = 500, description = "Signing failed", body = E11Error),
    ))]
async fn issue_token(Extension(s): Extension<Arc<Services>>, principal: Principal) -> Response {
    let scopes: Vec<&str> = principal.permissions.iter().map(|p| &**p).collect();
    match s.signer.sign_for(&principal.id, &scopes) {
        Ok(token) => Json(TokenResponse {
            token,
            token_type: "Bearer".into(),
            expires_in: tower_shield::auth::DEFAULT_TTL.as_secs(),
            kid: s.signer.active_kid(),
            audience: AUDIENCE.into(),
        })
        .into_response(),
        Err(_) => reject(RejectionKind::Misconfigured, "Signing failed"),
    }
}

/// A JSON Web Key Set.
#[derive(Serialize, ToSchema)]
pub struct JwksDoc {
    /// The public keys (RSA `n`/`e`, EC `x`/`y`, OKP `x`, with `kid`, `alg`, `use`).
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// The public keys that verify the demo's tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "Engineering11",
    responses((status = 200, description = "The key set", body = JwksDoc)))]
async fn jwks(Extension(s): Extension<Arc<Services>>) -> Response {
    s.signer.jwks_response().map(axum::body::Body::from)
}

/// The verified claims of the caller's token.
#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    /// `sub`.
    sub: Option<String>,
    /// Granted scopes.
    scopes: Vec<String>,
    /// `exp`.
    exp: u64,
    /// The key that verified the token.
    kid: String,
    /// Its algorithm.
    alg: String,
}

/// Who the bearer token says the caller is.
#[utoipa::path(get, path = "/api/jwt/me", tag = "Engineering11",
    params(("Authorization" = String, Header, description = "Bearer <token from /api/jwt/token>")),
    responses(
        (status = 200, description = "The verified claims", body = MeResponse),
        (status = 401, description = "Missing, invalid or expired token (WWW-Authenticate: Bearer)", body = E11Error),
        (status = 403, description = "The token lacks a required scope", body = E11Error),
    ))]
async fn me(claims: JwtClaims) -> Json<MeResponse> {
    Json(MeResponse {
        sub: claims.sub.as_deref().map(str::to_owned),
        scopes: claims.scopes.iter().map(|s| s.to_string()).collect(),
        exp: claims.exp,
        kid: claims.kid.to_string(),
        alg: claims.alg.as_str().into(),
    })
}

/// IPQS's IP result.
#[derive(Serialize, ToSchema)]
pub struct IpLookup {
    success: bool,
    /// 0-100.
    fraud_score: u8,
    proxy: bool,
    vpn: bool,
    tor: bool,
    bot_status: bool,
    is_hosting: bool,
    #[serde(rename = "ISP")]
    isp: Option<String>,
    #[serde(rename = "ASN")]
    asn: Option<u32>,
    country_code: Option<String>,
    region: Option<String>,
    city: Option<String>,
    /// `local` or `local+remote`.
    source: String,
    /// The classifier's reason codes.
    reasons: Vec<String>,
}

impl From<IpResult> for IpLookup {
    fn from(r: IpResult) -> Self {
        Self {
            success: r.success,
            fraud_score: r.fraud_score,
            proxy: r.proxy,
            vpn: r.vpn,
            tor: r.tor,
            bot_status: r.bot_status,
            is_hosting: r.is_hosting,
            isp: r.isp,
            asn: r.asn,
            country_code: r.country_code,
            region: r.region,
            city: r.city,
            source: r.source.into(),
            reasons: r.reasons.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// `?remote=true` asks the configured IPQS-compatible provider now. This type documents
/// the parameter in the OpenAPI document; [`remote_param`] parses it.
#[derive(Deserialize, utoipa::IntoParams)]
#[allow(dead_code)]
pub struct IpQuery {
    /// Wait for the remote provider (400 KEY_NOT_FOUND when this server has none).
    #[serde(default)]
    remote: Option<bool>,
}

/// `?remote=` as `true`/`false`; anything else is a 400 in the shared error shape (axum's
/// `Query` extractor would answer in plain text).
fn remote_param(uri: &axum::http::Uri) -> Result<bool, &'static str> {
    let mut remote = false;
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "remote" {
            remote = match v {
                "true" => true,
                "false" => false,
                _ => {
                    return Err("remote: true or false");
                }
            };
        }
    }
    Ok(remote)
}

/// IP intelligence for an address.
#[utoipa::path(get, path = "/api/lookup/ip/{ip}", tag = "Engineering11",
    params(("ip" = String, Path, description = "An IPv4 or IPv6 address"), IpQuery),
    responses(
        (status = 200, description = "The IPQS-shaped result", body = IpLookup),
        (status = 400, description = "Not an IP address, a bad `remote`, or KEY_NOT_FOUND: a remote lookup asked of a server with no provider key", body = E11Error),
        (status = 503, description = "The remote provider is unavailable", body = E11Error),
    ))]
async fn lookup_ip(
    Extension(s): Extension<Arc<Services>>,
    Path(ip): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return reject(RejectionKind::InvalidRequest, "Not an IP address");
    };
    let remote = match remote_param(&uri) {
        Ok(r) => r,
        Err(msg) => return reject(RejectionKind::InvalidRequest, msg),
    };
    if remote {
        return match s.ip.lookup_remote(ip).await {
            Ok(r) => Json(IpLookup::from(r)).into_response(),
            Err(e) => {
                let rejection = e.to_rejection();
                let mut res = rejection.clone().into_response();
                // A missing provider key is this server's configuration, but the client
                // asked for something it cannot give: not a server fault to report as 5xx.
                if rejection.kind() == RejectionKind::KeyNotFound {
                    *res.status_mut() = axum::http::StatusCode::BAD_REQUEST;
                }
                res
            }
        };
    }
    Json(IpLookup::from(s.ip.lookup(ip))).into_response()
}

/// An address to check.
#[derive(Deserialize, ToSchema)]
pub struct EmailRequest {
    /// The address.
    email: String,
}

/// IPQS's email result.
#[derive(Serialize, ToSchema)]
pub struct EmailLookup {
    valid: bool,
    disposable: bool,
    /// Free-mail provider.
    common: bool,
    /// Role account.
    generic: bool,
    /// 0-100.
    fraud_score: u8,
    domain: Option<String>,
    sanitized_email: Option<String>,
    reasons: Vec<String>,
}

impl From<EmailResult> for EmailLookup {
    fn from(r: EmailResult) -> Self {
        Self {
            valid: r.valid,
            disposable: r.disposable,
            common: r.common,
            generic: r.generic,
            fraud_score: r.fraud_score,
            domain: r.domain,
            sanitized_email: r.sanitized_email,
            reasons: r.reasons.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// Email validation.
#[utoipa::path(post, path = "/api/lookup/email", tag = "Engineering11",
    request_body(content = EmailRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The IPQS-shaped result (invalid addresses too, with valid: false)", body = EmailLookup),
        (status = 400, description = "Invalid request format", body = E11Error),
        (status = 413, description = "Body larger than 8 KiB", body = E11Error),
    ))]
async fn lookup_email(
    Extension(s): Extension<Arc<Services>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    match json_body::<EmailRequest>(&headers, body).await {
        Ok(r) => Json(EmailLookup::from(s.email.check(&r.email))).into_response(),
        Err(rej) => rej.into_response(),
    }
}

/// A URL to check.
#[derive(Deserialize, ToSchema)]
pub struct UrlRequest {
    /// The URL (a bare domain reads as `http://`).
    url: String,
}

/// IPQS's URL result.
#[derive(Serialize, ToSchema)]
pub struct UrlLookup {
    /// Phishing, malware, or risk 85 and up.
    #[serde(rename = "unsafe")]
    is_unsafe: bool,
    phishing: bool,
    malware: bool,
    suspicious: bool,
    /// 0-100.
    risk_score: u8,
    domain: String,
    reasons: Vec<String>,
}

impl From<UrlResult> for UrlLookup {
    fn from(r: UrlResult) -> Self {
        Self {
            is_unsafe: r.is_unsafe,
            phishing: r.phishing,
            malware: r.malware,
            suspicious: r.suspicious,
            risk_score: r.risk_score,
            domain: r.domain,
            reasons: r.reasons.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// URL safety.
#[utoipa::path(post, path = "/api/lookup/url", tag = "Engineering11",
    request_body(content = UrlRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The IPQS-shaped result", body = UrlLookup),
        (status = 400, description = "INVALID_URL, or an invalid request format", body = E11Error),
        (status = 413, description = "Body larger than 8 KiB", body = E11Error),
    ))]
async fn lookup_url(
    Extension(s): Extension<Arc<Services>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let r: UrlRequest = match json_body(&headers, body).await {
        Ok(r) => r,
        Err(rej) => return rej.into_response(),
    };
    match s.urls.check(&r.url) {
        Ok(res) => Json(UrlLookup::from(res)).into_response(),
        Err(_) => reject(RejectionKind::InvalidUrl, "The URL cannot be parsed"),
    }
}

/// The default lookups of the demo: embedded data, no blocklists, no remote provider.
pub fn default_services(
    signer: JwtSigner,
    classifier: tower_shield::classify::Classifier,
) -> Services {
    Services {
        signer,
        ip: IpIntel::new(classifier),
        email: EmailChecker::embedded(),
        urls: UrlChecker::new(),
    }
}
