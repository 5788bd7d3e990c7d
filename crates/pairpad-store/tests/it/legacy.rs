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

/// The migrations before access (PROTOCOL.md 1.1), for a store created by an older version.
const BEFORE_ACCESS: [(&str, &str, &str); 3] = [
    (
        "20261125000000",
        include_str!("../../../../migrations/sqlite/2026-11-25-000000_create_rooms/up.sql"),
        include_str!("../../../../migrations/postgres/2026-11-25-000000_create_rooms/up.sql"),
    ),
    (
        "20261126000000",
        include_str!("../../../../migrations/sqlite/2026-11-26-000000_op_ids_unique_in_the_domain/up.sql"),
        include_str!("../../../../migrations/postgres/2026-11-26-000000_op_ids_unique_in_the_domain/up.sql"),
    ),
    (
        "20261127000000",
        include_str!("../../../../migrations/sqlite/2026-11-27-000000_history_kept/up.sql"),
        include_str!("../../../../migrations/postgres/2026-11-27-000000_history_kept/up.sql"),
    ),
];

/// SQL that builds the schema as it was before access, marks those migrations as run, and
/// stores two rooms the old way.
fn old_store(sqlite: bool, rooms: [RoomId; 2]) -> String {
    let mut sql = String::from(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);\n",
    );
    for (version, sqlite_up, postgres_up) in BEFORE_ACCESS {
        sql.push_str(if sqlite { sqlite_up } else { postgres_up });
        sql.push_str(&format!("\nINSERT INTO __diesel_schema_migrations (version) VALUES ('{version}');\n"));
    }
    for room in rooms {
        sql.push_str(&format!(
            "INSERT INTO rooms (id, language, code, code_revision, created_at, updated_at) \
             VALUES ('{room}', 'rust', 'old', 0, 1700000000000, 1700000000000);\n\
             INSERT INTO checkpoints (room_id, revision, code) VALUES ('{room}', 0, 'old');\n"
        ));
    }
    sql
}

/// Rooms from before access get distinct, random view ids and no owner token, and still load.
async fn old_rooms_get_view_ids(repo: &dyn RoomRepo, rooms: [RoomId; 2]) {
    let mut view_ids = Vec::new();
    for room in rooms {
        let keys = repo.keys(room).await.expect("an old room is found");
        assert_eq!((keys.id, keys.owner_token_hash), (room, None));
        assert_ne!(keys.view_id, room);
        assert_eq!(keys.view_id.as_uuid().get_version_num(), 4, "a random UUID");
        assert_eq!(repo.keys(keys.view_id).await.expect("found by its view id").id, room);
        view_ids.push(keys.view_id);
        assert_eq!(repo.load(room).await.expect("loads").snapshot.code, "old");
    }
    assert_ne!(view_ids[0], view_ids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_gives_old_rooms_view_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rooms.db");
    let rooms = [RoomId::random(), RoomId::random()];
    let mut conn = diesel::sqlite::SqliteConnection::establish(path.to_str().expect("utf-8 path")).expect("connect");
    conn.batch_execute(&old_store(true, rooms)).expect("the old store");
    drop(conn);
    let repo = SqliteRepo::open(&path, OPTIONS).await.expect("open and migrate");
    old_rooms_get_view_ids(&repo, rooms).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gives_old_rooms_view_ids() {
    let Some(db) = TestDatabase::create().await else { return };
    let rooms = [RoomId::random(), RoomId::random()];
    let mut conn = AsyncPgConnection::establish(&db.url()).await.expect("connect");
    conn.batch_execute(&old_store(false, rooms)).await.expect("the old store");
    drop(conn);
    let repo = PostgresRepo::connect(&db.url(), OPTIONS).await.expect("connect and migrate");
    old_rooms_get_view_ids(&repo, rooms).await;
    drop(repo);
    db.drop_database().await;
}
