//! The server's integration tests, over real HTTP and WebSocket connections to a server on port 0,
//! against each store (PostgreSQL when `PAIRPAD_TEST_POSTGRES` is set).

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod access;
mod api;
mod cli;
mod dashboard;
mod helpers;
mod history;
mod hostile;
mod limits;
mod ops;
mod process;
mod realtime;
mod resume;
mod scale;
