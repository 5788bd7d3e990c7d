//! Every limit at the server's edges, each with an abuser that is stopped and another participant
//! who is not: per-connection operation and cursor rates, participants per room, connections in
//! all, document size, frame size, CORS and WebSocket origins.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pairpad_client::{Client, ClientError, Event};
use pairpad_server::config::Settings;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{PATIENCE, Socket, Store, TestApp, next_json, spawn_app_with, until_close};

/// A bare WebSocket, for abusers: it sends what it likes and sees the close code.
async fn open(app: &TestApp, room: &str) -> Socket {
    tokio_tungstenite::connect_async(format!("{}/ws/{room}", app.ws_base())).await.expect("connect").0
}

/// Sends `message` over and over, as fast as the socket takes it, reading whatever comes back,
/// until the server closes the connection (or `most` messages went out without a close).
async fn flood(socket: &mut Socket, message: &Value, most: usize) -> (Vec<Value>, Option<u16>) {
    let mut received = Vec::new();
    for _ in 0..most {
        if socket.send(Message::text(message.to_string())).await.is_err() {
            break;
        }
        // Read what has already arrived without waiting (a timeout polls its future first).
        while let Ok(incoming) = tokio::time::timeout(Duration::ZERO, socket.next()).await {
            match incoming {
                Some(Ok(Message::Text(text))) => received.push(serde_json::from_str(&text).expect("JSON")),
                Some(Ok(Message::Close(frame))) => return (received, frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
                other => panic!("unexpected {other:?} while flooding"),
            }
        }
    }
    let (rest, code) = until_close(socket).await;
    received.extend(rest);
    (received, code)
}

fn count_errors(messages: &[Value], code: &str) -> usize {
    messages.iter().filter(|m| m["type"] == "error" && m["code"] == code).count()
}

/// Expects a refusal: one `error` message with `code`, then a close with `close_code`.
async fn expect_refusal(socket: &mut Socket, code: &str, close_code: u16) {
    let (messages, close) = until_close(socket).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((messages[0]["type"].as_str(), messages[0]["code"].as_str()), (Some("error"), Some(code)));
    assert_eq!(close, Some(close_code));
}

/// A participant that edits `count` times, each acknowledged; panics on any `error`.
async fn edit_calmly(client: &mut Client, count: usize, text: &str) {
    for _ in 0..count {
        client.splice(0, 0, text).await.expect("edit");
        client.sync(PATIENCE).await.expect("acknowledged without error");
    }
}

/// An abuser flooding operations is read no faster than its rate (nothing it sent is dropped),
/// and once it has kept its next message queued behind `max_rate_violations` throttled ones in a
/// row it gets one `rate_limited` error and is closed with 4029; a participant editing in the same
/// room at the same time is never refused.
#[actix_web::test]
async fn flooding_operations_is_rate_limited_then_closed() {
    let adjust = |s: &mut Settings| {
        s.websocket.ops_per_second = 20; // Bursts of 40.
        s.websocket.max_rate_violations = 20;
    };
    let Some(app) = spawn_app_with(Store::Memory, adjust).await else { return };
    let room = app.create_room("plaintext", "abc").await;
    let mut good = app.connect(&room, "good").await;
    let mut abuser = open(&app, &room).await;
    let _init = next_json(&mut abuser).await;
    let _joined = good.next_event_within(PATIENCE).await.unwrap();

    // The good participant edits at a human pace while the abuser floods.
    let calm = tokio::spawn(async move {
        for _ in 0..10 {
            edit_calmly(&mut good, 1, "g").await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        good
    });
    // Each flood message is valid: it inserts one `a` on top of revision 0 (transformed by the server).
    let insert = json!({"type": "operation", "revision": 0, "ops": ["a", 3]});
    let started = std::time::Instant::now();
    let (messages, close) = flood(&mut abuser, &insert, 10_000).await;
    let flooded_for = started.elapsed().as_secs_f64();
    let mut good = calm.await.unwrap();

    assert_eq!(close, Some(4029), "sustained abuse ends in a close");
    assert_eq!(count_errors(&messages, "rate_limited"), 1, "one error, before the close: {messages:?}");
    assert_eq!(messages.iter().filter(|m| m["type"] == "error").count(), 1, "nothing was refused");
    good.drain(Duration::from_millis(300)).await.unwrap();
    let text = app.room_code(&room).await;
    assert_eq!(good.text(), text, "the good participant is in sync");
    let applied = text.matches('a').count() - 1; // Minus the `a` of "abc".
    let acked = messages.iter().filter(|m| m["type"] == "ack").count();
    assert!(
        acked >= 40 && applied >= acked,
        "every acknowledged operation was applied: {acked} acks, {applied} applied"
    );
    let allowed = 40.0 + 20.0 * flooded_for + 5.0;
    assert!((applied as f64) <= allowed, "the abuser was read at its rate: {applied} in {flooded_for:.1} s");
    assert_eq!(text.matches('g').count(), 10, "every calm edit was applied");
    // And still can edit after the abuser is gone.
    edit_calmly(&mut good, 1, "!").await;
    app.stop().await;
}

/// Cursor spam is limited separately: the abuser is read at its cursor rate, closed with 4029,
/// and the others receive no more of its cursors than that rate allows, then edit as usual.
#[actix_web::test]
async fn flooding_cursors_is_rate_limited_then_closed() {
    let adjust = |s: &mut Settings| {
        s.websocket.cursors_per_second = 20; // Bursts of 40.
        s.websocket.max_rate_violations = 20;
    };
    let Some(app) = spawn_app_with(Store::Memory, adjust).await else { return };
    let room = app.create_room("plaintext", "abc").await;
    let mut good = app.connect(&room, "good").await;
    let mut abuser = open(&app, &room).await;
    let init = next_json(&mut abuser).await;
    let abuser_id = init["userId"].as_str().expect("userId").to_owned();
    let _joined = good.next_event_within(PATIENCE).await.unwrap();

    let cursor = json!({"type": "cursor", "revision": 0, "selection": {"anchor": 1, "head": 2}});
    let started = std::time::Instant::now();
    let (messages, close) = flood(&mut abuser, &cursor, 10_000).await;
    let flooded_for = started.elapsed().as_secs_f64();
    assert_eq!(close, Some(4029));
    assert_eq!(count_errors(&messages, "rate_limited"), 1);

    let events = good.drain(Duration::from_millis(300)).await.unwrap();
    let relayed = events.iter().filter(|e| matches!(e, Event::Cursor { user_id, .. } if *user_id == abuser_id)).count();
    let allowed = 40.0 + 20.0 * flooded_for + 5.0;
    assert!(relayed >= 40 && relayed as f64 <= allowed, "cursors relayed at the rate: {relayed} in {flooded_for:.1} s");
    assert!(events.iter().any(|e| matches!(e, Event::Left { user_id } if *user_id == abuser_id)));
    edit_calmly(&mut good, 5, "g").await;
    assert_eq!(app.room_code(&room).await, "gggggabc");
    app.stop().await;
}

/// A room at `max_users_per_room` refuses the next participant (`room_full`, 4503); those inside
/// go on, and other rooms still accept people.
#[actix_web::test]
async fn a_full_room_refuses_the_next_participant() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.rooms.max_users_per_room = 2).await else { return };
    let room = app.create_room("plaintext", "").await;
    let mut alice = app.connect(&room, "alice").await;
    let mut bob = app.connect(&room, "bob").await;
    let mut mallory = open(&app, &room).await;
    expect_refusal(&mut mallory, "room_full", 4503).await;

    edit_calmly(&mut alice, 3, "a").await;
    edit_calmly(&mut bob, 3, "b").await;
    alice.drain(Duration::from_millis(200)).await.unwrap();
    assert_eq!(alice.text(), bob.text());
    let (_, body) = app.get(&format!("/api/rooms/{room}")).await;
    assert_eq!((body["activeUsers"].as_u64(), body["code"].as_str().map(str::len)), (Some(2), Some(6)));

    let other = app.create_room("plaintext", "").await;
    let mut carol = app.connect(&other, "carol").await;
    edit_calmly(&mut carol, 1, "c").await;
    app.stop().await;
}

/// Above `max_connections` in all, a new WebSocket is refused (`too_many_connections`, 4503)
/// whatever the room; the open ones are unaffected, and a freed slot can be used again.
#[actix_web::test]
async fn the_server_refuses_connections_above_its_total() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.websocket.max_connections = 2).await else { return };
    let first = app.create_room("plaintext", "").await;
    let second = app.create_room("plaintext", "").await;
    let mut alice = app.connect(&first, "alice").await;
    let bob = app.connect(&second, "bob").await;
    let mut mallory = open(&app, &first).await;
    expect_refusal(&mut mallory, "too_many_connections", 4503).await;
    edit_calmly(&mut alice, 3, "a").await;
    assert_eq!(app.room_code(&first).await, "aaa");

    bob.close().await.unwrap();
    let mut admitted = None;
    for _ in 0..100 {
        match Client::connect(&app.ws_base(), &second, Some("carol")).await {
            Ok(client) => {
                admitted = Some(client);
                break;
            }
            Err(ClientError::Refused { code, .. }) if code == "too_many_connections" => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let mut carol = admitted.expect("the slot bob freed is reused");
    edit_calmly(&mut carol, 1, "c").await;
    edit_calmly(&mut alice, 1, "a").await;
    app.stop().await;
}

/// Edits that would make the document longer than `max_document_chars` are refused
/// (`document_too_large`) and change nothing; the abuser's connection stays usable, the others
/// go on, and REST refuses too-long rooms with 413.
#[actix_web::test]
async fn documents_cannot_grow_past_their_limit() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.rooms.max_document_chars = 100).await else { return };
    let room = app.create_room("plaintext", "abc").await;
    let mut good = app.connect(&room, "good").await;
    let mut abuser = app.connect(&room, "abuser").await;
    let _joined = good.next_event_within(PATIENCE).await.unwrap();

    // Up to the limit exactly is fine (97 + 3 = 100 code points, some of them multi-byte).
    good.splice(3, 0, &"🦀".repeat(97)).await.unwrap();
    good.sync(PATIENCE).await.unwrap();
    abuser.drain(Duration::from_millis(200)).await.unwrap();
    let full = app.room_code(&room).await;
    assert_eq!(full.chars().count(), 100);

    let revision = abuser.doc().revision();
    for message in [
        json!({"type": "operation", "revision": revision, "ops": ["x", 100]}),
        json!({"type": "operation", "revision": revision, "ops": ["y".repeat(5000), -100]}),
        json!({"type": "code_update", "code": "z".repeat(101)}),
    ] {
        abuser.send_json(&message).await.unwrap();
        match abuser.next_event_within(PATIENCE).await.unwrap() {
            Event::Error { code, .. } => assert_eq!(code, "document_too_large"),
            other => panic!("document_too_large expected, got {other:?}"),
        }
    }
    assert_eq!(app.room_code(&room).await, full, "nothing was applied");
    assert!(good.drain(Duration::from_millis(200)).await.unwrap().is_empty(), "the others saw nothing");

    // The abuser may still shrink the document; the good participant goes on editing.
    abuser.splice(0, 3, "").await.unwrap();
    abuser.sync(PATIENCE).await.unwrap();
    good.drain(Duration::from_millis(200)).await.unwrap();
    edit_calmly(&mut good, 3, "g").await;
    assert_eq!(app.room_code(&room).await, format!("ggg{}", "🦀".repeat(97)));

    let (status, body) = app.post("/api/rooms", &json!({"code": "x".repeat(101)})).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("document_too_large")));
    app.stop().await;
}

/// A frame over `max_frame_bytes` closes the sender's connection with 1009 and applies nothing;
/// a frame under it is fine; the other participant sees the sender leave and goes on.
#[actix_web::test]
async fn oversized_frames_close_only_their_sender() {
    let Some(app) = spawn_app_with(Store::Memory, |s| s.websocket.max_frame_bytes = 1024).await else { return };
    let room = app.create_room("plaintext", "").await;
    let mut good = app.connect(&room, "good").await;
    let mut abuser = open(&app, &room).await;
    let _init = next_json(&mut abuser).await;
    let _joined = good.next_event_within(PATIENCE).await.unwrap();

    let fits = json!({"type": "code_update", "code": "y".repeat(900)}).to_string();
    assert!(fits.len() < 1024);
    abuser.send(Message::text(fits)).await.unwrap();
    assert_eq!(next_json(&mut abuser).await["type"], "ack");
    abuser.send(Message::text(json!({"type": "code_update", "code": "z".repeat(4096)}).to_string())).await.unwrap();
    let (_, close) = until_close(&mut abuser).await;
    assert_eq!(close, Some(1009));

    let events = good.drain(Duration::from_millis(300)).await.unwrap();
    assert!(events.iter().any(|e| matches!(e, Event::Left { .. })), "the abuser was announced as gone");
    assert_eq!(app.room_code(&room).await, "y".repeat(900), "the oversized frame applied nothing");
    edit_calmly(&mut good, 2, "g").await;
    assert_eq!(good.text(), format!("gg{}", "y".repeat(900)));
    app.stop().await;
}

fn allow_origin(response: &reqwest::Response) -> Option<String> {
    response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned())
}

/// CORS: browsers from localhost, the configured origins and the server's own origin on one of
/// its `public_hosts` get `Access-Control-Allow-Origin`; any other origin does not (so a browser
/// will not hand it the answer), on simple requests and on preflights.
#[actix_web::test]
async fn cors_allows_localhost_and_configured_origins_only() {
    let adjust = |s: &mut Settings| {
        s.server.allowed_origins = vec!["https://pair.example.com".to_owned()];
        s.server.public_hosts = vec!["pair.internal:8080".to_owned()];
    };
    let Some(app) = spawn_app_with(Store::Memory, adjust).await else { return };
    let get = |origin: &'static str| app.http.get(app.url("/health")).header("origin", origin).send();
    let evil = get("https://evil.example").await.unwrap();
    assert_eq!(allow_origin(&evil), None);
    for origin in ["http://localhost:5173", "http://127.0.0.1:3000", "https://pair.example.com"] {
        assert_eq!(allow_origin(&get(origin).await.unwrap()).as_deref(), Some(origin));
    }
    let same_origin = |host: &'static str| {
        let origin = format!("http://{host}");
        app.http.get(app.url("/health")).header("host", host).header("origin", origin).send()
    };
    let ours = same_origin("pair.internal:8080").await.unwrap();
    assert_eq!(allow_origin(&ours).as_deref(), Some("http://pair.internal:8080"));
    assert_eq!(allow_origin(&same_origin("rebind.evil.example:8080").await.unwrap()), None);
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/rooms"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let refused = preflight("https://evil.example").await.unwrap();
    assert_eq!(allow_origin(&refused), None);
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.expect("a JSON error body");
    assert_eq!(body["error"], "cors_refused", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let allowed = preflight("https://pair.example.com").await.unwrap();
    assert_eq!(allow_origin(&allowed).as_deref(), Some("https://pair.example.com"));
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    // The refused origin did not disturb anyone else.
    let created = app.http.post(app.url("/api/rooms")).header("origin", "http://localhost:5173").send().await;
    assert_eq!(created.unwrap().status(), 201);
    app.stop().await;
}

/// Opens a WebSocket with extra request headers.
async fn open_with(app: &TestApp, room: &str, headers: &[(&str, &str)]) -> Result<Socket, tungstenite::Error> {
    let mut request = format!("{}/ws/{room}", app.ws_base()).into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
}

/// Browsers do not apply CORS to WebSockets, so the server checks `Origin` itself: another site's
/// page is refused with 403 `origin_not_allowed` before any upgrade (the room never sees it), and
/// so is a page whose origin matches its `Host` on a name that is not the server's (DNS
/// rebinding); localhost, the configured origins, the server's own origin on one of its
/// `public_hosts` and clients without `Origin` join.
#[actix_web::test]
async fn websocket_origins_are_checked_before_the_upgrade() {
    let adjust = |s: &mut Settings| {
        s.server.allowed_origins = vec!["https://pair.example.com".to_owned()];
        s.server.public_hosts = vec!["pair.internal:8080".to_owned()];
    };
    let Some(app) = spawn_app_with(Store::Memory, adjust).await else { return };
    let room = app.create_room("plaintext", "").await;
    let mut good = app.connect(&room, "good").await;

    let rebinding = [("host", "rebind.evil.example:8080"), ("origin", "http://rebind.evil.example:8080")];
    let refused: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("origin", "https://pair.example.com.evil.example")],
        &rebinding,
    ];
    for headers in refused {
        match open_with(&app, &room, headers).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{headers:?}");
                let body: Value = serde_json::from_slice(response.body().as_deref().expect("a body")).unwrap();
                assert_eq!(body["error"], "origin_not_allowed", "{headers:?}");
                assert!(body["message"].is_string());
            }
            Ok(_) => panic!("{headers:?} was let in"),
            Err(e) => panic!("{headers:?}: a 403 was expected, got {e}"),
        }
    }
    assert!(good.drain(Duration::from_millis(200)).await.unwrap().is_empty(), "nobody joined");
    edit_calmly(&mut good, 2, "g").await;

    let same_origin = [("host", "pair.internal:8080"), ("origin", "http://pair.internal:8080")];
    let allowed: [&[(&str, &str)]; 4] =
        [&[("origin", "http://localhost:5173")], &[("origin", "https://pair.example.com")], &same_origin, &[]];
    for headers in allowed {
        let mut socket = open_with(&app, &room, headers).await.unwrap_or_else(|e| panic!("{headers:?}: {e}"));
        assert_eq!(next_json(&mut socket).await["type"], "init", "{headers:?}");
        socket.close(None).await.unwrap();
    }
    let (_, body) = app.get(&format!("/api/rooms/{room}")).await;
    assert_eq!(body["code"], "gg");
    app.stop().await;
}
