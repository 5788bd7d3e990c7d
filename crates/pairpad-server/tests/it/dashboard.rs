//! The Grafana dashboard and the Prometheus alerting rules in `docker/` name only metrics the
//! server exports.
//!
//! Every PromQL expression of the dashboard (panel targets and variable queries) and of
//! `docker/prometheus/alerts.yml` is scanned for `pairpad_` metric names; a server over the memory
//! store is then given some traffic (rooms, two editors typing, a cursor, REST reads, a 404, an
//! autocompletion, a deletion by the owner) and each name must be on its `GET /metrics`: a
//! histogram's `_bucket`, `_sum` or `_count` series only of a metric exported as a histogram,
//! any other name only of a metric exported as a counter or gauge. Counters of rare events (slow
//! clients, store errors, ...) are shown at 0 from start-up (`observability`), so they are found
//! too. The compose files are checked to fit together (mounts, rule file, data source uid),
//! since no Docker engine runs the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PATIENCE, Store, TestApp, spawn_app};

/// The repository's `docker/` folder.
fn docker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker")
}

fn read(path: &str) -> String {
    let path = docker_dir().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dashboard's JSON model.
fn dashboard() -> Value {
    serde_json::from_str(&read("grafana/dashboards/pairpad.json")).expect("the dashboard is JSON")
}

/// Every panel of the dashboard, those inside collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

/// The PromQL of every panel target and of every query variable.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut exprs: Vec<String> = panels(dashboard)
        .into_iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().expect("every target has an expr").to_owned())
        .collect();
    for variable in dashboard["templating"]["list"].as_array().into_iter().flatten() {
        if variable["type"] == "query" {
            let query = &variable["query"];
            exprs.push(query["query"].as_str().or(query.as_str()).expect("a variable's query").to_owned());
        }
    }
    exprs
}

/// The `expr:` of every rule in alerts.yml, by a line scan: a block scalar (`expr: >-` or
/// `expr: |`) is the more indented lines after it, joined.
fn alert_exprs(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((indent, value)) = line.split_once("expr:") else { continue };
        if !indent.trim().is_empty() && indent.trim() != "-" {
            continue;
        }
        let value = value.trim();
        if !value.starts_with(['>', '|']) {
            exprs.push(value.to_owned());
            continue;
        }
        let mut block = Vec::new();
        while let Some(next) = lines.next_if(|next| next.trim().is_empty() || indentation(next) > indent.len()) {
            block.push(next.trim());
        }
        exprs.push(block.join(" ").trim().to_owned());
    }
    exprs
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The `pairpad_` series an expression names (identifiers `pairpad_[a-z0-9_]+`).
fn series_named(expr: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    for (at, _) in expr.match_indices("pairpad_") {
        if expr[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        let rest = &expr[at..];
        let end =
            rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(rest.len());
        names.insert(rest[..end].to_owned());
    }
    names
}

/// A histogram's series name without its suffix, and whether it had one.
fn strip_histogram_suffix(series: &str) -> (&str, bool) {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .map_or((series, false), |base| (base, true))
}

/// What `/metrics` exports: each metric's `# TYPE`, and the names of the series that have samples.
struct Exported {
    types: BTreeMap<String, String>,
    series: BTreeSet<String>,
}

impl Exported {
    fn parse(page: &str) -> Self {
        let mut types = BTreeMap::new();
        let mut series = BTreeSet::new();
        for line in page.lines() {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let mut words = declared.split_whitespace();
                if let (Some(name), Some(kind)) = (words.next(), words.next()) {
                    types.insert(name.to_owned(), kind.to_owned());
                }
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                series.insert(line[..end].to_owned());
            }
        }
        Self { types, series }
    }

    /// Why `series`, as an expression names it, is not exported, if it is not.
    fn missing(&self, series: &str) -> Option<String> {
        if !self.series.contains(series) {
            return Some(format!("{series}: no such series on /metrics"));
        }
        let (base, suffixed) = strip_histogram_suffix(series);
        let kind = self.types.get(base).map(String::as_str);
        match (suffixed, kind) {
            (true, Some("histogram")) | (false, Some("counter" | "gauge")) => None,
            _ => Some(format!("{series}: named as it is, {base} should not be a {kind:?}")),
        }
    }
}

/// Some of everything the dashboard shows: rooms, two editors typing, a cursor, REST reads, a 404,
/// an autocompletion, a room deleted by its owner.
async fn traffic(app: &TestApp) {
    let (status, created) = app.post("/api/rooms", &json!({"language": "python", "code": "print(1)\n"})).await;
    assert_eq!(status, 201, "{created}");
    let room = created["roomId"].as_str().expect("roomId").to_owned();
    let owner_token = created["ownerToken"].as_str().expect("ownerToken").to_owned();

    let mut alice = app.connect(&room, "Alice").await;
    let mut bob = app.connect(&room, "Bob").await;
    for (i, key) in "def f():".chars().enumerate() {
        alice.splice(i, 0, &key.to_string()).await.unwrap();
        alice.sync(PATIENCE).await.unwrap();
    }
    bob.splice(0, 0, "# ").await.unwrap();
    bob.sync(PATIENCE).await.unwrap();
    let revision = alice.doc().revision();
    alice
        .send_json(&json!({"type": "cursor", "revision": revision, "selection": {"anchor": 1, "head": 3}}))
        .await
        .unwrap();
    alice.drain(Duration::from_millis(300)).await.unwrap();
    bob.drain(Duration::from_millis(300)).await.unwrap();
    assert_eq!(alice.text(), bob.text(), "the editors converge");
    assert_eq!(app.room_code(&room).await, alice.text());

    let missing = "/api/rooms/00000000-0000-4000-8000-000000000000";
    assert_eq!(app.get(missing).await.0, 404);
    assert_eq!(app.get(&format!("/api/rooms/{room}/history")).await.0, 200);
    let completion = json!({"code": "def f():\n    ret", "cursorPosition": 16, "language": "python"});
    assert_eq!(app.post("/api/autocomplete", &completion).await.0, 200);

    alice.close().await.unwrap();
    bob.close().await.unwrap();
    let url = app.url(&format!("/api/rooms/{room}"));
    let deleted = app.http.delete(url).bearer_auth(&owner_token).send().await.expect("DELETE");
    assert_eq!(deleted.status().as_u16(), 204);
}

async fn metrics_page(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("the metrics")
}

/// Every metric the dashboard and the alerts name is on `/metrics` once the server has had some
/// traffic, as the kind of metric the expression takes it for.
#[actix_web::test]
async fn every_metric_named_is_exported() {
    let dashboard = dashboard();
    let mut named: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let alerts = read("prometheus/alerts.yml");
    let sources = [("the dashboard", dashboard_exprs(&dashboard)), ("alerts.yml", alert_exprs(&alerts))];
    for (source, exprs) in &sources {
        assert!(!exprs.is_empty(), "{source} has expressions");
        for expr in exprs {
            assert!(!expr.trim().is_empty(), "{source}: an empty expression");
            for series in series_named(expr) {
                named.entry(series).or_default().insert(source);
            }
        }
    }
    // The brief of the dashboard: each of these is shown.
    for wanted in [
        "pairpad_websocket_connections",
        "pairpad_rooms_loaded",
        "pairpad_operations_committed_total",
        "pairpad_ack_seconds_bucket",
        "pairpad_ack_seconds_count",
        "pairpad_commit_seconds_bucket",
        "pairpad_commit_batch_ops_bucket",
        "pairpad_slow_client_disconnects_total",
        "pairpad_flooding_disconnects_total",
        "pairpad_store_errors_total",
        "pairpad_commit_conflicts_total",
        "pairpad_http_requests_total",
        "pairpad_http_request_seconds_bucket",
        "pairpad_rooms_deleted_total",
        "pairpad_history_operations_forgotten_total",
    ] {
        assert!(named.get(wanted).is_some_and(|s| s.contains("the dashboard")), "the dashboard shows {wanted}");
    }

    let Some(app) = spawn_app(Store::Memory).await else { return };
    traffic(&app).await;
    let exported = Exported::parse(&metrics_page(&app).await);
    let missing: Vec<String> = named
        .iter()
        .filter_map(|(series, sources)| Some(format!("{} (in {sources:?})", exported.missing(series)?)))
        .collect();
    assert!(missing.is_empty(), "named but not exported:\n{}", missing.join("\n"));
    app.stop().await;
}

/// The dashboard is a Grafana JSON model with a title, a data source variable, and panels that
/// each have a title, a place on the grid, the variable's data source and at least one query.
#[test]
fn the_dashboard_is_well_formed() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "pairpad");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 30), "a current schema");
    let variables = dashboard["templating"]["list"].as_array().expect("templating variables");
    let source = variables.iter().find(|v| v["type"] == "datasource").expect("a data source variable");
    assert_eq!(source["query"], "prometheus");
    let source_ref = format!("${{{}}}", source["name"].as_str().expect("its name"));

    let panels = panels(&dashboard);
    assert!(panels.iter().filter(|p| !is_row(p)).count() >= 10, "panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "every panel has a title: {panel}");
        assert!(ids.insert(panel["id"].as_u64().expect("a panel id")), "{title}: ids are unique");
        let grid = &panel["gridPos"];
        let (x, w, h) = (grid["x"].as_u64(), grid["w"].as_u64(), grid["h"].as_u64());
        assert!(matches!((x, w, h), (Some(x), Some(w), Some(h)) if x + w <= 24 && w > 0 && h > 0), "{title}: {grid}");
        assert!(grid["y"].as_u64().is_some(), "{title}: {grid}");
        if is_row(panel) {
            continue;
        }
        assert!(["timeseries", "stat"].contains(&panel["type"].as_str().unwrap_or_default()), "{title}");
        assert_eq!(panel["datasource"]["uid"], source_ref.as_str(), "{title}");
        let targets = panel["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "{title}: at least one query");
        let mut ref_ids = BTreeSet::new();
        for target in targets {
            assert!(target["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{title}: {target}");
            assert!(ref_ids.insert(target["refId"].as_str().expect("a refId")), "{title}: refIds are unique");
            assert_eq!(target["datasource"]["uid"], source_ref.as_str(), "{title}");
        }
    }
}

/// Every alerting rule has an expression, a `for:`, a severity, a summary and a description.
#[test]
fn every_alert_is_complete() {
    let alerts = read("prometheus/alerts.yml");
    let rules: Vec<&str> = alerts.split("- alert: ").skip(1).collect();
    assert!(rules.len() >= 5, "rules: {}", rules.len());
    assert_eq!(alert_exprs(&alerts).len(), rules.len(), "one expression per rule");
    for rule in rules {
        let name = rule.lines().next().unwrap_or_default();
        for key in ["expr:", "for:", "severity:", "summary:", "description:"] {
            assert!(rule.lines().any(|line| line.trim_start().starts_with(key)), "{name} has {key}");
        }
        let severity = rule.lines().find_map(|line| line.trim().strip_prefix("severity:")).unwrap_or_default();
        assert!(["critical", "warning"].contains(&severity.trim()), "{name}: severity {severity}");
    }
}

/// What compose mounts exists, Prometheus loads the rules where they are mounted, and Grafana's
/// provisioned data source and dashboard folder are the ones the dashboard and compose use.
#[test]
fn the_monitoring_files_fit_together() {
    let compose = read("compose.yml");
    for line in compose.lines() {
        let Some(mount) = line.trim().strip_prefix("- ./") else { continue };
        let source = mount.split(':').next().unwrap_or_default();
        assert!(docker_dir().join(source).exists(), "compose mounts ./{source}, which does not exist");
    }
    assert!(compose.contains("./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"));
    assert!(read("prometheus/prometheus.yml").lines().any(|l| l.trim() == "- /etc/prometheus/alerts.yml"));
    assert!(compose.contains("./grafana/dashboards:/etc/grafana/dashboards:ro"));
    assert!(read("grafana/provisioning/dashboards/pairpad.yml").contains("path: /etc/grafana/dashboards\n"));
    let datasource = read("grafana/provisioning/datasources/prometheus.yml");
    let uid = datasource.lines().find_map(|l| l.trim().strip_prefix("uid:")).expect("a data source uid").trim();
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().expect("templating variables");
    let source = variables.iter().find(|v| v["type"] == "datasource").expect("a data source variable");
    assert_eq!(source["current"]["value"], uid, "the dashboard defaults to the provisioned data source");
    // Started only with --profile monitoring.
    for service in ["prometheus:", "grafana:"] {
        let block = compose.split(&format!("\n  {service}\n")).nth(1).expect("the service");
        let block = block.split("\n\n").next().unwrap_or_default();
        assert!(block.contains("profiles: [\"monitoring\"]"), "{service} is in the monitoring profile");
    }
}
