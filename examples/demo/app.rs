//! The demo's router: a sample app wrapped in the `Shield`.

use axum::Json;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_shield::Shield;
use tower_shield::core::reject::MakeShieldRequestId;
use tower_shield::core::{ClientIp, Principal};

use crate::config::{Config, ConfigProblem};

/// Endpoints the index page and the start-up banner list: (method, path, what).
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/", "this page"),
    ("GET", "/healthz", "liveness probe"),
    (
        "GET",
        "/api/whoami",
        "what the shield decided about you (client IP, principal)",
    ),
];

/// The whole demo app for `config`.
pub fn router(config: &Config) -> Result<Router, ConfigProblem> {
    let shield = Shield::builder()
        .client_ip_layer(config.client_ip.layer()?)
        .build()
        .map_err(|e| ConfigProblem(e.to_string()))?;
    Ok(Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/whoami", get(whoami))
        .layer(shield)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeShieldRequestId))
        .layer(TraceLayer::new_for_http()))
}

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

async fn whoami(ip: ClientIp, principal: Option<Principal>, headers: HeaderMap) -> Json<Value> {
    Json(json!({
        "clientIp": {
            "ip": ip.ip,
            "rateKey": ip.rate_key,
            "source": ip.source,
        },
        "principal": principal,
        "verdict": null,
        "requestId": headers.get("x-request-id").and_then(|v| v.to_str().ok()),
    }))
}
