//! The outbound path, from a room's event to the socket. The hub's [`Broadcaster`] encodes an
//! event once, as a whole WebSocket frame, and adds the same bytes to what each recipient gathers;
//! [`Broadcaster::flush`] then puts each recipient's frames in its bounded queue at once. The
//! connection's response body ([`OutboundBody`]) is that queue: actix-http's dispatcher polls it
//! and writes the frames itself, so a hand-over wakes only the connection's dispatcher, once, and
//! costs it one write, however many operations it carries (a crowded room's carry several).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_http::ws::{OpCode, Parser};
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use pairpad_domain::{Audience, Broadcaster, Flush, RoomEvent, UserId};
use tokio::sync::Notify;

use crate::wire;

/// A connection gets what it gathered so far handed to its queue once this many frames wait,
/// even before the room's turn ends (a catch-up of thousands of operations is not one hand-over).
const GATHER_AT_MOST: usize = 64;

/// The room's end of one connection's outbound queue: it gathers the connection's frames and
/// hands them over.
pub struct OutboundSender {
    receiver: OutboundReceiver,
    /// Frames gathered and not handed over yet (the bytes are shared with the other recipients).
    gathered: Vec<Bytes>,
    /// Whether one of them was addressed to this connection alone (see [`Flush::Direct`]).
    direct: bool,
}

/// Why a connection's queue took no more.
enum Refused {
    /// The client is `capacity` frames behind.
    Full,
    /// The connection is gone.
    Closed,
}

impl OutboundSender {
    /// Adds a frame to what the connection gets at the next hand-over.
    fn gather(&mut self, frame: &Bytes) -> Result<(), Refused> {
        self.gathered.push(frame.clone());
        if self.gathered.len() >= GATHER_AT_MOST { self.hand_over() } else { Ok(()) }
    }

    /// Puts the gathered frames in the connection's queue and wakes its body once, unless that
    /// would take the queue past its capacity (in frames: the client's lag is what is bounded).
    fn hand_over(&mut self) -> Result<(), Refused> {
        if self.gathered.is_empty() {
            return Ok(());
        }
        self.direct = false;
        // Taken, not drained: an idle connection keeps no buffer.
        let gathered = std::mem::take(&mut self.gathered);
        let state = &self.receiver.0;
        {
            let mut queue = self.receiver.queue();
            let Some(queue) = queue.as_mut() else { return Err(Refused::Closed) };
            if queue.frames.len() + gathered.len() > state.capacity {
                return Err(Refused::Full);
            }
            queue.frames.extend(gathered);
        }
        state.body.wake();
        Ok(())
    }
}

impl Drop for OutboundSender {
    /// The room let go: the body writes what is queued, then says so.
    fn drop(&mut self) {
        if let Some(queue) = self.receiver.queue().as_mut() {
            queue.room_gone = true;
        }
        self.receiver.0.body.wake();
    }
}

/// The connection's end, shared by its response body, which writes the frames, and its session,
/// which learns from it when and why the room let go.
#[derive(Clone)]
pub struct OutboundReceiver(Arc<OutboundState>);

/// A queue of its own rather than a channel: an idle connection's costs nothing but this (a
/// tokio channel is 1.3 KiB before its first message), and a hand-over of several frames takes
/// the lock once.
struct OutboundState {
    /// The frames to write; `None` once the session discarded them.
    queue: Mutex<Option<Queue>>,
    /// How many frames may wait.
    capacity: usize,
    /// Why the room let go: `OutboundReceiver::STAYING` until it does.
    reason: AtomicU8,
    /// Wakes the session when `reason` is set.
    notify: Notify,
    /// While set, the body writes the session's frames only: a resuming connection's session
    /// writes what the client missed before the room's frames, which follow it.
    held: AtomicBool,
    /// Wakes the body: frames were handed over, the room let go, or `held` was cleared.
    body: AtomicWaker,
}

struct Queue {
    /// In order.
    frames: VecDeque<Bytes>,
    /// Set when the room dropped its end: once `frames` is written, the body says so.
    room_gone: bool,
}

/// A bounded queue of `capacity` frames between a room and a connection; `held`: the room's
/// frames wait for [`OutboundReceiver::release`].
pub fn outbound_queue(capacity: usize, held: bool) -> (OutboundSender, OutboundReceiver) {
    let receiver = OutboundReceiver(Arc::new(OutboundState {
        queue: Mutex::new(Some(Queue { frames: VecDeque::new(), room_gone: false })),
        capacity: capacity.max(1),
        reason: AtomicU8::new(OutboundReceiver::STAYING),
        notify: Notify::new(),
        held: AtomicBool::new(held),
        body: AtomicWaker::new(),
    }));
    let sender = OutboundSender { receiver: receiver.clone(), gathered: Vec::new(), direct: false };
    (sender, receiver)
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
        self.0.body.wake();
    }

    /// Drops the frames still queued: the session is over, and a client that vanished without
    /// closing its socket would otherwise keep them until its connection times out.
    pub fn discard(&self) {
        drop(self.queue().take());
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Option<Queue>> {
        // Nothing panics while holding the lock; a poisoned one still holds a whole queue.
        self.0.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next frame, `None` once the room has let go (and then says so) or the queue was
    /// discarded.
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.0.held.load(Ordering::Acquire) {
            self.0.body.register(cx.waker());
            // Released between the load and the registration: go on.
            if self.0.held.load(Ordering::Acquire) {
                return Poll::Pending;
            }
        }
        let mut guard = self.queue();
        let Some(queue) = guard.as_mut() else { return Poll::Ready(None) };
        if let Some(frame) = queue.frames.pop_front() {
            if queue.frames.is_empty() {
                // An idle connection keeps no buffer.
                queue.frames = VecDeque::new();
            }
            return Poll::Ready(Some(frame));
        }
        if queue.room_gone {
            *guard = None;
            drop(guard);
            self.set(Self::RELEASED);
            return Poll::Ready(None);
        }
        // Registered under the lock: frames handed over after it was taken wake the body.
        self.0.body.register(cx.waker());
        Poll::Pending
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
    /// Whether a member may have frames gathered that are not for it alone: set by `publish`,
    /// cleared by a flush of everything.
    gathered: bool,
    /// Whether a member has a frame for it alone gathered.
    direct: bool,
}

impl WsFanout {
    /// Whether `user` stays after its queue answered `outcome`; a user that does not is added to
    /// `dropped`.
    fn keeps(user: UserId, outbox: &OutboundSender, outcome: Result<(), Refused>, dropped: &mut Vec<UserId>) -> bool {
        match outcome {
            Ok(()) => true,
            Err(Refused::Full) => {
                metrics::counter!("pairpad_broadcast_queue_full_total").increment(1);
                outbox.receiver.set(OutboundReceiver::TOO_SLOW);
                dropped.push(user);
                false
            }
            // The connection is gone; its `Leave` is on the way.
            Err(Refused::Closed) => {
                dropped.push(user);
                false
            }
        }
    }
}

impl Broadcaster for WsFanout {
    type Connection = OutboundSender;

    fn add(&mut self, user: UserId, connection: OutboundSender) {
        self.members.push((user, connection));
    }

    fn remove(&mut self, user: UserId) {
        // What it gathered is written before the close; dropping the sender ends the queue, and
        // the body then tells the session to close.
        self.members.retain_mut(|(member, outbox)| {
            if *member == user {
                let _ = outbox.hand_over();
            }
            *member != user
        });
    }

    fn remove_all_deleted(&mut self) {
        // The session says why, discards what is still queued and closes.
        for (_, outbox) in self.members.drain(..) {
            outbox.receiver.set(OutboundReceiver::ROOM_DELETED);
        }
    }

    fn publish(&mut self, event: &RoomEvent<'_>, audience: Audience<'_>) -> Vec<UserId> {
        let mut frame: Option<Bytes> = None;
        let mut dropped = Vec::new();
        let direct = matches!(audience, Audience::Only(_));
        self.members.retain_mut(|(user, outbox)| {
            if !audience.includes(*user) {
                return true;
            }
            let frame = frame.get_or_insert_with(|| text_frame(&wire::encode(event)));
            outbox.direct |= direct;
            let outcome = outbox.gather(frame);
            Self::keeps(*user, outbox, outcome, &mut dropped)
        });
        // What a direct flush hands over need not wake the room again for a flush of everything.
        self.gathered |= frame.is_some() && !direct;
        self.direct |= frame.is_some() && direct;
        dropped
    }

    fn flush(&mut self, scope: Flush) -> Vec<UserId> {
        let mut dropped = Vec::new();
        let wanted = match scope {
            Flush::Everything => std::mem::take(&mut self.gathered) || self.direct,
            Flush::Direct => self.direct,
        };
        if wanted {
            self.direct = false;
            self.members.retain_mut(|(user, outbox)| {
                if scope == Flush::Direct && !outbox.direct {
                    return true;
                }
                let outcome = outbox.hand_over();
                Self::keeps(*user, outbox, outcome, &mut dropped)
            });
        }
        dropped
    }

    fn has_gathered(&self) -> bool {
        self.gathered
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

    /// The texts of the frames the body would write now.
    fn queued(inbox: &OutboundReceiver) -> Vec<String> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        std::iter::from_fn(|| match inbox.poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => Some(payload(&frame).to_owned()),
            _ => None,
        })
        .collect()
    }

    fn ack(revision: u64) -> RoomEvent<'static> {
        RoomEvent::Ack { revision, op_id: None }
    }

    #[tokio::test]
    async fn gathered_frames_are_handed_over_at_the_flush() {
        let mut fanout = WsFanout::default();
        let (ada, bob) = (UserId::random(), UserId::random());
        let (ada_out, ada_in) = outbound_queue(128, false);
        let (bob_out, bob_in) = outbound_queue(128, false);
        fanout.add(ada, ada_out);
        fanout.add(bob, bob_out);
        assert!(fanout.publish(&ack(1), Audience::Only(ada)).is_empty());
        assert!(fanout.publish(&ack(2), Audience::Except(&[ada])).is_empty());
        assert!(fanout.publish(&ack(3), Audience::Everyone).is_empty());
        assert!(queued(&ada_in).is_empty(), "nothing before the flush");
        // Ada has an event for her alone: a direct flush hands over all she gathered, in order.
        assert!(fanout.flush(Flush::Direct).is_empty());
        assert_eq!(queued(&ada_in), [r#"{"type":"ack","revision":1}"#, r#"{"type":"ack","revision":3}"#]);
        assert!(queued(&bob_in).is_empty(), "Bob's broadcasts wait");
        assert!(fanout.has_gathered());
        assert!(fanout.flush(Flush::Everything).is_empty());
        assert!(!fanout.has_gathered());
        assert!(queued(&ada_in).is_empty());
        assert_eq!(queued(&bob_in), [r#"{"type":"ack","revision":2}"#, r#"{"type":"ack","revision":3}"#]);
        // Nothing gathered: nothing handed over.
        assert!(fanout.flush(Flush::Everything).is_empty());
        assert!(queued(&ada_in).is_empty());
        // A long turn hands over as it goes, so no chunk grows without bound.
        for revision in 0..GATHER_AT_MOST as u64 + 1 {
            assert!(fanout.publish(&ack(revision), Audience::Only(bob)).is_empty());
        }
        assert_eq!(queued(&bob_in).len(), GATHER_AT_MOST);
        fanout.flush(Flush::Everything);
        assert_eq!(queued(&bob_in).len(), 1);
    }

    #[tokio::test]
    async fn a_full_queue_drops_only_its_owner() {
        let mut fanout = WsFanout::default();
        let (fast, slow) = (UserId::random(), UserId::random());
        let (fast_out, fast_in) = outbound_queue(8, false);
        let (slow_out, slow_in) = outbound_queue(1, false);
        fanout.add(fast, fast_out);
        fanout.add(slow, slow_out);
        assert!(fanout.publish(&ack(1), Audience::Everyone).is_empty());
        assert!(fanout.flush(Flush::Everything).is_empty());
        // The capacity counts frames, however they were gathered: two more is one too many.
        fanout.publish(&ack(2), Audience::Everyone);
        fanout.publish(&ack(3), Audience::Everyone);
        assert_eq!(fanout.flush(Flush::Everything), vec![slow]);
        assert_eq!(slow_in.departure().await, Left::TooSlow);
        assert_eq!(fanout.len(), 1);
        assert_eq!(queued(&fast_in).len(), 3);
        // Written frames make room again.
        for revision in 0..8 {
            fanout.publish(&ack(revision), Audience::Everyone);
        }
        assert!(fanout.flush(Flush::Everything).is_empty());
        // A session that ends drops what is still queued; the room then finds the connection gone.
        fast_in.discard();
        fanout.publish(&ack(9), Audience::Everyone);
        assert_eq!(fanout.flush(Flush::Everything), vec![fast]);
        assert_eq!(fanout.len(), 0);
    }

    #[tokio::test]
    async fn a_removed_connection_gets_what_it_gathered_before_its_queue_ends() {
        let mut fanout = WsFanout::default();
        let ada = UserId::random();
        let (ada_out, ada_in) = outbound_queue(8, false);
        fanout.add(ada, ada_out);
        fanout.publish(&ack(1), Audience::Everyone);
        fanout.remove(ada);
        assert_eq!(queued(&ada_in), [r#"{"type":"ack","revision":1}"#]);
    }

    #[tokio::test]
    async fn the_body_writes_the_session_first_then_the_room_then_says_the_room_let_go() {
        use futures_util::StreamExt;
        let (mut outbox, inbox) = outbound_queue(8, false);
        let session_end = inbox.clone();
        // A session that has written one frame and stays open.
        let session = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from_static(b"hello"))])
            .chain(futures_util::stream::pending());
        let mut body = OutboundBody::new(BoxBody::new(actix_web::body::BodyStream::new(session)), inbox);
        assert!(outbox.gather(&text_frame("one")).is_ok());
        assert!(outbox.hand_over().is_ok());
        assert!(outbox.gather(&text_frame("two")).is_ok());
        assert!(outbox.hand_over().is_ok());
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
        let (mut outbox, inbox) = outbound_queue(8, true);
        assert!(outbox.gather(&text_frame("live")).is_ok());
        assert!(outbox.hand_over().is_ok());
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
