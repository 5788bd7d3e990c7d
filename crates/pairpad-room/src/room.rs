//! The room owner: one task per loaded room owns its [`Room`], its participants and its commit
//! pipeline, and is reached through a bounded channel. It sequences operations, has them
//! **persisted, then acknowledges the author, then broadcasts** them to the others.
//!
//! Commit pipeline: sequenced operations are sent to the group committer at once while fewer than
//! two of this room's appends are in flight; otherwise they wait and go together in the next. The
//! committer keeps a room's appends in order (merging them when one transaction carries both), so
//! its revisions reach the store in order.
//!
//! Several processes may have the same room loaded (scale-out): the store is the sequencer. When
//! a commit conflicts, or the bus announces a revision this room has not seen, the owner reads
//! what it missed from the store, shows it to its participants, and sequences its own edits that
//! were not yet stored again on top ([`RoomOwner::catch_up`]). Presence, cursors and language go
//! to the other processes over the [`RoomBus`]; a remote participant that is not re-announced
//! within [`PRESENCE_TTL`] has gone.
//!
//! Two processes whose participants type in the same room would race for each revision, and the
//! loser's edits would conflict again and again. So after a conflict lost to a process that
//! orders before it (process ids are ordered, so two processes never follow each other), a room
//! *follows* that process: it forwards its participants' edits to it over the bus
//! ([`BusMessage::Edit`]) and acknowledges each to its author when it finds it in the store,
//! with the commits it reads anyway. An edit the leader has not stored within [`FORWARD_TIMEOUT`]
//! (it died, or unloaded the room) is taken back: the room stops following, catches up and
//! sequences it itself (its `opId` keeps it from being applied twice).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pairpad_domain::{
    Access, Append, Audience, Broadcaster, BusMessage, BusNote, CodeUpdate, CommittedOp, Edit, EditError, EditOutcome,
    Flush, Language, Participant, ProcessId, RepoError, Room, RoomBus, RoomEvent, RoomId, RoomLimits, RoomRepo,
    Selection, Snapshot, TextOperation, Timestamp, UserId,
};
use pairpad_protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot};

use crate::committer::{CommitChain, Committer};
use crate::now;

/// A busy room hands its broadcasts to its connections at most once per this much time per
/// participant (up to [`MAX_BROADCAST_SPACING`]). A hand-over costs a wake-up and a write per
/// connection, so a crowded room's broadcasts are spaced out and each write carries several
/// operations: 400 authors typing are an operation every millisecond; spaced 10 ms, each write to
/// each of them carries about ten, on the server and on every client alike. A room is busy while
/// its operations come, on average, at least twice per spacing; otherwise nothing would be gained
/// by waiting, and each broadcast goes at once (a room of two or three, a lecturer alone typing to
/// hundreds). Acks and replies never wait.
const BROADCAST_SPACING_PER_PARTICIPANT: Duration = Duration::from_micros(25);
const MAX_BROADCAST_SPACING: Duration = Duration::from_millis(10);

/// How far apart a room's operations come: an average over the last few.
#[derive(Default)]
struct Pace {
    last: Option<tokio::time::Instant>,
    gap: Option<Duration>,
}

impl Pace {
    /// `ops` operations were shown at `now`.
    fn record(&mut self, now: tokio::time::Instant, ops: usize) {
        if let Some(last) = self.last.replace(now) {
            let gap = now.saturating_duration_since(last) / u32::try_from(ops.max(1)).unwrap_or(u32::MAX);
            self.gap = Some(self.gap.map_or(gap, |average| (average * 3 + gap) / 4));
        }
    }

    /// Whether at least two operations come per `spacing`, on average.
    fn is_busy(&self, spacing: Duration) -> bool {
        self.gap.is_some_and(|gap| gap * 2 <= spacing)
    }
}

/// A room owner's limits and timings.
#[derive(Clone, Debug)]
pub struct RoomSettings {
    /// The longest document, in code points.
    pub max_document_chars: usize,
    /// Operations kept in memory per room for transforming late edits.
    pub history_window: usize,
    /// How far behind a base revision may be and still be served from the store.
    pub max_history_fetch: usize,
    /// Store a snapshot of the text every this many operations.
    pub snapshot_every: u64,
    /// Commands queued per room.
    pub room_queue: usize,
    /// How long a room with nobody connected stays in memory.
    pub idle_unload: Duration,
    /// The most participants in one room.
    pub max_users_per_room: usize,
}

impl RoomSettings {
    /// The limits the domain's `Room` enforces itself.
    pub fn limits(&self) -> RoomLimits {
        RoomLimits { max_document_chars: self.max_document_chars, history_window: self.history_window }
    }
}

/// What a room owner can be asked to do.
pub enum Command<C> {
    /// Add a participant; it gets `init` first, unless it resumes from revision `since` (see
    /// [`JoinOutcome::Resumed`]).
    Join {
        participant: Participant,
        access: Access,
        connection: C,
        since: Option<u64>,
        reply: oneshot::Sender<JoinOutcome<C>>,
    },
    /// A participant disconnected.
    Leave { user: UserId },
    /// An operation made on top of `base_revision`, received at `received`.
    Operation { user: UserId, base_revision: u64, operation: TextOperation, op_id: Option<String>, received: Instant },
    /// A whole-document replacement.
    CodeUpdate { user: UserId, update: CodeUpdate, received: Instant },
    /// A cursor to relay.
    Cursor { user: UserId, revision: u64, selection: Selection },
    /// A language change.
    Language { user: UserId, language: Language },
    /// A read of the room's current state.
    Inspect { reply: oneshot::Sender<RoomView> },
    /// Commit everything sequenced, close every connection and stop.
    Drain { reply: oneshot::Sender<()> },
    /// The room was deleted from the store: close every connection (saying so), drop what is not
    /// stored and stop. Answered once the room is no longer reachable through its loader.
    Deleted { reply: oneshot::Sender<()> },
    /// Another process's message about this room.
    Bus(BusNote),
    /// Messages from other processes may have been lost: catch up with the store and announce
    /// this process's participants.
    Resync,
}

/// The answer to a join. A refused connection is handed back so the caller can try elsewhere.
pub enum JoinOutcome<C> {
    /// The participant is in and its `init` is queued.
    Joined,
    /// The participant is in and resumes: nothing is queued for it yet but what happens after
    /// [`Resumption::through`]. Its caller sends it `resume` and the operations it missed first.
    Resumed(Resumption),
    /// The room has as many participants as allowed.
    Full(C),
    /// The room is stopping; load it again.
    Stopping(C),
}

/// What a participant that knew the room at revision `since` needs to catch up (PROTOCOL.md 1.1,
/// "Resuming"): the `resume` message's fields and the stored operations after `since` through
/// `through`, which are all in the store.
#[derive(Clone, Debug)]
pub struct Resumption {
    pub room: RoomId,
    pub user: UserId,
    pub since: u64,
    /// What the participant may do.
    pub access: Access,
    /// The durable revision when the participant joined: its queue holds what follows.
    pub through: u64,
    /// The operations after `since` through `through`, when memory held them all; otherwise the
    /// caller reads them from the store (off the room's task).
    pub missed: Option<Vec<CommittedOp>>,
    pub language: Language,
    pub users: Vec<Participant>,
}

/// A room's state as seen by a REST reader.
#[derive(Clone, Debug)]
pub struct RoomView {
    pub id: RoomId,
    pub code: String,
    pub revision: u64,
    pub language: Language,
    pub active_users: usize,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A cloneable way to reach a room's owner.
pub struct RoomHandle<C> {
    /// The owner's command queue (the receiving end is [`RoomOwner::run`]'s).
    pub commands: mpsc::Sender<Command<C>>,
    /// Tells this owner apart from an earlier or later one of the same room; chosen by whoever
    /// loads rooms.
    pub generation: u64,
}

impl<C> Clone for RoomHandle<C> {
    fn clone(&self) -> Self {
        Self { commands: self.commands.clone(), generation: self.generation }
    }
}

impl<C: Send + 'static> RoomHandle<C> {
    /// Sends a command, waiting while the room's queue is full. `Err` hands the command back once
    /// the room has stopped.
    pub async fn send(&self, command: Command<C>) -> Result<(), Command<C>> {
        self.commands.send(command).await.map_err(|e| e.0)
    }
}

/// Appends of one room that may wait for the committer at once. With two, a room's next append is
/// already queued when the committer finishes a transaction, so the next transaction carries every
/// busy room instead of only those whose owner happened to be scheduled in between.
const MAX_APPENDS_IN_FLIGHT: usize = 2;

/// Edits that may wait for old history at once; more are refused with `server_busy`. A client
/// keeps one operation in flight, so only a flood fills this.
const MAX_EDITS_AWAITING_HISTORY: usize = 256;

/// How often a room tells the other processes who is connected here.
pub const PRESENCE_INTERVAL: Duration = Duration::from_secs(3);

/// A participant of another process that is not re-announced for this long has gone (its
/// process died without saying so).
pub const PRESENCE_TTL: Duration = Duration::from_secs(10);

/// How long a forwarded edit may go unstored before the room takes it back and stops following.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(1);

/// Forwarded edits not yet found in the store that a room keeps at once (each waits up to
/// [`FORWARD_TIMEOUT`]); beyond, a flood's edits are sequenced here, racing the leader.
pub const MAX_EDITS_FORWARDED: usize = 256;

/// The longest text an edit may insert to be forwarded; a longer one could exceed the bus's
/// payload limit (PostgreSQL's is 8000 bytes) and is sequenced here instead.
const MAX_FORWARDED_CHARS: usize = 1_000;

/// Operations one catch-up reads from the store at most: a room further behind than this is
/// reloaded instead (its participants reconnect).
const MAX_CATCH_UP_OPS: usize = 100_000;

/// A read of old operations from the store, in flight while the room goes on serving others.
type HistoryRead = Pin<Box<dyn Future<Output = Vec<CommittedOp>> + Send>>;

/// An operation the room sequenced, the edit it came from (to sequence it again should another
/// process store other operations first), and when the edit arrived (for the ack latency
/// metric).
struct Sequenced {
    op: CommittedOp,
    edit: Edit,
    received: Instant,
}

/// A commit of this room's operations in flight.
struct InFlight {
    ops: Vec<Sequenced>,
    verdict: oneshot::Receiver<Result<(), RepoError>>,
}

/// An ack owed for a re-sent operation whose original is not durable yet.
struct DuplicateAck {
    user: UserId,
    /// The revision the original became.
    revision: u64,
    op_id: Option<String>,
}

/// An edit of a participant here, forwarded to the process this room follows.
struct Forwarded {
    edit: Edit,
    received: Instant,
    sent: tokio::time::Instant,
}

/// A participant connected to another process.
struct RemoteParticipant {
    participant: Participant,
    process: ProcessId,
    /// When it was last announced.
    seen: Instant,
}

/// Called once when a room owner stops taking commands (unloaded, drained, its store failed), so
/// that whoever loads rooms forgets it and the next request loads the room afresh.
pub type OnStop = Box<dyn FnOnce() + Send>;

/// One loaded room's task: see the module docs.
pub struct RoomOwner<B: Broadcaster> {
    room: Room,
    fanout: B,
    /// Those connected here.
    participants: Vec<Participant>,
    /// Those connected to other processes.
    remote: Vec<RemoteParticipant>,
    /// The latest revision sent to the committer: the next append's expected revision.
    submitted_revision: u64,
    /// This room's appends waiting for the committer, oldest first.
    in_flight: VecDeque<InFlight>,
    /// The run of appends the in-flight ones belong to (see [`CommitChain`]).
    chain: CommitChain,
    /// The latest revision another process announced.
    announced_head: u64,
    /// The process that last announced a revision this room had not stored.
    last_committer: Option<ProcessId>,
    /// The first revision of a race this room lost without following the winner (not known yet):
    /// the winner's notice may come after the conflict (and after the catch-up that read its
    /// commit).
    raced_for: Option<u64>,
    /// The process this room forwards its participants' edits to (see the module docs).
    leader: Option<ProcessId>,
    /// Edits forwarded to the leader and not yet found in the store, oldest first.
    forwarded: VecDeque<Forwarded>,
    /// Edits forwarded here on a revision another process stored and this room has not read yet:
    /// sequenced after the next catch-up.
    forwarded_ahead: Vec<(Edit, Instant)>,
    /// Set when the room cannot go on (a catch-up failed): the run loop stops it.
    failure: Option<RepoError>,
    /// Sequenced operations not yet sent to the committer.
    unsaved: Vec<Sequenced>,
    /// Acks for re-sent operations whose original is not durable yet.
    pending_duplicate_acks: Vec<DuplicateAck>,
    ops_since_snapshot: u64,
    /// Edits whose base revision is older than memory holds, oldest first, and edits of their
    /// authors sent after them (an author's edits are sequenced in the order sent). The first
    /// waits for `history_read`.
    awaiting_history: VecDeque<(Edit, Instant)>,
    history_read: Option<HistoryRead>,
    draining: Option<oneshot::Sender<()>>,
    /// Set when the room was deleted from the store: the run loop stops it.
    deleted: bool,
    /// When the gathered broadcasts may be handed over next (see
    /// [`BROADCAST_SPACING_PER_PARTICIPANT`]).
    next_broadcast: tokio::time::Instant,
    /// How fast operations are shown here.
    pace: Pace,
    /// Read for old base revisions and written for language changes; appends go to `committer`.
    repo: Arc<dyn RoomRepo>,
    committer: Committer,
    /// Presence, cursors and language to and from other processes.
    bus: Arc<dyn RoomBus>,
    settings: RoomSettings,
    /// Taken when the room stops, so it is called once.
    on_stop: Option<OnStop>,
}

impl<B: Broadcaster> RoomOwner<B>
where
    B::Connection: 'static,
{
    /// An owner of `room`, delivering its events through `fanout`. Nothing runs until [`run`].
    ///
    /// [`run`]: RoomOwner::run
    pub fn new(
        room: Room,
        fanout: B,
        repo: Arc<dyn RoomRepo>,
        committer: Committer,
        bus: Arc<dyn RoomBus>,
        settings: RoomSettings,
        on_stop: OnStop,
    ) -> Self {
        Self {
            submitted_revision: room.revision(),
            announced_head: room.revision(),
            last_committer: None,
            raced_for: None,
            leader: None,
            forwarded: VecDeque::new(),
            forwarded_ahead: Vec::new(),
            room,
            fanout,
            participants: Vec::new(),
            remote: Vec::new(),
            in_flight: VecDeque::with_capacity(MAX_APPENDS_IN_FLIGHT),
            chain: CommitChain::default(),
            failure: None,
            unsaved: Vec::new(),
            pending_duplicate_acks: Vec::new(),
            ops_since_snapshot: 0,
            awaiting_history: VecDeque::new(),
            history_read: None,
            draining: None,
            deleted: false,
            next_broadcast: tokio::time::Instant::now(),
            pace: Pace::default(),
            repo,
            committer,
            bus,
            settings,
            on_stop: Some(on_stop),
        }
    }

    /// Runs the room until it is idle for the configured time, drained, or its store fails.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command<B::Connection>>) {
        let idle_unload = self.settings.idle_unload;
        // Since when the room has had nothing to do: it unloads `idle_unload` later, however
        // often the bus and the presence timer wake it meanwhile.
        let mut idle_since: Option<tokio::time::Instant> = None;
        let mut presence = tokio::time::interval(PRESENCE_INTERVAL);
        presence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.bus.publish(self.room.id(), BusMessage::PresenceWanted);
        // A commit another process announced between this room's load and now found no room
        // here to tell: read whatever follows the loaded revision (usually nothing).
        self.catch_up(Vec::new()).await;
        loop {
            // What the last turn published goes out before anything else is awaited.
            self.flush();
            if self.deleted {
                return self.unload(commands).await;
            }
            if let Some(error) = self.failure.take() {
                return self.fail(&error, &[], commands).await;
            }
            if self.in_flight.len() < MAX_APPENDS_IN_FLIGHT && !self.unsaved.is_empty() {
                let submitted = self.submit_unsaved().await;
                self.in_flight.push_back(submitted);
            }
            if self.in_flight.is_empty()
                && self.unsaved.is_empty()
                && self.history_read.is_none()
                && self.draining.is_some()
            {
                self.close_everyone();
                if let Some(reply) = self.draining.take() {
                    let _ = reply.send(());
                }
                break;
            }
            let idle = self.in_flight.is_empty() && self.is_idle();
            idle_since = if idle { idle_since.or_else(|| Some(tokio::time::Instant::now())) } else { None };
            let unload_at = idle_since.and_then(|since| since.checked_add(idle_unload));
            tokio::select! {
                // The committer answers a room's appends in the order they were sent.
                verdict = async { self.in_flight.front_mut().map(|f| &mut f.verdict).expect("guarded").await }, if !self.in_flight.is_empty() => {
                    let sequenced = self.in_flight.pop_front().map(|f| f.ops).unwrap_or_default();
                    match verdict {
                        Ok(Ok(())) => {
                            self.on_durable(sequenced);
                            self.catch_up_if_idle().await;
                        }
                        Ok(Err(RepoError::Conflict { .. })) => {
                            // Another process stored this room's next revisions first.
                            metrics::counter!("pairpad_commit_conflicts_total").increment(1);
                            self.follow_the_winner();
                            if self.leader.is_none() {
                                self.raced_for = sequenced.first().map(|s| s.op.revision);
                            }
                            self.catch_up(sequenced).await;
                        }
                        Ok(Err(error)) => {
                            let ops: Vec<CommittedOp> = sequenced.into_iter().map(|s| s.op).collect();
                            return self.fail(&error, &ops, commands).await;
                        }
                        Err(_) => {
                            let stopped = RepoError::Unavailable("the committer stopped".into());
                            let ops: Vec<CommittedOp> = sequenced.into_iter().map(|s| s.op).collect();
                            return self.fail(&stopped, &ops, commands).await;
                        }
                    }
                }
                older = async { self.history_read.as_mut().expect("guarded").await }, if self.history_read.is_some() => {
                    self.history_read = None;
                    self.on_history(older);
                }
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                // Every loaded room speaks of itself, even with nobody here: another process then
                // keeps announcing its commits to this one (see `announce_head`).
                _ = presence.tick() => self.refresh_presence(),
                () = tokio::time::sleep_until(self.next_broadcast), if self.fanout.has_gathered() => {}
                () = tokio::time::sleep_until(self.forwarded.front().map_or(self.next_broadcast, |f| f.sent + FORWARD_TIMEOUT)), if !self.forwarded.is_empty() => {
                    self.take_back_forwarded().await;
                }
                () = async { tokio::time::sleep_until(unload_at.expect("guarded")).await }, if unload_at.is_some() => {
                    return self.unload(commands).await;
                }
            }
        }
        self.flush_scope(Flush::Everything);
        self.stopped();
    }

    /// Tells whoever loaded the room that this owner takes no more commands.
    fn stopped(&mut self) {
        if let Some(on_stop) = self.on_stop.take() {
            on_stop();
        }
    }

    fn is_idle(&self) -> bool {
        self.fanout.is_empty()
            && self.unsaved.is_empty()
            && self.pending_duplicate_acks.is_empty()
            && self.awaiting_history.is_empty()
            && self.forwarded.is_empty()
    }

    async fn handle(&mut self, command: Command<B::Connection>) {
        match command {
            Command::Join { participant, access, connection, since, reply } => {
                let outcome = if self.draining.is_some() || self.deleted {
                    JoinOutcome::Stopping(connection)
                } else if self.participants.len() >= self.settings.max_users_per_room {
                    JoinOutcome::Full(connection)
                } else {
                    self.join(participant, access, connection, since)
                };
                let _ = reply.send(outcome);
            }
            Command::Leave { user } => {
                self.fanout.remove(user);
                self.announce_departures(vec![user]);
            }
            Command::Operation { user, base_revision, operation, op_id, received } => {
                let author_name = self.name_of(user);
                self.edit(Edit { base_revision, operation, op_id, author: user, author_name }, received);
            }
            Command::CodeUpdate { user, update, received } => {
                let edit = self.room.code_update_to_edit(&update, user, self.name_of(user));
                self.edit(edit, received);
            }
            Command::Cursor { user, revision, selection } => {
                let event = RoomEvent::Cursor { user_id: user, revision, selection };
                self.publish(&event, Audience::Except(&[user]));
                self.bus.publish(self.room.id(), BusMessage::Cursor { user, revision, selection });
            }
            Command::Language { user, language } => self.change_language(user, language).await,
            Command::Inspect { reply } => {
                let _ = reply.send(self.view());
            }
            Command::Drain { reply } => self.draining = Some(reply),
            Command::Deleted { reply } => {
                self.on_deleted();
                let _ = reply.send(());
            }
            Command::Bus(note) => self.on_bus(note).await,
            Command::Resync => {
                self.announced_head = u64::MAX;
                self.catch_up_if_idle().await;
                self.announce_presence();
            }
        }
    }

    /// Adds a participant. One that knew the room at `since` resumes when the store has every
    /// operation after it and it is at most `max_history_fetch` behind; otherwise it gets `init`.
    fn join(
        &mut self,
        participant: Participant,
        access: Access,
        connection: B::Connection,
        since: Option<u64>,
    ) -> JoinOutcome<B::Connection> {
        let user = participant.user_id;
        self.fanout.add(user, connection);
        self.bus.publish(self.room.id(), BusMessage::Joined(participant.clone()));
        self.participants.push(participant);
        let users: Vec<Participant> = self.everyone().cloned().collect();
        let mut dropped = Vec::new();
        if let Some(newcomer) = self.participants.last() {
            let joined = RoomEvent::UserJoined { user: newcomer, active_users: users.len() };
            dropped.extend(self.fanout.publish(&joined, Audience::Except(&[user])));
        }
        // The stored revision: operations sequenced after it reach the newcomer like everyone
        // else, once stored (until then another process may still have them sequenced again).
        let through = self.room.durable_revision();
        let resumable =
            since.filter(|&since| since <= through && through - since <= self.settings.max_history_fetch as u64);
        let outcome = if let Some(since) = resumable {
            JoinOutcome::Resumed(Resumption {
                room: self.room.id(),
                user,
                since,
                access,
                through,
                missed: self.room.durable_ops_after(since),
                language: self.room.language().clone(),
                users,
            })
        } else {
            let code = self.room.durable_text();
            let init = RoomEvent::Init {
                room: self.room.id(),
                user_id: user,
                revision: through,
                code: &code,
                language: self.room.language(),
                users: &users,
                resumed: since.map(|_| false),
                access,
            };
            dropped.extend(self.fanout.publish(&init, Audience::Only(user)));
            JoinOutcome::Joined
        };
        self.announce_departures(dropped);
        outcome
    }

    fn edit(&mut self, edit: Edit, received: Instant) {
        if self.draining.is_some() {
            // Not acknowledged: the client re-sends it to the next server with its `opId`.
            return;
        }
        let author_is_waiting = self.awaiting_history.iter().any(|(waiting, _)| waiting.author == edit.author);
        if let Some(leader) = self.leader_for(&edit)
            && !author_is_waiting
        {
            return self.forward(leader, edit, received);
        }
        if !author_is_waiting && !self.needs_store_history(edit.base_revision) {
            return self.sequence(edit, &[], received);
        }
        if self.awaiting_history.len() >= MAX_EDITS_AWAITING_HISTORY {
            let message = "too many edits on old revisions are waiting for history; re-send later";
            return self.publish(
                &RoomEvent::Error { code: ErrorCode::ServerBusy.as_str(), message },
                Audience::Only(edit.author),
            );
        }
        self.awaiting_history.push_back((edit, received));
        self.read_history_for_next();
    }

    /// Sends an edit to the process this room follows, to be acknowledged once found in the store.
    fn forward(&mut self, leader: ProcessId, edit: Edit, received: Instant) {
        // A re-sent copy of an edit already forwarded: the original's ack answers both.
        if self.forwarded.iter().any(|f| f.edit.author == edit.author && f.edit.op_id == edit.op_id) {
            return;
        }
        metrics::counter!("pairpad_edits_forwarded_total").increment(1);
        self.bus.publish(self.room.id(), BusMessage::Edit { to: leader, edit: edit.clone() });
        self.forwarded.push_back(Forwarded { edit, received, sent: tokio::time::Instant::now() });
    }

    /// The process to forward `edit` to, if this room follows one and the edit may go: small
    /// enough for the bus, and not beyond [`MAX_EDITS_FORWARDED`] waiting.
    fn leader_for(&self, edit: &Edit) -> Option<ProcessId> {
        self.leader.filter(|_| is_forwardable(edit) && self.forwarded.len() < MAX_EDITS_FORWARDED)
    }

    /// After a lost race for a revision: follow the process that won it, if it orders before this
    /// one (so that of two processes exactly one follows the other).
    fn follow_the_winner(&mut self) {
        if self.leader.is_none()
            && let Some(winner) = self.last_committer
            && winner < self.bus.process()
        {
            tracing::debug!(room = %self.room.id(), leader = ?winner, "following another process's lead");
            self.leader = Some(winner);
        }
    }

    /// The leader has not stored a forwarded edit in time: stop following, read what it did
    /// store (acknowledging what was forwarded and is there), and sequence the rest here.
    async fn take_back_forwarded(&mut self) {
        metrics::counter!("pairpad_forward_timeouts_total").increment(1);
        tracing::info!(room = %self.room.id(), "a forwarded edit was not stored in time: sequencing here again");
        self.leader = None;
        self.catch_up(Vec::new()).await;
        for Forwarded { edit, received, .. } in std::mem::take(&mut self.forwarded) {
            self.edit(edit, received);
        }
    }

    /// Whether sequencing an edit on `base` needs operations that memory no longer holds but the
    /// store may: a base further back than `max_history_fetch` is refused (`stale_revision`)
    /// without reading anything.
    fn needs_store_history(&self, base: u64) -> bool {
        let behind = self.room.revision().saturating_sub(base);
        !self.room.has_history_since(base) && behind <= self.settings.max_history_fetch as u64
    }

    /// Sequences the waiting edits that need nothing from the store, up to the first that does,
    /// whose read it starts. One read at a time: a flood of old base revisions costs the store one
    /// read after another, and the room's other participants nothing.
    fn read_history_for_next(&mut self) {
        if self.draining.is_some() {
            // Not acknowledged: their clients re-send them to the next server with their `opId`s.
            self.awaiting_history.clear();
        }
        while self.history_read.is_none() {
            let Some((edit, _)) = self.awaiting_history.front() else { return };
            let base = edit.base_revision;
            if self.needs_store_history(base) {
                let (repo, id) = (self.repo.clone(), self.room.id());
                let behind = (self.room.revision() - base) as usize;
                // Operations discarded under a smaller `max_history_fetch` leave a gap, which
                // `Room::submit` counts as stale.
                self.history_read = Some(Box::pin(async move {
                    repo.ops_since(id, base, behind).await.unwrap_or_else(|error| {
                        tracing::warn!(room = %id, %error, "cannot read old operations");
                        Vec::new()
                    })
                }));
                metrics::counter!("pairpad_history_reads_total").increment(1);
                return;
            }
            if let Some((edit, received)) = self.awaiting_history.pop_front() {
                self.sequence(edit, &[], received);
            }
        }
    }

    /// The store answered the read for the first waiting edit: sequence it, then the next ones.
    fn on_history(&mut self, older: Vec<CommittedOp>) {
        if let Some((edit, received)) = self.awaiting_history.pop_front() {
            self.sequence(edit, &older, received);
        }
        self.read_history_for_next();
    }

    /// Transforms, applies and records an edit (`older`: what the store returned for its base).
    fn sequence(&mut self, edit: Edit, older: &[CommittedOp], received: Instant) {
        let user = edit.author;
        let op_id = edit.op_id.clone();
        match self.room.submit(edit.clone(), older, now()) {
            Ok(EditOutcome::Applied(op)) => {
                self.ops_since_snapshot += 1;
                self.unsaved.push(Sequenced { op, edit, received });
            }
            Ok(EditOutcome::Duplicate { revision }) => {
                if revision <= self.room.durable_revision() {
                    self.publish(&RoomEvent::Ack { revision, op_id: op_id.as_deref() }, Audience::Only(user));
                } else {
                    self.pending_duplicate_acks.push(DuplicateAck { user, revision, op_id });
                }
            }
            Err(error) => {
                let code = match error {
                    EditError::FutureRevision { .. } => ErrorCode::InvalidRevision,
                    EditError::StaleRevision { .. } => ErrorCode::StaleRevision,
                    EditError::InvalidOperation(_) => ErrorCode::InvalidOperation,
                    EditError::InvalidText(_) => ErrorCode::InvalidText,
                    EditError::DocumentTooLarge { .. } => ErrorCode::DocumentTooLarge,
                }
                .as_str();
                let message = error.to_string();
                self.publish(&RoomEvent::Error { code, message: &message }, Audience::Only(user));
            }
        }
    }

    async fn submit_unsaved(&mut self) -> InFlight {
        let ops = std::mem::take(&mut self.unsaved);
        let snapshot = (self.ops_since_snapshot >= self.settings.snapshot_every).then(|| {
            self.ops_since_snapshot = 0;
            Snapshot { code: self.room.text(), revision: self.room.revision() }
        });
        let expected_revision = self.submitted_revision;
        self.submitted_revision = self.room.revision();
        let committed = ops.iter().map(|s| s.op.clone()).collect();
        let append = Append { room: self.room.id(), expected_revision, ops: committed, snapshot };
        InFlight { ops, verdict: self.committer.submit(append, &self.chain).await }
    }

    /// The operations are in the store: acknowledge each to its author, then show it to the rest.
    fn on_durable(&mut self, sequenced: Vec<Sequenced>) {
        if let Some(last) = sequenced.last() {
            // Announced first: the other processes' participants have a trip through the store
            // ahead of them.
            self.announce_head(last.op.revision);
        }
        let ack_seconds = metrics::histogram!("pairpad_ack_seconds");
        sequenced.iter().for_each(|s| ack_seconds.record(s.received.elapsed().as_secs_f64()));
        let ops: Vec<CommittedOp> = sequenced.into_iter().map(|s| s.op).collect();
        self.show_durable(&ops);
    }

    /// Acknowledges stored operations to their authors and shows them to the other participants,
    /// then pays the acks owed for re-sent ones.
    fn show_durable(&mut self, ops: &[CommittedOp]) {
        let Some(last) = ops.last() else { return };
        self.pace.record(tokio::time::Instant::now(), ops.len());
        if let Err(error) = self.room.confirm(last.revision) {
            self.failure = Some(RepoError::Corrupt(format!("the room cannot replay its own operations: {error}")));
        }
        let mut dropped = Vec::new();
        let mut excluded = Vec::new();
        for op in ops {
            let ack = RoomEvent::Ack { revision: op.revision, op_id: op.op_id.as_deref() };
            dropped.extend(self.fanout.publish(&ack, Audience::Only(op.author)));
            // Whoever re-sent it gets an ack (below) instead, as its author would.
            excluded.clear();
            excluded.push(op.author);
            excluded.extend(self.pending_duplicate_acks.iter().filter(|o| o.revision == op.revision).map(|o| o.user));
            let show_op_id = !self.participants.iter().any(|p| p.user_id == op.author);
            dropped.extend(self.fanout.publish(&RoomEvent::Operation { op, show_op_id }, Audience::Except(&excluded)));
        }
        let durable = self.room.durable_revision();
        let (ready, waiting) = std::mem::take(&mut self.pending_duplicate_acks)
            .into_iter()
            .partition::<Vec<_>, _>(|owed| owed.revision <= durable);
        self.pending_duplicate_acks = waiting;
        for owed in ready {
            let ack = RoomEvent::Ack { revision: owed.revision, op_id: owed.op_id.as_deref() };
            dropped.extend(self.fanout.publish(&ack, Audience::Only(owed.user)));
        }
        self.announce_departures(dropped);
    }

    /// Catches up with the store if another process announced a revision this room has not
    /// seen and none of its appends is in flight (one that is will conflict, and catch up then).
    async fn catch_up_if_idle(&mut self) {
        if self.announced_head > self.room.durable_revision() && self.in_flight.is_empty() {
            self.catch_up(Vec::new()).await;
        }
    }

    /// Another process stored operations after this room's durable revision: reads them from the
    /// store, shows them to the participants here, and sequences again, on top, every edit of this
    /// room not stored yet: `failed` (whose commit conflicted), the appends still in flight (the
    /// committer refuses them as the rest of a broken chain) and those not yet submitted. That is
    /// what a single process would have done had the others' edits arrived first, and clients
    /// transform over the same operations in the same order, so everyone converges; each edit is
    /// acknowledged once, with its final revision.
    async fn catch_up(&mut self, failed: Vec<Sequenced>) {
        let mut pending = failed;
        pending.extend(self.in_flight.drain(..).flat_map(|f| f.ops));
        pending.append(&mut self.unsaved);
        if !pending.is_empty() {
            self.chain = CommitChain::default();
        }
        let durable = self.room.durable_revision();
        let missed = match read_after(&self.committer, &*self.repo, self.room.id(), durable).await {
            Ok(missed) => missed,
            Err(error) => return self.failure = Some(error),
        };
        if let Err(error) = self.room.rebase(&missed) {
            self.failure = Some(RepoError::Unavailable(format!("cannot catch up with the store: {error}")));
            return;
        }
        self.announced_head = self.room.revision();
        self.submitted_revision = self.room.revision();
        self.ops_since_snapshot = self.ops_since_snapshot.saturating_sub(pending.len() as u64);
        // Acks owed for re-sent edits whose original was sequenced here but stored by another
        // process (it was re-sent there too) are paid now, instead of showing them the operation.
        let (owed_here, mut owed): (Vec<DuplicateAck>, Vec<DuplicateAck>) =
            std::mem::take(&mut self.pending_duplicate_acks)
                .into_iter()
                .partition(|owed| owed.op_id.is_some() && missed.iter().any(|op| op.op_id == owed.op_id));
        let mut dropped = Vec::new();
        let mut excluded = Vec::new();
        if !missed.is_empty() {
            self.pace.record(tokio::time::Instant::now(), missed.len());
        }
        let ack_seconds = metrics::histogram!("pairpad_ack_seconds");
        for op in &missed {
            excluded.clear();
            excluded.extend(owed_here.iter().filter(|o| o.op_id == op.op_id).map(|o| o.user));
            // An edit forwarded from here, stored by the leader: its author gets the ack.
            if op.op_id.is_some()
                && let Some(at) =
                    self.forwarded.iter().position(|f| f.edit.author == op.author && f.edit.op_id == op.op_id)
                && let Some(forwarded) = self.forwarded.remove(at)
            {
                ack_seconds.record(forwarded.received.elapsed().as_secs_f64());
                excluded.push(op.author);
                let ack = RoomEvent::Ack { revision: op.revision, op_id: op.op_id.as_deref() };
                dropped.extend(self.fanout.publish(&ack, Audience::Only(op.author)));
            }
            let event = RoomEvent::Operation { op, show_op_id: true };
            dropped.extend(self.fanout.publish(&event, Audience::Except(&excluded)));
            for owed in owed_here.iter().filter(|o| o.op_id == op.op_id) {
                let ack = RoomEvent::Ack { revision: op.revision, op_id: owed.op_id.as_deref() };
                dropped.extend(self.fanout.publish(&ack, Audience::Only(owed.user)));
            }
        }
        self.announce_departures(dropped);
        // Rare: an edit based further back than memory now holds needs the store's history.
        let oldest_base = pending.iter().map(|s| s.edit.base_revision).min().unwrap_or(durable);
        let older = if self.room.has_history_since(oldest_base) {
            Vec::new()
        } else {
            read_after(&self.committer, &*self.repo, self.room.id(), oldest_base).await.unwrap_or_default()
        };
        // Clients only ever see stored revisions, so every edit's base is one the store has. A
        // room that now follows another process forwards them there rather than race it again.
        for Sequenced { edit, received, .. } in pending {
            match self.leader_for(&edit) {
                Some(leader) => self.forward(leader, edit, received),
                None => self.sequence(edit, &older, received),
            }
        }
        // The other acks owed: at their original's new revision, once that is stored.
        for owed in &mut owed {
            let original = self.unsaved.iter().find(|s| owed.op_id.is_some() && s.op.op_id == owed.op_id);
            owed.revision = original.map_or(0, |s| s.op.revision);
        }
        // (0: refused when sequenced again, and its author was told.)
        owed.retain(|owed| owed.revision > 0);
        self.pending_duplicate_acks.extend(owed);
        // Forwarded edits that waited for this catch-up; those that waited longer than their
        // follower does are dropped (it sequences them itself).
        let revision = self.room.revision();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.forwarded_ahead).into_iter().partition(|(edit, _)| edit.base_revision <= revision);
        self.forwarded_ahead =
            waiting.into_iter().filter(|(_, received)| received.elapsed() < FORWARD_TIMEOUT).collect();
        for (edit, received) in ready {
            self.edit(edit, received);
        }
    }

    /// Another process's message about this room.
    async fn on_bus(&mut self, note: BusNote) {
        let BusNote { origin, message, .. } = note;
        match message {
            BusMessage::Committed { head } => {
                // News, or the revision of a race this room lost: its sender stored it. (A notice
                // repeating a head this room has stored names nobody.)
                let won_the_race = self.raced_for.is_some_and(|raced| head >= raced);
                if head > self.room.durable_revision() || won_the_race {
                    self.last_committer = Some(origin);
                }
                if won_the_race {
                    self.follow_the_winner();
                    self.raced_for = None;
                }
                self.announced_head = self.announced_head.max(head);
                self.catch_up_if_idle().await;
            }
            // Another process follows this one here: its participant's edit is sequenced as if
            // sent here (and forwarded on, should this room follow a third process).
            BusMessage::Edit { to, edit } if to == self.bus.process() => {
                if edit.base_revision <= self.room.revision() {
                    return self.edit(edit, Instant::now());
                }
                // Its follower has read a revision this room has not yet (another process's).
                if self.forwarded_ahead.len() < MAX_EDITS_AWAITING_HISTORY {
                    self.announced_head = self.announced_head.max(edit.base_revision);
                    self.forwarded_ahead.push((edit, Instant::now()));
                }
                self.catch_up_if_idle().await;
            }
            BusMessage::Edit { .. } => {}
            BusMessage::Joined(participant) => {
                // Whoever joined there is shown that process's copy of the room: make sure it
                // knows this one's commits.
                self.announce_head(self.room.durable_revision());
                self.remote_present(origin, participant);
            }
            BusMessage::Present(participants) => {
                for participant in participants {
                    self.remote_present(origin, participant);
                }
            }
            BusMessage::Left(user) => {
                if let Some(at) = self.remote.iter().position(|r| r.participant.user_id == user) {
                    self.remote.remove(at);
                    let event = RoomEvent::UserLeft { user_id: user, active_users: self.active_users() };
                    self.publish(&event, Audience::Everyone);
                }
            }
            BusMessage::PresenceWanted => {
                // It loaded the room while this one committed, perhaps before the bus knew that
                // another process has it (see `announce_head`).
                self.announce_head(self.room.durable_revision());
                self.announce_presence();
            }
            BusMessage::Cursor { user, revision, selection } => {
                self.publish(&RoomEvent::Cursor { user_id: user, revision, selection }, Audience::Everyone);
            }
            BusMessage::Language { user, language } => {
                let event = RoomEvent::Language { language: &language, user_id: user };
                let dropped = self.fanout.publish(&event, Audience::Everyone);
                self.room.set_language(language, now());
                self.announce_departures(dropped);
            }
            BusMessage::Deleted => self.on_deleted(),
        }
    }

    /// The room is gone from the store (its owner deleted it, or it expired), here or in another
    /// process: its participants are told and closed, and what it had not stored is dropped (the
    /// store would refuse it). It stops taking commands at once, so the next request for it finds
    /// no room.
    fn on_deleted(&mut self) {
        tracing::info!(room = %self.room.id(), "room deleted: closing its connections");
        self.fanout.remove_all_deleted();
        self.participants.clear();
        self.remote.clear();
        self.unsaved.clear();
        self.awaiting_history.clear();
        self.pending_duplicate_acks.clear();
        self.forwarded.clear();
        self.forwarded_ahead.clear();
        self.deleted = true;
        self.stopped();
    }

    /// A participant of another process is (still) there.
    fn remote_present(&mut self, process: ProcessId, participant: Participant) {
        let seen = Instant::now();
        if let Some(known) = self.remote.iter_mut().find(|r| r.participant.user_id == participant.user_id) {
            known.seen = seen;
            known.process = process;
            return;
        }
        self.remote.push(RemoteParticipant { participant, process, seen });
        let active_users = self.active_users();
        if let Some(newcomer) = self.remote.last().map(|r| r.participant.clone()) {
            self.publish(&RoomEvent::UserJoined { user: &newcomer, active_users }, Audience::Everyone);
        }
    }

    /// Tells the other processes who is here and how far this room is stored, and forgets their
    /// participants that were not announced for [`PRESENCE_TTL`].
    fn refresh_presence(&mut self) {
        self.announce_presence();
        self.announce_head(self.room.durable_revision());
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.remote).into_iter().partition(|r| r.seen.elapsed() >= PRESENCE_TTL);
        self.remote = kept;
        for gone in expired {
            tracing::debug!(room = %self.room.id(), process = ?gone.process, "a remote participant expired");
            let event = RoomEvent::UserLeft { user_id: gone.participant.user_id, active_users: self.active_users() };
            self.publish(&event, Audience::Everyone);
        }
    }

    /// Tells the other processes that this room's log reached `head` in the store. A bus may
    /// leave out the rooms no other process has spoken of lately (a process that loads a room says
    /// so at once, and is answered with the head), so these notices are sent after each commit,
    /// when another process loads the room or someone joins it there, and with the presence
    /// announcements, which also repairs a notice lost on the way.
    fn announce_head(&self, head: u64) {
        self.bus.publish(self.room.id(), BusMessage::Committed { head });
    }

    /// Who is here, even nobody: the message also tells the other processes that this one has
    /// the room loaded.
    fn announce_presence(&self) {
        self.bus.publish(self.room.id(), BusMessage::Present(self.participants.clone()));
    }

    /// The display name of a participant connected here (empty for one that just left: its
    /// connection's last messages may still be queued).
    fn name_of(&self, user: UserId) -> Arc<str> {
        self.participants.iter().find(|p| p.user_id == user).map_or_else(|| Arc::from(""), |p| p.name.clone())
    }

    /// Everyone in the room: here, then on other processes.
    fn everyone(&self) -> impl Iterator<Item = &Participant> {
        self.participants.iter().chain(self.remote.iter().map(|r| &r.participant))
    }

    fn active_users(&self) -> usize {
        self.participants.len() + self.remote.len()
    }

    async fn change_language(&mut self, user: UserId, language: Language) {
        let at = now();
        if let Err(error) = self.repo.set_language(self.room.id(), &language, at).await {
            let message = format!("the language could not be stored: {error}");
            self.publish(
                &RoomEvent::Error { code: ErrorCode::StoreUnavailable.as_str(), message: &message },
                Audience::Only(user),
            );
            return;
        }
        self.room.set_language(language.clone(), at);
        let event = RoomEvent::Language { language: self.room.language(), user_id: user };
        let dropped = self.fanout.publish(&event, Audience::Except(&[user]));
        self.announce_departures(dropped);
        self.bus.publish(self.room.id(), BusMessage::Language { user, language });
    }

    /// Hands what this turn published to the connections (see [`Broadcaster::flush`]): acks and
    /// replies at once, broadcasts at once too unless the room is busy, then spaced by its size
    /// (see [`BROADCAST_SPACING_PER_PARTICIPANT`]).
    fn flush(&mut self) {
        let now = tokio::time::Instant::now();
        let participants = u32::try_from(self.fanout.len()).unwrap_or(u32::MAX);
        let spacing = (BROADCAST_SPACING_PER_PARTICIPANT * participants).min(MAX_BROADCAST_SPACING);
        let scope = if self.fanout.has_gathered() && (now >= self.next_broadcast || !self.pace.is_busy(spacing)) {
            self.next_broadcast = now + spacing;
            Flush::Everything
        } else {
            Flush::Direct
        };
        self.flush_scope(scope);
    }

    /// Hands over what `scope` names, and announces whoever that dropped.
    fn flush_scope(&mut self, scope: Flush) {
        loop {
            let dropped = self.fanout.flush(scope);
            if dropped.is_empty() {
                return;
            }
            self.announce_departures(dropped);
        }
    }

    fn publish(&mut self, event: &RoomEvent<'_>, audience: Audience<'_>) {
        let dropped = self.fanout.publish(event, audience);
        self.announce_departures(dropped);
    }

    /// Forgets participants that left or were dropped, and tells the others.
    fn announce_departures(&mut self, mut departed: Vec<UserId>) {
        while let Some(user) = departed.pop() {
            let before = self.participants.len();
            self.participants.retain(|p| p.user_id != user);
            if self.participants.len() == before {
                continue;
            }
            self.bus.publish(self.room.id(), BusMessage::Left(user));
            let event = RoomEvent::UserLeft { user_id: user, active_users: self.active_users() };
            departed.extend(self.fanout.publish(&event, Audience::Everyone));
        }
    }

    fn view(&self) -> RoomView {
        RoomView {
            id: self.room.id(),
            code: self.room.text(),
            revision: self.room.revision(),
            language: self.room.language().clone(),
            active_users: self.active_users(),
            created_at: self.room.created_at(),
            updated_at: self.room.updated_at(),
        }
    }

    fn close_everyone(&mut self) {
        for participant in std::mem::take(&mut self.participants) {
            self.fanout.remove(participant.user_id);
            self.bus.publish(self.room.id(), BusMessage::Left(participant.user_id));
        }
    }

    /// Nobody is here and everything is stored: free the memory. Commands that raced with the
    /// unload are answered so their senders retry with a freshly loaded room.
    async fn unload(mut self, mut commands: mpsc::Receiver<Command<B::Connection>>) {
        self.stopped();
        commands.close();
        while let Some(command) = commands.recv().await {
            self.refuse(command);
        }
    }

    /// The store refused the room's operations (`refused`, none of them acknowledged): what is in
    /// memory can no longer be made durable. Everyone is disconnected (clients reconnect and
    /// re-send what was not acknowledged) and the room is reloaded from the store on the next
    /// join. When the store refused them for good, their authors are told not to re-send them.
    async fn fail(
        mut self,
        error: &RepoError,
        refused: &[CommittedOp],
        commands: mpsc::Receiver<Command<B::Connection>>,
    ) {
        tracing::error!(room = %self.room.id(), %error, "room stopped: its operations could not be stored");
        let mut authors: Vec<UserId> = Vec::new();
        if let RepoError::Rejected(_) = error {
            for op in refused {
                if !authors.contains(&op.author) {
                    authors.push(op.author);
                }
            }
            let message = format!("the store refused your recent edits for good; they are not saved ({error})");
            for &author in &authors {
                self.publish(
                    &RoomEvent::Error { code: ErrorCode::StoreRejected.as_str(), message: &message },
                    Audience::Only(author),
                );
            }
        }
        let message = "the server could not store recent edits; reconnecting resends them";
        self.publish(
            &RoomEvent::Error { code: ErrorCode::StoreUnavailable.as_str(), message },
            Audience::Except(&authors),
        );
        self.close_everyone();
        if let Some(reply) = self.draining.take() {
            let _ = reply.send(());
        }
        self.unload(commands).await;
    }

    fn refuse(&self, command: Command<B::Connection>) {
        match command {
            Command::Join { connection, reply, .. } => {
                let _ = reply.send(JoinOutcome::Stopping(connection));
            }
            Command::Drain { reply } | Command::Deleted { reply } => {
                let _ = reply.send(());
            }
            Command::Inspect { reply } => {
                let _ = reply.send(self.view());
            }
            _ => {}
        }
    }
}

/// A room's stored operations after `after`, read in pages (the first together with other rooms'
/// reads, by the committer); more than [`MAX_CATCH_UP_OPS`] is refused (the room reloads instead).
async fn read_after(
    committer: &Committer,
    repo: &dyn RoomRepo,
    room: RoomId,
    after: u64,
) -> Result<Vec<CommittedOp>, RepoError> {
    const PAGE: usize = 1_000;
    let mut ops: Vec<CommittedOp> = Vec::new();
    loop {
        let page = match ops.last() {
            None => committer.read_after(room, after, PAGE).await?,
            Some(last) => repo.ops_since(room, last.revision, PAGE).await?,
        };
        let done = page.len() < PAGE;
        ops.extend(page);
        if done {
            return Ok(ops);
        }
        if ops.len() >= MAX_CATCH_UP_OPS {
            return Err(RepoError::Unavailable("the room is too far behind the store; reload it".into()));
        }
    }
}

/// Whether an edit may be forwarded to another process: it has an `opId` (how its author's ack
/// is found among the leader's commits) and is small enough for the bus.
fn is_forwardable(edit: &Edit) -> bool {
    let inserted: usize = edit
        .operation
        .components()
        .iter()
        .map(|component| match component {
            pairpad_domain::Component::Insert(text) => text.chars().count(),
            _ => 0,
        })
        .sum();
    edit.op_id.is_some() && inserted <= MAX_FORWARDED_CHARS
}
