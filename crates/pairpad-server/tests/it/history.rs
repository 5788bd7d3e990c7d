//! A room's history over REST (contract 1.1, "History"): the `rustcode` trace typed into a room
//! over a WebSocket, then read back revision by revision, page by page and point by point, on
//! every store and (SQLite, PostgreSQL) after a restart; every malformed or extreme input gets a
//! clear 4xx; retention forgets old operations but keeps checkpoints.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pairpad_protocol::Ops;
use pairpad_server::config::Settings;
use pairpad_server::retention::{self, Retention};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{PATIENCE, Rng, Store, TestApp, spawn_app_with, test_settings};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Checkpoints this often, so that the trace crosses hundreds of them.
const SNAPSHOT_EVERY: u64 = 50;
/// Operations typed ahead of their acks: enough to keep the group commit busy, few enough that
/// the server's outbound queue never fills. (A commit carries what was typed meanwhile, so
/// checkpoints fall at the first commit at least `SNAPSHOT_EVERY` operations after the last.)
const WINDOW: u64 = 256;

fn small_snapshots(settings: &mut Settings) {
    settings.rooms.snapshot_every = SNAPSHOT_EVERY;
}

/// Replaces the app's HTTP client by one that drops idle connections after a second: typing the
/// trace takes longer than the server's keep-alive (5 s), and a request sent on a pooled
/// connection just as the server closes it fails (`IncompleteMessage`).
fn fresh_connections(mut app: TestApp) -> TestApp {
    app.http = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(1)).build().expect("a client");
    app
}

/// The `rustcode` trace's patches (position, deleted, inserted; code points), in order.
fn trace_patches() -> Vec<(usize, usize, String)> {
    let path = format!("{}/../../tests/traces/rustcode.json.gz", env!("CARGO_MANIFEST_DIR"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("trace")).read_to_string(&mut json).expect("gzip");
    let value: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(value["startContent"], "");
    value["txns"]
        .as_array()
        .expect("txns")
        .iter()
        .flat_map(|t| t["patches"].as_array().expect("patches").clone())
        .map(|p| (p[0].as_u64().unwrap() as usize, p[1].as_u64().unwrap() as usize, p[2].as_str().unwrap().to_owned()))
        .collect()
}

/// The `opId` the typist sends with its `i`-th operation (0-based): every seventh has none.
fn typist_op_id(i: usize) -> Option<String> {
    (i % 7 != 6).then(|| format!("typist-{i}"))
}

/// A patch as an ot.js operation on a text of `len` code points.
fn wire_op(len: usize, (position, delete, insert): &(usize, usize, String)) -> Value {
    let mut ops = Vec::new();
    if *position > 0 {
        ops.push(json!(position));
    }
    if !insert.is_empty() {
        ops.push(json!(insert));
    }
    if *delete > 0 {
        ops.push(json!(-(*delete as i64)));
    }
    let rest = len - position - delete;
    if rest > 0 {
        ops.push(json!(rest));
    }
    Value::Array(ops)
}

async fn open(app: &TestApp, room: &str, name: &str) -> (Socket, Value) {
    let url = format!("{}/ws/{room}?name={name}", app.ws_base());
    let mut socket = tokio_tungstenite::connect_async(url).await.expect("connect").0;
    let init = next_json(&mut socket).await;
    assert_eq!(init["type"], "init", "{init}");
    (socket, init)
}

/// The next JSON message, skipping pings and pongs.
async fn next_json<S>(socket: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("a text message was expected, got {other:?}"),
        }
    }
}

/// Types `patches` into an empty room over one WebSocket as the typist, each operation based on
/// the revision before it (so none is transformed: operation `i` becomes revision `i + 1`), at
/// most `window` ahead of the acks. Answers the typist's user id.
async fn type_trace(app: &TestApp, room: &str, patches: &[(usize, usize, String)], window: u64) -> String {
    let (socket, init) = open(app, room, "typist").await;
    assert_eq!(init["revision"], 0);
    let user_id = init["userId"].as_str().expect("userId").to_owned();
    let (mut sink, mut stream) = socket.split();
    let (acked_tx, mut acked) = tokio::sync::watch::channel(0u64);
    let total = patches.len() as u64;
    let reader = tokio::spawn(async move {
        for revision in 1..=total {
            let ack = next_json(&mut stream).await;
            assert_eq!(ack["type"], "ack", "{ack}");
            assert_eq!(ack["revision"], revision, "{ack}");
            let i = (revision - 1) as usize;
            assert_eq!(ack["opId"].as_str(), typist_op_id(i).as_deref(), "{ack}");
            acked_tx.send_replace(revision);
        }
        stream
    });
    let mut len = 0;
    for (i, patch) in patches.iter().enumerate() {
        let base = i as u64;
        if base >= *acked.borrow() + window {
            // What is fed waits for a flush; the acks for it are what this waits for.
            sink.flush().await.expect("flush");
            acked.wait_for(|&acked| base < acked + window).await.expect("the reader runs");
        }
        let mut message = json!({"type": "operation", "revision": base, "ops": wire_op(len, patch)});
        if let Some(op_id) = typist_op_id(i) {
            message["opId"] = json!(op_id);
        }
        sink.feed(Message::text(message.to_string())).await.expect("send");
        if i % 32 == 31 || i + 1 == patches.len() {
            sink.flush().await.expect("flush");
        }
        len = len - patch.1 + patch.2.chars().count();
    }
    let stream = tokio::time::timeout(Duration::from_secs(120), reader).await.expect("every ack").expect("reader");
    let mut socket = sink.reunite(stream).expect("one socket");
    let _ = socket.close(None).await;
    user_id
}

/// Ada's edits after the trace: three insertions at the start, one at a time, with `opId`s.
const ADA_EDITS: [&str; 3] = ["// Ada was here\n", "// twice\n", "// three times\n"];

async fn ada_edits(app: &TestApp, room: &str, head: u64) -> String {
    let (mut socket, init) = open(app, room, "Ada").await;
    assert_eq!(init["revision"], head);
    let mut len = init["code"].as_str().expect("code").chars().count();
    for (k, text) in ADA_EDITS.iter().enumerate() {
        let revision = head + k as u64;
        let ops = wire_op(len, &(0, 0, (*text).to_owned()));
        let message = json!({"type": "operation", "revision": revision, "ops": ops, "opId": format!("ada-{k}")});
        socket.send(Message::text(message.to_string())).await.expect("send");
        // The typist before Ada may be announced as gone after her `init`: presence is not the answer.
        let ack = loop {
            let message = next_json(&mut socket).await;
            if !matches!(message["type"].as_str(), Some("user_joined" | "user_left" | "cursor")) {
                break message;
            }
        };
        assert_eq!((ack["type"].as_str(), ack["revision"].as_u64()), (Some("ack"), Some(revision + 1)), "{ack}");
        len += text.chars().count();
    }
    let _ = socket.close(None).await;
    init["userId"].as_str().expect("userId").to_owned()
}

/// Revisions to check: 0 to 120, multiples of `SNAPSHOT_EVERY` and their neighbours, random ones
/// and the last few; and each of `checkpoints` with its neighbours.
fn sampled_revisions(head: u64, checkpoints: &[u64], seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    let mut revisions: Vec<u64> = (0..=120).collect();
    for _ in 0..25 {
        let multiple = (1 + rng.below((head / SNAPSHOT_EVERY) as usize) as u64) * SNAPSHOT_EVERY;
        revisions.extend([multiple - 1, multiple, multiple + 1]);
    }
    revisions.extend((0..50).map(|_| rng.below(head as usize + 1) as u64));
    revisions.extend(checkpoints.iter().flat_map(|&c| [c.saturating_sub(1), c, c + 1]));
    revisions.extend(head.saturating_sub(3)..=head);
    revisions.retain(|&r| r <= head);
    revisions.sort_unstable();
    revisions.dedup();
    revisions
}

/// The edits of the room, in revision order: the trace's patches, then Ada's.
fn edits(patches: &[(usize, usize, String)]) -> impl Iterator<Item = (usize, usize, String)> + '_ {
    patches.iter().cloned().chain(ADA_EDITS.iter().map(|text| (0, 0, (*text).to_owned())))
}

/// The text after every revision in `revisions` (sorted); `on_text` is called with each.
async fn for_each_text(
    patches: &[(usize, usize, String)],
    revisions: &[u64],
    mut on_text: impl AsyncFnMut(u64, String),
) {
    let mut wanted = revisions.iter().copied().peekable();
    let mut rope = ropey::Rope::new();
    let steps = std::iter::once(None).chain(edits(patches).map(Some));
    for (revision, edit) in steps.enumerate() {
        if let Some((position, delete, insert)) = edit {
            rope.remove(position..position + delete);
            rope.insert(position, &insert);
        }
        if wanted.next_if_eq(&(revision as u64)).is_some() {
            on_text(revision as u64, rope.to_string()).await;
        }
        if wanted.peek().is_none() {
            return;
        }
    }
    panic!("revision {:?} was never made", wanted.next());
}

fn expected_texts(patches: &[(usize, usize, String)], revisions: &[u64]) -> BTreeMap<u64, String> {
    let mut texts = BTreeMap::new();
    let collect = async |revision, text| {
        texts.insert(revision, text);
    };
    futures_util::FutureExt::now_or_never(for_each_text(patches, revisions, collect)).expect("no waiting");
    texts
}

/// The text at each of `revisions` over REST equals the edits applied up to it.
async fn check_texts(app: &TestApp, room: &str, patches: &[(usize, usize, String)], revisions: &[u64]) {
    for_each_text(patches, revisions, async |revision, text| {
        let (status, body) = app.get(&format!("/api/rooms/{room}/revisions/{revision}")).await;
        assert_eq!(status, 200, "revision {revision}: {body}");
        assert_eq!(body["roomId"], room);
        assert_eq!(body["revision"], revision);
        assert_eq!(body["language"], "rust");
        assert!(body["code"].as_str() == Some(text.as_str()), "the text at revision {revision} differs");
    })
    .await;
    // The alias without /api answers the same.
    let (status, body) = app.get(&format!("/rooms/{room}/revisions/0")).await;
    assert_eq!((status, body["code"].as_str()), (200, Some("")));
}

/// The room's checkpoints, read from the store of a stopped server.
async fn checkpoints(url: &str, room: &str) -> Vec<u64> {
    let repo = connect(url).await;
    let id = pairpad_domain::RoomId::parse(room).unwrap();
    let mut found = Vec::new();
    let mut at = i64::MAX as u64;
    while let Some(checkpoint) = repo.checkpoint(id, at).await.unwrap() {
        found.push(checkpoint.revision);
        let Some(before) = checkpoint.revision.checked_sub(1) else { break };
        at = before;
    }
    drop(repo);
    crate::helpers::wait_until_released(url).await;
    found.reverse();
    found
}

async fn connect(url: &str) -> std::sync::Arc<dyn pairpad_domain::RoomRepo> {
    let url = pairpad_store::StoreUrl::parse(url).unwrap();
    let options = pairpad_store::StoreOptions { pool_size: 1, durability: pairpad_store::Durability::Disk };
    pairpad_store::connect(&url, options).await.unwrap().repo
}

/// Pages through every operation with `limit` and checks them: consecutive, with their authors'
/// names, user ids and `opId`s, RFC 3339 times, and together they rebuild the final text.
async fn check_operations(app: &TestApp, room: &str, ids: (&str, &str), trace_len: usize, end: &str) {
    let head = (trace_len + ADA_EDITS.len()) as u64;
    let mut rope = ropey::Rope::new();
    let mut from = 0;
    let mut pages = 0;
    loop {
        let (status, page) = app.get(&format!("/api/rooms/{room}/operations?from={from}&limit=1000")).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let operations = page["operations"].as_array().expect("operations");
        assert!(!operations.is_empty() && operations.len() <= 1000);
        for op in operations {
            from += 1;
            assert_eq!(op["revision"], from, "{op}");
            let i = (from - 1) as usize;
            let (user_id, name, op_id) = if i < trace_len {
                (ids.0, "typist", typist_op_id(i))
            } else {
                (ids.1, "Ada", Some(format!("ada-{}", i - trace_len)))
            };
            assert_eq!((op["userId"].as_str(), op["name"].as_str()), (Some(user_id), Some(name)), "{op}");
            match op_id {
                Some(op_id) => assert_eq!(op["opId"], op_id, "{op}"),
                None => assert!(op.get("opId").is_none(), "no opId: {op}"),
            }
            let at = op["committedAt"].as_str().expect("committedAt");
            humantime::parse_rfc3339(at).expect("RFC 3339");
            assert!(at.len() == 24 && at.ends_with('Z'), "UTC with milliseconds: {at}");
            let ops: Ops<'_> = serde_json::from_value(op["ops"].clone()).expect("ot.js ops");
            ops.into_operation().apply_to_rope(&mut rope).expect("the operation applies");
        }
        match page.get("next") {
            Some(next) => assert_eq!(next, &json!(from), "next is the last revision of the page"),
            None => break,
        }
    }
    assert_eq!(from, head);
    assert_eq!(pages, head.div_ceil(1000));
    assert!(rope == end, "the operations rebuild the text");

    // The default page is 100 long; a page ending exactly at the head has no next; at the head,
    // an empty page.
    let (status, page) = app.get(&format!("/api/rooms/{room}/operations")).await;
    assert_eq!((status, page["operations"].as_array().map(Vec::len), &page["next"]), (200, Some(100), &json!(100)));
    let (_, page) = app.get(&format!("/api/rooms/{room}/operations?from={}&limit=3", head - 3)).await;
    assert_eq!(page["operations"].as_array().map(Vec::len), Some(3));
    assert!(page.get("next").is_none(), "{page}");
    let (status, page) = app.get(&format!("/api/rooms/{room}/operations?from={head}")).await;
    assert_eq!((status, page), (200, json!({"operations": []})));
    let (status, page) = app.get(&format!("/rooms/{room}/operations?from={}&limit=1", head - 1)).await;
    assert_eq!((status, page["operations"][0]["name"].as_str()), (200, Some("Ada")));
}

/// The timeslider's points: runs of `ceil(head / buckets)` revisions, each with its last revision
/// and its authors; the last is the head.
async fn check_history(app: &TestApp, room: &str, trace_len: usize) {
    let head = (trace_len + ADA_EDITS.len()) as u64;
    for buckets in [None, Some(1), Some(7), Some(1000)] {
        let query = buckets.map(|b| format!("?buckets={b}")).unwrap_or_default();
        let (status, body) = app.get(&format!("/api/rooms/{room}/history{query}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["head"], head);
        let buckets = buckets.unwrap_or(100);
        let every = head.div_ceil(buckets);
        let points = body["points"].as_array().expect("points");
        assert_eq!(points.len() as u64, head.div_ceil(every), "buckets={buckets}");
        assert!(points.len() as u64 <= buckets);
        let mut previous_time = None;
        for (run, point) in points.iter().enumerate() {
            let last = ((run as u64 + 1) * every).min(head);
            assert_eq!(point["revision"], last, "{point}");
            let first = run as u64 * every + 1;
            let mut authors = Vec::new();
            if first <= trace_len as u64 {
                authors.push("typist");
            }
            if last > trace_len as u64 {
                authors.insert(0, "Ada");
            }
            assert_eq!(point["authors"], json!(authors), "{point}");
            let at = humantime::parse_rfc3339(point["committedAt"].as_str().expect("committedAt")).expect("RFC 3339");
            assert!(previous_time.is_none_or(|previous| previous <= at), "times ascend");
            previous_time = Some(at);
        }
    }
    let (status, body) = app.get(&format!("/rooms/{room}/history?buckets=2")).await;
    assert_eq!((status, body["points"].as_array().map(Vec::len)), (200, Some(2)));
}

/// How many of the trace's operations to type. The whole trace (40,173 operations) takes a
/// while on a debug build; `PAIRPAD_TEST_TRACE_OPS` chooses another prefix.
fn trace_len() -> usize {
    std::env::var("PAIRPAD_TEST_TRACE_OPS").ok().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

async fn the_trace_is_readable_at_every_revision(store: Store) {
    let Some(app) = spawn_app_with(store, small_snapshots).await.map(fresh_connections) else { return };
    let mut patches = trace_patches();
    patches.truncate(trace_len());
    let room = app.create_room("rust", "").await;
    let started = std::time::Instant::now();
    let typist = type_trace(&app, &room, &patches, WINDOW).await;
    eprintln!("{store:?}: {} operations typed in {:?}", patches.len(), started.elapsed());
    let ada = ada_edits(&app, &room, patches.len() as u64).await;
    let head = (patches.len() + ADA_EDITS.len()) as u64;
    let end = expected_texts(&patches, &[head]).remove(&head).unwrap();
    assert_eq!(app.room_code(&room).await, end);

    let started = std::time::Instant::now();
    let mut revisions = sampled_revisions(head, &[], head);
    if matches!(store, Store::Memory) {
        // No store to read the checkpoints from: every revision of the first several.
        revisions.extend(121..=(2 * (SNAPSHOT_EVERY + WINDOW)).min(head));
        revisions.sort_unstable();
        revisions.dedup();
    }
    check_texts(&app, &room, &patches, &revisions).await;
    eprintln!("{store:?}: {} revisions checked in {:?}", revisions.len(), started.elapsed());
    check_operations(&app, &room, (&typist, &ada), patches.len(), &end).await;
    check_history(&app, &room, patches.len()).await;
    let (status, body) = app.get(&format!("/api/rooms/{room}/revisions/{}", head + 1)).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("revision_not_found")), "{body}");

    if matches!(store, Store::Memory) {
        app.stop().await;
        return;
    }
    // The same answers from a server started afresh on the same database, at every checkpoint
    // (and around it) too.
    let stored = app.stop_keeping_store().await;
    let checkpoints = checkpoints(&stored.url, &room).await;
    assert_eq!(checkpoints.first(), Some(&0));
    assert!(checkpoints.windows(2).all(|w| w[1] - w[0] >= SNAPSHOT_EVERY), "{checkpoints:?}");
    assert!(checkpoints.len() as u64 > head / (SNAPSHOT_EVERY + 2 * WINDOW), "{checkpoints:?}");
    let mut settings = test_settings(&stored.url);
    small_snapshots(&mut settings);
    let app = fresh_connections(TestApp::restart(settings).await);
    // The first checkpoints, the last, and some between (each with its neighbours).
    let mut rng = Rng::new(head);
    let mut some: Vec<u64> = checkpoints.iter().take(5).chain(checkpoints.iter().rev().take(5)).copied().collect();
    some.extend((0..30).map(|_| checkpoints[rng.below(checkpoints.len())]));
    let revisions = sampled_revisions(head, &some, head + 1);
    let started = std::time::Instant::now();
    check_texts(&app, &room, &patches, &revisions).await;
    eprintln!(
        "{store:?}: {} of {} checkpoints, {} revisions checked after a restart in {:?}",
        some.len(),
        checkpoints.len(),
        revisions.len(),
        started.elapsed()
    );
    check_operations(&app, &room, (&typist, &ada), patches.len(), &end).await;
    check_history(&app, &room, patches.len()).await;
    app.stop().await;
    stored.drop_database().await;
}

#[actix_web::test]
async fn the_trace_is_readable_at_every_revision_in_memory() {
    the_trace_is_readable_at_every_revision(Store::Memory).await;
}

#[actix_web::test]
async fn the_trace_is_readable_at_every_revision_on_sqlite() {
    the_trace_is_readable_at_every_revision(Store::Sqlite).await;
}

#[actix_web::test]
async fn the_trace_is_readable_at_every_revision_on_postgres() {
    the_trace_is_readable_at_every_revision(Store::Postgres).await;
}

/// A room without operations: revision 0 is its text, no operations, no points.
#[actix_web::test]
async fn a_new_room_has_one_revision_and_no_operations() {
    let Some(app) = spawn_app_with(Store::Memory, |_| {}).await else { return };
    let room = app.create_room("python", "print('日本 🦀')\n").await;
    let (status, body) = app.get(&format!("/api/rooms/{room}/revisions/0")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"roomId": room, "revision": 0, "code": "print('日本 🦀')\n", "language": "python"}));
    let (status, body) = app.get(&format!("/api/rooms/{room}/revisions/000")).await;
    assert_eq!((status, body["revision"].as_u64()), (200, Some(0)), "leading zeros are the same number");
    let (status, body) = app.get(&format!("/api/rooms/{room}/operations")).await;
    assert_eq!((status, body), (200, json!({"operations": []})));
    let (status, body) = app.get(&format!("/api/rooms/{room}/history")).await;
    assert_eq!((status, body), (200, json!({"head": 0, "points": []})));
    app.stop().await;
}

/// Asserts a 4xx JSON error with `code`.
async fn refused(app: &TestApp, path: &str, status: u16, code: &str) {
    let response = app.http.get(app.url(path)).send().await.expect("GET");
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!((actual, body["error"].as_str()), (status, Some(code)), "GET {path}: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "GET {path}: {body}");
}

/// Malformed, extreme and unknown input to each endpoint: a clear 4xx each, never a 500.
#[actix_web::test]
async fn hostile_history_requests_get_clear_errors() {
    let Some(app) = spawn_app_with(Store::Sqlite, small_snapshots).await.map(fresh_connections) else { return };
    let room = app.create_room("rust", "").await;
    let patches: Vec<_> = trace_patches().into_iter().take(60).collect();
    type_trace(&app, &room, &patches, WINDOW).await;
    let unknown = "3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f";
    let huge = "99999999999999999999999999999999999999";
    let (u64_max, i64_max, beyond_i64) = ("18446744073709551615", "9223372036854775807", "9223372036854775808");

    for n in ["-1", "abc", "1.5", "1e3", "+1", "0x10", "%201", "1%20", "%E2%80%8B1", "٣", "1,000"] {
        refused(&app, &format!("/api/rooms/{room}/revisions/{n}"), 400, "invalid_revision").await;
    }
    for n in ["61", "1000", i64_max, beyond_i64, u64_max, huge] {
        refused(&app, &format!("/api/rooms/{room}/revisions/{n}"), 404, "revision_not_found").await;
    }
    refused(&app, &format!("/api/rooms/{unknown}/revisions/0"), 404, "room_not_found").await;
    refused(&app, &format!("/api/rooms/{unknown}/revisions/{huge}"), 404, "room_not_found").await;
    refused(&app, &format!("/api/rooms/{unknown}/revisions/x"), 400, "invalid_revision").await;
    refused(&app, "/api/rooms/not-a-room/revisions/0", 400, "invalid_room_id").await;
    refused(&app, "/rooms/not-a-room/revisions/0", 400, "invalid_room_id").await;

    let operations = format!("/api/rooms/{room}/operations");
    for from in ["-1", "abc", "", "1.5", "%2B1", "%00"] {
        refused(&app, &format!("{operations}?from={from}"), 400, "invalid_revision").await;
    }
    for limit in ["0", "1001", "-5", "abc", "", huge, "1e2"] {
        refused(&app, &format!("{operations}?limit={limit}"), 400, "invalid_limit").await;
    }
    for from in ["61", i64_max, beyond_i64, u64_max, huge] {
        refused(&app, &format!("{operations}?from={from}"), 404, "revision_not_found").await;
    }
    refused(&app, &format!("{operations}?from=1&from=2"), 400, "invalid_field").await;
    refused(&app, &format!("/api/rooms/{unknown}/operations"), 404, "room_not_found").await;
    refused(&app, &format!("/api/rooms/{unknown}/operations?from={huge}"), 404, "room_not_found").await;
    refused(&app, &format!("/api/rooms/{unknown}/operations?limit=0"), 400, "invalid_limit").await;
    refused(&app, "/api/rooms/0/operations", 400, "invalid_room_id").await;
    // Unknown parameters are ignored.
    let (status, body) = app.get(&format!("{operations}?from=59&cache=1")).await;
    assert_eq!((status, body["operations"][0]["revision"].as_u64()), (200, Some(60)), "{body}");

    let history = format!("/api/rooms/{room}/history");
    for buckets in ["0", "1001", "-1", "x", "", huge, "2.0"] {
        refused(&app, &format!("{history}?buckets={buckets}"), 400, "invalid_field").await;
    }
    refused(&app, &format!("{history}?buckets=1&buckets=2"), 400, "invalid_field").await;
    refused(&app, &format!("/api/rooms/{unknown}/history"), 404, "room_not_found").await;
    refused(&app, "/rooms/x/history", 400, "invalid_room_id").await;
    let (status, body) = app.get(&format!("{history}?buckets=1000")).await;
    assert_eq!((status, body["points"].as_array().map(Vec::len)), (200, Some(60)), "one point per revision");
    app.stop().await;
}

/// Retention: a sweep (as the hourly task runs it, here with a clock two days ahead) forgets the
/// operations before the latest snapshot; checkpoints and the recent revisions stay readable,
/// older revisions and pages answer `revision_not_found`, and the count is on `/metrics`.
async fn retention_keeps_checkpoints(store: Store) {
    let Some(app) = spawn_app_with(store, small_snapshots).await.map(fresh_connections) else { return };
    let room = app.create_room("rust", "").await;
    let patches: Vec<_> = trace_patches().into_iter().take(130).collect();
    // One operation per commit: the checkpoints are exactly at 50 and 100.
    type_trace(&app, &room, &patches, 1).await;
    let expected = expected_texts(&patches, &[0, 50, 99, 100, 101, 130]);
    let stored = app.stop_keeping_store().await;

    assert_eq!(checkpoints(&stored.url, &room).await, [0, 50, 100]);
    let repo = connect(&stored.url).await;
    let keep_a_day = Retention { batch: 7, pause: Duration::ZERO, ..Retention::for_days(1).unwrap() };
    let in_two_days = pairpad_domain::Timestamp::from(std::time::SystemTime::now() + Duration::from_secs(2 * 86_400));
    // The latest snapshot is at 100: revisions 1 to 99 go, 100 to 130 stay.
    assert_eq!(retention::sweep(repo.as_ref(), &keep_a_day, in_two_days).await.unwrap(), 99);
    assert_eq!(retention::sweep(repo.as_ref(), &keep_a_day, in_two_days).await.unwrap(), 0);
    drop(repo);
    crate::helpers::wait_until_released(&stored.url).await;

    let mut settings = test_settings(&stored.url);
    small_snapshots(&mut settings);
    let app = fresh_connections(TestApp::restart(settings).await);
    for revision in [0, 50, 100, 101, 130] {
        let (status, body) = app.get(&format!("/api/rooms/{room}/revisions/{revision}")).await;
        assert_eq!((status, body["code"].as_str()), (200, Some(expected[&revision].as_str())), "revision {revision}");
    }
    refused(&app, &format!("/api/rooms/{room}/revisions/99"), 404, "revision_not_found").await;
    refused(&app, &format!("/api/rooms/{room}/operations"), 404, "revision_not_found").await;
    let (status, page) = app.get(&format!("/api/rooms/{room}/operations?from=99")).await;
    assert_eq!((status, page["operations"].as_array().map(Vec::len)), (200, Some(31)), "{page}");
    let (status, body) = app.get(&format!("/api/rooms/{room}/history?buckets=13")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["head"], 130);
    let points: Vec<u64> = body["points"].as_array().unwrap().iter().map(|p| p["revision"].as_u64().unwrap()).collect();
    assert_eq!(points, [100, 110, 120, 130], "runs of 10 with kept operations");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let forgotten = metrics
        .lines()
        .find_map(|line| line.strip_prefix("pairpad_history_operations_forgotten_total "))
        .and_then(|value| value.parse::<f64>().ok());
    assert!(forgotten.is_some_and(|n| n >= 99.0), "counted on /metrics: {forgotten:?}");
    app.stop().await;
    stored.drop_database().await;
}

#[actix_web::test]
async fn retention_keeps_checkpoints_on_sqlite() {
    retention_keeps_checkpoints(Store::Sqlite).await;
}

#[actix_web::test]
async fn retention_keeps_checkpoints_on_postgres() {
    retention_keeps_checkpoints(Store::Postgres).await;
}

/// With `history.keep_days` set, the server starts its sweeper and still stops promptly.
#[actix_web::test]
async fn a_server_with_retention_starts_and_stops() {
    let Some(app) = spawn_app_with(Store::Sqlite, |s| s.history.keep_days = 30).await else { return };
    let room = app.create_room("rust", "fn main() {}").await;
    let (status, _) = app.get(&format!("/api/rooms/{room}/revisions/0")).await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("stops promptly");
}
