//! The ports: what the domain needs from the outside world, stated as contracts that every
//! adapter honours. Adapters translate their drivers' errors into these variants.

use async_trait::async_trait;

use crate::room::{Access, CommittedOp, Language, Participant, RoomId, Selection, Timestamp, UserId};

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    /// No room has this id.
    #[error("room {0} does not exist")]
    NotFound(RoomId),
    /// A room with this id already exists.
    #[error("room {0} already exists")]
    AlreadyExists(RoomId),
    /// Another writer appended to these rooms after the revisions the caller expected to be their
    /// latest (a commit names them in [`Committed::conflicts`]; a room's pipeline hears it as this
    /// error).
    #[error("{} not at the expected revision: another writer got there first", ConflictedRooms(.rooms))]
    Conflict {
        /// The rooms that conflicted (never empty).
        rooms: Vec<RoomId>,
    },
    /// The store cannot be reached or failed; retrying later may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refuses the data for good (it cannot hold it, or it breaks a constraint):
    /// retrying the same request fails the same way, so callers must not retry it.
    #[error("the store refused the data: {0}")]
    Rejected(String),
    /// The store holds data the domain cannot read back.
    #[error("the store holds invalid data: {0}")]
    Corrupt(String),
}

/// Names the conflicting rooms in [`RepoError::Conflict`]'s message.
struct ConflictedRooms<'a>(&'a [RoomId]);

impl std::fmt::Display for ConflictedRooms<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            [room] => write!(f, "room {room} is"),
            rooms => {
                f.write_str("rooms ")?;
                for (i, room) in rooms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{room}")?;
                }
                f.write_str(" are")
            }
        }
    }
}

/// A room to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRoom {
    /// Its id.
    pub id: RoomId,
    /// Its language.
    pub language: Language,
    /// Its initial text, which is revision 0.
    pub code: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Its read-only id (PROTOCOL.md 1.1, "Access"), distinct from every room's id and view id.
    pub view_id: RoomId,
    /// A hash of the secret that may delete it (the owner token), which is never stored itself;
    /// `None`: only an administrator may.
    pub owner_token_hash: Option<String>,
}

/// How a room is reached and who may delete it, as [`RoomRepo::keys`] finds it by either of its
/// ids: one cheap read per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomKeys {
    /// Its id, which grants editing.
    pub id: RoomId,
    /// Its read-only id.
    pub view_id: RoomId,
    /// See [`NewRoom::owner_token_hash`].
    pub owner_token_hash: Option<String>,
    /// The last time anyone edited it or joined it (what expiry counts from).
    pub active_at: Timestamp,
}

impl RoomKeys {
    /// What the id it was found by grants.
    pub fn access_by(&self, id: RoomId) -> Access {
        let view_id = self.view_id;
        if id == view_id { Access::View { view_id } } else { Access::Edit { view_id } }
    }
}

/// The full text of a room at some revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The text.
    pub code: String,
    /// The revision the text is at.
    pub revision: u64,
}

/// A room as stored: its latest snapshot plus the operations committed after it. Replaying the
/// operations onto the snapshot gives the document at `revision`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRoom {
    /// Its id.
    pub id: RoomId,
    /// Its language.
    pub language: Language,
    /// The latest snapshot.
    pub snapshot: Snapshot,
    /// The operations after the snapshot, in revision order, ending at `revision`.
    pub ops_after_snapshot: Vec<CommittedOp>,
    /// The latest revision.
    pub revision: u64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Time of the last change.
    pub updated_at: Timestamp,
}

/// What a room is without its text: cheap to read (no snapshot, no operations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomSummary {
    /// Its id.
    pub id: RoomId,
    /// Its language.
    pub language: Language,
    /// Its latest stored revision.
    pub revision: u64,
}

/// Operations to append to one room, part of a [`RoomRepo::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    /// The room.
    pub room: RoomId,
    /// The revision the caller believes is the room's latest in the store.
    pub expected_revision: u64,
    /// The operations, with consecutive revisions starting at `expected_revision + 1`.
    pub ops: Vec<CommittedOp>,
    /// A new snapshot to store with them, at a revision no later than the last operation's: it
    /// becomes the room's latest snapshot and one of its history's checkpoints.
    pub snapshot: Option<Snapshot>,
}

/// What a [`RoomRepo::commit`] stored: every append but those of `conflicts`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "the appends of conflicting rooms were not stored"]
pub struct Committed {
    /// The rooms whose latest stored revision was not their append's `expected_revision` (another
    /// writer got there first), in the batch's order: nothing of their appends is stored.
    pub conflicts: Vec<RoomId>,
}

impl Committed {
    /// Whether `room`'s append was stored.
    pub fn stored(&self, room: RoomId) -> bool {
        !self.conflicts.contains(&room)
    }
}

/// A point of a room's history for a timeslider: the last revision of a run of operations, when
/// it was committed, and who wrote the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPoint {
    /// The run's last revision.
    pub revision: u64,
    /// When that revision was committed.
    pub at: Timestamp,
    /// The distinct names of the run's authors, sorted.
    pub authors: Vec<String>,
}

/// Where rooms live. Adapters: in memory, SQLite, PostgreSQL. Every method either does all it
/// says or nothing.
#[async_trait]
pub trait RoomRepo: Send + Sync {
    /// A short name of the backing store for `/health` and logs: `memory`, `sqlite`, `postgres`.
    fn kind(&self) -> &'static str;

    /// Checks that the store answers. `Unavailable` when it does not.
    async fn ping(&self) -> Result<(), RepoError>;

    /// Stores a new room at revision 0. `AlreadyExists` if the id is taken; `Rejected` if its
    /// code holds U+0000 (see [`crate::NulInText`]: every adapter refuses it alike).
    async fn create(&self, room: &NewRoom) -> Result<(), RepoError>;

    /// Reads a room's latest snapshot and the operations after it. `NotFound` if there is none.
    async fn load(&self, id: RoomId) -> Result<StoredRoom, RepoError>;

    /// Reads a room's language and latest revision, without its text. `NotFound` if there is none.
    async fn summary(&self, id: RoomId) -> Result<RoomSummary, RepoError>;

    /// Reads at most `limit` operations of a room with revisions after `after`, in order.
    /// An unknown room yields no operations. Operations [`RoomRepo::forget_operations`] deleted
    /// are gone: the answer may then start after `after + 1` (`Room::submit` counts such a gap as
    /// stale).
    async fn ops_since(&self, id: RoomId, after: u64, limit: usize) -> Result<Vec<CommittedOp>, RepoError>;

    /// [`RoomRepo::ops_since`] for each `(room, after)` of `reads`, answered in their order, in
    /// one read where the store can: processes that follow another's commits catch many rooms up
    /// at once, and a read per room would cost the database a transaction each.
    async fn ops_since_each(&self, reads: &[(RoomId, u64)], limit: usize) -> Result<Vec<Vec<CommittedOp>>, RepoError> {
        let mut answers = Vec::with_capacity(reads.len());
        for &(id, after) in reads {
            answers.push(self.ops_since(id, after, limit).await?);
        }
        Ok(answers)
    }

    /// The room's latest checkpoint at or before `revision`: its text at creation (revision 0) or
    /// at a snapshot an append stored. Checkpoints are kept for the room's life, so the text at
    /// any revision whose operations are kept is a checkpoint plus the operations after it.
    /// `None` when the room has none that early (or does not exist).
    async fn checkpoint(&self, id: RoomId, revision: u64) -> Result<Option<Snapshot>, RepoError>;

    /// The room's kept operations in runs of `every` revisions (revisions 1 to `every`, then
    /// `every + 1` to `2 * every`, ...; `every` at least 1), one [`HistoryPoint`] per run that
    /// holds any, oldest first. An unknown room has none.
    async fn history(&self, id: RoomId, every: u64) -> Result<Vec<HistoryPoint>, RepoError>;

    /// Deletes at most `limit` operations, of any rooms, committed before `before` and older than
    /// their room's latest snapshot (so loading a room, the latest revision and the checkpoints
    /// stay whole), and answers how many it deleted: the history retention (`history.keep_days`).
    async fn forget_operations(&self, before: Timestamp, limit: usize) -> Result<usize, RepoError>;

    /// Appends operations to one or more rooms in **one transaction**, moving each room's revision
    /// (and snapshot, when given, which is also kept as a checkpoint) forward. Durable when it
    /// returns `Ok`: a crash afterwards loses nothing. A room whose latest stored revision is not
    /// its `expected_revision` (another writer got there first) is left out, whole, and named in
    /// [`Committed::conflicts`]; the others are stored: with several processes one room's race
    /// must not cost every other room of the batch a second transaction. `NotFound` when a room
    /// does not exist, naming it; `Rejected` when the store refuses the data for good (text with
    /// U+0000, a constraint), which retrying cannot change. On any error nothing of the batch is
    /// stored. Operations keep their `op_id` as given: recognising a
    /// re-sent operation is [`crate::Room::submit`]'s job, over the operations after its base
    /// revision, so the store does not judge keys.
    ///
    /// An honest `async` call: no adapter blocks the calling thread in it (one over a synchronous
    /// database hands the batch to a thread of its own and awaits the answer), so callers may run
    /// it on any task of a shared runtime.
    async fn commit(&self, appends: &[Append]) -> Result<Committed, RepoError>;

    /// Stores a room's language. `NotFound` if there is no such room.
    async fn set_language(&self, id: RoomId, language: &Language, at: Timestamp) -> Result<(), RepoError>;

    /// Finds a room by its id or its view id. `NotFound` if neither is one.
    async fn keys(&self, id_or_view_id: RoomId) -> Result<RoomKeys, RepoError>;

    /// Records that someone joined the room at `at` (expiry counts from the last edit or join).
    /// Never moves the time back. An unknown room is not an error (it may just have been deleted).
    async fn touch(&self, id: RoomId, at: Timestamp) -> Result<(), RepoError>;

    /// Rooms nobody edited or joined since `before` (see [`RoomKeys::active_at`]; an edit counts
    /// at its operation's time), at most `limit`, in no particular order.
    async fn idle_rooms(&self, before: Timestamp, limit: usize) -> Result<Vec<RoomId>, RepoError>;

    /// Deletes a room with its operations and checkpoints, in one transaction; with
    /// `idle_before`, only if it is still idle since then (so a join or edit that raced an
    /// expiry sweep wins). Answers whether it deleted it (`false`: no such room, or not idle).
    async fn delete(&self, id: RoomId, idle_before: Option<Timestamp>) -> Result<bool, RepoError>;
}

/// What a caller asks completions for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuggestionRequest {
    code: String,
    cursor: usize,
    language: Language,
    room: Option<RoomId>,
}

/// The cursor lies beyond the end of the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the cursor position {cursor} is beyond the end of the text ({len} characters)")]
pub struct CursorOutOfRange {
    /// The cursor asked for.
    pub cursor: usize,
    /// The text's length in code points.
    pub len: usize,
}

impl SuggestionRequest {
    /// A request for completions at `cursor` (in code points) in `code`.
    pub fn new(
        code: String,
        cursor: usize,
        language: Language,
        room: Option<RoomId>,
    ) -> Result<Self, CursorOutOfRange> {
        let len = code.chars().count();
        if cursor > len {
            return Err(CursorOutOfRange { cursor, len });
        }
        Ok(Self { code, cursor, language, room })
    }

    /// The whole text.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The cursor, in code points.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The cursor as a byte offset into [`Self::code`].
    pub fn cursor_byte(&self) -> usize {
        self.code.char_indices().nth(self.cursor).map_or(self.code.len(), |(i, _)| i)
    }

    /// The text before the cursor.
    pub fn before_cursor(&self) -> &str {
        &self.code[..self.cursor_byte()]
    }

    /// The text after the cursor.
    pub fn after_cursor(&self) -> &str {
        &self.code[self.cursor_byte()..]
    }

    /// The language.
    pub fn language(&self) -> &Language {
        &self.language
    }

    /// The room typed in, if known: lets a suggester cancel a room's stale requests.
    pub fn room(&self) -> Option<RoomId> {
        self.room
    }
}

/// What kind of thing a suggestion completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SuggestionKind {
    /// A language keyword.
    Keyword,
    /// A built-in function or type.
    Builtin,
    /// A name found in the document.
    Identifier,
    /// A multi-line template.
    Snippet,
    /// A closing bracket or quote.
    Bracket,
    /// Indentation after a block opener.
    Indent,
    /// Free text from a model.
    Completion,
    /// A plain word (inside strings and comments).
    Word,
}

impl SuggestionKind {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keyword => "keyword",
            Self::Builtin => "builtin",
            Self::Identifier => "identifier",
            Self::Snippet => "snippet",
            Self::Bracket => "bracket",
            Self::Indent => "indent",
            Self::Completion => "completion",
            Self::Word => "word",
        }
    }
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// What a menu shows.
    pub label: String,
    /// The text to insert at the cursor, without the part already typed.
    pub insert_text: String,
    /// What it completes.
    pub kind: SuggestionKind,
}

/// Ranked completions, best first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Suggestions {
    /// Best first; may be empty.
    pub items: Vec<Suggestion>,
    /// Which suggester answered: `rules`, `model`, ...
    pub source: &'static str,
}

impl Suggestions {
    /// The text of the best suggestion, or empty.
    pub fn best(&self) -> &str {
        self.items.first().map_or("", |s| s.insert_text.as_str())
    }
}

/// Proposes code completions.
#[async_trait]
pub trait Suggester: Send + Sync {
    /// Suggests completions at the request's cursor. Never fails: a suggester that cannot answer
    /// returns no suggestions (or a fallback's). Must return within its configured time budget.
    async fn suggest(&self, request: &SuggestionRequest) -> Suggestions;
}

/// Something that happened in a room, for its participants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEvent<'a> {
    /// The welcome a participant gets on joining.
    Init {
        /// The room.
        room: RoomId,
        /// The participant's own id.
        user_id: UserId,
        /// The current revision.
        revision: u64,
        /// The document at `revision`.
        code: &'a str,
        /// The room's language.
        language: &'a Language,
        /// Everyone connected, the newcomer included.
        users: &'a [Participant],
        /// Set when the participant asked to resume from a revision: `false`, the server could
        /// not resume it (PROTOCOL.md 1.1, "Resuming").
        resumed: Option<bool>,
        /// What the participant may do.
        access: Access,
    },
    /// The participant's operation is durably stored as `revision`.
    Ack {
        /// The revision it became.
        revision: u64,
        /// The participant's idempotency key, if it sent one.
        op_id: Option<&'a str>,
    },
    /// Someone else's edit, transformed onto the previous revision.
    Operation {
        /// The edit.
        op: &'a CommittedOp,
        /// Whether to show its `opId`: to a client that resumes, an operation carrying the
        /// `opId` of its own in-flight one is its ack (PROTOCOL.md 1.1). Shown for operations
        /// read back from the store and those whose author has left, the only ones a returning
        /// author can receive as `operation`s; a connected author gets its `ack` instead.
        show_op_id: bool,
    },
    /// Someone's cursor moved.
    Cursor {
        /// Whose.
        user_id: UserId,
        /// The revision the selection refers to.
        revision: u64,
        /// The selection.
        selection: Selection,
    },
    /// Someone joined.
    UserJoined {
        /// Who.
        user: &'a Participant,
        /// How many are connected now.
        active_users: usize,
    },
    /// Someone left.
    UserLeft {
        /// Who.
        user_id: UserId,
        /// How many are connected now.
        active_users: usize,
    },
    /// The room's language changed.
    Language {
        /// The new language.
        language: &'a Language,
        /// Who changed it.
        user_id: UserId,
    },
    /// What was wrong with the participant's last message.
    Error {
        /// A snake_case code from the protocol.
        code: &'static str,
        /// A human sentence.
        message: &'a str,
    },
}

/// Who receives a published event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Every participant.
    Everyone,
    /// Every participant but these (the author of an edit, who gets an ack instead, and anyone
    /// whose welcome already contained the edit).
    Except(&'a [UserId]),
    /// One participant.
    Only(UserId),
}

impl Audience<'_> {
    /// Whether `user` is in the audience.
    pub fn includes(&self, user: UserId) -> bool {
        match self {
            Self::Everyone => true,
            Self::Except(excluded) => !excluded.contains(&user),
            Self::Only(only) => *only == user,
        }
    }
}

/// Whose gathered events a [`Broadcaster::flush`] hands over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Every participant's.
    Everything,
    /// Those of participants with an event addressed to them alone ([`Audience::Only`]: an ack,
    /// a reply, `init`), with everything gathered for them before it, so their order holds.
    Direct,
}

/// Fans a room's events out to its participants' connections. One per loaded room, owned by the
/// task that sequences the room, so it needs no locks.
pub trait Broadcaster: Send {
    /// The transport's handle to one participant's connection.
    type Connection: Send;

    /// Adds a participant: events are delivered to it from now on.
    fn add(&mut self, user: UserId, connection: Self::Connection);

    /// Removes a participant; its connection is told to close normally.
    fn remove(&mut self, user: UserId);

    /// Removes every participant because the room was deleted: each connection is told so and
    /// closed (on a WebSocket, `room_deleted` and close 4410), without waiting for what is still
    /// queued for it.
    fn remove_all_deleted(&mut self);

    /// Delivers `event` to `audience` **without waiting**, encoding it once however many receive it,
    /// at the next [`flush`](Self::flush) at the latest (each participant's events in the order
    /// published). A participant whose queue is full has fallen too far behind: it is removed, its
    /// connection closed (it may reconnect and resync), and it is returned so the room can announce
    /// it left.
    fn publish(&mut self, event: &RoomEvent<'_>, audience: Audience<'_>) -> Vec<UserId>;

    /// Hands over what [`publish`](Self::publish) has gathered for the participants `scope`
    /// names, so a transport may write each connection's events at once: in a crowded room, one
    /// write and one wake-up per connection for several operations instead of one per operation.
    /// The room flushes [`Flush::Direct`] at the end of every turn (what woke it: a commit's
    /// verdict, a command), so acks and replies never wait, and [`Flush::Everything`] then too,
    /// unless the room is busy: then its broadcasts are spaced a few milliseconds apart. Returns the participants dropped, as `publish` does. The default
    /// delivers nothing more (for transports that deliver as they publish).
    fn flush(&mut self, scope: Flush) -> Vec<UserId> {
        let _ = scope;
        Vec::new()
    }

    /// Whether events wait for a [`Flush::Everything`].
    fn has_gathered(&self) -> bool {
        false
    }

    /// How many participants are connected.
    fn len(&self) -> usize;

    /// Whether nobody is connected.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One server process among those that serve the same rooms from one store: random at start-up.
/// Ordered, so that processes agree which of two leads a room they both serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(uuid::Uuid);

impl ProcessId {
    /// A fresh process id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for ProcessId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

/// What one process tells the others about a room. Only hints: the store is the truth for the
/// text, and presence expires unless re-announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusMessage {
    /// The room's log reached `head` in the store. Published by the room once its commit is
    /// stored, so only committed work is announced; never the text. Only a hint: a process that
    /// dies between its commit and this notice leaves the others to find the commit in the store
    /// (a bus catches its rooms up when it stops hearing a process).
    Committed {
        /// The room's latest stored revision.
        head: u64,
    },
    /// Someone connected to the sending process.
    Joined(Participant),
    /// Someone disconnected from the sending process.
    Left(UserId),
    /// These participants are still connected to the sending process. Sent periodically (a
    /// participant not re-announced in time has gone, with its process) and when asked, by every
    /// process that has the room loaded, so an empty list says that it has; a long list may come
    /// in several parts.
    Present(Vec<Participant>),
    /// The sending process has just loaded the room: the others answer with `Present`.
    PresenceWanted,
    /// A participant's cursor moved.
    Cursor {
        /// Whose.
        user: UserId,
        /// The revision the selection refers to.
        revision: u64,
        /// Where.
        selection: Selection,
    },
    /// A participant changed the room's language (already stored).
    Language {
        /// Who.
        user: UserId,
        /// The new language.
        language: Language,
    },
    /// The room was deleted from the store (by its owner, or as expired): close its connections.
    Deleted,
    /// An edit of a participant connected to the sending process, for process `to` to sequence
    /// and commit: the sender follows `to` in this room instead of racing it for each revision,
    /// and acknowledges the edit to its author once it finds it in the store.
    Edit {
        /// The process that sequences it.
        to: ProcessId,
        /// The edit, as its author sent it.
        edit: crate::Edit,
    },
}

/// A [`BusMessage`] as delivered: about which room, from which process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusNote {
    /// The room.
    pub room: RoomId,
    /// The process that sent it.
    pub origin: ProcessId,
    /// What it says.
    pub message: BusMessage,
}

/// The messages between processes that serve the same rooms. Adapters: PostgreSQL
/// `LISTEN/NOTIFY`, and one in process (for tests, and for a store only one process may use).
pub trait RoomBus: Send + Sync {
    /// This process's id, which it stamps on what it publishes.
    fn process(&self) -> ProcessId;

    /// Sends a message about `room` to the other processes. Best effort and never waits: what
    /// cannot be sent at once is dropped (presence is repaired by the next `Present`).
    fn publish(&self, room: RoomId, message: BusMessage);

    /// Starts delivering the other processes' messages (never this process's own) to `listener`.
    fn subscribe(&self, listener: std::sync::Arc<dyn BusListener>);
}

/// Receives what other processes publish on a [`RoomBus`]. Called on the bus's own task: must
/// not block.
pub trait BusListener: Send + Sync {
    /// A message from another process.
    fn deliver(&self, note: BusNote);

    /// Messages may have been lost (the bus reconnected): every loaded room must catch up with
    /// the store and announce its presence.
    fn resync(&self);
}
