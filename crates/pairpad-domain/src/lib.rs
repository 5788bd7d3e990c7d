//! Pairpad's domain: what a room is, how concurrent edits merge, and the ports through which the
//! rest of the system stores rooms, suggests completions and fans events out to participants.
//!
//! This crate is embeddable in any service: it has no web framework, no database driver, no async
//! runtime, no JSON and no I/O. Adapters implement its ports; the server wires them together.
//! `examples/embed.rs` shows a service sequencing two users' concurrent edits through a [`Room`]
//! on its own (`cargo run -p pairpad-domain --example embed`).
//!
//! Layout:
//! - [`ot`]: text operations (retain / insert / delete in Unicode code points) and their algebra.
//! - [`room`]: identifiers, the [`Room`] aggregate that sequences edits, committed operations.
//! - [`history`]: the text at any kept revision, read from the store.
//! - [`ports`]: [`RoomRepo`], [`Suggester`] and [`Broadcaster`], each with its contract.
#![warn(missing_docs)]

pub mod history;
pub mod ot;
pub mod ports;
pub mod room;

pub use history::{HistoryError, text_at};
pub use ot::{Component, OtError, TextOperation};
pub use ports::{
    Append, Audience, Broadcaster, BusListener, BusMessage, BusNote, Committed, CursorOutOfRange, Flush, HistoryPoint,
    NewRoom, ProcessId, RepoError, RoomBus, RoomEvent, RoomKeys, RoomRepo, RoomSummary, Snapshot, StoredRoom,
    Suggester, Suggestion, SuggestionKind, SuggestionRequest, Suggestions,
};
pub use room::{
    Access, CodeUpdate, CommittedOp, Edit, EditError, EditOutcome, InvalidLanguage, InvalidRoomId, Language, NulInText,
    Participant, RebaseError, Room, RoomId, RoomLimits, Selection, Timestamp, UserId, check_text,
};
