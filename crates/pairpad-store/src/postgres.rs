//! The PostgreSQL adapter, the production store: diesel-async over tokio-postgres (no libpq),
//! pooled by deadpool, migrated from `migrations/postgres` at start-up.

use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

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
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, RepoError> {
        let migration_url = url.to_owned();
        // diesel's migration harness is synchronous: run it on a blocking thread.
        tokio::task::spawn_blocking(move || {
            let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(&migration_url)
                .map_err(unavailable)?;
            conn.run_pending_migrations(MIGRATIONS).map(drop).map_err(unavailable)
        })
        .await
        .map_err(unavailable)??;
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        let pool = Pool::builder(manager).max_size(pool_size).build().map_err(unavailable)?;
        Ok(Self { pool })
    }
}

async fn insert_ops(conn: &mut AsyncPgConnection, rows: Vec<OpRow>) -> QueryResult<usize> {
    diesel::insert_into(operations::table).values(rows).execute(conn).await
}
