//! `pairpad-server`: reads the settings, sets up logging, builds the application and runs it.
//! `pairpad-server token --room <id|*> --access <view|edit|admin> [--ttl 1h] [--name Alice]`
//! prints a token signed with `auth.secret` instead (token mode; for operators and tests).

use std::path::Path;
use std::process::ExitCode;

use pairpad_server::access::{TokenAccess, claims_for};
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|command| command == "token") {
        return match mint_token(&settings, &args[1..]) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("pairpad token: {e}");
                eprintln!(
                    "usage: pairpad-server token --room <room id or *> --access <view|edit|admin> [--ttl 1h] [--name NAME]"
                );
                ExitCode::FAILURE
            }
        };
    }
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

/// The `token` command: a JWT for the given claims, signed with `auth.secret`.
fn mint_token(settings: &Settings, args: &[String]) -> Result<String, String> {
    let (mut room, mut access, mut ttl, mut name) = (None, None, "1h".to_owned(), None);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?.clone();
        match flag.as_str() {
            "--room" => room = Some(value),
            "--access" => access = Some(value),
            "--ttl" => ttl = value,
            "--name" => name = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let room = room.ok_or("--room is required")?;
    if room != "*" && pairpad_domain::RoomId::parse(&room).is_err() {
        return Err(format!("--room {room} is neither a room id nor *"));
    }
    let access: TokenAccess = serde_json::from_value(serde_json::Value::String(access.ok_or("--access is required")?))
        .map_err(|_| "--access is view, edit or admin".to_owned())?;
    let ttl = humantime::parse_duration(&ttl).map_err(|e| format!("--ttl {ttl}: {e}"))?;
    let gate = settings.gate().map_err(|e| e.to_string())?;
    gate.sign(&claims_for(&room, access, ttl, name))
        .ok_or_else(|| "auth.mode is not \"token\": set PAIRPAD__AUTH__MODE=token and PAIRPAD__AUTH__SECRET".to_owned())
}
