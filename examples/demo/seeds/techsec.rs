//! 602TechSec: `POST /api/verify` and `POST /api/v2/verify`, authenticated by `X-API-Key`
//! or `?apiKey=`, limited per key per hour with `X-RateLimit-*` headers, decided by the
//! classify engine on the submitted request. Errors in the seed's error object.

use std::net::IpAddr;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tower_shield::auth::{ApiKeyLayer, StaticApiKeys};
use tower_shield::classify::{Classifier, Verdict};
use tower_shield::core::clock::{Clock, SystemClock};
use tower_shield::core::reject::{
    MAX_REQUEST_ID_LEN, Rejection, RejectionContext, RejectionKind, Renderer, rfc3339,
};
use tower_shield::ratelimit::{HeaderMode, RateLimitLayer, RateLimitStatus};
use tower_shield::shield::ShieldRateStore;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::ErrorBody;

/// Largest request body read.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Most `additionalHeaders` entries.
pub const MAX_ADDITIONAL_HEADERS: usize = 32;

/// The classifiers the endpoints judge with.
#[derive(Clone)]
pub struct Judges {
    /// With header-consistency signals: when the caller forwarded the client's headers.
    pub full: Classifier,
    /// Address and user agent only: a verify call rarely carries the browser's headers,
    /// and their absence says nothing about the original client.
    pub ua_only: Classifier,
}

/// The `/api/verify` and `/api/v2/verify` routes with their key and rate-limit layers.
/// `limit` is built on the shield's store (`Shield::rate_limit_layer`), so with
/// `[store] backend = "redis"` every instance counts against one quota per key.
pub fn router(
    keys: StaticApiKeys,
    judges: Judges,
    limit: RateLimitLayer<ShieldRateStore>,
) -> Result<OpenApiRouter, String> {
    let auth = ApiKeyLayer::new(keys)
        .require("verify")
        .insecure_allow_query("apiKey")
        .map_err(|e| e.to_string())?;
    // Each key's own hourly quota (from its principal); the fallback only applies to a
    // key configured without one.
    let limit = limit.headers(HeaderMode::Legacy).expose_status(true);
    Ok(OpenApiRouter::new()
        .routes(routes!(verify_v1))
        .routes(routes!(verify_v2))
        .route_layer(limit)
        .route_layer(auth)
        .layer(Extension(judges)))
}

/// v1 request.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    /// The client's address.
    ip_address: String,
    /// The host the client asked for.
    host_name: String,
    /// The path the client asked for.
    request_path: String,
    /// The client's `User-Agent`.
    #[serde(default)]
    user_agent: Option<String>,
}

/// v2 request: v1 plus request details.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequestV2 {
    /// The v1 fields.
    #[serde(flatten)]
    base: VerifyRequest,
    /// Your id for this request, echoed back.
    #[serde(default)]
    request_id: Option<String>,
    /// Other request headers, by name.
    #[serde(default)]
    additional_headers: Option<std::collections::BTreeMap<String, String>>,
    /// The request's method.
    #[serde(default)]
    request_method: Option<String>,
    /// The request's `Content-Length`.
    #[serde(default)]
    content_length: Option<u64>,
}

/// v1 response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    is_allowed: bool,
    reason: String,
    /// 0-100.
    risk_score: u8,
    timestamp: String,
}

/// v2 response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponseV2 {
    is_allowed: bool,
    reason: String,
    /// 0-100.
    risk_score: u8,
    timestamp: String,
    request_id: String,
    security_flags: SecurityFlags,
    geo_location: GeoLocation,
    rate_limit_info: RateLimitInfo,
    /// The crawler `userAgent` claims, verified or forged (absent otherwise; an
    /// addition to the seed's shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    crawler: Option<super::CrawlerInfo>,
}

/// Network and client flags.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityFlags {
    is_vpn: bool,
    is_proxy: bool,
    is_bot: bool,
    is_tor: bool,
}

/// Where the address is, when a geo database is loaded (null otherwise).
#[derive(Serialize, ToSchema)]
pub struct GeoLocation {
    country: Option<String>,
    region: Option<String>,
    city: Option<String>,
}

/// The key's hourly quota after this request.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitInfo {
    remaining: u32,
    /// When the quota is whole again, RFC 3339.
    reset_time: String,
}

/// Why a body is refused (400 `INVALID_REQUEST`).
fn bad(headers: &HeaderMap, message: impl Into<std::borrow::Cow<'static, str>>) -> Response {
    refuse(
        headers,
        Rejection::new(RejectionKind::InvalidRequest, message),
    )
}

/// A rejection in the seed's error object.
fn refuse(headers: &HeaderMap, rejection: Rejection) -> Response {
    let cx = RejectionContext::from_headers(headers, SystemClock.now());
    Renderer::default()
        .reject_with::<axum::body::Body>(&cx, rejection)
        .map(tower_shield::core::ShieldBody::into_axum)
}

/// Reads at most [`BODY_LIMIT`] bytes (413 past it, without reading the rest) and parses.
async fn parse<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Response> {
    let body: Bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        refuse(
            headers,
            Rejection::new(
                RejectionKind::PayloadTooLarge,
                "Request body larger than 16 KiB",
            ),
        )
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        let msg = if e.is_data() {
            format!("Invalid request format: {e}")
        } else {
            "Invalid request format: the body must be a JSON object".to_owned()
        };
        bad(headers, msg)
    })
}

/// Checks the fields every version has; returns the address and a header map to judge.
fn common(req: &VerifyRequest) -> Result<(IpAddr, HeaderMap), String> {
    let (host, path, ua) = (&req.host_name, &req.request_path, req.user_agent.as_deref());
    let ip: IpAddr = req
        .ip_address
        .trim()
        .parse()
        .map_err(|_| "ipAddress: not an IPv4 or IPv6 address".to_owned())?;
    if !valid_host(host) {
        return Err("hostName: not a valid hostname".into());
    }
    if !path.starts_with('/') || path.len() > 2048 || path.bytes().any(|b| b.is_ascii_control()) {
        return Err("requestPath: must be an absolute path of at most 2048 characters".into());
    }
    let mut headers = HeaderMap::new();
    if let Some(ua) = ua {
        if ua.len() > 1024 {
            return Err("userAgent: at most 1024 characters".into());
        }
        let v = HeaderValue::from_str(ua)
            .map_err(|_| "userAgent: not a valid header value".to_owned())?;
        headers.insert(http::header::USER_AGENT, v);
    }
    Ok((ip, headers))
}

/// An RFC 1123 hostname (optionally with a port), or an IP literal.
fn valid_host(host: &str) -> bool {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.parse::<u16>().is_ok() => h,
        _ => host,
    };
    if host.parse::<IpAddr>().is_ok()
        || host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
    {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn reason(v: &Verdict) -> String {
    let codes: Vec<&str> = v.reason_codes().collect();
    let list = codes.join(", ");
    match v.action.as_str() {
        "allow" if codes.is_empty() => "Request allowed - clean IP and valid hostname".into(),
        "allow" => format!("Request allowed ({list})"),
        "monitor" => format!("Request allowed with monitoring ({list})"),
        "challenge" => format!("Request denied - verification required ({list})"),
        _ => format!("Request blocked ({list})"),
    }
}

fn rate_info(status: Option<&RateLimitStatus>) -> RateLimitInfo {
    let now = SystemClock.now();
    let (remaining, reset_after) = status
        .and_then(|s| s.policies.first())
        .map_or((0, Duration::ZERO), |p| (p.remaining, p.reset_after));
    RateLimitInfo {
        remaining,
        reset_time: rfc3339(now + reset_after),
    }
}

/// Judge a request (v1).
#[utoipa::path(post, path = "/api/verify", tag = "602TechSec",
    request_body(content = VerifyRequest, content_type = "application/json"),
    params(("apiKey" = Option<String>, Query, description = "The API key, when it cannot be sent as X-API-Key")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The decision", body = VerifyResponse),
        (status = 400, description = "Invalid request format", body = ErrorBody),
        (status = 401, description = "Invalid or missing API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `verify` permission", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 429, description = "The key's hourly limit is used up", body = ErrorBody),
    ))]
async fn verify_v1(
    Extension(judges): Extension<Judges>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req: VerifyRequest = match parse(&headers, body).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let (ip, judged) = match common(&req) {
        Ok(x) => x,
        Err(msg) => return bad(&headers, msg),
    };
    let v = judges.ua_only.classify(ip, &judged);
    Json(VerifyResponse {
        is_allowed: v.action.is_allowed(),
        reason: reason(&v),
        risk_score: v.risk_score,
        timestamp: rfc3339(SystemClock.now()),
    })
    .into_response()
}

/// Judge a request with its details (v2).
#[utoipa::path(post, path = "/api/v2/verify", tag = "602TechSec",
    request_body(content = VerifyRequestV2, content_type = "application/json"),
    params(("apiKey" = Option<String>, Query, description = "The API key, when it cannot be sent as X-API-Key")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The decision, flags, location and quota", body = VerifyResponseV2),
        (status = 400, description = "Invalid request format", body = ErrorBody),
        (status = 401, description = "Invalid or missing API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the `verify` permission", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
        (status = 429, description = "The key's hourly limit is used up", body = ErrorBody),
    ))]
async fn verify_v2(
    Extension(judges): Extension<Judges>,
    status: Option<Extension<RateLimitStatus>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req: VerifyRequestV2 = match parse(&headers, body).await {
        Ok(r) => r,
        Err(res) => return res,
    };
    let (ip, mut judged) = match common(&req.base) {
        Ok(x) => x,
        Err(msg) => return bad(&headers, msg),
    };
    let request_id = match req.request_id {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            id
        }
        Some(_) => return bad(&headers, "requestId: 1 to 128 visible ASCII characters"),
        // One id per request: the header's (set by the demo's request-id layer) when the
        // body names none.
        None => tower_shield::core::reject::request_id_from(&headers)
            .map_or_else(tower_shield::core::reject::new_request_id, str::to_owned),
    };
    // ...and the response header says the same as the body.
    let id_header = HeaderValue::from_str(&request_id).ok();
    if let Some(m) = &req.request_method
        && (m.is_empty() || m.len() > 16 || !m.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return bad(
            &headers,
            "requestMethod: an HTTP method such as GET or POST",
        );
    }
    let _ = req.content_length;
    let mut browser_headers = false;
    if let Some(extra) = &req.additional_headers {
        if extra.len() > MAX_ADDITIONAL_HEADERS {
            return bad(&headers, "additionalHeaders: at most 32 entries");
        }
        for (name, value) in extra {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) else {
                return bad(
                    &headers,
                    format!("additionalHeaders: invalid header {name:?}"),
                );
            };
            if value.len() > 4096 {
                return bad(
                    &headers,
                    "additionalHeaders: values of at most 4096 characters",
                );
            }
            browser_headers |= n == http::header::ACCEPT || n == http::header::ACCEPT_LANGUAGE;
            judged.append(n, v);
        }
    }
    let judge = if browser_headers {
        &judges.full
    } else {
        &judges.ua_only
    };
    let v = judge.classify(ip, &judged);
    let geo = v.geo.clone().unwrap_or_default();
    let mut res = Json(VerifyResponseV2 {
        is_allowed: v.action.is_allowed(),
        reason: reason(&v),
        risk_score: v.risk_score,
        timestamp: rfc3339(SystemClock.now()),
        request_id,
        security_flags: SecurityFlags {
            is_vpn: v.flags.vpn,
            is_proxy: v.flags.proxy,
            is_bot: v.flags.bot,
            is_tor: v.flags.tor,
        },
        geo_location: GeoLocation {
            country: geo.country.map(|s| s.to_string()),
            region: geo.region.map(|s| s.to_string()),
            city: geo.city.map(|s| s.to_string()),
        },
        rate_limit_info: rate_info(status.as_ref().map(|s| &s.0)),
        crawler: super::CrawlerInfo::of(&v),
    })
    .into_response();
    if let Some(v) = id_header {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in [
            "example.com",
            "a.b-c.example.",
            "localhost",
            "example.com:8443",
            "192.0.2.1",
            "[2001:db8::1]",
            "x_y.example",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "-a.com",
            "a-.com",
            "a..com",
            "exa mple.com",
            "a.com:99999",
            &"a".repeat(64),
            "http://x",
        ] {
            assert!(!valid_host(bad), "{bad}");
        }
    }
}
