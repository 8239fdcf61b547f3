//! URL safety: scheme allow-list, IP-literal and punycode/homograph hosts, suspicious
//! TLDs, and domain blocklists (hosts files or plain lists).

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use url::{Host, Url};

use super::email::valid_hostname;

/// Longest URL read (bytes); longer input is `INVALID_URL`.
pub const MAX_URL_LEN: usize = 4096;
/// Most domains one [`DomainList`] holds.
pub const MAX_LIST_DOMAINS: usize = 2_000_000;

/// TLDs with a high share of abuse (after Spamhaus' and Interisle's most-abused lists).
const SUSPICIOUS_TLDS: &[&str] = &[
    "zip", "mov", "xyz", "top", "tk", "ml", "ga", "cf", "gq", "work", "click", "country", "kim",
    "loan", "men", "date", "racing", "review", "stream", "gdn", "cam", "rest", "bar", "buzz",
    "cyou", "icu", "sbs", "lol", "quest", "monster", "support", "live", "shop",
];

/// Non-Latin letters that look like Latin ones (Cyrillic and Greek), for homograph checks.
const CONFUSABLES: &[char] = &[
    'а', 'е', 'о', 'р', 'с', 'у', 'х', 'і', 'ј', 'ѕ', 'ԁ', 'ӏ', 'һ', 'ԛ', 'ԝ', 'в', 'к', 'м', 'н',
    'т', 'α', 'ο', 'ρ', 'ν', 'ι', 'κ', 'τ', 'υ', 'χ', 'ε',
];

/// A set of domains (a blocklist); a URL matches when its host or a parent is listed.
#[derive(Clone, Debug, Default)]
pub struct DomainList {
    set: Arc<HashSet<Box<str>>>,
}

impl DomainList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a hosts file (`0.0.0.0 bad.example`, `127.0.0.1 a b`) or a plain list (one
    /// domain per line); `#` and `!` comments, blank lines, `localhost`-style names and
    /// entries that are not host names are skipped. At most [`MAX_LIST_DOMAINS`].
    pub fn parse(text: &str) -> Self {
        let mut set = HashSet::new();
        'lines: for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() || line.starts_with('!') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or_default();
            let names: Vec<&str> = if first.parse::<IpAddr>().is_ok() {
                fields.collect()
            } else {
                vec![first]
            };
            for n in names {
                if set.len() >= MAX_LIST_DOMAINS {
                    break 'lines;
                }
                let n = n.trim_end_matches('.').to_ascii_lowercase();
                if valid_hostname(&n) {
                    set.insert(n.into_boxed_str());
                }
            }
        }
        Self { set: Arc::new(set) }
    }

    /// How many domains.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// `true` when `host` (lower case ASCII) or a parent domain is listed.
    pub fn matches(&self, host: &str) -> bool {
        let mut cur = host;
        loop {
            if self.set.contains(cur) {
                return true;
            }
            match cur.split_once('.') {
                Some((_, rest)) if rest.contains('.') => cur = rest,
                _ => return false,
            }
        }
    }
}

/// The verdict on a URL, in the shape of IPQS's URL result.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UrlResult {
    /// Phishing, malware, or a risk score of 85 and up.
    #[serde(rename = "unsafe")]
    pub is_unsafe: bool,
    /// Listed on a phishing blocklist.
    pub phishing: bool,
    /// Listed on a malware blocklist.
    pub malware: bool,
    /// Risk score 50 and up.
    pub suspicious: bool,
    /// 0-100.
    pub risk_score: u8,
    /// The host (lower case ASCII; an IP literal as written).
    pub domain: String,
    /// Stable reason codes, e.g. `host.ip_literal`, `host.homograph`, `tld.suspicious`.
    pub reasons: Vec<&'static str>,
}

/// Why a URL is not a URL at all (`INVALID_URL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUrl;

impl fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the URL cannot be parsed")
    }
}

impl std::error::Error for InvalidUrl {}

/// Judges URLs. `new()` allows `http` and `https`, knows the suspicious TLDs, and has
/// empty blocklists: load phishing/malware lists (URLhaus, OpenPhish, hosts files) with
/// [`DomainList::parse`].
#[derive(Clone, Debug)]
pub struct UrlChecker {
    schemes: Vec<String>,
    phishing: DomainList,
    malware: DomainList,
}

impl Default for UrlChecker {
    fn default() -> Self {
        Self::new()
    }
}

fn homograph(unicode_host: &str) -> bool {
    unicode_host.split('.').any(|label| {
        let latin = label.chars().any(|c| c.is_ascii_alphabetic());
        let confusable = label.chars().filter(|c| CONFUSABLES.contains(c)).count();
        let non_ascii = label.chars().filter(|c| !c.is_ascii()).count();
        // Latin mixed with look-alikes, or a label made only of look-alikes.
        confusable > 0 && (latin || confusable == non_ascii)
    })
}

impl UrlChecker {
    /// `http` and `https`, no blocklists.
    pub fn new() -> Self {
        Self {
            schemes: vec!["http".into(), "https".into()],
            phishing: DomainList::new(),
            malware: DomainList::new(),
        }
    }

    /// The allowed schemes (lower case), replacing the default.
    pub fn schemes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, schemes: I) -> Self {
        self.schemes = schemes
            .into_iter()
            .map(|s| s.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// A phishing blocklist.
    pub fn phishing(mut self, list: DomainList) -> Self {
        self.phishing = list;
        self
    }

    /// A malware blocklist.
    pub fn malware(mut self, list: DomainList) -> Self {
        self.malware = list;
        self
    }

    /// Judges `input`: pure. A bare domain (`example.com/x`) is read as `http://`.
    /// `Err(InvalidUrl)` only when it cannot be parsed or has no host; a disallowed
    /// scheme (`javascript:`, `data:`, `file:`) is a result with risk 100.
    pub fn check(&self, input: &str) -> Result<UrlResult, InvalidUrl> {
        let input = input.trim();
        if input.is_empty() || input.len() > MAX_URL_LEN {
            return Err(InvalidUrl);
        }
        let url = match Url::parse(input) {
            Ok(u) => u,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                Url::parse(&format!("http://{input}")).map_err(|_| InvalidUrl)?
            }
            Err(_) => return Err(InvalidUrl),
        };
        let mut reasons = Vec::new();
        let mut score: u32 = 0;
        if !self.schemes.iter().any(|s| s == url.scheme()) {
            return Ok(UrlResult {
                is_unsafe: true,
                phishing: false,
                malware: false,
                suspicious: true,
                risk_score: 100,
                domain: url.host_str().unwrap_or_default().to_owned(),
                reasons: vec!["scheme.not_allowed"],
            });
        }
        let (domain, name) = match url.host() {
            Some(Host::Domain(d)) => (d.to_ascii_lowercase(), true),
            Some(Host::Ipv4(ip)) => (ip.to_string(), false),
            Some(Host::Ipv6(ip)) => (format!("[{ip}]"), false),
            None => return Err(InvalidUrl),
        };
        if !name {
            reasons.push("host.ip_literal");
            score += 40;
        } else {
            let d = domain.trim_end_matches('.');
            if !valid_hostname(d) {
                reasons.push("host.not_a_domain");
                score += 30;
            }
            if d.split('.').any(|l| l.starts_with("xn--")) {
                reasons.push("host.punycode");
                score += 20;
                let (unicode, ok) = idna::domain_to_unicode(d);
                if ok.is_ok() && homograph(&unicode) {
                    reasons.push("host.homograph");
                    score += 50;
                }
            }
            let tld = d.rsplit('.').next().unwrap_or_default();
            if SUSPICIOUS_TLDS.contains(&tld) {
                reasons.push("tld.suspicious");
                score += 25;
            }
            if d.split('.').count() > 5 {
                reasons.push("host.deep_subdomains");
                score += 10;
            }
            if d.bytes().filter(|&b| b == b'-').count() >= 4 {
                reasons.push("host.many_hyphens");
                score += 10;
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            // `https://bank.example@evil.example/` reads as the bank to a human.
            reasons.push("url.userinfo");
            score += 35;
        }
        if url.port().is_some() {
            reasons.push("url.port");
            score += 10;
        }
        let host = domain.trim_end_matches('.');
        let phishing = name && self.phishing.matches(host);
        let malware = name && self.malware.matches(host);
        if phishing {
            reasons.push("list.phishing");
            score = 100;
        }
        if malware {
            reasons.push("list.malware");
            score = 100;
        }
        let risk = score.min(100) as u8;
        Ok(UrlResult {
            is_unsafe: phishing || malware || risk >= 85,
            phishing,
            malware,
            suspicious: risk >= 50,
            risk_score: risk,
            domain,
            reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn checker() -> UrlChecker {
        UrlChecker::new()
            .phishing(DomainList::parse(
                "# hosts file\n0.0.0.0 login-paypa1.example\n127.0.0.1 localhost\n0.0.0.0 a.phish.example b.phish.example\n",
            ))
            .malware(DomainList::parse("! plain list\nmalware.example\nnot a domain\n"))
    }

    #[test]
    fn cases() {
        let c = checker();
        let ok = c.check("https://www.example.com/path?q=1").unwrap();
        assert!(
            !ok.is_unsafe && !ok.suspicious && ok.risk_score == 0,
            "{ok:?}"
        );
        assert_eq!(ok.domain, "www.example.com");
        assert_eq!(c.check("example.com/x").unwrap().domain, "example.com");

        let p = c
            .check("http://secure.login-paypa1.example/verify")
            .unwrap();
        assert!(p.phishing && p.is_unsafe && p.risk_score == 100);
        assert!(c.check("https://b.phish.example").unwrap().phishing);
        let m = c.check("http://cdn.malware.example/x.exe").unwrap();
        assert!(m.malware && m.is_unsafe);
        assert!(!c.check("http://localhost.example").unwrap().phishing);

        let ip = c.check("http://192.0.2.7/login").unwrap();
        assert!(ip.reasons.contains(&"host.ip_literal"));
        assert!(
            c.check("http://[2001:db8::1]/")
                .unwrap()
                .reasons
                .contains(&"host.ip_literal")
        );
        // Cyrillic "а" in "pаypal": punycode and homograph.
        let h = c.check("https://pаypal.com/").unwrap();
        assert!(h.domain.starts_with("xn--"), "{h:?}");
        assert!(
            h.reasons.contains(&"host.homograph") && h.suspicious,
            "{h:?}"
        );
        let h = c.check("https://аррӏе.com/").unwrap();
        assert!(h.reasons.contains(&"host.homograph"), "{h:?}");
        // A real IDN is only punycode.
        let idn = c.check("https://bücher.de/").unwrap();
        assert!(idn.reasons.contains(&"host.punycode") && !idn.reasons.contains(&"host.homograph"));
        let t = c.check("http://free-prizes.zip/").unwrap();
        assert!(t.reasons.contains(&"tld.suspicious"));
        let u = c.check("https://bank.example@evil.example/").unwrap();
        assert_eq!(u.domain, "evil.example");
        assert!(u.reasons.contains(&"url.userinfo"));
        let j = c.check("javascript:alert(1)").unwrap();
        assert!(j.is_unsafe && j.reasons == ["scheme.not_allowed"]);
        assert_eq!(c.check("http://"), Err(InvalidUrl));
        assert_eq!(c.check(""), Err(InvalidUrl));
        assert_eq!(c.check("http://exa mple.com"), Err(InvalidUrl));
        assert_eq!(
            c.check(&format!("http://a.com/{}", "x".repeat(MAX_URL_LEN))),
            Err(InvalidUrl)
        );
    }

    proptest! {
        #[test]
        fn total_and_bounded(s in "\\PC{0,120}", host in "[a-z]{1,12}(\\.[a-z]{1,8}){1,3}") {
            let c = checker();
            if let Ok(r) = c.check(&s) {
                prop_assert!(r.risk_score <= 100);
                prop_assert_eq!(r.is_unsafe, r.phishing || r.malware || r.risk_score >= 85);
            }
            let r = c.check(&format!("https://{host}/")).unwrap();
            prop_assert_eq!(r.domain, host);
            prop_assert!(!r.phishing && !r.malware);
        }
    }
}
