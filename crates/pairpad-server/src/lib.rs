//! Pairpad's server: configuration, wiring of the adapters, HTTP routes and startup. It is thin
//! on purpose: rooms live in `pairpad-hub`, storage in `pairpad-store`, completions in
//! `pairpad-suggest`, and the model in `pairpad-domain`.
//!
//! Layout:
//! - [`cli`]: the command line (`serve`, `migrate`, `check-config`, `token`).
//! - [`config`]: settings from `config/*.toml` and the environment.
//! - [`startup`]: [`startup::Application`] builds everything and runs until stopped.
//! - [`routes`]: one module per endpoint group; [`error`]: the JSON error type.
//! - [`observability`]: logs and `/metrics`; [`cors`]: allowed origins.
//! - [`client_address`], [`rate_limit`], [`head_limits`]: who is asking, how often, how much.
//! - [`access`]: who may do what (open mode's view ids and owner tokens, token mode's JWTs).
//! - [`retention`]: forgetting old operations (`history.keep_days`); [`expiry`]: deleting idle
//!   rooms (`rooms.expire_after_days`).

pub mod access;
pub mod cli;
pub mod client_address;
pub mod config;
pub mod cors;
pub mod error;
pub mod expiry;
pub mod head_limits;
pub mod observability;
pub mod rate_limit;
pub mod retention;
pub mod routes;
pub mod startup;
