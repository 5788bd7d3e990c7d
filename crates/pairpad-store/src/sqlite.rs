//! The SQLite adapter, the embedded default store: a bundled SQLite (no system library) behind
//! diesel-async's sync-connection wrapper, pooled by deadpool, plus one plain diesel connection
//! owned by a writer thread that runs every commit; migrated from `migrations/sqlite`.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{Durability, StoreOptions};

type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

crate::sql::sql_room_repo! { repo: SqliteRepo, kind: "sqlite", schema: crate::schema::sqlite, conn: SqliteConn, id: String,
id_sql: diesel::sql_types::Text }

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

/// The SQLite `RoomRepo`: a deadpool pool of diesel-async connections for reads and room
/// changes, and a writer thread with one connection of its own for group commits, which SQLite
/// runs one at a time anyway.
pub struct SqliteRepo {
    pool: Pool<SqliteConn>,
    writer: Writer,
    _checkpointer: Checkpointer,
    /// Held for the repo's lifetime (see [`lock_database`]); dropping it releases the lock.
    _lock: std::fs::File,
}

impl SqliteRepo {
    /// Opens (creating it and its folder if needed) the database file at `path`, switches it to
    /// write-ahead logging, runs the pending migrations and opens a pool of `pool_size` connections.
    /// Refused while another repo (in this process or another) holds the file: see
    /// [`lock_database`].
    pub async fn open(path: &Path, options: StoreOptions) -> Result<Self, RepoError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let lock = lock_database(path)?;
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
        let writer = Writer::start(writer, url, pragmas)?;
        Ok(Self { pool, writer, _checkpointer: checkpointer, _lock: lock })
    }

    /// Prepares the batch's rows here and hands them to the writer thread, which runs the steps of
    /// PostgreSQL's commit in one transaction: check each room's expected revision (leaving out
    /// the rooms not at it), insert the others' operations, store their snapshots (each also a
    /// checkpoint).
    async fn commit_appends(&self, appends: &[&Append]) -> Result<Committed, TxError> {
        let batch = blocking::Batch::new(appends).map_err(TxError::Repo)?;
        let conflicts = self.writer.commit(batch).await?;
        Ok(crate::sql::conflicts(appends, |room| !conflicts.contains(&room)))
    }
}

/// Takes an exclusive advisory lock on `<path>.lock`, beside the database. Processes hear of each
/// other's commits only through PostgreSQL: two processes on one SQLite file would each sequence
/// their rooms in memory, never hear of the other's edits and conflict with them, so a second one
/// is refused at start-up. The operating system releases the lock when the file is closed,
/// whatever ends the process (SIGKILL included), so a restart never finds a stale lock; the empty
/// file itself stays. Tools such as `sqlite3` do not look at it.
fn lock_database(path: &Path) -> Result<std::fs::File, RepoError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| unavailable(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(unavailable(format!(
            "another pairpad-server is already using {}; SQLite serves one process (use PostgreSQL to run several)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(unavailable(format!("cannot lock {}: {e}", lock_path.display()))),
    }
}

impl SqliteRepo {
    /// One read after another: SQLite is local (and one process never follows another's commits).
    async fn read_each(&self, reads: &[(RoomId, u64)], limit: usize) -> Result<Vec<Vec<CommittedOp>>, RepoError> {
        let mut answers = Vec::with_capacity(reads.len());
        for &(id, after) in reads {
            answers.push(self.ops_since(id, after, limit).await?);
        }
        Ok(answers)
    }

    /// Each append's room's stored head, read room by room (SQLite is local, and one process's
    /// commits never conflict: this runs only for a room that does not exist).
    async fn stored_heads(&self, appends: &[&Append]) -> Result<Vec<Option<crate::sql::StoredHead>>, RepoError> {
        let mut conn = self.conn().await?;
        let mut heads = Vec::with_capacity(appends.len());
        for append in appends {
            let id = String::from_uuid(append.room.as_uuid());
            let code_revision: Option<i64> = rooms::table
                .find(&id)
                .select(rooms::code_revision)
                .first(&mut *conn)
                .await
                .optional()
                .map_err(unavailable)?;
            let latest_op: Option<i64> = operations::table
                .filter(operations::room_id.eq(&id))
                .select(diesel::dsl::max(operations::revision))
                .first(&mut *conn)
                .await
                .map_err(unavailable)?;
            heads.push(code_revision.map(|code_revision| crate::sql::StoredHead { code_revision, latest_op }));
        }
        Ok(heads)
    }
}

/// The thread that owns the commit connection and runs every commit on it: SQLite does its work
/// in about a millisecond, blocking, so it does it here rather than on a caller's worker thread.
/// Its page cache stays warm, as no other connection writes the operation log. It stops when the
/// repo is dropped.
struct Writer {
    jobs: tokio::sync::mpsc::Sender<WriteJob>,
}

struct WriteJob {
    batch: blocking::Batch,
    done: tokio::sync::oneshot::Sender<Result<Vec<pairpad_domain::RoomId>, TxError>>,
}

impl Writer {
    /// Commits come from one committer, one at a time: a short queue is enough.
    const QUEUE: usize = 4;

    fn start(mut conn: SqliteConnection, url: String, pragmas: &'static str) -> Result<Self, RepoError> {
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<WriteJob>(Self::QUEUE);
        std::thread::Builder::new()
            .name("pairpad-sqlite-writer".into())
            .spawn(move || {
                while let Some(WriteJob { batch, done }) = queue.blocking_recv() {
                    let run = std::panic::AssertUnwindSafe(|| blocking::commit(&mut conn, &batch));
                    let result = match std::panic::catch_unwind(run) {
                        Ok(result) => result,
                        // A panic inside a transaction may have left it open: replace the
                        // connection (closing the old one rolls back what it had not committed).
                        Err(_) => match open_writer(&url, pragmas, false) {
                            Ok(fresh) => {
                                conn = fresh;
                                Err(TxError::Repo(unavailable("the commit panicked; it was rolled back")))
                            }
                            Err(e) => {
                                let _ = done.send(Err(TxError::Repo(e)));
                                return;
                            }
                        },
                    };
                    let _ = done.send(result);
                }
            })
            .map_err(unavailable)?;
        Ok(Self { jobs })
    }

    /// The rooms left out (not at their expected revision), or the error that stored nothing.
    async fn commit(&self, batch: blocking::Batch) -> Result<Vec<pairpad_domain::RoomId>, TxError> {
        let stopped = || TxError::Repo(unavailable("the SQLite writer thread has stopped"));
        let (done, verdict) = tokio::sync::oneshot::channel();
        self.jobs.send(WriteJob { batch, done }).await.map_err(|_| stopped())?;
        verdict.await.map_err(|_| stopped())?
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

/// The batch commit in plain (blocking) diesel, run on the writer thread.
mod blocking {
    use diesel::prelude::*;
    use diesel::sqlite::SqliteConnection;
    use pairpad_domain::{Append, RepoError, RoomId};

    use super::{OpRow, checkpoints, operations, rooms};
    use crate::sql::{RoomWrite, TxError, store_snapshot};

    /// Rows inserted per statement: SQLite allows at most 32766 bound parameters, 7 per row here.
    const INSERT_CHUNK: usize = 1000;

    /// What one commit writes, owned, so that it can travel to the writer thread.
    pub struct Batch {
        rooms: Vec<RoomWrite<String>>,
        rows: Vec<OpRow>,
    }

    impl Batch {
        pub fn new(appends: &[&Append]) -> Result<Self, RepoError> {
            let rooms = appends.iter().map(|append| RoomWrite::new(append)).collect::<Result<_, _>>()?;
            let rows = appends
                .iter()
                .flat_map(|append| append.ops.iter().map(|op| OpRow::from_domain(append.room, op)))
                .collect::<Result<_, _>>()?;
            Ok(Self { rooms, rows })
        }
    }

    /// `BEGIN IMMEDIATE` takes the write lock at once rather than upgrading to it mid-transaction.
    /// Answers the rooms left out because their log is not at the expected revision (SQLite serves
    /// one process, whose rooms have one writer each: only a caller committing on its own can
    /// meet one).
    pub fn commit(conn: &mut SqliteConnection, batch: &Batch) -> Result<Vec<RoomId>, TxError> {
        conn.immediate_transaction(|conn| {
            let mut conflicts = Vec::new();
            for room in &batch.rooms {
                if !is_at(conn, room)? {
                    let exists: i64 = rooms::table.find(&room.id).count().get_result(conn)?;
                    if exists == 0 {
                        return Err(TxError::Refused);
                    }
                    conflicts.push(room.room);
                }
            }
            let stored = |id: &String| !batch.rooms.iter().any(|room| &room.id == id && conflicts.contains(&room.room));
            let rows: Vec<&OpRow> = batch.rows.iter().filter(|row| stored(&row.room_id)).collect();
            for chunk in rows.chunks(INSERT_CHUNK) {
                // Every column given, `op_id` as NULL when missing: SQLite has no DEFAULT keyword
                // in multi-row inserts.
                let values: Vec<_> = chunk
                    .iter()
                    .map(|row| {
                        (
                            operations::room_id.eq(&row.room_id),
                            operations::revision.eq(row.revision),
                            operations::operation.eq(&row.operation),
                            operations::op_id.eq(&row.op_id),
                            operations::user_id.eq(&row.user_id),
                            operations::created_at.eq(row.created_at),
                            operations::author_name.eq(&row.author_name),
                        )
                    })
                    .collect();
                diesel::insert_into(operations::table).values(values).execute(conn)?;
            }
            for room in batch.rooms.iter().filter(|room| !conflicts.contains(&room.room)) {
                store_snapshot!(conn, room)?;
            }
            Ok(conflicts)
        })
    }

    /// Whether the room's log ends at its expected revision: it holds that revision (unless it is
    /// 0, the start) and not the next. One probe of the primary key.
    fn is_at(conn: &mut SqliteConnection, room: &RoomWrite<String>) -> Result<bool, TxError> {
        let expected = room.expected_revision;
        let found: Vec<i64> = operations::table
            .filter(operations::room_id.eq(&room.id))
            .filter(operations::revision.between(expected, expected + 1))
            .select(operations::revision)
            .load(conn)?;
        Ok((expected == 0 || found.contains(&expected)) && !found.contains(&(expected + 1)))
    }
}
