//! Risk scoring from behaviour and timing (pure).
//!
//! The score is the capped sum of a few signals' weights, 0.0..=1.0; a verification
//! passes below [`RISK_THRESHOLD`] (the seed's 0.7). Each signal has a stable reason
//! code. The signals, in order of weight:
//!
//! | code | weight | fires when |
//! |---|---|---|
//! | `timing.too_fast` | 0.45 | the nonce tried per reported ms implies more than `max_hash_rate` hashes/s (the widget counts from 0) |
//! | `timing.inconsistent` | 0.45 | the reported solve time is longer than the server saw between issue and verify, plus slack |
//! | `behaviour.no_interaction` | 0.35 | checkbox mode and no interaction at all |
//! | `timing.missing` | 0.2 | no solve time reported |
//! | `behaviour.missing` | 0.45 (checkbox) / 0.2 (invisible) | no behavioural data at all |
//! | `behaviour.short_session` | 0.2 | the page was open under 300 ms, or for less than the reported solve |
//! | `behaviour.no_mouse` | 0.1 | checkbox mode and zero mouse entropy (keyboard users: this alone never fails) |
//! | `fingerprint.missing` | 0.1 | no fingerprint |
//!
//! # Caveats
//!
//! Every input except the server-measured elapsed time is reported by the client, so
//! scoring raises the cost of a naive bot; it is not proof of humanity. The work (and
//! the single-use redemption) is what cannot be faked. A keyboard-only or screen-reader
//! user in checkbox mode has zero mouse entropy and one interaction: that scores 0.1.

use super::site::Mode;

/// The seed's threshold: a verification passes when its risk score is below 0.7.
pub const RISK_THRESHOLD: f64 = 0.7;

/// Behavioural data the widget collects (the seed's `behavioral` object).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Behavior {
    /// Shannon entropy (bits) of the pointer's movement directions.
    pub mouse_entropy: f64,
    /// Pointer, key and touch events seen.
    pub interaction_count: u32,
    /// Ms since the widget loaded.
    pub session_duration: u64,
}

/// Everything the score looks at.
#[derive(Clone, Copy, Debug)]
pub struct RiskInput {
    /// The challenge's difficulty.
    pub difficulty: u8,
    /// The nonce submitted (the widget searches from 0, so it counts the hashes tried).
    pub nonce: u64,
    /// The solve time the client reported.
    pub solve_time_ms: Option<u64>,
    /// What the server saw between issuing the challenge and this verification.
    pub server_elapsed_ms: u64,
    /// Behavioural data, if sent.
    pub behavior: Option<Behavior>,
    /// Whether a fingerprint was sent.
    pub fingerprint: bool,
    /// The site's mode (invisible mode expects no interaction).
    pub mode: Mode,
}

/// Tunables of the score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskConfig {
    /// Fail at or above this score (default [`RISK_THRESHOLD`]).
    pub threshold: f64,
    /// The fastest plausible solver, hashes per second (default 50 million: a native
    /// multi-core solver; browsers manage a few million).
    pub max_hash_rate: f64,
    /// Allowed excess of the reported solve time over what the server saw, ms (default 2000).
    pub clock_slack_ms: u64,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            threshold: RISK_THRESHOLD,
            max_hash_rate: 50_000_000.0,
            clock_slack_ms: 2_000,
        }
    }
}

/// A score and the signals that made it.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskReport {
    /// 0.0..=1.0, rounded to thousandths.
    pub score: f64,
    /// The reason codes that fired.
    pub reasons: Vec<&'static str>,
}

impl RiskReport {
    /// `true` when the score is below `threshold`.
    pub fn passes(&self, threshold: f64) -> bool {
        self.score < threshold
    }
}

/// Scores a verification.
///
/// ```
/// use tower_shield::pow::risk::{score, Behavior, RiskConfig, RiskInput};
/// use tower_shield::pow::Mode;
/// let human = RiskInput {
///     difficulty: 16, nonce: 40_000, solve_time_ms: Some(1850), server_elapsed_ms: 4000,
///     behavior: Some(Behavior { mouse_entropy: 4.2, interaction_count: 15, session_duration: 3500 }),
///     fingerprint: true, mode: Mode::Checkbox,
/// };
/// assert_eq!(score(&human, &RiskConfig::default()).score, 0.0);
/// ```
pub fn score(i: &RiskInput, cfg: &RiskConfig) -> RiskReport {
    let mut total = 0.0f64;
    let mut reasons = Vec::new();
    let mut add = |w: f64, code: &'static str| {
        total += w;
        reasons.push(code);
    };
    match i.solve_time_ms {
        None => add(0.2, "timing.missing"),
        Some(t) => {
            let tries = i.nonce.saturating_add(1) as f64;
            let rate = tries * 1000.0 / (t.max(1) as f64);
            // A lucky early nonce is fine; only many tries in too little time counts.
            if tries > 1024.0 && rate > cfg.max_hash_rate {
                add(0.45, "timing.too_fast");
            }
            if t > i.server_elapsed_ms.saturating_add(cfg.clock_slack_ms) {
                add(0.45, "timing.inconsistent");
            }
        }
    }
    match i.behavior {
        None if i.mode == Mode::Checkbox => add(0.45, "behaviour.missing"),
        None => add(0.2, "behaviour.missing"),
        Some(b) => {
            if i.mode == Mode::Checkbox {
                if b.interaction_count == 0 {
                    add(0.35, "behaviour.no_interaction");
                }
                if b.mouse_entropy.is_nan() || b.mouse_entropy <= 0.0 {
                    add(0.1, "behaviour.no_mouse");
                }
            }
            let solve = i.solve_time_ms.unwrap_or(0);
            if b.session_duration < 300 || b.session_duration.saturating_add(50) < solve {
                add(0.2, "behaviour.short_session");
            }
        }
    }
    if !i.fingerprint {
        add(0.1, "fingerprint.missing");
    }
    let score = (total.min(1.0) * 1000.0).round() / 1000.0;
    RiskReport { score, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human() -> RiskInput {
        RiskInput {
            difficulty: 16,
            nonce: 60_000,
            solve_time_ms: Some(1850),
            server_elapsed_ms: 3000,
            behavior: Some(Behavior {
                mouse_entropy: 4.2,
                interaction_count: 15,
                session_duration: 3500,
            }),
            fingerprint: true,
            mode: Mode::Checkbox,
        }
    }

    fn cfg() -> RiskConfig {
        RiskConfig::default()
    }

    #[test]
    fn seed_example_is_low_risk() {
        let r = score(&human(), &cfg());
        assert_eq!(r.score, 0.0);
        assert!(r.passes(RISK_THRESHOLD));
    }

    #[test]
    fn naive_bot_fails() {
        let bot = RiskInput {
            nonce: 65_000,
            solve_time_ms: Some(1),
            behavior: Some(Behavior::default()),
            fingerprint: false,
            ..human()
        };
        let r = score(&bot, &cfg());
        assert!(!r.passes(RISK_THRESHOLD), "{r:?}");
        assert!(r.reasons.contains(&"timing.too_fast"));
        assert!(r.reasons.contains(&"behaviour.no_interaction"));
    }

    #[test]
    fn bare_request_fails() {
        let bare = RiskInput {
            solve_time_ms: None,
            behavior: None,
            fingerprint: false,
            ..human()
        };
        let r = score(&bare, &cfg());
        assert_eq!(r.score, 0.75);
        assert!(!r.passes(RISK_THRESHOLD));
        // Invisible mode (the inline layer, API clients): the work alone passes...
        let api = RiskInput {
            mode: Mode::Invisible,
            ..bare
        };
        assert_eq!(score(&api, &cfg()).score, 0.5);
        // ...but not with a lie about the time:
        let lying = RiskInput {
            solve_time_ms: Some(60_000),
            server_elapsed_ms: 100,
            behavior: None,
            fingerprint: false,
            mode: Mode::Invisible,
            ..human()
        };
        assert!(!score(&lying, &cfg()).passes(RISK_THRESHOLD));
    }

    #[test]
    fn keyboard_user_passes() {
        let kb = RiskInput {
            behavior: Some(Behavior {
                mouse_entropy: 0.0,
                interaction_count: 1,
                session_duration: 5000,
            }),
            ..human()
        };
        let r = score(&kb, &cfg());
        assert_eq!(r.score, 0.1);
        assert!(r.passes(RISK_THRESHOLD));
    }

    #[test]
    fn invisible_mode_needs_no_interaction() {
        let inv = RiskInput {
            behavior: Some(Behavior {
                mouse_entropy: 0.0,
                interaction_count: 0,
                session_duration: 2500,
            }),
            mode: Mode::Invisible,
            ..human()
        };
        assert_eq!(score(&inv, &cfg()).score, 0.0);
    }

    #[test]
    fn lucky_fast_solve_is_not_penalised() {
        let lucky = RiskInput {
            nonce: 3,
            solve_time_ms: Some(1),
            ..human()
        };
        assert_eq!(score(&lucky, &cfg()).score, 0.0);
    }

    #[test]
    fn score_is_capped() {
        let worst = RiskInput {
            difficulty: 32,
            nonce: u64::MAX,
            solve_time_ms: Some(u64::MAX),
            server_elapsed_ms: 0,
            behavior: Some(Behavior {
                mouse_entropy: f64::NAN,
                interaction_count: 0,
                session_duration: 0,
            }),
            fingerprint: false,
            mode: Mode::Checkbox,
        };
        assert_eq!(score(&worst, &cfg()).score, 1.0);
    }
}
