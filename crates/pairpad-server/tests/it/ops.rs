//! Running Pairpad as a service: the OpenAPI document and its offline page, metrics that move
//! while a room is edited, readiness while draining, and JSON logs without document text.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use oas3::spec::{ObjectOrReference, Schema};
use pairpad_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{PATIENCE, Store, TestApp, spawn_app};

/// Every REST route and the WebSocket upgrade, as `METHOD path` in OpenAPI's path syntax.
const DOCUMENTED: [&str; 11] = [
    "GET /health",
    "GET /ready",
    "GET /metrics",
    "POST /api/rooms",
    "GET /api/rooms/{roomId}",
    "DELETE /api/rooms/{roomId}",
    "GET /api/rooms/{roomId}/revisions/{n}",
    "GET /api/rooms/{roomId}/operations",
    "GET /api/rooms/{roomId}/history",
    "POST /api/autocomplete",
    "GET /ws/{roomId}",
];

/// Resolves a schema (following `$ref`s) to its object form.
fn object(schema: &Schema, spec: &oas3::Spec) -> oas3::spec::ObjectSchema {
    match schema.resolve(spec).expect("the schema's $ref resolves") {
        Schema::Object(object) => match *object {
            ObjectOrReference::Object(object) => object,
            ObjectOrReference::Ref { ref_path, .. } => panic!("{ref_path} is still a reference"),
        },
        Schema::Boolean(_) => panic!("a boolean schema where an object was expected"),
    }
}

/// The document parses as OpenAPI 3.1 with an independent model (oas3), names every route, every
/// `$ref` resolves, and every REST error response is the `{"error","message"}` body.
#[actix_web::test]
async fn the_openapi_document_is_openapi_3_and_lists_every_route() {
    let Some(app) = spawn_app(Store::Memory).await else { return };
    let response = app.http.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let text = response.text().await.unwrap();
    let spec = oas3::from_json(&text).expect("an OpenAPI 3.1 document");
    let version = spec.validate_version().expect("a supported OpenAPI version");
    assert_eq!(version.major, 3);

    let listed: BTreeSet<String> =
        spec.operations().map(|(path, method, _)| format!("{} {path}", method.as_str())).collect();
    let expected: BTreeSet<String> = DOCUMENTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, expected, "the documented operations");

    for (path, method, operation) in spec.operations() {
        let name = format!("{method} {path}");
        let declared = operation.responses.as_ref().map_or(0, |r| r.len());
        let responses = operation.responses(&spec);
        assert!(declared > 0 && responses.len() == declared, "{name}: every response resolves");
        assert!(operation.description.as_deref().is_some_and(|d| !d.is_empty()), "{name} is described");
        if let Some(body) = operation.request_body(&spec).expect("the request body resolves") {
            for media in body.content.values() {
                media.schema(&spec).expect("the request schema resolves");
            }
        }
        for (status, response) in &responses {
            for media in response.content.values() {
                let schema = media.schema(&spec).expect("the response schema resolves");
                // Health and readiness answer 503 with their own body; every other error is the
                // common error body.
                let is_error = status.starts_with('4') || status.starts_with('5');
                if is_error && !["/health", "/ready"].contains(&path.as_str()) {
                    let schema = object(&schema.expect("an error schema"), &spec);
                    let mut required = schema.required.clone();
                    required.sort();
                    assert_eq!(required, ["error", "message"], "{name} {status}");
                }
            }
        }
    }
    let paths = spec.paths.as_ref().expect("paths");
    let ws = paths["/ws/{roomId}"].get.as_ref().expect("the WebSocket upgrade");
    assert!(ws.description.as_deref().is_some_and(|d| d.contains("docs/PROTOCOL.md")));
    let rooms = paths["/api/rooms"].post.as_ref().expect("room creation");
    assert!(rooms.description.as_deref().is_some_and(|d| d.contains("`POST /rooms` is an alias")));
    let created = &rooms.responses(&spec)["201"];
    assert!(created.headers.contains_key("Location"));
    let room = object(&created.content["application/json"].schema(&spec).unwrap().unwrap(), &spec);
    for field in ["roomId", "language", "code", "revision", "createdAt"] {
        assert!(room.properties.contains_key(field), "RoomResponse.{field}");
    }

    // The document describes what is served: its paths answer (an unknown room is a 404 of that
    // route, not the catch-all `not_found`).
    let (status, body) = app.get("/api/rooms/3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("room_not_found")));
    app.stop().await;
}

/// The values of every `src="…"` and `href="…"` attribute in a page.
fn referenced_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').expect("a closing quote");
            urls.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    urls
}

/// `/api/docs` redirects to the Swagger UI page, which loads only same-origin assets, all served
/// by the binary itself, and is set up to read our document without the online validator.
#[actix_web::test]
async fn the_api_docs_page_works_offline() {
    let Some(app) = spawn_app(Store::Memory).await else { return };
    let response = app.http.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.url().path().ends_with("/api/docs/"), "redirected to {}", response.url());
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    let urls = referenced_urls(&html);
    assert!(urls.iter().any(|u| u.ends_with(".js")), "the page loads scripts: {urls:?}");
    for url in &urls {
        let lower = url.to_ascii_lowercase();
        assert!(
            !(lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//")),
            "the page loads {url} from another site"
        );
        let asset = app.http.get(app.url(&format!("/api/docs/{}", url.trim_start_matches("./")))).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{url} is served");
    }
    let initializer = app.http.get(app.url("/api/docs/swagger-initializer.js")).send().await.unwrap();
    let initializer = initializer.text().await.unwrap();
    assert!(initializer.contains("\"url\": \"/api/openapi.json\""), "{initializer}");
    assert!(initializer.contains("\"validatorUrl\": \"none\""), "{initializer}");
    app.stop().await;
}

/// The sum of a metric's samples whose labels include all of `labels`; `None` when it has none.
fn sample(page: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in page.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches =
            labels.iter().all(|(key, value)| label_text.split(',').any(|pair| pair == format!("{key}=\"{value}\"")));
        if metric == name && matches {
            *total.get_or_insert(0.0) += value.parse::<f64>().expect("a sample value");
        }
    }
    total
}

async fn metrics_page(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    response.text().await.unwrap()
}

/// What `curl /metrics` shows while someone edits a room: the counters and histograms move.
/// The recorder is process-wide and other tests run at the same time, so counters are compared
/// as "grew by at least what this test did" and gauges as "at least what this test holds open".
#[actix_web::test]
async fn metrics_move_while_a_room_is_edited() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let created = [("route", "/api/rooms"), ("method", "POST"), ("status", "201")];
    let before = metrics_page(&app).await;
    let committed_before = sample(&before, "pairpad_operations_committed_total", &[]).unwrap_or(0.0);
    let created_before = sample(&before, "pairpad_http_requests_total", &created).unwrap_or(0.0);

    let room = app.create_room("python", "").await;
    let mut client = app.connect(&room, "typist").await;
    for i in 0..10 {
        client.splice(i, 0, "x").await.unwrap();
        client.sync(PATIENCE).await.unwrap();
    }
    let request = json!({"code": "def f():\n    ret", "cursorPosition": 16, "language": "python"});
    assert_eq!(app.post("/api/autocomplete", &request).await.0, 200);

    let during = metrics_page(&app).await;
    let committed = sample(&during, "pairpad_operations_committed_total", &[]).expect("operations committed");
    assert!(committed >= committed_before + 10.0, "{committed_before} -> {committed}");
    let rooms_created = sample(&during, "pairpad_http_requests_total", &created).expect("requests by route");
    assert!(rooms_created > created_before, "{created_before} -> {rooms_created}");
    let latency = sample(&during, "pairpad_http_request_seconds_count", &[("route", "/api/rooms")]);
    assert!(latency.is_some_and(|n| n >= 1.0), "request latency by route");
    let open = sample(&during, "pairpad_websocket_connections", &[]).expect("open connections");
    assert!(open >= 1.0, "this test's connection is open: {open}");
    assert!(sample(&during, "pairpad_rooms_loaded", &[]).is_some_and(|n| n >= 1.0), "rooms loaded");
    assert!(sample(&during, "pairpad_commit_seconds_count", &[]).is_some_and(|n| n >= 1.0), "commit latency");
    assert!(sample(&during, "pairpad_commit_batch_ops_count", &[]).is_some_and(|n| n >= 1.0), "batch sizes");
    let suggested = sample(&during, "pairpad_autocomplete_seconds_count", &[("source", "rules")]);
    assert!(suggested.is_some_and(|n| n >= 1.0), "autocomplete latency by source");

    client.close().await.unwrap();
    app.stop().await;
}

/// While the server drains (after SIGTERM or a stop), `/ready` answers 503 so load balancers
/// stop sending traffic, `/health` stays 200, and the edit in flight still gets its ack.
/// The drain is held open deterministically: the test holds SQLite's write lock, so the room's
/// commit waits (up to the store's 5 s busy timeout) and the drain waits for the commit.
#[actix_web::test]
async fn ready_fails_while_draining() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let (status, body) = app.get("/ready").await;
    assert_eq!((status, body), (200, json!({"ready": true, "store": true, "committer": true, "draining": false})));
    let room = app.create_room("plaintext", "").await;
    let mut client = app.connect(&room, "last").await;

    let path = app.store_url.strip_prefix("sqlite://").expect("an SQLite URL");
    let mut lock = SqliteConnection::establish(path).unwrap();
    // The server may be writing at this moment (a join records its time in the background): wait
    // for the lock like the server's own connections do.
    lock.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE").unwrap();
    client.splice(0, 0, "kept").await.unwrap();
    // Let the operation reach its room and the commit start (and block) before the drain begins.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopper = app.stopper.clone();
    let stopping = actix_web::rt::spawn(async move { stopper.stop().await });

    let mut answer = app.get("/ready").await;
    for _ in 0..100 {
        if answer.0 != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        answer = app.get("/ready").await;
    }
    assert_eq!(answer, (503, json!({"ready": false, "store": true, "committer": true, "draining": true})));
    assert_eq!(app.get("/health").await.0, 200, "liveness is not readiness");

    lock.batch_execute("COMMIT").unwrap();
    client.sync(PATIENCE).await.expect("the edit in flight is acknowledged during the drain");
    let closed = loop {
        match client.next_event_within(PATIENCE).await {
            Err(ClientError::Closed { code, .. }) => break code,
            Ok(_) => continue,
            Err(e) => panic!("a close was expected, got {e}"),
        }
    };
    assert_eq!(closed, 1001);
    stopping.await.unwrap();
}

/// `log.format = "json"`: every line the binary prints is a JSON object, the WebSocket session's
/// span carries the room id, and no document text appears, not even at debug level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_json_and_carry_no_document_text() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pairpad-server"))
        .env("DATABASE_URL", "memory")
        .env("PORT", "0")
        .env("PAIRPAD__SERVER__WORKERS", "1")
        .env("PAIRPAD__LOG__FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut logged: Vec<Value> = Vec::new();
    // The start-up line names the port chosen for port 0.
    let port: u16 = loop {
        let line = tokio::time::timeout(PATIENCE, lines.next_line()).await.expect("a log line").unwrap();
        let line = line.expect("the server logs its address");
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let message = value["fields"]["message"].as_str().unwrap_or_default().to_owned();
        logged.push(value);
        if let Some(rest) = message.strip_prefix("Pairpad listening on http://127.0.0.1:") {
            break rest.split(' ').next().and_then(|p| p.parse().ok()).expect("a port");
        }
    };
    let secret_code = "SECRET-INITIAL-TEXT";
    let secret_edit = "SECRET-TYPED-TEXT";
    let http = reqwest::Client::new();
    let room: Value = http
        .post(format!("http://127.0.0.1:{port}/api/rooms"))
        .json(&json!({"language": "rust", "code": secret_code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = room["roomId"].as_str().unwrap().to_owned();
    let mut client = Client::connect(&format!("ws://127.0.0.1:{port}"), &room, Some("logger")).await.unwrap();
    client.splice(0, 0, secret_edit).await.unwrap();
    client.sync(PATIENCE).await.unwrap();
    client.close().await.unwrap();
    // Give the session time to log its end, then stop the process and read everything it wrote.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.unwrap();
    while let Some(line) = lines.next_line().await.unwrap() {
        logged.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")));
    }
    for value in &logged {
        assert!(value["timestamp"].is_string() && value["level"].is_string(), "{value}");
        let text = value.to_string();
        assert!(!text.contains(secret_code) && !text.contains(secret_edit), "document text in a log line: {text}");
    }
    let in_session = logged.iter().any(|v| {
        v["spans"].as_array().is_some_and(|spans| spans.iter().any(|s| s["name"] == "ws_session" && s["room"] == room))
    });
    assert!(in_session, "a log line inside the WebSocket session's span names the room");
}
