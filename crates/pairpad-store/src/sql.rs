//! The SQL `RoomRepo` adapters. PostgreSQL and SQLite run the same statements; only the id column
//! type (UUID or text) and the connection type differ, so one macro writes both adapters and
//! they cannot drift apart.

use diesel::Queryable;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use pairpad_domain::{
    Append, Committed, CommittedOp, HistoryPoint, Language, RepoError, RoomId, Snapshot, StoredRoom, Timestamp, UserId,
};

use crate::codec;

/// An error inside a transaction: either the database's or a domain verdict that aborts it.
#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Repo(RepoError),
    /// A room of the batch does not exist (found by a check, not by the database's foreign key):
    /// which room, a read after the rollback tells (`diagnose`).
    Refused,
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl TxError {
    /// Translates the driver's error; what a unique or foreign-key violation means is the
    /// caller's to name. The other integrity violations (SQLSTATE class 23) fail again however
    /// often they are retried: `Rejected`. diesel-async does not pass other SQLSTATEs on (a data
    /// exception, class 22, arrives as `Unknown`, like a server shutting down), so the data
    /// PostgreSQL is known to refuse is checked before it is sent (`check_storable`) and the rest
    /// counts as `Unavailable`, which the committer retries for a bounded time only.
    pub(crate) fn into_repo(self, on_unique_violation: RepoError, on_missing_reference: RepoError) -> RepoError {
        use DatabaseErrorKind::*;
        match self {
            Self::Repo(e) => e,
            Self::Refused => on_unique_violation,
            Self::Db(DieselError::DatabaseError(UniqueViolation, _)) => on_unique_violation,
            Self::Db(DieselError::DatabaseError(ForeignKeyViolation, _)) => on_missing_reference,
            Self::Db(DieselError::DatabaseError(
                NotNullViolation | CheckViolation | RestrictViolation | ExclusionViolation,
                info,
            )) => RepoError::Rejected(info.message().to_owned()),
            Self::Db(e) => unavailable(e),
        }
    }

    /// Whether a commit failed because another writer got to one of its rooms first (a revision
    /// taken, or a log that does not reach the expected revision), not because a room is missing.
    pub(crate) fn is_race(&self) -> bool {
        matches!(self, Self::Refused | Self::Db(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))
    }

    /// Whether a commit failed because of some room's revision or existence: a check that
    /// failed, a revision another writer took in a way the commit did not expect (unique
    /// violation), a room that does not exist (foreign key violation). The error does not say
    /// which room; `diagnose` reads it.
    pub(crate) fn is_room_refusal(&self) -> bool {
        matches!(
            self,
            Self::Refused
                | Self::Db(DieselError::DatabaseError(
                    DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
                    _
                ))
        )
    }
}

/// A pool of up to `size` connections that hands out the most recently returned one first, so a
/// steady caller (PostgreSQL's committer, room loads) keeps using warm connections (prepared
/// statements, SQLite's page cache) instead of rotating through all of them.
pub(crate) fn lifo_pool<M: deadpool::managed::Manager>(
    manager: M,
    size: usize,
) -> Result<deadpool::managed::Pool<M>, RepoError> {
    deadpool::managed::Pool::builder(manager)
        .max_size(size)
        .queue_mode(deadpool::managed::QueueMode::Lifo)
        .build()
        .map_err(unavailable)
}

/// A room's new snapshot, as a commit stores it.
pub(crate) struct SnapshotUpdate {
    pub(crate) code: String,
    pub(crate) revision: i64,
    /// The time of the append's last operation.
    pub(crate) updated_at: i64,
}

/// What a commit writes to one room besides its operations, prepared (and checked for range) the
/// same way for both SQL adapters; owned, so that it can travel to SQLite's writer thread.
pub(crate) struct RoomWrite<Id> {
    pub(crate) room: RoomId,
    /// `room` as its id column holds it.
    pub(crate) id: Id,
    /// The revision the room's log must reach (0: nothing to check).
    pub(crate) expected_revision: i64,
    pub(crate) snapshot: Option<SnapshotUpdate>,
}

impl<Id: SqlId> RoomWrite<Id> {
    pub(crate) fn new(append: &Append) -> Result<Self, RepoError> {
        let snapshot = match (&append.snapshot, append.ops.last()) {
            (Some(snapshot), Some(last)) => Some(SnapshotUpdate {
                code: snapshot.code.clone(),
                revision: to_i64(snapshot.revision)?,
                updated_at: last.at.0,
            }),
            _ => None,
        };
        Ok(Self {
            room: append.room,
            id: Id::from_uuid(append.room.as_uuid()),
            expected_revision: to_i64(append.expected_revision)?,
            snapshot,
        })
    }
}

/// The hard part of a commit, written once for both SQL adapters: stores a [`RoomWrite`]'s
/// snapshot as the room's latest and as a checkpoint of its history, inside the caller's
/// transaction. Expanded where the schema's `rooms` and `checkpoints`, a `RunQueryDsl` and
/// `TxError` are in scope: in SQLite's blocking commit as `store_snapshot!(conn, write)`, in
/// PostgreSQL's async one with `, .await` after it, which follows each statement. Evaluates to
/// `Result<(), TxError>`.
macro_rules! store_snapshot {
    ($conn:expr, $write:expr $(, .$await:tt)?) => {{
        let write: &$crate::sql::RoomWrite<_> = $write;
        let mut result = Ok(());
        if let Some(snapshot) = &write.snapshot {
            let updated = diesel::update(rooms::table.find(&write.id))
                .set((
                    rooms::code.eq(&snapshot.code),
                    rooms::code_revision.eq(snapshot.revision),
                    rooms::updated_at.eq(snapshot.updated_at),
                ))
                .execute(&mut *$conn)
                $(.$await)??;
            if updated == 0 {
                result = Err(TxError::Repo(RepoError::NotFound(write.room)));
            } else {
                diesel::insert_into(checkpoints::table)
                    .values((
                        checkpoints::room_id.eq(&write.id),
                        checkpoints::revision.eq(snapshot.revision),
                        checkpoints::code.eq(&snapshot.code),
                    ))
                    .execute(&mut *$conn)
                    $(.$await)??;
            }
        }
        result
    }};
}

pub(crate) use store_snapshot;

pub(crate) fn unavailable(e: impl std::fmt::Display) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

pub(crate) fn to_i64(n: u64) -> Result<i64, RepoError> {
    i64::try_from(n).map_err(|_| RepoError::Corrupt(format!("revision {n} is out of range")))
}

pub(crate) fn to_u64(n: i64) -> Result<u64, RepoError> {
    u64::try_from(n).map_err(|_| RepoError::Corrupt(format!("negative revision {n}")))
}

/// One row of `operations`, as both adapters write and read it (`Id`: see [`SqlId`]); read with
/// `OP_COLUMNS`, in this order.
#[derive(Queryable)]
pub(crate) struct OpRecord<Id> {
    pub(crate) room_id: Id,
    pub(crate) revision: i64,
    pub(crate) operation: String,
    pub(crate) op_id: Option<String>,
    pub(crate) user_id: Id,
    pub(crate) created_at: i64,
    pub(crate) author_name: String,
}

impl<Id: SqlId> OpRecord<Id> {
    pub(crate) fn from_domain(room: RoomId, op: &CommittedOp) -> Result<Self, RepoError> {
        Ok(Self {
            room_id: Id::from_uuid(room.as_uuid()),
            revision: to_i64(op.revision)?,
            operation: codec::encode(&op.operation),
            op_id: op.op_id.clone(),
            user_id: Id::from_uuid(op.author.as_uuid()),
            created_at: op.at.0,
            author_name: op.author_name.to_string(),
        })
    }

    pub(crate) fn into_domain(self) -> Result<CommittedOp, RepoError> {
        Ok(CommittedOp {
            revision: to_u64(self.revision)?,
            operation: codec::decode(&self.operation)?,
            op_id: self.op_id,
            author: UserId::from(self.user_id.into_uuid()?),
            author_name: self.author_name.into(),
            at: Timestamp(self.created_at),
        })
    }
}

pub(crate) fn decode_ops<Id: SqlId>(rows: Vec<OpRecord<Id>>) -> Result<Vec<CommittedOp>, RepoError> {
    rows.into_iter().map(OpRecord::into_domain).collect()
}

/// One row of `rooms`: the snapshot and the room's times; read with `ROOM_COLUMNS`.
#[derive(Queryable)]
pub(crate) struct RoomRecord<Id> {
    pub(crate) id: Id,
    pub(crate) language: String,
    pub(crate) code: String,
    pub(crate) code_revision: i64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl<Id> RoomRecord<Id> {
    /// The room as stored: this snapshot and the operations after it (`ops`, in order). The log
    /// is the truth: the latest revision and change are its last operation's.
    pub(crate) fn into_stored(self, id: RoomId, ops: Vec<CommittedOp>) -> Result<StoredRoom, RepoError> {
        let language = Language::new(&self.language)
            .map_err(|_| RepoError::Corrupt(format!("room {id} has language `{}`", self.language)))?;
        let snapshot_revision = to_u64(self.code_revision)?;
        let revision = ops.last().map_or(snapshot_revision, |op| op.revision);
        let updated_at = ops.last().map_or(self.updated_at, |op| op.at.0.max(self.updated_at));
        Ok(StoredRoom {
            id,
            language,
            snapshot: Snapshot { code: self.code, revision: snapshot_revision },
            ops_after_snapshot: ops,
            revision,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(updated_at),
        })
    }
}

/// What a room's rows say its latest revision is, read after a refused commit.
pub(crate) struct StoredHead {
    /// The snapshot's revision.
    pub(crate) code_revision: i64,
    /// The log's last revision, if it holds any operation.
    pub(crate) latest_op: Option<i64>,
}

impl StoredHead {
    /// As `load` counts it: the log's last revision, else the snapshot's.
    pub(crate) fn revision(&self) -> Result<u64, RepoError> {
        to_u64(self.latest_op.unwrap_or(self.code_revision))
    }
}

/// The first room of a refused (rolled-back) batch that does not exist, from each append's room's
/// stored head (`None`: no such room).
pub(crate) fn missing_room(appends: &[&Append], heads: &[Option<StoredHead>]) -> Option<RoomId> {
    appends.iter().zip(heads).find(|(_, head)| head.is_none()).map(|(append, _)| append.room)
}

/// The rooms of `appends` that `stored` (the rooms whose append a backend stored) leaves out, in the
/// batch's order.
pub(crate) fn conflicts(appends: &[&Append], stored: impl Fn(RoomId) -> bool) -> Committed {
    Committed { conflicts: appends.iter().map(|append| append.room).filter(|room| !stored(*room)).collect() }
}

/// One author's part of a run of operations, as `history` reads it.
#[derive(diesel::QueryableByName)]
pub(crate) struct RunRow {
    /// The author's last revision in the run.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub(crate) revision: i64,
    /// When that revision was committed.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub(crate) created_at: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) author_name: String,
}

/// Folds each run's rows (one per author) into one point per run, oldest first.
pub(crate) fn history_points(rows: Vec<RunRow>, every: i64) -> Result<Vec<HistoryPoint>, RepoError> {
    let mut runs: std::collections::BTreeMap<i64, (i64, i64, Vec<String>)> = std::collections::BTreeMap::new();
    for row in rows {
        let run = runs.entry((row.revision - 1) / every).or_insert((0, 0, Vec::new()));
        if row.revision > run.0 {
            (run.0, run.1) = (row.revision, row.created_at);
        }
        run.2.push(row.author_name);
    }
    runs.into_values()
        .map(|(revision, at, mut authors)| {
            authors.sort_unstable();
            authors.dedup();
            Ok(HistoryPoint { revision: to_u64(revision)?, at: Timestamp(at), authors })
        })
        .collect()
}

/// The condition "room `r` has been idle since `$1`": nobody joined it, changed its language or
/// snapshot (`updated_at`), or committed an operation to it since then (its last operation is a
/// primary-key probe). Statements using it put it first, as SQLite numbers `$` parameters in the
/// order they first appear.
pub(crate) const IDLE_SINCE: &str = "r.joined_at < $1 AND r.updated_at < $1 AND coalesce((SELECT o.created_at \
    FROM operations o WHERE o.room_id = r.id ORDER BY o.revision DESC LIMIT 1), 0) < $1";

/// A room id read as text (`CAST(id AS TEXT)`, the same on both backends).
#[derive(diesel::QueryableByName)]
pub(crate) struct IdRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub(crate) id: String,
}

impl IdRow {
    pub(crate) fn into_room_id(self) -> Result<RoomId, RepoError> {
        RoomId::parse(&self.id).map_err(|e| RepoError::Corrupt(e.to_string()))
    }
}

/// How an adapter's id columns hold a UUID: PostgreSQL's native `uuid`, SQLite's hyphenated text.
pub(crate) trait SqlId: Sized {
    fn from_uuid(id: uuid::Uuid) -> Self;
    fn into_uuid(self) -> Result<uuid::Uuid, RepoError>;
}

impl SqlId for uuid::Uuid {
    fn from_uuid(id: uuid::Uuid) -> Self {
        id
    }

    fn into_uuid(self) -> Result<uuid::Uuid, RepoError> {
        Ok(self)
    }
}

impl SqlId for String {
    fn from_uuid(id: uuid::Uuid) -> Self {
        id.hyphenated().to_string()
    }

    fn into_uuid(self) -> Result<uuid::Uuid, RepoError> {
        uuid::Uuid::try_parse(&self).map_err(|_| RepoError::Corrupt(format!("`{self}` is not a UUID")))
    }
}

/// Writes the `RoomRepo` impl of `repo` (a struct with a deadpool `pool` of `conn`, and inherent
/// `commit_appends`, `stored_heads` and `read_each`, the steps the backends do differently) over the tables of
/// `schema`, whose id columns hold an `id` (a [`SqlId`]). Only the queries are here, as diesel's
/// tables differ per backend; rows ([`OpRecord`], [`RoomRecord`]) and what is made of them are
/// plain generic code above.
macro_rules! sql_room_repo {
    (repo: $repo:ident, kind: $kind:literal, schema: $schema:path, conn: $conn:ty, id: $id:ty, id_sql: $id_sql:ty $(,)?) => {
        use async_trait::async_trait;
        use diesel::prelude::*;
        use diesel_async::pooled_connection::deadpool::Pool;
        use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
        use pairpad_domain::{
            Append, Committed, CommittedOp, HistoryPoint, Language, NewRoom, RepoError, RoomId, RoomKeys, RoomRepo,
            RoomSummary, Snapshot, StoredRoom, Timestamp,
        };
        use $schema::{checkpoints, operations, rooms};

        use crate::sql::{
            IDLE_SINCE, IdRow, OpRecord, RoomRecord, RunRow, SqlId, TxError, decode_ops, to_i64, to_u64, unavailable,
        };

        type OpRow = OpRecord<$id>;

        /// The columns of an [`OpRecord`], in its order.
        const OP_COLUMNS: (
            operations::room_id,
            operations::revision,
            operations::operation,
            operations::op_id,
            operations::user_id,
            operations::created_at,
            operations::author_name,
        ) = (
            operations::room_id,
            operations::revision,
            operations::operation,
            operations::op_id,
            operations::user_id,
            operations::created_at,
            operations::author_name,
        );

        /// The columns of a [`RoomRecord`], in its order.
        const ROOM_COLUMNS: (
            rooms::id,
            rooms::language,
            rooms::code,
            rooms::code_revision,
            rooms::created_at,
            rooms::updated_at,
        ) = (rooms::id, rooms::language, rooms::code, rooms::code_revision, rooms::created_at, rooms::updated_at);

        impl $repo {
            async fn conn(&self) -> Result<diesel_async::pooled_connection::deadpool::Object<$conn>, RepoError> {
                self.pool.get().await.map_err(unavailable)
            }

            /// After a batch was refused (and rolled back, which happens when a room does not
            /// exist: a room another writer got to first is left out, not refused): the first room
            /// that does not exist (`NotFound`), from each room's [`StoredHead`] (the backend's
            /// `stored_heads`).
            async fn diagnose(&self, appends: &[&Append]) -> RepoError {
                match self.stored_heads(appends).await {
                    Ok(heads) => match crate::sql::missing_room(appends, &heads) {
                        Some(room) => RepoError::NotFound(room),
                        // Every room exists (a writer's transaction that was in the way rolled
                        // back, or deleted a room's log): trying again settles it.
                        None => unavailable("a commit was refused, but every room of it exists"),
                    },
                    Err(e) => e,
                }
            }
        }

        #[async_trait]
        impl RoomRepo for $repo {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn ping(&self) -> Result<(), RepoError> {
                self.conn().await?.batch_execute("SELECT 1").await.map_err(unavailable)
            }

            async fn create(&self, room: &NewRoom) -> Result<(), RepoError> {
                crate::check_storable([&room.code])?;
                let id = <$id as SqlId>::from_uuid(room.id.as_uuid());
                let mut conn = self.conn().await?;
                // The room and its first checkpoint, the text at revision 0.
                conn.transaction::<_, TxError, _>(async |conn| {
                    diesel::insert_into(rooms::table)
                        .values((
                            rooms::id.eq(&id),
                            rooms::language.eq(room.language.as_str()),
                            rooms::code.eq(&room.code),
                            rooms::code_revision.eq(0),
                            rooms::created_at.eq(room.created_at.0),
                            rooms::updated_at.eq(room.created_at.0),
                            rooms::view_id.eq(<$id as SqlId>::from_uuid(room.view_id.as_uuid())),
                            rooms::owner_token_hash.eq(room.owner_token_hash.as_deref()),
                            rooms::joined_at.eq(room.created_at.0),
                        ))
                        .execute(&mut *conn)
                        .await?;
                    diesel::insert_into(checkpoints::table)
                        .values((
                            checkpoints::room_id.eq(&id),
                            checkpoints::revision.eq(0),
                            checkpoints::code.eq(&room.code),
                        ))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
                .await
                .map_err(|e| e.into_repo(RepoError::AlreadyExists(room.id), RepoError::NotFound(room.id)))
            }

            async fn load(&self, id: RoomId) -> Result<StoredRoom, RepoError> {
                let mut conn = self.conn().await?;
                let row: RoomRecord<$id> = rooms::table
                    .find(<$id as SqlId>::from_uuid(id.as_uuid()))
                    .select(ROOM_COLUMNS)
                    .first(&mut *conn)
                    .await
                    .optional()
                    .map_err(unavailable)?
                    .ok_or(RepoError::NotFound(id))?;
                let ops: Vec<OpRow> = operations::table
                    .filter(operations::room_id.eq(&row.id))
                    .filter(operations::revision.gt(row.code_revision))
                    .order(operations::revision)
                    .select(OP_COLUMNS)
                    .load(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                row.into_stored(id, decode_ops(ops)?)
            }

            async fn summary(&self, id: RoomId) -> Result<RoomSummary, RepoError> {
                let key = <$id as SqlId>::from_uuid(id.as_uuid());
                let mut conn = self.conn().await?;
                // One statement: the log's head is a subquery (a primary-key probe).
                let latest_op = operations::table
                    .filter(operations::room_id.eq(&key))
                    .select(diesel::dsl::max(operations::revision))
                    .single_value();
                let (language, code_revision, latest_op): (String, i64, Option<i64>) = rooms::table
                    .find(&key)
                    .select((rooms::language, rooms::code_revision, latest_op))
                    .first(&mut *conn)
                    .await
                    .optional()
                    .map_err(unavailable)?
                    .ok_or(RepoError::NotFound(id))?;
                let language = Language::new(&language)
                    .map_err(|_| RepoError::Corrupt(format!("room {id} has language `{language}`")))?;
                let head = crate::sql::StoredHead { code_revision, latest_op };
                Ok(RoomSummary { id, language, revision: head.revision()? })
            }

            async fn ops_since(&self, id: RoomId, after: u64, limit: usize) -> Result<Vec<CommittedOp>, RepoError> {
                let mut conn = self.conn().await?;
                let rows: Vec<OpRow> = operations::table
                    .filter(operations::room_id.eq(<$id as SqlId>::from_uuid(id.as_uuid())))
                    .filter(operations::revision.gt(to_i64(after)?))
                    .order(operations::revision)
                    .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                    .select(OP_COLUMNS)
                    .load(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                decode_ops(rows)
            }

            async fn ops_since_each(
                &self,
                reads: &[(RoomId, u64)],
                limit: usize,
            ) -> Result<Vec<Vec<CommittedOp>>, RepoError> {
                self.read_each(reads, limit).await
            }

            async fn checkpoint(&self, id: RoomId, revision: u64) -> Result<Option<Snapshot>, RepoError> {
                let mut conn = self.conn().await?;
                let row: Option<(i64, String)> = checkpoints::table
                    .filter(checkpoints::room_id.eq(<$id as SqlId>::from_uuid(id.as_uuid())))
                    .filter(checkpoints::revision.le(to_i64(revision)?))
                    .order(checkpoints::revision.desc())
                    .select((checkpoints::revision, checkpoints::code))
                    .first(&mut *conn)
                    .await
                    .optional()
                    .map_err(unavailable)?;
                row.map(|(revision, code)| Ok(Snapshot { code, revision: to_u64(revision)? })).transpose()
            }

            async fn history(&self, id: RoomId, every: u64) -> Result<Vec<HistoryPoint>, RepoError> {
                let every = to_i64(every.max(1))?;
                let mut conn = self.conn().await?;
                // `$1` before `$2` in the text: SQLite numbers `$` parameters as they appear.
                let rows: Vec<RunRow> = diesel::sql_query(
                    "SELECT max(revision) AS revision, max(created_at) AS created_at, author_name \
                     FROM operations WHERE room_id = $1 GROUP BY (revision - 1) / $2, author_name",
                )
                .bind::<$id_sql, _>(<$id as SqlId>::from_uuid(id.as_uuid()))
                .bind::<diesel::sql_types::BigInt, _>(every)
                .load(&mut *conn)
                .await
                .map_err(unavailable)?;
                crate::sql::history_points(rows, every)
            }

            async fn forget_operations(&self, before: Timestamp, limit: usize) -> Result<usize, RepoError> {
                let mut conn = self.conn().await?;
                // Strictly below the latest snapshot: the snapshot's own operation and those after
                // it stay, so the latest revision (which commits check) and loading stay whole.
                diesel::sql_query(
                    "DELETE FROM operations WHERE (room_id, revision) IN (SELECT o.room_id, o.revision \
                     FROM operations o JOIN rooms r ON r.id = o.room_id \
                     WHERE o.created_at < $1 AND o.revision < r.code_revision LIMIT $2)",
                )
                .bind::<diesel::sql_types::BigInt, _>(before.0)
                .bind::<diesel::sql_types::BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                .execute(&mut *conn)
                .await
                .map_err(unavailable)
            }

            async fn commit(&self, appends: &[Append]) -> Result<Committed, RepoError> {
                let appends: Vec<&Append> = appends.iter().filter(|a| !a.ops.is_empty()).collect();
                let Some(&first) = <[&Append]>::first(&appends) else { return Ok(Committed::default()) };
                crate::check_storable(crate::append_texts(&appends))?;
                match self.commit_appends(&appends).await {
                    Ok(committed) => Ok(committed),
                    // The batch was rolled back; reading the rooms now names the culprit.
                    Err(e) if e.is_room_refusal() => Err(self.diagnose(&appends).await),
                    Err(e) => Err(
                        e.into_repo(RepoError::Conflict { rooms: vec![first.room] }, RepoError::NotFound(first.room))
                    ),
                }
            }

            async fn set_language(&self, id: RoomId, language: &Language, at: Timestamp) -> Result<(), RepoError> {
                let mut conn = self.conn().await?;
                let updated = diesel::update(rooms::table.find(<$id as SqlId>::from_uuid(id.as_uuid())))
                    .set((rooms::language.eq(language.as_str()), rooms::updated_at.eq(at.0)))
                    .execute(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                if updated == 0 { Err(RepoError::NotFound(id)) } else { Ok(()) }
            }

            async fn keys(&self, id_or_view_id: RoomId) -> Result<RoomKeys, RepoError> {
                let key = <$id as SqlId>::from_uuid(id_or_view_id.as_uuid());
                let mut conn = self.conn().await?;
                // The log's last operation is a subquery (a primary-key probe): its time is the
                // room's last edit.
                let last_edit = operations::table
                    .filter(operations::room_id.eq(rooms::id))
                    .order(operations::revision.desc())
                    .select(operations::created_at)
                    .limit(1)
                    .single_value();
                let row: ($id, $id, Option<String>, i64, i64, Option<i64>) = rooms::table
                    .filter(rooms::id.eq(&key).or(rooms::view_id.eq(&key)))
                    .select((
                        rooms::id,
                        rooms::view_id,
                        rooms::owner_token_hash,
                        rooms::joined_at,
                        rooms::updated_at,
                        last_edit,
                    ))
                    .first(&mut *conn)
                    .await
                    .optional()
                    .map_err(unavailable)?
                    .ok_or(RepoError::NotFound(id_or_view_id))?;
                let (id, view_id, owner_token_hash, joined_at, updated_at, last_edit) = row;
                Ok(RoomKeys {
                    id: RoomId::from(id.into_uuid()?),
                    view_id: RoomId::from(view_id.into_uuid()?),
                    owner_token_hash,
                    active_at: Timestamp(joined_at.max(updated_at).max(last_edit.unwrap_or(0))),
                })
            }

            async fn touch(&self, id: RoomId, at: Timestamp) -> Result<(), RepoError> {
                let mut conn = self.conn().await?;
                diesel::update(rooms::table.find(<$id as SqlId>::from_uuid(id.as_uuid())))
                    .filter(rooms::joined_at.lt(at.0))
                    .set(rooms::joined_at.eq(at.0))
                    .execute(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            async fn idle_rooms(&self, before: Timestamp, limit: usize) -> Result<Vec<RoomId>, RepoError> {
                let mut conn = self.conn().await?;
                let rows: Vec<IdRow> = diesel::sql_query(format!(
                    "SELECT CAST(r.id AS TEXT) AS id FROM rooms r WHERE {IDLE_SINCE} LIMIT $2"
                ))
                .bind::<diesel::sql_types::BigInt, _>(before.0)
                .bind::<diesel::sql_types::BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                .load(&mut *conn)
                .await
                .map_err(unavailable)?;
                rows.into_iter().map(IdRow::into_room_id).collect()
            }

            async fn delete(&self, id: RoomId, idle_before: Option<Timestamp>) -> Result<bool, RepoError> {
                let key = <$id as SqlId>::from_uuid(id.as_uuid());
                let mut conn = self.conn().await?;
                // The room's operations and checkpoints go with it (`ON DELETE CASCADE`).
                let deleted =
                    match idle_before {
                        None => diesel::delete(rooms::table.find(&key)).execute(&mut *conn).await,
                        Some(before) => diesel::sql_query(format!(
                            "DELETE FROM rooms WHERE id IN (SELECT r.id FROM rooms r WHERE {IDLE_SINCE} AND r.id = $2)"
                        ))
                        .bind::<diesel::sql_types::BigInt, _>(before.0)
                        .bind::<$id_sql, _>(&key)
                        .execute(&mut *conn)
                        .await,
                    };
                Ok(deleted.map_err(unavailable)? > 0)
            }
        }
    };
}

pub(crate) use sql_room_repo;
