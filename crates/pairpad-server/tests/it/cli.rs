//! The `pairpad-server` command line: `--help`, `--version`, `serve`, `migrate`, `check-config`,
//! `token`.

use std::path::Path;
use std::process::{Command, Output};

/// A secret long enough for token mode (at least 32 bytes).
const SECRET: &str = "0123456789abcdef0123456789abcdef01234567";

/// The binary, run in `dir` (which has no `config/`, so the compiled-in defaults apply) with none
/// of the settings this test process may have inherited, and `env` set.
fn pairpad(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pairpad-server"));
    command.current_dir(dir).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("PAIRPAD__") || ["DATABASE_URL", "PORT", "RUST_LOG"].contains(&key.as_str()) {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    pairpad(dir.path(), args, env).output().expect("run pairpad-server")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(output), stderr(output));
}

#[test]
fn version_prints_the_version() {
    let output = run(&["--version"], &[]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output).trim(), format!("pairpad-server {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_lists_the_subcommands() {
    let output = run(&["--help"], &[]);
    assert_exit(&output, 0);
    let help = stdout(&output);
    for command in ["serve", "migrate", "check-config", "token"] {
        assert!(help.lines().any(|line| line.trim_start().starts_with(command)), "{command} missing from:\n{help}");
    }
}

#[test]
fn help_needs_no_valid_settings() {
    let output = run(&["--help"], &[("PAIRPAD__SERVER__ROOMS_BURST", "0")]);
    assert_exit(&output, 0);
}

#[test]
fn check_config_prints_the_effective_settings_with_secrets_masked() {
    let env = [
        ("PAIRPAD__AUTH__MODE", "token"),
        ("PAIRPAD__AUTH__SECRET", SECRET),
        ("DATABASE_URL", "postgres://pairpad:hunter2@db.example:5432/pairpad"),
        ("PORT", "9123"),
    ];
    let output = run(&["check-config"], &env);
    assert_exit(&output, 0);
    let shown = stdout(&output);
    assert!(!shown.contains(SECRET) && !shown.contains("hunter2"), "a secret is shown:\n{shown}");
    for line in [
        "[auth]",
        "mode = \"token\"",
        "secret = \"***\"",
        "url = \"postgres://pairpad:***@db.example:5432/pairpad\"",
        "port = 9123",
        "[autocomplete.model]",
    ] {
        assert!(shown.lines().any(|l| l == line), "{line} missing from:\n{shown}");
    }
}

#[test]
fn check_config_fails_on_invalid_settings() {
    let output = run(&["check-config"], &[("PAIRPAD__SERVER__ROOMS_BURST", "0")]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("server.rooms_burst must be greater than 0"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());

    let output = run(&["check-config"], &[("PAIRPAD__AUTH__MODE", "token"), ("PAIRPAD__AUTH__SECRET", "short")]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("auth.secret"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("short"), "the secret is shown: {}", stderr(&output));
}

#[test]
fn migrate_creates_and_then_keeps_a_sqlite_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("data").join("pairpad.db");
    let url = format!("sqlite://{}", file.display());
    for _ in 0..2 {
        let output = pairpad(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]).output().expect("run pairpad-server");
        assert_exit(&output, 0);
        assert!(stdout(&output).contains("migrations applied"), "{}", stdout(&output));
        assert!(file.is_file(), "{} was not created", file.display());
    }
}

#[test]
fn migrate_has_nothing_to_do_in_memory() {
    let output = run(&["migrate"], &[("DATABASE_URL", "memory")]);
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("nothing to migrate"), "{}", stdout(&output));
}

#[test]
fn migrate_fails_in_one_line_when_the_store_is_unreachable() {
    // Nothing listens on port 1.
    let output = run(&["migrate"], &[("DATABASE_URL", "postgres://pairpad:hunter2@127.0.0.1:1/pairpad")]);
    assert_exit(&output, 1);
    let error = stderr(&output);
    assert_eq!(error.trim_end().lines().count(), 1, "{error}");
    assert!(error.starts_with("pairpad migrate: postgres://pairpad:***@127.0.0.1:1/pairpad"), "{error}");
}

#[tokio::test]
async fn migrate_creates_and_then_keeps_a_postgres_schema() {
    let Some(db) = pairpad_store::testing::TestDatabase::create().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    for _ in 0..2 {
        let command = pairpad(dir.path(), &["migrate"], &[("DATABASE_URL", &db.url())]);
        let output = tokio::process::Command::from(command).output().await.expect("run pairpad-server");
        assert_exit(&output, 0);
    }
    // The schema is there, up to the latest migration (`execute` panics on an error).
    db.execute("SELECT id, view_id FROM rooms; SELECT revision FROM operations; SELECT revision FROM checkpoints")
        .await;
    db.drop_database().await;
}

#[test]
fn token_prints_a_jwt_in_token_mode() {
    let env = [("PAIRPAD__AUTH__MODE", "token"), ("PAIRPAD__AUTH__SECRET", SECRET)];
    let output = run(&["token", "--room", "*", "--access", "edit", "--ttl", "10m", "--name", "Ada"], &env);
    assert_exit(&output, 0);
    let token = stdout(&output);
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert!(parts.iter().all(|part| !part.is_empty()), "{token}");
}

#[test]
fn token_fails_in_open_mode() {
    let output = run(&["token", "--room", "*", "--access", "view"], &[]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("auth.mode is not \"token\""), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
}

#[test]
fn token_refuses_a_bad_room_or_access() {
    let env = [("PAIRPAD__AUTH__MODE", "token"), ("PAIRPAD__AUTH__SECRET", SECRET)];
    for args in [["--room", "kitchen", "--access", "view"], ["--room", "*", "--access", "owner"]] {
        let output = run(&[&["token"][..], &args].concat(), &env);
        assert_exit(&output, 2);
        assert!(stdout(&output).is_empty());
    }
}
