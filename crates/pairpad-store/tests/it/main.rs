//! The `RoomRepo` contract, run unchanged against every adapter: in memory, SQLite in a temporary
//! file, and PostgreSQL in a fresh database per test (when `PAIRPAD_TEST_POSTGRES` is set).

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

mod contract;

use std::sync::Arc;

use pairpad_domain::RoomRepo;
use pairpad_store::testing::TestDatabase;
use pairpad_store::{Durability, MemoryRepo, PostgresRepo, SqliteRepo, StoreOptions};

const OPTIONS: StoreOptions = StoreOptions { pool_size: 4, durability: Durability::Disk };

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
    a_batch_across_rooms_is_all_or_nothing,
    an_op_id_is_unique_within_a_room,
    snapshots_bound_what_load_replays,
    ops_since_reads_in_order_with_a_limit,
    language_changes_are_stored,
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
