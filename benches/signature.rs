//! SigV4: verifying a signed 1 KiB POST (cached signing key) against signing the
//! same request with the `aws-sigv4` crate, in one criterion run.
//!
//! `cargo bench --bench signature --features signature -- --warm-up-time 1 --measurement-time 3`
//!
//! Target: verify <= aws-sigv4 sign, and under 2 µs. The ratio is printed at the end.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use tower_shield::signature::{Dialect, Signer, StaticKeys, Verifier};

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const URL: &str = "https://api.example.com/v1/classify";

fn body_1k() -> Vec<u8> {
    let mut body = br#"{"ipAddress": "203.0.113.7", "pad": ""#.to_vec();
    body.resize(1022, b'x');
    body.extend_from_slice(b"\"}");
    assert_eq!(body.len(), 1024);
    body
}

fn bench(c: &mut Criterion) {
    let now = Duration::from_secs(1_736_937_000);
    let body = body_1k();
    let dialect = Dialect::aws("us-east-1", "execute-api").unwrap();

    // The request as a server receives it, signed (host, x-amz-date, content-type).
    let mut req = Request::post(URL)
        .header("content-type", "application/json")
        .body(body.clone())
        .unwrap();
    Signer::new(dialect.clone(), KEY, SECRET)
        .sign_header(http::header::CONTENT_TYPE)
        .sign(&mut req, now)
        .unwrap();
    let (mut parts, body) = req.into_parts();
    parts.uri = "/v1/classify".parse().unwrap();
    let verifier = Verifier::new(dialect.clone(), StaticKeys::new().key(KEY, SECRET).unwrap())
        .require_signed_header("host")
        .unwrap();
    verifier.verify(&parts, &body, now).expect("verifies"); // fills the key cache

    // The same request for aws-sigv4.
    let identity: Identity = Credentials::new(KEY, SECRET, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(SystemTime::UNIX_EPOCH + now)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [
        ("content-type", "application/json"),
        ("host", "api.example.com"),
    ];

    let mut g = c.benchmark_group("sigv4_post_1kib");
    g.bench_function("tower_shield_verify_cached_key", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&parts), black_box(&body), now)
                .unwrap()
        })
    });
    g.bench_function("aws_sigv4_sign", |b| {
        b.iter(|| {
            let signable = SignableRequest::new(
                "POST",
                URL,
                headers.iter().copied(),
                SignableBody::Bytes(black_box(&body)),
            )
            .unwrap();
            sign(signable, &params).unwrap()
        })
    });
    g.finish();

    // For context: our signer (derives the key each time, like aws-sigv4).
    let signer = Signer::new(dialect, KEY, SECRET).sign_header(http::header::CONTENT_TYPE);
    c.bench_function("tower_shield_sign", |b| {
        b.iter(|| {
            let mut p = parts.clone();
            signer.sign_parts(&mut p, black_box(&body), now).unwrap();
            p
        })
    });

    // Where verify's time goes.
    let mut g = c.benchmark_group("verify_parts");
    g.bench_function("payload_hash_1kib", |b| {
        b.iter(|| tower_shield::signature::payload_hash(black_box(&body)))
    });
    g.bench_function("check_head", |b| {
        b.iter(|| {
            verifier
                .check_head(&parts.method, &parts.uri, &parts.headers, now)
                .unwrap()
        })
    });
    let head = verifier
        .check_head(&parts.method, &parts.uri, &parts.headers, now)
        .unwrap();
    g.bench_function("finish", |b| {
        b.iter(|| {
            verifier
                .finish(
                    &head,
                    &parts.method,
                    &parts.uri,
                    &parts.headers,
                    black_box(&body),
                )
                .unwrap()
        })
    });
    g.finish();

    print_ratio();

    // Interleaved A/B on the same core, robust to a busy machine: alternate short
    // batches of verify and aws-sigv4 sign, keep each one's fastest batch and median.
    let sign_once = || {
        let signable = SignableRequest::new(
            "POST",
            URL,
            headers.iter().copied(),
            SignableBody::Bytes(black_box(&body)),
        )
        .unwrap();
        sign(signable, &params).unwrap()
    };
    let verify_once = || {
        verifier
            .verify(black_box(&parts), black_box(&body), now)
            .unwrap()
    };
    let (mut v_ns, mut s_ns) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = std::time::Instant::now();
        for _ in 0..200 {
            black_box(verify_once());
        }
        v_ns.push(t.elapsed().as_nanos() as f64 / 200.0);
        let t = std::time::Instant::now();
        for _ in 0..200 {
            black_box(sign_once());
        }
        s_ns.push(t.elapsed().as_nanos() as f64 / 200.0);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let ((v_min, v_med), (s_min, s_med)) = (stats(&mut v_ns), stats(&mut s_ns));
    println!(
        "interleaved A/B (200 x 200): verify min {v_min:.0} ns / median {v_med:.0} ns; \
         aws-sigv4 sign min {s_min:.0} ns / median {s_med:.0} ns; ratio min {:.2} / median {:.2}",
        v_min / s_min,
        v_med / s_med
    );
}

/// Prints verify / sign from criterion's saved estimates, when it can find them.
fn print_ratio() {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let mean = |name: &str| -> Option<f64> {
        let p = format!("{dir}/criterion/sigv4_post_1kib/{name}/new/estimates.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        v["mean"]["point_estimate"].as_f64()
    };
    if let (Some(v), Some(s)) = (
        mean("tower_shield_verify_cached_key"),
        mean("aws_sigv4_sign"),
    ) {
        println!(
            "\nverify {:.0} ns, aws-sigv4 sign {:.0} ns, ratio verify/sign = {:.2} (target <= 1.0, verify < 2000 ns)",
            v,
            s,
            v / s
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
