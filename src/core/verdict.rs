//! The classifier's finding about a request: [`Verdict`].
//!
//! `ClassifyLayer` (feature `classify`) inserts a [`Verdict`] into the request's
//! extensions; later layers (proof of work, rate limits) and handlers read it. It lives in
//! `core` because it crosses layers.
//!
//! The fields cover what the seed APIs return: Auspex Verus' `{human, certainty}`,
//! 602TechSec's `isAllowed`, `riskScore`, `securityFlags` and `geoLocation`, and the
//! proxy/VPN/Tor/bot, ASN and ISP fields of IPQS.

use std::fmt;
use std::sync::Arc;

/// What the classifier recommends doing with a request.
///
/// Defaults follow the Auspex Verus table: a bot with certainty 75-100 is blocked,
/// 50-74 challenged, below 50 allowed and monitored; a human is allowed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Let the request through.
    Allow,
    /// Let it through, but it is probably automated: log it, rate-limit it.
    Monitor,
    /// Ask for proof of work (or a CAPTCHA) first.
    Challenge,
    /// Refuse it.
    Block,
}

impl Action {
    /// A stable lower-case name: `allow`, `monitor`, `challenge`, `block`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Monitor => "monitor",
            Action::Challenge => "challenge",
            Action::Block => "block",
        }
    }

    /// `true` for [`Action::Allow`] and [`Action::Monitor`] (602TechSec's `isAllowed`).
    pub const fn is_allowed(self) -> bool {
        matches!(self, Action::Allow | Action::Monitor)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Yes/no findings about the client's network and software.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flags {
    /// The address belongs to a VPN provider's range.
    pub vpn: bool,
    /// The address is a known open or commercial proxy.
    pub proxy: bool,
    /// The address is a Tor exit node.
    pub tor: bool,
    /// The software is automated (crawler, HTTP library, headless browser, empty UA).
    pub bot: bool,
    /// The address belongs to a hosting/datacenter/cloud network.
    pub hosting: bool,
}

/// Where the address is, when a geo database is loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code, e.g. `"US"`.
    pub country: Option<Arc<str>>,
    /// Region or subdivision code/name, e.g. `"CA"`.
    pub region: Option<Arc<str>>,
    /// City name.
    pub city: Option<Arc<str>>,
}

/// One piece of evidence in a verdict: a stable code, where it came from, its weight and
/// a detail.
///
/// Codes are stable API (dashboards and tests key on them): `net.*` for network
/// signals, `ua.*` for the user agent, `hdr.*` for header consistency.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Reason {
    /// A stable code such as `net.hosting_asn`, `ua.crawler` or `hdr.no_accept_language`.
    pub code: &'static str,
    /// Which data produced it: the range's provider or list (`"AWS"`, `"tor-exits"`),
    /// the user-agent list (`"crawler-user-agents"`, `"isbot"`), or `"headers"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Arc<str>>,
    /// The certainty (0-100) this evidence alone would give: positive toward a bot,
    /// negative toward a human, 0 for informational reasons. How weights combine is
    /// described in the classifier's `score` module.
    pub weight: i8,
    /// What matched, e.g. the user-agent pattern or the provider name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Arc<str>>,
}

/// What a verified crawler is for (the operator's own description, coarsened).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrawlerCategory {
    /// A search engine's index crawler (Googlebot, bingbot, Applebot, DuckDuckBot).
    Search,
    /// Crawling for an AI model or AI search (GPTBot, OAI-SearchBot, PerplexityBot).
    Ai,
    /// A fetch a user asked for (ChatGPT-User, Perplexity-User, Google-Read-Aloud).
    Fetcher,
    /// An SEO crawler (AhrefsBot).
    Seo,
    /// An operator's tool: ads quality, inspection, site verification, feeds.
    Tool,
    /// A public dataset or archive crawler (CCBot).
    Dataset,
}

impl CrawlerCategory {
    /// Every category.
    pub const ALL: [CrawlerCategory; 6] = [
        CrawlerCategory::Search,
        CrawlerCategory::Ai,
        CrawlerCategory::Fetcher,
        CrawlerCategory::Seo,
        CrawlerCategory::Tool,
        CrawlerCategory::Dataset,
    ];

    /// A stable lower-case name: `search`, `ai`, `fetcher`, `seo`, `tool`, `dataset`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CrawlerCategory::Search => "search",
            CrawlerCategory::Ai => "ai",
            CrawlerCategory::Fetcher => "fetcher",
            CrawlerCategory::Seo => "seo",
            CrawlerCategory::Tool => "tool",
            CrawlerCategory::Dataset => "dataset",
        }
    }

    /// The category named `name` (as in [`CrawlerCategory::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl fmt::Display for CrawlerCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a crawler's claim was checked.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrawlerCheckMethod {
    /// The address is in a range the operator publishes for that crawler.
    PublishedRanges,
    /// The address's reverse DNS name ends in the operator's documented domain and
    /// resolves back to the address (forward-confirmed reverse DNS).
    ReverseDns,
}

/// A user agent that claims a crawler, from an address its operator vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct VerifiedCrawler {
    /// The crawler, e.g. `"Googlebot"`.
    pub name: Arc<str>,
    /// Who runs it, e.g. `"Google"`.
    pub operator: Arc<str>,
    /// What it is for.
    pub category: CrawlerCategory,
    /// How the claim was checked.
    pub method: CrawlerCheckMethod,
}

/// The classifier's finding about one request or address.
///
/// `human` and `certainty` (0-100: how sure the classifier is of `human` either way, as
/// in Auspex Verus) come from the combined evidence in `reasons`; `risk_score` (0-100,
/// 602TechSec's `riskScore`) is the certainty of a bot verdict and 0 for a human. Special-purpose
/// addresses (private, loopback, ...) give `human: true, certainty: 0` as the Auspex seed
/// documents. Cloning is cheap (the lists are shared).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `true` if the client is likely a human.
    pub human: bool,
    /// Confidence in `human`, 0-100.
    pub certainty: u8,
    /// How risky the request is, 0-100.
    pub risk_score: u8,
    /// VPN / proxy / Tor / bot / hosting.
    pub flags: Flags,
    /// Location, when a geo source knows the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// The autonomous system number announcing the address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The organisation owning the address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<Arc<str>>,
    /// Every signal that contributed, in the order they were found.
    pub reasons: Arc<[Reason]>,
    /// What to do with the request.
    pub action: Action,
    /// Set when the user agent claims a crawler and the address is one its operator
    /// publishes (or, with the DNS fallback on, forward-confirmed reverse DNS vouches for).
    /// The same claim from elsewhere gives the reason `ua.spoofed_crawler` instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_crawler: Option<Arc<VerifiedCrawler>>,
}

impl Verdict {
    /// `true` when some reason has `code`.
    pub fn has_reason(&self, code: &str) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    /// The reason codes, in order.
    pub fn reason_codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.reasons.iter().map(|r| r.code)
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use http::request::Parts;

    use super::Verdict;
    use crate::core::reject::{Rejection, RejectionKind};

    /// Reads the [`Verdict`] that `ClassifyLayer` inserted. Without the layer in front of
    /// the handler the app is misconfigured, and the request fails with 500
    /// `SERVER_MISCONFIGURED`; use `Option<Verdict>` for handlers that also run without it.
    impl<S: Send + Sync> FromRequestParts<S> for Verdict {
        type Rejection = Rejection;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            crate::core::ext::verdict(&parts.extensions)
                .cloned()
                .ok_or_else(|| {
                    Rejection::new(
                        RejectionKind::Misconfigured,
                        "no verdict: add ClassifyLayer in front of this handler",
                    )
                })
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for Verdict {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(crate::core::ext::verdict(&parts.extensions).cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_in_camel_case_and_skips_unknowns() {
        let v = Verdict {
            human: false,
            certainty: 90,
            risk_score: 90,
            flags: Flags {
                bot: true,
                ..Flags::default()
            },
            geo: None,
            asn: Some(16509),
            org: Some("Amazon.com".into()),
            reasons: Arc::new([Reason {
                code: "ua.crawler",
                source: None,
                weight: 90,
                detail: None,
            }]),
            action: Action::Block,
            verified_crawler: None,
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["riskScore"], 90);
        assert_eq!(j["action"], "block");
        assert_eq!(j["flags"]["bot"], true);
        assert!(j.get("geo").is_none());
        assert!(v.has_reason("ua.crawler"));
        assert!(!Action::Block.is_allowed() && Action::Monitor.is_allowed());
    }
}
