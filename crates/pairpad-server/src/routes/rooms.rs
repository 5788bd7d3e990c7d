//! `POST /api/rooms`, `GET /api/rooms/{roomId}` and `DELETE /api/rooms/{roomId}` (and their
//! aliases without `/api`).

use actix_web::{HttpRequest, HttpResponse, web};
use pairpad_domain::{Language, NewRoom, RoomId, Timestamp, check_text};
use pairpad_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{enter, parse_room_id, read_json, rfc3339};
use crate::access::{bearer, hash_owner_token, new_owner_token};
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
    /// The room's id, a lowercase hyphenated UUID; read by its view id (or with a view token), the
    /// view id: a reader never learns the edit id.
    #[schema(example = "3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f")]
    pub room_id: String,
    /// The room's read-only id (contract 1.1, "Access"): usable wherever a room id is, for reading
    /// only. Only to those who may edit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "9b2d7c44-1f0e-4a3b-8c6d-5e4f3a2b1c0d")]
    pub view_id: Option<String>,
    /// The secret that deletes the room (`DELETE` with `Authorization: Bearer`), shown once: only
    /// in `POST`'s answer, in open mode. The server keeps only its hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_token: Option<String>,
    /// What the caller may do: `edit` or `view` (only in `GET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "edit")]
    pub access: Option<&'static str>,
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
    /// When the room will be deleted if nobody edits or joins it before (`rooms.expire_after_days`);
    /// absent when rooms never expire. RFC 3339, UTC, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
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
    state.gate.may_create(bearer(&req))?;
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
    let owner_token = state.gate.issues_owner_tokens().then(new_owner_token);
    let room = NewRoom {
        id: RoomId::random(),
        language,
        code,
        created_at: Timestamp::from(std::time::SystemTime::now()),
        view_id: RoomId::random(),
        owner_token_hash: owner_token.as_deref().map(hash_owner_token),
    };
    state.hub.repo().create(&room).await?;
    let created_at = rfc3339(room.created_at);
    let body = RoomResponse {
        room_id: room.id.to_string(),
        view_id: Some(room.view_id.to_string()),
        owner_token,
        access: None,
        language: room.language.to_string(),
        code: room.code,
        revision: 0,
        active_users: None,
        created_at,
        updated_at: None,
        expires_at: state.expiry.map(|expiry| rfc3339(expiry.expires_at(room.created_at))),
    };
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/rooms/{}", room.id))).json(body))
}

/// Reads a room.
#[utoipa::path(
    get,
    path = "/api/rooms/{roomId}",
    operation_id = "getRoom",
    tag = "rooms",
    description = "The room's current text, revision and participants. `GET /rooms/{roomId}` is an alias. The \
        room's view id reads it too (`access` is then `view`, and the answer holds no edit id). In token mode \
        (`auth.mode = \"token\"`) the request needs `Authorization: Bearer <jwt>` for the room.",
    params(("roomId" = String, Path, description = "The room's id or view id (a UUID, any case).")),
    responses(
        (status = 200, description = "The room.", body = RoomResponse),
        (status = 400, description = "`invalid_room_id`.", body = ErrorBody<'_>),
        (status = 401, description = "`unauthorized` (token mode): no token, or not a valid one.", body = ErrorBody<'_>),
        (status = 403, description = "`forbidden` (token mode): the token is for another room.", body = ErrorBody<'_>),
        (status = 404, description = "`room_not_found`.", body = ErrorBody<'_>),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    ),
    security((), ("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = enter(&state, &req, &path).await?;
    let view = state.hub.inspect(entry.keys.id).await?;
    let active_at = entry.keys.active_at.max(view.updated_at);
    Ok(HttpResponse::Ok().json(RoomResponse {
        room_id: entry.shown_id().to_string(),
        view_id: entry.access.may_edit().then(|| entry.keys.view_id.to_string()),
        owner_token: None,
        access: Some(pairpad_protocol::access_name(entry.access)),
        language: view.language.to_string(),
        code: view.code,
        revision: view.revision,
        active_users: Some(view.active_users),
        created_at: rfc3339(view.created_at),
        updated_at: Some(rfc3339(view.updated_at)),
        expires_at: state.expiry.map(|expiry| rfc3339(expiry.expires_at(active_at))),
    }))
}

/// Deletes a room.
#[utoipa::path(
    delete,
    path = "/api/rooms/{roomId}",
    operation_id = "deleteRoom",
    tag = "rooms",
    description = "Deletes the room with its operations and history. Needs `Authorization: Bearer <ownerToken>` \
        (the token `POST /api/rooms` answered; open mode) or an `admin` token for the room (token mode). Everyone \
        connected gets an `error` `room_deleted` and close code 4410. `DELETE /rooms/{roomId}` is an alias.",
    params(("roomId" = String, Path, description = "The room's id (a UUID, any case); its view id deletes nothing.")),
    responses(
        (status = 204, description = "The room is deleted."),
        (status = 400, description = "`invalid_room_id`.", body = ErrorBody<'_>),
        (status = 401, description = "`unauthorized` (token mode): no token, or not a valid one.", body = ErrorBody<'_>),
        (status = 403, description = "`forbidden`: no owner token, a wrong one, a view id, or a token that is not \
            `admin` for this room.", body = ErrorBody<'_>),
        (status = 404, description = "`room_not_found`.", body = ErrorBody<'_>),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asked = parse_room_id(&path)?;
    let id = state.gate.may_delete(state.hub.repo().as_ref(), asked, bearer(&req)).await?;
    state.hub.delete(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
