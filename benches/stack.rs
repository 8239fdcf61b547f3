//! Per-request cost of whole stacks on an axum hello-world route, in deterministic units:
//! heap allocations per request (a counting global allocator, this binary only) and, under
//! callgrind, instructions per request; then criterion timings.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-stack cargo bench -j2 --bench stack -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The configurations mirror `examples/bench_server.rs` (what `scripts/loadtest.sh` drives
//! with wrk): `bare`; `ratelimit` (`ClientIpLayer::peer` + `RateLimitLayer`, IETF headers,
//! two `Router::layer` calls); `ratelimit-no-headers`; `ratelimit-stacked` (the same two
//! layers in one `ServiceBuilder`, one `Router::layer`); `ratelimit-peer` (`RateLimitLayer`
//! alone, keyed by the socket peer as tower-governor is); `ratelimit-peer-no-headers`;
//! `governor` and
//! `governor-headers` (tower-governor, the peer);
//! `shield` (client IP behind a trusted proxy, API key, classify, rate limit); and
//! `shield-pow` (the same plus a `PowLayer` protecting every path, the request carrying a
//! valid pass). Each request is the browser-like GET of `scripts/loadtest/get.lua` with
//! axum's `ConnectInfo` set, as the server sees it; every configuration answers 200.
//!
//! Requests are built before counting; what is counted is `Router::call` through the
//! stack to the handler and back, and dropping the response. The stacks are warmed first
//! (caches filled, store keys created), so the figures are the steady state. `bare` is the
//! router alone: subtract it for the stack's own cost.
//!
//! Instructions per request, with valgrind (only the request function is counted):
//!
//! ```text
//! STACK_CONFIG=shield STACK_ITERS=10000 valgrind --tool=callgrind --toggle-collect='*stack::run_one*' \
//!     --callgrind-out-file=/tmp/cg.out /work/target-stack/release/deps/stack-<hash>
//! callgrind_annotate /tmp/cg.out | head   # total Ir / 10000
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion};
use http::{Request, Response};
use std::convert::Infallible;
use tower::ServiceExt;
use tower::{Service, ServiceBuilder};
use tower_shield::Shield;
use tower_shield::auth::StaticApiKeys;
use tower_shield::classify::Classifier;
use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};
use tower_shield::core::Quota;
use tower_shield::ratelimit::{HeaderMode, RateLimitLayer};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: ptr was allocated by this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A realloc counts as an allocation: it usually is one.
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The API key of the shield configurations (as in `bench_server`).
const API_KEY: &str = "tsk_bench_key_0123456789";
/// The proof-of-work secret of `shield-pow`.
const POW_SECRET: &str = "bench_pow_secret_0123456789abcdef0123";
/// The client the trusted proxy (loopback) forwards for.
const CLIENT: &str = "81.2.69.160";

/// The per-component build-up (`scripts/callgrind-stack.sh`): each adds one part to the
/// one before, all answering in axum's `Body`; `shield-miss` is the full stack with a new
/// client address per request.
const BUILDUP: [&str; 9] = [
    "bare",
    "noop",
    "shield-peer",
    "shield-xff",
    "shield-key",
    "shield-classify",
    "shield-rl-no-headers",
    "shield-inner-body",
    "shield-miss",
];

const CONFIGS: [&str; 19] = [
    "bare",
    "ratelimit",
    "ratelimit-no-headers",
    "ratelimit-stacked",
    "ratelimit-stacked-inner-body",
    "ratelimit-peer",
    "ratelimit-peer-no-headers",
    "governor",
    "governor-headers",
    "shield",
    "ratelimit-peer-no-headers-inner-body",
    "ratelimit-peer-inner-body",
    "shield-pow",
    "shield-inner-body",
    "shield-pow-inner-body",
    "ratelimit-peer-outer",
    "governor-outer",
    "shield-outer",
    "shield-pow-outer",
];

/// A limit no run reaches.
fn never() -> Quota {
    Quota::per_second(1_000_000_000)
}

fn xff_builder() -> tower_shield::ShieldBuilder {
    Shield::builder().client_ip(
        ClientIpSource::RightmostXForwardedFor,
        ["127.0.0.1/32".parse().unwrap()],
    )
}

fn key_builder() -> tower_shield::ShieldBuilder {
    let keys = StaticApiKeys::new()
        .key(API_KEY, ["bench"], Some(never()))
        .unwrap();
    xff_builder().api_keys(keys)
}

fn shield_builder() -> tower_shield::ShieldBuilder {
    key_builder()
        .classify(Classifier::embedded())
        .rate_limit(never())
        .max_tracked_keys(1_000_000)
}

/// The full stack plus a `PowLayer` protecting every path, and a valid pass for it.
fn shield_pow() -> (Shield, String) {
    let shield = shield_builder().pow_with(POW_SECRET, Ok).build().unwrap();
    let pow = shield.pow().unwrap();
    let (pass, _) = pow.mint_pass(
        "inline",
        Some(CLIENT.parse().unwrap()),
        Duration::from_secs(3600),
        pow.now(),
    );
    (shield, pass)
}

/// The router of `config`, finished the way `axum::serve` finishes it (`with_state`, so
/// handlers become routes once, not per request), and the pass of `shield-pow`.
fn app(config: &str) -> (Router, Option<String>) {
    let (router, pass) = unfinished(config);
    (router.with_state(()), pass)
}

fn unfinished(config: &str) -> (Router, Option<String>) {
    let hello = Router::new().route("/", get(|| async { "Hello, World!" }));
    match config {
        "bare" => (hello, None),
        "ratelimit" => (
            hello
                .layer(RateLimitLayer::new(never()))
                .layer(ClientIpLayer::peer()),
            None,
        ),
        "ratelimit-no-headers" => (
            hello
                .layer(RateLimitLayer::new(never()).headers(HeaderMode::Off))
                .layer(ClientIpLayer::peer()),
            None,
        ),
        // The same two layers as one `Router::layer` (axum's advice for several layers):
        // one boxed route level instead of two.
        "ratelimit-stacked" => (
            hello.layer(
                tower::ServiceBuilder::new()
                    .layer(ClientIpLayer::peer())
                    .layer(RateLimitLayer::new(never())),
            ),
            None,
        ),
        // ... each answering in axum's own `Body` (`inner_body`).
        "ratelimit-stacked-inner-body" => (
            hello.layer(
                tower::ServiceBuilder::new()
                    .layer(ClientIpLayer::peer().inner_body())
                    .layer(RateLimitLayer::new(never()).inner_body()),
            ),
            None,
        ),
        // The rate limiter alone, keyed by the socket peer: the work tower-governor does.
        "ratelimit-peer" => (hello.layer(RateLimitLayer::new(never())), None),
        // ... with no headers, as tower-governor's default.
        "ratelimit-peer-no-headers" => (
            hello.layer(RateLimitLayer::new(never()).headers(HeaderMode::Off)),
            None,
        ),
        "governor" => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(1_000_000_000)
                .finish()
                .unwrap();
            (
                hello.layer(tower_governor::GovernorLayer::new(config)),
                None,
            )
        }
        "governor-headers" => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(1_000_000_000)
                .use_headers()
                .finish()
                .unwrap();
            (
                hello.layer(tower_governor::GovernorLayer::new(config)),
                None,
            )
        }
        "shield" => (hello.layer(shield_builder().build().unwrap()), None),
        // The build-up, one part more each (inner body, as the fastest default).
        "noop" => (hello.layer(tower::layer::util::Identity::new()), None),
        "shield-peer" => (
            hello.layer(Shield::builder().build().unwrap().inner_body()),
            None,
        ),
        "shield-xff" => (
            hello.layer(xff_builder().build().unwrap().inner_body()),
            None,
        ),
        "shield-key" => (
            hello.layer(key_builder().build().unwrap().inner_body()),
            None,
        ),
        "shield-classify" => (
            hello.layer(
                key_builder()
                    .classify(Classifier::embedded())
                    .build()
                    .unwrap()
                    .inner_body(),
            ),
            None,
        ),
        "shield-rl-no-headers" => (
            hello.layer(
                key_builder()
                    .classify(Classifier::embedded())
                    .rate_limit_layer(RateLimitLayer::new(never()).headers(HeaderMode::Off))
                    .max_tracked_keys(1_000_000)
                    .build()
                    .unwrap()
                    .inner_body(),
            ),
            None,
        ),
        "shield-miss" => (
            hello.layer(shield_builder().build().unwrap().inner_body()),
            None,
        ),
        // `RateLimitLayer::inner_body`: answering in axum's own `Body`, so axum does not box
        // the response body (tower-governor answers in the app's response type too).
        "ratelimit-peer-no-headers-inner-body" => (
            hello.layer(
                RateLimitLayer::new(never())
                    .headers(HeaderMode::Off)
                    .inner_body(),
            ),
            None,
        ),
        "ratelimit-peer-inner-body" => {
            (hello.layer(RateLimitLayer::new(never()).inner_body()), None)
        }
        "shield-pow" => {
            let (shield, pass) = shield_pow();
            (hello.layer(shield), Some(pass))
        }
        // `Shield::inner_body`: the full stack answering in axum's own `Body`.
        "shield-inner-body" => (
            hello.layer(shield_builder().build().unwrap().inner_body()),
            None,
        ),
        "shield-pow-inner-body" => {
            let (shield, pass) = shield_pow();
            (hello.layer(shield.inner_body()), Some(pass))
        }
        other => panic!("unknown configuration {other}"),
    }
}

/// Client addresses of `shield-miss`: a new one for every request of the process.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(0);

/// A public address not sent before: 81.2.0.0 upwards (the network of [`CLIENT`]), each
/// request the next one.
fn new_client() -> String {
    let n = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed) + ((81 << 24) | (2 << 16));
    std::net::Ipv4Addr::from(n as u32).to_string()
}

/// The GET of `scripts/loadtest/get.lua`, as axum sees it behind `ConnectInfo`; with
/// `miss`, from a client address never seen before.
fn request_for(pass: Option<&str>, miss: bool) -> Request<Body> {
    let client = if miss { new_client() } else { CLIENT.into() };
    let mut b = Request::get("/")
        .header("host", "127.0.0.1:19090")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .header("accept", "text/html,application/xhtml+xml")
        .header("accept-language", "en-GB,en;q=0.9")
        .header("accept-encoding", "gzip, deflate")
        .header("x-forwarded-for", client)
        .header("x-api-key", API_KEY);
    if let Some(p) = pass {
        b = b.header("x-shield-token", p);
    }
    let mut req = b.body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnectInfo(
        "127.0.0.1:40000".parse::<SocketAddr>().unwrap(),
    ));
    req
}

/// Polls a future that completes without waiting (every stack here does, in memory).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// One request through the app, response dropped. What callgrind counts.
#[inline(never)]
fn run_one<S, B>(app: &S, req: Request<Body>) -> u16
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    let res = block_on(app.clone().oneshot(req)).unwrap();
    let status = res.status().as_u16();
    drop(black_box(res));
    status
}

/// The warm-up's request function: the same as [`run_one`], kept apart so callgrind's
/// `--toggle-collect` counts only the measured requests.
#[inline(never)]
fn warm_one<S, B>(app: &S, req: Request<Body>) -> u16
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    let res = block_on(app.clone().oneshot(req)).unwrap();
    res.status().as_u16()
}

/// A configuration's app with its pass. Type-erased once per configuration (so one
/// `main` drives routers and outer-wrapped services alike), never per request.
trait Bench {
    /// Allocations and bytes per request over `n` requests, after a warm-up.
    fn count(&self, n: u64) -> (f64, f64);
    /// `n` requests for callgrind, after a warm-up.
    fn requests(&self, n: u64);
    fn criterion(&self, g: &mut BenchmarkGroup<'_, WallTime>, name: &str);
}

struct Stack<S> {
    app: S,
    pass: Option<String>,
    /// A new client address per request (`shield-miss`).
    miss: bool,
}

impl<S, B> Bench for Stack<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    fn count(&self, n: u64) -> (f64, f64) {
        self.warm();
        let reqs: Vec<_> = (0..n).map(|_| self.req()).collect();
        let (a0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        for r in reqs {
            run_one(&self.app, r);
        }
        let (a1, b1) = (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        );
        ((a1 - a0) as f64 / n as f64, (b1 - b0) as f64 / n as f64)
    }

    fn requests(&self, n: u64) {
        self.warm();
        // Built before counting, so the allocation count is the requests' own.
        let reqs: Vec<_> = (0..n).map(|_| self.req()).collect();
        let a0 = ALLOCS.load(Ordering::Relaxed);
        for req in reqs {
            assert_eq!(run_one(&self.app, req), 200);
        }
        let a1 = ALLOCS.load(Ordering::Relaxed);
        println!("allocations/request: {:.2}", (a1 - a0) as f64 / n as f64);
    }

    fn criterion(&self, g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
        self.warm();
        g.bench_function(name, |b| {
            b.iter_batched(
                || self.req(),
                |req| run_one(&self.app, req),
                BatchSize::SmallInput,
            )
        });
    }
}

impl<S, B> Stack<S>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
{
    fn req(&self) -> Request<Body> {
        request_for(self.pass.as_deref(), self.miss)
    }

    fn warm(&self) {
        for _ in 0..1000 {
            assert_eq!(warm_one(&self.app, self.req()), 200);
        }
    }
}

/// The stack of `config`: a router (its layers applied with `Router::layer`), or for
/// `*-outer` the finished router wrapped from outside in one `ServiceBuilder`.
fn stack(config: &str) -> Box<dyn Bench> {
    let router = || {
        Router::new()
            .route("/", get(|| async { "Hello, World!" }))
            .with_state(())
    };
    match config {
        "ratelimit-peer-outer" => Box::new(Stack {
            app: ServiceBuilder::new()
                .layer(RateLimitLayer::new(never()).inner_body())
                .service(router()),
            pass: None,
            miss: false,
        }),
        "governor-outer" => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(1_000_000_000)
                .finish()
                .unwrap();
            Box::new(Stack {
                app: ServiceBuilder::new()
                    .layer(tower_governor::GovernorLayer::new(config))
                    .service(router()),
                pass: None,
                miss: false,
            })
        }
        "shield-outer" => Box::new(Stack {
            app: ServiceBuilder::new()
                .layer(shield_builder().build().unwrap().inner_body())
                .service(router()),
            pass: None,
            miss: false,
        }),
        "shield-pow-outer" => {
            let (shield, pass) = shield_pow();
            Box::new(Stack {
                app: ServiceBuilder::new()
                    .layer(shield.inner_body())
                    .service(router()),
                pass: Some(pass),
                miss: false,
            })
        }
        other => {
            let (app, pass) = app(other);
            Box::new(Stack {
                app,
                pass,
                miss: other.ends_with("-miss"),
            })
        }
    }
}

fn main() {
    // Callgrind mode: run one configuration and exit.
    if let Ok(n) = std::env::var("STACK_ITERS") {
        let n: u64 = n.parse().expect("STACK_ITERS is a number");
        let config = std::env::var("STACK_CONFIG").unwrap_or_else(|_| "shield".into());
        stack(&config).requests(n);
        println!("{config}: {n} requests");
        return;
    }

    println!("# heap allocations per request (steady state, 10,000 requests each)");
    println!("| configuration | allocs/req | bytes/req | allocs over bare |");
    println!("|---|---|---|---|");
    let (bare, _) = stack("bare").count(10_000);
    for config in BUILDUP.iter().skip(1).chain(CONFIGS.iter()) {
        let (a, b) = stack(config).count(10_000);
        println!("| {config} | {a:.2} | {b:.0} | {:+.2} |", a - bare);
    }
    println!();

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("stack");
    for config in CONFIGS {
        stack(config).criterion(&mut g, config);
    }
    g.finish();
    c.final_summary();
}
