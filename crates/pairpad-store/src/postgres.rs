//! The PostgreSQL adapter, the production store: diesel-async over tokio-postgres (no libpq),
//! pooled by deadpool, migrated from `migrations/postgres` at start-up.

use std::sync::{Arc, Mutex};

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
        let asynchronous = options.durability == Durability::Process;
        // Each connection's I/O is a task on the runtime that establishes it. Established here,
        // on the runtime that opens the repo (the server's main thread, where the group committer
        // runs), rather than on whichever worker first asks the pool for one: a commit's
        // statements then reach PostgreSQL without waking another thread twice per round trip
        // (8–13 % less server CPU per operation at 800 lone commits a second, BENCHMARKS.md).
        let home = tokio::runtime::Handle::current();
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            let established = home.spawn(async move {
                let mut conn = AsyncPgConnection::establish(&url).await?;
                if asynchronous {
                    // The commit returns once PostgreSQL has it in memory; PostgreSQL flushes it
                    // within `wal_writer_delay`. A crash of this process loses nothing; one of
                    // PostgreSQL can.
                    conn.batch_execute("SET synchronous_commit TO off")
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(conn)
            });
            Box::pin(
                async move { established.await.map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))? },
            )
        });
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = crate::sql::lifo_pool(manager, options.pool_size)?;
        Ok(Self {
            pool,
            url: url.to_owned(),
            process: pairpad_domain::ProcessId::random(),
            peers: Arc::default(),
            raced: Mutex::new(None),
        })
    }

    /// The bus on which this process's rooms announce their commits to the other processes and
    /// hear of theirs, and exchange presence with them. It learns which rooms the other processes
    /// speak of, which chooses this repo's commit statement.
    pub fn bus(&self) -> crate::PgBus {
        crate::PgBus::new(&self.url, self.process, self.peers.clone())
    }
}

/// The PostgreSQL `RoomRepo`: a deadpool pool of diesel-async connections.
pub struct PostgresRepo {
    pool: Pool<AsyncPgConnection>,
    url: String,
    /// This process, as its bus names it.
    process: pairpad_domain::ProcessId,
    /// The other processes and the rooms they spoke of (learnt by the bus).
    peers: Arc<crate::pg_bus::Peers>,
    /// When a commit made as its rooms' only writer last met another writer (one that had not
    /// spoken of them yet): for a while, every commit claims its revisions.
    raced: Mutex<Option<std::time::Instant>>,
}

impl PostgresRepo {
    async fn commit_appends(&self, appends: &[&Append]) -> Result<Committed, TxError> {
        let mut conn = self.conn().await.map_err(TxError::Repo)?;
        let shared = self.peers.any() && self.peers.share_any(appends.iter().map(|append| append.room));
        let writers = if shared || self.raced_lately() { Writers::Several } else { Writers::Alone };
        let stored = match commit_batch(&mut conn, appends, writers).await {
            // Another process writes to these rooms but had not spoken of them yet: the batch was
            // refused as a whole; it goes again at once, each room claiming its revision, and so
            // does every commit for a while.
            Err(error) if matches!(writers, Writers::Alone) && error.is_race() => {
                tracing::info!("another process writes to rooms of this one: commits claim their revisions");
                *self.raced() = Some(std::time::Instant::now());
                commit_batch(&mut conn, appends, Writers::Several).await?
            }
            result => result?,
        };
        Ok(crate::sql::conflicts(appends, |room| stored.contains(&room.as_uuid())))
    }

    fn raced_lately(&self) -> bool {
        self.raced().is_some_and(|at| at.elapsed() < crate::pg_bus::PEER_TTL)
    }

    fn raced(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        // A plain value: still whole after a panic.
        self.raced.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PostgresRepo {
    /// Every read in one statement: a lateral, ordered and limited probe of each room's log.
    async fn read_each(&self, reads: &[(RoomId, u64)], limit: usize) -> Result<Vec<Vec<CommittedOp>>, RepoError> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid};
        #[derive(diesel::QueryableByName)]
        struct Row {
            /// Which read (from 1).
            #[diesel(sql_type = BigInt)]
            n: i64,
            #[diesel(sql_type = Uuid)]
            room_id: uuid::Uuid,
            #[diesel(sql_type = BigInt)]
            revision: i64,
            #[diesel(sql_type = Text)]
            operation: String,
            #[diesel(sql_type = Nullable<Text>)]
            op_id: Option<String>,
            #[diesel(sql_type = Uuid)]
            user_id: uuid::Uuid,
            #[diesel(sql_type = BigInt)]
            created_at: i64,
            #[diesel(sql_type = Text)]
            author_name: String,
        }
        let rooms: Vec<uuid::Uuid> = reads.iter().map(|(id, _)| id.as_uuid()).collect();
        let afters: Vec<i64> = reads.iter().map(|&(_, after)| to_i64(after)).collect::<Result<_, _>>()?;
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT r.n, o.room_id, o.revision, o.operation, o.op_id, o.user_id, o.created_at, o.author_name \
             FROM unnest($1, $2) WITH ORDINALITY AS r (room_id, after, n) \
             CROSS JOIN LATERAL (SELECT * FROM operations o WHERE o.room_id = r.room_id AND o.revision > r.after \
             ORDER BY o.revision LIMIT $3) AS o ORDER BY r.n, o.revision",
        )
        .bind::<Array<Uuid>, _>(&rooms)
        .bind::<Array<BigInt>, _>(&afters)
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(&mut *conn)
        .await
        .map_err(unavailable)?;
        let mut answers: Vec<Vec<CommittedOp>> = vec![Vec::new(); reads.len()];
        for row in rows {
            let Row { n, room_id, revision, operation, op_id, user_id, created_at, author_name } = row;
            let record = OpRow { room_id, revision, operation, op_id, user_id, created_at, author_name };
            let read = usize::try_from(n - 1).ok().and_then(|i| answers.get_mut(i));
            read.ok_or_else(|| RepoError::Corrupt(format!("read {n} was not asked for")))?.push(record.into_domain()?);
        }
        Ok(answers)
    }

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
/// batch with snapshots adds those of the rooms it stored (each the room's latest and a
/// checkpoint) in an explicit transaction. Answers the rooms stored.
async fn commit_batch(
    conn: &mut AsyncPgConnection,
    appends: &[&Append],
    writers: Writers,
) -> Result<Vec<uuid::Uuid>, TxError> {
    let batch = AppendIfExpected::new(appends, writers).map_err(TxError::Repo)?;
    if appends.iter().all(|a| a.snapshot.is_none()) {
        return batch.run(conn).await;
    }
    let writes: Vec<RoomWrite<uuid::Uuid>> =
        appends.iter().map(|append| RoomWrite::new(append)).collect::<Result<_, _>>().map_err(TxError::Repo)?;
    conn.transaction::<_, TxError, _>(async |conn| {
        let stored = batch.run(conn).await?;
        for write in writes.iter().filter(|write| stored.contains(&write.id)) {
            store_snapshot!(conn, write, .await)?;
        }
        Ok(stored)
    })
    .await
}

/// Who may write to a batch's rooms, which chooses the commit statement.
///
/// Neither statement announces the commit (`pg_notify`): a transaction that notifies holds a lock
/// of the whole cluster from its commit's start to its end, WAL flush included, so the processes'
/// group commits would take turns instead of sharing flushes. The rooms announce their commits on
/// the bus once stored (see [`crate::pg_bus`]).
#[derive(Clone, Copy)]
enum Writers {
    /// This process alone (no other process spoke of these rooms lately): every room's log must
    /// reach its expected revision, checked once for the batch, and the primary key refuses a
    /// revision taken; a refusal fails the whole statement. The cheaper statement, for the common
    /// case (one process, or the nginx-hash placement).
    Alone,
    /// Other processes too: each room claims its next revision.
    Several,
}

/// Inserts each room's operations if its stored log ends at the revision its append expects, and
/// leaves the room out otherwise, in one statement (with [`Writers::Several`]; see
/// [`Writers::Alone`] for the other). A room's first operation *claims* the
/// revision after the expected one: `ON CONFLICT DO NOTHING` on the primary key `(room_id,
/// revision)` skips it if another writer has it, waiting first if that writer has not committed
/// yet (and inserting after all if it rolls back). The room's later operations follow only if its
/// claim was inserted, so a room is stored whole or not at all, and the other rooms of the batch
/// are stored either way: with several processes, one room's race costs that room a catch-up,
/// not every room of the batch a second transaction. The claim also requires the expected
/// revision to be in the log (so a writer that is ahead of it cannot leave a gap), unless the
/// room is missing, whose claim then fails the statement on the foreign key (`NotFound`).
///
/// The rows are sorted by room: two processes' batches claim their common rooms in the same
/// order, so one waits for the other and they never deadlock. They travel as one array per
/// column, so the statement's text is the same for every batch and PostgreSQL plans it once per
/// connection.
struct AppendIfExpected {
    rooms: Vec<uuid::Uuid>,
    revisions: Vec<i64>,
    operations: Vec<String>,
    op_ids: Vec<Option<String>>,
    authors: Vec<uuid::Uuid>,
    created_at: Vec<i64>,
    author_names: Vec<String>,
    /// Each row's append's expected revision: the row with the next one is the room's claim.
    expected: Vec<i64>,
    /// The rooms expecting a revision above 0, and those revisions (for [`Writers::Alone`]).
    expecting_rooms: Vec<uuid::Uuid>,
    expecting_revisions: Vec<i64>,
    /// Whether each room claims its revision.
    claims: bool,
}

impl AppendIfExpected {
    fn new(appends: &[&Append], writers: Writers) -> Result<Self, RepoError> {
        let mut sorted = appends.to_vec();
        sorted.sort_by_key(|append| append.room);
        let mut batch = Self {
            claims: matches!(writers, Writers::Several),
            expecting_rooms: Vec::new(),
            expecting_revisions: Vec::new(),
            rooms: Vec::new(),
            revisions: Vec::new(),
            operations: Vec::new(),
            op_ids: Vec::new(),
            authors: Vec::new(),
            created_at: Vec::new(),
            author_names: Vec::new(),
            expected: Vec::new(),
        };
        for append in sorted {
            let expected = to_i64(append.expected_revision)?;
            if expected > 0 {
                batch.expecting_rooms.push(append.room.as_uuid());
                batch.expecting_revisions.push(expected);
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
                batch.expected.push(expected);
            }
        }
        Ok(batch)
    }

    /// Runs the statement; answers the rooms stored. With claims the statement answers each
    /// stored room with its new head; without, it stores every row or none (`Refused`).
    async fn run(&self, conn: &mut AsyncPgConnection) -> Result<Vec<uuid::Uuid>, TxError> {
        if !self.claims {
            let inserted = RunQueryDsl::execute(self, conn).await?;
            let mut rooms = self.rooms.clone();
            rooms.dedup();
            return if inserted == self.rooms.len() { Ok(rooms) } else { Err(TxError::Refused) };
        }
        let heads: Vec<(uuid::Uuid, i64)> = RunQueryDsl::load(self, conn).await?;
        Ok(heads.into_iter().map(|(room, _)| room).collect())
    }
}

impl diesel::query_builder::Query for AppendIfExpected {
    type SqlType = (diesel::sql_types::Uuid, diesel::sql_types::BigInt);
}

/// No static query id: the statement's text depends on `claims`, so diesel must cache the
/// prepared statements by their text, one per variant, not by this type.
impl QueryId for AppendIfExpected {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// The columns an inserted row is given, from `batch`.
const OP_INSERT: &str = "INSERT INTO operations (room_id, revision, operation, op_id, user_id, created_at, author_name) \
     SELECT b.room_id, b.revision, b.operation, b.op_id, b.user_id, b.created_at, b.author_name FROM batch b ";

impl QueryFragment<Pg> for AppendIfExpected {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt};
        if !self.claims {
            return self.walk_alone(out);
        }
        out.push_sql("WITH batch AS (SELECT * FROM unnest(");
        self.push_rows(&mut out)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.expected)?;
        out.push_sql(
            ") AS b (room_id, revision, operation, op_id, user_id, created_at, author_name, expected)), \
             claimed AS (",
        );
        out.push_sql(OP_INSERT);
        // A lateral probe of the log (a primary-key lookup), not `EXISTS`: under an `OR`,
        // PostgreSQL may turn an `EXISTS` into a hash of the whole table. The room's own row is
        // looked up only when the log lacks the expected revision (rare), so its `EXISTS` is fine.
        out.push_sql(
            "LEFT JOIN LATERAL (SELECT 1 AS found FROM operations o \
             WHERE o.room_id = b.room_id AND o.revision = b.expected LIMIT 1) AS logged ON true \
             WHERE b.revision = b.expected + 1 AND (b.expected = 0 OR logged.found IS NOT NULL \
             OR NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = b.room_id)) \
             ON CONFLICT DO NOTHING RETURNING room_id, revision), \
             followed AS (",
        );
        out.push_sql(OP_INSERT);
        out.push_sql(
            "WHERE b.revision > b.expected + 1 AND b.room_id IN (SELECT room_id FROM claimed) \
             RETURNING room_id, revision), \
             heads AS (SELECT room_id, max(revision) AS head FROM \
             (SELECT * FROM claimed UNION ALL SELECT * FROM followed) AS appended GROUP BY room_id) \
             SELECT room_id, head FROM heads",
        );
        Ok(())
    }
}

impl AppendIfExpected {
    /// The rows' columns, one array each, in `operations`' column order.
    fn push_rows<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid};
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
        Ok(())
    }

    /// The statement of [`Writers::Alone`]: every row, if every room's log reaches its expected
    /// revision (a lateral probe of the primary key per room, which stays a lookup in a generic
    /// plan).
    fn walk_alone<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Uuid};
        out.push_sql(
            "INSERT INTO operations (room_id, revision, operation, op_id, user_id, created_at, author_name) \
             SELECT * FROM unnest(",
        );
        self.push_rows(&mut out)?;
        out.push_sql(") WHERE (SELECT count(*) FROM unnest(");
        out.push_bind_param::<Array<Uuid>, _>(&self.expecting_rooms)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(&self.expecting_revisions)?;
        out.push_sql(
            ") AS e (room_id, revision) CROSS JOIN LATERAL (SELECT 1 FROM operations o \
             WHERE o.room_id = e.room_id AND o.revision = e.revision LIMIT 1) AS found) = cardinality(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.expecting_revisions)?;
        out.push_sql(")");
        Ok(())
    }
}
