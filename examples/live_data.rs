//! Classification data reloaded while serving: the embedded snapshot plus your own ranges
//! from a CSV file, rebuilt and swapped in (`Classifier::swap_table`, through
//! `Classifier::reload_every`) whenever the file changes. Requests in flight finish on the
//! old table; no restart, no lock on the request path.
//!
//! The file: one `cidr,kind[,label]` per line, `kind` one of `hosting`, `vpn`, `proxy`,
//! `tor`, `crawler`; `#` starts a comment; bad lines are skipped and counted in the log.
//! Replace it atomically (write a new file beside it, then `mv`), so a reload never reads
//! half of it.
//!
//! ```text
//! echo '# my ranges' > ranges.csv
//! RANGES=ranges.csv cargo run --example live_data     # PORT=3000 by default
//! curl -H 'X-Forwarded-For: 81.2.69.160' -A 'Mozilla/5.0' -H 'Accept: text/html' \
//!      -H 'Accept-Language: en' -H 'Accept-Encoding: gzip' localhost:3000/
//! # -> "81.2.69.160: human=true hosting=false tor=false action=allow (data generation 0)"
//! echo '81.2.69.0/24,hosting,my-cloud' > new.csv && mv new.csv ranges.csv
//! curl ...the same...     # a moment later, same process:
//! # -> "81.2.69.160: human=false hosting=true tor=false action=monitor (data generation 1)"
//! printf '81.2.69.0/24,hosting,my-cloud\n81.2.69.160/32,tor,my-exits\n' > new.csv && mv new.csv ranges.csv
//! curl ...the same...     # -> 403 BLOCKED
//! ```
//!
//! The app trusts `X-Forwarded-For` from 127.0.0.1 (a local proxy), so curl can speak
//! for any address.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use axum::{Router, routing::get};
use tower_shield::Shield;
use tower_shield::classify::data::{
    LoadError, NetInfo, NetKind, PrefixTable, TableBuilder, embedded,
    loaders::{MAX_INPUT_BYTES, parse_net},
};
use tower_shield::classify::{Classifier, Verdict};
use tower_shield::client_ip::ClientIpSource;
use tower_shield::core::ClientIp;

/// The embedded snapshot plus the ranges of `csv`.
fn build_table(csv: &str) -> Result<PrefixTable, LoadError> {
    let mut b: TableBuilder = embedded::builder();
    let (mut added, mut skipped) = (0, 0);
    for line in csv.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut f = line.split(',').map(str::trim);
        let (Some(net), Some(kind)) = (
            f.next().and_then(parse_net),
            f.next().and_then(NetKind::from_name),
        ) else {
            skipped += 1;
            continue;
        };
        let label = f.next().filter(|l| !l.is_empty()).unwrap_or("live-data");
        b.add_net(net, NetInfo::tagged(kind, label))?;
        added += 1;
    }
    tracing::info!(added, skipped, "live_data: ranges loaded");
    Ok(b.build())
}

/// The file's text, at most `MAX_INPUT_BYTES` (256 MiB); no file is no ranges.
fn read(path: &PathBuf) -> Result<String, LoadError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(LoadError::new("live-data", 0, e.to_string())),
    };
    let mut text = String::new();
    file.take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| LoadError::new("live-data", 0, e.to_string()))?;
    if text.len() > MAX_INPUT_BYTES {
        return Err(LoadError::new("live-data", 0, "over 256 MiB"));
    }
    Ok(text)
}

/// What identifies a version of the file: its modification time and length.
fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let path = PathBuf::from(std::env::var("RANGES").unwrap_or_else(|_| "ranges.csv".into()));
    // The first table is built before serving.
    let mut seen = stamp(&path);
    let first = build_table(&read(&path)?)?;
    let classifier = Classifier::builder().table(first).build();

    // Checked every second; rebuilt only when the file changed. A file that cannot be
    // read or loaded keeps the table in force (`reload_every` logs the error).
    let reload = classifier.reload_every(Duration::from_secs(1), move || {
        let now = stamp(&path);
        if now == seen {
            return Ok(None);
        }
        seen = now;
        build_table(&read(&path)?).map(Some)
    });

    let shield = Shield::builder()
        .client_ip(
            ClientIpSource::RightmostXForwardedFor,
            ["127.0.0.1/32".parse()?],
        )
        .classify(classifier.clone())
        .build()?;
    let live = classifier.clone();
    let app = Router::new()
        .route(
            "/",
            get(move |ip: ClientIp, v: Verdict| async move {
                format!(
                    "{}: human={} hosting={} tor={} action={} (data generation {})\n",
                    ip.ip,
                    v.human,
                    v.flags.hosting,
                    v.flags.tor,
                    v.action,
                    live.generation()
                )
            }),
        )
        .layer(shield);

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    drop(reload); // stops the reload thread
    Ok(())
}
