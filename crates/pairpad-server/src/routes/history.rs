//! A room's history (contract 1.1, "History"): `GET /api/rooms/{roomId}/revisions/{n}`,
//! `GET /api/rooms/{roomId}/operations?from&limit` and `GET /api/rooms/{roomId}/history?buckets`
//! (and their aliases without `/api`). They read the store only: a room is not loaded into the
//! hub to answer them, and what they see is what is durable.
//!
//! Every number in a path or query is parsed here, digits only: anything else is a 400 with a
//! code saying which one, and a number too large for any revision is simply beyond the head.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};
use pairpad_domain::{HistoryError, HistoryPoint, RoomId, RoomRepo, RoomSummary, text_at};
use pairpad_protocol::{ErrorCode, Ops};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{enter, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::startup::AppState;

/// The most operations one page of `operations` holds (`limit`).
pub const MAX_OPERATIONS_PAGE: u64 = 1000;
/// `limit` when absent.
pub const DEFAULT_OPERATIONS_PAGE: u64 = 100;
/// The most points `history` answers (`buckets`).
pub const MAX_BUCKETS: u64 = 1000;
/// `buckets` when absent.
pub const DEFAULT_BUCKETS: u64 = 100;

/// The largest revision a store can hold (its columns are signed 64-bit).
const MAX_STORED_REVISION: u64 = i64::MAX as u64;

/// The room's text at a revision.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionResponse {
    #[schema(example = "3f1e0c1a-8d1b-4c55-9d7e-0a4b1c2d3e4f")]
    pub room_id: String,
    /// The revision asked for.
    pub revision: u64,
    /// The text exactly as it was at that revision.
    pub code: String,
    /// The room's current language (languages are not part of the history).
    #[schema(example = "python")]
    pub language: String,
}

/// One committed operation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryOperation<'a> {
    /// The revision the operation made.
    pub revision: u64,
    /// The operation in the ot.js form of the WebSocket protocol: a positive integer retains, a
    /// string inserts, a negative integer deletes (counts in Unicode code points).
    #[schema(value_type = Vec<Object>, example = json!([5, "hello", -2, 10]))]
    pub ops: Ops<'a>,
    /// The connection that made it (the `userId` of its `init`).
    pub user_id: String,
    /// Its author's display name then.
    #[schema(example = "Ada")]
    pub name: &'a str,
    /// The `opId` it was sent with; absent when it had none (a `code_update`, or a client that
    /// sends none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_id: Option<&'a str>,
    /// When it was committed: RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-25T20:28:32.000Z")]
    pub committed_at: String,
}

/// A page of committed operations.
#[derive(Serialize, ToSchema)]
pub struct OperationsResponse<'a> {
    /// Oldest first, consecutive, starting at `from + 1`.
    pub operations: Vec<HistoryOperation<'a>>,
    /// The `from` of the next page; absent when this page reaches the latest stored revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// A point of the timeslider.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPointResponse {
    /// The last revision of a run of operations.
    pub revision: u64,
    /// When that revision was committed: RFC 3339, UTC, milliseconds.
    #[schema(example = "2026-11-25T20:28:32.000Z")]
    pub committed_at: String,
    /// The distinct names of who wrote the run's operations (since the previous point), sorted.
    pub authors: Vec<String>,
}

/// A room's history for a timeslider.
#[derive(Serialize, ToSchema)]
pub struct HistoryResponse {
    /// The latest stored revision.
    pub head: u64,
    /// At most `buckets` points, ascending, evenly spread over revisions 1 to `head`, the last
    /// being `head`; empty when the room has no operations. Runs whose operations were forgotten
    /// (`history.keep_days`) have no point.
    pub points: Vec<HistoryPointResponse>,
}

/// The query of `operations`, read as text so that every mistake gets a precise answer.
#[derive(Deserialize)]
struct OperationsQuery {
    from: Option<String>,
    limit: Option<String>,
}

/// The query of `history`.
#[derive(Deserialize)]
struct HistoryQuery {
    buckets: Option<String>,
}

/// A number of a path or query, digits only.
enum Number {
    Value(u64),
    /// Digits, but more than `u64::MAX`.
    TooLarge,
    /// Empty, a sign, a fraction, anything but digits.
    Invalid,
}

fn number(text: &str) -> Number {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Number::Invalid;
    }
    text.parse().map_or(Number::TooLarge, Number::Value)
}

/// A revision (`n`, `from`): a non-negative integer; one too large for any store is beyond
/// every head (`u64::MAX`).
fn revision(name: &str, text: &str) -> Result<u64, ApiError> {
    match number(text) {
        Number::Value(n) => Ok(n),
        Number::TooLarge => Ok(u64::MAX),
        Number::Invalid => {
            let message = format!("{name} must be a non-negative integer revision, not {:?}", shorten(text));
            Err(ApiError::new(ErrorCode::InvalidRevision, message))
        }
    }
}

/// A count from 1 to `max`, `default` when absent.
fn count(name: &str, text: Option<&str>, default: u64, max: u64, code: ErrorCode) -> Result<u64, ApiError> {
    let Some(text) = text else { return Ok(default) };
    match number(text) {
        Number::Value(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::new(code, format!("{name} must be an integer from 1 to {max}, not {:?}", shorten(text)))),
    }
}

/// At most 40 characters of a caller's text, for a message.
fn shorten(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Parses the query string into `T`; a malformed one (bad percent-encoding, a key given twice)
/// is `invalid_field`.
fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::new(ErrorCode::InvalidField, format!("the query string cannot be read: {e}")))
}

fn revision_not_found(message: String) -> ApiError {
    ApiError::new(ErrorCode::RevisionNotFound, message)
}

fn beyond_the_head(asked: u64, room: &RoomSummary) -> ApiError {
    // No id in the message: a reader who came by the view id must not learn the edit id.
    revision_not_found(format!("revision {asked} is beyond the room's latest revision, {}", room.revision))
}

/// The room's text at a revision.
#[utoipa::path(
    get,
    path = "/api/rooms/{roomId}/revisions/{n}",
    operation_id = "getRevision",
    tag = "history",
    description = "The room's text exactly as it was at revision `n` (0: as created), from the checkpoint before \
        it and at most `rooms.snapshot_every` operations. `language` is the room's current language. \
        `GET /rooms/{roomId}/revisions/{n}` is an alias.",
    params(
        ("roomId" = String, Path, description = "The room's id (a UUID, any case)."),
        ("n" = u64, Path, description = "A revision, from 0 to the room's latest."),
    ),
    responses(
        (status = 200, description = "The text at that revision.", body = RevisionResponse),
        (status = 400, description = "`invalid_room_id`, or `invalid_revision`: `n` is not a non-negative integer.",
            body = ErrorBody<'_>),
        (status = 404, description = "`room_not_found`, or `revision_not_found`: `n` is beyond the latest \
            revision or before the kept history (`history.keep_days`).", body = ErrorBody<'_>),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    )
)]
pub async fn revision_text(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (room_id, n) = path.into_inner();
    let n = revision("the revision", &n)?;
    let entry = enter(&state, &req, &room_id).await?;
    let id = entry.keys.id;
    let repo = state.hub.repo().as_ref();
    // The room (does it exist, its language and head) and the text, read side by side.
    let (room, text) = tokio::join!(repo.summary(id), async {
        if n <= MAX_STORED_REVISION { Some(text_at(repo, id, n).await) } else { None }
    });
    let room = room?;
    match text {
        Some(Ok(snapshot)) => Ok(HttpResponse::Ok().json(RevisionResponse {
            room_id: entry.shown_id().to_string(),
            revision: snapshot.revision,
            code: snapshot.code,
            language: room.language.to_string(),
        })),
        Some(Err(HistoryError::Store(e))) => Err(e.into()),
        // Committed after the room was read, and so not found a moment ago: still beyond its head.
        _ if n > room.revision => Err(beyond_the_head(n, &room)),
        Some(Err(HistoryError::NotKept(_))) | None => Err(revision_not_found(format!(
            "revision {n} of the room is no longer kept (history.keep_days); later revisions are"
        ))),
    }
}

/// A page of the room's committed operations.
#[utoipa::path(
    get,
    path = "/api/rooms/{roomId}/operations",
    operation_id = "listOperations",
    tag = "history",
    description = "The committed operations after revision `from`, oldest first, at most `limit`, each with who \
        wrote it and when. `next` is the `from` of the next page, absent when the page reaches the latest \
        revision (a `from` equal to it answers an empty page). Applying the operations, in order, to the text \
        at revision `from` (`GET /api/rooms/{roomId}/revisions/{from}`) gives the text after each. \
        `GET /rooms/{roomId}/operations` is an alias.",
    params(
        ("roomId" = String, Path, description = "The room's id (a UUID, any case)."),
        ("from" = Option<u64>, Query, description = "The revision to start after; 0 when absent."),
        ("limit" = Option<u64>, Query, description = "The most operations to answer, 1 to 1000; 100 when absent."),
    ),
    responses(
        (status = 200, description = "A page of operations.", body = OperationsResponse<'_>),
        (status = 400, description = "`invalid_room_id`; `invalid_revision`: `from` is not a non-negative integer; \
            `invalid_limit`: `limit` is not an integer from 1 to 1000; `invalid_field`: the query string cannot \
            be read.", body = ErrorBody<'_>),
        (status = 404, description = "`room_not_found`, or `revision_not_found`: `from` is beyond the latest \
            revision, or the operations after it are no longer kept (`history.keep_days`).", body = ErrorBody<'_>),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    )
)]
pub async fn operations(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let query: OperationsQuery = query(&req)?;
    let from = query.from.as_deref().map_or(Ok(0), |text| revision("from", text))?;
    let limit =
        count("limit", query.limit.as_deref(), DEFAULT_OPERATIONS_PAGE, MAX_OPERATIONS_PAGE, ErrorCode::InvalidLimit)?;
    let id = enter(&state, &req, &path).await?.keys.id;
    let repo = state.hub.repo().as_ref();
    // One more than asked: whether it exists says whether there is a next page.
    let mut ops =
        if from <= MAX_STORED_REVISION { repo.ops_since(id, from, limit as usize + 1).await? } else { vec![] };
    let Some(first) = ops.first() else {
        // No operation after `from`: at the head, beyond it, or no such room.
        let room = repo.summary(id).await?;
        if from > room.revision {
            return Err(beyond_the_head(from, &room));
        }
        return Ok(HttpResponse::Ok().json(OperationsResponse { operations: Vec::new(), next: None }));
    };
    if first.revision != from + 1 {
        let message = format!(
            "the operations after revision {from} of the room are no longer kept (history.keep_days); \
             the oldest kept is revision {}",
            first.revision
        );
        return Err(revision_not_found(message));
    }
    let next = if ops.len() as u64 > limit {
        ops.truncate(limit as usize);
        ops.last().map(|op| op.revision)
    } else {
        None
    };
    let operations = ops
        .iter()
        .map(|op| HistoryOperation {
            revision: op.revision,
            ops: Ops::borrowed(&op.operation),
            user_id: op.author.to_string(),
            name: &op.author_name,
            op_id: op.op_id.as_deref(),
            committed_at: rfc3339(op.at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(OperationsResponse { operations, next }))
}

/// The room's history as evenly spread points, for a timeslider.
#[utoipa::path(
    get,
    path = "/api/rooms/{roomId}/history",
    operation_id = "getHistory",
    tag = "history",
    description = "The room's latest revision (`head`) and at most `buckets` points spread evenly over its \
        revisions: the revisions are cut into runs of `ceil(head / buckets)` (1 to that, and so on), and each \
        run with kept operations gives its last revision, when that was committed and who wrote the run. The \
        last point is the head. `GET /rooms/{roomId}/history` is an alias.",
    params(
        ("roomId" = String, Path, description = "The room's id (a UUID, any case)."),
        ("buckets" = Option<u64>, Query, description = "The most points to answer, 1 to 1000; 100 when absent."),
    ),
    responses(
        (status = 200, description = "The points.", body = HistoryResponse),
        (status = 400, description = "`invalid_room_id`; `invalid_field`: `buckets` is not an integer from 1 to \
            1000, or the query string cannot be read.", body = ErrorBody<'_>),
        (status = 404, description = "`room_not_found`.", body = ErrorBody<'_>),
        (status = 503, description = "`store_unavailable`.", body = ErrorBody<'_>),
    )
)]
pub async fn history(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let query: HistoryQuery = query(&req)?;
    let buckets = count("buckets", query.buckets.as_deref(), DEFAULT_BUCKETS, MAX_BUCKETS, ErrorCode::InvalidField)?;
    let id = enter(&state, &req, &path).await?.keys.id;
    let (head, points) = history_points(state.hub.repo().as_ref(), id, buckets).await?;
    let points = points
        .into_iter()
        .map(|point| HistoryPointResponse {
            revision: point.revision,
            committed_at: rfc3339(point.at),
            authors: point.authors,
        })
        .collect();
    Ok(HttpResponse::Ok().json(HistoryResponse { head, points }))
}

/// The room's head and at most `buckets` points of its history.
async fn history_points(repo: &dyn RoomRepo, id: RoomId, buckets: u64) -> Result<(u64, Vec<HistoryPoint>), ApiError> {
    let room = repo.summary(id).await?;
    let every = room.revision.div_ceil(buckets).max(1);
    let mut points = repo.history(id, every).await?;
    // Operations committed between the two reads may make a run more: fold the surplus into the
    // last point, which stays the head.
    while points.len() as u64 > buckets {
        let Some(last) = points.pop() else { break };
        if let Some(previous) = points.last_mut() {
            let authors: BTreeSet<String> = previous.authors.drain(..).chain(last.authors).collect();
            *previous = HistoryPoint { revision: last.revision, at: last.at, authors: authors.into_iter().collect() };
        }
    }
    let head = points.last().map_or(room.revision, |point| point.revision.max(room.revision));
    Ok((head, points))
}
