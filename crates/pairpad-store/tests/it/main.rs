//! The `RoomRepo` contract, run unchanged against every adapter: in memory, SQLite in a temporary
//! file, and PostgreSQL in a fresh database per test (when `PAIRPAD_TEST_POSTGRES` is set).

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod bus;
mod contract;
mod legacy;

use std::sync::Arc;

use pairpad_domain::{Committed, RoomRepo};
use pairpad_store::testing::TestDatabase;
use pairpad_store::{Durability, MemoryRepo, PostgresRepo, SqliteRepo, StoreOptions};

pub(crate) const OPTIONS: StoreOptions = StoreOptions { pool_size: 4, durability: Durability::Disk };

/// Runs `check` against a fresh repo of the adapter and cleans up after it.
async fn with_memory(check: impl AsyncFnOnce(Arc<dyn RoomRepo>)) {
    check(Arc::new(MemoryRepo::new())).await;
}

async fn with_sqlite(check: impl AsyncFnOnce(Arc<dyn RoomRepo>)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = SqliteRepo::open(&dir.path().join("rooms.db"), OPTIONS).await.expect("open sqlite");
    check(Arc::new(repo)).await;
}

async fn with_postgres(check: impl AsyncFnOnce(Arc<dyn RoomRepo>)) {
    let Some(db) = TestDatabase::create().await else { return };
    let repo = PostgresRepo::connect(&db.url(), OPTIONS).await.expect("connect postgres");
    check(Arc::new(repo)).await;
    db.drop_database().await;
}

/// Declares one test per adapter for each contract check.
macro_rules! contract_tests {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { crate::with_memory(crate::contract::$check).await }) *
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { crate::with_sqlite(crate::contract::$check).await }) *
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() { crate::with_postgres(crate::contract::$check).await }) *
        }
    };
}

contract_tests!(
    created_rooms_load_back_exactly,
    ids_are_unique,
    unknown_rooms_are_not_found,
    commits_append_operations_and_move_the_revision,
    a_stale_expected_revision_is_a_conflict,
    a_conflict_leaves_out_only_its_room,
    a_conflict_names_the_rooms_that_conflicted,
    op_ids_are_kept_for_the_room_to_judge,
    snapshots_bound_what_load_replays,
    every_revision_is_kept_with_checkpoints,
    history_points_summarise_runs_of_revisions,
    old_operations_are_forgotten_behind_the_latest_snapshot,
    ops_since_reads_in_order_with_a_limit,
    ops_since_each_answers_every_read_in_order,
    language_changes_are_stored,
    text_with_nul_is_rejected_for_good,
    rooms_are_found_by_id_or_view_id,
    idle_rooms_count_joins_and_edits,
    deleting_a_room_removes_all_of_it,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_rooms_across_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/folder/rooms.db");
    let id = {
        let repo = SqliteRepo::open(&path, OPTIONS).await.expect("open");
        contract::create_room(&repo, "keep me 🦀").await
    };
    let repo = SqliteRepo::open(&path, OPTIONS).await.expect("reopen");
    assert_eq!(repo.load(id).await.expect("load").snapshot.code, "keep me 🦀");
}

/// One repo at a time per file: a second open is refused while the first lives (it would be
/// another process in production), and allowed again once the first is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_a_second_open_of_one_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rooms.db");
    let first = SqliteRepo::open(&path, OPTIONS).await.expect("open");
    let refused = SqliteRepo::open(&path, OPTIONS).await.err().expect("a second open is refused");
    let message = refused.to_string();
    assert!(message.contains("another pairpad-server is already using"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    drop(first);
    SqliteRepo::open(&path, OPTIONS).await.expect("open again once the first is closed");
}

/// Commits only append to the write-ahead log; the pages reach the database file through the
/// background checkpoint, long before the commit connection's own threshold (4,000 pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_checkpoints_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rooms.db");
    let repo = SqliteRepo::open(&path, OPTIONS).await.expect("open");
    let id = contract::create_room(&repo, "").await;
    let chunk = "x".repeat(2048);
    for revision in 1..=200 {
        let op = contract::append_op(revision, (revision as usize - 1) * chunk.len(), &chunk, None);
        assert_eq!(
            repo.commit(&[contract::append(id, revision - 1, vec![op])]).await,
            Ok(Committed::default()),
            "commit"
        );
    }
    // 400 KiB of text: about 100 pages, far below the commit connection's threshold.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&path).expect("database file").len() < 400 * 1024 {
        assert!(std::time::Instant::now() < deadline, "the log was never copied into the database file");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(repo.load(id).await.expect("load").revision, 200);
}

/// Two processes' batches racing for some rooms' next revisions, in opposite orders: each raced
/// room goes, whole, to exactly one of them (the other names it a conflict and stores the rest of
/// its batch), nothing is mixed or lost, and neither waits on the other for long (batches claim
/// rooms in one order, so they never deadlock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writers_racing_for_rooms_each_store_a_room_whole() {
    let Some(db) = TestDatabase::create().await else { return };
    let first = PostgresRepo::connect(&db.url(), OPTIONS).await.expect("connect");
    let second = PostgresRepo::connect(&db.url(), OPTIONS).await.expect("connect");
    let mut rooms = Vec::new();
    for _ in 0..12 {
        rooms.push(contract::create_room(&first, "").await);
    }
    // Each writer appends two operations to every room, each with its own author.
    let batch = |rooms: &[pairpad_domain::RoomId], head: u64, text: &str| -> Vec<pairpad_domain::Append> {
        let ops = |text: &str| {
            vec![contract::append_op(head + 1, 0, text, None), contract::append_op(head + 2, 1, text, None)]
        };
        rooms.iter().map(|room| contract::append(*room, head, ops(text))).collect()
    };
    // The first writer's rooms are the first eight, the second's the last eight, in reverse: four
    // rooms are raced for.
    let (firsts, mut seconds) = (rooms[..8].to_vec(), rooms[4..].to_vec());
    seconds.reverse();
    for round in 0..25 {
        let head = 2 * round;
        let started = std::time::Instant::now();
        let (ours, theirs) = (batch(&firsts, head, "a"), batch(&seconds, head, "b"));
        let (a, b) = tokio::join!(first.commit(&ours), second.commit(&theirs));
        let (a, b) = (a.expect("first writer"), b.expect("second writer"));
        assert!(started.elapsed() < std::time::Duration::from_millis(900), "round {round} waited for a deadlock check");
        for room in &rooms {
            let (by_a, by_b) = (firsts.contains(room) && a.stored(*room), seconds.contains(room) && b.stored(*room));
            assert!(by_a != by_b, "round {round}: exactly one writer stores room {room}");
            let ops = first.ops_since(*room, head, 10).await.expect("read");
            let texts: Vec<String> = ops.iter().map(|op| format!("{:?}", op.operation)).collect();
            assert_eq!(ops.iter().map(|op| op.revision).collect::<Vec<_>>(), [head + 1, head + 2]);
            assert_eq!(ops[0].author_name, ops[1].author_name);
            let writer = if by_a { "\"a\"" } else { "\"b\"" };
            assert!(texts.iter().all(|text| text.contains(writer)), "round {round}: one writer's ops whole: {texts:?}");
        }
    }
    drop((first, second));
    db.drop_database().await;
}
