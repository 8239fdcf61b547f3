//! Arbitrary header and query bytes through API-key extraction: never a panic, and a key
//! is only ever found when it is a single clean value.
#![no_main]

use http::{HeaderMap, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;
use tower_shield::auth::{Presented, presented_key};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (a, b, q) = (parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]), parts.next().unwrap_or(&[]));
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(a) {
        headers.append("x-api-key", v);
    }
    if let Ok(v) = HeaderValue::from_bytes(b) {
        headers.append("authorization", v);
    }
    let uri: Uri = std::str::from_utf8(q)
        .ok()
        .and_then(|q| format!("/?{q}").parse().ok())
        .unwrap_or_default();
    if let Presented::Key(k) = presented_key(&headers, &uri, Some("apiKey")) {
        assert!(!k.is_empty() && k.len() <= tower_shield::auth::MAX_KEY_LEN);
        assert!(k.bytes().all(|c| c.is_ascii_graphic()));
    }
});
