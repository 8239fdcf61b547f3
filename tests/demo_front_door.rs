//! ECURTIY site management, analytics and the dashboard under the demo's `/captcha` mount,
//! through the router `main` serves (`app::build`), on a real socket.

#[path = "../examples/demo/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/demo/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "common/demo_app.rs"]
mod demo_app;
#[path = "../examples/demo/seeds/mod.rs"]
#[allow(dead_code)]
mod seeds;

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

struct Demo {
    addr: SocketAddr,
    token: String,
    password: String,
    sites: tower_shield::pow::admin::SqlSites,
}

async fn serve() -> Demo {
    serve_with("").await
}

async fn serve_with(toml: &str) -> Demo {
    let built = app::build(&demo_app::config(toml)).await.unwrap();
    let once = built
        .one_time_admin
        .expect("no admin in the config: a one-time one");
    Demo {
        addr: demo_app::serve_router(built.router).await,
        token: once.token.expect("a one-time token"),
        password: once.password,
        sites: built.sites,
    }
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Full::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test]
async fn the_whole_seed_management_and_analytics_list_works_under_captcha() {
    let d = serve().await;
    let bearer = format!("Bearer {}", d.token);
    let auth = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let (s, _, b) = call(d.addr, "GET", "/captcha/api/sites", &auth, "").await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/sites",
        &auth,
        r#"{"name":"Shop","domain":"shop.example.com"}"#,
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let created = json(&b);
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let old_key = created["data"]["siteKey"].as_str().unwrap().to_owned();
    let (s, _, b) = call(d.addr, "GET", "/captcha/api/sites", &auth, "").await;
    assert_eq!(s, 200);
    assert!(
        json(&b)["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == id.as_str()),
        "{b}"
    );
    let one = format!("/captcha/api/sites/{id}");
    let (s, _, b) = call(d.addr, "GET", &one, &auth, "").await;
    assert_eq!(s, 200, "GET {one}: {b}");
    assert_eq!(json(&b)["data"]["name"], "Shop");
    let (s, _, b) = call(
        d.addr,
        "PATCH",
        &one,
        &auth,
        r#"{"name":"Shop 2","difficulty":15,"mode":"invisible"}"#,
    )
    .await;
    assert_eq!(s, 200, "PATCH {one}: {b}");
    assert_eq!(json(&b)["data"]["name"], "Shop 2");
    assert_eq!(json(&b)["data"]["difficulty"], 15);
    let (s, _, b) = call(d.addr, "POST", &format!("{one}/regenerate-keys"), &auth, "").await;
    assert_eq!(s, 200, "regenerate-keys: {b}");
    let new_key = json(&b)["data"]["siteKey"].as_str().unwrap().to_owned();
    assert_ne!(new_key, old_key);
    assert!(
        json(&b)["data"]["secretKey"]
            .as_str()
            .unwrap()
            .starts_with("ecs_")
    );
    for period in ["24h", "7d", "30d", "90d"] {
        let p = format!("/captcha/api/analytics/{id}?period={period}");
        let (s, _, b) = call(d.addr, "GET", &p, &auth, "").await;
        assert_eq!(s, 200, "{p}: {b}");
        let v = json(&b);
        assert_eq!(v["period"], period);
        assert!(v["chartData"].is_array() && v["summary"].is_object(), "{b}");
    }
    let (s, _, b) = call(
        d.addr,
        "GET",
        &format!("/captcha/api/analytics/{id}?period=1y"),
        &auth,
        "",
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // Without the token: refused, in ECURTIY's shape.
    let (s, _, b) = call(d.addr, "GET", &one, &[], "").await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(json(&b)["error"]["code"], "UNAUTHORIZED");
    let (s, _, b) = call(d.addr, "DELETE", &one, &auth, "").await;
    assert_eq!(s, 200, "DELETE {one}: {b}");
    let (s, _, b) = call(d.addr, "GET", &one, &auth, "").await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(json(&b)["error"]["code"], "NOT_FOUND");
}

/// The `name=value` of every `Set-Cookie`, joined for a `Cookie` header.
fn cookies(h: &http::HeaderMap, jar: &mut Vec<(String, String)>) {
    for v in h.get_all("set-cookie") {
        let v = v.to_str().unwrap();
        let pair = v.split(';').next().unwrap();
        let (k, val) = pair.split_once('=').unwrap();
        jar.retain(|(n, _)| n != k);
        if !val.is_empty() {
            jar.push((k.to_owned(), val.to_owned()));
        }
    }
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `value` of the first hidden `csrf` input of a page.
fn csrf_field(page: &str) -> String {
    let at = page.find("name=\"csrf\"").expect("a csrf field");
    let rest = &page[at..];
    let v = rest.find("value=\"").unwrap() + 7;
    let end = rest[v..].find('"').unwrap();
    rest[v..v + end].to_owned()
}

#[tokio::test]
async fn every_dashboard_page_answers_under_captcha_with_and_without_the_slash() {
    let d = serve().await;
    let bearer = format!("Bearer {}", d.token);
    let (_, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/sites",
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        r#"{"name":"Pages","domain":"pages.example.com"}"#,
    )
    .await;
    let id = json(&b)["data"]["id"].as_str().unwrap().to_owned();
    // Signed out, both spellings of the dashboard's address lead to the sign-in page.
    for p in ["/captcha/admin", "/captcha/admin/"] {
        let (s, h, b) = call(d.addr, "GET", p, &[], "").await;
        assert!(
            s == 303 || s == 302 || s == 200,
            "{p}: {s} {b} {:?}",
            h.get("location")
        );
    }
    let mut jar = Vec::new();
    let (s, h, login) = call(d.addr, "GET", "/captcha/admin/login", &[], "").await;
    assert_eq!(s, 200, "{login}");
    cookies(&h, &mut jar);
    let form = format!("password={}&csrf={}", d.password, csrf_field(&login));
    let ck = cookie_header(&jar);
    let (s, h, b) = call(
        d.addr,
        "POST",
        "/captcha/admin/login",
        &[
            ("cookie", &ck),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        &form,
    )
    .await;
    assert_eq!(s, 303, "sign-in: {b}");
    let after = h.get("location").unwrap().to_str().unwrap().to_owned();
    cookies(&h, &mut jar);
    let ck = cookie_header(&jar);
    let mut pages = vec![
        after.clone(),
        "/captcha/admin".to_owned(),
        "/captcha/admin/".to_owned(),
        "/captcha/admin/sites/new".to_owned(),
        format!("/captcha/admin/sites/{id}"),
        format!("/captcha/admin/sites/{id}/regenerate"),
        format!("/captcha/admin/sites/{id}/delete"),
        format!("/captcha/admin/sites/{id}/try"),
    ];
    for period in ["24h", "7d", "30d", "90d"] {
        pages.push(format!("/captcha/admin/sites/{id}?period={period}"));
    }
    for p in &pages {
        let (s, _, b) = call(d.addr, "GET", p, &[("cookie", &ck)], "").await;
        assert_eq!(s, 200, "{p}: {b}");
        assert!(b.contains("<html"), "{p}: {b}");
    }
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_json_in_the_seed_shape() {
    let d = serve().await;
    // 602TechSec's shape outside the seed prefixes; one id in body and header.
    for (m, p, status, code) in [
        ("GET", "/no/such/page", 404, "NOT_FOUND"),
        ("DELETE", "/healthz", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/api/whoami", 405, "METHOD_NOT_ALLOWED"),
    ] {
        let (s, h, b) = call(d.addr, m, p, &[], "").await;
        assert_eq!(s, status, "{m} {p}: {b}");
        let v = json(&b);
        assert_eq!(v["error"]["code"], code, "{m} {p}: {b}");
        assert!(v["error"]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            v["error"]["requestId"].as_str().unwrap(),
            h.get("x-request-id").unwrap().to_str().unwrap(),
            "{m} {p}"
        );
        assert_eq!(h.get("content-type").unwrap(), "application/json");
    }
    // ECURTIY's shape under /captcha (the library router's own 404s and 405s included).
    for (m, p, status) in [
        ("GET", "/captcha/nothing-here", 404),
        ("GET", "/captcha/api/challenge", 405),
        ("PUT", "/captcha/api/sites", 405),
        ("GET", "/captcha/admin/nothing", 404),
    ] {
        let (s, h, b) = call(d.addr, m, p, &[], "").await;
        assert_eq!(s, status, "{m} {p}: {b}");
        let v = json(&b);
        assert_eq!(v["success"], false, "{m} {p}: {b}");
        assert_eq!(
            v["error"]["requestId"].as_str().unwrap(),
            h.get("x-request-id").unwrap().to_str().unwrap()
        );
    }
    // Auspex's shape under /verus.
    let (s, _, b) = call(d.addr, "GET", "/verus/no-such-operation", &[], "").await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(json(&b)["statusCode"], 404, "{b}");
    // The client's own id is the one used.
    let (_, h, b) = call(d.addr, "GET", "/nope", &[("x-request-id", "req_mine")], "").await;
    assert_eq!(json(&b)["error"]["requestId"], "req_mine");
    assert_eq!(h.get("x-request-id").unwrap(), "req_mine");
}

#[tokio::test]
async fn v2_verify_has_one_request_id_in_body_and_header() {
    let d = serve().await;
    let body = r#"{"ipAddress":"192.168.1.100","hostName":"example.com","requestPath":"/login","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"}"#;
    let hdr = [
        ("x-api-key", "tsk_demo_key"),
        ("content-type", "application/json"),
    ];
    let (s, h, b) = call(d.addr, "POST", "/api/v2/verify", &hdr, body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        json(&b)["requestId"].as_str().unwrap(),
        h.get("x-request-id").unwrap().to_str().unwrap()
    );
    // A body that names its id: that id, in the header too.
    let named = body.replace('}', r#","requestId":"req_12345"}"#);
    let (s, h, b) = call(d.addr, "POST", "/api/v2/verify", &hdr, &named).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["requestId"], "req_12345");
    assert_eq!(h.get("x-request-id").unwrap(), "req_12345");
}

#[tokio::test]
async fn healthz_is_outside_every_limit() {
    let d = serve_with("[rate_limit]\nrequests_per_minute = 1\nburst = 1\n").await;
    let (s, _, _) = call(d.addr, "GET", "/", &[], "").await;
    assert_eq!(s, 200);
    let (s, _, b) = call(d.addr, "GET", "/", &[], "").await;
    assert_eq!(s, 429, "the index page is limited: {b}");
    for _ in 0..30 {
        let (s, _, b) = call(d.addr, "GET", "/healthz", &[], "").await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b, "ok");
        let (s, _, b) = call(d.addr, "GET", "/readyz", &[], "").await;
        assert_eq!(s, 200, "{b}");
    }
}

#[tokio::test]
async fn readyz_answers_503_while_the_database_cannot_answer() {
    let d = serve().await;
    let (s, _, b) = call(d.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(s, 200, "{b}");
    let v = json(&b);
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["database"], "ok");
    assert_eq!(v["checks"]["store"], "not configured");
    d.sites.pool().close().await;
    let (s, _, b) = call(d.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(s, 503, "{b}");
    let v = json(&b);
    assert_eq!(v["status"], "unavailable");
    assert_ne!(v["checks"]["database"], "ok", "{b}");
    // Liveness does not depend on it.
    let (s, _, _) = call(d.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn readyz_follows_the_configured_redis() {
    // A real redis-server of its own, stopped half-way.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let url = format!("redis://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let d = serve_with(&format!(
        "[store]\nbackend = \"redis\"\nredis_url = \"{url}\"\nprefix = \"readyz{port}:\"\ntimeout_ms = 500\n"
    ))
    .await;
    let (s, _, b) = call(d.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["checks"]["store"], "ok");
    server.kill().unwrap();
    server.wait().unwrap();
    let (s, _, b) = call(d.addr, "GET", "/readyz", &[], "").await;
    assert_eq!(s, 503, "{b}");
    assert_ne!(json(&b)["checks"]["store"], "ok");
    assert_eq!(json(&b)["checks"]["database"], "ok");
    let (s, _, _) = call(d.addr, "GET", "/healthz", &[], "").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_preflight_from_a_sites_domain_is_answered_and_validate_sends_no_cors() {
    let d = serve().await;
    let bearer = format!("Bearer {}", d.token);
    let (s, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/sites",
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        r#"{"name":"Shop","domain":"shop.example.com"}"#,
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let site_key = json(&b)["data"]["siteKey"].as_str().unwrap().to_owned();
    for p in ["/captcha/api/challenge", "/captcha/api/verify"] {
        let (s, h, b) = call(
            d.addr,
            "OPTIONS",
            p,
            &[
                ("origin", "https://shop.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            "",
        )
        .await;
        assert!(s == 200 || s == 204, "{p}: {s} {b}");
        assert_eq!(
            h.get("access-control-allow-origin").unwrap(),
            "https://shop.example.com",
            "{p}"
        );
        assert!(
            h.get("access-control-allow-methods")
                .unwrap()
                .to_str()
                .unwrap()
                .contains("POST")
        );
        // Another origin: no permission.
        let (_, h, _) = call(
            d.addr,
            "OPTIONS",
            p,
            &[
                ("origin", "https://evil.example.net"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
        assert!(h.get("access-control-allow-origin").is_none(), "{p}");
    }
    // The real call carries the header too.
    let body = format!(r#"{{"siteKey":"{site_key}"}}"#);
    let (s, h, b) = call(
        d.addr,
        "POST",
        "/captcha/api/challenge",
        &[
            ("origin", "https://shop.example.com"),
            ("content-type", "application/json"),
        ],
        &body,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        h.get("access-control-allow-origin").unwrap(),
        "https://shop.example.com"
    );
    // validate is server-to-server.
    let (_, h, _) = call(
        d.addr,
        "OPTIONS",
        "/captcha/api/validate",
        &[
            ("origin", "https://shop.example.com"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert!(h.get("access-control-allow-origin").is_none());
    let (_, h, _) = call(
        d.addr,
        "POST",
        "/captcha/api/validate",
        &[
            ("origin", "https://shop.example.com"),
            ("content-type", "application/json"),
        ],
        r#"{"token":"ect_x","secretKey":"ecs_live_x"}"#,
    )
    .await;
    assert!(h.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn any_origin_is_an_explicit_opt_in() {
    let d = serve_with("[captcha]\nallow_any_origin = true\n").await;
    let (_, h, _) = call(
        d.addr,
        "OPTIONS",
        "/captcha/api/challenge",
        &[
            ("origin", "https://anywhere.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(h.get("access-control-allow-origin").unwrap(), "*");
}

#[test]
fn origin_hosts() {
    assert_eq!(
        seeds::ecurtiy::origin_host(b"https://Shop.Example.com:8443").as_deref(),
        Some("shop.example.com")
    );
    assert_eq!(
        seeds::ecurtiy::origin_host(b"http://a.b").as_deref(),
        Some("a.b")
    );
    for bad in [
        &b"null"[..],
        b"ftp://a.b",
        b"https://u@a.b",
        b"",
        b"https://",
        b"\xff",
    ] {
        assert_eq!(seeds::ecurtiy::origin_host(bad), None, "{bad:?}");
    }
}

#[tokio::test]
async fn three_hundred_challenges_from_one_address_meet_rate_limited() {
    let d = serve().await;
    let body = r#"{"siteKey":"eck_live_demo"}"#;
    let hdr = [("content-type", "application/json")];
    let mut limited = None;
    let mut ok = 0;
    for i in 0..300 {
        let (s, h, b) = call(d.addr, "POST", "/captcha/api/challenge", &hdr, body).await;
        if s == 429 {
            limited = Some((i, h, b));
            break;
        }
        assert_eq!(s, 200, "{b}");
        ok += 1;
    }
    let (i, h, b) = limited.expect("300 challenges, never RATE_LIMITED");
    assert!(ok > 0 && i < 300);
    let v = json(&b);
    assert_eq!(v["success"], false, "{b}");
    assert_eq!(v["error"]["code"], "RATE_LIMITED", "{b}");
    assert!(h.get("retry-after").is_some());
    // validate shares the client's budget.
    let (s, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/validate",
        &hdr,
        r#"{"token":"ect_x","secretKey":"ecs_live_demo"}"#,
    )
    .await;
    assert_eq!(s, 429, "{b}");
}

#[tokio::test]
async fn one_site_meets_its_own_limit_from_many_addresses_and_others_are_served() {
    let d = serve_with(
        "[client_ip]\nsource = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
         [captcha]\nrequests_per_minute_per_site = 5\nrequests_per_minute_per_client = 1000\n",
    )
    .await;
    let bearer = format!("Bearer {}", d.token);
    let (s, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/sites",
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        r#"{"name":"Other"}"#,
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let other = json(&b)["data"]["siteKey"].as_str().unwrap().to_owned();
    let other_id = json(&b)["data"]["id"].as_str().unwrap().to_owned();
    let challenge = |site: String, client: u8| async move {
        let xff = format!("198.51.100.{client}");
        let body = format!(r#"{{"siteKey":"{site}"}}"#);
        call(
            d.addr,
            "POST",
            "/captcha/api/challenge",
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", &xff),
            ],
            &body,
        )
        .await
    };
    // Five challenges from five addresses fit the demo site's budget; the sixth, from a
    // sixth address, does not.
    for client in 1..=5 {
        let (s, _, b) = challenge("eck_live_demo".into(), client).await;
        assert_eq!(s, 200, "client {client}: {b}");
    }
    let (s, h, b) = challenge("eck_live_demo".into(), 6).await;
    assert_eq!(s, 429, "{b}");
    let v = json(&b);
    assert_eq!(
        (v["success"].clone(), v["error"]["code"].clone()),
        (false.into(), "RATE_LIMITED".into()),
        "{b}"
    );
    assert!(h.get("retry-after").is_some());
    // Another site, from an address that was refused for the first: served.
    let (s, _, b) = challenge(other.clone(), 6).await;
    assert_eq!(s, 200, "{b}");
    // An inactive site takes no counter either: past the budget it is still the
    // library's SITE_INACTIVE.
    let (s, _, b) = call(
        d.addr,
        "PATCH",
        &format!("/captcha/api/sites/{other_id}"),
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        r#"{"active":false}"#,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    for client in 20..=26 {
        let (s, _, b) = challenge(other.clone(), client).await;
        assert_eq!(
            (s, json(&b)["error"]["code"].clone()),
            (403, "SITE_INACTIVE".into()),
            "{b}"
        );
    }
    // A made-up site key takes no counter: past the budget it is still the library's
    // INVALID_SITE_KEY, never RATE_LIMITED.
    for client in 10..=16 {
        let (s, _, b) = challenge("eck_made_up".into(), client).await;
        assert_eq!(
            (s, json(&b)["error"]["code"].clone()),
            (401, "INVALID_SITE_KEY".into()),
            "{b}"
        );
    }
    // Bodies naming no site are the library's to refuse, not counted.
    let (s, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/challenge",
        &[("content-type", "application/json")],
        "{",
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(json(&b)["error"]["code"], "INVALID_REQUEST", "{b}");
}

#[tokio::test]
async fn a_site_whose_domain_is_a_star_opens_cors_to_any_origin() {
    let d = serve().await;
    let preflight = || async {
        call(
            d.addr,
            "OPTIONS",
            "/captcha/api/challenge",
            &[
                ("origin", "https://anywhere.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await
    };
    assert!(
        preflight()
            .await
            .1
            .get("access-control-allow-origin")
            .is_none()
    );
    let bearer = format!("Bearer {}", d.token);
    let (s, _, b) = call(
        d.addr,
        "POST",
        "/captcha/api/sites",
        &[
            ("authorization", &bearer),
            ("content-type", "application/json"),
        ],
        r#"{"name":"Anywhere","domain":"*"}"#,
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(json(&b)["data"]["domain"], "*", "{b}");
    // The domains are re-read at most every ORIGINS_TTL.
    let deadline = std::time::Instant::now() + seeds::ecurtiy::ORIGINS_TTL * 2;
    loop {
        let h = preflight().await.1;
        if let Some(v) = h.get("access-control-allow-origin") {
            assert_eq!(v, "https://anywhere.example");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the * site never opened CORS"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_openapi_document_still_names_every_captcha_operation() {
    let d = serve().await;
    let (s, _, b) = call(d.addr, "GET", "/openapi.json", &[], "").await;
    assert_eq!(s, 200);
    let v = json(&b);
    for p in [
        "/captcha/api/challenge",
        "/captcha/api/verify",
        "/captcha/api/validate",
        "/captcha/api/sites",
        "/captcha/api/sites/{id}",
        "/captcha/api/sites/{id}/regenerate-keys",
        "/captcha/api/analytics/{siteId}",
        "/healthz",
        "/readyz",
    ] {
        assert!(v["paths"][p].is_object(), "{p} missing");
    }
    for m in ["get", "patch", "delete"] {
        assert!(v["paths"]["/captcha/api/sites/{id}"][m].is_object(), "{m}");
    }
}

#[tokio::test]
async fn the_home_page_names_every_seed_endpoint_and_each_is_served() {
    let d = serve().await;
    let (s, _, page) = call(d.addr, "GET", "/", &[], "").await;
    assert_eq!(s, 200);
    let v = {
        let (_, _, b) = call(d.addr, "GET", "/openapi.json", &[], "").await;
        json(&b)
    };
    for (seed, m, p, _) in app::SEED_ENDPOINTS {
        assert!(
            page.contains(&format!(
                "<td>{seed}</td><td><code>{m}</code></td><td><code>{p}</code>"
            )),
            "{seed} {m} {p}"
        );
        if !p.starts_with("/captcha/demo") && !p.starts_with("/captcha/admin") {
            assert!(
                v["paths"][*p][m.to_ascii_lowercase()].is_object(),
                "{m} {p} is not an operation of the demo"
            );
        }
    }
    for link in [
        "/captcha/demo",
        "/captcha/admin/",
        "/captcha/admin/admin.css",
    ] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{link}");
        let (s, _, _) = call(d.addr, "GET", link, &[], "").await;
        assert!(s == 200 || s == 303, "{link}: {s}");
    }
}
