//! Hostile input, as an attacker would send it, against the real server on every store: each
//! case must get a clear error, lose nothing, and never hurt another connection or room.
//! Add a case to the module of the surface it attacks.

mod completions;
mod http;
mod operations;
mod store;
mod websocket;
