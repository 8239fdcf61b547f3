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

use crate::config::{Backend, Config, ConfigProblem};
use tower_shield::redis::RedisStore;

/// Endpoints the index page and the start-up banner list: (method, path, what).
pub const ENDPOINTS: &[(&str, &str, &str)] = &[
    ("GET", "/", "this page"),
    ("GET", "/healthz", "liveness probe"),
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

/// The whole demo app for `config`. Needs a Tokio runtime (the Redis store connects lazily).
pub fn router(config: &Config) -> Result<Router, ConfigProblem> {
    let mut shield = Shield::builder()
        .client_ip_layer(config.client_ip.layer()?)
        .api_keys(config.api_key_store()?)
        .rate_limit(config.client_quota());
    if config.store.backend == Backend::Redis {
        let store = RedisStore::builder(&config.store.redis_url)
            .prefix(config.store.prefix.clone())
            .connect_lazy()
            .map_err(|e| ConfigProblem(format!("store.redis_url: {e}")))?;
        shield = shield.redis(store);
    }
    let shield = shield.build().map_err(|e| ConfigProblem(e.to_string()))?;
    Ok(Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/whoami", get(whoami))
        .route("/app/", get(app_page))
        .route("/app/api/data", get(app_data))
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

async fn app_page(ip: ClientIp) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sample app</title></head><body><h1>Sample app</h1>\
         <p>Hello, {ip}. Every request to this page went through the shield.</p></body></html>"
    ))
}

/// A handler that needs an API key: the `Principal` extractor answers 401 without one.
async fn app_data(principal: Principal) -> Json<Value> {
    Json(json!({
        "data": [1, 2, 3],
        "principal": principal.id,
    }))
}
