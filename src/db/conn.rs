//! Connections: one type over both backends, opened and configured by URL
//! scheme, and what the pool tracks of each.
use std::time::{Duration, Instant};

use diesel::connection::{CacheSize, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use super::url::with_connect_timeout;
use super::{ConnectError, DatabaseUrl, Pooler};

/// libpq's connect timeout, in seconds (its smallest useful value).
pub(super) const CONNECT_TIMEOUT_SECS: u64 = 2;

/// One connection to whichever database `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Opens a PostgreSQL connection; every one the process makes goes through
/// here. libpq's TLS is OpenSSL, whose first initialisation normally
/// registers a cleanup to run at process exit. That cleanup frees OpenSSL's
/// state while other threads may still be closing or opening connections
/// (pool threads, server workers winding down): an intermittent segfault on
/// exit (diesel-rs/diesel#3441). Initialising OpenSSL ourselves, first and
/// without that hook, leaves the memory to the operating system instead.
pub fn establish_pg(url: &str) -> diesel::ConnectionResult<PgConnection> {
    openssl_sys::init();
    PgConnection::establish(url)
}

/// Opens connections for the pool, so a wrong password or a bad path shows
/// its real error instead of diesel's generic multi-connection message.
pub(super) struct Manager {
    pub(super) url: DatabaseUrl,
    /// How long one statement or lock wait may take on these connections.
    pub(super) bound: Duration,
}

impl Manager {
    pub(super) fn connect(&self) -> Result<DbConn, diesel::ConnectionError> {
        let ms = self.bound.as_millis();
        let setup = |conn: &mut dyn SimpleConnection, sql: &str| {
            conn.batch_execute(sql).map_err(diesel::ConnectionError::CouldntSetupConfiguration)
        };
        match &self.url {
            DatabaseUrl::Postgres(url, pooler) => {
                let mut conn = establish_pg(&with_connect_timeout(url, CONNECT_TIMEOUT_SECS))?;
                if *pooler == Pooler::Transaction {
                    // Unnamed statements, each parsed with its execution
                    // (diesel sends them with PQsendQueryParams): nothing
                    // that lives on a server connection the pooler may hand
                    // to another client. The bounds come from the database
                    // (see `check_bounds_set`).
                    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
                    return Ok(DbConn::Pg(conn));
                }
                setup(&mut conn, &session_bounds(self.bound))?;
                Ok(DbConn::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first, so the rest wait instead of failing; WAL
                // lets readers run beside the writer; one PRAGMA per statement.
                for pragma in [
                    &format!("PRAGMA busy_timeout = {ms}"),
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                ] {
                    setup(&mut conn, pragma)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// What every PostgreSQL session of ours starts with (not behind a
/// transaction-mode pooler, which carries no session settings).
/// plan_cache_mode: our statements are all short indexed lookups whose best
/// plan does not depend on the values bound; without it PostgreSQL re-plans
/// each cached statement with a LIMIT parameter on every execution. The
/// timeouts bound every wait: a statement or lock wait past them fails (503)
/// instead of holding a connection, and a transaction left open by a
/// stalled process releases its row locks.
pub(super) fn session_bounds(bound: Duration) -> String {
    let ms = bound.as_millis();
    format!(
        "SET plan_cache_mode = force_generic_plan; SET statement_timeout = {ms}; SET lock_timeout = {ms}; \
         SET idle_in_transaction_session_timeout = {}",
        ms * 2
    )
}

/// A pooled connection and what the pool needs to know about it.
pub(super) struct PoolConn {
    pub(super) conn: DbConn,
    /// The connection failed as a connection: the pool drops it on return
    /// and opens a replacement, instead of handing it out again.
    pub(super) lost: bool,
    pub(super) last_used: Instant,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PoolConn;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<PoolConn, Self::Error> {
        Ok(PoolConn { conn: Manager::connect(self)?, lost: false, last_used: Instant::now() })
    }

    fn is_valid(&self, conn: &mut PoolConn) -> Result<(), Self::Error> {
        conn.conn.batch_execute("SELECT 1").map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut PoolConn) -> bool {
        conn.lost || <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(&mut conn.conn)
    }
}

/// Makes a pool's SQLite connections give up on a lock at once (busy
/// timeout 0, set once the connection is set up, which may wait): for
/// reads run on the async workers, which must never wait on a lock.
#[derive(Debug)]
pub(super) struct NoLockWaits;

impl r2d2::CustomizeConnection<PoolConn, diesel::ConnectionError> for NoLockWaits {
    fn on_acquire(&self, conn: &mut PoolConn) -> Result<(), diesel::ConnectionError> {
        conn.conn
            .batch_execute("PRAGMA busy_timeout = 0")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }
}

/// Behind a transaction-mode pooler no session `SET` survives, so the
/// database itself must bound every wait (for the role or the database);
/// without that a stuck lock would hold requests without end. One line
/// saying what to set, or nothing.
pub(super) fn check_bounds_set(conn: &mut DbConn) -> Result<(), ConnectError> {
    use diesel::sql_types::Text;
    use diesel::RunQueryDsl;
    let settings = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"];
    let mut unset = Vec::new();
    for setting in settings {
        let value: String =
            diesel::select(diesel::dsl::sql::<Text>(&format!("current_setting('{setting}')")))
                .get_result(conn)
                .map_err(ConnectError::new)?;
        if value == "0" {
            unset.push(setting);
        }
    }
    if unset.is_empty() {
        return Ok(());
    }
    Err(ConnectError::new(format!(
        "WARRANT_DB_POOLER=transaction: a transaction-mode pooler cannot carry session settings, so the \
         database must bound waits itself; {} unset (0): run ALTER ROLE <user> SET statement_timeout = '5s'; \
         ALTER ROLE <user> SET lock_timeout = '5s'; ALTER ROLE <user> SET \
         idle_in_transaction_session_timeout = '10s' (or ALTER DATABASE), then have the pooler open \
         new server connections (PgBouncer: RECONNECT) and restart",
        unset.join(", ")
    )))
}

/// Creates a missing SQLite file readable and writable by its owner only: it
/// holds the private signing keys. SQLite gives the `-wal` and `-shm` files
/// the same permissions. An existing file is left as it is, with a warning
/// if others may read it.
pub(super) fn create_private(path: &str) -> Result<(), ConnectError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if std::fs::metadata(path).is_ok_and(|meta| meta.is_dir()) {
                return Err(ConnectError::new(format!("{path} is a directory; name the SQLite file in it")));
            }
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path, mode = format!("{:o}", mode & 0o777),
                        "the database file (which holds the signing keys) is readable by others; chmod 600 it");
                }
            }
            Ok(())
        }
        Err(e) => Err(ConnectError::new(format!("cannot create the SQLite file {path}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    /// `.cargo/config.toml` builds SQLite this way (see there); a build
    /// without it still works, but pays a mutex per call on a connection
    /// and shares one page cache behind a global mutex.
    #[test]
    fn sqlite_is_built_without_per_call_mutexes_or_a_shared_page_cache() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: String = diesel::select(diesel::dsl::sql::<Text>(
            "(SELECT group_concat(compile_options, ' ') FROM pragma_compile_options)",
        ))
        .get_result(&mut conn)
        .unwrap();
        let options: Vec<&str> = options.split(' ').collect();
        assert!(options.contains(&"THREADSAFE=2"), "{options:?}");
        assert!(!options.contains(&"ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
    }
}
