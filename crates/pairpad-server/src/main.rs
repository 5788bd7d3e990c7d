//! `pairpad-server`: parses the command line ([`pairpad_server::cli`]), reads the settings and runs
//! the command: `serve` (the default) sets up logging, builds the application and runs it;
//! `migrate`, `check-config` and `token` print one result and exit.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use pairpad_server::cli::{self, Cli, Command};
use pairpad_server::config::Settings;
use pairpad_server::observability::init_logging;
use pairpad_server::startup::Application;

/// jemalloc hands freed memory back to the operating system within seconds; glibc's allocator
/// kept most of what 10,000 rooms opened and left had used (BENCHMARKS.md, churn).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    // `--help`, `--version` and usage errors end here, whatever the settings.
    let command = Cli::parse().command.unwrap_or(Command::Serve);
    let settings = match Settings::load(Path::new("config")) {
        Ok(settings) => settings,
        Err(e) => {
            let context = match command {
                Command::CheckConfig => "pairpad check-config",
                _ => "pairpad",
            };
            eprintln!("{context}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            init_logging(&settings.log);
            report("pairpad migrate", cli::migrate(&settings).await)
        }
        Command::CheckConfig => report("pairpad check-config", cli::effective_settings(&settings)),
        Command::Token(args) => report("pairpad token", args.mint(&settings)),
    }
}

/// Prints a command's result on stdout, or its error on stderr (and fails).
fn report(context: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(output) => {
            println!("{}", output.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{context}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> ExitCode {
    init_logging(&settings.log);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("pairpad: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pairpad: {e}");
            ExitCode::FAILURE
        }
    }
}
