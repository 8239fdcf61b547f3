//! Arbitrary bytes as proof-of-work challenge ids, tokens and passes: never a panic,
//! never accepted (they are not signed by the key), and every decode error is a client
//! error. Claims built from the bytes round-trip through encode/decode.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tower_shield::core::Secret;
use tower_shield::pow::Pow;
use tower_shield::pow::challenge::{self, ChallengeClaims, IpBinding, Keyring};

fuzz_target!(|data: &[u8]| {
    let ring = Keyring::new(1, &Secret::from("fuzz-secret-fuzz-secret-fuzz-secret!")).unwrap();
    let s = String::from_utf8_lossy(data);
    for prefix in ["", "ch_", "ect_", "esp_"] {
        let candidate = format!("{prefix}{s}");
        assert!(challenge::decode_challenge(&ring, &candidate).is_err());
        assert!(challenge::decode_token(&ring, &candidate).is_err());
    }
    let pow = Pow::new("fuzz-secret-fuzz-secret-fuzz-secret!").unwrap();
    let now = Duration::from_secs(1_700_000_000);
    let ip = Some("203.0.113.9".parse().unwrap());
    for prefix in ["ch_", "ect_", "esp_"] {
        let candidate = format!("{prefix}{s}");
        if let Err(r) = pow.check_solution(&candidate, 7, ip, now) {
            assert!(r.status().is_client_error());
        }
        if let Err(r) = pow.check_token(&candidate, now) {
            assert!(r.status().is_client_error());
        }
        if let Err(r) = pow.check_pass(&candidate, "inline", ip, now) {
            assert!(r.status().is_client_error());
        }
    }
    // Claims from the bytes round-trip.
    if data.len() >= 26 {
        let mut random = [0u8; 16];
        random.copy_from_slice(&data[..16]);
        let issued = u64::from_le_bytes(data[16..24].try_into().unwrap());
        let site: String = String::from_utf8_lossy(&data[26..])
            .chars()
            .take(16)
            .collect();
        let c = ChallengeClaims {
            kid: 1,
            difficulty: data[24] % 33,
            issued_ms: issued,
            expires_ms: issued.saturating_add(u64::from(data[25])),
            random,
            binding: Some(IpBinding::of(
                "2001:db8::1".parse().unwrap(),
                data[24],
                data[25],
            )),
            site,
        };
        if c.site.len() <= 64 {
            let id = challenge::encode_challenge(&ring, &c);
            assert_eq!(challenge::decode_challenge(&ring, &id).unwrap(), c);
        }
    }
});
