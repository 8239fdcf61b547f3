//! Arbitrary `Authorization` and `X-Amz-Date` bytes, and presigned query strings,
//! through the SigV4 parser and the whole head check: never a panic, and every
//! refusal is a 4xx.
#![no_main]

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use tower_shield::signature::{Dialect, StaticKeys, Verifier, parse_authorization};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let dialect = if selector & 1 == 0 {
        Dialect::verus()
    } else {
        Dialect::aws("us-east-1", "execute-api").unwrap()
    };
    // The parser alone.
    if let Err(e) = parse_authorization(rest, &dialect) {
        assert!(e.rejection().status().is_client_error());
    }
    // The whole head check: Authorization \n X-Amz-Date \n query.
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let auth = parts.next().unwrap_or_default();
    let date = parts.next().unwrap_or_default();
    let query = parts.next().unwrap_or_default();
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert("authorization", v.clone());
        if selector & 2 != 0 {
            headers.append("authorization", v);
        }
    }
    if let Ok(v) = HeaderValue::from_bytes(date) {
        headers.insert("x-amz-date", v);
    }
    headers.insert("host", HeaderValue::from_static("api.example.com"));
    let uri: Uri = match std::str::from_utf8(query)
        .ok()
        .and_then(|q| format!("/p?{q}").parse().ok())
    {
        Some(u) => u,
        None => Uri::from_static("/p"),
    };
    let keys = StaticKeys::new()
        .key("AKIDEXAMPLE", "secret")
        .unwrap()
        .key("alk_1", "s")
        .unwrap();
    let verifier = Verifier::new(dialect, keys);
    let now = Duration::from_secs(1_736_937_000);
    match verifier.check_head(&Method::POST, &uri, &headers, now) {
        Err(e) => assert!(e.rejection().status().is_client_error()),
        Ok(head) => {
            if let Err(e) = verifier.finish(&head, &Method::POST, &uri, &headers, b"{}") {
                assert!(e.rejection().status().is_client_error());
            }
        }
    }
});
