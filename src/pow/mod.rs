//! Proof of work (feature `pow`). Docs written below.

mod b64;
pub mod challenge;
mod engine;
pub mod risk;
pub mod site;

pub use challenge::{Keyring, TokenKind, solve, work_ok};
pub use engine::{
    CHALLENGE_TTL, Challenge, DEFAULT_DIFFICULTY, DEFAULT_MAX_DIFFICULTY, DEFAULT_MIN_DIFFICULTY,
    DifficultyContext, Minted, Pow, PowBuilder, SolutionInfo, TOKEN_TTL, adapt_difficulty,
};
pub use risk::RISK_THRESHOLD;
pub use site::{Mode, MemorySiteStore, Site, SiteStore};
