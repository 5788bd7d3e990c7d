//! The error codes (`error` messages' `code`, REST bodies' `error`) and the WebSocket close codes
//! of the contract (`../shared/PROTOCOL.md`, version 1.1) and of Pairpad's additions
//! (`docs/PROTOCOL.md`).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $text:literal,)+) => {
        /// A stable snake_case error code. A newer server may send codes this version does not
        /// know: parse with [`ErrorCode::parse`] (or keep the string) rather than failing.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order declared.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as it is written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)+
                }
            }

            /// The code written `text`, if this version knows it.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(ErrorCode::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// Not JSON (REST body or WebSocket message).
    InvalidJson = "invalid_json",
    /// A REST body that could not be read.
    InvalidBody = "invalid_body",
    /// A WebSocket message with a field missing or of the wrong type.
    InvalidMessage = "invalid_message",
    /// A field missing, unknown or of the wrong type (REST), or an `opId` over 128 characters or
    /// with U+0000 (WebSocket).
    InvalidField = "invalid_field",
    /// Inserted text or `code` with U+0000.
    InvalidText = "invalid_text",
    /// A WebSocket message whose `type` is unknown.
    UnknownType = "unknown_type",
    /// A binary WebSocket frame.
    UnsupportedMessage = "unsupported_message",
    /// An operation with the wrong base length, a zero component or over the limits.
    InvalidOperation = "invalid_operation",
    /// A revision that is negative or newer than the server's.
    InvalidRevision = "invalid_revision",
    /// A base revision older than the history the server keeps.
    StaleRevision = "stale_revision",
    /// A document over `rooms.max_document_chars`.
    DocumentTooLarge = "document_too_large",
    /// A language name that is empty, too long or not printable.
    InvalidLanguage = "invalid_language",
    /// A `cursorPosition` negative or beyond the text (REST autocomplete).
    InvalidCursor = "invalid_cursor",
    /// Too many edits on old base revisions wait for the store in this room: re-send later.
    ServerBusy = "server_busy",
    /// A room id that is not a UUID (close 4404 on a WebSocket).
    InvalidRoomId = "invalid_room_id",
    /// No such room (404; close 4404 on a WebSocket).
    RoomNotFound = "room_not_found",
    /// No such route (404).
    NotFound = "not_found",
    /// The room has as many connections as allowed (close 4503).
    RoomFull = "room_full",
    /// The server has as many connections as allowed (close 4503).
    TooManyConnections = "too_many_connections",
    /// The server is shutting down (close 1001).
    ShuttingDown = "shutting_down",
    /// The client did not answer pings (close 1001).
    Timeout = "timeout",
    /// The store cannot be reached (503; close 1011).
    StoreUnavailable = "store_unavailable",
    /// The store refused the sender's recent edits for good: do not re-send them (close 1011).
    StoreRejected = "store_rejected",
    /// The room stopped (close 1011).
    RoomStopped = "room_stopped",
    /// The client fell too far behind (close 4008).
    TooSlow = "too_slow",
    /// Too many requests or messages over the rate limit (429; close 4029).
    RateLimited = "rate_limited",
    /// A WebSocket message over the size limit (close 1009).
    MessageTooLarge = "message_too_large",
    /// A text frame that is not UTF-8 (close 1007).
    InvalidUtf8 = "invalid_utf8",
    /// Any other breach of RFC 6455 (close 1002).
    ProtocolError = "protocol_error",
    /// A REST body over `server.max_body_bytes` (413).
    PayloadTooLarge = "payload_too_large",
    /// A WebSocket from a site that is not allowed (403).
    OriginNotAllowed = "origin_not_allowed",
    /// A CORS preflight that is not allowed (400).
    CorsRefused = "cors_refused",
    /// A REST body not sent as `application/json` (415).
    UnsupportedMediaType = "unsupported_media_type",
    /// A request target over 8 KiB (414).
    UriTooLong = "uri_too_long",
    /// Request headers over 32 KiB in all (431).
    HeadersTooLarge = "headers_too_large",
    /// A store conflict (409).
    Conflict = "conflict",
    /// A message the server failed to encode (never expected).
    Internal = "internal",
    /// A read-only connection tried to change the room (contract 1.1).
    ReadOnly = "read_only",
    /// The room was deleted or expired (contract 1.1; close 4410).
    RoomDeleted = "room_deleted",
    /// A token is required and is missing, invalid or expired (contract 1.1; 401, close 4401).
    Unauthorized = "unauthorized",
    /// The token does not grant this (contract 1.1; 403, close 4403).
    Forbidden = "forbidden",
    /// A revision beyond the head or before the kept history (contract 1.1; 404).
    RevisionNotFound = "revision_not_found",
    /// A REST `limit` that is not an integer from 1 to the endpoint's maximum (contract 1.1; 400).
    InvalidLimit = "invalid_limit",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorCode> for &'static str {
    fn from(code: ErrorCode) -> Self {
        code.as_str()
    }
}

/// A WebSocket close code (RFC 6455 and the contract's 4xxx codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: a normal close.
    Normal,
    /// 1001: the server is shutting down, or the client stopped answering pings.
    GoingAway,
    /// 1002: a breach of RFC 6455.
    ProtocolError,
    /// 1007: a text frame that is not UTF-8.
    InvalidPayload,
    /// 1009: a message over the size limit.
    MessageTooBig,
    /// 1011: the room stopped (its store failed).
    InternalError,
    /// 4008: the client fell too far behind (its outbound queue filled).
    TooSlow,
    /// 4029: too many messages over the rate limit.
    RateLimited,
    /// 4401: a token is required and is missing, invalid or expired.
    Unauthorized,
    /// 4403: the token does not grant this room.
    Forbidden,
    /// 4404: an unknown or malformed room id.
    RoomNotFound,
    /// 4410: the room was deleted (or expired) while connected.
    RoomDeleted,
    /// 4503: the room or the server is full.
    Full,
}

impl CloseCode {
    /// Every code, in the order declared.
    pub const ALL: &'static [CloseCode] = &[
        CloseCode::Normal,
        CloseCode::GoingAway,
        CloseCode::ProtocolError,
        CloseCode::InvalidPayload,
        CloseCode::MessageTooBig,
        CloseCode::InternalError,
        CloseCode::TooSlow,
        CloseCode::RateLimited,
        CloseCode::Unauthorized,
        CloseCode::Forbidden,
        CloseCode::RoomNotFound,
        CloseCode::RoomDeleted,
        CloseCode::Full,
    ];

    /// The code's number.
    pub const fn as_u16(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::ProtocolError => 1002,
            CloseCode::InvalidPayload => 1007,
            CloseCode::MessageTooBig => 1009,
            CloseCode::InternalError => 1011,
            CloseCode::TooSlow => 4008,
            CloseCode::RateLimited => 4029,
            CloseCode::Unauthorized => 4401,
            CloseCode::Forbidden => 4403,
            CloseCode::RoomNotFound => 4404,
            CloseCode::RoomDeleted => 4410,
            CloseCode::Full => 4503,
        }
    }

    /// The code numbered `code`, if the protocol names it.
    pub fn from_u16(code: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_u16() == code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.as_u16()
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialise_as_their_string() {
        for &code in ErrorCode::ALL {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&format!("\"{code}\"")).unwrap(), code);
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("from_the_future"), None);
    }

    /// Every snake_case code named in docs/PROTOCOL.md's "Error codes" section is known.
    #[test]
    fn every_documented_error_code_is_known() {
        let doc = include_str!("../../../docs/PROTOCOL.md");
        let section = doc.split("### Error codes").nth(1).unwrap().split("\n### ").next().unwrap();
        let named: Vec<&str> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| word.contains('_') && word.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert!(named.len() > 30, "{named:?}");
        for word in named {
            assert!(ErrorCode::parse(word).is_some(), "{word} is documented but not an ErrorCode");
        }
    }

    #[test]
    fn close_codes_are_distinct() {
        let numbers: std::collections::BTreeSet<u16> = CloseCode::ALL.iter().map(|&c| c.into()).collect();
        assert_eq!(numbers.len(), CloseCode::ALL.len());
        assert_eq!(
            numbers.into_iter().collect::<Vec<_>>(),
            [1000, 1001, 1002, 1007, 1009, 1011, 4008, 4029, 4401, 4403, 4404, 4410, 4503]
        );
        assert_eq!(CloseCode::from_u16(4008), Some(CloseCode::TooSlow));
        assert_eq!(CloseCode::from_u16(1005), None);
    }
}
