//! Property tests of the OT algebra and a replay of a real editing trace through a room.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

use pairpad_domain::{
    Component, Edit, EditOutcome, Language, OtError, Room, RoomId, RoomLimits, TextOperation, Timestamp, UserId,
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
                    op.retain(n).unwrap();
                    left -= n;
                }
                1 => {
                    let n = n.min(left);
                    op.delete(n).unwrap();
                    left -= n;
                }
                _ => {
                    op.insert(&s).unwrap();
                }
            }
        }
        op.retain(left).unwrap();
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
        longer.retain(extra).unwrap();
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
        let mut room = Room::new(RoomId::random(), Language::plaintext(), &doc, 0, Timestamp(0), RoomLimits { max_document_chars: 4 * 1024 * 1024, history_window: 1024 });
        let submit = |room: &mut Room, op: &TextOperation| {
            room.submit(Edit { base_revision: 0, operation: op.clone(), op_id: None, author: UserId::random(), author_name: "a".into() }, &[], Timestamp(1)).unwrap()
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
        TextOperation::from_components([Component::Retain(1), Component::Insert("é".into()), Component::Delete(2)])
            .unwrap();
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
        RoomLimits { max_document_chars: 4 * 1024 * 1024, history_window: 1024 },
    );
    let author = UserId::random();
    for (pos, del, ins) in &trace.patches {
        let len = room.len_chars();
        let mut op = TextOperation::new();
        op.retain(*pos).unwrap().delete(*del).unwrap().insert(ins).unwrap().retain(len - pos - del).unwrap();
        let base_revision = room.revision();
        room.submit(
            Edit { base_revision, operation: op, op_id: None, author, author_name: "a".into() },
            &[],
            Timestamp(0),
        )
        .unwrap();
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

/// Counts at the edges of every integer type a length passes through on its way in: the wire's
/// `i64` (as its magnitude), `u64`, `usize`, `MAX_LEN`, zero and small ones.
fn extreme_count() -> impl Strategy<Value = usize> {
    let max = TextOperation::MAX_LEN;
    prop_oneof![
        prop::sample::select(vec![
            0,
            1,
            2,
            max - 1,
            max,
            max + 1,
            usize::MAX - 1,
            usize::MAX,
            usize::MAX / 2,
            i64::MIN.unsigned_abs() as usize,
            u32::MAX as usize,
        ]),
        any::<usize>(),
        0..8usize,
    ]
}

/// Runs of any length, as a hostile client could send them.
fn extreme_components() -> impl Strategy<Value = Vec<Component>> {
    let component = prop_oneof![
        extreme_count().prop_map(Component::Retain),
        extreme_count().prop_map(Component::Delete),
        text().prop_map(Component::Insert),
    ];
    proptest::collection::vec(component, 0..8)
}

/// The lengths the runs would give an operation, computed without any possible wrapping.
fn exact_lengths(components: &[Component]) -> (u128, u128) {
    components.iter().fold((0, 0), |(base, target), c| match c {
        Component::Retain(n) => (base + *n as u128, target + *n as u128),
        Component::Delete(n) => (base + *n as u128, target),
        Component::Insert(s) => (base, target + s.chars().count() as u128),
    })
}

/// A length near the top of what an operation may span.
fn huge_len() -> impl Strategy<Value = usize> {
    let max = TextOperation::MAX_LEN;
    prop_oneof![prop::sample::select(vec![max, max - 1, max / 2, max / 2 + 1, u32::MAX as usize]), 0..8usize]
}

/// A valid operation on a document of `len` characters, with runs as long as `len` allows.
fn operation_over(len: usize) -> impl Strategy<Value = TextOperation> {
    proptest::collection::vec((0..3u8, 0..4u8, text()), 0..6).prop_map(move |steps| {
        let mut op = TextOperation::new();
        let mut left = len;
        for (kind, size, s) in steps {
            let n = [1, left / 3, left / 2, left][size as usize].min(left);
            match kind {
                0 => {
                    op.retain(n).unwrap();
                    left -= n;
                }
                1 => {
                    op.delete(n).unwrap();
                    left -= n;
                }
                _ => {
                    // Near MAX_LEN, only inserts that leave room for the final retain.
                    let target = op.target_len() as u128 + s.chars().count() as u128 + left as u128;
                    if target <= TextOperation::MAX_LEN as u128 {
                        op.insert(&s).unwrap();
                    }
                }
            }
        }
        op.retain(left).unwrap();
        op
    })
}

/// Two operations on one huge document.
fn two_huge_ops() -> impl Strategy<Value = (TextOperation, TextOperation)> {
    huge_len().prop_flat_map(|len| (operation_over(len), operation_over(len)))
}

proptest! {
    #[test]
    fn from_components_refuses_exactly_the_lengths_that_do_not_fit(components in extreme_components()) {
        let (base, target) = exact_lengths(&components);
        let max = TextOperation::MAX_LEN as u128;
        match TextOperation::from_components(components) {
            Ok(op) => {
                prop_assert!(base <= max && target <= max);
                prop_assert_eq!((op.base_len() as u128, op.target_len() as u128), (base, target));
                prop_assert_eq!(exact_lengths(op.components()), (base, target));
            }
            Err(e) => {
                prop_assert_eq!(e, OtError::TooLong);
                prop_assert!(base > max || target > max);
            }
        }
    }

    #[test]
    fn extreme_operations_apply_only_to_their_own_length(components in extreme_components(), doc in text()) {
        let Ok(op) = TextOperation::from_components(components) else { return Ok(()) };
        let mut rope = ropey::Rope::from_str(&doc);
        match op.apply(&doc) {
            Ok(out) => {
                prop_assert_eq!(op.base_len(), doc.chars().count());
                prop_assert_eq!(out.chars().count(), op.target_len());
                op.apply_to_rope(&mut rope).unwrap();
                prop_assert_eq!(rope.to_string(), out);
            }
            Err(e) => {
                prop_assert!(matches!(e, OtError::BaseLengthMismatch { .. }), "{e}");
                prop_assert!(op.apply_to_rope(&mut rope).is_err());
                prop_assert_eq!(rope.to_string(), doc);
            }
        }
    }

    #[test]
    fn extreme_operations_combine_or_are_refused(a in extreme_components(), b in extreme_components(), index in extreme_count()) {
        let (Ok(a), Ok(b)) = (TextOperation::from_components(a), TextOperation::from_components(b)) else {
            return Ok(());
        };
        if let Ok(ab) = a.compose(&b) {
            prop_assert_eq!((ab.base_len(), ab.target_len()), (a.base_len(), b.target_len()));
        }
        if let Ok((a2, b2)) = TextOperation::transform(&a, &b) {
            prop_assert_eq!((a2.base_len(), b2.base_len()), (b.target_len(), a.target_len()));
            prop_assert_eq!(a2.target_len(), b2.target_len());
        }
        prop_assert!(a.transform_index(index, false) <= a.target_len());
        prop_assert!(a.transform_index(index, true) <= a.target_len());
    }

    #[test]
    fn huge_concurrent_operations_transform_or_are_too_long((a, b) in two_huge_ops(), index in extreme_count()) {
        // What both transformed operations produce: the base, plus both sides' inserts, minus both
        // sides' deletes (counting text deleted by both once): at least a.target + b.target - base.
        let at_least = (a.target_len() as u128 + b.target_len() as u128).saturating_sub(a.base_len() as u128);
        match TextOperation::transform(&a, &b) {
            Ok((a2, b2)) => {
                prop_assert_eq!((a2.base_len(), b2.base_len()), (b.target_len(), a.target_len()));
                prop_assert_eq!(a2.target_len(), b2.target_len());
                prop_assert!(a2.target_len() as u128 >= at_least);
                // Both paths compose to the same lengths.
                let via_a = a.compose(&b2).unwrap();
                let via_b = b.compose(&a2).unwrap();
                prop_assert_eq!((via_a.base_len(), via_a.target_len()), (via_b.base_len(), via_b.target_len()));
            }
            Err(e) => {
                // ...and at most a.target + b.target: only then can it be too long.
                prop_assert_eq!(e, OtError::TooLong);
                prop_assert!(a.target_len() as u128 + b.target_len() as u128 > TextOperation::MAX_LEN as u128);
            }
        }
        for after_inserts in [false, true] {
            prop_assert!(a.transform_index(index, after_inserts) <= a.target_len());
        }
    }

    #[test]
    fn huge_sequential_operations_compose(a in huge_len().prop_flat_map(operation_over), pick in 0..4u8) {
        let b_len = a.target_len();
        let b = TextOperation::from_components([Component::Retain(b_len / 2), Component::Delete(b_len - b_len / 2)]).unwrap();
        let b = if pick == 0 { TextOperation::from_components([Component::Retain(b_len)]).unwrap() } else { b };
        let ab = a.compose(&b).unwrap();
        prop_assert_eq!((ab.base_len(), ab.target_len()), (a.base_len(), b.target_len()));
    }

    #[test]
    fn diff_spans_both_texts(old in text(), new in text()) {
        let d = TextOperation::diff(&old, &new);
        prop_assert_eq!((d.base_len(), d.target_len()), (old.chars().count(), new.chars().count()));
    }
}

#[test]
fn the_reported_wrapping_operations_are_refused() {
    let i64_min = i64::MIN.unsigned_abs() as usize;
    let i64_max = i64::MAX as usize;
    use Component::{Delete as D, Insert as I, Retain as R};
    assert_eq!(TextOperation::from_components([D(i64_min), D(i64_min), R(5)]), Err(OtError::TooLong));
    assert_eq!(TextOperation::from_components([R(i64_max), I("x".into()), R(i64_max), R(7)]), Err(OtError::TooLong));
    let mut op = TextOperation::new();
    assert_eq!(op.delete(i64_min).err(), Some(OtError::TooLong));
    assert_eq!(op, TextOperation::new(), "a refused run leaves the operation as it was");
}
