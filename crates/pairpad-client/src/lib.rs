//! A Rust client for Pairpad's WebSocket protocol (PROTOCOL.md): connect to a room, edit with the
//! ot.js client state machine, reconnect and re-send unacknowledged work with its `opId`s.
//! The integration tests and the load generator use it; so can other Rust services.
//!
//! Layout:
//! - [`state`]: [`ClientDoc`], the pure client-side OT state machine.
//! - this file: [`Client`], a connection driving a [`ClientDoc`].

pub mod state;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pairpad_domain::{Component, TextOperation};
use pairpad_protocol::{ClientMessage, ServerMessage, WireComponent, WireUser};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use state::{ClientDoc, Outgoing, Resync};

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
    /// Our operation is durable as `revision`.
    Ack {
        revision: u64,
        op_id: Option<String>,
    },
    /// Another participant's operation was applied.
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

/// A connection to one room.
pub struct Client {
    url: String,
    socket: Socket,
    doc: ClientDoc,
    user_id: String,
    users: Vec<User>,
    language: String,
}

impl Client {
    /// Connects to `{base}/ws/{room}` (`base` like `ws://127.0.0.1:8080`) and waits for `init`.
    pub async fn connect(base: &str, room: &str, name: Option<&str>) -> Result<Self, ClientError> {
        let mut url = format!("{}/ws/{room}", base.trim_end_matches('/'));
        if let Some(name) = name {
            url.push_str("?name=");
            url.push_str(&encode_query(name));
        }
        let (socket, init) = open(&url).await?;
        let client_id = format!("{}-{:08x}", init.user_id, rand_u32());
        Ok(Self {
            doc: ClientDoc::new(&init.code, init.revision, client_id),
            url,
            socket,
            user_id: init.user_id,
            users: init.users,
            language: init.language,
        })
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

    /// Applies a local edit and sends it when nothing is in flight.
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
                if let Some(next) = self.doc.ack(revision) {
                    self.send_operation(&next).await?;
                }
                Event::Ack { revision, op_id: op_id.map(|id| id.into_owned()) }
            }
            ServerMessage::Operation { revision, ops, user_id, .. } => {
                let operation = ops.into_operation();
                if revision != self.doc.revision() + 1 {
                    let seen = self.doc.revision();
                    return Err(ClientError::Protocol(format!("got revision {revision} after {seen}")));
                }
                self.doc.remote(revision, &operation)?;
                Event::Remote { revision, user_id: user_id.into_owned() }
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
    pub async fn reconnect_to(&mut self, base: &str) -> Result<(), ClientError> {
        if let Some(path) = self.url.find("/ws/").map(|at| self.url[at..].to_owned()) {
            self.url = format!("{}{path}", base.trim_end_matches('/'));
        }
        self.reconnect().await
    }

    /// Opens a new connection to the same room and resynchronises: an operation that was in flight
    /// is re-sent with its `opId` (the server acknowledges it once, whether or not it had already
    /// committed it), then the server's text is adopted and buffered edits are rebased onto it.
    pub async fn reconnect(&mut self) -> Result<(), ClientError> {
        for _attempt in 0..3 {
            let (socket, init) = open(&self.url).await?;
            self.socket = socket;
            self.user_id = init.user_id.clone();
            self.users = init.users.clone();
            self.language = init.language.clone();
            let Resync::Resend(outgoing) = self.doc.reconnected() else {
                return self.adopt(&init.code, init.revision).await;
            };
            self.send_operation(&outgoing).await?;
            // Others' operations after `init` are held until the text they apply to is known.
            let mut held = Vec::new();
            let acked = loop {
                let (message, text) = self.next_message().await?;
                match message {
                    ServerMessage::Ack { revision, .. } => break revision,
                    ServerMessage::Operation { .. } => held.push((message, text)),
                    ServerMessage::Error { code, message } => {
                        return Err(ClientError::Refused { code: code.into_owned(), message: message.into_owned() });
                    }
                    _ => {}
                }
            };
            if acked <= init.revision {
                // It was committed before the connection dropped: `init` already contains it.
                self.adopt(&init.code, init.revision).await?;
                for (message, text) in held {
                    self.apply(message, &text).await?;
                }
                return Ok(());
            }
            // It was committed just now, transformed over operations this client never saw: the
            // only faithful view of the result is a fresh `init`. Reconnecting re-sends it once
            // more, which the server now recognises by its `opId` as already in that `init`.
            let _ = self.socket.close(None).await;
        }
        Err(ClientError::Protocol("could not resynchronise after three reconnects".into()))
    }

    async fn adopt(&mut self, code: &str, revision: u64) -> Result<(), ClientError> {
        if let Some(outgoing) = self.doc.adopt(code, revision)? {
            self.send_operation(&outgoing).await?;
        }
        Ok(())
    }

    async fn next_message(&mut self) -> Result<(ServerMessage<'static>, String), ClientError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok((parse(&text)?, text.to_string())),
                Some(Ok(Message::Close(frame))) => return Err(closed(frame)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(ClientError::Closed { code: 1006, reason: "connection lost".into() }),
            }
        }
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
}

async fn open(url: &str) -> Result<(Socket, Init), ClientError> {
    // tungstenite zero-fills up to `read_buffer_size` before every socket read, twice per message
    // (the read that returns it and the one that finds nothing more): its 128 KiB default costs
    // more than parsing the few-hundred-byte frames a room sends. A 1 MB `init` takes 512 reads.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(2 * 1024);
    // Nagle's algorithm would hold small frames back waiting for the peer's delayed ACK (~40 ms).
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => match parse(&text)? {
                ServerMessage::Init { user_id, revision, code, language, users, .. } => {
                    let users = users.into_iter().map(User::from).collect();
                    let (user_id, code, language) = (user_id.into_owned(), code.into_owned(), language.into_owned());
                    return Ok((socket, Init { user_id, revision, code, language, users }));
                }
                ServerMessage::Error { code, message } => {
                    return Err(ClientError::Refused { code: code.into_owned(), message: message.into_owned() });
                }
                _ => return Err(ClientError::Protocol(format!("expected init, got {text}"))),
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

/// Parses a server message. A missing or ill-typed field is an error, never a default; a type
/// this client does not know parses as [`ServerMessage::Unknown`].
fn parse(text: &str) -> Result<ServerMessage<'static>, ClientError> {
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
    fn unknown_types_are_ignorable() {
        assert!(matches!(parse(r#"{"type":"resume","revision":3}"#), Ok(ServerMessage::Unknown)));
        assert!(matches!(
            parse(r#"{"type":"ack","revision":3,"extra":1}"#),
            Ok(ServerMessage::Ack { revision: 3, .. })
        ));
    }
}
