//! REST errors: `{"error": "<snake_case_code>", "message": "<sentence>"}` with a fitting status.
//! The status of an error is chosen here and nowhere else: one status per `ErrorCode`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use pairpad_domain::RepoError;
use pairpad_hub::HubError;
use pairpad_protocol::ErrorCode;
use serde::Serialize;

/// An error answered to a REST client.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// Sent as `Retry-After` (seconds).
    retry_after_secs: Option<u64>,
}

/// The JSON body of every REST error (also its OpenAPI schema).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"error": "room_not_found", "message": "room 3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f does not exist"}))]
pub struct ErrorBody<'a> {
    /// A stable snake_case code for programs, e.g. `invalid_room_id`.
    pub error: &'a str,
    /// A sentence for people; its wording may change.
    pub message: &'a str,
}

impl ApiError {
    /// An error with the status its code always has on REST (see [`status_of`]).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status: status_of(code), code, message: message.into(), retry_after_secs: None }
    }

    /// 429 `rate_limited`, with `Retry-After` rounded up to whole seconds (at least 1).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Self { retry_after_secs: Some(secs.max(1)), ..Self::new(ErrorCode::RateLimited, message) }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// Replaces actix-cors' plain-text answer to a refused preflight with `cors_refused`, keeping
    /// its status and message; any other response passes unchanged.
    pub fn with_json_cors_refusal<B: MessageBody + 'static>(response: ServiceResponse<B>) -> ServiceResponse<BoxBody> {
        let refusal = response
            .response()
            .error()
            .and_then(|e| e.as_error::<actix_cors::CorsError>())
            .map(|cors| Self { status: cors.status_code(), ..Self::new(ErrorCode::CorsRefused, cors.to_string()) });
        match refusal {
            Some(refusal) => response.into_response(refusal.error_response()),
            None => response.map_into_boxed_body(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// The protocol's code of this error.
    pub fn error_code(&self) -> ErrorCode {
        self.code
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs));
        }
        response.json(ErrorBody { error: self.code.as_str(), message: &self.message })
    }
}

impl From<RepoError> for ApiError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::NotFound(_) => Self::new(ErrorCode::RoomNotFound, e.to_string()),
            RepoError::AlreadyExists(_) | RepoError::Conflict { .. } => Self::new(ErrorCode::Conflict, e.to_string()),
            // The request's own data: sending it again fails again.
            RepoError::Rejected(_) => Self::new(ErrorCode::InvalidField, e.to_string()),
            RepoError::Unavailable(_) | RepoError::Corrupt(_) => {
                tracing::error!(error = %e, "store error");
                Self::new(ErrorCode::StoreUnavailable, "the store is unavailable; try again")
            }
        }
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::NotFound(_) => Self::new(ErrorCode::RoomNotFound, e.to_string()),
            HubError::RoomFull(_) | HubError::TooManyConnections => Self::new(ErrorCode::RoomFull, e.to_string()),
            HubError::ShuttingDown => Self::new(ErrorCode::ShuttingDown, e.to_string()),
            HubError::RoomStopping(_) => Self::new(ErrorCode::RoomStopped, e.to_string()),
            HubError::Store(e) => e.into(),
        }
    }
}

/// The HTTP status of each REST error code: one code, one status.
fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode as E;
    match code {
        E::InvalidJson
        | E::InvalidField
        | E::InvalidBody
        | E::InvalidRoomId
        | E::InvalidLanguage
        | E::InvalidCursor
        | E::InvalidRevision
        | E::InvalidLimit
        | E::CorsRefused => StatusCode::BAD_REQUEST,
        E::Unauthorized => StatusCode::UNAUTHORIZED,
        E::Forbidden | E::OriginNotAllowed => StatusCode::FORBIDDEN,
        E::NotFound | E::RoomNotFound | E::RevisionNotFound => StatusCode::NOT_FOUND,
        E::Conflict => StatusCode::CONFLICT,
        E::PayloadTooLarge | E::DocumentTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        E::UriTooLong => StatusCode::URI_TOO_LONG,
        E::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        E::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        E::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        E::StoreUnavailable | E::RoomFull | E::TooManyConnections | E::ShuttingDown | E::RoomStopped => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // Codes of the WebSocket protocol only, and `internal`.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
