//! The dashboard: server-rendered pages (maud), no script of its own, charts as SVG.
//!
//! Handlers build `Result<page, error page>`: a finished response is a large `Err`, which
//! is fine on these cold paths.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use http::{HeaderMap, StatusCode};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use tower_sessions::Session;

use super::analytics::{Analytics, Period};
use super::auth::{SESSION_ADMIN, SESSION_CSRF, csrf_ok, new_csrf_token};
use super::store::{AdminError, Keys, SiteInput, SiteRecord};
use super::{AdminState, period_param, session_csrf, signed_in, valid_id};
use crate::pow::site::Mode;
use crate::pow::widget;

type St = State<Arc<AdminState>>;

const LOGIN_COOKIE: &str = "ecurtiy_login_csrf";
const CSS: &str = include_str!("admin.css");

pub(super) fn routes() -> Router<Arc<AdminState>> {
    Router::new()
        .route("/admin", get(sites_page))
        .route("/admin/", get(sites_page))
        .route("/admin/admin.css", get(css))
        .route("/admin/login", get(login_page).post(login_post))
        .route("/admin/logout", post(logout))
        .route("/admin/csrf", get(csrf_token))
        .route("/admin/sites/new", get(new_site_page))
        .route("/admin/sites", post(create_site_post))
        .route("/admin/sites/{id}", get(site_page).post(update_site_post))
        .route(
            "/admin/sites/{id}/regenerate",
            get(regenerate_page).post(regenerate_post),
        )
        .route(
            "/admin/sites/{id}/delete",
            get(delete_page).post(delete_post),
        )
        .route("/admin/sites/{id}/try", get(try_page))
}

// ---------------------------------------------------------------- responses

fn page(status: StatusCode, m: Markup) -> Response {
    let mut r = Response::new(Body::from(m.into_string()));
    *r.status_mut() = status;
    widget::page_headers(r.headers_mut());
    r
}

fn redirect(to: &str) -> Response {
    let mut r = super::empty(StatusCode::SEE_OTHER);
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn css() -> Response {
    let mut r = Response::new(Body::from(CSS));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r.headers_mut().insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn url(st: &AdminState, path: &str) -> String {
    format!("{}/admin{path}", st.base)
}

fn layout(st: &AdminState, title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · ECURTIY admin" }
                link rel="stylesheet" href=(url(st, "/admin.css"));
            }
            body {
                header.top {
                    a.brand href=(url(st, "/")) { "ECURTIY admin" }
                    @if let Some(c) = csrf {
                        nav aria-label="Main" {
                            a href=(url(st, "/")) { "Sites" }
                            a href=(url(st, "/sites/new")) { "New site" }
                            form.inline method="post" action=(url(st, "/logout")) {
                                input type="hidden" name="csrf" value=(c);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn message_page(st: &AdminState, status: StatusCode, title: &str, text: &str) -> Response {
    page(
        status,
        layout(
            st,
            title,
            None,
            html! { p role="alert" { (text) } p { a href=(url(st, "/")) { "Back to the dashboard" } } },
        ),
    )
}

fn store_error_page(st: &AdminState, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "ECURTIY admin: database failure");
    message_page(
        st,
        StatusCode::SERVICE_UNAVAILABLE,
        "Database unavailable",
        "The site database did not answer. Try again in a moment.",
    )
}

fn not_found_page(st: &AdminState) -> Response {
    message_page(
        st,
        StatusCode::NOT_FOUND,
        "Not found",
        "No site has this id.",
    )
}

/// A form, or why it could not be read.
type FormOf<T> = Result<Form<T>, FormRejection>;

/// The handlers below build their answer as `Result<page, error page>`.
async fn either(r: impl std::future::Future<Output = Result<Response, Response>>) -> Response {
    r.await.unwrap_or_else(|page| page)
}

fn take<T>(st: &AdminState, form: FormOf<T>) -> Result<T, Response> {
    form.map(|Form(f)| f).map_err(|e| bad_form(st, e))
}

/// A value that should exist: none is a 404 page, a database error a 503 page.
fn found<T, E: std::fmt::Display>(st: &AdminState, r: Result<Option<T>, E>) -> Result<T, Response> {
    match r {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(not_found_page(st)),
        Err(e) => Err(store_error_page(st, e)),
    }
}

fn checked_id(st: &AdminState, id: &str) -> Result<(), Response> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(not_found_page(st))
    }
}

fn bad_form(st: &AdminState, e: FormRejection) -> Response {
    message_page(
        st,
        if e.status().is_client_error() {
            e.status()
        } else {
            StatusCode::BAD_REQUEST
        },
        "Bad form",
        "The form could not be read. Reload the page and try again.",
    )
}

/// The signed-in session's CSRF token, or the response to send instead (a redirect to
/// the sign-in page).
async fn require(st: &AdminState, session: &Session) -> Result<String, Response> {
    if !signed_in(session).await {
        return Err(redirect(&url(st, "/login")));
    }
    match session_csrf(session).await {
        Some(c) => Ok(c),
        None => Err(redirect(&url(st, "/login"))),
    }
}

/// [`require`] plus the form's CSRF token.
async fn require_post(
    st: &AdminState,
    session: &Session,
    presented: &str,
) -> Result<String, Response> {
    let csrf = require(st, session).await?;
    if !csrf_ok(Some(presented), Some(&csrf)) {
        return Err(message_page(
            st,
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form's security token does not match your session (CSRF_FAILED). Reload the page and try again.",
        ));
    }
    Ok(csrf)
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .take(16)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';').take(64))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn login_cookie(st: &AdminState, value: &str, max_age: u32) -> Option<HeaderValue> {
    let secure = if st.secure_cookie { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={value}; Path={}/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        st.base
    ))
    .ok()
}

// ---------------------------------------------------------------- sign in and out

#[derive(Deserialize)]
struct LoginForm {
    password: String,
    csrf: String,
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

fn login_form(st: &AdminState, status: StatusCode, error: Option<&str>) -> Response {
    let Some(token) = new_csrf_token() else {
        return store_error_page(st, "no OS randomness");
    };
    let m = layout(
        st,
        "Sign in",
        None,
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form.card method="post" action=(url(st, "/login")) {
                input type="hidden" name="csrf" value=(token);
                label for="password" { "Admin password" }
                input id="password" name="password" type="password" autocomplete="current-password" required autofocus;
                button type="submit" { "Sign in" }
            }
        },
    );
    let mut r = page(status, m);
    if let Some(c) = login_cookie(st, &token, 3600) {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

async fn login_page(State(st): St, session: Session) -> Response {
    if signed_in(&session).await {
        return redirect(&url(&st, "/"));
    }
    login_form(&st, StatusCode::OK, None)
}

async fn login_post(
    State(st): St,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return bad_form(&st, e),
    };
    if !csrf_ok(Some(&form.csrf), cookie_value(&headers, LOGIN_COOKIE)) {
        return login_form(
            &st,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Try again."),
        );
    }
    if !st.auth.verify_password_async(form.password).await {
        return login_form(&st, StatusCode::UNAUTHORIZED, Some("Wrong password."));
    }
    let Some(csrf) = new_csrf_token() else {
        return store_error_page(&st, "no OS randomness");
    };
    // A fresh id on sign-in: a session id planted before cannot ride along.
    let done = async {
        session.cycle_id().await?;
        session.insert(SESSION_ADMIN, true).await?;
        session.insert(SESSION_CSRF, csrf).await
    }
    .await;
    if let Err(e) = done {
        return store_error_page(&st, e);
    }
    let mut r = redirect(&url(&st, "/"));
    if let Some(c) = login_cookie(&st, "", 0) {
        r.headers_mut().append(SET_COOKIE, c);
    }
    r
}

async fn logout(State(st): St, session: Session, form: FormOf<CsrfForm>) -> Response {
    either(async {
        let form = take(&st, form)?;
        require_post(&st, &session, &form.csrf).await?;
        session
            .flush()
            .await
            .map_err(|e| store_error_page(&st, e))?;
        Ok(redirect(&url(&st, "/login")))
    })
    .await
}

/// `{"csrfToken": "..."}` for API clients that use the session cookie.
async fn csrf_token(State(st): St, session: Session, headers: HeaderMap) -> Response {
    match (signed_in(&session).await, session_csrf(&session).await) {
        (true, Some(c)) => super::json(StatusCode::OK, &serde_json::json!({ "csrfToken": c })),
        _ => super::fail(&st, &headers, super::auth::unauthorized()),
    }
}

// ---------------------------------------------------------------- sites

fn site_status(s: &SiteRecord) -> &'static str {
    if s.active { "Active" } else { "Inactive" }
}

fn usage(s: &SiteRecord) -> String {
    match s.monthly_quota {
        Some(q) => format!("{} / {}", s.verifications_this_month, q),
        None => format!("{} (no limit)", s.verifications_this_month),
    }
}

async fn sites_page(State(st): St, session: Session) -> Response {
    either(sites_page_inner(&st, &session)).await
}

async fn sites_page_inner(st: &AdminState, session: &Session) -> Result<Response, Response> {
    let csrf = require(st, session).await?;
    let sites = st.sites.list().await.map_err(|e| store_error_page(st, e))?;
    let body = html! {
        p { a.button href=(url(st, "/sites/new")) { "Create a site" } }
        @if sites.is_empty() {
            p { "No sites yet." }
        } @else {
            div.scroll {
                table {
                    caption { (sites.len()) " sites" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Domain" } th scope="col" { "Site key" } th scope="col" { "Mode" } th scope="col" { "Difficulty" } th scope="col" { "Status" } th scope="col" { "Verifications this month" } } }
                    tbody {
                        @for s in &sites {
                            tr {
                                th scope="row" { a href=(url(st, &format!("/sites/{}", s.id))) { (s.name) } }
                                td { (s.domain.as_deref().unwrap_or("-")) }
                                td { code { (s.site_key) } }
                                td { (s.mode.as_str()) }
                                td { (s.difficulty) }
                                td { (site_status(s)) }
                                td { (usage(s)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout(st, "Sites", Some(&csrf), body)))
}

#[derive(Deserialize)]
struct SiteForm {
    csrf: String,
    name: String,
    #[serde(default)]
    domain: String,
    mode: String,
    difficulty: String,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    monthly_quota: String,
}

impl SiteForm {
    fn input(&self) -> Result<SiteInput, AdminError> {
        let bad = |f: &'static str, why: &'static str| AdminError::Invalid(f, why.into());
        let mode = match self.mode.as_str() {
            "checkbox" => Mode::Checkbox,
            "invisible" => Mode::Invisible,
            _ => return Err(bad("mode", "must be checkbox or invisible")),
        };
        let difficulty = self
            .difficulty
            .trim()
            .parse::<u8>()
            .map_err(|_| bad("difficulty", "must be 14 to 18"))?;
        let q = self.monthly_quota.trim();
        let monthly_quota = if q.is_empty() {
            None
        } else {
            Some(q.parse::<u64>().map_err(|_| {
                bad(
                    "monthlyQuota",
                    "must be a whole number, or empty for no limit",
                )
            })?)
        };
        Ok(SiteInput {
            name: Some(self.name.clone()),
            domain: Some(Some(self.domain.clone())),
            mode: Some(mode),
            difficulty: Some(difficulty),
            active: Some(self.active.is_some()),
            monthly_quota: Some(monthly_quota),
        })
    }
}

fn site_form(
    csrf: &str,
    action: &str,
    s: Option<&SiteRecord>,
    error: Option<&str>,
    submit: &str,
) -> Markup {
    let d = s.map_or(16, |s| s.difficulty);
    let mode = s.map_or(Mode::Checkbox, |s| s.mode);
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            label for="name" { "Name" }
            input id="name" name="name" required maxlength="100" value=(s.map_or("", |s| s.name.as_str()));
            label for="domain" { "Domain " span.hint { "(optional, e.g. shop.example.com)" } }
            input id="domain" name="domain" maxlength="253" inputmode="url" value=(s.and_then(|s| s.domain.as_deref()).unwrap_or(""));
            label for="mode" { "Mode" }
            select id="mode" name="mode" {
                option value="checkbox" selected[mode == Mode::Checkbox] { "Checkbox" }
                option value="invisible" selected[mode == Mode::Invisible] { "Invisible" }
            }
            label for="difficulty" { "Difficulty " span.hint { "(leading zero bits; each step doubles the work)" } }
            select id="difficulty" name="difficulty" {
                @for b in 14u8..=18 { option value=(b) selected[b == d] { (b) } }
            }
            label for="monthly_quota" { "Monthly verification quota " span.hint { "(empty: no limit)" } }
            input id="monthly_quota" name="monthly_quota" type="number" min="1" inputmode="numeric" value=(s.and_then(|s| s.monthly_quota).map(|q| q.to_string()).unwrap_or_default());
            div.check {
                input id="active" name="active" type="checkbox" value="on" checked[s.is_none_or(|s| s.active)];
                label for="active" { "Active (inactive sites get SITE_INACTIVE)" }
            }
            button type="submit" { (submit) }
        }
    }
}

async fn new_site_page(State(st): St, session: Session) -> Response {
    either(async {
        let csrf = require(&st, &session).await?;
        let body = site_form(&csrf, &url(&st, "/sites"), None, None, "Create site");
        Ok(page(
            StatusCode::OK,
            layout(&st, "New site", Some(&csrf), body),
        ))
    })
    .await
}

fn keys_page(st: &AdminState, csrf: &str, title: &str, site: &SiteRecord, keys: &Keys) -> Response {
    let body = html! {
        p role="status" { "Copy the secret key now: it is stored hashed and cannot be shown again." }
        dl.keys {
            dt { "Site key (public, goes in your pages)" } dd { code id="site-key" { (keys.site_key) } }
            dt { "Secret key (server side, for /api/validate)" } dd { code id="secret-key" { (keys.secret_key) } }
        }
        p { a.button href=(url(st, &format!("/sites/{}", site.id))) { "Go to " (site.name) } }
    };
    page(StatusCode::OK, layout(st, title, Some(csrf), body))
}

async fn create_site_post(State(st): St, session: Session, form: FormOf<SiteForm>) -> Response {
    either(async {
        let form = take(&st, form)?;
        let csrf = require_post(&st, &session, &form.csrf).await?;
        match form.input() {
            Ok(input) => st.sites.create(&input).await,
            Err(e) => Err(e),
        }
        .map(|(site, keys)| keys_page(&st, &csrf, "Site created", &site, &keys))
        .map_err(|e| match e {
            AdminError::Invalid(f, why) => {
                let msg = format!("{f} {why}");
                let body = site_form(&csrf, &url(&st, "/sites"), None, Some(&msg), "Create site");
                page(
                    StatusCode::BAD_REQUEST,
                    layout(&st, "New site", Some(&csrf), body),
                )
            }
            AdminError::Store(e) => store_error_page(&st, e),
        })
    })
    .await
}

fn chart(a: &Analytics) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 56.0;
    const TOP: f64 = 12.0;
    const BOTTOM: f64 = 32.0;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let max = a
        .chart_data
        .iter()
        .map(|p| p.total)
        .max()
        .unwrap_or(0)
        .max(1);
    // A round axis maximum: 1, 2 or 5 times a power of ten.
    let mut top = 1u64;
    while top < max {
        top = match top.to_string().as_bytes()[0] {
            b'1' => top * 2,
            b'2' => top / 2 * 5,
            _ => top * 2,
        };
    }
    let n = a.chart_data.len().max(1) as f64;
    let bw = plot_w / n;
    let bar = (bw * 0.7).max(1.0);
    let label = |d: &str| -> String {
        if a.period == "24h" {
            d.get(11..16).unwrap_or(d).to_owned()
        } else {
            d.get(5..10).unwrap_or(d).to_owned()
        }
    };
    let last = a.chart_data.len().saturating_sub(1);
    let s = &a.summary;
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {W} {H}")) role="img"
            aria-labelledby="chart-title chart-desc" data-total=(s.total_verifications) data-passed=(s.passed_verifications) {
            title id="chart-title" { "Verifications per " (if a.period == "24h" { "hour" } else { "day" }) ", last " (a.period) }
            desc id="chart-desc" { (s.total_verifications) " verifications, " (s.passed_verifications) " passed, " (s.failed_verifications) " failed." }
            line.axis x1=(LEFT) y1=(TOP + plot_h) x2=(W - 8.0) y2=(TOP + plot_h) {}
            line.grid x1=(LEFT) y1=(TOP) x2=(W - 8.0) y2=(TOP) {}
            text.tick x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" dominant-baseline="middle" { (top) }
            text.tick x=(LEFT - 6.0) y=(TOP + plot_h + 4.0) text-anchor="end" { "0" }
            @for (i, p) in a.chart_data.iter().enumerate() {
                @let x = LEFT + i as f64 * bw + (bw - bar) / 2.0;
                @let ph = p.passed as f64 / top as f64 * plot_h;
                @let fh = p.failed as f64 / top as f64 * plot_h;
                g.bar data-date=(p.date) data-total=(p.total) {
                    title { (p.date) ": " (p.total) " (" (p.passed) " passed, " (p.failed) " failed)" }
                    @if p.passed > 0 { rect.passed x=(format!("{x:.1}")) y=(format!("{:.1}", TOP + plot_h - ph)) width=(format!("{bar:.1}")) height=(format!("{ph:.1}")) {} }
                    @if p.failed > 0 { rect.failed x=(format!("{x:.1}")) y=(format!("{:.1}", TOP + plot_h - ph - fh)) width=(format!("{bar:.1}")) height=(format!("{fh:.1}")) {} }
                }
                // The first and last labels align with the plot's edges: centred under a
                // narrow edge bar they would run off the chart (and be clipped).
                @if i == 0 && last > 0 {
                    text.tick x=(LEFT) y=(H - 8.0) text-anchor="start" { (label(&p.date)) }
                } @else if i == last && last > 0 {
                    text.tick x=(LEFT + plot_w) y=(H - 8.0) text-anchor="end" { (label(&p.date)) }
                } @else if i == last / 2 || i == last {
                    text.tick x=(format!("{:.1}", LEFT + i as f64 * bw + bw / 2.0)) y=(H - 8.0) text-anchor="middle" { (label(&p.date)) }
                }
            }
        }
    }
}

fn analytics_section(st: &AdminState, site: &SiteRecord, a: &Analytics) -> Markup {
    let s = &a.summary;
    html! {
        section aria-labelledby="analytics-h" {
            h2 id="analytics-h" { "Analytics" }
            nav.periods aria-label="Period" {
                @for p in Period::ALL {
                    @if p.as_str() == a.period {
                        a aria-current="page" href=(url(st, &format!("/sites/{}?period={}", site.id, p.as_str()))) { (p.as_str()) }
                    } @else {
                        a href=(url(st, &format!("/sites/{}?period={}", site.id, p.as_str()))) { (p.as_str()) }
                    }
                }
            }
            dl.summary {
                div { dt { "Verifications" } dd id="total-verifications" { (s.total_verifications) } }
                div { dt { "Passed" } dd id="passed-verifications" { (s.passed_verifications) } }
                div { dt { "Failed" } dd { (s.failed_verifications) } }
                div { dt { "Pass rate" } dd { (s.pass_rate) "%" } }
                div { dt { "Average solve time" } dd { (s.avg_solve_time_ms) " ms" } }
                div { dt { "Average risk score" } dd { (s.avg_risk_score) } }
            }
            figure {
                (chart(a))
                figcaption { span.key-passed { "Passed" } " " span.key-failed { "Failed" } }
            }
            details {
                summary { "Chart data as a table" }
                div.scroll { table {
                    thead { tr { th scope="col" { "From" } th scope="col" { "Total" } th scope="col" { "Passed" } th scope="col" { "Failed" } } }
                    tbody { @for p in &a.chart_data { tr { td { (p.date) } td { (p.total) } td { (p.passed) } td { (p.failed) } } } }
                } }
            }
            h3 { "Recent verifications" }
            @if a.recent_verifications.is_empty() {
                p { "None in this period." }
            } @else {
                div.scroll { table id="recent" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Result" } th scope="col" { "Risk score" } th scope="col" { "Solve time" } } }
                    tbody {
                        @for r in &a.recent_verifications {
                            tr {
                                td { (r.created_at) }
                                td { @if r.passed { "Passed" } @else { "Failed " (r.error.as_deref().unwrap_or("")) } }
                                td { (r.risk_score.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())) }
                                td { (r.solve_time_ms.map(|v| format!("{v} ms")).unwrap_or_else(|| "-".into())) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

async fn site_page(
    State(st): St,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    session: Session,
) -> Response {
    either(async {
        let csrf = require(&st, &session).await?;
        let period = period_param(q.as_deref()).map_err(|_| {
            message_page(
                &st,
                StatusCode::BAD_REQUEST,
                "Bad period",
                "The period must be one of 24h, 7d, 30d, 90d.",
            )
        })?;
        let site = load_site(&st, &id).await?;
        let a = found(&st, st.sites.analytics(&id, period).await)?;
        let body = site_body(&st, &csrf, &site, &a, None);
        Ok(page(
            StatusCode::OK,
            layout(&st, &site.name, Some(&csrf), body),
        ))
    })
    .await
}

fn site_body(
    st: &AdminState,
    csrf: &str,
    site: &SiteRecord,
    a: &Analytics,
    error: Option<&str>,
) -> Markup {
    html! {
        dl.details {
            dt { "Site id" } dd { code { (site.id) } }
            dt { "Site key" } dd { code id="site-key" { (site.site_key) } }
            dt { "Status" } dd { (site_status(site)) }
            dt { "Verifications this month" } dd { (usage(site)) }
        }
        p.actions {
            a.button href=(url(st, &format!("/sites/{}/try", site.id))) { "Try the widget" }
            a href=(url(st, &format!("/sites/{}/regenerate", site.id))) { "Regenerate keys" }
            a.danger href=(url(st, &format!("/sites/{}/delete", site.id))) { "Delete site" }
        }
        (analytics_section(st, site, a))
        section aria-labelledby="settings-h" {
            h2 id="settings-h" { "Settings" }
            (site_form(csrf, &url(st, &format!("/sites/{}", site.id)), Some(site), error, "Save changes"))
        }
    }
}

async fn update_site_post(
    State(st): St,
    Path(id): Path<String>,
    session: Session,
    form: FormOf<SiteForm>,
) -> Response {
    either(async {
        let form = take(&st, form)?;
        let csrf = require_post(&st, &session, &form.csrf).await?;
        checked_id(&st, &id)?;
        let res = match form.input() {
            Ok(input) => st.sites.update(&id, &input).await,
            Err(e) => Err(e),
        };
        if let Err(AdminError::Invalid(f, why)) = res {
            let site = load_site(&st, &id).await?;
            let a = found(&st, st.sites.analytics(&id, Period::default()).await)?;
            let msg = format!("{f} {why}");
            let body = site_body(&st, &csrf, &site, &a, Some(&msg));
            return Ok(page(
                StatusCode::BAD_REQUEST,
                layout(&st, &site.name, Some(&csrf), body),
            ));
        }
        found(&st, res)?;
        Ok(redirect(&url(&st, &format!("/sites/{id}"))))
    })
    .await
}

fn confirm_page(
    st: &AdminState,
    csrf: &str,
    site: &SiteRecord,
    what: &str,
    title: &str,
    text: &str,
    button: &str,
) -> Response {
    let body = html! {
        p role="alert" { (text) }
        form.card method="post" action=(url(st, &format!("/sites/{}/{what}", site.id))) {
            input type="hidden" name="csrf" value=(csrf);
            button.danger type="submit" { (button) }
            a href=(url(st, &format!("/sites/{}", site.id))) { "Cancel" }
        }
    };
    page(StatusCode::OK, layout(st, title, Some(csrf), body))
}

async fn load_site(st: &AdminState, id: &str) -> Result<SiteRecord, Response> {
    checked_id(st, id)?;
    found(st, st.sites.get(id).await)
}

async fn regenerate_page(State(st): St, Path(id): Path<String>, session: Session) -> Response {
    either(async {
        let csrf = require(&st, &session).await?;
        let site = load_site(&st, &id).await?;
        Ok(confirm_page(
            &st,
            &csrf,
            &site,
            "regenerate",
            &format!("Regenerate the keys of {}?", site.name),
            "The current site key and secret key stop working at once: pages and servers using them fail until you deploy the new keys.",
            "Regenerate keys",
        ))
    })
    .await
}

async fn regenerate_post(
    State(st): St,
    Path(id): Path<String>,
    session: Session,
    form: FormOf<CsrfForm>,
) -> Response {
    either(async {
        let form = take(&st, form)?;
        let csrf = require_post(&st, &session, &form.csrf).await?;
        checked_id(&st, &id)?;
        let (site, keys) = found(&st, st.sites.regenerate_keys(&id).await)?;
        Ok(keys_page(&st, &csrf, "New keys", &site, &keys))
    })
    .await
}

async fn delete_page(State(st): St, Path(id): Path<String>, session: Session) -> Response {
    either(async {
        let csrf = require(&st, &session).await?;
        let site = load_site(&st, &id).await?;
        Ok(confirm_page(
            &st,
            &csrf,
            &site,
            "delete",
            &format!("Delete {}?", site.name),
            "The site, its keys and all its analytics are deleted. This cannot be undone.",
            "Delete site",
        ))
    })
    .await
}

async fn delete_post(
    State(st): St,
    Path(id): Path<String>,
    session: Session,
    form: FormOf<CsrfForm>,
) -> Response {
    either(async {
        let form = take(&st, form)?;
        require_post(&st, &session, &form.csrf).await?;
        checked_id(&st, &id)?;
        found(&st, st.sites.delete(&id).await.map(|d| d.then_some(())))?;
        Ok(redirect(&url(&st, "/")))
    })
    .await
}

async fn try_page(State(st): St, Path(id): Path<String>, session: Session) -> Response {
    either(try_page_inner(&st, &id, &session)).await
}

async fn try_page_inner(
    st: &AdminState,
    id: &str,
    session: &Session,
) -> Result<Response, Response> {
    let csrf = require(st, session).await?;
    let site = load_site(st, id).await?;
    let w = format!("{}/widget", st.base);
    let body = html! {
        link rel="stylesheet" href=(format!("{w}/shield-pow.css"));
        p { "This runs the real widget against " code { (site.site_key) } ": the verification counts in the site's analytics and quota." }
        form id="demo-form" action="#" {
            div.shield-pow data-sitekey=(site.site_key) data-api=(st.base) {}
        }
        p { "Token: " code id="demo-token" { "none yet" } }
        p { output id="demo-result" aria-live="polite" {} }
        p { a href=(url(st, &format!("/sites/{}", site.id))) { "Back to " (site.name) } }
        script src=(format!("{w}/shield-pow.js")) {}
        script src=(format!("{w}/demo.js")) {}
    };
    Ok(page(
        StatusCode::OK,
        layout(
            st,
            &format!("Try the widget: {}", site.name),
            Some(&csrf),
            body,
        ),
    ))
}
