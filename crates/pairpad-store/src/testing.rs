//! Test support: a fresh PostgreSQL database per test. Enabled by the `testing` feature.
//!
//! Tests that need PostgreSQL read the server's URL (without a database name) from
//! `PAIRPAD_TEST_POSTGRES`, e.g. `postgres://postgres@127.0.0.1:5432`. When it is unset or empty they are
//! skipped with a message, so `cargo test` works on a machine without PostgreSQL; CI sets it.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_ENV: &str = "PAIRPAD_TEST_POSTGRES";

/// A database created for one test and dropped by [`TestDatabase::drop_database`].
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database on the server named by `PAIRPAD_TEST_POSTGRES`, or returns
    /// `None` (after saying so on stderr) when the variable is unset.
    pub async fn create() -> Option<Self> {
        let Some(server) = std::env::var(POSTGRES_ENV).ok().filter(|url| !url.is_empty()) else {
            eprintln!("skipped: set {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432 to run the PostgreSQL tests");
            return None;
        };
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("pairpad_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but PostgreSQL at {server} does not answer: {e}"));
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        Some(Self { server, name })
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Runs SQL statements on the database (on a connection of their own).
    pub async fn execute(&self, sql: &str) {
        let mut conn = AsyncPgConnection::establish(&self.url()).await.expect("connect to the test database");
        conn.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub async fn drop_database(self) {
        if let Ok(mut admin) = AsyncPgConnection::establish(&format!("{}/postgres", self.server)).await {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
        }
    }
}
