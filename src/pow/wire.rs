//! JSON bodies shared by the API router and the inline layer (no axum needed).

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

use super::engine::SolutionInfo;
use super::risk::Behavior;
use crate::core::ext::peer_addr;
use crate::core::reject::{Rejection, RejectionContext, X_REQUEST_ID};

/// A JSON response, `Cache-Control: no-store`.
pub(crate) fn json(status: StatusCode, v: &impl serde::Serialize) -> Response<Bytes> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    let mut res = Response::new(Bytes::from(bytes));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The proof-of-work error body: `{"success": false, "error": {code, message, timestamp,
/// requestId}}`, the rejection's headers, and the [`Rejection`] in the extensions.
pub(crate) fn error(headers: &HeaderMap, now: Duration, r: Rejection) -> Response<Bytes> {
    let cx = RejectionContext::from_headers(headers, now);
    let body = serde_json::json!({
        "success": false,
        "error": {
            "code": r.code(),
            "message": r.message(),
            "timestamp": cx.timestamp(),
            "requestId": cx.request_id,
        }
    });
    let mut res = json(r.status(), &body);
    for (k, v) in r.headers() {
        res.headers_mut().append(k, v.clone());
    }
    if cx.generated_id
        && let Ok(v) = HeaderValue::from_str(&cx.request_id)
    {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    res.extensions_mut().insert(r);
    res
}

/// The client address for binding: `ClientIp`, else the socket peer.
pub(crate) fn client_addr(ext: &http::Extensions) -> Option<IpAddr> {
    crate::core::ext::client_ip(ext)
        .map(|c| c.ip)
        .or_else(|| peer_addr(ext).map(|a| a.ip()))
}

pub(crate) fn non_negative(v: Option<f64>) -> Option<u64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| x.min(u64::MAX as f64) as u64)
}

/// The verify request's parts the engine needs.
pub(crate) fn solution_info(
    solve_time_ms: Option<f64>,
    fingerprint: Option<&str>,
    mouse_entropy: Option<f64>,
    interaction_count: Option<f64>,
    session_duration: Option<f64>,
    has_behavior: bool,
) -> SolutionInfo {
    SolutionInfo {
        solve_time_ms: non_negative(solve_time_ms),
        behavior: has_behavior.then(|| Behavior {
            mouse_entropy: mouse_entropy.filter(|x| x.is_finite()).unwrap_or(0.0),
            interaction_count: u32::try_from(non_negative(interaction_count).unwrap_or(0))
                .unwrap_or(u32::MAX),
            session_duration: non_negative(session_duration).unwrap_or(0),
        }),
        fingerprint: fingerprint.is_some_and(|f| !f.is_empty()),
    }
}

pub(crate) fn parse_nonce(s: &str) -> Option<u64> {
    // Canonical decimal only: what the client hashed is what we hash.
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}
