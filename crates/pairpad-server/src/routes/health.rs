//! `GET /health`: liveness plus the store's state; `GET /ready`: readiness for load balancers.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::startup::AppState;

/// The body of `GET /health`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// `ok`, or `unavailable` while the store does not answer.
    #[schema(example = "ok")]
    status: &'static str,
    /// `sqlite`, `postgres` or `memory`.
    #[schema(example = "sqlite")]
    store: &'static str,
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
    /// Whether this instance should get traffic: the store answers and it is not draining.
    ready: bool,
    /// Whether the store answers.
    store: bool,
    /// Whether the server is shutting down.
    draining: bool,
}

/// 200 while the store answers, 503 (`"status": "unavailable"`) while it does not.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "operations",
    description = "Liveness, plus the store's state. Answers 503 while the store cannot be reached.",
    responses(
        (status = 200, description = "The server and its store are up.", body = HealthResponse),
        (status = 503, description = "The store cannot be reached (`\"status\": \"unavailable\"`).", body = HealthResponse),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let repo = state.hub.repo();
    let (mut response, status) = match repo.ping().await {
        Ok(()) => (HttpResponse::Ok(), "ok"),
        Err(_) => (HttpResponse::ServiceUnavailable(), "unavailable"),
    };
    response.json(HealthResponse {
        status,
        store: repo.kind(),
        version: env!("CARGO_PKG_VERSION"),
        rooms_loaded: state.hub.loaded_rooms(),
        connections: state.hub.connections(),
    })
}

/// 200 when the server should get traffic: the store answers and it is not shutting down.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "ready",
    tag = "operations",
    description = "Readiness for load balancers: 503 while the store is unreachable or the server is draining \
        (after SIGTERM, while rooms commit and connections close).",
    responses(
        (status = 200, description = "Ready for traffic.", body = ReadyResponse),
        (status = 503, description = "Not ready: the store is unreachable or the server is draining.", body = ReadyResponse),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let draining = state.hub.is_shutting_down();
    let store_ok = state.hub.repo().ping().await.is_ok();
    let ready = store_ok && !draining;
    let body = ReadyResponse { ready, store: store_ok, draining };
    if ready { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
