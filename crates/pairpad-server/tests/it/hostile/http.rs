//! Hostile input over HTTP: request shapes, origins, rate of room creation.

use diesel::{Connection, RunQueryDsl, SqliteConnection};
use pairpad_server::config::Settings;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{Store, TestApp, spawn_app_with};

/// Room creation limited to a burst of 3, then one a minute, per client address.
fn three_rooms_then_wait(settings: &mut Settings) {
    settings.server.rooms_per_minute = 1;
    settings.server.rooms_burst = 3;
}

/// POSTs an empty room as a browser or a proxy would, with extra headers; the status, the
/// `Retry-After` header and the JSON body.
async fn create_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Option<u64>, Value) {
    let mut request = app.http.post(app.url(path)).json(&json!({"language": "python"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().expect("seconds"));
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

fn assert_rate_limited((status, retry_after, body): (u16, Option<u64>, Value)) {
    assert_eq!((status, body["error"].as_str()), (429, Some("rate_limited")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body.get("roomId").is_none());
    let wait = retry_after.expect("a Retry-After header");
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
}

/// A flood of room creations from one address gets its burst, then 429 with `Retry-After` (on
/// the alias too); `X-Forwarded-For` from a peer that is not a trusted proxy changes nothing.
#[actix_web::test]
async fn room_creation_is_limited_per_address_and_forwarded_for_cannot_be_spoofed() {
    let Some(app) = spawn_app_with(Store::Memory, three_rooms_then_wait).await else { return };
    for _ in 0..3 {
        assert_eq!(create_with(&app, "/api/rooms", &[]).await.0, 201);
    }
    let flood = (0..20).map(|_| create_with(&app, "/api/rooms", &[]));
    for refused in futures_util::future::join_all(flood).await {
        assert_rate_limited(refused);
    }
    assert_rate_limited(create_with(&app, "/rooms", &[]).await);
    for spoofed in ["198.51.100.7", "198.51.100.8, 127.0.0.1"] {
        assert_rate_limited(create_with(&app, "/api/rooms", &[("x-forwarded-for", spoofed)]).await);
    }
    // Everything else still works for everyone.
    assert_eq!(app.get("/health").await.0, 200);
    app.stop().await;
}

/// Behind a trusted proxy each client has its own allowance, found as the right-most
/// `X-Forwarded-For` entry that is not a proxy: entries the client wrote itself do not count.
#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_limited_alone() {
    let adjust = |s: &mut Settings| {
        three_rooms_then_wait(s);
        s.server.trusted_proxies = vec!["127.0.0.1".to_owned(), "10.0.0.0/8".to_owned()];
    };
    let Some(app) = spawn_app_with(Store::Memory, adjust).await else { return };
    let alice = [("x-forwarded-for", "198.51.100.1")];
    for _ in 0..3 {
        assert_eq!(create_with(&app, "/api/rooms", &alice).await.0, 201);
    }
    assert_rate_limited(create_with(&app, "/api/rooms", &alice).await);
    // Alice again, through two proxies, with a made-up address on the left.
    let alice_spoofing = [("x-forwarded-for", "203.0.113.99, 198.51.100.1, 10.1.2.3")];
    assert_rate_limited(create_with(&app, "/api/rooms", &alice_spoofing).await);
    let bob = [("x-forwarded-for", "198.51.100.2")];
    assert_eq!(create_with(&app, "/api/rooms", &bob).await.0, 201);
    app.stop().await;
}

fn rooms_in(app: &TestApp) -> i64 {
    let path = app.store_url.strip_prefix("sqlite://").expect("an SQLite store");
    let mut db = SqliteConnection::establish(path).expect("open the database");
    let count = diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM rooms)");
    diesel::select(count).get_result(&mut db).expect("count the rooms")
}

/// A page on another site can POST `text/plain`, a form or multipart without asking (no CORS
/// preflight): such bodies get 415 and create nothing. JSON, and the original API's empty
/// body without a content type, still create rooms.
#[actix_web::test]
async fn a_cross_site_post_that_is_not_json_creates_nothing() {
    let Some(app) = spawn_app_with(Store::Sqlite, |_| {}).await else { return };
    let body = r#"{"language":"python","code":"planted"}"#;
    let forged = ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data"];
    for path in ["/api/rooms", "/rooms", "/api/autocomplete", "/autocomplete"] {
        for content_type in forged.iter().map(Some).chain([None]) {
            let mut request = app.http.post(app.url(path)).header("origin", "https://evil.example").body(body);
            if let Some(content_type) = content_type {
                request = request.header("content-type", *content_type);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let answer: Value = response.json().await.expect("a JSON error body");
            let error = answer["error"].as_str();
            assert_eq!((status, error), (415, Some("unsupported_media_type")), "{path} {content_type:?}: {answer}");
        }
    }
    assert_eq!(rooms_in(&app), 0, "nothing was created");

    let json = app.http.post(app.url("/api/rooms")).header("content-type", "application/json; charset=utf-8");
    assert_eq!(json.body(body).send().await.unwrap().status(), 201);
    assert_eq!(app.http.post(app.url("/rooms")).send().await.unwrap().status(), 201, "an empty body");
    assert_eq!(rooms_in(&app), 2);
    app.stop().await;
}

/// DNS rebinding: a page on rebind.evil.example, a name re-pointed at this server, sends `Origin`
/// and `Host` both rebind.evil.example. Same-origin counts only for the server's own names
/// (`server.public_hosts`), so its WebSocket is refused with 403 and its REST calls get no CORS
/// grant; once its name is listed, the same page is served.
#[actix_web::test]
async fn a_dns_rebinding_page_is_refused_unless_its_host_is_ours() {
    let Some(app) = spawn_app_with(Store::Memory, |_| {}).await else { return };
    let listed = |s: &mut Settings| s.server.public_hosts = vec!["pair.internal:8080".to_owned()];
    let Some(ours) = spawn_app_with(Store::Memory, listed).await else { return };
    for (app, host, served) in [
        (&app, "rebind.evil.example:8080", false),
        (&ours, "rebind.evil.example:8080", false),
        (&ours, "pair.internal:8080", true),
    ] {
        let origin = format!("http://{host}");
        let room = app.create_room("plaintext", "").await;
        let mut handshake = format!("{}/ws/{room}", app.ws_base()).into_client_request().unwrap();
        handshake.headers_mut().insert("host", HeaderValue::from_str(host).unwrap());
        handshake.headers_mut().insert("origin", HeaderValue::from_str(&origin).unwrap());
        match tokio_tungstenite::connect_async(handshake).await {
            Ok((mut socket, _)) => {
                assert!(served, "{host}: the WebSocket was opened");
                socket.close(None).await.unwrap();
            }
            Err(tungstenite::Error::Http(response)) if !served => {
                assert_eq!(response.status(), 403, "{host}");
                let body: Value = serde_json::from_slice(response.body().as_deref().expect("a body")).unwrap();
                assert_eq!(body["error"], "origin_not_allowed", "{host}");
            }
            Err(e) => panic!("{host}: {e}"),
        }
        let response = app.http.get(app.url("/health")).header("host", host).header("origin", &origin).send();
        let response = response.await.unwrap();
        let granted = response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(granted, served.then_some(origin), "{host}");
    }
    app.stop().await;
    ours.stop().await;
}

/// A request target or headers too long for Pairpad get 414 or 431 with the JSON error body.
/// Beyond actix-http's own limits (a 64 KiB target, a 128 KiB head) actix-http answers before
/// any of Pairpad's code runs, with an empty body; the server stays up either way.
#[actix_web::test]
async fn overlong_targets_and_headers_get_a_json_error() {
    let Some(app) = spawn_app_with(Store::Memory, |_| {}).await else { return };
    let long_room = format!("/api/rooms/{}", "a".repeat(9 * 1024));
    let long_query = format!("/ws/3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f?name={}", "n".repeat(9 * 1024));
    for target in [long_room.as_str(), &long_query, "/health"] {
        let response = app.http.get(app.url(target)).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON body");
        if target == "/health" {
            assert_eq!(status, 200);
        } else {
            assert_eq!((status, body["error"].as_str()), (414, Some("uri_too_long")), "{body}");
        }
    }
    let big = "b".repeat(40 * 1024);
    for path in ["/health", "/api/rooms"] {
        let response = app.http.get(app.url(path)).header("x-big", &big).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!((status, body["error"].as_str()), (431, Some("headers_too_large")), "{body}");
    }
    let created = app.http.post(app.url("/api/rooms")).header("cookie", "c".repeat(40 * 1024)).send().await.unwrap();
    assert_eq!(created.status(), 431, "refused before anything is created");

    // The HTTP client refuses to build these, so they go over a raw socket.
    let beyond_actix =
        [format!("/health?{}", "q".repeat(70 * 1024)), format!("/health\r\nx-big: {}", "b".repeat(140 * 1024))];
    for head in beyond_actix {
        let answer = raw_get(&app, &head).await;
        let status = answer.split(' ').nth(1).and_then(|code| code.parse::<u16>().ok());
        assert!(status.is_some_and(|s| (400..500).contains(&s)), "{}", &answer[..answer.len().min(200)]);
    }
    assert_eq!(app.get("/health").await.0, 200);
    app.stop().await;
}

/// Sends `GET {target}` (which may smuggle more header lines) and reads the answer to its end.
async fn raw_get(app: &TestApp, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    // The server may answer and close before it has read everything: a failed write is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(crate::helpers::PATIENCE, stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}
