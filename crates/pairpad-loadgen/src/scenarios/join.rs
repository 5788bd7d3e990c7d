//! join: many clients join a room holding a large document at once; time until all have `init`.
//!
//! The room is loaded (by a `GET`) before the clients arrive unless `--cold`, in which case the
//! first join also pays for reading it from the store. Every client checks that its `init`
//! carries the whole document.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::Client;
use tokio::sync::Barrier;

use crate::driver::{close_all, sample_code};
use crate::procfs::{Window, describe};
use crate::stats::{Latency, round3};

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// Clients joining at once.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Size of the room's document, in bytes (ASCII, so also characters).
    #[arg(long, default_value_t = 1 << 20)]
    doc_bytes: usize,
    /// Don't load the room before the clients join.
    #[arg(long)]
    cold: bool,
}

pub async fn run(target: &crate::Target, args: JoinArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("join", target).await?;
    anyhow::ensure!(args.clients > 0, "--clients must be positive");
    let code = sample_code(args.doc_bytes);
    let chars = code.chars().count();
    let room = rest.create_room("rust", &code).await?;
    if !args.cold {
        rest.room(&room).await?;
    }
    let ws = rest.ws_base();
    // Every task is spawned and waits at the barrier, so the connections really start together.
    let barrier = std::sync::Arc::new(Barrier::new(args.clients + 1));
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let (ws, room, barrier) = (ws.clone(), room.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let started = std::time::Instant::now();
            let client = Client::connect(&ws, &room, Some(&format!("joiner-{i}"))).await;
            (started.elapsed(), client)
        }));
    }
    let window = Window::start(&target.server_pid);
    let started = std::time::Instant::now();
    barrier.wait().await;
    let mut latency = Latency::new();
    let mut clients = Vec::new();
    let mut failures = Vec::new();
    let mut short = 0;
    let mut last = Duration::ZERO;
    for task in tasks {
        let (took, client) = task.await.context("a joining task panicked")?;
        match client {
            Ok(client) => {
                latency.record(took);
                last = last.max(started.elapsed());
                if client.doc().len_chars() != chars {
                    short += 1;
                }
                clients.push(client);
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let measured = window.finish();
    close_all(clients).await;

    report.line(format!(
        "{} clients joining a room of {} bytes ({}): all had init after {:.3} s",
        args.clients,
        code.len(),
        if args.cold { "cold" } else { "loaded" },
        last.as_secs_f64()
    ));
    report.line(format!("per-client join (connect -> init): {}", latency.summary()));
    report.line(describe(&measured));
    report.set("clients", args.clients);
    report.set("doc_bytes", code.len());
    report.set("cold", args.cold);
    report.set("all_init_s", round3(last.as_secs_f64()));
    report.set("join_latency", latency.to_json());
    report.set("failed", failures.len());
    report.set("incomplete_documents", short);
    report.set("measured", measured);
    if let Some(first) = failures.first() {
        report.fail(format!("{} joins failed; first: {first}", failures.len()));
    }
    if short > 0 {
        report.fail(format!("{short} clients got an incomplete document"));
    }
    Ok(report)
}
