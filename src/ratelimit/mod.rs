//! Rate limiting (feature `ratelimit`). Work in progress.
