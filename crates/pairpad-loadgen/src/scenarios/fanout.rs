//! fanout: per room, one writer typing at a fixed rate and K readers.
//!
//! The writer is the room's only author, so its n-th operation on the wire becomes revision
//! `base + n`. It stores the instant each operation left in a table shared with the readers (one
//! process, one clock); a reader receiving revision `r` looks up its send time. Latency is
//! send → receipt by the reader (including the server's durable commit), and send → ack for the
//! writer. Every reader must see every revision: anything short of that is a lost message.
//!
//! Several `--url`s (processes sharing one database): the rooms are created on the first, the
//! writers connect to the first, and each room's readers go round-robin over all of them (so
//! 100 readers over 2 processes are 50 on each); delivery latency is also reported per process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::{Client, Event};
use tokio::time::Instant;

use crate::driver::{SendTracker, Typist, close_all, connect_many, first_difference, next_event_until, settle};
use crate::procfs::{Window, describe};
use crate::stats::{Latency, round3, stamp};

#[derive(Args, Debug)]
pub struct FanoutArgs {
    /// Rooms, each with its own writer and readers.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Readers per room (round-robin over the servers when several `--url`s are given).
    #[arg(long, default_value_t = 100)]
    readers: usize,
    /// Operations per second each writer types.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of measured typing.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of typing before the measured part (checked for losses, not timed).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

/// What one room's writer and readers share.
struct Shared {
    epoch: std::time::Instant,
    /// When the writer's n-th operation (index n - 1) left, in ns since `epoch` plus one; 0 = not yet.
    sent_at: Vec<AtomicU64>,
    /// The writer's last revision once it is done; `u64::MAX` before.
    final_revision: AtomicU64,
    base: u64,
    /// Operations up to this index belong to the warm-up and are not timed.
    warmup_ops: u64,
}

impl Shared {
    fn now(&self) -> u64 {
        stamp(self.epoch)
    }

    fn sent_at(&self, revision: u64) -> Option<u64> {
        let index = revision.checked_sub(self.base + 1)?;
        let at = self.sent_at.get(usize::try_from(index).ok()?)?.load(Ordering::Acquire);
        (at != 0).then_some(at)
    }

    fn timed(&self, revision: u64) -> bool {
        revision > self.base + self.warmup_ops
    }
}

struct WriterOutcome {
    keystrokes: u64,
    sent: u64,
    acked: u64,
    ack_latency: Latency,
    text: String,
    behind_schedule_max: Duration,
    client: Option<Client>,
}

struct ReaderOutcome {
    received: u64,
    latency: Latency,
    /// Receipts seen before the writer had stored the send time (resolved afterwards).
    late: Vec<(u64, u64)>,
    error: Option<String>,
    text: String,
    client: Client,
}

pub async fn run(target: &crate::Target, args: FanoutArgs) -> anyhow::Result<crate::stats::Report> {
    let (rests, mut report) = super::begin_spread("fanout", target).await?;
    anyhow::ensure!(args.rate > 0.0 && args.duration > 0.0, "--rate and --duration must be positive");
    let rest = &rests[0];
    let ws: Vec<String> = rests.iter().map(|r| r.ws_base()).collect();
    let warmup_ops = (args.rate * args.warmup).round() as u64;
    let keystrokes = warmup_ops + (args.rate * args.duration).round() as u64;

    let mut rooms = Vec::new();
    for _ in 0..args.rooms {
        rooms.push(rest.create_room("plaintext", "").await?);
    }
    // Reader i reads room i % rooms and is that room's (i / rooms)-th reader: round-robin over the servers.
    let server_of = |i: usize| (i / args.rooms.max(1)) % ws.len();
    let targets: Vec<_> =
        (0..args.rooms * args.readers).map(|i| (ws[server_of(i)].clone(), rooms[i % rooms.len()].clone())).collect();
    let readers = connect_many(&targets, args.connect_concurrency).await?;
    let refused = readers.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = readers.iter().find(|r| r.is_err()) {
        anyhow::bail!("{refused} of {} readers could not connect, e.g.: {e}", readers.len());
    }
    let mut writers = Vec::new();
    for room in &rooms {
        writers.push(Client::connect(&ws[0], room, Some("writer")).await.context("the writer could not connect")?);
    }
    report.line(format!(
        "{} room(s) x (1 writer at {} ops/s + {} readers), {:.1} s warm-up + {:.1} s measured",
        args.rooms, args.rate, args.readers, args.warmup, args.duration
    ));
    if ws.len() > 1 {
        report.line(format!("writers on {}, readers round-robin over {} servers", target.urls[0], ws.len()));
    }

    let window = Window::start(&target.server_pid);
    let epoch = std::time::Instant::now();
    let deadline = Instant::now() + Duration::from_secs_f64(args.warmup + args.duration) + Duration::from_secs(60);
    let mut writer_tasks = Vec::new();
    let mut reader_tasks = Vec::new();
    let mut shared_by_room = Vec::new();
    let mut readers = readers.into_iter().flatten().enumerate().collect::<Vec<_>>();
    for (r, writer) in writers.into_iter().enumerate() {
        let shared = Arc::new(Shared {
            epoch,
            sent_at: (0..=keystrokes).map(|_| AtomicU64::new(0)).collect(),
            final_revision: AtomicU64::new(u64::MAX),
            base: writer.doc().revision(),
            warmup_ops,
        });
        shared_by_room.push(shared.clone());
        for (i, reader) in readers.extract_if(.., |(i, _)| *i % args.rooms == r) {
            reader_tasks.push((r, server_of(i), tokio::spawn(read(reader, shared.clone(), deadline))));
        }
        let interval = Duration::from_secs_f64(1.0 / args.rate);
        writer_tasks.push(tokio::spawn(write(writer, shared, keystrokes, interval, r as u64)));
    }

    let mut ack_latency = Latency::new();
    let (mut typed, mut sent, mut acked, mut behind) = (0, 0, 0, Duration::ZERO);
    let mut writer_texts = Vec::new();
    let mut leaving = Vec::new();
    for task in writer_tasks {
        let mut outcome = task.await.context("a writer panicked")??;
        leaving.extend(outcome.client.take());
        ack_latency.merge(&outcome.ack_latency);
        typed += outcome.keystrokes;
        sent += outcome.sent;
        acked += outcome.acked;
        behind = behind.max(outcome.behind_schedule_max);
        writer_texts.push(outcome.text);
    }
    let mut latency = Latency::new();
    let mut latency_by_server = vec![Latency::new(); ws.len()];
    let mut readers_by_server = vec![0u64; ws.len()];
    let (mut received, mut lost, mut errors, mut diverged, mut late_count) = (0u64, 0u64, 0, 0, 0);
    let mut first_error = None;
    for (room, server, task) in reader_tasks {
        let mut outcome = task.await.context("a reader panicked")?;
        let shared = &shared_by_room[room];
        let expected = shared.final_revision.load(Ordering::Acquire).saturating_sub(shared.base);
        for (revision, at) in outcome.late.drain(..) {
            late_count += 1;
            if let Some(sent) = shared.sent_at(revision) {
                outcome.latency.record(Duration::from_nanos(at.saturating_sub(sent)));
            }
        }
        latency.merge(&outcome.latency);
        latency_by_server[server].merge(&outcome.latency);
        readers_by_server[server] += 1;
        received += outcome.received;
        lost += expected.saturating_sub(outcome.received);
        if let Some(error) = outcome.error {
            errors += 1;
            first_error.get_or_insert(error);
        } else if outcome.text != writer_texts[room] {
            diverged += 1;
            first_error.get_or_insert(first_difference(&outcome.text, &writer_texts[room]));
        }
        leaving.push(outcome.client);
    }
    let measured = window.finish();
    close_all(leaving).await;

    report.line(format!(
        "writer: {typed} keystrokes in {sent} operations, {acked} acked; at most {:.1} ms behind schedule",
        behind.as_secs_f64() * 1000.0
    ));
    report.line(format!("delivery (writer send -> reader receipt): {}", latency.summary()));
    if ws.len() > 1 {
        let mut by_server = Vec::new();
        for (i, server_latency) in latency_by_server.iter().enumerate() {
            let url = &target.urls[i];
            let readers = readers_by_server[i];
            report.line(format!("  readers on {url} ({readers}): {}", server_latency.summary()));
            by_server.push(serde_json::json!({ "url": url, "readers": readers, "latency": server_latency.to_json() }));
        }
        report.set("delivery_latency_by_server", by_server);
    }
    report.line(format!("ack (writer send -> ack): {}", ack_latency.summary()));
    report.line(format!("deliveries {received}, lost {lost}, reader errors {errors}, diverged readers {diverged}"));
    report.line(describe(&measured));
    report.set("rooms", args.rooms);
    report.set("readers_per_room", args.readers);
    report.set("rate_ops_per_s", args.rate);
    report.set("warmup_s", args.warmup);
    report.set("duration_s", args.duration);
    report.set("keystrokes", typed);
    report.set("ops_sent", sent);
    report.set("ops_acked", acked);
    report.set("behind_schedule_max_ms", round3(behind.as_secs_f64() * 1000.0));
    report.set("delivery_latency", latency.to_json());
    report.set("ack_latency", ack_latency.to_json());
    report.set("deliveries", received);
    report.set("late_samples", late_count);
    report.set("lost", lost);
    report.set("reader_errors", errors);
    report.set("diverged_readers", diverged);
    report.set("measured", measured);
    if lost > 0 {
        report.fail(format!("{lost} messages lost"));
    }
    if errors > 0 || diverged > 0 {
        report.fail(format!(
            "{errors} reader errors, {diverged} diverged readers; first: {}",
            first_error.unwrap_or_default()
        ));
    }
    report.line(if lost == 0 && errors == 0 && diverged == 0 { "0 lost, CONVERGED" } else { "LOST/DIVERGED" });
    report.set("converged", diverged == 0 && errors == 0);
    Ok(report)
}

async fn write(
    mut client: Client,
    shared: Arc<Shared>,
    keystrokes: u64,
    interval: Duration,
    seed: u64,
) -> anyhow::Result<WriterOutcome> {
    let mut typist = Typist::new(0xfa40_0000 + seed);
    let mut tracker = SendTracker::default();
    let mut outcome = WriterOutcome {
        keystrokes: 0,
        sent: 0,
        acked: 0,
        ack_latency: Latency::new(),
        text: String::new(),
        behind_schedule_max: Duration::ZERO,
        client: None,
    };
    let start = Instant::now();
    for k in 0..keystrokes {
        let due = start + interval.mul_f64(k as f64);
        while let Some(event) = next_event_until(&mut client, due).await? {
            on_event(&client, event, &shared, &mut tracker, &mut outcome)?;
        }
        outcome.behind_schedule_max = outcome.behind_schedule_max.max(Instant::now().saturating_duration_since(due));
        typist.type_into(&mut client).await?;
        outcome.keystrokes += 1;
        note_send(&client, &shared, &mut tracker, &mut outcome);
    }
    // The last acks: `settle` handles them through `next_event`, so count them from revisions.
    settle(&mut client, Duration::from_secs(60)).await.context("waiting for the last acks")?;
    let revision = client.doc().revision();
    outcome.acked = revision - shared.base;
    outcome.text = client.text();
    shared.final_revision.store(revision, Ordering::Release);
    outcome.client = Some(client);
    Ok(outcome)
}

fn on_event(
    client: &Client,
    event: Event,
    shared: &Shared,
    tracker: &mut SendTracker,
    outcome: &mut WriterOutcome,
) -> anyhow::Result<()> {
    match event {
        Event::Ack { revision, .. } => {
            let now = shared.now();
            if shared.timed(revision)
                && let Some(sent) = shared.sent_at(revision)
            {
                outcome.ack_latency.record(Duration::from_nanos(now.saturating_sub(sent)));
            }
            // The ack may have released buffered keystrokes as a new operation.
            note_send(client, shared, tracker, outcome);
        }
        Event::Error { code, message } => anyhow::bail!("the server refused the writer's edit: {code}: {message}"),
        _ => {}
    }
    Ok(())
}

fn note_send(client: &Client, shared: &Shared, tracker: &mut SendTracker, outcome: &mut WriterOutcome) {
    if tracker.sent(client) {
        if let Some(slot) = shared.sent_at.get(outcome.sent as usize) {
            slot.store(shared.now(), Ordering::Release);
        }
        outcome.sent += 1;
    }
}

async fn read(mut client: Client, shared: Arc<Shared>, deadline: Instant) -> ReaderOutcome {
    let (mut received, mut latency, mut late, mut error) = (0, Latency::new(), Vec::new(), None);
    loop {
        if client.doc().revision() >= shared.final_revision.load(Ordering::Acquire) {
            break;
        }
        let wake = (Instant::now() + Duration::from_millis(250)).min(deadline);
        match next_event_until(&mut client, wake).await {
            Ok(Some(Event::Remote { revision, .. })) => {
                let now = shared.now();
                received += 1;
                if shared.timed(revision) {
                    match shared.sent_at(revision) {
                        Some(sent) => latency.record(Duration::from_nanos(now.saturating_sub(sent))),
                        None => late.push((revision, now)),
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) if Instant::now() >= deadline => {
                error = Some(format!("timed out at revision {}", client.doc().revision()));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    ReaderOutcome { received, latency, late, error, text: client.text(), client }
}
