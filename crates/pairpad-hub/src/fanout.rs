//! The hub's [`Broadcaster`]: each participant has a bounded outbound queue that its WebSocket
//! session drains. An event is encoded once and the same bytes are shared by every recipient.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytestring::ByteString;
use pairpad_domain::{Audience, Broadcaster, RoomEvent, UserId};
use tokio::sync::mpsc;

use crate::wire;

/// One participant's end of the queue, held by the room.
pub struct Outbox {
    queue: mpsc::Sender<ByteString>,
    too_slow: Arc<AtomicBool>,
}

/// The session's end: the frames to write and why the queue was closed.
pub struct Inbox {
    /// Frames to send, in order. Yields `None` once the room has dropped the participant.
    pub frames: mpsc::Receiver<ByteString>,
    too_slow: Arc<AtomicBool>,
}

impl Inbox {
    /// Whether the room dropped the participant because its queue was full.
    pub fn was_too_slow(&self) -> bool {
        self.too_slow.load(Ordering::Relaxed)
    }
}

/// A bounded queue of `capacity` frames between a room and a session.
pub fn outbound_queue(capacity: usize) -> (Outbox, Inbox) {
    let (queue, frames) = mpsc::channel(capacity.max(1));
    let too_slow = Arc::new(AtomicBool::new(false));
    (Outbox { queue, too_slow: too_slow.clone() }, Inbox { frames, too_slow })
}

/// A room's participants and their queues.
#[derive(Default)]
pub struct WsFanout {
    members: Vec<(UserId, Outbox)>,
}

impl Broadcaster for WsFanout {
    type Connection = Outbox;

    fn add(&mut self, user: UserId, connection: Outbox) {
        self.members.push((user, connection));
    }

    fn remove(&mut self, user: UserId) {
        // Dropping the sender ends the session's queue, which closes the socket.
        self.members.retain(|(member, _)| *member != user);
    }

    fn publish(&mut self, event: &RoomEvent<'_>, audience: Audience<'_>) -> Vec<UserId> {
        let mut frame: Option<ByteString> = None;
        let mut dropped = Vec::new();
        self.members.retain(|(user, outbox)| {
            if !audience.includes(*user) {
                return true;
            }
            let frame = frame.get_or_insert_with(|| ByteString::from(wire::encode(event)));
            match outbox.queue.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("pairpad_broadcast_queue_full_total").increment(1);
                    outbox.too_slow.store(true, Ordering::Relaxed);
                    dropped.push(*user);
                    false
                }
                // The session is gone; its `Leave` is on the way.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    dropped.push(*user);
                    false
                }
            }
        });
        dropped
    }

    fn len(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_only_its_owner() {
        let mut fanout = WsFanout::default();
        let (fast, slow) = (UserId::random(), UserId::random());
        let (fast_out, mut fast_in) = outbound_queue(8);
        let (slow_out, slow_in) = outbound_queue(1);
        fanout.add(fast, fast_out);
        fanout.add(slow, slow_out);
        let event = RoomEvent::Ack { revision: 1, op_id: None };
        assert!(fanout.publish(&event, Audience::Everyone).is_empty());
        assert_eq!(fanout.publish(&event, Audience::Everyone), vec![slow]);
        assert!(slow_in.was_too_slow());
        assert_eq!(fanout.len(), 1);
        assert_eq!(fast_in.frames.try_recv().unwrap(), r#"{"type":"ack","revision":1}"#);
        let except = [fast];
        assert!(fanout.publish(&event, Audience::Except(&except)).is_empty());
        assert_eq!(fast_in.frames.len(), 1);
    }
}
