//! The seed APIs, served in-process and wire-compatibly: clients written for the hosted
//! services work against the demo with only their base URL changed.

pub mod auspex;
pub mod ecurtiy;
pub mod engineering11;
pub mod techsec;
