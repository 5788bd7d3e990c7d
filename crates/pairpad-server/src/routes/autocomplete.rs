//! `POST /api/autocomplete` (and `/autocomplete`): completions at a cursor.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use pairpad_domain::{Language, SuggestionRequest};
use serde::{Deserialize, Serialize};

use super::read_json;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutocompleteRequest {
    code: String,
    /// Signed so that a negative position gets a precise error.
    cursor_position: i64,
    language: String,
    /// Optional: lets the model suggester cancel a room's stale requests.
    room_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuggestionBody {
    label: String,
    insert_text: String,
    kind: &'static str,
}

#[derive(Serialize)]
struct AutocompleteResponse {
    suggestion: String,
    suggestions: Vec<SuggestionBody>,
    source: &'static str,
}

pub async fn autocomplete(state: web::Data<AppState>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let limit = state.settings.autocomplete.max_code_bytes.saturating_add(64 * 1024);
    let request: AutocompleteRequest = read_json(payload, limit)
        .await?
        .ok_or_else(|| ApiError::bad_request("invalid_json", "send {\"code\", \"cursorPosition\", \"language\"}"))?;
    if request.code.len() > state.settings.autocomplete.max_code_bytes {
        let message = format!("the code is larger than {} bytes", state.settings.autocomplete.max_code_bytes);
        return Err(ApiError::new(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message));
    }
    let cursor = usize::try_from(request.cursor_position)
        .map_err(|_| ApiError::bad_request("invalid_cursor", "cursorPosition must not be negative"))?;
    // Any language is accepted: one that is not a valid name gets generic suggestions.
    let language = Language::new(&request.language).unwrap_or_default();
    let room = request.room_id.as_deref().and_then(|id| pairpad_domain::RoomId::parse(id).ok());
    let request = SuggestionRequest::new(request.code, cursor, language, room)
        .map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))?;
    let started = Instant::now();
    let suggestions = state.suggester.suggest(&request).await;
    metrics::histogram!("pairpad_autocomplete_seconds", "source" => suggestions.source)
        .record(started.elapsed().as_secs_f64());
    Ok(HttpResponse::Ok().json(AutocompleteResponse {
        suggestion: suggestions.best().to_owned(),
        source: suggestions.source,
        suggestions: suggestions
            .items
            .into_iter()
            .map(|s| SuggestionBody { label: s.label, insert_text: s.insert_text, kind: s.kind.as_str() })
            .collect(),
    }))
}
