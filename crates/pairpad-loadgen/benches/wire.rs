//! Message encode/decode: the hub's encoding of an `operation` event (done once per broadcast)
//! and of a 1 MB `init`, and the parse of a client's `operation` message into a domain operation.
//!
//! Run: `cargo bench -p pairpad-loadgen --bench wire`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pairpad_domain::{
    Access, CommittedOp, Component, Language, Participant, RoomEvent, RoomId, TextOperation, Timestamp, UserId,
};
use pairpad_hub::wire::encode;
use pairpad_protocol::{ClientMessage, OperationLimits, to_operation};

fn keystroke() -> TextOperation {
    TextOperation::from_components([Component::Retain(5120), Component::Insert("x".into()), Component::Retain(3071)])
        .expect("a valid operation")
}

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");
    let committed = CommittedOp {
        revision: 12_345,
        operation: keystroke(),
        op_id: None,
        author: UserId::random(),
        author_name: "Ada".into(),
        at: Timestamp(0),
    };
    group.bench_function("encode operation event", |b| {
        b.iter(|| encode(black_box(&RoomEvent::Operation { op: &committed, show_op_id: false })))
    });
    group.bench_function("encode ack", |b| {
        b.iter(|| encode(black_box(&RoomEvent::Ack { revision: 12_345, op_id: Some("4f1c-0001-77") })))
    });

    // The server's defaults (config/default.toml: websocket.max_operation_components,
    // rooms.max_document_chars).
    let limits = OperationLimits { max_components: 10_000, max_count: 2 * 1024 * 1024 };
    let text = r#"{"type":"operation","revision":12344,"ops":[5120,"x",3071],"opId":"7b0e3c52-9a3e-4f7a-8d6f-2c1b5e9d0a11-1a2b3c4d-178"}"#;
    group.bench_function("decode operation message", |b| {
        b.iter(|| {
            let message: ClientMessage = serde_json::from_str(black_box(text)).expect("valid message");
            match message {
                ClientMessage::Operation { ops, .. } => to_operation(ops, limits).expect("valid ops"),
                _ => unreachable!("an operation"),
            }
        })
    });

    let code = "let x = compute(&input); // a line of code in a large document\n".repeat(16 * 1024);
    let language = Language::new("rust").expect("a language");
    let users = vec![Participant::new(UserId::random(), "Ada".into())];
    let user_id = users[0].user_id;
    let room = RoomId::random();
    group.bench_function("encode init (1 MB document)", |b| {
        b.iter(|| {
            encode(black_box(&RoomEvent::Init {
                room,
                user_id,
                revision: 1,
                code: &code,
                language: &language,
                users: &users,
                resumed: None,
                access: Access::Edit { view_id: room },
            }))
        })
    });
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
