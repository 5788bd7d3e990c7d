//! `POST /api/autocomplete` (and `/autocomplete`): completions at a cursor.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use pairpad_domain::{Language, SuggestionRequest};
use pairpad_protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::read_json;
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// The body of `POST /api/autocomplete`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutocompleteRequest {
    /// The document, at most `autocomplete.max_code_bytes` bytes.
    #[schema(example = "def fib(n):\n    ret")]
    code: String,
    /// The cursor, in Unicode code points from the start of `code`.
    /// Signed so that a negative position gets a precise error.
    #[schema(example = 19, minimum = 0)]
    cursor_position: i64,
    /// Free text; a language the suggester does not know gets generic suggestions.
    #[schema(example = "python")]
    language: String,
    /// Optional: lets the model suggester cancel a room's stale requests.
    room_id: Option<String>,
}

/// One completion.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionBody {
    /// What a menu shows.
    #[schema(example = "return")]
    label: String,
    /// What to insert at the cursor.
    #[schema(example = "urn")]
    insert_text: String,
    /// `keyword`, `builtin`, `identifier`, `snippet`, `bracket`, `indent`, `completion` or `word`.
    #[schema(example = "keyword")]
    kind: &'static str,
}

/// The completions at the cursor, best first.
#[derive(Serialize, ToSchema)]
pub struct AutocompleteResponse {
    /// The best suggestion's text to insert at the cursor; may be empty.
    #[schema(example = "urn")]
    suggestion: String,
    suggestions: Vec<SuggestionBody>,
    /// Which suggester answered: `rules` or `model`.
    #[schema(example = "rules")]
    source: &'static str,
}

/// Completions at a cursor.
#[utoipa::path(
    post,
    path = "/api/autocomplete",
    operation_id = "autocomplete",
    tag = "autocomplete",
    description = "Code completions at a cursor, from the configured model when enabled (falling back to the \
        rules on any error or timeout) or from the rule-based suggester. `POST /autocomplete` is an alias. \
        The body must be sent as `Content-Type: application/json`.",
    request_body(content = AutocompleteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The suggestions (possibly none).", body = AutocompleteResponse),
        (status = 400, description = "`invalid_json`, `invalid_field` or `invalid_cursor` (negative or beyond the \
            text).", body = ErrorBody<'_>),
        (status = 413, description = "`payload_too_large` (code over `autocomplete.max_code_bytes`).", body = ErrorBody<'_>),
        (status = 415, description = "`unsupported_media_type`: the body is not sent as `application/json`.",
            body = ErrorBody<'_>),
    )
)]
pub async fn autocomplete(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = state.settings.autocomplete.max_code_bytes.saturating_add(64 * 1024);
    let request: AutocompleteRequest = read_json(&req, payload, limit)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidJson, "send {\"code\", \"cursorPosition\", \"language\"}"))?;
    if request.code.len() > state.settings.autocomplete.max_code_bytes {
        let message = format!("the code is larger than {} bytes", state.settings.autocomplete.max_code_bytes);
        return Err(ApiError::new(ErrorCode::PayloadTooLarge, message));
    }
    let cursor = usize::try_from(request.cursor_position)
        .map_err(|_| ApiError::new(ErrorCode::InvalidCursor, "cursorPosition must not be negative"))?;
    // Any language is accepted: one that is not a valid name gets generic suggestions.
    let language = Language::new(&request.language).unwrap_or_default();
    let room = request.room_id.as_deref().and_then(|id| pairpad_domain::RoomId::parse(id).ok());
    let request = SuggestionRequest::new(request.code, cursor, language, room)
        .map_err(|e| ApiError::new(ErrorCode::InvalidCursor, e.to_string()))?;
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
