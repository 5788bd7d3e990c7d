//! Rows written by older versions still load. Before operation lengths were checked, a delete whose
//! count wrapped around to zero was stored as `0` (`[0,5]` on a five-character document): such a
//! room must load, its zero read as the no-op it always was.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use pairpad_domain::{Component, Room, RoomId, RoomLimits, RoomRepo, TextOperation, UserId};
use pairpad_store::testing::TestDatabase;
use pairpad_store::{PostgresRepo, SqliteRepo};

use crate::OPTIONS;
use crate::contract::create_room;

/// What the old code stored for `[-9223372036854775808,-9223372036854775808,5]` on "hello".
const WRAPPED: &str = "[0,5]";

fn insert_wrapped_op(room: RoomId) -> String {
    format!(
        "INSERT INTO operations (room_id, revision, operation, op_id, user_id, created_at) \
         VALUES ('{room}', 1, '{WRAPPED}', NULL, '{}', 1700000000001)",
        UserId::random()
    )
}

async fn loads_as_a_no_op(repo: &dyn RoomRepo, id: RoomId) {
    let stored = repo.load(id).await.expect("a room with a stored zero loads");
    assert_eq!(stored.revision, 1);
    let [op] = stored.ops_after_snapshot.as_slice() else { panic!("one operation expected") };
    assert_eq!(op.operation, TextOperation::from_components([Component::Retain(5)]).unwrap());
    let room = Room::restore(stored, RoomLimits { max_document_chars: 4 * 1024 * 1024, history_window: 1024 })
        .expect("the room restores");
    assert_eq!((room.text().as_str(), room.revision()), ("hello", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loads_a_stored_zero_component() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rooms.db");
    let repo = SqliteRepo::open(&path, OPTIONS).await.expect("open sqlite");
    let id = create_room(&repo, "hello").await;
    let mut conn = diesel::sqlite::SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connect");
    conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; {}", insert_wrapped_op(id))).expect("insert the old row");
    loads_as_a_no_op(&repo, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loads_a_stored_zero_component() {
    let Some(db) = TestDatabase::create().await else { return };
    let repo = PostgresRepo::connect(&db.url(), OPTIONS).await.expect("connect postgres");
    let id = create_room(&repo, "hello").await;
    let mut conn = AsyncPgConnection::establish(&db.url()).await.expect("connect");
    conn.batch_execute(&insert_wrapped_op(id)).await.expect("insert the old row");
    loads_as_a_no_op(&repo, id).await;
    drop(repo);
    db.drop_database().await;
}
