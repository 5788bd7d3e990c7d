//! Hostile input: store. Text a store cannot hold (U+0000: PostgreSQL's `text` refuses it) is
//! refused at the edge on every store alike, so it never reaches the group committer, where one
//! room's unstorable operation used to stop every room's acknowledgements.

use futures_util::{SinkExt, StreamExt};
use pairpad_client::Client;
use pairpad_server::config::Settings;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{PATIENCE, Store, TestApp, spawn_app_with};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Snapshots come every few operations, so the tests cross several of them.
const SNAPSHOT_EVERY: u64 = 3;

async fn app(store: Store) -> Option<TestApp> {
    spawn_app_with(store, |s: &mut Settings| s.rooms.snapshot_every = SNAPSHOT_EVERY).await
}

/// A bare WebSocket, for the attacker: it sends what it likes.
async fn open(app: &TestApp, room: &str) -> Socket {
    let mut socket = tokio_tungstenite::connect_async(format!("{}/ws/{room}", app.ws_base())).await.expect("connect").0;
    assert_eq!(next_reply(&mut socket).await["type"], "init");
    socket
}

/// The next message that answers the socket's own messages (`init`, `ack`, `error`), skipping
/// presence and heartbeats.
async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.expect("a reply in time") {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                if ["init", "ack", "error"].contains(&message["type"].as_str().unwrap_or_default()) {
                    return message;
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("a text message was expected, got {other:?}"),
        }
    }
}

async fn send(socket: &mut Socket, message: Value) -> Value {
    socket.send(Message::text(message.to_string())).await.expect("send");
    next_reply(socket).await
}

fn assert_refused(reply: &Value, code: &str) {
    assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some(code)), "{reply}");
    assert!(reply["message"].as_str().unwrap_or_default().contains("U+0000"), "{reply}");
}

/// Edits `count` times, each acknowledged: enough to cross a snapshot or two.
async fn edit_calmly(client: &mut Client, count: usize) {
    for _ in 0..count {
        client.splice(0, 0, "z").await.expect("edit");
        client.sync(PATIENCE).await.expect("acknowledged without error");
    }
}

async fn health_is_ok(app: &TestApp) {
    let (status, body) = app.get("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")), "{body}");
    assert_eq!(app.get("/ready").await.0, 200);
}

/// U+0000 in an `opId`, in inserted text or in a `code_update` gets an `error` (the connection
/// stays and its next valid edit is acknowledged); nothing of it is stored, and the room, another
/// room and `/health` go on as before, across snapshots.
async fn nul_over_the_websocket_is_refused(store: Store) {
    let Some(app) = app(store).await else { return };
    let room = app.create_room("plaintext", "").await;
    let elsewhere = app.create_room("plaintext", "").await;
    let mut attacker = open(&app, &room).await;
    let mut bystander = app.connect(&elsewhere, "bystander").await;

    let reply = send(&mut attacker, json!({"type": "operation", "revision": 0, "ops": ["a"], "opId": "k\u{0}"})).await;
    assert_refused(&reply, "invalid_field");
    let reply =
        send(&mut attacker, json!({"type": "operation", "revision": 0, "ops": ["a\u{0}b"], "opId": "k1"})).await;
    assert_refused(&reply, "invalid_text");
    let reply = send(&mut attacker, json!({"type": "code_update", "code": "x\u{0}"})).await;
    assert_refused(&reply, "invalid_text");
    let reply = send(&mut attacker, json!({"type": "operation", "revision": 0, "ops": ["fine"], "opId": "k2"})).await;
    assert_eq!((reply["type"].as_str(), reply["revision"].as_u64()), (Some("ack"), Some(1)), "{reply}");

    edit_calmly(&mut bystander, 2 * SNAPSHOT_EVERY as usize + 1).await;
    let mut neighbour = app.connect(&room, "neighbour").await;
    edit_calmly(&mut neighbour, 2 * SNAPSHOT_EVERY as usize + 1).await;
    assert_eq!(app.room_code(&room).await, format!("{}fine", "z".repeat(2 * SNAPSHOT_EVERY as usize + 1)));
    health_is_ok(&app).await;
    app.stop().await;
}

/// `POST /api/rooms` with U+0000 in `code` gets 400 `invalid_field` and creates nothing; rooms
/// created before and after keep working.
async fn nul_in_a_new_rooms_code_is_refused(store: Store) {
    let Some(app) = app(store).await else { return };
    let room = app.create_room("plaintext", "").await;
    let (status, body) = app.post("/api/rooms", &json!({"language": "python", "code": "a\u{0}b"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_field")), "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("U+0000"), "{body}");

    let mut client = app.connect(&room, "writer").await;
    edit_calmly(&mut client, SNAPSHOT_EVERY as usize + 1).await;
    let later = app.create_room("plaintext", "after").await;
    assert_eq!(app.room_code(&later).await, "after");
    health_is_ok(&app).await;
    app.stop().await;
}

/// A store that answers pings but does not commit (here: another process holds SQLite's write
/// lock) makes `/health` and `/ready` answer 503 once edits have waited `store.commit_stall_secs`;
/// when it commits again, the edit is acknowledged and both are 200 again.
#[actix_web::test]
async fn a_stalled_committer_is_reported_unhealthy() {
    let adjust = |s: &mut Settings| s.store.commit_stall_secs = 0.3;
    let Some(app) = spawn_app_with(Store::Sqlite, adjust).await else { return };
    let room = app.create_room("plaintext", "").await;
    let mut client = app.connect(&room, "waiting").await;
    let path = app.store_url.strip_prefix("sqlite://").expect("an SQLite URL");
    let mut lock = <diesel::SqliteConnection as diesel::Connection>::establish(path).unwrap();
    // The server may be writing at this moment (its start-up, the room's creation): wait for it.
    diesel::connection::SimpleConnection::batch_execute(&mut lock, "PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")
        .unwrap();

    client.splice(0, 0, "late").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let (status, body) = app.get("/health").await;
    assert_eq!(
        (status, body["status"].as_str(), body["committer"].as_str()),
        (503, Some("unavailable"), Some("stalled"))
    );
    let (status, body) = app.get("/ready").await;
    assert_eq!((status, &body["committer"]), (503, &json!(false)));

    diesel::connection::SimpleConnection::batch_execute(&mut lock, "COMMIT").unwrap();
    client.sync(PATIENCE).await.expect("acknowledged once the store commits again");
    health_is_ok(&app).await;
    app.stop().await;
}

#[actix_web::test]
async fn nul_over_the_websocket_is_refused_on_sqlite() {
    nul_over_the_websocket_is_refused(Store::Sqlite).await;
}

#[actix_web::test]
async fn nul_over_the_websocket_is_refused_on_postgres() {
    nul_over_the_websocket_is_refused(Store::Postgres).await;
}

#[actix_web::test]
async fn nul_in_a_new_rooms_code_is_refused_on_sqlite() {
    nul_in_a_new_rooms_code_is_refused(Store::Sqlite).await;
}

#[actix_web::test]
async fn nul_in_a_new_rooms_code_is_refused_on_postgres() {
    nul_in_a_new_rooms_code_is_refused(Store::Postgres).await;
}

/// A permanent database error (here a CHECK constraint added for the test, refusing any
/// operation that inserts `poison`) fails only the offending room: its author gets
/// `store_rejected` and the room closes with 1011, nothing of it is stored, and another room's
/// edits are acknowledged throughout (before, every database error counted as "unavailable" and
/// the group committer retried that batch forever, holding up every room).
#[actix_web::test]
async fn a_permanent_database_error_fails_only_its_room_on_postgres() {
    let Some(app) = app(Store::Postgres).await else { return };
    let constraint = "ALTER TABLE operations ADD CONSTRAINT no_poison CHECK (operation NOT LIKE '%poison%')";
    let psql = std::process::Command::new("psql").args([app.store_url.as_str(), "-qc", constraint]).status();
    assert!(psql.expect("psql runs").success(), "psql could add the constraint");
    let poisoned = app.create_room("python", "abc").await;
    let other = app.create_room("python", "").await;

    let mut neighbour = app.connect(&other, "Neighbour").await;
    let calm = tokio::spawn(async move {
        edit_calmly(&mut neighbour, 20).await;
        neighbour
    });
    let mut attacker = open(&app, &poisoned).await;
    let reply = send(&mut attacker, json!({"type": "operation", "revision": 0, "ops": ["poison", 3]})).await;
    assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some("store_rejected")), "{reply}");
    let closed = loop {
        match tokio::time::timeout(PATIENCE, attacker.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("a close was expected, got {other:?}"),
        }
    };
    assert_eq!(closed, Some(1011));

    let neighbour = calm.await.expect("the other room's edits were all acknowledged");
    assert_eq!(app.room_code(&other).await, neighbour.text());
    assert_eq!(app.room_code(&poisoned).await, "abc", "nothing of the refused edit was stored");
    health_is_ok(&app).await;
    app.stop().await;
}
