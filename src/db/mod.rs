//! Persistence: schema, rows, queries, and the SQLite/PostgreSQL switch.
//! Nothing outside this folder knows which backend is in use.
pub mod keys;
mod pool;
pub mod posts;
pub mod rate_limits;
pub mod schema;
pub mod sessions;
mod time;
pub mod users;

pub use pool::{establish_pg, ping, Backend, DatabaseUrl, Db, DbConn, DbError};
pub(crate) use pool::{load, now, pg_only, write_transaction};

/// A migrated SQLite database in a fresh temporary directory, for unit tests.
#[cfg(test)]
pub(crate) fn scratch_sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("scratch.db");
    let db = Db::connect(&DatabaseUrl::Sqlite(path.to_string_lossy().into_owned()), 1).expect("SQLite opens");
    db.migrate().expect("migrations apply");
    (dir, db)
}
