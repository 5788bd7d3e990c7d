//! history: the kept history and resuming (issue 14, PROTOCOL.md 1.1 "History" and "Resuming").
//!
//! 1. Replays an editing trace into a room, one operation per keystroke (so revision `k` is the
//!    trace's first `k` patches applied).
//! 2. Reads the text at random revisions (`GET /api/rooms/{id}/revisions/{n}`): latency, and each
//!    answer checked against the trace (MATCH, else MISMATCH).
//! 3. Reads the timeslider's points (`GET /api/rooms/{id}/history?buckets=B`): latency.
//! 4. Resuming: a client goes offline, another types `--missed` operations, the first
//!    reconnects with `?since`: time from reconnecting to having every missed operation
//!    (converged), repeated `--resumes` times.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pairpad_client::{Client, Rejoined};
use tokio::time::Instant;

use crate::driver::{Rng, Typist, await_ack, catch_up, first_difference, settle};
use crate::scenarios::trace;
use crate::stats::{Latency, round3};

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// The trace replayed into the room.
    #[arg(long, default_value = "tests/traces/rustcode.json.gz")]
    file: PathBuf,
    /// Replay only the first N patches.
    #[arg(long)]
    limit: Option<usize>,
    /// Random revisions read back.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Operations a resuming client misses.
    #[arg(long, default_value_t = 1000)]
    missed: usize,
    /// Resumes measured.
    #[arg(long, default_value_t = 10)]
    resumes: usize,
    /// Points asked of the history endpoint.
    #[arg(long, default_value_t = 200)]
    buckets: usize,
}

pub async fn run(target: &crate::Target, args: HistoryArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("history", target).await?;
    let trace = trace::load(&args.file)?;
    let all: Vec<&(usize, usize, String)> = trace.txns.iter().flat_map(|t| &t.patches).collect();
    let patches = &all[..args.limit.unwrap_or(all.len()).min(all.len())];
    let room = rest.create_room("rust", &trace.start_content).await?;
    let mut author = Client::connect(&rest.ws_base(), &room, Some("trace")).await.context("cannot connect")?;

    // 1. The room's history: one operation per keystroke.
    let filled = Instant::now();
    for (position, deleted, inserted) in patches.iter().copied() {
        author.splice(*position, *deleted, inserted).await?;
        await_ack(&mut author, Duration::from_secs(30)).await.context("waiting for an ack")?;
    }
    let head = author.doc().revision();
    report.line(format!(
        "{}: {} operations replayed in {:.1} s",
        args.file.display(),
        head,
        filled.elapsed().as_secs_f64()
    ));

    // 2. The text at random revisions, checked against the trace.
    let mut texts = Vec::with_capacity(patches.len() + 1);
    let mut rope = ropey::Rope::from_str(&trace.start_content);
    texts.push(trace.start_content.clone());
    for (position, deleted, inserted) in patches.iter().copied() {
        rope.remove(*position..position + deleted);
        rope.insert(*position, inserted);
        texts.push(rope.to_string());
    }
    let mut rng = Rng::new(14);
    let mut text_latency = Latency::new();
    let mut mismatches = 0;
    for _ in 0..args.samples {
        let revision = rng.below(texts.len());
        let started = Instant::now();
        let at = rest.text_at(&room, revision as u64).await?;
        text_latency.record(started.elapsed());
        if at != texts[revision] {
            mismatches += 1;
            if mismatches == 1 {
                report.fail(format!("MISMATCH at revision {revision}: {}", first_difference(&at, &texts[revision])));
            }
        }
    }
    report.line(format!("text at a random revision ({} samples): {}", args.samples, text_latency.summary()));

    // 3. The timeslider's points.
    let mut points_latency = Latency::new();
    for _ in 0..20 {
        let started = Instant::now();
        let points = rest.history_points(&room, args.buckets).await?;
        points_latency.record(started.elapsed());
        anyhow::ensure!(points.last().copied() == Some(head), "the history's last point is not the head {head}");
    }
    report.line(format!("history?buckets={} : {}", args.buckets, points_latency.summary()));

    // 4. Resuming after `missed` operations.
    let mut typist = Typist::new(7);
    let mut resume_latency = Latency::new();
    let mut writer = Client::connect(&rest.ws_base(), &room, Some("writer")).await.context("cannot connect")?;
    for _ in 0..args.resumes {
        settle(&mut author, Duration::from_secs(30)).await?;
        author.go_offline().await;
        for _ in 0..args.missed {
            typist.type_into(&mut writer).await?;
            await_ack(&mut writer, Duration::from_secs(30)).await?;
        }
        let head = writer.doc().revision();
        let started = Instant::now();
        let rejoined = author.reconnect().await?;
        catch_up(&mut author, head, Duration::from_secs(30)).await?;
        resume_latency.record(started.elapsed());
        if !matches!(rejoined, Rejoined::Resumed) {
            report.fail(format!("the server did not resume: {rejoined:?}"));
        }
    }
    settle(&mut writer, Duration::from_secs(30)).await?;
    let server_text = rest.room(&room).await?.code;
    for (who, client) in [("author", &author), ("writer", &writer)] {
        if client.text() != server_text {
            report.fail(format!("DIVERGED: {who} vs server: {}", first_difference(&client.text(), &server_text)));
        }
    }
    report.line(format!("resume after {} missed operations, to converged: {}", args.missed, resume_latency.summary()));
    report.line(if mismatches == 0 { "MATCH" } else { "MISMATCH" });
    report.set("operations", head);
    report.set("text_at_latency", text_latency.to_json());
    report.set("history_latency", points_latency.to_json());
    report.set("resume_latency", resume_latency.to_json());
    report.set("missed", args.missed);
    report.set("mismatches", mismatches);
    report.set("fill_s", round3(filled.elapsed().as_secs_f64()));
    report.set("room", room);
    let _ = author.close().await;
    let _ = writer.close().await;
    Ok(report)
}
