//! The WebSocket protocol's messages (PROTOCOL.md), as closed serde enums, and their mapping to
//! and from the domain. Domain types never derive `Serialize`: this module is the only place that
//! knows the JSON shapes.

use pairpad_domain::{Component, Participant, RoomEvent, TextOperation};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

/// A message from a client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMessage {
    /// An edit on top of server revision `revision`.
    Operation {
        /// The base revision; signed so that a negative one gets a precise error.
        revision: i64,
        /// The ot.js components.
        ops: Vec<WireComponent>,
        /// The client's idempotency key.
        #[serde(default)]
        op_id: Option<String>,
    },
    /// Replace the whole document (the original API).
    CodeUpdate {
        /// The new text.
        code: String,
    },
    /// The sender's cursor or selection.
    Cursor {
        /// The revision the selection refers to.
        revision: i64,
        /// The selection.
        selection: WireSelection,
    },
    /// Change the room's language.
    Language {
        /// The new language.
        language: String,
    },
    /// Asks for a `pong`.
    Ping,
}

/// One component of an operation on the wire: `n > 0` retains, `-n` deletes, a string inserts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireComponent {
    /// A retain or delete count.
    Count(i64),
    /// Inserted text.
    Text(String),
}

/// A selection on the wire.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub struct WireSelection {
    /// Where the selection started.
    pub anchor: u64,
    /// Where the cursor is.
    pub head: u64,
}

/// The components cannot form an operation.
#[derive(Debug, thiserror::Error)]
#[error("an operation is an array of non-zero integers and strings")]
pub struct InvalidComponents;

/// Builds a domain operation from wire components.
pub fn to_operation(components: Vec<WireComponent>) -> Result<TextOperation, InvalidComponents> {
    let mut parts = Vec::with_capacity(components.len());
    for component in components {
        parts.push(match component {
            WireComponent::Text(text) => Component::Insert(text),
            WireComponent::Count(n) if n > 0 => Component::Retain(n as usize),
            WireComponent::Count(n) if n < 0 => Component::Delete(n.unsigned_abs() as usize),
            WireComponent::Count(_) => return Err(InvalidComponents),
        });
    }
    Ok(TextOperation::from_components(parts))
}

/// Serialises an operation as its ot.js array.
struct WireOperation<'a>(&'a TextOperation);

impl Serialize for WireOperation<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let components = self.0.components();
        let mut seq = serializer.serialize_seq(Some(components.len()))?;
        for component in components {
            match component {
                Component::Retain(n) => seq.serialize_element(n)?,
                Component::Insert(text) => seq.serialize_element(text)?,
                Component::Delete(n) => seq.serialize_element(&-(*n as i64))?,
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireUser<'a> {
    user_id: String,
    name: &'a str,
    color: &'a str,
}

impl<'a> From<&'a Participant> for WireUser<'a> {
    fn from(p: &'a Participant) -> Self {
        Self { user_id: p.user_id.to_string(), name: &p.name, color: &p.color }
    }
}

/// A message to a client.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
enum ServerMessage<'a> {
    Init {
        room_id: String,
        user_id: String,
        revision: u64,
        code: &'a str,
        language: &'a str,
        users: Vec<WireUser<'a>>,
    },
    Ack {
        revision: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        op_id: Option<&'a str>,
    },
    Operation {
        revision: u64,
        ops: WireOperation<'a>,
        user_id: String,
    },
    Cursor {
        user_id: String,
        revision: u64,
        selection: WireSelection,
    },
    UserJoined {
        user: WireUser<'a>,
        active_users: usize,
    },
    UserLeft {
        user_id: String,
        active_users: usize,
    },
    Language {
        language: &'a str,
        user_id: String,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    Pong,
}

/// Encodes a room event as the JSON text of its protocol message.
pub fn encode(event: &RoomEvent<'_>) -> String {
    let message = match *event {
        RoomEvent::Init { room, user_id, revision, code, language, users } => ServerMessage::Init {
            room_id: room.to_string(),
            user_id: user_id.to_string(),
            revision,
            code,
            language: language.as_str(),
            users: users.iter().map(WireUser::from).collect(),
        },
        RoomEvent::Ack { revision, op_id } => ServerMessage::Ack { revision, op_id },
        RoomEvent::Operation(op) => ServerMessage::Operation {
            revision: op.revision,
            ops: WireOperation(&op.operation),
            user_id: op.author.to_string(),
        },
        RoomEvent::Cursor { user_id, revision, selection } => ServerMessage::Cursor {
            user_id: user_id.to_string(),
            revision,
            selection: WireSelection { anchor: selection.anchor as u64, head: selection.head as u64 },
        },
        RoomEvent::UserJoined { user, active_users } => {
            ServerMessage::UserJoined { user: WireUser::from(user), active_users }
        }
        RoomEvent::UserLeft { user_id, active_users } => {
            ServerMessage::UserLeft { user_id: user_id.to_string(), active_users }
        }
        RoomEvent::Language { language, user_id } => {
            ServerMessage::Language { language: language.as_str(), user_id: user_id.to_string() }
        }
        RoomEvent::Error { code, message } => ServerMessage::Error { code, message },
    };
    to_json(&message)
}

/// The `pong` answer.
pub fn pong() -> String {
    to_json(&ServerMessage::Pong)
}

/// An `error` message.
pub fn error(code: &str, message: &str) -> String {
    to_json(&ServerMessage::Error { code, message })
}

fn to_json(message: &ServerMessage<'_>) -> String {
    // Serialising these plain structs to a string cannot fail: every key is a string and no
    // value has a fallible `Serialize`.
    serde_json::to_string(message).unwrap_or_else(|_| String::from(r#"{"type":"error","code":"internal"}"#))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pairpad_domain::{CommittedOp, Timestamp, UserId};

    #[test]
    fn operations_round_trip_through_json() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"operation","revision":3,"ops":[2,"🦀",-1,4],"opId":"c-1"}"#).unwrap();
        let ClientMessage::Operation { revision, ops, op_id } = msg else { panic!("operation expected") };
        let op = to_operation(ops).unwrap();
        assert_eq!((revision, op_id.as_deref(), op.base_len(), op.target_len()), (3, Some("c-1"), 7, 7));
        let author = UserId::random();
        let committed = CommittedOp { revision: 4, operation: op, op_id: None, author, at: Timestamp(0) };
        let json = encode(&RoomEvent::Operation(&committed));
        assert_eq!(json, format!(r#"{{"type":"operation","revision":4,"ops":[2,"🦀",-1,4],"userId":"{author}"}}"#));
    }

    #[test]
    fn zero_components_are_invalid() {
        assert!(to_operation(vec![WireComponent::Count(0)]).is_err());
    }

    #[test]
    fn acks_omit_a_missing_op_id() {
        assert_eq!(encode(&RoomEvent::Ack { revision: 2, op_id: None }), r#"{"type":"ack","revision":2}"#);
        assert_eq!(pong(), r#"{"type":"pong"}"#);
    }
}
