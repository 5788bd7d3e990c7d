//! The REST calls the scenarios need: create a room, read it back, ask the server's health.

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::{Value, json};

/// The server's REST API.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
}

/// A room as `GET /api/rooms/{id}` shows it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomState {
    pub code: String,
    pub revision: u64,
}

/// What `GET /health` says.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub store: String,
    #[serde(default)]
    pub rooms_loaded: u64,
    #[serde(default)]
    pub connections: u64,
}

impl Rest {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--url must start with http:// or https://, got {base}");
        }
        let http = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
        Ok(Self { http, base })
    }

    /// The WebSocket base URL the client crate wants: `ws://host:port`.
    pub fn ws_base(&self) -> String {
        match self.base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", self.base.trim_start_matches("http://")),
        }
    }

    pub async fn health(&self) -> anyhow::Result<Health> {
        let url = format!("{}/health", self.base);
        let response = self.http.get(&url).send().await.with_context(|| format!("GET {url}: is the server up?"))?;
        response.json().await.with_context(|| format!("GET {url}: unexpected answer"))
    }

    /// Creates a room holding `code`; returns its id.
    pub async fn create_room(&self, language: &str, code: &str) -> anyhow::Result<String> {
        let url = format!("{}/api/rooms", self.base);
        let response = self
            .http
            .post(&url)
            .json(&json!({ "language": language, "code": code }))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("POST {url}: body"))?;
        if !status.is_success() {
            bail!("POST {url}: {status}: {body}");
        }
        body["roomId"].as_str().map(str::to_owned).with_context(|| format!("POST {url}: no roomId in {body}"))
    }

    /// Reads a room's current text and revision (this also loads it into the server's memory).
    pub async fn room(&self, id: &str) -> anyhow::Result<RoomState> {
        let url = format!("{}/api/rooms/{id}", self.base);
        let response = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", response.text().await.unwrap_or_default());
        }
        response.json().await.with_context(|| format!("GET {url}: body"))
    }
}
