//! Request signatures (feature `signature`). Work in progress.
