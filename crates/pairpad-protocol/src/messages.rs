//! The WebSocket messages: text frames, one JSON object each, tagged by `type`, fields in
//! camelCase. Unknown fields are ignored both ways, so either side may add some.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::operation::{Ops, WireComponent};

/// A message from a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ClientMessage {
    /// An edit on top of server revision `revision`.
    Operation {
        /// The base revision; signed so that a negative one gets a precise error.
        revision: i64,
        /// The ot.js components, checked with [`crate::to_operation`].
        ops: Vec<WireComponent>,
        /// The client's idempotency key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        op_id: Option<String>,
    },
    /// Replace the whole document (the original API).
    CodeUpdate {
        /// The new text.
        code: String,
        /// Contract 1.1: the revision `code` was edited from; the server then merges the
        /// difference like an operation instead of overwriting concurrent edits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<i64>,
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

/// A selection on the wire, in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct WireSelection {
    /// Where the selection started.
    pub anchor: u64,
    /// Where the cursor is.
    pub head: u64,
}

/// A participant as listed by the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUser<'a> {
    /// The participant's id for this connection.
    pub user_id: Cow<'a, str>,
    /// The display name.
    pub name: Cow<'a, str>,
    /// The colour of the participant's cursor (CSS).
    pub color: Cow<'a, str>,
}

/// A message from the server. It borrows what it can to encode; decoded, it owns everything.
/// The `code` of an `error` stays a string: a newer server may send codes this version does not
/// know ([`crate::ErrorCode::parse`] names the known ones).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum ServerMessage<'a> {
    /// Always the first message after joining: the room as it is now.
    Init {
        /// The room's id.
        room_id: Cow<'a, str>,
        /// This connection's user id.
        user_id: Cow<'a, str>,
        /// The revision `code` is at.
        revision: u64,
        /// The document.
        code: Cow<'a, str>,
        /// The room's language.
        language: Cow<'a, str>,
        /// Who is in the room, this connection included.
        users: Vec<WireUser<'a>>,
        /// Contract 1.1: whether a `since` resume was granted (sent only after a `since`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed: Option<bool>,
        /// Contract 1.1: `"view"` or `"edit"` (absent from servers before 1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access: Option<Cow<'a, str>>,
        /// Pairpad's addition, for `"edit"` connections only: the room's read-only id, which an
        /// editor may share.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view_id: Option<Cow<'a, str>>,
    },
    /// Contract 1.1: the first message after joining with `?since=R` when the server still has
    /// every operation after `R`; those operations follow, in order, each with its `opId`.
    Resume {
        /// The room's id.
        room_id: Cow<'a, str>,
        /// This connection's user id.
        user_id: Cow<'a, str>,
        /// The `since` revision the operations that follow start after.
        revision: u64,
        /// The room's language.
        language: Cow<'a, str>,
        /// Who is in the room, this connection included.
        users: Vec<WireUser<'a>>,
        /// Always `true` when sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resumed: Option<bool>,
        /// `"view"` or `"edit"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        access: Option<Cow<'a, str>>,
        /// Pairpad's addition, for `"edit"` connections only: the room's read-only id, which an
        /// editor may share.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        view_id: Option<Cow<'a, str>>,
    },
    /// The sender's operation is durable as `revision`.
    Ack {
        /// The revision the operation became.
        revision: u64,
        /// The operation's `opId`, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        op_id: Option<Cow<'a, str>>,
    },
    /// Another participant's edit, turning revision `revision - 1` into `revision`.
    Operation {
        /// The revision it became.
        revision: u64,
        /// The edit.
        ops: Ops<'a>,
        /// Its author.
        user_id: Cow<'a, str>,
        /// Contract 1.1 (resume): the `opId` it was sent with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        op_id: Option<Cow<'a, str>>,
    },
    /// Another participant's cursor or selection.
    Cursor {
        /// Whose.
        user_id: Cow<'a, str>,
        /// The revision it refers to.
        revision: u64,
        /// The selection.
        selection: WireSelection,
    },
    /// Someone joined.
    UserJoined {
        /// Who.
        user: WireUser<'a>,
        /// How many are connected now.
        active_users: usize,
    },
    /// Someone left.
    UserLeft {
        /// Who.
        user_id: Cow<'a, str>,
        /// How many are connected now.
        active_users: usize,
    },
    /// The room's language changed.
    Language {
        /// The new language.
        language: Cow<'a, str>,
        /// Who changed it.
        user_id: Cow<'a, str>,
    },
    /// What was wrong; the server closes the connection after some (see [`crate::CloseCode`]).
    Error {
        /// A snake_case code (see [`crate::ErrorCode`]).
        code: Cow<'a, str>,
        /// A sentence for people.
        message: Cow<'a, str>,
    },
    /// The answer to `ping`.
    Pong,
    /// A message type this version does not know, from a newer server: a client may ignore it.
    /// Never sent (encoding it fails).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// How `init`, `resume` and `GET /api/rooms/{id}` name a read-only connection's access.
pub const ACCESS_VIEW: &str = "view";
/// How they name an editing connection's.
pub const ACCESS_EDIT: &str = "edit";

/// The `access` field's value for `access` (PROTOCOL.md 1.1, "Access").
pub fn access_name(access: pairpad_domain::Access) -> &'static str {
    if access.may_edit() { ACCESS_EDIT } else { ACCESS_VIEW }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pairpad_domain::{Component, TextOperation};

    fn parse(text: &str) -> Result<ServerMessage<'static>, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn server_messages_encode_as_documented() {
        let op = TextOperation::from_components([Component::Retain(2), Component::Insert("🦀".into())]).unwrap();
        let message =
            ServerMessage::Operation { revision: 4, ops: Ops::borrowed(&op), user_id: "u".into(), op_id: None };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(json, r#"{"type":"operation","revision":4,"ops":[2,"🦀"],"userId":"u"}"#);
        assert_eq!(parse(&json).unwrap(), message);
        let ack = ServerMessage::Ack { revision: 2, op_id: None };
        assert_eq!(serde_json::to_string(&ack).unwrap(), r#"{"type":"ack","revision":2}"#);
        assert_eq!(serde_json::to_string(&ServerMessage::Pong).unwrap(), r#"{"type":"pong"}"#);
        assert!(serde_json::to_string(&ServerMessage::Unknown).is_err());
    }

    #[test]
    fn malformed_server_messages_are_errors() {
        for text in [
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","revision":-1}"#,
            r#"{"type":"ack","revision":"3"}"#,
            r#"{"type":"operation","revision":3,"ops":[0],"userId":"u"}"#,
            r#"{"type":"operation","revision":3,"ops":[1.5],"userId":"u"}"#,
            r#"{"type":"operation","revision":3,"userId":"u"}"#,
            r#"{"type":"init","roomId":"r","userId":"u","revision":0,"code":"","language":"x"}"#,
            r#"{"type":"error","code":"x"}"#,
            r#"{"revision":3}"#,
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        assert_eq!(parse(r#"{"type":"snapshot_ready","roomId":"r"}"#).unwrap(), ServerMessage::Unknown);
        let resume =
            r#"{"type":"resume","roomId":"r","userId":"u","revision":7,"language":"x","users":[],"resumed":true}"#;
        assert!(matches!(parse(resume).unwrap(), ServerMessage::Resume { revision: 7, resumed: Some(true), .. }));
        let ack = parse(r#"{"type":"ack","revision":3,"opId":"c-1","later":true}"#).unwrap();
        assert_eq!(ack, ServerMessage::Ack { revision: 3, op_id: Some("c-1".into()) });
        let init = r#"{"type":"init","roomId":"r","userId":"u","revision":0,"code":"","language":"x","users":[],"access":"view"}"#;
        assert!(
            matches!(parse(init).unwrap(), ServerMessage::Init { access: Some(a), resumed: None, .. } if a == "view")
        );
    }

    #[test]
    fn client_messages_round_trip() {
        let text = r#"{"type":"operation","revision":3,"ops":[2,"🦀",-1,4],"opId":"c-1"}"#;
        let message: ClientMessage = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&message).unwrap(), text);
        assert_eq!(serde_json::to_string(&ClientMessage::Ping).unwrap(), r#"{"type":"ping"}"#);
    }
}
