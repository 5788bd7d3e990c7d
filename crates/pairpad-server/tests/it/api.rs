//! The REST API: every endpoint's success and error cases, against each store.

use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, spawn_app};

const AWKWARD: &str = "fn main() {\r\n    let s = \"héllo 世界 🦀 👍🏽 e\u{301}\";\r\n}\n";

/// Declares `memory_`, `sqlite_` and `postgres_` variants of each check.
macro_rules! for_each_store {
    ($($check:ident),* $(,)?) => {
        mod memory { $(#[actix_web::test] async fn $check() { super::run(super::Store::Memory, super::$check).await }) * }
        mod sqlite { $(#[actix_web::test] async fn $check() { super::run(super::Store::Sqlite, super::$check).await }) * }
        mod postgres { $(#[actix_web::test] async fn $check() { super::run(super::Store::Postgres, super::$check).await }) * }
    };
}

async fn run(store: Store, check: impl AsyncFnOnce(&TestApp)) {
    let Some(app) = spawn_app(store).await else { return };
    check(&app).await;
    app.stop().await;
}

for_each_store!(
    health_reports_the_store,
    rooms_are_created_and_read_back_exactly,
    aliases_without_api_prefix_work,
    room_errors_are_clear,
    bodies_are_validated,
    autocomplete_completes_and_validates,
);

async fn health_reports_the_store(app: &TestApp) {
    let (status, body) = app.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    let kind = app.store_url.split(':').next().unwrap_or_default();
    assert!(kind.starts_with(body["store"].as_str().unwrap_or("?")), "{body} for {kind}");
    let (status, body) = app.get("/ready").await;
    assert_eq!((status, &body["ready"]), (200, &json!(true)));
}

async fn rooms_are_created_and_read_back_exactly(app: &TestApp) {
    let response =
        app.http.post(app.url("/api/rooms")).json(&json!({"language": "Rust", "code": AWKWARD})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["roomId"].as_str().unwrap();
    assert_eq!(location, format!("/api/rooms/{id}"));
    assert_eq!(
        (created["language"].as_str(), created["code"].as_str(), created["revision"].as_u64()),
        (Some("rust"), Some(AWKWARD), Some(0))
    );
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z'));
    let (status, room) = app.get(&location).await;
    assert_eq!(status, 200);
    assert_eq!(room["code"], AWKWARD);
    assert_eq!(room["activeUsers"], 0);
    assert_eq!(room["roomId"], id);
    // Ids are accepted in any letter case.
    let (status, _) = app.get(&format!("/api/rooms/{}", id.to_uppercase())).await;
    assert_eq!(status, 200);
    // An empty body creates an empty plaintext room.
    let (status, empty) = app.post_raw("/api/rooms", "").await;
    assert_eq!((status, empty["language"].as_str(), empty["code"].as_str()), (201, Some("plaintext"), Some("")));
}

async fn aliases_without_api_prefix_work(app: &TestApp) {
    let (status, created) = app.post("/rooms", &json!({"language": "go"})).await;
    assert_eq!(status, 201);
    let (status, room) = app.get(&format!("/rooms/{}", created["roomId"].as_str().unwrap())).await;
    assert_eq!((status, room["language"].as_str()), (200, Some("go")));
    let (status, body) =
        app.post("/autocomplete", &json!({"code": "ret", "cursorPosition": 3, "language": "python"})).await;
    assert_eq!((status, body["suggestion"].as_str()), (200, Some("urn")));
}

async fn room_errors_are_clear(app: &TestApp) {
    let (status, body) = app.get("/api/rooms/not-a-uuid").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_room_id")));
    assert!(body["message"].as_str().unwrap().contains("not-a-uuid"));
    let (status, body) = app.get("/api/rooms/3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("room_not_found")));
    let (status, body) = app.get("/api/nowhere").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

async fn bodies_are_validated(app: &TestApp) {
    let cases: [(&str, u16, &str); 6] = [
        ("{not json", 400, "invalid_json"),
        (r#"{"language": 5}"#, 400, "invalid_field"),
        (r#"{"code": ["x"]}"#, 400, "invalid_field"),
        (r#"{"language": ""}"#, 400, "invalid_language"),
        (r#"{"colour": "red"}"#, 400, "invalid_field"),
        (r#"{"language": "py""#, 400, "invalid_json"),
    ];
    for (body, status, error) in cases {
        let (got, answer) = app.post_raw("/api/rooms", body).await;
        assert_eq!((got, answer["error"].as_str()), (status, Some(error)), "for {body}: {answer}");
    }
    let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(9 * 1024 * 1024));
    let (status, answer) = app.post_raw("/api/rooms", huge).await;
    assert_eq!((status, answer["error"].as_str()), (413, Some("payload_too_large")));
}

async fn autocomplete_completes_and_validates(app: &TestApp) {
    let request = json!({"code": "def fib(n):\n    ret", "cursorPosition": 19, "language": "python"});
    let (status, body) = app.post("/api/autocomplete", &request).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["suggestion"], "urn");
    assert_eq!(body["source"], "rules");
    assert_eq!(body["suggestions"][0]["insertText"], "urn");
    assert!(body["suggestions"][0]["label"].is_string() && body["suggestions"][0]["kind"].is_string());
    let (status, body) =
        app.post("/api/autocomplete", &json!({"code": "🦀x", "cursorPosition": 2, "language": "klingon"})).await;
    assert_eq!(status, 200, "unknown languages and emoji are fine: {body}");
    let bad = [
        (json!({"code": "abc", "cursorPosition": 4, "language": "python"}), "invalid_cursor"),
        (json!({"code": "abc", "cursorPosition": -1, "language": "python"}), "invalid_cursor"),
        (json!({"code": "abc", "language": "python"}), "invalid_field"),
        (json!({"code": 5, "cursorPosition": 0, "language": "python"}), "invalid_field"),
    ];
    for (request, error) in bad {
        let (status, body) = app.post("/api/autocomplete", &request).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "for {request}");
    }
    let (status, body) = app.post_raw("/api/autocomplete", vec![b'x'; 50 * 1024 * 1024]).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("payload_too_large")));
}

/// `/health` answers 503 while the database cannot be reached.
#[actix_web::test]
async fn health_is_unavailable_while_postgres_is_gone() {
    let Some(db) = pairpad_store::testing::TestDatabase::create().await else { return };
    let settings = crate::helpers::test_settings(&db.url());
    let app = TestApp::restart(settings).await;
    assert_eq!(app.get("/health").await.0, 200);
    db.drop_database().await;
    let (status, body) = app.get("/health").await;
    assert_eq!((status, body["status"].as_str()), (503, Some("unavailable")));
    let (status, _) = app.get("/ready").await;
    assert_eq!(status, 503);
    let (status, body) = app.post("/api/rooms", &json!({})).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")));
    app.stop().await;
}
