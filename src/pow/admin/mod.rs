//! ECURTIY site management, analytics and an admin dashboard (feature `pow-admin`).
//!
//! * [`SqlSites`]: sites, monthly usage and verification events in SQLite (embedded
//!   default) or PostgreSQL (fleets), one migration set through sqlx's `Any` driver. It is
//!   the [`SiteStore`](crate::pow::SiteStore) of the challenge [`Api`](crate::pow::api::Api):
//!   inactive sites get SITE_INACTIVE and exhausted monthly quotas QUOTA_EXCEEDED at
//!   challenge time, and every verify and validate is recorded through a bounded queue
//!   written in batches (see [`SqlSites`] for what a crash can lose).
//! * [`Admin`]: an axum [`Router`] with the seed's management API and a server-rendered
//!   dashboard. Mount it beside the challenge API:
//!
//! | route | what |
//! |---|---|
//! | `GET`/`POST /api/sites` | list; create (`{name, domain?, mode?, difficulty?, active?, monthlyQuota?}`, 201 with the keys) |
//! | `GET`/`PATCH`/`DELETE /api/sites/{id}` | one site; change; delete with its data |
//! | `POST /api/sites/{id}/regenerate-keys` | new `eck_live_`/`ecs_live_` keys (the old ones stop working) |
//! | `GET /api/analytics/{siteId}?period=24h\|7d\|30d\|90d` | `summary`, `chartData`, `recentVerifications` |
//! | `GET /admin/` and below | the dashboard: sign in, sites, create, edit, regenerate, delete, analytics, try the widget |
//!
//! # Authentication
//!
//! The API answers 401 `UNAUTHORIZED` without either a dashboard session (cookie
//! `ecurtiy_admin`: HttpOnly, SameSite=Strict, Secure unless [`Admin::secure_cookie`] is
//! turned off, 8 hours of inactivity; sessions live in the same database, so they survive
//! restarts and work across a fleet) or `Authorization: Bearer <admin token>`
//! ([`AdminAuth::token`], for scripts). Sign-in checks an argon2 password hash from the
//! configuration, at most two at a time, and renews the session id. Writes authenticated
//! by the cookie need the session's CSRF token (a hidden form field on the dashboard, the
//! `X-CSRF-Token` header on the API; `GET /admin/csrf` returns it), or they get 403
//! `CSRF_FAILED`; the sign-in form uses a double-submit cookie. A site id that does not
//! exist is 404 `NOT_FOUND`; bad input is 400 `INVALID_REQUEST`; a database failure 503.
//! Errors use the API's JSON shape (`{"success": false, "error": {...}}`).
//!
//! # Threat model and caveats
//!
//! * Put a rate limit keyed by the client address in front of `/admin/login`: each attempt
//!   costs an argon2 hash (at most two run at once, so a flood slows sign-in, nothing else).
//! * Whoever holds the admin token or a live session can read and change every site; the
//!   token is compared as a SHA-256 digest in constant time; keep it out of URLs and logs.
//! * The session cookie is `Secure` by default: serve the dashboard over HTTPS (browsers
//!   make an exception for `http://localhost` only).
//! * Quotas are counted per calendar month (UTC) from recorded verifications; a fleet can
//!   overshoot by what the other instances verify within a second, and a crash loses the
//!   queued events (see [`SqlSites`]). Replayed verifications are refused and not counted.
//! * Analytics hold what clients report (solve time, behaviour): they show trends, not proof.
//! * All input is bounded: bodies 16 KiB, names 100 characters, ids and keys 64 bytes of
//!   printable ASCII; nothing malformed reaches the database (property tests, fuzz target
//!   `admin_inputs`).
//!
//! Secret keys are shown once, when created or regenerated: the database keeps their
//! SHA-256 digest only (they are 192-bit random values, so a fast hash suffices).
//!
//! ```
//! use axum::body::Body;
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_shield::pow::{Pow, api::Api};
//! use tower_shield::pow::admin::{Admin, AdminAuth, SqlSites};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `sqlite://data/ecurtiy.db?mode=rwc` or `postgres://...` in production.
//! let sites = SqlSites::connect("sqlite::memory:").await?;
//! let hash = AdminAuth::hash_password("correct horse battery staple")?; // or from the config
//! let auth = AdminAuth::new(&hash)?.token("a-bearer-token-for-scripts-0123456789")?;
//! let pow = Pow::new("a secret of at least thirty-two bytes!!")?;
//! let captcha = Api::new(pow, sites.clone())
//!     .into_router()
//!     .merge(Admin::new(sites, auth).base_path("/captcha").into_router());
//! let app = axum::Router::new().nest("/captcha", captcha);
//!
//! // Without credentials: 401.
//! let res = app.clone().oneshot(Request::get("/captcha/api/sites").body(Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! // A script creates a site with the bearer token...
//! let res = app.clone().oneshot(
//!     Request::post("/captcha/api/sites")
//!         .header("authorization", "Bearer a-bearer-token-for-scripts-0123456789")
//!         .header("content-type", "application/json")
//!         .body(Body::from(r#"{"name": "Shop", "monthlyQuota": 10000}"#))?,
//! ).await?;
//! assert_eq!(res.status(), StatusCode::CREATED);
//! let body = http_body_util::BodyExt::collect(res.into_body()).await?.to_bytes();
//! let site: serde_json::Value = serde_json::from_slice(&body)?;
//! let site_key = site["data"]["siteKey"].as_str().unwrap();
//! // ...and its key works at once for challenges.
//! let res = app.oneshot(
//!     Request::post("/captcha/api/challenge")
//!         .header("content-type", "application/json")
//!         .body(Body::from(format!(r#"{{"siteKey": "{site_key}"}}"#)))?,
//! ).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! # Ok(()) }
//! ```

pub mod analytics;
mod auth;
mod pages;
mod session;
mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, Method, StatusCode};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

pub use analytics::{Analytics, Period};
pub use auth::{AdminAuth, MIN_TOKEN_LEN, X_CSRF_TOKEN};
pub use session::{MAX_SESSIONS, SqlSessionStore};
pub use store::{
    AdminError, Keys, MAX_SITES, MAX_SOLVE_TIME_MS, RETENTION, RecorderStats, SiteInput,
    SiteRecord, SqlSites, SqlSitesBuilder, month_of,
};

use self::auth::{SESSION_ADMIN, SESSION_CSRF, csrf_failed, csrf_ok, is_safe, unauthorized};
use super::api::{error_response, json, read_json};
use crate::core::reject::{Rejection, RejectionKind};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "ecurtiy_admin";
/// Largest request body of the admin routes (JSON or form).
pub const ADMIN_BODY_LIMIT: usize = 16 * 1024;

/// The management API and dashboard as a [`Router`] (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct Admin {
    sites: SqlSites,
    auth: AdminAuth,
    base: String,
    secure_cookie: bool,
    session_idle: time::Duration,
}

pub(crate) struct AdminState {
    pub(crate) sites: SqlSites,
    pub(crate) auth: AdminAuth,
    /// Where the router is mounted, e.g. `/captcha` (no trailing slash).
    pub(crate) base: String,
    pub(crate) secure_cookie: bool,
}

type St = State<Arc<AdminState>>;

impl Admin {
    /// The admin side over `sites`, signing in with `auth`.
    pub fn new(sites: SqlSites, auth: AdminAuth) -> Self {
        Self {
            sites,
            auth,
            base: String::new(),
            secure_cookie: true,
            session_idle: time::Duration::hours(8),
        }
    }

    /// Where the router is mounted (e.g. `/captcha`), for links, redirects and the
    /// cookie path. Default: the root.
    pub fn base_path(mut self, base: &str) -> Self {
        self.base = base.trim_end_matches('/').to_owned();
        self
    }

    /// Mark cookies `Secure` (default `true`). Browsers accept Secure cookies from
    /// `http://localhost`; turn this off only for plain-HTTP development on other hosts.
    pub fn secure_cookie(mut self, secure: bool) -> Self {
        self.secure_cookie = secure;
        self
    }

    /// Sign out after this much inactivity (default 8 hours; at least a minute).
    pub fn session_idle(mut self, idle: std::time::Duration) -> Self {
        let secs = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX).max(60);
        self.session_idle = time::Duration::seconds(secs);
        self
    }

    /// The router.
    pub fn into_router(self) -> Router {
        let sessions = SessionManagerLayer::new(SqlSessionStore::new(self.sites.pool().clone()))
            .with_name(SESSION_COOKIE)
            .with_secure(self.secure_cookie)
            .with_http_only(true)
            .with_same_site(SameSite::Strict)
            .with_path(if self.base.is_empty() {
                "/".to_owned()
            } else {
                self.base.clone()
            })
            .with_expiry(Expiry::OnInactivity(self.session_idle));
        let st = Arc::new(AdminState {
            sites: self.sites,
            auth: self.auth,
            base: self.base,
            secure_cookie: self.secure_cookie,
        });
        Router::new()
            .route("/api/sites", get(list_sites).post(create_site))
            .route(
                "/api/sites/{id}",
                get(get_site).patch(patch_site).delete(delete_site),
            )
            .route("/api/sites/{id}/regenerate-keys", post(regenerate_keys))
            .route("/api/analytics/{id}", get(site_analytics))
            .merge(pages::routes())
            .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
            .layer(sessions)
            .with_state(st)
    }
}

fn now(st: &AdminState) -> std::time::Duration {
    st.sites.clock().now()
}

fn fail(st: &AdminState, headers: &HeaderMap, r: Rejection) -> Response {
    error_response(headers, now(st), r)
}

fn store_failed(e: impl std::fmt::Display) -> Rejection {
    tracing::warn!(error = %e, "ECURTIY admin: database failure");
    Rejection::new(
        RejectionKind::StoreUnavailable,
        "The site database is unavailable",
    )
}

fn admin_err(e: AdminError) -> Rejection {
    match e {
        AdminError::Invalid(field, why) => {
            Rejection::new(RejectionKind::InvalidRequest, format!("{field} {why}"))
        }
        AdminError::Store(e) => store_failed(e),
    }
}

fn not_found() -> Rejection {
    Rejection::new(RejectionKind::NotFound, "No site has this id")
}

/// `true` when the session is signed in. Store errors read as signed out.
pub(crate) async fn signed_in(session: &Session) -> bool {
    matches!(session.get::<bool>(SESSION_ADMIN).await, Ok(Some(true)))
}

pub(crate) async fn session_csrf(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_CSRF).await.ok().flatten()
}

/// API authentication: the bearer token, or a signed-in session (plus CSRF on writes).
async fn api_auth(
    st: &AdminState,
    method: &Method,
    headers: &HeaderMap,
    session: &Session,
) -> Result<(), Rejection> {
    match st.auth.bearer(headers) {
        Some(true) => return Ok(()),
        Some(false) => return Err(unauthorized()),
        None => {}
    }
    if !signed_in(session).await {
        return Err(unauthorized());
    }
    if !is_safe(method) {
        let presented = headers
            .get(auth::X_CSRF_TOKEN)
            .and_then(|v| v.to_str().ok());
        if !csrf_ok(presented, session_csrf(session).await.as_deref()) {
            return Err(csrf_failed());
        }
    }
    Ok(())
}

/// Runs an API handler's body `f` after authentication; any rejection becomes the JSON
/// error response.
async fn handle<F, Fut>(st: Arc<AdminState>, session: Session, req: Request, f: F) -> Response
where
    F: FnOnce(Arc<AdminState>, Body) -> Fut,
    Fut: std::future::Future<Output = Result<Response, Rejection>>,
{
    let (parts, body) = req.into_parts();
    let res = match api_auth(&st, &parts.method, &parts.headers, &session).await {
        Ok(()) => f(st.clone(), body).await,
        Err(r) => Err(r),
    };
    res.unwrap_or_else(|r| fail(&st, &parts.headers, r))
}

/// Site ids are `site_` and hex; anything else (too long, odd bytes) cannot name a site
/// and never reaches the database.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

type IdParam = Result<Path<String>, PathRejection>;

/// The `{id}` path segment; a segment axum cannot decode is no site's id.
fn site_id(p: IdParam) -> Result<String, Rejection> {
    p.map(|Path(id)| id)
        .ok()
        .filter(|id| valid_id(id))
        .ok_or_else(not_found)
}

fn ok(status: StatusCode, data: impl serde::Serialize) -> Response {
    json(
        status,
        &serde_json::json!({ "success": true, "data": data }),
    )
}

fn with_secret(site: &SiteRecord, keys: &Keys) -> serde_json::Value {
    let mut v = serde_json::to_value(site).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("secretKey".into(), keys.secret_key.clone().into());
    }
    v
}

async fn list_sites(State(st): St, session: Session, req: Request) -> Response {
    handle(st, session, req, |st, _| async move {
        let sites = st.sites.list().await.map_err(store_failed)?;
        Ok(ok(StatusCode::OK, sites))
    })
    .await
}

async fn create_site(State(st): St, session: Session, req: Request) -> Response {
    handle(st, session, req, |st, body| async move {
        let input: SiteInput = read_json(body, ADMIN_BODY_LIMIT).await?;
        let (site, keys) = st.sites.create(&input).await.map_err(admin_err)?;
        Ok(ok(StatusCode::CREATED, with_secret(&site, &keys)))
    })
    .await
}

async fn get_site(State(st): St, id: IdParam, session: Session, req: Request) -> Response {
    handle(st, session, req, |st, _| async move {
        let id = site_id(id)?;
        let site = st.sites.get(&id).await.map_err(store_failed)?;
        Ok(ok(StatusCode::OK, site.ok_or_else(not_found)?))
    })
    .await
}

async fn patch_site(State(st): St, id: IdParam, session: Session, req: Request) -> Response {
    handle(st, session, req, |st, body| async move {
        let id = site_id(id)?;
        let input: SiteInput = read_json(body, ADMIN_BODY_LIMIT).await?;
        let site = st.sites.update(&id, &input).await.map_err(admin_err)?;
        Ok(ok(StatusCode::OK, site.ok_or_else(not_found)?))
    })
    .await
}

async fn delete_site(State(st): St, id: IdParam, session: Session, req: Request) -> Response {
    handle(st, session, req, |st, _| async move {
        let id = site_id(id)?;
        if !st.sites.delete(&id).await.map_err(admin_err)? {
            return Err(not_found());
        }
        Ok(ok(
            StatusCode::OK,
            serde_json::json!({ "id": id, "deleted": true }),
        ))
    })
    .await
}

async fn regenerate_keys(State(st): St, id: IdParam, session: Session, req: Request) -> Response {
    handle(st, session, req, |st, _| async move {
        let id = site_id(id)?;
        let (site, keys) = st
            .sites
            .regenerate_keys(&id)
            .await
            .map_err(admin_err)?
            .ok_or_else(not_found)?;
        Ok(ok(StatusCode::OK, with_secret(&site, &keys)))
    })
    .await
}

/// The `period` parameter: absent is `7d`; anything but the four periods is `Err`.
pub(crate) fn period_param(query: Option<&str>) -> Result<Period, Rejection> {
    Period::from_query(query).ok_or_else(|| {
        Rejection::new(
            RejectionKind::InvalidRequest,
            "period must be one of 24h, 7d, 30d, 90d",
        )
    })
}

async fn site_analytics(
    State(st): St,
    id: IdParam,
    RawQuery(q): RawQuery,
    session: Session,
    req: Request,
) -> Response {
    handle(st, session, req, |st, _| async move {
        let period = period_param(q.as_deref())?;
        let id = site_id(id)?;
        let a = st
            .sites
            .analytics(&id, period)
            .await
            .map_err(store_failed)?
            .ok_or_else(not_found)?;
        let mut v = serde_json::to_value(&a).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("success".into(), true.into());
        }
        Ok(json(StatusCode::OK, &v))
    })
    .await
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_param_parses() {
        assert_eq!(period_param(None).unwrap(), Period::Week);
        assert_eq!(period_param(Some("period=24h")).unwrap(), Period::Day);
        assert_eq!(
            period_param(Some("x=1&period=90d")).unwrap(),
            Period::Quarter
        );
        assert!(period_param(Some("period=1y")).is_err());
        assert!(period_param(Some("period=")).is_err());
    }
}
