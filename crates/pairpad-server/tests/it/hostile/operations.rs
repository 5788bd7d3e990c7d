//! Hostile input: operations.
