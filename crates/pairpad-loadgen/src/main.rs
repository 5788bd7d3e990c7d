//! `pairpad-loadgen`: drives a running Pairpad server through its public protocol and measures it.
//!
//! Every scenario prints a readable summary and then one line `RESULT {json}` holding every
//! figure, so scripts can `grep '^RESULT '` and parse the rest. The exit code is non-zero when a
//! correctness check fails (DIVERGED, MISMATCH, lost messages, failed connections): speed never
//! fails a run, since a benchmark is not a timed test.
//!
//! Layout:
//! - [`scenarios`]: one module per scenario (fanout, typing, trace, idle, join, churn, history).
//! - [`driver`]: helpers over [`pairpad_client::Client`]: connecting many, typing, settling.
//! - [`rest`]: the REST calls (create a room, read it back, health, a `/metrics` counter).
//! - [`procfs`]: the servers' CPU time and memory over the measured window, from `/proc`.
//! - [`stats`]: latency histograms and the report every scenario prints.

mod driver;
mod procfs;
mod rest;
mod scenarios;
mod stats;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pairpad-loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let target = cli.target;
    let outcome = runtime.block_on(async move {
        match cli.scenario {
            Scenario::Fanout(args) => scenarios::fanout::run(&target, args).await,
            Scenario::Typing(args) => scenarios::typing::run(&target, args).await,
            Scenario::Trace(args) => scenarios::trace::run(&target, args).await,
            Scenario::Idle(args) => scenarios::idle::run(&target, args).await,
            Scenario::Join(args) => scenarios::join::run(&target, args).await,
            Scenario::Churn(args) => scenarios::churn::run(&target, args).await,
            Scenario::History(args) => scenarios::history::run(&target, args).await,
        }
    });
    // Connections still open in tasks are dropped with the runtime; don't wait for them.
    runtime.shutdown_background();
    match outcome {
        Ok(report) => {
            let passed = report.passed();
            report.print();
            if passed { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("pairpad-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
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
}
