//! Hostile input over the WebSocket itself: frames no well-behaved client sends (endless,
//! fragmented past the limit, not UTF-8), written byte by byte on a raw TCP connection so that
//! nothing in a client library can tidy them up.

use std::time::Duration;

use pairpad_server::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

use crate::helpers::{PATIENCE, Store, TestApp, spawn_app_with};

const OPCODE_CONTINUATION: u8 = 0x0;
const OPCODE_TEXT: u8 = 0x1;
const OPCODE_CLOSE: u8 = 0x8;

/// Opens a WebSocket by hand and returns the connection after the server's 101.
async fn raw_socket(app: &TestApp, room: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    let request = format!(
        "GET /ws/{room} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        app.port
    );
    stream.write_all(request.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.expect("handshake answer"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    stream
}

/// A masked client frame header announcing `len` payload bytes (the mask is zero, so the
/// payload goes out as written).
fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut header = vec![(u8::from(fin) << 7) | opcode];
    match len {
        0..=125 => header.push(0x80 | len as u8),
        126..=0xffff => {
            header.push(0x80 | 126);
            header.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            header.push(0x80 | 127);
            header.extend_from_slice(&len.to_be_bytes());
        }
    }
    header.extend_from_slice(&[0, 0, 0, 0]);
    header
}

fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    [frame_header(fin, opcode, payload.len() as u64), payload.to_vec()].concat()
}

/// Reads the server's frames until its close frame and returns the close code, after checking
/// that the last text frame before it was an `error` with `expected_error` (every close the server
/// starts says why first).
async fn close_code(mut reader: OwnedReadHalf, expected_error: &str) -> Option<u16> {
    let mut last_text = String::new();
    loop {
        let mut head = [0u8; 2];
        reader.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(reader.read_u16().await.ok()?),
            127 => reader.read_u64().await.ok()?,
            short => u64::from(short),
        };
        let mut payload = vec![0; len as usize];
        reader.read_exact(&mut payload).await.ok()?;
        match head[0] & 0x0f {
            OPCODE_TEXT => last_text = String::from_utf8_lossy(&payload).into_owned(),
            OPCODE_CLOSE => {
                let error: serde_json::Value = serde_json::from_str(&last_text).expect("an error before the close");
                assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("error"), Some(expected_error)));
                return payload.get(..2).map(|code| u16::from_be_bytes([code[0], code[1]]));
            }
            _ => {}
        }
    }
}

/// This process's resident memory (the server under test runs in it), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS");
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().expect("a number") * 1024
}

fn small_frames(settings: &mut Settings) {
    settings.websocket.max_frame_bytes = 64 * 1024;
}

/// A frame whose header announces 2^63-1 bytes is refused with 1009 as soon as the header is in,
/// however much of it follows: streaming 256 MiB behind the header leaves memory flat (before,
/// every byte was buffered and the connection stayed open).
#[actix_web::test]
async fn an_endless_frame_closes_at_its_header_and_memory_stays_flat() {
    let Some(app) = spawn_app_with(Store::Memory, small_frames).await else { return };
    let room = app.create_room("python", "").await;
    let (reader, mut writer) = raw_socket(&app, &room).await.into_split();
    let closed = tokio::spawn(close_code(reader, "message_too_large"));
    let before = resident_bytes();
    writer.write_all(&frame_header(true, OPCODE_TEXT, i64::MAX as u64)).await.expect("header");
    let chunk = vec![b' '; 1024 * 1024];
    let mut sent = 0;
    while sent < 256 && !closed.is_finished() {
        if writer.write_all(&chunk).await.is_err() {
            break;
        }
        sent += 1;
    }
    let code = tokio::time::timeout(PATIENCE, closed).await.expect("closed in time").expect("reader");
    let grown = resident_bytes().saturating_sub(before);
    assert_eq!(code, Some(1009));
    assert!(grown < 128 * 1024 * 1024, "memory grew by {} MiB while {sent} MiB streamed", grown >> 20);
    assert_still_serving(&app, &room).await;
    app.stop().await;
}

/// A message sent as many small fragments counts against the same limit as one frame: 1009.
#[actix_web::test]
async fn fragments_over_the_limit_close_with_1009() {
    let Some(app) = spawn_app_with(Store::Memory, small_frames).await else { return };
    let room = app.create_room("python", "").await;
    let (reader, mut writer) = raw_socket(&app, &room).await.into_split();
    let closed = tokio::spawn(close_code(reader, "message_too_large"));
    let piece = vec![b' '; 1024];
    writer.write_all(&frame(false, OPCODE_TEXT, &piece)).await.expect("first fragment");
    for _ in 0..100 {
        if writer.write_all(&frame(false, OPCODE_CONTINUATION, &piece)).await.is_err() {
            break;
        }
    }
    let code = tokio::time::timeout(PATIENCE, closed).await.expect("closed in time").expect("reader");
    assert_eq!(code, Some(1009));
    assert_still_serving(&app, &room).await;
    app.stop().await;
}

/// Fragments within the limit still make one message.
#[actix_web::test]
async fn fragments_within_the_limit_make_one_message() {
    let Some(app) = spawn_app_with(Store::Memory, small_frames).await else { return };
    let room = app.create_room("python", "").await;
    let (mut reader, mut writer) = raw_socket(&app, &room).await.into_split();
    for (fin, opcode, part) in
        [(false, OPCODE_TEXT, r#"{"type":"#), (false, OPCODE_CONTINUATION, r#""pi"#), (true, 0, r#"ng"}"#)]
    {
        writer.write_all(&frame(fin, opcode, part.as_bytes())).await.expect("fragment");
    }
    // The server answers `init`, then `pong`.
    let mut seen = String::new();
    while !seen.contains("\"pong\"") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, reader.read(&mut buf)).await.expect("an answer").expect("read");
        assert!(n > 0, "closed instead of answering: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    app.stop().await;
}

/// A text frame that is not UTF-8 closes with 1007 (invalid payload data), not 1002.
#[actix_web::test]
async fn invalid_utf8_closes_with_1007() {
    let Some(app) = spawn_app_with(Store::Memory, small_frames).await else { return };
    let room = app.create_room("python", "").await;
    let (reader, mut writer) = raw_socket(&app, &room).await.into_split();
    let closed = tokio::spawn(close_code(reader, "invalid_utf8"));
    writer.write_all(&frame(true, OPCODE_TEXT, b"{\"type\":\"ping\xff\xfe\"}")).await.expect("frame");
    let code = tokio::time::timeout(PATIENCE, closed).await.expect("closed in time").expect("reader");
    assert_eq!(code, Some(1007));
    app.stop().await;
}

/// After an abuser was closed, the room and the server serve everyone else as before.
async fn assert_still_serving(app: &TestApp, room: &str) {
    let mut client = app.connect(room, "Bystander").await;
    client.splice(0, 0, "still here").await.expect("edit");
    client.sync(Duration::from_secs(10)).await.expect("acknowledged");
    assert_eq!(app.room_code(room).await, "still here");
}

/// A client that follows the one-operation-in-flight rule and sends as fast as it can, far over
/// `ops_per_second`, is slowed down, never refused or closed, and converges (before, the server
/// dropped its operations with `rate_limited` and it waited forever for their acks).
#[actix_web::test]
async fn a_client_sending_as_fast_as_it_can_is_slowed_not_stalled() {
    let adjust = |s: &mut Settings| {
        s.websocket.ops_per_second = 50; // Bursts of 100.
        s.websocket.max_rate_violations = 5;
    };
    let Some(app) = spawn_app_with(Store::Sqlite, adjust).await else { return };
    let room = app.create_room("python", "").await;
    let mut fast = app.connect(&room, "Fast").await;
    let mut watcher = app.connect(&room, "Watcher").await;
    let started = std::time::Instant::now();
    for i in 0..200 {
        let at = fast.text().chars().count();
        fast.splice(at, 0, &format!("{}", i % 10)).await.expect("edit");
        fast.sync(PATIENCE).await.expect("acknowledged, never refused");
    }
    let took = started.elapsed();
    watcher.drain(Duration::from_millis(300)).await.expect("watcher");
    let expected: String = (0..200).map(|i| char::from(b'0' + (i % 10) as u8)).collect();
    assert_eq!(app.room_code(&room).await, expected);
    assert_eq!(fast.text(), expected);
    assert_eq!(watcher.text(), expected);
    assert!(took >= Duration::from_millis(1500), "100 operations over the burst were paced at 50/s: {took:?}");
    app.stop().await;
}

/// Operations based thousands of revisions back, pipelined from one connection, each need a read
/// of old operations from the store. Those reads happen one at a time beside the room's work, so
/// a bystander editing the same room is not held up (before, every read blocked the room: the
/// bystander's acks took seconds).
#[actix_web::test]
async fn old_base_revisions_do_not_hold_up_a_bystander() {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::json;
    use tokio_tungstenite::tungstenite::Message;

    const REVISIONS: u64 = 3000;
    let adjust = |s: &mut Settings| {
        s.rooms.history_window = 16;
        s.rooms.max_history_fetch = 4000;
    };
    let Some(app) = spawn_app_with(Store::Sqlite, adjust).await else { return };
    let room = app.create_room("python", "").await;
    let url = format!("{}/ws/{room}", app.ws_base());
    let (mut attacker, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    // Build the history: each operation prepends an `x` on top of the one before, pipelined in
    // chunks smaller than the outbound queue (the acks must be read, or the server drops a reader
    // that far behind).
    for chunk in (0..REVISIONS).collect::<Vec<_>>().chunks(500) {
        for &revision in chunk {
            let ops = if revision == 0 { json!(["x"]) } else { json!(["x", revision]) };
            let message = json!({"type": "operation", "revision": revision, "ops": ops});
            attacker.feed(Message::text(message.to_string())).await.expect("send");
        }
        attacker.flush().await.expect("flush");
        let mut acked = 0;
        while acked < chunk.len() {
            match tokio::time::timeout(PATIENCE, attacker.next()).await.expect("acks in time") {
                Some(Ok(Message::Text(text))) if text.contains("\"ack\"") => acked += 1,
                Some(Ok(Message::Text(text))) => assert!(!text.contains("\"error\""), "{text}"),
                Some(Ok(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    // The attack: operations on revision 10, each needing ~2,990 operations from the store.
    for _ in 0..200 {
        let message = json!({"type": "operation", "revision": 10, "ops": ["z", 10]});
        attacker.feed(Message::text(message.to_string())).await.expect("send");
    }
    attacker.flush().await.expect("flush");

    let mut bystander = app.connect(&room, "Bystander").await;
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = std::time::Instant::now();
        bystander.splice(0, 0, "b").await.expect("edit");
        bystander.sync(PATIENCE).await.expect("acknowledged");
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_secs(1), "the bystander's slowest ack took {slowest:?}");
    app.stop().await;
}
