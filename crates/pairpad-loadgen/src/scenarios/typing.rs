//! typing: R rooms x C clients typing random edits at once, through the client state machine.
//!
//! Closed loop (the default): each client types a keystroke, waits for its ack, types the next;
//! others' operations arriving meanwhile are transformed as usual. With `--rate`, each client
//! types at that rate instead and keystrokes typed while an operation is in flight are composed
//! into the next one; the clients' schedules are spread evenly over the interval between two
//! keystrokes (people do not type in step), so the server sees a steady `clients x rate`
//! keystrokes a second rather than every client's keystroke at once. At the end every client's
//! text must equal the server's (`GET /api/rooms/{id}`): CONVERGED, or DIVERGED and a non-zero
//! exit.
//!
//! Several `--url`s (processes sharing one database): the rooms are created on the first and
//! `--placement` puts each room's clients on the servers: `split` (a room's clients on different
//! processes, as far as there are processes) or `together` (all of a room's clients on one
//! process, rooms round-robin over the processes: what nginx's `hash $room_id` routing does). At
//! the end every server that has clients of a room must show the same text, which each of those
//! clients must have. The commit conflicts the servers count (`pairpad_commit_conflicts_total` on
//! `/metrics`, summed over the servers) are reported per second of the measured window, or as
//! n.a. where a server does not expose that counter.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::{Client, Event};
use tokio::time::Instant;

use crate::driver::{
    SendTracker, Typist, await_ack, catch_up, close_all, connect_many, first_difference, next_event_until, sample_code,
    settle, staggered,
};
use crate::procfs::{Window, describe};
use crate::rest::{Rest, RoomState};
use crate::stats::{Latency, micros_each, round3};

/// The counter of commits a server found conflicting (another process had the revision).
const CONFLICTS_METRIC: &str = "pairpad_commit_conflicts_total";

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
    /// Keystrokes per second per client (open loop, composing; the clients staggered over the
    /// interval). Without it: closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Characters of code each room starts with.
    #[arg(long, default_value_t = 2000)]
    initial_chars: usize,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// With several `--url`s, where a room's clients go. `split`: client c of room r on server
    /// (r + c) mod servers, so a room's clients are on different processes. `together`: every
    /// client of room r on server r mod servers (the nginx `hash $room_id` case).
    #[arg(long, value_enum, default_value_t = Placement::Split)]
    placement: Placement,
}

/// Where a room's clients connect when there are several servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// A room's clients on different servers (round-robin from the room's own offset).
    Split,
    /// All of a room's clients on one server; rooms round-robin over the servers.
    Together,
}

impl Placement {
    /// The server (an index into the `--url`s) of client `client` of room `room`.
    fn server(self, room: usize, client: usize, servers: usize) -> usize {
        match self {
            Placement::Split => (room + client) % servers.max(1),
            Placement::Together => room % servers.max(1),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Placement::Split => "split",
            Placement::Together => "together",
        }
    }
}

/// What one client did in the measured part.
#[derive(Default)]
struct Typed {
    keystrokes: u64,
    acked: u64,
    ack_latency: Latency,
}

pub async fn run(target: &crate::Target, args: TypingArgs) -> anyhow::Result<crate::stats::Report> {
    let (rests, mut report) = super::begin_spread("typing", target).await?;
    anyhow::ensure!(args.rooms > 0 && args.clients > 0 && args.duration > 0.0, "sizes must be positive");
    let ws: Vec<String> = rests.iter().map(Rest::ws_base).collect();
    let code = sample_code(args.initial_chars);
    let mut rooms = Vec::new();
    for _ in 0..args.rooms {
        rooms.push(rests[0].create_room("rust", &code).await?);
    }
    // Client i is client i / rooms of room i % rooms.
    let server_of = |i: usize| args.placement.server(i % args.rooms, i / args.rooms, ws.len());
    let targets: Vec<_> =
        (0..args.rooms * args.clients).map(|i| (ws[server_of(i)].clone(), rooms[i % rooms.len()].clone())).collect();
    let clients = connect_many(&targets, args.connect_concurrency).await?;
    let mut connected = Vec::with_capacity(clients.len());
    for (i, client) in clients.into_iter().enumerate() {
        let client = client.with_context(|| format!("client {i} could not connect to {}", ws[server_of(i)]))?;
        connected.push((Placed { room: i % args.rooms, server: server_of(i) }, client));
    }
    let mode = match args.rate {
        Some(rate) => format!("open loop at {rate} keystrokes/s per client"),
        None => "closed loop (next keystroke after the ack)".to_owned(),
    };
    report.line(format!(
        "{} rooms x {} clients, {mode}, {:.1} s warm-up + {:.1} s measured",
        args.rooms, args.clients, args.warmup, args.duration
    ));
    if ws.len() > 1 {
        let on_each: Vec<usize> =
            (0..ws.len()).map(|s| (0..targets.len()).filter(|&i| server_of(i) == s).count()).collect();
        report.line(format!(
            "placement {} over {} servers: clients per server {on_each:?}",
            args.placement.as_str(),
            ws.len()
        ));
    }

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let stop_at = measure_from + Duration::from_secs_f64(args.duration);
    let mut tasks = Vec::new();
    let clients_in_all = connected.len();
    for (i, (room, client)) in connected.into_iter().enumerate() {
        let seed = 0x7e57_0000 + i as u64;
        let task = match args.rate {
            None => tokio::spawn(closed_loop(client, seed, measure_from, stop_at)),
            Some(rate) => {
                let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
                let first_due = staggered(start, interval, i, clients_in_all);
                let schedule = Schedule { first_due, interval, measure_from, stop_at };
                tokio::spawn(open_loop(client, seed, schedule))
            }
        };
        tasks.push((room, task));
    }
    // The window opens with the measured part; the tasks are already warming up.
    tokio::time::sleep_until(measure_from).await;
    let conflicts_before = read_counters(&rests, CONFLICTS_METRIC).await;
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
    let conflicts_after = read_counters(&rests, CONFLICTS_METRIC).await;
    let conflicts = Conflicts::between(&conflicts_before, &conflicts_after);

    // Convergence: the servers that have clients of a room agree on its text and revision; each
    // client catches up with its server's revision and must have that text. One deadline for all
    // rooms, so a run whose servers never agree still ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut diverged = 0;
    let mut disagreeing_rooms = 0;
    let mut first_divergence = None;
    for (r, room) in rooms.iter().enumerate() {
        let mut servers: Vec<usize> = clients.iter().filter(|(p, _)| p.room == r).map(|(p, _)| p.server).collect();
        servers.sort_unstable();
        servers.dedup();
        let (states, agreed) = room_states(&rests, &servers, room, deadline).await?;
        if !agreed {
            disagreeing_rooms += 1;
            let revisions: Vec<String> =
                servers.iter().zip(&states).map(|(&s, state)| format!("{} at {}", ws[s], state.revision)).collect();
            first_divergence
                .get_or_insert_with(|| format!("the servers disagree on room {room}: {}", revisions.join(", ")));
        }
        for (placed, client) in clients.iter_mut().filter(|(p, _)| p.room == r) {
            let Some(at) = servers.iter().position(|&s| s == placed.server) else { continue };
            let state = &states[at];
            let limit = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
            if let Err(e) = catch_up(client, state.revision, limit).await {
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
    report.line(conflicts.describe(measured["window_s"].as_f64().unwrap_or(args.duration), &target.urls));
    // What the "cost at human rates" asks for: every operation's share of the server's
    // CPU (with several servers, their sum).
    let server_per_op = measured["server"]["cpu_s"].as_f64().and_then(|cpu| micros_each(cpu, total.acked));
    let shown = server_per_op.map_or_else(|| "n.a.".to_owned(), |us| format!("{us:.1} µs"));
    report.line(format!("server CPU per acked operation: {shown}"));
    report.line(describe(&measured));
    report.set("server_cpu_per_op_us", server_per_op);
    report.set("rooms", args.rooms);
    report.set("clients_per_room", args.clients);
    report.set("servers", ws.len());
    report.set("placement", args.placement.as_str());
    report.set("conflicts", conflicts.total());
    report.set(
        "conflicts_per_s",
        conflicts.total().map(|c| round3(c as f64 / measured["window_s"].as_f64().unwrap_or(args.duration).max(1e-9))),
    );
    report.set("conflicts_by_server", conflicts.by_server.clone());
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
    report.set("disagreeing_rooms", disagreeing_rooms);
    report.set("client_errors", failures.len());
    report.set("measured", measured);
    let converged = diverged == 0 && disagreeing_rooms == 0 && failures.is_empty();
    report.set("converged", converged);
    report.line(if converged { "CONVERGED" } else { "DIVERGED" });
    if let Some(first) = first_divergence {
        report.fail(format!(
            "DIVERGED: {diverged} clients differ from their server, {disagreeing_rooms} rooms differ between servers; first: {first}"
        ));
    }
    if let Some(first) = failures.first() {
        report.fail(format!("{} clients failed; first: {first}", failures.len()));
    }
    Ok(report)
}

/// A client's room (an index into the rooms) and server (an index into the `--url`s).
#[derive(Clone, Copy)]
struct Placed {
    room: usize,
    server: usize,
}

/// Reads `room` on each of `servers` (indices into `rests`) until they all show the same
/// revision and text, or until `deadline` (then one last reading): the states, in the order of
/// `servers`, and whether they agree.
async fn room_states(
    rests: &[Rest],
    servers: &[usize],
    room: &str,
    deadline: Instant,
) -> anyhow::Result<(Vec<RoomState>, bool)> {
    loop {
        let mut states = Vec::with_capacity(servers.len());
        for &s in servers {
            states.push(rests[s].room(room).await?);
        }
        let agreed = states.windows(2).all(|w| w[0].revision == w[1].revision && w[0].code == w[1].code);
        if agreed || Instant::now() >= deadline {
            return Ok((states, agreed));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads a counter on every server at once: its value on each, `None` where it is absent.
async fn read_counters(rests: &[Rest], name: &str) -> Vec<Option<f64>> {
    futures_util::future::join_all(rests.iter().map(|rest| rest.metric(name))).await
}

/// The commit conflicts each server counted over the window (`None`: not measured there).
struct Conflicts {
    by_server: Vec<Option<u64>>,
}

impl Conflicts {
    fn between(before: &[Option<f64>], after: &[Option<f64>]) -> Self {
        let by_server = before
            .iter()
            .zip(after)
            .map(|(before, after)| match (before, after) {
                // A counter absent before its first increment reads as 0.
                (before, Some(after)) if *after >= before.unwrap_or(0.0) => {
                    Some((after - before.unwrap_or(0.0)).round() as u64)
                }
                _ => None,
            })
            .collect();
        Self { by_server }
    }

    /// The sum over the servers that expose the counter; `None` when none does.
    fn total(&self) -> Option<u64> {
        self.by_server.iter().flatten().copied().reduce(|a, b| a + b)
    }

    fn describe(&self, window_s: f64, urls: &[String]) -> String {
        let Some(total) = self.total() else {
            return format!("commit conflicts: n.a. (no {CONFLICTS_METRIC} on /metrics)");
        };
        let mut line = format!("commit conflicts: {total} ({:.1}/s)", total as f64 / window_s.max(1e-9));
        if self.by_server.len() > 1 {
            let each: Vec<String> = urls
                .iter()
                .zip(&self.by_server)
                .map(|(url, c)| format!("{url}: {}", c.map_or_else(|| "n.a.".to_owned(), |c| c.to_string())))
                .collect();
            line.push_str(&format!(" [{}]", each.join(", ")));
        }
        line
    }
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

/// When an open-loop client types: every `interval` from `first_due` until `stop_at`, the
/// keystrokes from `measure_from` on counted.
struct Schedule {
    first_due: Instant,
    interval: Duration,
    measure_from: Instant,
    stop_at: Instant,
}

/// Types on its schedule whatever the acks do; the client state machine composes keystrokes
/// typed while an operation is in flight.
async fn open_loop(mut client: Client, seed: u64, schedule: Schedule) -> anyhow::Result<(Client, Typed)> {
    let Schedule { first_due, interval, measure_from, stop_at } = schedule;
    let mut typist = Typist::new(seed);
    let mut typed = Typed::default();
    let mut tracker = SendTracker::default();
    let mut in_flight_since: Option<Instant> = None;
    for k in 0.. {
        let due = first_due + interval.mul_f64(k as f64);
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

#[cfg(test)]
mod tests {
    use super::{Conflicts, Placement};

    /// Each server's clients, for `rooms` rooms of `clients` clients over `servers` servers.
    fn spread(placement: Placement, rooms: usize, clients: usize, servers: usize) -> Vec<usize> {
        let mut on = vec![0; servers];
        for room in 0..rooms {
            for client in 0..clients {
                on[placement.server(room, client, servers)] += 1;
            }
        }
        on
    }

    #[test]
    fn split_puts_a_rooms_clients_on_different_servers_and_balances_them() {
        for servers in 2..=3 {
            for room in 0..10 {
                let of_room: Vec<usize> = (0..2).map(|c| Placement::Split.server(room, c, servers)).collect();
                assert_ne!(of_room[0], of_room[1], "room {room} over {servers} servers");
            }
        }
        assert_eq!(spread(Placement::Split, 50, 2, 2), vec![50, 50]);
        assert_eq!(spread(Placement::Split, 30, 2, 3), vec![20, 20, 20]);
    }

    #[test]
    fn together_keeps_a_room_on_one_server_and_deals_rooms_round_robin() {
        for room in 0..10 {
            let of_room: Vec<usize> = (0..3).map(|c| Placement::Together.server(room, c, 2)).collect();
            assert_eq!(of_room, vec![room % 2; 3]);
        }
        assert_eq!(spread(Placement::Together, 50, 2, 2), vec![50, 50]);
    }

    #[test]
    fn one_server_takes_everyone() {
        assert_eq!(spread(Placement::Split, 5, 2, 1), vec![10]);
        assert_eq!(spread(Placement::Together, 5, 2, 1), vec![10]);
    }

    #[test]
    fn conflicts_are_the_increase_summed_over_the_servers_that_expose_the_counter() {
        let urls = ["http://a".to_owned(), "http://b".to_owned()];
        let c = Conflicts::between(&[Some(10.0), Some(0.0)], &[Some(25.0), Some(5.0)]);
        assert_eq!(c.total(), Some(20));
        assert_eq!(c.describe(2.0, &urls), "commit conflicts: 20 (10.0/s) [http://a: 15, http://b: 5]");

        // Registered only once it is first incremented: absent before counts as 0.
        let c = Conflicts::between(&[None, None], &[Some(3.0), None]);
        assert_eq!(c.by_server, vec![Some(3), None]);
        assert_eq!(c.total(), Some(3));

        // Absent everywhere, or reset by a restart: not available, never a failure.
        let c = Conflicts::between(&[None, None], &[None, None]);
        assert_eq!(c.total(), None);
        assert!(c.describe(2.0, &urls).contains("n.a."));
        assert_eq!(Conflicts::between(&[Some(9.0)], &[Some(2.0)]).total(), None);
    }
}
