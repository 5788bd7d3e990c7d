//! Per-room cancellation: a newer request for a room supersedes the older ones still waiting for
//! the model, so typing fast never queues calls.
//!
//! Each room in flight has a generation counter in a `watch` channel. A request bumps it on entry
//! and remembers its own value; any later bump means it was superseded. A `watch` (unlike a bare
//! `Notify`) keeps the latest value, so a bump that happens before the older request starts
//! waiting is not missed. Entries live only while a request for the room is in flight.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pairpad_domain::RoomId;
use tokio::sync::watch;

struct Slot {
    latest: watch::Sender<u64>,
    in_flight: usize,
}

/// The rooms with requests in flight.
#[derive(Default)]
pub(crate) struct RoomGate {
    rooms: Mutex<HashMap<RoomId, Slot>>,
}

impl RoomGate {
    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomId, Slot>> {
        // The map stays consistent even if a holder panicked: every critical section is a few
        // field updates that cannot panic halfway.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new request for `room`, superseding the ones already in flight for it.
    pub(crate) fn enter(&self, room: RoomId) -> Ticket<'_> {
        let mut rooms = self.rooms();
        let slot = rooms.entry(room).or_insert_with(|| Slot { latest: watch::channel(0).0, in_flight: 0 });
        let generation = slot.latest.borrow().wrapping_add(1);
        slot.latest.send_replace(generation);
        slot.in_flight += 1;
        let latest = slot.latest.subscribe();
        Ticket { gate: self, room, generation, latest }
    }

    /// How many rooms have a request in flight.
    pub(crate) fn len(&self) -> usize {
        self.rooms().len()
    }
}

/// One request's place in its room; leaving (dropping it) forgets the room when it was the last.
pub(crate) struct Ticket<'g> {
    gate: &'g RoomGate,
    room: RoomId,
    generation: u64,
    latest: watch::Receiver<u64>,
}

impl Ticket<'_> {
    /// Resolves when a newer request for the same room has entered.
    pub(crate) async fn superseded(&mut self) {
        loop {
            if *self.latest.borrow_and_update() != self.generation {
                return;
            }
            if self.latest.changed().await.is_err() {
                // The sender lives in the gate as long as this ticket does, so this is unreachable;
                // never resolving is the safe answer.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut rooms = self.gate.rooms();
        if let Some(slot) = rooms.get_mut(&self.room) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            if slot.in_flight == 0 {
                rooms.remove(&self.room);
            }
        }
    }
}
