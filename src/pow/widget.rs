//! The browser side, served by the crate: plain JavaScript and CSS, no build step.
//!
//! * [`WIDGET_JS`] (`shield-pow.js`): the widget (checkbox and invisible modes, progress
//!   bar with `role=progressbar`, a labelled native checkbox, an `aria-live` status, a
//!   failure state with a retry button, refetching a challenge that expired before use,
//!   resetting a token that expired before the form was sent), the behavioural data the
//!   seed's `verify` takes, and the inline layer's interstitial;
//! * [`WORKER_JS`] (`worker.js`): the solver, run in up to four Web Workers loaded from
//!   the same origin: pure-JS SHA-256, one compression per try. WebCrypto double-checks
//!   the found nonce (it is asynchronous per hash, too slow to search with);
//! * [`WIDGET_CSS`] (`shield-pow.css`); [`DEMO_JS`] (`demo.js`) for the demo page.

use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};

/// A static file of the widget.
#[derive(Debug)]
pub struct Asset {
    /// The file name.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The contents.
    pub body: &'static str,
}

/// The widget and interstitial script.
pub static WIDGET_JS: &Asset = &Asset {
    name: "shield-pow.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("widget/shield-pow.js"),
};

/// The Web Worker solver.
pub static WORKER_JS: &Asset = &Asset {
    name: "worker.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("widget/worker.js"),
};

/// The widget's styles.
pub static WIDGET_CSS: &Asset = &Asset {
    name: "shield-pow.css",
    content_type: "text/css; charset=utf-8",
    body: include_str!("widget/shield-pow.css"),
};

/// The demo page's script.
pub static DEMO_JS: &Asset = &Asset {
    name: "demo.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("widget/demo.js"),
};

/// Every asset, by file name.
pub fn by_name(name: &str) -> Option<&'static Asset> {
    [WIDGET_JS, WORKER_JS, WIDGET_CSS, DEMO_JS]
        .into_iter()
        .find(|a| a.name == name)
}

/// The Content-Security-Policy of the pages served here: scripts, workers, styles and
/// fetches from the same origin only, no inline script.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; \
style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Escapes text for HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe to embed in a `<script type="application/json">` element.
pub(crate) fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The interstitial page of [`PowLayer`](super::PowLayer): solves `challenge` in the
/// background with the scripts under `endpoint_prefix`, then reloads.
pub fn interstitial_html(challenge: &serde_json::Value, endpoint_prefix: &str) -> String {
    let p = escape_html(endpoint_prefix);
    let cfg = serde_json::json!({
        "challenge": challenge,
        "verifyUrl": format!("{endpoint_prefix}/verify"),
        "challengeUrl": format!("{endpoint_prefix}/challenge"),
        "workerUrl": format!("{endpoint_prefix}/worker.js"),
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>Checking your browser</title>
<link rel="stylesheet" href="{p}/shield-pow.css">
</head><body class="sp-page" data-state="solving">
<main class="sp-interstitial">
<h1>Checking your browser</h1>
<p>This site asks your browser to do a little computation before it continues, to keep automated abuse out. It needs JavaScript and takes a few seconds.</p>
<div id="shield-pow-progress" class="sp-progress" role="progressbar" aria-label="Check progress" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><div id="shield-pow-bar" class="sp-bar"></div></div>
<p id="shield-pow-status" role="status" aria-live="polite">Starting…</p>
<button type="button" id="shield-pow-retry" hidden>Try again</button>
<noscript><p>Please enable JavaScript to continue.</p></noscript>
</main>
<script type="application/json" id="shield-pow-config">{cfg}</script>
<script src="{p}/shield-pow.js"></script>
</body></html>
"#,
        cfg = script_json(&cfg)
    )
}

/// A page with the widget for `site_key`, meant to be served at `{api base}/demo` (it
/// loads the widget from `widget/` and calls the API at `.` relative to itself). With
/// `protected_url`, after verifying it fetches that URL with the token in
/// `X-Shield-Token` and shows the status and body.
pub fn demo_page_html(site_key: &str, protected_url: Option<&str>) -> String {
    let protected = protected_url
        .map(|u| format!(r#" data-protected="{}""#, escape_html(u)))
        .unwrap_or_default();
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tower-shield proof of work: demo</title>
<link rel="stylesheet" href="widget/shield-pow.css">
</head><body class="sp-page">
<main class="sp-interstitial">
<h1>Proof-of-work widget</h1>
<p>Tick the box: your browser solves a small SHA-256 puzzle, then the widget exchanges it for a single-use token.</p>
<form id="demo-form" action="#">
<div class="shield-pow" data-sitekey="{site}" data-api="."{protected}></div>
</form>
<h2>Result</h2>
<p>Token: <code id="demo-token">none yet</code></p>
<p><output id="demo-result" aria-live="polite"></output></p>
</main>
<script src="widget/shield-pow.js"></script>
<script src="widget/demo.js"></script>
</body></html>
"##,
        site = escape_html(site_key)
    )
}

/// Headers every page served here carries.
pub(crate) fn page_headers(h: &mut http::HeaderMap) {
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

#[cfg(feature = "axum")]
pub(crate) fn demo_page_response(
    req: &axum::extract::Request,
    site: &str,
    protected: Option<&str>,
) -> axum::response::Response {
    // The page's relative URLs need the trailing segment: `/captcha/demo` resolves
    // `widget/...` to `/captcha/widget/...`.
    let _ = req;
    let mut res =
        axum::response::Response::new(axum::body::Body::from(demo_page_html(site, protected)));
    page_headers(res.headers_mut());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_and_embed() {
        let c = serde_json::json!({"challengeId": "ch_x</script><script>alert(1)</script>"});
        let page = interstitial_html(&c, "/.shield/pow");
        assert!(!page.contains("</script><script>alert"));
        assert!(page.contains(r#"src="/.shield/pow/shield-pow.js""#));
        assert!(page.contains("aria-live=\"polite\""));
        let demo = demo_page_html("eck\"><b>", Some("/x?a=1&b=2"));
        assert!(demo.contains("eck&quot;&gt;&lt;b&gt;"));
        assert!(demo.contains("/x?a=1&amp;b=2"));
        assert!(by_name("worker.js").is_some() && by_name("../etc/passwd").is_none());
    }
}
