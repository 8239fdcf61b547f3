//! Scoring: from network, user-agent and header signals to a [`Verdict`]. Pure.
//!
//! # The evidence model
//!
//! Each signal that fires is one piece of evidence with a weight `w` (0-100): the
//! certainty it would give alone, toward a bot (`+`) or toward a human (`-`). Weights
//! combine as independent evidence in log-odds: each adds `ln((100 + w) / (100 - w))`
//! (a weight of 100 counts as 99.5) to a total `L`, bot evidence positive and human
//! evidence negative. Then
//!
//! * `human = L <= 0`, and `certainty = round(100 * tanh(|L| / 2))`: one signal of
//!   weight `w` alone gives certainty `w`; two of 75 give 96; opposing evidence cancels;
//!   no evidence at all gives `certainty: 0` ("don't know");
//! * `risk_score` is the certainty of a bot verdict, 0 for a human.
//!
//! So adding bot evidence never raises a human verdict's certainty (it lowers it, or
//! turns the verdict into a bot), certainty stays in 0-100, and the reasons list every
//! contribution with its code, source and signed weight.
//!
//! | code | default weight | fires when |
//! |---|---|---|
//! | `net.tor_exit` | +90 | the address is a Tor exit |
//! | `net.crawler_range` | +85 | the address is in a crawler operator's published range |
//! | `net.hosting_asn` | +80 | the address is in a cloud / hosting / datacenter network |
//! | `net.vpn` | +60 | the address is a listed VPN exit |
//! | `net.proxy` | +40 | the address is a listed proxy or CDN/edge egress |
//! | `ua.crawler` | +95 | a crawler list names the user agent |
//! | `ua.bot_pattern` | +85 | only a generic bot pattern (isbot, URL in UA) matches |
//! | `ua.http_library` | +90 | an HTTP library or command-line tool |
//! | `ua.headless` | +90 | a headless or automated browser |
//! | `ua.empty` | +85 | no or an empty `User-Agent` |
//! | `ua.too_long` | +30 | a `User-Agent` longer than 1024 bytes |
//! | `hdr.no_accept` | +15 | a browser UA without `Accept` |
//! | `hdr.no_accept_language` | +25 | a browser UA without `Accept-Language` |
//! | `hdr.no_accept_encoding` | +15 | a browser UA without `Accept-Encoding` |
//! | `hdr.no_sec_ch_ua` | +30 | Chromium 90+ without `Sec-CH-UA` (sent over HTTPS only) |
//! | `net.consumer_network` | -40 | the address's ASN is known and in no hosting/VPN/proxy/Tor/crawler list |
//! | `net.unlisted` | -15 | a public address no list names (weak: lists are never complete) |
//! | `hdr.browser_consistent` | -55 | a browser UA with every header that browser sends, no bot pattern |
//! | `ua.spoofed_crawler` | +95 | the UA claims a crawler (Googlebot, bingbot, GPTBot, ...) whose operator publishes ranges, from an address in none of them |
//! | `ua.verified_crawler` | 0 | the same claim from the operator's published range (or confirmed by reverse DNS): sets [`Verdict::verified_crawler`] |
//! | `ua.unverified_crawler` | 0 | a claim that cannot be checked (DNS-only operator, no resolver or answer pending) |
//!
//! # Verified crawlers
//!
//! A user agent is a claim. When it names a crawler whose operator publishes its
//! addresses ([`crawlers`](super::crawlers): Google, Bing, Apple, OpenAI, Perplexity,
//! DuckDuckGo, Common Crawl, Ahrefs), the classifier checks the address: inside the
//! operator's list, the verdict carries [`Verdict::verified_crawler`] (operator,
//! category) and stays a bot (`human: false`); outside, `ua.spoofed_crawler` adds strong
//! bot evidence and cancels [`Policy::allow_categories`] for that request, so letting
//! search engines in no longer lets in every forged Googlebot. Verified crawlers of the
//! categories in [`Policy::allow_verified`] get [`Action::Allow`]. A spoofed claim only
//! ever adds bot evidence: it never raises the certainty of "human" (property-tested).
//!
//! Defaults were set on the data the crate ships (the embedded snapshot, the
//! `crawler-user-agents` instances and browser UAs in `tests/data/classify/`) so that a
//! cloud or crawler range alone lands in the Auspex "block" band (75-100), a Tor exit
//! higher, a consumer network with a consistent browser near 75 human, and an unlisted
//! address alone low either way.
//!
//! `net.special_purpose` (weight 0) marks private, loopback and other special-purpose
//! addresses: they give `human: true, certainty: 0` whatever else is seen, as the Auspex
//! seed documents. `ua.allowed_category` (weight 0) marks a bot of a category you allow.
//! The action comes from [`Bands`].

use std::sync::Arc;

use http::HeaderMap;
use http::header::{ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, USER_AGENT};

use super::crawlers::CrawlerCheck;
use super::data::{NetInfo, NetKind};
use super::ua::{Browser, MAX_UA_BYTES, UaCategory, UaMatch, browser};
use crate::core::error::ConfigError;
use crate::core::verdict::{Action, CrawlerCategory, Flags, Reason, Verdict};

/// `Sec-CH-UA`, as a name (looking it up by `&str` would parse it on every request).
const SEC_CH_UA: http::HeaderName = http::HeaderName::from_static("sec-ch-ua");

/// The weight of each signal (0-100: the certainty it gives alone; 0 disables it). See
/// the [module docs](self) for the model and the defaults.
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
    /// Toward human: the ASN is known and in no negative list.
    pub consumer_network: u8,
    /// Toward human: a public address no list names.
    pub unlisted_network: u8,
    /// Toward human: a browser UA with its usual headers and no bot pattern.
    pub browser_headers: u8,
    /// A user agent claiming a crawler from outside its operator's published ranges.
    pub spoofed_crawler: u8,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            tor_exit: 90,
            proxy: 40,
            vpn: 60,
            hosting: 80,
            crawler_range: 85,
            ua_crawler: 95,
            ua_bot_pattern: 85,
            ua_http_library: 90,
            ua_headless: 90,
            ua_empty: 85,
            ua_too_long: 30,
            no_accept: 15,
            no_accept_language: 25,
            no_accept_encoding: 15,
            no_sec_ch_ua: 30,
            consumer_network: 40,
            unlisted_network: 15,
            browser_headers: 55,
            spoofed_crawler: 95,
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

/// The log-odds evidence of a weight (0-100, the certainty it gives alone).
fn evidence(weight: u8) -> f32 {
    let p = f32::from(weight.min(100)).min(99.5) / 100.0;
    ((1.0 + p) / (1.0 - p)).ln()
}

/// The certainty (0-100) of a total log-odds evidence `l` (either sign).
fn certainty_of(l: f32) -> u8 {
    let c = (l.abs() / 2.0).tanh() * 100.0;
    // In 0..=100 by construction; the cast saturates anyway.
    c.round().clamp(0.0, 100.0) as u8
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
    /// Verified crawlers of these categories are allowed ([`Action::Allow`]). Empty by
    /// default. Only a crawler whose address its operator vouches for counts.
    pub allow_verified: Vec<CrawlerCategory>,
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
    /// Total log-odds evidence: positive toward a bot.
    l: f32,
    reasons: Vec<Reason>,
}

impl Acc {
    fn new() -> Self {
        Self {
            l: 0.0,
            reasons: Vec::new(),
        }
    }

    /// Adds informational reason (weight 0).
    fn note(&mut self, code: &'static str, source: Option<Arc<str>>, detail: Option<Arc<str>>) {
        self.reasons.push(Reason {
            code,
            source,
            weight: 0,
            detail,
        });
    }

    /// Adds evidence of `weight` toward a bot (`bot`) or a human; weight 0 adds nothing.
    fn add(
        &mut self,
        code: &'static str,
        bot: bool,
        weight: u8,
        source: Option<Arc<str>>,
        detail: Option<Arc<str>>,
    ) {
        if weight == 0 {
            return;
        }
        let e = evidence(weight);
        self.l += if bot { e } else { -e };
        let w = i8::try_from(weight.min(100)).unwrap_or(100);
        self.reasons.push(Reason {
            code,
            source,
            weight: if bot { w } else { -w },
            detail,
        });
    }
}

/// Scores one request (or, with `req: None`, one address) against `policy`.
pub fn score(net: Option<&NetInfo>, req: Option<&RequestSignals>, policy: &Policy) -> Verdict {
    score_checked(net, req, None, policy)
}

/// [`score`], with the outcome of checking the crawler the user agent claims
/// ([`Crawlers::check`](super::crawlers::Crawlers::check)).
pub fn score_checked(
    net: Option<&NetInfo>,
    req: Option<&RequestSignals>,
    crawler: Option<&CrawlerCheck>,
    policy: &Policy,
) -> Verdict {
    let w = &policy.weights;
    let kind = net.map(|n| n.kind).unwrap_or_default();
    let label = || net.and_then(|n| n.label.clone().or_else(|| n.org.clone()));
    let mut acc = Acc::new();
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
        acc.note("net.special_purpose", label(), label());
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
            verified_crawler: None,
        };
    }

    if flags.tor {
        acc.add("net.tor_exit", true, w.tor_exit, label(), label());
    }
    if flags.proxy {
        acc.add("net.proxy", true, w.proxy, label(), label());
    }
    if flags.vpn {
        acc.add("net.vpn", true, w.vpn, label(), label());
    }
    if flags.hosting {
        acc.add("net.hosting_asn", true, w.hosting, label(), label());
    }
    if kind.contains(NetKind::CRAWLER) {
        acc.add("net.crawler_range", true, w.crawler_range, label(), label());
    }
    let listed = [
        NetKind::TOR,
        NetKind::PROXY,
        NetKind::VPN,
        NetKind::HOSTING,
        NetKind::CRAWLER,
    ]
    .into_iter()
    .any(|k| kind.contains(k));
    if !listed {
        if asn.is_some() {
            acc.add(
                "net.consumer_network",
                false,
                w.consumer_network,
                label(),
                org.clone(),
            );
        } else {
            acc.add("net.unlisted", false, w.unlisted_network, None, None);
        }
    }
    let net_l = acc.l;

    let mut allowed_bot = false;
    if let Some(req) = req {
        if let Some(m) = &req.ua {
            flags.bot = true;
            let source: Option<Arc<str>> = Some(Arc::from(m.source));
            let detail: Option<Arc<str>> =
                Some(Arc::from(format!("{}: {}", m.category, m.pattern)));
            if policy.allow_categories.contains(&m.category) {
                allowed_bot = true;
                acc.note("ua.allowed_category", source.clone(), detail.clone());
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
            acc.add(code, true, weight, source, detail);
        }
        let h = req.headers;
        let hdr = || Some(Arc::<str>::from("headers"));
        let mut consistent = h.has(HeaderFindings::BROWSER) && req.ua.is_none();
        for (bit, code, weight) in [
            (HeaderFindings::TOO_LONG, "ua.too_long", w.ua_too_long),
            (HeaderFindings::NO_ACCEPT, "hdr.no_accept", w.no_accept),
            (
                HeaderFindings::NO_ACCEPT_LANGUAGE,
                "hdr.no_accept_language",
                w.no_accept_language,
            ),
            (
                HeaderFindings::NO_ACCEPT_ENCODING,
                "hdr.no_accept_encoding",
                w.no_accept_encoding,
            ),
            (
                HeaderFindings::NO_SEC_CH_UA,
                "hdr.no_sec_ch_ua",
                w.no_sec_ch_ua,
            ),
        ] {
            if h.has(bit) {
                consistent &= weight == 0;
                acc.add(code, true, weight, hdr(), None);
            }
        }
        if consistent {
            acc.add(
                "hdr.browser_consistent",
                false,
                w.browser_headers,
                hdr(),
                None,
            );
        }
    }

    let mut verified_crawler = None;
    let mut spoofed = false;
    match crawler {
        Some(CrawlerCheck::Verified(v)) => {
            flags.bot = true;
            acc.note(
                "ua.verified_crawler",
                Some(v.operator.clone()),
                Some(v.name.clone()),
            );
            verified_crawler = Some(v.clone());
        }
        Some(CrawlerCheck::Spoofed { name, operator }) => {
            flags.bot = true;
            spoofed = true;
            acc.add(
                "ua.spoofed_crawler",
                true,
                w.spoofed_crawler,
                Some(operator.clone()),
                Some(name.clone()),
            );
        }
        Some(CrawlerCheck::Unverified { name, operator }) => {
            acc.note(
                "ua.unverified_crawler",
                Some(operator.clone()),
                Some(name.clone()),
            );
        }
        None => {}
    }

    let human = acc.l <= 0.0;
    let certainty = certainty_of(acc.l);
    let mut action = policy.bands.action(human, certainty);
    if verified_crawler
        .as_ref()
        .is_some_and(|v| policy.allow_verified.contains(&v.category))
    {
        action = Action::Allow;
    } else if allowed_bot && verified_crawler.is_some() {
        // The operator vouches for the address: its network is what such a crawler uses.
        action = Action::Monitor;
    } else if allowed_bot && !spoofed {
        let net_action = policy.bands.action(net_l <= 0.0, certainty_of(net_l));
        if !matches!(net_action, Action::Block | Action::Challenge) {
            action = Action::Monitor;
        }
    }
    Verdict {
        human,
        certainty,
        risk_score: if human { 0 } else { certainty },
        flags,
        geo,
        asn,
        org,
        reasons: acc.reasons.into(),
        action,
        verified_crawler,
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
mod model_tests {
    use super::*;
    use proptest::prelude::*;

    const KINDS: [NetKind; 5] = [
        NetKind::HOSTING,
        NetKind::VPN,
        NetKind::PROXY,
        NetKind::TOR,
        NetKind::CRAWLER,
    ];

    fn net_of(bits: u8, asn: bool) -> NetInfo {
        let mut n = NetInfo::default();
        for (i, k) in KINDS.iter().enumerate() {
            if bits & (1 << i) != 0 {
                n.kind |= *k;
            }
        }
        n.asn = asn.then_some(64_500);
        n
    }

    fn ua_of(c: u8) -> Option<UaMatch> {
        let (category, source) = match c {
            0 => return None,
            1 => (UaCategory::Crawler, "crawler-user-agents"),
            2 => (UaCategory::Crawler, "isbot"),
            3 => (UaCategory::HttpLibrary, "crawler-user-agents"),
            4 => (UaCategory::Headless, "crawler-user-agents"),
            _ => (UaCategory::Empty, "empty"),
        };
        Some(UaMatch {
            category,
            pattern: "p".into(),
            source,
        })
    }

    /// Certainty that the client is human: the certainty of a human verdict, 0 for a bot.
    fn human_certainty(v: &Verdict) -> u8 {
        if v.human { v.certainty } else { 0 }
    }

    fn weights() -> impl Strategy<Value = Weights> {
        proptest::collection::vec(0u8..=100, 19).prop_map(|w| Weights {
            tor_exit: w[0],
            proxy: w[1],
            vpn: w[2],
            hosting: w[3],
            crawler_range: w[4],
            ua_crawler: w[5],
            ua_bot_pattern: w[6],
            ua_http_library: w[7],
            ua_headless: w[8],
            ua_empty: w[9],
            ua_too_long: w[10],
            no_accept: w[11],
            no_accept_language: w[12],
            no_accept_encoding: w[13],
            no_sec_ch_ua: w[14],
            consumer_network: w[15],
            unlisted_network: w[16],
            browser_headers: w[17],
            spoofed_crawler: w[18],
        })
    }

    proptest! {
        /// Adding negative evidence (a network listing, a bot UA match, a missing
        /// browser header) never raises the certainty of "human", whatever the weights.
        #[test]
        fn negative_evidence_never_raises_human_certainty(
            weights in weights(),
            net_bits in 0u8..32, extra_net in 0u8..5, asn: bool,
            ua in 0u8..6, extra_ua in 1u8..6,
            hdr in 0u8..64, extra_hdr in 0u8..4, which in 0u8..3,
        ) {
            let policy = Policy { weights, ..Policy::default() };
            let req = |ua: Option<UaMatch>, h: u8| RequestSignals { ua, headers: HeaderFindings(h) };
            let base_net = net_of(net_bits, asn);
            let base_req = req(ua_of(ua), hdr);
            let base = score(Some(&base_net), Some(&base_req), &policy);
            let more = match which {
                0 => score(Some(&net_of(net_bits | 1 << extra_net, asn)), Some(&base_req), &policy),
                1 => score(Some(&base_net), Some(&req(ua_of(extra_ua), hdr)), &policy),
                _ => {
                    let bit = [HeaderFindings::NO_ACCEPT, HeaderFindings::NO_ACCEPT_LANGUAGE,
                        HeaderFindings::NO_ACCEPT_ENCODING, HeaderFindings::NO_SEC_CH_UA][extra_hdr as usize];
                    score(Some(&base_net), Some(&req(ua_of(ua), hdr | bit)), &policy)
                }
            };
            // A UA match replaces (not adds to) a previous one; only compare when the
            // base had none or it is the same signal.
            if which != 1 || ua == 0 {
                prop_assert!(human_certainty(&more) <= human_certainty(&base),
                    "{:?} -> {:?}", base, more);
            }
            for v in [&base, &more] {
                prop_assert!(v.certainty <= 100 && v.risk_score <= 100);
                prop_assert_eq!(v.risk_score, if v.human { 0 } else { v.certainty });
                for r in v.reasons.iter() {
                    prop_assert!((-100..=100).contains(&r.weight));
                }
            }
        }

        /// A spoofed crawler claim never raises the certainty of "human" nor makes the
        /// action more permissive, whatever the weights, the signals and the allowed
        /// categories; a verified one changes neither certainty nor `human`.
        #[test]
        fn spoofed_claims_never_help(
            weights in weights(),
            net_bits in 0u8..32, asn: bool, ua in 0u8..6, hdr in 0u8..64,
            allow_ua: bool, allow_verified: bool,
        ) {
            let mut policy = Policy { weights, ..Policy::default() };
            if allow_ua {
                policy.allow_categories = vec![UaCategory::Crawler, UaCategory::SearchEngine];
            }
            if allow_verified {
                policy.allow_verified = CrawlerCategory::ALL.to_vec();
            }
            let net = net_of(net_bits, asn);
            let req = RequestSignals { ua: ua_of(ua), headers: HeaderFindings(hdr) };
            let base = score(Some(&net), Some(&req), &policy);
            let spoofed = CrawlerCheck::Spoofed { name: "Googlebot".into(), operator: "Google".into() };
            let s = score_checked(Some(&net), Some(&req), Some(&spoofed), &policy);
            prop_assert!(human_certainty(&s) <= human_certainty(&base), "{:?} -> {:?}", base, s);
            // Never lets through what the unchecked claim would have refused.
            prop_assert!(!s.action.is_allowed() || base.action.is_allowed(), "{:?} -> {:?}", base.action, s.action);
            prop_assert!(s.verified_crawler.is_none() && s.flags.bot);
            let verified = CrawlerCheck::Verified(Arc::new(crate::core::verdict::VerifiedCrawler {
                name: "Googlebot".into(), operator: "Google".into(),
                category: CrawlerCategory::Search,
                method: crate::core::verdict::CrawlerCheckMethod::PublishedRanges,
            }));
            let v = score_checked(Some(&net), Some(&req), Some(&verified), &policy);
            prop_assert_eq!((v.human, v.certainty), (base.human, base.certainty));
            prop_assert!(v.verified_crawler.is_some() && v.has_reason("ua.verified_crawler"));
            if allow_verified && !net.kind.contains(NetKind::SPECIAL) {
                prop_assert_eq!(v.action, Action::Allow);
            }
        }

        /// Special-purpose ranges stay `{true, 0}` whatever else is listed or seen.
        #[test]
        fn special_purpose_stays_human_zero(
            weights in weights(), net_bits in 0u8..32, asn: bool, ua in 0u8..6, hdr in 0u8..64,
        ) {
            let policy = Policy { weights, ..Policy::default() };
            let mut net = net_of(net_bits, asn);
            net.kind |= NetKind::SPECIAL;
            let req = RequestSignals { ua: ua_of(ua), headers: HeaderFindings(hdr) };
            let v = score(Some(&net), Some(&req), &policy);
            prop_assert!(v.human && v.certainty == 0 && v.risk_score == 0);
            prop_assert_eq!(v.action, Action::Allow);
        }
    }

    #[test]
    fn the_shape_the_issue_asks_for() {
        let p = Policy::default();
        let ip_only = |kind| score(Some(&NetInfo::tagged(kind, "x")), None, &p);
        // Cloud compute or a crawler operator's range: bot, 75-100.
        for k in [NetKind::HOSTING, NetKind::CRAWLER] {
            let v = ip_only(k);
            assert!(!v.human && (75..=100).contains(&v.certainty), "{k:?} {v:?}");
        }
        // Tor: bot, higher, tor flag.
        let v = ip_only(NetKind::TOR);
        assert!(!v.human && v.certainty >= 90 && v.flags.tor);
        // A consumer network with a consistent browser: human, with a certainty that
        // grows with the evidence.
        let isp = NetInfo {
            asn: Some(64_500),
            ..NetInfo::default()
        };
        let ok = RequestSignals {
            ua: None,
            headers: HeaderFindings(HeaderFindings::BROWSER),
        };
        let alone = score(Some(&isp), None, &p);
        let with_browser = score(Some(&isp), Some(&ok), &p);
        assert!(alone.human && alone.certainty == 40);
        assert!(
            with_browser.human && with_browser.certainty >= 75,
            "{with_browser:?}"
        );
        assert!(with_browser.has_reason("hdr.browser_consistent"));
        // Unknown space alone: low certainty.
        assert!(score(None, None, &p).certainty < 25);
        // Opposing evidence cancels: a browser with full headers on a hosting address.
        let v = score(Some(&NetInfo::tagged(NetKind::HOSTING, "x")), Some(&ok), &p);
        assert!(!v.human && v.certainty < 75, "{v:?}");
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
        assert_eq!(v.certainty, 99);
        assert_eq!(v.action, Action::Block);
        assert!(v.flags.tor && v.flags.hosting);
        let v = score(
            Some(&NetInfo::tagged(NetKind::VPN, "v")),
            None,
            &Policy::default(),
        );
        assert_eq!((v.certainty, v.action), (60, Action::Challenge));
        // One signal alone gives its weight; an unlisted address alone is weakly human.
        let v = score(None, None, &Policy::default());
        assert!(v.human && v.certainty == 15, "{v:?}");
        assert_eq!(v.reason_codes().collect::<Vec<_>>(), ["net.unlisted"]);
        assert_eq!(v.reasons[0].weight, -15);
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
