//! [`Classifier`]: tables, user-agent patterns, policy and cache behind one handle.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::HeaderMap;
use http::header::USER_AGENT;

use super::cache::{UaKey, UaMemo, VerdictCache};
use super::crawlers::{CrawlerCheck, Crawlers};
use super::data::{LoadError, PrefixTable, embedded};
use super::score::{
    Bands, Policy, RequestSignals, Weights, header_findings, presence_and_ua, score, score_checked,
};
use super::ua::{UaCategory, UaMatch, UaMatcher};
use crate::core::error::ConfigError;
use crate::core::verdict::CrawlerCategory;
use crate::core::verdict::Verdict;

/// Default bound on cached verdicts (16 Ki entries, a few MB).
pub const DEFAULT_CACHE_CAPACITY: usize = 16 * 1024;

/// Most user agents whose findings are memoised.
const MAX_UA_MEMO: usize = 16 * 1024;

struct Data {
    table: Arc<PrefixTable>,
    ua: Arc<UaMatcher>,
    crawlers: Arc<Crawlers>,
    generation: u64,
}

struct Inner {
    data: ArcSwap<Data>,
    policy: Policy,
    cache: Option<VerdictCache>,
    /// User-agent findings per (agent, header presence bits), beside the verdict cache.
    ua_memo: Option<UaMemo>,
    next_generation: AtomicU64,
    #[cfg(feature = "crawler-dns")]
    dns: Option<super::dns::DnsVerifier>,
}

/// Classifies clients from their address and request headers.
///
/// Cloning shares everything (tables, cache). Tables and patterns are swapped at run
/// time with [`Classifier::swap_table`] / [`Classifier::swap_ua`] (lock-free for readers,
/// via `arc-swap`); cached verdicts from older data are not served after a swap.
///
/// ```
/// use tower_shield::classify::Classifier;
///
/// let c = Classifier::embedded();
/// // An address from the embedded AWS (AS16509) ranges:
/// let v = c.classify_ip("3.5.140.2".parse().unwrap());
/// assert!(!v.human && v.flags.hosting);
/// // RFC 1918: human, certainty 0, as the Auspex seed documents.
/// let v = c.classify_ip("10.1.2.3".parse().unwrap());
/// assert!(v.human && v.certainty == 0);
/// ```
#[derive(Clone)]
pub struct Classifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.inner.data.load();
        f.debug_struct("Classifier")
            .field("table", &d.table)
            .field("ua", &d.ua)
            .field("crawlers", &d.crawlers)
            .field("generation", &d.generation)
            .field("policy", &self.inner.policy)
            .finish()
    }
}

impl Classifier {
    /// The embedded data and default policy: zero configuration.
    pub fn embedded() -> Self {
        Self::builder().build()
    }

    /// A builder starting from the embedded data and default policy.
    pub fn builder() -> ClassifierBuilder {
        ClassifierBuilder::default()
    }

    /// The verdict for a request from `ip` with `headers`, from the cache when possible.
    pub fn classify(&self, ip: IpAddr, headers: &HeaderMap) -> Verdict {
        let data = self.inner.data.load();
        let Some(cache) = &self.inner.cache else {
            return self.compute(&data, ip, headers);
        };
        let rec = data.table.lookup_id(ip);
        let (presence, ua) = presence_and_ua(headers);
        let ua = ua.map(|v| v.as_bytes());
        // Keyed on what the findings depend on (the UA and which headers are present), so a
        // hit parses nothing.
        let ua_key = cache.ua_key(ua, presence);
        let key = cache.key_for(ip, rec, &ua_key);
        if let Some(v) = cache.get(&key, data.generation) {
            return v;
        }
        let req = self.signals(&data, ua, ua_key, headers);
        let (check, cacheable) = self.crawler_check(&data, ip, ua, req.ua.as_ref());
        let v = score_checked(
            data.table.record(rec),
            Some(&req),
            check.as_ref(),
            &self.inner.policy,
        );
        if cacheable {
            cache.insert(key, data.generation, v.clone());
        }
        v
    }

    /// The user agent's findings, memoised per (agent, presence bits) for this data.
    fn signals(
        &self,
        data: &Data,
        ua: Option<&[u8]>,
        key: UaKey,
        headers: &HeaderMap,
    ) -> RequestSignals {
        let compute = || RequestSignals {
            ua: data.ua.find(ua),
            headers: header_findings(headers),
        };
        let Some(memo) = &self.inner.ua_memo else {
            return compute();
        };
        if let Some(found) = memo.get(&key, data.generation) {
            return found;
        }
        let found = compute();
        memo.insert(key, data.generation, found.clone());
        found
    }

    /// Checks the crawler a bot user agent claims (only UAs some bot pattern matched
    /// are looked at: a browser UA costs nothing here). The flag says whether the
    /// verdict may be cached under the address's /64 and table record.
    fn crawler_check(
        &self,
        data: &Data,
        ip: IpAddr,
        ua: Option<&[u8]>,
        matched: Option<&UaMatch>,
    ) -> (Option<CrawlerCheck>, bool) {
        let (Some(ua), Some(m)) = (ua, matched) else {
            return (None, true);
        };
        if matches!(
            m.category,
            UaCategory::Empty | UaCategory::HttpLibrary | UaCategory::Headless
        ) {
            return (None, true);
        }
        let Some(claim) = data.crawlers.claim(ua) else {
            return (None, true);
        };
        // Your own network (or an untrusted proxy) is scored {human, 0} whatever it
        // claims: nothing to check, and no DNS to ask.
        if data
            .table
            .lookup(ip)
            .is_some_and(|n| n.kind.contains(super::data::NetKind::SPECIAL))
        {
            return (None, true);
        }
        let check = data.crawlers.check_claim(ip, &claim);
        #[cfg(feature = "crawler-dns")]
        if let (Some(dns), false) = (
            &self.inner.dns,
            matches!(check, CrawlerCheck::Verified(_)) || claim.rdns.is_empty(),
        ) {
            use super::dns::DnsAnswer;
            // Decided by DNS: never cached with the verdict (the answer expires).
            let check = match dns.answer(ip, claim.operator, claim.rdns) {
                DnsAnswer::Confirmed => data
                    .crawlers
                    .verified_by_dns(&claim)
                    .map_or(check, CrawlerCheck::Verified),
                DnsAnswer::Failed => CrawlerCheck::Spoofed {
                    name: claim.name.into(),
                    operator: claim.operator.into(),
                },
                DnsAnswer::Pending => CrawlerCheck::Unverified {
                    name: claim.name.into(),
                    operator: claim.operator.into(),
                },
            };
            return (Some(check), false);
        }
        // A verdict cached by /64 must not carry a check that a narrower IPv6 prefix
        // decided.
        let exact = matches!(crate::core::ext::unmap(ip), IpAddr::V4(_))
            || !data.crawlers.has_v6_finer_than_64();
        (Some(check), exact)
    }

    /// The verdict for a request, never cached.
    pub fn classify_uncached(&self, ip: IpAddr, headers: &HeaderMap) -> Verdict {
        self.compute(&self.inner.data.load(), ip, headers)
    }

    fn compute(&self, data: &Data, ip: IpAddr, headers: &HeaderMap) -> Verdict {
        let net = data.table.lookup(ip);
        // One `User-Agent` lookup for the matcher and the crawler check.
        let ua = headers.get(USER_AGENT).map(|v| v.as_bytes());
        let req = RequestSignals {
            ua: data.ua.find(ua),
            headers: header_findings(headers),
        };
        let (check, _) = self.crawler_check(data, ip, ua, req.ua.as_ref());
        score_checked(net, Some(&req), check.as_ref(), &self.inner.policy)
    }

    /// The verdict for an address alone (no user agent, no headers): what the Auspex
    /// Verus `/verus/classify` API answers for an `ipAddress`.
    pub fn classify_ip(&self, ip: IpAddr) -> Verdict {
        let data = self.inner.data.load();
        score(data.table.lookup(ip), None, &self.inner.policy)
    }

    /// The table in force.
    pub fn table(&self) -> Arc<PrefixTable> {
        self.inner.data.load().table.clone()
    }

    /// The user-agent matcher in force.
    pub fn ua_matcher(&self) -> Arc<UaMatcher> {
        self.inner.data.load().ua.clone()
    }

    /// The verified-crawler directory in force.
    pub fn crawlers(&self) -> Arc<Crawlers> {
        self.inner.data.load().crawlers.clone()
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// How many times the data was swapped.
    pub fn generation(&self) -> u64 {
        self.inner.data.load().generation
    }

    /// Cached verdicts right now.
    pub fn cache_len(&self) -> usize {
        self.inner.cache.as_ref().map_or(0, VerdictCache::len)
    }

    fn swap(&self, table: Option<Arc<PrefixTable>>, ua: Option<Arc<UaMatcher>>) {
        self.swap_all(table, ua, None);
    }

    fn swap_all(
        &self,
        table: Option<Arc<PrefixTable>>,
        ua: Option<Arc<UaMatcher>>,
        crawlers: Option<Arc<Crawlers>>,
    ) {
        let generation = self.inner.next_generation.fetch_add(1, Ordering::AcqRel) + 1;
        self.inner.data.rcu(|old| Data {
            table: table.clone().unwrap_or_else(|| old.table.clone()),
            ua: ua.clone().unwrap_or_else(|| old.ua.clone()),
            crawlers: crawlers.clone().unwrap_or_else(|| old.crawlers.clone()),
            generation,
        });
        crate::core::metrics::classify_data(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
        );
    }

    /// Replaces the prefix table; in-flight lookups finish on the old one.
    pub fn swap_table(&self, table: impl Into<Arc<PrefixTable>>) {
        self.swap(Some(table.into()), None);
    }

    /// Replaces the user-agent matcher.
    pub fn swap_ua(&self, ua: impl Into<Arc<UaMatcher>>) {
        self.swap(None, Some(ua.into()));
    }

    /// Replaces the verified-crawler directory (e.g. with fresh operator lists loaded
    /// by [`CrawlersBuilder::list_json`](super::crawlers::CrawlersBuilder::list_json)).
    pub fn swap_crawlers(&self, crawlers: impl Into<Arc<Crawlers>>) {
        self.swap_all(None, None, Some(crawlers.into()));
    }

    /// Calls `load` every `interval` on a background thread and swaps in each table it
    /// returns (`Ok(None)`: nothing changed; `Err`: keep the old table and log). The
    /// thread stops when the returned handle is dropped.
    ///
    /// For file-change reloads, check the file's modification time in `load` and return
    /// `Ok(None)` when it has not changed.
    pub fn reload_every<F>(&self, interval: Duration, load: F) -> ReloadHandle
    where
        F: FnMut() -> Result<Option<PrefixTable>, LoadError> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = Arc::downgrade(&self.inner);
        let flag = stop.clone();
        let mut load = load;
        let spawned = std::thread::Builder::new()
            .name("tower-shield-classify-reload".into())
            .spawn(move || {
                let tick = Duration::from_millis(50).min(interval);
                let mut waited = Duration::ZERO;
                while !flag.load(Ordering::Acquire) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited < interval {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let Some(inner) = weak.upgrade() else { break };
                    match load() {
                        Ok(Some(t)) => Classifier { inner }.swap_table(t),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "classify: reload failed; keeping the old table"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "classify: cannot start the reload thread");
        }
        ReloadHandle { stop }
    }
}

/// Stops a [`Classifier::reload_every`] thread when dropped.
#[derive(Debug)]
pub struct ReloadHandle {
    stop: Arc<AtomicBool>,
}

impl Drop for ReloadHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Builds a [`Classifier`].
#[derive(Debug)]
pub struct ClassifierBuilder {
    table: Option<Arc<PrefixTable>>,
    ua: Option<Arc<UaMatcher>>,
    crawlers: Option<Arc<Crawlers>>,
    policy: Policy,
    cache_capacity: usize,
    #[cfg(feature = "crawler-dns")]
    dns: Option<super::dns::DnsVerifier>,
}

impl Default for ClassifierBuilder {
    fn default() -> Self {
        Self {
            table: None,
            ua: None,
            crawlers: None,
            policy: Policy::default(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            #[cfg(feature = "crawler-dns")]
            dns: None,
        }
    }
}

impl ClassifierBuilder {
    /// The prefix table (default: [`embedded::table`]).
    pub fn table(mut self, table: impl Into<Arc<PrefixTable>>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// The user-agent matcher (default: [`UaMatcher::embedded`]).
    pub fn ua_matcher(mut self, ua: impl Into<Arc<UaMatcher>>) -> Self {
        self.ua = Some(ua.into());
        self
    }

    /// The verified-crawler directory (default: [`Crawlers::embedded`]; give
    /// [`Crawlers::empty`] to check no claim).
    pub fn crawlers(mut self, crawlers: impl Into<Arc<Crawlers>>) -> Self {
        self.crawlers = Some(crawlers.into());
        self
    }

    /// Lets verified crawlers of every category through ([`Action::Allow`]): a UA
    /// claiming Googlebot, bingbot, GPTBot, ... from an address its operator publishes.
    /// The same claim from anywhere else stays refused (`ua.spoofed_crawler`). See
    /// [`crawlers`](super::crawlers).
    ///
    /// [`Action::Allow`]: crate::core::verdict::Action::Allow
    pub fn allow_verified_crawlers(mut self) -> Self {
        for c in CrawlerCategory::ALL {
            self = self.allow_verified_crawler(c);
        }
        self
    }

    /// Lets verified crawlers of `category` through (e.g. only
    /// [`CrawlerCategory::Search`], keeping AI crawlers out).
    pub fn allow_verified_crawler(mut self, category: CrawlerCategory) -> Self {
        if !self.policy.allow_verified.contains(&category) {
            self.policy.allow_verified.push(category);
        }
        self
    }

    /// Turns on the reverse-and-forward DNS fallback for crawler claims the published
    /// ranges do not confirm (off by default; feature `crawler-dns`). See
    /// [`dns`](super::dns).
    #[cfg(feature = "crawler-dns")]
    pub fn crawler_dns(mut self, verifier: super::dns::DnsVerifier) -> Self {
        self.dns = Some(verifier);
        self
    }

    /// Signal weights.
    pub fn weights(mut self, weights: Weights) -> Self {
        self.policy.weights = weights;
        self
    }

    /// Challenge bots from `challenge_at`, block from `block_at` (101 = never).
    pub fn bands(mut self, challenge_at: u8, block_at: u8) -> Result<Self, ConfigError> {
        self.policy.bands = Bands::new(challenge_at, block_at)?;
        Ok(self)
    }

    /// Lets bots of `category` through (at most "monitor") unless the network alone is
    /// bad enough. User agents are trivially forged: see [`Policy::allow_categories`].
    pub fn allow_category(mut self, category: UaCategory) -> Self {
        if !self.policy.allow_categories.contains(&category) {
            self.policy.allow_categories.push(category);
        }
        self
    }

    /// Most verdicts cached (default [`DEFAULT_CACHE_CAPACITY`]; 0 disables the cache).
    ///
    /// Beside the verdicts, what each user agent was found to be (its pattern match and
    /// header findings) is memoised for a quarter as many agents (at most 16 Ki): a new
    /// address sending a known agent costs a table lookup and a score, not a pattern
    /// match. Entries from older data are never served after a swap (each carries the
    /// data's generation and becomes a miss; the bounded caches replace them as they go).
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// The classifier.
    pub fn build(self) -> Classifier {
        let data = Data {
            table: self.table.unwrap_or_else(embedded::table),
            ua: self.ua.unwrap_or_else(UaMatcher::embedded),
            crawlers: self.crawlers.unwrap_or_else(Crawlers::embedded),
            generation: 0,
        };
        Classifier {
            inner: Arc::new(Inner {
                data: ArcSwap::from_pointee(data),
                policy: self.policy,
                cache: (self.cache_capacity > 0).then(|| VerdictCache::new(self.cache_capacity)),
                ua_memo: (self.cache_capacity > 0)
                    .then(|| UaMemo::new((self.cache_capacity / 4).clamp(1, MAX_UA_MEMO))),
                next_generation: AtomicU64::new(0),
                #[cfg(feature = "crawler-dns")]
                dns: self.dns,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::data::{NetInfo, NetKind, TableBuilder};

    #[test]
    fn swap_invalidates_cache() {
        let c = Classifier::builder().table(PrefixTable::empty()).build();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let h = HeaderMap::new();
        assert!(!c.classify(ip, &h).flags.tor);
        assert_eq!(c.cache_len(), 1);
        let mut b = TableBuilder::new();
        b.add_net(
            "198.51.100.0/24".parse().unwrap(),
            NetInfo::tagged(NetKind::TOR, "t"),
        )
        .unwrap();
        c.swap_table(b.build());
        assert!(c.classify(ip, &h).flags.tor);
        assert_eq!(c.generation(), 1);
    }

    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    proptest::proptest! {
        /// The verdict cache and the user-agent memo never change an answer: over any
        /// sequence of addresses, agents and header sets (the same agent from new
        /// addresses, the same address with new agents), `classify` equals
        /// `classify_uncached`, with a cache small enough to evict.
        #[test]
        fn memoised_answers_equal_uncached(
            calls in proptest::collection::vec((0usize..6, 0usize..7, 0u8..16), 1..64),
        ) {
            let ips = ["81.2.69.160", "8.8.8.8", "66.249.66.1", "10.0.0.1",
                "2001:db8::1", "3.5.140.2"];
            let uas = ["", GOOGLEBOT, "curl/8.5.0", "python-requests/2.31",
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                "HeadlessChrome/120"];
            let c = Classifier::builder().cache_capacity(8).build();
            for (ip, agent, bits) in calls {
                let ip: IpAddr = ips[ip].parse().unwrap();
                let mut h = if agent == 0 { HeaderMap::new() } else { ua(uas[agent]) };
                for (bit, name) in [
                    (1, http::header::ACCEPT),
                    (2, http::header::ACCEPT_LANGUAGE),
                    (4, http::header::ACCEPT_ENCODING),
                    (8, http::HeaderName::from_static("sec-ch-ua")),
                ] {
                    if bits & bit != 0 {
                        h.insert(name, http::HeaderValue::from_static("x"));
                    }
                }
                let cached = c.classify(ip, &h);
                let fresh = c.classify_uncached(ip, &h);
                proptest::prop_assert_eq!(cached, fresh);
            }
        }
    }

    fn ua(s: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(USER_AGENT, http::HeaderValue::from_str(s).unwrap());
        h
    }

    #[test]
    fn googlebot_from_google_is_verified_and_from_aws_spoofed() {
        use crate::core::verdict::{Action, CrawlerCheckMethod};
        for c in [
            Classifier::embedded(),
            Classifier::builder().allow_verified_crawlers().build(),
        ] {
            let allow = !c.policy().allow_verified.is_empty();
            for _ in 0..2 {
                // Twice: the second answer comes from the cache.
                let v = c.classify("66.249.66.1".parse().unwrap(), &ua(GOOGLEBOT));
                let vc = v.verified_crawler.clone().expect("verified");
                assert_eq!(
                    (&*vc.operator, vc.category),
                    ("Google", CrawlerCategory::Search)
                );
                assert_eq!(vc.method, CrawlerCheckMethod::PublishedRanges);
                assert!(!v.human && v.flags.bot && v.has_reason("ua.verified_crawler"));
                assert_eq!(v.action == Action::Allow, allow, "{v:?}");
                let s = c.classify("3.5.140.2".parse().unwrap(), &ua(GOOGLEBOT));
                assert!(s.verified_crawler.is_none() && s.has_reason("ua.spoofed_crawler"));
                assert!(!s.human && s.certainty >= 99 && s.action == Action::Block);
            }
            let u = c.classify_uncached("66.249.66.1".parse().unwrap(), &ua(GOOGLEBOT));
            assert!(u.verified_crawler.is_some());
        }
        // A browser UA is never checked.
        let v = Classifier::embedded().classify(
            "66.249.66.1".parse().unwrap(),
            &ua("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
        );
        assert!(v.verified_crawler.is_none() && !v.has_reason("ua.spoofed_crawler"));
    }

    #[test]
    fn allowing_search_engines_no_longer_lets_forged_googlebots_in() {
        use crate::core::verdict::Action;
        let consumer: IpAddr = "81.2.69.160".parse().unwrap();
        let unchecked = Classifier::builder()
            .crawlers(Crawlers::empty())
            .allow_category(UaCategory::SearchEngine)
            .build();
        assert_eq!(
            unchecked.classify(consumer, &ua(GOOGLEBOT)).action,
            Action::Monitor
        );
        let checked = Classifier::builder()
            .allow_category(UaCategory::SearchEngine)
            .build();
        let v = checked.classify(consumer, &ua(GOOGLEBOT));
        assert_eq!(v.action, Action::Block, "{v:?}");
        // The real one still gets in.
        let v = checked.classify("66.249.66.1".parse().unwrap(), &ua(GOOGLEBOT));
        assert!(
            v.action.is_allowed() && v.verified_crawler.is_some(),
            "{v:?}"
        );
    }

    #[test]
    fn swapped_crawler_lists_take_effect() {
        let c = Classifier::embedded();
        let ip: IpAddr = "81.2.69.160".parse().unwrap();
        assert!(
            c.classify(ip, &ua(GOOGLEBOT))
                .has_reason("ua.spoofed_crawler")
        );
        let mut b = super::super::crawlers::CrawlersBuilder::embedded();
        b.list_json(
            "google-googlebot",
            r#"{"creationTime":"2026-12-01T00:00:00","prefixes":[{"ipv4Prefix":"81.2.69.0/24"}]}"#,
        )
        .unwrap();
        c.swap_crawlers(b.build());
        assert!(c.classify(ip, &ua(GOOGLEBOT)).verified_crawler.is_some());
        // The new list replaced the old one.
        let old = c.classify("66.249.66.1".parse().unwrap(), &ua(GOOGLEBOT));
        assert!(old.has_reason("ua.spoofed_crawler"));
    }

    #[cfg(feature = "crawler-dns")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dns_fallback_verifies_dns_only_crawlers_and_stale_lists() {
        use super::super::dns::{CrawlerResolver, DnsVerifier, ResolveFuture};
        use crate::core::verdict::CrawlerCheckMethod;
        use std::collections::HashMap;
        struct Fake(HashMap<IpAddr, String>, HashMap<String, IpAddr>);
        impl CrawlerResolver for Fake {
            fn reverse(&self, ip: IpAddr) -> ResolveFuture<Vec<String>> {
                let r = self
                    .0
                    .get(&ip)
                    .cloned()
                    .map(|n| vec![n])
                    .ok_or_else(|| std::io::Error::other("NXDOMAIN"));
                Box::pin(async move { r })
            }
            fn forward(&self, name: &str) -> ResolveFuture<Vec<IpAddr>> {
                let r = self
                    .1
                    .get(name)
                    .map(|a| vec![*a])
                    .ok_or_else(|| std::io::Error::other("NXDOMAIN"));
                Box::pin(async move { r })
            }
        }
        let yandex: IpAddr = "5.255.253.1".parse().unwrap();
        let new_google: IpAddr = "81.2.69.66".parse().unwrap();
        let forged: IpAddr = "3.5.140.2".parse().unwrap();
        let fake = Fake(
            [
                (yandex, "spider-5-255-253-1.yandex.com".to_owned()),
                (new_google, "crawl-81-2-69-66.googlebot.com".to_owned()),
                (forged, "crawl-3-5-140-2.googlebot.com".to_owned()),
            ]
            .into(),
            [
                ("spider-5-255-253-1.yandex.com".to_owned(), yandex),
                ("crawl-81-2-69-66.googlebot.com".to_owned(), new_google),
                // The forged PTR does not resolve back.
                (
                    "crawl-3-5-140-2.googlebot.com".to_owned(),
                    "66.249.66.1".parse().unwrap(),
                ),
            ]
            .into(),
        );
        let c = Classifier::builder()
            .crawler_dns(DnsVerifier::new(fake))
            .allow_verified_crawlers()
            .build();
        let yandex_ua = ua("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)");
        let first = c.classify(yandex, &yandex_ua);
        assert!(
            first.has_reason("ua.unverified_crawler") && !first.action.is_allowed(),
            "{first:?}"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let settle = |ip, h: &HeaderMap| loop {
            let v = c.classify(ip, h);
            if !v.has_reason("ua.unverified_crawler") || std::time::Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // Let the background lookups run.
        let _ = c.classify(new_google, &ua(GOOGLEBOT));
        let _ = c.classify(forged, &ua(GOOGLEBOT));
        tokio::task::yield_now().await;
        let v = tokio::task::block_in_place(|| settle(yandex, &yandex_ua));
        let vc = v.verified_crawler.clone().expect("verified by DNS");
        assert_eq!(
            (&*vc.operator, vc.method),
            ("Yandex", CrawlerCheckMethod::ReverseDns)
        );
        assert!(v.action.is_allowed());
        // A new Googlebot address the snapshot lacks: DNS vouches for it.
        let v = tokio::task::block_in_place(|| settle(new_google, &ua(GOOGLEBOT)));
        assert!(v.verified_crawler.is_some(), "{v:?}");
        // A PTR that does not resolve back: spoofed.
        let v = tokio::task::block_in_place(|| settle(forged, &ua(GOOGLEBOT)));
        assert!(
            v.has_reason("ua.spoofed_crawler") && !v.action.is_allowed(),
            "{v:?}"
        );
    }

    #[test]
    fn reload_thread_swaps_and_stops() {
        let c = Classifier::builder().table(PrefixTable::empty()).build();
        let handle = c.reload_every(Duration::from_millis(10), || {
            let mut b = TableBuilder::new();
            b.add_net(
                "192.0.2.0/24".parse().unwrap(),
                NetInfo::tagged(NetKind::VPN, "v"),
            )?;
            Ok(Some(b.build()))
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while c.generation() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(handle);
        assert!(c.generation() >= 1);
        assert!(c.table().lookup("192.0.2.1".parse().unwrap()).is_some());
    }
}
