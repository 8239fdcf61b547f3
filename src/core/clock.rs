//! Time as an injected dependency.
//!
//! Every decision that depends on time (GCRA arrival times, signature windows,
//! token expiry) reads it through [`Clock`], so tests drive time with
//! [`ManualClock`] instead of sleeping. The shape follows rustls' `TimeProvider`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, as a [`Duration`] since the Unix epoch.
///
/// Implementations must be cheap: layers call [`Clock::now`] once per request.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time since the Unix epoch.
    fn now(&self) -> Duration;

    /// The current time in whole nanoseconds since the Unix epoch, saturating.
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.now().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

/// The operating system's wall clock ([`SystemTime::now`]).
///
/// A clock set before 1970 reads as the epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

/// A clock that only moves when told to; clones share one time.
///
/// ```
/// use std::time::Duration;
/// use tower_shield::core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
/// let view = clock.clone();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(view.now(), Duration::from_millis(1_700_000_001_500));
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start` since the Unix epoch.
    pub fn new(start: Duration) -> Self {
        let clock = Self::default();
        clock.set(start);
        clock
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `to` since the Unix epoch (it may go backwards, as real clocks do).
    pub fn set(&self, to: Duration) {
        let to = u64::try_from(to.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(to, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }

    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// A shared, type-erased clock, as layers hold it.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Duration::from_secs(1_577_836_800));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Duration::from_secs(10));
        assert_eq!(c.now_nanos(), 10_000_000_000);
        c.advance(Duration::from_nanos(1));
        assert_eq!(c.now_nanos(), 10_000_000_001);
        c.set(Duration::from_secs(1));
        assert_eq!(c.now(), Duration::from_secs(1));
        c.set(Duration::MAX);
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now_nanos(), u64::MAX);
    }
}
