//! OT micro-benchmarks: transform, compose and apply on a small and a large (1 MB) document, and
//! the `rustcode` trace replayed through the domain engine alone (`Room::submit` per patch).
//!
//! Run: `cargo bench -p pairpad-loadgen --bench ot`.

use std::hint::black_box;
use std::io::Read;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use pairpad_domain::{Component, Edit, Language, Room, RoomId, RoomLimits, TextOperation, Timestamp, UserId};

/// A document of `chars` ASCII characters that looks like code.
fn document(chars: usize) -> String {
    let line = "    let value = compute(&input, 42); // keep the state consistent\n";
    line.repeat(chars / line.len() + 1)[..chars].to_owned()
}

/// One keystroke at `at` on a document of `len` characters.
fn insert_at(len: usize, at: usize, text: &str) -> TextOperation {
    TextOperation::from_components([
        Component::Retain(at),
        Component::Insert(text.to_owned()),
        Component::Retain(len - at),
    ])
    .expect("a valid operation")
}

fn delete_at(len: usize, at: usize) -> TextOperation {
    TextOperation::from_components([Component::Retain(at), Component::Delete(1), Component::Retain(len - at - 1)])
        .expect("a valid operation")
}

fn algebra(c: &mut Criterion) {
    for (name, len) in [("2KB", 2 * 1024), ("1MB", 1024 * 1024)] {
        let doc = document(len);
        let rope = ropey::Rope::from_str(&doc);
        let a = insert_at(len, len / 3, "x");
        let b = delete_at(len, len / 2);
        let next = insert_at(len + 1, len / 3 + 1, "y");
        let mut group = c.benchmark_group(format!("ot/{name}"));
        group
            .bench_function("transform", |bench| bench.iter(|| TextOperation::transform(black_box(&a), black_box(&b))));
        group.bench_function("compose", |bench| bench.iter(|| black_box(&a).compose(black_box(&next))));
        group.bench_function("apply_string", |bench| bench.iter(|| black_box(&a).apply(black_box(&doc))));
        group.bench_function("apply_rope", |bench| {
            bench.iter_batched_ref(|| rope.clone(), |r| a.apply_to_rope(r), BatchSize::SmallInput)
        });
        group.finish();
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trace {
    start_content: String,
    end_content: String,
    txns: Vec<Txn>,
}

#[derive(serde::Deserialize)]
struct Txn {
    patches: Vec<(usize, usize, String)>,
}

fn load_trace(name: &str) -> Trace {
    let path = format!("{}/../../tests/traces/{name}.json.gz", env!("CARGO_MANIFEST_DIR"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("the trace file"))
        .read_to_string(&mut json)
        .expect("a gzipped trace");
    serde_json::from_str(&json).expect("a trace")
}

/// Each patch as the edit a client would send on top of the latest revision.
fn edits(trace: &Trace) -> Vec<Edit> {
    let author = UserId::random();
    let mut len = trace.start_content.chars().count();
    let mut edits = Vec::new();
    for (revision, (position, deleted, inserted)) in trace.txns.iter().flat_map(|t| &t.patches).enumerate() {
        let operation = TextOperation::from_components([
            Component::Retain(*position),
            Component::Delete(*deleted),
            Component::Insert(inserted.clone()),
            Component::Retain(len - position - deleted),
        ])
        .expect("a valid operation");
        len = operation.target_len();
        edits.push(Edit { base_revision: revision as u64, operation, op_id: None, author, author_name: "Ada".into() });
    }
    edits
}

fn replay(trace: &Trace, edits: Vec<Edit>) -> Room {
    let mut room = Room::new(
        RoomId::random(),
        Language::plaintext(),
        &trace.start_content,
        0,
        Timestamp(0),
        RoomLimits { max_document_chars: 4 * 1024 * 1024, history_window: 1024 },
    );
    for edit in edits {
        room.submit(edit, &[], Timestamp(0)).expect("every patch applies");
    }
    room
}

fn trace_replay(c: &mut Criterion) {
    for name in ["rustcode", "sveltecomponent"] {
        let trace = load_trace(name);
        let edits = edits(&trace);
        assert_eq!(replay(&trace, edits.clone()).text(), trace.end_content, "{name} replays to endContent");
        let mut group = c.benchmark_group("replay");
        group.sample_size(20);
        group.bench_function(format!("{name} ({} patches) via Room::submit", edits.len()), |bench| {
            bench.iter_batched(|| edits.clone(), |e| replay(&trace, e), BatchSize::LargeInput)
        });
        group.finish();
    }
}

criterion_group!(benches, algebra, trace_replay);
criterion_main!(benches);
