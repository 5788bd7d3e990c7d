//! `POST /api/rooms` and `GET /api/rooms/{roomId}` (and their aliases without `/api`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use pairpad_domain::{Language, NewRoom, RoomId};
use serde::{Deserialize, Serialize};

use super::{parse_room_id, read_json, rfc3339};
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    pub language: Option<String>,
    pub code: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomResponse {
    pub room_id: String,
    pub language: String,
    pub code: String,
    pub revision: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_users: Option<usize>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

pub async fn create(state: web::Data<AppState>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let request: CreateRoomRequest =
        read_json(payload, state.settings.server.max_body_bytes).await?.unwrap_or_default();
    let language = match request.language.as_deref() {
        None => Language::plaintext(),
        Some(name) => Language::new(name).map_err(|e| ApiError::bad_request("invalid_language", e.to_string()))?,
    };
    let code = request.code.unwrap_or_default();
    let max = state.settings.rooms.max_document_chars;
    if code.chars().count() > max {
        let message = format!("the code is longer than {max} characters");
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large", message));
    }
    let room = NewRoom { id: RoomId::random(), language, code, created_at: now() };
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

fn now() -> pairpad_domain::Timestamp {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    pairpad_domain::Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}
