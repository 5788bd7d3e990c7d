//! `GET /health`: liveness plus the store's state; `GET /ready`: readiness for load balancers.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::startup::AppState;

/// The body of `GET /health`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `ok`, or `unavailable` while the store does not answer or the committer is stalled.
    #[schema(example = "ok")]
    status: &'static str,
    /// `sqlite`, `postgres` or `memory`.
    #[schema(example = "sqlite")]
    store: &'static str,
    /// `ok`, or `stalled` while edits have waited for the store longer than
    /// `store.commit_stall_secs` without any commit succeeding.
    #[schema(example = "ok")]
    committer: &'static str,
    /// The server's version.
    #[schema(example = "0.1.0")]
    version: &'static str,
    /// Rooms in memory.
    rooms_loaded: usize,
    /// Open WebSocket connections.
    connections: usize,
}

/// The body of `GET /ready`.
#[derive(Serialize, ToSchema)]
pub struct ReadyResponse {
    /// Whether this instance should get traffic: the store answers, commits progress and it is
    /// not draining.
    ready: bool,
    /// Whether the store answers.
    store: bool,
    /// Whether the committer makes progress (see `/health`).
    committer: bool,
    /// Whether the server is shutting down.
    draining: bool,
}

/// Whether edits have waited for the store too long without any commit succeeding: the store may
/// answer a ping and still refuse or hang on every commit.
fn committer_stalled(state: &AppState) -> bool {
    state.hub.commit_waiting_for().is_some_and(|waited| waited > state.settings.commit_stall())
}

/// 200 while the store answers and commits progress, 503 (`"status": "unavailable"`) otherwise.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    description = "Liveness, plus the store's state. Answers 503 while the store cannot be reached or the \
        committer is stalled (edits waiting longer than `store.commit_stall_secs` with no commit succeeding).",
    responses(
        (status = 200, description = "The server and its store are up.", body = HealthResponse),
        (status = 503, description = "The store cannot be reached or the committer is stalled \
            (`\"status\": \"unavailable\"`).", body = HealthResponse),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let repo = state.hub.repo();
    let stalled = committer_stalled(&state);
    let (mut response, status) = match repo.ping().await {
        Ok(()) if !stalled => (HttpResponse::Ok(), "ok"),
        _ => (HttpResponse::ServiceUnavailable(), "unavailable"),
    };
    response.json(HealthResponse {
        status,
        store: repo.kind(),
        committer: if stalled { "stalled" } else { "ok" },
        version: env!("CARGO_PKG_VERSION"),
        rooms_loaded: state.hub.loaded_rooms(),
        connections: state.hub.connections(),
    })
}

/// 200 when the server should get traffic: the store answers, commits progress and it is not
/// shutting down.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "ready",
    tag = "operations",
    description = "Readiness for load balancers: 503 while the store is unreachable, the committer is stalled \
        or the server is draining \
        (after SIGTERM, while rooms commit and connections close).",
    responses(
        (status = 200, description = "Ready for traffic.", body = ReadyResponse),
        (status = 503, description = "Not ready: the store is unreachable, the committer is stalled or the server \
            is draining.", body = ReadyResponse),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let draining = state.hub.is_shutting_down();
    let store_ok = state.hub.repo().ping().await.is_ok();
    let committer_ok = !committer_stalled(&state);
    let ready = store_ok && committer_ok && !draining;
    let body = ReadyResponse { ready, store: store_ok, committer: committer_ok, draining };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
