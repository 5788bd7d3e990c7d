//! Property tests of the OT algebra and a replay of a real editing trace through a room.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

use pairpad_domain::{
    Component, Edit, EditOutcome, Language, Room, RoomId, RoomLimits, TextOperation, Timestamp, UserId,
};
use proptest::prelude::*;

/// Text drawn from ASCII, CJK, emoji, combining marks and line breaks.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!["a", "b", " ", "\n", "\r\n", "日", "本", "🦀", "👍🏽", "e\u{301}", "\u{308}"]),
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// A random operation on a document of `len` code points.
fn operation(len: usize) -> impl Strategy<Value = TextOperation> {
    proptest::collection::vec((0..3u8, 1..5usize, text()), 0..8).prop_map(move |steps| {
        let mut op = TextOperation::new();
        let mut left = len;
        for (kind, n, s) in steps {
            match kind {
                0 => {
                    let n = n.min(left);
                    op.retain(n);
                    left -= n;
                }
                1 => {
                    let n = n.min(left);
                    op.delete(n);
                    left -= n;
                }
                _ => {
                    op.insert(&s);
                }
            }
        }
        op.retain(left);
        op
    })
}

fn doc_and_two_ops() -> impl Strategy<Value = (String, TextOperation, TextOperation)> {
    text().prop_flat_map(|doc| {
        let len = doc.chars().count();
        (Just(doc), operation(len), operation(len))
    })
}

/// A document, an operation on it and an operation on its result.
fn sequential_ops() -> impl Strategy<Value = (String, TextOperation, TextOperation)> {
    text()
        .prop_flat_map(|doc| {
            let len = doc.chars().count();
            (Just(doc), operation(len))
        })
        .prop_flat_map(|(doc, a)| {
            let after = a.target_len();
            (Just(doc), Just(a), operation(after))
        })
}

proptest! {
    #[test]
    fn transform_converges((doc, a, b) in doc_and_two_ops()) {
        let (a2, b2) = TextOperation::transform(&a, &b).unwrap();
        let via_a = b2.apply(&a.apply(&doc).unwrap()).unwrap();
        let via_b = a2.apply(&b.apply(&doc).unwrap()).unwrap();
        prop_assert_eq!(via_a, via_b);
    }

    #[test]
    fn compose_equals_sequential_apply((doc, a, b) in sequential_ops()) {
        let after_a = a.apply(&doc).unwrap();
        let composed = a.compose(&b).unwrap();
        prop_assert_eq!(composed.apply(&doc).unwrap(), b.apply(&after_a).unwrap());
    }

    #[test]
    fn apply_rejects_wrong_base_length((doc, a, _b) in doc_and_two_ops(), extra in 1..5usize) {
        let mut longer = a.clone();
        longer.retain(extra);
        prop_assert!(longer.apply(&doc).is_err());
        let mut rope = ropey::Rope::from_str(&doc);
        prop_assert!(longer.apply_to_rope(&mut rope).is_err());
        prop_assert_eq!(rope.to_string(), doc);
    }

    #[test]
    fn rope_and_string_apply_agree((doc, a, _b) in doc_and_two_ops()) {
        let mut rope = ropey::Rope::from_str(&doc);
        a.apply_to_rope(&mut rope).unwrap();
        prop_assert_eq!(rope.to_string(), a.apply(&doc).unwrap());
    }

    #[test]
    fn diff_turns_old_into_new(old in text(), new in text()) {
        prop_assert_eq!(TextOperation::diff(&old, &new).apply(&old).unwrap(), new);
    }

    #[test]
    fn room_converges_with_concurrent_clients((doc, a, b) in doc_and_two_ops()) {
        // Two clients edit revision 0 concurrently; the room transforms the second over the first.
        let mut room = Room::new(RoomId::random(), Language::plaintext(), &doc, 0, Timestamp(0), RoomLimits::default());
        let submit = |room: &mut Room, op: &TextOperation| {
            room.submit(Edit { base_revision: 0, operation: op.clone(), op_id: None, author: UserId::random() }, &[], Timestamp(1)).unwrap()
        };
        let EditOutcome::Applied(first) = submit(&mut room, &a) else { unreachable!() };
        let EditOutcome::Applied(second) = submit(&mut room, &b) else { unreachable!() };
        // Client B: had applied `b` locally; receives `first` and transforms it over its pending `b`.
        let (_, first_for_b) = TextOperation::transform(&b, &first.operation).unwrap();
        let client_b = first_for_b.apply(&b.apply(&doc).unwrap()).unwrap();
        // Client A: applied `a`, then receives the transformed `second`.
        let client_a = second.operation.apply(&a.apply(&doc).unwrap()).unwrap();
        prop_assert_eq!(&client_a, &room.text());
        prop_assert_eq!(&client_b, &room.text());
    }
}

#[test]
fn components_round_trip() {
    let op =
        TextOperation::from_components([Component::Retain(1), Component::Insert("é".into()), Component::Delete(2)]);
    assert_eq!(op.base_len(), 3);
    assert_eq!(op.target_len(), 2);
}

/// Replays `rustcode`, one patch per operation, through a room: the engine alone must reproduce
/// the trace's final text exactly.
#[test]
fn replaying_the_rustcode_trace_reproduces_its_end() {
    let trace = load_trace("rustcode");
    let mut room = Room::new(
        RoomId::random(),
        Language::new("rust").unwrap(),
        &trace.start,
        0,
        Timestamp(0),
        RoomLimits::default(),
    );
    let author = UserId::random();
    for (pos, del, ins) in &trace.patches {
        let len = room.len_chars();
        let mut op = TextOperation::new();
        op.retain(*pos).delete(*del).insert(ins).retain(len - pos - del);
        let base_revision = room.revision();
        room.submit(Edit { base_revision, operation: op, op_id: None, author }, &[], Timestamp(0)).unwrap();
    }
    assert_eq!(room.text(), trace.end);
}

struct Trace {
    start: String,
    end: String,
    patches: Vec<(usize, usize, String)>,
}

fn load_trace(name: &str) -> Trace {
    use std::io::Read;
    let path = format!("{}/../../tests/traces/{name}.json.gz", env!("CARGO_MANIFEST_DIR"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("trace file"))
        .read_to_string(&mut json)
        .expect("gzip");
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let patches = value["txns"]
        .as_array()
        .expect("txns")
        .iter()
        .flat_map(|t| t["patches"].as_array().expect("patches").clone())
        .map(|p| {
            (
                p[0].as_u64().expect("pos") as usize,
                p[1].as_u64().expect("del") as usize,
                p[2].as_str().expect("ins").to_owned(),
            )
        })
        .collect();
    Trace {
        start: value["startContent"].as_str().expect("start").to_owned(),
        end: value["endContent"].as_str().expect("end").to_owned(),
        patches,
    }
}
