//! Logs and metrics. Logs go through `tracing` (text or JSON, filtered like `RUST_LOG`); metrics
//! through the `metrics` facade, rendered by the Prometheus exporter at `GET /metrics`.
//! Neither ever contains document text or secrets.

use actix_web::{HttpResponse, web};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};
use crate::startup::AppState;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured filter.
pub fn init_logging(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// `GET /metrics` in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    description = "Prometheus metrics (text exposition format 0.0.4), all prefixed `pairpad_`: HTTP requests by \
        route, method and status with latency histograms, open WebSocket connections, rooms loaded, operations \
        committed, commit batch sizes and latency, ack latency, broadcast drops, slow-client disconnects, store \
        errors, autocomplete latency by source.",
    responses((status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics::gauge!("pairpad_rooms_in_memory").set(state.hub.loaded_rooms() as f64);
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
