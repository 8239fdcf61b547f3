//! What the layers count and log: one place, small functions, one line at each call site.
//!
//! # Metrics
//!
//! With the `metrics` cargo feature, every function here records through the
//! [`metrics`](https://docs.rs/metrics) facade. Install any recorder (e.g.
//! `metrics-exporter-prometheus`) to collect them; with no recorder installed each call
//! is one relaxed atomic load and nothing else. Without the feature they compile to
//! nothing. Names follow Prometheus conventions:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `tower_shield_decisions_total` | counter | `layer`, `outcome` (`allowed`/`refused`), `code` (empty when allowed) |
//! | `tower_shield_store_calls_total` | counter | `store`, `result` (`ok`/`error`/`timeout`) |
//! | `tower_shield_store_call_duration_seconds` | histogram | `store` |
//! | `tower_shield_store_breaker_open` | gauge (0/1) | `store` |
//! | `tower_shield_rate_coarsened_total` | counter | `level` (`1`/`2`/`3`): a new client counted under a coarser network because the memory store was under pressure (`ratelimit::Coarsened`) |
//! | `tower_shield_tracked_keys` | gauge | `store` (`memory_rate`/`memory_once`), set by each `sweep()` call |
//! | `tower_shield_classify_data_timestamp_seconds` | gauge | (none): when the live data was last swapped in (`Classifier::swap_table`, `reload_every`), Unix seconds |
//! | `tower_shield_classify_data_age_seconds` | gauge | (none): its age, refreshed at most once a second while classifying |
//! | `tower_shield_pow_tokens_total` | counter | `event` (`issued`/`redeemed`/`rejected`) |
//!
//! # Refusal log
//!
//! Every refusal emits exactly one `tracing` event (target `tower_shield::refusal`,
//! level INFO) with `layer`, `code`, `status` and `client` (the client address, or its
//! keyed hash after [`set_hash_client_addresses`]`(true)`). Under a flood, at most
//! [`set_refusal_log_limit`] events (default 20) are written per refusal code per
//! second; the rest are counted, and the first refusal of the next second writes one
//! WARN summary per suppressed code: `"N refusals of code X in the last second"`. The
//! limiter's memory is one counter per [`RejectionKind`] (fixed, no allocation).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::core::reject::{Rejection, RejectionKind};

/// The layer that decided.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// `ClientIpLayer`.
    ClientIp,
    /// `SignatureLayer`.
    Signature,
    /// `ApiKeyLayer`.
    ApiKey,
    /// `JwtLayer`.
    Jwt,
    /// `ClassifyLayer`.
    Classify,
    /// `RateLimitLayer`.
    RateLimit,
    /// `PowLayer` and the proof-of-work API.
    Pow,
}

impl Layer {
    /// The `layer` label, e.g. `"ratelimit"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::ClientIp => "client_ip",
            Layer::Signature => "signature",
            Layer::ApiKey => "apikey",
            Layer::Jwt => "jwt",
            Layer::Classify => "classify",
            Layer::RateLimit => "ratelimit",
            Layer::Pow => "pow",
        }
    }
}

/// What happened to a proof-of-work token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowEvent {
    /// A challenge or token was issued.
    Issued,
    /// A token was redeemed (accepted once).
    Redeemed,
    /// A solution or token was refused.
    Rejected,
}

/// A layer let a request through.
#[inline]
pub fn allowed(layer: Layer) {
    // One call site per layer, every label a literal: the macro then keeps the key in a
    // `static`. With the label value an expression it builds the key's label `Vec` on
    // every call, one heap allocation per layer per request, recorder or not.
    #[cfg(feature = "metrics")]
    macro_rules! allowed_in {
        ($name:tt) => {
            ::metrics::counter!("tower_shield_decisions_total", "layer" => $name, "outcome" => "allowed", "code" => "")
                .increment(1)
        };
    }
    #[cfg(feature = "metrics")]
    match layer {
        Layer::ClientIp => allowed_in!("client_ip"),
        Layer::Signature => allowed_in!("signature"),
        Layer::ApiKey => allowed_in!("apikey"),
        Layer::Jwt => allowed_in!("jwt"),
        Layer::Classify => allowed_in!("classify"),
        Layer::RateLimit => allowed_in!("ratelimit"),
        Layer::Pow => allowed_in!("pow"),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = layer;
}

/// A layer refused a request: counts it and writes the one refusal event (rate limited).
pub fn refused(layer: Layer, rejection: &Rejection, client: Option<IpAddr>) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("tower_shield_decisions_total", "layer" => layer.as_str(), "outcome" => "refused", "code" => rejection.code())
        .increment(1);
    log_refusal(layer, rejection, client, now_secs());
}

/// A store call finished after `elapsed`; `result` is `"ok"`, `"error"` or `"timeout"`.
#[inline]
pub fn store_call(store: &'static str, elapsed: Duration, result: &'static str) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::counter!("tower_shield_store_calls_total", "store" => store, "result" => result)
            .increment(1);
        ::metrics::histogram!("tower_shield_store_call_duration_seconds", "store" => store)
            .record(elapsed.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (store, elapsed, result);
}

/// A store's circuit breaker opened (`true`) or closed.
#[inline]
pub fn breaker(store: &'static str, open: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_shield_store_breaker_open", "store" => store)
        .set(f64::from(u8::from(open)));
    #[cfg(not(feature = "metrics"))]
    let _ = (store, open);
}

/// The rate limiter counted a new client under a network `level` steps coarser than its
/// own rate key (the memory store was under pressure).
#[inline]
pub fn coarsened(level: u8) {
    // Literal labels, one call site each (see `allowed`).
    #[cfg(feature = "metrics")]
    match level {
        0 | 1 => {
            ::metrics::counter!("tower_shield_rate_coarsened_total", "level" => "1").increment(1)
        }
        2 => ::metrics::counter!("tower_shield_rate_coarsened_total", "level" => "2").increment(1),
        _ => ::metrics::counter!("tower_shield_rate_coarsened_total", "level" => "3").increment(1),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = level;
}

/// A store now tracks `n` keys.
#[inline]
pub fn tracked_keys(store: &'static str, n: usize) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_shield_tracked_keys", "store" => store).set(n as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = (store, n);
}

static DATA_BUILT: AtomicU64 = AtomicU64::new(0);
static DATA_AGE_AT: AtomicU64 = AtomicU64::new(0);

/// The classifier now serves data swapped in at `built` (since the Unix epoch).
pub fn classify_data(built: Duration) {
    DATA_BUILT.store(built.as_secs(), Ordering::Relaxed);
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("tower_shield_classify_data_timestamp_seconds").set(built.as_secs() as f64);
    DATA_AGE_AT.store(0, Ordering::Relaxed);
    classify_data_age();
}

/// Refreshes `tower_shield_classify_data_age_seconds`, at most once a second.
#[inline]
pub fn classify_data_age() {
    let now = now_secs();
    let last = DATA_AGE_AT.load(Ordering::Relaxed);
    if last == now
        || DATA_AGE_AT
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let built = DATA_BUILT.load(Ordering::Relaxed);
    #[cfg(feature = "metrics")]
    if built != 0 {
        ::metrics::gauge!("tower_shield_classify_data_age_seconds")
            .set(now.saturating_sub(built) as f64);
    }
    let _ = built;
}

/// A proof-of-work event.
#[inline]
pub fn pow(event: PowEvent) {
    #[cfg(feature = "metrics")]
    {
        let e = match event {
            PowEvent::Issued => "issued",
            PowEvent::Redeemed => "redeemed",
            PowEvent::Rejected => "rejected",
        };
        ::metrics::counter!("tower_shield_pow_tokens_total", "event" => e).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = event;
}

// ---- the refusal log and its flood limiter ----

const KINDS: usize = RejectionKind::ALL.len();
static LIMIT: AtomicU32 = AtomicU32::new(20);
static HASH_ADDRESSES: AtomicBool = AtomicBool::new(false);
static WINDOW: AtomicU64 = AtomicU64::new(0);
static COUNTS: [AtomicU32; KINDS] = [const { AtomicU32::new(0) }; KINDS];

/// At most `per_second` refusal events per code per second are written (default 20;
/// `0` writes only the summaries). Process-wide.
pub fn set_refusal_log_limit(per_second: u32) {
    LIMIT.store(per_second, Ordering::Relaxed);
}

/// Writes a keyed hash of the client address (SipHash under a per-process random key,
/// 16 hex digits: stable within a process, not reversible without the key) instead of
/// the address itself. Process-wide; off by default.
pub fn set_hash_client_addresses(on: bool) {
    HASH_ADDRESSES.store(on, Ordering::Relaxed);
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn index(kind: RejectionKind) -> usize {
    RejectionKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0)
}

/// The client of a request, from its extensions: its `ClientIp`, else its socket peer.
pub fn client_of(ext: &http::Extensions) -> Option<IpAddr> {
    crate::core::ext::client_ip(ext)
        .map(|c| c.ip)
        .or_else(|| crate::core::ext::peer_addr(ext).map(|p| p.ip()))
}

/// The client as logged: the address, its keyed hash, or `-`.
pub fn client_label(client: Option<IpAddr>) -> String {
    label(client, HASH_ADDRESSES.load(Ordering::Relaxed))
}

fn label(client: Option<IpAddr>, hash: bool) -> String {
    match client {
        None => "-".to_owned(),
        Some(ip) if hash => {
            use std::hash::BuildHasher;
            static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
                std::sync::OnceLock::new();
            format!("h:{:016x}", KEY.get_or_init(Default::default).hash_one(ip))
        }
        Some(ip) => ip.to_string(),
    }
}

fn log_refusal(layer: Layer, rejection: &Rejection, client: Option<IpAddr>, now: u64) {
    let window = WINDOW.load(Ordering::Relaxed);
    if window != now
        && WINDOW
            .compare_exchange(window, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        // This refusal opened a new second: summarise the one before.
        let limit = LIMIT.load(Ordering::Relaxed);
        for (i, count) in COUNTS.iter().enumerate() {
            let n = count.swap(0, Ordering::Relaxed);
            if n > limit {
                let code = RejectionKind::ALL.get(i).map_or("", |k| k.code());
                let when = if now == window + 1 {
                    "the last second"
                } else {
                    "an earlier second"
                };
                tracing::warn!(
                    target: "tower_shield::refusal",
                    code,
                    refusals = n,
                    suppressed = n - limit,
                    "{n} refusals of code {code} in {when}"
                );
            }
        }
    }
    let Some(count) = COUNTS.get(index(rejection.kind())) else {
        return;
    };
    let seen = count.fetch_add(1, Ordering::Relaxed);
    if seen >= LIMIT.load(Ordering::Relaxed) {
        return;
    }
    let status = rejection.status().as_u16();
    let client = client_label(client);
    // Server-side refusals (a store down, a misconfiguration) are WARN; the rest INFO.
    if status >= 500 {
        tracing::warn!(target: "tower_shield::refusal", layer = layer.as_str(), code = rejection.code(), status, client, "refused: {}", rejection.message());
    } else {
        tracing::info!(target: "tower_shield::refusal", layer = layer.as_str(), code = rejection.code(), status, client, "refused: {}", rejection.message());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects formatted events.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<String>>>);

    struct Visitor<'a>(&'a mut String);
    impl tracing::field::Visit for Visitor<'_> {
        fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={:?} ", f.name(), v));
        }
        // Strings as a log line shows them (`tracing-subscriber`'s fmt writes them bare).
        fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
            self.0.push_str(&format!("{}={} ", f.name(), v));
        }
    }

    impl tracing::Subscriber for Lines {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, e: &tracing::Event<'_>) {
            let mut s = format!("{} ", e.metadata().level());
            e.record(&mut Visitor(&mut s));
            self.0.lock().unwrap().push(s);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn one_event_per_refusal_then_a_summary_per_code_and_second() {
        let lines = Lines::default();
        let r = Rejection::new(RejectionKind::TokenUsed, "used");
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        tracing::subscriber::with_default(lines.clone(), || {
            // Far from real time so other tests' refusals use other windows.
            let t = 1_000_000;
            for _ in 0..3 {
                log_refusal(Layer::Pow, &r, Some(ip), t);
            }
            let got = lines.0.lock().unwrap().clone();
            assert_eq!(got.len(), 3, "{got:?}");
            assert!(
                got[0].contains("code=TOKEN_USED") && got[0].contains("client=203.0.113.9"),
                "{got:?}"
            );
            for _ in 0..97 {
                log_refusal(Layer::Pow, &r, Some(ip), t);
            }
            let limit = LIMIT.load(Ordering::Relaxed) as usize;
            assert_eq!(lines.0.lock().unwrap().len(), limit);
            log_refusal(Layer::Pow, &r, Some(ip), t + 1);
            let got = lines.0.lock().unwrap().clone();
            assert_eq!(
                got.len(),
                limit + 2,
                "summary + the new second's first line"
            );
            let summary = &got[limit];
            assert!(summary.starts_with("WARN"), "{summary}");
            assert!(
                summary.contains("100 refusals of code TOKEN_USED in the last second"),
                "{summary}"
            );
        });
    }

    #[test]
    fn hashed_addresses_are_stable_and_hide_the_address() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(label(Some(ip), false), "198.51.100.7");
        let a = label(Some(ip), true);
        assert_eq!(a, label(Some(ip), true));
        assert_ne!(a, label(Some("198.51.100.8".parse().unwrap()), true));
        assert!(a.starts_with("h:") && a.len() == 18 && !a.contains("198"));
        assert_eq!(label(None, true), "-");
    }
}
