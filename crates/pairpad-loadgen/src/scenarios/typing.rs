//! typing: R rooms x C clients typing random edits at once, through the client state machine.
//!
//! Closed loop (the default): each client types a keystroke, waits for its ack, types the next;
//! others' operations arriving meanwhile are transformed as usual. With `--rate`, each client
//! types at that rate instead and keystrokes typed while an operation is in flight are composed
//! into the next one. At the end every client's text must equal the server's
//! (`GET /api/rooms/{id}`): CONVERGED, or DIVERGED and a non-zero exit.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::{Client, Event};
use tokio::time::Instant;

use crate::driver::{
    SendTracker, Typist, await_ack, catch_up, close_all, connect_many, first_difference, next_event_until, sample_code,
    settle,
};
use crate::procfs::{Window, describe};
use crate::stats::{Latency, round3};

#[derive(Args, Debug)]
pub struct TypingArgs {
    /// Rooms.
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// Clients per room.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Seconds of measured typing.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of typing before the measured part.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Keystrokes per second per client (open loop, composing). Without it: closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Characters of code each room starts with.
    #[arg(long, default_value_t = 2000)]
    initial_chars: usize,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

/// What one client did in the measured part.
#[derive(Default)]
struct Typed {
    keystrokes: u64,
    acked: u64,
    ack_latency: Latency,
}

pub async fn run(target: &crate::Target, args: TypingArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("typing", target).await?;
    anyhow::ensure!(args.rooms > 0 && args.clients > 0 && args.duration > 0.0, "sizes must be positive");
    let ws = rest.ws_base();
    let code = sample_code(args.initial_chars);
    let mut rooms = Vec::new();
    for _ in 0..args.rooms {
        rooms.push(rest.create_room("rust", &code).await?);
    }
    let targets: Vec<_> =
        (0..args.rooms * args.clients).map(|i| (ws.clone(), rooms[i % rooms.len()].clone())).collect();
    let clients = connect_many(&targets, args.connect_concurrency).await?;
    let mut connected = Vec::with_capacity(clients.len());
    for (i, client) in clients.into_iter().enumerate() {
        connected.push((i % args.rooms, client.with_context(|| format!("client {i} could not connect"))?));
    }
    let mode = match args.rate {
        Some(rate) => format!("open loop at {rate} keystrokes/s per client"),
        None => "closed loop (next keystroke after the ack)".to_owned(),
    };
    report.line(format!(
        "{} rooms x {} clients, {mode}, {:.1} s warm-up + {:.1} s measured",
        args.rooms, args.clients, args.warmup, args.duration
    ));

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let stop_at = measure_from + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    for (i, (room, client)) in connected.into_iter().enumerate() {
        let seed = 0x7e57_0000 + i as u64;
        let task = match args.rate {
            None => tokio::spawn(closed_loop(client, seed, measure_from, stop_at)),
            Some(rate) => tokio::spawn(open_loop(client, seed, rate, measure_from, stop_at)),
        };
        tasks.push((room, task));
    }
    // The window opens with the measured part; the tasks are already warming up.
    tokio::time::sleep_until(measure_from).await;
    let window = Window::start(&target.server_pid);
    let mut total = Typed::default();
    let mut clients = Vec::new();
    let mut failures = Vec::new();
    for (room, task) in tasks {
        match task.await.context("a typing task panicked")? {
            Ok((client, typed)) => {
                total.keystrokes += typed.keystrokes;
                total.acked += typed.acked;
                total.ack_latency.merge(&typed.ack_latency);
                clients.push((room, client));
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let measured = window.finish();

    // Convergence: every client catches up with the server's final revision and compares texts.
    let mut diverged = 0;
    let mut first_divergence = None;
    for (r, room) in rooms.iter().enumerate() {
        let state = rest.room(room).await?;
        for (_, client) in clients.iter_mut().filter(|(i, _)| *i == r) {
            if let Err(e) = catch_up(client, state.revision, Duration::from_secs(30)).await {
                failures.push(format!("a client could not catch up with revision {}: {e}", state.revision));
                continue;
            }
            let text = client.text();
            if text != state.code {
                diverged += 1;
                first_divergence.get_or_insert_with(|| first_difference(&text, &state.code));
            }
        }
    }
    close_all(clients.into_iter().map(|(_, c)| c).collect()).await;

    let acked_per_s = total.acked as f64 / args.duration;
    let keys_per_s = total.keystrokes as f64 / args.duration;
    report.line(format!("acked operations: {} ({acked_per_s:.0}/s)", total.acked));
    report.line(format!("keystrokes: {} ({keys_per_s:.0}/s)", total.keystrokes));
    report.line(format!("ack latency: {}", total.ack_latency.summary()));
    report.line(describe(&measured));
    report.set("rooms", args.rooms);
    report.set("clients_per_room", args.clients);
    report.set("mode", if args.rate.is_some() { "open" } else { "closed" });
    report.set("rate_per_client", args.rate);
    report.set("warmup_s", args.warmup);
    report.set("duration_s", args.duration);
    report.set("acked_ops", total.acked);
    report.set("acked_ops_per_s", round3(acked_per_s));
    report.set("keystrokes", total.keystrokes);
    report.set("keystrokes_per_s", round3(keys_per_s));
    report.set("ack_latency", total.ack_latency.to_json());
    report.set("diverged_clients", diverged);
    report.set("client_errors", failures.len());
    report.set("measured", measured);
    let converged = diverged == 0 && failures.is_empty();
    report.set("converged", converged);
    report.line(if converged { "CONVERGED" } else { "DIVERGED" });
    if let Some(first) = first_divergence {
        report.fail(format!("DIVERGED: {diverged} clients differ from the server; first: {first}"));
    }
    if let Some(first) = failures.first() {
        report.fail(format!("{} clients failed; first: {first}", failures.len()));
    }
    Ok(report)
}

/// Types, waits for the ack, types again, until `stop_at`; then settles.
async fn closed_loop(
    mut client: Client,
    seed: u64,
    measure_from: Instant,
    stop_at: Instant,
) -> anyhow::Result<(Client, Typed)> {
    let mut typist = Typist::new(seed);
    let mut typed = Typed::default();
    loop {
        let sent_at = Instant::now();
        if sent_at >= stop_at {
            break;
        }
        typist.type_into(&mut client).await?;
        await_ack(&mut client, Duration::from_secs(30)).await.context("waiting for an ack")?;
        if sent_at >= measure_from {
            typed.keystrokes += 1;
            typed.acked += 1;
            typed.ack_latency.record(sent_at.elapsed());
        }
    }
    Ok((client, typed))
}

/// Types at a fixed rate whatever the acks do; the client state machine composes keystrokes
/// typed while an operation is in flight.
async fn open_loop(
    mut client: Client,
    seed: u64,
    rate: f64,
    measure_from: Instant,
    stop_at: Instant,
) -> anyhow::Result<(Client, Typed)> {
    let mut typist = Typist::new(seed);
    let mut typed = Typed::default();
    let mut tracker = SendTracker::default();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let start = Instant::now();
    let mut in_flight_since: Option<Instant> = None;
    for k in 0.. {
        let due = start + interval.mul_f64(k as f64);
        if due >= stop_at {
            break;
        }
        while let Some(event) = next_event_until(&mut client, due).await? {
            match event {
                Event::Ack { .. } => {
                    let now = Instant::now();
                    if let Some(sent) = in_flight_since.take()
                        && sent >= measure_from
                    {
                        typed.acked += 1;
                        typed.ack_latency.record(now - sent);
                    }
                    if tracker.sent(&client) {
                        in_flight_since = Some(now);
                    }
                }
                Event::Error { code, message } => anyhow::bail!("the server refused an edit: {code}: {message}"),
                _ => {}
            }
        }
        typist.type_into(&mut client).await?;
        if due >= measure_from {
            typed.keystrokes += 1;
        }
        if tracker.sent(&client) {
            in_flight_since = Some(Instant::now());
        }
    }
    settle(&mut client, Duration::from_secs(60)).await.context("waiting for the last acks")?;
    Ok((client, typed))
}
