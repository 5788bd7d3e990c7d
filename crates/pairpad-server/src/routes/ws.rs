//! `GET /ws/{roomId}[?name=Alice]`: the real-time protocol, served by the hub's session.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use pairpad_hub::session::{JoinRefusal, JoinRequest};
use pairpad_protocol::{CloseCode, ErrorCode};
use serde::Deserialize;

use super::parse_room_id;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct JoinQuery {
    name: Option<String>,
    /// Read as text, so that a malformed one gets this API's JSON error rather than actix's.
    since: Option<String>,
    /// Token mode's JWT (browsers cannot set headers on a WebSocket handshake).
    token: Option<String>,
}

/// Upgrades to a WebSocket on a room, after checking the browser's origin.
#[utoipa::path(
    get,
    path = "/ws/{roomId}",
    operation_id = "openWebSocket",
    tag = "rooms",
    description = "The real-time editing protocol: a WebSocket upgrade, then JSON text frames (operations, acks, \
        presence, cursors). The messages, error codes and close codes are specified in the repository's \
        docs/PROTOCOL.md, not here. A browser's `Origin` must be localhost, listed in `server.allowed_origins`, \
        or the server's own on a `Host` listed in `server.public_hosts`; a request without `Origin` (a \
        non-browser client) is allowed.",
    params(
        ("roomId" = String, Path, description = "The room's id, or its view id for a read-only connection. An \
            unknown or malformed id is refused after the upgrade with an `error` message and close code 4404."),
        ("token" = Option<String>, Query, description = "Token mode only: the JWT (PROTOCOL.md 1.1, \"Access\"). \
            Missing, invalid or expired: `error` `unauthorized` and close 4401; for another room: `forbidden` and \
            4403. Its `name` claim overrides `name`."),
        ("name" = Option<String>, Query, description = "The display name others see; generated when absent."),
        ("since" = Option<u64>, Query, description = "Resume from this revision (PROTOCOL.md 1.1, \"Resuming\"): the \
            first message is `resume`, followed by every operation after it, when the server still has them; \
            otherwise `init` with `resumed: false`."),
    ),
    responses(
        (status = 101, description = "Switching protocols: the WebSocket is open; the first message is `init`."),
        (status = 400, description = "Not a WebSocket upgrade request, or `invalid_revision`: `since` is not a \
            non-negative integer.", body = ErrorBody<'_>),
        (status = 403, description = "`origin_not_allowed`: the `Origin` header names a site that may not connect.", body = ErrorBody<'_>),
    )
)]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
    query: web::Query<JoinQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    // Browsers do not apply CORS to WebSocket handshakes, so without this check any page on any
    // site could open a socket to this server from a visitor's browser (and from inside their
    // network). Browsers always send `Origin` on the handshake; other clients usually do not and
    // are not a cross-site risk, so a missing header is allowed.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        if !origin.to_str().is_ok_and(|origin| state.origins.allows(origin, host)) {
            tracing::info!(origin = ?origin, host, "WebSocket refused: origin not allowed");
            let message = "this origin may not open WebSockets here; add its host to server.public_hosts \
                or the origin to server.allowed_origins";
            return Err(ApiError::new(ErrorCode::OriginNotAllowed, message).into());
        }
    }
    let JoinQuery { name, since, token } = query.into_inner();
    let since = since
        .map(|since| since.parse::<u64>())
        .transpose()
        .map_err(|_| ApiError::new(ErrorCode::InvalidRevision, "`since` is a non-negative integer revision"))?;
    // One look-up per connection: which room, and what this connection may do in it. A refusal
    // is told on the socket, after the upgrade (PROTOCOL.md, "Close codes").
    let admitted = match parse_room_id(&path) {
        Ok(id) => state.gate.enter(state.hub.repo().as_ref(), id, token.as_deref()).await,
        Err(e) => Err(e),
    };
    let request = admitted
        .map(|entry| JoinRequest { room: entry.keys.id, access: entry.access, name: entry.name.or(name), since })
        .map_err(|e| {
            let close = match e.error_code() {
                ErrorCode::Unauthorized => CloseCode::Unauthorized,
                ErrorCode::Forbidden => CloseCode::Forbidden,
                ErrorCode::RoomNotFound | ErrorCode::InvalidRoomId => CloseCode::RoomNotFound,
                _ => CloseCode::InternalError,
            };
            JoinRefusal::new(e.error_code(), e, close)
        });
    pairpad_hub::session::serve(state.hub.clone(), &req, body, request)
}
