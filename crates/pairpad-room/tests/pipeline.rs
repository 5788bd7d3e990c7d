//! The room owner driven directly: a real group committer over a `MemoryRepo` that answers only
//! when the test says so, and a `Broadcaster` that records what each participant receives in
//! the same log as the store's answers. So the order of "stored", "ack" and "operation" is
//! observed, not assumed: each test fails when the room acknowledges before the store said yes,
//! broadcasts before acknowledging, or loses the order of its appends.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pairpad_domain::{
    Access, Append, Audience, Broadcaster, BusMessage, BusNote, Committed, CommittedOp, Component, Flush, Language,
    NewRoom, Participant, ProcessId, RepoError, Room, RoomEvent, RoomId, RoomRepo, StoredRoom, TextOperation,
    Timestamp, UserId,
};
use pairpad_room::committer::{CommitSettings, Committer};
use pairpad_room::room::{Command, JoinOutcome, RoomOwner, RoomSettings};
use pairpad_store::{LocalBus, LocalNetwork, MemoryRepo};
use tokio::sync::{mpsc, oneshot};

/// Long enough for a correct room to be waiting on its own, short enough for a failing test.
const PATIENCE: Duration = Duration::from_secs(5);

/// What happened, in order: the store's commits and every delivery to a participant.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, entry: &str) -> usize {
        self.entries().iter().filter(|e| *e == entry).count()
    }

    /// How many entries start with `prefix`.
    fn count_starting(&self, prefix: &str) -> usize {
        self.entries().iter().filter(|e| e.starts_with(prefix)).count()
    }

    fn position(&self, entry: &str) -> usize {
        let entries = self.entries();
        entries.iter().position(|e| e == entry).unwrap_or_else(|| panic!("no {entry:?} in {entries:#?}"))
    }

    async fn wait_for(&self, entry: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.count(entry) == 0 {
            assert!(Instant::now() < deadline, "no {entry:?} in {:#?}", self.entries());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// A `Broadcaster` whose connections are names: it logs `"<name> <- <event>"` for each delivery,
/// as it publishes or, when `gathered` is set, as the room flushes.
struct Recorder {
    members: Vec<(UserId, &'static str)>,
    log: Log,
    /// What waits for a flush: the entry, and whether it was for one participant alone.
    gathered: Option<Vec<(String, bool)>>,
}

impl Broadcaster for Recorder {
    type Connection = &'static str;

    fn add(&mut self, user: UserId, connection: &'static str) {
        self.members.push((user, connection));
    }

    fn remove(&mut self, user: UserId) {
        if let Some(i) = self.members.iter().position(|(member, _)| *member == user) {
            let (_, name) = self.members.remove(i);
            self.log.push(format!("{name} closed"));
        }
    }

    fn remove_all_deleted(&mut self) {
        for (_, name) in self.members.drain(..) {
            self.log.push(format!("{name} closed: room deleted"));
        }
    }

    fn publish(&mut self, event: &RoomEvent<'_>, audience: Audience<'_>) -> Vec<UserId> {
        let what = match event {
            RoomEvent::Init { revision, .. } => format!("init {revision}"),
            RoomEvent::Ack { revision, op_id } => format!("ack {revision} {}", op_id.unwrap_or("-")),
            RoomEvent::Operation { op, .. } => format!("op {}", op.revision),
            RoomEvent::Error { code, .. } => format!("error {code}"),
            RoomEvent::UserJoined { .. } | RoomEvent::UserLeft { .. } => return Vec::new(),
            _ => "other".to_owned(),
        };
        let direct = matches!(audience, Audience::Only(_));
        for (_, name) in self.members.iter().filter(|(user, _)| audience.includes(*user)) {
            match &mut self.gathered {
                Some(gathered) => gathered.push((format!("{name} <- {what}"), direct)),
                None => self.log.push(format!("{name} <- {what}")),
            }
        }
        Vec::new()
    }

    fn flush(&mut self, scope: Flush) -> Vec<UserId> {
        if let Some(gathered) = &mut self.gathered {
            // (Per participant, a direct flush hands over what came before too; these tests'
            // direct events are acks, each to a participant that gathered nothing else.)
            let (now, later) = std::mem::take(gathered)
                .into_iter()
                .partition::<Vec<_>, _>(|(_, direct)| scope == Flush::Everything || *direct);
            *gathered = later;
            now.into_iter().for_each(|(entry, _)| self.log.push(entry));
        }
        Vec::new()
    }

    fn has_gathered(&self) -> bool {
        self.gathered.as_ref().is_some_and(|gathered| gathered.iter().any(|(_, direct)| !direct))
    }

    fn len(&self) -> usize {
        self.members.len()
    }
}

/// How the test answers one commit.
enum Answer {
    /// Commit it to memory (which may still say `Conflict`).
    Store,
    /// Refuse it with this error.
    Fail(RepoError),
}

/// What one commit carried: per room, the expected revision and the operations' revisions.
type Call = Vec<(RoomId, u64, Vec<u64>)>;

/// A `MemoryRepo` whose commits wait for the test's [`Answer`], and log `"stored [revisions]"`
/// once stored.
struct GatedStore {
    rooms: MemoryRepo,
    log: Log,
    calls: mpsc::UnboundedSender<Call>,
    answers: tokio::sync::Mutex<mpsc::UnboundedReceiver<Answer>>,
}

#[async_trait::async_trait]
impl RoomRepo for GatedStore {
    fn kind(&self) -> &'static str {
        "gated"
    }
    async fn ping(&self) -> Result<(), RepoError> {
        Ok(())
    }
    async fn create(&self, room: &NewRoom) -> Result<(), RepoError> {
        self.rooms.create(room).await
    }
    async fn load(&self, id: RoomId) -> Result<StoredRoom, RepoError> {
        self.rooms.load(id).await
    }
    async fn ops_since(&self, id: RoomId, after: u64, limit: usize) -> Result<Vec<CommittedOp>, RepoError> {
        self.rooms.ops_since(id, after, limit).await
    }
    async fn summary(&self, id: RoomId) -> Result<pairpad_domain::RoomSummary, RepoError> {
        self.rooms.summary(id).await
    }
    async fn checkpoint(&self, id: RoomId, revision: u64) -> Result<Option<pairpad_domain::Snapshot>, RepoError> {
        self.rooms.checkpoint(id, revision).await
    }
    async fn history(&self, id: RoomId, every: u64) -> Result<Vec<pairpad_domain::HistoryPoint>, RepoError> {
        self.rooms.history(id, every).await
    }
    async fn forget_operations(&self, before: Timestamp, limit: usize) -> Result<usize, RepoError> {
        self.rooms.forget_operations(before, limit).await
    }
    async fn commit(&self, appends: &[Append]) -> Result<Committed, RepoError> {
        let call = appends
            .iter()
            .map(|a| (a.room, a.expected_revision, a.ops.iter().map(|op| op.revision).collect()))
            .collect();
        let _ = self.calls.send(call);
        let answer = self.answers.lock().await.recv().await;
        match answer {
            Some(Answer::Store) => {
                let committed = self.rooms.commit(appends).await?;
                let stored = appends.iter().filter(|a| committed.stored(a.room));
                let revisions: Vec<u64> = stored.flat_map(|a| a.ops.iter().map(|op| op.revision)).collect();
                if !revisions.is_empty() {
                    self.log.push(format!("stored {revisions:?}"));
                }
                Ok(committed)
            }
            Some(Answer::Fail(error)) => Err(error),
            None => Err(RepoError::Rejected("the test ended".into())),
        }
    }
    async fn set_language(&self, id: RoomId, language: &Language, at: Timestamp) -> Result<(), RepoError> {
        self.rooms.set_language(id, language, at).await
    }
    async fn keys(&self, id: RoomId) -> Result<pairpad_domain::RoomKeys, RepoError> {
        self.rooms.keys(id).await
    }
    async fn touch(&self, id: RoomId, at: Timestamp) -> Result<(), RepoError> {
        self.rooms.touch(id, at).await
    }
    async fn idle_rooms(&self, before: Timestamp, limit: usize) -> Result<Vec<RoomId>, RepoError> {
        self.rooms.idle_rooms(before, limit).await
    }
    async fn delete(&self, id: RoomId, idle_before: Option<Timestamp>) -> Result<bool, RepoError> {
        self.rooms.delete(id, idle_before).await
    }
}

fn room_settings() -> RoomSettings {
    RoomSettings {
        max_document_chars: 1 << 20,
        history_window: 64,
        max_history_fetch: 1000,
        snapshot_every: 1000,
        room_queue: 64,
        idle_unload: Duration::from_secs(3600),
        max_users_per_room: 10,
    }
}

/// One store, one committer, and any number of rooms over them.
struct Pipeline {
    store: Arc<GatedStore>,
    log: Log,
    calls: mpsc::UnboundedReceiver<Call>,
    answers: mpsc::UnboundedSender<Answer>,
    committer: Committer,
}

/// A running room owner.
struct TestRoom {
    id: RoomId,
    commands: mpsc::Sender<Command<&'static str>>,
    /// Answers once the owner's stop callback ran.
    stopped: oneshot::Receiver<()>,
}

impl Pipeline {
    fn new() -> Self {
        let log = Log::default();
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let (answers, answers_rx) = mpsc::unbounded_channel();
        let store = Arc::new(GatedStore {
            rooms: MemoryRepo::default(),
            log: log.clone(),
            calls: calls_tx,
            answers: tokio::sync::Mutex::new(answers_rx),
        });
        // A short retry limit: no test makes the store unavailable, and none should hang if it did.
        let settings = CommitSettings { max_batch: 16, retry_limit: Duration::from_millis(100) };
        let committer = Committer::spawn(store.clone(), &settings);
        Self { store, log, calls, answers, committer }
    }

    async fn open_room(&self) -> TestRoom {
        self.open_room_with(room_settings(), false).await
    }

    /// A room with these settings, whose participants get their events at the room's flushes
    /// when `gathering`.
    async fn open_room_with(&self, settings: RoomSettings, gathering: bool) -> TestRoom {
        self.open_room_on(settings, gathering, Arc::new(LocalBus::alone())).await
    }

    /// A room of a process with this bus.
    async fn open_room_on(&self, settings: RoomSettings, gathering: bool, bus: Arc<LocalBus>) -> TestRoom {
        let new = NewRoom {
            id: RoomId::random(),
            language: Language::plaintext(),
            code: String::new(),
            created_at: Timestamp(0),
            view_id: RoomId::random(),
            owner_token_hash: None,
        };
        self.store.create(&new).await.unwrap();
        let room = Room::restore(self.store.load(new.id).await.unwrap(), settings.limits()).unwrap();
        let fanout = Recorder { members: Vec::new(), log: self.log.clone(), gathered: gathering.then(Vec::new) };
        let (stop, stopped) = oneshot::channel();
        let on_stop = Box::new(move || {
            let _ = stop.send(());
        });
        let owner = RoomOwner::new(room, fanout, self.store.clone(), self.committer.clone(), bus, settings, on_stop);
        let (commands, receiver) = mpsc::channel(64);
        tokio::spawn(owner.run(receiver));
        TestRoom { id: new.id, commands, stopped }
    }

    /// The next commit the store was asked for (it waits for [`Pipeline::answer`]).
    async fn next_call(&mut self) -> Call {
        tokio::time::timeout(PATIENCE, self.calls.recv()).await.expect("a commit").expect("the store lives")
    }

    fn answer(&self, answer: Answer) {
        self.answers.send(answer).unwrap();
    }

    async fn stored_text(&self, room: RoomId) -> String {
        let stored = self.store.rooms.load(room).await.unwrap();
        Room::restore(stored, room_settings().limits()).unwrap().text()
    }

    async fn stored_revision(&self, room: RoomId) -> u64 {
        self.store.rooms.load(room).await.unwrap().revision
    }
}

impl TestRoom {
    async fn join(&self, name: &'static str) -> UserId {
        let (user, outcome) = self.join_since(name, None).await;
        assert!(matches!(outcome, JoinOutcome::Joined));
        user
    }

    async fn join_since(&self, name: &'static str, since: Option<u64>) -> (UserId, JoinOutcome<&'static str>) {
        let participant = Participant::new(UserId::random(), name.into());
        let user = participant.user_id;
        let (reply, outcome) = oneshot::channel();
        let access = Access::Edit { view_id: RoomId::random() };
        self.send(Command::Join { participant, access, connection: name, since, reply }).await;
        (user, outcome.await.expect("the room answers"))
    }

    /// `user` inserts `text` at the start of the document at `base`.
    async fn insert(&self, user: UserId, base: u64, text: &str, op_id: &str) {
        let mut components = vec![Component::Insert(text.into())];
        if base > 0 {
            // Every edit of these tests inserts one character.
            components.push(Component::Retain(base as usize));
        }
        let operation = TextOperation::from_components(components).unwrap();
        let op_id = Some(op_id.to_owned());
        self.send(Command::Operation { user, base_revision: base, operation, op_id, received: Instant::now() }).await;
    }

    async fn leave(&self, user: UserId) {
        self.send(Command::Leave { user }).await;
    }

    /// Returns once the owner has handled every command sent before (commands are handled in order).
    async fn settle(&self) -> u64 {
        let (reply, view) = oneshot::channel();
        self.send(Command::Inspect { reply }).await;
        view.await.expect("the room answers").revision
    }

    async fn send(&self, command: Command<&'static str>) {
        assert!(self.commands.send(command).await.is_ok(), "the room stopped");
    }
}

#[tokio::test]
async fn an_edit_is_acknowledged_only_once_stored_and_broadcast_after_its_ack() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    room.insert(ada, 0, "a", "ada-1").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    assert_eq!(room.settle().await, 1, "sequenced at once");
    let log = &pipeline.log;
    assert_eq!(
        (log.count("ada <- ack 1 ada-1"), log.count("bob <- op 1")),
        (0, 0),
        "nothing before the store said yes"
    );

    pipeline.answer(Answer::Store);
    log.wait_for("bob <- op 1").await;
    assert!(log.position("stored [1]") < log.position("ada <- ack 1 ada-1"), "{:#?}", log.entries());
    assert!(log.position("ada <- ack 1 ada-1") < log.position("bob <- op 1"), "{:#?}", log.entries());
    assert_eq!((log.count("ada <- op 1"), log.count("bob <- ack 1 ada-1")), (0, 0), "the author gets only its ack");
}

/// In a crowded, busy room a broadcast may wait a few milliseconds for others to join it in one
/// write per connection; the author's ack never waits; when edits come far apart, nothing waits. (Tokio's clock is paused: it moves only while
/// every task waits, so the spacing is observed without timing anything.)
#[tokio::test(start_paused = true)]
async fn a_crowded_rooms_broadcasts_are_spaced_but_acks_never_wait() {
    let mut pipeline = Pipeline::new();
    let settings = RoomSettings { max_users_per_room: 1000, ..room_settings() };
    let room = pipeline.open_room_with(settings, true).await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    for _ in 0..398 {
        room.join("crowd").await;
    }
    let log = pipeline.log.clone();
    room.insert(ada, 0, "a", "ada-1").await;
    pipeline.next_call().await;
    pipeline.answer(Answer::Store);
    // After a quiet spell a broadcast goes at once.
    log.wait_for("bob <- op 1").await;
    assert!(log.position("ada <- ack 1 ada-1") < log.position("bob <- op 1"), "{:#?}", log.entries());

    room.insert(ada, 1, "b", "ada-2").await;
    pipeline.next_call().await;
    pipeline.answer(Answer::Store);
    log.wait_for("ada <- ack 2 ada-2").await;
    assert_eq!(log.count("bob <- op 2"), 0, "400 participants: the next broadcast waits (10 ms)");
    let acked = tokio::time::Instant::now();
    log.wait_for("bob <- op 2").await;
    assert!(acked.elapsed() <= Duration::from_millis(12), "then goes: {:?}", acked.elapsed());
    assert_eq!(log.count_starting("crowd <- op 2"), 398);

    // Edits far apart: waiting would gather nothing, so the next broadcast goes at once again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    room.insert(ada, 2, "c", "ada-3").await;
    pipeline.next_call().await;
    pipeline.answer(Answer::Store);
    log.wait_for("ada <- ack 3 ada-3").await;
    assert_eq!(log.count("bob <- op 3"), 1, "{:#?}", &log.entries()[log.entries().len() - 3..]);
}

#[tokio::test]
async fn nothing_is_acknowledged_when_the_store_refuses() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    room.insert(ada, 0, "a", "ada-1").await;
    pipeline.next_call().await;
    pipeline.answer(Answer::Fail(RepoError::Rejected("refused for the test".into())));
    tokio::time::timeout(PATIENCE, room.stopped).await.expect("the room stops").unwrap();

    let log = &pipeline.log;
    let entries = log.entries();
    assert!(!entries.iter().any(|e| e.contains("ack") || e.contains("<- op")), "{entries:#?}");
    // The author is told not to re-send; the others that they may have missed edits; all reconnect.
    assert_eq!(log.count("ada <- error store_rejected"), 1, "{entries:#?}");
    assert_eq!(log.count("bob <- error store_unavailable"), 1, "{entries:#?}");
    assert_eq!((log.count("ada closed"), log.count("bob closed")), (1, 1), "{entries:#?}");
    assert_eq!(pipeline.stored_revision(room.id).await, 0);
}

/// An edit another process stored at revision `revision`: inserts "z" at the start.
async fn store_theirs(pipeline: &Pipeline, room: RoomId, revision: u64) {
    store_op(pipeline, room, revision, "z", UserId::random(), &format!("theirs-{revision}")).await;
}

/// `author`'s edit `op_id`, stored by another process as `revision`: inserts `text` (one
/// character) at the start of a document of `revision - 1` characters.
async fn store_op(pipeline: &Pipeline, room: RoomId, revision: u64, text: &str, author: UserId, op_id: &str) {
    let mut components = vec![Component::Insert(text.into())];
    if revision > 1 {
        components.push(Component::Retain(revision as usize - 1));
    }
    let op = CommittedOp {
        revision,
        operation: TextOperation::from_components(components).unwrap(),
        op_id: Some(op_id.into()),
        author,
        author_name: "Them".into(),
        at: Timestamp(0),
    };
    let append = Append { room, expected_revision: revision - 1, ops: vec![op], snapshot: None };
    assert_eq!(pipeline.store.rooms.commit(&[append]).await, Ok(Committed::default()));
}

#[tokio::test]
async fn a_store_conflict_catches_up_and_sequences_the_edit_again_on_top() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    room.insert(ada, 0, "a", "ada-1").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    // Another process stores revision 1 first: this commit conflicts.
    store_theirs(&pipeline, room.id, 1).await;
    pipeline.answer(Answer::Store);
    // The room reads revision 1, shows it to everyone, and commits ada's edit again as revision 2.
    assert_eq!(pipeline.next_call().await, [(room.id, 1, vec![2])]);
    let log = &pipeline.log;
    assert_eq!((log.count("ada <- op 1"), log.count("bob <- op 1")), (1, 1), "{:#?}", log.entries());
    assert_eq!(log.count_starting("ada <- ack"), 0, "nothing acknowledged before it is stored");
    pipeline.answer(Answer::Store);
    log.wait_for("bob <- op 2").await;
    let entries = log.entries();
    assert_eq!(log.count("ada <- ack 2 ada-1"), 1, "acknowledged once, with its final revision: {entries:#?}");
    assert_eq!(log.count_starting("ada <- ack"), 1, "{entries:#?}");
    assert!(log.position("stored [2]") < log.position("ada <- ack 2 ada-1"), "{entries:#?}");
    assert!(!entries.iter().any(|e| e.contains("error") || e.contains("closed")), "{entries:#?}");
    // The edit was transformed over theirs (at one position, the later edit's text goes first).
    assert_eq!(pipeline.stored_text(room.id).await, "az");
    assert_eq!(room.settle().await, 2);
}

#[tokio::test]
async fn a_conflict_with_two_appends_in_flight_sequences_both_again_in_order() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    let bob = room.join("bob").await;
    room.insert(ada, 0, "a", "ada-1").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    // Sequenced at 2 while revision 1 is in flight, and sent as the second append of the chain.
    room.insert(bob, 0, "b", "bob-1").await;
    room.settle().await;
    store_theirs(&pipeline, room.id, 1).await;
    store_theirs(&pipeline, room.id, 2).await;
    pipeline.answer(Answer::Store);
    // The second append is refused without reaching the store (it built on revision 1 as this
    // room sequenced it); both edits go again, after the others' two.
    assert_eq!(pipeline.next_call().await, [(room.id, 2, vec![3, 4])]);
    pipeline.answer(Answer::Store);
    let log = &pipeline.log;
    log.wait_for("ada <- op 4").await;
    let entries = log.entries();
    assert_eq!((log.count("ada <- ack 3 ada-1"), log.count("bob <- ack 4 bob-1")), (1, 1), "{entries:#?}");
    assert_eq!((log.count_starting("ada <- ack"), log.count_starting("bob <- ack")), (1, 1), "{entries:#?}");
    for (name, revision) in [("ada", 1), ("ada", 2), ("bob", 1), ("bob", 2), ("bob", 3), ("ada", 4)] {
        assert_eq!(log.count(&format!("{name} <- op {revision}")), 1, "{name} sees op {revision}: {entries:#?}");
    }
    assert_eq!(pipeline.stored_revision(room.id).await, 4);
    assert_eq!(pipeline.stored_text(room.id).await, "bazz");
}

#[tokio::test]
async fn a_commit_announced_by_another_process_reaches_everyone_here() {
    let pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    room.join("ada").await;
    room.join("bob").await;
    store_theirs(&pipeline, room.id, 1).await;
    let note = BusNote { room: room.id, origin: ProcessId::random(), message: BusMessage::Committed { head: 1 } };
    room.send(Command::Bus(note)).await;
    let log = &pipeline.log;
    log.wait_for("bob <- op 1").await;
    assert_eq!((log.count("ada <- op 1"), log.count("bob <- op 1")), (1, 1));
    assert_eq!(room.settle().await, 1);
}

#[tokio::test]
async fn two_appends_in_flight_are_merged_and_answered_in_order() {
    let mut pipeline = Pipeline::new();
    // Another room's commit holds the committer, so this room's appends queue up behind it.
    let other = pipeline.open_room().await;
    let carl = other.join("carl").await;
    other.insert(carl, 0, "c", "carl-1").await;
    pipeline.next_call().await;

    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    for (base, op_id) in [(0, "ada-1"), (1, "ada-2"), (2, "ada-3")] {
        room.insert(ada, base, "a", op_id).await;
    }
    assert_eq!(room.settle().await, 3);
    pipeline.answer(Answer::Store);
    // Two appends were in flight (revisions 1 and 2): one transaction carries both, in order.
    // The third waited in the room, and goes next.
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1, 2])]);
    pipeline.answer(Answer::Store);
    assert_eq!(pipeline.next_call().await, [(room.id, 2, vec![3])]);
    pipeline.answer(Answer::Store);
    let log = &pipeline.log;
    log.wait_for("bob <- op 3").await;

    // Acks and broadcasts in revision order, each after its store answer. (Revision 3 may be
    // stored before revision 2 is acknowledged: 2 is stored already by then.)
    let order = [
        "stored [1, 2]",
        "ada <- ack 1 ada-1",
        "bob <- op 1",
        "ada <- ack 2 ada-2",
        "bob <- op 2",
        "ada <- ack 3 ada-3",
        "bob <- op 3",
    ];
    let positions: Vec<usize> = order.iter().map(|entry| log.position(entry)).collect();
    assert!(positions.is_sorted(), "{:#?}", log.entries());
    assert!(log.position("stored [3]") < log.position("ada <- ack 3 ada-3"), "{:#?}", log.entries());
    assert_eq!(pipeline.stored_revision(room.id).await, 3);
    assert_eq!(pipeline.stored_text(room.id).await, "aaa");
}

#[tokio::test]
async fn a_resent_op_id_is_acknowledged_once_with_its_original_revision() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    room.insert(ada, 0, "a", "ada-1").await;
    pipeline.next_call().await;
    // Ada's connection drops before her ack; she reconnects (a new participant, whose welcome
    // holds the stored revision 0) and re-sends the edit with its opId.
    room.leave(ada).await;
    let ada_again = room.join("ada2").await;
    room.insert(ada_again, 0, "a", "ada-1").await;
    assert_eq!(room.settle().await, 1, "not applied twice");
    let log = &pipeline.log;
    assert_eq!(log.count("ada2 <- ack 1 ada-1"), 0, "not before the original is stored");

    pipeline.answer(Answer::Store);
    log.wait_for("bob <- op 1").await;
    log.wait_for("ada2 <- ack 1 ada-1").await;
    assert!(log.position("stored [1]") < log.position("ada2 <- ack 1 ada-1"), "{:#?}", log.entries());
    assert_eq!(log.count("ada2 <- ack 1 ada-1"), 1);
    assert_eq!(log.count("ada2 <- op 1"), 0, "she gets the ack instead, as its author would");

    // Once stored, a re-send is acknowledged at once, and never reaches the store.
    room.insert(ada_again, 0, "a", "ada-1").await;
    assert_eq!(room.settle().await, 1);
    assert_eq!(log.count("ada2 <- ack 1 ada-1"), 2);
    assert!(pipeline.calls.try_recv().is_err(), "no second commit");
    assert_eq!(pipeline.stored_revision(room.id).await, 1);
}

#[tokio::test]
async fn a_newcomer_starts_from_the_stored_text_and_gets_the_rest_once_stored() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.insert(ada, 0, "a", "ada-1").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    // Bob joins while revision 1 is sequenced but not stored: it might yet be sequenced again
    // (after another process's edit), so his `init` is the stored revision 0.
    room.join("bob").await;
    let log = &pipeline.log;
    assert_eq!(log.count("bob <- init 0"), 1, "{:#?}", log.entries());
    pipeline.answer(Answer::Store);
    log.wait_for("bob <- op 1").await;
    assert!(log.position("ada <- ack 1 ada-1") < log.position("bob <- op 1"), "{:#?}", log.entries());
    assert_eq!(log.count("bob <- op 1"), 1);
}

/// PROTOCOL.md 1.1, "Resuming": a participant that knew revision `since` gets what was stored
/// after it (from memory here), each with its `opId`, and nothing queued before what follows; a
/// `since` the room cannot serve gets `init` with `resumed: false`.
#[tokio::test]
async fn a_returning_participant_resumes_from_what_it_knew() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    for (base, op_id) in [(0, "ada-1"), (1, "ada-2"), (2, "ada-3")] {
        room.insert(ada, base, "a", op_id).await;
        pipeline.next_call().await;
        pipeline.answer(Answer::Store);
        pipeline.log.wait_for(&format!("ada <- ack {} {op_id}", base + 1)).await;
    }
    let (_, outcome) = room.join_since("bob", Some(1)).await;
    let JoinOutcome::Resumed(resumption) = outcome else { panic!("resumed") };
    let missed: Vec<(u64, Option<String>)> =
        resumption.missed.unwrap().into_iter().map(|op| (op.revision, op.op_id)).collect();
    assert_eq!(missed, [(2, Some("ada-2".to_owned())), (3, Some("ada-3".to_owned()))]);
    assert_eq!((resumption.since, resumption.through, resumption.users.len()), (1, 3, 2));
    assert_eq!(pipeline.log.count("bob <- init 3"), 0, "a resuming participant gets no init");
    // The next operation reaches it live, after what it missed.
    room.insert(ada, 3, "a", "ada-4").await;
    pipeline.next_call().await;
    pipeline.answer(Answer::Store);
    pipeline.log.wait_for("bob <- op 4").await;

    // A revision the room has not reached yet: a fresh start.
    let (_, outcome) = room.join_since("cy", Some(99)).await;
    assert!(matches!(outcome, JoinOutcome::Joined));
    assert_eq!(pipeline.log.count("cy <- init 4"), 1, "{:#?}", pipeline.log.entries());
}

/// An edit based further back than memory holds is sequenced over operations read from the store
/// (beside the room's other work), and acknowledged like any other.
#[tokio::test]
async fn an_edit_on_a_revision_memory_no_longer_holds_is_sequenced_over_the_stored_history() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    let bob = room.join("bob").await;
    let window = room_settings().history_window as u64;
    for base in 0..window + 6 {
        room.insert(ada, base, "a", &format!("ada-{base}")).await;
        pipeline.next_call().await;
        pipeline.answer(Answer::Store);
        pipeline.log.wait_for(&format!("ada <- ack {} ada-{base}", base + 1)).await;
    }
    // Bob never saw any of them: his edit is based on revision 0.
    room.insert(bob, 0, "b", "bob-1").await;
    let head = window + 6;
    assert_eq!(pipeline.next_call().await, [(room.id, head, vec![head + 1])]);
    pipeline.answer(Answer::Store);
    pipeline.log.wait_for(&format!("bob <- ack {} bob-1", head + 1)).await;
    let expected = format!("b{}", "a".repeat(head as usize));
    assert_eq!(pipeline.stored_text(room.id).await, expected, "transformed over every stored operation");
}

#[tokio::test]
async fn a_deleted_room_closes_everyone_drops_what_is_unsaved_and_stops() {
    let mut pipeline = Pipeline::new();
    let room = pipeline.open_room().await;
    let ada = room.join("ada").await;
    room.join("bob").await;
    room.insert(ada, 0, "a", "ada-1").await;
    pipeline.next_call().await;
    // Deleted while an append is in flight (the store would refuse it: the room is gone).
    let (reply, deleted) = oneshot::channel();
    room.send(Command::Deleted { reply }).await;
    tokio::time::timeout(PATIENCE, deleted).await.expect("answered").unwrap();
    tokio::time::timeout(PATIENCE, room.stopped).await.expect("the room stops").unwrap();
    pipeline.answer(Answer::Store);

    let log = &pipeline.log;
    let entries = log.entries();
    assert_eq!((log.count("ada closed: room deleted"), log.count("bob closed: room deleted")), (1, 1), "{entries:#?}");
    assert!(!entries.iter().any(|e| e.contains("ack") || e.contains("<- op")), "nothing follows: {entries:#?}");
}

/// What another process hears on the bus.
#[derive(Default)]
struct Heard(Mutex<Vec<BusNote>>);

impl pairpad_domain::BusListener for Heard {
    fn deliver(&self, note: BusNote) {
        self.0.lock().unwrap().push(note);
    }

    fn resync(&self) {}
}

impl Heard {
    /// The edits forwarded so far: (to, op id).
    fn forwarded(&self) -> Vec<(ProcessId, String)> {
        let notes = self.0.lock().unwrap();
        let edits = notes.iter().filter_map(|note| match &note.message {
            BusMessage::Edit { to, edit } => Some((*to, edit.op_id.clone().unwrap_or_default())),
            _ => None,
        });
        edits.collect()
    }

    /// The commit notices heard so far: (from, head).
    fn committed(&self) -> Vec<(ProcessId, u64)> {
        let notes = self.0.lock().unwrap();
        let notices = notes.iter().filter_map(|note| match note.message {
            BusMessage::Committed { head } => Some((note.origin, head)),
            _ => None,
        });
        notices.collect()
    }

    async fn wait_for_forwarded(&self, count: usize) -> Vec<(ProcessId, String)> {
        let deadline = Instant::now() + PATIENCE;
        while self.forwarded().len() < count {
            assert!(Instant::now() < deadline, "waited for {count} forwarded edits: {:?}", self.forwarded());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.forwarded()
    }

    /// Waits until a message heard so far matches `wanted`.
    async fn wait_for(&self, what: &str, wanted: impl Fn(&BusNote) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !self.0.lock().unwrap().iter().any(&wanted) {
            assert!(Instant::now() < deadline, "waited for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// `author`'s edit `op_id` on revision 0 loses the race for revision 1 to `leader`, which
/// announces it: the room follows `leader`, and forwards the edit there. Answers what was
/// forwarded so far.
async fn lose_the_first_race(
    pipeline: &mut Pipeline,
    room: &TestRoom,
    leader: ProcessId,
    heard: &Heard,
    author: UserId,
    op_id: &str,
) -> Vec<(ProcessId, String)> {
    room.insert(author, 0, "a", op_id).await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    store_theirs(pipeline, room.id, 1).await;
    let note = BusNote { room: room.id, origin: leader, message: BusMessage::Committed { head: 1 } };
    room.send(Command::Bus(note)).await;
    room.settle().await;
    pipeline.answer(Answer::Store);
    heard.wait_for_forwarded(1).await
}

/// Two processes' buses on one network, the first ordering before the second (so the second
/// follows the first), and what the first hears.
fn leader_and_follower() -> (Arc<LocalBus>, Arc<LocalBus>, Arc<Heard>) {
    use pairpad_domain::RoomBus;
    let network = LocalNetwork::default();
    let (mut leader, mut follower) = (network.join(), network.join());
    if follower.process() < leader.process() {
        std::mem::swap(&mut leader, &mut follower);
    }
    let heard = Arc::new(Heard::default());
    leader.subscribe(heard.clone());
    (Arc::new(leader), Arc::new(follower), heard)
}

/// A loaded room says so on the bus even with nobody in it (so that other processes keep
/// announcing their commits to it), and unloads once idle for `idle_unload`, however often
/// other processes' messages wake it meanwhile.
#[tokio::test]
async fn an_empty_room_speaks_of_itself_and_unloads_on_time_despite_the_bus() {
    use pairpad_domain::RoomBus;
    let pipeline = Pipeline::new();
    let network = LocalNetwork::default();
    let (here, there) = (Arc::new(network.join()), network.join());
    let heard = Arc::new(Heard::default());
    there.subscribe(heard.clone());
    let idle_unload = Duration::from_millis(400);
    // Before the room starts: it cannot have been idle for longer than this.
    let opened = Instant::now();
    let room = pipeline.open_room_on(RoomSettings { idle_unload, ..room_settings() }, false, here).await;
    heard.wait_for("an empty room's presence", |note| note.message == BusMessage::Present(Vec::new())).await;
    let mut stopped = room.stopped;
    loop {
        let cursor = BusMessage::Cursor {
            user: UserId::random(),
            revision: 0,
            selection: pairpad_domain::Selection { anchor: 0, head: 0 },
        };
        if room
            .commands
            .send(Command::Bus(BusNote { room: room.id, origin: there.process(), message: cursor }))
            .await
            .is_err()
        {
            break;
        }
        if tokio::time::timeout(Duration::from_millis(50), &mut stopped).await.is_ok() {
            break;
        }
        assert!(opened.elapsed() < PATIENCE, "the bus kept an idle room loaded");
    }
    assert!(opened.elapsed() >= idle_unload, "unloaded too soon: {:?}", opened.elapsed());
}

/// A room tells the other processes of each of its commits once it is stored, never before: only
/// committed work is announced.
#[tokio::test]
async fn a_room_announces_each_commit_once_it_is_stored() {
    use pairpad_domain::RoomBus;
    let mut pipeline = Pipeline::new();
    let network = LocalNetwork::default();
    let (here, there) = (Arc::new(network.join()), network.join());
    let heard = Arc::new(Heard::default());
    there.subscribe(heard.clone());
    let room = pipeline.open_room_on(room_settings(), false, here.clone()).await;
    // The room's first presence announcement (at once, then every `PRESENCE_INTERVAL`) repeats
    // its head too: let it pass first.
    heard.wait_for("the room's presence", |note| matches!(note.message, BusMessage::Present(_))).await;
    let ada = room.join("ada").await;
    room.insert(ada, 0, "a", "ada-1").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    room.settle().await;
    let announced = |head: u64| heard.committed().iter().filter(|&&notice| notice == (here.process(), head)).count();
    assert_eq!(announced(1), 0, "announced before it was stored: {:?}", heard.committed());
    pipeline.answer(Answer::Store);
    pipeline.log.wait_for("ada <- ack 1 ada-1").await;
    let after_commit = announced(1);
    assert_eq!(after_commit, 1, "{:?}", heard.committed());
    // Another process loads the room (it may have read the store before that commit): it is
    // told the head, as is one where someone joins.
    room.send(Command::Bus(BusNote { room: room.id, origin: there.process(), message: BusMessage::PresenceWanted }))
        .await;
    let joined = BusMessage::Joined(Participant::new(UserId::random(), "bea".into()));
    room.send(Command::Bus(BusNote { room: room.id, origin: there.process(), message: joined })).await;
    room.settle().await;
    assert_eq!(announced(1), after_commit + 2, "{:?}", heard.committed());
}

#[tokio::test]
async fn after_losing_a_race_a_room_forwards_its_edits_and_acknowledges_them_from_the_store() {
    use pairpad_domain::RoomBus;
    let mut pipeline = Pipeline::new();
    let (leader, follower, heard) = leader_and_follower();
    let room = pipeline.open_room_on(room_settings(), false, follower).await;
    let ada = room.join("ada").await;
    let bob = room.join("bob").await;
    // The leading process stores revision 1 first and announces it: Ada's commit conflicts, and
    // her edit is not raced again but forwarded to the winner; so is Bob's next one.
    let forwarded = lose_the_first_race(&mut pipeline, &room, leader.process(), &heard, ada, "ada-1").await;
    assert_eq!(forwarded, [(leader.process(), "ada-1".to_owned())]);
    room.insert(bob, 1, "b", "bob-1").await;
    let forwarded = heard.wait_for_forwarded(2).await;
    assert_eq!(forwarded[1], (leader.process(), "bob-1".to_owned()));
    // The leader stores Ada's edit and announces it: Ada gets her ack, Bob the operation.
    store_op(&pipeline, room.id, 2, "x", ada, "ada-1").await;
    let note = BusNote { room: room.id, origin: leader.process(), message: BusMessage::Committed { head: 2 } };
    room.send(Command::Bus(note)).await;
    let log = &pipeline.log;
    log.wait_for("bob <- op 2").await;
    assert_eq!((log.count("ada <- ack 2 ada-1"), log.count("ada <- op 2")), (1, 0), "{:#?}", log.entries());
    assert!(pipeline.calls.try_recv().is_err(), "nothing was committed here since the race");
    // Bob's edit is never stored by the leader (it went away): the room takes it back after
    // `FORWARD_TIMEOUT`, and commits it itself.
    let call = tokio::time::timeout(PATIENCE, pipeline.calls.recv()).await.expect("taken back").unwrap();
    assert_eq!(call, [(room.id, 2, vec![3])]);
    pipeline.answer(Answer::Store);
    log.wait_for("bob <- ack 3 bob-1").await;
    assert_eq!(log.count_starting("bob <- ack"), 1, "{:#?}", log.entries());
    assert_eq!(pipeline.stored_text(room.id).await, "bxz");
}

/// A flood of edits while following another process: beyond `MAX_EDITS_FORWARDED` waiting to be
/// found in the store, the room sequences them itself rather than keep more.
#[tokio::test]
async fn a_room_keeps_a_bounded_number_of_forwarded_edits() {
    use pairpad_domain::RoomBus;
    use pairpad_room::room::MAX_EDITS_FORWARDED;
    let mut pipeline = Pipeline::new();
    let (leader, follower, heard) = leader_and_follower();
    let room = pipeline.open_room_on(room_settings(), false, follower).await;
    let ada = room.join("ada").await;
    lose_the_first_race(&mut pipeline, &room, leader.process(), &heard, ada, "ada-0").await;
    for n in 1..MAX_EDITS_FORWARDED {
        room.insert(ada, 1, "a", &format!("ada-{n}")).await;
    }
    assert_eq!(heard.wait_for_forwarded(MAX_EDITS_FORWARDED).await.len(), MAX_EDITS_FORWARDED);
    assert!(pipeline.calls.try_recv().is_err(), "nothing raced yet");
    room.insert(ada, 1, "a", "one-too-many").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 1, vec![2])]);
    assert_eq!(heard.forwarded().len(), MAX_EDITS_FORWARDED);
}

/// The winner's notice may come after the conflict, and after the catch-up that read its commit:
/// the room still follows the process that announces the revision it raced for.
#[tokio::test]
async fn a_room_follows_the_winner_of_a_race_whose_notice_comes_late() {
    use pairpad_domain::RoomBus;
    let mut pipeline = Pipeline::new();
    let (leader, follower, heard) = leader_and_follower();
    let room = pipeline.open_room_on(room_settings(), false, follower).await;
    let ada = room.join("ada").await;
    room.insert(ada, 0, "a", "ada-1").await;
    assert_eq!(pipeline.next_call().await, [(room.id, 0, vec![1])]);
    store_theirs(&pipeline, room.id, 1).await;
    pipeline.answer(Answer::Store);
    // Conflict, catch-up: Ada's edit goes again on top, as revision 2, raced here.
    assert_eq!(pipeline.next_call().await, [(room.id, 1, vec![2])]);
    pipeline.answer(Answer::Store);
    pipeline.log.wait_for("ada <- ack 2 ada-1").await;
    // Now the winner's notice arrives, with a head this room has read already.
    let note = BusNote { room: room.id, origin: leader.process(), message: BusMessage::Committed { head: 1 } };
    room.send(Command::Bus(note)).await;
    room.insert(ada, 2, "b", "ada-2").await;
    assert_eq!(heard.wait_for_forwarded(1).await, [(leader.process(), "ada-2".to_owned())]);
    assert!(pipeline.calls.try_recv().is_err(), "not raced again");
}

#[tokio::test]
async fn an_edit_forwarded_to_this_process_is_sequenced_here_even_on_a_revision_read_later() {
    use pairpad_domain::RoomBus;
    let mut pipeline = Pipeline::new();
    let (leader, follower, _) = leader_and_follower();
    let room = pipeline.open_room_on(room_settings(), false, leader.clone()).await;
    room.join("ada").await;
    // A third process stored revision 1, which the follower read before this room did: the
    // forwarded edit waits for this room to catch up, then is sequenced and committed here.
    store_theirs(&pipeline, room.id, 1).await;
    let remote = UserId::random();
    let edit = |base: u64, op_id: &str| pairpad_domain::Edit {
        base_revision: base,
        operation: TextOperation::from_components(vec![
            Component::Insert("y".into()),
            Component::Retain(base as usize),
        ])
        .unwrap(),
        op_id: Some(op_id.into()),
        author: remote,
        author_name: "remote".into(),
    };
    let to_someone_else = BusMessage::Edit { to: follower.process(), edit: edit(1, "not-for-us") };
    room.send(Command::Bus(BusNote { room: room.id, origin: follower.process(), message: to_someone_else })).await;
    let to_us = BusMessage::Edit { to: leader.process(), edit: edit(1, "remote-1") };
    room.send(Command::Bus(BusNote { room: room.id, origin: follower.process(), message: to_us })).await;
    assert_eq!(pipeline.next_call().await, [(room.id, 1, vec![2])]);
    pipeline.answer(Answer::Store);
    let log = &pipeline.log;
    log.wait_for("ada <- op 2").await;
    assert_eq!(log.count("ada <- op 1"), 1, "{:#?}", log.entries());
    assert_eq!(pipeline.stored_text(room.id).await, "yz");
    assert!(pipeline.calls.try_recv().is_err(), "the edit for another process was ignored");
}
