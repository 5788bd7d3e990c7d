//! Settings: `config/default.toml`, then `config/local.toml` if present, then environment
//! variables `PAIRPAD__SECTION__KEY`, then the conventional `DATABASE_URL` and `PORT`.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use pairpad_hub::HubSettings;
use pairpad_hub::session::SessionSettings;
use pairpad_room::committer::CommitSettings;
use pairpad_room::room::RoomSettings as RoomOwnerSettings;
use pairpad_store::{StoreUrl, mask_url};
use pairpad_suggest::ModelApi;
use serde::{Deserialize, Serialize, Serializer};

/// Every setting of the server. Field docs live in `config/default.toml`. Serialized (for
/// `check-config`), secrets are masked: `auth.secret`, and any password in a URL.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub rooms: RoomSettings,
    pub websocket: WebSocketSettings,
    pub history: HistorySettings,
    pub auth: AuthSettings,
    pub autocomplete: AutocompleteSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub allowed_origins: Vec<String>,
    pub public_hosts: Vec<String>,
    pub rooms_per_minute: u32,
    pub rooms_burst: u32,
    pub trusted_proxies: Vec<String>,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    #[serde(serialize_with = "masked_url")]
    pub url: String,
    pub pool_size: usize,
    pub durability: DurabilitySetting,
    pub commit_retry_limit_secs: f64,
    pub commit_stall_secs: f64,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("StoreSettings")
            .field("url", &mask_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("durability", &self.durability)
            .field("commit_retry_limit_secs", &self.commit_retry_limit_secs)
            .field("commit_stall_secs", &self.commit_stall_secs)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DurabilitySetting {
    Disk,
    Process,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    pub max_document_chars: usize,
    pub history_window: usize,
    pub max_history_fetch: usize,
    pub snapshot_every: u64,
    pub room_queue: usize,
    pub max_commit_batch: usize,
    pub idle_unload_secs: f64,
    pub max_users_per_room: usize,
    pub expire_after_days: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSettings {
    pub outbound_queue: usize,
    pub heartbeat_interval_secs: f64,
    pub client_timeout_secs: f64,
    pub max_frame_bytes: usize,
    pub max_operation_components: usize,
    pub max_connections: usize,
    pub ops_per_second: u32,
    pub cursors_per_second: u32,
    pub max_rate_violations: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySettings {
    pub keep_days: u32,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    #[serde(serialize_with = "masked_secret")]
    pub secret: String,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings are logged; the secret never is.
        f.debug_struct("AuthSettings").field("mode", &self.mode).finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Open,
    Token,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AutocompleteSettings {
    pub max_code_bytes: usize,
    pub model: AutocompleteModelSettings,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
/// `[autocomplete.model]`: what the server reads; `pairpad_suggest::ModelSettings` is what the
/// suggester runs with (built from this in `startup`).
pub struct AutocompleteModelSettings {
    pub enabled: bool,
    #[serde(serialize_with = "masked_url")]
    pub endpoint: String,
    pub model: String,
    #[serde(serialize_with = "model_api_name")]
    pub api: ModelApi,
    pub api_key_env: String,
    pub timeout_ms: u64,
    pub max_tokens: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `***` for a secret that is set; an unset one stays empty.
fn masked_secret<S: Serializer>(secret: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(if secret.is_empty() { "" } else { "***" })
}

fn masked_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&mask_url(url))
}

fn model_api_name<S: Serializer>(api: &ModelApi, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match api {
        ModelApi::Completions => "completions",
        ModelApi::Chat => "chat",
    })
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Store(#[from] pairpad_store::UnsupportedUrl),
    #[error("invalid configuration: PORT={0} is not a port number")]
    Port(String),
    #[error("invalid configuration: {0}")]
    Value(String),
}

/// The compiled-in defaults, so the binary runs from any directory.
const DEFAULTS: &str = include_str!("../../../config/default.toml");

impl Settings {
    /// Reads the settings from `dir/default.toml` (or the compiled-in copy), `dir/local.toml`
    /// and the environment.
    pub fn load(dir: &Path) -> Result<Self, SettingsError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(dir, &env)
    }

    /// Like [`Settings::load`], with the environment given (for tests).
    pub fn load_from(dir: &Path, env: &[(String, String)]) -> Result<Self, SettingsError> {
        let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let source: std::collections::HashMap<String, String> =
            env.iter().filter(|(k, _)| k.starts_with("PAIRPAD__")).cloned().collect();
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(config::File::from(dir.join("local.toml")).required(false))
            .add_source(
                config::Environment::with_prefix("PAIRPAD")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.allowed_origins")
                    .with_list_parse_key("server.public_hosts")
                    .with_list_parse_key("server.trusted_proxies")
                    .try_parsing(true)
                    .source(Some(source)),
            );
        if let Some(url) = get("DATABASE_URL").filter(|u| !u.is_empty()) {
            builder = builder.set_override("store.url", url)?;
        }
        if let Some(port) = get("PORT").filter(|p| !p.is_empty()) {
            let port: u16 = port.parse().map_err(|_| SettingsError::Port(port.clone()))?;
            builder = builder.set_override("server.port", port)?;
        }
        let settings: Settings = builder.build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        self.store_url()?;
        self.gate()?;
        self.trusted_proxies()?;
        if self.server.rooms_per_minute > 0 && self.server.rooms_burst == 0 {
            return Err(SettingsError::Value("server.rooms_burst must be greater than 0".into()));
        }
        let positive = [
            ("store.pool_size", self.store.pool_size),
            ("server.max_body_bytes", self.server.max_body_bytes),
            ("websocket.outbound_queue", self.websocket.outbound_queue),
            ("websocket.max_frame_bytes", self.websocket.max_frame_bytes),
            ("websocket.max_operation_components", self.websocket.max_operation_components),
            ("rooms.room_queue", self.rooms.room_queue),
            ("rooms.max_commit_batch", self.rooms.max_commit_batch),
            ("rooms.snapshot_every", self.rooms.snapshot_every as usize),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(SettingsError::Value(format!("{name} must be greater than 0")));
        }
        for (name, secs) in [
            ("rooms.idle_unload_secs", self.rooms.idle_unload_secs),
            ("websocket.heartbeat_interval_secs", self.websocket.heartbeat_interval_secs),
            ("websocket.client_timeout_secs", self.websocket.client_timeout_secs),
            ("store.commit_retry_limit_secs", self.store.commit_retry_limit_secs),
            ("store.commit_stall_secs", self.store.commit_stall_secs),
        ] {
            if !(secs > 0.0 && secs < 1e9) {
                return Err(SettingsError::Value(format!("{name} must be a positive number of seconds")));
            }
        }
        Ok(())
    }

    /// The store chosen by `store.url`.
    pub fn store_url(&self) -> Result<StoreUrl, SettingsError> {
        Ok(StoreUrl::parse(&self.store.url)?)
    }

    /// `server.trusted_proxies`: each entry an IP address or a CIDR block.
    pub fn trusted_proxies(&self) -> Result<Vec<IpNet>, SettingsError> {
        let parse = |entry: &String| {
            let entry = entry.trim();
            entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                SettingsError::Value(format!("server.trusted_proxies: {entry:?} is not an IP address or CIDR block"))
            })
        };
        self.server.trusted_proxies.iter().map(parse).collect()
    }

    /// How the store is opened.
    pub fn store_options(&self) -> pairpad_store::StoreOptions {
        let durability = match self.store.durability {
            DurabilitySetting::Disk => pairpad_store::Durability::Disk,
            DurabilitySetting::Process => pairpad_store::Durability::Process,
        };
        pairpad_store::StoreOptions { pool_size: self.store.pool_size, durability }
    }

    /// How long edits may wait for the store, with no commit succeeding, before health checks
    /// report the committer stalled.
    pub fn commit_stall(&self) -> Duration {
        Duration::from_secs_f64(self.store.commit_stall_secs)
    }

    /// Who may do what (`auth.mode`, `auth.secret`): a token mode without a secret of at least
    /// [`crate::access::MIN_SECRET_BYTES`] is refused.
    pub fn gate(&self) -> Result<crate::access::Gate, SettingsError> {
        match self.auth.mode {
            AuthMode::Open => Ok(crate::access::Gate::Open),
            AuthMode::Token if self.auth.secret.len() < crate::access::MIN_SECRET_BYTES => {
                Err(SettingsError::Value(format!(
                    "auth.mode = \"token\" needs auth.secret (PAIRPAD__AUTH__SECRET) of at least {} bytes",
                    crate::access::MIN_SECRET_BYTES
                )))
            }
            AuthMode::Token => Ok(crate::access::Gate::token(self.auth.secret.as_bytes())),
        }
    }

    /// Room expiry (`rooms.expire_after_days`); `None` keeps rooms forever.
    pub fn expiry(&self) -> Option<crate::expiry::Expiry> {
        crate::expiry::Expiry::for_days(self.rooms.expire_after_days)
    }

    /// History retention (`history.keep_days`); `None` keeps every operation.
    pub fn retention(&self) -> Option<crate::retention::Retention> {
        crate::retention::Retention::for_days(self.history.keep_days)
    }

    /// The hub's part of the settings.
    pub fn hub(&self) -> HubSettings {
        let (rooms, ws) = (&self.rooms, &self.websocket);
        let room = RoomOwnerSettings {
            max_document_chars: rooms.max_document_chars,
            history_window: rooms.history_window,
            max_history_fetch: rooms.max_history_fetch,
            snapshot_every: rooms.snapshot_every,
            room_queue: rooms.room_queue,
            idle_unload: Duration::from_secs_f64(rooms.idle_unload_secs),
            max_users_per_room: rooms.max_users_per_room,
        };
        let session = SessionSettings {
            outbound_queue: ws.outbound_queue,
            heartbeat_interval: Duration::from_secs_f64(ws.heartbeat_interval_secs),
            client_timeout: Duration::from_secs_f64(ws.client_timeout_secs),
            max_frame_bytes: ws.max_frame_bytes,
            max_operation_components: ws.max_operation_components,
            max_connections: ws.max_connections,
            ops_per_second: ws.ops_per_second,
            cursors_per_second: ws.cursors_per_second,
            max_rate_violations: ws.max_rate_violations,
        };
        let commit = CommitSettings {
            max_batch: rooms.max_commit_batch,
            retry_limit: Duration::from_secs_f64(self.store.commit_retry_limit_secs),
        };
        HubSettings { room, session, commit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_complete_and_valid() {
        let s = Settings::load_from(Path::new("/nonexistent"), &[]).unwrap();
        assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 8080));
        assert_eq!(s.store_url().unwrap(), StoreUrl::Sqlite("data/pairpad.db".into()));
        assert_eq!((s.history.keep_days, s.retention()), (0, None), "history is kept forever");
    }

    #[test]
    fn history_retention_is_read_in_days() {
        let vars = env(&[("PAIRPAD__HISTORY__KEEP_DAYS", "30")]);
        let s = Settings::load_from(Path::new("/nonexistent"), &vars).unwrap();
        let retention = s.retention().expect("a retention");
        assert_eq!(retention.keep, Duration::from_secs(30 * 24 * 60 * 60));
        assert_eq!(retention.batch, 10_000);
        let bad = |value: &str| {
            Settings::load_from(Path::new("/nonexistent"), &env(&[("PAIRPAD__HISTORY__KEEP_DAYS", value)])).unwrap_err()
        };
        assert!(bad("-1").to_string().contains("invalid configuration"));
        assert!(bad("a week").to_string().contains("invalid configuration"));
    }

    #[test]
    fn the_hub_takes_its_defaults_from_the_defaults_file() {
        let s = Settings::load_from(Path::new("/nonexistent"), &[]).unwrap();
        let hub = s.hub();
        assert_eq!(hub.room.max_document_chars, 2_097_152);
        assert_eq!(hub.room.idle_unload, Duration::from_secs(30));
        assert_eq!(hub.session.max_frame_bytes, 8_388_608);
        assert_eq!(hub.commit.max_batch, 1024);
        assert_eq!(hub.operation_limits().max_count, hub.room.max_document_chars);
    }

    #[test]
    fn environment_overrides() {
        let vars = env(&[
            ("PAIRPAD__SERVER__PORT", "9000"),
            ("PAIRPAD__SERVER__HOST", "0.0.0.0"),
            ("PAIRPAD__ROOMS__SNAPSHOT_EVERY", "7"),
            ("PAIRPAD__SERVER__ALLOWED_ORIGINS", "https://a.example,https://b.example"),
            ("PAIRPAD__SERVER__PUBLIC_HOSTS", "pair.example.com,pair.example.com:8443"),
            ("PAIRPAD__SERVER__TRUSTED_PROXIES", "10.0.0.0/8,::1"),
            ("DATABASE_URL", "memory"),
        ]);
        let s = Settings::load_from(Path::new("/nonexistent"), &vars).unwrap();
        assert_eq!((s.server.host.as_str(), s.server.port, s.rooms.snapshot_every), ("0.0.0.0", 9000, 7));
        assert_eq!(s.server.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(s.server.public_hosts, ["pair.example.com", "pair.example.com:8443"]);
        let proxies = s.trusted_proxies().unwrap();
        assert_eq!(proxies, ["10.0.0.0/8".parse::<IpNet>().unwrap(), "::1/128".parse().unwrap()]);
        assert_eq!(s.store_url().unwrap(), StoreUrl::Memory);
        let s = Settings::load_from(Path::new("/nonexistent"), &env(&[("PORT", "7000")])).unwrap();
        assert_eq!(s.server.port, 7000);
    }

    #[test]
    fn bad_settings_are_reported() {
        let bad = |pairs: &[(&str, &str)]| Settings::load_from(Path::new("/nonexistent"), &env(pairs)).unwrap_err();
        assert!(bad(&[("PORT", "eighty")]).to_string().contains("PORT=eighty"));
        assert!(bad(&[("DATABASE_URL", "mysql://x")]).to_string().contains("unsupported database URL"));
        assert!(bad(&[("PAIRPAD__SERVER__PORT", "99999")]).to_string().contains("invalid configuration"));
        assert!(bad(&[("PAIRPAD__STORE__POOL_SIZE", "0")]).to_string().contains("store.pool_size"));
        assert!(bad(&[("PAIRPAD__SERVER__TRUSTED_PROXIES", "proxy.local")]).to_string().contains("proxy.local"));
        assert!(bad(&[("PAIRPAD__SERVER__ROOMS_BURST", "0")]).to_string().contains("server.rooms_burst"));
        assert!(bad(&[("PAIRPAD__AUTOCOMPLETE__MODEL__API", "grpc")]).to_string().contains("grpc"));
    }

    #[test]
    fn urls_are_shown_without_their_passwords() {
        assert_eq!(mask_url("postgres://bob:secret@db:5432/x"), "postgres://bob:***@db:5432/x");
        assert_eq!(mask_url("postgres://bob:p@ss@db/x"), "postgres://bob:***@db/x");
        assert_eq!(mask_url("postgres://bob@db/x"), "postgres://bob@db/x");
        assert_eq!(mask_url("postgres://db/x?user=bob&password=secret"), "postgres://db/x?user=bob&password=***");
        assert_eq!(mask_url("sqlite://data/pairpad.db"), "sqlite://data/pairpad.db");
        assert_eq!(mask_url("memory"), "memory");
    }

    #[test]
    fn serialized_and_debug_settings_show_no_secret() {
        let secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t";
        let vars = env(&[
            ("PAIRPAD__AUTH__MODE", "token"),
            ("PAIRPAD__AUTH__SECRET", secret),
            ("DATABASE_URL", "postgres://bob:hunter2@db/x"),
        ]);
        let s = Settings::load_from(Path::new("/nonexistent"), &vars).unwrap();
        let shown = [toml::to_string(&s).unwrap(), format!("{s:?}")];
        for shown in shown {
            assert!(!shown.contains(secret) && !shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("bob:***@db/x"), "{shown}");
        }
    }

    #[test]
    fn the_model_api_is_read_as_its_enum() {
        let vars = env(&[("PAIRPAD__AUTOCOMPLETE__MODEL__API", "chat")]);
        let s = Settings::load_from(Path::new("/nonexistent"), &vars).unwrap();
        assert_eq!(s.autocomplete.model.api, ModelApi::Chat);
    }
}
