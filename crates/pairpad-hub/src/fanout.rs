//! The outbound path, from a room's event to the socket. The hub's [`Broadcaster`] encodes an
//! event once, as a whole WebSocket frame, and puts the same bytes in the bounded queue of every
//! recipient. The connection's response body ([`OutboundBody`]) is that queue: actix-http's
//! dispatcher polls it and writes the frames itself, so a delivery wakes only the connection's
//! dispatcher, not a session task as well.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_http::ws::{OpCode, Parser};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use pairpad_domain::{Audience, Broadcaster, RoomEvent, UserId};
use tokio::sync::{Notify, mpsc};

use crate::wire;

/// The room's end of one connection's outbound queue: it sends the connection's frames.
pub struct OutboundSender {
    queue: mpsc::Sender<Bytes>,
    receiver: OutboundReceiver,
}

/// The connection's end, shared by its response body, which writes the frames, and its session,
/// which learns from it when and why the room let go.
#[derive(Clone)]
pub struct OutboundReceiver(Arc<OutboundState>);

struct OutboundState {
    /// The frames to write, in order; gone once the connection is over.
    frames: Mutex<Option<mpsc::Receiver<Bytes>>>,
    /// Why the room let go: `OutboundReceiver::STAYING` until it does.
    reason: AtomicU8,
    /// Wakes the session when `reason` is set.
    notify: Notify,
    /// While set, the body writes the session's frames only: a resuming connection's session
    /// writes what the client missed before the room's frames, which follow it.
    held: AtomicBool,
    /// Wakes the body when `held` is cleared.
    unheld: AtomicWaker,
}

/// A bounded queue of `capacity` frames between a room and a connection; `held`: the room's
/// frames wait for [`OutboundReceiver::release`].
pub fn outbound_queue(capacity: usize, held: bool) -> (OutboundSender, OutboundReceiver) {
    let (queue, frames) = mpsc::channel(capacity.max(1));
    let receiver = OutboundReceiver(Arc::new(OutboundState {
        frames: Mutex::new(Some(frames)),
        reason: AtomicU8::new(OutboundReceiver::STAYING),
        notify: Notify::new(),
        held: AtomicBool::new(held),
        unheld: AtomicWaker::new(),
    }));
    (OutboundSender { queue, receiver: receiver.clone() }, receiver)
}

/// Why the room let go of a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// Its queue was full: the client does not read fast enough (or at all).
    TooSlow,
    /// The room dropped it otherwise (it stopped), and every frame queued before was written.
    Released,
    /// The room was deleted (what was still queued need not be written).
    RoomDeleted,
}

impl OutboundReceiver {
    const STAYING: u8 = 0;
    const TOO_SLOW: u8 = 1;
    const RELEASED: u8 = 2;
    const ROOM_DELETED: u8 = 3;

    /// Says why the room let go: the room itself when a queue is full (at once: a client that
    /// does not read would never let its queue drain), or the response body once the queue has
    /// ended and everything in it was written (so a close frame follows the last frame). The
    /// first reason given is the one kept.
    fn set(&self, reason: u8) {
        if self.0.reason.compare_exchange(Self::STAYING, reason, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.0.notify.notify_one();
        }
    }

    /// Waits until the room has let go.
    pub async fn departure(&self) -> Left {
        loop {
            // `notify_one` keeps a permit when nobody waits yet, so a reason set between the load
            // and the `notified` is not missed.
            match self.0.reason.load(Ordering::Acquire) {
                Self::TOO_SLOW => return Left::TooSlow,
                Self::RELEASED => return Left::Released,
                Self::ROOM_DELETED => return Left::RoomDeleted,
                _ => self.0.notify.notified().await,
            }
        }
    }

    /// Lets the body write the room's frames (after every session frame sent before).
    pub fn release(&self) {
        self.0.held.store(false, Ordering::Release);
        self.0.unheld.wake();
    }

    /// Drops the frames still queued: the session is over, and a client that vanished without
    /// closing its socket would otherwise keep them until its connection times out.
    pub fn discard(&self) {
        drop(self.frames().take());
    }

    fn frames(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Receiver<Bytes>>> {
        // Nothing panics while holding the lock; a poisoned one still holds a whole queue.
        self.0.frames.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next frame, `None` once the room has let go (and then says so) or the queue was
    /// discarded.
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.0.held.load(Ordering::Acquire) {
            self.0.unheld.register(cx.waker());
            // Released between the load and the registration: go on.
            if self.0.held.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        let mut frames = self.frames();
        let Some(queue) = frames.as_mut() else { return Poll::Ready(None) };
        let next = queue.poll_recv(cx);
        if let Poll::Ready(None) = next {
            *frames = None;
            self.set(Self::RELEASED);
        }
        next
    }
}

/// A server's text frame (unmasked), ready for the socket.
pub fn text_frame(text: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(text.len() + 10);
    Parser::write_message(&mut frame, text, OpCode::Text, true, false);
    frame.freeze()
}

/// A room's participants and their queues.
#[derive(Default)]
pub struct WsFanout {
    members: Vec<(UserId, OutboundSender)>,
}

impl Broadcaster for WsFanout {
    type Connection = OutboundSender;

    fn add(&mut self, user: UserId, connection: OutboundSender) {
        self.members.push((user, connection));
    }

    fn remove(&mut self, user: UserId) {
        // Dropping the sender ends the queue; the body then tells the session to close.
        self.members.retain(|(member, _)| *member != user);
    }

    fn remove_all_deleted(&mut self) {
        // The session says why and closes; the frames still queued are dropped with the sender.
        for (_, outbox) in self.members.drain(..) {
            outbox.receiver.set(OutboundReceiver::ROOM_DELETED);
        }
    }

    fn publish(&mut self, event: &RoomEvent<'_>, audience: Audience<'_>) -> Vec<UserId> {
        let mut frame: Option<Bytes> = None;
        let mut dropped = Vec::new();
        self.members.retain(|(user, outbox)| {
            if !audience.includes(*user) {
                return true;
            }
            let frame = frame.get_or_insert_with(|| text_frame(&wire::encode(event)));
            match outbox.queue.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("pairpad_broadcast_queue_full_total").increment(1);
                    outbox.receiver.set(OutboundReceiver::TOO_SLOW);
                    dropped.push(*user);
                    false
                }
                // The connection is gone; its `Leave` is on the way.
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

/// A WebSocket connection's response body: the frames of actix-ws's `Session` (the session's
/// replies, pings and the close frame, which ends the body) and, after them, the room's frames.
pub struct OutboundBody {
    session: BoxBody,
    room: OutboundReceiver,
}

impl OutboundBody {
    pub fn new(session: BoxBody, room: OutboundReceiver) -> Self {
        Self { session, room }
    }
}

impl MessageBody for OutboundBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(chunk) = Pin::new(&mut this.session).poll_next(cx) {
            return Poll::Ready(chunk);
        }
        match this.room.poll_frame(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            // The room is done with this connection; the session's close frame ends the body.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text a server frame carries (these are short: a 2-byte header).
    fn payload(frame: &Bytes) -> &str {
        assert_eq!(frame[0], 0x81, "a final text frame");
        assert_eq!(usize::from(frame[1]), frame.len() - 2, "unmasked, short length");
        std::str::from_utf8(&frame[2..]).unwrap()
    }

    #[tokio::test]
    async fn a_full_queue_drops_only_its_owner() {
        let mut fanout = WsFanout::default();
        let (fast, slow) = (UserId::random(), UserId::random());
        let (fast_out, fast_in) = outbound_queue(8, false);
        let (slow_out, slow_in) = outbound_queue(1, false);
        fanout.add(fast, fast_out);
        fanout.add(slow, slow_out);
        let event = RoomEvent::Ack { revision: 1, op_id: None };
        assert!(fanout.publish(&event, Audience::Everyone).is_empty());
        assert_eq!(fanout.publish(&event, Audience::Everyone), vec![slow]);
        assert_eq!(slow_in.departure().await, Left::TooSlow);
        assert_eq!(fanout.len(), 1);
        let frame = fast_in.frames().as_mut().unwrap().try_recv().unwrap();
        assert_eq!(payload(&frame), r#"{"type":"ack","revision":1}"#);
        let except = [fast];
        assert!(fanout.publish(&event, Audience::Except(&except)).is_empty());
        assert_eq!(fast_in.frames().as_ref().unwrap().len(), 1);
        // A session that ends drops what is still queued; the room then finds the connection gone.
        fast_in.discard();
        assert_eq!(fanout.publish(&event, Audience::Everyone), vec![fast]);
        assert_eq!(fanout.len(), 0);
    }

    #[tokio::test]
    async fn the_body_writes_the_session_first_then_the_room_then_says_the_room_let_go() {
        use futures_util::StreamExt;
        let (outbox, inbox) = outbound_queue(8, false);
        let session_end = inbox.clone();
        // A session that has written one frame and stays open.
        let session = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from_static(b"hello"))])
            .chain(futures_util::stream::pending());
        let mut body = OutboundBody::new(BoxBody::new(actix_web::body::BodyStream::new(session)), inbox);
        outbox.queue.try_send(text_frame("one")).unwrap();
        outbox.queue.try_send(text_frame("two")).unwrap();
        drop(outbox);
        let chunks: Vec<Bytes> = std::future::poll_fn(|cx| {
            let mut chunks = Vec::new();
            while let Poll::Ready(Some(chunk)) = Pin::new(&mut body).poll_next(cx) {
                chunks.push(chunk.unwrap());
            }
            Poll::Ready(chunks)
        })
        .await;
        assert_eq!(chunks[0], Bytes::from_static(b"hello"));
        assert_eq!(chunks[1..].iter().map(payload).collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(session_end.departure().await, Left::Released);
    }
    #[tokio::test]
    async fn a_held_queue_writes_nothing_until_released() {
        let (outbox, inbox) = outbound_queue(8, true);
        outbox.queue.try_send(text_frame("live")).unwrap();
        let poll = || {
            let inbox = inbox.clone();
            std::future::poll_fn(move |cx| {
                Poll::Ready(inbox.poll_frame(cx).map(|frame| frame.map(|f| payload(&f).to_owned())))
            })
        };
        assert_eq!(poll().await, Poll::Pending);
        inbox.release();
        assert_eq!(poll().await, Poll::Ready(Some("live".to_owned())));
    }
}
