//! Arbitrary bytes as the admin API's inputs: site JSON bodies (parsed, then validated)
//! and analytics query strings. Never a panic; what validation accepts is in range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_shield::pow::admin::{Period, SiteInput};

fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<SiteInput>(data) {
        if input.validate().is_ok() {
            if let Some(d) = input.difficulty {
                assert!((14..=18).contains(&d));
            }
            if let Some(Some(q)) = input.monthly_quota {
                assert!(q >= 1);
            }
        }
    }
    let s = String::from_utf8_lossy(data);
    if let Some(p) = Period::from_query(Some(&s)) {
        assert!(Period::ALL.contains(&p));
    }
});
