//! `POST /api/rooms` and `GET /api/rooms/{roomId}` (and their aliases without `/api`).

use actix_web::{HttpRequest, HttpResponse, web};
use pairpad_domain::{Language, NewRoom, RoomId, Timestamp, check_text};
use pairpad_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{parse_room_id, read_json, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// The optional body of `POST /api/rooms`; unknown fields are refused.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// The room's language, e.g. `python`; `plaintext` when absent. Any name is accepted that
    /// `Language::new` accepts; others get `invalid_language`.
    #[schema(example = "python")]
    pub language: Option<String>,
    /// The initial text; empty when absent. At most `rooms.max_document_chars` code points, without
    /// U+0000 (`invalid_field`).
    #[schema(example = "def fib(n):\n    pass\n")]
    pub code: Option<String>,
}

/// A room as `POST /api/rooms` and `GET /api/rooms/{roomId}` answer it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomResponse {
    /// The room's id, a lowercase hyphenated UUID.
    #[schema(example = "3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f")]
    pub room_id: String,
    #[schema(example = "python")]
    pub language: String,
    /// The current text.
    pub code: String,
    /// How many operations the document has seen (0 for a new room).
    pub revision: u64,
    /// Participants connected now (only in `GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_users: Option<usize>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-25T20:28:32.000Z")]
    pub created_at: String,
    /// RFC 3339, UTC, milliseconds (only in `GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Creates a room.
#[utoipa::path(
    post,
    path = "/api/rooms",
    operation_id = "createRoom",
    tag = "rooms",
    description = "Creates a room. `POST /rooms` is an alias. The body is optional; when sent, it must be \
        `Content-Type: application/json`. Each client address may create `server.rooms_per_minute` rooms a \
        minute (bursts of `server.rooms_burst`). Edit the room in real time over `GET /ws/{roomId}` (see \
        docs/PROTOCOL.md).",
    request_body(content = Option<CreateRoomRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "The room was created.", body = RoomResponse,
            headers(("Location" = String, description = "`/api/rooms/{roomId}`"))),
        (status = 400, description = "`invalid_json`, `invalid_field` or `invalid_language`.", body = ErrorBody<'_>),
        (status = 413, description = "`payload_too_large` (body over `server.max_body_bytes`) or \
            `document_too_large` (code over `rooms.max_document_chars`).", body = ErrorBody<'_>),
        (status = 415, description = "`unsupported_media_type`: a body not sent as `application/json`.",
            body = ErrorBody<'_>),
        (status = 429, description = "`rate_limited`: too many rooms created from this address.",
            body = ErrorBody<'_>,
            headers(("Retry-After" = u64, description = "Seconds to wait before creating another room."))),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Counted before the body is read, so a flood is refused at the least cost.
    if let Some(client) = state.client_addresses.of(&req) {
        state.room_creation.check(client)?;
    }
    let request: CreateRoomRequest =
        read_json(&req, payload, state.settings.server.max_body_bytes).await?.unwrap_or_default();
    let language = match request.language.as_deref() {
        None => Language::plaintext(),
        Some(name) => Language::new(name).map_err(|e| ApiError::new(ErrorCode::InvalidLanguage, e.to_string()))?,
    };
    let code = request.code.unwrap_or_default();
    check_text(&code).map_err(|e| ApiError::new(ErrorCode::InvalidField, format!("code: {e}")))?;
    let max = state.settings.rooms.max_document_chars;
    if code.chars().count() > max {
        let message = format!("the code is longer than {max} characters");
        return Err(ApiError::new(ErrorCode::DocumentTooLarge, message));
    }
    let room =
        NewRoom { id: RoomId::random(), language, code, created_at: Timestamp::from(std::time::SystemTime::now()) };
    state.hub.repo().create(&room).await?;
    let created_at = rfc3339(room.created_at);
    let body = RoomResponse {
        room_id: room.id.to_string(),
        language: room.language.to_string(),
        code: room.code,
        revision: 0,
        active_users: None,
        created_at,
        updated_at: None,
    };
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/rooms/{}", room.id))).json(body))
}

/// Reads a room.
#[utoipa::path(
    get,
    path = "/api/rooms/{roomId}",
    operation_id = "getRoom",
    tag = "rooms",
    description = "The room's current text, revision and participants. `GET /rooms/{roomId}` is an alias.",
    params(("roomId" = String, Path, description = "The room's id (a UUID, any case).")),
    responses(
        (status = 200, description = "The room.", body = RoomResponse),
        (status = 400, description = "`invalid_room_id`.", body = ErrorBody<'_>),
        (status = 404, description = "`room_not_found`.", body = ErrorBody<'_>),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    )
)]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = parse_room_id(&path)?;
    let view = state.hub.inspect(id).await?;
    Ok(HttpResponse::Ok().json(RoomResponse {
        room_id: view.id.to_string(),
        language: view.language.to_string(),
        code: view.code,
        revision: view.revision,
        active_users: Some(view.active_users),
        created_at: rfc3339(view.created_at),
        updated_at: Some(rfc3339(view.updated_at)),
    }))
}
