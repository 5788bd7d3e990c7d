//! Hostile input: store.
