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
use serde::Deserialize;
use serde_json::{Value, json};
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
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub user_id: String,
    pub name: String,
    pub color: String,
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
    /// A message this client does not know; the server may add types.
    Other(Value),
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

    async fn send_operation(&mut self, outgoing: &Outgoing) -> Result<(), ClientError> {
        let message = json!({
            "type": "operation",
            "revision": outgoing.revision,
            "ops": ops_json(&outgoing.operation),
            "opId": outgoing.op_id,
        });
        self.send_json(&message).await
    }

    /// Reads and applies the next server message.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let message = match self.socket.next().await {
                Some(message) => message?,
                None => return Err(ClientError::Closed { code: 1006, reason: "connection lost".into() }),
            };
            match message {
                Message::Text(text) => return self.apply(serde_json::from_str(&text).map_err(protocol)?).await,
                Message::Close(frame) => return Err(closed(frame)),
                _ => {}
            }
        }
    }

    /// Like [`Client::next_event`], giving up after `limit`.
    pub async fn next_event_within(&mut self, limit: Duration) -> Result<Event, ClientError> {
        tokio::time::timeout(limit, self.next_event()).await.map_err(|_| ClientError::Timeout)?
    }

    async fn apply(&mut self, message: Value) -> Result<Event, ClientError> {
        let field = |name: &str| message.get(name).cloned().unwrap_or(Value::Null);
        let text = |name: &str| field(name).as_str().unwrap_or_default().to_owned();
        let number = |name: &str| field(name).as_u64().unwrap_or_default();
        Ok(match message.get("type").and_then(Value::as_str).unwrap_or_default() {
            "ack" => {
                let revision = number("revision");
                if let Some(next) = self.doc.ack(revision) {
                    self.send_operation(&next).await?;
                }
                Event::Ack { revision, op_id: field("opId").as_str().map(str::to_owned) }
            }
            "operation" => {
                let revision = number("revision");
                let operation = parse_ops(&field("ops"))?;
                if revision != self.doc.revision() + 1 {
                    let seen = self.doc.revision();
                    return Err(ClientError::Protocol(format!("got revision {revision} after {seen}")));
                }
                self.doc.remote(revision, &operation)?;
                Event::Remote { revision, user_id: text("userId") }
            }
            "user_joined" => {
                let user: User = serde_json::from_value(field("user")).map_err(protocol)?;
                self.users.push(user.clone());
                Event::Joined(user)
            }
            "user_left" => {
                let user_id = text("userId");
                self.users.retain(|u| u.user_id != user_id);
                Event::Left { user_id }
            }
            "cursor" => {
                let selection = field("selection");
                Event::Cursor {
                    user_id: text("userId"),
                    revision: number("revision"),
                    anchor: selection["anchor"].as_u64().unwrap_or_default(),
                    head: selection["head"].as_u64().unwrap_or_default(),
                }
            }
            "language" => {
                self.language = text("language");
                Event::Language { language: text("language"), user_id: text("userId") }
            }
            "error" => Event::Error { code: text("code"), message: text("message") },
            "pong" => Event::Pong,
            _ => Event::Other(message),
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
                let message = self.next_message().await?;
                match message.get("type").and_then(Value::as_str) {
                    Some("ack") => break message["revision"].as_u64().unwrap_or_default(),
                    Some("operation") => held.push(message),
                    Some("error") => {
                        let code = message["code"].as_str().unwrap_or_default().to_owned();
                        let message = message["message"].as_str().unwrap_or_default().to_owned();
                        return Err(ClientError::Refused { code, message });
                    }
                    _ => {}
                }
            };
            if acked <= init.revision {
                // It was committed before the connection dropped: `init` already contains it.
                self.adopt(&init.code, init.revision).await?;
                for message in held {
                    self.apply(message).await?;
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

    async fn next_message(&mut self) -> Result<Value, ClientError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).map_err(protocol),
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
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
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).map_err(protocol)?;
                match value.get("type").and_then(Value::as_str) {
                    Some("init") => return Ok((socket, serde_json::from_value(value).map_err(protocol)?)),
                    Some("error") => {
                        return Err(ClientError::Refused {
                            code: value["code"].as_str().unwrap_or_default().to_owned(),
                            message: value["message"].as_str().unwrap_or_default().to_owned(),
                        });
                    }
                    _ => return Err(ClientError::Protocol(format!("expected init, got {text}"))),
                }
            }
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

const _: () = assert!(TextOperation::MAX_LEN as u128 <= i64::MAX as u128);

/// An operation as its ot.js JSON array.
pub fn ops_json(operation: &TextOperation) -> Value {
    Value::Array(
        operation
            .components()
            .iter()
            .map(|c| match c {
                Component::Retain(n) => json!(n),
                Component::Insert(s) => json!(s),
                // Exact: a run is at most `TextOperation::MAX_LEN` <= `i64::MAX` characters.
                Component::Delete(n) => json!(-(*n as i64)),
            })
            .collect(),
    )
}

/// Parses an ot.js JSON array.
pub fn parse_ops(value: &Value) -> Result<TextOperation, ClientError> {
    let items = value.as_array().ok_or_else(|| ClientError::Protocol("ops is not an array".into()))?;
    let mut components = Vec::with_capacity(items.len());
    for item in items {
        components.push(match item {
            Value::String(s) => Component::Insert(s.clone()),
            Value::Number(number) => {
                let bad = || ClientError::Protocol(format!("bad component {number}"));
                let n = number.as_i64().filter(|&n| n != 0).ok_or_else(bad)?;
                let count = usize::try_from(n.unsigned_abs()).map_err(|_| bad())?;
                if n < 0 { Component::Delete(count) } else { Component::Retain(count) }
            }
            other => return Err(ClientError::Protocol(format!("bad component {other}"))),
        });
    }
    Ok(TextOperation::from_components(components)?)
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
