//! [`PowLayer`]: its configuration, and the pure decision over a request.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, COOKIE, HeaderName, HeaderValue, WWW_AUTHENTICATE,
};
use http::{Method, Request, Response, StatusCode};
use tower_layer::Layer;

use super::challenge::{ChallengeClaims, MAX_ENCODED_LEN, MAX_SITE_KEY_LEN, TokenClaims};
use super::engine::{Pow, SolutionInfo};
use super::service::PowService;
use super::site::Mode;
use super::widget::{self, Asset};
use super::wire;
use crate::core::body::{InnerBody, WrappedBody};
use crate::core::error::ConfigError;
use crate::core::reject::{Rejection, RejectionContext, RejectionKind, Renderer, rfc3339};
use crate::core::store::{MemorySingleUseStore, SingleUseStore};
use crate::core::verdict::Action;

/// The header a client sends its `ect_` token or `esp_` pass in.
pub const X_SHIELD_TOKEN: HeaderName = HeaderName::from_static("x-shield-token");
/// The response header that carries a freshly minted pass.
pub const X_SHIELD_PASS: HeaderName = HeaderName::from_static("x-shield-pass");
/// The default pass lifetime.
pub const DEFAULT_PASS_TTL: Duration = Duration::from_secs(15 * 60);
/// Most entries in each path list.
pub const MAX_PATHS: usize = 256;
/// Longest query string the verify endpoint reads.
pub const MAX_QUERY_LEN: usize = 2048;
/// Most cookies looked at in a request.
pub const MAX_COOKIES: usize = 64;

/// How a solved challenge lets a client through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenMode {
    /// A signed `esp_` pass, reusable until it expires, bound to the client's network and
    /// scoped to the layer's site; parallel requests and tabs share it. The default (15
    /// minutes).
    Pass(Duration),
    /// Every protected request spends one `ect_` token.
    SingleUse,
}

impl Default for TokenMode {
    fn default() -> Self {
        Self::Pass(DEFAULT_PASS_TTL)
    }
}

pub(crate) struct Config<U> {
    pub(crate) pow: Pow<U>,
    pub(crate) site: Arc<str>,
    accept: Vec<Arc<str>>,
    difficulty: u8,
    protect_all: bool,
    paths: Vec<String>,
    marked: bool,
    allow: Vec<String>,
    pub(crate) mode: TokenMode,
    pass_cookie: Arc<str>,
    token_cookie: Arc<str>,
    secure: bool,
    pub(crate) prefix: Arc<str>,
    pub(crate) renderer: Renderer,
    status: StatusCode,
}

/// Demands proof of work before protected requests reach the inner service.
///
/// [`PowLayer::new`] protects every path except the allow-list (`/healthz`,
/// `/robots.txt`, `/favicon.ico`, `/.well-known/`), lets clients through with a 15-minute
/// pass, and serves its own endpoints under `/.shield/pow`. See the [module docs](super).
pub struct PowLayer<U = MemorySingleUseStore, M = InnerBody> {
    pub(crate) cfg: Arc<Config<U>>,
    mode: PhantomData<fn() -> M>,
}

impl<U, M> Clone for PowLayer<U, M> {
    fn clone(&self) -> Self {
        Self {
            cfg: self.cfg.clone(),
            mode: PhantomData,
        }
    }
}

impl<U, M> std::fmt::Debug for PowLayer<U, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.cfg;
        f.debug_struct("PowLayer")
            .field("site", &c.site)
            .field("protect_all", &c.protect_all)
            .field("paths", &c.paths)
            .field("marked", &c.marked)
            .field("allow", &c.allow)
            .field("mode", &c.mode)
            .field("prefix", &c.prefix)
            .finish_non_exhaustive()
    }
}

fn check_path(field: &'static str, p: &str) -> Result<String, ConfigError> {
    if !p.starts_with('/') || p.len() > 512 {
        return Err(ConfigError::new(
            field,
            "paths start with '/' (at most 512 bytes)",
        ));
    }
    Ok(p.to_owned())
}

impl<U: SingleUseStore> PowLayer<U> {
    /// A layer over `pow` with secure defaults.
    pub fn new(pow: Pow<U>) -> Self {
        let difficulty = pow.default_difficulty();
        Self {
            cfg: Arc::new(Config {
                pow,
                site: "inline".into(),
                accept: Vec::new(),
                difficulty,
                protect_all: true,
                paths: Vec::new(),
                marked: false,
                allow: ["/healthz", "/robots.txt", "/favicon.ico", "/.well-known/"]
                    .map(String::from)
                    .to_vec(),
                mode: TokenMode::default(),
                pass_cookie: "shield_pass".into(),
                token_cookie: "shield_token".into(),
                secure: true,
                prefix: "/.shield/pow".into(),
                renderer: Renderer::default(),
                status: StatusCode::UNAUTHORIZED,
            }),
            mode: PhantomData,
        }
    }
}

impl<U: SingleUseStore, M> PowLayer<U, M> {
    /// Answers in the inner service's own body type, building refusals with
    /// `B::from(Bytes)` ([`InnerBody`]): the default, so under axum's `Router::layer`
    /// responses keep axum's `Body` and axum adds no box. Kept so code that asked for it
    /// before it was the default still compiles.
    pub fn inner_body(self) -> PowLayer<U, InnerBody> {
        self.with_mode()
    }

    /// Answers in [`ShieldBody<B>`](crate::core::ShieldBody) ([`WrappedBody`]), for an
    /// inner body the layer cannot build a refusal in (one that is not
    /// `From<Bytes> + Default`, such as `String`).
    pub fn wrapped_body(self) -> PowLayer<U, WrappedBody> {
        self.with_mode()
    }

    pub(crate) fn with_mode<M2>(self) -> PowLayer<U, M2> {
        PowLayer {
            cfg: self.cfg,
            mode: PhantomData,
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config<U>)) -> Self {
        // `Arc::make_mut` would need `U: Clone`; rebuild instead (cheap: `Pow` is two `Arc`s).
        let c = &*self.cfg;
        let mut next = Config {
            pow: c.pow.clone(),
            site: c.site.clone(),
            accept: c.accept.clone(),
            difficulty: c.difficulty,
            protect_all: c.protect_all,
            paths: c.paths.clone(),
            marked: c.marked,
            allow: c.allow.clone(),
            mode: c.mode,
            pass_cookie: c.pass_cookie.clone(),
            token_cookie: c.token_cookie.clone(),
            secure: c.secure,
            prefix: c.prefix.clone(),
            renderer: c.renderer.clone(),
            status: c.status,
        };
        f(&mut next);
        self.cfg = Arc::new(next);
        self
    }

    /// Protects only these paths (and what lies below them, by whole segments:
    /// `/app` covers `/app` and `/app/x`, not `/apple`), instead of everything.
    pub fn protect_paths<I, P>(self, paths: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let paths = paths
            .into_iter()
            .map(|p| check_path("pow.protect_paths", p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if paths.len() > MAX_PATHS {
            return Err(ConfigError::new("pow.protect_paths", "at most 256 paths"));
        }
        Ok(self.edit(|c| {
            c.protect_all = false;
            c.paths = paths;
        }))
    }

    /// Protects requests an earlier layer marked: a [`ChallengeMark`](crate::core::ChallengeMark) in the extensions, or
    /// a [`Verdict`](crate::core::verdict::Verdict) whose action is `challenge`. Turns "protect everything" off; combine
    /// with [`PowLayer::protect_paths`] to add always-protected paths.
    pub fn when_challenged(self) -> Self {
        self.edit(|c| {
            c.protect_all = false;
            c.marked = true;
        })
    }

    /// Never challenges `path` (and below it).
    pub fn allow_path(self, path: &str) -> Result<Self, ConfigError> {
        let p = check_path("pow.allow_path", path)?;
        if self.cfg.allow.len() >= MAX_PATHS {
            return Err(ConfigError::new("pow.allow_path", "at most 256 paths"));
        }
        Ok(self.edit(|c| c.allow.push(p)))
    }

    /// Empties the allow-list (the defaults included).
    pub fn clear_allow_list(self) -> Self {
        self.edit(|c| c.allow.clear())
    }

    /// Pass or per-request tokens (default: a 15-minute pass). A pass lives 10 s to 24 h.
    pub fn token_mode(self, mode: TokenMode) -> Result<Self, ConfigError> {
        if let TokenMode::Pass(ttl) = mode
            && !(Duration::from_secs(10)..=Duration::from_secs(86_400)).contains(&ttl)
        {
            return Err(ConfigError::new("pow.pass_ttl", "between 10 s and 24 h"));
        }
        Ok(self.edit(|c| c.mode = mode))
    }

    /// The site this layer's challenges and passes are scoped to (default `inline`).
    pub fn site(self, site: &str) -> Result<Self, ConfigError> {
        if site.is_empty() || site.len() > MAX_SITE_KEY_LEN {
            return Err(ConfigError::new("pow.site", "1 to 64 bytes"));
        }
        Ok(self.edit(|c| c.site = site.into()))
    }

    /// Also accepts `ect_` tokens the ECURTIY API issued for `site_key` (a page with the
    /// widget sends them in `X-Shield-Token`).
    pub fn accept_site_tokens(self, site_key: &str) -> Self {
        self.edit(|c| c.accept.push(site_key.into()))
    }

    /// The base difficulty of the layer's challenges (default: the engine's).
    pub fn difficulty(self, bits: u8) -> Self {
        self.edit(|c| c.difficulty = bits)
    }

    /// Where the layer serves its scripts and its `challenge` / `verify` endpoints
    /// (default `/.shield/pow`).
    pub fn endpoint_prefix(self, prefix: &str) -> Result<Self, ConfigError> {
        let p = check_path("pow.endpoint_prefix", prefix)?;
        if p.len() < 2 || p.ends_with('/') || !p.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "pow.endpoint_prefix",
                "like /.shield/pow: no trailing slash, visible ASCII",
            ));
        }
        Ok(self.edit(|c| c.prefix = p.into()))
    }

    /// Sends cookies without `Secure`, for plain-HTTP development. Browsers drop `Secure`
    /// cookies over `http://` except on localhost.
    pub fn insecure_cookie(self) -> Self {
        self.edit(|c| c.secure = false)
    }

    /// Answers API clients 428 Precondition Required instead of 401.
    pub fn precondition_required(self) -> Self {
        self.edit(|c| c.status = StatusCode::PRECONDITION_REQUIRED)
    }

    /// How rejections are rendered for API clients (the challenge is added to a JSON object body).
    pub fn renderer(self, renderer: Renderer) -> Self {
        self.edit(|c| c.renderer = renderer)
    }

    /// The engine.
    pub fn pow(&self) -> &Pow<U> {
        &self.cfg.pow
    }
}

impl<S, U, M> Layer<S> for PowLayer<U, M> {
    type Service = PowService<S, U, M>;

    fn layer(&self, inner: S) -> Self::Service {
        PowService {
            inner,
            cfg: self.cfg.clone(),
            mode: PhantomData,
        }
    }
}

/// What to do with a request.
pub(crate) enum Decision {
    /// Let it through.
    Pass,
    /// Serve a script or stylesheet.
    Asset(&'static Asset),
    /// Issue a fresh challenge (JSON).
    NewChallenge,
    /// Redeem the challenge, then mint.
    Verify {
        claims: ChallengeClaims,
        nonce: u64,
        info: SolutionInfo,
    },
    /// Redeem the token, then let it through.
    Redeem {
        token: TokenClaims,
        from_cookie: bool,
    },
    /// Answer with a challenge (interstitial or JSON).
    Challenge(Rejection),
    /// Answer with an error (JSON).
    Reject(Rejection),
}

/// `true` when `path` is `base` or below it by whole segments.
pub(crate) fn under(path: &str, base: &str) -> bool {
    match path.strip_prefix(base) {
        Some(rest) => base.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn cookie<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .take(MAX_COOKIES)
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn query_param<'a>(q: &'a str, name: &str) -> Option<&'a str> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl<U: SingleUseStore> Config<U> {
    fn accepts_site(&self, site: &str) -> bool {
        *self.site == *site || self.accept.iter().any(|s| **s == *site)
    }

    fn protected<B>(&self, req: &Request<B>) -> bool {
        let path = req.uri().path();
        if req.method() == Method::OPTIONS || self.allow.iter().any(|a| under(path, a)) {
            return false;
        }
        if self.protect_all || self.paths.iter().any(|p| under(path, p)) {
            return true;
        }
        self.marked
            && (crate::core::ext::challenge_mark(req.extensions()).is_some()
                || crate::core::ext::verdict(req.extensions())
                    .is_some_and(|v| v.action == Action::Challenge))
    }

    /// The pure decision.
    pub(crate) fn decide<B>(&self, req: &Request<B>, now: Duration) -> Decision {
        let path = req.uri().path();
        if let Some(rest) = path.strip_prefix(&*self.prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return self.endpoint(req, rest, now);
        }
        if !self.protected(req) {
            return Decision::Pass;
        }
        let client = wire::client_addr(req.extensions());
        let presented = match req.headers().get(X_SHIELD_TOKEN) {
            Some(v) => Some((v.to_str().unwrap_or(""), false)),
            None => match self.mode {
                TokenMode::Pass(_) => cookie(req, &self.pass_cookie)
                    .map(|v| (v, true))
                    .or_else(|| cookie(req, &self.token_cookie).map(|v| (v, true))),
                TokenMode::SingleUse => cookie(req, &self.token_cookie).map(|v| (v, true)),
            },
        };
        let Some((value, from_cookie)) = presented else {
            return Decision::Challenge(Rejection::new(
                RejectionKind::ChallengeRequired,
                "A proof-of-work token is required",
            ));
        };
        if value.len() > MAX_ENCODED_LEN {
            return Decision::Challenge(Rejection::new(
                RejectionKind::InvalidToken,
                "The token is invalid",
            ));
        }
        if value.starts_with("esp_") {
            if self.mode == TokenMode::SingleUse {
                return Decision::Challenge(Rejection::new(
                    RejectionKind::InvalidToken,
                    "This route needs a single-use token, not a pass",
                ));
            }
            return match self.pow.pass_ok(value, &self.site, client, now) {
                Ok(_) => Decision::Pass,
                Err(r) => Decision::Challenge(r),
            };
        }
        match self.pow.check_token(value, now) {
            Ok(t) if self.accepts_site(&t.site) => Decision::Redeem {
                token: t,
                from_cookie,
            },
            Ok(_) => Decision::Challenge(Rejection::new(
                RejectionKind::InvalidToken,
                "The token was issued for another site",
            )),
            Err(r) => Decision::Challenge(r),
        }
    }

    fn endpoint<B>(&self, req: &Request<B>, rest: &str, now: Duration) -> Decision {
        let m = req.method();
        let get = *m == Method::GET || *m == Method::HEAD;
        match rest {
            "/shield-pow.js" if get => Decision::Asset(widget::WIDGET_JS),
            "/worker.js" if get => Decision::Asset(widget::WORKER_JS),
            "/shield-pow.css" if get => Decision::Asset(widget::WIDGET_CSS),
            "/challenge" if *m == Method::POST => Decision::NewChallenge,
            "/verify" if *m == Method::POST => {
                let q = req.uri().query().unwrap_or("");
                if q.len() > MAX_QUERY_LEN {
                    return Decision::Reject(Rejection::new(
                        RejectionKind::InvalidRequest,
                        "The query is too long",
                    ));
                }
                let (Some(id), Some(nonce)) = (
                    query_param(q, "challengeId"),
                    query_param(q, "nonce").and_then(wire::parse_nonce),
                ) else {
                    return Decision::Reject(Rejection::new(
                        RejectionKind::InvalidRequest,
                        "challengeId and a decimal nonce are required",
                    ));
                };
                let num = |k| query_param(q, k).and_then(|v| v.parse::<f64>().ok());
                let has_behavior = query_param(q, "sessionDuration").is_some();
                let info = wire::solution_info(
                    num("solveTimeMs"),
                    query_param(q, "fingerprint"),
                    num("mouseEntropy"),
                    num("interactionCount"),
                    num("sessionDuration"),
                    has_behavior,
                );
                let client = wire::client_addr(req.extensions());
                match self.pow.check_solution(id, nonce, client, now) {
                    Ok(claims) if *claims.site == *self.site => Decision::Verify {
                        claims,
                        nonce,
                        info,
                    },
                    Ok(_) => Decision::Reject(Rejection::new(
                        RejectionKind::InvalidSolution,
                        "The challenge was issued for another site",
                    )),
                    Err(r) => Decision::Reject(r),
                }
            }
            _ => Decision::Reject(Rejection::new(
                RejectionKind::InvalidRequest,
                "Unknown proof-of-work endpoint",
            )),
        }
    }

    fn wants_html<B>(req: &Request<B>) -> bool {
        (req.method() == Method::GET || req.method() == Method::HEAD)
            && req
                .headers()
                .get_all(ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("text/html"))
    }

    /// A fresh challenge for this request.
    pub(crate) fn issue<B>(&self, req: &Request<B>) -> serde_json::Value {
        let c = self.pow.issue(
            &self.site,
            self.difficulty,
            wire::client_addr(req.extensions()),
            crate::core::ext::challenge_mark(req.extensions()),
            crate::core::ext::verdict(req.extensions()),
            Mode::Invisible,
        );
        let mut v = serde_json::to_value(&c).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("verifyUrl".into(), format!("{}/verify", self.prefix).into());
            o.insert(
                "challengeUrl".into(),
                format!("{}/challenge", self.prefix).into(),
            );
        }
        v
    }

    /// The answer to a request without a usable token: an interstitial page for browsers,
    /// the rendered rejection plus a `challenge` object for API clients.
    pub(crate) fn challenge_response<B>(
        &self,
        req: &Request<B>,
        r: Rejection,
        now: Duration,
    ) -> Response<Bytes> {
        crate::core::metrics::refused(
            crate::core::metrics::Layer::Pow,
            &r,
            crate::core::metrics::client_of(req.extensions()),
        );
        let challenge = self.issue(req);
        let mut res = if Self::wants_html(req) {
            let mut res = Response::new(Bytes::from(widget::interstitial_html(
                &challenge,
                &self.prefix,
            )));
            *res.status_mut() = StatusCode::UNAUTHORIZED;
            widget::page_headers(res.headers_mut());
            res
        } else {
            let cx = RejectionContext::from_request(req, now);
            let mut res = self.renderer.render(&r, &cx);
            let is_json = res
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if is_json
                && let Ok(serde_json::Value::Object(mut o)) = serde_json::from_slice(res.body())
            {
                o.insert("challenge".into(), challenge);
                *res.body_mut() = Bytes::from(serde_json::to_vec(&o).unwrap_or_default());
            }
            if cx.generated_id
                && let Ok(v) = HeaderValue::from_str(&cx.request_id)
            {
                res.headers_mut()
                    .insert(crate::core::reject::X_REQUEST_ID, v);
            }
            *res.status_mut() = self.status;
            res.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        };
        if res.status() == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Shield-PoW header=\"X-Shield-Token\""),
            );
        }
        for (k, v) in r.headers() {
            res.headers_mut().append(k, v.clone());
        }
        res.extensions_mut().insert(r);
        res
    }

    pub(crate) fn cookie_header(
        &self,
        name: &str,
        value: &str,
        max_age: Duration,
    ) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
            max_age.as_secs()
        ))
        .ok()
    }

    /// The headers that hand a client its pass.
    pub(crate) fn pass_headers<B>(
        &self,
        req: &Request<B>,
        ttl: Duration,
        now: Duration,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let (pass, _) =
            self.pow
                .mint_pass(&self.site, wire::client_addr(req.extensions()), ttl, now);
        let mut h = Vec::with_capacity(2);
        if let Some(c) = self.cookie_header(&self.pass_cookie, &pass, ttl) {
            h.push((http::header::SET_COOKIE, c));
        }
        if let Ok(v) = HeaderValue::from_str(&pass) {
            h.push((X_SHIELD_PASS, v));
        }
        h
    }

    /// After a token was redeemed: a pass in pass mode; clear the token cookie if it came from one.
    pub(crate) fn after_redeem<B>(
        &self,
        req: &Request<B>,
        from_cookie: bool,
        now: Duration,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let mut h = match self.mode {
            TokenMode::Pass(ttl) => self.pass_headers(req, ttl, now),
            TokenMode::SingleUse => Vec::new(),
        };
        if from_cookie && let Some(c) = self.cookie_header(&self.token_cookie, "", Duration::ZERO) {
            h.push((http::header::SET_COOKIE, c));
        }
        h
    }

    /// The verify endpoint's answer once the challenge is redeemed.
    pub(crate) fn verified<B>(
        &self,
        req: &Request<B>,
        claims: &ChallengeClaims,
        nonce: u64,
        info: &SolutionInfo,
        now: Duration,
    ) -> Response<Bytes> {
        let minted = match self.pow.finish(claims, nonce, info, Mode::Invisible, now) {
            Ok(m) => m,
            Err((r, report)) => {
                tracing::debug!(score = report.score, reasons = ?report.reasons, "pow layer: high risk");
                return wire::error(req.headers(), now, r);
            }
        };
        match self.mode {
            TokenMode::Pass(ttl) => {
                let headers = self.pass_headers(req, ttl, now);
                let pass = headers
                    .iter()
                    .find(|(k, _)| *k == X_SHIELD_PASS)
                    .and_then(|(_, v)| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut res = wire::json(
                    StatusCode::OK,
                    &serde_json::json!({"success": true, "token": pass, "expiresAt": rfc3339(now.saturating_add(ttl))}),
                );
                for (k, v) in headers {
                    res.headers_mut().append(k, v);
                }
                res
            }
            TokenMode::SingleUse => {
                let ttl = Duration::from_millis(
                    minted
                        .claims
                        .expires_ms
                        .saturating_sub(super::challenge::ms(now)),
                );
                let mut res = wire::json(
                    StatusCode::OK,
                    &serde_json::json!({"success": true, "token": minted.token, "expiresAt": rfc3339(now.saturating_add(ttl))}),
                );
                if let Some(c) = self.cookie_header(&self.token_cookie, &minted.token, ttl) {
                    res.headers_mut().append(http::header::SET_COOKIE, c);
                }
                res
            }
        }
    }

    pub(crate) fn asset(a: &'static Asset) -> Response<Bytes> {
        let mut res = Response::new(Bytes::from_static(a.body.as_bytes()));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        assert!(under("/app", "/app"));
        assert!(under("/app/x", "/app"));
        assert!(!under("/apple", "/app"));
        assert!(under("/.well-known/acme", "/.well-known/"));
        assert!(!under("/.well-knownx", "/.well-known/"));
        assert!(under("/anything", "/"));
    }

    #[test]
    fn cookies_and_queries() {
        let req = Request::get("/")
            .header(COOKIE, "a=1; shield_pass=esp_x ; b=\"2\"")
            .body(())
            .unwrap();
        assert_eq!(cookie(&req, "shield_pass"), Some("esp_x"));
        assert_eq!(cookie(&req, "b"), Some("2"));
        assert_eq!(cookie(&req, "c"), None);
        assert_eq!(query_param("a=1&nonce=5", "nonce"), Some("5"));
        assert_eq!(query_param("nonce", "nonce"), None);
    }

    #[test]
    fn config_is_checked() {
        let l = PowLayer::new(Pow::new("0123456789abcdef0123456789abcdef").unwrap());
        assert!(l.clone().protect_paths(["app"]).is_err());
        assert!(l.clone().endpoint_prefix("/x/").is_err());
        assert!(l.clone().site("").is_err());
        assert!(
            l.clone()
                .token_mode(TokenMode::Pass(Duration::from_secs(1)))
                .is_err()
        );
        assert!(l.token_mode(TokenMode::SingleUse).is_ok());
    }
}
