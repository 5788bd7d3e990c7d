//! `floor`: what this machine charges for the steps every acknowledged operation takes at human
//! rates, measured without Pairpad: waking from a sleep, a durable write, a round trip to another
//! thread. Paced like typists (one step every `1 / rate` seconds, asleep in between), because
//! that is what makes each step expensive on a virtual machine: the processor idles between
//! them, and each wake-up is an interrupt and a VM exit. Like PostgreSQL's `pg_test_fsync`, it
//! tells an operator what a disk costs before blaming the server, and BENCHMARKS.md uses it to
//! say which per-operation CPU targets a durable server can meet here at all.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::procfs;
use crate::stats::{Latency, Report, micros_each, round3};

#[derive(Args, Clone, Debug)]
pub struct FloorArgs {
    /// Steps a second, as evenly spaced keystrokes (the human-rate benchmark's 800: 40 typists at 20).
    #[arg(long, default_value_t = 800.0, value_parser = positive_rate)]
    rate: f64,
    /// How many times each step is measured. CPU time is counted in 10 ms ticks, so 3,000 steps
    /// give each step's CPU to about 3 µs.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    count: u64,
    /// A folder on the disk to measure (the store's): a temporary file is written there and removed.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (1.0..=100_000.0).contains(&rate) => Ok(rate),
        _ => Err("a number of steps a second from 1 to 100000".into()),
    }
}

/// What one commit of a lone operation writes to SQLite's log: two frames (the table's page and
/// its primary key's), each a 4 KiB page and a header.
const WRITE_BYTES: usize = 8 * 1024;

/// The temporary file, removed however the measurement ends.
struct Scratch {
    path: PathBuf,
    file: File,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn run(args: &FloorArgs) -> anyhow::Result<Report> {
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let mut report = Report::new("floor");
    report.set("rate_per_s", args.rate);
    report.set("count", args.count);
    crate::scenarios::record_conditions(&mut report);

    // `/proc` counts CPU in ticks of 10 ms: each figure is that tick shared by `count` steps.
    let resolution = round3(10_000.0 / args.count as f64);
    report.line(format!("CPU counted in 10 ms ticks: each figure below is ± {resolution} µs"));
    report.set("cpu_resolution_us", resolution);
    let (wake, _) = paced(args.count, interval, || Ok(()))?;
    report.line(format!("waking from a sleep, {} times a second: {:.1} µs of CPU each", args.rate, wake));
    report.set("wake_cpu_us", wake);

    let path = args.dir.join(format!(".pairpad-floor-{}.tmp", std::process::id()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let scratch = Scratch { path, file };
    // Written and synced once first, so the measured writes overwrite allocated blocks, as
    // SQLite's log does once it has wrapped.
    let page = vec![0x5a_u8; WRITE_BYTES];
    const SLOTS: u64 = 4;
    for slot in 0..SLOTS {
        scratch.file.write_all_at(&page, slot * WRITE_BYTES as u64)?;
    }
    scratch.file.sync_all()?;
    let mut slot = 0;
    let (durable, latency) = paced(args.count, interval, || {
        slot = (slot + 1) % SLOTS;
        scratch.file.write_all_at(&page, slot * WRITE_BYTES as u64)?;
        scratch.file.sync_data()
    })?;
    drop(scratch);
    let durable = round3(durable - wake);
    report.line(format!(
        "a durable {} KiB write (pwrite, fdatasync) in {}: {:.1} µs of CPU beyond the wake-up; {}",
        WRITE_BYTES / 1024,
        args.dir.display(),
        durable,
        latency.summary()
    ));
    report.set("dir", args.dir.display().to_string());
    report.set("durable_write_cpu_us", durable);
    report.set("durable_write_latency", latency.to_json());

    let (to_echo, echo_in) = mpsc::channel::<()>();
    let (echo_out, back) = mpsc::channel::<()>();
    let echo = std::thread::spawn(move || {
        while echo_in.recv().is_ok() {
            if echo_out.send(()).is_err() {
                break;
            }
        }
    });
    let (round_trip, latency) = paced(args.count, interval, || {
        to_echo.send(()).map_err(std::io::Error::other)?;
        back.recv().map_err(std::io::Error::other)
    })?;
    drop(to_echo);
    let _ = echo.join();
    let round_trip = round3(round_trip - wake);
    report.line(format!(
        "a round trip to a sleeping thread (two wake-ups): {round_trip:.1} µs of CPU beyond the wake-up; {}",
        latency.summary()
    ));
    report.set("thread_round_trip_cpu_us", round_trip);
    report.set("thread_round_trip_latency", latency.to_json());
    Ok(report)
}

/// Runs `step` `count` times, one every `interval` (sleeping in between): this process's CPU
/// per step, in µs, sleep included, and the steps' own latency.
fn paced(
    count: u64,
    interval: Duration,
    mut step: impl FnMut() -> std::io::Result<()>,
) -> anyhow::Result<(f64, Latency)> {
    let mut latency = Latency::new();
    let before = procfs::sample(None)?.cpu_seconds;
    let mut next = Instant::now();
    for _ in 0..count {
        let started = Instant::now();
        step()?;
        latency.record(started.elapsed());
        next += interval;
        // Behind schedule (a slow step): carry on at once, as a typist's next key would.
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let cpu_seconds = procfs::sample(None)?.cpu_seconds - before;
    Ok((micros_each(cpu_seconds, count).unwrap_or(0.0), latency))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: super::FloorArgs,
    }

    #[test]
    fn measures_every_step_and_removes_its_file() {
        let dir = std::env::temp_dir().join(format!("loadgen-floor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let path = dir.to_str().expect("a UTF-8 path");
        let command = Command::try_parse_from(["floor", "--count", "100", "--rate", "20000", "--dir", path]);
        let report = super::run(&command.expect("valid arguments").args).expect("measured");
        assert!(report.passed());
        let figures = report.print();
        assert_eq!(figures["durable_write_latency"]["count"], 100);
        assert_eq!(figures["thread_round_trip_latency"]["count"], 100);
        assert!(figures["wake_cpu_us"].as_f64().is_some());
        assert_eq!(figures["cpu_resolution_us"], 100.0);
        let left: Vec<_> = std::fs::read_dir(&dir).expect("readable").collect();
        assert!(left.is_empty(), "the scratch file is removed: {left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_rates_and_counts_out_of_range() {
        for bad in [["--rate", "0"], ["--rate", "NaN"], ["--count", "5"], ["--rate", "1e9"]] {
            assert!(Command::try_parse_from(["floor", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
