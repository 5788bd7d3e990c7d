//! `GET /health`: liveness plus the store's state; `GET /ready`: readiness for load balancers.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

/// 200 while the store answers, 503 (`"status": "unavailable"`) while it does not.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let repo = state.hub.repo();
    let (mut response, status) = match repo.ping().await {
        Ok(()) => (HttpResponse::Ok(), "ok"),
        Err(_) => (HttpResponse::ServiceUnavailable(), "unavailable"),
    };
    response.json(json!({
        "status": status,
        "store": repo.kind(),
        "version": env!("CARGO_PKG_VERSION"),
        "roomsLoaded": state.hub.loaded_rooms(),
        "connections": state.hub.connections(),
    }))
}

/// 200 when the server should get traffic: the store answers and it is not shutting down.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let draining = state.hub.is_shutting_down();
    let store_ok = state.hub.repo().ping().await.is_ok();
    let body = json!({ "ready": store_ok && !draining, "store": store_ok, "draining": draining });
    if store_ok && !draining { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
