//! What the site database adds to the challenge/verify path: recording an analytics event
//! (a bounded-queue push; the database write happens in a background batch), and a site
//! lookup and quota check once cached, against the in-memory site store's lookup. The
//! background writer's throughput (events written per second, SQLite file) is printed.
//!
//! `cargo bench --bench pow_admin -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tower_shield::pow::admin::{SiteInput, SqlSites};
use tower_shield::pow::site::{EventKind, SiteStore, VerificationEvent};
use tower_shield::pow::{MemorySiteStore, Site};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = std::env::temp_dir().join(format!("tower_shield_bench_{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let sites = rt.block_on(async {
        SqlSites::builder(&format!("sqlite://{}?mode=rwc", db.display()))
            .queue_capacity(1 << 20)
            .cache_ttl(Duration::from_secs(3600))
            .usage_ttl(Duration::from_secs(3600))
            .connect()
            .await
            .unwrap()
    });
    let (rec, _) = rt
        .block_on(sites.create(&SiteInput {
            name: Some("bench".into()),
            monthly_quota: Some(Some(1_000_000_000)),
            ..Default::default()
        }))
        .unwrap();
    let site = rt
        .block_on(sites.site_by_key(&rec.site_key))
        .unwrap()
        .unwrap();
    let now = Duration::from_secs(1_733_659_200);
    let event = VerificationEvent {
        site_id: site.id.clone(),
        kind: EventKind::Verify,
        at: now,
        passed: true,
        risk_score: Some(0.12),
        solve_time_ms: Some(1850),
        error: None,
    };
    let mem = MemorySiteStore::new();
    mem.insert(Site::new("eck_live_mem", "ecs_live_mem_secret").unwrap())
        .unwrap();

    let mut g = c.benchmark_group("pow_admin");
    // Pushes only: the queue is drained (untimed) every 50k events, so no push meets a
    // full queue and none is dropped.
    g.bench_function("record (queue push)", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(50_000);
                let t = Instant::now();
                {
                    let _guard = rt.enter();
                    for _ in 0..n {
                        sites.record(black_box(event.clone()));
                    }
                }
                spent += t.elapsed();
                rt.block_on(sites.flush());
                left -= n;
            }
            spent
        })
    });
    g.bench_function("site_by_key, cached (SqlSites)", |b| {
        b.iter(|| rt.block_on(sites.site_by_key(black_box(&rec.site_key))))
    });
    g.bench_function("site_by_key (MemorySiteStore)", |b| {
        b.iter(|| rt.block_on(mem.site_by_key(black_box("eck_live_mem"))))
    });
    g.bench_function("charge, cached usage (SqlSites)", |b| {
        b.iter(|| rt.block_on(sites.charge(black_box(&site), now)))
    });
    g.finish();
    rt.block_on(sites.flush());

    // The writer's throughput: 100k events queued at once, then flushed.
    let n = 100_000u64;
    let before = sites.stats().written;
    let t = Instant::now();
    {
        let _guard = rt.enter();
        for _ in 0..n {
            sites.record(event.clone());
        }
    }
    rt.block_on(sites.flush());
    let secs = t.elapsed().as_secs_f64();
    let st = sites.stats();
    println!(
        "writer: {} events in {:.2} s = {:.0} events/s into SQLite (dropped {}, failed {})",
        st.written - before,
        secs,
        (st.written - before) as f64 / secs,
        st.dropped,
        st.failed
    );
    drop(sites);
    let _ = std::fs::remove_file(&db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
