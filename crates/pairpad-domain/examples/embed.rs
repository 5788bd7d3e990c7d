//! Embedding the domain crate: a service with a transport of its own (here, plain function calls)
//! sequences two users' concurrent edits through a [`Room`], without Pairpad's server, a database
//! or an async runtime.
//!
//! Alice and Bob both edit revision 0. The room takes Alice's edit as it is and transforms Bob's
//! over it; each client transforms what it receives over its own edit in flight, as ot.js does,
//! and all three end with the same text.
//!
//! Run it with `cargo run -p pairpad-domain --example embed`.

use std::sync::Arc;

use pairpad_domain::{
    CommittedOp, Edit, EditOutcome, Language, Room, RoomId, RoomLimits, TextOperation, Timestamp, UserId,
};

type Error = Box<dyn std::error::Error>;

/// One user's editor: the text at the last revision it heard of, with its own edit in flight
/// applied on top (at most one, awaiting its acknowledgement).
struct Client {
    name: Arc<str>,
    id: UserId,
    revision: u64,
    text: String,
    in_flight: Option<TextOperation>,
    sent: u32,
}

impl Client {
    fn join(name: &str, room: &Room) -> Self {
        let (revision, text) = (room.revision(), room.text());
        Self { name: name.into(), id: UserId::random(), revision, text, in_flight: None, sent: 0 }
    }

    /// Applies `operation` locally at once and returns the edit to send to the room.
    fn edit(&mut self, operation: TextOperation) -> Result<Edit, Error> {
        self.text = operation.apply(&self.text)?;
        self.in_flight = Some(operation.clone());
        self.sent += 1;
        Ok(Edit {
            base_revision: self.revision,
            operation,
            // The idempotency key: a re-sent edit (after a reconnect) is recognised, not applied twice.
            op_id: Some(format!("{}-{}", self.name, self.sent)),
            author: self.id,
            author_name: self.name.clone(),
        })
    }

    /// The room committed this client's edit.
    fn acknowledged(&mut self, revision: u64) {
        self.in_flight = None;
        self.revision = revision;
    }

    /// Someone else's committed edit: transformed over the edit in flight before it is applied.
    fn receive(&mut self, op: &CommittedOp) -> Result<(), Error> {
        let mut incoming = op.operation.clone();
        if let Some(mine) = self.in_flight.take() {
            let (mine, theirs) = TextOperation::transform(&mine, &incoming)?;
            (self.in_flight, incoming) = (Some(mine), theirs);
        }
        self.text = incoming.apply(&self.text)?;
        self.revision = op.revision;
        Ok(())
    }
}

fn main() -> Result<(), Error> {
    let limits = RoomLimits { max_document_chars: 1 << 20, history_window: 1024 };
    let mut room = Room::new(RoomId::random(), Language::new("rust")?, "fn main() {\n}\n", 0, Timestamp(0), limits);
    let mut alice = Client::join("alice", &room);
    let mut bob = Client::join("bob", &room);
    println!("revision {}:\n{}", room.revision(), room.text());

    // Both edit revision 0: Alice fills in the body, Bob adds a function at the end.
    let body = "    println!(\"hello\");\n";
    let mut op = TextOperation::new();
    op.retain(12)?.insert(body)?.retain(2)?;
    let alice_edit = alice.edit(op)?;
    let mut op = TextOperation::new();
    op.retain(14)?.insert("\nfn helper() {}\n")?;
    let bob_edit = bob.edit(op)?;

    // The room sequences them in the order they arrive. In a real service, the committed
    // operation is stored first (a `RoomRepo`), then `confirm`ed, acknowledged and broadcast.
    for (edit, at) in [(alice_edit.clone(), 1), (bob_edit.clone(), 2)] {
        let (author, base, sent) = (edit.author_name.clone(), edit.base_revision, edit.operation.clone());
        let EditOutcome::Applied(committed) = room.submit(edit, &[], Timestamp(at))? else {
            return Err("a new op id is never a duplicate".into());
        };
        room.confirm(committed.revision)?;
        println!("{author} sent {sent:?} on revision {base}");
        println!("  committed as revision {}: {:?}", committed.revision, committed.operation);
        for client in [&mut alice, &mut bob] {
            if client.id == committed.author {
                client.acknowledged(committed.revision);
            } else {
                client.receive(&committed)?;
            }
        }
    }

    // Alice's connection dropped before her ack came: she sends her edit again.
    assert_eq!(room.submit(alice_edit, &[], Timestamp(3))?, EditOutcome::Duplicate { revision: 1 });

    println!("\nrevision {}:\n{}", room.revision(), room.text());
    assert_eq!(alice.text, room.text());
    assert_eq!(bob.text, room.text());
    assert_eq!((alice.revision, bob.revision), (2, 2));
    println!("alice and bob see the same text.");
    Ok(())
}
