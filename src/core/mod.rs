//! What every layer shares: time, secrets, rejections, storage and the typed
//! extensions that carry one layer's finding to the next.
//!
//! This module is always compiled; capability modules depend on it and never on
//! each other.

pub mod body;
pub mod clock;
pub mod ct;
pub mod error;
pub mod ext;
#[cfg(feature = "axum")]
mod extract;
pub mod future;
pub(crate) mod hash;
pub mod metrics;

/// Up to this many header field values, one pass over a request's headers (one name
/// comparison each) is cheaper than a hash lookup per wanted name; past it, the lookups.
#[cfg_attr(not(any(feature = "apikey", feature = "classify")), allow(dead_code))]
pub(crate) const ONE_PASS_MAX_HEADERS: usize = 16;
pub mod quota;
pub mod reject;
pub mod secret;
pub mod store;
pub mod verdict;

pub use body::{BodyMode, InnerBody, ShieldBody, WrappedBody};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use error::ConfigError;
pub use ext::{ChallengeMark, ClientIp, IpSource, PeerAddr, Principal, PrincipalKind};
pub use quota::Quota;
pub use reject::{Rejection, RejectionKind, Renderer};
pub use secret::Secret;
