//! Auspex Verus: `POST /verus/classify {ipAddress}` -> `{human, certainty}`, signed with
//! the Verus dialect of SigV4. Errors in the seed's own shape: `{"error", "statusCode"}`.

use std::net::IpAddr;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tower_shield::classify::Classifier;
use tower_shield::core::reject::{Rejection, RejectionContext, Renderer};
use tower_shield::core::store::SingleUseStore;
use tower_shield::signature::{Dialect, SignatureLayer, StaticKeys, Verifier};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, ConfigProblem};

/// The largest body the endpoint reads (an address in JSON is tiny).
const BODY_LIMIT: usize = 4 * 1024;

/// The request body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassifyRequest {
    /// IPv4 or IPv6 address to classify.
    ip_address: String,
    /// The client's `User-Agent` (an addition to the seed): with it, a claimed crawler is
    /// checked against its operator's published ranges.
    #[serde(default)]
    user_agent: Option<String>,
}

/// The classification.
#[derive(Serialize, ToSchema)]
pub struct ClassifyResponse {
    /// `true` if likely a human user.
    human: bool,
    /// Confidence, 0-100.
    certainty: u8,
    /// The crawler `userAgent` claims, verified or forged (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    crawler: Option<super::CrawlerInfo>,
}

/// The seed's error shape.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuspexError {
    /// What went wrong.
    error: String,
    /// The HTTP status, repeated.
    status_code: u16,
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = AuspexError {
        error: message.to_owned(),
        status_code: status.as_u16(),
    };
    (status, Json(body)).into_response()
}

/// Renders signature rejections in the Auspex shape.
fn renderer() -> Renderer {
    Renderer::new(|r: &Rejection, _cx: &RejectionContext| {
        let body = serde_json::to_vec(&AuspexError {
            error: r.message().to_owned(),
            status_code: r.status().as_u16(),
        })
        .unwrap_or_default();
        let mut res = http::Response::new(Bytes::from(body));
        *res.status_mut() = r.status();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        res
    })
}

/// The `/verus/classify` routes, with their signature layer. Each signed request is
/// accepted once: its signature is marked used in `replay` (the demo's configured store,
/// memory or Redis, so a replay to another instance of a fleet is refused too) for the
/// signature's validity window; a replay answers 401.
pub fn router<R: SingleUseStore>(
    config: &Config,
    classifier: Classifier,
    replay: R,
) -> Result<OpenApiRouter, ConfigProblem> {
    let mut keys = StaticKeys::new();
    for (i, k) in config.signing_keys.iter().enumerate() {
        keys = keys
            .key(&k.id, k.secret.as_str())
            .map_err(|e| ConfigProblem(format!("signing_keys[{i}]: {e}")))?;
    }
    let verifier = Verifier::new(Dialect::verus(), keys).body_limit(BODY_LIMIT);
    let layer = SignatureLayer::new(verifier)
        .renderer(renderer())
        .replay_protection(replay);
    Ok(OpenApiRouter::new()
        .routes(routes!(classify))
        .route_layer(layer)
        .with_state(())
        .layer(axum::Extension(classifier)))
}

/// Classify an IP address as human or automated traffic.
#[utoipa::path(post, path = "/verus/classify", tag = "Auspex Verus",
    request_body(content = ClassifyRequest, content_type = "application/json"),
    params(
        ("X-Amz-Date" = String, Header, description = "Request time, YYYYMMDDTHHMMSSZ"),
        ("Authorization" = String, Header, description = "HMAC-SHA256 Credential=KEY/YYYYMMDD/verus/aws4_request, SignedHeaders=x-amz-date, Signature=HEX"),
    ),
    responses(
        (status = 200, description = "The classification", body = ClassifyResponse),
        (status = 400, description = "Invalid IP address format or missing required fields", body = AuspexError),
        (status = 401, description = "Invalid or missing API credentials, or an expired timestamp", body = AuspexError),
        (status = 413, description = "Body too large", body = AuspexError),
    ))]
async fn classify(
    axum::Extension(classifier): axum::Extension<Classifier>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return error(
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        );
    }
    let req: ClassifyRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) if e.is_data() => {
            return error(StatusCode::BAD_REQUEST, "Missing required field: ipAddress");
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "Invalid JSON body"),
    };
    let Ok(ip) = req.ip_address.trim().parse::<IpAddr>() else {
        return error(StatusCode::BAD_REQUEST, "Invalid IP address format");
    };
    let verdict = match req.user_agent.as_deref() {
        None => classifier.classify_ip(ip),
        Some(ua) => {
            let Ok(ua) = header::HeaderValue::from_str(ua) else {
                return error(StatusCode::BAD_REQUEST, "Invalid userAgent");
            };
            if ua.len() > 1024 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "userAgent: at most 1024 characters",
                );
            }
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, ua);
            classifier.classify(ip, &h)
        }
    };
    Json(ClassifyResponse {
        human: verdict.human,
        certainty: verdict.certainty,
        crawler: super::CrawlerInfo::of(&verdict),
    })
    .into_response()
}
