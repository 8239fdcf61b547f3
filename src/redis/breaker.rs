//! A small circuit breaker: stop calling a backend that keeps failing, probe for its return.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Closed -> (threshold consecutive failures) -> open for `cool_down` -> one probe
/// (half-open) -> closed on success, open again on failure.
#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cool_down_ns: u64,
    epoch: Instant,
    failures: AtomicU32,
    /// Nanoseconds since `epoch` until which calls are skipped; 0 = closed.
    open_until: AtomicU64,
    probing: AtomicBool,
}

/// What the breaker lets a caller do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Call the backend.
    Call,
    /// Skip the backend; apply the failure policy now.
    Skip,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down_ns: u64::try_from(cool_down.as_nanos()).unwrap_or(u64::MAX),
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub(crate) fn gate(&self) -> Gate {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Gate::Call;
        }
        if self.now() < until {
            return Gate::Skip;
        }
        // Cool-down over: exactly one caller probes.
        if self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            Gate::Call
        } else {
            Gate::Skip
        }
    }

    /// Returns `true` when this success closed an open breaker.
    pub(crate) fn success(&self) -> bool {
        self.failures.store(0, Ordering::Release);
        self.probing.store(false, Ordering::Release);
        self.open_until.swap(0, Ordering::AcqRel) != 0
    }

    /// Returns `true` when this failure opened the breaker.
    pub(crate) fn failure(&self) -> bool {
        let n = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let was_probing = self.probing.swap(false, Ordering::AcqRel);
        if was_probing || n >= self.threshold {
            let until = self.now().saturating_add(self.cool_down_ns);
            let before = self.open_until.swap(until, Ordering::AcqRel);
            return before == 0;
        }
        false
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_probes_once_and_closes() {
        let b = Breaker::new(3, Duration::from_millis(20));
        assert_eq!(b.gate(), Gate::Call);
        assert!(!b.failure());
        assert!(!b.failure());
        assert!(b.failure(), "third failure opens");
        assert_eq!(b.gate(), Gate::Skip);
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(b.gate(), Gate::Call, "one probe");
        assert_eq!(b.gate(), Gate::Skip, "only one");
        assert!(!b.failure(), "failed probe re-opens (already open)");
        assert_eq!(b.gate(), Gate::Skip);
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(b.gate(), Gate::Call);
        assert!(b.success(), "successful probe closes");
        assert_eq!(b.gate(), Gate::Call);
        assert!(!b.is_open());
    }
}
