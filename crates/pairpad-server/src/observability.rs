//! Logs and metrics. Logs go through `tracing` (text or JSON, filtered like `RUST_LOG`); metrics
//! through the `metrics` facade, rendered by the Prometheus exporter at `GET /metrics`.
//! Neither ever contains document text or secrets.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
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
        errors, autocomplete latency by source, operations forgotten by history retention.",
    responses((status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics::gauge!("pairpad_rooms_in_memory").set(state.hub.loaded_rooms() as f64);
    // How long edits have waited for the store with no commit succeeding (0 while none waits): a
    // commit that hangs without failing shows here, for alerting as well as on /health.
    let waiting = state.hub.commit_waiting_for().unwrap_or_default();
    metrics::gauge!("pairpad_commit_waiting_seconds").set(waiting.as_secs_f64());
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus recorder is process-wide: installed once, shared by every application (tests
/// build several in one process). A histogram keeps every sample it records until they are folded
/// into its buckets, which only a scrape of `/metrics` or an upkeep does: without the upkeep
/// thread, a server nobody scrapes would keep 8 bytes for every acknowledged operation forever.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            let sizes = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_ops".into()), &sizes));
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    show_rare_counters();
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new().name("pairpad-metrics".into()).spawn(move || {
                        loop {
                            std::thread::sleep(METRICS_UPKEEP_EVERY);
                            upkeep.run_upkeep();
                        }
                    });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no metrics upkeep thread: histograms grow until scraped");
                    }
                    handle
                }
                // Another recorder is installed (an embedding program's): render an empty page.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Counters of rare events, shown at 0 from start-up: the exporter prints a series only once it
/// has been recorded (a description alone does not), and the dashboard's panels and the alerting
/// rules in `docker/` should find them on a healthy server too (a `rate()` over a series that
/// appears with its first event misses that event).
fn show_rare_counters() {
    for name in [
        "pairpad_slow_client_disconnects_total",
        "pairpad_flooding_disconnects_total",
        "pairpad_throttled_messages_total",
        "pairpad_store_errors_total",
        "pairpad_commit_conflicts_total",
        crate::retention::FORGOTTEN_METRIC,
    ] {
        metrics::counter!(name).increment(0);
    }
    for reason in ["owner", "expired"] {
        metrics::counter!(crate::expiry::DELETED_METRIC, "reason" => reason).increment(0);
    }
}
