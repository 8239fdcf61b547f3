//! The rate-limit response headers, rendered by pure functions.
//!
//! * IETF draft (`draft-ietf-httpapi-ratelimit-headers`, the two-field form of drafts
//!   08 and later), the default: one list member per policy, in policy order:
//!   ```text
//!   RateLimit-Policy: "burst";q=20;w=2, "hourly";q=1000;w=3600
//!   RateLimit: "burst";r=19;t=1, "hourly";r=999;t=4
//!   ```
//!   `q` is the burst (the most requests the policy admits at once) and `w` the
//!   seconds a full burst takes to refill (burst × period / count, rounded up; the
//!   quota's own period when burst and count are equal, the default). `r` is the
//!   requests left and `t` the seconds until the policy is back to a full burst,
//!   rounded up.
//! * Legacy (`X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`, as the
//!   602TechSec API sends them), by option: one policy only, the one with the fewest
//!   requests left (on a tie, the latest reset); `Reset` is a Unix time in seconds.
//! * On a 429, always `Retry-After` in whole seconds: the longest wait among the
//!   denying policies, rounded up, at least 1. The denying policies report `r=0` and
//!   `t` equal to `Retry-After`, and the legacy `X-RateLimit-Reset` is now plus
//!   `Retry-After`, so no header ever tells a client it may come back before the
//!   request would actually be admitted.

use http::{HeaderName, HeaderValue};
use smallvec::SmallVec;

use super::key::{Applied, PRINCIPAL_NAMES, StackStr, push_u64};
use crate::core::quota::{GcraOutcome, Quota};
use crate::core::store::{MAX_POLICIES, RateOutcome};

/// `RateLimit-Policy` (IETF draft).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (IETF draft).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `X-RateLimit-Limit` (legacy).
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining` (legacy).
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset` (legacy, Unix seconds).
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

const NS: u64 = 1_000_000_000;

/// Which rate-limit headers responses carry.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeaderMode {
    /// `RateLimit-Policy` and `RateLimit` (IETF draft). The default.
    #[default]
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds).
    Legacy,
    /// Both sets.
    Both,
    /// None (a 429 still carries `Retry-After`).
    Off,
}

impl HeaderMode {
    fn ietf(self) -> bool {
        matches!(self, Self::Ietf | Self::Both)
    }

    fn legacy(self) -> bool {
        matches!(self, Self::Legacy | Self::Both)
    }
}

/// Seconds rounded up.
pub fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(NS)
}

/// The `w` of a quota: seconds a full burst takes to refill, rounded up, at least 1.
pub fn window_secs(quota: Quota) -> u64 {
    let g = quota.gcra();
    ceil_secs(g.emission_ns.saturating_mul(u64::from(g.burst))).max(1)
}

/// A `RateLimit-Policy` value for `(name, quota)` pairs.
///
/// ```
/// use tower_shield::core::Quota;
/// use tower_shield::ratelimit::headers::policy_field;
/// let v = policy_field([("burst", Quota::per_second(10).burst(20)), ("hourly", Quota::per_hour(1000))]);
/// assert_eq!(v, r#""burst";q=20;w=2, "hourly";q=1000;w=3600"#);
/// ```
pub fn policy_field<'a>(policies: impl IntoIterator<Item = (&'a str, Quota)>) -> String {
    let mut s = StackStr::new();
    write_policy(&mut s, policies);
    s.as_str().to_owned()
}

/// Writes a `RateLimit-Policy` value, with no `fmt` and no allocation up to 128 bytes.
pub(crate) fn write_policy<'a>(
    s: &mut StackStr,
    policies: impl IntoIterator<Item = (&'a str, Quota)>,
) {
    for (i, (name, q)) in policies.into_iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_ascii(b'"');
        s.push_str(name);
        s.push_str("\";q=");
        push_u64(s, u64::from(q.burst_size()));
        s.push_str(";w=");
        push_u64(s, window_secs(q));
    }
}

/// Bytes of the per-thread buffer header values are cut from. Under 1 KiB: glibc's
/// malloc serves that from its small bins, while a larger request first consolidates its
/// fast bins (measured: ~90k instructions per 4 KiB buffer under callgrind).
const SLAB_BYTES: usize = 960;

/// The header value of rendered text, cut from a per-thread buffer of [`SLAB_BYTES`]: one
/// allocation for some thirty values instead of one per value (a value is ~30 bytes).
/// Each value holds a reference to its buffer, so a buffer is freed when the last value
/// cut from it is dropped: at most [`SLAB_BYTES`] stay alive per value kept.
fn value(s: &StackStr) -> Option<HeaderValue> {
    use bytes::BytesMut;
    use std::cell::RefCell;
    thread_local! {
        static SLAB: RefCell<BytesMut> = RefCell::new(BytesMut::new());
    }
    let bytes = s.as_bytes();
    if bytes.len() > SLAB_BYTES / 4 {
        return HeaderValue::from_bytes(bytes).ok();
    }
    SLAB.try_with(|slab| {
        let mut slab = slab.try_borrow_mut().ok()?;
        if slab.capacity() - slab.len() < bytes.len() {
            *slab = BytesMut::with_capacity(SLAB_BYTES);
        }
        slab.extend_from_slice(bytes);
        HeaderValue::from_maybe_shared(slab.split().freeze()).ok()
    })
    .ok()
    .flatten()
    .or_else(|| HeaderValue::from_bytes(bytes).ok())
}

/// A decimal header value.
fn number(n: u64) -> Option<HeaderValue> {
    let mut s = StackStr::new();
    push_u64(&mut s, n);
    value(&s)
}

/// What one policy reports on one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    /// The policy name.
    pub name: &'a str,
    /// Its quota.
    pub quota: Quota,
    /// Requests left.
    pub remaining: u32,
    /// Seconds until a full burst again (for a denying policy: until the request fits).
    pub reset_secs: u64,
    /// Whether this policy denied the request.
    pub denied: bool,
}

/// A `RateLimit` value.
///
/// ```
/// use tower_shield::core::Quota;
/// use tower_shield::ratelimit::headers::{Report, ratelimit_field};
/// let r = Report { name: "default", quota: Quota::per_minute(60), remaining: 59, reset_secs: 1, denied: false };
/// assert_eq!(ratelimit_field(&[r]), r#""default";r=59;t=1"#);
/// ```
pub fn ratelimit_field(reports: &[Report<'_>]) -> String {
    let mut s = StackStr::new();
    write_ratelimit(&mut s, reports);
    s.as_str().to_owned()
}

/// Writes a `RateLimit` value, with no `fmt` and no allocation up to 128 bytes.
fn write_ratelimit(s: &mut StackStr, reports: &[Report<'_>]) {
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_ascii(b'"');
        s.push_str(r.name);
        s.push_str("\";r=");
        push_u64(s, u64::from(r.remaining));
        s.push_str(";t=");
        push_u64(s, r.reset_secs);
    }
}

/// The wait before a denied request fits, in whole seconds (rounded up, at least 1).
/// A request that never fits (a quota that admits nothing) waits the quota's period.
pub fn retry_secs(o: &GcraOutcome, quota: Quota) -> u64 {
    let ns = if o.retry_after_ns == u64::MAX {
        u64::try_from(quota.period().as_nanos()).unwrap_or(u64::MAX)
    } else {
        o.retry_after_ns
    };
    ceil_secs(ns).max(1)
}

/// The per-policy reports for an outcome. `committed` says whether the allowed
/// outcomes were written to the store; when not (a denial by another policy, a peek,
/// an uncounted response), they are reported without this request's cost.
pub(crate) fn reports<'a>(
    applied: impl Iterator<Item = Applied<'a>>,
    outcome: &RateOutcome,
    committed: bool,
) -> SmallVec<[Report<'a>; 2]> {
    // Pushed one by one: `collect` into a `SmallVec` costs more than the reports.
    let mut out = SmallVec::new();
    for (a, o) in applied.zip(outcome.results.iter()) {
        out.push(report(a, o, committed));
    }
    out
}

/// One policy's report (see [`reports`]).
fn report<'a>(a: Applied<'a>, o: &GcraOutcome, committed: bool) -> Report<'a> {
    if !o.allowed {
        return Report {
            name: a.name,
            quota: a.quota,
            remaining: 0,
            reset_secs: retry_secs(o, a.quota),
            denied: true,
        };
    }
    let (remaining, reset_ns) = if committed {
        (o.remaining, o.reset_after_ns)
    } else {
        let g = a.quota.gcra();
        (
            o.remaining.saturating_add(a.cost).min(g.burst),
            o.reset_after_ns
                .saturating_sub(g.emission_ns.saturating_mul(u64::from(a.cost))),
        )
    };
    Report {
        name: a.name,
        quota: a.quota,
        remaining,
        reset_secs: ceil_secs(reset_ns),
        denied: false,
    }
}

/// `Retry-After` seconds for a denial: the longest wait among the denying policies.
pub fn retry_after(reports: &[Report<'_>]) -> Option<u64> {
    reports
        .iter()
        .filter(|r| r.denied)
        .map(|r| r.reset_secs)
        .max()
}

/// Headers to add to a response, in order.
pub type Headers = SmallVec<[(HeaderName, HeaderValue); 3]>;

/// Renders the headers `mode` asks for. `policy` is the precomputed
/// `RateLimit-Policy` value when the policy set is the configured one.
pub fn render(
    mode: HeaderMode,
    policy: Option<&HeaderValue>,
    reports: &[Report<'_>],
    now_ns: u64,
) -> Headers {
    render_with(mode, policy.cloned(), reports, now_ns)
}

/// Entries of the per-thread cache of principal `RateLimit-Policy` values.
const PRINCIPAL_POLICY_CACHE: usize = 8;

type PrincipalPolicies = SmallVec<[(SmallVec<[Quota; 2]>, HeaderValue); PRINCIPAL_POLICY_CACHE]>;

/// The `RateLimit-Policy` value of a principal's own quotas (reported as `principal`,
/// `principal-2`, ...). Principals share a few plans, so the values are kept in a small
/// per-thread cache (at most 8 quota sets per thread, the oldest replaced first; no
/// lock, and one value is never shared between threads).
pub(crate) fn principal_policy(quotas: &[Quota]) -> Option<HeaderValue> {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(PrincipalPolicies, usize)> = RefCell::new((SmallVec::new(), 0));
    }
    let quotas = quotas
        .get(..quotas.len().min(MAX_POLICIES))
        .unwrap_or_default();
    let render = || {
        let mut s = StackStr::new();
        write_policy(
            &mut s,
            quotas
                .iter()
                .zip(PRINCIPAL_NAMES)
                .map(|(q, name)| (name, *q)),
        );
        value(&s)
    };
    CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let (entries, next) = &mut *cache;
            if let Some((_, v)) = entries.iter().find(|(q, _)| q.as_slice() == quotas) {
                return Some(v.clone());
            }
            let v = render()?;
            let entry = (SmallVec::from_slice(quotas), v.clone());
            if entries.len() < PRINCIPAL_POLICY_CACHE {
                entries.push(entry);
            } else if let Some(slot) = entries.get_mut(*next) {
                *slot = entry;
                *next = (*next + 1) % PRINCIPAL_POLICY_CACHE;
            }
            Some(v)
        })
        .ok()
        .flatten()
        .or_else(render)
}

/// [`render`] with an owned policy value.
pub(crate) fn render_with(
    mode: HeaderMode,
    policy: Option<HeaderValue>,
    reports: &[Report<'_>],
    now_ns: u64,
) -> Headers {
    pending(mode, policy, reports, now_ns).into_headers()
}

/// The rate-limit headers of one response, kept compact: they wait in every response
/// future, and a smaller future is cheaper to move. The legacy numbers are rendered when
/// added.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    policy: Option<HeaderValue>,
    ratelimit: Option<HeaderValue>,
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (Unix seconds).
    legacy: Option<(u32, u32, u64)>,
}

impl Pending {
    /// The headers, in the order [`render`] documents.
    pub(crate) fn into_headers(self) -> Headers {
        let mut h = Headers::new();
        if let Some(p) = self.policy {
            h.push((RATELIMIT_POLICY, p));
        }
        if let Some(v) = self.ratelimit {
            h.push((RATELIMIT, v));
        }
        if let Some((limit, remaining, reset)) = self.legacy {
            // `HeaderValue::from(u32)` allocates twice (a `BytesMut` frozen with spare
            // capacity); a rendered number once.
            for (name, n) in [
                (X_RATELIMIT_LIMIT, u64::from(limit)),
                (X_RATELIMIT_REMAINING, u64::from(remaining)),
                (X_RATELIMIT_RESET, reset),
            ] {
                if let Some(v) = number(n) {
                    h.push((name, v));
                }
            }
        }
        h
    }

    /// Adds the headers to a response: the IETF fields are lists, so an inner limiter's
    /// members are kept; a legacy field an inner limiter already set is left alone.
    pub(crate) fn add_to(self, map: &mut http::HeaderMap) {
        if let Some(p) = self.policy {
            map.append(RATELIMIT_POLICY, p);
        }
        if let Some(v) = self.ratelimit {
            map.append(RATELIMIT, v);
        }
        if let Some((limit, remaining, reset)) = self.legacy {
            for (name, n) in [
                (X_RATELIMIT_LIMIT, u64::from(limit)),
                (X_RATELIMIT_REMAINING, u64::from(remaining)),
                (X_RATELIMIT_RESET, reset),
            ] {
                if let http::header::Entry::Vacant(e) = map.entry(name)
                    && let Some(v) = number(n)
                {
                    e.insert(v);
                }
            }
        }
    }
}

/// The headers `mode` asks for, not yet in a map.
pub(crate) fn pending(
    mode: HeaderMode,
    policy: Option<HeaderValue>,
    reports: &[Report<'_>],
    now_ns: u64,
) -> Pending {
    let mut h = Pending::default();
    if reports.is_empty() {
        return h;
    }
    if mode.ietf() {
        h.policy = match policy {
            Some(v) => Some(v),
            None => {
                let mut s = StackStr::new();
                write_policy(&mut s, reports.iter().map(|r| (r.name, r.quota)));
                value(&s)
            }
        };
        let mut s = StackStr::new();
        write_ratelimit(&mut s, reports);
        h.ratelimit = value(&s);
    }
    if mode.legacy() {
        let tightest = reports.iter().min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then(b.reset_secs.cmp(&a.reset_secs))
        });
        if let Some(r) = tightest {
            let reset = ceil_secs(now_ns).saturating_add(r.reset_secs);
            h.legacy = Some((r.quota.burst_size(), r.remaining, reset));
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::quota::gcra;
    use smallvec::smallvec;

    #[test]
    fn values_cut_from_the_per_thread_buffer_are_the_rendered_bytes() {
        // Across many buffers (a buffer holds ~1 KiB of values), each value is its own
        // text and stays valid after the buffer it came from is replaced.
        let kept: Vec<(String, HeaderValue)> = (0..2000u64)
            .map(|i| {
                let r = Report {
                    name: "default",
                    quota: Quota::per_minute(60),
                    remaining: (i * 7919 % 100_000) as u32,
                    reset_secs: i,
                    denied: false,
                };
                let mut s = StackStr::new();
                write_ratelimit(&mut s, &[r]);
                (s.as_str().to_owned(), value(&s).unwrap())
            })
            .collect();
        for (text, v) in &kept {
            assert_eq!(v.as_bytes(), text.as_bytes());
        }
        // Longer than a quarter buffer: its own allocation, same bytes.
        let mut s = StackStr::new();
        let long = "p".repeat(300);
        s.push_str(&long);
        assert_eq!(value(&s).unwrap().as_bytes(), long.as_bytes());
    }

    const S: u64 = NS;

    fn applied(name: &str, quota: Quota) -> Applied<'_> {
        Applied {
            name,
            quota,
            cost: 1,
        }
    }

    #[test]
    fn windows_and_rounding() {
        assert_eq!(window_secs(Quota::per_hour(1000)), 3600);
        assert_eq!(window_secs(Quota::per_second(10).burst(20)), 2);
        assert_eq!(window_secs(Quota::per_second(100).burst(1)), 1);
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(S), 1);
        assert_eq!(ceil_secs(S + 1), 2);
    }

    #[test]
    fn denial_reports_retry_for_the_denier_and_uncharged_counts_for_the_rest() {
        let loose = Quota::per_second(100);
        let tight = Quota::per_minute(2);
        let now = 1_000 * S;
        // `tight` is spent: TAT one minute ahead.
        let tat = now + 60 * S;
        let out = RateOutcome {
            now_ns: now,
            results: smallvec![
                gcra(0, now, loose.gcra(), 1),
                gcra(tat, now, tight.gcra(), 1)
            ],
            coarsened: false,
        };
        assert!(!out.allowed());
        let r = reports(
            [applied("loose", loose), applied("tight", tight)].into_iter(),
            &out,
            false,
        );
        assert_eq!(r[0].remaining, 100, "nothing was charged");
        assert_eq!(r[0].reset_secs, 0);
        assert!(r[1].denied && r[1].remaining == 0 && r[1].reset_secs == 30);
        assert_eq!(retry_after(&r), Some(30));
        let h = render(HeaderMode::Both, None, &r, now + 1);
        let get = |n: &HeaderName| {
            h.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            get(&RATELIMIT_POLICY).unwrap(),
            r#""loose";q=100;w=1, "tight";q=2;w=60"#
        );
        assert_eq!(
            get(&RATELIMIT).unwrap(),
            r#""loose";r=100;t=0, "tight";r=0;t=30"#
        );
        assert_eq!(get(&X_RATELIMIT_LIMIT).unwrap(), "2");
        assert_eq!(get(&X_RATELIMIT_REMAINING).unwrap(), "0");
        assert_eq!(get(&X_RATELIMIT_RESET).unwrap(), "1031");
    }

    #[test]
    fn sub_second_waits_are_one_second_and_never_zero() {
        let q = Quota::per_second(10);
        let now = 5 * S;
        let mut tat = 0;
        for _ in 0..10 {
            tat = gcra(tat, now, q.gcra(), 1).new_tat;
        }
        let o = gcra(tat, now, q.gcra(), 1);
        assert!(!o.allowed && o.retry_after_ns == 100_000_000);
        assert_eq!(retry_secs(&o, q), 1);
        let never = gcra(0, now, Quota::per_hour(1).burst(0).gcra(), 1);
        assert_eq!(retry_secs(&never, Quota::per_hour(1)), 3600);
    }

    #[test]
    fn principal_policy_values_match_the_rendered_field_and_the_cache_is_bounded() {
        for round in 0..2 {
            for n in 1..=20u32 {
                let q = [Quota::per_hour(n), Quota::per_day(10 * n)];
                let v = principal_policy(&q).unwrap();
                let expect = policy_field([("principal", q[0]), ("principal-2", q[1])]);
                assert_eq!(v.to_str().unwrap(), expect, "round {round}, n {n}");
            }
        }
        let nine: Vec<Quota> = (1..=9).map(Quota::per_minute).collect();
        let v = principal_policy(&nine).unwrap();
        assert_eq!(v.to_str().unwrap().matches("principal").count(), 8);
    }

    #[test]
    fn off_renders_nothing() {
        let out = RateOutcome {
            now_ns: 0,
            results: smallvec![gcra(0, S, Quota::per_second(1).gcra(), 1)],
            coarsened: false,
        };
        let r = reports([applied("d", Quota::per_second(1))].into_iter(), &out, true);
        assert!(render(HeaderMode::Off, None, &r, S).is_empty());
        assert_eq!(render(HeaderMode::Ietf, None, &r, S).len(), 2);
        assert_eq!(render(HeaderMode::Legacy, None, &r, S).len(), 3);
    }
}
