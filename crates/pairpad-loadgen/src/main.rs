//! `pairpad-loadgen`: drives a running Pairpad server through its public protocol and measures it.
//!
//! Every scenario prints a readable summary and then one line `RESULT {json}` holding every
//! figure, so scripts can `grep '^RESULT '` and parse the rest; `--json-out PATH` also writes
//! that JSON to a file, and `chart` turns such files into SVG charts. On a terminal, long runs
//! show a progress line a second on stderr. The exit code is non-zero when a correctness check
//! fails (DIVERGED, MISMATCH, lost messages, failed connections): speed never fails a run, since
//! a benchmark is not a timed test.
//!
//! Layout:
//! - [`scenarios`]: one module per scenario (fanout, typing, authors, trace, idle, join, churn,
//!   history). `authors`: N clients in one room, each typing at a human rate and reading everyone
//!   else: ack and delivery latency, losses, convergence, server CPU per delivered message.
//! - [`driver`]: helpers over [`pairpad_client::Client`]: connecting many, typing, settling.
//! - [`rest`]: the REST calls (create a room, read it back, health, a `/metrics` counter).
//! - [`procfs`]: the servers', this process's and the machine's CPU time and the servers' memory
//!   over the measured window, from `/proc`.
//! - [`stats`]: latency histograms and the report every scenario prints.
//! - [`progress`]: the progress line on a terminal.
//! - [`chart`]: SVG charts and a Markdown table from JSON results.
//! - [`floor`]: what this machine charges for waking up, a durable write and a thread round trip,
//!   without Pairpad (the floor under the server's CPU per operation at human rates).

mod chart;
mod completions;
mod driver;
mod floor;
mod procfs;
mod progress;
mod rest;
mod scenarios;
mod stats;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// The load generator shares the machine with the server: a crowded room is hundreds of thousands
/// of small messages a second to parse and apply, and jemalloc allocates them for less than
/// glibc does (the server uses it too).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Load generator for the Pairpad server. Start the server first, then point `--url` at it.
///
/// Several server processes sharing one PostgreSQL database: give them all, comma-separated
/// (`--urls http://127.0.0.1:9100,http://127.0.0.1:9101`, and their pids in the same order with
/// `--server-pid`). fanout and typing spread their clients over them (see their `--help`); the
/// other scenarios take a single server.
#[derive(Parser)]
#[command(name = "pairpad-loadgen", version)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Also writes the result's JSON (the `RESULT` line's, indented) to this file, whether the
    /// checks passed or not; its folder must exist. For `chart` and scripts.
    #[arg(long, global = true, value_name = "PATH")]
    json_out: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

/// Where the servers are, shared by every scenario.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// The server's base URL (`ws://` is derived from it). Several processes serving the same
    /// database: their URLs, comma-separated (`--urls` is the same option); rooms are created
    /// on the first, and fanout and typing spread their clients over all of them.
    #[arg(
        long = "url",
        visible_alias = "urls",
        value_name = "URL[,URL...]",
        global = true,
        value_delimiter = ',',
        num_args = 1,
        default_value = "http://127.0.0.1:8080"
    )]
    pub urls: Vec<String>,
    /// The server's process id: adds its CPU time and memory over the measured window. Several
    /// processes: their pids, comma-separated (each is measured; the report adds them up).
    #[arg(long, global = true, value_delimiter = ',', num_args = 1, value_name = "PID[,PID...]")]
    pub server_pid: Vec<u32>,
}

#[derive(Subcommand)]
enum Scenario {
    /// One writer per room typing at a fixed rate, K readers: delivery and ack latency, losses.
    Fanout(scenarios::fanout::FanoutArgs),
    /// R rooms x C clients typing random edits: acked operations/s, ack latency, convergence.
    Typing(scenarios::typing::TypingArgs),
    /// N authors in one room, each typing at a human rate: ack and delivery latency, losses,
    /// convergence, server CPU per delivered message.
    Authors(scenarios::authors::AuthorsArgs),
    /// Replays an editing trace through one connection: wall time, keystrokes/s, final text.
    Trace(scenarios::trace::TraceArgs),
    /// N idle connections across M rooms: the server's memory per connection.
    Idle(scenarios::idle::IdleArgs),
    /// Many clients joining a room with a large document at once: time until all have `init`.
    Join(scenarios::join::JoinArgs),
    /// Opens, edits and leaves many rooms: does the server's memory return to its baseline?
    Churn(scenarios::churn::ChurnArgs),
    /// Kept history and resuming: text at random revisions of a replayed trace, resume latency.
    History(scenarios::history::HistoryArgs),
    /// Not a scenario: draws SVG charts from JSON results (`--json-out`) and prints the authors
    /// table. No server needed.
    Chart(chart::ChartArgs),
    /// Not a scenario: what this machine charges for waking up, a durable write to a disk and a
    /// round trip to another thread, paced like typists. No server needed.
    Floor(floor::FloorArgs),
    /// Not a scenario: how often the rule suggester completes real files' identifiers, and how
    /// fast. No server needed.
    Completions(completions::CompletionsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The commands that need no server run without a runtime.
    let offline = match &cli.scenario {
        Scenario::Chart(args) => Some(("chart", chart::run(args))),
        Scenario::Completions(args) => Some(("completions", completions::run(args))),
        _ => None,
    };
    if let Some((command, outcome)) = offline {
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pairpad-loadgen {command}: {e:#}");
                ExitCode::from(2)
            }
        };
    }
    let (target, json_out, scenario) = (cli.target, cli.json_out, cli.scenario);
    let outcome = match scenario {
        // Measures this process's own CPU: no runtime threads beside it.
        Scenario::Floor(args) => floor::run(&args),
        scenario => against_servers(target, scenario),
    };
    report_outcome(outcome, json_out.as_deref())
}

/// Runs a scenario that drives servers, on a multi-threaded runtime.
fn against_servers(target: Target, scenario: Scenario) -> anyhow::Result<stats::Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the runtime: {e}"))?;
    let outcome = runtime.block_on(async move {
        progress::start(target.server_pid.first().copied());
        match scenario {
            Scenario::Fanout(args) => scenarios::fanout::run(&target, args).await,
            Scenario::Typing(args) => scenarios::typing::run(&target, args).await,
            Scenario::Authors(args) => scenarios::authors::run(&target, args).await,
            Scenario::Trace(args) => scenarios::trace::run(&target, args).await,
            Scenario::Idle(args) => scenarios::idle::run(&target, args).await,
            Scenario::Join(args) => scenarios::join::run(&target, args).await,
            Scenario::Churn(args) => scenarios::churn::run(&target, args).await,
            Scenario::History(args) => scenarios::history::run(&target, args).await,
            Scenario::Chart(_) | Scenario::Completions(_) | Scenario::Floor(_) => {
                unreachable!("these run without a runtime")
            }
        }
    });
    // Connections still open in tasks are dropped with the runtime; don't wait for them.
    runtime.shutdown_background();
    outcome
}

/// Prints a scenario's report (and writes it to `--json-out`); the exit code says whether it passed.
fn report_outcome(outcome: anyhow::Result<stats::Report>, json_out: Option<&Path>) -> ExitCode {
    match outcome {
        Ok(report) => {
            let passed = report.passed();
            let figures = report.print();
            if let Some(path) = json_out
                && let Err(e) = write_json(path, &figures)
            {
                eprintln!("pairpad-loadgen: --json-out: {e:#}");
                return ExitCode::from(2);
            }
            if passed { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("pairpad-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes a result's figures, indented, with a final newline.
fn write_json(path: &Path, figures: &serde_json::Value) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut text = serde_json::to_string_pretty(figures)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    fn target(args: &[&str]) -> super::Target {
        Cli::try_parse_from(args).expect("valid command line").target
    }

    #[test]
    fn url_takes_one_server_or_a_comma_separated_list() {
        assert_eq!(target(&["loadgen", "typing"]).urls, ["http://127.0.0.1:8080"]);
        assert_eq!(target(&["loadgen", "--url", "http://a:1", "typing"]).urls, ["http://a:1"]);
        let several = target(&["loadgen", "--urls", "http://a:1,http://b:2", "--server-pid", "7,8", "typing"]);
        assert_eq!(several.urls, ["http://a:1", "http://b:2"]);
        assert_eq!(several.server_pid, [7, 8]);
        // Global: also after the scenario's name.
        let after = target(&["loadgen", "fanout", "--url", "http://a:1,http://b:2", "--readers", "4"]);
        assert_eq!(after.urls, ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn json_out_is_global_and_chart_takes_files_or_folders() {
        let cli =
            Cli::try_parse_from(["loadgen", "authors", "--authors", "20", "--json-out", "r.json"]).expect("valid");
        assert_eq!(cli.json_out.as_deref(), Some(std::path::Path::new("r.json")));
        assert!(matches!(cli.scenario, super::Scenario::Authors(_)));
        let cli = Cli::try_parse_from(["loadgen", "chart", "--input", "a.json", "dir", "--out", "docs/bench"]);
        assert!(matches!(cli.expect("valid").scenario, super::Scenario::Chart(_)));
        assert!(Cli::try_parse_from(["loadgen", "chart", "--out", "docs/bench"]).is_err(), "--input is required");
    }

    #[test]
    fn the_json_file_holds_the_figures() {
        let dir = std::env::temp_dir().join(format!("loadgen-json-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let path = dir.join("result.json");
        super::write_json(&path, &serde_json::json!({ "scenario": "authors", "passed": true })).expect("written");
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("JSON");
        assert_eq!(back["scenario"], "authors");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
