//! churn: opens many rooms, edits each a little, leaves; then waits for the server to unload them
//! and compares its memory with the baseline from before.
//!
//! Rooms unload after the server's `rooms.idle_unload_secs` (30 s by default; run the server with
//! `PAIRPAD__ROOMS__IDLE_UNLOAD_SECS=1` to keep this short). `/health`'s `roomsLoaded` tells when
//! they are gone.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::{Client, ClientError};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::driver::{Typist, await_ack};
use crate::procfs::{Window, describe};
use crate::rest::Rest;
use crate::stats::round3;

#[derive(Args, Debug)]
pub struct ChurnArgs {
    /// Rooms opened, edited and left.
    #[arg(long, default_value_t = 10_000)]
    rooms: usize,
    /// Keystrokes typed in each room (one operation each, after the previous ack).
    #[arg(long, default_value_t = 5)]
    ops: usize,
    /// Rooms in use at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to wait for the server to unload the rooms afterwards.
    #[arg(long, default_value_t = 90.0)]
    settle_timeout: f64,
    /// Seconds to wait after the unload before reading the server's memory again: an allocator
    /// hands freed memory back to the operating system over seconds (jemalloc's decay is ~10 s).
    #[arg(long, default_value_t = 15.0)]
    rest: f64,
}

pub async fn run(target: &crate::Target, args: ChurnArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("churn", target).await?;
    let loaded_before = rest.health().await?.rooms_loaded;
    let window = Window::start(&target.server_pid);
    let baseline = window.server_rss_kib();
    let started = std::time::Instant::now();
    let gate = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = Vec::with_capacity(args.rooms);
    for i in 0..args.rooms {
        let (rest, gate) = (rest.clone(), gate.clone());
        let ops = args.ops;
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            visit(&rest, i as u64, ops).await
        }));
    }
    let mut failures = Vec::new();
    let mut closing = Vec::with_capacity(args.rooms);
    for task in tasks {
        match task.await.context("a room task panicked")? {
            Ok(close) => closing.push(close),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let churn_time = started.elapsed();
    for close in closing {
        if let Ok(Err(e)) = close.await {
            failures.push(format!("closing: {e}"));
        }
    }
    let peak_during = window.server_rss_kib();

    // Wait for the rooms to unload.
    let waited = std::time::Instant::now();
    let mut loaded = rest.health().await?.rooms_loaded;
    while loaded > loaded_before && waited.elapsed().as_secs_f64() < args.settle_timeout {
        tokio::time::sleep(Duration::from_millis(500)).await;
        loaded = rest.health().await?.rooms_loaded;
    }
    let unload_time = waited.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = window.server_rss_kib();
    tokio::time::sleep(Duration::from_secs_f64(args.rest.max(0.0))).await;
    let at_rest = window.server_rss_kib();
    let measured = window.finish();

    report.line(format!(
        "{} rooms x {} operations in {:.2} s ({:.0} rooms/s), {} failed",
        args.rooms,
        args.ops,
        churn_time.as_secs_f64(),
        args.rooms as f64 / churn_time.as_secs_f64(),
        failures.len()
    ));
    report.line(format!(
        "rooms loaded: {loaded_before} before, {loaded} {:.1} s after the last one was left",
        unload_time.as_secs_f64()
    ));
    report.set("rooms", args.rooms);
    report.set("ops_per_room", args.ops);
    report.set("churn_s", round3(churn_time.as_secs_f64()));
    report.set("rooms_loaded_before", loaded_before);
    report.set("rooms_loaded_after", loaded);
    report.set("unload_wait_s", round3(unload_time.as_secs_f64()));
    if let (Some(baseline), Some(during), Some(after), Some(at_rest)) = (baseline, peak_during, after, at_rest) {
        let growth = at_rest as i64 - baseline as i64;
        report.line(format!(
            "server RSS: baseline {baseline} KiB, {during} KiB right after the churn, {after} KiB once unloaded, \
             {at_rest} KiB {:.0} s later ({growth:+} KiB, {:+.3} KiB per room)",
            args.rest,
            growth as f64 / args.rooms.max(1) as f64
        ));
        report.set("server_rss_baseline_kib", baseline);
        report.set("server_rss_after_churn_kib", during);
        report.set("server_rss_after_unload_kib", after);
        report.set("server_rss_at_rest_kib", at_rest);
        report.set("rest_s", args.rest);
        report.set("server_rss_growth_kib", growth);
        report.set("growth_per_room_kib", round3(growth as f64 / args.rooms.max(1) as f64));
    }
    report.line(describe(&measured));
    report.set("measured", measured);
    report.set("failed", failures.len());
    if let Some(first) = failures.first() {
        report.fail(format!("{} rooms failed; first: {first}", failures.len()));
    }
    if loaded > loaded_before {
        report.line(format!("{} rooms still loaded: is rooms.idle_unload_secs short enough?", loaded - loaded_before));
    }
    Ok(report)
}

/// Creates a room, joins it, types `ops` keystrokes and leaves. The close handshake finishes in
/// the returned task: the server closes the TCP connection only about a second after it (see
/// BENCHMARKS.md), which would otherwise pace the whole scenario.
async fn visit(rest: &Rest, seed: u64, ops: usize) -> anyhow::Result<JoinHandle<Result<(), ClientError>>> {
    let room = rest.create_room("plaintext", "").await?;
    let mut client = Client::connect(&rest.ws_base(), &room, Some("churn")).await.context("cannot connect")?;
    let mut typist = Typist::new(0xc4u64 << 32 | seed);
    for _ in 0..ops {
        typist.type_into(&mut client).await?;
        await_ack(&mut client, Duration::from_secs(30)).await.context("waiting for an ack")?;
    }
    Ok(tokio::spawn(client.close()))
}
