//! `pairpad-server`: reads the settings, sets up logging, builds the application and runs it.

use std::path::Path;
use std::process::ExitCode;

use pairpad_server::config::Settings;
use pairpad_server::observability::init_logging;
use pairpad_server::startup::Application;

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
