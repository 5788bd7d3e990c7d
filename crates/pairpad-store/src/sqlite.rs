//! The SQLite adapter, the embedded default store: a bundled SQLite (no system library) behind
//! diesel-async's sync-connection wrapper, pooled by deadpool, migrated from `migrations/sqlite`.

use std::path::{Path, PathBuf};

use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

crate::sql::sql_room_repo!(SqliteRepo, "sqlite", crate::schema::sqlite, SqliteConn, String, uuid_text, parse_uuid);

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Set on every pooled connection. `synchronous = FULL` makes each commit reach the disk before
/// it returns, which is what a durable ack promises; group commit keeps that affordable.
const CONNECTION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";

fn uuid_text(id: uuid::Uuid) -> String {
    id.hyphenated().to_string()
}

fn parse_uuid(text: String) -> Result<uuid::Uuid, RepoError> {
    uuid::Uuid::try_parse(&text).map_err(|_| RepoError::Corrupt(format!("`{text}` is not a UUID")))
}

impl SqliteRepo {
    /// Opens (creating it and its folder if needed) the database file at `path`, switches it to
    /// write-ahead logging, runs the pending migrations and opens a pool of `pool_size` connections.
    pub async fn open(path: &Path, pool_size: usize) -> Result<Self, RepoError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let path: PathBuf = path.to_owned();
        let url = path.to_string_lossy().into_owned();
        let migration_url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = SqliteConnection::establish(&migration_url).map_err(unavailable)?;
            // Wait for a lock another process (a server still closing, a backup) holds briefly.
            diesel::connection::SimpleConnection::batch_execute(
                &mut conn,
                "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;",
            )
            .map_err(unavailable)?;
            conn.run_pending_migrations(MIGRATIONS).map(drop).map_err(unavailable)
        })
        .await
        .map_err(unavailable)??;
        let mut config = ManagerConfig::default();
        config.custom_setup = Box::new(|url| {
            let url = url.to_owned();
            Box::pin(async move {
                let mut conn = SqliteConn::establish(&url).await?;
                conn.batch_execute(CONNECTION_PRAGMAS)
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
        let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(url, config);
        let pool = Pool::builder(manager).max_size(pool_size).build().map_err(unavailable)?;
        Ok(Self { pool })
    }
}

/// diesel-async cannot build SQLite's multi-row insert, so it runs as one blocking diesel call.
async fn insert_ops(conn: &mut SqliteConn, rows: Vec<OpRow>) -> QueryResult<usize> {
    conn.spawn_blocking(move |conn| {
        diesel::RunQueryDsl::execute(diesel::insert_into(operations::table).values(rows), conn)
    })
    .await
}
