//! Connections for either backend behind one pool, chosen by URL scheme, and
//! the one door through which queries leave the async workers. Every wait
//! behind that door is bounded: for a pooled connection, for SQLite's write
//! turn, for a lock or a statement.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::error::FAULT_KINDS;
use super::transaction::{retrying, transaction};
use super::turns::AccountTurns;
use super::url::with_connect_timeout;
use super::{Backend, ConnectError, DatabaseUrl, DbError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// A PostgreSQL connection idle this long is pinged before use: the server
/// may have ended it meanwhile (restart, failover, a proxy's idle timeout).
/// Busier connections skip the round trip.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);
/// Advisory lock key that serializes migrations across replicas.
const MIGRATION_LOCK: i64 = 0x0077_6172_7261_6e74; // "warrant"
/// The longest a request waits for a pooled connection, whatever the bound:
/// a pool with no connection free for this long is overloaded or cannot
/// reach its database, and a client is better told so (503) at once.
const POOL_WAIT: Duration = Duration::from_secs(2);
/// libpq's connect timeout, in seconds (its smallest useful value).
const CONNECT_TIMEOUT_SECS: u64 = 2;
/// Migrations wait for each other and may rewrite tables: far longer than
/// a request may wait.
const MIGRATION_BOUND: Duration = Duration::from_secs(600);
/// The bound of the reserved connections that revocation syncs and
/// readiness checks use: they must answer within the revocation promise.
const URGENT_BOUND: Duration = Duration::from_secs(1);

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
struct Manager {
    url: DatabaseUrl,
    /// How long one statement or lock wait may take on these connections.
    bound: Duration,
}

impl Manager {
    fn connect(&self) -> Result<DbConn, diesel::ConnectionError> {
        let ms = self.bound.as_millis();
        let setup = |conn: &mut dyn SimpleConnection, sql: &str| {
            conn.batch_execute(sql).map_err(diesel::ConnectionError::CouldntSetupConfiguration)
        };
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = establish_pg(&with_connect_timeout(url, CONNECT_TIMEOUT_SECS))?;
                // plan_cache_mode: our statements are all short indexed
                // lookups whose best plan does not depend on the values bound;
                // without it PostgreSQL re-plans each cached statement with a
                // LIMIT parameter on every execution. The timeouts bound every
                // wait: a statement or lock wait past them fails (503) instead
                // of holding a pooled connection, and a transaction left open
                // by a stalled process releases its row locks.
                setup(
                    &mut conn,
                    &format!(
                        "SET plan_cache_mode = force_generic_plan; SET statement_timeout = {ms}; \
                         SET lock_timeout = {ms}; SET idle_in_transaction_session_timeout = {}",
                        ms * 2
                    ),
                )?;
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

type Pooled = r2d2::PooledConnection<Manager>;

/// The connection pool, and the one door through which queries leave the
/// async workers.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    /// A connection or two kept apart for work that must not queue behind
    /// requests: revocation syncs and readiness checks.
    urgent: r2d2::Pool<Manager>,
    url: DatabaseUrl,
    backend: Backend,
    /// How long any one operation may wait on the database.
    bound: Duration,
    last_loss: Arc<LastLoss>,
    faults: Arc<Faults>,
    /// Writes for one account take at most a quarter of the pool.
    turns: Arc<AccountTurns>,
    /// SQLite takes one writer at a time. Two of our connections writing at
    /// once made the second wait in SQLite's busy handler, which sleeps
    /// 1–100 ms between retries (POST /posts p99 of 150–250 ms at 64
    /// connections); queued here, a writer starts the moment the last ends.
    sqlite_writer: Arc<parking_lot::Mutex<()>>,
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

/// Database faults met by requests, by kind, and conflicts run again.
#[derive(Default)]
struct Faults {
    by_kind: [AtomicU64; FAULT_KINDS.len()],
    retried: AtomicU64,
}

impl Faults {
    fn count<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        if let Some(kind) = result.as_ref().err().and_then(DbError::fault_kind) {
            let index = FAULT_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
            self.by_kind[index].fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl Db {
    /// Connects (failing fast on a bad URL) and returns the pool of
    /// `max_size` connections, on which no wait lasts longer than `bound`.
    pub fn connect(url: &DatabaseUrl, max_size: u32, bound: Duration) -> Result<Self, ConnectError> {
        match url {
            // A `file:` URI is SQLite's to interpret.
            DatabaseUrl::Sqlite(path) if !path.starts_with("file:") => create_private(path)?,
            _ => {}
        }
        let manager = Manager { url: url.clone(), bound };
        // Try once by hand so a bad URL fails now with its real message,
        // not after r2d2's silent retries.
        drop(manager.connect().map_err(ConnectError::new)?);
        let build = |manager: Manager, max_size: u32, wait: Duration| {
            r2d2::Pool::builder()
                .max_size(max_size)
                .min_idle(Some(1))
                // A ping per checkout costs a quarter of a simple read's
                // throughput: `checkout` pings only idle or suspect
                // connections, and `run_on` retires the ones that fail.
                .test_on_check_out(false)
                .connection_timeout(wait)
                .build(manager)
                .map_err(ConnectError::new)
        };
        let urgent_bound = bound.min(URGENT_BOUND);
        let last_loss =
            Arc::new(LastLoss { origin: Instant::now(), nanos: AtomicU64::new(0), count: AtomicU64::new(0) });
        Ok(Self {
            pool: build(manager, max_size, bound.min(POOL_WAIT))?,
            urgent: build(Manager { url: url.clone(), bound: urgent_bound }, 2, urgent_bound)?,
            url: url.clone(),
            backend: url.backend(),
            bound,
            last_loss,
            faults: Arc::default(),
            turns: AccountTurns::new(max_size as usize / 4),
            sqlite_writer: Arc::default(),
        })
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

    /// Operations that ended in a database fault, by kind (see
    /// [`FAULT_KINDS`]), and transactions run again after a conflict, since
    /// the pool opened (for metrics).
    pub fn faults(&self) -> ([(&'static str, u64); FAULT_KINDS.len()], u64) {
        let by_kind =
            std::array::from_fn(|i| (FAULT_KINDS[i], self.faults.by_kind[i].load(Ordering::Relaxed)));
        (by_kind, self.faults.retried.load(Ordering::Relaxed))
    }

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

    /// Runs `f` as one transaction on the current thread, and answers only
    /// once its commit succeeded: a write acknowledged is a write stored. A
    /// transaction that conflicts with a concurrent one is run again (a few
    /// times, within the bound), so `f` must be safe to repeat. On SQLite
    /// it waits its turn behind this process's other writers first. For the
    /// command line and startup; request handlers use [`Db::write`].
    pub fn write_blocking<T>(&self, f: impl FnMut(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
        self.faults.count(self.write_until(Instant::now() + self.bound, f))
    }

    fn write_until<T>(
        &self,
        deadline: Instant,
        mut f: impl FnMut(&mut DbConn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        // Taken before the connection, so a queued writer holds none.
        let _turn = match self.backend {
            Backend::Sqlite => Some(
                self.sqlite_writer
                    .try_lock_until(deadline)
                    .ok_or_else(|| DbError::TimedOut("no turn to write before the deadline".into()))?,
            ),
            Backend::Postgres => None,
        };
        let mut pooled = self.checkout(&self.pool, deadline)?;
        retrying(deadline, &self.faults.retried, || {
            self.run_on(&mut pooled, |conn| transaction(conn, &mut f))
        })
    }

    /// Runs a read (no writes in `f`) on the current thread. It is safe to
    /// repeat: when its connection turns out to be dead (the server
    /// restarted, a proxy dropped it) it runs once more on another, and a
    /// conflict is retried like a write's.
    pub fn read_blocking<T>(&self, f: impl Fn(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
        self.faults.count(self.read_on(&self.pool, Instant::now() + self.bound, f))
    }

    fn read_on<T>(
        &self,
        pool: &r2d2::Pool<Manager>,
        deadline: Instant,
        f: impl Fn(&mut DbConn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        // Reads never take the writers' turn: WAL lets them run beside a write.
        let mut pooled = self.checkout(pool, deadline)?;
        let result = retrying(deadline, &self.faults.retried, || self.run_on(&mut pooled, &f));
        match result {
            Err(DbError::Unavailable(e)) => {
                drop(pooled);
                tracing::warn!(error = %e, "database connection lost; running the read again on another");
                let mut pooled = self.checkout(pool, deadline)?;
                self.run_on(&mut pooled, &f)
            }
            other => other,
        }
    }

    /// Runs `f` on a checked-out connection. One that fails as a connection
    /// is dropped, and makes the others suspect.
    fn run_on<T>(
        &self,
        pooled: &mut Pooled,
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

    /// A connection of `pool` by `deadline`, known to be alive if it sat
    /// idle or was suspect: dead ones are retired until a live or new one
    /// comes up.
    fn checkout(&self, pool: &r2d2::Pool<Manager>, deadline: Instant) -> Result<Pooled, DbError> {
        for _ in 0..=pool.max_size() {
            let wait = deadline.saturating_duration_since(Instant::now()).min(POOL_WAIT);
            let mut pooled = pool.get_timeout(wait).map_err(|e| {
                DbError::Unavailable(format!("no database connection within {} ms: {e}", wait.as_millis()))
            })?;
            let trusted =
                pooled.last_used.elapsed() < CHECK_IDLE_AFTER && !self.last_loss.suspects(pooled.last_used);
            if self.backend == Backend::Sqlite || trusted || super::ping(&mut pooled.conn).is_ok() {
                return Ok(pooled);
            }
            pooled.lost = true;
            self.last_loss.record();
        }
        Err(DbError::Unavailable("no live database connection".into()))
    }

    /// Runs `f` as one transaction on the blocking thread pool (see
    /// [`Db::write_blocking`]); reads use [`Db::read`].
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnMut(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_until_async(Instant::now() + self.bound, f).await
    }

    async fn write_until_async<T, F>(&self, deadline: Instant, f: F) -> Result<T, DbError>
    where
        F: FnMut(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        offload(move || db.faults.count(db.write_until(deadline, f))).await
    }

    /// [`Db::write`] on behalf of `account`, whose rows it may wait on:
    /// after the account's earlier writes beyond its share of the pool (see
    /// `turns`), within the bound.
    pub async fn write_for<T, F>(&self, account: crate::domain::UserId, f: F) -> Result<T, DbError>
    where
        F: FnMut(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        // One deadline for the turn and the write: the request as a whole
        // is answered within the bound.
        let deadline = Instant::now() + self.bound;
        let _turn = self.faults.count(self.turns.take(account.0, self.bound).await)?;
        self.write_until_async(deadline, f).await
    }

    /// Runs a read (no writes in `f`) on the blocking thread pool (see
    /// [`Db::read_blocking`]).
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        offload(move || db.read_blocking(f)).await
    }

    /// A read on the connections kept apart from requests, bounded to a
    /// second: revocation syncs and readiness checks, which must answer in
    /// time even when every pooled connection waits on a lock.
    pub async fn read_urgent<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let deadline = Instant::now() + self.bound.min(URGENT_BOUND);
        offload(move || db.read_on(&db.urgent, deadline, f)).await
    }
}

/// Creates a missing SQLite file readable and writable by its owner only: it
/// holds the private signing keys. SQLite gives the `-wal` and `-shm` files
/// the same permissions. An existing file is left as it is, with a warning
/// if others may read it.
fn create_private(path: &str) -> Result<(), ConnectError> {
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
        Err(e) => Err(ConnectError::new(format!("cannot create the SQLite file {path}: {e}"))),
    }
}

/// Moves blocking database work off the async workers, inside the caller's
/// tracing span, so what it logs names its request.
async fn offload<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    let span = tracing::Span::current();
    actix_web::web::block(move || span.in_scope(work))
        .await
        .map_err(|e| DbError::Other(format!("blocking task failed: {e}")))?
}
