//! The HTTP routes. Handlers parse input into domain types, call the hub, the store or the
//! suggester, and map results to JSON. Every JSON body is read through [`read_json`].

pub mod autocomplete;
pub mod demo;
pub mod health;
pub mod openapi;
pub mod rooms;
pub mod ws;

use actix_web::http::StatusCode;
use actix_web::web;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Reads a JSON body of at most `limit` bytes. An empty body is `None`. Any content type is
/// accepted, so `curl -d` works without a header.
pub async fn read_json<T: DeserializeOwned>(payload: web::Payload, limit: usize) -> Result<Option<T>, ApiError> {
    let body = payload.to_bytes_limited(limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    })?;
    let body = body.map_err(|e| ApiError::bad_request("invalid_body", format!("the body could not be read: {e}")))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request("invalid_field", format!("the body does not fit the request: {e}")),
            _ => ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}")),
        }
    })
}

/// Parses a room id from a path segment.
pub fn parse_room_id(text: &str) -> Result<pairpad_domain::RoomId, ApiError> {
    pairpad_domain::RoomId::parse(text).map_err(|e| ApiError::bad_request("invalid_room_id", e.to_string()))
}

/// Formats a domain timestamp as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(at: pairpad_domain::Timestamp) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(at.0).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}
