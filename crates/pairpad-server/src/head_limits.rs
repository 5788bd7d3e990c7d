//! Limits on a request's head, answered with the JSON error body.
//!
//! actix-http refuses a head it cannot parse before any of our code runs, with an empty body and
//! no hook to change it: a URI of 64 KiB or more gets `400`, a head over 128 KiB or with more than
//! 96 headers gets `431` (constants inside its HTTP/1 decoder). Our limits are well below those, so
//! any other overlong request reaches this check and gets a body clients can read.

use actix_web::dev::ServiceRequest;
use pairpad_protocol::ErrorCode;

use crate::error::ApiError;

/// The longest request target (path and query) served. Nothing of Pairpad's needs more than a
/// room id and a display name.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most bytes of header names and values served in one request.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses a request whose target or headers are too long: 414 `uri_too_long`, 431
/// `headers_too_large`.
pub fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(uri.path().len(), |target| target.as_str().len());
    if target > MAX_URI_BYTES {
        let message = format!("the request target is longer than {MAX_URI_BYTES} bytes");
        return Err(ApiError::new(ErrorCode::UriTooLong, message));
    }
    let header_bytes: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        let message = format!("the request headers are larger than {MAX_HEADER_BYTES} bytes");
        return Err(ApiError::new(ErrorCode::HeadersTooLarge, message));
    }
    Ok(())
}
