//! The feed updater against real loopback HTTP servers: good, malformed, truncated,
//! oversized, slow and failing feeds, and the 304 path. No internet needed.

#[path = "../examples/demo/app.rs"]
#[allow(dead_code)]
mod app;
#[path = "../examples/demo/config.rs"]
#[allow(dead_code)]
mod config;
#[path = "common/demo_app.rs"]
mod demo_app;
#[path = "../examples/demo/seeds/mod.rs"]
#[allow(dead_code)]
mod seeds;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_shield::classify::feeds::{Feed, FeedFormat, FeedUpdater};
use tower_shield::classify::{Classifier, NetKind};

const AWS: &str = r#"{"syncToken":"1","createDate":"2026-01-01-00-00-00",
 "prefixes":[{"ip_prefix":"80.67.169.0/24","region":"us-east-1","service":"EC2"}],
 "ipv6_prefixes":[{"ipv6_prefix":"2a0c:9a40:aa::/48","region":"us-east-1","service":"EC2"}]}"#;
const TOR: &str = "171.25.193.7\n171.25.193.8\n";

/// What the test server does for one request.
#[derive(Clone)]
enum Answer {
    /// Status, extra header lines, body (with its Content-Length).
    Send(u16, Vec<String>, Vec<u8>),
    /// 200 with `Transfer-Encoding: chunked`, this many bytes, no Content-Length.
    Chunked(usize),
    /// Declares this Content-Length, sends these bytes, closes.
    Truncated(usize, Vec<u8>),
    /// Headers, then one byte every 10 s forever.
    Slow,
    /// Reads the request and resets the connection.
    Reset,
}

type Handler = Arc<dyn Fn(&str) -> Answer + Send + Sync>;

/// A loopback server answering by `handler(request head)`; counts requests.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(handler: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (h, hd) = (hits.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (handler, h, hd) = (handler.clone(), h.clone(), hd.clone());
                tokio::spawn(async move { serve_one(sock, handler, h, hd).await });
            }
        });
        Server { addr, hits, heads }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn last_head(&self) -> String {
        self.heads
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

async fn serve_one(
    mut sock: TcpStream,
    handler: Handler,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
) {
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match sock.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        hits.fetch_add(1, Ordering::SeqCst);
        heads.lock().unwrap().push(head.clone());
        match handler(&head) {
            Answer::Send(status, extra, body) => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for h in extra {
                    out.push_str(&h);
                    out.push_str("\r\n");
                }
                out.push_str("\r\n");
                let mut bytes = out.into_bytes();
                bytes.extend_from_slice(&body);
                if sock.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Answer::Chunked(n) => {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await;
                let chunk = vec![b'1'; 4096];
                let mut sent = 0;
                while sent < n {
                    let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
                    c.extend_from_slice(&chunk);
                    c.extend_from_slice(b"\r\n");
                    if sock.write_all(&c).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            }
            Answer::Truncated(declared, body) => {
                let out = format!("HTTP/1.1 200 OK\r\ncontent-length: {declared}\r\n\r\n");
                let _ = sock.write_all(out.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                return;
            }
            Answer::Slow => {
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                    .await;
                loop {
                    if sock.write_all(b"1").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
            Answer::Reset => {
                let _ = sock.set_zero_linger();
                return;
            }
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn kind(c: &Classifier, addr: &str) -> NetKind {
    c.table()
        .lookup(ip(addr))
        .map(|i| i.kind)
        .unwrap_or_default()
}

fn updater(c: &Classifier, feeds: Vec<Feed>) -> FeedUpdater {
    let mut b = FeedUpdater::builder(c.clone()).timeout(Duration::from_secs(2));
    for f in feeds {
        b = b.feed(f);
    }
    b.build().unwrap()
}

#[tokio::test]
async fn good_feeds_are_merged_over_the_embedded_snapshot() {
    let s = Server::start(|head| {
        if head.starts_with("get /aws ") {
            Answer::Send(200, vec![], AWS.into())
        } else {
            Answer::Send(200, vec![], TOR.into())
        }
    })
    .await;
    let c = Classifier::embedded();
    assert!(!kind(&c, "80.67.169.9").contains(NetKind::HOSTING));
    assert!(!kind(&c, "171.25.193.7").contains(NetKind::TOR));
    assert!(!c.classify_ip(ip("171.25.193.7")).flags.tor);
    let u = updater(
        &c,
        vec![
            Feed::new(&s.url("/aws"), FeedFormat::Aws).unwrap(),
            Feed::new(&s.url("/tor"), FeedFormat::TorBulkExitList).unwrap(),
        ],
    );
    let gen0 = c.generation();
    let r = u.refresh().await;
    assert_eq!((r.updated, r.failed, r.swapped), (2, 0, true));
    assert!(c.generation() > gen0);
    assert!(kind(&c, "80.67.169.9").contains(NetKind::HOSTING));
    assert!(kind(&c, "2a0c:9a40:aa::1").contains(NetKind::HOSTING));
    assert!(kind(&c, "171.25.193.7").contains(NetKind::TOR));
    // The embedded snapshot is still there: an AWS address from it, and private space.
    assert!(kind(&c, "3.5.140.2").contains(NetKind::HOSTING));
    assert!(c.table().lookup(ip("10.1.2.3")).is_some());
    let st = u.status();
    assert_eq!(st.len(), 2);
    assert_eq!((st[0].ranges, st[1].ranges), (2, 2));
    assert!(
        st.iter()
            .all(|f| f.last_success.is_some() && f.last_error.is_none())
    );
    assert!(st[0].age(std::time::SystemTime::now()).is_some());
    // The verdict follows: Tor exit flagged.
    assert!(c.classify_ip(ip("171.25.193.7")).flags.tor);
}

#[tokio::test]
async fn not_modified_keeps_the_data_and_sends_the_validators() {
    let s = Server::start(|head| {
        if head.contains("if-none-match: \"v1\"")
            && head.contains("if-modified-since: wed, 01 jan 2026 00:00:00 gmt")
        {
            Answer::Send(304, vec!["etag: \"v1\"".into()], Vec::new())
        } else {
            Answer::Send(
                200,
                vec![
                    "etag: \"v1\"".into(),
                    "last-modified: Wed, 01 Jan 2026 00:00:00 GMT".into(),
                ],
                AWS.into(),
            )
        }
    })
    .await;
    let c = Classifier::embedded();
    let u = updater(
        &c,
        vec![Feed::new(&s.url("/aws"), FeedFormat::Aws).unwrap()],
    );
    assert_eq!(u.refresh().await.updated, 1);
    assert!(!s.last_head().contains("if-none-match"));
    let gen1 = c.generation();
    let st1 = u.status().remove(0);
    assert_eq!(st1.etag.as_deref(), Some("\"v1\""));
    let r = u.refresh().await;
    assert_eq!((r.not_modified, r.updated, r.swapped), (1, 0, false));
    assert_eq!(s.hits(), 2);
    assert!(s.last_head().contains("if-none-match: \"v1\""));
    assert_eq!(c.generation(), gen1, "a 304 swaps nothing");
    assert!(kind(&c, "80.67.169.9").contains(NetKind::HOSTING));
    let st2 = u.status().remove(0);
    assert_eq!(st2.last_change, st1.last_change);
    assert!(st2.last_success >= st1.last_success && st2.last_error.is_none());
}

/// Serves good data first, then `bad` forever; the feed must keep its first ranges.
async fn keeps_last_good_after(bad: Answer, expect_error: &str) {
    let n = Arc::new(AtomicUsize::new(0));
    let s = Server::start(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            Answer::Send(200, vec![], AWS.into())
        } else {
            bad.clone()
        }
    })
    .await;
    let good = Server::start(|_| Answer::Send(200, vec![], TOR.into())).await;
    let c = Classifier::embedded();
    let u = updater(
        &c,
        vec![
            Feed::new(&s.url("/aws"), FeedFormat::Aws)
                .unwrap()
                .max_bytes(64 * 1024)
                .unwrap(),
            Feed::new(&good.url("/tor"), FeedFormat::TorBulkExitList).unwrap(),
        ],
    );
    assert_eq!(u.refresh().await.updated, 2);
    let r = u.refresh().await;
    assert_eq!(r.failed, 1, "{expect_error}: {r:?}");
    assert!(
        kind(&c, "80.67.169.9").contains(NetKind::HOSTING),
        "{expect_error}"
    );
    assert!(kind(&c, "171.25.193.7").contains(NetKind::TOR));
    let st = u.status().remove(0);
    let err = st.last_error.clone().unwrap_or_default();
    assert!(
        err.contains(expect_error),
        "{err:?} should say {expect_error:?}"
    );
    assert_eq!(st.consecutive_failures, 1);
    assert_eq!(st.ranges, 2, "the status describes the data still in use");
    assert!(st.last_attempt > st.last_success);
}

#[tokio::test]
async fn server_error_keeps_last_good() {
    keeps_last_good_after(Answer::Send(500, vec![], b"oops".to_vec()), "status 500").await;
}

#[tokio::test]
async fn malformed_json_keeps_last_good() {
    keeps_last_good_after(
        Answer::Send(200, vec![], b"{\"prefixes\": [".to_vec()),
        "invalid Aws",
    )
    .await;
}

#[tokio::test]
async fn wrong_schema_keeps_last_good() {
    // Valid JSON of another shape: no ranges, so not an AWS feed.
    keeps_last_good_after(
        Answer::Send(200, vec![], br#"{"values":[{"properties":{}}]}"#.to_vec()),
        "no ranges",
    )
    .await;
}

#[tokio::test]
async fn truncated_body_keeps_last_good() {
    keeps_last_good_after(
        Answer::Truncated(AWS.len(), AWS.as_bytes()[..40].to_vec()),
        "body read failed",
    )
    .await;
}

#[tokio::test]
async fn oversized_declared_length_keeps_last_good() {
    keeps_last_good_after(
        Answer::Send(200, vec![], vec![b' '; 100 * 1024]),
        "over the 65536-byte bound",
    )
    .await;
}

#[tokio::test]
async fn oversized_chunked_body_stops_at_the_bound() {
    keeps_last_good_after(Answer::Chunked(1 << 20), "body over the 65536-byte bound").await;
}

#[tokio::test]
async fn connection_reset_keeps_last_good() {
    keeps_last_good_after(Answer::Reset, "request failed").await;
}

#[tokio::test]
async fn slow_feed_times_out_and_keeps_last_good() {
    keeps_last_good_after(Answer::Slow, "timed out").await;
}

#[tokio::test]
async fn a_feed_that_never_worked_leaves_the_snapshot_alone() {
    let s = Server::start(|_| Answer::Send(503, vec![], Vec::new())).await;
    let c = Classifier::embedded();
    let before = c.table();
    let u = updater(
        &c,
        vec![Feed::new(&s.url("/x"), FeedFormat::Azure).unwrap()],
    );
    let r = u.refresh().await;
    assert_eq!((r.failed, r.swapped), (1, false));
    assert!(Arc::ptr_eq(&before, &c.table()));
    let st = u.status().remove(0);
    assert!(st.last_success.is_none() && st.age(std::time::SystemTime::now()).is_none());
    assert!(st.last_error.unwrap().contains("503"));
}

#[tokio::test]
async fn nothing_listening_fails_the_feed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Classifier::embedded();
    let u = updater(
        &c,
        vec![
            Feed::new(
                &format!("http://127.0.0.1:{port}/tor"),
                FeedFormat::TorBulkExitList,
            )
            .unwrap(),
        ],
    );
    assert_eq!(u.refresh().await.failed, 1);
    assert!(
        u.status()[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("request failed")
    );
}

// Real time (the dev-dependency tokio has no `test-util`): short intervals, and no
// assertion on how fast anything happens.
#[tokio::test]
async fn the_schedule_refetches_with_bounded_concurrency() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    // Every answer is slow to start so that concurrent fetches overlap.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    {
        let (in_flight, peak, hits) = (in_flight.clone(), peak.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (in_flight, peak, hits) = (in_flight.clone(), peak.clone(), hits.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let out = format!(
                        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{TOR}",
                        TOR.len()
                    );
                    let _ = sock.write_all(out.as_bytes()).await;
                });
            }
        });
    }
    let c = Classifier::embedded();
    let mut b = FeedUpdater::builder(c.clone())
        .concurrency(2)
        .interval(Duration::from_secs(1))
        .jitter(Duration::from_millis(200))
        .timeout(Duration::from_secs(30));
    for i in 0..5 {
        b = b.feed(
            Feed::new(
                &format!("http://{addr}/tor{i}"),
                FeedFormat::TorBulkExitList,
            )
            .unwrap()
            .name(&format!("tor{i}")),
        );
    }
    let u = b.build().unwrap();
    let gen0 = c.generation();
    let task = u.spawn();
    // The first round: five fetches, never more than two at once, then one swap.
    while hits.load(Ordering::SeqCst) < 5 || c.generation() == gen0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(kind(&c, "171.25.193.8").contains(NetKind::TOR));
    // A second round comes by itself after the interval plus jitter.
    while hits.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(task);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_at = hits.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = hits.load(Ordering::SeqCst);
    assert_eq!(after, stopped_at, "stopped when the task was dropped");
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

#[test]
fn plain_http_only_to_loopback_unless_insecure() {
    let c = Classifier::embedded();
    let remote = || Feed::new("http://ranges.example.com/aws.json", FeedFormat::Aws).unwrap();
    let err = FeedUpdater::builder(c.clone())
        .feed(remote())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(
        FeedUpdater::builder(c.clone())
            .feed(remote())
            .insecure_http(true)
            .build()
            .is_ok()
    );
    for url in [
        "http://127.0.0.1:1/x",
        "http://[::1]:1/x",
        "http://localhost:1/x",
        "https://ranges.example.com/x",
    ] {
        let f = Feed::new(url, FeedFormat::Aws).unwrap();
        assert!(
            FeedUpdater::builder(c.clone()).feed(f).build().is_ok(),
            "{url}"
        );
    }
    assert!(Feed::new("ftp://x/y", FeedFormat::Aws).is_err());
    assert!(Feed::new("not a url", FeedFormat::Aws).is_err());
    assert!(
        Feed::new("https://x/y", FeedFormat::Aws)
            .unwrap()
            .max_bytes(0)
            .is_err()
    );
}

#[test]
fn format_names() {
    assert_eq!(FeedFormat::from_name("aws").unwrap(), FeedFormat::Aws);
    assert_eq!(
        FeedFormat::from_name("Tor").unwrap(),
        FeedFormat::TorBulkExitList
    );
    assert_eq!(
        FeedFormat::from_name("cidr-vpn").unwrap(),
        FeedFormat::CidrList(NetKind::VPN)
    );
    assert!(FeedFormat::from_name("cidr-nonsense").is_err());
    assert!(FeedFormat::from_name("yaml").is_err());
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn lines(&self, needle: &str) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test]
async fn the_demo_starts_on_the_snapshot_when_its_feeds_fail() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // Global: the callsite interest of a thread-local default races with the other
    // tests' threads. Lines are told apart by this test's own URLs.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let failing = Server::start(|_| Answer::Send(500, vec![], b"down".to_vec())).await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let toml = format!(
        "[client_ip]\nsource = \"x-forwarded-for\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n\n\
         [classify]\nfeeds = [{{ url = \"{}\", format = \"aws\" }}, \
         {{ url = \"http://127.0.0.1:{refused}/tor\", format = \"tor\", name = \"tor-exits\" }}]\n",
        failing.url("/ip-ranges.json")
    );
    let addr = demo_app::serve(&toml).await;

    // The first round runs at start: one line per failed feed.
    let ours = |logs: &Logs| -> Vec<String> {
        logs.lines("classify feed failed")
            .into_iter()
            .filter(|l| l.contains(&failing.url("/")) || l.contains(&format!(":{refused}/")))
            .collect()
    };
    for _ in 0..1000 {
        if ours(&logs).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let failed = ours(&logs);
    assert_eq!(failed.len(), 2, "{failed:#?} {:?}", logs.lines(""));
    assert!(
        failed
            .iter()
            .any(|l| l.contains("ip-ranges.json") && l.contains("status 500")),
        "{failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.contains("tor-exits") && l.contains("request failed")),
        "{failed:#?}"
    );
    assert!(failed.iter().all(|l| l.contains("WARN")));

    // It still classifies from the embedded snapshot: an AWS address is hosting.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let req = http::Request::get(format!("http://{addr}/api/whoami"))
        .header("x-forwarded-for", "3.5.140.2")
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = client.request(req).await.unwrap();
    assert_eq!(res.status(), 200);
    use http_body_util::BodyExt;
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["clientIp"]["ip"], "3.5.140.2", "{v}");
    assert_eq!(v["verdict"]["flags"]["hosting"], true, "{v}");
    assert_eq!(v["verdict"]["human"], false, "{v}");
}

/// Issue 19, item 4: a crawler operator's own list as a feed replaces that list in the
/// verified-crawler check (and the crawler ranges of the table); a bad answer keeps it.
#[tokio::test]
async fn a_crawler_list_feed_replaces_the_operators_list() {
    const GOOGLEBOT_JSON: &str = r#"{"creationTime":"2026-12-01T23:00:00.000000","prefixes":[{"ipv4Prefix":"81.2.69.0/24"},{"ipv6Prefix":"2a0c:9a40:bb::/64"}]}"#;
    let good = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let g = good.clone();
    let s = Server::start(move |_| {
        if g.load(Ordering::SeqCst) {
            Answer::Send(200, vec![], GOOGLEBOT_JSON.into())
        } else {
            Answer::Send(
                200,
                vec![],
                br#"{"creationTime":"x","prefixes":[]}"#.to_vec(),
            )
        }
    })
    .await;
    let c = Classifier::embedded();
    let mut h = http::HeaderMap::new();
    h.insert(
        "user-agent",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
            .parse()
            .unwrap(),
    );
    assert!(
        c.classify(ip("81.2.69.160"), &h)
            .has_reason("ua.spoofed_crawler")
    );
    assert!(c.classify(ip("66.249.66.1"), &h).verified_crawler.is_some());
    let format = FeedFormat::from_name("crawler:google-googlebot").unwrap();
    let u = updater(
        &c,
        vec![Feed::new(&s.url("/googlebot.json"), format).unwrap()],
    );
    let r = u.refresh().await;
    assert_eq!((r.updated, r.failed, r.swapped), (1, 0, true));
    for _ in 0..2 {
        let v = c.classify(ip("81.2.69.160"), &h);
        assert_eq!(
            v.verified_crawler.as_ref().map(|v| &*v.operator),
            Some("Google")
        );
        assert!(kind(&c, "81.2.69.160").contains(NetKind::CRAWLER));
        assert!(
            c.classify(ip("2a0c:9a40:bb::7"), &h)
                .verified_crawler
                .is_some()
        );
        // The feed replaced Google's list: the old range no longer verifies.
        assert!(
            c.classify(ip("66.249.66.1"), &h)
                .has_reason("ua.spoofed_crawler")
        );
        // A list with no prefix fails the feed, and the last good list stays.
        good.store(false, Ordering::SeqCst);
        let r = u.refresh().await;
        assert_eq!(r.failed, 1);
        assert!(u.status()[0].last_error.is_some());
    }
    assert!(FeedFormat::from_name("crawler:nope").is_err());
}
