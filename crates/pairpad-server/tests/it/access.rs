//! Access (PROTOCOL.md 1.1, "Access"), over real HTTP and WebSocket connections on every store:
//! view ids read and never edit nor learn the edit id, owner tokens delete (4410 to whoever is
//! connected, 404 afterwards, across a restart), token mode's JWTs (missing, forged, `alg: none`,
//! expired, for another room, view, edit with a name, admin), its settings, and room expiry.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::SinkExt;
use pairpad_domain::Timestamp;
use pairpad_server::access::{Claims, Gate, TokenAccess, claims_for};
use pairpad_server::config::{AuthMode, Settings};
use pairpad_server::expiry::{self, Expiry};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Socket, Store, TestApp, next_json, spawn_app, spawn_app_with, test_settings, until_close};

// ---------------------------------------------------------------------------------------------
// REST

/// Sends a request, with `Authorization: Bearer <token>` when given; answers the status and the
/// body's text.
async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = app.http.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == Method::POST {
        request = request.header("content-type", "application/json").body("{}");
    }
    let response = request.send().await.expect("the request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("the body"))
}

/// Like [`call`], the body read as JSON (`null` when empty).
async fn call_json(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> (u16, Value) {
    let (status, text) = call(app, method, path, token).await;
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") };
    (status, body)
}

/// Asserts a REST refusal: its status and error code.
async fn refused(app: &TestApp, method: Method, path: &str, token: Option<&str>, status: u16, code: &str) {
    let (got, body) = call_json(app, method.clone(), path, token).await;
    assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{method} {path}: {body}");
}

/// Creates a room in open mode; answers `POST`'s body (roomId, viewId, ownerToken, ...).
async fn create_open(app: &TestApp, language: &str, code: &str) -> Value {
    let (status, body) = app.post("/api/rooms", &json!({ "language": language, "code": code })).await;
    assert_eq!(status, 201, "{body}");
    body
}

/// A room's id and view id, from `POST`'s body.
fn ids(created: &Value) -> (String, String) {
    let id = created["roomId"].as_str().expect("roomId").to_owned();
    let view = created["viewId"].as_str().expect("viewId").to_owned();
    (id, view)
}

async fn delete(app: &TestApp, room: &str, token: Option<&str>) -> (u16, String) {
    call(app, Method::DELETE, &format!("/api/rooms/{room}"), token).await
}

/// The value of a counter on `/metrics` (the line that starts with `series`).
async fn metric(app: &TestApp, series: &str) -> Option<f64> {
    let text = app.http.get(app.url("/metrics")).send().await.expect("GET /metrics").text().await.expect("text");
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
}

// ---------------------------------------------------------------------------------------------
// WebSocket

async fn open(app: &TestApp, path: &str) -> Socket {
    tokio_tungstenite::connect_async(format!("{}{path}", app.ws_base())).await.expect("connect").0
}

/// Opens a WebSocket and reads its first message (`init`, or `resume` after `since`).
async fn join(app: &TestApp, path: &str) -> (Socket, Value) {
    let mut socket = open(app, path).await;
    let first = next_json(&mut socket).await;
    assert!(first["type"] == "init" || first["type"] == "resume", "{path}: {first}");
    (socket, first)
}

/// The next message of type `kind`, skipping others (but never an `error`, unless asked for).
async fn next_of_type(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let message = next_json(socket).await;
        if message["type"] == kind {
            return message;
        }
        assert_ne!(message["type"], "error", "waiting for a {kind}: {message}");
    }
}

/// The answer to the client's last message: the next message that is not presence or a cursor.
async fn next_reply(socket: &mut Socket) -> Value {
    loop {
        let message = next_json(socket).await;
        if !matches!(message["type"].as_str(), Some("user_joined" | "user_left" | "cursor")) {
            return message;
        }
    }
}

async fn send(socket: &mut Socket, message: &Value) {
    socket.send(Message::text(message.to_string())).await.expect("send");
}

/// The server says `code` and closes with `close` (after whatever it sent before).
async fn assert_closed_with(socket: &mut Socket, code: &str, close: u16) {
    let (messages, got) = until_close(socket).await;
    let last = messages.last().cloned().unwrap_or(Value::Null);
    assert_eq!((last["type"].as_str(), last["code"].as_str()), (Some("error"), Some(code)), "{messages:?}");
    assert_eq!(got, Some(close), "{messages:?}");
}

/// A WebSocket refused after the upgrade: one `error` with `code`, then close `close`.
async fn ws_refused(app: &TestApp, path: &str, code: &str, close: u16) {
    let mut socket = open(app, path).await;
    let (messages, got) = until_close(&mut socket).await;
    assert_eq!(messages.len(), 1, "{path}: {messages:?}");
    assert_eq!((messages[0]["type"].as_str(), messages[0]["code"].as_str()), (Some("error"), Some(code)), "{path}");
    assert_eq!(got, Some(close), "{path}");
}

/// A view connection's attempts to edit: each is answered with `read_only`, and the connection
/// stays open (a `ping` still gets its `pong`).
async fn assert_edits_refused(socket: &mut Socket, revision: u64) {
    let attempts = [
        json!({"type": "operation", "revision": revision, "ops": ["hijacked "], "opId": "viewer-1"}),
        json!({"type": "code_update", "code": "hijacked"}),
        json!({"type": "code_update", "code": "hijacked", "revision": revision}),
        json!({"type": "language", "language": "rust"}),
    ];
    for attempt in &attempts {
        send(socket, attempt).await;
        let reply = next_reply(socket).await;
        assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some("read_only")), "{attempt}");
    }
    send(socket, &json!({"type": "ping"})).await;
    let reply = next_reply(socket).await;
    assert_eq!(reply["type"], "pong", "the connection stays open: {reply}");
}

// ---------------------------------------------------------------------------------------------
// Tokens

const SECRET: &str = "a secret of at least thirty-two bytes, for the tests";

fn token_mode(settings: &mut Settings) {
    settings.auth.mode = AuthMode::Token;
    settings.auth.secret = SECRET.to_owned();
}

fn sign(claims: &Claims) -> String {
    Gate::token(SECRET.as_bytes()).sign(claims).expect("a token")
}

/// A token for `room` valid for an hour.
fn token(room: &str, access: TokenAccess) -> String {
    sign(&claims_for(room, access, Duration::from_secs(3600), None))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Base64url without padding (RFC 7515's encoding of a JWT's parts).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Bad tokens, each with what is wrong with it: a payload changed under a valid signature, one
/// signed with another secret, `alg: none`, expired an hour ago, malformed, empty.
fn bad_tokens(room: &str) -> Vec<(&'static str, String)> {
    let claims = claims_for(room, TokenAccess::View, Duration::from_secs(3600), None);
    let valid = sign(&claims);
    let parts: Vec<&str> = valid.split('.').collect();
    assert_eq!(parts.len(), 3, "{valid}");
    // The encoder is right: the valid token's claims encode to its payload.
    assert_eq!(base64url(&serde_json::to_vec(&claims).unwrap()), parts[1], "base64url of the claims");
    let forged_claims = Claims { room: "*".to_owned(), access: TokenAccess::Admin, ..claims };
    let forged_payload = base64url(&serde_json::to_vec(&forged_claims).unwrap());
    let other_secret = Gate::token(b"another secret of at least thirty-two bytes!")
        .sign(&claims_for(room, TokenAccess::Admin, Duration::from_secs(3600), None))
        .unwrap();
    let none_header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let expired =
        sign(&Claims { room: room.to_owned(), access: TokenAccess::Admin, exp: now_secs() - 3600, name: None });
    vec![
        ("a payload changed under a valid signature", format!("{}.{forged_payload}.{}", parts[0], parts[2])),
        ("signed with another secret", other_secret),
        ("alg: none", format!("{none_header}.{forged_payload}.")),
        ("alg: none, with the valid signature", format!("{none_header}.{forged_payload}.{}", parts[2])),
        ("expired an hour ago", expired),
        ("malformed", "not-a-jwt".to_owned()),
        ("a valid one cut short", valid[..valid.len() - 3].to_owned()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Open mode: view ids

/// `POST` answers two different ids and an owner token; `GET` by the view id reads the room as
/// `view` and never shows the edit id; by the room id as `edit`, with the view id.
async fn a_view_id_reads_the_room_without_the_edit_id(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let created = create_open(&app, "python", "print('日本 🦀')\n").await;
    let (id, view) = ids(&created);
    let owner_token = created["ownerToken"].as_str().expect("ownerToken");
    assert!(uuid::Uuid::parse_str(&id).is_ok() && uuid::Uuid::parse_str(&view).is_ok(), "{created}");
    assert_ne!(id, view);
    assert!(owner_token.len() >= 32 && owner_token != id && owner_token != view, "{created}");
    assert!(!owner_token.contains(&id) && !owner_token.contains(&view));

    for path in [format!("/api/rooms/{view}"), format!("/rooms/{view}"), format!("/api/rooms/{}", view.to_uppercase())]
    {
        let (status, text) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {text}");
        assert!(!text.contains(&id), "{path} reveals the edit id: {text}");
        assert!(!text.contains(owner_token), "{path} reveals the owner token: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["roomId"], view.as_str(), "{path}");
        assert_eq!(body["access"], "view", "{path}");
        assert!(body.get("viewId").is_none(), "{path}: {body}");
        assert!(body.get("ownerToken").is_none(), "{path}: {body}");
        assert_eq!(body["code"], "print('日本 🦀')\n");
        assert_eq!(body["language"], "python");
    }

    let (status, body) = app.get(&format!("/api/rooms/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roomId"], id.as_str());
    assert_eq!(body["access"], "edit");
    assert_eq!(body["viewId"], view.as_str());
    assert!(body.get("ownerToken").is_none(), "shown once, at creation: {body}");
    app.stop().await;
}

#[actix_web::test]
async fn a_view_id_reads_the_room_without_the_edit_id_memory() {
    a_view_id_reads_the_room_without_the_edit_id(Store::Memory).await;
}

#[actix_web::test]
async fn a_view_id_reads_the_room_without_the_edit_id_sqlite() {
    a_view_id_reads_the_room_without_the_edit_id(Store::Sqlite).await;
}

#[actix_web::test]
async fn a_view_id_reads_the_room_without_the_edit_id_postgres() {
    a_view_id_reads_the_room_without_the_edit_id(Store::Postgres).await;
}

/// A view connection gets `access: view`, every operation, cursor and presence change, and
/// `read_only` for each attempt to edit, which changes nothing; the connection stays open.
async fn a_view_connection_follows_but_cannot_edit(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let (id, view) = ids(&create_open(&app, "python", "hello").await);

    let (mut viewer, init) = join(&app, &format!("/ws/{view}?name=Viewer")).await;
    assert_eq!(init["type"], "init");
    assert_eq!(init["access"], "view", "{init}");
    assert!(init.get("viewId").is_none(), "{init}");
    assert_eq!((init["code"].as_str(), init["revision"].as_u64()), (Some("hello"), Some(0)), "{init}");
    let viewer_id = init["userId"].as_str().unwrap().to_owned();

    let (mut editor, init) = join(&app, &format!("/ws/{id}?name=Editor")).await;
    assert_eq!(init["type"], "init");
    assert_eq!(init["access"], "edit", "{init}");
    assert_eq!(init["viewId"], view.as_str(), "{init}");
    assert_eq!(init["roomId"], id.as_str(), "{init}");
    let editor_id = init["userId"].as_str().unwrap().to_owned();
    let names: Vec<&str> = init["users"].as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert!(names.contains(&"Viewer"), "the viewer is present: {init}");

    // Presence.
    let joined = next_of_type(&mut viewer, "user_joined").await;
    assert_eq!(
        (joined["user"]["userId"].as_str(), joined["user"]["name"].as_str()),
        (Some(&*editor_id), Some("Editor"))
    );
    // A live operation.
    send(&mut editor, &json!({"type": "operation", "revision": 0, "ops": [5, " world"], "opId": "e1"})).await;
    let ack = next_of_type(&mut editor, "ack").await;
    assert_eq!(ack["revision"], 1, "{ack}");
    let operation = next_of_type(&mut viewer, "operation").await;
    assert_eq!(operation["revision"], 1, "{operation}");
    assert_eq!(operation["ops"], json!([5, " world"]), "{operation}");
    assert_eq!(operation["userId"], editor_id.as_str(), "{operation}");
    // A cursor.
    send(&mut editor, &json!({"type": "cursor", "revision": 1, "selection": {"anchor": 2, "head": 7}})).await;
    let cursor = next_of_type(&mut viewer, "cursor").await;
    assert_eq!(cursor["userId"], editor_id.as_str(), "{cursor}");
    assert_eq!(cursor["revision"], 1, "{cursor}");
    assert_eq!(cursor["selection"], json!({"anchor": 2, "head": 7}), "{cursor}");
    // A viewer's own cursor is still presence: the editor sees it.
    send(&mut viewer, &json!({"type": "cursor", "revision": 1, "selection": {"anchor": 0, "head": 0}})).await;
    let cursor = next_of_type(&mut editor, "cursor").await;
    assert_eq!(cursor["userId"], viewer_id.as_str(), "{cursor}");

    assert_edits_refused(&mut viewer, 1).await;

    // Nothing changed, and the editor saw no edit or language change.
    let (status, body) = app.get(&format!("/api/rooms/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["code"].as_str(), body["revision"].as_u64(), body["language"].as_str()),
        (Some("hello world"), Some(1), Some("python")),
        "{body}"
    );
    send(&mut editor, &json!({"type": "ping"})).await;
    loop {
        let message = next_json(&mut editor).await;
        assert!(!matches!(message["type"].as_str(), Some("operation" | "language" | "error")), "{message}");
        if message["type"] == "pong" {
            break;
        }
    }
    // Still following: the editor's next edit reaches the viewer.
    send(&mut editor, &json!({"type": "operation", "revision": 1, "ops": ["> ", 11]})).await;
    assert_eq!(next_of_type(&mut editor, "ack").await["revision"], 2);
    let operation = next_of_type(&mut viewer, "operation").await;
    assert_eq!((operation["revision"].as_u64(), &operation["ops"]), (Some(2), &json!(["> ", 11])), "{operation}");
    // And the editor leaving.
    editor.close(None).await.unwrap();
    let left = next_of_type(&mut viewer, "user_left").await;
    assert_eq!(left["userId"], editor_id.as_str(), "{left}");
    assert_eq!(app.room_code(&view).await, "> hello world");
    app.stop().await;
}

#[actix_web::test]
async fn a_view_connection_follows_but_cannot_edit_memory() {
    a_view_connection_follows_but_cannot_edit(Store::Memory).await;
}

#[actix_web::test]
async fn a_view_connection_follows_but_cannot_edit_sqlite() {
    a_view_connection_follows_but_cannot_edit(Store::Sqlite).await;
}

#[actix_web::test]
async fn a_view_connection_follows_but_cannot_edit_postgres() {
    a_view_connection_follows_but_cannot_edit(Store::Postgres).await;
}

/// Nothing a view connection receives (its `init`, a `resume`, operations, presence) holds the
/// edit id: a reader who shared a view link cannot be turned into an editor by it.
async fn a_view_connection_never_learns_the_edit_id(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let (id, view) = ids(&create_open(&app, "rust", "fn main() {}").await);
    let mut seen = Vec::new();
    let (mut viewer, init) = join(&app, &format!("/ws/{view}?name=Viewer")).await;
    seen.push(init.clone());
    let (mut editor, _) = join(&app, &format!("/ws/{id}?name=Editor")).await;
    send(&mut editor, &json!({"type": "operation", "revision": 0, "ops": [12, "\n"], "opId": "e1"})).await;
    next_of_type(&mut editor, "ack").await;
    loop {
        let message = next_json(&mut viewer).await;
        seen.push(message.clone());
        if message["type"] == "operation" {
            break;
        }
    }
    send(&mut viewer, &json!({"type": "language", "language": "go"})).await;
    seen.push(next_reply(&mut viewer).await);
    // Resuming, and resuming from a revision the room does not have (an `init`).
    for since in [0, 99] {
        let (mut resumed, first) = join(&app, &format!("/ws/{view}?since={since}")).await;
        seen.push(first);
        send(&mut resumed, &json!({"type": "ping"})).await;
        loop {
            let message = next_json(&mut resumed).await;
            seen.push(message.clone());
            if message["type"] == "pong" {
                break;
            }
        }
    }
    let leaks: Vec<String> = seen.iter().map(Value::to_string).filter(|text| text.contains(&id)).collect();
    assert!(leaks.is_empty(), "view connections got the edit id {id} in: {leaks:#?}");
    // The id a view connection knows the room by is the one it used.
    assert_eq!(init["roomId"], view.as_str(), "{init}");
    app.stop().await;
}

#[actix_web::test]
async fn a_view_connection_never_learns_the_edit_id_memory() {
    a_view_connection_never_learns_the_edit_id(Store::Memory).await;
}

#[actix_web::test]
async fn a_view_connection_never_learns_the_edit_id_sqlite() {
    a_view_connection_never_learns_the_edit_id(Store::Sqlite).await;
}

#[actix_web::test]
async fn a_view_connection_never_learns_the_edit_id_postgres() {
    a_view_connection_never_learns_the_edit_id(Store::Postgres).await;
}

/// Resuming (`?since=0`) on a view id: `resume` says `view`, the missed operations follow, and
/// the connection is still read-only; an editor's `resume` says `edit` with the view id.
async fn resuming_a_view_link_stays_read_only(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let (id, view) = ids(&create_open(&app, "plaintext", "ab").await);
    let (mut editor, _) = join(&app, &format!("/ws/{id}")).await;
    for (revision, ops) in [(0, json!(["1", 2])), (1, json!([3, "2"]))] {
        send(
            &mut editor,
            &json!({"type": "operation", "revision": revision, "ops": ops, "opId": format!("e{revision}")}),
        )
        .await;
        assert_eq!(next_of_type(&mut editor, "ack").await["revision"], revision + 1);
    }
    let (mut viewer, resume) = join(&app, &format!("/ws/{view}?since=0")).await;
    assert_eq!(resume["type"], "resume", "{resume}");
    assert_eq!(resume["access"], "view", "{resume}");
    assert_eq!(resume["revision"], 0, "{resume}");
    assert!(resume.get("viewId").is_none(), "{resume}");
    for (revision, ops, op_id) in [(1, json!(["1", 2]), "e0"), (2, json!([3, "2"]), "e1")] {
        let operation = next_of_type(&mut viewer, "operation").await;
        assert_eq!(operation["revision"], revision, "{operation}");
        assert_eq!(operation["ops"], ops, "{operation}");
        assert_eq!(operation["opId"], op_id, "{operation}");
    }
    assert_edits_refused(&mut viewer, 2).await;
    assert_eq!(app.room_code(&id).await, "1ab2");

    let (_resumed_editor, resume) = join(&app, &format!("/ws/{id}?since=2")).await;
    assert_eq!(resume["type"], "resume", "{resume}");
    assert_eq!(resume["access"], "edit", "{resume}");
    assert_eq!(resume["viewId"], view.as_str(), "{resume}");
    app.stop().await;
}

#[actix_web::test]
async fn resuming_a_view_link_stays_read_only_memory() {
    resuming_a_view_link_stays_read_only(Store::Memory).await;
}

#[actix_web::test]
async fn resuming_a_view_link_stays_read_only_sqlite() {
    resuming_a_view_link_stays_read_only(Store::Sqlite).await;
}

#[actix_web::test]
async fn resuming_a_view_link_stays_read_only_postgres() {
    resuming_a_view_link_stays_read_only(Store::Postgres).await;
}

/// The history routes answer by view id, and never with the edit id.
async fn history_reads_by_view_id(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let (id, view) = ids(&create_open(&app, "python", "x = 1\n").await);
    let (mut editor, _) = join(&app, &format!("/ws/{id}?name=Ada")).await;
    send(&mut editor, &json!({"type": "operation", "revision": 0, "ops": [6, "y = 2\n"], "opId": "ada-1"})).await;
    assert_eq!(next_of_type(&mut editor, "ack").await["revision"], 1);

    let checks = [
        (format!("/api/rooms/{view}/revisions/0"), "revision 0"),
        (format!("/api/rooms/{view}/revisions/1"), "revision 1"),
        (format!("/rooms/{view}/revisions/1"), "the alias"),
        (format!("/api/rooms/{view}/operations"), "operations"),
        (format!("/api/rooms/{view}/history"), "history"),
    ];
    let mut bodies = Vec::new();
    for (path, what) in &checks {
        let (status, text) = call(&app, Method::GET, path, None).await;
        assert_eq!(status, 200, "{what}: {text}");
        assert!(!text.contains(&id), "{what} reveals the edit id: {text}");
        bodies.push(serde_json::from_str::<Value>(&text).unwrap());
    }
    assert_eq!(bodies[0], json!({"roomId": view, "revision": 0, "code": "x = 1\n", "language": "python"}));
    assert_eq!(bodies[1], json!({"roomId": view, "revision": 1, "code": "x = 1\ny = 2\n", "language": "python"}));
    assert_eq!(bodies[2], bodies[1]);
    let operations = bodies[3]["operations"].as_array().expect("operations");
    assert_eq!(operations.len(), 1, "{}", bodies[3]);
    assert_eq!(operations[0]["ops"], json!([6, "y = 2\n"]));
    assert_eq!(operations[0]["name"], "Ada");
    assert_eq!(bodies[4]["head"], 1, "{}", bodies[4]);
    assert_eq!(bodies[4]["points"][0]["authors"], json!(["Ada"]), "{}", bodies[4]);
    // The edit id reads the same history.
    let (status, body) = app.get(&format!("/api/rooms/{id}/revisions/1")).await;
    assert_eq!((status, body["code"].as_str()), (200, Some("x = 1\ny = 2\n")), "{body}");
    app.stop().await;
}

#[actix_web::test]
async fn history_reads_by_view_id_memory() {
    history_reads_by_view_id(Store::Memory).await;
}

#[actix_web::test]
async fn history_reads_by_view_id_sqlite() {
    history_reads_by_view_id(Store::Sqlite).await;
}

#[actix_web::test]
async fn history_reads_by_view_id_postgres() {
    history_reads_by_view_id(Store::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// Open mode: deleting

/// Only the owner token, on the room id, deletes; everyone connected gets `room_deleted` and
/// 4410; afterwards the room, by either id, is 404 everywhere, also after a restart.
async fn the_owner_token_deletes_the_room(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    let created = create_open(&app, "rust", "fn main() {}\n").await;
    let (id, view) = ids(&created);
    let owner_token = created["ownerToken"].as_str().unwrap().to_owned();
    let other = create_open(&app, "rust", "// stays\n").await;
    let (other_id, _) = ids(&other);
    let other_token = other["ownerToken"].as_str().unwrap().to_owned();

    let (mut editor, _) = join(&app, &format!("/ws/{id}?name=Editor")).await;
    let (mut viewer, _) = join(&app, &format!("/ws/{view}?name=Viewer")).await;
    send(&mut editor, &json!({"type": "operation", "revision": 0, "ops": ["// doomed\n", 13]})).await;
    assert_eq!(next_of_type(&mut editor, "ack").await["revision"], 1);

    let path = format!("/api/rooms/{id}");
    refused(&app, Method::DELETE, &path, None, 403, "forbidden").await;
    refused(&app, Method::DELETE, &path, Some("wrong"), 403, "forbidden").await;
    refused(&app, Method::DELETE, &path, Some(&other_token), 403, "forbidden").await;
    refused(&app, Method::DELETE, &path, Some(&owner_token.to_uppercase()), 403, "forbidden").await;
    refused(&app, Method::DELETE, &format!("/api/rooms/{view}"), Some(&owner_token), 403, "forbidden").await;
    // A refusal deletes nothing, and tells no one.
    assert_eq!(app.room_code(&id).await, "// doomed\nfn main() {}\n");
    send(&mut viewer, &json!({"type": "ping"})).await;
    next_of_type(&mut viewer, "pong").await;

    let (status, text) = delete(&app, &id, Some(&owner_token)).await;
    assert_eq!((status, text.as_str()), (204, ""));
    assert_closed_with(&mut editor, "room_deleted", 4410).await;
    assert_closed_with(&mut viewer, "room_deleted", 4410).await;

    let gone = async |app: &TestApp| {
        for room in [&id, &view] {
            refused(app, Method::GET, &format!("/api/rooms/{room}"), None, 404, "room_not_found").await;
            refused(app, Method::GET, &format!("/api/rooms/{room}/revisions/0"), None, 404, "room_not_found").await;
            refused(app, Method::GET, &format!("/api/rooms/{room}/operations"), None, 404, "room_not_found").await;
            refused(app, Method::GET, &format!("/api/rooms/{room}/history"), None, 404, "room_not_found").await;
            ws_refused(app, &format!("/ws/{room}"), "room_not_found", 4404).await;
            ws_refused(app, &format!("/ws/{room}?since=0"), "room_not_found", 4404).await;
        }
        refused(app, Method::DELETE, &format!("/api/rooms/{id}"), Some(&owner_token), 404, "room_not_found").await;
        // The other room is untouched.
        assert_eq!(app.room_code(&other_id).await, "// stays\n");
    };
    gone(&app).await;
    let deleted = metric(&app, "pairpad_rooms_deleted_total{reason=\"owner\"}").await;
    assert!(deleted.is_some_and(|n| n >= 1.0), "counted on /metrics: {deleted:?}");

    if matches!(store, Store::Memory) {
        app.stop().await;
        return;
    }
    let stored = app.stop_keeping_store().await;
    let app = TestApp::restart(test_settings(&stored.url)).await;
    gone(&app).await;
    // The other room's owner token survived the restart (as a hash).
    let (status, _) = delete(&app, &other_id, Some(&other_token)).await;
    assert_eq!(status, 204);
    refused(&app, Method::GET, &format!("/api/rooms/{other_id}"), None, 404, "room_not_found").await;
    app.stop().await;
    stored.drop_database().await;
}

#[actix_web::test]
async fn the_owner_token_deletes_the_room_memory() {
    the_owner_token_deletes_the_room(Store::Memory).await;
}

#[actix_web::test]
async fn the_owner_token_deletes_the_room_sqlite() {
    the_owner_token_deletes_the_room(Store::Sqlite).await;
}

#[actix_web::test]
async fn the_owner_token_deletes_the_room_postgres() {
    the_owner_token_deletes_the_room(Store::Postgres).await;
}

// ---------------------------------------------------------------------------------------------
// Token mode

/// Creating needs an admin token for `*`; reading needs a valid token for the room; a view token
/// reads as `view`; deleting needs an admin token.
async fn token_mode_over_rest(store: Store) {
    let Some(app) = spawn_app_with(store, token_mode).await else { return };
    let admin = token("*", TokenAccess::Admin);
    refused(&app, Method::POST, "/api/rooms", None, 401, "unauthorized").await;
    refused(&app, Method::POST, "/rooms", None, 401, "unauthorized").await;
    for access in [TokenAccess::View, TokenAccess::Edit] {
        refused(&app, Method::POST, "/api/rooms", Some(&token("*", access)), 403, "forbidden").await;
    }
    for (what, bad) in bad_tokens("*") {
        let (status, body) = call_json(&app, Method::POST, "/api/rooms", Some(&bad)).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{what}: {body}");
    }
    let (status, created) = call_json(&app, Method::POST, "/api/rooms", Some(&admin)).await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("ownerToken").is_none(), "no owner tokens in token mode: {created}");
    let (id, view) = ids(&created);
    // An admin token for one room creates nothing either.
    refused(&app, Method::POST, "/api/rooms", Some(&token(&id, TokenAccess::Admin)), 403, "forbidden").await;
    let (status, other) = call_json(&app, Method::POST, "/api/rooms", Some(&admin)).await;
    assert_eq!(status, 201, "{other}");
    let (other_id, _) = ids(&other);

    let path = format!("/api/rooms/{id}");
    refused(&app, Method::GET, &path, None, 401, "unauthorized").await;
    for (what, bad) in bad_tokens(&id) {
        let (status, body) = call_json(&app, Method::GET, &path, Some(&bad)).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{what}: {body}");
        refused(&app, Method::GET, &format!("{path}/revisions/0"), Some(&bad), 401, "unauthorized").await;
    }
    // Not even whether a room exists is told without a valid token.
    let unknown = uuid::Uuid::new_v4();
    refused(&app, Method::GET, &format!("/api/rooms/{unknown}"), None, 401, "unauthorized").await;
    refused(&app, Method::GET, &format!("/api/rooms/{unknown}"), Some(&admin), 404, "room_not_found").await;
    for access in [TokenAccess::View, TokenAccess::Edit, TokenAccess::Admin] {
        let for_other = token(&other_id, access);
        refused(&app, Method::GET, &path, Some(&for_other), 403, "forbidden").await;
        refused(&app, Method::GET, &format!("/api/rooms/{view}"), Some(&for_other), 403, "forbidden").await;
        refused(&app, Method::GET, &format!("{path}/operations"), Some(&for_other), 403, "forbidden").await;
    }

    for (token, access) in [
        (token(&id, TokenAccess::Edit), "edit"),
        (token(&id, TokenAccess::Admin), "edit"),
        (admin.clone(), "edit"),
        (token(&id, TokenAccess::View), "view"),
        (token("*", TokenAccess::View), "view"),
        (token(&view, TokenAccess::View), "view"),
    ] {
        let (status, text) = call(&app, Method::GET, &path, Some(&token)).await;
        assert_eq!(status, 200, "{access}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["access"], access, "{body}");
        if access == "view" {
            assert_eq!(body["roomId"], view.as_str(), "{body}");
            assert!(body.get("viewId").is_none(), "{body}");
            assert!(!text.contains(&id), "a view token reveals the edit id: {text}");
        } else {
            assert_eq!((body["roomId"].as_str(), body["viewId"].as_str()), (Some(&*id), Some(&*view)), "{body}");
        }
    }
    // The view id with an edit token still only reads.
    let (status, body) =
        call_json(&app, Method::GET, &format!("/api/rooms/{view}"), Some(&token(&id, TokenAccess::Edit))).await;
    assert_eq!((status, body["access"].as_str()), (200, Some("view")), "{body}");
    let (status, text) =
        call(&app, Method::GET, &format!("/api/rooms/{view}/revisions/0"), Some(&token(&id, TokenAccess::View))).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(&id), "{text}");

    // Deleting.
    refused(&app, Method::DELETE, &path, None, 401, "unauthorized").await;
    for (what, bad) in bad_tokens(&id) {
        let (status, body) = call_json(&app, Method::DELETE, &path, Some(&bad)).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("unauthorized")), "{what}: {body}");
    }
    for forbidden in
        [token(&id, TokenAccess::Edit), token(&id, TokenAccess::View), token(&other_id, TokenAccess::Admin)]
    {
        refused(&app, Method::DELETE, &path, Some(&forbidden), 403, "forbidden").await;
    }
    refused(&app, Method::DELETE, &format!("/api/rooms/{view}"), Some(&admin), 403, "forbidden").await;
    assert_eq!(call(&app, Method::GET, &path, Some(&admin)).await.0, 200, "refusals delete nothing");
    let (status, _) = delete(&app, &id, Some(&token(&id, TokenAccess::Admin))).await;
    assert_eq!(status, 204);
    refused(&app, Method::GET, &path, Some(&admin), 404, "room_not_found").await;
    let (status, _) = delete(&app, &other_id, Some(&admin)).await;
    assert_eq!(status, 204);
    refused(&app, Method::DELETE, &format!("/api/rooms/{other_id}"), Some(&admin), 404, "room_not_found").await;
    app.stop().await;
}

#[actix_web::test]
async fn token_mode_over_rest_memory() {
    token_mode_over_rest(Store::Memory).await;
}

#[actix_web::test]
async fn token_mode_over_rest_sqlite() {
    token_mode_over_rest(Store::Sqlite).await;
}

#[actix_web::test]
async fn token_mode_over_rest_postgres() {
    token_mode_over_rest(Store::Postgres).await;
}

/// WebSockets in token mode: no valid token 4401, another room's 4403; a view token reads only;
/// an edit token's `name` is the name others see; an admin token deletes (4410); an edit token
/// does not.
async fn token_mode_over_websockets(store: Store) {
    let Some(app) = spawn_app_with(store, token_mode).await else { return };
    let admin = token("*", TokenAccess::Admin);
    let (status, created) = call_json(&app, Method::POST, "/api/rooms", Some(&admin)).await;
    assert_eq!(status, 201, "{created}");
    let (id, view) = ids(&created);
    let (status, other) = call_json(&app, Method::POST, "/api/rooms", Some(&admin)).await;
    assert_eq!(status, 201, "{other}");
    let (other_id, _) = ids(&other);

    ws_refused(&app, &format!("/ws/{id}"), "unauthorized", 4401).await;
    ws_refused(&app, &format!("/ws/{id}?token="), "unauthorized", 4401).await;
    ws_refused(&app, &format!("/ws/{}", uuid::Uuid::new_v4()), "unauthorized", 4401).await;
    for (what, bad) in bad_tokens(&id) {
        let mut socket = open(&app, &format!("/ws/{id}?token={bad}")).await;
        let (messages, close) = until_close(&mut socket).await;
        assert_eq!(messages.first().and_then(|m| m["code"].as_str()), Some("unauthorized"), "{what}: {messages:?}");
        assert_eq!(close, Some(4401), "{what}");
    }
    for access in [TokenAccess::View, TokenAccess::Edit, TokenAccess::Admin] {
        ws_refused(&app, &format!("/ws/{id}?token={}", token(&other_id, access)), "forbidden", 4403).await;
        ws_refused(&app, &format!("/ws/{view}?token={}", token(&other_id, access)), "forbidden", 4403).await;
    }

    let (mut viewer, init) = join(&app, &format!("/ws/{id}?name=Viewer&token={}", token(&id, TokenAccess::View))).await;
    assert_eq!(init["access"], "view", "{init}");
    assert!(init.get("viewId").is_none(), "{init}");
    let named = sign(&claims_for(&id, TokenAccess::Edit, Duration::from_secs(3600), Some("Claimed Name".into())));
    let (mut editor, init) = join(&app, &format!("/ws/{id}?name=Ignored&token={named}")).await;
    assert_eq!(init["access"], "edit", "{init}");
    assert_eq!(init["viewId"], view.as_str(), "{init}");
    let editor_id = init["userId"].as_str().unwrap().to_owned();
    let me = init["users"].as_array().unwrap().iter().find(|u| u["userId"] == editor_id.as_str()).cloned();
    assert_eq!(me.as_ref().map(|u| &u["name"]), Some(&json!("Claimed Name")), "{init}");
    let joined = next_of_type(&mut viewer, "user_joined").await;
    assert_eq!(joined["user"]["name"], "Claimed Name", "the token's name, not ?name=: {joined}");

    send(&mut editor, &json!({"type": "operation", "revision": 0, "ops": ["hi"]})).await;
    assert_eq!(next_of_type(&mut editor, "ack").await["revision"], 1);
    let operation = next_of_type(&mut viewer, "operation").await;
    assert_eq!((operation["revision"].as_u64(), &operation["ops"]), (Some(1), &json!(["hi"])), "{operation}");
    assert_edits_refused(&mut viewer, 1).await;
    assert_eq!(call_json(&app, Method::GET, &format!("/api/rooms/{id}"), Some(&admin)).await.1["code"], "hi");

    refused(&app, Method::DELETE, &format!("/api/rooms/{id}"), Some(&named), 403, "forbidden").await;
    send(&mut editor, &json!({"type": "ping"})).await;
    assert_eq!(next_reply(&mut editor).await["type"], "pong", "a refused delete closes nothing");
    let (status, _) = delete(&app, &id, Some(&admin)).await;
    assert_eq!(status, 204);
    assert_closed_with(&mut editor, "room_deleted", 4410).await;
    assert_closed_with(&mut viewer, "room_deleted", 4410).await;
    ws_refused(&app, &format!("/ws/{id}?token={admin}"), "room_not_found", 4404).await;
    // A token for a deleted room is still a valid token: the room is simply not found.
    ws_refused(&app, &format!("/ws/{id}?token={named}"), "room_not_found", 4404).await;
    app.stop().await;
}

#[actix_web::test]
async fn token_mode_over_websockets_memory() {
    token_mode_over_websockets(Store::Memory).await;
}

#[actix_web::test]
async fn token_mode_over_websockets_sqlite() {
    token_mode_over_websockets(Store::Sqlite).await;
}

#[actix_web::test]
async fn token_mode_over_websockets_postgres() {
    token_mode_over_websockets(Store::Postgres).await;
}

/// Token mode needs a secret of at least 32 bytes.
#[test]
fn token_mode_needs_a_long_secret() {
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    };
    for secret in [Some("short"), Some(""), None, Some("31 bytes, one short of enough..")] {
        let mut pairs = vec![("PAIRPAD__AUTH__MODE", "token")];
        if let Some(secret) = secret {
            pairs.push(("PAIRPAD__AUTH__SECRET", secret));
        }
        match Settings::load_from(Path::new("/nonexistent"), &env(&pairs)) {
            Ok(_) => panic!("token mode with the secret {secret:?} was accepted"),
            Err(e) => assert!(e.to_string().contains("auth.secret"), "{secret:?}: {e}"),
        }
    }
    let pairs = [("PAIRPAD__AUTH__MODE", "token"), ("PAIRPAD__AUTH__SECRET", SECRET)];
    let settings = Settings::load_from(Path::new("/nonexistent"), &env(&pairs)).expect("a long secret is accepted");
    assert_eq!(settings.auth.mode, AuthMode::Token);
    assert!(matches!(settings.gate(), Ok(Gate::Token { .. })));
    // Open mode needs no secret.
    let settings = Settings::load_from(Path::new("/nonexistent"), &[]).expect("the defaults");
    assert!(matches!(settings.gate(), Ok(Gate::Open)));
}

// ---------------------------------------------------------------------------------------------
// Expiry

fn rfc3339(value: &Value) -> SystemTime {
    humantime::parse_rfc3339(value.as_str().expect("a timestamp")).expect("RFC 3339")
}

/// A sweep 31 days ahead deletes the idle rooms (in batches) but not one with a participant;
/// `expiresAt` is 30 days after the last activity; deletions are counted on `/metrics`.
async fn idle_rooms_expire_but_joined_ones_stay(store: Store) {
    let Some(app) = spawn_app(store).await else { return };
    const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);
    let mut idle = Vec::new();
    for i in 0..5 {
        let created = create_open(&app, "plaintext", &format!("room {i}")).await;
        // `POST` answers when the room expires: 30 days after its creation.
        assert_eq!(rfc3339(&created["expiresAt"]), rfc3339(&created["createdAt"]) + THIRTY_DAYS, "{created}");
        idle.push(ids(&created));
    }
    let busy = create_open(&app, "plaintext", "busy").await;
    let (busy_id, busy_view) = ids(&busy);
    let (mut participant, _) = join(&app, &format!("/ws/{busy_view}?name=Reader")).await;

    let (status, body) = app.get(&format!("/api/rooms/{busy_id}")).await;
    assert_eq!(status, 200, "{body}");
    let expires_at = rfc3339(&body["expiresAt"]);
    let expected = rfc3339(&body["createdAt"]) + THIRTY_DAYS;
    let off = expires_at.duration_since(expected).unwrap_or_else(|e| e.duration());
    assert!(off < Duration::from_secs(120), "expiresAt {} is not about createdAt + 30 days", body["expiresAt"]);

    let before = metric(&app, "pairpad_rooms_deleted_total{reason=\"expired\"}").await.unwrap_or(0.0);
    let expiry = Expiry { batch: 2, pause: Duration::ZERO, ..Expiry::for_days(30).unwrap() };
    let in_31_days = Timestamp::from(SystemTime::now() + Duration::from_secs(31 * 86_400));
    assert_eq!(expiry::sweep(&app.hub, &expiry, in_31_days).await.unwrap(), 5);
    assert_eq!(expiry::sweep(&app.hub, &expiry, in_31_days).await.unwrap(), 0, "nothing left to expire");
    for (id, view) in &idle {
        refused(&app, Method::GET, &format!("/api/rooms/{id}"), None, 404, "room_not_found").await;
        refused(&app, Method::GET, &format!("/api/rooms/{view}"), None, 404, "room_not_found").await;
        refused(&app, Method::GET, &format!("/api/rooms/{id}/revisions/0"), None, 404, "room_not_found").await;
    }
    assert_eq!(app.room_code(&busy_id).await, "busy", "a room with a participant stays");
    send(&mut participant, &json!({"type": "ping"})).await;
    assert_eq!(next_reply(&mut participant).await["type"], "pong", "and its participant stays connected");
    let after = metric(&app, "pairpad_rooms_deleted_total{reason=\"expired\"}").await;
    assert!(after.is_some_and(|n| n >= before + 5.0), "counted on /metrics: {before} then {after:?}");
    app.stop().await;
}

#[actix_web::test]
async fn idle_rooms_expire_but_joined_ones_stay_memory() {
    idle_rooms_expire_but_joined_ones_stay(Store::Memory).await;
}

#[actix_web::test]
async fn idle_rooms_expire_but_joined_ones_stay_sqlite() {
    idle_rooms_expire_but_joined_ones_stay(Store::Sqlite).await;
}

#[actix_web::test]
async fn idle_rooms_expire_but_joined_ones_stay_postgres() {
    idle_rooms_expire_but_joined_ones_stay(Store::Postgres).await;
}

/// With `rooms.expire_after_days = 0` rooms never expire: no `expiresAt`.
#[actix_web::test]
async fn rooms_that_never_expire_have_no_expiry_date() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.rooms.expire_after_days = 0).await else { return };
    let created = create_open(&app, "plaintext", "").await;
    assert!(created.get("expiresAt").is_none(), "{created}");
    let (id, view) = ids(&created);
    for room in [id, view] {
        let (status, body) = app.get(&format!("/api/rooms/{room}")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("expiresAt").is_none(), "{body}");
    }
    app.stop().await;
}

/// The Rust client: a view id gives a read-only connection it knows about, and in token mode it
/// connects (and reconnects) with its token, and is refused without one.
#[actix_web::test]
async fn the_rust_client_knows_its_access_and_carries_its_token() {
    use pairpad_client::{Access, Client, ClientError};

    let Some(app) = spawn_app(Store::Memory).await else { return };
    let (room, view) = ids(&create_open(&app, "rust", "fn main() {}").await);
    let editor = Client::connect(&app.ws_base(), &room, Some("Ada")).await.expect("edit connection");
    assert_eq!(editor.access(), &Access::Edit { view_id: Some(view.clone()) });
    let mut reader = Client::connect(&app.ws_base(), &view, Some("Rex")).await.expect("view connection");
    assert_eq!(reader.access(), &Access::View);
    reader.reconnect().await.expect("a reader resumes");
    assert_eq!(reader.access(), &Access::View, "and stays read-only");
    app.stop().await;

    let Some(app) = spawn_app_with(Store::Memory, token_mode).await else { return };
    let created = app
        .http
        .post(app.url("/api/rooms"))
        .bearer_auth(token("*", TokenAccess::Admin))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let room = created["roomId"].as_str().expect("roomId").to_owned();
    let refused = Client::connect(&app.ws_base(), &room, None).await.err().expect("no token, no connection");
    assert!(matches!(&refused, ClientError::Refused { code, .. } if code == "unauthorized"), "{refused:?}");
    let edit = token(&room, TokenAccess::Edit);
    let mut client =
        Client::connect_with_token(&app.ws_base(), &room, Some("Ada"), Some(&edit)).await.expect("a valid token");
    assert!(matches!(client.access(), Access::Edit { .. }));
    client.reconnect().await.expect("the token is sent again on reconnecting");
    let viewer = Client::connect_with_token(&app.ws_base(), &room, None, Some(&token(&room, TokenAccess::View)))
        .await
        .expect("a view token");
    assert_eq!(viewer.access(), &Access::View);
    app.stop().await;
}
