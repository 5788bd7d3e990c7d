//! idle: N connections across M rooms that say nothing; the server's memory per connection.
//!
//! The rooms are created and loaded (a `GET` loads a room) before the baseline is read, so the
//! figure is what connections cost, not rooms. Each client keeps reading in a task of its own,
//! which answers the server's pings, so the server does not drop it as silent.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::Client;
use tokio::sync::watch;

use crate::driver::{close_all, connect_many};
use crate::procfs::{Window, describe, open_files_limit};
use crate::stats::round3;

#[derive(Args, Debug)]
pub struct IdleArgs {
    /// Connections.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Rooms they spread over.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Seconds to hold them idle before reading the server's memory.
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// Connections opened at once.
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
}

pub async fn run(target: &crate::Target, args: IdleArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("idle", target).await?;
    anyhow::ensure!(args.connections > 0 && args.rooms > 0, "sizes must be positive");
    if let Some(limit) = open_files_limit()
        && (limit as usize) < args.connections + 64
    {
        anyhow::bail!(
            "{} connections need more open files than this process may have ({limit}): raise `ulimit -n`",
            args.connections
        );
    }
    if target.server_pid.is_empty() {
        report.line("no --server-pid: memory per connection cannot be measured");
    }
    let mut rooms = Vec::new();
    for _ in 0..args.rooms {
        let id = rest.create_room("plaintext", "").await?;
        rest.room(&id).await?;
        rooms.push(id);
    }
    let ws = rest.ws_base();
    let targets: Vec<_> = (0..args.connections).map(|i| (ws.clone(), rooms[i % rooms.len()].clone())).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let window = Window::start(&target.server_pid);
    let before = window.server_rss_kib();
    let started = std::time::Instant::now();
    let results = connect_many(&targets, args.connect_concurrency).await?;
    let connect_time = started.elapsed();
    let mut clients = Vec::with_capacity(results.len());
    let mut refused = Vec::new();
    for result in results {
        match result {
            Ok(client) => clients.push(client),
            Err(e) => refused.push(e.to_string()),
        }
    }
    let connected = clients.len();
    let (stop, stopped) = watch::channel(false);
    let readers: Vec<_> = clients.into_iter().map(|c| tokio::spawn(keep_reading(c, stopped.clone()))).collect();
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let health = rest.health().await?;
    let after = window.server_rss_kib();
    let measured = window.finish();
    let _ = stop.send(true);
    let mut clients = Vec::with_capacity(readers.len());
    let mut dropped = 0;
    for reader in readers {
        match reader.await.context("a reading task panicked")? {
            Some(client) => clients.push(client),
            None => dropped += 1,
        }
    }
    close_all(clients).await;

    report.line(format!(
        "{connected} of {} connections across {} rooms in {:.2} s; {} still open after {:.0} s idle (server counts {})",
        args.connections,
        args.rooms,
        connect_time.as_secs_f64(),
        connected - dropped,
        args.hold,
        health.connections
    ));
    report.set("connections", args.connections);
    report.set("connected", connected);
    report.set("rooms", args.rooms);
    report.set("hold_s", args.hold);
    report.set("connect_s", round3(connect_time.as_secs_f64()));
    report.set("dropped_while_idle", dropped);
    report.set("server_connections", health.connections);
    if let (Some(before), Some(after)) = (before, after) {
        let per_connection = after.saturating_sub(before) as f64 / connected.max(1) as f64;
        report.line(format!("server RSS {before} KiB -> {after} KiB: {per_connection:.2} KiB per connection"));
        report.set("server_rss_before_kib", before);
        report.set("server_rss_after_kib", after);
        report.set("kib_per_connection", round3(per_connection));
    }
    report.line(describe(&measured));
    report.set("measured", measured);
    if !refused.is_empty() {
        report.fail(format!("{} connections refused; first: {}", refused.len(), refused[0]));
    }
    if dropped > 0 {
        report.fail(format!("{dropped} idle connections were dropped"));
    }
    Ok(report)
}

/// Reads (and so answers pings) until told to stop; `None` if the connection failed.
async fn keep_reading(mut client: Client, mut stop: watch::Receiver<bool>) -> Option<Client> {
    loop {
        tokio::select! {
            // Cutting `next_event` short is safe here: an idle client never sends operations.
            event = client.next_event() => {
                if event.is_err() {
                    return None;
                }
            }
            _ = stop.changed() => return Some(client),
        }
    }
}
