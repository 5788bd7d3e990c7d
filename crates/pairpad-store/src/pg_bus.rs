//! The PostgreSQL [`RoomBus`]: `LISTEN/NOTIFY` on a dedicated connection outside the pool.
//!
//! Two channels. [`COMMITS_CHANNEL`] carries the notices rooms publish once a commit is stored
//! (so only committed work is announced): `<room> <head revision> <process>`, never the text.
//! [`PRESENCE_CHANNEL`] carries the ephemeral messages rooms publish (presence, cursors, language,
//! forwarded edits) as compact JSON, each under PostgreSQL's 8000-byte payload limit. Neither is
//! trusted for completeness: a room reads what it missed from the store, and after the listening
//! connection drops and comes back every loaded room catches up ([`BusListener::resync`]).
//!
//! Commit notices are sent after the commit, from the bus's connection, not by the commit's own
//! transaction: PostgreSQL holds one lock of the whole cluster from the pre-commit of a transaction
//! that notified to the end of its commit, WAL flush included, so notifying commits of several
//! processes would flush one after the other. The bus's connection sends with `synchronous_commit`
//! off (notifications need no flush), so its lock is brief. What a process that dies between its
//! commit and the notice committed, the others read when they stop hearing it (they catch up).
//!
//! A lone process pays nothing for commit notices, nor a room only one process has loaded: commits
//! are announced only for the rooms another process spoke of within [`PEER_TTL`] ([`Peers`]). A
//! process that loads a room says so at once (and is answered with the head), and speaks of it
//! with its presence every few seconds while it has the room loaded, even with nobody there. Each
//! process also says `hello` (listing the processes it has heard) when it connects and every
//! [`HEARTBEAT`]; a process catches its rooms up once each other process's hello lists it, and
//! what that process committed before is in the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use pairpad_domain::{
    BusListener, BusMessage, BusNote, Language, Participant, ProcessId, RoomBus, RoomId, Selection, UserId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Where the store announces commits.
pub const COMMITS_CHANNEL: &str = "pairpad_commits";
/// Where rooms publish presence, cursors and language.
pub const PRESENCE_CHANNEL: &str = "pairpad_presence";

/// PostgreSQL refuses payloads of 8000 bytes or more; a `Present` list is split to stay below.
const MAX_PAYLOAD: usize = 7_900;

/// An envelope's bytes besides its message's list: two UUIDs, keys and punctuation.
const ENVELOPE_BYTES: usize = 128;

/// Messages waiting to be sent; beyond this, new ones are dropped (presence repairs itself).
const OUTBOX: usize = 4_096;

/// How often a process says hello, which also checks the listening connection (a query on it):
/// a connection that died silently is replaced within about this long, and the rooms then catch
/// up.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// A process not heard for this long has gone (or lost its connection, and says hello again).
pub const PEER_TTL: Duration = Duration::from_secs(6);

/// Whether any other process listens on this database: the store announces commits only then.
/// Shared by a `PostgresRepo` and its bus.
pub struct Peers {
    started: Instant,
    /// When another process was last heard, in milliseconds after `started` (0: never).
    last_heard_ms: AtomicU64,
    /// The rooms other processes spoke of (any message about them), and when last.
    shared_rooms: Mutex<HashMap<RoomId, Instant>>,
}

impl Default for Peers {
    fn default() -> Self {
        Self { started: Instant::now(), last_heard_ms: AtomicU64::new(0), shared_rooms: Mutex::default() }
    }
}

impl Peers {
    /// Whether another process said hello within [`PEER_TTL`].
    pub fn any(&self) -> bool {
        let last = AtomicU64::load(&self.last_heard_ms, Ordering::Relaxed);
        last > 0 && self.elapsed_ms().saturating_sub(last) < PEER_TTL.as_millis() as u64
    }

    fn heard(&self) {
        self.last_heard_ms.store(self.elapsed_ms().max(1), Ordering::Relaxed);
    }

    /// Whether another process spoke of any of `rooms` within [`PEER_TTL`]: it may have them
    /// loaded, and write to them. (A process that loads a room says so at once.)
    pub fn share_any(&self, rooms: impl IntoIterator<Item = RoomId>) -> bool {
        let shared = self.shared_rooms();
        rooms.into_iter().any(|room| shared.get(&room).is_some_and(|when| when.elapsed() < PEER_TTL))
    }

    fn spoke_of(&self, room: RoomId) {
        let mut shared = self.shared_rooms();
        if shared.insert(room, Instant::now()).is_none() && shared.len().is_power_of_two() {
            // Now and then, as the map grows: forget the rooms nobody spoke of for a while.
            shared.retain(|_, when| when.elapsed() < PEER_TTL);
        }
    }

    fn shared_rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Instant>> {
        // Plain data: still whole after a panic.
        self.shared_rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The PostgreSQL bus of one process. Sends and listens on a connection of its own, reconnecting
/// with back-off when it fails.
pub struct PgBus {
    process: ProcessId,
    outbox: mpsc::Sender<Outgoing>,
    peers: Arc<Peers>,
    /// What the listening task needs, taken by the first `subscribe`.
    start: Mutex<Option<(String, mpsc::Receiver<Outgoing>)>>,
}

/// A notification waiting to be sent: its channel and payload.
type Outgoing = (&'static str, String);

impl PgBus {
    /// A bus for `process` on the database at `url`, recording in `peers` whether other processes
    /// listen; it connects once subscribed to.
    pub fn new(url: &str, process: ProcessId, peers: Arc<Peers>) -> Self {
        let (outbox, queued) = mpsc::channel(OUTBOX);
        Self { process, outbox, peers, start: Mutex::new(Some((url.to_owned(), queued))) }
    }
}

impl RoomBus for PgBus {
    fn process(&self) -> ProcessId {
        self.process
    }

    fn publish(&self, room: RoomId, message: BusMessage) {
        if let BusMessage::Committed { head } = message {
            // Only where another process may have the room loaded: a process that loads a room
            // says so at once, and speaks of it with its presence while it has it.
            if self.peers.share_any([room]) {
                let notice = format!("{} {head} {}", room.as_uuid(), self.process.as_uuid());
                if self.outbox.try_send((COMMITS_CHANNEL, notice)).is_err() {
                    metrics::counter!("pairpad_bus_messages_dropped_total").increment(1);
                }
            }
            return;
        }
        for payload in encode(room, self.process, message) {
            if self.outbox.try_send((PRESENCE_CHANNEL, payload)).is_err() {
                metrics::counter!("pairpad_bus_messages_dropped_total").increment(1);
            }
        }
    }

    fn subscribe(&self, listener: Arc<dyn BusListener>) {
        let start = self.start.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some((url, queued)) = start {
            let bus = Listening { process: self.process, peers: self.peers.clone(), listener, heard: HashMap::new() };
            tokio::spawn(listen(url, queued, bus));
        }
    }
}

/// The listening task's state.
struct Listening {
    process: ProcessId,
    peers: Arc<Peers>,
    listener: Arc<dyn BusListener>,
    /// The other processes heard from, when last, and whether their hello listed this one.
    heard: HashMap<ProcessId, (Instant, bool)>,
}

impl Listening {
    /// `hello <sender> <processes it has heard>...`: well under the payload limit for any
    /// sensible number of processes.
    fn hello(&self) -> String {
        let mut hello = format!("hello {}", self.process.as_uuid());
        for process in self.heard.keys() {
            hello.push(' ');
            hello.push_str(&process.as_uuid().to_string());
        }
        hello
    }

    /// Another process said hello. Answers at once when it is new (so that it learns of this one
    /// without waiting a heartbeat), and catches every room up when its hello lists this process
    /// for the first time: it announces its commits from then on.
    fn on_hello(&mut self, payload: &str) -> Option<String> {
        let mut fields = payload.split(' ').skip(1);
        let sender = ProcessId::from(uuid::Uuid::try_parse(fields.next()?).ok()?);
        if sender == self.process {
            return None;
        }
        self.peers.heard();
        let knows_me = fields.any(|field| uuid::Uuid::try_parse(field).ok() == Some(self.process.as_uuid()));
        let previous = self.heard.insert(sender, (Instant::now(), knows_me));
        let was_known = previous.is_some_and(|(when, _)| when.elapsed() < PEER_TTL);
        let knew_me = was_known && previous.is_some_and(|(_, knew)| knew);
        if knows_me && !knew_me {
            self.listener.resync();
        }
        (!was_known).then(|| self.hello())
    }

    /// Forgets the processes not heard for [`PEER_TTL`], and catches every room up if there were
    /// any: one that died between a commit and its notice left that commit unannounced.
    fn forget_silent_peers(&mut self) {
        let before = self.heard.len();
        self.heard.retain(|_, (when, _)| when.elapsed() < PEER_TTL);
        if self.heard.len() < before {
            self.listener.resync();
        }
    }
}

/// Keeps a listening connection up as long as its `PgBus` lives (for a server, the process).
async fn listen(url: String, mut queued: mpsc::Receiver<Outgoing>, mut bus: Listening) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&url).await {
            Ok(mut conn) => {
                backoff = Duration::from_millis(100);
                // Whatever was announced while nobody listened is in the store.
                bus.listener.resync();
                let error = serve(&mut conn, &mut queued, &mut bus).await;
                if queued.is_closed() {
                    // The bus was dropped: its connection closes with this task.
                    return;
                }
                tracing::warn!(%error, "the bus's PostgreSQL connection failed; reconnecting");
            }
            Err(error) => tracing::warn!(%error, "cannot connect the bus to PostgreSQL; retrying"),
        }
        metrics::counter!("pairpad_bus_reconnects_total").increment(1);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// The bus connection's `application_name`, which names it in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "pairpad-bus";

async fn connect(url: &str) -> Result<AsyncPgConnection, String> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}application_name={APPLICATION_NAME}");
    let mut conn = AsyncPgConnection::establish(&url).await.map_err(|e| e.to_string())?;
    // Its transactions only notify: a crash may lose a notification, which nobody relies on, and
    // not waiting for a WAL flush keeps the cluster-wide notify lock brief.
    conn.batch_execute(&format!("SET synchronous_commit TO off; LISTEN {COMMITS_CHANNEL}; LISTEN {PRESENCE_CHANNEL};"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

async fn notify(conn: &mut AsyncPgConnection, payload: String) -> diesel::QueryResult<()> {
    notify_all(conn, vec![(PRESENCE_CHANNEL, payload)]).await
}

/// Sends the notifications, in order, in one statement: one round trip however many wait.
async fn notify_all(conn: &mut AsyncPgConnection, outgoing: Vec<Outgoing>) -> diesel::QueryResult<()> {
    let (channels, payloads): (Vec<&str>, Vec<String>) = outgoing.into_iter().unzip();
    diesel::sql_query(
        "SELECT pg_notify(channel, payload) FROM unnest($1, $2) WITH ORDINALITY AS p (channel, payload, n) ORDER BY n",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(channels)
    .bind::<diesel::sql_types::Array<Text>, _>(payloads)
    .execute(conn)
    .await
    .map(drop)
}

/// The most queued messages one statement sends.
const SENT_AT_ONCE: usize = 256;

/// Delivers notifications, sends queued messages and says hello until the connection fails.
async fn serve(conn: &mut AsyncPgConnection, queued: &mut mpsc::Receiver<Outgoing>, bus: &mut Listening) -> String {
    enum Next {
        Notification(Option<diesel::QueryResult<diesel::pg::PgNotification>>),
        Send(Option<Outgoing>),
        Hello,
    }
    // The first tick is at once: a process says hello as soon as it listens.
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        // The stream borrows the connection; between notifications the connection also sends.
        let next = {
            let mut notifications = std::pin::pin!(conn.notifications_stream());
            tokio::select! {
                notification = notifications.next() => Next::Notification(notification),
                payload = queued.recv() => Next::Send(payload),
                _ = heartbeat.tick() => Next::Hello,
            }
        };
        let sent = match next {
            Next::Notification(Some(Ok(notification))) => {
                if notification.payload.starts_with("hello ") {
                    match bus.on_hello(&notification.payload) {
                        Some(answer) => notify(conn, answer).await,
                        None => Ok(()),
                    }
                } else {
                    if let Some(note) = decode(&notification.channel, &notification.payload)
                        && note.origin != bus.process
                    {
                        bus.peers.spoke_of(note.room);
                        bus.listener.deliver(note);
                    }
                    Ok(())
                }
            }
            Next::Notification(Some(Err(error))) => return error.to_string(),
            Next::Notification(None) => return "the notification stream ended".into(),
            Next::Send(None) => return "the bus was dropped".into(),
            Next::Send(Some(payload)) => {
                // What else is queued goes with it (forwarded edits come in bursts).
                let mut payloads = vec![payload];
                while payloads.len() < SENT_AT_ONCE
                    && let Ok(payload) = queued.try_recv()
                {
                    payloads.push(payload);
                }
                notify_all(conn, payloads).await
            }
            Next::Hello => {
                bus.forget_silent_peers();
                notify(conn, bus.hello()).await
            }
        };
        if let Err(error) = sent {
            return error.to_string();
        }
    }
}

/// A presence message as it travels: short keys, as every byte counts against the payload limit.
#[derive(Serialize, Deserialize)]
struct Envelope {
    r: Id,
    o: Id,
    m: Wire,
}

/// A UUID as text (the domain's UUIDs carry no serde, and the domain must not).
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
struct Id(String);

impl Id {
    fn of(id: uuid::Uuid) -> Self {
        Self(id.hyphenated().to_string())
    }

    fn uuid(&self) -> Option<uuid::Uuid> {
        uuid::Uuid::try_parse(&self.0).ok()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    Joined {
        p: WireParticipant,
    },
    Left {
        u: Id,
    },
    Present {
        p: Vec<WireParticipant>,
    },
    PresenceWanted,
    Cursor {
        u: Id,
        v: u64,
        a: usize,
        h: usize,
    },
    Language {
        u: Id,
        l: String,
    },
    Deleted,
    /// `o`: the operation in the ot.js JSON form, as the store keeps it.
    Edit {
        to: Id,
        b: u64,
        o: String,
        i: Option<String>,
        u: Id,
        n: String,
    },
}

#[derive(Serialize, Deserialize)]
struct WireParticipant {
    u: Id,
    n: String,
    c: String,
}

impl From<&Participant> for WireParticipant {
    fn from(p: &Participant) -> Self {
        Self { u: Id::of(p.user_id.as_uuid()), n: p.name.to_string(), c: p.color.clone() }
    }
}

impl WireParticipant {
    fn into_domain(self) -> Option<Participant> {
        Some(Participant { user_id: UserId::from(self.u.uuid()?), name: self.n.into(), color: self.c })
    }
}

/// The payloads of one message for [`PRESENCE_CHANNEL`]: one, or for a long `Present` list as many
/// as it takes. (A `Committed` notice has a channel and a format of its own.)
fn encode(room: RoomId, process: ProcessId, message: BusMessage) -> Vec<String> {
    let envelope =
        |m: Wire| serde_json::to_string(&Envelope { r: Id::of(room.as_uuid()), o: Id::of(process.as_uuid()), m });
    let wire = match message {
        BusMessage::Committed { .. } => return Vec::new(),
        BusMessage::Present(participants) => {
            let mut payloads = Vec::new();
            let (mut part, mut size) = (Vec::new(), ENVELOPE_BYTES);
            for participant in &participants {
                let participant = WireParticipant::from(participant);
                let bytes = serde_json::to_string(&participant).map_or(MAX_PAYLOAD, |json| json.len() + 1);
                if !part.is_empty() && size + bytes > MAX_PAYLOAD {
                    payloads.extend(envelope(Wire::Present { p: std::mem::take(&mut part) }));
                    size = ENVELOPE_BYTES;
                }
                part.push(participant);
                size += bytes;
            }
            // An empty list too: it says that the sender has the room loaded.
            if !part.is_empty() || payloads.is_empty() {
                payloads.extend(envelope(Wire::Present { p: part }));
            }
            return payloads;
        }
        BusMessage::Joined(participant) => Wire::Joined { p: (&participant).into() },
        BusMessage::Left(user) => Wire::Left { u: Id::of(user.as_uuid()) },
        BusMessage::PresenceWanted => Wire::PresenceWanted,
        BusMessage::Cursor { user, revision, selection } => {
            Wire::Cursor { u: Id::of(user.as_uuid()), v: revision, a: selection.anchor, h: selection.head }
        }
        BusMessage::Language { user, language } => {
            Wire::Language { u: Id::of(user.as_uuid()), l: language.as_str().to_owned() }
        }
        BusMessage::Deleted => Wire::Deleted,
        BusMessage::Edit { to, edit } => Wire::Edit {
            to: Id::of(to.as_uuid()),
            b: edit.base_revision,
            o: crate::codec::encode(&edit.operation),
            i: edit.op_id,
            u: Id::of(edit.author.as_uuid()),
            n: edit.author_name.to_string(),
        },
    };
    envelope(wire).into_iter().filter(|payload| payload.len() <= MAX_PAYLOAD).collect()
}

/// Reads a notification; what it cannot read (another version's, a stranger's) is ignored.
fn decode(channel: &str, payload: &str) -> Option<BusNote> {
    if channel == COMMITS_CHANNEL {
        let mut fields = payload.split(' ');
        let room = RoomId::parse(fields.next()?).ok()?;
        let head = fields.next()?.parse().ok()?;
        let origin = ProcessId::from(uuid::Uuid::try_parse(fields.next()?).ok()?);
        return Some(BusNote { room, origin, message: BusMessage::Committed { head } });
    }
    let Envelope { r, o, m } = serde_json::from_str(payload).ok()?;
    let message = match m {
        Wire::Joined { p } => BusMessage::Joined(p.into_domain()?),
        Wire::Left { u } => BusMessage::Left(UserId::from(u.uuid()?)),
        Wire::Present { p } => {
            BusMessage::Present(p.into_iter().map(WireParticipant::into_domain).collect::<Option<_>>()?)
        }
        Wire::PresenceWanted => BusMessage::PresenceWanted,
        Wire::Cursor { u, v, a, h } => BusMessage::Cursor {
            user: UserId::from(u.uuid()?),
            revision: v,
            selection: Selection { anchor: a, head: h },
        },
        Wire::Language { u, l } => {
            BusMessage::Language { user: UserId::from(u.uuid()?), language: Language::new(&l).ok()? }
        }
        Wire::Deleted => BusMessage::Deleted,
        Wire::Edit { to, b, o, i, u, n } => BusMessage::Edit {
            to: ProcessId::from(to.uuid()?),
            edit: pairpad_domain::Edit {
                base_revision: b,
                operation: crate::codec::decode(&o).ok()?,
                op_id: i,
                author: UserId::from(u.uuid()?),
                author_name: n.into(),
            },
        },
    };
    Some(BusNote { room: RoomId::from(r.uuid()?), origin: ProcessId::from(o.uuid()?), message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_shared_once_another_process_speaks_of_it() {
        let peers = Peers::default();
        let (spoken_of, quiet) = (RoomId::random(), RoomId::random());
        assert!(!peers.share_any([spoken_of, quiet]));
        peers.spoke_of(spoken_of);
        assert!(peers.share_any([quiet, spoken_of]));
        assert!(!peers.share_any([quiet]));
    }
}
