//! Latency histograms and the report every scenario prints.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// A latency distribution in microseconds, from 1 µs to 5 minutes at 3 significant digits.
#[derive(Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        // Constant, valid bounds: construction only fails for bounds like `low == 0` or `high < 2 * low`.
        let histogram = Histogram::new_with_bounds(1, 300_000_000, 3).expect("valid histogram bounds");
        Self { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        self.histogram.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latency) {
        // Both histograms share their bounds; adding can only fail on a value out of range,
        // which `saturating_record` already prevented.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    fn ms(&self, quantile: f64) -> f64 {
        round3(self.histogram.value_at_quantile(quantile) as f64 / 1000.0)
    }

    /// The figures as JSON, in milliseconds.
    pub fn to_json(&self) -> Value {
        if self.count() == 0 {
            return json!({ "count": 0 });
        }
        json!({
            "count": self.count(),
            "p50_ms": self.ms(0.50),
            "p99_ms": self.ms(0.99),
            "p999_ms": self.ms(0.999),
            "max_ms": round3(self.histogram.max() as f64 / 1000.0),
            "mean_ms": round3(self.histogram.mean() / 1000.0),
        })
    }

    /// One readable line.
    pub fn summary(&self) -> String {
        if self.count() == 0 {
            return "no samples".to_owned();
        }
        format!(
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms (n = {})",
            self.ms(0.50),
            self.ms(0.99),
            self.ms(0.999),
            self.histogram.max() as f64 / 1000.0,
            self.count()
        )
    }
}

/// Nanoseconds since `epoch`, plus one: a time kept in an `AtomicU64` in which 0 means "not yet".
pub fn stamp(epoch: std::time::Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `cpu_s` seconds of CPU spread over `count` things, in µs each (rounded); `None` for none.
pub fn micros_each(cpu_s: f64, count: u64) -> Option<f64> {
    (count > 0).then(|| round3(cpu_s * 1e6 / count as f64))
}

/// What a scenario found: readable lines, the JSON figures and whether every check held.
pub struct Report {
    scenario: &'static str,
    lines: Vec<String>,
    figures: Map<String, Value>,
    failures: Vec<String>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        let mut figures = Map::new();
        figures.insert("scenario".into(), json!(scenario));
        Self { scenario, lines: Vec::new(), figures, failures: Vec::new() }
    }

    /// Adds a readable line.
    pub fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// Adds a figure to the JSON line.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.figures.insert(key.to_owned(), value.into());
    }

    /// Records a failed check: the run exits non-zero.
    pub fn fail(&mut self, why: impl Into<String>) {
        self.failures.push(why.into());
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Prints the summary and the `RESULT` line; returns the figures (for `--json-out`).
    pub fn print(mut self) -> Value {
        self.figures.insert("passed".into(), json!(self.passed()));
        self.figures.insert("failures".into(), json!(self.failures));
        let mut out = format!("== {} ==\n", self.scenario);
        for line in &self.lines {
            let _ = writeln!(out, "  {line}");
        }
        for failure in &self.failures {
            let _ = writeln!(out, "  FAILED: {failure}");
        }
        let figures = Value::Object(self.figures);
        let _ = writeln!(out, "RESULT {figures}");
        print!("{out}");
        figures
    }
}
