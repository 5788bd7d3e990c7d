//! The PostgreSQL adapter, the production store: diesel-async over tokio-postgres (no libpq),
//! pooled by deadpool, migrated from `migrations/postgres` at start-up.

use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::sql::INSERT_CHUNK;
use crate::{Durability, StoreOptions};

crate::sql::sql_room_repo!(
    PostgresRepo,
    "postgres",
    crate::schema::pg,
    AsyncPgConnection,
    uuid::Uuid,
    same_uuid,
    ok_uuid
);

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

fn same_uuid(id: uuid::Uuid) -> uuid::Uuid {
    id
}

fn ok_uuid(id: uuid::Uuid) -> Result<uuid::Uuid, RepoError> {
    Ok(id)
}

impl PostgresRepo {
    /// Runs the pending migrations, then opens a pool of up to `pool_size` connections.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, RepoError> {
        let migration_url = url.to_owned();
        // diesel's migration harness is synchronous: run it on a blocking thread.
        tokio::task::spawn_blocking(move || {
            let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&migration_url)
                .map_err(unavailable)?;
            conn.run_pending_migrations(MIGRATIONS).map(drop).map_err(unavailable)
        })
        .await
        .map_err(unavailable)??;
        let mut config = ManagerConfig::default();
        // A broken connection fails its statement and the commit is retried; checking every
        // connection with a query on each checkout would cost a round trip per commit.
        config.recycling_method = RecyclingMethod::Fast;
        if options.durability == Durability::Process {
            // The commit returns once PostgreSQL has it in memory; PostgreSQL flushes it within
            // `wal_writer_delay`. A crash of this process loses nothing; one of PostgreSQL can.
            config.custom_setup = Box::new(|url| {
                let url = url.to_owned();
                Box::pin(async move {
                    let mut conn = AsyncPgConnection::establish(&url).await?;
                    conn.batch_execute("SET synchronous_commit TO off")
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    Ok(conn)
                })
            });
        }
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = crate::sql::lifo_pool(manager, options.pool_size)?;
        Ok(Self { pool })
    }
}

async fn commit_appends(conn: &mut AsyncPgConnection, appends: &[&Append]) -> Result<(), TxError> {
    commit_in_transaction(conn, appends).await
}

/// Checks that each room's stored log reaches the revision its append expects. With the
/// primary key on `(room_id, revision)`, which refuses a revision another writer already
/// took, this makes "the expected revision is the latest" hold without reading any
/// room's whole log: one statement of index lookups per batch.
async fn check_expected(conn: &mut AsyncPgConnection, appends: &[&Append]) -> Result<(), TxError> {
    let mut query = operations::table.into_boxed();
    let mut wanted = 0;
    for append in appends.iter().filter(|a| a.expected_revision > 0) {
        let expected = to_i64(append.expected_revision).map_err(TxError::Repo)?;
        let room = same_uuid(append.room.as_uuid());
        query = query.or_filter(operations::room_id.eq(room).and(operations::revision.eq(expected)));
        wanted += 1;
    }
    if wanted == 0 {
        return Ok(());
    }
    let found: i64 = query.count().get_result(conn).await?;
    if found == wanted {
        return Ok(());
    }
    // Rare: find the room to name (a batch of one names itself).
    let first = appends[0];
    Err(TxError::Repo(RepoError::Conflict { room: first.room, expected: first.expected_revision }))
}

/// Commits a batch in one transaction with a fixed number of statements however many
/// rooms it carries: one check, one multi-row insert per `INSERT_CHUNK` operations, and
/// an update only for the rare appends that carry a snapshot.
async fn commit_in_transaction(conn: &mut AsyncPgConnection, appends: &[&Append]) -> Result<(), TxError> {
    conn.transaction::<_, TxError, _>(async |conn| {
        check_expected(conn, appends).await?;
        let rows: Vec<OpRow> = appends
            .iter()
            .flat_map(|a| a.ops.iter().map(move |op| OpRow::from_domain(a.room, op)))
            .collect::<Result<_, _>>()
            .map_err(TxError::Repo)?;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            insert_ops(conn, rows.by_ref().take(INSERT_CHUNK).collect()).await?;
        }
        for append in appends {
            if let (Some(snapshot), Some(last)) = (&append.snapshot, append.ops.last()) {
                store_snapshot(conn, append.room, snapshot, last.at).await?;
            }
        }
        Ok(())
    })
    .await
}

/// Stores a room's new snapshot inside the caller's transaction.
async fn store_snapshot(
    conn: &mut AsyncPgConnection,
    room: RoomId,
    snapshot: &Snapshot,
    at: Timestamp,
) -> Result<(), TxError> {
    let code_revision = to_i64(snapshot.revision).map_err(TxError::Repo)?;
    let updated = diesel::update(rooms::table.find(same_uuid(room.as_uuid())))
        .set((rooms::code.eq(&snapshot.code), rooms::code_revision.eq(code_revision), rooms::updated_at.eq(at.0)))
        .execute(conn)
        .await?;
    if updated == 0 { Err(TxError::Repo(RepoError::NotFound(room))) } else { Ok(()) }
}

async fn insert_ops(conn: &mut AsyncPgConnection, rows: Vec<OpRow>) -> QueryResult<usize> {
    diesel::insert_into(operations::table).values(rows).execute(conn).await
}
