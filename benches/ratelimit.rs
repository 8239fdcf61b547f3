//! Rate-limit decision cost: our memory store next to governor's keyed (DashMap) limiter,
//! plus memory per tracked key, in one criterion run.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-rl cargo bench -j2 --no-default-features \
//!     --features axum,client-ip,ratelimit --bench ratelimit -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Cases (same clients, same draw sequence, a quota large enough that every check is allowed,
//! so both sides do the full read-decide-write work):
//! * `hot`: one key, every check;
//! * `uniform_100k`: 100,000 keys, drawn uniformly (xorshift), all tracked before timing;
//! * `2_threads`: two threads each drawing from the 100,000 keys; reported time is wall
//!   time per check (total checks over both threads); `2_threads_hot` the same on one key.
//!
//! Every limiter gets the key in hand. Ours takes the layer's key for client `10.x.y.z`
//! (`rl:default:ip:10.x.y.z/32`) from one contiguous buffer (`KeyArena`, one cache miss
//! to reach a random client's key, like a `Vec<IpAddr>`). governor runs twice: with those
//! same keys as `String`s (`governor`), and keyed by `IpAddr` (`governor-ip`,
//! tower-governor's default and governor's best case). A
//! `paired/*` line printed first times the limiters in interleaved rounds (robust to a
//! shared, loaded machine); `layer/hot` is the whole layer, for scale.
//!
//! Memory per key is measured with a counting global allocator (this bench only): live
//! heap bytes after inserting N fresh keys minus before, divided by N, printed before the
//! timings for N = 100,000 and 1,000,000, for both limiters.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use tower_shield::core::quota::Quota;
use tower_shield::core::store::{CheckMode, MemoryRateStore, RateCheck, RateStore};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: ptr was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const KEYS: usize = 100_000;
const RATE: u32 = 1_000_000_000;

type Governor = governor::RateLimiter<
    String,
    governor::state::keyed::DashMapStateStore<String>,
    governor::clock::DefaultClock,
>;

fn governor() -> Governor {
    let n = NonZeroU32::new(RATE).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::dashmap(governor::Quota::per_second(n))
}

/// governor keyed by `IpAddr`, as tower-governor keys by default: its most favourable setup
/// (a small `Copy` key, no string to compare).
type GovernorIp = governor::RateLimiter<
    IpAddr,
    governor::state::keyed::DashMapStateStore<IpAddr>,
    governor::clock::DefaultClock,
>;

fn governor_ip() -> GovernorIp {
    let n = NonZeroU32::new(RATE).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::dashmap(governor::Quota::per_second(n))
}

fn ips(n: usize) -> Vec<IpAddr> {
    (0..n as u32)
        .map(|i| IpAddr::from(std::net::Ipv4Addr::from(0x0A00_0000 | i)))
        .collect()
}

fn ours(max_keys: usize) -> MemoryRateStore {
    MemoryRateStore::builder().max_keys(max_keys).build()
}

fn keys(n: usize) -> Vec<String> {
    let mut buf = String::new();
    (0..n as u32)
        .map(|i| key_for(i, &mut buf).to_owned())
        .collect()
}

/// A fixed pseudo-random index sequence (xorshift64), the same for both limiters.
fn draws(n: usize, len: usize, seed: u64) -> Vec<u32> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as u32
        })
        .collect()
}

/// The key the layer builds for client `10.x.y.z` (`rl:default:ip:10.x.y.z/32`), written
/// into a reused buffer without `fmt`, as the layer does per request.
#[inline]
fn key_for(i: u32, buf: &mut String) -> &str {
    fn push_u8(buf: &mut String, mut n: u8) {
        if n >= 100 {
            buf.push(char::from(b'0' + n / 100));
            n %= 100;
            buf.push(char::from(b'0' + n / 10));
        } else if n >= 10 {
            buf.push(char::from(b'0' + n / 10));
        }
        buf.push(char::from(b'0' + n % 10));
    }
    buf.clear();
    buf.push_str("rl:default:ip:10.");
    let [_, a, b, c] = (0x0A00_0000 | i).to_be_bytes();
    push_u8(buf, a);
    buf.push('.');
    push_u8(buf, b);
    buf.push('.');
    push_u8(buf, c);
    buf.push_str("/32");
    buf
}

/// Every client's key in one contiguous buffer: a key in hand, laid out like governor's
/// `Vec<IpAddr>` (one cache miss to reach a random client's key, no pointer chase).
struct KeyArena {
    bytes: String,
    ends: Vec<u32>,
}

impl KeyArena {
    fn new(n: usize) -> Self {
        let (mut bytes, mut ends, mut buf) = (String::new(), Vec::with_capacity(n), String::new());
        for i in 0..n as u32 {
            bytes.push_str(key_for(i, &mut buf));
            ends.push(bytes.len() as u32);
        }
        Self { bytes, ends }
    }

    #[inline]
    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }
}

/// Our check for client `i`, with its key in hand.
#[inline]
fn check_ours_ip(
    store: &MemoryRateStore,
    arena: &KeyArena,
    i: u32,
    gcra: tower_shield::core::quota::Gcra,
) -> bool {
    check_ours(store, arena.get(i), gcra)
}

#[inline]
fn check_ours(store: &MemoryRateStore, key: &str, gcra: tower_shield::core::quota::Gcra) -> bool {
    let checks = [RateCheck { key, gcra, cost: 1 }];
    match store.check(&checks, CheckMode::Charge).into_inner() {
        Ok(o) => o.allowed(),
        Err(_) => false,
    }
}

fn bench(c: &mut Criterion) {
    let gcra = Quota::per_second(RATE).gcra();
    let keys = keys(KEYS);
    let seq = draws(KEYS, 1 << 20, 0x9E37_79B9_7F4A_7C15);
    let mask = seq.len() - 1;

    let arena = KeyArena::new(KEYS);
    let mut g = c.benchmark_group("ratelimit");

    let store = ours(1_000_000);
    g.bench_function("hot/tower-shield", |b| {
        b.iter(|| check_ours_ip(&store, &arena, black_box(0), gcra))
    });
    let gov = governor();
    g.bench_function("hot/governor", |b| {
        b.iter(|| gov.check_key(black_box(&keys[0])).is_ok())
    });
    let ips = ips(KEYS);
    let gov_ip = governor_ip();
    g.bench_function("hot/governor-ip", |b| {
        b.iter(|| gov_ip.check_key(black_box(&ips[0])).is_ok())
    });

    let store = ours(1_000_000);
    for k in &keys {
        check_ours(&store, k, gcra);
    }
    let mut i = 0usize;
    g.bench_function("uniform_100k/tower-shield", |b| {
        b.iter(|| {
            i = (i + 1) & mask;
            check_ours_ip(&store, &arena, black_box(seq[i]), gcra)
        })
    });
    let gov = governor();
    for k in &keys {
        let _ = gov.check_key(k);
    }
    let mut i = 0usize;
    g.bench_function("uniform_100k/governor", |b| {
        b.iter(|| {
            i = (i + 1) & mask;
            let k = &keys[seq[i] as usize];
            gov.check_key(black_box(k)).is_ok()
        })
    });
    for ip in &ips {
        let _ = gov_ip.check_key(ip);
    }
    let mut i = 0usize;
    g.bench_function("uniform_100k/governor-ip", |b| {
        b.iter(|| {
            i = (i + 1) & mask;
            let k = &ips[seq[i] as usize];
            gov_ip.check_key(black_box(k)).is_ok()
        })
    });

    let seq2 = draws(KEYS, 1 << 20, 0xD1B5_4A32_D192_ED03);
    g.bench_function("2_threads/tower-shield", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, [&seq, &seq2], |d| {
                check_ours_ip(&store, &arena, d, gcra)
            })
        })
    });
    g.bench_function("2_threads/governor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, [&seq, &seq2], |d| {
                gov.check_key(&keys[d as usize]).is_ok()
            })
        })
    });
    g.bench_function("2_threads/governor-ip", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, [&seq, &seq2], |d| {
                gov_ip.check_key(&ips[d as usize]).is_ok()
            })
        })
    });
    let hot = [vec![0u32; 1024], vec![0u32; 1024]];
    g.bench_function("2_threads_hot/tower-shield", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, [&hot[0], &hot[1]], |d| {
                check_ours_ip(&store, &arena, d, gcra)
            })
        })
    });
    g.bench_function("2_threads_hot/governor", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, [&hot[0], &hot[1]], |d| {
                gov.check_key(&keys[d as usize]).is_ok()
            })
        })
    });
    g.bench_function("2_threads_hot/governor-ip", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, [&hot[0], &hot[1]], |d| {
                gov_ip.check_key(&ips[d as usize]).is_ok()
            })
        })
    });
    g.finish();

    // For scale, not for the comparison: the whole layer on a hot key (plan the key,
    // check, render the IETF headers, call a trivial inner service).
    // `()` cannot hold a refusal: the layer answers in `ShieldBody<()>`.
    let layer =
        tower_shield::ratelimit::RateLimitLayer::new(Quota::per_second(RATE)).wrapped_body();
    let mut svc = tower::Layer::layer(
        &layer,
        tower::service_fn(|_req: http::Request<()>| {
            std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(())))
        }),
    );
    let peer = tower_shield::core::PeerAddr(
        "203.0.113.7:4000"
            .parse()
            .unwrap_or(([0, 0, 0, 0], 0).into()),
    );
    c.bench_function("layer/hot", |b| {
        b.iter(|| {
            use tower::Service;
            let mut req = http::Request::new(());
            req.extensions_mut().insert(peer);
            let mut fut = std::pin::pin!(svc.call(req));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match std::future::Future::poll(fut.as_mut(), &mut cx) {
                std::task::Poll::Ready(Ok(res)) => res.status().as_u16(),
                _ => 0,
            }
        })
    });
}

/// Runs `iters` checks split over two threads; returns the wall time (so the reported
/// time per iteration is wall time per check with both threads busy).
fn two_threads(iters: u64, seqs: [&Vec<u32>; 2], f: impl Fn(u32) -> bool + Sync) -> Duration {
    let per = iters.div_ceil(2);
    let start = Instant::now();
    std::thread::scope(|s| {
        for seq in seqs {
            let f = &f;
            s.spawn(move || {
                let mask = seq.len() - 1;
                let mut ok = 0u64;
                for j in 0..per as usize {
                    ok += u64::from(f(seq[j & mask]));
                }
                black_box(ok);
            });
        }
    });
    start.elapsed()
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Live heap bytes per tracked key after inserting `n` fresh keys.
fn memory_report() {
    let gcra = Quota::per_hour(1000).gcra();
    for n in [100_000usize, 1_000_000] {
        let names = keys(n.min(1 << 24));
        let before = live();
        let store = ours(n);
        for k in &names {
            check_ours(&store, k, gcra);
        }
        let ours_bytes = (live() - before) as f64 / n as f64;
        assert_eq!(store.len(), n);
        drop(store);

        // governor keeps the key itself (a `String` here: 24 bytes plus its heap bytes),
        // so for a like-for-like table cost it is also shown with `u64` keys.
        let before = live();
        let gov = governor();
        for k in &names {
            let _ = gov.check_key(k);
        }
        let gov_string = (live() - before) as f64 / n as f64;
        drop(gov);
        let before = live();
        let n32 = NonZeroU32::new(RATE).unwrap_or(NonZeroU32::MIN);
        let gov64: governor::RateLimiter<u64, governor::state::keyed::DashMapStateStore<u64>, _> =
            governor::RateLimiter::dashmap(governor::Quota::per_second(n32));
        for k in 0..n as u64 {
            let _ = gov64.check_key(&k);
        }
        let gov_u64 = (live() - before) as f64 / n as f64;
        drop(gov64);
        println!(
            "memory/{n} keys: tower-shield {ours_bytes:.1} B/key; governor {gov_string:.1} B/key (String keys), {gov_u64:.1} B/key (u64 keys)"
        );
    }
}

/// Interleaved A/B rounds, printed before criterion's timings: on a shared machine the
/// load drifts between criterion's sequential benchmarks, so each round here times both
/// limiters back to back and the median of the per-round times is reported.
fn paired_report() {
    const ROUNDS: usize = 15;
    const OPS: usize = 200_000;
    let gcra = Quota::per_second(RATE).gcra();
    let keys = keys(KEYS);
    let ips = ips(KEYS);
    let seq = draws(KEYS, 1 << 20, 0x9E37_79B9_7F4A_7C15);
    let mask = seq.len() - 1;
    let store = ours(1_000_000);
    let gov = governor();
    let gov_ip = governor_ip();
    let arena = KeyArena::new(KEYS);
    for (k, ip) in keys.iter().zip(&ips) {
        check_ours(&store, k, gcra);
        let _ = gov.check_key(k);
        let _ = gov_ip.check_key(ip);
    }
    let time = |f: &dyn Fn(usize) -> bool| {
        let start = Instant::now();
        let mut ok = 0usize;
        for i in 0..OPS {
            ok += usize::from(f(i));
        }
        black_box(ok);
        start.elapsed().as_nanos() as f64 / OPS as f64
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    type Check<'a> = Box<dyn Fn(usize) -> bool + 'a>;
    let cases: Vec<(&str, [Check<'_>; 3])> = vec![
        (
            "hot",
            [
                Box::new(|_| check_ours_ip(&store, &arena, black_box(0), gcra)),
                Box::new(|_| gov.check_key(black_box(&keys[0])).is_ok()),
                Box::new(|_| gov_ip.check_key(black_box(&ips[0])).is_ok()),
            ],
        ),
        (
            "uniform_100k",
            [
                Box::new(|i| check_ours_ip(&store, &arena, seq[i & mask], gcra)),
                Box::new(|i| gov.check_key(&keys[seq[i & mask] as usize]).is_ok()),
                Box::new(|i| gov_ip.check_key(&ips[seq[i & mask] as usize]).is_ok()),
            ],
        ),
    ];
    // Two threads on one hot key: wall time per check, interleaved the same way.
    let hot = [vec![0u32; 1024], vec![0u32; 1024]];
    let two = |f: &(dyn Fn(u32) -> bool + Sync)| {
        two_threads(OPS as u64, [&hot[0], &hot[1]], f).as_nanos() as f64 / OPS as f64
    };
    let two_fs: [&(dyn Fn(u32) -> bool + Sync); 3] = [
        &|d| check_ours_ip(&store, &arena, d, gcra),
        &|d| gov.check_key(&keys[d as usize]).is_ok(),
        &|d| gov_ip.check_key(&ips[d as usize]).is_ok(),
    ];
    let mut t2: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (f, t) in two_fs.iter().zip(t2.iter_mut()) {
            t.push(two(*f));
        }
    }
    let [a, b, c] = t2;
    println!(
        "paired/2_threads_hot: tower-shield {:.1} ns, governor {:.1} ns, governor-ip {:.1} ns (median of {ROUNDS} interleaved rounds of {OPS})",
        median(a),
        median(b),
        median(c)
    );

    for (name, fs) in &cases {
        let mut t: [Vec<f64>; 3] = Default::default();
        for _ in 0..ROUNDS {
            for (f, t) in fs.iter().zip(t.iter_mut()) {
                t.push(time(&**f));
            }
        }
        let [a, b, c] = t;
        println!(
            "paired/{name}: tower-shield {:.1} ns, governor {:.1} ns, governor-ip {:.1} ns (median of {ROUNDS} interleaved rounds of {OPS})",
            median(a),
            median(b),
            median(c)
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    // `RL_SKIP_REPORTS=1` skips the memory and paired reports (e.g. when profiling one case).
    if std::env::var_os("RL_SKIP_REPORTS").is_none() {
        memory_report();
        paired_report();
    }
    // `RL_ONLY_REPORTS=1` stops after the reports.
    if std::env::var_os("RL_ONLY_REPORTS").is_some() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
