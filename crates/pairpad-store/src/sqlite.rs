//! The SQLite adapter, the embedded default store: a bundled SQLite (no system library) behind
//! diesel-async's sync-connection wrapper, pooled by deadpool, plus one plain diesel connection
//! kept for commits; migrated from `migrations/sqlite`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{Durability, StoreOptions};

type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

crate::sql::sql_room_repo!(SqliteRepo, "sqlite", crate::schema::sqlite, SqliteConn, String, uuid_text, parse_uuid);

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Set on every connection (pooled and commit), with the `synchronous` level of the chosen durability:
/// `FULL` makes each commit reach the disk before it returns; `NORMAL` (in WAL mode) hands it to
/// the operating system, which survives a crash of the process. Group commit keeps either
/// affordable. A multi-row insert keeps a statement journal: in memory, not in a temporary file.
/// Only the commit connection checkpoints when the log grows (see [`open_writer`]): a pooled
/// connection writes rarely, and a room change should not copy the log back.
fn connection_pragmas(durability: Durability) -> &'static str {
    match durability {
        Durability::Disk => {
            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;"
        }
        Durability::Process => {
            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;"
        }
    }
}

fn uuid_text(id: uuid::Uuid) -> String {
    id.hyphenated().to_string()
}

fn parse_uuid(text: String) -> Result<uuid::Uuid, RepoError> {
    uuid::Uuid::try_parse(&text).map_err(|_| RepoError::Corrupt(format!("`{text}` is not a UUID")))
}

/// The SQLite `RoomRepo`: a deadpool pool of diesel-async connections for reads and room
/// changes, and one connection kept for group commits, which SQLite runs one at a time anyway.
pub struct SqliteRepo {
    pool: Pool<SqliteConn>,
    /// Only ever used by `commit`: its page cache stays warm, as no other connection writes the
    /// operation log.
    writer: Mutex<SqliteConnection>,
    url: String,
    pragmas: &'static str,
    _checkpointer: Checkpointer,
}

impl SqliteRepo {
    /// Opens (creating it and its folder if needed) the database file at `path`, switches it to
    /// write-ahead logging, runs the pending migrations and opens a pool of `pool_size` connections.
    pub async fn open(path: &Path, options: StoreOptions) -> Result<Self, RepoError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let path: PathBuf = path.to_owned();
        let url = path.to_string_lossy().into_owned();
        let writer_url = url.clone();
        let pragmas = connection_pragmas(options.durability);
        let (writer, checkpoint_conn) = tokio::task::spawn_blocking(move || {
            Ok::<_, RepoError>((open_writer(&writer_url, pragmas, true)?, open_writer(&writer_url, pragmas, false)?))
        })
        .await
        .map_err(unavailable)??;
        let mut config = ManagerConfig::default();
        // A broken connection fails its statement and the caller retries; checking every
        // connection with a query on each checkout would cost a statement per read.
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            Box::pin(async move {
                let mut conn = SqliteConn::establish(&url).await?;
                conn.batch_execute(pragmas).await.map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
        let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(url.clone(), config);
        let pool = crate::sql::lifo_pool(manager, options.pool_size)?;
        let checkpointer = Checkpointer::start(checkpoint_conn)?;
        Ok(Self { pool, writer: Mutex::new(writer), url, pragmas, _checkpointer: checkpointer })
    }

    /// Runs the whole batch on the calling thread, as the port allows (the hub commits from a
    /// thread of its own): SQLite does its work in about a millisecond, less than handing the
    /// batch to a blocking pool and back costs under load. The steps are those of PostgreSQL's
    /// commit: check the expected revisions, insert every operation, store the snapshots.
    async fn commit_appends(&self, appends: &[&Append]) -> Result<(), TxError> {
        let checks: Vec<(String, i64)> = appends
            .iter()
            .filter(|a| a.expected_revision > 0)
            .map(|a| Ok((uuid_text(a.room.as_uuid()), to_i64(a.expected_revision)?)))
            .collect::<Result<_, RepoError>>()
            .map_err(TxError::Repo)?;
        let rows: Vec<OpRow> = appends
            .iter()
            .flat_map(|a| a.ops.iter().map(move |op| OpRow::from_domain(a.room, op)))
            .collect::<Result<_, _>>()
            .map_err(TxError::Repo)?;
        let mut snapshots = Vec::new();
        let mut discards = Vec::new();
        for append in appends {
            if let (Some(snapshot), Some(last)) = (&append.snapshot, append.ops.last()) {
                let revision = to_i64(snapshot.revision).map_err(TxError::Repo)?;
                snapshots.push((append.room, snapshot.code.as_str(), revision, last.at.0));
            }
            if let Some(through) = append.discard_through {
                discards.push((uuid_text(append.room.as_uuid()), to_i64(through).map_err(TxError::Repo)?));
            }
        }
        let mut writer = match self.writer.lock() {
            Ok(writer) => writer,
            // A panic inside a transaction may have left it open: replace the connection (closing
            // the old one rolls back whatever it had not committed).
            Err(poisoned) => {
                let mut writer = poisoned.into_inner();
                *writer = open_writer(&self.url, self.pragmas, false).map_err(TxError::Repo)?;
                self.writer.clear_poison();
                writer
            }
        };
        blocking::commit(&mut writer, &checks, &rows, &snapshots, &discards).map_err(|refusal| match refusal {
            blocking::Refusal::Db(e) => TxError::Db(e),
            blocking::Refusal::Conflict => {
                TxError::Repo(RepoError::Conflict { room: appends[0].room, expected: appends[0].expected_revision })
            }
            blocking::Refusal::Missing(room) => TxError::Repo(RepoError::NotFound(room)),
        })
    }
}

/// The commit connection checkpoints after a commit that leaves the log this long (4 KiB pages):
/// every 4,000 pages rather than SQLite's 1,000, so a room's hot pages are written back once for
/// many commits.
const COMMIT_CHECKPOINT_PAGES: u32 = 4_000;

/// Opens the commit (or checkpoint) connection: write-ahead logging, the pending migrations when
/// `migrate` (before the connection pragmas, so a migration may still switch foreign keys off),
/// then the connection pragmas and the commit checkpoint threshold.
fn open_writer(url: &str, pragmas: &str, migrate: bool) -> Result<SqliteConnection, RepoError> {
    let mut conn = SqliteConnection::establish(url).map_err(unavailable)?;
    // Wait for a lock another process (a server still closing, a backup) holds briefly.
    SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")
        .map_err(unavailable)?;
    if migrate {
        conn.run_pending_migrations(MIGRATIONS).map_err(unavailable)?;
    }
    SimpleConnection::batch_execute(&mut conn, pragmas).map_err(unavailable)?;
    SimpleConnection::batch_execute(&mut conn, &format!("PRAGMA wal_autocheckpoint = {COMMIT_CHECKPOINT_PAGES};"))
        .map_err(unavailable)?;
    Ok(conn)
}

/// Copies the write-ahead log back into the database file on a thread of its own, so that the
/// checkpoint the commit connection runs every [`COMMIT_CHECKPOINT_PAGES`] finds most pages
/// already copied: a checkpoint copies pages and `fsync`s the database file, tens of
/// milliseconds while every room waits on that commit. The commit connection keeps its own
/// checkpoint because under a steady stream of commits only the writer can catch the log's end,
/// which lets the next commit write the log from its start again instead of growing it.
struct Checkpointer {
    /// Dropping it stops the thread.
    _stop: std::sync::mpsc::Sender<()>,
}

impl Checkpointer {
    const INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

    fn start(mut conn: SqliteConnection) -> Result<Self, RepoError> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("pairpad-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::INTERVAL) {
                    // Passive: copies what it can without waiting for any lock.
                    if let Err(e) = SimpleConnection::batch_execute(&mut conn, "PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "SQLite checkpoint failed");
                    }
                }
            })
            .map_err(unavailable)?;
        Ok(Self { _stop: stop })
    }
}

/// The batch commit in plain (blocking) diesel.
mod blocking {
    use diesel::prelude::*;
    use diesel::sqlite::SqliteConnection;
    use pairpad_domain::RoomId;

    use super::{OpRow, operations, rooms, uuid_text};
    use crate::sql::discard_bound;

    /// Rows inserted per statement: SQLite allows at most 32766 bound parameters, 6 per row here.
    const INSERT_CHUNK: usize = 1000;

    /// Why a batch was rolled back.
    pub enum Refusal {
        Db(diesel::result::Error),
        /// A room's log does not reach the expected revision.
        Conflict,
        /// A snapshot's room does not exist.
        Missing(RoomId),
    }

    impl From<diesel::result::Error> for Refusal {
        fn from(e: diesel::result::Error) -> Self {
            Self::Db(e)
        }
    }

    /// `BEGIN IMMEDIATE` takes the write lock at once rather than upgrading to it mid-transaction.
    pub fn commit(
        conn: &mut SqliteConnection,
        checks: &[(String, i64)],
        rows: &[OpRow],
        snapshots: &[(RoomId, &str, i64, i64)],
        discards: &[(String, i64)],
    ) -> Result<(), Refusal> {
        conn.immediate_transaction(|conn| {
            for (room, expected) in checks {
                let found: i64 = operations::table
                    .filter(operations::room_id.eq(room))
                    .filter(operations::revision.eq(expected))
                    .count()
                    .get_result(conn)?;
                if found == 0 {
                    return Err(Refusal::Conflict);
                }
            }
            for chunk in rows.chunks(INSERT_CHUNK) {
                diesel::insert_into(operations::table).values(chunk).execute(conn)?;
            }
            for (room, code, revision, at) in snapshots {
                let updated = diesel::update(rooms::table.find(uuid_text(room.as_uuid())))
                    .set((rooms::code.eq(code), rooms::code_revision.eq(revision), rooms::updated_at.eq(at)))
                    .execute(conn)?;
                if updated == 0 {
                    return Err(Refusal::Missing(*room));
                }
            }
            for (room, through) in discards {
                let oldest: Option<i64> = operations::table
                    .filter(operations::room_id.eq(room))
                    .select(diesel::dsl::min(operations::revision))
                    .first(conn)?;
                if let Some(bound) = discard_bound(oldest, *through) {
                    diesel::delete(operations::table)
                        .filter(operations::room_id.eq(room))
                        .filter(operations::revision.le(bound))
                        .execute(conn)?;
                }
            }
            Ok(())
        })
    }
}
