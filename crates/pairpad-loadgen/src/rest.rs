//! The REST calls the scenarios need: create a room, read it back, ask the server's health, read
//! a counter on `/metrics`.

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

    /// The sum of every series of the counter or gauge `name` on `GET /metrics` (Prometheus
    /// text format). `None` when the server does not expose it, or `/metrics` cannot be read:
    /// the figure is then not available, which is not an error.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let url = format!("{}/metrics", self.base);
        let response = self.http.get(&url).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        metric_sum(&response.text().await.ok()?, name)
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

impl Rest {
    /// The room's text at `revision` (`GET /api/rooms/{id}/revisions/{n}`).
    pub async fn text_at(&self, id: &str, revision: u64) -> anyhow::Result<String> {
        let body = self.get_json(&format!("/api/rooms/{id}/revisions/{revision}")).await?;
        body["code"].as_str().map(str::to_owned).with_context(|| format!("no code in {body}"))
    }

    /// The revisions of the room's timeslider points (`GET /api/rooms/{id}/history?buckets=B`).
    pub async fn history_points(&self, id: &str, buckets: usize) -> anyhow::Result<Vec<u64>> {
        let body = self.get_json(&format!("/api/rooms/{id}/history?buckets={buckets}")).await?;
        let points = body["points"].as_array().with_context(|| format!("no points in {body}"))?;
        Ok(points.iter().filter_map(|point| point["revision"].as_u64()).collect())
    }

    async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| format!("GET {url}: body"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        Ok(body)
    }
}

/// The sum of the samples of metric `name` in a Prometheus text exposition (every label set:
/// `name 3` and `name{a="b"} 4` give 7); `None` when no sample has that name.
pub fn metric_sum(exposition: &str, name: &str) -> Option<f64> {
    let mut sum = None;
    for line in exposition.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        // The name must end here: `name_bucket` or `name2` is another metric.
        let value = if let Some(labelled) = rest.strip_prefix('{') {
            // Label values are quoted and may hold `}`: the value follows the last one.
            labelled.rsplit_once('}').map(|(_, value)| value)
        } else if rest.starts_with(char::is_whitespace) {
            Some(rest)
        } else {
            None
        };
        // A sample is `value [timestamp]`.
        if let Some(value) = value.and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<f64>().ok()) {
            *sum.get_or_insert(0.0) += value;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::metric_sum;

    const EXPOSITION: &str = "# HELP pairpad_commit_conflicts_total Commits refused.\n\
        # TYPE pairpad_commit_conflicts_total counter\n\
        pairpad_commit_conflicts_total 12\n\
        pairpad_commit_conflicts_total_other 100\n\
        pairpad_commit_seconds_bucket{le=\"0.005\"} 3\n\
        pairpad_http_requests_total{method=\"GET\",path=\"/a}b\"} 4 1700000000000\n\
        pairpad_http_requests_total{method=\"POST\"} 5\n";

    #[test]
    fn sums_every_series_of_the_named_metric_only() {
        assert_eq!(metric_sum(EXPOSITION, "pairpad_commit_conflicts_total"), Some(12.0));
        assert_eq!(metric_sum(EXPOSITION, "pairpad_http_requests_total"), Some(9.0));
        assert_eq!(metric_sum(EXPOSITION, "pairpad_commit_seconds_bucket"), Some(3.0));
    }

    #[test]
    fn an_absent_metric_is_none_not_zero() {
        assert_eq!(metric_sum(EXPOSITION, "pairpad_commit_conflicts"), None);
        assert_eq!(metric_sum(EXPOSITION, "pairpad_rooms_in_memory"), None);
        assert_eq!(metric_sum("", "pairpad_commit_conflicts_total"), None);
        // Comments do not count, even when they name the metric.
        assert_eq!(metric_sum("# TYPE x counter\n", "x"), None);
    }
}
