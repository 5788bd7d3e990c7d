//! The WebSocket protocol's messages (PROTOCOL.md), as closed serde enums, and their mapping to
//! and from the domain. Domain types never derive `Serialize`: this module is the only place that
//! knows the JSON shapes.

use pairpad_domain::{Component, OtError, Participant, RoomEvent, TextOperation};
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

/// The most an operation from a client may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationLimits {
    /// Components per operation: each costs the room's task time, whatever it does.
    pub max_components: usize,
    /// The longest retain or delete: no document is longer (the `max_document_chars` setting).
    pub max_count: usize,
}

/// Why wire components cannot form an operation; the message tells the client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOperation {
    /// A `0`, which means nothing.
    #[error("an operation is an array of non-zero integers and strings")]
    ZeroCount,
    /// More components than allowed.
    #[error("an operation has at most {max} components; this one has {count}")]
    TooManyComponents {
        /// The components sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A retain or delete longer than any document.
    #[error("a retain or delete covers at most {max} characters, the longest document; this one covers {count}")]
    CountTooLarge {
        /// The count sent (its magnitude for a delete).
        count: u64,
        /// The limit.
        max: usize,
    },
    /// The lengths add up to more than any text can hold (only with huge limits).
    #[error("invalid operation: {0}")]
    Ot(#[from] OtError),
}

/// Builds a domain operation from wire components, within `limits`.
pub fn to_operation(
    components: Vec<WireComponent>,
    limits: OperationLimits,
) -> Result<TextOperation, InvalidOperation> {
    if components.len() > limits.max_components {
        return Err(InvalidOperation::TooManyComponents { count: components.len(), max: limits.max_components });
    }
    let mut parts = Vec::with_capacity(components.len());
    for component in components {
        parts.push(match component {
            WireComponent::Text(text) => Component::Insert(text),
            WireComponent::Count(0) => return Err(InvalidOperation::ZeroCount),
            WireComponent::Count(n) => {
                let too_large = || InvalidOperation::CountTooLarge { count: n.unsigned_abs(), max: limits.max_count };
                let count = usize::try_from(n.unsigned_abs()).map_err(|_| too_large())?;
                if count > limits.max_count {
                    return Err(too_large());
                }
                if n < 0 { Component::Delete(count) } else { Component::Retain(count) }
            }
        });
    }
    Ok(TextOperation::from_components(parts)?)
}

const _: () = assert!(TextOperation::MAX_LEN as u128 <= i64::MAX as u128);

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
                // Exact: a run is at most `TextOperation::MAX_LEN` <= `i64::MAX` characters.
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
    use proptest::prelude::*;

    #[test]
    fn operations_round_trip_through_json() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"operation","revision":3,"ops":[2,"🦀",-1,4],"opId":"c-1"}"#).unwrap();
        let ClientMessage::Operation { revision, ops, op_id } = msg else { panic!("operation expected") };
        let op = to_operation(ops, LIMITS).unwrap();
        assert_eq!((revision, op_id.as_deref(), op.base_len(), op.target_len()), (3, Some("c-1"), 7, 7));
        let author = UserId::random();
        let committed = CommittedOp { revision: 4, operation: op, op_id: None, author, at: Timestamp(0) };
        let json = encode(&RoomEvent::Operation(&committed));
        assert_eq!(json, format!(r#"{{"type":"operation","revision":4,"ops":[2,"🦀",-1,4],"userId":"{author}"}}"#));
    }

    const LIMITS: OperationLimits = OperationLimits { max_components: 4, max_count: 10 };

    #[test]
    fn zero_components_are_invalid() {
        assert_eq!(to_operation(vec![WireComponent::Count(0)], LIMITS).unwrap_err(), InvalidOperation::ZeroCount);
    }

    #[test]
    fn operations_beyond_the_limits_are_invalid() {
        let counts = |counts: &[i64]| counts.iter().map(|&n| WireComponent::Count(n)).collect::<Vec<_>>();
        assert!(to_operation(counts(&[10, -10, 10, -10]), LIMITS).is_ok());
        assert_eq!(
            to_operation(counts(&[1, 1, 1, 1, 1]), LIMITS).unwrap_err(),
            InvalidOperation::TooManyComponents { count: 5, max: 4 }
        );
        assert_eq!(
            to_operation(counts(&[i64::MIN, i64::MIN, 5]), LIMITS).unwrap_err(),
            InvalidOperation::CountTooLarge { count: 1 << 63, max: 10 }
        );
        let huge = OperationLimits { max_components: 4, max_count: usize::MAX };
        assert_eq!(
            to_operation(counts(&[i64::MIN, i64::MIN, 5]), huge).unwrap_err(),
            InvalidOperation::Ot(OtError::TooLong)
        );
        let mut wrapping = counts(&[i64::MAX, i64::MAX, 7]);
        wrapping.insert(1, WireComponent::Text("x".into()));
        assert_eq!(to_operation(wrapping, huge).unwrap_err(), InvalidOperation::Ot(OtError::TooLong));
    }

    /// A count at the edges of `i64`, or some text.
    fn wire_component() -> impl Strategy<Value = WireComponent> {
        prop_oneof![
            prop::sample::select(vec![i64::MIN, i64::MIN + 1, -11, -10, -1, 0, 1, 10, 11, i64::MAX - 1, i64::MAX])
                .prop_map(WireComponent::Count),
            any::<i64>().prop_map(WireComponent::Count),
            "[a🦀é]{0,3}".prop_map(WireComponent::Text),
        ]
    }

    fn limits() -> impl Strategy<Value = OperationLimits> {
        (0..6usize, prop::sample::select(vec![0, 10, TextOperation::MAX_LEN, usize::MAX]))
            .prop_map(|(max_components, max_count)| OperationLimits { max_components, max_count })
    }

    proptest! {
        #[test]
        fn to_operation_accepts_exactly_what_is_within_limits(
            components in proptest::collection::vec(wire_component(), 0..8),
            limits in limits(),
        ) {
            let (mut base, mut target, mut zero, mut longest) = (0u128, 0u128, false, 0u128);
            for component in &components {
                match component {
                    WireComponent::Text(s) => target += s.chars().count() as u128,
                    WireComponent::Count(n) => {
                        let count = n.unsigned_abs() as u128;
                        (zero, longest) = (zero || *n == 0, longest.max(count));
                        base += count;
                        if *n > 0 { target += count }
                    }
                }
            }
            let count = components.len();
            let max_len = TextOperation::MAX_LEN as u128;
            match to_operation(components, limits) {
                Ok(op) => {
                    prop_assert!(count <= limits.max_components && !zero && longest <= limits.max_count as u128);
                    prop_assert_eq!((op.base_len() as u128, op.target_len() as u128), (base, target));
                }
                Err(InvalidOperation::TooManyComponents { .. }) => prop_assert!(count > limits.max_components),
                Err(InvalidOperation::ZeroCount) => prop_assert!(zero),
                Err(InvalidOperation::CountTooLarge { .. }) => prop_assert!(longest > limits.max_count as u128),
                Err(InvalidOperation::Ot(_)) => prop_assert!(base > max_len || target > max_len),
            }
        }
    }

    #[test]
    fn acks_omit_a_missing_op_id() {
        assert_eq!(encode(&RoomEvent::Ack { revision: 2, op_id: None }), r#"{"type":"ack","revision":2}"#);
        assert_eq!(pong(), r#"{"type":"pong"}"#);
    }
}
