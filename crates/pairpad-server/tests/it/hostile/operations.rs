//! Hostile input: operations whose lengths would wrap around `usize`, or with more components than
//! a room should spend its time on. Each gets `invalid_operation` saying why; the sender stays
//! connected, the other participant sees nothing of it, and the room keeps its text, in memory
//! and for a fresh server that loads it from the store.

use pairpad_client::{Client, Event};
use serde_json::{Value, json};

use crate::helpers::{PATIENCE, Store, TestApp, spawn_app, test_settings};

/// Sums to 5 modulo 2^64: once acknowledged as `[0,5]`, a row the store could not read back.
fn deletes_that_wrap_to_five() -> Value {
    json!([i64::MIN, i64::MIN, 5])
}

/// Sums to 5 + 2 modulo 2^64: once retained past the end of the rope, a panic of the room's task.
fn retains_that_wrap_to_seven() -> Value {
    json!([i64::MAX, "x", i64::MAX, 7])
}

/// 100,001 components that would be a valid edit of 50,000 characters: an "a" before each one.
fn too_many_components() -> (String, Value) {
    let mut ops = vec![json!("a")];
    for _ in 0..50_000 {
        ops.extend([json!(1), json!("a")]);
    }
    ("x".repeat(50_000), Value::Array(ops))
}

/// Sends `ops` on `code` and checks that it is refused with a message containing `why`, and harms
/// nobody.
async fn refused_and_harmless(store: Store, code: &str, ops: Value, why: &str) {
    let Some(app) = spawn_app(store).await else { return };
    let room = app.create_room("plaintext", code).await;
    let mut bystander = app.connect(&room, "bystander").await;
    let mut attacker = app.connect(&room, "attacker").await;

    attacker.send_json(&json!({"type": "operation", "revision": 0, "ops": ops, "opId": "evil-1"})).await.unwrap();
    match attacker.next_event_within(PATIENCE).await.unwrap() {
        Event::Error { code, message } => {
            assert_eq!(code, "invalid_operation");
            assert!(message.contains(why), "{message}");
        }
        other => panic!("invalid_operation expected, got {other:?}"),
    }
    assert_eq!(app.room_code(&room).await, code, "nothing was applied");

    // The sender is still connected and may edit; the bystander sees only that edit.
    attacker.splice(0, 0, "!").await.unwrap();
    assert!(matches!(attacker.next_event_within(PATIENCE).await.unwrap(), Event::Ack { revision: 1, .. }));
    expect_only_the_edit(&mut bystander).await;
    let edited = format!("!{code}");
    assert_eq!(bystander.text(), edited);
    assert_eq!(app.room_code(&room).await, edited);

    // A server that has never seen the room loads it from the store (after this one stopped: an
    // SQLite file serves one server at a time).
    let store = app.stop_keeping_store().await;
    let fresh = TestApp::restart(test_settings(&store.url)).await;
    assert_eq!(fresh.room_code(&room).await, edited);
    fresh.stop().await;
    store.drop_database().await;
}

/// The attacker's arrival, then its one valid edit, and nothing else.
async fn expect_only_the_edit(bystander: &mut Client) {
    loop {
        match bystander.next_event_within(PATIENCE).await.unwrap() {
            Event::Joined(_) | Event::Cursor { .. } => {}
            Event::Remote { revision: 1, .. } => return,
            other => panic!("only the attacker's valid edit expected, got {other:?}"),
        }
    }
}

mod sqlite {
    use super::*;

    #[actix_web::test]
    async fn deletes_that_wrap_around_are_refused() {
        refused_and_harmless(Store::Sqlite, "hello", deletes_that_wrap_to_five(), "at most 2097152 characters").await;
    }

    #[actix_web::test]
    async fn retains_that_wrap_around_are_refused() {
        refused_and_harmless(Store::Sqlite, "hello", retains_that_wrap_to_seven(), "at most 2097152 characters").await;
    }

    #[actix_web::test]
    async fn too_many_components_are_refused() {
        let (code, ops) = too_many_components();
        refused_and_harmless(Store::Sqlite, &code, ops, "at most 10000 components").await;
    }
}

mod postgres {
    use super::*;

    #[actix_web::test]
    async fn deletes_that_wrap_around_are_refused() {
        refused_and_harmless(Store::Postgres, "hello", deletes_that_wrap_to_five(), "at most 2097152 characters").await;
    }

    #[actix_web::test]
    async fn retains_that_wrap_around_are_refused() {
        refused_and_harmless(Store::Postgres, "hello", retains_that_wrap_to_seven(), "at most 2097152 characters")
            .await;
    }

    #[actix_web::test]
    async fn too_many_components_are_refused() {
        let (code, ops) = too_many_components();
        refused_and_harmless(Store::Postgres, &code, ops, "at most 10000 components").await;
    }
}
