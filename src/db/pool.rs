//! Connections for either backend behind one pool, chosen by URL scheme.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::query_dsl::methods::LoadQuery;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// A PostgreSQL connection idle this long is pinged before use: the server
/// may have ended it meanwhile (restart, failover, a proxy's idle timeout).
/// Busier connections skip the round trip.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Advisory lock key that serializes migrations across replicas.
const MIGRATION_LOCK: i64 = 0x0077_6172_7261_6e74; // "warrant"

/// One connection to whichever database `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database a URL points at.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    /// A file path (`sqlite://` stripped).
    Sqlite(String),
}

/// The backend in use, for log lines and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DatabaseUrl {
    /// `postgres://…`/`postgresql://…`, `sqlite://PATH`, or a plain path.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            return Err(format!("{url:?} is neither postgres://… nor a SQLite path"));
        }
        if path == ":memory:" || path.contains("mode=memory") {
            // Every pooled connection would get its own empty database.
            return Err("an in-memory SQLite database cannot be shared by a pool; use a file".into());
        }
        Ok(Self::Sqlite(path.to_string()))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The URL with any password replaced, for logs: in the user info and
    /// in a `password=` parameter (libpq accepts both).
    pub fn redacted(&self) -> String {
        let url = match self {
            Self::Sqlite(path) => return format!("sqlite://{path}"),
            Self::Postgres(url) => url,
        };
        let (base, params) = url.split_once('?').map_or((url.as_str(), None), |(b, p)| (b, Some(p)));
        let base = match (base.find("://"), base.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => match base[scheme + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
                None => base.to_string(),
            },
            _ => base.to_string(),
        };
        let Some(params) = params else { return base };
        let params: Vec<&str> = params
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => "password=***",
                _ => param,
            })
            .collect();
        format!("{base}?{}", params.join("&"))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// What the query layer reports upward; diesel's errors stop here.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error("foreign key constraint violated")]
    ForeignKeyViolation,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Self::UniqueViolation,
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                Self::ForeignKeyViolation
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, info) => {
                Self::Unavailable(info.message().to_string())
            }
            DieselError::BrokenTransactionManager => Self::Unavailable(e.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
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
struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    fn connect(&self) -> Result<DbConn, diesel::ConnectionError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = establish_pg(url)?;
                // Our statements are all short indexed lookups whose best plan
                // does not depend on the values bound. Without this,
                // PostgreSQL re-plans each cached statement with a LIMIT
                // parameter on every execution (custom plans look cheaper).
                conn.batch_execute("SET plan_cache_mode = force_generic_plan")
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first, so the rest wait instead of failing; WAL
                // lets readers run beside the writer; one PRAGMA per statement.
                for pragma in [
                    "PRAGMA busy_timeout = 5000",
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                ] {
                    conn.batch_execute(pragma).map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

/// A pooled connection and what the pool needs to know about it.
struct PoolConn {
    conn: DbConn,
    /// The connection failed as a connection: the pool drops it on return
    /// and opens a replacement, instead of handing it out again.
    lost: bool,
    last_used: Instant,
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

/// The connection pool, and the one door through which queries leave the
/// async workers.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    last_loss: Arc<LastLoss>,
    /// SQLite takes one writer at a time. Two of our connections writing at
    /// once made the second wait in SQLite's busy handler, which sleeps
    /// 1–100 ms between retries (POST /posts p99 of 150–250 ms at 64
    /// connections); queued here, a writer starts the moment the last ends.
    sqlite_writer: Arc<Mutex<()>>,
}

/// When a connection of the pool was last found dead. A server restart or
/// failover ends every connection at once: those not used successfully since
/// are suspect, and pinged before use like idle ones.
struct LastLoss {
    origin: Instant,
    /// Nanoseconds after `origin`; 0 when no connection was lost yet.
    nanos: AtomicU64,
    /// Connections found dead so far.
    count: AtomicU64,
}

impl LastLoss {
    fn record(&self) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.nanos.store(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn suspects(&self, last_used: Instant) -> bool {
        let nanos = self.nanos.load(Ordering::Relaxed);
        nanos != 0 && last_used <= self.origin + Duration::from_nanos(nanos)
    }
}

impl Db {
    /// Connects (failing fast on a bad URL) and returns the pool.
    pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Self, DbError> {
        match url {
            // A `file:` URI is SQLite's to interpret.
            DatabaseUrl::Sqlite(path) if !path.starts_with("file:") => create_private(path)?,
            _ => {}
        }
        let manager = Manager { url: url.clone() };
        // Try once by hand so a bad URL fails now with its real message,
        // not after r2d2's 30 s of silent retries.
        drop(manager.connect().map_err(|e| DbError::Unavailable(e.to_string()))?);
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            // A ping per checkout costs a quarter of a simple read's
            // throughput: `checkout` pings only idle connections, and
            // `run_blocking` retires the ones that fail.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)
            .map_err(DbError::from)?;
        let last_loss =
            Arc::new(LastLoss { origin: Instant::now(), nanos: AtomicU64::new(0), count: AtomicU64::new(0) });
        Ok(Self { pool, backend: url.backend(), last_loss, sqlite_writer: Arc::default() })
    }

    /// Connections open and, of those, idle in the pool (for metrics).
    pub fn connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// Connections found dead since the pool opened (for metrics).
    pub fn connections_lost(&self) -> u64 {
        self.last_loss.count.load(Ordering::Relaxed)
    }

    /// Applies pending migrations for this backend; returns how many ran.
    pub fn migrate(&self) -> Result<usize, DbError> {
        let migrations = match self.backend {
            Backend::Postgres => PG_MIGRATIONS,
            Backend::Sqlite => SQLITE_MIGRATIONS,
        };
        self.run_blocking(|conn| {
            // Replicas starting together on one PostgreSQL take turns; the
            // later ones then find nothing pending.
            pg_only(conn, &format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = conn
                .run_pending_migrations(migrations)
                .map(|applied| applied.len())
                .map_err(|e| DbError::Other(format!("migration failed: {e}")));
            pg_only(conn, &format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result
        })
    }

    /// Runs `f`, which may write, with a pooled connection on the current
    /// thread; on SQLite after the writers of this process before it. For
    /// the command line and startup; request handlers use [`Db::run`]. A
    /// connection that fails as a connection is not reused.
    pub fn run_blocking<T>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
        // Taken before the connection, so a queued writer holds none.
        let _turn = (self.backend == Backend::Sqlite)
            .then(|| self.sqlite_writer.lock().unwrap_or_else(PoisonError::into_inner));
        self.run_on(&mut self.checkout()?, f)
    }

    /// [`Db::run_blocking`] for a read, which is safe to repeat: when its
    /// connection turns out to be dead (the server restarted, a proxy dropped
    /// it), it runs once more on another. Writes are never repeated: the
    /// statement may have run before the connection died.
    fn read_blocking<T>(&self, f: impl Fn(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
        let mut pooled = self.checkout()?;
        // Reads never take the writers' turn: WAL lets them run beside a write.
        match self.run_on(&mut pooled, &f) {
            Err(DbError::Unavailable(e)) => {
                drop(pooled);
                tracing::warn!(error = %e, "database connection lost; running the read again on another");
                self.run_blocking(f)
            }
            other => other,
        }
    }

    /// Runs `f` on a checked-out connection. One that fails as a connection
    /// is dropped, and makes the others suspect.
    fn run_on<T>(
        &self,
        pooled: &mut r2d2::PooledConnection<Manager>,
        f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let result = f(&mut pooled.conn);
        pooled.lost = matches!(result, Err(DbError::Unavailable(_)));
        if pooled.lost {
            self.last_loss.record();
        }
        pooled.last_used = Instant::now();
        result
    }

    /// A pooled connection, known to be alive if it sat idle or was suspect:
    /// dead ones are retired until a live or new one comes up.
    fn checkout(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        for _ in 0..=self.pool.max_size() {
            let mut pooled = self.pool.get()?;
            let trusted =
                pooled.last_used.elapsed() < CHECK_IDLE_AFTER && !self.last_loss.suspects(pooled.last_used);
            if self.backend == Backend::Sqlite || trusted || ping(&mut pooled.conn).is_ok() {
                return Ok(pooled);
            }
            pooled.lost = true;
            self.last_loss.record();
        }
        Err(DbError::Unavailable("no live database connection".into()))
    }

    /// Runs `f`, which may write, with a pooled connection on the blocking
    /// thread pool (see [`Db::run_blocking`]); reads use [`Db::read`].
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        offload(move || db.run_blocking(f)).await
    }

    /// Runs a read (no writes in `f`) on the blocking thread pool; repeated
    /// once on another connection if its connection was dead.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        offload(move || db.read_blocking(f)).await
    }
}

/// Creates a missing SQLite file readable and writable by its owner only: it
/// holds the private signing keys. SQLite gives the `-wal` and `-shm` files
/// the same permissions. An existing file is left as it is, with a warning
/// if others may read it.
fn create_private(path: &str) -> Result<(), DbError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(path, mode = format!("{:o}", mode & 0o777),
                        "the database file (which holds the signing keys) is readable by others; chmod 600 it");
                }
            }
            Ok(())
        }
        Err(e) => Err(DbError::Unavailable(format!("cannot create the SQLite file {path}: {e}"))),
    }
}

/// Moves blocking database work off the async workers.
async fn offload<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    actix_web::web::block(work).await.map_err(|e| DbError::Other(format!("blocking task failed: {e}")))?
}

/// Runs `f` in a transaction that may read then write. SQLite takes the write
/// lock up front (`BEGIN IMMEDIATE`): a deferred transaction that upgrades
/// from read to write fails with "database is locked" under concurrency.
/// PostgreSQL callers lock the rows they read (see `users::lock_admins`).
pub(crate) fn write_transaction<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    type Tm = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(_) => Tm::begin_transaction(conn)?,
    }
    match f(conn) {
        Ok(value) => {
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            Tm::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// The current time as stored: UTC, at the microsecond precision both
/// backends keep, so a value reads back exactly as written.
pub(crate) fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}

/// Loads the rows of a hot read on the concrete connection. Through the
/// multi-backend wrapper diesel renders a query's SQL text on every call to
/// find its cached statement; on the concrete connection it finds it by the
/// query's type (callgrind: 15% of the instructions of `GET /posts/{id}`).
pub(crate) fn load<'q, Q, U>(conn: &mut DbConn, query: Q) -> Result<Vec<U>, DbError>
where
    Q: RunQueryDsl<PgConnection> + RunQueryDsl<SqliteConnection>,
    Q: LoadQuery<'q, PgConnection, U> + LoadQuery<'q, SqliteConnection, U>,
{
    Ok(match conn {
        DbConn::Pg(pg) => RunQueryDsl::<PgConnection>::load(query, pg)?,
        DbConn::Sqlite(sqlite) => RunQueryDsl::<SqliteConnection>::load(query, sqlite)?,
    })
}

/// Runs a raw statement on PostgreSQL only (row locks SQLite does not need:
/// its write transactions are already serialized).
pub(crate) fn pg_only(conn: &mut DbConn, sql: &str) -> Result<(), DbError> {
    if let DbConn::Pg(pg) = conn {
        pg.batch_execute(sql)?;
    }
    Ok(())
}

/// A round trip to the database.
pub fn ping(conn: &mut DbConn) -> Result<(), DbError> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_sqlite_plans_independently_of_bound_values() {
        // Set in .cargo/config.toml; without it every paginated read is
        // re-prepared on each execution (see that file).
        use diesel::sql_types::Text;
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = Text)]
            compile_options: String,
        }
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<CompileOption> =
            diesel::sql_query("SELECT compile_options FROM pragma_compile_options").load(&mut conn).unwrap();
        assert!(options.iter().any(|o| o.compile_options == "ENABLE_QPSG"));
    }

    #[test]
    fn urls_pick_their_backend() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/w.db").unwrap(),
            DatabaseUrl::Sqlite("data/w.db".into())
        );
        assert_eq!(DatabaseUrl::parse("./warrant.db").unwrap(), DatabaseUrl::Sqlite("./warrant.db".into()));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse(":memory:").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn passwords_are_redacted_in_logs() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/warrant").unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/warrant");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url = DatabaseUrl::parse("postgres://db/warrant?sslmode=require&password=s3cret").unwrap();
        assert_eq!(url.redacted(), "postgres://db/warrant?sslmode=require&password=***");
        let plain = DatabaseUrl::parse("postgresql://app@db/warrant?sslmode=disable").unwrap();
        assert_eq!(plain.redacted(), "postgresql://app@db/warrant?sslmode=disable");
    }
}
