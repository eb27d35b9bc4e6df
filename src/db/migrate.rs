//! Schema migrations, embedded in the binary, one folder per backend.
use std::time::Duration;

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::conn::Manager;
use super::{Backend, Db, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Advisory lock key that serializes migrations across replicas.
const MIGRATION_LOCK: i64 = 0x0077_6172_7261_6e74; // "warrant"
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
        let conn = &mut manager.connect().map_err(|e| DbError::Unavailable(e.to_string()))?;
        // Replicas starting together on one PostgreSQL take turns; the
        // later ones then find nothing pending.
        super::pg_only(conn, &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
        let result = conn
            .run_pending_migrations(migrations)
            .map(|applied| applied.len())
            .map_err(|e| DbError::Other(format!("migration failed: {e}")));
        super::pg_only(conn, &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
        result
    }
}
