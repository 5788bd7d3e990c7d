//! Real-time editing over real WebSockets: convergence, idempotent re-sends, presence, bad input,
//! slow readers, unloading and shutdown.

use std::io::Read;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pairpad_client::{Client, ClientError, Event};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{PATIENCE, Rng, Store, TestApp, spawn_app, spawn_app_with, test_settings};

const PIECES: [&str; 8] = ["a", "bc", " ", "\n", "日本", "🦀", "e\u{301}", "👍🏽"];

/// Five clients edit one room concurrently with random delays; at quiescence all equal the server.
async fn clients_converge(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let room = app.create_room("rust", "fn main() {}\n").await;
    let mut tasks = Vec::new();
    for seed in 0..5u64 {
        let mut client = app.connect(&room, &format!("client {seed}")).await;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(seed + 1);
            for _ in 0..60 {
                let len = client.doc().len_chars();
                let position = rng.below(len + 1);
                let delete = if rng.below(3) == 0 { rng.below((len - position).min(3) + 1) } else { 0 };
                let insert = rng.pick(&PIECES);
                client.splice(position, delete, insert).await.expect("edit");
                // Read whatever arrived, waiting a random few milliseconds.
                let pause = Duration::from_millis(rng.below(4) as u64);
                while let Ok(event) = client.next_event_within(pause).await {
                    if let Event::Error { code, message } = event {
                        panic!("server error {code}: {message}");
                    }
                }
            }
            client.sync(PATIENCE).await.expect("sync");
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.expect("client task"));
    }
    for client in &mut clients {
        client.drain(Duration::from_millis(300)).await.expect("drain");
    }
    let server = app.room_code(&room).await;
    for client in &clients {
        assert_eq!(client.text(), server, "a client diverged from the server");
    }
    assert!(server.chars().count() > 13, "edits were applied");
    app.stop().await;
}

#[actix_web::test]
async fn clients_converge_on_sqlite() {
    clients_converge(Store::Sqlite).await;
}

#[actix_web::test]
async fn clients_converge_on_postgres() {
    clients_converge(Store::Postgres).await;
}

#[actix_web::test]
async fn clients_converge_in_memory() {
    clients_converge(Store::Memory).await;
}

struct Trace {
    end: String,
    patches: Vec<(usize, usize, String)>,
}

fn load_trace(name: &str) -> Trace {
    let path = format!("{}/../../tests/traces/{name}.json.gz", env!("CARGO_MANIFEST_DIR"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("trace")).read_to_string(&mut json).expect("gzip");
    let value: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(value["startContent"], "");
    let patches = value["txns"]
        .as_array()
        .expect("txns")
        .iter()
        .flat_map(|t| t["patches"].as_array().expect("patches").clone())
        .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize, p[2].as_str().unwrap().to_owned()))
        .collect();
    Trace { end: value["endContent"].as_str().expect("end").to_owned(), patches }
}

/// Replays `rustcode` keystroke by keystroke, composing those typed while an op is in flight.
#[actix_web::test]
async fn replaying_the_rustcode_trace_ends_with_its_end_content() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let trace = load_trace("rustcode");
    let room = app.create_room("rust", "").await;
    let mut client = app.connect(&room, "typist").await;
    for (i, (position, delete, insert)) in trace.patches.iter().enumerate() {
        client.splice(*position, *delete, insert).await.expect("edit");
        if i % 16 == 0 {
            while client.next_event_within(Duration::ZERO).await.is_ok() {}
        }
    }
    client.sync(PATIENCE).await.expect("sync");
    assert_eq!(client.text(), trace.end);
    assert_eq!(app.room_code(&room).await, trace.end);
    app.stop().await;
}

/// An operation re-sent with its `opId` (as after a reconnect) is acknowledged with its original
/// revision and applied once, on the same connection, on a new one, and after a restart.
#[actix_web::test]
async fn a_resent_op_id_is_applied_exactly_once() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let room = app.create_room("python", "ab").await;
    let mut client = app.connect(&room, "resender").await;
    let op = json!({"type": "operation", "revision": 0, "ops": [1, "X", 1], "opId": "once-1"});
    client.send_json(&op).await.unwrap();
    assert_eq!(
        client.next_event_within(PATIENCE).await.unwrap(),
        Event::Ack { revision: 1, op_id: Some("once-1".into()) }
    );
    let other = json!({"type": "operation", "revision": 1, "ops": [3, "Y"], "opId": "once-2"});
    client.send_json(&other).await.unwrap();
    assert!(matches!(client.next_event_within(PATIENCE).await.unwrap(), Event::Ack { revision: 2, .. }));
    client.send_json(&op).await.unwrap();
    assert_eq!(
        client.next_event_within(PATIENCE).await.unwrap(),
        Event::Ack { revision: 1, op_id: Some("once-1".into()) }
    );
    let mut fresh = app.connect(&room, "reconnected").await;
    fresh.send_json(&op).await.unwrap();
    assert_eq!(
        fresh.next_event_within(PATIENCE).await.unwrap(),
        Event::Ack { revision: 1, op_id: Some("once-1".into()) }
    );
    assert_eq!(app.room_code(&room).await, "aXbY");
    app.stop().await;
}

/// The client library's reconnect: work in flight is re-sent and ends up applied once.
#[actix_web::test]
async fn client_reconnect_resends_unacknowledged_work_once() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let room = app.create_room("rust", "").await;
    let mut writer = app.connect(&room, "writer").await;
    let mut other = app.connect(&room, "other").await;
    writer.splice(0, 0, "hello").await.unwrap();
    writer.splice(5, 0, " world").await.unwrap(); // buffered behind the first
    // Drop the connection before reading the ack: the first op may or may not be committed.
    writer.reconnect().await.expect("reconnect");
    other.splice(0, 0, "> ").await.unwrap();
    other.sync(PATIENCE).await.unwrap();
    writer.sync(PATIENCE).await.unwrap();
    writer.drain(Duration::from_millis(200)).await.unwrap();
    other.drain(Duration::from_millis(200)).await.unwrap();
    let server = app.room_code(&room).await;
    assert_eq!(server.matches("hello").count(), 1, "{server}");
    assert_eq!(server.matches(" world").count(), 1, "{server}");
    assert_eq!(writer.text(), server);
    assert_eq!(other.text(), server);
    app.stop().await;
}

#[actix_web::test]
async fn presence_cursors_and_language_reach_the_others() {
    let Some(app) = spawn_app(Store::Memory).await else { return };
    let room = app.create_room("python", "print(1)\n").await;
    let mut alice = app.connect(&room, "Alice").await;
    assert_eq!(alice.users().len(), 1);
    let mut bob = Client::connect(&app.ws_base(), &room, None).await.unwrap();
    assert_eq!(bob.users().len(), 2, "init lists everyone");
    assert!(!bob.users()[1].name.is_empty(), "a name is generated");
    let Event::Joined(joined) = alice.next_event_within(PATIENCE).await.unwrap() else {
        panic!("user_joined expected")
    };
    assert_eq!(joined.user_id, bob.user_id());
    assert!(joined.color.starts_with('#'));
    let (_, view) = app.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(view["activeUsers"], 2);

    bob.send_json(&json!({"type": "cursor", "revision": 0, "selection": {"anchor": 2, "head": 5}})).await.unwrap();
    let cursor = alice.next_event_within(PATIENCE).await.unwrap();
    assert_eq!(cursor, Event::Cursor { user_id: bob.user_id().to_owned(), revision: 0, anchor: 2, head: 5 });

    bob.send_json(&json!({"type": "language", "language": "Rust"})).await.unwrap();
    let language = alice.next_event_within(PATIENCE).await.unwrap();
    assert_eq!(language, Event::Language { language: "rust".into(), user_id: bob.user_id().to_owned() });
    let (_, view) = app.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(view["language"], "rust");

    bob.send_json(&json!({"type": "ping"})).await.unwrap();
    assert_eq!(bob.next_event_within(PATIENCE).await.unwrap(), Event::Pong);

    let bob_id = bob.user_id().to_owned();
    bob.close().await.unwrap();
    assert_eq!(alice.next_event_within(PATIENCE).await.unwrap(), Event::Left { user_id: bob_id });
    app.stop().await;
}

#[actix_web::test]
async fn code_update_merges_with_concurrent_operations() {
    let Some(app) = spawn_app(Store::Memory).await else { return };
    let room = app.create_room("plaintext", "one two three").await;
    let mut typist = app.connect(&room, "typist").await;
    // A client of the original API: it only ever sends the whole text.
    let (mut legacy, _) = tokio_tungstenite::connect_async(format!("{}/ws/{room}", app.ws_base())).await.unwrap();
    let next_text = async |socket: &mut tokio_tungstenite::WebSocketStream<_>| -> Value {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("a message was expected, got {other:?}"),
            }
        }
    };
    let _init = next_text(&mut legacy).await;
    let _joined = typist.next_event_within(PATIENCE).await.unwrap();
    legacy.send(Message::text(json!({"type": "code_update", "code": "one 2 three"}).to_string())).await.unwrap();
    let acked = next_text(&mut legacy).await;
    assert_eq!((acked["type"].as_str(), acked["revision"].as_u64()), (Some("ack"), Some(1)));
    // The typist has not seen the update: its edit is based on revision 0 and is transformed.
    typist.splice(0, 0, ">> ").await.unwrap();
    typist.sync(PATIENCE).await.unwrap();
    typist.drain(Duration::from_millis(300)).await.unwrap();
    assert_eq!(app.room_code(&room).await, ">> one 2 three");
    assert_eq!(typist.text(), ">> one 2 three");
    let remote = next_text(&mut legacy).await;
    assert_eq!((remote["type"].as_str(), remote["revision"].as_u64()), (Some("operation"), Some(2)));

    app.stop().await;
}

/// `code_update` with the `revision` it was edited from merges like an operation (PROTOCOL.md
/// 1.1): an edit the sender had not seen survives.
#[actix_web::test]
async fn a_code_update_with_its_revision_keeps_what_it_did_not_see() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let room = app.create_room("plaintext", "one two three").await;
    let mut typist = app.connect(&room, "typist").await;
    let mut legacy = raw_socket(&app, &room, "").await;
    assert_eq!(next_json(&mut legacy).await["type"], "init");
    typist.splice(0, 0, ">> ").await.unwrap();
    typist.sync(PATIENCE).await.unwrap();
    // Edited from revision 0, before the typist's edit.
    let update = json!({"type": "code_update", "code": "one 2 three", "revision": 0});
    legacy.send(Message::text(update.to_string())).await.unwrap();
    let mut acked = next_json(&mut legacy).await;
    while acked["type"] != "ack" {
        acked = next_json(&mut legacy).await;
    }
    assert_eq!(acked["revision"], 2);
    assert_eq!(app.room_code(&room).await, ">> one 2 three");
    for (revision, code) in [(json!(-1), "invalid_revision"), (json!(99), "invalid_revision")] {
        let update = json!({"type": "code_update", "code": "x", "revision": revision});
        legacy.send(Message::text(update.to_string())).await.unwrap();
        let error = next_json(&mut legacy).await;
        assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some(code)), "{error}");
    }
    assert_eq!(app.room_code(&room).await, ">> one 2 three", "refused updates change nothing");
    app.stop().await;
}

/// `?since=R` (PROTOCOL.md 1.1, "Resuming"): `resume`, then every stored operation after R with
/// its `opId`, then live traffic; from the room's memory or, further back, from the store. A
/// revision the room has not reached gets `init` with `resumed: false`; a malformed one a 400.
#[actix_web::test]
async fn a_client_resumes_from_the_revision_it_knew() {
    let Some(app) = spawn_app_with(Store::Sqlite, |s| s.rooms.history_window = 4).await else { return };
    let room = app.create_room("plaintext", "").await;
    let mut writer = app.connect(&room, "writer").await;
    for i in 0..12 {
        writer.splice(i, 0, "w").await.unwrap();
        writer.sync(PATIENCE).await.unwrap();
    }
    // From memory (the last 4 operations) and from the store (all 12).
    for (head, since) in [(12, 10u64), (13, 0)] {
        let mut reader = raw_socket(&app, &room, &format!("?since={since}")).await;
        let resume = next_json(&mut reader).await;
        assert_eq!((resume["type"].as_str(), resume["revision"].as_u64()), (Some("resume"), Some(since)), "{resume}");
        assert_eq!((resume["resumed"].as_bool(), resume.get("code")), (Some(true), None));
        for revision in since + 1..=head {
            let op = next_json(&mut reader).await;
            assert_eq!((op["type"].as_str(), op["revision"].as_u64()), (Some("operation"), Some(revision)), "{op}");
            assert!(op["opId"].is_string(), "a missed operation carries its opId: {op}");
        }
        writer.splice(0, 0, "+").await.unwrap();
        writer.sync(PATIENCE).await.unwrap();
        let live = loop {
            let message = next_json(&mut reader).await;
            if message["type"] == "operation" {
                break message;
            }
        };
        assert_eq!(live["revision"], head + 1);
        let _ = reader.close(None).await;
    }
    let mut ahead = raw_socket(&app, &room, "?since=99").await;
    let init = next_json(&mut ahead).await;
    assert_eq!(
        (init["type"].as_str(), init["resumed"].as_bool(), init["revision"].as_u64()),
        (Some("init"), Some(false), Some(14))
    );
    assert_eq!(init["code"].as_str().map(|code| code.chars().count()), Some(14));
    let fresh = next_json(&mut raw_socket(&app, &room, "").await).await;
    assert_eq!((fresh["type"].as_str(), fresh.get("resumed")), (Some("init"), None));
    let malformed = tokio_tungstenite::connect_async(format!("{}/ws/{room}?since=-1", app.ws_base())).await;
    assert!(
        matches!(&malformed, Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 400),
        "{malformed:?}"
    );
    app.stop().await;
}

type RawSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_socket(app: &TestApp, room: &str, query: &str) -> RawSocket {
    tokio_tungstenite::connect_async(format!("{}/ws/{room}{query}", app.ws_base())).await.expect("connect").0
}

/// The next JSON text message.
async fn next_json(socket: &mut RawSocket) -> Value {
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("a message was expected, got {other:?}"),
        }
    }
}

/// Sends `message` and expects an `error` with `code`, the connection staying usable.
async fn expect_error(client: &mut Client, message: Message, code: &str) {
    client.send_message(message).await.unwrap();
    match client.next_event_within(PATIENCE).await.unwrap() {
        Event::Error { code: got, .. } => assert_eq!(got, code),
        other => panic!("expected error {code}, got {other:?}"),
    }
}

#[actix_web::test]
async fn bad_messages_get_errors_and_change_nothing() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.rooms.max_document_chars = 100).await else { return };
    let room = app.create_room("plaintext", "abc").await;
    let mut bad = app.connect(&room, "mallory").await;
    let mut good = app.connect(&room, "alice").await;
    let _ = bad.next_event_within(PATIENCE).await; // alice joined
    let text = |v: Value| Message::text(v.to_string());
    expect_error(&mut bad, Message::text("{not json"), "invalid_json").await;
    expect_error(&mut bad, Message::binary(vec![1, 2, 3]), "unsupported_message").await;
    expect_error(&mut bad, text(json!({"type": "dance"})), "unknown_type").await;
    expect_error(&mut bad, text(json!({"type": "operation", "ops": [3]})), "invalid_message").await;
    expect_error(&mut bad, text(json!({"type": "operation", "revision": "0", "ops": [3]})), "invalid_message").await;
    expect_error(&mut bad, text(json!({"type": "operation", "revision": 0, "ops": [5]})), "invalid_operation").await;
    expect_error(&mut bad, text(json!({"type": "operation", "revision": 0, "ops": [0, 3]})), "invalid_operation").await;
    expect_error(&mut bad, text(json!({"type": "operation", "revision": 0, "ops": [3, {"x": 1}]})), "invalid_message")
        .await;
    expect_error(&mut bad, text(json!({"type": "operation", "revision": 9, "ops": [3]})), "invalid_revision").await;
    expect_error(&mut bad, text(json!({"type": "operation", "revision": -1, "ops": [3]})), "invalid_revision").await;
    let huge = "x".repeat(200);
    expect_error(&mut bad, text(json!({"type": "operation", "revision": 0, "ops": [3, huge]})), "document_too_large")
        .await;
    expect_error(&mut bad, text(json!({"type": "language", "language": ""})), "invalid_language").await;
    // The room and the other participant are unaffected.
    good.splice(3, 0, "d").await.unwrap();
    good.sync(PATIENCE).await.unwrap();
    assert_eq!(app.room_code(&room).await, "abcd");
    let Event::Remote { revision: 1, .. } = bad.next_event_within(PATIENCE).await.unwrap() else {
        panic!("remote op expected")
    };
    app.stop().await;
}

#[actix_web::test]
async fn unknown_rooms_and_oversized_frames_close_the_connection() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.websocket.max_frame_bytes = 1024).await else { return };
    for (room, code) in [("nope", "invalid_room_id"), ("3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f", "room_not_found")] {
        match Client::connect(&app.ws_base(), room, None).await {
            Err(ClientError::Refused { code: got, .. }) => assert_eq!(got, code),
            Err(e) => panic!("expected a refusal, got {e}"),
            Ok(_) => panic!("expected a refusal"),
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/{room}", app.ws_base())).await.unwrap();
        let _error = socket.next().await;
        let Some(Ok(Message::Close(Some(frame)))) = socket.next().await else { panic!("close frame expected") };
        assert_eq!(u16::from(frame.code), 4404);
    }
    let room = app.create_room("plaintext", "").await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/{room}", app.ws_base())).await.unwrap();
    let _init = socket.next().await;
    socket.send(Message::text(json!({"type": "code_update", "code": "y".repeat(4096)}).to_string())).await.unwrap();
    let close = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("close frame expected, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1009));
    assert_eq!(app.room_code(&room).await, "");
    app.stop().await;
}

/// A participant that never reads is disconnected (4008) once its queue fills; the writer goes on.
#[actix_web::test]
async fn a_client_that_never_reads_is_dropped_without_hurting_the_others() {
    let adjust = |s: &mut pairpad_server::config::Settings| {
        // Room for a reader on a loaded machine to fall a little behind; the sleeper still fills it.
        s.websocket.outbound_queue = 32;
        // Long enough that the full queue, not the missing pongs, is what drops the sleeper.
        s.websocket.client_timeout_secs = 120.0;
    };
    let Some(app) = spawn_app_with(Store::Memory, adjust).await else { return };
    let room = app.create_room("plaintext", "").await;
    let (mut sleeper, _) = tokio_tungstenite::connect_async(format!("{}/ws/{room}", app.ws_base())).await.unwrap();
    let mut writer = app.connect(&room, "writer").await;
    let mut reader = app.connect(&room, "reader").await;
    let reading = tokio::spawn(async move {
        let mut events = Vec::new();
        while reader.doc().revision() < 600 {
            events.push(reader.next_event_within(PATIENCE).await.expect("the reader keeps up"));
        }
        events
    });
    // Far more than the socket buffers hold: 300 inserts of 64 KiB.
    let chunk = "z".repeat(64 * 1024);
    for _ in 0..300 {
        writer.splice(0, 0, &chunk).await.unwrap();
        writer.sync(PATIENCE).await.unwrap();
        writer.splice(0, chunk.chars().count(), "").await.unwrap();
        writer.sync(PATIENCE).await.unwrap();
    }
    // The reader kept up and saw every operation, and the sleeper leave.
    let events = reading.await.unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::Left { .. })), "the sleeper was announced as gone");
    // The sleeper finally reads: buffered frames, then the close code.
    let code = loop {
        match tokio::time::timeout(PATIENCE, sleeper.next()).await.expect("close in time") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("close frame expected, got {other:?}"),
        }
    };
    assert_eq!(code, Some(4008));
    app.stop().await;
}

/// A SQLite room in which a writer typed `count` characters, one acknowledged operation each,
/// on a server that keeps 2 operations in memory and lets a client be 10 revisions behind.
async fn typed_one_by_one(count: usize, snapshot_every: u64) -> Option<(TestApp, String)> {
    let app = spawn_app_with(Store::Sqlite, |s| short_history(s, snapshot_every)).await?;
    let room = app.create_room("plaintext", "").await;
    let mut writer = app.connect(&room, "writer").await;
    for i in 0..count {
        writer.splice(i, 0, "x").await.unwrap();
        writer.sync(PATIENCE).await.unwrap();
    }
    Some((app, room))
}

/// The settings of [`typed_one_by_one`]'s server.
fn short_history(settings: &mut pairpad_server::config::Settings, snapshot_every: u64) {
    settings.rooms.history_window = 2;
    settings.rooms.max_history_fetch = 10;
    settings.rooms.snapshot_every = snapshot_every;
}

fn operation(revision: u64, ops: Value) -> Message {
    Message::text(json!({"type": "operation", "revision": revision, "ops": ops}).to_string())
}

/// Base revisions older than memory holds are served from the store, up to a limit.
#[actix_web::test]
async fn old_base_revisions_use_the_store_then_go_stale() {
    let Some((app, room)) = typed_one_by_one(12, 500).await else { return };
    let mut late = app.connect(&room, "late").await;
    // Based on revision 4: the 8 operations since come from the store.
    late.send_json(&json!({"type": "operation", "revision": 4, "ops": ["<", 4], "opId": "late-1"})).await.unwrap();
    assert!(matches!(late.next_event_within(PATIENCE).await.unwrap(), Event::Ack { revision: 13, .. }));
    assert!(app.room_code(&room).await.starts_with('<'));
    expect_error(&mut late, operation(1, json!(["!", 1])), "stale_revision").await;
    app.stop().await;
}

/// History is kept (PROTOCOL.md 1.1): snapshots no longer discard the log, and a base revision
/// is served as far back as `rooms.max_history_fetch` allows, from the store.
#[actix_web::test]
async fn the_operation_log_keeps_every_revision() {
    let Some((app, room)) = typed_one_by_one(40, 5).await else { return };
    // An SQLite file serves one server at a time: the log is read with the server stopped.
    let store = app.stop_keeping_store().await;
    let url = pairpad_store::StoreUrl::parse(&store.url).unwrap();
    let options = pairpad_store::StoreOptions { pool_size: 1, durability: pairpad_store::Durability::Disk };
    let repo = pairpad_store::connect(&url, options).await.unwrap().repo;
    let id = pairpad_domain::RoomId::parse(&room).unwrap();
    let kept: Vec<u64> = repo.ops_since(id, 0, 1000).await.unwrap().iter().map(|op| op.revision).collect();
    drop(repo);
    assert_eq!(kept, (1..=40).collect::<Vec<u64>>());
    // A client 10 behind is still served; one further behind than allowed is told to reload.
    let mut settings = test_settings(&store.url);
    short_history(&mut settings, 5);
    let app = TestApp::restart(settings).await;
    let mut late = app.connect(&room, "late").await;
    late.send_json(&json!({"type": "operation", "revision": 30, "ops": ["<", 30], "opId": "late-1"})).await.unwrap();
    assert!(matches!(late.next_event_within(PATIENCE).await.unwrap(), Event::Ack { revision: 41, .. }));
    expect_error(&mut late, operation(20, json!(["!", 20])), "stale_revision").await;
    assert!(app.room_code(&room).await.starts_with('<'));
    app.stop_keeping_store().await;
    // A server allowed to reach further back serves the older base from the kept log.
    let mut settings = test_settings(&store.url);
    settings.rooms.history_window = 2;
    settings.rooms.max_history_fetch = 30;
    let wider = TestApp::restart(settings).await;
    let mut reader = wider.connect(&room, "reader").await;
    reader.send_json(&json!({"type": "operation", "revision": 15, "ops": ["?", 15], "opId": "old-1"})).await.unwrap();
    assert!(matches!(reader.next_event_within(PATIENCE).await.unwrap(), Event::Ack { revision: 42, .. }));
    wider.stop().await;
}

#[actix_web::test]
async fn idle_rooms_are_unloaded_and_reloaded() {
    let Some(app) = spawn_app_with(Store::Sqlite, |s| s.rooms.idle_unload_secs = 0.2).await else { return };
    let mut rooms = Vec::new();
    for i in 0..20 {
        let room = app.create_room("plaintext", "").await;
        let mut client = app.connect(&room, "visitor").await;
        client.splice(0, 0, &format!("room {i} 🦀")).await.unwrap();
        client.sync(PATIENCE).await.unwrap();
        client.close().await.unwrap();
        rooms.push(room);
    }
    let mut loaded = u64::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        loaded = app.get("/health").await.1["roomsLoaded"].as_u64().unwrap();
        if loaded == 0 {
            break;
        }
    }
    assert_eq!(loaded, 0, "idle rooms were unloaded");
    for (i, room) in rooms.iter().enumerate() {
        assert_eq!(app.room_code(room).await, format!("room {i} 🦀"));
    }
    app.stop().await;
}

/// Shutdown commits what was sequenced and closes connections with 1001; a restart has it all.
#[actix_web::test]
async fn graceful_shutdown_keeps_every_acknowledged_edit() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("p.db").display());
    let settings = crate::helpers::test_settings(&url);
    let app = pairpad_server::startup::Application::build(settings.clone()).await.unwrap();
    let base = format!("ws://127.0.0.1:{}", app.port());
    let http = format!("http://127.0.0.1:{}", app.port());
    let stopper = app.stopper();
    let server = actix_web::rt::spawn(app.run_until_stopped());
    let room: Value =
        reqwest::Client::new().post(format!("{http}/api/rooms")).send().await.unwrap().json().await.unwrap();
    let room = room["roomId"].as_str().unwrap().to_owned();
    let mut client = Client::connect(&base, &room, Some("last")).await.unwrap();
    for i in 0..50 {
        client.splice(i, 0, "k").await.unwrap();
    }
    client.sync(PATIENCE).await.unwrap();
    let acked = client.text();
    let stopping = actix_web::rt::spawn(async move { stopper.stop().await });
    let closed = loop {
        match client.next_event_within(PATIENCE).await {
            Err(ClientError::Closed { code, .. }) => break code,
            Ok(_) => continue,
            Err(e) => panic!("close expected, got {e}"),
        }
    };
    assert_eq!(closed, 1001);
    stopping.await.unwrap();
    server.await.unwrap().unwrap();
    crate::helpers::wait_until_released(&url).await;
    let again = TestApp::restart(settings).await;
    assert_eq!(again.room_code(&room).await, acked);
    again.stop().await;
}
