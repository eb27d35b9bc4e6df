//! Persistence: the schema, one file per table (`users`, `posts`,
//! `sessions`, `revocations`, `keys`, `rate_limits`), the transactions that
//! span tables (`accounts`), rows and their way into domain types (`rows`),
//! and the connection machinery (`pool` the one door, `pg_reads` beside it
//! for PostgreSQL's hot reads, `conn`, `transaction`, `turns`, `error`,
//! `url`, `migrate`, `watch`). Nothing outside this
//! folder knows which backend is in use or sees a diesel type. Imports only
//! `domain`.
pub mod accounts;
mod conn;
pub mod emails;
mod error;
pub mod guesses;
pub mod keys;
pub mod mfa;
mod migrate;
mod offload;
pub mod outbox;
pub mod passkeys;
mod pg_reads;
mod pool;
pub mod posts;
pub mod rate_limits;
pub mod revocations;
mod rows;
pub mod schema;
pub mod secrets;
pub mod sessions;
mod sql;
mod time;
mod transaction;
mod turns;
mod tx;
mod url;
pub mod users;
mod watch;

pub use conn::{establish_pg, DbConn};
pub use error::{ConnectError, DbError};
pub(crate) use pg_reads::PgRead;
pub use pg_reads::APPLICATION_NAME as READS_APPLICATION_NAME;
pub use pool::Db;
pub use sql::ping;
pub(crate) use sql::{execute, load, now, pg_only};
pub use tx::{Committed, Mirror, Tx};
pub use url::{Backend, DatabaseUrl, Pooler};

/// A migrated SQLite database in a fresh temporary directory, for unit tests.
#[cfg(test)]
pub(crate) fn scratch_sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("scratch.db");
    let url = DatabaseUrl::Sqlite(path.to_string_lossy().into_owned());
    let db = Db::connect(&url, 1, std::time::Duration::from_secs(5)).expect("SQLite opens");
    db.migrate().expect("migrations apply");
    (dir, db)
}
