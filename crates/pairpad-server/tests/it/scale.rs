//! Several server processes on one PostgreSQL database (scale-out): clients spread over them
//! converge, a killed process loses no acknowledged edit, presence crosses processes and expires
//! with a dead one, and a process whose listening connection is cut catches up. Real processes,
//! a fresh database per test; skipped unless `PAIRPAD_TEST_POSTGRES` is set.

use std::time::{Duration, Instant};

use pairpad_client::{Client, Event};
use pairpad_store::testing::TestDatabase;

use crate::helpers::{PATIENCE, Rng};
use crate::process::{ServerProcess, Typed, assert_each_token_once, create_room, free_port, start_server, type_tokens};

/// `count` server processes on one fresh database, with their ports.
async fn cluster(db: &TestDatabase, count: usize) -> Vec<(ServerProcess, u16)> {
    let mut servers = Vec::new();
    for _ in 0..count {
        let port = free_port();
        servers.push((start_server(&db.url(), port).await, port));
    }
    servers
}

fn ws(port: u16) -> String {
    format!("ws://127.0.0.1:{port}")
}

async fn room_code(http: &reqwest::Client, port: u16, room: &str) -> String {
    let view: serde_json::Value =
        http.get(format!("http://127.0.0.1:{port}/api/rooms/{room}")).send().await.unwrap().json().await.unwrap();
    view["code"].as_str().expect("code").to_owned()
}

/// Waits until every client has all its edits acknowledged and nothing more arrives.
async fn settle(clients: &mut [Client]) {
    for client in clients.iter_mut() {
        client.sync(PATIENCE).await.expect("acknowledged");
    }
    for client in clients.iter_mut() {
        client.drain(Duration::from_millis(400)).await.expect("drain");
    }
}

/// Random edits: inserts of emoji, CJK, accented and plain text at random places, and deletes.
async fn type_randomly(mut client: Client, seed: u64, edits: usize) -> Client {
    const PIECES: [&str; 6] = ["🦀", "漢字", "é", "ab", "\n", "👩‍💻"];
    let mut rng = Rng::new(seed);
    for _ in 0..edits {
        let len = client.text().chars().count();
        if len > 4 && rng.below(4) == 0 {
            let at = rng.below(len - 1);
            client.splice(at, 1 + rng.below(2).min(len - at - 1), "").await.expect("delete");
        } else {
            let at = rng.below(len + 1);
            client.splice(at, 0, rng.pick(&PIECES)).await.expect("insert");
        }
        if rng.below(3) == 0 {
            client.drain(Duration::from_millis(rng.below(15) as u64)).await.expect("read");
        }
    }
    client
}

async fn clients_spread_over_processes_converge(processes: usize) {
    let Some(db) = TestDatabase::create().await else { return };
    let servers = cluster(&db, processes).await;
    let http = reqwest::Client::new();
    let room = create_room(&http, servers[0].1).await;
    let mut typists = Vec::new();
    for i in 0..6 {
        let port = servers[i % processes].1;
        let client = Client::connect(&ws(port), &room, Some(&format!("t{i}"))).await.unwrap();
        typists.push(tokio::spawn(type_randomly(client, 11 + i as u64, 40)));
    }
    let mut clients = Vec::new();
    for typist in typists {
        clients.push(typist.await.expect("typist"));
    }
    settle(&mut clients).await;
    let code = room_code(&http, servers[0].1, &room).await;
    assert!(code.chars().count() > 40, "the edits were applied: {code:?}");
    for (_, port) in &servers {
        assert_eq!(room_code(&http, *port, &room).await, code, "process on {port} agrees");
    }
    for client in &clients {
        assert_eq!(client.text(), code, "every client converged");
    }
    drop(servers);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_two_processes_converge() {
    clients_spread_over_processes_converge(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_spread_over_three_processes_converge() {
    clients_spread_over_processes_converge(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_loses_no_acknowledged_edit_and_its_clients_move_on() {
    let Some(db) = TestDatabase::create().await else { return };
    let mut servers = cluster(&db, 2).await;
    let (doomed_port, survivor_port) = (servers[0].1, servers[1].1);
    let http = reqwest::Client::new();
    let room = create_room(&http, survivor_port).await;
    let until = Instant::now() + Duration::from_secs(4);
    let mut typists = Vec::new();
    for i in 0..6 {
        let port = if i % 2 == 0 { doomed_port } else { survivor_port };
        let client = Client::connect(&ws(port), &room, Some(&format!("k{i}"))).await.unwrap();
        typists.push(tokio::spawn(type_tokens(client, format!("k{i}-"), 31 + i as u64, Some(until))));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    servers[0].0.kill().await;
    let mut results = Vec::new();
    for typist in typists {
        results.push(typist.await.expect("typist"));
    }
    let acked: Vec<String> = results.iter().flat_map(|typed| typed.acked.clone()).collect();
    for (i, typed) in results.iter().enumerate() {
        if i % 2 == 1 {
            assert!(typed.last_ack > killed_at + Duration::from_secs(1), "client {i} on the survivor kept going");
        }
    }
    let mut clients = Vec::new();
    for Typed { mut client, .. } in results {
        // The killed process's clients reconnect to the survivor, re-sending what was in flight.
        client.reconnect_to(&ws(survivor_port)).await.expect("reconnect");
        clients.push(client);
    }
    settle(&mut clients).await;
    let code = room_code(&http, survivor_port, &room).await;
    // At most one edit in flight per client of the killed process.
    assert_each_token_once(&code, &acked, 3);
    for client in &clients {
        assert_eq!(client.text(), code, "clients converged");
    }
    drop(servers);
    db.drop_database().await;
}

/// Reads events until `wanted` says yes, for at most `limit`.
async fn wait_for_event(client: &mut Client, limit: Duration, wanted: impl Fn(&Event) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match client.next_event_within(left).await {
            Ok(event) if wanted(&event) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_processes_and_expires_with_a_dead_one() {
    let Some(db) = TestDatabase::create().await else { return };
    let mut servers = cluster(&db, 2).await;
    let (a, b) = (servers[0].1, servers[1].1);
    let http = reqwest::Client::new();
    let room = create_room(&http, a).await;
    let mut ada = Client::connect(&ws(a), &room, Some("ada")).await.unwrap();
    let ada_id = ada.user_id().to_owned();
    // bob's process loads the room now: it learns of ada right after bob's `init`.
    let mut bob = Client::connect(&ws(b), &room, Some("bob")).await.unwrap();
    let bob_id = bob.user_id().to_owned();
    let knows_ada = bob.users().iter().any(|u| u.user_id == ada_id)
        || wait_for_event(&mut bob, PATIENCE, |e| matches!(e, Event::Joined(u) if u.user_id == ada_id)).await;
    assert!(knows_ada, "bob hears of ada");
    assert!(wait_for_event(&mut ada, PATIENCE, |e| matches!(e, Event::Joined(u) if u.user_id == bob_id)).await);
    // A later joiner on bob's process finds ada in its `init`.
    let carl = Client::connect(&ws(b), &room, Some("carl")).await.unwrap();
    let names: Vec<&str> = carl.users().iter().map(|u| u.name.as_str()).collect();
    assert!(names.contains(&"ada") && names.contains(&"bob"), "carl's init lists everyone: {names:?}");

    // Cursors cross too.
    let cursor = serde_json::json!({"type": "cursor", "revision": 0, "selection": {"anchor": 0, "head": 0}});
    ada.send_json(&cursor).await.unwrap();
    assert!(
        wait_for_event(&mut bob, PATIENCE, |e| matches!(e, Event::Cursor { user_id, .. } if *user_id == ada_id)).await
    );

    // ada's process dies without a word: bob sees her leave within the bound.
    let killed_at = Instant::now();
    servers[0].0.kill().await;
    let bound = pairpad_room::room::PRESENCE_TTL + pairpad_room::room::PRESENCE_INTERVAL * 2;
    assert!(
        wait_for_event(&mut bob, bound, |e| matches!(e, Event::Left { user_id } if *user_id == ada_id)).await,
        "ada left bob's list"
    );
    assert!(killed_at.elapsed() <= bound);
    drop(servers);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_listening_connection_is_cut_catches_up() {
    let Some(db) = TestDatabase::create().await else { return };
    let servers = cluster(&db, 2).await;
    let http = reqwest::Client::new();
    let room = create_room(&http, servers[0].1).await;
    let mut typists = Vec::new();
    for i in 0..4 {
        let client = Client::connect(&ws(servers[i % 2].1), &room, Some(&format!("c{i}"))).await.unwrap();
        typists.push(tokio::spawn(type_randomly(client, 51 + i as u64, 60)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = '{}' AND datname = current_database()",
        pairpad_store::pg_bus::APPLICATION_NAME
    ))
    .await;
    let mut clients = Vec::new();
    for typist in typists {
        clients.push(typist.await.expect("typist"));
    }
    settle(&mut clients).await;
    let code = room_code(&http, servers[0].1, &room).await;
    assert_eq!(room_code(&http, servers[1].1, &room).await, code);
    for client in &clients {
        assert_eq!(client.text(), code, "every client converged");
    }
    for (_, port) in &servers {
        let metrics = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
        let reconnects = metrics.lines().find(|l| l.starts_with("pairpad_bus_reconnects_total")).unwrap_or_default();
        assert!(
            reconnects.ends_with(" 1") || reconnects.ends_with(" 2"),
            "the bus on {port} reconnected: {reconnects:?}"
        );
    }
    drop(servers);
    db.drop_database().await;
}

/// A room deleted through one process closes its connections on every process (4410, through
/// the bus) and is gone everywhere.
#[actix_web::test]
async fn deleting_a_room_closes_it_on_every_process() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let Some(db) = TestDatabase::create().await else { return };
    let servers = cluster(&db, 2).await;
    let http = reqwest::Client::new();
    let created: serde_json::Value =
        http.post(format!("http://127.0.0.1:{}/api/rooms", servers[0].1)).send().await.unwrap().json().await.unwrap();
    let (room, token) = (created["roomId"].as_str().unwrap(), created["ownerToken"].as_str().unwrap());
    let mut sockets = Vec::new();
    for (_, port) in &servers {
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/{room}", ws(*port))).await.unwrap();
        let Some(Ok(Message::Text(init))) = socket.next().await else { panic!("init expected") };
        assert!(init.contains(r#""type":"init""#), "{init}");
        sockets.push(socket);
    }
    let deleted = http
        .delete(format!("http://127.0.0.1:{}/api/rooms/{room}", servers[0].1))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    for (i, socket) in sockets.iter_mut().enumerate() {
        let mut errors = Vec::new();
        let code = loop {
            match tokio::time::timeout(PATIENCE, socket.next()).await.expect("closed in time") {
                Some(Ok(Message::Text(text))) if text.contains(r#""type":"error""#) => errors.push(text.to_string()),
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                other => panic!("process {i}: a close was expected, got {other:?}"),
            }
        };
        assert_eq!(code, Some(4410), "process {i}");
        assert!(errors.iter().any(|e| e.contains("room_deleted")), "process {i}: {errors:?}");
    }
    for (_, port) in &servers {
        let status = http.get(format!("http://127.0.0.1:{port}/api/rooms/{room}")).send().await.unwrap().status();
        assert_eq!(status, 404, "gone on port {port}");
    }
}
