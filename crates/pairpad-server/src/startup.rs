//! Building and running the application: store, hub, suggester, routes, listener, shutdown.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use pairpad_domain::Suggester;
use pairpad_hub::Hub;
use pairpad_suggest::{ModelSettings, ModelSuggester, RuleSuggester};

use crate::access::Gate;
use crate::client_address::ClientAddresses;
use crate::config::Settings;
use crate::cors::OriginPolicy;
use crate::error::ApiError;
use crate::expiry::Expiry;
use crate::rate_limit::RoomCreationLimit;
use crate::retention::SweepHandle;
use crate::{head_limits, routes};

/// What every handler shares.
pub struct AppState {
    pub hub: Hub,
    pub suggester: Arc<dyn Suggester>,
    pub settings: Settings,
    pub metrics: PrometheusHandle,
    /// The browser origins served (CORS and WebSocket handshakes).
    pub origins: OriginPolicy,
    pub client_addresses: ClientAddresses,
    pub room_creation: RoomCreationLimit,
    /// Who may do what (`auth.mode`).
    pub gate: Gate,
    /// Room expiry, for `expiresAt`; `None`: rooms never expire.
    pub expiry: Option<Expiry>,
}

/// A built application: its listener is bound, nothing is served until it runs.
pub struct Application {
    server: Server,
    port: u16,
    hub: Hub,
    /// The background sweeps (history retention, room expiry) that run.
    sweeps: Vec<SweepHandle>,
}

impl Application {
    /// Opens the store (running migrations), starts the hub and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store_url = settings.store_url()?;
        let backend = pairpad_store::connect(&store_url, settings.store_options())
            .await
            .with_context(|| format!("cannot open the store at {store_url}"))?;
        let hub = Hub::new(backend.repo, backend.bus, settings.hub());
        let suggester = build_suggester(&settings)?;
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            "Pairpad listening on http://{}:{port} with the {} store ({store_url})",
            settings.server.host,
            hub.repo().kind(),
        );
        let retention_settings = settings.retention();
        let expiry = settings.expiry();
        let gate = settings.gate()?;
        let workers = settings.server.workers;
        let shutdown_timeout = settings.server.shutdown_timeout_secs;
        let origins = OriginPolicy::new(&settings.server.allowed_origins, public_hosts(&settings, port));
        let client_addresses = ClientAddresses::new(settings.trusted_proxies()?);
        let room_creation = RoomCreationLimit::new(settings.server.rooms_per_minute, settings.server.rooms_burst);
        let state = web::Data::new(AppState {
            hub: hub.clone(),
            suggester,
            settings,
            metrics: crate::observability::metrics_handle(),
            origins,
            client_addresses,
            room_creation,
            gate,
            expiry,
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(state.origins.cors())
                .wrap_fn(|req, service| {
                    let forwarded = match head_limits::check(&req) {
                        Ok(()) => Ok(service.call(req)),
                        Err(refusal) => Err(req.error_response(refusal)),
                    };
                    async move {
                        match forwarded {
                            Ok(response) => Ok(response.await?.map_into_boxed_body()),
                            Err(refused) => Ok(refused),
                        }
                    }
                })
                .wrap_fn(|req, service| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let response = service.call(req);
                    async move {
                        // A refused CORS preflight gets the same JSON body as every other error.
                        let response = ApiError::with_json_cors_refusal(response.await?);
                        let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
                        let status = response.status().as_u16().to_string();
                        let labels = [("route", route), ("method", method), ("status", status)];
                        metrics::counter!("pairpad_http_requests_total", &labels).increment(1);
                        metrics::histogram!("pairpad_http_request_seconds", &labels)
                            .record(started.elapsed().as_secs_f64());
                        Ok(response)
                    }
                })
                .wrap(tracing_actix_web::TracingLogger::default())
                .configure(routes_config)
        })
        // Every keystroke is a small frame: Nagle's algorithm would hold acks and broadcasts back
        // until the peer's delayed ACK (~40 ms).
        .on_connect(|connection, _| {
            if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .disable_signals()
        .shutdown_timeout(shutdown_timeout)
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        let retention = retention_settings.map(|retention| crate::retention::start(hub.repo().clone(), retention));
        let expiry = expiry.map(|expiry| crate::expiry::start(hub.clone(), expiry));
        let sweeps = retention.into_iter().chain(expiry).collect();
        Ok(Self { server: server.run(), port, hub, sweeps })
    }

    /// The rooms this application serves (for embedders and tests: e.g. an expiry sweep with a
    /// clock of their own, `crate::expiry::sweep`).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the application gracefully from elsewhere (tests).
    pub fn stopper(&self) -> Stopper {
        Stopper { hub: self.hub.clone(), server: self.server.handle(), sweeps: self.sweeps.clone() }
    }

    /// Serves until SIGINT or SIGTERM (or a [`Stopper`]), then shuts down gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        let signals = tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: committing in-flight edits and closing connections");
            stopper.stop().await;
        });
        let result = self.server.await;
        signals.abort();
        result
    }
}

/// Stops an application: the background sweeps stop, rooms commit what they sequenced and close
/// their connections (1001), then the HTTP server stops accepting and finishes in-flight requests.
#[derive(Clone)]
pub struct Stopper {
    hub: Hub,
    server: ServerHandle,
    sweeps: Vec<SweepHandle>,
}

impl Stopper {
    pub async fn stop(&self) {
        for sweep in &self.sweeps {
            sweep.stop();
        }
        if tokio::time::timeout(Duration::from_secs(30), self.hub.shutdown()).await.is_err() {
            tracing::warn!("rooms did not drain within 30 s; stopping anyway");
        }
        self.server.stop(true).await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The `Host` values of the server's own pages: `server.public_hosts`, and the address it
/// listens on when that is a specific one (a wildcard such as 0.0.0.0 is no name of ours).
fn public_hosts(settings: &Settings, port: u16) -> Vec<String> {
    let mut hosts = settings.server.public_hosts.clone();
    let host = settings.server.host.as_str();
    match host.parse::<std::net::IpAddr>() {
        Ok(address) if address.is_unspecified() => {}
        Ok(std::net::IpAddr::V6(address)) => hosts.push(format!("[{address}]:{port}")),
        _ => hosts.push(format!("{host}:{port}")),
    }
    hosts
}

fn build_suggester(settings: &Settings) -> anyhow::Result<Arc<dyn Suggester>> {
    let rules: Arc<dyn Suggester> = Arc::new(RuleSuggester::new());
    let model = &settings.autocomplete.model;
    if !model.enabled {
        return Ok(rules);
    }
    let mut model_settings = ModelSettings::new(&model.endpoint, &model.model);
    model_settings.api = model.api;
    model_settings.api_key_env = Some(model.api_key_env.clone()).filter(|name| !name.is_empty());
    model_settings.timeout = Duration::from_millis(model.timeout_ms);
    model_settings.max_tokens = model.max_tokens;
    let suggester = ModelSuggester::new(model_settings, rules).context("autocomplete.model")?;
    Ok(Arc::new(suggester))
}

fn routes_config(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(routes::health::health))
        .route("/ready", web::get().to(routes::health::ready))
        .route("/metrics", web::get().to(crate::observability::metrics))
        .route("/ws/{room_id}", web::get().to(routes::ws::connect))
        .configure(routes::demo::configure)
        .configure(routes::openapi::configure);
    for prefix in ["/api", ""] {
        cfg.route(&format!("{prefix}/rooms"), web::post().to(routes::rooms::create))
            .route(&format!("{prefix}/rooms/{{room_id}}"), web::get().to(routes::rooms::get))
            .route(&format!("{prefix}/rooms/{{room_id}}"), web::delete().to(routes::rooms::delete))
            .route(
                &format!("{prefix}/rooms/{{room_id}}/revisions/{{revision}}"),
                web::get().to(routes::history::revision_text),
            )
            .route(&format!("{prefix}/rooms/{{room_id}}/operations"), web::get().to(routes::history::operations))
            .route(&format!("{prefix}/rooms/{{room_id}}/history"), web::get().to(routes::history::history))
            .route(&format!("{prefix}/autocomplete"), web::post().to(routes::autocomplete::autocomplete));
    }
    cfg.default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found("no such route")) }));
}
