//! Scoring: from network, user-agent and header signals to a [`Verdict`]. Pure.
//!
//! Every signal that fires adds its weight to a bot score, capped at 100, and leaves a
//! [`Reason`] with a stable code:
//!
//! | code | default weight | fires when |
//! |---|---|---|
//! | `net.tor_exit` | 60 | the address is a Tor exit |
//! | `net.proxy` | 50 | the address is a listed proxy |
//! | `net.vpn` | 40 | the address is a listed VPN exit |
//! | `net.hosting_asn` | 45 | the address is in a hosting/datacenter network |
//! | `net.crawler_range` | 50 | the address is in a published crawler range |
//! | `ua.crawler` | 90 | a crawler list names the user agent |
//! | `ua.bot_pattern` | 75 | only a generic bot pattern (isbot, URL in UA) matches |
//! | `ua.http_library` | 85 | an HTTP library or command-line tool |
//! | `ua.headless` | 85 | a headless or automated browser |
//! | `ua.empty` | 80 | no or an empty `User-Agent` |
//! | `ua.too_long` | 30 | a `User-Agent` longer than 1024 bytes |
//! | `hdr.no_accept` | 15 | a browser UA without `Accept` |
//! | `hdr.no_accept_language` | 25 | a browser UA without `Accept-Language` |
//! | `hdr.no_accept_encoding` | 15 | a browser UA without `Accept-Encoding` |
//! | `hdr.no_sec_ch_ua` | 30 | Chromium 90+ without `Sec-CH-UA` (sent over HTTPS only) |
//!
//! `net.special_purpose` (weight 0) marks private, loopback and other special-purpose
//! addresses: they give `human: true, certainty: 0` whatever else is seen, as the Auspex
//! seed documents. `ua.allowed_category` (weight 0) marks a bot of a category you allow.
//!
//! With any bot signal, `human` is `false` and `certainty` is the score; with none,
//! `human` is `true` and `certainty` grows with the evidence for a human (a browser UA
//! with consistent headers, an address in a known non-hosting network). The action comes
//! from [`Bands`].

use std::sync::Arc;

use http::HeaderMap;
use http::header::{ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, USER_AGENT};

use super::data::{NetInfo, NetKind};
use super::ua::{Browser, MAX_UA_BYTES, UaCategory, UaMatch, browser};
use crate::core::error::ConfigError;
use crate::core::verdict::{Action, Flags, Reason, Verdict};

/// `Sec-CH-UA`, as a name (looking it up by `&str` would parse it on every request).
const SEC_CH_UA: http::HeaderName = http::HeaderName::from_static("sec-ch-ua");

/// The weight of each signal (0 disables it). See the [module docs](self) for defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Weights {
    pub tor_exit: u8,
    pub proxy: u8,
    pub vpn: u8,
    pub hosting: u8,
    pub crawler_range: u8,
    pub ua_crawler: u8,
    pub ua_bot_pattern: u8,
    pub ua_http_library: u8,
    pub ua_headless: u8,
    pub ua_empty: u8,
    pub ua_too_long: u8,
    pub no_accept: u8,
    pub no_accept_language: u8,
    pub no_accept_encoding: u8,
    pub no_sec_ch_ua: u8,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            tor_exit: 60,
            proxy: 50,
            vpn: 40,
            hosting: 45,
            crawler_range: 50,
            ua_crawler: 90,
            ua_bot_pattern: 75,
            ua_http_library: 85,
            ua_headless: 85,
            ua_empty: 80,
            ua_too_long: 30,
            no_accept: 15,
            no_accept_language: 25,
            no_accept_encoding: 15,
            no_sec_ch_ua: 30,
        }
    }
}

impl Weights {
    /// The defaults, without signals that only hold over HTTPS (`hdr.no_sec_ch_ua`):
    /// for sites browsers reach over plain HTTP.
    pub fn plain_http() -> Self {
        Self {
            no_sec_ch_ua: 0,
            ..Self::default()
        }
    }
}

/// Certainty bands that turn a bot verdict into an action.
///
/// Default (Auspex Verus' recommendations): a bot with certainty `>= 75` is blocked,
/// `>= 50` challenged, below that allowed and monitored; a human is always allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bands {
    challenge_at: u8,
    block_at: u8,
}

impl Default for Bands {
    fn default() -> Self {
        Self {
            challenge_at: 50,
            block_at: 75,
        }
    }
}

impl Bands {
    /// Challenge bots from `challenge_at`, block from `block_at` (0..=101 each, 101 meaning
    /// never; `challenge_at <= block_at`).
    pub fn new(challenge_at: u8, block_at: u8) -> Result<Self, ConfigError> {
        if challenge_at > 101 || block_at > 101 {
            return Err(ConfigError::new("bands", "thresholds are 0..=101"));
        }
        if challenge_at > block_at {
            return Err(ConfigError::new(
                "bands",
                "challenge_at must be <= block_at",
            ));
        }
        Ok(Self {
            challenge_at,
            block_at,
        })
    }

    /// The action for a verdict.
    pub fn action(&self, human: bool, certainty: u8) -> Action {
        if human {
            Action::Allow
        } else if certainty >= self.block_at {
            Action::Block
        } else if certainty >= self.challenge_at {
            Action::Challenge
        } else {
            Action::Monitor
        }
    }
}

/// How signals are weighed and verdicts acted on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Signal weights.
    pub weights: Weights,
    /// Certainty bands.
    pub bands: Bands,
    /// Bot categories that are let through (at most [`Action::Monitor`]) unless the
    /// network signals alone reach a band. Empty by default: a UA is trivially forged,
    /// so allowing `SearchEngine` lets anyone claiming to be Googlebot in.
    pub allow_categories: Vec<UaCategory>,
}

/// Header-consistency findings, as bits (cheap to compute and to use as a cache key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HeaderFindings(u8);

impl HeaderFindings {
    const NO_ACCEPT: u8 = 1;
    const NO_ACCEPT_LANGUAGE: u8 = 1 << 1;
    const NO_ACCEPT_ENCODING: u8 = 1 << 2;
    const NO_SEC_CH_UA: u8 = 1 << 3;
    const BROWSER: u8 = 1 << 4;
    const TOO_LONG: u8 = 1 << 5;

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Which of the headers [`header_findings`] looks at are present, and whether the UA is
/// too long: with the UA itself, all [`header_findings`] depends on. Cheap (no UA
/// parsing), so a cache can key on it and parse only on a miss.
pub fn header_presence(headers: &HeaderMap) -> u8 {
    presence_and_ua(headers).0
}

/// [`header_presence`] and the `User-Agent` (its first value, as `HeaderMap::get` reads
/// it), found in the same pass.
pub(crate) fn presence_and_ua(headers: &HeaderMap) -> (u8, Option<&http::HeaderValue>) {
    // One pass over the request's (few) names beats five hash lookups; a request with
    // many header fields falls back to the lookups.
    if headers.len() <= crate::core::ONE_PASS_MAX_HEADERS {
        let mut bits = 0;
        let mut ua = None;
        for (name, value) in headers {
            bits |= if *name == ACCEPT {
                1
            } else if *name == ACCEPT_LANGUAGE {
                1 << 1
            } else if *name == ACCEPT_ENCODING {
                1 << 2
            } else if *name == SEC_CH_UA {
                1 << 3
            } else {
                // Only the first `User-Agent` counts, as `HeaderMap::get` reads it: the
                // iteration yields a name's first value first.
                if *name == USER_AGENT && ua.is_none() {
                    ua = Some(value);
                }
                0
            };
        }
        let too_long = ua.is_some_and(|v| v.len() > MAX_UA_BYTES);
        return (bits | u8::from(too_long) << 4, ua);
    }
    (presence_by_lookup(headers), headers.get(USER_AGENT))
}

/// [`header_presence`] by one lookup per name.
fn presence_by_lookup(headers: &HeaderMap) -> u8 {
    let ua_len = headers.get(USER_AGENT).map_or(0, |v| v.len());
    u8::from(headers.contains_key(ACCEPT))
        | u8::from(headers.contains_key(ACCEPT_LANGUAGE)) << 1
        | u8::from(headers.contains_key(ACCEPT_ENCODING)) << 2
        | u8::from(headers.contains_key(SEC_CH_UA)) << 3
        | u8::from(ua_len > MAX_UA_BYTES) << 4
}

/// Checks the headers a browser always sends against the browser the UA claims.
pub fn header_findings(headers: &HeaderMap) -> HeaderFindings {
    let ua = headers
        .get(USER_AGENT)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let mut bits = 0;
    if ua.len() > MAX_UA_BYTES {
        bits |= HeaderFindings::TOO_LONG;
    }
    let Some(b) = browser(ua) else {
        return HeaderFindings(bits);
    };
    bits |= HeaderFindings::BROWSER;
    if !headers.contains_key(ACCEPT) {
        bits |= HeaderFindings::NO_ACCEPT;
    }
    if !headers.contains_key(ACCEPT_LANGUAGE) {
        bits |= HeaderFindings::NO_ACCEPT_LANGUAGE;
    }
    if !headers.contains_key(ACCEPT_ENCODING) {
        bits |= HeaderFindings::NO_ACCEPT_ENCODING;
    }
    if matches!(b, Browser::Chromium(v) if v >= 90) && !headers.contains_key(SEC_CH_UA) {
        bits |= HeaderFindings::NO_SEC_CH_UA;
    }
    HeaderFindings(bits)
}

/// What the request-level signals found; `None` for an address-only verdict.
#[derive(Clone, Debug, Default)]
pub struct RequestSignals {
    /// The user-agent match, if any bot pattern matched.
    pub ua: Option<UaMatch>,
    /// Header-consistency findings.
    pub headers: HeaderFindings,
}

struct Acc {
    score: u16,
    reasons: Vec<Reason>,
}

impl Acc {
    fn add(&mut self, code: &'static str, weight: u8, detail: Option<Arc<str>>) {
        if weight == 0 && !code.ends_with("special_purpose") && code != "ua.allowed_category" {
            return;
        }
        self.score += u16::from(weight);
        self.reasons.push(Reason {
            code,
            weight,
            detail,
        });
    }
}

/// Scores one request (or, with `req: None`, one address) against `policy`.
pub fn score(net: Option<&NetInfo>, req: Option<&RequestSignals>, policy: &Policy) -> Verdict {
    let w = &policy.weights;
    let kind = net.map(|n| n.kind).unwrap_or_default();
    let label = || net.and_then(|n| n.label.clone().or_else(|| n.org.clone()));
    let mut acc = Acc {
        score: 0,
        reasons: Vec::new(),
    };
    let mut flags = Flags {
        vpn: kind.contains(NetKind::VPN),
        proxy: kind.contains(NetKind::PROXY),
        tor: kind.contains(NetKind::TOR),
        hosting: kind.contains(NetKind::HOSTING),
        bot: kind.contains(NetKind::CRAWLER),
    };
    let (asn, org, geo) = net.map_or((None, None, None), |n| {
        (n.asn, n.org.clone(), n.geo.clone())
    });

    if kind.contains(NetKind::SPECIAL) {
        acc.add("net.special_purpose", 0, label());
        return Verdict {
            human: true,
            certainty: 0,
            risk_score: 0,
            flags,
            geo,
            asn,
            org,
            reasons: acc.reasons.into(),
            action: Action::Allow,
        };
    }

    if flags.tor {
        acc.add("net.tor_exit", w.tor_exit, label());
    }
    if flags.proxy {
        acc.add("net.proxy", w.proxy, label());
    }
    if flags.vpn {
        acc.add("net.vpn", w.vpn, label());
    }
    if flags.hosting {
        acc.add("net.hosting_asn", w.hosting, label());
    }
    if kind.contains(NetKind::CRAWLER) {
        acc.add("net.crawler_range", w.crawler_range, label());
    }
    let net_score = acc.score;

    let mut allowed_bot = false;
    let mut browser_ok = false;
    if let Some(req) = req {
        if let Some(m) = &req.ua {
            flags.bot = true;
            let detail: Option<Arc<str>> = Some(Arc::from(format!(
                "{}: {} ({})",
                m.category, m.pattern, m.source
            )));
            if policy.allow_categories.contains(&m.category) {
                allowed_bot = true;
                acc.add("ua.allowed_category", 0, detail.clone());
            }
            let (code, weight) = match m.category {
                UaCategory::Empty => ("ua.empty", w.ua_empty),
                UaCategory::HttpLibrary => ("ua.http_library", w.ua_http_library),
                UaCategory::Headless => ("ua.headless", w.ua_headless),
                UaCategory::Crawler if m.source != "crawler-user-agents" => {
                    ("ua.bot_pattern", w.ua_bot_pattern)
                }
                _ => ("ua.crawler", w.ua_crawler),
            };
            acc.add(code, weight, detail);
        }
        let h = req.headers;
        if h.has(HeaderFindings::TOO_LONG) {
            acc.add("ua.too_long", w.ua_too_long, None);
        }
        if h.has(HeaderFindings::NO_ACCEPT) {
            acc.add("hdr.no_accept", w.no_accept, None);
        }
        if h.has(HeaderFindings::NO_ACCEPT_LANGUAGE) {
            acc.add("hdr.no_accept_language", w.no_accept_language, None);
        }
        if h.has(HeaderFindings::NO_ACCEPT_ENCODING) {
            acc.add("hdr.no_accept_encoding", w.no_accept_encoding, None);
        }
        if h.has(HeaderFindings::NO_SEC_CH_UA) {
            acc.add("hdr.no_sec_ch_ua", w.no_sec_ch_ua, None);
        }
        browser_ok = h.has(HeaderFindings::BROWSER) && req.ua.is_none();
    }

    let score = u8::try_from(acc.score.min(100)).unwrap_or(100);
    let human = score == 0 && !flags.bot;
    let certainty = if human {
        let known_net = asn.is_some();
        let mut c: u8 = 25;
        if known_net {
            c += 15;
        }
        if browser_ok {
            c += 35;
        }
        c
    } else {
        score.max(1)
    };
    let mut action = policy.bands.action(human, certainty);
    if allowed_bot {
        let net_only = u8::try_from(net_score.min(100)).unwrap_or(100);
        let net_action = policy.bands.action(net_only == 0, net_only);
        if !matches!(net_action, Action::Block | Action::Challenge) {
            action = Action::Monitor;
        }
    }
    Verdict {
        human,
        certainty,
        risk_score: if human { 0 } else { score },
        flags,
        geo,
        asn,
        org,
        reasons: acc.reasons.into(),
        action,
    }
}

#[cfg(test)]
mod presence_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Two requests with the same UA and the same header presence have the same
        /// findings: the cache may key on presence instead of the findings.
        #[test]
        fn findings_depend_only_on_ua_and_presence(
            ua in prop_oneof![
                Just("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".to_owned()),
                Just("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".to_owned()),
                Just("curl/8.5.0".to_owned()),
                "[ -~]{0,40}",
            ],
            present in 0u8..16,
            v1 in "[a-z]{1,8}", v2 in "[a-z]{1,8}",
        ) {
            let build = |v: &str| {
                let mut h = HeaderMap::new();
                if let Ok(u) = http::HeaderValue::from_str(&ua) { h.insert(USER_AGENT, u); }
                let names = [ACCEPT, ACCEPT_LANGUAGE, ACCEPT_ENCODING, http::HeaderName::from_static("sec-ch-ua")];
                for (i, n) in names.into_iter().enumerate() {
                    if present & (1 << i) != 0 { h.insert(n, http::HeaderValue::from_str(v).unwrap()); }
                }
                h
            };
            let (a, b) = (build(&v1), build(&v2));
            prop_assert_eq!(header_presence(&a), header_presence(&b));
            prop_assert_eq!(header_findings(&a), header_findings(&b));
        }

        /// The one-pass presence equals the lookups, whatever the names, values,
        /// repetitions and count of fields.
        #[test]
        fn one_pass_presence_equals_lookups(
            fields in proptest::collection::vec((0usize..7, 0usize..4), 0..24),
        ) {
            let names = [
                USER_AGENT, ACCEPT, ACCEPT_LANGUAGE, ACCEPT_ENCODING, SEC_CH_UA,
                http::HeaderName::from_static("x-other"), http::header::HOST,
            ];
            let long = "a".repeat(MAX_UA_BYTES + 1);
            let values = ["x", "Mozilla/5.0", long.as_str(), "y"];
            let mut h = HeaderMap::new();
            for (n, v) in fields {
                h.append(names[n].clone(), http::HeaderValue::from_str(values[v]).unwrap());
            }
            prop_assert_eq!(header_presence(&h), presence_by_lookup(&h));
            prop_assert_eq!(presence_and_ua(&h).1, h.get(USER_AGENT));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn header_consistency() {
        let full = hdrs(&[
            ("user-agent", CHROME),
            ("accept", "text/html"),
            ("accept-language", "en"),
            ("accept-encoding", "gzip"),
            ("sec-ch-ua", "\"Chromium\";v=\"131\""),
        ]);
        assert_eq!(
            header_findings(&full),
            HeaderFindings(HeaderFindings::BROWSER)
        );
        let bare = hdrs(&[("user-agent", CHROME)]);
        let f = header_findings(&bare);
        for bit in [
            HeaderFindings::NO_ACCEPT,
            HeaderFindings::NO_ACCEPT_LANGUAGE,
            HeaderFindings::NO_ACCEPT_ENCODING,
            HeaderFindings::NO_SEC_CH_UA,
        ] {
            assert!(f.has(bit));
        }
        let ff = hdrs(&[
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            ),
            ("accept", "*/*"),
            ("accept-encoding", "gzip"),
        ]);
        let f = header_findings(&ff);
        assert!(f.has(HeaderFindings::NO_ACCEPT_LANGUAGE) && !f.has(HeaderFindings::NO_SEC_CH_UA));
        // Non-browsers are not held to browser headers.
        assert_eq!(
            header_findings(&hdrs(&[("user-agent", "curl/8")])),
            HeaderFindings(0)
        );
    }

    #[test]
    fn bands() {
        let b = Bands::default();
        assert_eq!(b.action(false, 100), Action::Block);
        assert_eq!(b.action(false, 75), Action::Block);
        assert_eq!(b.action(false, 74), Action::Challenge);
        assert_eq!(b.action(false, 50), Action::Challenge);
        assert_eq!(b.action(false, 49), Action::Monitor);
        assert_eq!(b.action(true, 100), Action::Allow);
        assert!(Bands::new(80, 70).is_err());
        assert!(Bands::new(50, 102).is_err());
        assert_eq!(
            Bands::new(101, 101).unwrap().action(false, 100),
            Action::Monitor
        );
    }

    #[test]
    fn special_purpose_is_human_with_no_certainty() {
        let net = NetInfo::tagged(NetKind::SPECIAL, "private-use");
        let req = RequestSignals {
            ua: None,
            headers: HeaderFindings(0),
        };
        let v = score(Some(&net), Some(&req), &Policy::default());
        assert!(v.human);
        assert_eq!((v.certainty, v.risk_score, v.action), (0, 0, Action::Allow));
        assert_eq!(
            v.reason_codes().collect::<Vec<_>>(),
            ["net.special_purpose"]
        );
    }

    #[test]
    fn additive_and_capped() {
        let net = NetInfo::tagged(NetKind::HOSTING | NetKind::TOR, "x");
        let v = score(Some(&net), None, &Policy::default());
        assert!(!v.human);
        assert_eq!(v.certainty, 100);
        assert_eq!(v.action, Action::Block);
        assert!(v.flags.tor && v.flags.hosting);
        let v = score(
            Some(&NetInfo::tagged(NetKind::VPN, "v")),
            None,
            &Policy::default(),
        );
        assert_eq!((v.certainty, v.action), (40, Action::Monitor));
        let v = score(None, None, &Policy::default());
        assert!(v.human && v.certainty == 25 && v.reasons.is_empty());
    }

    #[test]
    fn allowed_categories_are_monitored() {
        let m = UaMatch {
            category: UaCategory::SearchEngine,
            pattern: "Googlebot\\/".into(),
            source: "crawler-user-agents",
        };
        let req = RequestSignals {
            ua: Some(m),
            headers: HeaderFindings(0),
        };
        let mut policy = Policy::default();
        assert_eq!(score(None, Some(&req), &policy).action, Action::Block);
        policy.allow_categories.push(UaCategory::SearchEngine);
        let v = score(None, Some(&req), &policy);
        assert_eq!(v.action, Action::Monitor);
        assert!(!v.human && v.flags.bot && v.has_reason("ua.allowed_category"));
        let tor = NetInfo::tagged(NetKind::TOR | NetKind::HOSTING, "t");
        assert_eq!(score(Some(&tor), Some(&req), &policy).action, Action::Block);
    }
}
