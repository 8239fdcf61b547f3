//! Email validation: practical RFC 5321/5322 syntax, disposable domains, free-mail and
//! role accounts, optional MX lookup.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// Longest address accepted (RFC 5321 path limit minus the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321 4.5.3.1.1).
pub const MAX_LOCAL_LEN: usize = 64;

const DISPOSABLE: &str = include_str!("data/disposable-domains.txt");

/// Free-mail providers (IPQS's `common`): a personal address, not an organisation's.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.co.jp",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
    "fastmail.com",
    "tutanota.com",
    "tuta.io",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "orange.fr",
    "free.fr",
    "libero.it",
    "t-online.de",
    "comcast.net",
];

/// Role accounts (IPQS's `generic`): mailboxes of a function, not a person.
const ROLES: &[&str] = &[
    "admin",
    "administrator",
    "abuse",
    "billing",
    "contact",
    "info",
    "help",
    "hostmaster",
    "mailer-daemon",
    "marketing",
    "no-reply",
    "noreply",
    "office",
    "postmaster",
    "root",
    "sales",
    "security",
    "support",
    "sysadmin",
    "team",
    "webmaster",
    "hello",
    "jobs",
    "hr",
];

/// Why an address is syntactically invalid: a stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmailSyntaxError {
    /// Empty, too long, or surrounded by whitespace.
    Length,
    /// Not exactly one `@` outside quotes (quoted local parts are not accepted).
    At,
    /// The local part has a character outside RFC 5322 `atext`, or bad dots.
    Local,
    /// The domain is not a valid host name with a TLD.
    Domain,
}

impl EmailSyntaxError {
    /// A stable reason code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Length => "syntax.length",
            Self::At => "syntax.at",
            Self::Local => "syntax.local",
            Self::Domain => "syntax.domain",
        }
    }
}

impl fmt::Display for EmailSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for EmailSyntaxError {}

/// A syntactically valid address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEmail {
    /// The local part, as given.
    pub local: String,
    /// The domain, lower case ASCII (IDNA applied).
    pub domain: String,
}

impl ParsedEmail {
    /// `local@domain`.
    pub fn sanitized(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Checks a host name: 2+ labels of letters, digits and inner hyphens, 1..=63 bytes each,
/// at most 253 in all, and an alphabetic (or `xn--`) top-level label. Input must be ASCII.
pub fn valid_hostname(d: &str) -> bool {
    if d.is_empty() || d.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last = "";
    for l in d.split('.') {
        let b = l.as_bytes();
        if b.is_empty()
            || b.len() > 63
            || b.first() == Some(&b'-')
            || b.last() == Some(&b'-')
            || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        {
            return false;
        }
        labels += 1;
        last = l;
    }
    labels >= 2
        && last.len() >= 2
        && (last.bytes().all(|c| c.is_ascii_alphabetic()) || last.starts_with("xn--"))
}

/// Parses an address with practical RFC 5321/5322 rules: a dot-atom local part of at
/// most 64 bytes (no quoted strings, no comments), one `@`, and a host name (IDNA
/// applied) with a real TLD; no IP-literal domains. Pure and total.
pub fn parse_email(s: &str) -> Result<ParsedEmail, EmailSyntaxError> {
    if s.is_empty() || s.len() > MAX_EMAIL_LEN || s.trim() != s {
        return Err(EmailSyntaxError::Length);
    }
    let (local, domain) = s.rsplit_once('@').ok_or(EmailSyntaxError::At)?;
    if local.contains('@') || local.contains('"') {
        return Err(EmailSyntaxError::At);
    }
    let lb = local.as_bytes();
    if lb.is_empty()
        || lb.len() > MAX_LOCAL_LEN
        || lb.first() == Some(&b'.')
        || lb.last() == Some(&b'.')
        || local.contains("..")
        || !lb.iter().all(|&c| c == b'.' || is_atext(c))
    {
        return Err(EmailSyntaxError::Local);
    }
    if domain.is_empty() || domain.starts_with('[') || domain.len() > 253 {
        return Err(EmailSyntaxError::Domain);
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| EmailSyntaxError::Domain)?;
    if !valid_hostname(&ascii) {
        return Err(EmailSyntaxError::Domain);
    }
    Ok(ParsedEmail {
        local: local.to_owned(),
        domain: ascii,
    })
}

/// The IPQS-like verdict on an address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EmailResult {
    /// Syntactically valid (and, when an MX lookup ran, its domain accepts mail).
    pub valid: bool,
    /// The domain (or a parent of it) is a disposable-mail provider.
    pub disposable: bool,
    /// A free-mail provider (IPQS `common`).
    pub common: bool,
    /// A role account such as `admin@` (IPQS `generic`).
    pub generic: bool,
    /// `Some(has MX)` when an MX lookup ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_valid: Option<bool>,
    /// 0-100: 100 invalid, 75+ disposable.
    pub fraud_score: u8,
    /// The domain (lower case ASCII), when parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `local@domain` normalised, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sanitized_email: Option<String>,
    /// Stable reason codes, e.g. `syntax.domain`, `domain.disposable`, `local.role`.
    pub reasons: Vec<&'static str>,
}

/// Answers whether a domain accepts mail (has MX, or A/AAAA as the implicit MX).
/// Implement it over your resolver (hickory-resolver, a DNS-over-HTTPS client); bound
/// its time.
pub trait MxResolver: Send + Sync {
    /// `Ok(true)` when `domain` can receive mail.
    fn accepts_mail<'a>(
        &'a self,
        domain: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;
}

/// Checks addresses against the embedded disposable list (the PyPI package
/// `disposable-email-domains`, about 10 000 domains, MIT) and your additions.
#[derive(Clone)]
pub struct EmailChecker {
    disposable: Arc<HashSet<Box<str>>>,
    extra: Arc<HashSet<Box<str>>>,
}

impl fmt::Debug for EmailChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailChecker")
            .field("disposable", &self.disposable.len())
            .field("extra", &self.extra.len())
            .finish()
    }
}

fn embedded_disposable() -> Arc<HashSet<Box<str>>> {
    static SET: OnceLock<Arc<HashSet<Box<str>>>> = OnceLock::new();
    SET.get_or_init(|| {
        Arc::new(
            DISPOSABLE
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(Box::from)
                .collect(),
        )
    })
    .clone()
}

impl Default for EmailChecker {
    fn default() -> Self {
        Self::embedded()
    }
}

/// `domain` and its parents with at least two labels (`a.b.c` -> `a.b.c`, `b.c`).
fn suffixes(domain: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(domain);
    std::iter::from_fn(move || {
        let cur = rest?;
        rest = cur
            .split_once('.')
            .map(|(_, r)| r)
            .filter(|r| r.contains('.'));
        Some(cur)
    })
}

impl EmailChecker {
    /// The embedded lists.
    pub fn embedded() -> Self {
        Self {
            disposable: embedded_disposable(),
            extra: Arc::new(HashSet::new()),
        }
    }

    /// Also treats `domains` (one per line, `#` comments) as disposable; at most 1 000 000.
    pub fn disposable_domains(mut self, text: &str) -> Self {
        let mut extra = HashSet::clone(&self.extra);
        for l in text.lines().map(str::trim) {
            if extra.len() >= 1_000_000 {
                break;
            }
            if !l.is_empty() && !l.starts_with('#') {
                extra.insert(l.to_ascii_lowercase().into_boxed_str());
            }
        }
        self.extra = Arc::new(extra);
        self
    }

    /// How many disposable domains are known.
    pub fn disposable_len(&self) -> usize {
        self.disposable.len() + self.extra.len()
    }

    /// `true` when `domain` (lower case ASCII) or a parent of it is disposable.
    pub fn is_disposable_domain(&self, domain: &str) -> bool {
        suffixes(domain).any(|d| self.disposable.contains(d) || self.extra.contains(d))
    }

    /// The verdict on `email` without DNS: pure.
    pub fn check(&self, email: &str) -> EmailResult {
        let parsed = match parse_email(email) {
            Ok(p) => p,
            Err(e) => {
                return EmailResult {
                    valid: false,
                    disposable: false,
                    common: false,
                    generic: false,
                    dns_valid: None,
                    fraud_score: 100,
                    domain: None,
                    sanitized_email: None,
                    reasons: vec![e.code()],
                };
            }
        };
        let mut reasons = Vec::new();
        let mut score: u32 = 0;
        let disposable = self.is_disposable_domain(&parsed.domain);
        if disposable {
            reasons.push("domain.disposable");
            score += 75;
        }
        let common = FREE_MAIL.contains(&parsed.domain.as_str());
        if common {
            reasons.push("domain.free_mail");
            score += 5;
        }
        let base = parsed
            .local
            .split('+')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let generic = ROLES.contains(&base.as_str());
        if generic {
            reasons.push("local.role");
            score += 15;
        }
        if parsed.local.bytes().filter(u8::is_ascii_digit).count() >= 6 {
            reasons.push("local.many_digits");
            score += 10;
        }
        EmailResult {
            valid: true,
            disposable,
            common,
            generic,
            dns_valid: None,
            fraud_score: score.min(100) as u8,
            sanitized_email: Some(parsed.sanitized()),
            domain: Some(parsed.domain),
            reasons,
        }
    }

    /// [`check`](Self::check), then asks `resolver` whether the domain accepts mail
    /// (a domain without mail is invalid; a resolver error leaves `dns_valid` unset).
    pub async fn check_with_mx(&self, email: &str, resolver: &dyn MxResolver) -> EmailResult {
        let mut r = self.check(email);
        if let (true, Some(domain)) = (r.valid, r.domain.clone()) {
            match resolver.accepts_mail(&domain).await {
                Ok(true) => r.dns_valid = Some(true),
                Ok(false) => {
                    r.dns_valid = Some(false);
                    r.valid = false;
                    r.reasons.push("dns.no_mx");
                    r.fraud_score = r.fraud_score.max(90);
                }
                Err(_) => r.reasons.push("dns.error"),
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn syntax() {
        for ok in [
            "a@example.com",
            "first.last+tag@sub.example.co.uk",
            "o'hara@example.org",
            "x@xn--bcher-kva.example",
            "user@bücher.example",
        ] {
            assert!(parse_email(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_email("user@bücher.example").unwrap().domain,
            "xn--bcher-kva.example"
        );
        for (bad, why) in [
            ("", EmailSyntaxError::Length),
            (" a@example.com", EmailSyntaxError::Length),
            ("plain", EmailSyntaxError::At),
            ("a@b@example.com", EmailSyntaxError::At),
            ("\"q\"@example.com", EmailSyntaxError::At),
            (".a@example.com", EmailSyntaxError::Local),
            ("a..b@example.com", EmailSyntaxError::Local),
            ("a b@example.com", EmailSyntaxError::Local),
            ("a@localhost", EmailSyntaxError::Domain),
            ("a@[127.0.0.1]", EmailSyntaxError::Domain),
            ("a@-x.com", EmailSyntaxError::Domain),
            ("a@example.c0m", EmailSyntaxError::Domain),
            ("a@example..com", EmailSyntaxError::Domain),
        ] {
            assert_eq!(parse_email(bad), Err(why), "{bad}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(parse_email(&long_local), Err(EmailSyntaxError::Local));
    }

    #[test]
    fn disposable_free_and_role() {
        let c = EmailChecker::embedded();
        assert!(c.disposable_len() > 5000);
        let r = c.check("someone@mailinator.com");
        assert!(r.valid && r.disposable && r.fraud_score >= 75, "{r:?}");
        assert!(c.check("x@sub.mailinator.com").disposable, "parents count");
        let r = c.check("jane.doe@gmail.com");
        assert!(
            r.valid && !r.disposable && r.common && r.fraud_score < 25,
            "{r:?}"
        );
        let r = c.check("Admin+x@example.com");
        assert!(r.generic && !r.common);
        let r = c.check("not an email");
        assert!(!r.valid && r.fraud_score == 100);
        let c = c.disposable_domains("# mine\nthrowaway.example\n");
        assert!(c.check("a@throwaway.example").disposable);
    }

    struct Fixed(bool);
    impl MxResolver for Fixed {
        fn accepts_mail<'a>(
            &'a self,
            _: &'a str,
        ) -> Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>> {
            let v = self.0;
            Box::pin(async move { Ok(v) })
        }
    }

    #[tokio::test]
    async fn mx_lookup_is_opt_in() {
        let c = EmailChecker::embedded();
        assert_eq!(c.check("a@example.com").dns_valid, None);
        let r = c.check_with_mx("a@example.com", &Fixed(false)).await;
        assert!(!r.valid && r.dns_valid == Some(false));
        assert!(c.check_with_mx("a@example.com", &Fixed(true)).await.valid);
    }

    proptest! {
        #[test]
        fn parser_is_total_and_consistent(s in "\\PC{0,80}", local in "[a-z0-9._+-]{1,20}", dom in "[a-z]{1,10}\\.[a-z]{2,5}") {
            let c = EmailChecker::embedded();
            let r = c.check(&s);
            prop_assert!(r.fraud_score <= 100);
            if let Ok(p) = parse_email(&s) {
                prop_assert!(valid_hostname(&p.domain));
                prop_assert!(p.local.len() <= MAX_LOCAL_LEN);
                prop_assert!(r.valid);
            }
            let addr = format!("{local}@{dom}");
            let dotted = local.starts_with('.') || local.ends_with('.') || local.contains("..");
            prop_assert_eq!(parse_email(&addr).is_ok(), !dotted);
        }
    }
}
