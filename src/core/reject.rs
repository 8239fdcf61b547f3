//! Typed rejections and the JSON error body every layer answers with.
//!
//! A layer that refuses a request answers with a [`Response`] (never an `Err`, so no
//! `HandleErrorLayer` is needed) whose extensions carry the [`Rejection`]: an outer
//! layer, a logger or a test reads `response.extensions().get::<Rejection>()` for the
//! typed reason. The body is rendered by a [`Renderer`]; the default writes the shape
//! of the 602TechSec API:
//!
//! ```json
//! {"error": {"code": "RATE_LIMITED", "message": "...", "timestamp": "2024-01-15T10:30:00Z", "requestId": "req_..."}}
//! ```
//!
//! `requestId` is the request's `x-request-id` (as set by tower-http's
//! `SetRequestIdLayer`, or sent by the client: at most 128 visible ASCII characters),
//! else a fresh `req_` id that is also returned in the response's `x-request-id`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Request, Response, StatusCode};

use crate::core::body::ShieldBody;

/// The header that carries the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied request id that is echoed back.
pub const MAX_REQUEST_ID_LEN: usize = 128;

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => ($status:ident, $code:literal), )*) => {
        /// Why a request was refused. Each kind has a stable machine code and an HTTP status.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum RejectionKind {
            $( $(#[$doc])* $variant, )*
        }

        impl RejectionKind {
            /// Every kind, for tables and tests.
            pub const ALL: &'static [RejectionKind] = &[$(RejectionKind::$variant,)*];

            /// The stable machine code written in the body, e.g. `"RATE_LIMITED"`.
            pub const fn code(self) -> &'static str {
                match self { $(RejectionKind::$variant => $code,)* }
            }

            /// The HTTP status this kind answers with.
            pub const fn status(self) -> StatusCode {
                match self { $(RejectionKind::$variant => StatusCode::$status,)* }
            }
        }
    };
}

kinds! {
    /// The request is malformed (bad header syntax, bad JSON, a bad field).
    InvalidRequest => (BAD_REQUEST, "INVALID_REQUEST"),
    /// An API key is missing, unknown or revoked.
    InvalidApiKey => (UNAUTHORIZED, "INVALID_API_KEY"),
    /// The principal lacks a permission the route needs.
    InsufficientPermissions => (FORBIDDEN, "INSUFFICIENT_PERMISSIONS"),
    /// A rate limit is exhausted.
    RateLimited => (TOO_MANY_REQUESTS, "RATE_LIMITED"),
    /// A request signature is missing, malformed, by an unknown key, or wrong.
    InvalidSignature => (UNAUTHORIZED, "INVALID_SIGNATURE"),
    /// A signed request's timestamp lies outside the accepted window.
    SignatureExpired => (UNAUTHORIZED, "SIGNATURE_EXPIRED"),
    /// The body is larger than the layer buffers.
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
    /// The classifier decided to block the client.
    Blocked => (FORBIDDEN, "BLOCKED"),
    /// A proof-of-work token is needed.
    ChallengeRequired => (UNAUTHORIZED, "CHALLENGE_REQUIRED"),
    /// A proof-of-work site key is unknown or inactive.
    InvalidSiteKey => (UNAUTHORIZED, "INVALID_SITE_KEY"),
    /// The proof-of-work site has been deactivated.
    SiteInactive => (FORBIDDEN, "SITE_INACTIVE"),
    /// A site's monthly verification quota is used up.
    QuotaExceeded => (TOO_MANY_REQUESTS, "QUOTA_EXCEEDED"),
    /// A proof-of-work challenge has expired.
    ChallengeExpired => (BAD_REQUEST, "CHALLENGE_EXPIRED"),
    /// A proof-of-work solution is wrong.
    InvalidSolution => (BAD_REQUEST, "INVALID_SOLUTION"),
    /// The behavioural risk score is over the threshold.
    HighRiskScore => (FORBIDDEN, "HIGH_RISK_SCORE"),
    /// A token has expired.
    TokenExpired => (UNAUTHORIZED, "TOKEN_EXPIRED"),
    /// A single-use token was already redeemed.
    TokenUsed => (UNAUTHORIZED, "TOKEN_USED"),
    /// A server-side secret key is wrong.
    InvalidSecretKey => (UNAUTHORIZED, "INVALID_SECRET_KEY"),
    /// A URL could not be parsed or is not allowed.
    InvalidUrl => (BAD_REQUEST, "INVALID_URL"),
    /// A key the server needs (for a remote provider) is not configured.
    KeyNotFound => (INTERNAL_SERVER_ERROR, "KEY_NOT_FOUND"),
    /// A bearer token is missing, malformed or fails verification.
    InvalidToken => (UNAUTHORIZED, "INVALID_TOKEN"),
    /// A backing store (Redis, a full memory table) cannot answer and the policy is to fail closed.
    StoreUnavailable => (SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
    /// The server is set up wrongly (e.g. no socket peer address reaches the layers).
    Misconfigured => (INTERNAL_SERVER_ERROR, "SERVER_MISCONFIGURED"),
    /// Administrator credentials (a dashboard session or the admin token) are missing or wrong.
    Unauthorized => (UNAUTHORIZED, "UNAUTHORIZED"),
    /// A cookie-authenticated write did not carry the session's CSRF token.
    CsrfFailed => (FORBIDDEN, "CSRF_FAILED"),
    /// The addressed resource (e.g. a site id) does not exist.
    NotFound => (NOT_FOUND, "NOT_FOUND"),
    /// Behind a trusted proxy, the forwarding header's rightmost untrusted hop (the
    /// client as the proxy saw it) is unreadable, or lies beyond the byte bound.
    InvalidForwardedHeader => (BAD_REQUEST, "INVALID_FORWARDED_HEADER"),
    /// A validly signed request was seen before within its validity window.
    SignatureReplayed => (UNAUTHORIZED, "SIGNATURE_REPLAYED"),
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: the kind, a human message and any headers it must carry.
///
/// Inserted into the response's extensions by every layer that refuses a request.
///
/// ```
/// use tower_shield::core::reject::{Rejection, RejectionKind};
/// let r = Rejection::new(RejectionKind::RateLimited, "slow down");
/// assert_eq!(r.status(), http::StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(r.code(), "RATE_LIMITED");
/// ```
#[derive(Clone, Debug)]
pub struct Rejection {
    kind: RejectionKind,
    message: Cow<'static, str>,
    /// Usually zero to two entries; a `Vec` keeps `Rejection` small on the `Ok` path of
    /// functions that return `Result<_, Rejection>`.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Rejection {
    /// A rejection of `kind` with `message`.
    pub fn new(kind: RejectionKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header to the response (e.g. `WWW-Authenticate`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds `Retry-After` in whole seconds, rounded up and at least 1.
    pub fn with_retry_after(self, wait: Duration) -> Self {
        let secs = retry_after_secs(wait);
        self.with_header(RETRY_AFTER, HeaderValue::from(secs))
    }

    /// Why.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Headers the response must carry, in order.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Rejection {}

/// `Retry-After` seconds for a wait: rounded up, never below 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// What a renderer knows about the refused request.
#[derive(Clone, Debug)]
pub struct RejectionContext {
    /// The request id (client's `x-request-id`, or generated).
    pub request_id: String,
    /// Whether `request_id` was generated here (then it is echoed in `x-request-id`).
    pub generated_id: bool,
    /// When the rejection happened, since the Unix epoch.
    pub now: Duration,
    /// The client address, for the refusal log: the request's `ClientIp`, else its
    /// `PeerAddr` (`None` from [`RejectionContext::from_headers`]).
    pub client: Option<std::net::IpAddr>,
}

impl RejectionContext {
    /// The context of a request at `now`.
    pub fn from_request<B>(req: &Request<B>, now: Duration) -> Self {
        let mut cx = Self::from_headers(req.headers(), now);
        cx.client = crate::core::metrics::client_of(req.extensions());
        cx
    }

    /// The context from request headers at `now`.
    pub fn from_headers(headers: &HeaderMap, now: Duration) -> Self {
        match request_id_from(headers) {
            Some(id) => Self {
                request_id: id.to_owned(),
                generated_id: false,
                now,
                client: None,
            },
            None => Self {
                request_id: new_request_id(),
                generated_id: true,
                now,
                client: None,
            },
        }
    }

    /// `now` as RFC 3339 UTC with second precision, e.g. `2024-01-15T10:30:00Z`.
    pub fn timestamp(&self) -> String {
        rfc3339(self.now)
    }
}

/// The client's request id when it is usable: one value, 1..=128 visible ASCII bytes.
pub fn request_id_from(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(X_REQUEST_ID).iter();
    let v = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_REQUEST_ID_LEN || !b.iter().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    v.to_str().ok()
}

/// A fresh request id: `req_` and 24 random hex digits.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: ids only need to be unique, so fall back to a counter.
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        bytes[..8].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
    let mut id = String::with_capacity(28);
    id.push_str("req_");
    id.push_str(&crate::core::ct::encode_hex(&bytes));
    id
}

/// Makes `req_`-prefixed request ids for tower-http's `SetRequestIdLayer`, so the app's
/// logs, the `x-request-id` response header and tower-shield's error bodies share one id.
///
/// ```
/// use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
/// use tower_shield::core::reject::MakeShieldRequestId;
///
/// let stack = tower::ServiceBuilder::new()
///     .layer(SetRequestIdLayer::x_request_id(MakeShieldRequestId))
///     .layer(PropagateRequestIdLayer::x_request_id());
/// # let _ = stack;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeShieldRequestId;

impl tower_http::request_id::MakeRequestId for MakeShieldRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&new_request_id())
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// Formats a time since the Unix epoch as RFC 3339 UTC, second precision.
pub fn rfc3339(since_epoch: Duration) -> String {
    let secs = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    const FMT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(FMT).unwrap_or_default()
}

type RenderFn = dyn Fn(&Rejection, &RejectionContext) -> Response<Bytes> + Send + Sync;

/// Turns a [`Rejection`] into a response. Cloning is cheap (an `Arc`).
///
/// [`Renderer::default`] writes the JSON shape above. Supply your own with
/// [`Renderer::new`]; the layers still add the rejection's headers
/// (`Retry-After`, `WWW-Authenticate`, ...) and the [`Rejection`] extension.
///
/// ```
/// use bytes::Bytes;
/// use tower_shield::core::reject::{Renderer, Rejection, RejectionKind, RejectionContext};
///
/// let plain = Renderer::new(|r: &Rejection, _cx: &RejectionContext| {
///     http::Response::builder()
///         .status(r.status())
///         .body(Bytes::from(r.code()))
///         .unwrap()
/// });
/// let cx = RejectionContext::from_headers(&http::HeaderMap::new(), std::time::Duration::ZERO);
/// let res = plain.render(&Rejection::new(RejectionKind::Blocked, "no"), &cx);
/// assert_eq!(res.status(), 403);
/// assert_eq!(res.body(), "BLOCKED");
/// ```
#[derive(Clone, Default)]
pub struct Renderer(Option<Arc<RenderFn>>);

impl Renderer {
    /// A renderer from a closure.
    pub fn new<F>(f: F) -> Self
    where
        F: Fn(&Rejection, &RejectionContext) -> Response<Bytes> + Send + Sync + 'static,
    {
        Self(Some(Arc::new(f)))
    }

    /// Renders `rejection`.
    pub fn render(&self, rejection: &Rejection, cx: &RejectionContext) -> Response<Bytes> {
        match &self.0 {
            Some(f) => f(rejection, cx),
            None => json_response(rejection, cx),
        }
    }

    /// Renders `rejection` for the request `req` into a complete response:
    /// the rendered body, the rejection's headers, `x-request-id` when generated,
    /// and the [`Rejection`] in the extensions.
    pub fn reject<ReqB, ResB>(
        &self,
        req: &Request<ReqB>,
        now: Duration,
        rejection: Rejection,
    ) -> Response<ShieldBody<ResB>> {
        let cx = RejectionContext::from_request(req, now);
        self.reject_with(&cx, rejection)
    }

    /// [`Renderer::reject`], counted and logged once as a refusal by `layer`
    /// (see [`core::metrics`](crate::core::metrics)). Layers answer through this.
    pub fn refuse<ReqB, ResB>(
        &self,
        layer: crate::core::metrics::Layer,
        req: &Request<ReqB>,
        now: Duration,
        rejection: Rejection,
    ) -> Response<ShieldBody<ResB>> {
        self.refuse_with(layer, &RejectionContext::from_request(req, now), rejection)
    }

    /// [`Renderer::reject_with`], counted and logged once as a refusal by `layer`.
    pub fn refuse_with<ResB>(
        &self,
        layer: crate::core::metrics::Layer,
        cx: &RejectionContext,
        rejection: Rejection,
    ) -> Response<ShieldBody<ResB>> {
        crate::core::metrics::refused(layer, &rejection, cx.client);
        self.reject_with(cx, rejection)
    }

    /// Like [`Renderer::reject`], with a context built by the caller.
    pub fn reject_with<ResB>(
        &self,
        cx: &RejectionContext,
        rejection: Rejection,
    ) -> Response<ShieldBody<ResB>> {
        let (mut parts, body) = self.render(&rejection, cx).into_parts();
        for (name, value) in rejection.headers() {
            parts.headers.append(name.clone(), value.clone());
        }
        if cx.generated_id
            && let Ok(v) = HeaderValue::from_str(&cx.request_id)
        {
            parts.headers.insert(X_REQUEST_ID, v);
        }
        parts.extensions.insert(rejection);
        Response::from_parts(parts, ShieldBody::full(body))
    }
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Renderer(custom)"
        } else {
            "Renderer(json)"
        })
    }
}

/// The body the default renderer writes.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorObject<'a> {
    code: &'a str,
    message: &'a str,
    timestamp: String,
    request_id: &'a str,
}

/// The default JSON rendering.
pub fn json_response(rejection: &Rejection, cx: &RejectionContext) -> Response<Bytes> {
    let body = ErrorBody {
        error: ErrorObject {
            code: rejection.code(),
            message: rejection.message(),
            timestamp: cx.timestamp(),
            request_id: &cx.request_id,
        },
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut res = Response::new(Bytes::from(bytes));
    *res.status_mut() = rejection.status();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_screaming_snake() {
        let mut seen = std::collections::HashSet::new();
        for k in RejectionKind::ALL {
            assert!(seen.insert(k.code()), "duplicate {}", k.code());
            assert!(
                k.code()
                    .bytes()
                    .all(|c| c.is_ascii_uppercase() || c == b'_')
            );
            assert!(k.status().is_client_error() || k.status().is_server_error());
        }
        for seed_code in [
            "INVALID_API_KEY",
            "INSUFFICIENT_PERMISSIONS",
            "RATE_LIMITED",
            "INVALID_SIGNATURE",
            "SIGNATURE_EXPIRED",
            "INVALID_REQUEST",
            "BLOCKED",
            "CHALLENGE_REQUIRED",
            "INVALID_SITE_KEY",
            "SITE_INACTIVE",
            "QUOTA_EXCEEDED",
            "CHALLENGE_EXPIRED",
            "INVALID_SOLUTION",
            "HIGH_RISK_SCORE",
            "TOKEN_EXPIRED",
            "TOKEN_USED",
            "INVALID_SECRET_KEY",
            "INVALID_URL",
            "KEY_NOT_FOUND",
        ] {
            assert!(seen.contains(seed_code), "missing {seed_code}");
        }
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
    }

    #[test]
    fn default_body_has_the_seed_shape() {
        let mut req = Request::new(());
        req.headers_mut()
            .insert(X_REQUEST_ID, HeaderValue::from_static("req_12345"));
        let res: Response<ShieldBody<()>> = Renderer::default().reject(
            &req,
            Duration::from_secs(1_705_314_600),
            Rejection::new(
                RejectionKind::InvalidApiKey,
                "The provided API key is invalid or has been revoked",
            )
            .with_retry_after(Duration::from_millis(10)),
        );
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers()["retry-after"], "1");
        assert!(
            res.headers().get(X_REQUEST_ID).is_none(),
            "client id is not re-sent"
        );
        assert_eq!(
            res.extensions().get::<Rejection>().map(|r| r.kind()),
            Some(RejectionKind::InvalidApiKey)
        );
        let ShieldBody::Full { data: Some(data) } = res.into_body() else {
            panic!("full body")
        };
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {
                "code": "INVALID_API_KEY",
                "message": "The provided API key is invalid or has been revoked",
                "timestamp": "2024-01-15T10:30:00Z",
                "requestId": "req_12345"
            }})
        );
    }

    #[test]
    fn bad_or_missing_request_ids_are_replaced() {
        let mut h = HeaderMap::new();
        let cx = RejectionContext::from_headers(&h, Duration::ZERO);
        assert!(cx.generated_id && cx.request_id.starts_with("req_") && cx.request_id.len() == 28);
        h.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert!(RejectionContext::from_headers(&h, Duration::ZERO).generated_id);
        h.insert(
            X_REQUEST_ID,
            HeaderValue::from_str(&"a".repeat(129)).unwrap(),
        );
        assert!(RejectionContext::from_headers(&h, Duration::ZERO).generated_id);
        h.insert(X_REQUEST_ID, HeaderValue::from_static("a"));
        h.append(X_REQUEST_ID, HeaderValue::from_static("b"));
        assert!(RejectionContext::from_headers(&h, Duration::ZERO).generated_id);
        let res: Response<ShieldBody<()>> = Renderer::default().reject_with(
            &RejectionContext::from_headers(&h, Duration::ZERO),
            Rejection::new(RejectionKind::Blocked, "x"),
        );
        assert!(
            res.headers()[X_REQUEST_ID]
                .to_str()
                .unwrap()
                .starts_with("req_")
        );
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Duration::from_secs(1_705_314_600)),
            "2024-01-15T10:30:00Z"
        );
    }
}
