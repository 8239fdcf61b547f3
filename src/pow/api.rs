//! The ECURTIY-compatible HTTP API as an axum [`Router`] (features `pow` + `axum`).
//!
//! | route | body | answer |
//! |---|---|---|
//! | `POST /api/challenge` | `{siteKey}` | `{challengeId, prefix, difficulty, expiresAt, mode}` |
//! | `POST /api/verify` | `{challengeId, nonce, solveTimeMs, fingerprint, behavioral{mouseEntropy, interactionCount, sessionDuration}}` | `{success, token, expiresAt}` |
//! | `POST /api/validate` | `{token, secretKey}` | `{success, data{passed, riskScore, solveTimeMs, createdAt}}` |
//! | `GET /widget/shield-pow.js`, `/widget/worker.js`, `/widget/shield-pow.css` | | the browser widget |
//! | `GET /demo` (when [`Api::demo_page`] is set) | | a page with the widget |
//!
//! Mount it anywhere: `Router::new().nest("/captcha", Api::new(pow, sites).into_router())`
//! gives a client with base URL `http://host/captcha` the seed's paths unchanged.
//!
//! # Errors
//!
//! Every error is JSON with the seed's codes, in a shape both kinds of client read:
//! `{"success": false, "error": {"code": "CHALLENGE_EXPIRED", "message": "...",
//! "timestamp": "...", "requestId": "req_..."}}`: `success` for clients of the seed,
//! and the crate's shared `error` object (602TechSec's shape) for everything else. The
//! status is the [`RejectionKind`]'s (400 INVALID_SOLUTION / CHALLENGE_EXPIRED /
//! INVALID_REQUEST, 401 INVALID_SITE_KEY / TOKEN_EXPIRED / TOKEN_USED /
//! INVALID_SECRET_KEY / INVALID_TOKEN, 403 SITE_INACTIVE / HIGH_RISK_SCORE, 413
//! PAYLOAD_TOO_LARGE, 429 QUOTA_EXCEEDED, 503 when the single-use store fails), and the
//! response carries the [`Rejection`] in its extensions. `INVALID_TOKEN` (a token that is
//! not one this server signed) is the one code beyond the seed's list.
//!
//! # Bounds and caveats
//!
//! * Bodies are read up to [`Api::body_limit`] (default 4 KiB), strings inside are
//!   bounded by that.
//! * The API does not rate-limit by itself: put a `RateLimitLayer` around the router
//!   (its 429 `RATE_LIMITED` uses the shared error shape, without `success`).
//! * The client address (for IP binding) is `ClientIp` from `ClientIpLayer`, else the
//!   socket peer (`ConnectInfo` / `PeerAddr`); with neither, challenges are issued
//!   unbound. A `Verdict` or `ChallengeMark` in the request raises the difficulty.
//! * `validate` checks the secret before spending the token, so a leaked token cannot be
//!   burnt by someone without the secret key.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::engine::Pow;
use super::site::{EventKind, QuotaDecision, SiteStore, VerificationEvent};
use super::wire::{client_addr, non_negative, parse_nonce, solution_info};
use super::{widget, wire};
use crate::core::reject::{Rejection, RejectionKind, rfc3339};
use crate::core::store::{MemorySingleUseStore, SingleUseStore, StoreError};

/// The default request body limit of the API.
pub const DEFAULT_BODY_LIMIT: usize = 4 * 1024;

/// Builds the ECURTIY-compatible router.
///
/// ```
/// use axum::body::Body;
/// use tower::ServiceExt;
/// use tower_shield::pow::{Pow, MemorySiteStore, Site, api::Api};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sites = MemorySiteStore::new();
/// sites.insert(Site::new("eck_live_demo", "ecs_live_demo").unwrap()).unwrap();
/// let pow = Pow::new("a secret of at least thirty-two bytes!!").unwrap();
/// let app = axum::Router::new().nest("/captcha", Api::new(pow, sites).into_router());
///
/// let res = app.oneshot(
///     http::Request::post("/captcha/api/challenge")
///         .header("content-type", "application/json")
///         .body(Body::from(r#"{"siteKey":"eck_live_demo"}"#)).unwrap(),
/// ).await.unwrap();
/// assert_eq!(res.status(), 200);
/// # }
/// ```
pub struct Api<U = MemorySingleUseStore> {
    pow: Pow<U>,
    sites: Arc<dyn SiteStore>,
    body_limit: usize,
    demo_site: Option<Arc<str>>,
    demo_protected: Option<Arc<str>>,
}

impl<U: SingleUseStore> Api<U> {
    /// The API over `pow` and `sites`.
    pub fn new(pow: Pow<U>, sites: impl SiteStore) -> Self {
        Self {
            pow,
            sites: Arc::new(sites),
            body_limit: DEFAULT_BODY_LIMIT,
            demo_site: None,
            demo_protected: None,
        }
    }

    /// Largest request body read, bytes (default 4 KiB; at most 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes.clamp(256, 64 * 1024);
        self
    }

    /// Serves `GET /demo`: a page with the widget for `site_key`.
    pub fn demo_page(mut self, site_key: &str) -> Self {
        self.demo_site = Some(site_key.into());
        self
    }

    /// On the demo page, after verifying, fetch `url` with the token in `X-Shield-Token`
    /// and show the answer (a route behind a `PowLayer` that accepts the site's tokens).
    pub fn demo_protected_url(mut self, url: &str) -> Self {
        self.demo_protected = Some(url.into());
        self
    }

    /// The router.
    pub fn into_router(self) -> Router {
        let st = Arc::new(self);
        let mut r = Router::new()
            .route("/api/challenge", post(challenge::<U>))
            .route("/api/verify", post(verify::<U>))
            .route("/api/validate", post(validate::<U>))
            .route(
                "/widget/shield-pow.js",
                get(|| async { asset(widget::WIDGET_JS) }),
            )
            .route(
                "/widget/worker.js",
                get(|| async { asset(widget::WORKER_JS) }),
            )
            .route(
                "/widget/shield-pow.css",
                get(|| async { asset(widget::WIDGET_CSS) }),
            )
            .route("/widget/demo.js", get(|| async { asset(widget::DEMO_JS) }));
        if let Some(site) = st.demo_site.clone() {
            let protected = st.demo_protected.clone();
            r = r.route(
                "/demo",
                get(move |req: Request| async move {
                    widget::demo_page_response(&req, &site, protected.as_deref())
                }),
            );
        }
        r.with_state(st)
    }
}

fn asset(a: &'static widget::Asset) -> Response {
    let mut res = Response::new(Body::from(a.body));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

pub(crate) fn error_response(
    headers: &HeaderMap,
    now: std::time::Duration,
    r: Rejection,
) -> Response {
    wire::error(headers, now, r).map(Body::from)
}

/// [`error_response`], counted and logged once as a proof-of-work refusal.
fn refusal(parts: &http::request::Parts, now: std::time::Duration, r: Rejection) -> Response {
    use crate::core::metrics::{self, Layer, PowEvent};
    metrics::refused(Layer::Pow, &r, metrics::client_of(&parts.extensions));
    metrics::pow(PowEvent::Rejected);
    error_response(&parts.headers, now, r)
}

pub(crate) fn json(status: StatusCode, v: &impl serde::Serialize) -> Response {
    wire::json(status, v).map(Body::from)
}

pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    body: Body,
    limit: usize,
) -> Result<T, Rejection> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Rejection::new(
            RejectionKind::PayloadTooLarge,
            "The request body is too large or unreadable",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|_| {
        Rejection::new(
            RejectionKind::InvalidRequest,
            "The body is not valid JSON for this endpoint",
        )
    })
}

fn store_failed(e: &StoreError) -> Rejection {
    tracing::error!(error = %e, "pow single-use store failed: failing closed");
    Rejection::new(
        RejectionKind::StoreUnavailable,
        "Verification is temporarily unavailable. Retry shortly.",
    )
    .with_retry_after(std::time::Duration::from_secs(1))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChallengeReq {
    site_key: String,
}

/// The site for `key`: INVALID_SITE_KEY when unknown, SITE_INACTIVE when deactivated.
async fn active_site(sites: &dyn SiteStore, key: &str) -> Result<super::site::Site, Rejection> {
    match sites.site_by_key(key).await {
        Ok(Some(site)) if site.active => Ok(site),
        Ok(Some(_)) => Err(Rejection::new(
            RejectionKind::SiteInactive,
            "The site has been deactivated",
        )),
        Ok(None) => Err(Rejection::new(
            RejectionKind::InvalidSiteKey,
            "The provided site key is invalid or inactive",
        )),
        Err(e) => Err(store_failed(&e)),
    }
}

async fn challenge<U: SingleUseStore>(State(st): State<Arc<Api<U>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let now = st.pow.now();
    let fail = |r| refusal(&parts, now, r);
    let body: ChallengeReq = match read_json(body, st.body_limit).await {
        Ok(b) => b,
        Err(r) => return fail(r),
    };
    let site = match active_site(&*st.sites, &body.site_key).await {
        Ok(s) => s,
        Err(r) => return fail(r),
    };
    match st.sites.charge(&site, now).await {
        Ok(QuotaDecision::Allowed) => {}
        Ok(QuotaDecision::Exceeded) => {
            return fail(Rejection::new(
                RejectionKind::QuotaExceeded,
                "Monthly verification limit exceeded",
            ));
        }
        Err(e) => return fail(store_failed(&e)),
    }
    let c = st.pow.issue(
        &site.site_key,
        site.difficulty,
        client_addr(&parts.extensions),
        crate::core::ext::challenge_mark(&parts.extensions),
        crate::core::ext::verdict(&parts.extensions),
        site.mode,
    );
    json(StatusCode::OK, &c)
}

/// A nonce as a JSON number or a decimal string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NonceField {
    Num(u64),
    Str(String),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct BehaviorReq {
    mouse_entropy: Option<f64>,
    interaction_count: Option<f64>,
    session_duration: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyReq {
    challenge_id: String,
    nonce: NonceField,
    #[serde(default)]
    solve_time_ms: Option<f64>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    behavioral: Option<BehaviorReq>,
}

async fn verify<U: SingleUseStore>(State(st): State<Arc<Api<U>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let now = st.pow.now();
    let fail = |r| refusal(&parts, now, r);
    let body: VerifyReq = match read_json(body, st.body_limit).await {
        Ok(b) => b,
        Err(r) => return fail(r),
    };
    let nonce = match &body.nonce {
        NonceField::Num(n) => *n,
        NonceField::Str(s) => match parse_nonce(s) {
            Some(n) => n,
            None => {
                return fail(Rejection::new(
                    RejectionKind::InvalidRequest,
                    "nonce must be a non-negative integer",
                ));
            }
        },
    };
    let client = client_addr(&parts.extensions);
    let claims = match st
        .pow
        .check_solution(&body.challenge_id, nonce, client, now)
    {
        Ok(c) => c,
        Err(r) => return fail(r),
    };
    let site = match active_site(&*st.sites, &claims.site).await {
        Ok(s) => s,
        Err(r) => return fail(r),
    };
    let record = |passed: bool, risk: Option<f64>, error: Option<&'static str>| {
        st.sites.record(VerificationEvent {
            site_id: site.id.clone(),
            kind: EventKind::Verify,
            at: now,
            passed,
            risk_score: risk,
            solve_time_ms: non_negative(body.solve_time_ms),
            error,
        });
    };
    match st.pow.redeem_challenge(&claims, now).await {
        Ok(true) => {}
        // A replay is not recorded: it costs the client nothing, so recording it would let
        // anyone with one solved challenge fill the analytics queue and burn the quota.
        Ok(false) => {
            return fail(Rejection::new(
                RejectionKind::ChallengeExpired,
                "The challenge was already used",
            ));
        }
        Err(e) => return fail(store_failed(&e)),
    }
    let b = body.behavioral.as_ref();
    let info = solution_info(
        body.solve_time_ms,
        body.fingerprint.as_deref(),
        b.and_then(|b| b.mouse_entropy),
        b.and_then(|b| b.interaction_count),
        b.and_then(|b| b.session_duration),
        b.is_some(),
    );
    match st.pow.finish(&claims, nonce, &info, site.mode, now) {
        Ok(m) => {
            record(true, Some(m.risk.score), None);
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "success": true,
                    "token": m.token,
                    "expiresAt": rfc3339(std::time::Duration::from_millis(m.claims.expires_ms)),
                }),
            )
        }
        Err((r, report)) => {
            record(false, Some(report.score), Some(r.code()));
            tracing::debug!(score = report.score, reasons = ?report.reasons, "pow: high risk");
            fail(r)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidateReq {
    token: String,
    secret_key: String,
}

async fn validate<U: SingleUseStore>(State(st): State<Arc<Api<U>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let now = st.pow.now();
    let fail = |r| refusal(&parts, now, r);
    let body: ValidateReq = match read_json(body, st.body_limit).await {
        Ok(b) => b,
        Err(r) => return fail(r),
    };
    let bad_secret =
        || Rejection::new(RejectionKind::InvalidSecretKey, "The secret key is invalid");
    // Decode (signature) first, but report expiry only to a caller who proved the secret.
    let claims = match st.pow.check_token(&body.token, std::time::Duration::ZERO) {
        Ok(c) => c,
        Err(r) => return fail(r),
    };
    let site = match st.sites.site_by_key(&claims.site).await {
        Ok(Some(s)) => s,
        Ok(None) => return fail(bad_secret()),
        Err(e) => return fail(store_failed(&e)),
    };
    if !site.secret_matches(&body.secret_key) {
        return fail(bad_secret());
    }
    let record = |passed: bool, error: Option<&'static str>| {
        st.sites.record(VerificationEvent {
            site_id: site.id.clone(),
            kind: EventKind::Validate,
            at: now,
            passed,
            risk_score: Some(claims.risk_score()),
            solve_time_ms: Some(u64::from(claims.solve_ms)),
            error,
        });
    };
    if let Err(r) = st.pow.check_token(&body.token, now) {
        record(false, Some(r.code()));
        return fail(r);
    }
    match st.pow.redeem_token(&claims, now).await {
        Ok(true) => crate::core::metrics::pow(crate::core::metrics::PowEvent::Redeemed),
        Ok(false) => {
            record(false, Some(RejectionKind::TokenUsed.code()));
            return fail(Rejection::new(
                RejectionKind::TokenUsed,
                "The token has already been validated",
            ));
        }
        Err(e) => return fail(store_failed(&e)),
    }
    record(true, None);
    json(
        StatusCode::OK,
        &serde_json::json!({
            "success": true,
            "data": {
                "passed": true,
                "riskScore": claims.risk_score(),
                "solveTimeMs": claims.solve_ms,
                "createdAt": rfc3339(std::time::Duration::from_millis(claims.issued_ms)),
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::ManualClock;
    use crate::pow::site::{MemorySiteStore, Mode, Site};
    use std::time::Duration;
    use tower::ServiceExt;

    const SECRET: &str = "api-test-secret-api-test-secret-1234";

    fn setup() -> (Router, ManualClock, MemorySiteStore) {
        let clock = ManualClock::new(Duration::from_secs(1_733_659_200));
        let pow = Pow::builder()
            .secret(SECRET)
            .unwrap()
            .clock(clock.clone())
            .store(MemorySingleUseStore::builder().clock(clock.clone()).build())
            .difficulty(1, 10, 18)
            .unwrap()
            .build();
        let sites = MemorySiteStore::new();
        sites
            .insert(
                Site::new("eck_live_demo", "ecs_live_demo")
                    .unwrap()
                    .difficulty(10),
            )
            .unwrap();
        sites
            .insert(
                Site::new("eck_live_off", "ecs_live_off")
                    .unwrap()
                    .active(false),
            )
            .unwrap();
        let app = Router::new().nest("/captcha", Api::new(pow, sites.clone()).into_router());
        (app, clock, sites)
    }

    async fn post(
        app: &Router,
        path: &str,
        body: serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        req.extensions_mut().insert(crate::core::ext::PeerAddr(
            "198.51.100.7:5555".parse().unwrap(),
        ));
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    fn human(challenge: &serde_json::Value, nonce: u64) -> serde_json::Value {
        serde_json::json!({
            "challengeId": challenge["challengeId"],
            "nonce": nonce,
            "solveTimeMs": 1850,
            "fingerprint": "sha256_hash_of_browser_data",
            "behavioral": {"mouseEntropy": 4.2, "interactionCount": 15, "sessionDuration": 3500}
        })
    }

    #[tokio::test]
    async fn seed_flow_challenge_verify_validate() {
        let (app, clock, _) = setup();
        let (s, c) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_live_demo"}),
        )
        .await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["difficulty"], 10);
        assert_eq!(c["mode"], "checkbox");
        assert_eq!(c["expiresAt"], "2024-12-08T12:05:00Z");
        assert_eq!(c["prefix"].as_str().unwrap().len(), 32);
        let n = crate::pow::solve(c["prefix"].as_str().unwrap(), 10, 0, 1 << 24).unwrap();
        clock.advance(Duration::from_secs(3));
        let (s, v) = post(&app, "/captcha/api/verify", human(&c, n)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["success"], true);
        assert!(v["token"].as_str().unwrap().starts_with("ect_"));
        assert_eq!(v["expiresAt"], "2024-12-08T12:05:03Z");
        // The same solution again: the challenge is spent.
        let (s, again) = post(&app, "/captcha/api/verify", human(&c, n)).await;
        assert_eq!(
            (s.as_u16(), again["error"]["code"].as_str()),
            (400, Some("CHALLENGE_EXPIRED"))
        );
        assert_eq!(again["success"], false);
        // Validate: wrong secret does not spend the token.
        let tok = v["token"].clone();
        let (s, e) = post(
            &app,
            "/captcha/api/validate",
            serde_json::json!({"token": tok, "secretKey": "ecs_live_nope"}),
        )
        .await;
        assert_eq!(
            (s.as_u16(), e["error"]["code"].as_str()),
            (401, Some("INVALID_SECRET_KEY"))
        );
        let (s, ok) = post(
            &app,
            "/captcha/api/validate",
            serde_json::json!({"token": tok, "secretKey": "ecs_live_demo"}),
        )
        .await;
        assert_eq!(s, 200, "{ok}");
        assert_eq!(ok["data"]["passed"], true);
        assert_eq!(ok["data"]["riskScore"], 0.0);
        assert_eq!(ok["data"]["solveTimeMs"], 1850);
        assert_eq!(ok["data"]["createdAt"], "2024-12-08T12:00:03Z");
        let (s, used) = post(
            &app,
            "/captcha/api/validate",
            serde_json::json!({"token": tok, "secretKey": "ecs_live_demo"}),
        )
        .await;
        assert_eq!(
            (s.as_u16(), used["error"]["code"].as_str()),
            (401, Some("TOKEN_USED"))
        );
    }

    #[tokio::test]
    async fn error_codes() {
        let (app, clock, _) = setup();
        let code = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or("").to_owned();
        let (s, e) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_nope"}),
        )
        .await;
        assert_eq!((s.as_u16(), code(&e)), (401, "INVALID_SITE_KEY".into()));
        let (s, e) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_live_off"}),
        )
        .await;
        assert_eq!((s.as_u16(), code(&e)), (403, "SITE_INACTIVE".into()));
        let (s, e) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"nope": 1}),
        )
        .await;
        assert_eq!((s.as_u16(), code(&e)), (400, "INVALID_REQUEST".into()));
        let big = "x".repeat(10_000);
        let (s, e) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": big}),
        )
        .await;
        assert_eq!((s.as_u16(), code(&e)), (413, "PAYLOAD_TOO_LARGE".into()));

        let (_, c) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_live_demo"}),
        )
        .await;
        let prefix = c["prefix"].as_str().unwrap().to_owned();
        let n = crate::pow::solve(&prefix, 10, 0, 1 << 24).unwrap();
        let wrong = (0..)
            .find(|m| !crate::pow::work_ok(prefix.as_bytes(), *m, 10))
            .unwrap();
        let (s, e) = post(&app, "/captcha/api/verify", human(&c, wrong)).await;
        assert_eq!((s.as_u16(), code(&e)), (400, "INVALID_SOLUTION".into()));
        // A bot: instant, no interaction, no fingerprint. The challenge is spent anyway.
        clock.advance(Duration::from_secs(1));
        let bot = serde_json::json!({"challengeId": c["challengeId"], "nonce": n.to_string(), "solveTimeMs": 0,
            "behavioral": {"mouseEntropy": 0, "interactionCount": 0, "sessionDuration": 5}});
        let (s, e) = post(&app, "/captcha/api/verify", bot).await;
        assert_eq!(
            (s.as_u16(), code(&e)),
            (403, "HIGH_RISK_SCORE".into()),
            "{e}"
        );
        let (_, e) = post(&app, "/captcha/api/verify", human(&c, n)).await;
        assert_eq!(code(&e), "CHALLENGE_EXPIRED");
        // Expiry.
        let (_, c) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_live_demo"}),
        )
        .await;
        let n = crate::pow::solve(c["prefix"].as_str().unwrap(), 10, 0, 1 << 24).unwrap();
        clock.advance(Duration::from_secs(301));
        let (s, e) = post(&app, "/captcha/api/verify", human(&c, n)).await;
        assert_eq!((s.as_u16(), code(&e)), (400, "CHALLENGE_EXPIRED".into()));
        // Non-canonical nonce strings are refused.
        let mut body = human(&c, n);
        body["nonce"] = serde_json::json!("007");
        let (s, e) = post(&app, "/captcha/api/verify", body).await;
        assert_eq!((s.as_u16(), code(&e)), (400, "INVALID_REQUEST".into()));
        // Garbage tokens.
        let (s, e) = post(
            &app,
            "/captcha/api/validate",
            serde_json::json!({"token": "ect_AAAA", "secretKey": "x"}),
        )
        .await;
        assert_eq!((s.as_u16(), code(&e)), (401, "INVALID_TOKEN".into()));
    }

    #[tokio::test]
    async fn token_expiry_is_reported_after_the_secret() {
        let (app, clock, _) = setup();
        let (_, c) = post(
            &app,
            "/captcha/api/challenge",
            serde_json::json!({"siteKey": "eck_live_demo"}),
        )
        .await;
        let n = crate::pow::solve(c["prefix"].as_str().unwrap(), 10, 0, 1 << 24).unwrap();
        clock.advance(Duration::from_secs(2));
        let (_, v) = post(&app, "/captcha/api/verify", human(&c, n)).await;
        clock.advance(Duration::from_secs(300));
        let tok = v["token"].clone();
        let (s, e) = post(
            &app,
            "/captcha/api/validate",
            serde_json::json!({"token": tok, "secretKey": "bad-secret"}),
        )
        .await;
        assert_eq!(
            (s.as_u16(), e["error"]["code"].as_str()),
            (401, Some("INVALID_SECRET_KEY"))
        );
        let (s, e) = post(
            &app,
            "/captcha/api/validate",
            serde_json::json!({"token": tok, "secretKey": "ecs_live_demo"}),
        )
        .await;
        assert_eq!(
            (s.as_u16(), e["error"]["code"].as_str()),
            (401, Some("TOKEN_EXPIRED"))
        );
    }

    /// A store shaped like issue 10's: a quota and an analytics queue.
    #[derive(Clone, Default)]
    struct Quota {
        inner: MemorySiteStore,
        exhausted: Arc<std::sync::atomic::AtomicBool>,
        events: Arc<std::sync::Mutex<Vec<VerificationEvent>>>,
    }

    impl SiteStore for Quota {
        fn site_by_key<'a>(&'a self, k: &'a str) -> crate::pow::site::SiteFuture<'a, Option<Site>> {
            self.inner.site_by_key(k)
        }
        fn charge<'a>(
            &'a self,
            _: &'a Site,
            _: Duration,
        ) -> crate::pow::site::SiteFuture<'a, QuotaDecision> {
            let d = if self.exhausted.load(std::sync::atomic::Ordering::Relaxed) {
                QuotaDecision::Exceeded
            } else {
                QuotaDecision::Allowed
            };
            Box::pin(std::future::ready(Ok(d)))
        }
        fn record(&self, e: VerificationEvent) {
            self.events.lock().unwrap().push(e);
        }
    }

    #[tokio::test]
    async fn quota_and_analytics_hooks() {
        let clock = ManualClock::new(Duration::from_secs(1_733_659_200));
        let pow = Pow::builder()
            .secret(SECRET)
            .unwrap()
            .clock(clock.clone())
            .difficulty(1, 8, 18)
            .unwrap()
            .build();
        let store = Quota::default();
        store
            .inner
            .insert(
                Site::new("eck_q", "ecs_q_secret")
                    .unwrap()
                    .difficulty(8)
                    .id("site-1"),
            )
            .unwrap();
        let app = Api::new(pow, store.clone()).into_router();
        let (s, c) = post(
            &app,
            "/api/challenge",
            serde_json::json!({"siteKey": "eck_q"}),
        )
        .await;
        assert_eq!(s, 200);
        let n = crate::pow::solve(c["prefix"].as_str().unwrap(), 8, 0, 1 << 24).unwrap();
        clock.advance(Duration::from_secs(3));
        let (s, v) = post(&app, "/api/verify", human(&c, n)).await;
        assert_eq!(s, 200);
        // Replays of the redeemed challenge are refused and not recorded.
        for _ in 0..3 {
            let (s, _) = post(&app, "/api/verify", human(&c, n)).await;
            assert_eq!(s, 400);
        }
        let (s, _) = post(
            &app,
            "/api/validate",
            serde_json::json!({"token": v["token"], "secretKey": "ecs_q_secret"}),
        )
        .await;
        assert_eq!(s, 200);
        {
            let ev = store.events.lock().unwrap();
            assert_eq!(ev.len(), 2);
            assert_eq!(
                (ev[0].kind, ev[0].passed, &*ev[0].site_id),
                (EventKind::Verify, true, "site-1")
            );
            assert_eq!(ev[0].risk_score, Some(0.0));
            assert_eq!(
                (ev[1].kind, ev[1].solve_time_ms),
                (EventKind::Validate, Some(1850))
            );
        }
        store
            .exhausted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let (s, e) = post(
            &app,
            "/api/challenge",
            serde_json::json!({"siteKey": "eck_q"}),
        )
        .await;
        assert_eq!(
            (s.as_u16(), e["error"]["code"].as_str()),
            (429, Some("QUOTA_EXCEEDED"))
        );
    }

    #[tokio::test]
    async fn widget_assets_are_served() {
        let (app, _, _) = setup();
        for (path, ct) in [
            (
                "/captcha/widget/shield-pow.js",
                "text/javascript; charset=utf-8",
            ),
            (
                "/captcha/widget/worker.js",
                "text/javascript; charset=utf-8",
            ),
            ("/captcha/widget/shield-pow.css", "text/css; charset=utf-8"),
        ] {
            let res = app
                .clone()
                .oneshot(http::Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            assert_eq!(res.headers()["content-type"], ct);
        }
        let _ = Mode::Invisible;
    }
}
