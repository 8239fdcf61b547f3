//! Bounded, sharded in-memory stores.

use std::future::{Ready, ready};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use smallvec::SmallVec;

use super::{
    CheckMode, MAX_COARSENING, MAX_POLICIES, RateCheck, RateOutcome, RateStore, SingleUseStore,
    StoreError,
};
use crate::core::clock::{Clock, SharedClock};
use crate::core::hash::PassThrough;
use crate::core::quota::{GcraOutcome, gcra};

/// What a memory rate store does as its key table fills.
///
/// Whatever the policy, the table never holds more than `max_keys` keys, and an entry
/// whose arrival time has passed (it holds no information: it is the same as absent)
/// is dropped before anything else is given up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFull {
    /// The default: under pressure, track new clients at a coarser network prefix, so a
    /// flood of fresh addresses gets new clients limited together rather than refused
    /// together.
    ///
    /// From 7/8 of the bound the store first drops expired entries (a full sweep, at
    /// most every 100 ms, or every second while sweeps find little to drop). If the
    /// table is still above 7/8, a subject it does not track yet is counted under a
    /// coarser key the rate limiter offers ([`RateStore::check_coarsened`]): IPv4 /24
    /// and IPv6 /48 from 7/8, /16 and /32 from 15/16, /8 and /16 from 31/32. Below the
    /// bound, clients already tracked keep their own counters. At the bound itself, a
    /// coarse key the table lacks takes the room of the sampled entry closest to expiry
    /// (there are at most 256 IPv4 /8s, and as many IPv6 /16s as the flood has); that
    /// entry may still be live, and its client then starts afresh: a limit forgotten
    /// early, never a client refused. A key with no coarser form (a principal, a custom
    /// key) is refused with [`StoreError::Full`] as with [`OnFull::RefuseNew`].
    #[default]
    Coarsen,
    /// Refuse a new key with [`StoreError::Full`] once the table is full of live keys;
    /// the layer's failure policy decides (the rate limiter answers 503, or hands the
    /// client to proof of work). It never forgets or shares a live limit, but a flood of
    /// fresh keys locks every new client out until keys expire (up to one quota period
    /// after the flood).
    RefuseNew,
    /// Evict the entry closest to expiry among a small sample, and admit the new key.
    /// Memory stays bounded and new clients are served, at the price that an evicted
    /// key's count restarts (a flood of fresh keys resets other clients' limits).
    EvictOldest,
}

/// Keys are kept as 64-bit keyed SipHash-1-3 digests: 8 bytes each whatever the key's
/// length, with a per-store random key so collisions cannot be aimed at. Two live keys
/// share a counter only by chance: about n^2 / 2^65 for n tracked keys (3 in 100
/// million at a million keys).
#[derive(Clone)]
struct KeyHasher(RandomState);

impl KeyHasher {
    fn new() -> Self {
        Self(RandomState::new())
    }

    /// The digest of the key's bytes (one SipHash pass; a single string needs no
    /// terminator, SipHash already mixes in the length).
    #[inline]
    fn digest(&self, key: &str) -> u64 {
        let mut h = self.0.build_hasher();
        h.write(key.as_bytes());
        h.finish()
    }
}

/// The time a memory store decides at.
enum StoreClock {
    /// The default: the CPU's timestamp counter (via `quanta`), anchored to the system
    /// clock when the store is built. Monotonic (a wall-clock step neither refunds nor
    /// locks out a quota) and a few nanoseconds per read.
    Fast {
        clock: quanta::Clock,
        anchor_raw: u64,
        anchor_ns: u64,
    },
    /// A clock the user injected (tests use `ManualClock`).
    Shared(SharedClock),
}

impl StoreClock {
    fn fast() -> Self {
        let clock = quanta::Clock::new();
        let anchor_raw = clock.raw();
        let anchor_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Self::Fast {
            clock,
            anchor_raw,
            anchor_ns,
        }
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        match self {
            Self::Fast {
                clock,
                anchor_raw,
                anchor_ns,
            } => anchor_ns.saturating_add(clock.delta_as_nanos(*anchor_raw, clock.raw())),
            Self::Shared(c) => c.now_nanos(),
        }
    }
}

/// Shared bookkeeping of both memory stores: a map of digest -> expiry-like nanos.
struct Table {
    map: DashMap<u64, AtomicU64, PassThrough>,
    hasher: KeyHasher,
    len: AtomicUsize,
    max_keys: usize,
    on_full: OnFull,
    /// Earliest time (ns) another full sweep may run; keeps a full table of live keys
    /// from being swept on every insert.
    next_sweep: AtomicU64,
    clock: StoreClock,
}

/// A full sweep runs at most this often when the table is under pressure (from 7/8 of
/// its bound with `Coarsen`, at the bound otherwise).
const SWEEP_GAP_NS: u64 = 100_000_000;
/// The gap after a sweep that freed less than 1/64 of the bound: a table full of live
/// keys (a large steady population, or a flood in progress) is then scanned once a
/// second, not ten times.
const SWEEP_IDLE_GAP_NS: u64 = 1_000_000_000;
/// How many entries `EvictOldest` samples.
const EVICT_SAMPLE: usize = 16;

impl Table {
    fn new(max_keys: usize, on_full: OnFull, clock: StoreClock) -> Self {
        Self {
            map: DashMap::with_hasher(PassThrough),
            hasher: KeyHasher::new(),
            len: AtomicUsize::new(0),
            max_keys: max_keys.max(1),
            on_full,
            next_sweep: AtomicU64::new(0),
            clock,
        }
    }

    /// Removes every entry whose value (an arrival time or expiry) is at or before `now`.
    fn sweep(&self, now: u64) -> usize {
        let mut removed = 0;
        self.map.retain(|_, v| {
            let keep = v.load(Ordering::Acquire) > now;
            removed += usize::from(!keep);
            keep
        });
        self.len.fetch_sub(
            removed.min(self.len.load(Ordering::Acquire)),
            Ordering::AcqRel,
        );
        removed
    }

    /// Runs a full sweep if none ran in the last [`SWEEP_GAP_NS`]; true when it ran.
    fn sweep_if_due(&self, now: u64) -> bool {
        let due = self.next_sweep.load(Ordering::Acquire);
        if now >= due
            && self
                .next_sweep
                .compare_exchange(
                    due,
                    now.saturating_add(SWEEP_GAP_NS),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            if self.sweep(now) < self.max_keys / 64 {
                self.next_sweep
                    .store(now.saturating_add(SWEEP_IDLE_GAP_NS), Ordering::Release);
            }
            return true;
        }
        false
    }

    /// How many steps coarser new subjects are tracked at now (see [`OnFull::Coarsen`]):
    /// 0 below 7/8 of the bound, after dropping expired entries when above it.
    #[inline]
    fn coarsening(&self) -> u8 {
        if self.on_full != OnFull::Coarsen {
            return 0;
        }
        let max = self.max_keys;
        let soft = max - max / 8;
        let mut len = self.len.load(Ordering::Acquire);
        if len < soft {
            return 0;
        }
        if self.sweep_if_due(self.clock.now_nanos()) {
            len = self.len.load(Ordering::Acquire);
        }
        if len < soft {
            0
        } else if len < max - max / 16 {
            1
        } else if len < max - max / 32 {
            2
        } else {
            MAX_COARSENING
        }
    }

    /// Whether a new key may take an existing entry's room at the bound: always with
    /// `EvictOldest`; with `Coarsen` only for a coarse key (few, shared by many).
    fn may_evict(&self, coarse: bool) -> bool {
        match self.on_full {
            OnFull::EvictOldest => true,
            OnFull::Coarsen => coarse,
            OnFull::RefuseNew => false,
        }
    }

    /// Reserves room for one new key (`coarse`: a coarser key standing for a subject not
    /// tracked yet): on `Ok`, `len` already counts it, and the caller inserts the key or
    /// hands the room back with [`Table::release`]. Reserving before inserting keeps the
    /// bound exact under concurrent inserts.
    fn reserve(&self, now: u64, coarse: bool) -> Result<(), StoreError> {
        let mut swept = false;
        loop {
            let cur = self.len.load(Ordering::Acquire);
            if cur < self.max_keys {
                if self
                    .len
                    .compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if !swept && self.sweep_if_due(now) {
                swept = true;
                continue;
            }
            if !self.may_evict(coarse) {
                return Err(StoreError::Full);
            }
            let victim = self
                .map
                .iter()
                .take(EVICT_SAMPLE)
                .min_by_key(|e| e.value().load(Ordering::Acquire))
                .map(|e| *e.key());
            // The victim's room passes to the new key: `len` is unchanged.
            if victim.is_some_and(|k| self.map.remove(&k).is_some()) {
                return Ok(());
            }
        }
    }

    /// Hands back room reserved with [`Table::reserve`] and not used.
    fn release(&self) {
        self.len.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether one more key could be inserted now, so that a peek at an absent key
    /// answers as a charge would (a full `RefuseNew` table refuses it).
    fn would_fit(&self, now: u64, coarse: bool) -> Result<(), StoreError> {
        if self.may_evict(coarse) || self.len.load(Ordering::Acquire) < self.max_keys {
            return Ok(());
        }
        self.sweep_if_due(now);
        if self.len.load(Ordering::Acquire) < self.max_keys {
            Ok(())
        } else {
            Err(StoreError::Full)
        }
    }

    /// The stored value for `digest`, 0 when absent.
    fn load(&self, digest: u64) -> u64 {
        self.map
            .get(&digest)
            .map_or(0, |v| v.load(Ordering::Acquire))
    }

    /// Subtracts `amount` from `digest`'s value (not below zero).
    fn give_back(&self, digest: u64, amount: u64) {
        if let Some(v) = self.map.get(&digest) {
            let _ = v.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.saturating_sub(amount))
            });
        }
    }

    /// Sets `digest` from `old` to `new`; false when another writer got there first.
    fn compare_and_set(
        &self,
        digest: u64,
        old: u64,
        new: u64,
        now: u64,
        coarse: bool,
    ) -> Result<bool, StoreError> {
        if let Some(v) = self.map.get(&digest) {
            return Ok(v
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok());
        }
        if old != 0 {
            // It was there when read and has been swept since: re-read.
            return Ok(false);
        }
        self.reserve(now, coarse)?;
        let mut inserted = false;
        let entry = self.map.entry(digest).or_insert_with(|| {
            inserted = true;
            AtomicU64::new(new)
        });
        if inserted {
            return Ok(true);
        }
        self.release();
        Ok(entry
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok())
    }
}

/// A bounded, sharded in-memory [`RateStore`].
///
/// Each tracked key costs one 8-byte digest and one 8-byte arrival time in a
/// [`DashMap`] shard, plus the hash table's own overhead: about 22 to 40 bytes a key
/// depending on where the table is between two growths (measured by
/// `benches/ratelimit.rs` with a counting allocator: 36 bytes a key at a million
/// keys). At most `max_keys` keys are tracked (default 1,000,000), whatever arrives.
/// A key whose arrival time has passed holds no information (it is the same as absent)
/// and is dropped first: by the sweeps that run from 7/8 of the bound, by
/// [`MemoryRateStore::sweep`] when you call it on a timer, or by the background
/// thread of [`MemoryRateStore::spawn_sweeper`].
///
/// A full table does not lock new clients out. By default ([`OnFull::Coarsen`]), once
/// the table is above 7/8 of its bound after dropping expired keys, a client it does
/// not track yet is counted under a coarser key the rate limiter offers
/// ([`RateStore::check_coarsened`]): its IPv4 /24 or IPv6 /48, then /16 and /32, then
/// /8 and /16 as the table fills further. New clients of one network are then limited
/// together instead of refused together, clients already tracked keep their own
/// counters, and the rate limiter marks such requests with
/// `ratelimit::Coarsened`. Keys without a network (principals,
/// custom keys) have no coarser form: at the bound they are refused with
/// [`StoreError::Full`]. [`OnFull::RefuseNew`] and [`OnFull::EvictOldest`] choose the
/// older behaviours.
///
/// Decisions are lock-free on a hot key (a shared shard lock and one compare-and-swap);
/// several policies are read, decided, then committed with compare-and-swap, and the
/// whole decision is retried if another request moved a counter in between.
///
/// ```
/// use tower_shield::core::quota::Quota;
/// use tower_shield::core::store::{CheckMode, MemoryRateStore, RateCheck, RateStore};
///
/// # tokio_test_block_on(async {
/// let store = MemoryRateStore::new();
/// let check = [RateCheck { key: "ip:192.0.2.1", gcra: Quota::per_second(1).gcra(), cost: 1 }];
/// assert!(store.check(&check, CheckMode::Charge).await.unwrap().allowed());
/// assert!(!store.check(&check, CheckMode::Charge).await.unwrap().allowed());
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryRateStore {
    table: Arc<Table>,
}

impl MemoryRateStore {
    /// The default bound on tracked keys.
    pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

    /// A store on the default clock (the CPU timestamp counter anchored to the system
    /// clock), tracking at most 1,000,000 keys, tracking new clients at coarser prefixes
    /// as it fills ([`OnFull::Coarsen`]).
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the bound, the full policy and the clock.
    pub fn builder() -> MemoryStoreBuilder<Self> {
        MemoryStoreBuilder::new()
    }

    /// Drops every key whose arrival time has passed; returns how many. Call it from a
    /// timer to keep memory near the live key count (it takes each shard's lock in turn).
    /// Each call also sets the `tower_shield_tracked_keys{store="memory_rate"}` gauge.
    pub fn sweep(&self) -> usize {
        let removed = self.table.sweep(self.table.clock.now_nanos());
        crate::core::metrics::tracked_keys("memory_rate", self.len());
        removed
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.table.len.load(Ordering::Acquire)
    }

    /// `true` when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on tracked keys.
    pub fn max_keys(&self) -> usize {
        self.table.max_keys
    }

    /// Starts a background thread that calls [`MemoryRateStore::sweep`] every `every`
    /// (at least 10 ms). The thread stops when the returned `Sweeper` is dropped or
    /// when the last clone of the store is.
    pub fn spawn_sweeper(&self, every: Duration) -> std::io::Result<Sweeper> {
        Sweeper::spawn(Arc::downgrade(&self.table), every)
    }

    #[inline]
    fn decide(
        &self,
        checks: &[RateCheck<'_>],
        coarse: &[Option<&str>],
        mode: CheckMode,
    ) -> Result<RateOutcome, StoreError> {
        if checks.len() > MAX_POLICIES {
            return Err(StoreError::Invalid(
                "more than MAX_POLICIES policies".into(),
            ));
        }
        let t = &self.table;
        if let [one] = checks {
            return self.decide_one(one, coarse.first().copied().flatten(), mode);
        }
        // Each check's counter: its own key when tracked (or when no coarser key is
        // offered), else the coarser key.
        let mut digests: SmallVec<[u64; 2]> = SmallVec::new();
        let mut coarsened: SmallVec<[bool; 2]> = SmallVec::new();
        for (i, c) in checks.iter().enumerate() {
            let own = t.hasher.digest(c.key);
            match coarse.get(i).copied().flatten() {
                Some(k) if !t.map.contains_key(&own) => {
                    digests.push(t.hasher.digest(k));
                    coarsened.push(true);
                }
                _ => {
                    digests.push(own);
                    coarsened.push(false);
                }
            }
        }
        let any_coarsened = coarsened.contains(&true);
        // A key named twice in one call is read and charged once (by its first policy).
        let first: SmallVec<[bool; 2]> = (0..checks.len())
            .map(|i| !digests[..i].contains(&digests[i]))
            .collect();
        loop {
            let now = t.clock.now_nanos();
            let mut olds: SmallVec<[u64; 2]> = SmallVec::new();
            let mut results = SmallVec::new();
            for (c, d) in checks.iter().zip(&digests) {
                let old = t.load(*d);
                olds.push(old);
                results.push(gcra(old, now, c.gcra, c.cost));
            }
            let outcome = RateOutcome {
                now_ns: now,
                results,
                coarsened: any_coarsened,
            };
            if mode == CheckMode::Peek || !outcome.allowed() {
                let new_key = |i: usize| first[i] && olds[i] == 0;
                if mode == CheckMode::Peek && outcome.allowed() && (0..checks.len()).any(new_key) {
                    let all_coarse = (0..checks.len())
                        .filter(|&i| new_key(i))
                        .all(|i| coarsened[i]);
                    t.would_fit(now, all_coarse)?;
                }
                return Ok(outcome);
            }
            // Commit each counter with compare-and-swap. If one moved since it was read,
            // give back what this attempt already charged and decide again.
            let mut charged = 0;
            let mut stopped = None;
            for i in 0..checks.len() {
                if !first[i] {
                    charged += 1;
                    continue;
                }
                let new_tat = outcome.results[i].new_tat;
                match t.compare_and_set(digests[i], olds[i], new_tat, now, coarsened[i]) {
                    Ok(true) => charged += 1,
                    Ok(false) => {
                        stopped = Some(Ok(()));
                        break;
                    }
                    // No room for this policy's new key: nothing is charged at all.
                    Err(e) => {
                        stopped = Some(Err(e));
                        break;
                    }
                }
            }
            let Some(stopped) = stopped else {
                return Ok(outcome);
            };
            for i in (0..charged).filter(|i| first[*i]) {
                // Subtract exactly this attempt's increment: GCRA charges add up, so this
                // undoes ours even when others have charged on top of it since.
                let inc = outcome.results[i].new_tat - olds[i].max(now);
                t.give_back(digests[i], inc);
            }
            // A lost race decides again; a full table answers so.
            stopped?;
        }
    }
}

impl MemoryRateStore {
    /// One policy: one digest, one map lookup, a compare-and-swap loop under the shard's
    /// shared lock (a sweep, which takes the shard's exclusive lock, cannot interleave).
    /// With a coarser key, a second lookup when the own key is not tracked.
    #[inline]
    fn decide_one(
        &self,
        c: &RateCheck<'_>,
        coarse: Option<&str>,
        mode: CheckMode,
    ) -> Result<RateOutcome, StoreError> {
        let t = &self.table;
        let d = t.hasher.digest(c.key);
        let now = t.clock.now_nanos();
        if let Some(v) = t.map.get(&d) {
            return one_outcome(charge(&v, now, c, mode), now, false);
        }
        match coarse {
            None => self.decide_new(d, c, now, mode, false),
            Some(k) => self.decide_coarse(k, c, now, mode),
        }
    }

    /// A subject not tracked, counted under its coarser key `k` (memory pressure).
    #[cold]
    #[inline(never)]
    fn decide_coarse(
        &self,
        k: &str,
        c: &RateCheck<'_>,
        now: u64,
        mode: CheckMode,
    ) -> Result<RateOutcome, StoreError> {
        let t = &self.table;
        let d = t.hasher.digest(k);
        if let Some(v) = t.map.get(&d) {
            return one_outcome(charge(&v, now, c, mode), now, true);
        }
        self.decide_new(d, c, now, mode, true)
    }

    /// A key the table does not hold: decide from scratch, insert when charged.
    #[inline]
    fn decide_new(
        &self,
        d: u64,
        c: &RateCheck<'_>,
        now: u64,
        mode: CheckMode,
        coarsened: bool,
    ) -> Result<RateOutcome, StoreError> {
        let t = &self.table;
        let done = |o: GcraOutcome| one_outcome(o, now, coarsened);
        let o = gcra(0, now, c.gcra, c.cost);
        if mode == CheckMode::Peek || !o.allowed {
            if mode == CheckMode::Peek && o.allowed {
                t.would_fit(now, coarsened)?;
            }
            return done(o);
        }
        t.reserve(now, coarsened)?;
        let mut inserted = false;
        let entry = t.map.entry(d).or_insert_with(|| {
            inserted = true;
            AtomicU64::new(o.new_tat)
        });
        if inserted {
            return done(o);
        }
        t.release();
        // Another request inserted it first: decide against its value.
        done(charge(entry.value(), now, c, mode))
    }
}

/// The outcome of a one-policy check.
#[inline(always)]
fn one_outcome(o: GcraOutcome, now: u64, coarsened: bool) -> Result<RateOutcome, StoreError> {
    let mut results = SmallVec::new();
    results.push(o);
    Ok(RateOutcome {
        now_ns: now,
        results,
        coarsened,
    })
}

/// Decides against one stored arrival time and commits it with compare-and-swap.
#[inline]
fn charge(v: &AtomicU64, now: u64, c: &RateCheck<'_>, mode: CheckMode) -> GcraOutcome {
    let mut old = v.load(Ordering::Acquire);
    loop {
        let o = gcra(old, now, c.gcra, c.cost);
        if mode == CheckMode::Peek || !o.allowed {
            return o;
        }
        match v.compare_exchange_weak(old, o.new_tat, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return o,
            Err(cur) => old = cur,
        }
    }
}

impl Default for MemoryRateStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryRateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateStore")
            .field("len", &self.len())
            .field("max_keys", &self.table.max_keys)
            .field("on_full", &self.table.on_full)
            .finish()
    }
}

impl RateStore for MemoryRateStore {
    type Future = Ready<Result<RateOutcome, StoreError>>;

    #[inline]
    fn check(&self, checks: &[RateCheck<'_>], mode: CheckMode) -> Self::Future {
        ready(self.decide(checks, &[], mode))
    }

    fn tracked_keys(&self) -> Option<usize> {
        Some(self.len())
    }

    #[inline]
    fn coarsening(&self) -> u8 {
        self.table.coarsening()
    }

    #[inline]
    fn check_coarsened(
        &self,
        checks: &[RateCheck<'_>],
        coarse: &[Option<&str>],
        mode: CheckMode,
    ) -> Self::Future {
        ready(self.decide(checks, coarse, mode))
    }
}

/// A background sweeper thread; dropping it stops the thread (within one period).
#[derive(Debug)]
pub struct Sweeper {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sweeper {
    fn spawn(table: Weak<Table>, every: Duration) -> std::io::Result<Self> {
        let every = every.max(Duration::from_millis(10));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tower-shield-sweeper".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(every);
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    match table.upgrade() {
                        Some(t) => {
                            t.sweep(t.clock.now_nanos());
                        }
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// A bounded, sharded in-memory [`SingleUseStore`].
///
/// Holds at most `max_keys` unexpired keys (default 1,000,000; 8-byte digest plus an
/// 8-byte expiry each, plus table overhead). When full of live keys it refuses new
/// ones with [`StoreError::Full`] whatever [`OnFull`] says: forgetting a live
/// single-use key would let it be used twice.
///
/// It is per process: instances behind a load balancer each accept a key once. Use
/// the Redis store for a fleet.
#[derive(Clone)]
pub struct MemorySingleUseStore {
    table: Arc<Table>,
}

impl MemorySingleUseStore {
    /// A store on the default clock (see [`MemoryRateStore::new`]) holding at most
    /// 1,000,000 keys.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for the bound and the clock.
    pub fn builder() -> MemoryStoreBuilder<Self> {
        MemoryStoreBuilder::new()
    }

    /// Drops expired keys; returns how many. Each call also sets the
    /// `tower_shield_tracked_keys{store="memory_once"}` gauge.
    pub fn sweep(&self) -> usize {
        let removed = self.table.sweep(self.table.clock.now_nanos());
        crate::core::metrics::tracked_keys("memory_once", self.len());
        removed
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.table.len.load(Ordering::Acquire)
    }

    /// `true` when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let t = &self.table;
        let now = t.clock.now_nanos();
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX).max(1);
        let expires = now.saturating_add(ttl);
        let d = t.hasher.digest(key);
        if let Some(v) = t.map.get(&d) {
            let cur = v.load(Ordering::Acquire);
            return Ok(cur <= now
                && v.compare_exchange(cur, expires, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok());
        }
        // The single-use table is always `RefuseNew`: a live key is never evicted.
        t.reserve(now, false)?;
        let mut inserted = false;
        let entry = t.map.entry(d).or_insert_with(|| {
            inserted = true;
            AtomicU64::new(expires)
        });
        if inserted {
            return Ok(true);
        }
        t.release();
        let cur = entry.load(Ordering::Acquire);
        Ok(cur <= now
            && entry
                .compare_exchange(cur, expires, Ordering::AcqRel, Ordering::Acquire)
                .is_ok())
    }
}

impl Default for MemorySingleUseStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemorySingleUseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySingleUseStore")
            .field("len", &self.len())
            .field("max_keys", &self.table.max_keys)
            .finish()
    }
}

impl SingleUseStore for MemorySingleUseStore {
    type Future = Ready<Result<bool, StoreError>>;

    fn insert_if_absent(&self, key: &str, ttl: Duration) -> Self::Future {
        ready(self.insert(key, ttl))
    }

    fn tracked_keys(&self) -> Option<usize> {
        Some(self.len())
    }
}

/// Builds a memory store.
pub struct MemoryStoreBuilder<S> {
    max_keys: usize,
    on_full: OnFull,
    clock: Option<SharedClock>,
    _store: std::marker::PhantomData<fn() -> S>,
}

impl<S> MemoryStoreBuilder<S> {
    fn new() -> Self {
        Self {
            max_keys: MemoryRateStore::DEFAULT_MAX_KEYS,
            on_full: OnFull::default(),
            clock: None,
            _store: std::marker::PhantomData,
        }
    }

    /// The most keys tracked at once (at least 1).
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// What to do with new keys as the table fills (default [`OnFull::Coarsen`]; rate store
    /// only: the single-use store always refuses, a live single-use key is never dropped).
    pub fn on_full(mut self, on_full: OnFull) -> Self {
        self.on_full = on_full;
        self
    }

    /// The clock (default: the CPU's timestamp counter, anchored to the system clock
    /// when the store is built; monotonic, a few nanoseconds per read).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    fn store_clock(&mut self) -> StoreClock {
        match self.clock.take() {
            Some(c) => StoreClock::Shared(c),
            None => StoreClock::fast(),
        }
    }
}

impl MemoryStoreBuilder<MemoryRateStore> {
    /// The store.
    pub fn build(mut self) -> MemoryRateStore {
        let clock = self.store_clock();
        MemoryRateStore {
            table: Arc::new(Table::new(self.max_keys, self.on_full, clock)),
        }
    }
}

impl MemoryStoreBuilder<MemorySingleUseStore> {
    /// The store.
    pub fn build(mut self) -> MemorySingleUseStore {
        let clock = self.store_clock();
        MemorySingleUseStore {
            table: Arc::new(Table::new(self.max_keys, OnFull::RefuseNew, clock)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::ManualClock;
    use crate::core::quota::Quota;

    fn now_ready<T>(f: Ready<T>) -> T {
        f.into_inner()
    }

    fn clock() -> ManualClock {
        ManualClock::new(Duration::from_secs(1_700_000_000))
    }

    #[test]
    fn denial_by_one_policy_charges_none() {
        let c = clock();
        let s = MemoryRateStore::builder().clock(c.clone()).build();
        let loose = Quota::per_second(100).gcra();
        let tight = Quota::per_minute(2).gcra();
        let checks = [
            RateCheck {
                key: "a",
                gcra: loose,
                cost: 1,
            },
            RateCheck {
                key: "b",
                gcra: tight,
                cost: 1,
            },
        ];
        assert!(
            now_ready(s.check(&checks, CheckMode::Charge))
                .unwrap()
                .allowed()
        );
        assert!(
            now_ready(s.check(&checks, CheckMode::Charge))
                .unwrap()
                .allowed()
        );
        let denied = now_ready(s.check(&checks, CheckMode::Charge)).unwrap();
        assert!(!denied.allowed());
        assert!(denied.results[0].allowed && !denied.results[1].allowed);
        // "a" was charged twice, not three times.
        let peek = now_ready(s.check(&checks[..1], CheckMode::Peek)).unwrap();
        assert_eq!(peek.results[0].remaining, 97);
    }

    #[test]
    fn peek_changes_nothing() {
        let s = MemoryRateStore::builder().clock(clock()).build();
        let checks = [RateCheck {
            key: "k",
            gcra: Quota::per_second(1).gcra(),
            cost: 1,
        }];
        for _ in 0..3 {
            assert!(
                now_ready(s.check(&checks, CheckMode::Peek))
                    .unwrap()
                    .allowed()
            );
        }
        assert!(s.is_empty());
    }

    #[test]
    fn refuse_new_when_full_of_live_keys_and_sweep_when_expired() {
        let c = clock();
        let s = MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(10)
            .build();
        let q = Quota::per_second(1).gcra();
        for i in 0..10 {
            let k = format!("k{i}");
            assert!(
                now_ready(s.check(
                    &[RateCheck {
                        key: &k,
                        gcra: q,
                        cost: 1
                    }],
                    CheckMode::Charge
                ))
                .is_ok()
            );
        }
        assert_eq!(s.len(), 10);
        let r = now_ready(s.check(
            &[RateCheck {
                key: "new",
                gcra: q,
                cost: 1,
            }],
            CheckMode::Charge,
        ));
        assert_eq!(r, Err(StoreError::Full));
        // Existing keys still work.
        assert!(
            now_ready(s.check(
                &[RateCheck {
                    key: "k1",
                    gcra: q,
                    cost: 1
                }],
                CheckMode::Peek
            ))
            .is_ok()
        );
        c.advance(Duration::from_secs(2));
        assert!(
            now_ready(s.check(
                &[RateCheck {
                    key: "new",
                    gcra: q,
                    cost: 1
                }],
                CheckMode::Charge
            ))
            .unwrap()
            .allowed()
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_peek_at_a_new_key_answers_full_as_a_charge_would() {
        let c = clock();
        let s = MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(1)
            .build();
        let q = Quota::per_second(2).gcra();
        let one = |k| {
            [RateCheck {
                key: k,
                gcra: q,
                cost: 1,
            }]
        };
        assert!(
            now_ready(s.check(&one("a"), CheckMode::Charge))
                .unwrap()
                .allowed()
        );
        assert_eq!(
            now_ready(s.check(&one("b"), CheckMode::Peek)),
            Err(StoreError::Full)
        );
        let two = [
            one("a")[0],
            RateCheck {
                key: "b",
                gcra: q,
                cost: 1,
            },
        ];
        assert_eq!(
            now_ready(s.check(&two, CheckMode::Peek)),
            Err(StoreError::Full)
        );
        // A tracked key can still be peeked.
        assert!(now_ready(s.check(&one("a"), CheckMode::Peek)).is_ok());
        let e = MemoryRateStore::builder()
            .clock(c)
            .max_keys(1)
            .on_full(OnFull::EvictOldest)
            .build();
        assert!(
            now_ready(e.check(&one("a"), CheckMode::Charge))
                .unwrap()
                .allowed()
        );
        assert!(
            now_ready(e.check(&one("b"), CheckMode::Peek))
                .unwrap()
                .allowed()
        );
    }

    #[test]
    fn the_sweeper_thread_drops_expired_keys_and_stops() {
        let c = clock();
        let s = MemoryRateStore::builder().clock(c.clone()).build();
        let q = Quota::per_second(1).gcra();
        for k in ["a", "b", "c"] {
            assert!(
                now_ready(s.check(
                    &[RateCheck {
                        key: k,
                        gcra: q,
                        cost: 1
                    }],
                    CheckMode::Charge
                ))
                .unwrap()
                .allowed()
            );
        }
        let sweeper = s.spawn_sweeper(Duration::from_millis(10)).unwrap();
        c.advance(Duration::from_secs(2));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !s.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(s.is_empty());
        drop(sweeper);
    }

    #[test]
    fn the_default_clock_reads_wall_time() {
        let s = MemoryRateStore::new();
        let o = now_ready(s.check(
            &[RateCheck {
                key: "k",
                gcra: Quota::per_second(1).gcra(),
                cost: 1,
            }],
            CheckMode::Peek,
        ))
        .unwrap();
        let wall = crate::core::clock::SystemClock.now_nanos();
        assert!(
            o.now_ns.abs_diff(wall) < 1_000_000_000,
            "{} vs {wall}",
            o.now_ns
        );
    }

    #[test]
    fn evict_oldest_keeps_the_bound() {
        let s = MemoryRateStore::builder()
            .clock(clock())
            .max_keys(100)
            .on_full(OnFull::EvictOldest)
            .build();
        let q = Quota::per_hour(10).gcra();
        for i in 0..10_000 {
            let k = format!("k{i}");
            assert!(
                now_ready(s.check(
                    &[RateCheck {
                        key: &k,
                        gcra: q,
                        cost: 1
                    }],
                    CheckMode::Charge
                ))
                .unwrap()
                .allowed()
            );
            assert!(s.len() <= 100);
        }
    }

    #[test]
    fn single_use_is_single_and_expires() {
        let c = clock();
        let s = MemorySingleUseStore::builder()
            .clock(c.clone())
            .max_keys(2)
            .build();
        let ttl = Duration::from_secs(60);
        assert_eq!(now_ready(s.insert_if_absent("t1", ttl)), Ok(true));
        assert_eq!(now_ready(s.insert_if_absent("t1", ttl)), Ok(false));
        assert_eq!(now_ready(s.insert_if_absent("t2", ttl)), Ok(true));
        assert_eq!(
            now_ready(s.insert_if_absent("t3", ttl)),
            Err(StoreError::Full)
        );
        c.advance(Duration::from_secs(61));
        assert_eq!(now_ready(s.insert_if_absent("t1", ttl)), Ok(true));
        assert_eq!(now_ready(s.insert_if_absent("t3", ttl)), Ok(true));
        assert!(s.len() <= 2);
    }

    #[test]
    fn concurrent_single_use_has_one_winner() {
        let s = MemorySingleUseStore::new();
        let wins = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..64 {
                scope.spawn(|| {
                    if now_ready(s.insert_if_absent("token", Duration::from_secs(5))) == Ok(true) {
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(wins.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn concurrent_charges_get_exactly_the_quota() {
        let s = MemoryRateStore::builder().clock(clock()).build();
        let q = Quota::per_hour(500).gcra();
        let allowed = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        let checks = [
                            RateCheck {
                                key: "hot",
                                gcra: q,
                                cost: 1,
                            },
                            RateCheck {
                                key: "global",
                                gcra: Quota::per_hour(10_000).gcra(),
                                cost: 1,
                            },
                        ];
                        if now_ready(s.check(&checks, CheckMode::Charge))
                            .unwrap()
                            .allowed()
                        {
                            allowed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::Relaxed), 500);
        let peek = now_ready(s.check(
            &[RateCheck {
                key: "global",
                gcra: Quota::per_hour(10_000).gcra(),
                cost: 1,
            }],
            CheckMode::Peek,
        ))
        .unwrap();
        // A peek reports what would remain after one more request.
        assert_eq!(peek.results[0].remaining, 10_000 - 500 - 1);
    }

    fn one(key: &str, gcra: crate::core::quota::Gcra) -> [RateCheck<'_>; 1] {
        [RateCheck { key, gcra, cost: 1 }]
    }

    #[test]
    fn coarsening_steps_up_as_the_table_fills() {
        let q = Quota::per_minute(1).gcra();
        for (on_full, want) in [
            (OnFull::Coarsen, [0, 1, 1, 2, 3, 3]),
            (OnFull::RefuseNew, [0; 6]),
            (OnFull::EvictOldest, [0; 6]),
        ] {
            let s = MemoryRateStore::builder()
                .clock(clock())
                .max_keys(64)
                .on_full(on_full)
                .build();
            let mut levels = Vec::new();
            for i in 0..64 {
                if [55, 56, 59, 60, 62, 63].contains(&i) {
                    levels.push(s.coarsening());
                }
                let k = format!("k{i}");
                assert!(now_ready(s.check(&one(&k, q), CheckMode::Charge)).is_ok());
            }
            assert_eq!(levels, want, "{on_full:?}");
        }
    }

    #[test]
    fn the_coarser_key_counts_only_subjects_not_tracked() {
        let c = clock();
        let s = MemoryRateStore::builder().clock(c.clone()).build();
        let q = Quota::per_minute(2).gcra();
        let wide = [Some("net")];
        // Tracked: its own key, whatever is offered.
        assert!(
            !now_ready(s.check(&one("own", q), CheckMode::Charge))
                .unwrap()
                .coarsened
        );
        let o = now_ready(s.check_coarsened(&one("own", q), &wide, CheckMode::Charge)).unwrap();
        assert!(!o.coarsened && o.allowed());
        assert_eq!(o.results[0].remaining, 0);
        // Not tracked: the coarser key, shared by every such subject.
        for (k, allowed) in [("a", true), ("b", true), ("c", false)] {
            let o = now_ready(s.check_coarsened(&one(k, q), &wide, CheckMode::Charge)).unwrap();
            assert!(o.coarsened);
            assert_eq!(o.allowed(), allowed, "{k}");
        }
        assert_eq!(s.len(), 2, "`own` and `net`");
        // Several policies: each one's key decides for itself.
        let two = [
            RateCheck {
                key: "own",
                gcra: Quota::per_hour(100).gcra(),
                cost: 1,
            },
            RateCheck {
                key: "own-hourly",
                gcra: Quota::per_hour(100).gcra(),
                cost: 1,
            },
        ];
        let o =
            now_ready(s.check_coarsened(&two, &[Some("net-a"), Some("net-b")], CheckMode::Charge))
                .unwrap();
        assert!(o.coarsened && o.allowed());
        assert_eq!(
            s.len(),
            3,
            "`own` kept its key, `own-hourly` went to `net-b`"
        );
        // The default (a store without its own coarsening) ignores what is offered.
        assert!(
            !now_ready(s.check(&one("d", q), CheckMode::Peek))
                .unwrap()
                .coarsened
        );
    }

    #[test]
    fn at_the_bound_only_a_coarse_key_takes_the_oldest_room() {
        let c = clock();
        let s = MemoryRateStore::builder()
            .clock(c.clone())
            .max_keys(8)
            .build();
        for i in 0..8u64 {
            let k = format!("k{i}");
            let q = Quota::per_hour(100 - i as u32).gcra();
            assert!(now_ready(s.check(&one(&k, q), CheckMode::Charge)).is_ok());
        }
        let q = Quota::per_minute(1).gcra();
        assert_eq!(
            now_ready(s.check(&one("principal", q), CheckMode::Charge)),
            Err(StoreError::Full)
        );
        assert_eq!(
            now_ready(s.check(&one("principal", q), CheckMode::Peek)),
            Err(StoreError::Full)
        );
        let o = now_ready(s.check_coarsened(&one("new", q), &[Some("net")], CheckMode::Peek));
        assert!(o.unwrap().allowed());
        let o = now_ready(s.check_coarsened(&one("new", q), &[Some("net")], CheckMode::Charge));
        assert!(o.unwrap().coarsened);
        assert_eq!(s.len(), 8);
    }

    /// One step of the bound property test.
    #[derive(Clone, Debug)]
    enum Op {
        Check {
            keys: Vec<(u8, Option<u8>)>,
            peek: bool,
            per_second: u32,
        },
        Advance(u64),
        Sweep,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            8 => (
                proptest::collection::vec((any::<u8>(), proptest::option::of(0u8..8)), 1..4),
                any::<bool>(),
                1u32..4
            )
                .prop_map(|(keys, peek, per_second)| Op::Check {
                    keys,
                    peek,
                    per_second
                }),
            1 => (0u64..3_000).prop_map(Op::Advance),
            1 => Just(Op::Sweep),
        ]
    }

    proptest::proptest! {
        /// Whatever arrives, under every policy, the table never holds more than its
        /// bound, and the counter agrees with the map.
        #[test]
        fn the_bound_holds_under_any_sequence(
            max_keys in 1usize..24,
            on_full in proptest::prop_oneof![
                proptest::strategy::Just(OnFull::Coarsen),
                proptest::strategy::Just(OnFull::RefuseNew),
                proptest::strategy::Just(OnFull::EvictOldest),
            ],
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let c = clock();
            let s = MemoryRateStore::builder()
                .clock(c.clone())
                .max_keys(max_keys)
                .on_full(on_full)
                .build();
            for op in ops {
                match op {
                    Op::Check { keys, peek, per_second } => {
                        let own: Vec<String> = keys.iter().map(|(k, _)| format!("k{k}")).collect();
                        let wide: Vec<Option<String>> = keys
                            .iter()
                            .map(|(_, w)| w.map(|w| format!("w{w}")))
                            .collect();
                        let gcra = Quota::per_second(per_second).gcra();
                        let checks: Vec<RateCheck<'_>> = own
                            .iter()
                            .map(|key| RateCheck { key, gcra, cost: 1 })
                            .collect();
                        let offered: Vec<Option<&str>> = wide.iter().map(Option::as_deref).collect();
                        let mode = if peek { CheckMode::Peek } else { CheckMode::Charge };
                        let _ = if s.coarsening() > 0 {
                            now_ready(s.check_coarsened(&checks, &offered, mode))
                        } else {
                            now_ready(s.check(&checks, mode))
                        };
                    }
                    Op::Advance(ms) => c.advance(Duration::from_millis(ms)),
                    Op::Sweep => {
                        s.sweep();
                    }
                }
                proptest::prop_assert!(s.len() <= max_keys, "{} > {}", s.len(), max_keys);
                proptest::prop_assert_eq!(s.len(), s.table.map.len());
            }
        }
    }
}
