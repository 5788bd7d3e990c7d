//! Pairpad's store adapters: implementations of the domain's [`RoomRepo`] port.
//!
//! Layout:
//! - [`postgres`]: the production store, diesel-async + deadpool over tokio-postgres.
//! - [`sqlite`]: the embedded default, bundled SQLite behind diesel-async's sync wrapper.
//! - [`memory`]: a map in a mutex, for tests and throw-away servers.
//! - `sql`: the statements both SQL adapters share; `codec`: the stored form of an operation.
//!
//! [`StoreUrl`] picks the adapter from a URL and [`connect`] opens it, running migrations.

mod codec;
pub mod local_bus;
pub mod memory;
pub mod pg_bus;
pub mod postgres;
mod schema;
mod sql;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use pairpad_domain::{Append, RepoError, RoomBus, RoomRepo};

pub use local_bus::{LocalBus, LocalNetwork};
pub use memory::MemoryRepo;
pub use pg_bus::PgBus;
pub use postgres::PostgresRepo;
pub use sqlite::SqliteRepo;

/// Which store to use, parsed from a URL: `memory`, `sqlite://relative/path.db`,
/// `sqlite:///absolute/path.db` or `postgres://user@host:port/db`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// Nothing survives a restart.
    Memory,
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

/// The URL names no store Pairpad knows.
#[derive(Debug, thiserror::Error)]
#[error("unsupported database URL `{0}`: use memory, sqlite://path.db, sqlite:///abs/path.db or postgres://...")]
pub struct UnsupportedUrl(String);

impl StoreUrl {
    /// Parses a store URL.
    pub fn parse(url: &str) -> Result<Self, UnsupportedUrl> {
        let url = url.trim();
        if url == "memory" || url == "memory://" {
            Ok(Self::Memory)
        } else if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() || path == ":memory:" {
                // Every pooled connection would get its own empty in-memory database.
                return Err(UnsupportedUrl(url.to_owned()));
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err(UnsupportedUrl(mask_url(url)))
        }
    }
}

/// `url` with the password of its user information (`scheme://user:***@host`) and the value of any
/// `password` query parameter (`?password=***`, which PostgreSQL's URLs accept) masked.
pub fn mask_url(url: &str) -> String {
    let (url, query) = url.split_once('?').map_or((url, None), |(url, query)| (url, Some(query)));
    let mut masked = match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        masked.push('?');
        masked.push_str(&params.join("&"));
    }
    masked
}

/// Shows the URL with any password masked, for logs.
impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&mask_url(url)),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How far a commit must get before it counts as done, and so before its operations are
/// acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// On disk: survives a crash of the server process, of the database server and of the machine
    /// (SQLite `synchronous = FULL`; PostgreSQL `synchronous_commit = on`). One fsync per commit.
    #[default]
    Disk,
    /// Handed to the database: survives a crash of the Pairpad process, not of the machine or of the
    /// PostgreSQL server (SQLite `synchronous = NORMAL` in WAL mode; PostgreSQL
    /// `synchronous_commit = off`). No fsync on the commit path.
    Process,
}

/// How to open a store.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub pool_size: usize,
    /// What a commit waits for.
    pub durability: Durability,
}

/// Refuses, before any database sees it, text PostgreSQL's `text` cannot hold (U+0000): every
/// adapter calls it, so the stores behave alike and the refusal is `Rejected` (for good), not a
/// driver error that looks like an outage.
pub(crate) fn check_storable(texts: impl IntoIterator<Item = impl AsRef<str>>) -> Result<(), RepoError> {
    for text in texts {
        pairpad_domain::check_text(text.as_ref()).map_err(|e| RepoError::Rejected(e.to_string()))?;
    }
    Ok(())
}

/// The texts an append would store: inserted text, `opId`s and the snapshot.
pub(crate) fn append_texts(appends: &[impl std::borrow::Borrow<Append>]) -> impl Iterator<Item = &str> {
    appends.iter().flat_map(|append| {
        let append = append.borrow();
        let ops = append.ops.iter().flat_map(|op| {
            let inserted = op.operation.components().iter().filter_map(|c| match c {
                pairpad_domain::Component::Insert(text) => Some(text.as_str()),
                _ => None,
            });
            inserted.chain(op.op_id.as_deref())
        });
        ops.chain(append.snapshot.as_ref().map(|s| s.code.as_str()))
    })
}

/// A store and the bus on which the processes that share it tell each other about rooms.
pub struct Backend {
    /// Where rooms live.
    pub repo: Arc<dyn RoomRepo>,
    /// PostgreSQL's `LISTEN/NOTIFY` for PostgreSQL; for the single-process stores (SQLite,
    /// memory) a bus with nobody else on it.
    pub bus: Arc<dyn RoomBus>,
}

/// Opens the store: creates files and runs migrations as needed, and checks it answers.
pub async fn connect(url: &StoreUrl, options: StoreOptions) -> Result<Backend, RepoError> {
    let backend = match url {
        StoreUrl::Memory => Backend { repo: Arc::new(MemoryRepo::new()), bus: Arc::new(LocalBus::alone()) },
        StoreUrl::Sqlite(path) => {
            Backend { repo: Arc::new(SqliteRepo::open(path, options).await?), bus: Arc::new(LocalBus::alone()) }
        }
        StoreUrl::Postgres(url) => {
            let repo = PostgresRepo::connect(url, options).await?;
            let bus = Arc::new(repo.bus());
            Backend { repo: Arc::new(repo), bus }
        }
    };
    backend.repo.ping().await?;
    Ok(backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks_urls() {
        assert_eq!(StoreUrl::parse("memory").unwrap(), StoreUrl::Memory);
        assert_eq!(StoreUrl::parse("sqlite://data/p.db").unwrap(), StoreUrl::Sqlite("data/p.db".into()));
        assert_eq!(StoreUrl::parse("sqlite:///tmp/p.db").unwrap(), StoreUrl::Sqlite("/tmp/p.db".into()));
        let pg = StoreUrl::parse("postgres://bob:secret@db:5432/x").unwrap();
        assert_eq!(pg.to_string(), "postgres://bob:***@db:5432/x");
        assert_eq!(StoreUrl::parse("postgres://bob@db/x").unwrap().to_string(), "postgres://bob@db/x");
        assert!(StoreUrl::parse("mysql://x").is_err());
        assert!(StoreUrl::parse("sqlite://:memory:").is_err());
    }
}
