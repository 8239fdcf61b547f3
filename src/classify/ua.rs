//! User-agent matching: is the software a crawler, an HTTP library, a headless browser?
//!
//! [`UaMatcher::embedded`] combines three real lists and a few generic signals:
//!
//! * every pattern of the `crawler-user-agents` JSON (MIT), with its tags mapped to a
//!   [`UaCategory`];
//! * every pattern of npm `isbot` (Unlicense). The six that use look-around, which the
//!   `regex` crate does not support, are rewritten as a regex plus "not preceded by" /
//!   "not followed by" guards;
//! * built-in names of HTTP libraries and headless browsers, and generic signals: a URL
//!   or an e-mail address inside the UA.
//!
//! Two device rules keep ordinary phones and TVs out: isbot's patterns and the regexes
//! are not matched inside the device model of an Android platform section
//! (`Android 6.0; B BOT 550 Build/...`, "Discovery", "Google TV"), and a handset or TV
//! platform token (MIDP, WAP, BREW, HbbTV, CE-HTML, ...) keeps isbot's generic patterns
//! ([`WEAK_ON_DEVICES`]) from counting alone; named patterns count everywhere. They were tuned on the device fixtures of Matomo's device-detector (PyPI
//! `device_detector` 6.5.1) and measured on CrawlerDetect's, which they were not tuned on
//! (BENCHMARKS.md).
//!
//! Plain literals (most patterns) go into one [Aho-Corasick](aho_corasick) DFA; only true regexes go into a
//! [`RegexSet`]. `crawler-user-agents` patterns keep their case
//! (its `Sonic` must not match `Panasonic`); `isbot` and the built-ins ignore case, as
//! isbot does. Matching reads the first [`MAX_UA_BYTES`] bytes of the header (longer user
//! agents are a signal of their own). An empty or missing user agent counts as automated.
//!
//! # Caveats
//!
//! A user agent is whatever the client says. This catches honest bots and lazy ones; a
//! scraper sending a current Chrome UA is caught, if at all, by the network and header
//! signals in [`score`](super::score), not here.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::bytes::{Regex, RegexSet, RegexSetBuilder};

/// The most bytes of a user agent that are matched (browsers send under 512).
pub const MAX_UA_BYTES: usize = 1024;

/// The embedded pattern list: `source<TAB>category<TAB>pattern` lines.
pub const EMBEDDED_PATTERNS: &str = include_str!("data/ua-patterns.tsv");

/// What kind of automated software a user agent names.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UaCategory {
    /// A search engine's crawler (Googlebot, bingbot, ...).
    SearchEngine,
    /// A crawler feeding an AI model or assistant (GPTBot, ClaudeBot, ...).
    AiCrawler,
    /// An SEO or marketing crawler (AhrefsBot, SemrushBot, ...).
    Seo,
    /// Uptime and performance monitoring.
    Monitor,
    /// A security or vulnerability scanner.
    Scanner,
    /// A link-preview fetcher (Slack, Twitter, Facebook, ...).
    SocialPreview,
    /// A feed reader.
    FeedReader,
    /// An advertising crawler.
    Advertising,
    /// A web archiver.
    Archiver,
    /// A research crawler.
    Academic,
    /// An HTTP client library or command-line tool (curl, python-requests, ...).
    HttpLibrary,
    /// A headless or automated browser (HeadlessChrome, Puppeteer, Selenium, ...).
    Headless,
    /// Some other crawler, bot or automated client.
    Crawler,
    /// No user agent at all, or an empty one.
    Empty,
}

impl UaCategory {
    /// A stable kebab-case name, e.g. `"http-library"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UaCategory::SearchEngine => "search-engine",
            UaCategory::AiCrawler => "ai-crawler",
            UaCategory::Seo => "seo",
            UaCategory::Monitor => "monitor",
            UaCategory::Scanner => "scanner",
            UaCategory::SocialPreview => "social-preview",
            UaCategory::FeedReader => "feed-reader",
            UaCategory::Advertising => "advertising",
            UaCategory::Archiver => "archiver",
            UaCategory::Academic => "academic",
            UaCategory::HttpLibrary => "http-library",
            UaCategory::Headless => "headless",
            UaCategory::Crawler => "crawler",
            UaCategory::Empty => "empty",
        }
    }

    /// The category named `name` (as in [`UaCategory::as_str`]; `generic` is
    /// [`UaCategory::Crawler`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "search-engine" => UaCategory::SearchEngine,
            "ai-crawler" => UaCategory::AiCrawler,
            "seo" => UaCategory::Seo,
            "monitor" => UaCategory::Monitor,
            "scanner" => UaCategory::Scanner,
            "social-preview" => UaCategory::SocialPreview,
            "feed-reader" => UaCategory::FeedReader,
            "advertising" => UaCategory::Advertising,
            "archiver" => UaCategory::Archiver,
            "academic" => UaCategory::Academic,
            "http-library" => UaCategory::HttpLibrary,
            "headless" => UaCategory::Headless,
            "crawler" | "generic" => UaCategory::Crawler,
            "empty" => UaCategory::Empty,
            _ => return None,
        })
    }
}

impl fmt::Display for UaCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user agent that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UaMatch {
    /// What kind of software it is.
    pub category: UaCategory,
    /// The pattern that matched, as written in its list.
    pub pattern: Arc<str>,
    /// Which list the pattern came from: `crawler-user-agents`, `isbot`, `builtin`.
    pub source: &'static str,
}

/// Built-in names of HTTP libraries, tools and headless browsers (lower case,
/// substring match), beyond what the lists have.
const BUILTIN: &[(UaCategory, &str)] = &[
    (UaCategory::HttpLibrary, "curl/"),
    (UaCategory::HttpLibrary, "wget/"),
    (UaCategory::HttpLibrary, "python-requests"),
    (UaCategory::HttpLibrary, "python-urllib"),
    (UaCategory::HttpLibrary, "python-httpx"),
    (UaCategory::HttpLibrary, "python/"),
    (UaCategory::HttpLibrary, "aiohttp/"),
    (UaCategory::HttpLibrary, "go-http-client"),
    (UaCategory::HttpLibrary, "okhttp/"),
    (UaCategory::HttpLibrary, "axios/"),
    (UaCategory::HttpLibrary, "node-fetch"),
    (UaCategory::HttpLibrary, "undici"),
    (UaCategory::HttpLibrary, "java-http-client"),
    (UaCategory::HttpLibrary, "apache-httpclient"),
    (UaCategory::HttpLibrary, "libwww-perl"),
    (UaCategory::HttpLibrary, "lwp::simple"),
    (UaCategory::HttpLibrary, "faraday v"),
    (UaCategory::HttpLibrary, "rest-client/"),
    (UaCategory::HttpLibrary, "reqwest/"),
    (UaCategory::HttpLibrary, "hyper/"),
    (UaCategory::HttpLibrary, "guzzlehttp"),
    (UaCategory::HttpLibrary, "postmanruntime/"),
    (UaCategory::HttpLibrary, "insomnia/"),
    (UaCategory::HttpLibrary, "httpie/"),
    (UaCategory::HttpLibrary, "dart:io"),
    (UaCategory::HttpLibrary, "deno/"),
    (UaCategory::HttpLibrary, "bun/"),
    (UaCategory::HttpLibrary, "scrapy/"),
    (UaCategory::HttpLibrary, "windowspowershell/"),
    (UaCategory::HttpLibrary, "http.rb/"),
    (UaCategory::HttpLibrary, "typhoeus"),
    (UaCategory::HttpLibrary, "colly"),
    (UaCategory::HttpLibrary, "grafana k6/"),
    (UaCategory::HttpLibrary, "apachebench/"),
    (UaCategory::HttpLibrary, "libcurl"),
    (UaCategory::HttpLibrary, "cpp-httplib"),
    (UaCategory::HttpLibrary, "wordpress/"),
    (UaCategory::Headless, "headlesschrome"),
    (UaCategory::Headless, "phantomjs"),
    (UaCategory::Headless, "puppeteer"),
    (UaCategory::Headless, "playwright"),
    (UaCategory::Headless, "selenium"),
    (UaCategory::Headless, "webdriver"),
    (UaCategory::Headless, "slimerjs"),
    (UaCategory::Headless, "cypress/"),
    (UaCategory::Headless, "htmlunit"),
    (UaCategory::Headless, "zombie.js"),
    (UaCategory::Crawler, "http://"),
    (UaCategory::Crawler, "https://"),
    (UaCategory::Crawler, "www."),
];

/// A regex with look-around rewritten as guards on the bytes around each match
/// (compared ASCII case-insensitively).
#[derive(Clone, Debug)]
struct Guard {
    re: Regex,
    not_before: &'static [&'static str],
    not_after: &'static [&'static str],
    pattern: &'static str,
}

impl Guard {
    fn is_match(&self, hay: &[u8]) -> bool {
        self.re.find_iter(hay).any(|m| {
            let before = hay.get(..m.start()).unwrap_or_default();
            let after = hay.get(m.end()..).unwrap_or_default();
            !self.not_before.iter().any(|b| {
                before
                    .len()
                    .checked_sub(b.len())
                    .and_then(|at| before.get(at..))
                    .is_some_and(|t| t.eq_ignore_ascii_case(b.as_bytes()))
            }) && !self.not_after.iter().any(|a| {
                after
                    .get(..a.len())
                    .is_some_and(|t| t.eq_ignore_ascii_case(a.as_bytes()))
            })
        })
    }
}

/// isbot's look-around patterns and their rewrites.
const GUARDED: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "(?:^|[^g])news(?!sapphire)",
        "(?:^|[^g])news",
        &[],
        &["sapphire"],
    ),
    (
        "(?<! channel/|google/)google(?!(?:wv|app|/google| pixel))",
        "google",
        &[" channel/", "google/"],
        &["wv", "app", "/google", " pixel"],
    ),
    ("(?<! cu)bots?(?:\\b|_)", "bots?(?:\\b|_)", &[" cu"], &[]),
    ("(?<!cam)scan", "scan", &["cam"], &[]),
    ("(?<!lib)http", "http", &["lib"], &[]),
    ("java(?!;)", "java", &[], &[";"]),
];

/// A pattern's provenance, category and priority (higher wins when several match).
#[derive(Clone, Debug)]
struct PatInfo {
    category: UaCategory,
    pattern: Arc<str>,
    source: &'static str,
    priority: u8,
    /// One of isbot's generic patterns ([`WEAK_ON_DEVICES`]): it does not count alone on
    /// a handset or TV platform.
    weak_on_devices: bool,
}

impl PatInfo {
    fn to_match(&self) -> UaMatch {
        UaMatch {
            category: self.category,
            pattern: self.pattern.clone(),
            source: self.source,
        }
    }
}

/// A literal of the automaton: its pattern, the exact bytes for a case-sensitive one
/// (the automaton matches ASCII case-insensitively), and whether it must start the UA.
#[derive(Clone, Debug)]
struct Literal {
    info: PatInfo,
    exact: Option<Box<[u8]>>,
    anchored: bool,
    /// A [`DEVICE_PLATFORMS`] token, not a pattern.
    device: bool,
}

/// Compiled user-agent patterns. Build once and share (it is `Send + Sync`; clone is an
/// `Arc` bump inside [`Classifier`](super::Classifier)).
///
/// One pass of an Aho-Corasick DFA over every literal, lower-cased, on the lower-cased UA
/// (case-sensitive ones verified against the UA as sent on a hit, anchored ones checked to
/// start it), and one pass of a [`RegexSet`] over the true regexes; which pattern matched
/// is only worked out on a hit.
#[derive(Clone)]
pub struct UaMatcher {
    literals: Option<AhoCorasick>,
    literal_info: Vec<Literal>,
    regexes: RegexSet,
    regex_info: Vec<(PatInfo, Option<Guard>)>,
    skipped: Vec<String>,
    /// Compiled patterns (the platform tokens among the literals not counted).
    patterns: usize,
}

impl fmt::Debug for UaMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UaMatcher")
            .field("literals", &self.literal_info.len())
            .field("regexes", &self.regex_info.len())
            .field("skipped", &self.skipped.len())
            .finish()
    }
}

/// One pattern to compile, for [`UaMatcher::from_patterns`].
#[derive(Clone, Debug)]
pub struct UaPattern {
    /// Which list it is from (shown in [`UaMatch::source`]).
    pub source: &'static str,
    /// Its category.
    pub category: UaCategory,
    /// The pattern: a regex in the common JS/PCRE subset (look-around is not supported
    /// except isbot's six, which are rewritten).
    pub pattern: String,
    /// Match case as written (crawler-user-agents' patterns are case-sensitive: its
    /// `Sonic` must not match `Panasonic`); otherwise ASCII case-insensitively.
    pub case_sensitive: bool,
}

/// `pat` as a plain literal when it has no regex syntax beyond escapes
/// and a leading `^`; `(literal, anchored)`.
fn as_literal(pat: &str) -> Option<(String, bool)> {
    let (body, anchored) = match pat.strip_prefix('^') {
        Some(b) => (b, true),
        None => (pat, false),
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if "/.-()[]+*?|^${}\\ :;,@_=&%#!'\"~<>".contains(e) => out.push(e),
                _ => return None,
            },
            '.' | '[' | ']' | '(' | ')' | '{' | '}' | '*' | '+' | '?' | '|' | '^' | '$' => {
                return None;
            }
            c => out.push(c),
        }
    }
    (!out.is_empty()).then_some((out, anchored))
}

/// Rewrites the JS regex syntax the `regex` crate reads differently: a `-` next to a
/// class escape inside `[...]` (`[\w\d-.]`) is a literal in JS and an error here.
fn js_to_rust(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len() + 4);
    let mut in_class = false;
    let mut prev_shorthand = false;
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let e = chars.next();
                out.push('\\');
                if let Some(e) = e {
                    out.push(e);
                }
                prev_shorthand = in_class && matches!(e, Some('w' | 'W' | 'd' | 'D' | 's' | 'S'));
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '-' if in_class && prev_shorthand => {
                out.push_str("\\-");
                prev_shorthand = false;
                continue;
            }
            _ => {}
        }
        prev_shorthand = false;
        out.push(c);
    }
    out
}

fn priority(source: &str, category: UaCategory) -> u8 {
    match (source, category) {
        ("crawler-user-agents", UaCategory::Crawler) => 2,
        ("crawler-user-agents", _) => 3,
        ("builtin", UaCategory::Crawler) => 1,
        ("builtin", _) => 2,
        _ => 1,
    }
}

/// A rough category for an isbot pattern (isbot has none).
fn guess_category(pat: &str) -> UaCategory {
    let p = pat.to_ascii_lowercase();
    let any = |ws: &[&str]| ws.iter().any(|w| p.contains(w));
    if any(&[
        "headless",
        "phantom",
        "selenium",
        "playwright",
        "cypress",
        "puppeteer",
    ]) {
        UaCategory::Headless
    } else if any(&[
        "curl", "wget", "python", "java", "http", "node", "php", "perl", "apache", "postman",
        "jetty", "library",
    ]) {
        UaCategory::HttpLibrary
    } else if any(&["monitor", "pingdom", "statuscake", "uptime", "check"]) {
        UaCategory::Monitor
    } else if any(&["scan", "audit", "burp", "openvas", "detect"]) {
        UaCategory::Scanner
    } else if any(&["feed", "rss"]) {
        UaCategory::FeedReader
    } else {
        UaCategory::Crawler
    }
}

impl UaMatcher {
    /// The embedded lists (`crawler-user-agents` + `isbot` + built-ins), compiled once per
    /// process and shared.
    pub fn embedded() -> Arc<UaMatcher> {
        static M: OnceLock<Arc<UaMatcher>> = OnceLock::new();
        M.get_or_init(|| Arc::new(Self::from_patterns(Self::embedded_patterns(), true)))
            .clone()
    }

    /// The embedded pattern list, for building a matcher from a subset or superset.
    pub fn embedded_patterns() -> Vec<UaPattern> {
        EMBEDDED_PATTERNS
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                let source = match f.next()? {
                    "cua" => "crawler-user-agents",
                    "isbot" => "isbot",
                    _ => "custom",
                };
                let category = UaCategory::from_name(f.next()?)?;
                let pattern = f.next()?.to_owned();
                let category = if source == "isbot" {
                    guess_category(&pattern)
                } else {
                    category
                };
                Some(UaPattern {
                    source,
                    category,
                    pattern,
                    case_sensitive: source == "crawler-user-agents",
                })
            })
            .collect()
    }

    /// Compiles `patterns`, plus the built-in library/headless/URL names when
    /// `builtins`. Patterns that do not compile are skipped and listed by
    /// [`UaMatcher::skipped`].
    pub fn from_patterns(patterns: impl IntoIterator<Item = UaPattern>, builtins: bool) -> Self {
        let mut literal_pats: Vec<String> = Vec::new();
        let mut literal_info = Vec::new();
        let mut regex_pats: Vec<String> = Vec::new();
        let mut regex_info = Vec::new();
        let mut skipped = Vec::new();
        let mut add = |source: &'static str, category: UaCategory, pat: &str, cs: bool| {
            let info = PatInfo {
                category,
                pattern: Arc::from(pat),
                source,
                priority: priority(source, category),
                weak_on_devices: source == "isbot" && WEAK_ON_DEVICES.contains(&pat),
            };
            if let Some(&(orig, inner, nb, na)) = GUARDED.iter().find(|g| g.0 == pat) {
                let re = format!("(?i-u:{inner})");
                match Regex::new(&re) {
                    Ok(r) => {
                        regex_pats.push(re);
                        let guard = Guard {
                            re: r,
                            not_before: nb,
                            not_after: na,
                            pattern: orig,
                        };
                        regex_info.push((info, Some(guard)));
                    }
                    Err(_) => skipped.push(pat.to_owned()),
                }
                return;
            }
            if let Some((lit, anchored)) = as_literal(pat) {
                literal_info.push(Literal {
                    info,
                    exact: cs.then(|| lit.as_bytes().into()),
                    anchored,
                    device: false,
                });
                literal_pats.push(lit.to_ascii_lowercase());
                return;
            }
            // JS semantics: \w, \d, \b are ASCII.
            let pat = js_to_rust(pat);
            let flags = if cs { "" } else { "i" };
            for re in [format!("(?{flags}-u:{pat})"), format!("(?{flags}:{pat})")] {
                if Regex::new(&re).is_ok() {
                    regex_pats.push(re);
                    regex_info.push((info, None));
                    return;
                }
            }
            skipped.push(pat);
        };
        for p in patterns {
            add(p.source, p.category, &p.pattern, p.case_sensitive);
        }
        if builtins {
            for (cat, lit) in BUILTIN {
                add("builtin", *cat, lit, false);
            }
        }
        for token in DEVICE_PLATFORMS {
            literal_pats.push(token.to_ascii_lowercase());
            literal_info.push(Literal {
                info: PatInfo {
                    category: UaCategory::Crawler,
                    pattern: Arc::from(*token),
                    source: "device",
                    priority: 0,
                    weak_on_devices: false,
                },
                exact: None,
                anchored: false,
                device: true,
            });
        }
        // A DFA over lower-cased literals, run on the lower-cased UA: about 3 MiB for the
        // embedded lists, and the fastest of the automaton kinds measured.
        let literals = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&literal_pats)
            .or_else(|_| AhoCorasickBuilder::new().build(&literal_pats))
            .ok();
        let regexes = RegexSetBuilder::new(&regex_pats)
            .size_limit(64 << 20)
            .dfa_size_limit(4 << 20)
            .build()
            .unwrap_or_else(|_| RegexSet::empty());
        let patterns = literal_info.iter().filter(|l| !l.device).count() + regex_info.len();
        Self {
            literals,
            literal_info,
            regexes,
            regex_info,
            skipped,
            patterns,
        }
    }

    /// Heap bytes of the literal automaton (the regexes' lazy DFA caches, up to 4 MiB per
    /// thread in use, are not counted).
    pub fn automaton_bytes(&self) -> usize {
        self.literals.as_ref().map_or(0, AhoCorasick::memory_usage)
    }

    /// Patterns that could not be compiled.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Number of compiled patterns (literals and regexes).
    pub fn len(&self) -> usize {
        self.patterns
    }

    /// `true` when no pattern is compiled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Matches a user agent (the raw header bytes; `None` = no header). `None` means no
    /// bot pattern matched. An empty UA yields [`UaCategory::Empty`].
    pub fn find<'a>(&'a self, ua: Option<&[u8]>) -> Option<UaMatch> {
        let ua = ua.map(<[u8]>::trim_ascii).unwrap_or_default();
        if ua.is_empty() {
            return Some(UaMatch {
                category: UaCategory::Empty,
                pattern: Arc::from(""),
                source: "builtin",
            });
        }
        let ua = ua.get(..MAX_UA_BYTES).unwrap_or(ua);
        // A device's model name is the manufacturer's text ("Discovery", "B BOT 550",
        // "Google TV"): isbot's patterns and the regexes are not matched inside it
        // ([`device_model_span`]); named literal patterns still are. A handset or TV platform
        // token ([`DEVICE_PLATFORMS`], found in the same automaton pass) keeps isbot's
        // generic patterns ([`WEAK_ON_DEVICES`]: no software named, written for terse
        // `name/1.0` clients) from counting alone: they fire on those devices' agents.
        let model = device_model_span(ua);
        let mut device = false;
        let (mut best, mut named): (Option<&PatInfo>, Option<&PatInfo>) = (None, None);
        let take = |best: &mut Option<&'a PatInfo>, named: &mut Option<&'a PatInfo>, info| {
            consider(best, Some(info));
            if !info.weak_on_devices {
                consider(named, Some(info));
            }
        };
        if let Some(ac) = &self.literals {
            let mut lower = smallvec::SmallVec::<[u8; 256]>::from_slice(ua);
            lower.make_ascii_lowercase();
            for m in ac.find_overlapping_iter(&lower[..]) {
                let Some(lit) = self.literal_info.get(m.pattern().as_usize()) else {
                    continue;
                };
                if lit.device {
                    // A token, not the tail of a word (`BREW/` is not `Homebrew/`).
                    device |= m.start() == 0 || !lower[m.start() - 1].is_ascii_alphanumeric();
                    continue;
                }
                if lit.anchored && m.start() != 0 {
                    continue;
                }
                if let Some(exact) = &lit.exact
                    && ua.get(m.range()) != Some(&exact[..])
                {
                    continue;
                }
                if lit.info.source == "isbot"
                    && model.is_some_and(|(s, e)| m.start() >= s && m.end() <= e)
                {
                    continue;
                }
                take(&mut best, &mut named, &lit.info);
            }
        }
        if best.is_none_or(|b| b.priority < 3) {
            // The regexes see the agent without its model (copied only when it has one).
            let mut scratch = smallvec::SmallVec::<[u8; 256]>::new();
            let cut: &[u8] = match model {
                Some((s, e)) => {
                    scratch.extend_from_slice(&ua[..s]);
                    scratch.extend_from_slice(&ua[e..]);
                    &scratch
                }
                None => ua,
            };
            if self.regexes.is_match(cut) {
                for i in self.regexes.matches(cut).iter() {
                    if let Some((info, guard)) = self.regex_info.get(i)
                        && guard.as_ref().is_none_or(|g| g.is_match(cut))
                    {
                        take(&mut best, &mut named, info);
                    }
                }
            }
        }
        let best = if device { named } else { best };
        best.map(PatInfo::to_match)
    }

    /// The guarded (rewritten look-around) patterns, for documentation and tests.
    pub fn guarded_patterns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.regex_info
            .iter()
            .filter_map(|(_, g)| g.as_ref().map(|g| g.pattern))
    }
}

/// Where the device model stands in `ua`'s Android platform section, if it has one:
/// the field before ` Build/` (`(Linux; U; Android 4.4.2; en-us; Discovery DG500
/// Build/JOP40D)`), or the only field after the Android version
/// (`(Linux; Android 13; Spider 8)`). Only a closed section counts, and only a model
/// without `/`, `:`, `@` or `(` (a product token, URL or address is the software's own words:
/// `(Linux; Android 10; bingbot/2.0)` has no model span).
fn device_model_span(ua: &[u8]) -> Option<(usize, usize)> {
    let at = ANDROID.find(ua)?;
    let open = ua[..at].iter().rposition(|&b| b == b'(')?;
    if ua[open..at].contains(&b')') {
        return None;
    }
    let close = at + ua[at..].iter().position(|&b| b == b')')?;
    let first = at + ua[at..close].iter().position(|&b| b == b';')? + 1;
    let section = &ua[first..close];
    let (start, end) = match memchr::memmem::find(section, b" Build/") {
        Some(b) => {
            let start = section[..b]
                .iter()
                .rposition(|&c| c == b';')
                .map_or(0, |p| p + 1);
            (first + start, first + b)
        }
        None if !section.contains(&b';') => (first, close),
        None => return None,
    };
    let model = &ua[start..end];
    let lead = model.len() - model.trim_ascii_start().len();
    let (start, model) = (start + lead, model.trim_ascii());
    (!model.is_empty() && !model.iter().any(|b| matches!(b, b'/' | b':' | b'@' | b'(')))
        .then_some((start, start + model.len()))
}

/// isbot's patterns that name no software: the shape of a terse client (`\b\w+/1\.0;`,
/// a bare `name/version`, a long token, brackets) or a generic word (`java`, `proxy`,
/// `catch`...). On a handset or TV platform ([`DEVICE_PLATFORMS`]) they do not count
/// alone; every pattern that names a bot or a product still does.
pub const WEAK_ON_DEVICES: &[&str] = &[
    r"(?<!lib)http",
    r";\s\w+;$",
    r"\(\)",
    r"\.com\b",
    r"\b\w+/1\.0;",
    r"\|",
    r"^[\w \.\-\(?:\):%]+(?:/v?\d+(?:\.\d+)?(?:\.\d{1,10})*?)?(?:,|$)",
    r"^[\w\-]+/[\w]+$",
    r"^[^ ]{50,}$",
    r"^\d+\b",
    r"^\w+/\d\.\d\s\([\w@]+\)$",
    r"agent\b",
    "catch",
    "download",
    r"java(?!;)",
    "proxy",
    "server",
];

/// `Android`, searched with a searcher built once.
static ANDROID: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"Android"));

/// Platform tokens only handsets, feature phones and TV sets send (MIDP/CLDC Java phones,
/// WAP and MAUI browsers, Bada, BREW, Series 40, Symbian, NetFront, Obigo, UC Browser,
/// HbbTV, CE-HTML and the smart-TV platforms), matched ASCII case-insensitively as whole
/// tokens. With one present, [`WEAK_ON_DEVICES`] no longer count alone: they fire on these
/// devices' terse agents. Named crawlers still count, so
/// `Nokia6230i/2.0 ... Profile/MIDP-2.0 ... (compatible; Googlebot-Mobile/2.1)` is a bot.
pub const DEVICE_PLATFORMS: &[&str] = &[
    "MIDP-",
    "CLDC-",
    "WAP-Browser",
    "WAP Browser",
    "UP.Browser",
    "MAUI",
    "bada/",
    "BREW/",
    "Series40",
    "Series 40",
    "SymbianOS",
    "NetFront",
    "Obigo",
    "UCWEB",
    "UCBrowser",
    "HbbTV/",
    "SmartTV",
    "SMART-TV",
    "CE-HTML",
    "NETTV/",
    "Opera TV",
    "VIDAA/",
    "webOS/",
    "Web0S",
    "NetCast",
];

fn consider<'a>(best: &mut Option<&'a PatInfo>, info: Option<&'a PatInfo>) {
    if let Some(i) = info
        && best.is_none_or(|b| i.priority > b.priority)
    {
        *best = Some(i);
    }
}

/// A browser family and major version a user agent claims, for header-consistency
/// checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Browser {
    /// Chrome, Edge, Opera, Brave and other Chromium browsers (not on iOS).
    Chromium(u16),
    /// Firefox (not on iOS).
    Firefox(u16),
    /// Safari, and every browser on iOS (all use WebKit).
    Safari,
}

/// The browser `ua` claims to be, if any.
pub fn browser(ua: &[u8]) -> Option<Browser> {
    // One pass over the UA for every token the decision needs.
    const TOKENS: [&str; 8] = [
        "iPhone",
        "iPad",
        "iPod",
        "AppleWebKit/",
        "Chrome/",
        "Firefox/",
        "Safari/",
        "Version/",
    ];
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    if !ua.starts_with(b"Mozilla/5.0 (") {
        return None;
    }
    let ac = AC.get_or_init(|| AhoCorasick::new(TOKENS).ok()).as_ref()?;
    // End of each token's first occurrence.
    let mut end = [None::<usize>; 8];
    for m in ac.find_overlapping_iter(ua) {
        if let Some(slot) = end.get_mut(m.pattern().as_usize()) {
            slot.get_or_insert(m.end());
        }
    }
    let [iphone, ipad, ipod, webkit, chrome, firefox, safari, version] = end;
    if iphone.or(ipad).or(ipod).is_some() {
        return webkit.map(|_| Browser::Safari);
    }
    if let Some(v) = chrome.and_then(|at| version_at(ua, at)) {
        return Some(Browser::Chromium(v));
    }
    if let Some(v) = firefox.and_then(|at| version_at(ua, at)) {
        return Some(Browser::Firefox(v));
    }
    (safari.is_some() && version.is_some()).then_some(Browser::Safari)
}

/// The decimal number starting at `at`.
fn version_at(hay: &[u8], at: usize) -> Option<u16> {
    let rest = hay.get(at..)?;
    let digits: &[u8] = rest
        .get(..rest.iter().take_while(|b| b.is_ascii_digit()).count())
        .unwrap_or_default();
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ua: &str) -> Option<UaMatch> {
        UaMatcher::embedded().find(Some(ua.as_bytes()))
    }

    #[test]
    fn every_embedded_pattern_compiles() {
        let u = UaMatcher::embedded();
        assert!(u.skipped().is_empty(), "{:?}", u.skipped());
        assert_eq!(u.guarded_patterns().count(), 6);
    }

    #[test]
    fn categories() {
        assert_eq!(m("curl/8.5.0").unwrap().category, UaCategory::HttpLibrary);
        assert_eq!(
            m("python-requests/2.31.0").unwrap().category,
            UaCategory::HttpLibrary
        );
        assert_eq!(
            m("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
                .unwrap()
                .category,
            UaCategory::SearchEngine
        );
        assert_eq!(
            m("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36")
                .unwrap()
                .category,
            UaCategory::Headless
        );
        assert_eq!(
            UaMatcher::embedded().find(None).unwrap().category,
            UaCategory::Empty
        );
        assert_eq!(m("   ").unwrap().category, UaCategory::Empty);
        assert!(m("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36").is_none());
    }

    #[test]
    fn guards_replace_look_around() {
        // (?<! cu)bots?: the Cubot phone is not a bot.
        assert!(m("Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.136 Mobile Safari/537.36").is_none());
        assert!(m("MyBot 1.0 xx").is_some());
        // google(?!app): the Google app is a browser.
        assert!(m("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36 GoogleApp/15.0").is_none());
        assert!(m("Some google fetcher").is_some());
        // crawler-user-agents is case-sensitive: `Sonic` is not Panasonic.
        assert!(m("Mozilla/5.0 (Linux; U; Android 4.2.2; en-US; Panasonic P81 Build/JDQ39) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 UCBrowser/10.5.0.575 U3/0.8.0 Mobile Safari/534.30").is_none());
    }

    #[test]
    fn literals() {
        assert_eq!(
            as_literal("Googlebot\\/"),
            Some(("Googlebot/".into(), false))
        );
        assert_eq!(as_literal("^curl"), Some(("curl".into(), true)));
        assert_eq!(as_literal("[wW]get"), None);
        assert_eq!(as_literal("a\\d"), None);
    }

    #[test]
    fn browsers() {
        assert_eq!(
            browser(b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
            Some(Browser::Chromium(131))
        );
        assert_eq!(
            browser(b"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
            Some(Browser::Firefox(133))
        );
        assert_eq!(
            browser(b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0 Mobile/15E148 Safari/604.1"),
            Some(Browser::Safari)
        );
        assert_eq!(browser(b"curl/8"), None);
    }

    #[test]
    fn a_device_model_is_not_a_bot_name() {
        let m = UaMatcher::embedded();
        for device in [
            "Mozilla/5.0 (Linux; Android 6.0; B BOT 550 Build/MRA58K; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/53.0.2785.124 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; U; Android 4.4.2; en-us; Discovery DG500 Build/JOP40D) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/34.0.1847.114 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 11; Arcelik Google TV Build/RTM6.230109.257; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/118.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13; Spider 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        ] {
            assert_eq!(m.find(Some(device.as_bytes())), None, "{device}");
        }
        // What a crawler writes in the same section, as a product token or beside the
        // model, still counts; so does everything outside it.
        for bot in [
            "Mozilla/5.0 (Linux; Android 10; K; AhrefsBot 7.0) AppleWebKit/537.36",
            "Mozilla/5.0 (Linux; Android 10; K; Bytespider) AppleWebKit/537.36",
            "Mozilla/5.0 (Linux; Android 10; K; x; HeadlessChrome) AppleWebKit/537.36",
            "Mozilla/5.0 (Linux; Android 10; compatible; YandexBot) AppleWebKit/537.36",
            "Mozilla/5.0 (Linux; Android 4.1.1; HTC6435LVW Build/JRO03C; Neustar WPM) AppleWebKit/535.19",
            "Mozilla/5.0 (Linux; Android 10; K; bot SmartTV) AppleWebKit/537.36",
            "Mozilla/5.0 (Linux; Android 10; bingbot/2.0) AppleWebKit/537.36",
            "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.96 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
            "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
        ] {
            assert!(m.find(Some(bot.as_bytes())).is_some(), "{bot}");
        }
    }

    #[test]
    fn every_weak_pattern_is_one_of_isbots() {
        let isbot: Vec<String> = UaMatcher::embedded_patterns()
            .into_iter()
            .filter(|p| p.source == "isbot")
            .map(|p| p.pattern)
            .collect();
        for weak in WEAK_ON_DEVICES {
            assert!(
                isbot.iter().any(|p| p == weak),
                "{weak} is not in the isbot list"
            );
        }
    }

    #[test]
    fn handset_platforms_weaken_generic_patterns_only() {
        let m = UaMatcher::embedded();
        for phone in [
            "Mozilla/5.0 (SAMSUNG; SAMSUNG-GT-S5250/1.0; U; bada/1.0; pt-br) AppleWebKit/533.1 (KHTML, like Gecko) Dolfin/2.0 Mobile WQVGA SMM-MMS/1.2.0 OPN-B",
            "SonyEricssonJ105i/R1x Browser/NetFront/3.4 Profile/MIDP-2.1 Configuration/CLDC-1.1 JavaPlatform/JP-8.4",
        ] {
            assert_eq!(m.find(Some(phone.as_bytes())), None, "{phone}");
        }
        // A named crawler on a handset platform is a crawler.
        let hit = m
            .find(Some(b"Nokia6230i/2.0 (03.25) Profile/MIDP-2.0 Configuration/CLDC-1.1 (compatible; Googlebot-Mobile/2.1; +http://www.google.com/bot.html)"))
            .expect("a named crawler");
        assert_eq!(hit.source, "crawler-user-agents");
        // Without a handset platform the generic pattern still fires; with one, a
        // pattern that names a bot still does, and a token inside a word is no token.
        assert!(m.find(Some(b"MyScraper/1.0; build 7")).is_some());
        assert!(m.find(Some(b"MyScraper/1.0; build 7 NetFront")).is_some());
        assert!(m.find(Some(b"bot SmartTV")).is_some());
        assert_eq!(
            m.find(Some(
                b"Mozilla/5.0 (Linux; Android 12) Foo/1.0; Homebrew/1.0"
            ))
            .map(|h| h.source),
            Some("isbot"),
            "Homebrew/ is not the BREW/ platform token"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(ua in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let _ = UaMatcher::embedded().find(Some(&ua));
            let _ = browser(&ua);
        }

        /// The model span lies inside a closed Android section, after the version, and
        /// holds no field separator, bracket, product token, URL or address.
        #[test]
        fn the_model_span_is_only_a_model(
            head in "[ -~]{0,40}",
            fields in proptest::collection::vec("[ -~]{0,20}", 0..4),
            tail in "[ -~]{0,40}",
            android in proptest::prelude::any::<bool>(),
        ) {
            let ua = format!(
                "{head}(Linux; {}6.0; {}){tail}",
                if android { "Android " } else { "Linux " },
                fields.join(";")
            );
            let b = ua.as_bytes();
            if let Some((s, e)) = device_model_span(b) {
                proptest::prop_assert!(s < e && e <= b.len());
                let at = memchr::memmem::find(b, b"Android").unwrap();
                proptest::prop_assert!(at < s);
                proptest::prop_assert!(b[at..s].contains(&b';'));
                proptest::prop_assert!(b[e..].contains(&b')'));
                proptest::prop_assert!(
                    !b[s..e].iter().any(|c| b";()/:@".contains(c)),
                    "{:?}", &ua[s..e]
                );
                proptest::prop_assert!(!b[s..e].starts_with(b" ") && !b[s..e].ends_with(b" "));
            }
        }
    }
}
