//! trace: replays a recorded editing trace (tests/traces/README.md) through one connection.
//!
//! `--mode ack`: one keystroke (patch) per operation, the next sent once the previous is
//! acknowledged. `--mode compose`: keystrokes are typed as fast as the client can, and those
//! typed while an operation is in flight are composed into the next one (the ot.js client).
//! The server's final text must equal the trace's `endContent` (MATCH, else MISMATCH).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures_util::FutureExt;
use pairpad_client::{Client, Event};
use serde::Deserialize;
use tokio::time::Instant;

use crate::driver::{SendTracker, await_ack, first_difference, settle};
use crate::procfs::{Window, describe};
use crate::stats::{Latency, round3};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One keystroke per operation, the next after the ack.
    Ack,
    /// Keystrokes typed while an operation is in flight are composed into the next.
    Compose,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The trace: gzipped JSON with startContent, endContent and txns of patches.
    #[arg(long, default_value = "tests/traces/rustcode.json.gz")]
    file: PathBuf,
    /// How keystrokes become operations.
    #[arg(long, value_enum, default_value = "ack")]
    mode: Mode,
    /// Replay only the first N patches (the expected text is then a local replay of those).
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub start_content: String,
    pub end_content: String,
    pub txns: Vec<Txn>,
}

#[derive(Deserialize)]
pub struct Txn {
    /// `[position, deleted, inserted]`, positions in code points.
    pub patches: Vec<(usize, usize, String)>,
}

/// Reads a gzipped trace file.
pub fn load(path: &Path) -> anyhow::Result<Trace> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .with_context(|| format!("cannot decompress {}", path.display()))?;
    serde_json::from_str(&json).with_context(|| format!("{} is not a trace", path.display()))
}

/// Applies `patches` to `start` locally: the text the server must end with.
fn replay_locally<'a>(start: &str, patches: impl Iterator<Item = &'a (usize, usize, String)>) -> String {
    let mut rope = ropey::Rope::from_str(start);
    for (position, deleted, inserted) in patches {
        rope.remove(*position..position + deleted);
        rope.insert(*position, inserted);
    }
    rope.to_string()
}

pub async fn run(target: &crate::Target, args: TraceArgs) -> anyhow::Result<crate::stats::Report> {
    let (rest, mut report) = super::begin("trace", target).await?;
    let trace = load(&args.file)?;
    let all: Vec<&(usize, usize, String)> = trace.txns.iter().flat_map(|t| &t.patches).collect();
    let patches = &all[..args.limit.unwrap_or(all.len()).min(all.len())];
    let expected = if patches.len() == all.len() {
        // A trace whose own replay misses endContent is a broken trace, not a server bug.
        let replayed = replay_locally(&trace.start_content, all.iter().copied());
        anyhow::ensure!(
            replayed == trace.end_content,
            "{}: replaying it locally misses endContent",
            args.file.display()
        );
        trace.end_content.clone()
    } else {
        replay_locally(&trace.start_content, patches.iter().copied())
    };
    let room = rest.create_room("rust", &trace.start_content).await?;
    let mut client = Client::connect(&rest.ws_base(), &room, Some("trace")).await.context("cannot connect")?;
    report.line(format!("{}: {} of {} patches, mode {:?}", args.file.display(), patches.len(), all.len(), args.mode));

    let window = Window::start(&target.server_pid);
    let started = Instant::now();
    let mut ack_latency = Latency::new();
    let base_revision = client.doc().revision();
    match args.mode {
        Mode::Ack => {
            for (position, deleted, inserted) in patches.iter().copied() {
                let sent = Instant::now();
                client.splice(*position, *deleted, inserted).await?;
                await_ack(&mut client, Duration::from_secs(30)).await.context("waiting for an ack")?;
                ack_latency.record(sent.elapsed());
            }
        }
        Mode::Compose => {
            let mut tracker = SendTracker::default();
            let mut in_flight_since = None;
            for (position, deleted, inserted) in patches.iter().copied() {
                client.splice(*position, *deleted, inserted).await?;
                if tracker.sent(&client) {
                    in_flight_since = Some(Instant::now());
                }
                // Take whatever the server already said, without waiting. (`timeout(ZERO, ..)`
                // would not do: Tokio's timer rounds deadlines up to the next millisecond.) The
                // read is `unconstrained`: this loop never yields, so once Tokio's cooperative
                // budget ran out every poll would report "nothing yet" and acks would stop.
                while let Some(event) = tokio::task::unconstrained(client.next_event()).now_or_never() {
                    let event = event?;
                    match event {
                        Event::Ack { .. } => {
                            if let Some(sent) = in_flight_since.take() {
                                ack_latency.record(sent.elapsed());
                            }
                            if tracker.sent(&client) {
                                in_flight_since = Some(Instant::now());
                            }
                        }
                        Event::Error { code, message } => {
                            anyhow::bail!("the server refused an edit: {code}: {message}")
                        }
                        _ => {}
                    }
                }
            }
            settle(&mut client, Duration::from_secs(60)).await.context("waiting for the last acks")?;
        }
    }
    let wall = started.elapsed();
    let measured = window.finish();
    // One author: every operation it sent is one revision.
    let ops = client.doc().revision() - base_revision;
    let server_text = rest.room(&room).await?.code;
    let client_text = client.text();
    let _ = client.close().await;

    let keys_per_s = patches.len() as f64 / wall.as_secs_f64();
    let matched = server_text == expected && client_text == expected;
    report.line(format!(
        "{} keystrokes in {ops} operations, {:.3} s: {keys_per_s:.0} keystrokes/s",
        patches.len(),
        wall.as_secs_f64()
    ));
    report.line(format!("ack latency: {}", ack_latency.summary()));
    report.line(describe(&measured));
    report.line(if matched { "MATCH" } else { "MISMATCH" });
    report.set("file", args.file.display().to_string());
    report.set("room", room.clone());
    report.set("mode", format!("{:?}", args.mode).to_lowercase());
    report.set("keystrokes", patches.len());
    report.set("ops", ops);
    report.set("wall_s", round3(wall.as_secs_f64()));
    report.set("keystrokes_per_s", round3(keys_per_s));
    report.set("ack_latency", ack_latency.to_json());
    report.set("final_chars", expected.chars().count());
    report.set("match", matched);
    report.set("measured", measured);
    if server_text != expected {
        report.fail(format!("MISMATCH: server vs expected: {}", first_difference(&server_text, &expected)));
    }
    if client_text != expected {
        report.fail(format!("MISMATCH: client vs expected: {}", first_difference(&client_text, &expected)));
    }
    Ok(report)
}
