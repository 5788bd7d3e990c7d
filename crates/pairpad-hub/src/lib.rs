//! Pairpad's real-time hub: the actix-ws adapter of the room pipeline (`pairpad-room`, whose room
//! owners sequence edits: persist, then ack, then broadcast; and whose group committer stores them).
//!
//! Layout:
//! - [`fanout`]: the [`pairpad_domain::Broadcaster`] over bounded per-connection queues.
//! - [`frame_limit`]: the message size limit, enforced on the raw bytes before any buffering.
//! - [`session`]: one WebSocket connection: reads frames, writes its queue, heartbeats.
//! - [`wire`]: the protocol's JSON messages; [`edge`]: checks of client-given fields.
//!
//! [`Hub`] is the entry point: it loads rooms on demand, unloads idle ones and drains them all
//! at shutdown.

pub mod edge;
pub mod fanout;
pub mod frame_limit;
pub mod session;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pairpad_domain::{
    Access, BusListener, BusMessage, BusNote, Participant, RepoError, Room, RoomBus, RoomId, RoomRepo, Timestamp,
};
use pairpad_room::committer::{CommitSettings, Committer};
use pairpad_room::room::{self, Command, JoinOutcome, Resumption, RoomOwner, RoomSettings, RoomView};
use tokio::sync::{OnceCell, mpsc, oneshot};

use crate::fanout::{OutboundSender, WsFanout};
use crate::session::SessionSettings;

/// The hub's settings, grouped by the part they tune. They come from the server's configuration
/// (`config/default.toml` holds every default): nothing here has a default of its own, so no
/// second set of defaults can drift from the documented one.
#[derive(Clone, Debug)]
pub struct HubSettings {
    /// Each room owner's limits and timings.
    pub room: RoomSettings,
    /// Each WebSocket connection's limits and timings.
    pub session: SessionSettings,
    /// The group committer's.
    pub commit: CommitSettings,
}

impl HubSettings {
    /// What an operation from a client may hold: no retain or delete can be longer than the
    /// longest document.
    pub fn operation_limits(&self) -> pairpad_protocol::OperationLimits {
        pairpad_protocol::OperationLimits {
            max_components: self.session.max_operation_components,
            max_count: self.room.max_document_chars,
        }
    }
}

/// Why the hub could not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// No such room.
    #[error("room {0} does not exist")]
    NotFound(RoomId),
    /// The room has as many participants as allowed.
    #[error("room {0} is full")]
    RoomFull(RoomId),
    /// The server has as many connections as allowed.
    #[error("the server has too many connections")]
    TooManyConnections,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The room stopped while the request was with it (its store failed, or it unloaded) and
    /// did not come back on retrying; a later request loads it afresh.
    #[error("room {0} stopped; try again")]
    RoomStopping(RoomId),
    /// The store failed.
    #[error(transparent)]
    Store(RepoError),
}

type Handle = room::RoomHandle<OutboundSender>;

/// The rooms loaded in this process. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    repo: Arc<dyn RoomRepo>,
    committer: Committer,
    bus: Arc<dyn RoomBus>,
    settings: HubSettings,
    rooms: Mutex<HashMap<RoomId, Arc<OnceCell<Handle>>>>,
    next_generation: AtomicU64,
    connections: AtomicUsize,
    shutting_down: AtomicBool,
}

impl Hub {
    /// A hub over `repo`, hearing of the rooms' changes in other processes on `bus`. Starts the
    /// group committer as a task on the current tokio runtime (under actix-web, the main thread's,
    /// which serves no connection), so it must be called inside one.
    pub fn new(repo: Arc<dyn RoomRepo>, bus: Arc<dyn RoomBus>, settings: HubSettings) -> Self {
        let committer = Committer::spawn(repo.clone(), &settings.commit);
        let inner = HubInner {
            repo,
            committer,
            bus: bus.clone(),
            settings,
            rooms: Mutex::default(),
            next_generation: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
        };
        let inner = Arc::new(inner);
        bus.subscribe(Arc::new(BusRouter { hub: Arc::downgrade(&inner) }));
        Self { inner }
    }

    /// The hub's settings.
    pub fn settings(&self) -> &HubSettings {
        &self.inner.settings
    }

    /// The store behind the hub.
    pub fn repo(&self) -> &Arc<dyn RoomRepo> {
        &self.inner.repo
    }

    /// How many rooms are in memory.
    pub fn loaded_rooms(&self) -> usize {
        self.inner.rooms().len()
    }

    /// How many WebSocket connections are open.
    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// How long edits have been waiting for the store without any commit succeeding; `None`
    /// while none waits. A long wait means the committer is stalled.
    pub fn commit_waiting_for(&self) -> Option<Duration> {
        self.inner.committer.waiting_for()
    }

    /// Whether [`Hub::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Relaxed)
    }

    /// Adds a participant to a room, loading the room if needed. On success the participant's
    /// `init` is the first frame in its queue, or, when it resumes from `since`, the
    /// [`Resumption`] its session sends before the queue.
    pub async fn join(
        &self,
        id: RoomId,
        participant: Participant,
        access: Access,
        since: Option<u64>,
        mut connection: OutboundSender,
    ) -> Result<(Handle, Option<Resumption>), HubError> {
        // A room that is unloading hands the connection back; the retry loads it afresh.
        for _ in 0..3 {
            if self.is_shutting_down() {
                return Err(HubError::ShuttingDown);
            }
            let handle = self.room(id).await?;
            // A reserved slot makes the send infallible, so the connection is never lost in it.
            if let Ok(slot) = handle.commands.clone().reserve_owned().await {
                let (reply, outcome) = oneshot::channel();
                slot.send(Command::Join { participant: participant.clone(), access, connection, since, reply });
                let resumption = match outcome.await {
                    Ok(JoinOutcome::Joined) => None,
                    Ok(JoinOutcome::Resumed(resumption)) => Some(resumption),
                    Ok(JoinOutcome::Full(_)) => return Err(HubError::RoomFull(id)),
                    Ok(JoinOutcome::Stopping(back)) => {
                        connection = back;
                        self.inner.forget(id, handle.generation);
                        continue;
                    }
                    Err(_) => return Err(HubError::RoomStopping(id)),
                };
                self.touch(id);
                return Ok((handle, resumption));
            }
            self.inner.forget(id, handle.generation);
        }
        Err(HubError::RoomStopping(id))
    }

    /// Records the join in the store, off the joiner's path: expiry counts from the last edit or
    /// join, and a lost touch only makes the room look idle since its previous one.
    fn touch(&self, id: RoomId) {
        let repo = self.inner.repo.clone();
        tokio::spawn(async move {
            if let Err(error) = repo.touch(id, pairpad_room::now()).await {
                tracing::warn!(room = %id, %error, "cannot record a join");
            }
        });
    }

    /// Deletes a room from the store and closes its connections, here (`room_deleted`, 4410)
    /// and, through the bus, in other processes. `NotFound` when there is no such room. When it
    /// returns, the room is gone: a later request for it finds nothing.
    pub async fn delete(&self, id: RoomId) -> Result<(), HubError> {
        if !self.inner.repo.delete(id, None).await.map_err(HubError::Store)? {
            return Err(HubError::NotFound(id));
        }
        self.deleted(id, "owner").await;
        Ok(())
    }

    /// Deletes at most `limit` rooms nobody edited or joined since `idle_before` (`rooms.
    /// expire_after_days`), closing their connections like [`Hub::delete`]; answers how many.
    /// Rooms loaded here are in use: they are marked active at `now` first, so no process's
    /// sweep deletes them (each process sweeps, so a room loaded anywhere is kept).
    pub async fn expire_idle_rooms(
        &self,
        idle_before: Timestamp,
        now: Timestamp,
        limit: usize,
    ) -> Result<usize, HubError> {
        let loaded: Vec<RoomId> = self.inner.rooms().keys().copied().collect();
        for &id in &loaded {
            self.inner.repo.touch(id, now).await.map_err(HubError::Store)?;
        }
        let mut expired = 0;
        for id in self.inner.repo.idle_rooms(idle_before, limit).await.map_err(HubError::Store)? {
            // Loaded since the list was read: in use.
            if self.inner.rooms().contains_key(&id) {
                continue;
            }
            if self.inner.repo.delete(id, Some(idle_before)).await.map_err(HubError::Store)? {
                self.deleted(id, "expired").await;
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// After the store deleted a room: closes it here and tells the other processes.
    async fn deleted(&self, id: RoomId, reason: &'static str) {
        tracing::info!(room = %id, reason, "room deleted");
        metrics::counter!("pairpad_rooms_deleted_total", "reason" => reason).increment(1);
        self.inner.bus.publish(id, BusMessage::Deleted);
        let handle = self.inner.rooms().get(&id).and_then(|cell| cell.get().cloned());
        if let Some(handle) = handle {
            let (reply, done) = oneshot::channel();
            if handle.send(Command::Deleted { reply }).await.is_ok() {
                let _ = done.await;
            }
        }
    }

    /// A room's current state, loading it if needed.
    pub async fn inspect(&self, id: RoomId) -> Result<RoomView, HubError> {
        for _ in 0..3 {
            let handle = self.room(id).await?;
            let (reply, view) = oneshot::channel();
            if handle.send(Command::Inspect { reply }).await.is_ok()
                && let Ok(view) = view.await
            {
                return Ok(view);
            }
            self.inner.forget(id, handle.generation);
        }
        Err(HubError::Store(RepoError::Unavailable(format!("room {id} keeps stopping"))))
    }

    /// Stops accepting participants, has every room commit what it sequenced, and closes every
    /// connection (with 1001, "going away"). Returns when all rooms have stopped.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
        let cells: Vec<_> = self.inner.rooms().values().cloned().collect();
        let mut drained = Vec::new();
        for cell in cells {
            if let Some(handle) = cell.get() {
                let (reply, done) = oneshot::channel();
                if handle.send(Command::Drain { reply }).await.is_ok() {
                    drained.push(done);
                }
            }
        }
        for done in drained {
            let _ = done.await;
        }
    }

    /// The owner of a loaded room, or a freshly loaded one. Concurrent callers share one load.
    async fn room(&self, id: RoomId) -> Result<Handle, HubError> {
        let cell = self.inner.rooms().entry(id).or_default().clone();
        let loaded = cell.get_or_try_init(|| self.load(id)).await.cloned();
        if loaded.is_err() {
            let mut rooms = self.inner.rooms();
            if rooms.get(&id).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
                rooms.remove(&id);
            }
        }
        loaded
    }

    async fn load(&self, id: RoomId) -> Result<Handle, HubError> {
        let stored = self.inner.repo.load(id).await.map_err(|e| match e {
            RepoError::NotFound(id) => HubError::NotFound(id),
            other => HubError::Store(other),
        })?;
        let settings = &self.inner.settings;
        let room = Room::restore(stored, settings.room.limits())
            .map_err(|e| HubError::Store(RepoError::Corrupt(e.to_string())))?;
        let generation = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let (commands, receiver) = mpsc::channel(settings.room.room_queue);
        let hub = self.inner.clone();
        let on_stop = Box::new(move || hub.forget(id, generation));
        let owner = RoomOwner::new(
            room,
            WsFanout::default(),
            self.inner.repo.clone(),
            self.inner.committer.clone(),
            self.inner.bus.clone(),
            settings.room.clone(),
            on_stop,
        );
        tokio::spawn(owner.run(receiver));
        metrics::gauge!("pairpad_rooms_loaded").increment(1.0);
        Ok(room::RoomHandle { commands, generation })
    }

    /// Counts a new connection, refusing it above the limit. The guard uncounts it when dropped.
    pub fn admit_connection(&self) -> Result<ConnectionGuard, HubError> {
        let limit = self.inner.settings.session.max_connections;
        self.inner
            .connections
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| (open < limit).then_some(open + 1))
            .map_err(|_| HubError::TooManyConnections)?;
        metrics::gauge!("pairpad_websocket_connections").increment(1.0);
        Ok(ConnectionGuard { inner: self.inner.clone() })
    }
}

/// One counted connection.
pub struct ConnectionGuard {
    inner: Arc<HubInner>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.inner.connections.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("pairpad_websocket_connections").decrement(1.0);
    }
}

/// Hands other processes' messages to the rooms loaded here; a room not loaded here has nobody
/// to tell. Holds the hub weakly: the bus outlives it.
struct BusRouter {
    hub: std::sync::Weak<HubInner>,
}

impl BusRouter {
    fn loaded(&self) -> Vec<(RoomId, Handle)> {
        let Some(hub) = self.hub.upgrade() else { return Vec::new() };
        hub.rooms().iter().filter_map(|(id, cell)| cell.get().map(|handle| (*id, handle.clone()))).collect()
    }
}

impl BusListener for BusRouter {
    fn deliver(&self, note: BusNote) {
        let Some(hub) = self.hub.upgrade() else { return };
        let handle = hub.rooms().get(&note.room).and_then(|cell| cell.get().cloned());
        let Some(handle) = handle else { return };
        let must_arrive = matches!(note.message, pairpad_domain::BusMessage::Committed { .. });
        match handle.commands.try_send(Command::Bus(note)) {
            Ok(()) => {}
            // A commit notice must reach the room (it is how the room learns of others' edits
            // while it has none of its own in flight): wait for room in its queue, off the bus's
            // task. Presence is repaired by the next announcement, so it is dropped.
            Err(mpsc::error::TrySendError::Full(command)) if must_arrive => {
                tokio::spawn(async move {
                    let _ = handle.send(command).await;
                });
            }
            Err(_) => metrics::counter!("pairpad_bus_messages_dropped_total").increment(1),
        }
    }

    fn resync(&self) {
        for (_, handle) in self.loaded() {
            tokio::spawn(async move {
                let _ = handle.send(Command::Resync).await;
            });
        }
    }
}

impl HubInner {
    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Arc<OnceCell<Handle>>>> {
        // The map is only ever changed by single inserts and removes: still whole after a panic.
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes a room from the map if it is still the owner of this `generation`.
    fn forget(&self, id: RoomId, generation: u64) {
        let mut rooms = self.rooms();
        let is_this_owner = rooms.get(&id).and_then(|cell| cell.get()).is_some_and(|h| h.generation == generation);
        if is_this_owner {
            rooms.remove(&id);
            metrics::gauge!("pairpad_rooms_loaded").decrement(1.0);
        }
    }
}
