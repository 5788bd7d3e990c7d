//! The server binary as a process: crash safety (SIGKILL in the middle of a burst of edits, then a
//! restart on the same database: every acknowledged edit is there, nothing re-sent is applied
//! twice), graceful SIGTERM, start-up errors, several processes on one PostgreSQL database, and
//! the refusal of a second process on one SQLite file.

use std::process::Stdio;
use std::time::{Duration, Instant};

use pairpad_client::{Client, ClientError, Event};
use tokio::process::{Child, Command};

use crate::helpers::{PATIENCE, Rng};

pub(crate) struct ServerProcess {
    pub(crate) child: Child,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn server_command(database_url: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pairpad-server"));
    command
        .env("DATABASE_URL", database_url)
        .env("PORT", port.to_string())
        .env("PAIRPAD__SERVER__WORKERS", "2")
        .env("RUST_LOG", "warn")
        // The server logs to stdout: shown when PAIRPAD_TEST_SERVER_LOGS is set, for debugging.
        .stdout(if std::env::var_os("PAIRPAD_TEST_SERVER_LOGS").is_some() { Stdio::inherit() } else { Stdio::null() })
        .kill_on_drop(true);
    command
}

/// Starts the binary without waiting for it (see [`wait_healthy`]).
fn spawn_server(database_url: &str, port: u16) -> ServerProcess {
    let child = server_command(database_url, port).stderr(Stdio::inherit()).spawn().expect("start the server binary");
    ServerProcess { child }
}

/// Waits until the server answers `/health`; fails at once if it exits.
async fn wait_healthy(server: &mut ServerProcess, port: u16) {
    let health = format!("http://127.0.0.1:{port}/health");
    for _ in 0..200 {
        if reqwest::get(&health).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        if let Some(status) = server.child.try_wait().expect("poll the server") {
            panic!("the server on port {port} exited during start-up ({status})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server on port {port} did not become healthy");
}

pub(crate) async fn start_server(database_url: &str, port: u16) -> ServerProcess {
    let mut server = spawn_server(database_url, port);
    wait_healthy(&mut server, port).await;
    server
}

/// Creates an empty room over HTTP and returns its id.
pub(crate) async fn create_room(http: &reqwest::Client, port: u16) -> String {
    let room: serde_json::Value =
        http.post(format!("http://127.0.0.1:{port}/api/rooms")).send().await.unwrap().json().await.unwrap();
    room["roomId"].as_str().unwrap().to_owned()
}

impl ServerProcess {
    /// SIGKILL, and waits for the process to be gone.
    pub(crate) async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reap");
    }
}

/// What a typist did: its client, the tokens acknowledged, and when the last was.
pub(crate) struct Typed {
    pub(crate) client: Client,
    pub(crate) acked: Vec<String>,
    pub(crate) last_ack: Instant,
}

/// One client's typing: each edit inserts a unique token (`⟨{name}{i}⟩`) at a token boundary and
/// waits for its ack before the next, so each acked token is known. Stops at the first failure
/// (the server went away) or at `until`.
pub(crate) async fn type_tokens(mut client: Client, name: String, seed: u64, until: Option<Instant>) -> Typed {
    let mut rng = Rng::new(seed);
    let mut acked = Vec::new();
    let mut last_ack = Instant::now();
    for i in 0.. {
        if until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let token = format!("⟨{name}{i}⟩");
        let text = client.text();
        let boundaries: Vec<usize> =
            std::iter::once(0).chain(text.chars().enumerate().filter(|(_, c)| *c == '⟩').map(|(i, _)| i + 1)).collect();
        if client.splice(boundaries[rng.below(boundaries.len())], 0, &token).await.is_err() {
            break;
        }
        match client.sync(PATIENCE).await {
            Ok(()) => {
                acked.push(token);
                last_ack = Instant::now();
            }
            Err(ClientError::Refused { code, message }) => panic!("refused: {code}: {message}"),
            Err(_) => break,
        }
    }
    Typed { client, acked, last_ack }
}

/// Every acknowledged token is in `code` exactly once, and no token is there twice (at most
/// `unacked` more tokens: edits in flight when a server died, re-sent and applied once).
pub(crate) fn assert_each_token_once(code: &str, acked: &[String], unacked: usize) {
    for token in acked {
        assert_eq!(code.matches(token.as_str()).count(), 1, "acknowledged {token} must be there exactly once");
    }
    let tokens = code.matches('⟨').count();
    assert!(tokens >= acked.len() && tokens <= acked.len() + unacked, "{tokens} tokens for {} acks", acked.len());
    let unique: std::collections::HashSet<&str> = code.split_inclusive('⟩').collect();
    assert_eq!(unique.len(), tokens, "no token was applied twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_loses_no_acknowledged_edit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let port = free_port();
    let mut server = start_server(&url, port).await;
    let http = reqwest::Client::new();
    let room = create_room(&http, port).await;
    let base = format!("ws://127.0.0.1:{port}");
    let mut typists = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let client = Client::connect(&base, &room, Some(name)).await.unwrap();
        typists.push(tokio::spawn(type_tokens(client, name.to_owned(), i as u64 + 7, None)));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().await;
    let mut results = Vec::new();
    for typist in typists {
        results.push(typist.await.expect("typist"));
    }
    let acked: Vec<String> = results.iter().flat_map(|typed| typed.acked.clone()).collect();
    assert!(acked.len() > 20, "the burst was under way ({} acks)", acked.len());

    let _server = start_server(&url, port).await;
    let mut clients = Vec::new();
    for Typed { mut client, .. } in results {
        client.reconnect().await.expect("reconnect");
        client.sync(PATIENCE).await.expect("re-sent work acknowledged");
        clients.push(client);
    }
    for client in &mut clients {
        client.drain(Duration::from_millis(300)).await.expect("drain");
    }
    let room_json: serde_json::Value =
        http.get(format!("http://127.0.0.1:{port}/api/rooms/{room}")).send().await.unwrap().json().await.unwrap();
    let code = room_json["code"].as_str().unwrap();
    assert_each_token_once(code, &acked, 3);
    for client in &clients {
        assert_eq!(client.text(), code, "clients converged after the restart");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_zero_and_rooms_survive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("term.db").display());
    let port = free_port();
    let mut server = start_server(&url, port).await;
    let http = reqwest::Client::new();
    let room = create_room(&http, port).await;
    let mut client = Client::connect(&format!("ws://127.0.0.1:{port}"), &room, Some("t")).await.unwrap();
    client.splice(0, 0, "survives 🦀").await.unwrap();
    client.sync(PATIENCE).await.unwrap();
    let pid = server.child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(status.success());
    // Every close the server starts says why first (PROTOCOL.md, "Close codes").
    match client.next_event_within(PATIENCE).await {
        Ok(Event::Error { code, .. }) => assert_eq!(code, "shutting_down"),
        other => panic!("a shutting_down error was expected, got {other:?}"),
    }
    match client.next_event_within(PATIENCE).await {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, 1001),
        other => panic!("a 1001 close was expected, got {other:?}"),
    }
    let exit = tokio::time::timeout(PATIENCE, server.child.wait()).await.expect("exits in time").expect("wait");
    assert_eq!(exit.code(), Some(0));
    let _again = start_server(&url, port).await;
    let view: serde_json::Value =
        http.get(format!("http://127.0.0.1:{port}/api/rooms/{room}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(view["code"], "survives 🦀");
}

/// A bad setting or an unreachable database: one clear line on stderr and exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_errors_are_one_line_and_exit_one() {
    let cases = [
        (vec![("PORT", "eighty")], "PORT=eighty"),
        (vec![("DATABASE_URL", "mysql://db/x")], "unsupported database URL"),
        (vec![("DATABASE_URL", "postgres://postgres:secret@127.0.0.1:1/none")], "cannot open the store"),
        (vec![("PAIRPAD__WEBSOCKET__OUTBOUND_QUEUE", "lots")], "invalid configuration"),
        (vec![("PAIRPAD__STORE__POOL_SIZE", "0")], "store.pool_size"),
    ];
    for (env, expected) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pairpad-server"));
        command.env("RUST_LOG", "off").env("DATABASE_URL", "memory").env("PORT", "0");
        for (key, value) in &env {
            command.env(key, value);
        }
        let output = tokio::time::timeout(PATIENCE, command.output()).await.expect("exits").expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{env:?}: one line expected, got {stderr}");
        assert!(stderr.contains(expected), "{env:?}: {stderr}");
        assert!(!stderr.contains("secret"), "credentials are masked: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Replicas started at the same moment on an empty PostgreSQL database all come up (their
/// migrations take turns under an advisory lock) and serve the same rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_started_together_on_one_postgres_database_serve_the_same_rooms() {
    let Some(db) = pairpad_store::testing::TestDatabase::create().await else { return };
    let url = db.url();
    let ports = [free_port(), free_port(), free_port()];
    let mut servers: Vec<ServerProcess> = ports.iter().map(|&port| spawn_server(&url, port)).collect();
    for (server, &port) in servers.iter_mut().zip(&ports) {
        wait_healthy(server, port).await;
    }
    let http = reqwest::Client::new();
    let room = create_room(&http, ports[0]).await;
    let mut client = Client::connect(&format!("ws://127.0.0.1:{}", ports[0]), &room, Some("a")).await.unwrap();
    client.splice(0, 0, "shared 🦀").await.unwrap();
    client.sync(PATIENCE).await.unwrap();
    for port in &ports[1..] {
        let response = http.get(format!("http://127.0.0.1:{port}/api/rooms/{room}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "the room is served on port {port}");
        let view: serde_json::Value = response.json().await.unwrap();
        assert_eq!(view["code"], "shared 🦀", "port {port}");
    }
    client.close().await.unwrap();
    drop(servers);
    db.drop_database().await;
}

/// SQLite serves one process: a second one on the same file is refused with one line and exit
/// code 1, and the first keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("single.db");
    let url = format!("sqlite://{}", path.display());
    let port = free_port();
    let _first = start_server(&url, port).await;
    let http = reqwest::Client::new();
    let room = create_room(&http, port).await;

    let mut second = server_command(&url, free_port());
    second.env("RUST_LOG", "off").stderr(Stdio::piped());
    let output = tokio::time::timeout(PATIENCE, second.output()).await.expect("exits").expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line expected, got {stderr}");
    let expected = format!("another pairpad-server is already using {}", path.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("use PostgreSQL to run several"), "{stderr}");

    let response = http.get(format!("http://127.0.0.1:{port}/api/rooms/{room}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "the first server still serves");
}
