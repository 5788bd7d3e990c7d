//! Hostile input to completions: what the parser meets through the real server. Deep nesting,
//! NUL and odd bytes, markup cut anywhere and a flood of large requests get an answer, and a room
//! being edited meanwhile keeps its acknowledgements coming.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{PATIENCE, Store, spawn_app};

/// Documents a grammar reads badly, in every language the parser knows and a few it does not.
fn hostile_documents() -> Vec<(&'static str, String)> {
    let languages = ["python", "javascript", "typescript", "rust", "go", "java", "c", "cpp", "svelte", "klingon"];
    let bodies = [
        "(".repeat(200_000),
        "{[(".repeat(60_000),
        "\"${`${".repeat(30_000),
        "/*".repeat(90_000),
        "a.".repeat(90_000),
        "<script>{#if ".repeat(20_000),
        "x\0y\0".repeat(50_000),
        "\u{feff}\u{202e}é👋🏽日本\t\r".repeat(20_000),
    ];
    let mut documents = Vec::new();
    for language in languages {
        for body in &bodies {
            documents.push((language, format!("{body}name_1 = 1\nna")));
        }
    }
    documents
}

#[actix_web::test]
async fn hostile_documents_get_an_answer_and_edits_go_on() {
    let Some(app) = spawn_app(Store::Sqlite).await else { return };
    let room = app.create_room("plaintext", "").await;
    let mut writer = app.connect(&room, "writer").await;

    // All at once: at most one request per core is parsed, the rest wait their turn.
    let requests = hostile_documents().into_iter().map(|(language, code)| {
        let cursor = code.chars().count();
        let body = json!({"code": code, "cursorPosition": cursor, "language": language});
        let app = &app;
        async move { (language, app.post("/api/autocomplete", &body).await) }
    });
    let answers = futures_util::future::join_all(requests);
    let typing = async {
        for k in 0..20 {
            writer.splice(k, 0, "k").await.expect("an edit");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        writer.sync(PATIENCE).await.expect("every edit acknowledged while completions run");
    };
    let (answers, ()) = tokio::join!(answers, typing);
    for (language, (status, body)) in answers {
        assert_eq!(status, 200, "{language}: {body}");
        assert_eq!(body["source"], "rules", "{language}: {body}");
        assert!(body["suggestions"].as_array().is_some_and(|items| items.len() <= 12), "{language}: {body}");
    }
    assert_eq!(app.room_code(&room).await, "k".repeat(20));
    assert_eq!(app.get("/health").await.0, 200);
    app.stop().await;
}
