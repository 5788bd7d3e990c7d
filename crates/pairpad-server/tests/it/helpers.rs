//! `spawn_app`: a real server on port 0 over a chosen store, and a `TestApp` with one method per
//! endpoint.

use std::path::Path;
use std::time::Duration;

use pairpad_client::Client;
use pairpad_hub::Hub;
use pairpad_server::config::Settings;
use pairpad_server::startup::{Application, Stopper};
use pairpad_store::testing::TestDatabase;
use serde_json::{Value, json};

/// Which store a test runs against.
#[derive(Clone, Copy, Debug)]
pub enum Store {
    Memory,
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub port: u16,
    pub http: reqwest::Client,
    pub stopper: Stopper,
    /// The application's hub (e.g. for an expiry sweep with a clock of the test's own).
    pub hub: Hub,
    pub store_url: String,
    _dir: Option<tempfile::TempDir>,
    db: Option<TestDatabase>,
}

/// The settings every test starts from: defaults, port 0, quick timings.
pub fn test_settings(store_url: &str) -> Settings {
    let mut settings = Settings::load_from(Path::new("/nonexistent"), &[]).expect("default settings");
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.server.shutdown_timeout_secs = 1;
    settings.store.url = store_url.to_owned();
    settings.store.pool_size = 4;
    settings.websocket.ops_per_second = 100_000;
    // Tests create many rooms from 127.0.0.1; tests of the limit turn it on.
    settings.server.rooms_per_minute = 0;
    settings.websocket.heartbeat_interval_secs = 1.0;
    settings.websocket.client_timeout_secs = 5.0;
    settings
}

/// Starts a server over `store`, or `None` when the store is PostgreSQL and no server is
/// configured (see `PAIRPAD_TEST_POSTGRES`).
pub async fn spawn_app(store: Store) -> Option<TestApp> {
    spawn_app_with(store, |_| {}).await
}

pub async fn spawn_app_with(store: Store, adjust: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let (url, dir, db) = match store {
        Store::Memory => ("memory".to_owned(), None, None),
        Store::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            (format!("sqlite://{}", dir.path().join("pairpad.db").display()), Some(dir), None)
        }
        Store::Postgres => {
            let db = TestDatabase::create().await?;
            (db.url(), None, Some(db))
        }
    };
    let mut settings = test_settings(&url);
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("build the application");
    let port = app.port();
    let stopper = app.stopper();
    let hub = app.hub().clone();
    actix_web::rt::spawn(app.run_until_stopped());
    Some(TestApp { port, http: reqwest::Client::new(), stopper, hub, store_url: url, _dir: dir, db })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_base(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `body` as `application/json`, whatever it holds.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let request = self.http.post(self.url(path)).header("content-type", "application/json");
        let response = request.body(body).send().await.expect("POST");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, body.to_string()).await
    }

    /// Creates a room and returns its id.
    pub async fn create_room(&self, language: &str, code: &str) -> String {
        let (status, body) = self.post("/api/rooms", &json!({ "language": language, "code": code })).await;
        assert_eq!(status, 201, "{body}");
        body["roomId"].as_str().expect("roomId").to_owned()
    }

    /// The room's text as the server holds it.
    pub async fn room_code(&self, room: &str) -> String {
        let (status, body) = self.get(&format!("/api/rooms/{room}")).await;
        assert_eq!(status, 200, "{body}");
        body["code"].as_str().expect("code").to_owned()
    }

    pub async fn connect(&self, room: &str, name: &str) -> Client {
        Client::connect(&self.ws_base(), room, Some(name)).await.expect("connect")
    }

    /// Stops the server gracefully and drops its database.
    pub async fn stop(self) {
        self.stopper.stop().await;
        if let Some(db) = self.db {
            db.drop_database().await;
        }
    }

    /// Stops the server gracefully and waits until it has closed its store, whose database (and
    /// folder) is kept for a server started next: an SQLite file serves one server at a time.
    pub async fn stop_keeping_store(self) -> StoppedStore {
        let TestApp { stopper, hub, store_url, _dir, db, .. } = self;
        stopper.stop().await;
        // Both hold the store open.
        drop(stopper);
        drop(hub);
        wait_until_released(&store_url).await;
        StoppedStore { url: store_url, _dir, db }
    }
}

/// Waits until a stopped server has closed its SQLite store (its last tasks let go of it shortly
/// after it stops), so that another may open the file.
pub async fn wait_until_released(store_url: &str) {
    let url = pairpad_store::StoreUrl::parse(store_url).expect("the store URL");
    if !matches!(url, pairpad_store::StoreUrl::Sqlite(_)) {
        return;
    }
    let options = pairpad_store::StoreOptions { pool_size: 1, durability: pairpad_store::Durability::Disk };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while let Err(e) = pairpad_store::connect(&url, options).await {
        assert!(tokio::time::Instant::now() < deadline, "the stopped server still holds its store: {e}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The database of a stopped server (see [`TestApp::stop_keeping_store`]).
pub struct StoppedStore {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    db: Option<TestDatabase>,
}

impl StoppedStore {
    /// Drops the database (a temporary folder goes with this value).
    pub async fn drop_database(self) {
        if let Some(db) = self.db {
            db.drop_database().await;
        }
    }
}

/// A small deterministic generator, so a failing run can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

pub const PATIENCE: Duration = Duration::from_secs(20);

impl TestApp {
    /// Starts a server with exactly these settings (e.g. over a database another run left).
    pub async fn restart(settings: Settings) -> TestApp {
        let store_url = settings.store.url.clone();
        let app = Application::build(settings).await.expect("build the application");
        let port = app.port();
        let stopper = app.stopper();
        let hub = app.hub().clone();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp { port, http: reqwest::Client::new(), stopper, hub, store_url, _dir: None, db: None }
    }
}

/// A raw WebSocket, for tests that send what they like and read close codes.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON message, skipping pings and pongs of the WebSocket protocol.
pub async fn next_json(socket: &mut Socket) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("a text message was expected, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame; answers the JSON messages before it and the close code.
pub async fn until_close(socket: &mut Socket) -> (Vec<Value>, Option<u16>) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut messages = Vec::new();
    loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.expect("the server closes in time") {
            Some(Ok(Message::Text(text))) => messages.push(serde_json::from_str(&text).expect("JSON")),
            Some(Ok(Message::Close(frame))) => return (messages, frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            other => panic!("a close frame was expected, got {other:?}"),
        }
    }
}
