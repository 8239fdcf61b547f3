//! The demo's home page: every endpoint with the seed it speaks for, and a "try it" form
//! per seed API that calls the real endpoint from the page (`/home.js`) and shows the JSON
//! answer. The Auspex form signs its request in the browser (WebCrypto HMAC-SHA256, the
//! seed's SigV4-style scheme). Styled by the dashboard's stylesheet; no external origin.
//!
//! Credentials are pre-filled only when the config still holds the embedded demo defaults
//! (which the seeds' own documentation and the start-up banner publish anyway); a config
//! with keys of its own gets empty fields, and the page never shows those keys.

use std::fmt::Write;

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use tower_shield::pow::widget::escape_html as esc;

use crate::config::Config;

/// The script behind the forms.
pub const HOME_JS: &str = include_str!("home.js");

/// Only this origin's scripts, styles and `fetch` calls.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The embedded demo API key (config.rs `default_api_keys`).
const DEMO_API_KEY: &str = "tsk_demo_key";
/// The Auspex seed's published example pair (config.rs `default_signing_keys`).
const DEMO_SIGNING_KEY: (&str, &str) = (
    "alk_1234567890abcdef",
    "als_abcdefghijklmnopqrstuvwxyz1234567890",
);
/// The embedded demo site key (config.rs `default_sites`).
const DEMO_SITE_KEY: &str = "eck_live_demo";

/// What the forms are pre-filled with: the embedded demo defaults, when the config has them.
struct Prefill {
    api_key: &'static str,
    key_id: &'static str,
    secret: &'static str,
    site_key: &'static str,
}

impl Prefill {
    fn of(config: &Config) -> Self {
        let api = config.api_keys.iter().any(|k| k.key == DEMO_API_KEY);
        let sig = config
            .signing_keys
            .iter()
            .any(|k| (k.id.as_str(), k.secret.as_str()) == DEMO_SIGNING_KEY);
        let site = config.sites.iter().any(|s| s.site_key == DEMO_SITE_KEY);
        Self {
            api_key: if api { DEMO_API_KEY } else { "" },
            key_id: if sig { DEMO_SIGNING_KEY.0 } else { "" },
            secret: if sig { DEMO_SIGNING_KEY.1 } else { "" },
            site_key: if site { DEMO_SITE_KEY } else { "" },
        }
    }
}

fn field(out: &mut String, id: &str, label: &str, value: &str, extra: &str) {
    let _ = write!(
        out,
        "<label for=\"{id}\">{label}</label>\
         <input id=\"{id}\" name=\"{name}\" value=\"{value}\" maxlength=\"512\" autocomplete=\"off\" spellcheck=\"false\"{extra}>",
        name = id.rsplit('-').next().unwrap_or(id),
        value = esc(value),
    );
}

fn answer(out: &mut String, id: &str) {
    let _ = write!(
        out,
        "<p class=\"answer-h\">Answer</p><pre class=\"answer\" id=\"{id}\" aria-live=\"polite\">not sent yet</pre>"
    );
}

/// The whole page, rendered once at start-up.
pub fn render(config: &Config) -> String {
    let p = Prefill::of(config);
    let demo_note = |filled: bool| {
        if filled {
            " <span class=\"hint\">(pre-filled: the demo's published default key)</span>"
        } else {
            " <span class=\"hint\">(this config has its own keys: type one)</span>"
        }
    };
    let mut f = String::new();

    // 602TechSec
    f.push_str(
        "<section class=\"seed\" aria-labelledby=\"techsec-h\"><h3 id=\"techsec-h\">602TechSec: verify a request</h3>\
         <p><code>POST /api/verify</code> and <code>POST /api/v2/verify</code>, with <code>X-API-Key</code>.</p>\
         <form class=\"card try\" id=\"try-techsec\" data-answer=\"techsec-answer\">",
    );
    f.push_str(
        "<label for=\"techsec-version\">Version</label><select id=\"techsec-version\" name=\"version\">\
         <option value=\"/api/v2/verify\">v2 (/api/v2/verify)</option><option value=\"/api/verify\">v1 (/api/verify)</option></select>",
    );
    let extra = demo_note(!p.api_key.is_empty());
    field(
        &mut f,
        "techsec-key",
        &format!("API key{extra}"),
        p.api_key,
        " required",
    );
    field(
        &mut f,
        "techsec-ipAddress",
        "IP address",
        "203.0.113.7",
        " required",
    );
    field(&mut f, "techsec-hostName", "Host name", "example.com", "");
    field(&mut f, "techsec-requestPath", "Request path", "/login", "");
    field(
        &mut f,
        "techsec-userAgent",
        "User agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "",
    );
    f.push_str("<button type=\"submit\">Send</button></form>");
    answer(&mut f, "techsec-answer");
    f.push_str("</section>");

    // Auspex Verus
    f.push_str(
        "<section class=\"seed\" aria-labelledby=\"auspex-h\"><h3 id=\"auspex-h\">Auspex Verus: classify an address</h3>\
         <p><code>POST /verus/classify</code>, signed here in your browser with WebCrypto \
         (HMAC-SHA256 over the seed's canonical request, signing key derived from \
         <code>AWS4</code> + secret, date, <code>verus</code>, <code>aws4_request</code>). \
         The secret never leaves the page; each signature is accepted once.</p>\
         <form class=\"card try\" id=\"try-auspex\" data-answer=\"auspex-answer\">",
    );
    field(
        &mut f,
        "auspex-ipAddress",
        "IP address",
        "8.8.8.8",
        " required",
    );
    let extra = demo_note(!p.key_id.is_empty());
    field(
        &mut f,
        "auspex-keyId",
        &format!("API key id{extra}"),
        p.key_id,
        " required",
    );
    field(&mut f, "auspex-secret", "API secret", p.secret, " required");
    f.push_str(
        "<button type=\"submit\">Sign and send</button></form>\
         <p class=\"answer-h\">Signed headers</p><pre class=\"answer\" id=\"auspex-signed\">not signed yet</pre>",
    );
    answer(&mut f, "auspex-answer");
    f.push_str("</section>");

    // Engineering11
    f.push_str(
        "<section class=\"seed\" aria-labelledby=\"e11-h\"><h3 id=\"e11-h\">Engineering11: JWT and intelligence lookups</h3>\
         <p><code>POST /api/jwt/token</code> for an API key, then <code>GET /api/jwt/me</code> with it; \
         the keys are at <a href=\"/.well-known/jwks.json\">/.well-known/jwks.json</a>.</p>\
         <form class=\"card try\" id=\"try-jwt\" data-answer=\"jwt-answer\">",
    );
    let extra = demo_note(!p.api_key.is_empty());
    field(
        &mut f,
        "jwt-key",
        &format!("API key{extra}"),
        p.api_key,
        " required",
    );
    f.push_str("<button type=\"submit\">Get a token</button></form>");
    answer(&mut f, "jwt-answer");
    f.push_str("<form class=\"card try\" id=\"try-me\" data-answer=\"me-answer\">");
    field(
        &mut f,
        "me-token",
        "Bearer token <span class=\"hint\">(filled by \"Get a token\")</span>",
        "",
        " required",
    );
    f.push_str("<button type=\"submit\">Who am I</button></form>");
    answer(&mut f, "me-answer");
    f.push_str(
        "<p><code>GET /api/lookup/ip/{ip}</code>, <code>POST /api/lookup/email</code>, \
         <code>POST /api/lookup/url</code> (IPQS-shaped answers).</p>\
         <form class=\"card try\" id=\"try-lookup\" data-answer=\"lookup-answer\">\
         <label for=\"lookup-kind\">Look up</label><select id=\"lookup-kind\" name=\"kind\">\
         <option value=\"ip\">an IP address</option><option value=\"email\">an e-mail address</option>\
         <option value=\"url\">a URL</option></select>",
    );
    field(&mut f, "lookup-value", "Value", "8.8.8.8", " required");
    f.push_str("<button type=\"submit\">Look up</button></form>");
    answer(&mut f, "lookup-answer");
    f.push_str("</section>");

    // ECURTIY
    f.push_str(
        "<section class=\"seed\" aria-labelledby=\"ecurtiy-h\"><h3 id=\"ecurtiy-h\">ECURTIY: proof-of-work CAPTCHA</h3>\
         <p><code>POST /captcha/api/challenge</code> for a site key. To solve one in your browser \
         and get a token, use the <a href=\"/captcha/demo\">widget page</a>; manage sites and see \
         their analytics on the <a href=\"/captcha/admin/\">dashboard</a>.</p>\
         <form class=\"card try\" id=\"try-ecurtiy\" data-answer=\"ecurtiy-answer\">",
    );
    let extra = demo_note(!p.site_key.is_empty());
    field(
        &mut f,
        "ecurtiy-siteKey",
        &format!("Site key{extra}"),
        p.site_key,
        " required",
    );
    f.push_str("<button type=\"submit\">Get a challenge</button></form>");
    answer(&mut f, "ecurtiy-answer");
    f.push_str("</section>");

    let seeds: String = crate::app::SEED_ENDPOINTS
        .iter()
        .map(|(seed, m, p, what)| {
            format!(
                "<tr><td>{seed}</td><td><code>{m}</code></td><td><code>{p}</code></td><td>{what}</td></tr>"
            )
        })
        .collect();
    let rows: String = crate::app::ENDPOINTS
        .iter()
        .map(|(m, p, what)| {
            format!("<li><code>{m} <a href=\"{p}\">{p}</a></code> &mdash; {what}</li>")
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"/captcha/admin/admin.css\">\
         <title>tower-shield demo</title></head><body>\
         <header class=\"top\"><a class=\"brand\" href=\"/\">tower-shield demo</a>\
         <nav aria-label=\"Main\"><a href=\"#try\">Try it</a><a href=\"#endpoints\">Endpoints</a>\
         <a href=\"/captcha/demo\">Widget page</a><a href=\"/captcha/admin/\">Dashboard</a>\
         <a href=\"/openapi.json\">OpenAPI</a></nav></header>\
         <main id=\"main\"><h1>tower-shield demo</h1>\
         <p>A sample app wrapped in <code>tower_shield::Shield</code>, and four hosted security \
         APIs served wire-compatibly, in-process. Try the <a href=\"/captcha/demo\">ECURTIY widget page</a> \
         or the <a href=\"/captcha/admin/\">ECURTIY dashboard</a>; the \
         <a href=\"/openapi.json\">OpenAPI document</a> describes every operation.</p>\
         <h2 id=\"try\">Try the seed APIs</h2>\
         <p>Each form calls the real endpoint from this page and shows the status and the JSON answer.</p>\
         {f}\
         <h2 id=\"endpoints\">The seed APIs</h2>\
         <div class=\"scroll\"><table><thead><tr><th>Seed</th><th>Method</th><th>Path</th><th>What</th></tr></thead>\
         <tbody>{seeds}</tbody></table></div>\
         <h2>The demo's own endpoints</h2>\
         <ul>{rows}</ul></main>\
         <script src=\"/home.js\"></script></body></html>"
    )
}

/// `GET /`: the page, with a strict CSP.
pub fn page_response(html: &std::sync::Arc<str>) -> Response {
    let mut r = axum::body::Body::from(html.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /home.js`.
pub async fn script() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        HOME_JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefills_only_the_embedded_demo_keys() {
        let page = render(&Config::default());
        assert!(page.contains(&format!("value=\"{}\"", DEMO_SIGNING_KEY.1)));
        assert!(page.contains("value=\"tsk_demo_key\""));
        let own = Config::parse(
            "[[api_keys]]\nkey = \"tsk_own_key_123\"\nrequests_per_hour = 5\n\
             [[signing_keys]]\nid = \"alk_own\"\nsecret = \"als_own_secret_0123456789\"\n\
             [[sites]]\nsite_key = \"eck_live_own\"\nsecret_key = \"ecs_live_own\"\n",
        )
        .unwrap();
        let page = render(&own);
        for secret in [
            "tsk_own_key_123",
            "als_own_secret",
            "alk_own",
            "eck_live_own",
        ] {
            assert!(!page.contains(secret), "{secret} shown");
        }
        assert!(page.contains("this config has its own keys"));
    }
}
