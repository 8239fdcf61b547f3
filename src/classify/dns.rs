//! The optional reverse-and-forward DNS fallback for verified crawlers (feature
//! `crawler-dns`; off unless [`ClassifierBuilder::crawler_dns`] is called).
//!
//! Some operators publish only a DNS domain (YandexBot: `yandex.ru`, `yandex.net`,
//! `yandex.com`; Baiduspider, PetalBot, SeznamBot, Naver's Yeti, Amazonbot), and a
//! published list can lag behind a new range. With a [`DnsVerifier`] configured, a claim
//! that the ranges do not confirm is checked the way the operators document
//! (forward-confirmed reverse DNS): the address's PTR name must end in one of the
//! operator's domains, and that name must resolve back to the address.
//!
//! The request path never waits for DNS. A claim whose answer is not cached starts one
//! background lookup (on the current Tokio runtime; at most
//! [`DnsVerifier::max_in_flight`] at once) and is scored as `ua.unverified_crawler` (no
//! evidence either way, and not let through by `allow_verified_crawlers`); once the
//! answer is in, requests from that address are verified or `ua.spoofed_crawler`.
//! Answers are cached per (address, operator) for [`DnsVerifier::ttl`] (default 1 h),
//! in at most [`DnsVerifier::capacity`] entries (default 4 096; expired entries go
//! first, then half the map). Verdicts decided by DNS are not put in the verdict cache.
//! Call [`DnsVerifier::verify`] to await an answer yourself.
//!
//! [`SystemResolver`] asks the operating system (`getnameinfo` / `getaddrinfo` through
//! the `dns-lookup` crate, on Tokio's blocking pool); implement [`CrawlerResolver`] to
//! use another (hickory, a DNS-over-HTTPS client, a fake in tests).
//!
//! [`ClassifierBuilder::crawler_dns`]: super::ClassifierBuilder::crawler_dns

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::core::clock::{SharedClock, SystemClock};

/// A boxed future, as [`CrawlerResolver`] returns.
pub type ResolveFuture<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'static>>;

/// Reverse and forward DNS lookups.
pub trait CrawlerResolver: Send + Sync + 'static {
    /// The names of `ip` (its PTR records).
    fn reverse(&self, ip: IpAddr) -> ResolveFuture<Vec<String>>;
    /// The addresses of `name` (A and AAAA).
    fn forward(&self, name: &str) -> ResolveFuture<Vec<IpAddr>>;
}

/// The operating system's resolver (`getnameinfo` for PTR, `getaddrinfo` forward), run on
/// Tokio's blocking pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl CrawlerResolver for SystemResolver {
    fn reverse(&self, ip: IpAddr) -> ResolveFuture<Vec<String>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                dns_lookup::lookup_addr(&ip)
                    .map(|n| vec![n])
                    .map_err(io::Error::from)
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn forward(&self, name: &str) -> ResolveFuture<Vec<IpAddr>> {
        let name = name.to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                dns_lookup::lookup_host(&name)
                    .map(|a| a.take(64).collect())
                    .map_err(io::Error::from)
            })
            .await
            .map_err(io::Error::other)?
        })
    }
}

/// What the DNS fallback knows about an address for one operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// Forward-confirmed reverse DNS in the operator's domains.
    Confirmed,
    /// Looked up: no name in the operator's domains resolves back to the address.
    Failed,
    /// Not known yet (a lookup is running, or none could be started).
    Pending,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    Pending { since: Duration },
    Done { at: Duration, confirmed: bool },
}

type Key = (IpAddr, Arc<str>);

struct Inner {
    resolver: Arc<dyn CrawlerResolver>,
    cache: Mutex<HashMap<Key, Entry>>,
    in_flight: AtomicUsize,
    capacity: usize,
    ttl: Duration,
    timeout: Duration,
    max_in_flight: usize,
    clock: SharedClock,
}

/// Forward-confirmed reverse DNS with a bounded, expiring cache. See the
/// [module docs](self).
#[derive(Clone)]
pub struct DnsVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DnsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsVerifier")
            .field("cached", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("ttl", &self.inner.ttl)
            .finish()
    }
}

/// `true` when `name` is `domain` or inside it (`crawl-66-249-66-1.googlebot.com` is in
/// `googlebot.com`; `evilgooglebot.com` is not).
pub fn in_domain(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.');
    let domain = domain.trim_matches('.');
    if domain.is_empty() || name.len() < domain.len() {
        return false;
    }
    let cut = name.len() - domain.len();
    let (head, tail) = (name.get(..cut), name.get(cut..));
    tail.is_some_and(|t| t.eq_ignore_ascii_case(domain))
        && head.is_some_and(|h| h.is_empty() || h.ends_with('.'))
}

impl DnsVerifier {
    /// A verifier over `resolver` with the defaults: 1 h TTL, 4 096 entries, 5 s per
    /// lookup, 64 lookups at once.
    pub fn new(resolver: impl CrawlerResolver) -> Self {
        Self::from_parts(
            Arc::new(resolver),
            4096,
            Duration::from_secs(3600),
            Duration::from_secs(5),
            64,
            Arc::new(SystemClock),
        )
    }

    fn from_parts(
        resolver: Arc<dyn CrawlerResolver>,
        capacity: usize,
        ttl: Duration,
        timeout: Duration,
        max_in_flight: usize,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                resolver,
                cache: Mutex::new(HashMap::new()),
                in_flight: AtomicUsize::new(0),
                capacity: capacity.max(1),
                ttl,
                timeout,
                max_in_flight,
                clock,
            }),
        }
    }

    fn rebuild(self, f: impl FnOnce(&mut (usize, Duration, Duration, usize, SharedClock))) -> Self {
        let i = &self.inner;
        let mut p = (
            i.capacity,
            i.ttl,
            i.timeout,
            i.max_in_flight,
            i.clock.clone(),
        );
        f(&mut p);
        Self::from_parts(i.resolver.clone(), p.0, p.1, p.2, p.3, p.4)
    }

    /// How long an answer is kept (default 1 h).
    pub fn ttl(self, ttl: Duration) -> Self {
        self.rebuild(|p| p.1 = ttl)
    }

    /// The most answers kept (default 4 096).
    pub fn capacity(self, entries: usize) -> Self {
        self.rebuild(|p| p.0 = entries.max(1))
    }

    /// How long one check (reverse plus forward) may take (default 5 s); a timeout is a
    /// failed check.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.rebuild(|p| p.2 = timeout)
    }

    /// The most background checks at once (default 64); past it a claim stays pending
    /// and the next request tries again.
    pub fn max_in_flight(self, n: usize) -> Self {
        self.rebuild(|p| p.3 = n)
    }

    /// The clock the TTL is measured on.
    pub fn clock(self, clock: SharedClock) -> Self {
        self.rebuild(|p| p.4 = clock)
    }

    /// An answer past its TTL, or a pending check that outlived twice its timeout (its
    /// task died): asked again.
    fn stale(&self, e: &Entry, now: Duration) -> bool {
        match *e {
            Entry::Pending { since } => now.saturating_sub(since) > self.inner.timeout * 2,
            Entry::Done { at, .. } => now.saturating_sub(at) > self.inner.ttl,
        }
    }

    /// Answers cached (pending ones included).
    pub fn len(&self) -> usize {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `true` when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forward-confirmed reverse DNS of `ip` in `domains`, now (with the timeout), and
    /// caches the answer for `operator`.
    pub async fn verify(&self, ip: IpAddr, operator: &str, domains: &[Arc<str>]) -> bool {
        let confirmed = matches!(
            tokio::time::timeout(
                self.inner.timeout,
                fcrdns(&*self.inner.resolver, ip, domains)
            )
            .await,
            Ok(Ok(true))
        );
        self.store(
            (ip, operator.into()),
            Entry::Done {
                at: self.inner.clock.now(),
                confirmed,
            },
        );
        confirmed
    }

    fn store(&self, key: Key, entry: Entry) {
        let now = self.inner.clock.now();
        let mut map = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.inner.capacity && !map.contains_key(&key) {
            map.retain(|_, e| !self.stale(e, now));
            if map.len() >= self.inner.capacity {
                let drop: Vec<Key> = map.keys().take(map.len().div_ceil(2)).cloned().collect();
                for k in drop {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, entry);
    }

    /// The cached answer for `ip` and `operator`; when there is none (or it expired),
    /// starts a background check on the current Tokio runtime and answers
    /// [`DnsAnswer::Pending`].
    pub fn answer(&self, ip: IpAddr, operator: &str, domains: &[Arc<str>]) -> DnsAnswer {
        let now = self.inner.clock.now();
        let key: Key = (crate::core::ext::unmap(ip), operator.into());
        {
            let map = self
                .inner
                .cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match map.get(&key) {
                Some(e) if !self.stale(e, now) => {
                    return match e {
                        Entry::Done {
                            confirmed: true, ..
                        } => DnsAnswer::Confirmed,
                        Entry::Done { .. } => DnsAnswer::Failed,
                        Entry::Pending { .. } => DnsAnswer::Pending,
                    };
                }
                _ => {}
            }
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return DnsAnswer::Pending;
        };
        if self.inner.in_flight.fetch_add(1, Ordering::AcqRel) >= self.inner.max_in_flight {
            self.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            return DnsAnswer::Pending;
        }
        self.store(key.clone(), Entry::Pending { since: now });
        let me = self.clone();
        let domains: Vec<Arc<str>> = domains.to_vec();
        rt.spawn(async move {
            me.verify(key.0, &key.1, &domains).await;
            me.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
        });
        DnsAnswer::Pending
    }
}

/// Forward-confirmed reverse DNS: some PTR name of `ip` is in one of `domains` and
/// resolves back to `ip`.
pub async fn fcrdns(
    resolver: &dyn CrawlerResolver,
    ip: IpAddr,
    domains: &[Arc<str>],
) -> io::Result<bool> {
    let ip = crate::core::ext::unmap(ip);
    for name in resolver.reverse(ip).await?.into_iter().take(8) {
        if name.len() > 253 || !domains.iter().any(|d| in_domain(&name, d)) {
            continue;
        }
        let back = resolver.forward(name.trim_end_matches('.')).await?;
        if back.into_iter().any(|a| crate::core::ext::unmap(a) == ip) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::ManualClock;

    /// A resolver over fixed tables, counting its calls.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub ptr: HashMap<IpAddr, Vec<String>>,
        pub a: HashMap<String, Vec<IpAddr>>,
        pub calls: Arc<AtomicUsize>,
    }

    impl CrawlerResolver for Fake {
        fn reverse(&self, ip: IpAddr) -> ResolveFuture<Vec<String>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let r = self
                .ptr
                .get(&ip)
                .cloned()
                .ok_or_else(|| io::Error::other("NXDOMAIN"));
            Box::pin(async move { r })
        }
        fn forward(&self, name: &str) -> ResolveFuture<Vec<IpAddr>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let r = self
                .a
                .get(name)
                .cloned()
                .ok_or_else(|| io::Error::other("NXDOMAIN"));
            Box::pin(async move { r })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn domains_match_whole_labels() {
        assert!(in_domain(
            "crawl-66-249-66-1.googlebot.com",
            "googlebot.com"
        ));
        assert!(in_domain(
            "crawl-66-249-66-1.GOOGLEBOT.com.",
            "googlebot.com"
        ));
        assert!(in_domain("googlebot.com", "googlebot.com"));
        assert!(!in_domain("evilgooglebot.com", "googlebot.com"));
        assert!(!in_domain("googlebot.com.evil.net", "googlebot.com"));
        assert!(!in_domain("x.googlebot.com", ""));
    }

    #[tokio::test]
    async fn forward_confirmed_only() {
        let mut f = Fake::default();
        let domains: Vec<Arc<str>> = vec!["yandex.ru".into()];
        // Real: PTR in the domain, resolving back.
        f.ptr.insert(
            ip("5.255.253.1"),
            vec!["spider-5-255-253-1.yandex.ru.".into()],
        );
        f.a.insert(
            "spider-5-255-253-1.yandex.ru".into(),
            vec![ip("5.255.253.1")],
        );
        // Forged PTR: in the domain, but the name resolves elsewhere.
        f.ptr
            .insert(ip("3.5.140.2"), vec!["spider.yandex.ru".into()]);
        f.a.insert("spider.yandex.ru".into(), vec![ip("5.255.253.9")]);
        // Outside the domain.
        f.ptr
            .insert(ip("3.5.140.3"), vec!["yandex.ru.evil.example".into()]);
        assert!(fcrdns(&f, ip("5.255.253.1"), &domains).await.unwrap());
        assert!(!fcrdns(&f, ip("3.5.140.2"), &domains).await.unwrap());
        assert!(!fcrdns(&f, ip("3.5.140.3"), &domains).await.unwrap());
        assert!(fcrdns(&f, ip("192.0.2.1"), &domains).await.is_err());
    }

    #[tokio::test]
    async fn answers_are_cached_bounded_and_expire() {
        let mut f = Fake::default();
        f.ptr.insert(ip("5.255.253.1"), vec!["a.yandex.ru".into()]);
        f.a.insert("a.yandex.ru".into(), vec![ip("5.255.253.1")]);
        let calls = f.calls.clone();
        let clock = Arc::new(ManualClock::new(Duration::from_secs(1_000)));
        let v = DnsVerifier::new(f)
            .capacity(4)
            .ttl(Duration::from_secs(60))
            .clock(clock.clone());
        let d: Vec<Arc<str>> = vec!["yandex.ru".into()];
        assert_eq!(
            v.answer(ip("5.255.253.1"), "Yandex", &d),
            DnsAnswer::Pending
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while v.answer(ip("5.255.253.1"), "Yandex", &d) == DnsAnswer::Pending {
            assert!(std::time::Instant::now() < deadline);
            tokio::task::yield_now().await;
        }
        assert_eq!(
            v.answer(ip("5.255.253.1"), "Yandex", &d),
            DnsAnswer::Confirmed
        );
        let after_first = calls.load(Ordering::SeqCst);
        assert_eq!(after_first, 2, "one reverse, one forward");
        // Cached: no more lookups.
        assert_eq!(
            v.answer(ip("5.255.253.1"), "Yandex", &d),
            DnsAnswer::Confirmed
        );
        assert_eq!(calls.load(Ordering::SeqCst), after_first);
        // Failed answers are cached too.
        assert!(!v.verify(ip("3.5.140.2"), "Yandex", &d).await);
        assert_eq!(v.answer(ip("3.5.140.2"), "Yandex", &d), DnsAnswer::Failed);
        // Bounded.
        for i in 0..20u8 {
            v.verify(IpAddr::from([192, 0, 2, i]), "Yandex", &d).await;
            assert!(v.len() <= 4);
        }
        // Expired after the TTL: asked again.
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            v.answer(ip("5.255.253.1"), "Yandex", &d),
            DnsAnswer::Pending
        );
    }

    #[test]
    fn without_a_runtime_it_stays_pending() {
        let v = DnsVerifier::new(Fake::default());
        assert_eq!(
            v.answer(ip("192.0.2.1"), "X", &["x.example".into()]),
            DnsAnswer::Pending
        );
        assert!(v.is_empty());
    }
}
