//! ECURTIY site management and analytics (feature `pow-admin`): one suite, run against
//! SQLite (a temporary file) and PostgreSQL (`127.0.0.1:5432`, database `test`, a fresh
//! schema per test; override with `TOWER_SHIELD_PG_URL`). PostgreSQL must be up: these
//! tests fail, never skip, without it.
#![cfg(feature = "pow-admin")]

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::Digest;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;
use tower_shield::core::clock::ManualClock;
use tower_shield::core::ext::PeerAddr;
use tower_shield::pow::admin::{Admin, AdminAuth, Period, SiteInput, SqlSites};
use tower_shield::pow::api::Api;
use tower_shield::pow::site::{EventKind, SiteStore, VerificationEvent};
use tower_shield::pow::{Pow, solve};

const PASSWORD: &str = "correct horse battery staple";
const TOKEN: &str = "admin-token-for-scripts-0123456789abcdef";
/// 2024-12-08T12:00:00Z.
const T0: u64 = 1_733_659_200;

static N: AtomicU64 = AtomicU64::new(0);

fn unique(tag: &str) -> String {
    format!(
        "{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn pg_base() -> String {
    std::env::var("TOWER_SHIELD_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn connect(backend: Backend, clock: &ManualClock) -> SqlSites {
    let url = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{}.db", unique("tower_shield_admin")));
            format!("sqlite://{}?mode=rwc", path.display())
        }
        Backend::Postgres => {
            let schema = unique("ts_admin");
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&pg_base())
                .await
                .expect("PostgreSQL at 127.0.0.1:5432 (database test) must be running");
            // Schemas of earlier runs whose process is gone: dropped, so runs leave no
            // growing pile behind (a live run's schemas are never touched).
            let stale: Vec<String> =
                sqlx::query("SELECT CAST(nspname AS TEXT) FROM pg_namespace WHERE nspname LIKE 'ts\\_admin\\_%'")
                    .fetch_all(&pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| sqlx::Row::get::<String, _>(r, 0))
                    .filter(|name| {
                        let pid = name.split('_').nth(2).unwrap_or("");
                        !pid.is_empty()
                            && pid.bytes().all(|b| b.is_ascii_digit())
                            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    })
                    .collect();
            for name in stale {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&pool)
                    .await;
            }
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            format!("{}?options%5Bsearch_path%5D={schema}", pg_base())
        }
    };
    SqlSites::builder(&url)
        .clock(clock.clone())
        .connect()
        .await
        .unwrap()
}

struct Env {
    sites: SqlSites,
    clock: ManualClock,
    app: Router,
}

async fn env(backend: Backend) -> Env {
    let clock = ManualClock::new(Duration::from_secs(T0));
    let sites = connect(backend, &clock).await;
    let pow = Pow::builder()
        .secret("admin-test-secret-admin-test-secret!!")
        .unwrap()
        .clock(clock.clone())
        .build();
    let auth = AdminAuth::new(&AdminAuth::hash_password(PASSWORD).unwrap())
        .unwrap()
        .token(TOKEN)
        .unwrap();
    let captcha = Api::new(pow, sites.clone()).into_router().merge(
        Admin::new(sites.clone(), auth)
            .base_path("/captcha")
            .into_router(),
    );
    let app = Router::new().nest("/captcha", captcha);
    Env { sites, clock, app }
}

struct Res {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
    text: String,
}

impl Env {
    /// A site with only a name, straight through the store.
    async fn site(&self, name: &str) -> tower_shield::pow::admin::SiteRecord {
        let input = SiteInput {
            name: Some(name.into()),
            ..Default::default()
        };
        self.sites.create(&input).await.unwrap().0
    }

    async fn call(&self, mut req: Request<Body>) -> Res {
        req.extensions_mut()
            .insert(PeerAddr("203.0.113.7:4000".parse().unwrap()));
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Res {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Res {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/captcha{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if body.is_some() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        self.call(
            b.body(body.map_or(Body::empty(), |v| Body::from(v.to_string())))
                .unwrap(),
        )
        .await
    }

    async fn post_json(&self, path: &str, body: Value) -> Res {
        self.call(
            Request::post(format!("/captcha{path}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// challenge + solve + verify; returns the verify response.
    async fn verify_once(&self, site_key: &str) -> Res {
        let c = self
            .post_json("/api/challenge", json!({ "siteKey": site_key }))
            .await;
        if c.status != StatusCode::OK {
            return c;
        }
        let prefix = c.body["prefix"].as_str().unwrap();
        let d = c.body["difficulty"].as_u64().unwrap() as u8;
        let nonce = solve(prefix, d, 0, 1 << 28).unwrap();
        self.clock.advance(Duration::from_millis(1500));
        self.post_json(
            "/api/verify",
            json!({
                "challengeId": c.body["challengeId"], "nonce": nonce, "solveTimeMs": 1400,
                "fingerprint": "fp-test-0123456789",
                "behavioral": { "mouseEntropy": 0.8, "interactionCount": 12, "sessionDuration": 9000 }
            }),
        )
        .await
    }
}

fn cookie_pair(res: &Res, name: &str) -> Option<String> {
    res.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

both!(
    crud_round_trip,
    authorization,
    regenerated_keys_replace_old_ones,
    quota_and_inactive_codes,
    analytics_period_boundaries,
    queue_under_load_loses_nothing,
    delete_removes_data,
    dashboard_forms_need_csrf_and_escape,
    huge_solve_times_do_not_break_sums,
    config_sites_are_imported_once,
    failed_batches_release_their_quota,
    sessions_persist_in_the_database,
);

async fn crud_round_trip(b: Backend) {
    let e = env(b).await;
    let r = e
        .api(
            "POST",
            "/api/sites",
            Some(json!({ "name": "Shop", "domain": "Shop.Example.com", "difficulty": 15, "monthlyQuota": 1000 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let site = &r.body["data"];
    let id = site["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("site_"));
    assert!(site["siteKey"].as_str().unwrap().starts_with("eck_live_"));
    assert!(site["secretKey"].as_str().unwrap().starts_with("ecs_live_"));
    assert_eq!(site["domain"], "shop.example.com");
    assert_eq!(site["difficulty"], 15);
    assert_eq!(site["mode"], "checkbox");
    assert_eq!(site["active"], true);
    assert_eq!(site["monthlyQuota"], 1000);
    assert_eq!(site["createdAt"], "2024-12-08T12:00:00Z");

    let list = e.api("GET", "/api/sites", None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert!(
        list.body["data"][0].get("secretKey").is_none(),
        "secrets are never listed"
    );

    e.clock.advance(Duration::from_secs(60));
    let p = e
        .api(
            "PATCH",
            &format!("/api/sites/{id}"),
            Some(json!({ "name": "Shop 2", "mode": "invisible", "domain": null, "monthlyQuota": null })),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    let g = e.api("GET", &format!("/api/sites/{id}"), None).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body["data"]["name"], "Shop 2");
    assert_eq!(g.body["data"]["mode"], "invisible");
    assert_eq!(g.body["data"]["domain"], Value::Null);
    assert_eq!(g.body["data"]["monthlyQuota"], Value::Null);
    assert_eq!(
        g.body["data"]["difficulty"], 15,
        "absent fields keep their value"
    );
    assert_eq!(g.body["data"]["updatedAt"], "2024-12-08T12:01:00Z");

    for (body, field) in [
        (json!({ "difficulty": 19 }), "difficulty"),
        (json!({ "name": "" }), "name"),
        (json!({ "domain": "bad domain" }), "domain"),
        (json!({ "monthlyQuota": 0 }), "monthlyQuota"),
        (json!({ "mode": "loud" }), ""),
        (json!({ "unknown": 1 }), ""),
    ] {
        let r = e
            .api("PATCH", &format!("/api/sites/{id}"), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "INVALID_REQUEST");
        assert!(r.body["error"]["message"].as_str().unwrap().contains(field));
    }
    let r = e
        .api("POST", "/api/sites", Some(json!({ "domain": "x.com" })))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "name is required");

    let d = e.api("DELETE", &format!("/api/sites/{id}"), None).await;
    assert_eq!(d.status, StatusCode::OK);
    let g = e.api("GET", &format!("/api/sites/{id}"), None).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
    assert_eq!(g.body["error"]["code"], "NOT_FOUND");
    assert_eq!(
        e.api("GET", "/api/sites", None).await.body["data"],
        json!([])
    );
}

async fn authorization(b: Backend) {
    let e = env(b).await;
    let created = e
        .api("POST", "/api/sites", Some(json!({ "name": "A" })))
        .await;
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let routes = [
        ("GET", "/api/sites".to_owned()),
        ("POST", "/api/sites".to_owned()),
        ("GET", format!("/api/sites/{id}")),
        ("PATCH", format!("/api/sites/{id}")),
        ("DELETE", format!("/api/sites/{id}")),
        ("POST", format!("/api/sites/{id}/regenerate-keys")),
        ("GET", format!("/api/analytics/{id}")),
    ];
    for (m, p) in &routes {
        for auth in [None, Some("Bearer wrong-token"), Some("Basic abc")] {
            let mut req = Request::builder()
                .method(*m)
                .uri(format!("/captcha{p}"))
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let r = e.call(req.body(Body::from("{}")).unwrap()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {p} {auth:?}");
            assert_eq!(r.body["error"]["code"], "UNAUTHORIZED");
            assert_eq!(r.body["success"], false);
        }
    }
    // Without credentials, an unknown or malformed id is 401 too (existence is not told).
    for p in [
        "/api/sites/site_nope",
        "/api/sites/%00",
        "/api/analytics/site_nope?period=1y",
    ] {
        let r = e
            .call(
                Request::get(format!("/captcha{p}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{p}");
    }
    // Unknown ids: 404.
    for (m, p) in [
        ("GET", "/api/sites/site_nope"),
        ("PATCH", "/api/sites/site_nope"),
        ("DELETE", "/api/sites/site_nope"),
        ("POST", "/api/sites/site_nope/regenerate-keys"),
        ("GET", "/api/analytics/site_nope"),
    ] {
        let r = e
            .api(m, p, (m == "PATCH").then(|| json!({ "name": "x" })))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {p}");
    }
    let long = format!("/api/sites/{}", "x".repeat(300));
    assert_eq!(
        e.api("GET", &long, None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = e
        .api("GET", &format!("/api/analytics/{id}?period=1y"), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = e
        .call(
            Request::post("/captcha/api/sites")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The dashboard sign-in: a session cookie, then CSRF on cookie-authenticated writes.
    let page = e
        .call(Request::get("/captcha/admin/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.headers[header::LOCATION], "/captcha/admin/login");
    let login = e
        .call(
            Request::get("/captcha/admin/login")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let login_cookie = cookie_pair(&login, "ecurtiy_login_csrf").unwrap();
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    assert!(login.text.contains(&csrf));
    let form = |pw: &str, token: &str, cookie: Option<&str>| {
        let mut r = Request::post("/captcha/admin/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        r.body(Body::from(format!(
            "password={}&csrf={token}",
            pw.replace(' ', "+")
        )))
        .unwrap()
    };
    let wrong = e.call(form("nope", &csrf, Some(&login_cookie))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(cookie_pair(&wrong, "ecurtiy_admin").is_none());
    let forged = e.call(form(PASSWORD, &csrf, None)).await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "login CSRF: no cookie"
    );
    let ok = e.call(form(PASSWORD, &csrf, Some(&login_cookie))).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let set = ok
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ecurtiy_admin="))
        .unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure"));
    let session = set.split(';').next().unwrap().to_owned();

    let with_cookie = |m: &str, p: &str, csrf: Option<&str>| {
        let mut r = Request::builder()
            .method(m)
            .uri(format!("/captcha{p}"))
            .header(header::COOKIE, session.clone())
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        r.body(Body::from(r#"{"name":"By cookie"}"#)).unwrap()
    };
    assert_eq!(
        e.call(with_cookie("GET", "/api/sites", None)).await.status,
        StatusCode::OK
    );
    let no_csrf = e.call(with_cookie("POST", "/api/sites", None)).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(no_csrf.body["error"]["code"], "CSRF_FAILED");
    let bad_csrf = e
        .call(with_cookie("POST", "/api/sites", Some("0000")))
        .await;
    assert_eq!(bad_csrf.status, StatusCode::FORBIDDEN);
    let token = e.call(with_cookie("GET", "/admin/csrf", None)).await;
    let token = token.body["csrfToken"].as_str().unwrap().to_owned();
    let made = e
        .call(with_cookie("POST", "/api/sites", Some(&token)))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let dash = e.call(with_cookie("GET", "/admin/", None)).await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(dash.text.contains("By cookie"));
    assert!(
        dash.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    // Signing out ends the session, server side.
    let out = e
        .call(
            Request::post("/captcha/admin/logout")
                .header(header::COOKIE, session.clone())
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("csrf={token}")))
                .unwrap(),
        )
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        e.call(with_cookie("GET", "/api/sites", None)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn regenerated_keys_replace_old_ones(b: Backend) {
    let e = env(b).await;
    let c = e
        .api(
            "POST",
            "/api/sites",
            Some(json!({ "name": "K", "difficulty": 14 })),
        )
        .await;
    let id = c.body["data"]["id"].as_str().unwrap().to_owned();
    let old_key = c.body["data"]["siteKey"].as_str().unwrap().to_owned();
    let old_secret = c.body["data"]["secretKey"].as_str().unwrap().to_owned();
    let v = e.verify_once(&old_key).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text);
    let token = v.body["token"].as_str().unwrap().to_owned();

    let r = e
        .api("POST", &format!("/api/sites/{id}/regenerate-keys"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new_key = r.body["data"]["siteKey"].as_str().unwrap().to_owned();
    let new_secret = r.body["data"]["secretKey"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    assert_ne!(new_secret, old_secret);
    assert_eq!(r.body["data"]["id"], id.as_str());

    let old = e
        .post_json("/api/challenge", json!({ "siteKey": old_key }))
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.body["error"]["code"], "INVALID_SITE_KEY");
    // A token minted before is validated against the new secret only.
    let old_val = e
        .post_json(
            "/api/validate",
            json!({ "token": token, "secretKey": old_secret }),
        )
        .await;
    assert_eq!(old_val.status, StatusCode::UNAUTHORIZED, "{}", old_val.text);
    let new = e.verify_once(&new_key).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.text);
    let val = e
        .post_json(
            "/api/validate",
            json!({ "token": new.body["token"], "secretKey": new_secret }),
        )
        .await;
    assert_eq!(val.status, StatusCode::OK, "{}", val.text);
}

async fn quota_and_inactive_codes(b: Backend) {
    let e = env(b).await;
    let c = e
        .api(
            "POST",
            "/api/sites",
            Some(json!({ "name": "Q", "difficulty": 14, "monthlyQuota": 2 })),
        )
        .await;
    let id = c.body["data"]["id"].as_str().unwrap().to_owned();
    let key = c.body["data"]["siteKey"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let v = e.verify_once(&key).await;
        assert_eq!(v.status, StatusCode::OK, "{}", v.text);
    }
    e.sites.flush().await;
    let r = e
        .post_json("/api/challenge", json!({ "siteKey": key }))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "QUOTA_EXCEEDED");
    let g = e.api("GET", &format!("/api/sites/{id}"), None).await;
    assert_eq!(g.body["data"]["verificationsThisMonth"], 2);

    // A new month starts from zero.
    e.clock.set(Duration::from_secs(1_735_689_600 + 3600)); // 2025-01-01T01:00Z
    let v = e.verify_once(&key).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text);

    // A new month, the same quota: after two more, refused again; raising the quota
    // lets challenges through; deactivating stops them.
    let v = e.verify_once(&key).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text);
    e.sites.flush().await;
    let r = e
        .post_json("/api/challenge", json!({ "siteKey": key }))
        .await;
    assert_eq!(r.body["error"]["code"], "QUOTA_EXCEEDED");
    let p = e
        .api(
            "PATCH",
            &format!("/api/sites/{id}"),
            Some(json!({ "monthlyQuota": 3 })),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let v = e.verify_once(&key).await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.text);
    let p = e
        .api(
            "PATCH",
            &format!("/api/sites/{id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let r = e
        .post_json("/api/challenge", json!({ "siteKey": key }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "SITE_INACTIVE");
}

fn ev(site: &str, at_ms: u64, passed: bool, risk: f64, solve: u64) -> VerificationEvent {
    VerificationEvent {
        site_id: site.into(),
        kind: EventKind::Verify,
        at: Duration::from_millis(at_ms),
        passed,
        risk_score: Some(risk),
        solve_time_ms: Some(solve),
        error: (!passed).then_some("HIGH_RISK_SCORE"),
    }
}

async fn analytics_period_boundaries(b: Backend) {
    let e = env(b).await;
    let site = e.site("A").await;
    let id = site.id.as_str();
    // now = 2024-12-08T12:30:00Z
    let now = T0 * 1000 + 30 * 60_000;
    e.clock.set(Duration::from_millis(now));
    let hour_start = T0 * 1000; // 12:00
    let day_start = hour_start - 12 * 3_600_000; // 2024-12-08T00:00Z
    let h24_start = hour_start - 23 * 3_600_000; // 2024-12-07T13:00Z
    let d7_start = day_start - 6 * 86_400_000; // 2024-12-02
    let d90_start = day_start - 89 * 86_400_000;
    for x in [
        ev(id, now, true, 0.1, 1000),           // now: in
        ev(id, now + 1, true, 0.1, 1000),       // future: out
        ev(id, hour_start, false, 0.9, 100),    // first ms of the last hour
        ev(id, h24_start, true, 0.2, 2000),     // first ms of the 24h window
        ev(id, h24_start - 1, true, 0.2, 2000), // just before it: 7d only
        ev(id, d7_start, true, 0.3, 3000),      // first ms of 7d
        ev(id, d7_start - 1, true, 0.3, 3000),  // 30d only
        ev(id, d90_start, true, 0.3, 3000),     // first ms of 90d
        ev(id, d90_start - 1, true, 0.3, 3000), // out of everything
        ev("site_other", now, true, 0.1, 1000), // another site
    ] {
        e.sites.record(x);
    }
    let mut validate = ev(id, now, true, 0.1, 1000);
    validate.kind = EventKind::Validate;
    e.sites.record(validate); // validations are not verifications
    e.sites.flush().await;

    let a = e.sites.analytics(id, Period::Day).await.unwrap().unwrap();
    assert_eq!(a.summary.total_verifications, 3);
    assert_eq!(a.summary.passed_verifications, 2);
    assert_eq!(a.summary.failed_verifications, 1);
    assert_eq!(a.summary.pass_rate, 66.7);
    assert_eq!(a.summary.avg_solve_time_ms, 1033);
    assert_eq!(a.summary.avg_risk_score, 0.4);
    assert_eq!(a.chart_data.len(), 24);
    assert_eq!(a.chart_data[0].date, "2024-12-07T13:00:00Z");
    assert_eq!(a.chart_data[0].total, 1);
    assert_eq!(a.chart_data[23].date, "2024-12-08T12:00:00Z");
    assert_eq!((a.chart_data[23].total, a.chart_data[23].failed), (2, 1));
    assert_eq!(a.recent_verifications.len(), 3);
    assert_eq!(a.recent_verifications[0].created_at, "2024-12-08T12:30:00Z");

    let w = e.sites.analytics(id, Period::Week).await.unwrap().unwrap();
    assert_eq!(w.summary.total_verifications, 5);
    assert_eq!(w.chart_data[0].date, "2024-12-02T00:00:00Z");
    assert_eq!(w.chart_data[0].total, 1);
    assert_eq!(w.chart_data[6].total, 2, "12:00 and 12:30 today");
    let m = e.sites.analytics(id, Period::Month).await.unwrap().unwrap();
    assert_eq!(m.summary.total_verifications, 6);
    let q = e
        .sites
        .analytics(id, Period::Quarter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.summary.total_verifications, 7);
    assert_eq!(q.chart_data.len(), 90);
    assert_eq!(q.recent_verifications.len(), 7);

    // The HTTP answer has the seed's field names.
    let r = e
        .api("GET", &format!("/api/analytics/{id}?period=24h"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["success"], true);
    assert_eq!(r.body["summary"]["totalVerifications"], 3);
    assert_eq!(r.body["summary"]["passRate"], 66.7);
    assert_eq!(r.body["chartData"].as_array().unwrap().len(), 24);
    assert_eq!(r.body["recentVerifications"][0]["passed"], true);
    assert_eq!(r.body["recentVerifications"][0]["solveTimeMs"], 1000);
    // Empty site: zeros, not NaN.
    let other = e.site("B").await;
    let z = e
        .api("GET", &format!("/api/analytics/{}", other.id), None)
        .await;
    assert_eq!(z.body["summary"]["passRate"], 0.0);
    assert_eq!(z.body["period"], "7d");
}

async fn queue_under_load_loses_nothing(b: Backend) {
    let e = env(b).await;
    let site = e.site("L").await;
    let now = T0 * 1000;
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let s = e.sites.clone();
            let id = site.id.clone();
            tokio::spawn(async move {
                for i in 0..2500u64 {
                    s.record(ev(&id, now - (t * 2500 + i), i % 3 != 0, 0.2, 900));
                    if i % 500 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    e.sites.flush().await;
    let stats = e.sites.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.queued, 20_000);
    assert_eq!(stats.written, 20_000);
    let a = e
        .sites
        .analytics(&site.id, Period::Day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.summary.total_verifications, 20_000);
    let g = e.sites.get(&site.id).await.unwrap().unwrap();
    assert_eq!(g.verifications_this_month, 20_000);
}

async fn delete_removes_data(b: Backend) {
    let e = env(b).await;
    let site = e.site("D").await;
    for i in 0..10 {
        e.sites.record(ev(&site.id, T0 * 1000 - i, true, 0.1, 500));
    }
    e.sites.flush().await;
    let count = |sql: &'static str| {
        let pool = e.sites.pool().clone();
        let id = site.id.clone();
        async move {
            use sqlx::Row;
            sqlx::query(sql)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM ecurtiy_events WHERE site_id = $1").await,
        10
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM ecurtiy_usage WHERE site_id = $1").await,
        1
    );
    assert!(e.sites.delete(&site.id).await.unwrap());
    assert!(!e.sites.delete(&site.id).await.unwrap());
    assert_eq!(
        count("SELECT COUNT(*) FROM ecurtiy_events WHERE site_id = $1").await,
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM ecurtiy_usage WHERE site_id = $1").await,
        0
    );
    assert!(
        e.sites
            .analytics(&site.id, Period::Day)
            .await
            .unwrap()
            .is_none()
    );
}

async fn sessions_persist_in_the_database(b: Backend) {
    let clock = ManualClock::new(Duration::from_secs(T0));
    let sites = connect(b, &clock).await;
    let store = tower_shield::pow::admin::SqlSessionStore::new(sites.pool().clone());
    let mut data = std::collections::HashMap::new();
    data.insert("k".to_owned(), json!("v"));
    let mut rec = Record {
        id: Id::default(),
        data,
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut rec).await.unwrap();
    let loaded = store.load(&rec.id).await.unwrap().unwrap();
    assert_eq!(loaded.data["k"], "v");
    store.delete(&rec.id).await.unwrap();
    assert!(store.load(&rec.id).await.unwrap().is_none());
    let mut old = loaded.clone();
    old.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    store.save(&old).await.unwrap();
    assert!(store.load(&old.id).await.unwrap().is_none(), "expired");
}

/// Signs in through the form; returns the session cookie (`name=value`) and its CSRF token.
async fn login(e: &Env, planted: Option<&str>) -> (String, String) {
    let page = e
        .call(
            Request::get("/captcha/admin/login")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let login_cookie = cookie_pair(&page, "ecurtiy_login_csrf").unwrap();
    let csrf = login_cookie.split_once('=').unwrap().1.to_owned();
    let mut cookie = login_cookie.clone();
    if let Some(p) = planted {
        cookie = format!("{cookie}; {p}");
    }
    let ok = e
        .call(
            Request::post("/captcha/admin/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, cookie)
                .body(Body::from(format!(
                    "password={}&csrf={csrf}",
                    PASSWORD.replace(' ', "+")
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let session = cookie_pair(&ok, "ecurtiy_admin").unwrap();
    let token = e
        .call(
            Request::get("/captcha/admin/csrf")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    (
        session,
        token.body["csrfToken"].as_str().unwrap().to_owned(),
    )
}

async fn dashboard_forms_need_csrf_and_escape(b: Backend) {
    let e = env(b).await;
    // A session that exists (signed in, as an attacker could have for a victim's
    // browser) planted before sign-in: the sign-in issues a new id and the old one dies.
    let (planted, _) = login(&e, None).await;
    let (session, csrf) = login(&e, Some(&planted)).await;
    assert_ne!(session, planted);
    let old = e
        .call(
            Request::get("/captcha/api/sites")
                .header(header::COOKIE, &planted)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the planted id still works"
    );
    let form = |path: &str, body: String| {
        Request::post(format!("/captcha/admin{path}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &session)
            .body(Body::from(body))
            .unwrap()
    };
    let fields = "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E&domain=&mode=checkbox&difficulty=16&active=on&monthly_quota=";
    // Wrong or missing CSRF token: refused, nothing created.
    let first = if csrf.starts_with('0') { '1' } else { '0' };
    let wrong = format!("{first}{}", &csrf[1..]);
    let r = e
        .call(form("/sites", format!("csrf={wrong}&{fields}")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = e.call(form("/sites", fields.to_owned())).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert_eq!(e.sites.list().await.unwrap().len(), 0);
    // With it: created, and the keys page shows both keys.
    let r = e
        .call(form("/sites", format!("csrf={csrf}&{fields}")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("ecs_live_") && r.text.contains("eck_live_"));
    let site = e.sites.list().await.unwrap().remove(0);
    assert_eq!(site.name, "<script>alert(1)</script>");
    // Every page escapes the name.
    for path in ["/".to_owned(), format!("/sites/{}", site.id)] {
        let page = e
            .call(
                Request::get(format!("/captcha/admin{path}"))
                    .header(header::COOKIE, &session)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("<script>alert"), "{path}");
        assert!(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
    // Regenerate and delete need the token too.
    for action in ["regenerate", "delete"] {
        let r = e
            .call(form(
                &format!("/sites/{}/{action}", site.id),
                "csrf=wrong".into(),
            ))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
    }
    let same = e.sites.get(&site.id).await.unwrap().unwrap();
    assert_eq!(same.site_key, site.site_key);
    // Unknown ids are 404 pages.
    for path in [
        "/sites/site_nope",
        "/sites/site_nope/try",
        "/sites/site_nope/delete",
    ] {
        let r = e
            .call(
                Request::get(format!("/captcha/admin{path}"))
                    .header(header::COOKIE, &session)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = e
        .call(form(
            &format!("/sites/{}/delete", site.id),
            format!("csrf={csrf}"),
        ))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(e.sites.get(&site.id).await.unwrap().is_none());
}

async fn huge_solve_times_do_not_break_sums(b: Backend) {
    let e = env(b).await;
    let site = e.site("S").await;
    for _ in 0..3 {
        e.sites.record(ev(&site.id, T0 * 1000, true, 0.1, u64::MAX));
    }
    e.sites.flush().await;
    let a = e
        .sites
        .analytics(&site.id, Period::Day)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.summary.total_verifications, 3);
    assert_eq!(
        a.summary.avg_solve_time_ms,
        tower_shield::pow::admin::MAX_SOLVE_TIME_MS
    );
}

async fn config_sites_are_imported_once(b: Backend) {
    let e = env(b).await;
    let digest: [u8; 32] = sha2::Sha256::digest(b"ecs_live_cfg_secret").into();
    let site = tower_shield::pow::Site::new("eck_live_cfg", "ecs_live_cfg_secret").unwrap();
    assert!(e.sites.import(&site, digest).await.unwrap());
    assert!(!e.sites.import(&site, digest).await.unwrap());
    let rec = e.sites.list().await.unwrap().remove(0);
    assert!(
        rec.id.starts_with("site_") && rec.id.len() == 29,
        "{}",
        rec.id
    );
    assert_eq!(
        e.api("GET", &format!("/api/sites/{}", rec.id), None)
            .await
            .status,
        StatusCode::OK,
        "imported ids are manageable"
    );
    // Re-keyed or deleted: the next start does not bring the old key back.
    e.sites.regenerate_keys(&rec.id).await.unwrap().unwrap();
    assert!(!e.sites.import(&site, digest).await.unwrap());
    e.sites.delete(&rec.id).await.unwrap();
    assert!(!e.sites.import(&site, digest).await.unwrap());
    assert!(e.sites.list().await.unwrap().is_empty());
}

async fn failed_batches_release_their_quota(b: Backend) {
    let e = env(b).await;
    let (rec, _) = e
        .sites
        .create(&SiteInput {
            name: Some("F".into()),
            monthly_quota: Some(Some(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    let site = e.sites.site_by_key(&rec.site_key).await.unwrap().unwrap();
    let now = Duration::from_secs(T0);
    use tower_shield::pow::site::QuotaDecision;
    assert_eq!(
        e.sites.charge(&site, now).await.unwrap(),
        QuotaDecision::Allowed
    );
    // The events table is gone: the batch fails three times and is counted as lost.
    sqlx::query("DROP TABLE ecurtiy_events")
        .execute(e.sites.pool())
        .await
        .unwrap();
    e.sites.record(ev(&site.id, T0 * 1000, true, 0.1, 100));
    e.sites.flush().await;
    let st = e.sites.stats();
    assert_eq!((st.failed, st.written), (1, 0), "{st:?}");
    // Never written, never counted: the quota is still free.
    assert_eq!(
        e.sites.charge(&site, now).await.unwrap(),
        QuotaDecision::Allowed
    );
}

/// A full queue drops (and counts) instead of waiting: a current-thread runtime never
/// lets the writer run while this test pushes.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_and_counts() {
    let clock = ManualClock::new(Duration::from_secs(T0));
    let path = std::env::temp_dir().join(format!("{}.db", unique("tower_shield_full")));
    let sites = SqlSites::builder(&format!("sqlite://{}?mode=rwc", path.display()))
        .clock(clock)
        .queue_capacity(16)
        .connect()
        .await
        .unwrap();
    for i in 0..1000 {
        sites.record(ev("site_x", T0 * 1000 - i, true, 0.1, 100));
    }
    let st = sites.stats();
    assert_eq!((st.queued, st.dropped), (16, 984), "{st:?}");
    sites.flush().await;
    assert_eq!(sites.stats().written, 16);
}
