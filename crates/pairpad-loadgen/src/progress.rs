//! Progress on long runs: one line a second on stderr while it is a terminal, nothing otherwise
//! (so scripts and CI logs stay as they were).
//!
//! Scenarios count what they do in [`COUNTERS`] (relaxed atomics; hot loops add in batches, not
//! per message) and name their phase with [`phase`]; the ticker prints the rates, the phase and
//! the CPU of the load generator and of the server.

use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::procfs::sample;

/// What the scenarios did so far.
pub struct Counters {
    /// Operations sent.
    pub ops: AtomicU64,
    /// Acknowledgements received.
    pub acks: AtomicU64,
    /// Other clients' operations received.
    pub deliveries: AtomicU64,
}

pub static COUNTERS: Counters =
    Counters { ops: AtomicU64::new(0), acks: AtomicU64::new(0), deliveries: AtomicU64::new(0) };

static PHASE: Mutex<&str> = Mutex::new("starting");

/// Names what the scenario is doing now ("connecting", "warm-up", "measuring", ...).
pub fn phase(name: &'static str) {
    if let Ok(mut phase) = PHASE.lock() {
        *phase = name;
    }
}

/// Adds `n` to `counter` (relaxed: the ticker only needs a recent value).
pub fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Starts the ticker when stderr is a terminal; it runs until the runtime stops.
pub fn start(server_pid: Option<u32>) {
    if std::io::stderr().is_terminal() {
        tokio::spawn(tick(server_pid));
    }
}

/// What one line compares with the previous one.
#[derive(Clone, Copy, Default)]
struct Reading {
    ops: u64,
    acks: u64,
    deliveries: u64,
    own_cpu: f64,
    server_cpu: Option<f64>,
}

impl Reading {
    fn now(server_pid: Option<u32>) -> Self {
        Self {
            ops: COUNTERS.ops.load(Ordering::Relaxed),
            acks: COUNTERS.acks.load(Ordering::Relaxed),
            deliveries: COUNTERS.deliveries.load(Ordering::Relaxed),
            own_cpu: sample(None).map_or(0.0, |s| s.cpu_seconds),
            server_cpu: server_pid.and_then(|pid| sample(Some(pid)).ok()).map(|s| s.cpu_seconds),
        }
    }
}

async fn tick(server_pid: Option<u32>) {
    let started = Instant::now();
    let mut last = Reading::now(server_pid);
    let mut last_at = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.tick().await;
    loop {
        interval.tick().await;
        let now = Reading::now(server_pid);
        let seconds = last_at.elapsed().as_secs_f64().max(1e-3);
        let phase = PHASE.lock().map_or("?", |p| *p);
        let line = line(started.elapsed(), phase, &last, &now, seconds);
        let _ = writeln!(std::io::stderr().lock(), "{line}");
        (last, last_at) = (now, Instant::now());
    }
}

/// One progress line: elapsed time, phase, the rates that moved, CPU.
fn line(elapsed: Duration, phase: &str, before: &Reading, now: &Reading, seconds: f64) -> String {
    let mut line = format!("[{:>5.0} s] {phase:<10}", elapsed.as_secs_f64());
    let rate = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / seconds;
    for (name, before, now) in [
        ("ops", before.ops, now.ops),
        ("acks", before.acks, now.acks),
        ("deliveries", before.deliveries, now.deliveries),
    ] {
        if now > 0 {
            line.push_str(&format!("  {name} {:.0}/s", rate(before, now)));
        }
    }
    if let (Some(a), Some(b)) = (before.server_cpu, now.server_cpu) {
        line.push_str(&format!("  server CPU {:.0}%", 100.0 * (b - a) / seconds));
    }
    line.push_str(&format!("  loadgen CPU {:.0}%", 100.0 * (now.own_cpu - before.own_cpu) / seconds));
    line
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Reading, line};

    #[test]
    fn a_line_shows_the_rates_that_moved_and_the_cpu() {
        let before = Reading { ops: 100, acks: 90, deliveries: 0, own_cpu: 1.0, server_cpu: Some(2.0) };
        let now = Reading { ops: 1300, acks: 1290, deliveries: 0, own_cpu: 1.5, server_cpu: Some(3.2) };
        let text = line(Duration::from_secs(12), "measuring", &before, &now, 1.0);
        assert_eq!(text, "[   12 s] measuring   ops 1200/s  acks 1200/s  server CPU 120%  loadgen CPU 50%");
        // Nothing counted (a scenario without counters) and no server pid: time, phase and CPU.
        let idle = line(Duration::from_secs(3), "idle", &Reading::default(), &Reading::default(), 1.0);
        assert_eq!(idle, "[    3 s] idle        loadgen CPU 0%");
    }
}
