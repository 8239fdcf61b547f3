//! A hello-world server behind each configuration `scripts/loadtest.sh` compares.
//!
//! ```text
//! cargo run --release --example bench_server -- --mode shield --listen 127.0.0.1:9001
//! ```
//!
//! Modes: `bare`, `ratelimit` (ClientIpLayer + RateLimitLayer, IETF headers, as two
//! `Router::layer` calls), `ratelimit-no-headers`, `ratelimit-stacked` (the same two layers
//! in one `ServiceBuilder`, one `Router::layer`), `ratelimit-peer` (RateLimitLayer alone,
//! keyed by the socket peer, as tower-governor is), `ratelimit-peer-no-headers` (the same
//! without headers, like for like with `governor`), `governor` (tower-governor, the peer, no
//! headers: its default), `governor-headers` (its `x-ratelimit-*` headers on), `shield`
//! (client IP behind a trusted proxy, API key, classify, rate limit), `shield-pow` (`shield`
//! plus a PowLayer protecting every path; requests carry the pass `--print-pass` prints),
//! `shield-sig` (`shield` plus a SignatureLayer on `POST /signed`), `flood` (`shield` with a
//! per-client quota that keeps keys alive, and small caps, for the memory run).
//! `shield-outer`, `shield-pow-outer`, `shield-sig-outer`, `ratelimit-peer-outer` and
//! `governor-outer` apply the same stacks around the whole router from outside (one
//! `ServiceBuilder`, served with `axum::ServiceExt::into_make_service_with_connect_info`)
//! instead of `Router::layer`, with tower-shield's body handed to axum unboxed.
//! `--print-signed` prints the headers of a signed 1 KiB POST for wrk.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use clap::{Parser, ValueEnum};
use tower_shield::Shield;
use tower_shield::auth::StaticApiKeys;
use tower_shield::classify::Classifier;
use tower_shield::client_ip::{ClientIpLayer, ClientIpSource};
use tower_shield::core::Quota;
use tower_shield::ratelimit::RateLimitLayer;
use tower_shield::signature::{Dialect, SignatureLayer, Signer, StaticKeys, Verifier};

/// The API key every shield mode accepts.
pub const API_KEY: &str = "tsk_bench_key_0123456789";
const SIG_ID: &str = "alk_bench";
const SIG_SECRET: &str = "als_bench_secret_0123456789abcdef";
/// The proof-of-work secret of `shield-pow` (the same in every run, so a printed pass
/// works against any `shield-pow` server).
const POW_SECRET: &str = "bench_pow_secret_0123456789abcdef0123";
/// The client the load generator claims to forward for (`scripts/loadtest/get.lua`).
const CLIENT: &str = "81.2.69.160";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Bare,
    Ratelimit,
    RatelimitNoHeaders,
    RatelimitStacked,
    /// `RatelimitStacked` with both layers answering in axum's own `Body` (`inner_body`).
    RatelimitStackedInnerBody,
    RatelimitPeer,
    /// `RatelimitPeer` without headers: like for like with `Governor`.
    RatelimitPeerNoHeaders,
    /// `RatelimitPeer` answering in axum's own `Body` (`inner_body`), as tower-governor does.
    RatelimitPeerInnerBody,
    /// `RatelimitPeerNoHeaders` answering in axum's own `Body`: like for like with `Governor`,
    /// body type included.
    RatelimitPeerNoHeadersInnerBody,
    Governor,
    GovernorHeaders,
    Shield,
    ShieldPow,
    /// `Shield` answering in axum's own `Body` (`Shield::inner_body`).
    ShieldInnerBody,
    /// `ShieldPow` answering in axum's own `Body`.
    ShieldPowInnerBody,
    /// `ShieldSig` answering in axum's own `Body`.
    ShieldSigInnerBody,
    ShieldSig,
    /// `Shield` wrapped around the whole router from outside (one `ServiceBuilder`, no
    /// `Router::layer`), its body handed to axum unboxed: the fastest way to apply it.
    ShieldOuter,
    /// `ShieldPow` applied the same way.
    ShieldPowOuter,
    /// `ShieldSig` applied the same way (the `SignatureLayer` stays a route layer).
    ShieldSigOuter,
    /// `RatelimitPeer` applied the same way.
    RatelimitPeerOuter,
    /// `Governor` applied the same way.
    GovernorOuter,
    Flood,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "bare")]
    mode: Mode,
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Bound on tracked keys per store (flood mode).
    #[arg(long, default_value_t = 100_000)]
    max_keys: usize,
    /// Print `Header: value` lines of a signed 1 KiB `POST /signed` and exit.
    #[arg(long)]
    print_signed: Option<String>,
    /// Print a proof-of-work pass for `shield-pow` (client 81.2.69.160, one hour) and exit.
    #[arg(long)]
    print_pass: bool,
    /// Instead of serving: send `--count` requests to this URL, each from a new client
    /// address (`X-Forwarded-For`, 11.0.0.1 upwards), `--concurrency` at a time.
    #[arg(long)]
    flood: Option<String>,
    /// Requests to send with `--flood`.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Requests in flight with `--flood`.
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
}

/// Sends `count` GETs to `url`, each from a distinct client address; prints status counts.
async fn flood(url: String, count: u64, concurrency: u64) {
    use http_body_util::{BodyExt, Empty};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..concurrency {
        let (client, next, url) = (client.clone(), next.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    return statuses;
                }
                let ip = std::net::Ipv4Addr::from(0x0b00_0001u32 + n as u32);
                let req = http::Request::get(&url)
                    .header("x-forwarded-for", ip.to_string())
                    .header(
                        "user-agent",
                        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                    )
                    .header("accept", "text/html")
                    .header("accept-language", "en")
                    .header("accept-encoding", "gzip")
                    .body(Empty::new())
                    .unwrap();
                let status = match client.request(req).await {
                    Ok(res) => {
                        let s = res.status().as_u16();
                        let _ = res.into_body().collect().await;
                        s
                    }
                    Err(_) => 0,
                };
                *statuses.entry(status).or_default() += 1;
            }
        }));
    }
    let mut all = std::collections::BTreeMap::<u16, u64>::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *all.entry(k).or_default() += v;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "flood: {count} requests from distinct addresses in {secs:.1}s ({:.0}/s); statuses {all:?}",
        count as f64 / secs
    );
}

/// A limit no load test reaches.
fn never() -> Quota {
    Quota::per_second(1_000_000_000)
}

fn shield(max_keys: usize, client_quota: Quota) -> Shield {
    shield_builder(max_keys, client_quota).build().unwrap()
}

/// `shield` plus a PowLayer protecting every path with reusable passes.
fn shield_pow() -> Shield {
    shield_builder(1_000_000, never())
        .pow_with(POW_SECRET, Ok)
        .build()
        .unwrap()
}

fn shield_builder(max_keys: usize, client_quota: Quota) -> tower_shield::ShieldBuilder {
    let keys = StaticApiKeys::new()
        .key(API_KEY, ["bench"], Some(never()))
        .unwrap();
    Shield::builder()
        .client_ip(
            ClientIpSource::RightmostXForwardedFor,
            ["127.0.0.1/32".parse().unwrap()],
        )
        .api_keys(keys)
        .classify(Classifier::embedded())
        .rate_limit(client_quota)
        .max_tracked_keys(max_keys)
}

fn app(mode: Mode, max_keys: usize) -> Router {
    let hello = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/signed", post(|| async { "ok" }));
    match mode {
        Mode::Bare => hello,
        Mode::Ratelimit => hello
            .layer(RateLimitLayer::new(never()))
            .layer(ClientIpLayer::peer()),
        Mode::RatelimitNoHeaders => hello
            .layer(RateLimitLayer::new(never()).headers(tower_shield::ratelimit::HeaderMode::Off))
            .layer(ClientIpLayer::peer()),
        Mode::RatelimitStacked => hello.layer(
            tower::ServiceBuilder::new()
                .layer(ClientIpLayer::peer())
                .layer(RateLimitLayer::new(never())),
        ),
        Mode::RatelimitStackedInnerBody => hello.layer(
            tower::ServiceBuilder::new()
                .layer(ClientIpLayer::peer().inner_body())
                .layer(RateLimitLayer::new(never()).inner_body()),
        ),
        Mode::RatelimitPeer => hello.layer(RateLimitLayer::new(never())),
        Mode::RatelimitPeerNoHeaders => hello
            .layer(RateLimitLayer::new(never()).headers(tower_shield::ratelimit::HeaderMode::Off)),
        Mode::RatelimitPeerInnerBody => hello.layer(RateLimitLayer::new(never()).inner_body()),
        Mode::RatelimitPeerNoHeadersInnerBody => hello.layer(
            RateLimitLayer::new(never())
                .headers(tower_shield::ratelimit::HeaderMode::Off)
                .inner_body(),
        ),
        Mode::GovernorHeaders => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(1_000_000_000)
                .use_headers()
                .finish()
                .unwrap();
            hello.layer(tower_governor::GovernorLayer::new(config))
        }
        Mode::Governor => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(1_000_000_000)
                .finish()
                .unwrap();
            hello.layer(tower_governor::GovernorLayer::new(config))
        }
        Mode::Shield => hello.layer(shield(1_000_000, never())),
        Mode::ShieldPow => hello.layer(shield_pow()),
        Mode::ShieldInnerBody => hello.layer(shield(1_000_000, never()).inner_body()),
        Mode::ShieldPowInnerBody => hello.layer(shield_pow().inner_body()),
        Mode::ShieldSigInnerBody => signed_router().layer(shield(1_000_000, never()).inner_body()),
        Mode::ShieldSig => signed_router().layer(shield(1_000_000, never())),
        Mode::ShieldOuter
        | Mode::ShieldPowOuter
        | Mode::ShieldSigOuter
        | Mode::RatelimitPeerOuter
        | Mode::GovernorOuter => unreachable!("served by `outer`"),
        // A real per-client quota: each client's key stays alive for an hour.
        Mode::Flood => hello.layer(shield(max_keys, Quota::per_hour(100))),
    }
}

/// The hello-world routes with a `SignatureLayer` on `POST /signed`.
fn signed_router() -> Router {
    let keys = StaticKeys::new().key(SIG_ID, SIG_SECRET).unwrap();
    let verify = SignatureLayer::new(Verifier::new(Dialect::verus(), keys));
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/signed", post(|| async { "ok" }).route_layer(verify))
}

impl Mode {
    fn is_outer(self) -> bool {
        matches!(
            self,
            Mode::ShieldOuter
                | Mode::ShieldPowOuter
                | Mode::ShieldSigOuter
                | Mode::RatelimitPeerOuter
                | Mode::GovernorOuter
        )
    }
}

/// Serves an `*-outer` mode: the router wrapped from outside. No `Router::layer`: the
/// router is the wrapped service, so axum boxes neither a service clone nor a future per
/// request for the layer.
async fn outer(mode: Mode, listener: tokio::net::TcpListener) {
    use tower::ServiceBuilder;
    let hello = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/signed", post(|| async { "ok" }));
    match mode {
        Mode::ShieldOuter => {
            serve(
                listener,
                ServiceBuilder::new()
                    .layer(shield(1_000_000, never()).inner_body())
                    .service(hello),
            )
            .await
        }
        Mode::ShieldPowOuter => {
            serve(
                listener,
                ServiceBuilder::new()
                    .layer(shield_pow().inner_body())
                    .service(hello),
            )
            .await
        }
        Mode::ShieldSigOuter => {
            serve(
                listener,
                ServiceBuilder::new()
                    .layer(shield(1_000_000, never()).inner_body())
                    .service(signed_router()),
            )
            .await
        }
        Mode::RatelimitPeerOuter => {
            serve(
                listener,
                ServiceBuilder::new()
                    .layer(RateLimitLayer::new(never()).inner_body())
                    .service(hello),
            )
            .await
        }
        Mode::GovernorOuter => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(1_000_000_000)
                .finish()
                .unwrap();
            serve(
                listener,
                ServiceBuilder::new()
                    .layer(tower_governor::GovernorLayer::new(config))
                    .service(hello),
            )
            .await
        }
        other => unreachable!("{other:?} is not an outer mode"),
    }
}

async fn serve<S>(listener: tokio::net::TcpListener, svc: S)
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    use axum::ServiceExt;
    axum::serve(
        listener,
        ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(
            svc,
        ),
    )
    .await
    .unwrap();
}

fn print_signed(url_path: &str) {
    let body = vec![b'x'; 1024];
    let mut req = http::Request::post(url_path).body(body).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Signer::new(Dialect::verus(), SIG_ID, SIG_SECRET)
        .sign(&mut req, now)
        .unwrap();
    for (k, v) in req.headers() {
        println!("{}: {}", k, v.to_str().unwrap());
    }
}

fn print_pass() {
    let shield = shield_pow();
    let Some(pow) = shield.pow() else {
        return;
    };
    let (pass, _) = pow.mint_pass(
        "inline",
        CLIENT.parse().ok(),
        Duration::from_secs(3600),
        pow.now(),
    );
    println!("{pass}");
}

fn main() {
    let args = Args::parse();
    if args.print_pass {
        print_pass();
        return;
    }
    if let Some(path) = args.print_signed {
        print_signed(&path);
        return;
    }
    if let Some(url) = args.flood {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(flood(url, args.count, args.concurrency));
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await.unwrap();
        println!(
            "bench_server {:?} on {}",
            args.mode,
            listener.local_addr().unwrap()
        );
        if args.mode.is_outer() {
            outer(args.mode, listener).await;
            return;
        }
        let app = app(args.mode, args.max_keys);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}
