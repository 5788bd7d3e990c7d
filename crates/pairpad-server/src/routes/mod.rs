//! The HTTP routes. Handlers parse input into domain types, call the hub, the store or the
//! suggester, and map results to JSON. Every JSON body is read through [`read_json`].

pub mod autocomplete;
pub mod demo;
pub mod health;
pub mod history;
pub mod openapi;
pub mod rooms;
pub mod ws;

use actix_web::{HttpMessage, HttpRequest, web};
use pairpad_protocol::ErrorCode;
use serde::de::DeserializeOwned;

use crate::access::Entry;
use crate::error::ApiError;
use crate::startup::AppState;

/// Reads a JSON body of at most `limit` bytes; a blank body is `None`. A body must be declared
/// `Content-Type: application/json` (415 `unsupported_media_type` otherwise): browsers send only
/// `text/plain`, form and multipart bodies to another site without asking it first (a CORS
/// preflight), so a JSON-only endpoint cannot be reached by a forged cross-site form or fetch.
/// A blank body may come without a content type (the original API's `POST /rooms`).
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Option<T>, ApiError> {
    let declared_json = match req.mime_type() {
        Ok(Some(mime)) if mime.essence_str() == "application/json" => true,
        Ok(None) => false,
        _ => return Err(not_json()),
    };
    let body = payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than {limit} bytes")))?;
    let body = body.map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("the body could not be read: {e}")))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if !declared_json {
        return Err(not_json());
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(ErrorCode::InvalidField, format!("the body does not fit the request: {e}")),
            _ => ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}")),
        }
    })
}

fn not_json() -> ApiError {
    let message = "send the body as JSON, with Content-Type: application/json";
    ApiError::new(ErrorCode::UnsupportedMediaType, message)
}

/// The room a REST request names in its path (by id or view id) and what the caller may do in it
/// (`404`, or in token mode `401`/`403`, when nothing).
pub async fn enter(state: &AppState, req: &HttpRequest, path_id: &str) -> Result<Entry, ApiError> {
    let id = parse_room_id(path_id)?;
    state.gate.enter(state.hub.repo().as_ref(), id, crate::access::bearer(req)).await
}

/// Parses a room id from a path segment.
pub fn parse_room_id(text: &str) -> Result<pairpad_domain::RoomId, ApiError> {
    pairpad_domain::RoomId::parse(text).map_err(|e| ApiError::new(ErrorCode::InvalidRoomId, e.to_string()))
}

/// Formats a domain timestamp as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(at: pairpad_domain::Timestamp) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(at.0).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}
