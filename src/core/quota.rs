//! Quotas and the generic cell rate algorithm (GCRA) they run on.
//!
//! A [`Quota`] says *n requests per period*, never the other way round:
//! `Quota::per_hour(1000)` admits 1000 requests an hour, `Quota::per_second(20)`
//! twenty a second. The burst (how many may arrive at once) defaults to the count
//! and is set with [`Quota::burst`].
//!
//! GCRA keeps one number per key, the *theoretical arrival time* (TAT) in integer
//! nanoseconds. [`gcra`] is the pure decision every store runs (the memory store
//! in Rust, the Redis store as the same arithmetic in Lua).

use std::fmt;
use std::time::Duration;

/// A rate: `count` requests per `period`, at most `burst` at once.
///
/// ```
/// use std::time::Duration;
/// use tower_shield::core::quota::Quota;
///
/// let q = Quota::per_second(20).burst(40);
/// assert_eq!(q.count(), 20);
/// assert_eq!(q.burst_size(), 40);
/// assert_eq!(q.emission_interval(), Duration::from_millis(50));
/// assert_eq!(Quota::per_hour(1000).emission_interval(), Duration::from_millis(3600));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    count: u32,
    period_ns: u64,
    burst: u32,
}

impl Quota {
    /// `count` requests per `period`. A zero count or period admits nothing.
    pub fn new(count: u32, period: Duration) -> Self {
        Self {
            count,
            period_ns: u64::try_from(period.as_nanos()).unwrap_or(u64::MAX),
            burst: count,
        }
    }

    /// `count` requests per second.
    pub fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    pub fn per_hour(count: u32) -> Self {
        Self::new(count, Duration::from_secs(3600))
    }

    /// `count` requests per day.
    pub fn per_day(count: u32) -> Self {
        Self::new(count, Duration::from_secs(86_400))
    }

    /// Sets how many requests may arrive at once (default: the count). Zero admits nothing.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Requests per period.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The period.
    pub fn period(&self) -> Duration {
        Duration::from_nanos(self.period_ns)
    }

    /// The burst size.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// The steady-state gap between two requests (`period / count`).
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.gcra().emission_ns)
    }

    /// The GCRA parameters.
    pub fn gcra(&self) -> Gcra {
        let emission_ns = if self.count == 0 || self.period_ns == 0 {
            0
        } else {
            (self.period_ns / u64::from(self.count)).max(1)
        };
        Gcra {
            emission_ns,
            burst: if emission_ns == 0 { 0 } else { self.burst },
        }
    }
}

impl fmt::Debug for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Quota({} per {:?}, burst {})",
            self.count,
            self.period(),
            self.burst
        )
    }
}

/// GCRA parameters in integer nanoseconds. `burst == 0` admits nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gcra {
    /// Nanoseconds between two requests at the steady rate.
    pub emission_ns: u64,
    /// How many requests may arrive at once.
    pub burst: u32,
}

/// The outcome of one GCRA check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcraOutcome {
    /// Whether the request fits.
    pub allowed: bool,
    /// The TAT to store when allowed (the old TAT when denied).
    pub new_tat: u64,
    /// Requests of cost 1 still admitted right after this decision.
    pub remaining: u32,
    /// Nanoseconds until the key is back to a full burst.
    pub reset_after_ns: u64,
    /// When denied: nanoseconds until the same request would fit. `u64::MAX` when it never will
    /// (cost above the burst, or a quota that admits nothing).
    pub retry_after_ns: u64,
}

/// The pure GCRA decision for a key whose stored TAT is `tat` (0 when absent), at `now`,
/// for a request of weight `cost`.
///
/// ```
/// use tower_shield::core::quota::{gcra, Quota};
/// let p = Quota::per_second(1).burst(2).gcra();
/// let a = gcra(0, 1_000, p, 1);
/// assert!(a.allowed && a.remaining == 1);
/// let b = gcra(a.new_tat, 1_000, p, 1);
/// assert!(b.allowed && b.remaining == 0);
/// let c = gcra(b.new_tat, 1_000, p, 1);
/// assert!(!c.allowed && c.retry_after_ns == 1_000_000_000);
/// ```
#[inline]
pub fn gcra(tat: u64, now: u64, params: Gcra, cost: u32) -> GcraOutcome {
    let t = params.emission_ns;
    let capacity = t.saturating_mul(u64::from(params.burst));
    let base = tat.max(now);
    let reset_now = base - now;
    if params.burst == 0 || cost > params.burst {
        return GcraOutcome {
            allowed: false,
            new_tat: tat,
            remaining: 0,
            reset_after_ns: reset_now,
            retry_after_ns: u64::MAX,
        };
    }
    let new_tat = base.saturating_add(t.saturating_mul(u64::from(cost)));
    let allow_at = new_tat.saturating_sub(capacity);
    if now < allow_at {
        let remaining = remaining(capacity, reset_now, t);
        return GcraOutcome {
            allowed: false,
            new_tat: tat,
            remaining,
            reset_after_ns: reset_now,
            retry_after_ns: allow_at - now,
        };
    }
    let used = new_tat - now;
    GcraOutcome {
        allowed: true,
        new_tat,
        remaining: remaining(capacity, used, t),
        reset_after_ns: used,
        retry_after_ns: 0,
    }
}

#[inline]
fn remaining(capacity: u64, used: u64, t: u64) -> u32 {
    if t == 0 {
        return 0;
    }
    u32::try_from(capacity.saturating_sub(used) / t).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn per_hour_means_per_hour() {
        let p = Quota::per_hour(1000).gcra();
        let mut tat = 0;
        let now = 10 * S;
        for i in 0..1000 {
            let o = gcra(tat, now, p, 1);
            assert!(o.allowed, "request {i}");
            assert_eq!(o.remaining, 999 - i);
            tat = o.new_tat;
        }
        let o = gcra(tat, now, p, 1);
        assert!(!o.allowed);
        assert_eq!(o.retry_after_ns, 3_600_000_000);
        assert_eq!(o.reset_after_ns, 3600 * S);
        // One emission interval later exactly one more fits.
        let later = now + 3_600_000_000;
        let o = gcra(tat, later, p, 1);
        assert!(o.allowed);
        assert!(!gcra(o.new_tat, later, p, 1).allowed);
    }

    #[test]
    fn zero_and_oversized_costs() {
        assert!(!gcra(0, S, Quota::per_second(0).gcra(), 1).allowed);
        assert!(!gcra(0, S, Quota::per_second(5).burst(0).gcra(), 1).allowed);
        let o = gcra(0, S, Quota::per_second(5).gcra(), 6);
        assert!(!o.allowed && o.retry_after_ns == u64::MAX);
        let o = gcra(0, S, Quota::per_second(5).gcra(), 0);
        assert!(o.allowed && o.remaining == 5);
        assert!(!gcra(0, S, Quota::new(5, Duration::ZERO).gcra(), 1).allowed);
    }

    proptest! {
        /// Over any arrival pattern, admitted requests never exceed burst + elapsed / T.
        #[test]
        fn never_admits_more_than_the_rate(
            count in 1u32..50, burst in 1u32..50,
            gaps in proptest::collection::vec(0u64..200_000_000, 1..300),
        ) {
            let p = Quota::per_second(count).burst(burst).gcra();
            let start = 5 * S;
            let (mut now, mut tat, mut admitted) = (start, 0u64, 0u64);
            for gap in gaps {
                now += gap;
                let o = gcra(tat, now, p, 1);
                if o.allowed { admitted += 1; tat = o.new_tat; } else {
                    prop_assert_eq!(o.new_tat, tat);
                    prop_assert!(o.retry_after_ns > 0);
                    // Waiting the advertised time admits it.
                    prop_assert!(gcra(tat, now + o.retry_after_ns, p, 1).allowed);
                }
                let bound = u64::from(burst) + (now - start) / p.emission_ns;
                prop_assert!(admitted <= bound, "admitted {} > bound {}", admitted, bound);
            }
        }
    }
}
