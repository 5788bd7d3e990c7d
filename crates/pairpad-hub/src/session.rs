//! One WebSocket connection (`GET /ws/{roomId}`). A session task reads the socket, answers the
//! client and sends heartbeats; the room's frames (acks, operations, presence) do not pass
//! through it: actix-http writes them straight from the room's queue ([`OutboundBody`]).
//!
//! Close codes: 4404 unknown or invalid room; 4401/4403 a token refused (whoever serves the route
//! decides, see [`JoinRefusal`]); 4410 the room was deleted; 1009 frame too large; 4008 too slow
//! (the outbound queue filled up; reconnect to resync); 4029 rate limit abused; 4503 room full or
//! too many connections; 1001 server shutting down or client silent too long; 1011 the room
//! stopped (reconnect and re-send unacknowledged operations).

use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_http::error::PayloadError;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage as Message, CloseReason, ProtocolError};
use futures_util::stream::Peekable;
use futures_util::{FutureExt, StreamExt};
use pairpad_domain::{
    Access, CodeUpdate, HistoryError, Language, Participant, RoomEvent, RoomId, Selection, TextOperation, UserId,
};
use pairpad_protocol::{ClientMessage, CloseCode, ErrorCode};
use pairpad_room::room::{Command, Resumption};
use tracing::Instrument;

use crate::fanout::{Left, OutboundBody, OutboundReceiver, OutboundSender, outbound_queue};
use crate::frame_limit::FrameLimit;
use crate::wire;
use crate::{Handle, Hub, HubError};

/// A WebSocket connection's limits and timings.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    /// Frames queued per connection before the connection counts as too slow and is dropped.
    pub outbound_queue: usize,
    /// How often the server pings each connection.
    pub heartbeat_interval: Duration,
    /// A connection silent for this long is dropped.
    pub client_timeout: Duration,
    /// The largest WebSocket message accepted; larger ones close the connection with 1009.
    pub max_frame_bytes: usize,
    /// The most components in one operation; more get `invalid_operation`.
    pub max_operation_components: usize,
    /// The most WebSocket connections in all.
    pub max_connections: usize,
    /// Operations (and code updates) per second per connection, sustained.
    pub ops_per_second: u32,
    /// Cursor messages per second per connection, sustained.
    pub cursors_per_second: u32,
    /// Throttled messages in a row, each with the client's next message already queued, after
    /// which the connection is closed (4029).
    pub max_rate_violations: u32,
}

/// A client's admitted request to join a room (`GET /ws/{roomId}?name=..&since=..`): whoever
/// serves the route has found the room and decided what the connection may do.
pub struct JoinRequest {
    /// The room (its id, even when the client named it by its view id).
    pub room: RoomId,
    /// What the connection may do.
    pub access: Access,
    /// The display name asked for.
    pub name: Option<String>,
    /// The revision to resume from (PROTOCOL.md 1.1, "Resuming").
    pub since: Option<u64>,
}

/// Why a connection may not join its room: the `error` it gets after the upgrade, then the close
/// (PROTOCOL.md: a WebSocket is refused on the socket, not with an HTTP status).
pub struct JoinRefusal {
    error: ErrorCode,
    message: String,
    close: CloseCode,
}

impl JoinRefusal {
    /// A refusal with this error, message and close code.
    pub fn new(error: ErrorCode, message: impl ToString, close: CloseCode) -> Self {
        Self { error, message: message.to_string(), close }
    }
}

/// Upgrades the request to a WebSocket and serves it in a task of its own: joins the room, or
/// says why not and closes.
pub fn serve(
    hub: Hub,
    req: &HttpRequest,
    body: web::Payload,
    request: Result<JoinRequest, JoinRefusal>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, stream) =
        actix_ws::handle(req, limit_frames(req, body, hub.settings().session.max_frame_bytes)?)?;
    // A resuming connection's session writes what it missed before the room's frames.
    let resuming = request.as_ref().is_ok_and(|request| request.since.is_some());
    let (outbox, inbox) = outbound_queue(hub.settings().session.outbound_queue, resuming);
    let body_inbox = inbox.clone();
    let response =
        response.map_body(|_, session_frames| OutboundBody::new(session_frames, body_inbox)).map_into_boxed_body();
    let stream = stream
        .max_frame_size(hub.settings().session.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(hub.settings().session.max_frame_bytes)
        .peekable();
    // One span per session, with the room and (once joined) the user: every log line of the
    // connection carries them.
    let room = request.as_ref().map(|request| request.room.to_string()).unwrap_or_default();
    let span = tracing::info_span!("ws_session", room, user = tracing::field::Empty);
    actix_web::rt::spawn(run(hub, session, stream, request, outbox, inbox).instrument(span));
    Ok(response)
}

/// The client's bytes, failing with `PayloadError::Overflow` as soon as a frame header or the
/// fragments of a message announce more than `max_message_bytes` (see [`FrameLimit`]).
fn limit_frames(
    req: &HttpRequest,
    body: web::Payload,
    max_message_bytes: usize,
) -> Result<web::Payload, actix_web::Error> {
    let limited = FrameLimit::new(body.into_inner(), max_message_bytes);
    let mut payload = actix_web::dev::Payload::from(Box::pin(limited) as actix_http::BoxedPayloadStream);
    // `web::Payload` can only be made by extracting it; for a payload that extraction is ready
    // at once (and cannot fail).
    web::Payload::from_request(req, &mut payload)
        .now_or_never()
        .unwrap_or_else(|| Err(actix_web::error::ErrorInternalServerError("the request body is not ready")))
}

/// The close code, error code and message for a frame the client should not have sent
/// (RFC 6455 §7.4.1).
fn protocol_violation(error: &ProtocolError) -> (CloseCode, ErrorCode, String) {
    let too_large =
        (CloseCode::MessageTooBig, ErrorCode::MessageTooLarge, "the message is over the size limit".to_owned());
    let io_error = match error {
        ProtocolError::Overflow => return too_large,
        ProtocolError::Io(io_error) => io_error,
        other => return (CloseCode::ProtocolError, ErrorCode::ProtocolError, other.to_string()),
    };
    let overflowed = io_error.get_ref().and_then(|e| e.downcast_ref::<PayloadError>()).is_some_and(|e| matches!(e, PayloadError::Overflow))
        // actix-ws's own limit on aggregated fragments, kept as a second line.
        || io_error.to_string().contains("maximum continuation size");
    if overflowed {
        too_large
    } else if io_error.kind() == std::io::ErrorKind::InvalidData {
        (CloseCode::InvalidPayload, ErrorCode::InvalidUtf8, "text frames must be valid UTF-8".to_owned())
    } else {
        (CloseCode::ProtocolError, ErrorCode::ProtocolError, io_error.to_string())
    }
}

fn close(code: CloseCode, description: &str) -> Option<CloseReason> {
    Some(CloseReason { code: actix_ws::CloseCode::from(code.as_u16()), description: Some(description.to_owned()) })
}

async fn run(
    hub: Hub,
    mut session: actix_ws::Session,
    mut stream: Peekable<actix_ws::AggregatedMessageStream>,
    request: Result<JoinRequest, JoinRefusal>,
    outbox: OutboundSender,
    inbox: OutboundReceiver,
) {
    let joined = match request {
        Ok(request) => join(&hub, request, outbox).await,
        Err(refusal) => Err(refusal),
    };
    let reason = match joined {
        Ok(Joined { user, room, access, handle, resumption, _guard }) => {
            tracing::Span::current().record("user", tracing::field::display(user));
            tracing::debug!(resumed = resumption.is_some(), "joined");
            let caught_up = match resumption {
                Some(resumption) => resume(&hub, &mut session, resumption).await,
                None => Ok(()),
            };
            inbox.release();
            let reason = match caught_up {
                Ok(()) => {
                    Connection::new(&hub, user, room, access, &handle, &mut session).serve(&mut stream, &inbox).await
                }
                Err(reason) => reason,
            };
            let _ = handle.send(Command::Leave { user }).await;
            reason
        }
        Err(refusal) => {
            let error = wire::error(refusal.error, &refusal.message);
            let _ = tokio::time::timeout(hub.settings().session.client_timeout, session.text(error)).await;
            close(refusal.close, &refusal.message)
        }
    };
    tracing::debug!(close = ?reason.as_ref().map(|r| u16::from(r.code)), "session ended");
    inbox.discard();
    let _ = tokio::time::timeout(hub.settings().session.client_timeout, session.close(reason)).await;
}

/// A connection that joined its room.
struct Joined {
    user: UserId,
    room: RoomId,
    access: Access,
    handle: Handle,
    /// What it missed, when it resumes.
    resumption: Option<Resumption>,
    /// Counts the connection until dropped.
    _guard: crate::ConnectionGuard,
}

async fn join(hub: &Hub, request: JoinRequest, outbox: OutboundSender) -> Result<Joined, JoinRefusal> {
    let JoinRequest { room: id, access, name, since } = request;
    let guard =
        hub.admit_connection().map_err(|e| JoinRefusal::new(ErrorCode::TooManyConnections, e, CloseCode::Full))?;
    let user = UserId::random();
    let participant = Participant::new(user, display_name(name, user));
    // The messages name no room: a reader must never be shown the edit id.
    let (handle, resumption) = hub.join(id, participant, access, since, outbox).await.map_err(|e| match e {
        HubError::NotFound(_) => {
            JoinRefusal::new(ErrorCode::RoomNotFound, "the room does not exist", CloseCode::RoomNotFound)
        }
        HubError::RoomFull(_) => JoinRefusal::new(ErrorCode::RoomFull, "the room is full", CloseCode::Full),
        HubError::TooManyConnections => JoinRefusal::new(ErrorCode::RoomFull, e, CloseCode::Full),
        HubError::ShuttingDown => JoinRefusal::new(ErrorCode::ShuttingDown, e, CloseCode::GoingAway),
        HubError::Store(error) => {
            tracing::warn!(room = %id, %error, "a join failed: the store");
            JoinRefusal::new(
                ErrorCode::StoreUnavailable,
                "the store is unavailable; try again",
                CloseCode::InternalError,
            )
        }
        HubError::RoomStopping(_) => {
            JoinRefusal::new(ErrorCode::RoomStopped, "the room stopped; try again", CloseCode::InternalError)
        }
    })?;
    Ok(Joined { user, room: id, access, handle, resumption, _guard: guard })
}

/// Sends a resuming client `resume` and every stored operation it missed, each with its `opId`
/// (from the room's memory, or read here from the store, off the room's task). When the store
/// no longer has them all (history retention), the client gets the `init` it would have got
/// without `since`, with `resumed: false`. `Err`: how to close the connection.
async fn resume(hub: &Hub, session: &mut actix_ws::Session, resumption: Resumption) -> Result<(), Option<CloseReason>> {
    let Resumption { room, since, through, .. } = resumption;
    let missed = match resumption.missed.clone() {
        Some(missed) => Some(missed),
        None => {
            let count = usize::try_from(through - since).unwrap_or(usize::MAX);
            let read = hub.repo().ops_since(room, since, count).await.map_err(|e| store_failed(&e))?;
            let whole = read.len() == count && read.first().is_none_or(|op| op.revision == since + 1);
            whole.then_some(read)
        }
    };
    let gone = |_| None::<CloseReason>;
    match missed {
        Some(missed) => {
            session.text(wire::resume(&resumption)).await.map_err(gone)?;
            for op in &missed {
                session.text(wire::encode(&RoomEvent::Operation { op, show_op_id: true })).await.map_err(gone)?;
            }
        }
        None => {
            let text = pairpad_domain::text_at(&**hub.repo(), room, through).await.map_err(|e| store_failed(&e))?;
            let init = RoomEvent::Init {
                room,
                user_id: resumption.user,
                revision: through,
                code: &text.code,
                language: &resumption.language,
                users: &resumption.users,
                resumed: Some(false),
                access: resumption.access,
            };
            session.text(wire::encode(&init)).await.map_err(gone)?;
        }
    }
    Ok(())
}

/// The store failed while a client resumed: it reconnects later.
fn store_failed(error: &dyn std::fmt::Display) -> Option<CloseReason> {
    tracing::warn!(%error, "cannot read what a resuming client missed");
    close(CloseCode::InternalError, "the store failed: reconnect with since")
}

/// A display name: the one asked for, cleaned up, or a generated one.
fn display_name(asked: Option<String>, user: UserId) -> String {
    let cleaned: String = asked.unwrap_or_default().chars().filter(|c| !c.is_control()).take(40).collect();
    let cleaned = cleaned.trim();
    if !cleaned.is_empty() {
        return cleaned.to_owned();
    }
    const ADJECTIVES: [&str; 16] = [
        "Swift", "Quiet", "Bright", "Clever", "Brave", "Calm", "Eager", "Gentle", "Happy", "Jolly", "Kind", "Lively",
        "Merry", "Nimble", "Proud", "Witty",
    ];
    const ANIMALS: [&str; 16] = [
        "Otter", "Falcon", "Badger", "Heron", "Lynx", "Panda", "Koala", "Fox", "Owl", "Seal", "Tiger", "Whale", "Yak",
        "Zebra", "Crane", "Moose",
    ];
    let bits = user.as_uuid().as_u128();
    format!("{} {}", ADJECTIVES[(bits % 16) as usize], ANIMALS[((bits >> 8) % 16) as usize])
}

/// A token bucket: `rate` messages a second sustained, bursts of twice that.
struct RateLimit {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl RateLimit {
    fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        Self { tokens: rate * 2.0, rate, last: Instant::now() }
    }

    /// Takes a token for one message and says how long to wait before serving it: zero within
    /// the rate. The session waits before reading on, so the debt is never more than one token.
    fn reserve(&mut self) -> Duration {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.rate * 2.0);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.rate) }
    }
}

struct Connection<'a> {
    hub: &'a Hub,
    user: UserId,
    room_id: RoomId,
    access: Access,
    room: &'a Handle,
    session: &'a mut actix_ws::Session,
    ops: RateLimit,
    cursors: RateLimit,
    /// Whether the last message had to wait for the rate limit.
    throttled: bool,
    /// Messages in a row that had to wait and found the client's next message already queued.
    violations: u32,
}

/// What to do after a client message.
enum Next {
    Continue,
    Close(Option<CloseReason>),
}

impl<'a> Connection<'a> {
    fn new(
        hub: &'a Hub,
        user: UserId,
        room_id: RoomId,
        access: Access,
        room: &'a Handle,
        session: &'a mut actix_ws::Session,
    ) -> Self {
        let settings = hub.settings();
        Self {
            hub,
            user,
            room_id,
            access,
            room,
            session,
            ops: RateLimit::new(settings.session.ops_per_second),
            cursors: RateLimit::new(settings.session.cursors_per_second),
            throttled: false,
            violations: 0,
        }
    }

    /// Serves the connection until either side ends it; returns how to close it.
    async fn serve(
        mut self,
        stream: &mut Peekable<actix_ws::AggregatedMessageStream>,
        inbox: &OutboundReceiver,
    ) -> Option<CloseReason> {
        let settings = self.hub.settings();
        let mut heartbeat = tokio::time::interval(settings.session.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                left = inbox.departure() => match left {
                    Left::TooSlow => {
                        metrics::counter!("pairpad_slow_client_disconnects_total").increment(1);
                        return self.close_with_error(CloseCode::TooSlow, ErrorCode::TooSlow, "too slow: reconnect to resync").await;
                    }
                    Left::Released if self.hub.is_shutting_down() => {
                        return self.close_with_error(CloseCode::GoingAway, ErrorCode::ShuttingDown, "server shutting down").await;
                    }
                    Left::RoomDeleted => {
                        return self.close_with_error(CloseCode::RoomDeleted, ErrorCode::RoomDeleted, "the room was deleted").await;
                    }
                    // The room said why (`store_unavailable`) before it let go.
                    Left::Released => return close(CloseCode::InternalError, "the room stopped: reconnect and re-send"),
                },
                message = stream.next() => {
                    last_heard = Instant::now();
                    match message {
                        None | Some(Ok(Message::Close(_))) => return None,
                        Some(Ok(Message::Text(text))) => {
                            // Boxed: the connection's task is sized for its largest state, and
                            // handling a message (1 KiB) is no idle connection's.
                            if let Next::Close(reason) = Box::pin(self.on_text(&text)).await {
                                return reason;
                            }
                            if let Next::Close(reason) = self.check_flooding(stream).await {
                                return reason;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            self.reply_error(ErrorCode::UnsupportedMessage, "binary frames are not supported; send JSON text").await;
                        }
                        Some(Ok(Message::Ping(bytes))) => {
                            let _ = self.session.pong(&bytes).await;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            let (code, error, message) = protocol_violation(&e);
                            return self.close_with_error(code, error, &message).await;
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > settings.session.client_timeout {
                        return self.close_with_error(CloseCode::GoingAway, ErrorCode::Timeout, "no answer to pings").await;
                    }
                    if self.session.ping(b"").await.is_err() {
                        return None;
                    }
                }
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Next {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(error) => {
                let (code, message) = describe_parse_error(&error);
                self.reply_error(code, &message).await;
                return Next::Continue;
            }
        };
        let user = self.user;
        let edits = matches!(
            message,
            ClientMessage::Operation { .. } | ClientMessage::CodeUpdate { .. } | ClientMessage::Language { .. }
        );
        if edits && !self.access.may_edit() {
            return self
                .invalid(ErrorCode::ReadOnly, "this connection is read-only (a view link): it cannot edit")
                .await;
        }
        self.throttle(&message).await;
        let command = match message {
            ClientMessage::Ping => {
                self.reply(wire::pong()).await;
                return Next::Continue;
            }
            ClientMessage::Operation { revision, ops, op_id } => {
                let Ok(base_revision) = u64::try_from(revision) else {
                    return self.invalid(ErrorCode::InvalidRevision, "a revision is a non-negative integer").await;
                };
                let operation = match pairpad_protocol::to_operation(ops, self.hub.settings().operation_limits()) {
                    Ok(operation) => operation,
                    Err(e) => return self.invalid(ErrorCode::InvalidOperation, &e.to_string()).await,
                };
                if let Some(Err(message)) = op_id.as_deref().map(crate::edge::check_op_id) {
                    return self.invalid(ErrorCode::InvalidField, message).await;
                }
                Command::Operation { user, base_revision, operation, op_id, received: Instant::now() }
            }
            ClientMessage::CodeUpdate { code, revision: None } => {
                Command::CodeUpdate { user, update: CodeUpdate { code }, received: Instant::now() }
            }
            ClientMessage::CodeUpdate { code, revision: Some(revision) } => {
                let Ok(base_revision) = u64::try_from(revision) else {
                    return self.invalid(ErrorCode::InvalidRevision, "a revision is a non-negative integer").await;
                };
                // The text the client edited, read from the store here rather than on the room's
                // task; the difference is then an ordinary operation on that revision.
                let base = match pairpad_domain::text_at(&**self.hub.repo(), self.room_id, base_revision).await {
                    Ok(base) => base,
                    Err(HistoryError::NotKept(_)) => {
                        let message = format!("revision {base_revision} is not in the room's stored history");
                        return self.invalid(ErrorCode::InvalidRevision, &message).await;
                    }
                    Err(HistoryError::Store(error)) => {
                        let message = format!("the store cannot be read: {error}");
                        return self.invalid(ErrorCode::StoreUnavailable, &message).await;
                    }
                };
                let operation = TextOperation::diff(&base.code, &code);
                Command::Operation { user, base_revision, operation, op_id: None, received: Instant::now() }
            }
            ClientMessage::Cursor { revision, selection } => {
                let Ok(revision) = u64::try_from(revision) else {
                    return self.invalid(ErrorCode::InvalidRevision, "a revision is a non-negative integer").await;
                };
                let selection = Selection { anchor: selection.anchor as usize, head: selection.head as usize };
                Command::Cursor { user, revision, selection }
            }
            ClientMessage::Language { language } => match Language::new(&language) {
                Ok(language) => Command::Language { user, language },
                Err(e) => return self.invalid(ErrorCode::InvalidLanguage, &e.to_string()).await,
            },
        };
        match self.room.send(command).await {
            Ok(()) => Next::Continue,
            Err(_) => Next::Close(
                self.close_with_error(
                    CloseCode::InternalError,
                    ErrorCode::RoomStopped,
                    "the room stopped: reconnect and re-send",
                )
                .await,
            ),
        }
    }

    async fn invalid(&mut self, code: ErrorCode, message: &str) -> Next {
        self.reply_error(code, message).await;
        Next::Continue
    }

    /// Over its rate, a connection is served more slowly: the session waits before handling the
    /// message (and so before reading the socket on), which pushes back on the client through
    /// TCP. Nothing valid is dropped (PROTOCOL.md, "Ordering").
    async fn throttle(&mut self, message: &ClientMessage) {
        let wait = match message {
            ClientMessage::Operation { .. } | ClientMessage::CodeUpdate { .. } => self.ops.reserve(),
            ClientMessage::Cursor { .. } => self.cursors.reserve(),
            ClientMessage::Language { .. } | ClientMessage::Ping => return,
        };
        self.throttled = !wait.is_zero();
        if self.throttled {
            metrics::counter!("pairpad_throttled_messages_total").increment(1);
            tokio::time::sleep(wait).await;
        } else {
            self.violations = 0;
        }
    }

    /// After a message that had to wait: a client that waits for its acks has nothing more queued
    /// yet, one that keeps flooding has. `max_rate_violations` such messages in a row close the
    /// connection with 4029.
    async fn check_flooding(&mut self, stream: &mut Peekable<actix_ws::AggregatedMessageStream>) -> Next {
        if !std::mem::take(&mut self.throttled) {
            return Next::Continue;
        }
        let next_is_queued = Pin::new(stream).peek().now_or_never().is_some_and(|next| next.is_some());
        if !next_is_queued {
            self.violations = 0;
            return Next::Continue;
        }
        self.violations += 1;
        if self.violations <= self.hub.settings().session.max_rate_violations {
            return Next::Continue;
        }
        metrics::counter!("pairpad_flooding_disconnects_total").increment(1);
        let message = "too many messages over the rate limit, for too long; slow down";
        Next::Close(self.close_with_error(CloseCode::RateLimited, ErrorCode::RateLimited, message).await)
    }

    /// Every close the server starts says why first (PROTOCOL.md, "Close codes"). The client may
    /// have stopped reading, so the error waits at most a second for room in the queue.
    async fn close_with_error(&mut self, code: CloseCode, error: ErrorCode, message: &str) -> Option<CloseReason> {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.session.text(wire::error(error, message))).await;
        close(code, message)
    }

    async fn reply_error(&mut self, code: ErrorCode, message: &str) {
        self.reply(wire::error(code, message)).await;
    }

    /// Answers the client itself, through actix-ws's queue rather than the room's. Waits at most
    /// the client timeout for room in that queue: a client that stopped reading is then dropped by
    /// its room (4008) or the heartbeat.
    async fn reply(&mut self, text: String) {
        let limit = self.hub.settings().session.client_timeout;
        let _ = tokio::time::timeout(limit, self.session.text(text)).await;
    }
}

/// Names what was wrong with a message that did not parse.
fn describe_parse_error(error: &serde_json::Error) -> (ErrorCode, String) {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            (ErrorCode::InvalidJson, format!("the message is not valid JSON: {error}"))
        }
        Category::Data if error.to_string().contains("unknown variant") => {
            (ErrorCode::UnknownType, format!("unknown message type: {error}"))
        }
        Category::Data => (ErrorCode::InvalidMessage, format!("the message does not fit its type: {error}")),
    }
}
