//! A Rust client for Pairpad's WebSocket protocol (PROTOCOL.md): connect to a room, edit with the
//! ot.js client state machine, go offline and keep editing, reconnect with `?since=` (resume, or
//! rebase unacknowledged work by diff when the server cannot resume).
//! The integration tests and the load generator use it; so can other Rust services.
//!
//! Layout:
//! - [`state`]: [`ClientDoc`], the pure client-side OT state machine.
//! - this file: [`Client`], a connection driving a [`ClientDoc`].

pub mod state;

use std::borrow::Cow;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pairpad_domain::{Component, TextOperation};
use pairpad_protocol::{ClientMessage, Ops, ServerMessage, WireComponent, WireUser};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use state::{ClientDoc, Confirmed, Outgoing, Received, SyncError};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the server closed the connection ({code}: {reason})")]
    Closed { code: u16, reason: String },
    #[error("the server refused: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
}

impl From<pairpad_domain::OtError> for ClientError {
    fn from(e: pairpad_domain::OtError) -> Self {
        Self::Protocol(e.to_string())
    }
}

impl From<SyncError> for ClientError {
    fn from(e: SyncError) -> Self {
        Self::Protocol(e.to_string())
    }
}

/// A participant as listed by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub name: String,
    pub color: String,
}

impl From<WireUser<'_>> for User {
    fn from(user: WireUser<'_>) -> Self {
        Self { user_id: user.user_id.into_owned(), name: user.name.into_owned(), color: user.color.into_owned() }
    }
}

/// Something the server said, after the client applied it.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Our operation is durable as `revision`: an `ack`, or after a resume an `operation` that
    /// carries our operation's `opId`. Also an `ack` for an operation this client did not send
    /// (a raw message), which changes nothing.
    Ack {
        revision: u64,
        op_id: Option<String>,
    },
    /// A second confirmation of one of our operations already counted (after a resume the server
    /// may send it both as an `operation` and as an `ack`; the first counts): ignored.
    Duplicate {
        revision: u64,
        op_id: String,
    },
    /// Another participant's operation was applied (or, right after a resume, held until our
    /// re-sent operation is confirmed, then applied in order).
    Remote {
        revision: u64,
        user_id: String,
    },
    Joined(User),
    Left {
        user_id: String,
    },
    Cursor {
        user_id: String,
        revision: u64,
        anchor: u64,
        head: u64,
    },
    Language {
        language: String,
        user_id: String,
    },
    Error {
        code: String,
        message: String,
    },
    Pong,
    /// A message of a type this client does not know (its JSON text): a newer server may add
    /// types, and a client ignores them. A known type with a malformed body is an error instead.
    Other(String),
}

/// How a reconnect went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejoined {
    /// The server resumed after the client's revision: the missed operations follow.
    Resumed,
    /// The server could not resume and sent a fresh `init` (`resumed: false`); unacknowledged
    /// work, if there was any (`rebased`), was rebased onto it by diff and sent.
    Restarted { rebased: bool },
}

/// A connection to one room.
pub struct Client {
    /// `{base}/ws/{room}[?name=..]`, without `since`.
    url: String,
    /// After [`Client::go_offline`], until a reconnect: edits stay local.
    offline: bool,
    socket: Socket,
    doc: ClientDoc,
    user_id: String,
    users: Vec<User>,
    language: String,
    /// What the server lets this connection do (PROTOCOL.md 1.1, "Access").
    access: Access,
}

/// What a connection may do, as its `init` or `resume` says (PROTOCOL.md 1.1, "Access").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-only (a view id or a `view` token): edits are refused with `read_only`.
    View,
    /// Edit; `view_id` is the room's read-only id, to share (when the server says it).
    Edit { view_id: Option<String> },
}

impl Access {
    /// From a welcome's `access` and `viewId`: a server before 1.1 sends neither (edit).
    fn from_welcome(access: Option<&str>, view_id: Option<String>) -> Self {
        if access == Some(pairpad_protocol::ACCESS_VIEW) { Self::View } else { Self::Edit { view_id } }
    }
}

impl Client {
    /// Connects to `{base}/ws/{room}` (`base` like `ws://127.0.0.1:8080`) and waits for `init`.
    pub async fn connect(base: &str, room: &str, name: Option<&str>) -> Result<Self, ClientError> {
        Self::connect_with_token(base, room, name, None).await
    }

    /// Like [`Client::connect`], with a token for a server in token mode (`?token=`; PROTOCOL.md
    /// 1.1, "Access"). A refused token is [`ClientError::Refused`] with `unauthorized` or
    /// `forbidden`. The token is sent again on every reconnect.
    pub async fn connect_with_token(
        base: &str,
        room: &str,
        name: Option<&str>,
        token: Option<&str>,
    ) -> Result<Self, ClientError> {
        let mut url = format!("{}/ws/{room}", base.trim_end_matches('/'));
        let query: Vec<String> = [("name", name), ("token", token)]
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| format!("{key}={}", encode_query(value))))
            .collect();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let (socket, welcome) = open(&url).await?;
        let Welcome::Init(init) = welcome else {
            return Err(ClientError::Protocol("expected init, got resume".into()));
        };
        let client_id = format!("{}-{:08x}", init.user_id, rand_u32());
        Ok(Self {
            doc: ClientDoc::new(&init.code, init.revision, client_id),
            url,
            offline: false,
            socket,
            user_id: init.user_id,
            users: init.users,
            language: init.language,
            access: init.access,
        })
    }

    /// What the server lets this connection do.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The local text: the server's plus local edits not yet acknowledged.
    pub fn text(&self) -> String {
        self.doc.text()
    }

    /// The state machine.
    pub fn doc(&self) -> &ClientDoc {
        &self.doc
    }

    /// This connection's user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Who is in the room, as far as this client knows.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The room's language.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// Whether the client is offline ([`Client::go_offline`]) until its next reconnect.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Closes the connection but keeps the document: edits go on locally (nothing is sent) until
    /// [`Client::reconnect`] resumes or rebases them. For tests and offline editing.
    pub async fn go_offline(&mut self) {
        self.offline = true;
        let _ = self.socket.close(None).await;
    }

    /// Applies a local edit and sends it when nothing is in flight (and the client is online).
    pub async fn edit(&mut self, operation: TextOperation) -> Result<(), ClientError> {
        if let Some(outgoing) = self.doc.local_edit(operation)? {
            self.send_operation(&outgoing).await?;
        }
        Ok(())
    }

    /// Replaces `delete` characters at `position` with `insert`.
    pub async fn splice(&mut self, position: usize, delete: usize, insert: &str) -> Result<(), ClientError> {
        let len = self.doc.len_chars();
        let operation = TextOperation::from_components([
            Component::Retain(position),
            Component::Delete(delete),
            Component::Insert(insert.to_owned()),
            Component::Retain(len.saturating_sub(position.saturating_add(delete))),
        ])?;
        self.edit(operation).await
    }

    /// Sends any JSON message as it is (for tests of bad input).
    pub async fn send_json(&mut self, message: &Value) -> Result<(), ClientError> {
        self.send_text(message.to_string()).await
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.socket.send(Message::text(text)).await?;
        Ok(())
    }

    /// Sends a raw frame of any kind.
    pub async fn send_message(&mut self, message: Message) -> Result<(), ClientError> {
        self.socket.send(message).await?;
        Ok(())
    }

    /// Sends a protocol message.
    pub async fn send_protocol_message(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        let text = serde_json::to_string(message).map_err(protocol)?;
        self.send_text(text).await
    }

    async fn send_operation(&mut self, outgoing: &Outgoing) -> Result<(), ClientError> {
        if self.offline {
            // Kept in the state machine: the reconnect re-sends or rebases it.
            return Ok(());
        }
        let revision = i64::try_from(outgoing.revision)
            .map_err(|_| ClientError::Protocol(format!("revision {} out of range", outgoing.revision)))?;
        let message = ClientMessage::Operation {
            revision,
            ops: WireComponent::from_operation(&outgoing.operation),
            op_id: Some(outgoing.op_id.clone()),
        };
        self.send_protocol_message(&message).await
    }

    /// Reads and applies the next server message.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let message = match self.socket.next().await {
                Some(message) => message?,
                None => return Err(ClientError::Closed { code: 1006, reason: "connection lost".into() }),
            };
            match message {
                Message::Text(text) => return self.apply(parse(&text)?, &text).await,
                Message::Close(frame) => return Err(closed(frame)),
                _ => {}
            }
        }
    }

    /// Like [`Client::next_event`], giving up after `limit`.
    pub async fn next_event_within(&mut self, limit: Duration) -> Result<Event, ClientError> {
        tokio::time::timeout(limit, self.next_event()).await.map_err(|_| ClientError::Timeout)?
    }

    async fn apply(&mut self, message: ServerMessage<'static>, text: &str) -> Result<Event, ClientError> {
        Ok(match message {
            ServerMessage::Ack { revision, op_id } => {
                let confirmed = self.doc.ack(revision, op_id.as_deref())?;
                self.confirmed(confirmed, revision, op_id.map(Cow::into_owned)).await?
            }
            ServerMessage::Operation { revision, ops, user_id, op_id } => {
                let operation = ops.into_operation();
                match self.doc.remote(revision, &operation, op_id.as_deref())? {
                    Received::Applied | Received::Held => Event::Remote { revision, user_id: user_id.into_owned() },
                    Received::Own(confirmed) => self.confirmed(confirmed, revision, op_id.map(Cow::into_owned)).await?,
                }
            }
            ServerMessage::UserJoined { user, .. } => {
                let user = User::from(user);
                self.users.push(user.clone());
                Event::Joined(user)
            }
            ServerMessage::UserLeft { user_id, .. } => {
                let user_id = user_id.into_owned();
                self.users.retain(|u| u.user_id != user_id);
                Event::Left { user_id }
            }
            ServerMessage::Cursor { user_id, revision, selection } => Event::Cursor {
                user_id: user_id.into_owned(),
                revision,
                anchor: selection.anchor,
                head: selection.head,
            },
            ServerMessage::Language { language, user_id } => {
                self.language = language.clone().into_owned();
                Event::Language { language: language.into_owned(), user_id: user_id.into_owned() }
            }
            ServerMessage::Error { code, message } => {
                Event::Error { code: code.into_owned(), message: message.into_owned() }
            }
            ServerMessage::Pong => Event::Pong,
            // Another `init` or `resume` on an open connection is not in the protocol.
            ServerMessage::Init { .. } | ServerMessage::Resume { .. } => {
                return Err(ClientError::Protocol(format!("unexpected welcome: {text}")));
            }
            // A newer server's message type: ignored (PROTOCOL.md: the server may add types).
            ServerMessage::Unknown => Event::Other(text.to_owned()),
        })
    }

    /// Sends what a confirmation released, and says what it was.
    async fn confirmed(
        &mut self,
        confirmed: Confirmed,
        revision: u64,
        op_id: Option<String>,
    ) -> Result<Event, ClientError> {
        Ok(match (confirmed, op_id) {
            (Confirmed::Counted { next }, op_id) => {
                if let Some(next) = next {
                    self.send_operation(&next).await?;
                }
                Event::Ack { revision, op_id }
            }
            (Confirmed::Duplicate, Some(op_id)) => Event::Duplicate { revision, op_id },
            (Confirmed::Duplicate | Confirmed::Foreign, op_id) => Event::Ack { revision, op_id },
        })
    }

    /// Processes messages until every local edit is acknowledged.
    pub async fn sync(&mut self, limit: Duration) -> Result<(), ClientError> {
        tokio::time::timeout(limit, async {
            while !self.doc.is_synchronized() {
                if let Event::Error { code, message } = self.next_event().await? {
                    return Err(ClientError::Refused { code, message });
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    /// Processes messages until none arrives for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Result<Vec<Event>, ClientError> {
        let mut events = Vec::new();
        loop {
            match tokio::time::timeout(quiet, self.next_event()).await {
                Ok(event) => events.push(event?),
                Err(_) => return Ok(events),
            }
        }
    }

    /// Like [`Client::reconnect`], to the same room on another server (`base` like
    /// `ws://127.0.0.1:8081`), as after the first one died.
    pub async fn reconnect_to(&mut self, base: &str) -> Result<Rejoined, ClientError> {
        if let Some(path) = self.url.find("/ws/").map(|at| self.url[at..].to_owned()) {
            self.url = format!("{}{path}", base.trim_end_matches('/'));
        }
        self.reconnect().await
    }

    /// Opens a new connection to the same room, asking to resume after the last revision this
    /// client has seen (`?since=R`, PROTOCOL.md 1.1). On `resume` the document is kept, the
    /// operation in flight is re-sent with its `opId` (the server applies it at most once) and the
    /// missed operations follow as live traffic ([`Client::next_event`]; ours among them counts as
    /// its ack). On a fresh `init` unacknowledged work is rebased onto the server's text by diff
    /// and sent as one operation. Either way, one reconnect is enough.
    pub async fn reconnect(&mut self) -> Result<Rejoined, ClientError> {
        let url = with_since(&self.url, self.doc.revision());
        let (socket, welcome) = open(&url).await?;
        self.socket = socket;
        self.offline = false;
        let (rejoined, resend) = match welcome {
            Welcome::Resume { revision, user_id, users, language, access } => {
                (self.user_id, self.users, self.language, self.access) = (user_id, users, language, access);
                (Rejoined::Resumed, self.doc.resumed(revision)?)
            }
            Welcome::Init(init) => {
                (self.user_id, self.users, self.language, self.access) =
                    (init.user_id, init.users, init.language, init.access);
                let rebased = self.doc.restart(&init.code, init.revision)?;
                (Rejoined::Restarted { rebased: rebased.is_some() }, rebased)
            }
        };
        if let Some(outgoing) = resend {
            self.send_operation(&outgoing).await?;
        }
        Ok(rejoined)
    }

    /// Closes the connection normally.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.socket.close(None).await?;
        while let Some(Ok(_)) = self.socket.next().await {}
        Ok(())
    }
}

struct Init {
    user_id: String,
    revision: u64,
    code: String,
    language: String,
    users: Vec<User>,
    access: Access,
}

/// The first message of a connection.
enum Welcome {
    /// `init`: the room as it is now.
    Init(Init),
    /// `resume`: the operations after `revision` follow.
    Resume { revision: u64, user_id: String, users: Vec<User>, language: String, access: Access },
}

/// `url` asking to resume after `revision`.
fn with_since(url: &str, revision: u64) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}since={revision}")
}

async fn open(url: &str) -> Result<(Socket, Welcome), ClientError> {
    // tungstenite zero-fills up to `read_buffer_size` before every socket read, twice per message
    // (the read that returns it and the one that finds nothing more): its 128 KiB default costs
    // more than parsing the few-hundred-byte frames a room sends. A 1 MB `init` takes 512 reads.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(2 * 1024);
    // Nagle's algorithm would hold small frames back waiting for the peer's delayed ACK (~40 ms).
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => match parse(&text)? {
                ServerMessage::Init { user_id, revision, code, language, users, access, view_id, .. } => {
                    let users = users.into_iter().map(User::from).collect();
                    let (user_id, code, language) = (user_id.into_owned(), code.into_owned(), language.into_owned());
                    let access = Access::from_welcome(access.as_deref(), view_id.map(Cow::into_owned));
                    return Ok((socket, Welcome::Init(Init { user_id, revision, code, language, users, access })));
                }
                ServerMessage::Resume { user_id, revision, language, users, access, view_id, .. } => {
                    let users = users.into_iter().map(User::from).collect();
                    let (user_id, language) = (user_id.into_owned(), language.into_owned());
                    let access = Access::from_welcome(access.as_deref(), view_id.map(Cow::into_owned));
                    return Ok((socket, Welcome::Resume { revision, user_id, users, language, access }));
                }
                ServerMessage::Error { code, message } => {
                    return Err(ClientError::Refused { code: code.into_owned(), message: message.into_owned() });
                }
                _ => return Err(ClientError::Protocol(format!("expected init or resume, got {text}"))),
            },
            Some(Ok(Message::Close(frame))) => return Err(closed(frame)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ClientError::Closed { code: 1006, reason: "connection lost".into() }),
        }
    }
}

fn closed(frame: Option<CloseFrame>) -> ClientError {
    match frame {
        Some(frame) => ClientError::Closed { code: u16::from(frame.code), reason: frame.reason.to_string() },
        None => ClientError::Closed { code: 1005, reason: String::new() },
    }
}

fn protocol(e: serde_json::Error) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// An `operation` message's fields (the `type` is ignored, like any field not named here).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationMessage {
    revision: u64,
    ops: Ops<'static>,
    user_id: String,
    #[serde(default)]
    op_id: Option<String>,
}

/// Parses a server message. A missing or ill-typed field is an error, never a default; a type
/// this client does not know parses as [`ServerMessage::Unknown`].
fn parse(text: &str) -> Result<ServerMessage<'static>, ClientError> {
    // Most of what a busy room sends is operations. serde reads an internally tagged enum by
    // buffering the whole message, then reading the buffer again; the server writes `type` first,
    // so an operation is read straight into its fields instead (a crowded room is hundreds of
    // thousands of them a second for the load generator). Anything else, or an operation this
    // cannot read, takes the general path, which also words the error.
    if text.starts_with(r#"{"type":"operation","#)
        && let Ok(OperationMessage { revision, ops, user_id, op_id }) = serde_json::from_str(text)
    {
        return Ok(ServerMessage::Operation {
            revision,
            ops,
            user_id: Cow::Owned(user_id),
            op_id: op_id.map(Cow::Owned),
        });
    }
    serde_json::from_str(text).map_err(|e| {
        let start: String = text.chars().take(200).collect();
        ClientError::Protocol(format!("malformed server message ({e}): {start}"))
    })
}

fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A random number for client ids, without a dependency: the standard library's hasher is
/// randomly seeded per process.
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_server_messages_are_errors_not_defaults() {
        for text in [
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","revision":"2"}"#,
            r#"{"type":"operation","revision":2,"ops":[0],"userId":"u"}"#,
            r#"{"type":"cursor","userId":"u","revision":1}"#,
            r#"{"type":"error","message":"no code"}"#,
            "not json",
        ] {
            assert!(matches!(parse(text), Err(ClientError::Protocol(_))), "{text}");
        }
    }

    #[test]
    fn operations_read_the_same_on_the_fast_path_and_the_general_one() {
        let general = |text: &str| serde_json::from_str::<ServerMessage<'static>>(text).unwrap();
        for text in [
            r#"{"type":"operation","revision":4,"ops":[2,"🦀\n",-1],"userId":"u"}"#,
            r#"{"type":"operation","revision":4,"ops":["a"],"userId":"u","opId":"o-1","later":[1]}"#,
            // Not `type` first: the general path.
            r#"{"revision":4,"type":"operation","ops":[1,"b"],"userId":"u"}"#,
        ] {
            assert_eq!(parse(text).unwrap(), general(text), "{text}");
        }
    }

    #[test]
    fn a_reconnect_asks_to_resume_after_a_revision() {
        assert_eq!(with_since("ws://h/ws/r", 7), "ws://h/ws/r?since=7");
        assert_eq!(with_since("ws://h/ws/r?name=A%20B", 0), "ws://h/ws/r?name=A%20B&since=0");
    }

    #[test]
    fn unknown_types_are_ignorable() {
        assert!(matches!(parse(r#"{"type":"snapshot_ready","revision":3}"#), Ok(ServerMessage::Unknown)));
        assert!(matches!(
            parse(r#"{"type":"ack","revision":3,"extra":1}"#),
            Ok(ServerMessage::Ack { revision: 3, .. })
        ));
    }
}
