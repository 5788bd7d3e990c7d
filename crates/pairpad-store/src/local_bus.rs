//! The in-process [`RoomBus`]: for a store only one process may use (SQLite, memory), where it has
//! nobody to talk to, and for tests that run several hubs in one process.

use std::sync::{Arc, Mutex};

use pairpad_domain::{BusListener, BusMessage, BusNote, ProcessId, RoomBus, RoomId};

/// One process's listener on a [`LocalNetwork`].
type Member = (ProcessId, Arc<dyn BusListener>);

/// The listeners of every [`LocalBus`] made by [`LocalNetwork::join`] on the same network.
#[derive(Clone, Default)]
pub struct LocalNetwork {
    listeners: Arc<Mutex<Vec<Member>>>,
}

impl LocalNetwork {
    /// A bus for one more "process" on this network.
    pub fn join(&self) -> LocalBus {
        LocalBus { network: self.clone(), process: ProcessId::random() }
    }

    fn listeners(&self) -> Vec<Member> {
        // Only ever pushed to: still whole after a panic.
        self.listeners.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// One process's end of a [`LocalNetwork`]: delivers what it publishes to the other ends'
/// listeners at once, on the publisher's task.
pub struct LocalBus {
    network: LocalNetwork,
    process: ProcessId,
}

impl LocalBus {
    /// A bus with nobody else on it.
    pub fn alone() -> Self {
        LocalNetwork::default().join()
    }
}

impl RoomBus for LocalBus {
    fn process(&self) -> ProcessId {
        self.process
    }

    fn publish(&self, room: RoomId, message: BusMessage) {
        for (process, listener) in self.network.listeners() {
            if process != self.process {
                listener.deliver(BusNote { room, origin: self.process, message: message.clone() });
            }
        }
    }

    fn subscribe(&self, listener: Arc<dyn BusListener>) {
        self.network.listeners.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((self.process, listener));
    }
}
