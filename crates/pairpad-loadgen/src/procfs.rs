//! Processes' CPU time and memory, read from `/proc`, over a measured window.
//!
//! CPU time comes from `/proc/PID/stat` (user + system), memory from `/proc/PID/status`
//! (`VmRSS`, `VmHWM`). The peak over the window is the larger of two readings: `VmRSS` sampled
//! every 20 ms, and `VmHWM` after resetting it at the window's start by writing `5` to
//! `/proc/PID/clear_refs` (allowed for our own processes or as root; when refused, only the
//! samples count, and the report says so). The whole machine's CPU use over the window comes from
//! `/proc/stat` (every process: a database server too).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stats::round3;

/// Clock ticks per second in `/proc/PID/stat`: `USER_HZ`, which Linux fixes at 100 on every
/// architecture it exposes to user space (reading it via `sysconf` would need `unsafe`).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// Reads one sample of process `pid` (`None` reads this process).
pub fn sample(pid: Option<u32>) -> std::io::Result<Sample> {
    let dir = pid.map_or_else(|| "/proc/self".to_owned(), |pid| format!("/proc/{pid}"));
    let stat = std::fs::read_to_string(format!("{dir}/stat"))?;
    // The command name in parentheses may contain spaces: the fields start after the last ')'.
    // After it come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let cpu_seconds = (ticks(11) + ticks(12)) as f64 / TICKS_PER_SECOND;
    let status = std::fs::read_to_string(format!("{dir}/status"))?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Sample { cpu_seconds, rss_kib: kib("VmRSS:"), hwm_kib: kib("VmHWM:") })
}

/// Reads only the resident set size, for the sampler.
fn rss_kib(pid: u32) -> Option<u64> {
    sample(Some(pid)).ok().map(|s| s.rss_kib)
}

/// One server process watched over a window.
struct Watched {
    pid: u32,
    start: Option<Sample>,
    hwm_reset: bool,
    peak: Arc<AtomicU64>,
}

impl Watched {
    /// The process's figures over a window of `wall` seconds.
    fn finish(&self, wall: f64) -> Value {
        let Some(start) = self.start else {
            return json!({ "pid": self.pid, "error": "cannot read /proc for this pid" });
        };
        match sample(Some(self.pid)) {
            Ok(end) => {
                let cpu = end.cpu_seconds - start.cpu_seconds;
                let sampled_peak = self.peak.load(Ordering::Relaxed).max(end.rss_kib);
                let peak = if self.hwm_reset { sampled_peak.max(end.hwm_kib) } else { sampled_peak };
                json!({
                    "pid": self.pid,
                    "cpu_s": round3(cpu),
                    "cpu_pct": round3(100.0 * cpu / wall.max(1e-9)),
                    "rss_start_kib": start.rss_kib,
                    "rss_end_kib": end.rss_kib,
                    "rss_peak_kib": peak,
                    "peak_from_hwm": self.hwm_reset,
                    "lifetime_hwm_kib": end.hwm_kib,
                })
            }
            Err(e) => json!({ "pid": self.pid, "error": e.to_string() }),
        }
    }
}

/// A measured window over the servers (those whose pid is known), this process and the machine.
pub struct Window {
    servers: Vec<Watched>,
    started: Instant,
    own_start: Sample,
    machine_start: Option<MachineTicks>,
    stop: Arc<AtomicBool>,
}

impl Window {
    /// Starts measuring now. For each pid, a task samples that server's RSS until
    /// [`Window::finish`].
    pub fn start(pids: &[u32]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let servers = pids
            .iter()
            .map(|&pid| {
                let start = sample(Some(pid)).ok();
                let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
                let peak = Arc::new(AtomicU64::new(start.map_or(0, |s| s.rss_kib)));
                let (sampled, stop) = (peak.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_millis(20));
                    while !stop.load(Ordering::Relaxed) {
                        tick.tick().await;
                        if let Some(rss) = rss_kib(pid) {
                            sampled.fetch_max(rss, Ordering::Relaxed);
                        }
                    }
                });
                Watched { pid, start, hwm_reset, peak }
            })
            .collect();
        Self {
            servers,
            started: Instant::now(),
            own_start: sample(None).unwrap_or_default(),
            machine_start: machine_ticks(),
            stop,
        }
    }

    /// The first server's RSS now, if its pid is known.
    pub fn server_rss_kib(&self) -> Option<u64> {
        self.servers.first().and_then(|s| rss_kib(s.pid))
    }

    /// Ends the window: the servers' and this process's CPU time, the servers' memory.
    ///
    /// `server` holds one server's figures; with several pids it holds their sums (CPU, and RSS
    /// at start, end and the sum of each one's peak) and `servers` each one's figures.
    pub fn finish(self) -> Value {
        let wall = self.started.elapsed().as_secs_f64();
        self.stop.store(true, Ordering::Relaxed);
        let own = sample(None).unwrap_or_default();
        let own_cpu = own.cpu_seconds - self.own_start.cpu_seconds;
        let loadgen = json!({
            "cpu_s": round3(own_cpu),
            "cpu_pct": round3(100.0 * own_cpu / wall.max(1e-9)),
            "rss_kib": own.rss_kib,
        });
        let each: Vec<Value> = self.servers.iter().map(|s| s.finish(wall)).collect();
        let mut window = json!({ "window_s": round3(wall), "loadgen": loadgen });
        if let (Some(start), Some(end)) = (self.machine_start, machine_ticks()) {
            window["machine"] = json!({ "cores": cores(), "busy_pct": round3(start.busy_pct_until(end)) });
        }
        window["server"] = match each.as_slice() {
            [] => Value::Null,
            [one] => one.clone(),
            several => total(several),
        };
        if each.len() > 1 {
            window["servers"] = Value::Array(each);
        }
        window
    }
}

/// The sum of several servers' figures; an error if any could not be read.
fn total(servers: &[Value]) -> Value {
    if let Some(error) = servers.iter().find_map(|s| s.get("error")) {
        return json!({ "error": error });
    }
    let sum_f = |key: &str| round3(servers.iter().filter_map(|s| s[key].as_f64()).sum::<f64>());
    let sum_u = |key: &str| servers.iter().filter_map(|s| s[key].as_u64()).sum::<u64>();
    json!({
        "pids": servers.iter().map(|s| s["pid"].clone()).collect::<Vec<_>>(),
        "cpu_s": sum_f("cpu_s"),
        "cpu_pct": sum_f("cpu_pct"),
        "rss_start_kib": sum_u("rss_start_kib"),
        "rss_end_kib": sum_u("rss_end_kib"),
        "rss_peak_kib": sum_u("rss_peak_kib"),
    })
}

/// A readable line for a finished window's JSON.
pub fn describe(window: &Value) -> String {
    let server = &window["server"];
    let loadgen = &window["loadgen"];
    let mut own = format!("loadgen CPU {}% of one core", loadgen["cpu_pct"]);
    if let Some(busy) = window["machine"]["busy_pct"].as_f64() {
        own.push_str(&format!("; machine {busy:.0}% busy ({} cores)", window["machine"]["cores"]));
    }
    if server.is_null() {
        return format!("{own}; server: pass --server-pid for its CPU and memory");
    }
    if let Some(error) = server.get("error") {
        return format!("{own}; server: {error}");
    }
    let each = match window["servers"].as_array() {
        Some(servers) => format!(
            " [{}]",
            servers
                .iter()
                .map(|s| format!("pid {}: {}% CPU, peak {} KiB", s["pid"], s["cpu_pct"], s["rss_peak_kib"]))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        None => String::new(),
    };
    let servers = if each.is_empty() { "server" } else { "servers (sum)" };
    format!(
        "{servers} CPU {} s ({}% of one core), RSS {} -> {} KiB, peak {} KiB{each}; {own}",
        server["cpu_s"], server["cpu_pct"], server["rss_start_kib"], server["rss_end_kib"], server["rss_peak_kib"]
    )
}

/// The machine's CPU time since boot, summed over its cores, in clock ticks (`/proc/stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineTicks {
    busy: u64,
    total: u64,
}

impl MachineTicks {
    /// Parses the first line of `/proc/stat` (`cpu user nice system idle iowait irq softirq
    /// steal ...`): idle and iowait are idle, the rest up to steal busy (guest time is already
    /// counted in user).
    fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let ticks: Vec<u64> = line.split_whitespace().take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        let total: u64 = ticks.iter().sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        Some(Self { busy: total - idle, total })
    }

    /// How busy every core was, on average, from `self` until `end`: 100 is all of them.
    pub fn busy_pct_until(self, end: Self) -> f64 {
        let total = end.total.saturating_sub(self.total);
        if total == 0 { 0.0 } else { 100.0 * end.busy.saturating_sub(self.busy) as f64 / total as f64 }
    }
}

/// The machine's CPU ticks now.
pub fn machine_ticks() -> Option<MachineTicks> {
    MachineTicks::parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The load average over 1, 5 and 15 minutes (`/proc/loadavg`).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{MachineTicks, describe, total};

    #[test]
    fn machine_ticks_count_idle_and_iowait_as_idle() {
        let start = MachineTicks::parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n").expect("a cpu line");
        assert_eq!(start, MachineTicks { busy: 150, total: 1000 });
        let end = MachineTicks::parse("cpu  250 0 100 900 50 0 0 0 0 0\n").expect("a cpu line");
        // 200 busy ticks of 300.
        assert!((start.busy_pct_until(end) - 66.666).abs() < 0.01);
        assert_eq!(MachineTicks::parse("intr 1 2 3"), None);
    }

    #[test]
    fn several_servers_are_summed_and_each_is_kept() {
        let a = json!({ "pid": 1, "cpu_s": 1.5, "cpu_pct": 15.0, "rss_start_kib": 10, "rss_end_kib": 12, "rss_peak_kib": 13 });
        let b = json!({ "pid": 2, "cpu_s": 0.5, "cpu_pct": 5.0, "rss_start_kib": 20, "rss_end_kib": 22, "rss_peak_kib": 23 });
        let sum = total(&[a.clone(), b.clone()]);
        assert_eq!(sum["pids"], json!([1, 2]));
        assert_eq!(sum["cpu_s"], json!(2.0));
        assert_eq!(sum["cpu_pct"], json!(20.0));
        assert_eq!(sum["rss_end_kib"], json!(34));
        assert_eq!(sum["rss_peak_kib"], json!(36));
        let window = json!({ "window_s": 10.0, "loadgen": { "cpu_pct": 30.0 }, "server": sum, "servers": [a, b] });
        let line = describe(&window);
        assert!(line.starts_with("servers (sum) CPU 2.0 s (20.0% of one core)"), "{line}");
        assert!(line.contains("pid 2: 5.0% CPU"), "{line}");
    }

    #[test]
    fn an_unreadable_server_makes_the_sum_an_error() {
        let a = json!({ "pid": 1, "cpu_s": 1.5 });
        let b = json!({ "pid": 2, "error": "gone" });
        assert_eq!(total(&[a, b])["error"], json!("gone"));
    }
}
