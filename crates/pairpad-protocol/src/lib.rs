//! Pairpad's wire protocol (`docs/PROTOCOL.md`, contract version 1.1), shared by the hub, the
//! Rust client, the load generator and the store: the message enums ([`ClientMessage`],
//! [`ServerMessage`]), the codes ([`ErrorCode`], [`CloseCode`]) and the one codec of the ot.js
//! operation array ([`Ops`], [`WireComponent`], [`to_operation`], [`from_stored`]).
//!
//! serde only: no runtime, no JSON library (callers pick theirs). Domain types never derive
//! `Serialize`; this crate is where their JSON shapes are defined.

mod codes;
mod messages;
mod operation;

pub use codes::{CloseCode, ErrorCode};
pub use messages::{ACCESS_EDIT, ACCESS_VIEW, ClientMessage, ServerMessage, WireSelection, WireUser, access_name};
pub use operation::{InvalidOperation, OperationLimits, Ops, WireComponent, from_stored, to_operation};
