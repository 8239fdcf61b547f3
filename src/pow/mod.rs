//! Proof of work (feature `pow`). Docs written below.

#[cfg(feature = "axum")]
pub mod api;
mod b64;
pub mod challenge;
mod engine;
mod layer;
pub mod risk;
mod service;
pub mod site;
pub mod widget;
mod wire;

pub use challenge::{Keyring, TokenKind, solve, work_ok};
pub use engine::{
    CHALLENGE_TTL, Challenge, DEFAULT_DIFFICULTY, DEFAULT_MAX_DIFFICULTY, DEFAULT_MIN_DIFFICULTY,
    DifficultyContext, Minted, Pow, PowBuilder, SolutionInfo, TOKEN_TTL, adapt_difficulty,
};
pub use risk::RISK_THRESHOLD;
pub use site::{Mode, MemorySiteStore, Site, SiteStore};
pub use layer::{DEFAULT_PASS_TTL, PowLayer, TokenMode, X_SHIELD_PASS, X_SHIELD_TOKEN};
pub use service::{PowFuture, PowService};
