//! Schema migrations, embedded in the binary, one folder per backend.
use std::time::Duration;

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::conn::Manager;
use super::{Backend, Db, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Replicas migrating together take turns on a row lock of this table:
/// plain SQL, unlike `pg_advisory_lock`, so it holds through a
/// transaction-mode pooler and on PostgreSQL-wire engines (CockroachDB,
/// YugabyteDB) that have no advisory locks.
const LEASE: &str = "warrant_migration_lease";
/// Migrations wait for each other and may rewrite tables: far longer than
/// a request may wait.
const MIGRATION_BOUND: Duration = Duration::from_secs(600);

impl Db {
    /// Applies pending migrations for this backend; returns how many ran.
    /// On a connection of its own: a migration may wait and run far longer
    /// than a request may.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let migrations = match self.backend {
            Backend::Postgres => PG_MIGRATIONS,
            Backend::Sqlite => SQLITE_MIGRATIONS,
        };
        let manager = Manager { url: self.url.clone(), bound: MIGRATION_BOUND };
        let connect = || manager.connect().map_err(|e| DbError::Unavailable(e.to_string()));
        let conn = &mut connect()?;
        // Replicas starting together on one PostgreSQL take turns; the
        // later ones then find nothing pending. The lease is held by a
        // transaction on a second connection, so that the migrations, each
        // a transaction of its own, run beside it.
        let lease = match self.backend {
            Backend::Postgres => Some(take_lease(connect()?)?),
            Backend::Sqlite => None,
        };
        let result = conn
            .run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(|e| DbError::Other(format!("migration failed: {e}")));
        drop(lease);
        result
    }
}

/// A connection holding the migration lease (a row lock, released when the
/// connection closes or its transaction ends).
fn take_lease(mut lease: super::DbConn) -> Result<super::DbConn, DbError> {
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {LEASE} (id INT PRIMARY KEY); \
         INSERT INTO {LEASE} (id) VALUES (1) ON CONFLICT (id) DO NOTHING"
    );
    // Two replicas creating the table at the same instant: one of them
    // fails on PostgreSQL's catalog index, and finds it made on a retry.
    if super::pg_only(&mut lease, &create).is_err() {
        super::pg_only(&mut lease, &create)?;
    }
    super::pg_only(&mut lease, &format!("BEGIN; SELECT id FROM {LEASE} WHERE id = 1 FOR UPDATE"))?;
    Ok(lease)
}
