//! authors: N clients in one room, every one typing at a human rate and reading everyone else's
//! edits (a lecture, a hackathon, a live-coding stream).
//!
//! Each author types `--rate` keystrokes a second, the authors' schedules spread evenly over the
//! interval so the room sees a steady `N x rate` keystrokes a second. A keystroke typed while the
//! author's operation awaits its ack is composed into the next operation (the client state
//! machine's buffer, as in ot.js), so at most one operation per author is in flight.
//!
//! Measuring. Every author keeps, in a table shared by the process (one clock), the instant each
//! of its operations left and the instant of the first keystroke composed into it, indexed by the
//! operation's rank among its own. The server sequences an author's operations in the order they
//! were sent and sends each to every other client once, in revision order, so a reader's `k`-th
//! operation from author `a` is `a`'s `k`-th: the reader counts operations per author (the
//! author's user id names it) and looks the instant up. No timestamp travels in the text and
//! nothing is allocated per delivery beyond what the client itself does (parse, transform,
//! apply). Figures:
//! - ack latency: send -> the author's ack, for operations sent in the measured part;
//! - delivery latency: send -> receipt by every other author (one sample per receipt), and the
//!   same from the operation's first keystroke (which includes waiting for the previous ack);
//! - lost: every author must receive every other author's operations (warm-up included);
//! - convergence: every author's final text must equal the server's (`GET /api/rooms/{id}`);
//! - CPU over the measured part: the server's (`--server-pid`), the load generator's and the
//!   machine's; the server's CPU per delivered message; and a note when the load generator or
//!   the machine, rather than the server, is the bottleneck.
//!
//! Cheap per delivery: one task per author does everything (type, read, record); it sleeps on one
//! timer reset per keystroke, not one per message; latencies go to one set of histograms per
//! worker thread (one per author would not stay in the cache: 800 authors' histograms are
//! hundreds of megabytes); counters go to the progress line once per keystroke.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::{Client, Event};
use tokio::time::Instant;

use crate::driver::{Typist, catch_up, close_all, connect_many, first_difference, sample_code, staggered};
use crate::procfs::{Window, describe};
use crate::progress::{self, COUNTERS};
use crate::stats::{Latency, micros_each, round3, stamp};

#[derive(Args, Debug)]
pub struct AuthorsArgs {
    /// Authors in the room: each is one connection that types and reads everyone else's edits.
    #[arg(long, default_value_t = 100)]
    authors: usize,
    /// Keystrokes per second each author types. Those typed while the author's operation awaits
    /// its ack are composed into its next operation, as the ot.js client does.
    #[arg(long, default_value_t = 3.0)]
    rate: f64,
    /// Seconds of measured typing.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of typing before the measured part (checked for losses and convergence, not timed).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Characters of source-like text the room starts with; the authors' cursors start spread
    /// over it.
    #[arg(long, default_value_t = 4096)]
    doc_chars: usize,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
}

/// FNV-1a: user ids are short and chosen by the server, so a fast hash is enough for the one
/// look-up per delivery.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Latency samples, one set per worker thread (see the module's docs).
#[derive(Default)]
struct Samples {
    ack: Latency,
    delivery: Latency,
    keystroke_delivery: Latency,
}

/// Numbers the runs, so a worker thread's samples of one run never mix with another's.
static RUNS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's samples for run `.0`.
    static SAMPLES: RefCell<Option<(u64, Arc<Mutex<Samples>>)>> = const { RefCell::new(None) };
}

/// What every author's task shares: who is who, and when each operation left.
struct Shared {
    /// This run's number (see [`RUNS`]).
    run: u64,
    /// Every worker thread's samples.
    samples: Mutex<Vec<Arc<Mutex<Samples>>>>,
    epoch: std::time::Instant,
    /// User id -> author index.
    ids: HashMap<String, usize, BuildHasherDefault<Fnv>>,
    authors: usize,
    /// Operations per author the tables have room for (at least one per keystroke).
    stride: usize,
    /// `[author * stride + k]`: when author's `k`-th operation left, in ns since `epoch` plus
    /// one; 0 = not yet.
    sent_at: Vec<AtomicU64>,
    /// Same layout: when the first keystroke composed into that operation was typed.
    typed_at: Vec<AtomicU64>,
    /// The measured part, in ns since `epoch`.
    measure_from: u64,
    stop_at: u64,
    /// Authors whose typing is over (settled, or failed).
    finished: AtomicUsize,
    /// The highest revision an author had seen once settled: the room's last, once all are.
    final_revision: AtomicU64,
}

impl Shared {
    fn now(&self) -> u64 {
        stamp(self.epoch)
    }

    fn slot(&self, author: usize, k: usize) -> Option<usize> {
        (k < self.stride).then_some(author * self.stride + k)
    }

    /// When `author`'s `k`-th operation left and when its first keystroke was typed.
    fn instants(&self, author: usize, k: usize) -> Option<(u64, u64)> {
        let slot = self.slot(author, k)?;
        let sent = self.sent_at[slot].load(Ordering::Acquire);
        (sent != 0).then(|| (sent, self.typed_at[slot].load(Ordering::Relaxed)))
    }

    fn in_window(&self, at: u64) -> bool {
        (self.measure_from..self.stop_at).contains(&at)
    }

    /// Records into this worker thread's samples (an uncontended lock: only this thread takes it
    /// until the run is over).
    fn record(&self, f: impl FnOnce(&mut Samples)) {
        SAMPLES.with_borrow_mut(|local| {
            if local.as_ref().is_none_or(|(run, _)| *run != self.run) {
                let samples = Arc::new(Mutex::new(Samples::default()));
                if let Ok(mut all) = self.samples.lock() {
                    all.push(samples.clone());
                }
                *local = Some((self.run, samples));
            }
            if let Some((_, samples)) = local
                && let Ok(mut samples) = samples.lock()
            {
                f(&mut samples);
            }
        });
    }

    /// Every thread's samples together.
    fn merged(&self) -> Samples {
        let mut merged = Samples::default();
        for samples in self.samples.lock().map(|all| all.clone()).unwrap_or_default() {
            if let Ok(samples) = samples.lock() {
                merged.ack.merge(&samples.ack);
                merged.delivery.merge(&samples.delivery);
                merged.keystroke_delivery.merge(&samples.keystroke_delivery);
            }
        }
        merged
    }
}

impl Samples {
    /// An operation sent at `sent` (its first keystroke typed at `typed`) received at `now`.
    fn delivered(&mut self, sent: u64, typed: u64, now: u64) {
        self.delivery.record(Duration::from_nanos(now.saturating_sub(sent)));
        self.keystroke_delivery.record(Duration::from_nanos(now.saturating_sub(typed)));
    }
}

/// Counters handed to the progress line once per keystroke.
#[derive(Default)]
struct Tally {
    ops: u64,
    acks: u64,
    deliveries: u64,
}

/// One author's figures.
struct Author {
    index: usize,
    /// Operations sent, warm-up included.
    ops_sent: usize,
    /// When the operation awaiting its ack left.
    in_flight: Option<u64>,
    /// When the first keystroke now waiting in the client's buffer was typed.
    buffered_since: Option<u64>,
    keystrokes_all: u64,
    /// Keystrokes due in the measured part.
    keystrokes: u64,
    /// Acks of operations sent in the measured part.
    acked: u64,
    /// Other authors' operations received (warm-up included), and those in the window.
    received: u64,
    received_in_window: u64,
    /// Per author: their operations received.
    from: Vec<u32>,
    /// Receipts seen before the author had stored the send instant: (author, k, when).
    late: Vec<(u32, u32, u64)>,
    /// Operations from a user id no author has.
    unknown: u64,
    behind_schedule_max: Duration,
    tally: Tally,
}

impl Author {
    fn new(index: usize, authors: usize) -> Self {
        Self {
            index,
            ops_sent: 0,
            in_flight: None,
            buffered_since: None,
            keystrokes_all: 0,
            keystrokes: 0,
            acked: 0,
            received: 0,
            received_in_window: 0,
            from: vec![0; authors],
            late: Vec::new(),
            unknown: 0,
            behind_schedule_max: Duration::ZERO,
            tally: Tally::default(),
        }
    }

    /// Our next operation left at `now`; its first keystroke was typed at `typed`.
    fn note_send(&mut self, shared: &Shared, now: u64, typed: u64) {
        if let Some(slot) = shared.slot(self.index, self.ops_sent) {
            shared.typed_at[slot].store(typed, Ordering::Relaxed);
            shared.sent_at[slot].store(now, Ordering::Release);
        }
        self.ops_sent += 1;
        self.in_flight = Some(now);
        self.tally.ops += 1;
    }

    fn on_event(&mut self, client: &Client, event: Event, shared: &Shared) -> anyhow::Result<()> {
        match event {
            Event::Remote { user_id, .. } => {
                let now = shared.now();
                self.received += 1;
                self.tally.deliveries += 1;
                if shared.in_window(now) {
                    self.received_in_window += 1;
                }
                let Some(&author) = shared.ids.get(user_id.as_str()) else {
                    self.unknown += 1;
                    return Ok(());
                };
                let k = self.from[author] as usize;
                self.from[author] += 1;
                match shared.instants(author, k) {
                    Some((sent, typed)) => self.record_delivery(shared, sent, typed, now),
                    None => self.late.push((author as u32, k as u32, now)),
                }
            }
            Event::Ack { .. } => {
                let now = shared.now();
                self.tally.acks += 1;
                if let Some(sent) = self.in_flight.take()
                    && sent >= shared.measure_from
                {
                    self.acked += 1;
                    shared.record(|s| s.ack.record(Duration::from_nanos(now.saturating_sub(sent))));
                }
                // The ack released the buffered keystrokes as our next operation.
                if client.doc().outstanding().is_some() {
                    let typed = self.buffered_since.take().unwrap_or(now);
                    self.note_send(shared, now, typed);
                }
            }
            Event::Error { code, message } => anyhow::bail!("the server refused an edit: {code}: {message}"),
            _ => {}
        }
        Ok(())
    }

    fn record_delivery(&mut self, shared: &Shared, sent: u64, typed: u64, now: u64) {
        if sent >= shared.measure_from {
            shared.record(|s| s.delivered(sent, typed, now));
        }
    }

    fn flush_tally(&mut self) {
        let tally = std::mem::take(&mut self.tally);
        progress::add(&COUNTERS.ops, tally.ops);
        progress::add(&COUNTERS.acks, tally.acks);
        progress::add(&COUNTERS.deliveries, tally.deliveries);
    }

    /// Types on schedule until `plan.stop_at`, reading everything meanwhile; then waits for the
    /// last acks.
    async fn type_and_settle(
        &mut self,
        client: &mut Client,
        typist: &mut Typist,
        shared: &Shared,
        plan: &Plan,
    ) -> anyhow::Result<()> {
        let mut due = plan.first_due;
        let sleep = tokio::time::sleep_until(due);
        tokio::pin!(sleep);
        while due < plan.stop_at {
            tokio::select! {
                biased;
                () = &mut sleep => {
                    self.behind_schedule_max =
                        self.behind_schedule_max.max(Instant::now().saturating_duration_since(due));
                    let now = shared.now();
                    let idle = client.doc().is_synchronized();
                    typist.type_into(client).await?;
                    self.keystrokes_all += 1;
                    if due >= plan.measure_from {
                        self.keystrokes += 1;
                    }
                    if idle {
                        self.note_send(shared, now, now);
                    } else {
                        self.buffered_since.get_or_insert(now);
                    }
                    self.flush_tally();
                    due += plan.interval;
                    sleep.as_mut().reset(due);
                }
                event = client.next_event() => self.on_event(client, event?, shared)?,
            }
        }
        while !client.doc().is_synchronized() {
            match tokio::time::timeout_at(plan.give_up, client.next_event()).await {
                Ok(event) => self.on_event(client, event?, shared)?,
                Err(_) => anyhow::bail!("timed out waiting for the last acks"),
            }
        }
        Ok(())
    }

    /// Reads until every author is done and this client has seen the room's last revision.
    async fn read_to_the_end(&mut self, client: &mut Client, shared: &Shared, plan: &Plan) -> anyhow::Result<()> {
        loop {
            if shared.finished.load(Ordering::Acquire) == shared.authors
                && client.doc().revision() >= shared.final_revision.load(Ordering::Acquire)
            {
                return Ok(());
            }
            match tokio::time::timeout(Duration::from_millis(20), client.next_event()).await {
                Ok(event) => self.on_event(client, event?, shared)?,
                Err(_) if Instant::now() >= plan.give_up => {
                    anyhow::bail!("timed out at revision {}", client.doc().revision())
                }
                Err(_) => {}
            }
        }
    }
}

/// One author's schedule.
struct Plan {
    first_due: Instant,
    /// Keystrokes due from here on are the measured ones.
    measure_from: Instant,
    interval: Duration,
    stop_at: Instant,
    give_up: Instant,
}

/// What an author's task hands back.
struct Finished {
    author: Author,
    client: Client,
    error: Option<String>,
}

async fn author(mut client: Client, index: usize, shared: Arc<Shared>, plan: Plan, mut typist: Typist) -> Finished {
    let mut author = Author::new(index, shared.authors);
    let typed = author.type_and_settle(&mut client, &mut typist, &shared, &plan).await;
    if typed.is_ok() {
        shared.final_revision.fetch_max(client.doc().revision(), Ordering::AcqRel);
    }
    shared.finished.fetch_add(1, Ordering::AcqRel);
    progress::phase("draining");
    let read = match typed {
        Ok(()) => author.read_to_the_end(&mut client, &shared, &plan).await,
        Err(e) => Err(e),
    };
    author.flush_tally();
    Finished { author, client, error: read.err().map(|e| format!("{e:#}")) }
}

pub async fn run(target: &crate::Target, args: AuthorsArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("authors", target).await?;
    anyhow::ensure!(args.authors >= 1, "--authors must be at least 1");
    anyhow::ensure!(args.rate > 0.0 && args.duration > 0.0, "--rate and --duration must be positive");
    anyhow::ensure!(args.warmup >= 0.0, "--warmup must not be negative");
    let n = args.authors;
    progress::phase("connecting");
    let room = rest.create_room("rust", &sample_code(args.doc_chars)).await?;
    let targets = vec![(rest.ws_base(), room.clone()); n];
    let connected = connect_many(&targets, args.connect_concurrency).await?;
    let refused = connected.iter().filter(|c| c.is_err()).count();
    if let Some(Err(e)) = connected.iter().find(|c| c.is_err()) {
        anyhow::bail!("{refused} of {n} authors could not connect, e.g.: {e}");
    }
    let clients: Vec<Client> = connected.into_iter().flatten().collect();
    let mut ids = HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
    for (i, client) in clients.iter().enumerate() {
        anyhow::ensure!(ids.insert(client.user_id().to_owned(), i).is_none(), "two authors got one user id");
    }
    report.line(format!(
        "1 room x {n} authors at {} keystrokes/s each ({:.0}/s in all), {:.1} s warm-up + {:.1} s measured, \
         a document of {} chars",
        args.rate,
        args.rate * n as f64,
        args.warmup,
        args.duration,
        args.doc_chars
    ));

    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let stride = (args.rate * (args.warmup + args.duration)).ceil() as usize + 2;
    // Everyone starts together a moment from now, once every task is spawned.
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let stop_at = measure_from + Duration::from_secs_f64(args.duration);
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let shared = Arc::new(Shared {
        run: RUNS.fetch_add(1, Ordering::Relaxed),
        samples: Mutex::new(Vec::new()),
        epoch: start.into_std(),
        ids,
        authors: n,
        stride,
        sent_at: (0..n * stride).map(|_| AtomicU64::new(0)).collect(),
        typed_at: (0..n * stride).map(|_| AtomicU64::new(0)).collect(),
        measure_from: ns(measure_from - start),
        stop_at: ns(stop_at - start),
        finished: AtomicUsize::new(0),
        final_revision: AtomicU64::new(0),
    });
    let give_up = stop_at + Duration::from_secs(60);
    let doc_len = clients.first().map_or(0, |c| c.doc().len_chars());
    let mut tasks = Vec::with_capacity(n);
    for (i, client) in clients.into_iter().enumerate() {
        let first_due = staggered(start, interval, i, n);
        let plan = Plan { first_due, measure_from, interval, stop_at, give_up };
        let typist = Typist::starting_at(0xa07_0000 + i as u64, doc_len * i / n);
        tasks.push(tokio::spawn(author(client, i, shared.clone(), plan, typist)));
    }

    progress::phase("warm-up");
    tokio::time::sleep_until(measure_from).await;
    let window = Window::start(&target.server_pid);
    progress::phase("measuring");
    tokio::time::sleep_until(stop_at).await;
    let measured = window.finish();

    let mut finished = Vec::with_capacity(n);
    for task in tasks {
        finished.push(task.await.context("an author's task panicked")?);
    }
    progress::phase("checking");
    let totals = Totals::of(&finished, &shared);

    // Convergence: every author that finished must hold the server's text.
    let state = rest.room(&room).await?;
    let (mut diverged, mut first_divergence) = (0, None);
    let mut clients = Vec::with_capacity(n);
    for Finished { mut client, error, .. } in finished {
        if error.is_none() {
            if client.doc().revision() < state.revision {
                let _ = catch_up(&mut client, state.revision, Duration::from_secs(10)).await;
            }
            let text = client.text();
            if text != state.code {
                diverged += 1;
                first_divergence.get_or_insert_with(|| first_difference(&text, &state.code));
            }
        }
        clients.push(client);
    }
    close_all(clients).await;

    let window_s = measured["window_s"].as_f64().unwrap_or(args.duration).max(1e-9);
    let server_cpu = measured["server"]["cpu_s"].as_f64();
    let loadgen_cpu = measured["loadgen"]["cpu_s"].as_f64().unwrap_or(0.0);
    let server_per_delivery = server_cpu.and_then(|cpu| micros_each(cpu, totals.in_window));
    let server_per_op = server_cpu.and_then(|cpu| micros_each(cpu, totals.acked));
    let loadgen_per_delivery = micros_each(loadgen_cpu, totals.in_window);
    let offered = args.rate * n as f64 * (n as f64 - 1.0);
    let deliveries_per_s = totals.in_window as f64 / window_s;
    let limits = Limits {
        loadgen_cpu_pct: measured["loadgen"]["cpu_pct"].as_f64().unwrap_or(0.0),
        machine_busy_pct: measured["machine"]["busy_pct"].as_f64(),
        behind_schedule_ms: totals.behind_schedule_max.as_secs_f64() * 1000.0,
    };
    let (bottleneck, notes) = limits.judge();

    report.line(format!(
        "keystrokes: {} measured ({:.0}/s) in {} operations sent in all ({:.2} keystrokes per operation); \
         at most {:.1} ms behind schedule",
        totals.keystrokes,
        totals.keystrokes as f64 / args.duration,
        totals.ops_sent,
        totals.keystrokes_all as f64 / totals.ops_sent.max(1) as f64,
        limits.behind_schedule_ms
    ));
    report.line(format!("ack (send -> ack): {}", totals.ack.summary()));
    report.line(format!("delivery (send -> each other author's receipt): {}", totals.delivery.summary()));
    report.line(format!(
        "keystroke -> delivery (the operation's first keystroke): {}",
        totals.keystroke_delivery.summary()
    ));
    report.line(format!(
        "deliveries: {} in the window ({deliveries_per_s:.0}/s of {offered:.0}/s offered), {} in all; lost {}, \
         duplicated {}, client errors {}",
        totals.in_window, totals.received, totals.lost, totals.duplicated, totals.errors
    ));
    report.line(format!(
        "server CPU per delivery {} µs (per acked operation {} µs); load generator {} µs per delivery",
        show(server_per_delivery),
        show(server_per_op),
        show(loadgen_per_delivery)
    ));
    report.line(describe(&measured));
    for note in &notes {
        report.line(format!("note: {note}"));
    }

    report.set("authors", n);
    report.set("rate_per_author", args.rate);
    report.set("warmup_s", args.warmup);
    report.set("duration_s", args.duration);
    report.set("doc_chars", args.doc_chars);
    report.set("keystrokes", totals.keystrokes);
    report.set("keystrokes_per_s", round3(totals.keystrokes as f64 / args.duration));
    report.set("ops_sent", totals.ops_sent);
    report.set("keystrokes_per_op", round3(totals.keystrokes_all as f64 / totals.ops_sent.max(1) as f64));
    report.set("acked_ops", totals.acked);
    report.set("acked_ops_per_s", round3(totals.acked as f64 / args.duration));
    report.set("ack_latency", totals.ack.to_json());
    report.set("delivery_latency", totals.delivery.to_json());
    report.set("keystroke_delivery_latency", totals.keystroke_delivery.to_json());
    report.set("deliveries", totals.received);
    report.set("deliveries_in_window", totals.in_window);
    report.set("deliveries_per_s", round3(deliveries_per_s));
    report.set("offered_deliveries_per_s", round3(offered));
    report.set("lost", totals.lost);
    report.set("duplicated", totals.duplicated);
    report.set("late_samples", totals.late);
    report.set("unknown_authors", totals.unknown);
    report.set("client_errors", totals.errors);
    report.set("diverged_clients", diverged);
    report.set("revision", state.revision);
    report.set("behind_schedule_max_ms", round3(limits.behind_schedule_ms));
    report.set("server_cpu_per_delivery_us", server_per_delivery);
    report.set("server_cpu_per_op_us", server_per_op);
    report.set("loadgen_cpu_per_delivery_us", loadgen_per_delivery);
    report.set("bottleneck", bottleneck);
    report.set("notes", notes);
    report.set("measured", measured);

    let converged = diverged == 0 && totals.errors == 0;
    report.set("converged", converged);
    if totals.lost > 0 || totals.duplicated > 0 || totals.unknown > 0 {
        report.fail(format!(
            "{} messages lost, {} duplicated, {} from unknown authors",
            totals.lost, totals.duplicated, totals.unknown
        ));
    }
    if let Some(error) = &totals.first_error {
        report.fail(format!("{} authors failed; first: {error}", totals.errors));
    }
    if let Some(first) = first_divergence {
        report.fail(format!("DIVERGED: {diverged} authors differ from the server; first: {first}"));
    }
    let verdict = if converged && totals.lost == 0 { "0 lost, CONVERGED" } else { "LOST/DIVERGED" };
    report.line(format!("{verdict} ({n} authors against GET /api/rooms/{{id}} at revision {})", state.revision));
    Ok(report)
}

fn show(value: Option<f64>) -> String {
    value.map_or_else(|| "n.a.".to_owned(), |v| format!("{v:.2}"))
}

/// Every author's figures together.
struct Totals {
    keystrokes: u64,
    keystrokes_all: u64,
    ops_sent: u64,
    acked: u64,
    ack: Latency,
    delivery: Latency,
    keystroke_delivery: Latency,
    received: u64,
    in_window: u64,
    lost: u64,
    duplicated: u64,
    late: u64,
    unknown: u64,
    errors: u64,
    first_error: Option<String>,
    behind_schedule_max: Duration,
}

impl Totals {
    fn of(finished: &[Finished], shared: &Shared) -> Self {
        let sent: Vec<u64> = finished.iter().map(|f| f.author.ops_sent as u64).collect();
        let Samples { ack, mut delivery, mut keystroke_delivery } = shared.merged();
        let mut totals = Totals {
            keystrokes: 0,
            keystrokes_all: 0,
            ops_sent: sent.iter().sum(),
            acked: 0,
            ack,
            delivery: Latency::new(),
            keystroke_delivery: Latency::new(),
            received: 0,
            in_window: 0,
            lost: 0,
            duplicated: 0,
            late: 0,
            unknown: 0,
            errors: 0,
            first_error: None,
            behind_schedule_max: Duration::ZERO,
        };
        for Finished { author, error, .. } in finished {
            // Receipts that came before the author had noted the send (rare: the send is noted
            // right after the frame is written): their instants are known now.
            for &(from, k, at) in &author.late {
                if let Some((sent, typed)) = shared.instants(from as usize, k as usize)
                    && sent >= shared.measure_from
                {
                    delivery.record(Duration::from_nanos(at.saturating_sub(sent)));
                    keystroke_delivery.record(Duration::from_nanos(at.saturating_sub(typed)));
                }
            }
            totals.keystrokes += author.keystrokes;
            totals.keystrokes_all += author.keystrokes_all;
            totals.acked += author.acked;
            totals.received += author.received;
            totals.in_window += author.received_in_window;
            totals.late += author.late.len() as u64;
            totals.unknown += author.unknown;
            totals.behind_schedule_max = totals.behind_schedule_max.max(author.behind_schedule_max);
            if let Some(error) = error {
                totals.errors += 1;
                totals.first_error.get_or_insert_with(|| format!("author {}: {error}", author.index));
                continue;
            }
            let (lost, duplicated) = missing(&author.from, &sent, author.index);
            totals.lost += lost;
            totals.duplicated += duplicated;
        }
        (totals.delivery, totals.keystroke_delivery) = (delivery, keystroke_delivery);
        totals
    }
}

/// Operations a reader lost and received twice, from its counts per author and what each sent
/// (its own excepted).
fn missing(received: &[u32], sent: &[u64], reader: usize) -> (u64, u64) {
    let (mut lost, mut duplicated) = (0, 0);
    for (author, (&got, &sent)) in received.iter().zip(sent).enumerate() {
        if author == reader {
            continue;
        }
        let got = u64::from(got);
        lost += sent.saturating_sub(got);
        duplicated += got.saturating_sub(sent);
    }
    (lost, duplicated)
}

/// What bounded a run, besides the server.
struct Limits {
    loadgen_cpu_pct: f64,
    machine_busy_pct: Option<f64>,
    behind_schedule_ms: f64,
}

impl Limits {
    /// The load generator's share of a core at which it, not the server, is the bottleneck.
    const LOADGEN_PCT: f64 = 90.0;
    /// The machine's busy share (all cores) at which everything competes for CPU.
    const MACHINE_PCT: f64 = 90.0;
    /// How late a keystroke may be before the schedule itself is not kept.
    const BEHIND_MS: f64 = 100.0;

    /// The bottleneck ("loadgen", "machine" or none) and readable notes.
    fn judge(&self) -> (Option<&'static str>, Vec<String>) {
        let mut notes = Vec::new();
        let mut bottleneck = None;
        if self.loadgen_cpu_pct >= Self::LOADGEN_PCT {
            bottleneck = Some("loadgen");
            notes.push(format!(
                "the load generator used {:.0}% of a core: receiving and applying every delivery is its own \
                 bottleneck, so these latencies are an upper bound of the server's",
                self.loadgen_cpu_pct
            ));
        }
        if let Some(busy) = self.machine_busy_pct.filter(|b| *b >= Self::MACHINE_PCT) {
            bottleneck.get_or_insert("machine");
            notes.push(format!(
                "the machine's cores were {busy:.0}% busy: the server, the load generator and the database \
                 compete for them"
            ));
        }
        if self.behind_schedule_ms > Self::BEHIND_MS {
            notes.push(format!(
                "keystrokes were up to {:.0} ms late: the load generator could not keep its schedule",
                self.behind_schedule_ms
            ));
        }
        if notes.is_empty() {
            let machine = self.machine_busy_pct.map_or_else(String::new, |b| format!(", machine {b:.0}% busy"));
            notes.push(format!(
                "the load generator had headroom ({:.0}% of a core{machine}): the figures are the server's",
                self.loadgen_cpu_pct
            ));
        }
        (bottleneck, notes)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::{Fnv, Limits, missing};

    #[test]
    fn a_reader_must_get_every_other_authors_operations_once() {
        let sent = [5, 3, 4];
        assert_eq!(missing(&[0, 3, 4], &sent, 0), (0, 0), "its own are not expected");
        assert_eq!(missing(&[5, 9, 2], &sent, 1), (2, 0));
        assert_eq!(missing(&[6, 3, 0], &sent, 2), (0, 1));
    }

    #[test]
    fn fnv_tells_user_ids_apart() {
        let build = BuildHasherDefault::<Fnv>::default();
        let a = build.hash_one("0b8e1d7c-4a9f-4b0e-9d51-3f0c2a7e6b11");
        let b = build.hash_one("0b8e1d7c-4a9f-4b0e-9d51-3f0c2a7e6b12");
        assert_ne!(a, b);
        assert_eq!(a, build.hash_one("0b8e1d7c-4a9f-4b0e-9d51-3f0c2a7e6b11"));
    }

    #[test]
    fn the_note_names_the_bottleneck() {
        let judge = |loadgen, machine, behind| {
            Limits { loadgen_cpu_pct: loadgen, machine_busy_pct: machine, behind_schedule_ms: behind }.judge()
        };
        let (bottleneck, notes) = judge(40.0, Some(50.0), 2.0);
        assert_eq!(bottleneck, None);
        assert!(notes[0].contains("headroom (40% of a core, machine 50% busy)"), "{notes:?}");
        let (bottleneck, notes) = judge(97.0, Some(99.0), 2.0);
        assert_eq!(bottleneck, Some("loadgen"));
        assert_eq!(notes.len(), 2, "{notes:?}");
        let (bottleneck, notes) = judge(60.0, Some(95.0), 250.0);
        assert_eq!(bottleneck, Some("machine"));
        assert!(notes[1].contains("250 ms late"), "{notes:?}");
    }
}
