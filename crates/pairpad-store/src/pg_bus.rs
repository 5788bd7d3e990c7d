//! The PostgreSQL [`RoomBus`]: `LISTEN/NOTIFY` on a dedicated connection outside the pool.
//!
//! Two channels. [`COMMITS_CHANNEL`] carries the notices `PostgresRepo::commit` sends inside each
//! commit's transaction (so only committed work is announced): `<room> <head revision> <process>`,
//! never the text. [`PRESENCE_CHANNEL`] carries the ephemeral messages rooms publish (presence,
//! cursors, language) as compact JSON, each under PostgreSQL's 8000-byte payload limit. Neither
//! is trusted for completeness: a room reads what it missed from the store, and after the
//! listening connection drops and comes back every loaded room catches up ([`BusListener::resync`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// How often the listening connection is checked (a query on it): a connection that died
/// silently is replaced within about this long, and the rooms then catch up.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// The PostgreSQL bus of one process. Sends and listens on a connection of its own, reconnecting
/// with back-off when it fails.
pub struct PgBus {
    process: ProcessId,
    outbox: mpsc::Sender<String>,
    /// What the listening task needs, taken by the first `subscribe`.
    start: Mutex<Option<(String, mpsc::Receiver<String>)>>,
}

impl PgBus {
    /// A bus for `process` on the database at `url`; it connects once subscribed to.
    pub fn new(url: &str, process: ProcessId) -> Self {
        let (outbox, queued) = mpsc::channel(OUTBOX);
        Self { process, outbox, start: Mutex::new(Some((url.to_owned(), queued))) }
    }
}

impl RoomBus for PgBus {
    fn process(&self) -> ProcessId {
        self.process
    }

    fn publish(&self, room: RoomId, message: BusMessage) {
        for payload in encode(room, self.process, message) {
            if self.outbox.try_send(payload).is_err() {
                metrics::counter!("pairpad_bus_messages_dropped_total").increment(1);
            }
        }
    }

    fn subscribe(&self, listener: Arc<dyn BusListener>) {
        let start = self.start.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some((url, queued)) = start {
            tokio::spawn(listen(url, self.process, queued, listener));
        }
    }
}

/// Keeps a listening connection up for the life of the process.
async fn listen(url: String, process: ProcessId, mut queued: mpsc::Receiver<String>, listener: Arc<dyn BusListener>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&url).await {
            Ok(mut conn) => {
                backoff = Duration::from_millis(100);
                // Whatever was announced while nobody listened is in the store.
                listener.resync();
                let error = serve(&mut conn, process, &mut queued, &*listener).await;
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
    conn.batch_execute(&format!("LISTEN {COMMITS_CHANNEL}; LISTEN {PRESENCE_CHANNEL};"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Delivers notifications and sends queued messages until the connection fails.
async fn serve(
    conn: &mut AsyncPgConnection,
    process: ProcessId,
    queued: &mut mpsc::Receiver<String>,
    listener: &dyn BusListener,
) -> String {
    enum Next {
        Notification(Option<diesel::QueryResult<diesel::pg::PgNotification>>),
        Send(Option<String>),
        Heartbeat,
    }
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        // The stream borrows the connection; between notifications the connection also sends.
        let next = {
            let mut notifications = std::pin::pin!(conn.notifications_stream());
            tokio::select! {
                notification = notifications.next() => Next::Notification(notification),
                payload = queued.recv() => Next::Send(payload),
                _ = heartbeat.tick() => Next::Heartbeat,
            }
        };
        let sent = match next {
            Next::Notification(Some(Ok(notification))) => {
                if let Some(note) = decode(&notification.channel, &notification.payload)
                    && note.origin != process
                {
                    listener.deliver(note);
                }
                Ok(())
            }
            Next::Notification(Some(Err(error))) => return error.to_string(),
            Next::Notification(None) => return "the notification stream ended".into(),
            Next::Send(None) => return "the bus was dropped".into(),
            Next::Send(Some(payload)) => diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(PRESENCE_CHANNEL)
                .bind::<Text, _>(payload)
                .execute(conn)
                .await
                .map(drop),
            Next::Heartbeat => conn.batch_execute("SELECT 1").await,
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
    Joined { p: WireParticipant },
    Left { u: Id },
    Present { p: Vec<WireParticipant> },
    PresenceWanted,
    Cursor { u: Id, v: u64, a: usize, h: usize },
    Language { u: Id, l: String },
}

#[derive(Serialize, Deserialize)]
struct WireParticipant {
    u: Id,
    n: String,
    c: String,
}

impl From<&Participant> for WireParticipant {
    fn from(p: &Participant) -> Self {
        Self { u: Id::of(p.user_id.as_uuid()), n: p.name.clone(), c: p.color.clone() }
    }
}

impl WireParticipant {
    fn into_domain(self) -> Option<Participant> {
        Some(Participant { user_id: UserId::from(self.u.uuid()?), name: self.n, color: self.c })
    }
}

/// The payloads of one message: one, or for a long `Present` list as many as it takes. A
/// `Committed` notice is the store's to send, inside its transaction: it is never published.
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
            if !part.is_empty() {
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
    };
    Some(BusNote { room: RoomId::from(r.uuid()?), origin: ProcessId::from(o.uuid()?), message })
}
