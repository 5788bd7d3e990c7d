//! The PostgreSQL adapter, the production store: diesel-async over tokio-postgres (no libpq),
//! pooled by deadpool, migrated from `migrations/postgres` at start-up.

use std::sync::Arc;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::sql::{RoomWrite, store_snapshot};
use crate::{Durability, StoreOptions};

crate::sql::sql_room_repo! {
    repo: PostgresRepo, kind: "postgres", schema: crate::schema::pg, conn: AsyncPgConnection, id: uuid::Uuid, id_sql: diesel::sql_types::Uuid,
}

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The key of the PostgreSQL session advisory lock held around the migrations, so that processes
/// started together on one database migrate it one after the other (concurrent
/// `CREATE TABLE IF NOT EXISTS` of diesel's migration table fails on PostgreSQL's catalog). Fixed
/// for good: every version of Pairpad must use the same key. Its bytes spell `pairpad` then `m`.
const MIGRATION_LOCK_KEY: i64 = 0x7061_6972_7061_646d;

impl PostgresRepo {
    /// Runs the pending migrations, then opens a pool of up to `pool_size` connections.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, RepoError> {
        let migration_url = url.to_owned();
        // diesel's migration harness is synchronous: run it on a blocking thread.
        tokio::task::spawn_blocking(move || {
            let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&migration_url)
                .map_err(unavailable)?;
            // Waits while another process migrates; a session lock, so closing the connection
            // (or the process dying) releases it too.
            let lock = format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})");
            diesel::connection::SimpleConnection::batch_execute(&mut conn, &lock).map_err(unavailable)?;
            let migrated = conn.run_pending_migrations(MIGRATIONS).map(drop).map_err(unavailable);
            let unlock = format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})");
            let unlocked = diesel::connection::SimpleConnection::batch_execute(&mut conn, &unlock).map_err(unavailable);
            migrated.and(unlocked)
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
        Ok(Self { pool, url: url.to_owned(), process: pairpad_domain::ProcessId::random(), peers: Arc::default() })
    }

    /// The bus on which this process hears of the other processes' commits (which this repo's
    /// commits announce, stamped with the same process id) and exchanges presence with them.
    pub fn bus(&self) -> crate::PgBus {
        crate::PgBus::new(&self.url, self.process, self.peers.clone())
    }
}

/// The PostgreSQL `RoomRepo`: a deadpool pool of diesel-async connections.
pub struct PostgresRepo {
    pool: Pool<AsyncPgConnection>,
    url: String,
    /// Stamped on commit notices, so this process's bus ignores its own.
    process: pairpad_domain::ProcessId,
    /// Whether other processes listen (learnt by the bus): commits are announced only then.
    peers: Arc<crate::pg_bus::Peers>,
}

impl PostgresRepo {
    async fn commit_appends(&self, appends: &[&Append]) -> Result<(), TxError> {
        let mut conn = self.conn().await.map_err(TxError::Repo)?;
        let announce = self.peers.any().then_some(self.process);
        commit_batch(&mut conn, appends, announce).await
    }
}

impl PostgresRepo {
    /// Each append's room's stored head, in one query however many rooms the batch carries: with
    /// several processes, a conflict in one room of a large batch is common, and a read per room
    /// would hold up every room's next commit.
    async fn stored_heads(&self, appends: &[&Append]) -> Result<Vec<Option<crate::sql::StoredHead>>, RepoError> {
        use diesel::sql_types::{Array, BigInt, Nullable, Uuid};
        #[derive(diesel::QueryableByName)]
        struct Head {
            #[diesel(sql_type = Uuid)]
            room: uuid::Uuid,
            #[diesel(sql_type = Nullable<BigInt>)]
            code_revision: Option<i64>,
            #[diesel(sql_type = Nullable<BigInt>)]
            latest_op: Option<i64>,
        }
        let ids: Vec<uuid::Uuid> = appends.iter().map(|append| append.room.as_uuid()).collect();
        let mut conn = self.conn().await?;
        let rows: Vec<Head> = diesel::sql_query(
            "SELECT e.id AS room, r.code_revision, \
             (SELECT max(o.revision) FROM operations o WHERE o.room_id = e.id) AS latest_op \
             FROM unnest($1) AS e (id) LEFT JOIN rooms r ON r.id = e.id",
        )
        .bind::<Array<Uuid>, _>(&ids)
        .load(&mut *conn)
        .await
        .map_err(unavailable)?;
        Ok(ids
            .iter()
            .map(|id| {
                let head = rows.iter().find(|row| row.room == *id)?;
                Some(crate::sql::StoredHead { code_revision: head.code_revision?, latest_op: head.latest_op })
            })
            .collect())
    }
}

/// A batch without snapshots is one statement, which PostgreSQL runs as its own transaction: a
/// group commit costs one round trip and one WAL flush however many rooms it carries. The rare
/// batch with snapshots adds them (each the room's latest and a checkpoint) in an explicit
/// transaction.
async fn commit_batch(
    conn: &mut AsyncPgConnection,
    appends: &[&Append],
    announce: Option<pairpad_domain::ProcessId>,
) -> Result<(), TxError> {
    let batch = AppendIfExpected::new(appends, announce).map_err(TxError::Repo)?;
    if appends.iter().all(|a| a.snapshot.is_none()) {
        return batch.run(conn).await;
    }
    let writes: Vec<RoomWrite<uuid::Uuid>> =
        appends.iter().map(|append| RoomWrite::new(append)).collect::<Result<_, _>>().map_err(TxError::Repo)?;
    conn.transaction::<_, TxError, _>(async |conn| {
        batch.run(conn).await?;
        for write in &writes {
            store_snapshot!(conn, write, .await)?;
        }
        Ok(())
    })
    .await
}

/// Inserts every operation of a batch, but only if each room's stored log reaches the revision
/// its append expects. With the primary key on `(room_id, revision)`, which refuses a revision
/// another writer already took, this makes "the expected revision is the latest" hold without
/// reading any room's log. The rows travel as one array per column, so the statement's text is
/// the same for every batch and PostgreSQL plans it once per connection.
///
/// While other processes listen, the same statement announces the commit on
/// [`crate::pg_bus::COMMITS_CHANNEL`], one notice per room with its new head revision
/// (`<room> <head> <process>`): PostgreSQL delivers it when the transaction commits, and never if
/// it does not. A lone process leaves that out (a notice costs every commit a lock and a write).
struct AppendIfExpected {
    rooms: Vec<uuid::Uuid>,
    revisions: Vec<i64>,
    operations: Vec<String>,
    op_ids: Vec<Option<String>>,
    authors: Vec<uuid::Uuid>,
    created_at: Vec<i64>,
    author_names: Vec<String>,
    expected_rooms: Vec<uuid::Uuid>,
    expected_revisions: Vec<i64>,
    /// The rooms the batch appends to (one append per room).
    room_count: usize,
    /// The process announcing the commit, if it is announced.
    announce: Option<String>,
}

impl AppendIfExpected {
    fn new(appends: &[&Append], announce: Option<pairpad_domain::ProcessId>) -> Result<Self, RepoError> {
        let mut distinct: Vec<RoomId> = appends.iter().map(|append| append.room).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut batch = Self {
            room_count: distinct.len(),
            announce: announce.map(|process| process.as_uuid().to_string()),
            rooms: Vec::new(),
            revisions: Vec::new(),
            operations: Vec::new(),
            op_ids: Vec::new(),
            authors: Vec::new(),
            created_at: Vec::new(),
            author_names: Vec::new(),
            expected_rooms: Vec::new(),
            expected_revisions: Vec::new(),
        };
        for append in appends {
            if append.expected_revision > 0 {
                batch.expected_rooms.push(append.room.as_uuid());
                batch.expected_revisions.push(to_i64(append.expected_revision)?);
            }
            for op in &append.ops {
                let row = OpRow::from_domain(append.room, op)?;
                batch.rooms.push(row.room_id);
                batch.revisions.push(row.revision);
                batch.operations.push(row.operation);
                batch.op_ids.push(row.op_id);
                batch.authors.push(row.user_id);
                batch.created_at.push(row.created_at);
                batch.author_names.push(row.author_name);
            }
        }
        Ok(batch)
    }

    /// Runs the statement, which counts every row inserted (or, announcing, every notice: one per
    /// room); none means a room's log did not reach its expected revision (which room,
    /// `diagnose` reads after the rollback).
    async fn run(&self, conn: &mut AsyncPgConnection) -> Result<(), TxError> {
        let counted = RunQueryDsl::execute(self, conn).await?;
        let expected = if self.announce.is_some() { self.room_count } else { self.rooms.len() };
        if counted == expected { Ok(()) } else { Err(TxError::Refused) }
    }
}

/// No static query id: the statement's text depends on `announce`, so diesel must cache the
/// prepared statements by their text, one per variant, not by this type.
impl QueryId for AppendIfExpected {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Pg> for AppendIfExpected {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid};
        if self.announce.is_some() {
            out.push_sql("WITH appended AS (");
        }
        out.push_sql(
            "INSERT INTO operations (room_id, revision, operation, op_id, user_id, created_at, author_name) \
             SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Uuid>, _>(&self.rooms)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.revisions)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.operations)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.op_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Uuid>, _>(&self.authors)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.author_names)?;
        // A lateral probe per expected revision: the plan stays a primary-key lookup each, where a
        // join against the whole log could turn into a scan of it in a generic plan.
        out.push_sql(") WHERE (SELECT count(*) FROM unnest(");
        out.push_bind_param::<Array<Uuid>, _>(&self.expected_rooms)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.expected_revisions)?;
        out.push_sql(
            ") AS e (room_id, revision) CROSS JOIN LATERAL (SELECT 1 FROM operations o \
             WHERE o.room_id = e.room_id AND o.revision = e.revision LIMIT 1) AS found) = cardinality(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.expected_revisions)?;
        out.push_sql(")");
        if let Some(process) = &self.announce {
            out.push_sql(" RETURNING room_id, revision) SELECT pg_notify('");
            out.push_sql(crate::pg_bus::COMMITS_CHANNEL);
            out.push_sql("', room_id::text || ' ' || max(revision)::text || ' ' || ");
            out.push_bind_param::<Text, _>(process)?;
            out.push_sql(") FROM appended GROUP BY room_id");
        }
        Ok(())
    }
}
