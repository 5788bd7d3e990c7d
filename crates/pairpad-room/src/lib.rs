//! Pairpad's room pipeline, apart from any transport or database: what a loaded room does with
//! an edit (sequence it, have it **persisted, then acknowledge its author, then broadcast** it)
//! and the group commit that makes it durable.
//!
//! Layout:
//! - [`room`]: [`room::RoomOwner`], one task per loaded room, reached through a bounded channel of
//!   [`room::Command`]s. Its dependencies are explicit: the store ([`pairpad_domain::RoomRepo`],
//!   for history reads and language changes), a [`committer::Committer`] handle, its
//!   [`room::RoomSettings`], the [`pairpad_domain::Broadcaster`] that delivers its events, and a
//!   callback for when it stops.
//! - [`committer`]: group commit of many rooms' appends in one transaction, on a thread of its own.
//!
//! Transports (the actix-ws hub) implement the `Broadcaster` and send commands; the server wires
//! the hub, this pipeline and a store together.

pub mod committer;
pub mod room;

use pairpad_domain::Timestamp;

/// The current time, for the domain (which never reads the clock itself).
pub fn now() -> Timestamp {
    Timestamp::from(std::time::SystemTime::now())
}
