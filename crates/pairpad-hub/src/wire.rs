//! The mapping of the domain's room events to the protocol's messages (`pairpad-protocol`).
//! Domain types never derive `Serialize`: the JSON shapes are defined in `pairpad-protocol`.

use std::borrow::Cow;

use pairpad_domain::{Access, Participant, RoomEvent};
use pairpad_protocol::{ErrorCode, Ops, ServerMessage, WireSelection, WireUser, access_name};
use pairpad_room::room::Resumption;

fn user(p: &Participant) -> WireUser<'_> {
    WireUser {
        user_id: Cow::Owned(p.user_id.to_string()),
        name: Cow::Borrowed(&p.name),
        color: Cow::Borrowed(&p.color),
    }
}

/// Encodes a room event as the JSON text of its protocol message.
pub fn encode(event: &RoomEvent<'_>) -> String {
    let message = match *event {
        RoomEvent::Init { room, user_id, revision, code, language, users, resumed, access } => ServerMessage::Init {
            room_id: access.shown_id(room).to_string().into(),
            user_id: user_id.to_string().into(),
            revision,
            code: code.into(),
            language: language.as_str().into(),
            users: users.iter().map(user).collect(),
            resumed,
            access: Some(access_name(access).into()),
            view_id: view_id(access),
        },
        RoomEvent::Ack { revision, op_id } => ServerMessage::Ack { revision, op_id: op_id.map(Cow::Borrowed) },
        RoomEvent::Operation { op, show_op_id } => ServerMessage::Operation {
            revision: op.revision,
            ops: Ops::borrowed(&op.operation),
            user_id: op.author.to_string().into(),
            op_id: op.op_id.as_deref().filter(|_| show_op_id).map(Cow::Borrowed),
        },
        RoomEvent::Cursor { user_id, revision, selection } => ServerMessage::Cursor {
            user_id: user_id.to_string().into(),
            revision,
            selection: WireSelection { anchor: selection.anchor as u64, head: selection.head as u64 },
        },
        RoomEvent::UserJoined { user: joined, active_users } => {
            ServerMessage::UserJoined { user: user(joined), active_users }
        }
        RoomEvent::UserLeft { user_id, active_users } => {
            ServerMessage::UserLeft { user_id: user_id.to_string().into(), active_users }
        }
        RoomEvent::Language { language, user_id } => {
            ServerMessage::Language { language: language.as_str().into(), user_id: user_id.to_string().into() }
        }
        RoomEvent::Error { code, message } => ServerMessage::Error { code: code.into(), message: message.into() },
    };
    to_json(&message)
}

/// The `resume` welcome (PROTOCOL.md 1.1, "Resuming").
pub fn resume(resumption: &Resumption) -> String {
    to_json(&ServerMessage::Resume {
        room_id: resumption.access.shown_id(resumption.room).to_string().into(),
        user_id: resumption.user.to_string().into(),
        revision: resumption.since,
        language: resumption.language.as_str().into(),
        users: resumption.users.iter().map(user).collect(),
        resumed: Some(true),
        access: Some(access_name(resumption.access).into()),
        view_id: view_id(resumption.access),
    })
}

/// The `viewId` field: an editor's only.
fn view_id(access: Access) -> Option<Cow<'static, str>> {
    match access {
        Access::View { .. } => None,
        Access::Edit { view_id } => Some(view_id.to_string().into()),
    }
}

/// The `pong` answer.
pub fn pong() -> String {
    to_json(&ServerMessage::Pong)
}

/// An `error` message.
pub fn error(code: ErrorCode, message: &str) -> String {
    to_json(&ServerMessage::Error { code: code.as_str().into(), message: message.into() })
}

fn to_json(message: &ServerMessage<'_>) -> String {
    // Serialising these plain values to a string cannot fail: every key is a string, no value
    // has a fallible `Serialize` and `ServerMessage::Unknown` is never built here.
    serde_json::to_string(message).unwrap_or_else(|_| String::from(r#"{"type":"error","code":"internal"}"#))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pairpad_domain::{CommittedOp, Timestamp, UserId};
    use pairpad_protocol::{ClientMessage, OperationLimits, to_operation};

    // The codec's own tests (limits, zeros, property tests) are in `pairpad-protocol`.

    #[test]
    fn operations_round_trip_through_json() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"operation","revision":3,"ops":[2,"🦀",-1,4],"opId":"c-1"}"#).unwrap();
        let ClientMessage::Operation { revision, ops, op_id } = msg else { panic!("operation expected") };
        let limits = OperationLimits { max_components: 4, max_count: 10 };
        let op = to_operation(ops, limits).unwrap();
        assert_eq!((revision, op_id.as_deref(), op.base_len(), op.target_len()), (3, Some("c-1"), 7, 7));
        let author = UserId::random();
        let committed = CommittedOp {
            revision: 4,
            operation: op,
            op_id: None,
            author,
            author_name: "Ada".into(),
            at: Timestamp(0),
        };
        let json = encode(&RoomEvent::Operation { op: &committed, show_op_id: false });
        assert_eq!(json, format!(r#"{{"type":"operation","revision":4,"ops":[2,"🦀",-1,4],"userId":"{author}"}}"#));
        let with_id = CommittedOp { op_id: Some("c-9".into()), ..committed };
        assert!(!encode(&RoomEvent::Operation { op: &with_id, show_op_id: false }).contains("opId"));
        assert!(encode(&RoomEvent::Operation { op: &with_id, show_op_id: true }).ends_with(r#","opId":"c-9"}"#));
    }

    #[test]
    fn acks_omit_a_missing_op_id() {
        assert_eq!(encode(&RoomEvent::Ack { revision: 2, op_id: None }), r#"{"type":"ack","revision":2}"#);
        assert_eq!(
            encode(&RoomEvent::Ack { revision: 2, op_id: Some("c-1") }),
            r#"{"type":"ack","revision":2,"opId":"c-1"}"#
        );
        assert_eq!(pong(), r#"{"type":"pong"}"#);
        assert_eq!(error(ErrorCode::TooSlow, "m"), r#"{"type":"error","code":"too_slow","message":"m"}"#);
    }

    #[test]
    fn init_and_presence_keep_their_shape() {
        let ada = Participant::new(UserId::random(), "Ada".into());
        let id = ada.user_id;
        let color = ada.color.clone();
        let room = pairpad_domain::RoomId::random();
        let view_id = pairpad_domain::RoomId::random();
        let language = pairpad_domain::Language::new("rust").unwrap();
        let users = vec![ada.clone()];
        let init = encode(&RoomEvent::Init {
            room,
            user_id: id,
            revision: 7,
            code: "a\"b",
            language: &language,
            users: &users,
            resumed: None,
            access: pairpad_domain::Access::Edit { view_id },
        });
        let user = format!(r#"{{"userId":"{id}","name":"Ada","color":"{color}"}}"#);
        assert_eq!(
            init,
            format!(
                r#"{{"type":"init","roomId":"{room}","userId":"{id}","revision":7,"code":"a\"b","language":"rust","users":[{user}],"access":"edit","viewId":"{view_id}"}}"#
            )
        );
        let read_only = encode(&RoomEvent::Init {
            room,
            user_id: id,
            revision: 7,
            code: "",
            language: &language,
            users: &[],
            resumed: None,
            access: pairpad_domain::Access::View { view_id },
        });
        assert!(read_only.ends_with(r#""users":[],"access":"view"}"#), "{read_only}");
        assert!(read_only.contains(&format!(r#""roomId":"{view_id}""#)), "a reader is shown the view id: {read_only}");
        assert!(!read_only.contains(&room.to_string()), "and never the edit id: {read_only}");
        assert_eq!(
            encode(&RoomEvent::UserJoined { user: &ada, active_users: 2 }),
            format!(r#"{{"type":"user_joined","user":{user},"activeUsers":2}}"#)
        );
    }
}
