//! `pairpad-server`: reads the settings, sets up logging, builds the application and runs it.

use std::path::Path;
use std::process::ExitCode;

use pairpad_server::config::Settings;
use pairpad_server::observability::init_logging;
use pairpad_server::startup::Application;

/// jemalloc hands freed memory back to the operating system within seconds; glibc's allocator
/// kept most of what 10,000 rooms opened and left had used (BENCHMARKS.md, churn).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    let settings = match Settings::load(Path::new("config")) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("pairpad: {e}");
            return ExitCode::FAILURE;
        }
    };
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
