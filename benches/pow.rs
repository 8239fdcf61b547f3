//! Proof-of-work benches (filled in below).
fn main() {}
