//! The PostgreSQL bus: a lone process announces no commit; once another process listens, commit
//! notices and presence cross; each process catches its rooms up once the other's hello lists it,
//! and again when the other falls silent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::StreamExt;
use pairpad_domain::{
    Append, BusListener, BusMessage, BusNote, Committed, CommittedOp, Language, NewRoom, Participant, RoomBus, RoomId,
    RoomRepo, TextOperation, Timestamp, UserId,
};
use pairpad_store::PostgresRepo;
use pairpad_store::testing::TestDatabase;

use crate::OPTIONS;

#[derive(Default)]
struct Recorder {
    notes: Mutex<Vec<BusNote>>,
    resyncs: Mutex<usize>,
}

impl BusListener for Recorder {
    fn deliver(&self, note: BusNote) {
        self.notes.lock().unwrap().push(note);
    }

    fn resync(&self) {
        *self.resyncs.lock().unwrap() += 1;
    }
}

impl Recorder {
    async fn wait_for(&self, what: &str, found: impl Fn(&Recorder) -> bool) {
        for _ in 0..100 {
            if found(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("waited 5 s for {what}");
    }
}

async fn append(repo: &PostgresRepo, room: RoomId, revision: u64) {
    let op = CommittedOp {
        revision,
        operation: {
            let mut operation = TextOperation::new();
            operation.insert("x").unwrap().retain(revision as usize - 1).unwrap();
            operation
        },
        op_id: None,
        author: UserId::random(),
        author_name: "Ada".into(),
        at: Timestamp(0),
    };
    let append = Append { room, expected_revision: revision - 1, ops: vec![op], snapshot: None };
    assert_eq!(repo.commit(&[append]).await, Ok(Committed::default()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_announced_only_while_another_process_listens() {
    let Some(db) = TestDatabase::create().await else { return };
    let mut watcher = AsyncPgConnection::establish(&db.url()).await.unwrap();
    watcher.batch_execute(&format!("LISTEN {}", pairpad_store::pg_bus::COMMITS_CHANNEL)).await.unwrap();

    let repo_a = PostgresRepo::connect(&db.url(), OPTIONS).await.unwrap();
    let (bus_a, heard_by_a) = (repo_a.bus(), Arc::new(Recorder::default()));
    bus_a.subscribe(heard_by_a.clone());
    let room = RoomId::random();
    let new = NewRoom {
        id: room,
        language: Language::plaintext(),
        code: String::new(),
        created_at: Timestamp(0),
        view_id: RoomId::random(),
        owner_token_hash: None,
    };
    repo_a.create(&new).await.unwrap();
    heard_by_a.wait_for("a's bus to connect", |r| *r.resyncs.lock().unwrap() >= 1).await;
    append(&repo_a, room, 1).await;
    bus_a.publish(room, BusMessage::Committed { head: 1 });
    let alone =
        tokio::time::timeout(Duration::from_millis(500), std::pin::pin!(watcher.notifications_stream()).next()).await;
    assert!(alone.is_err(), "a lone process announces nothing: {alone:?}");

    let repo_b = PostgresRepo::connect(&db.url(), OPTIONS).await.unwrap();
    let (bus_b, heard_by_b) = (repo_b.bus(), Arc::new(Recorder::default()));
    bus_b.subscribe(heard_by_b.clone());
    // Each catches up once the other's hello lists it (after the one at connecting).
    heard_by_b.wait_for("b to catch up after a heard it", |r| *r.resyncs.lock().unwrap() >= 2).await;
    heard_by_a.wait_for("a to catch up after b heard it", |r| *r.resyncs.lock().unwrap() >= 2).await;

    // A commit is announced only for a room another process has spoken of (it may have it).
    append(&repo_a, room, 2).await;
    bus_a.publish(room, BusMessage::Committed { head: 2 });
    bus_b.publish(room, BusMessage::PresenceWanted);
    heard_by_a
        .wait_for("b loading the room", |r| {
            r.notes.lock().unwrap().iter().any(|n| n.message == BusMessage::PresenceWanted)
        })
        .await;
    append(&repo_a, room, 3).await;
    bus_a.publish(room, BusMessage::Committed { head: 3 });
    heard_by_b
        .wait_for("a's commit notice", |r| {
            r.notes.lock().unwrap().iter().any(|n| n.room == room && n.message == BusMessage::Committed { head: 3 })
        })
        .await;
    let notice =
        tokio::time::timeout(Duration::from_secs(5), std::pin::pin!(watcher.notifications_stream()).next()).await;
    let notice = notice.expect("announced").expect("a notice").unwrap();
    assert!(
        notice.payload.starts_with(&format!("{room} 3 ")),
        "the first notice is the shared room's: {}",
        notice.payload
    );
    assert!(
        !heard_by_a.notes.lock().unwrap().iter().any(|n| matches!(n.message, BusMessage::Committed { .. })),
        "a process does not hear its own commits"
    );

    let participant = Participant::new(UserId::random(), "bea".into());
    bus_b.publish(room, BusMessage::Joined(participant.clone()));
    heard_by_a
        .wait_for("b's presence", |r| {
            r.notes.lock().unwrap().iter().any(|n| n.message == BusMessage::Joined(participant.clone()))
        })
        .await;

    // An edit forwarded to a process arrives whole, odd characters and all.
    let mut operation = TextOperation::new();
    operation.retain(2).unwrap().insert("é🦀\"\n\u{7f}").unwrap().delete(1).unwrap();
    let edit = pairpad_domain::Edit {
        base_revision: 2,
        operation,
        op_id: Some("bea-1".into()),
        author: participant.user_id,
        author_name: "bea".into(),
    };
    let forwarded = BusMessage::Edit { to: bus_a.process(), edit };
    bus_b.publish(room, forwarded.clone());
    heard_by_a.wait_for("b's forwarded edit", |r| r.notes.lock().unwrap().iter().any(|n| n.message == forwarded)).await;

    db.drop_database().await;
}

/// A process that dies between a commit and its notice leaves that commit unannounced: the others
/// catch their rooms up once it has been silent for the peers' time to live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_catches_its_rooms_up_when_another_falls_silent() {
    let Some(db) = TestDatabase::create().await else { return };
    let repo = PostgresRepo::connect(&db.url(), OPTIONS).await.unwrap();
    let (bus, heard) = (repo.bus(), Arc::new(Recorder::default()));
    bus.subscribe(heard.clone());
    heard.wait_for("the bus to connect", |r| *r.resyncs.lock().unwrap() >= 1).await;
    // Another process says hello once, listing this one (which catches up: it announces its
    // commits from now on), and is never heard again.
    let mut other = AsyncPgConnection::establish(&db.url()).await.unwrap();
    let hello = format!("hello {} {}", uuid::Uuid::new_v4(), bus.process().as_uuid());
    other
        .batch_execute(&format!("SELECT pg_notify('{}', '{hello}')", pairpad_store::pg_bus::PRESENCE_CHANNEL))
        .await
        .unwrap();
    heard.wait_for("the catch-up when the other process listed this one", |r| *r.resyncs.lock().unwrap() >= 2).await;
    let heard_at = std::time::Instant::now();
    let patience = pairpad_store::pg_bus::PEER_TTL + 2 * pairpad_store::pg_bus::HEARTBEAT;
    while *heard.resyncs.lock().unwrap() < 3 {
        assert!(heard_at.elapsed() < patience, "no catch-up after the other process fell silent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(heard_at.elapsed() >= pairpad_store::pg_bus::PEER_TTL / 2, "caught up before the other went silent");

    // A dropped bus closes its listening connection rather than reconnect for ever (each
    // connection would catch the rooms up again).
    drop(bus);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let resyncs = *heard.resyncs.lock().unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(*heard.resyncs.lock().unwrap(), resyncs, "the dropped bus reconnected");
    db.drop_database().await;
}
