//! The table-full flood probe (issue 17): how long does a fresh client wait while, and
//! after, a flood of distinct clients fills the memory store's key table?
//!
//! ```text
//! scripts/flood_probe.sh                 # both address families, 100k-key table
//! cargo run --example flood_probe --features ratelimit -- v6 100000
//! ```
//!
//! Simulated time (a `ManualClock`), real layer and store: a `RateLimitLayer` of 1
//! request a minute per client over a `MemoryRateStore` of `max_keys` keys (default
//! store settings otherwise). 1.05 x `max_keys` distinct clients (IPv4: addresses in
//! 10.0.0.0/8; IPv6: /64s in 2001:db8::/32, 65,536 per /48) each send one request,
//! spread evenly over 10 s. Probe A, a client from another network (192.0.2.0/24 or
//! 3fff:0:0::/48), tries every 100 ms from the moment the flood has sent `max_keys` distinct
//! clients (enough to fill the table); probe B, another (198.51.100.0/24 or 3fff:0:1::/48)
//! fresh client, tries every 100 ms from the end of the flood. Each reports how long it
//! waited for its first 200 (given up at 120 s). Memory is the heap in use after the
//! flood minus before the store was built (a counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use http::{Request, Response};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_shield::core::store::MemoryRateStore;
use tower_shield::core::{ManualClock, PeerAddr, Quota};
use tower_shield::ratelimit::RateLimitLayer;

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
static ALLOC: Counting = Counting;

const T0: Duration = Duration::from_secs(1_700_000_000);
const FLOOD: Duration = Duration::from_secs(10);
const STEP: Duration = Duration::from_millis(100);
const GIVE_UP: Duration = Duration::from_secs(120);

fn flood_ip(v6: bool, i: u64) -> IpAddr {
    if v6 {
        // /64 number i inside 2001:db8::/32: 65,536 /64s per /48.
        let net = (0x2001_0db8u128 << 96) | (u128::from(i) << 64);
        IpAddr::from(std::net::Ipv6Addr::from(net | 1))
    } else {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32))
    }
}

fn probe_ip(v6: bool, which: u8) -> IpAddr {
    match (v6, which) {
        // Two networks, so the probes never share a counter with each other.
        (false, 0) => IpAddr::from([192, 0, 2, 7]),
        (false, _) => IpAddr::from([198, 51, 100, 7]),
        (true, a) => format!("3fff:0:{a}::1").parse().unwrap(),
    }
}

struct Probe {
    ip: IpAddr,
    start: Option<Duration>,
    served: Option<Duration>,
    refusals: u32,
}

impl Probe {
    fn new(ip: IpAddr) -> Self {
        Self {
            ip,
            start: None,
            served: None,
            refusals: 0,
        }
    }

    fn report(&self, name: &str) -> String {
        match (self.start, self.served) {
            (Some(s), Some(e)) => format!(
                "{name}: waited {:.1} s ({} refusals before the first 200)",
                (e - s).as_secs_f64(),
                self.refusals
            ),
            (Some(_), None) => format!(
                "{name}: not served within {} s ({} refusals)",
                GIVE_UP.as_secs(),
                self.refusals
            ),
            (None, _) => format!("{name}: never started"),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let v6 = args.next().as_deref() == Some("v6");
    let max_keys: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let clients = max_keys * 105 / 100;

    let clock = ManualClock::new(T0);
    let before = LIVE.load(Ordering::Relaxed);
    let store = MemoryRateStore::builder()
        .clock(clock.clone())
        .max_keys(max_keys as usize)
        .build();
    let mut svc = ServiceBuilder::new()
        .layer(
            RateLimitLayer::new(Quota::per_minute(1))
                .store(store.clone())
                .wrapped_body(),
        )
        .service(service_fn(|_r: Request<()>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
    let mut send = async |ip: IpAddr| -> u16 {
        let mut r = Request::new(());
        r.extensions_mut().insert(PeerAddr((ip, 4000).into()));
        let s = svc.ready().await.unwrap();
        s.call(r).await.unwrap().status().as_u16()
    };

    let wall = Instant::now();
    let mut a = Probe::new(probe_ip(v6, 0));
    let mut b = Probe::new(probe_ip(v6, 1));
    let mut flood_503 = 0u64;
    let mut flood_429 = 0u64;
    let mut peak = 0usize;
    let mut mem_after_flood = 0isize;
    let mut sent = 0u64;
    let mut t = Duration::ZERO;
    while t < FLOOD + GIVE_UP {
        // The flood's requests due in this step.
        let due = if t < FLOOD {
            (clients * (t + STEP).as_millis() as u64 / FLOOD.as_millis() as u64).min(clients)
        } else {
            clients
        };
        while sent < due {
            match send(flood_ip(v6, sent)).await {
                503 => flood_503 += 1,
                429 => flood_429 += 1,
                _ => {}
            }
            sent += 1;
        }
        peak = peak.max(store.len());
        if t + STEP >= FLOOD && mem_after_flood == 0 {
            mem_after_flood = LIVE.load(Ordering::Relaxed) - before;
        }
        if a.start.is_none() && sent >= max_keys {
            a.start = Some(t);
        }
        if b.start.is_none() && t >= FLOOD {
            b.start = Some(t);
        }
        for p in [&mut a, &mut b] {
            if p.start.is_some() && p.served.is_none() {
                if send(p.ip).await == 200 {
                    p.served = Some(t);
                } else {
                    p.refusals += 1;
                }
            }
        }
        if (a.served.is_some() || a.start.is_none()) && b.served.is_some() {
            break;
        }
        t += STEP;
        clock.advance(STEP);
    }
    println!(
        "{} flood: {clients} distinct clients in {} s at 1 req/min each, max_keys {max_keys}",
        if v6 { "IPv6 /64" } else { "IPv4" },
        FLOOD.as_secs()
    );
    println!(
        "  {}",
        a.report("probe A (from the table-filling request on, during the flood)")
    );
    println!("  {}", b.report("probe B (from the end of the flood on)"));
    println!(
        "  flood requests answered 503: {flood_503}, 429: {flood_429}; peak tracked keys {peak}; heap after the flood {:.1} MiB ({:.0} bytes/key); wall {:.2} s",
        mem_after_flood as f64 / (1 << 20) as f64,
        mem_after_flood as f64 / peak.max(1) as f64,
        wall.elapsed().as_secs_f64()
    );
}
