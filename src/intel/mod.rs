//! Email, URL and IP intelligence with IPQS-shaped results (feature `intel`).
//!
//! The in-process counterparts of the Engineering11 seed's IPQS services:
//!
//! * [`EmailChecker`]: practical RFC 5321/5322 syntax ([`parse_email`]), disposable
//!   domains from the embedded list (the PyPI package `disposable-email-domains`, about
//!   10 000 domains, MIT; regenerate with `scripts/intel-disposable.py`) plus your own,
//!   free-mail (`common`) and role-account (`generic`) flags, and an optional MX lookup
//!   behind [`MxResolver`] (off by default) -> [`EmailResult`] `{valid, disposable,
//!   fraud_score, reasons, ...}`.
//! * [`UrlChecker`]: parses with the `url` crate (bare domains read as `http://`), a
//!   scheme allow-list (`http`, `https`), IP-literal hosts, punycode and homograph hosts
//!   (Latin mixed with Cyrillic/Greek look-alikes), suspicious TLDs, userinfo tricks, and
//!   phishing/malware [`DomainList`]s read from hosts files or plain lists ->
//!   [`UrlResult`] `{unsafe, phishing, malware, suspicious, risk_score, domain, reasons}`;
//!   [`InvalidUrl`] (`INVALID_URL`, 400) for input that is not a URL.
//! * [`IpIntel`]: the classify engine's verdict as IPQS's IP result (`fraud_score`,
//!   `proxy`, `vpn`, `tor`, `bot_status`, `ISP`, `ASN`, `country_code`, `region`,
//!   `city`), optionally enriched by an IPQS-compatible [`IpqsProvider`] in the background
//!   (bounded queue, bounded cache with a TTL, per-lookup timeout; `KEY_NOT_FOUND` when
//!   no key is configured).
//!
//! These are functions, not layers: call them from handlers (sign-up, link posting).
//!
//! # Caveats
//!
//! * Syntax is deliberately stricter than RFC 5322: no quoted local parts, comments or
//!   IP-literal domains, which real mailboxes almost never use and parsers disagree on.
//! * Disposable lists lag behind new throwaway domains; an MX lookup catches only
//!   domains without mail at all. A low score is not proof of a real person.
//! * The URL checks are heuristics over the URL text: no page is fetched, so a clean
//!   URL that redirects to a phishing page scores as clean. Blocklists are only as good
//!   as the lists you load (none are embedded).
//! * The built-in provider client speaks plain HTTP; reach `https://` APIs through a
//!   TLS-terminating proxy. Provider answers arrive after the first lookup of an
//!   address, never on its request path.
//!
//! # Example
//!
//! ```
//! use tower_shield::intel::{EmailChecker, InvalidUrl, UrlChecker};
//!
//! let email = EmailChecker::embedded();
//! assert!(email.check("someone@mailinator.com").disposable);
//! assert!(email.check("jane.doe@example.com").valid);
//!
//! let urls = UrlChecker::new();
//! let r = urls.check("http://192.0.2.7/login").unwrap();
//! assert!(r.reasons.contains(&"host.ip_literal"));
//! let invalid = urls.check("http://").unwrap_err();
//! assert_eq!(invalid, InvalidUrl);
//! // A handler answers INVALID_URL with the crate's rejection, 400:
//! let status = tower_shield::core::Rejection::new(
//!     tower_shield::core::RejectionKind::InvalidUrl, invalid.to_string()).status();
//! assert_eq!(status, 400);
//! ```

mod email;
mod ip;
mod url;

pub use email::{
    EmailChecker, EmailResult, EmailSyntaxError, MAX_EMAIL_LEN, MAX_LOCAL_LEN, MxResolver,
    ParsedEmail, parse_email, valid_hostname,
};
pub use ip::{
    DEFAULT_REMOTE_CACHE, IPQS_BASE_URL, IpIntel, IpResult, IpqsProvider, MAX_PROVIDER_BYTES,
    ProviderError, RemoteIp,
};
pub use url::{DomainList, InvalidUrl, MAX_LIST_DOMAINS, MAX_URL_LEN, UrlChecker, UrlResult};
