//! Resuming (PROTOCOL.md 1.1, "Resuming"), through the Rust client: a client that reconnects with
//! `?since=R` gets exactly the operations it missed, recognises its own among them as its ack and
//! converges; when the server cannot resume it answers `init` with `resumed: false`, and the
//! client's diff-rebase keeps its offline work. Offline work on both sides ends up present once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use pairpad_client::{Client, Event, Rejoined};

use crate::helpers::{PATIENCE, Rng, Store, TestApp, spawn_app, spawn_app_with, test_settings};

/// The room's head revision as the server reports it.
async fn head(app: &TestApp, room: &str) -> u64 {
    let (status, body) = app.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(status, 200, "{body}");
    body["revision"].as_u64().expect("revision")
}

/// Reads events until the client has seen `revision`.
async fn catch_up(client: &mut Client, revision: u64) {
    while client.doc().revision() < revision {
        if let Event::Error { code, message } = client.next_event_within(PATIENCE).await.expect("event") {
            panic!("server error {code}: {message}");
        }
    }
}

/// `count` operations, each acknowledged before the next so that each is a revision of its own.
/// Every one inserts a line of its own (`{tag}{i} …\n`) at the start of a random line, so no line
/// is ever split and each can be counted.
async fn type_lines(client: &mut Client, tag: &str, count: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut lines = Vec::with_capacity(count);
    for i in 0..count {
        let line = format!("{tag}{i} 🦀 漢字\n");
        let position = line_start(&client.text(), &mut rng);
        client.splice(position, 0, &line).await.expect("edit");
        if !client.is_offline() {
            client.sync(PATIENCE).await.expect("ack");
        }
        lines.push(line);
    }
    lines
}

/// The position (in chars) of the start of a random line of `text`.
fn line_start(text: &str, rng: &mut Rng) -> usize {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.chars().enumerate().filter(|(_, c)| *c == '\n').map(|(i, _)| i + 1))
        .filter(|&i| i <= text.chars().count())
        .collect();
    starts[rng.below(starts.len())]
}

/// Every line of `expected` is in `text` exactly once.
fn assert_each_line_once(text: &str, expected: &[String]) {
    let present: Vec<&str> = text.split_inclusive('\n').collect();
    let unique: HashSet<&str> = present.iter().copied().collect();
    assert_eq!(unique.len(), present.len(), "no line twice");
    for line in expected {
        assert!(unique.contains(line.as_str()), "{line:?} is missing from {text}");
    }
}

/// (a) A client misses 1,000 operations, its own in-flight one among them, and resumes: exactly
/// the missed ones arrive, in order, its own one as its ack; it converges.
async fn missed_operations_arrive_once_and_ours_is_the_ack(store: Store) {
    const MISSED: u64 = 1_000;
    let Some(app) = spawn_app(store).await else { return };
    let room = app.create_room("rust", "fn main() {}\n").await;
    let mut late = app.connect(&room, "late").await;
    let mut typists = Vec::new();
    for i in 0..4 {
        typists.push(app.connect(&room, &format!("typist {i}")).await);
    }
    // In flight when the connection goes: committed as revision 1, its ack never read.
    late.splice(0, 0, "// mine 🦀\n").await.unwrap();
    let in_flight = late.doc().outstanding().expect("in flight").op_id.clone();
    late.go_offline().await;
    catch_up(&mut typists[0], 1).await;
    // Typed offline, behind it.
    late.splice(0, 0, "// offline 漢字\n").await.unwrap();
    let per_typist = (MISSED as usize - 1) / typists.len();
    let rest = MISSED as usize - 1 - per_typist * typists.len();
    let typed = join_all(typists.iter_mut().enumerate().map(|(i, typist)| async move {
        catch_up(typist, 1).await;
        type_lines(typist, &format!("t{i}-"), per_typist + usize::from(i < rest), i as u64 + 1).await
    }))
    .await;
    assert_eq!(head(&app, &room).await, MISSED);

    let started = Instant::now();
    late.reconnect().await.expect("resume");
    let (mut remote, mut acks, mut duplicates) = (Vec::new(), Vec::new(), 0);
    while !late.doc().is_synchronized() || late.doc().revision() < MISSED {
        match late.next_event_within(PATIENCE).await.expect("event") {
            Event::Remote { revision, .. } => remote.push(revision),
            Event::Ack { revision, op_id } => acks.push((revision, op_id)),
            Event::Duplicate { .. } => duplicates += 1,
            Event::Error { code, message } => panic!("server error {code}: {message}"),
            _ => {}
        }
    }
    let converged = started.elapsed();
    eprintln!("{store:?}: resumed after {MISSED} missed operations, converged in {converged:?}");
    assert_eq!(remote, (2..=MISSED).collect::<Vec<_>>(), "exactly the missed ones, in order, once");
    assert_eq!(acks.first(), Some(&(1, Some(in_flight))), "our own operation among them is its ack");
    assert_eq!(acks.len(), 2, "then the offline edit's ack: {acks:?}");
    assert_eq!(acks[1].0, MISSED + 1);
    // The re-sent operation may be acknowledged again (with revision 1): ignored.
    for event in late.drain(Duration::from_millis(200)).await.unwrap() {
        assert!(matches!(event, Event::Duplicate { revision: 1, .. }), "{event:?}");
        duplicates += 1;
    }
    assert!(duplicates <= 1, "{duplicates} duplicate acks");
    let code = app.room_code(&room).await;
    assert_eq!(late.text(), code, "converged");
    let mut expected: Vec<String> = typed.into_iter().flatten().collect();
    expected.extend(["// mine 🦀\n".to_owned(), "// offline 漢字\n".to_owned()]);
    assert_each_line_once(&code, &expected);
    assert_eq!(code.split_inclusive('\n').count(), expected.len() + 1);
    for typist in &mut typists {
        typist.drain(Duration::from_millis(100)).await.unwrap();
        assert_eq!(typist.text(), code);
    }
    app.stop().await;
}

#[actix_web::test]
async fn missed_operations_arrive_once_and_ours_is_the_ack_memory() {
    missed_operations_arrive_once_and_ours_is_the_ack(Store::Memory).await;
}

#[actix_web::test]
async fn missed_operations_arrive_once_and_ours_is_the_ack_sqlite() {
    missed_operations_arrive_once_and_ours_is_the_ack(Store::Sqlite).await;
}

#[actix_web::test]
async fn missed_operations_arrive_once_and_ours_is_the_ack_postgres() {
    missed_operations_arrive_once_and_ours_is_the_ack(Store::Postgres).await;
}

/// (c) Offline for a long time (the server restarts meanwhile) with edits on both sides, then
/// back: both sides' work is present exactly once, and everyone converges.
async fn long_offline_work_on_both_sides_survives_once(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let room = app.create_room("python", "print('hi')\n").await;
    let mut away = app.connect(&room, "away").await;
    let mut here = app.connect(&room, "here").await;
    let mut expected = type_lines(&mut here, "before-", 20, 1).await;
    catch_up(&mut away, 20).await;
    away.go_offline().await;
    expected.extend(type_lines(&mut away, "away-", 300, 2).await);
    expected.extend(type_lines(&mut here, "here-", 150, 3).await);
    // The server restarts (same store); the one online reconnects and goes on.
    let store_url = app.store_url.clone();
    let stopped = app.stop_keeping_store().await;
    let app = TestApp::restart(test_settings(&store_url)).await;
    let mut here = reconnected(here, &app).await;
    expected.extend(type_lines(&mut away, "away-later-", 300, 4).await);
    expected.extend(type_lines(&mut here, "here-later-", 150, 5).await);

    away.reconnect_to(&app.ws_base()).await.expect("back online");
    away.sync(PATIENCE).await.expect("offline work acknowledged");
    here.drain(Duration::from_millis(200)).await.unwrap();
    away.drain(Duration::from_millis(200)).await.unwrap();
    let code = app.room_code(&room).await;
    assert_each_line_once(&code, &expected);
    assert_eq!(code.split_inclusive('\n').count(), expected.len() + 1, "and nothing else but the first line");
    assert_eq!(away.text(), code);
    assert_eq!(here.text(), code);
    app.stop_keeping_store().await;
    stopped.drop_database().await;
}

/// `client`, reconnected to `app` (after a restart) and caught up.
async fn reconnected(mut client: Client, app: &TestApp) -> Client {
    client.reconnect_to(&app.ws_base()).await.expect("reconnect");
    client.sync(PATIENCE).await.expect("sync");
    client
}

#[actix_web::test]
async fn long_offline_work_on_both_sides_survives_once_sqlite() {
    long_offline_work_on_both_sides_survives_once(Store::Sqlite).await;
}

#[actix_web::test]
async fn long_offline_work_on_both_sides_survives_once_postgres() {
    long_offline_work_on_both_sides_survives_once(Store::Postgres).await;
}

/// (b) Resuming from before the kept history: the store forgot the operations behind the room's
/// latest snapshot (the retention of `history.keep_days`), so the server answers `init` with
/// `resumed: false`, and the client's diff-rebase keeps its offline work, once.
async fn beyond_the_kept_history_offline_work_is_rebased(store: Store) {
    let Some(app) = spawn_app_with(store, |settings| settings.rooms.snapshot_every = 5).await else { return };
    let room = app.create_room("rust", "fn main() {}\n").await;
    let mut away = app.connect(&room, "away").await;
    let mut here = app.connect(&room, "here").await;
    let mut expected = type_lines(&mut here, "before-", 3, 1).await;
    catch_up(&mut away, 3).await;
    away.go_offline().await;
    let offline = type_lines(&mut away, "away-", 50, 2).await;
    expected.extend(offline.iter().cloned());
    expected.extend(type_lines(&mut here, "here-", 40, 3).await);
    let store_url = app.store_url.clone();
    let stopped = app.stop_keeping_store().await;
    forget_old_operations(&store_url).await;
    let app = TestApp::restart(test_settings(&store_url)).await;
    let mut here = reconnected(here, &app).await;

    let rejoined = away.reconnect_to(&app.ws_base()).await.expect("back online");
    assert_eq!(rejoined, Rejoined::Restarted { rebased: true }, "revision 3 is no longer kept");
    away.sync(PATIENCE).await.expect("the rebased work acknowledged");
    here.drain(Duration::from_millis(200)).await.unwrap();
    away.drain(Duration::from_millis(200)).await.unwrap();
    let code = app.room_code(&room).await;
    assert_each_line_once(&code, &expected);
    assert_eq!(code.split_inclusive('\n').count(), expected.len() + 1);
    assert_eq!(away.text(), code);
    assert_eq!(here.text(), code);
    app.stop_keeping_store().await;
    stopped.drop_database().await;
}

/// Deletes every operation the retention may delete (those behind each room's latest snapshot),
/// with the server stopped.
async fn forget_old_operations(store_url: &str) {
    let url = pairpad_store::StoreUrl::parse(store_url).unwrap();
    let options = pairpad_store::StoreOptions { pool_size: 1, durability: pairpad_store::Durability::Disk };
    let repo = pairpad_store::connect(&url, options).await.unwrap().repo;
    let forgotten = repo.forget_operations(pairpad_domain::Timestamp(i64::MAX), 100_000).await.unwrap();
    assert!(forgotten >= 35, "forgot {forgotten} operations");
}

#[actix_web::test]
async fn beyond_the_kept_history_offline_work_is_rebased_sqlite() {
    beyond_the_kept_history_offline_work_is_rebased(Store::Sqlite).await;
}

#[actix_web::test]
async fn beyond_the_kept_history_offline_work_is_rebased_postgres() {
    beyond_the_kept_history_offline_work_is_rebased(Store::Postgres).await;
}

/// (b) A revision newer than the room (its database was restored from a backup): `init` with
/// `resumed: false`; the client's offline work is rebased onto the restored text, once, and
/// those that had nothing pending simply adopt it.
#[actix_web::test]
async fn a_revision_newer_than_the_room_gets_a_fresh_init_and_offline_work_is_rebased() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let room = app.create_room("rust", "fn main() {}\n").await;
    let mut away = app.connect(&room, "away").await;
    let mut here = app.connect(&room, "here").await;
    let kept = type_lines(&mut here, "kept-", 5, 1).await;
    let store_url = app.store_url.clone();
    let database = std::path::PathBuf::from(store_url.trim_start_matches("sqlite://"));
    let stopped = app.stop_keeping_store().await;
    let backup = tempfile::tempdir().unwrap().keep().join("backup.db");
    closed_sqlite(&database).await;
    std::fs::copy(&database, &backup).unwrap();
    let app = TestApp::restart(test_settings(&store_url)).await;
    let mut here = reconnected(here, &app).await;
    away.reconnect_to(&app.ws_base()).await.unwrap();
    let lost = type_lines(&mut here, "lost-", 10, 2).await;
    catch_up(&mut away, 15).await;
    away.go_offline().await;
    let offline = type_lines(&mut away, "away-", 30, 3).await;
    app.stop_keeping_store().await;
    closed_sqlite(&database).await;
    std::fs::copy(&backup, &database).unwrap();
    std::fs::remove_dir_all(backup.parent().unwrap()).unwrap();
    let app = TestApp::restart(test_settings(&store_url)).await;
    assert_eq!(head(&app, &room).await, 5, "the restored room");

    assert_eq!(here.reconnect_to(&app.ws_base()).await.unwrap(), Rejoined::Restarted { rebased: false });
    let rejoined = away.reconnect_to(&app.ws_base()).await.expect("back online");
    assert_eq!(rejoined, Rejoined::Restarted { rebased: true }, "revision 15 is newer than the room");
    away.sync(PATIENCE).await.expect("the rebased work acknowledged");
    here.drain(Duration::from_millis(200)).await.unwrap();
    away.drain(Duration::from_millis(200)).await.unwrap();
    let code = app.room_code(&room).await;
    let expected: Vec<String> = kept.into_iter().chain(offline).collect();
    assert_each_line_once(&code, &expected);
    assert_eq!(code.split_inclusive('\n').count(), expected.len() + 1, "the lost lines stay lost");
    assert!(lost.iter().all(|line| !code.contains(line.as_str())));
    assert_eq!(away.text(), code);
    assert_eq!(here.text(), code);
    app.stop_keeping_store().await;
    stopped.drop_database().await;
}

/// Makes the database file alone hold everything, so it may be copied: once every connection is
/// closed the last one has folded the log into it and deleted it. A connection of the stopped
/// server may outlive it for a while (the writer is gone: `stop_keeping_store` waited for that),
/// so the log is folded in by a connection of our own, until it is empty.
async fn closed_sqlite(database: &std::path::Path) {
    use diesel::connection::SimpleConnection;
    let log = std::path::PathBuf::from(format!("{}-wal", database.display()));
    let deadline = Instant::now() + PATIENCE;
    loop {
        if std::fs::metadata(&log).map_or(true, |log| log.len() == 0) {
            return;
        }
        let path = database.to_str().expect("a UTF-8 path");
        if let Ok(mut connection) = <diesel::SqliteConnection as diesel::Connection>::establish(path) {
            let _ = connection.batch_execute("PRAGMA busy_timeout = 1000; PRAGMA wal_checkpoint(TRUNCATE);");
        }
        assert!(Instant::now() < deadline, "the database's log cannot be folded into it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
