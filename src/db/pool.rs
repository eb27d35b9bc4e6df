//! Connections for either backend behind one pool, chosen by URL scheme, and
//! the one door through which queries leave the async workers (PostgreSQL's
//! hot reads stay on them: `pg_reads`). Every wait behind that door is
//! bounded: for a pooled connection, for SQLite's write
//! turn, for a lock or a statement.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{check_bounds_set, create_private, Manager, NoLockWaits};
use super::error::FAULT_KINDS;
use super::pg_reads::PgReads;
use super::transaction::{retrying, transaction, Begin};
use super::turns::AccountTurns;
use super::watch::{Faults, LastLoss};
use super::{Backend, ConnectError, DatabaseUrl, DbConn, DbError, Pooler};

/// A PostgreSQL connection idle this long is pinged before use: the server
/// may have ended it meanwhile (restart, failover, a proxy's idle timeout).
/// Busier connections skip the round trip.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);
/// The longest a request waits for a pooled connection, whatever the bound:
/// a pool with no connection free for this long is overloaded or cannot
/// reach its database, and a client is better told so (503) at once.
const POOL_WAIT: Duration = Duration::from_secs(2);
/// The bound of the reserved connections that revocation syncs and
/// readiness checks use: they must answer within the revocation promise.
pub(super) const URGENT_BOUND: Duration = Duration::from_secs(1);

type Pooled = r2d2::PooledConnection<Manager>;

/// The connection pool, and the one door through which queries leave the
/// async workers.
#[derive(Clone)]
pub struct Db {
    pub(super) pool: r2d2::Pool<Manager>,
    /// A connection or two kept apart for work that must not queue behind
    /// requests: revocation syncs and readiness checks.
    pub(super) urgent: r2d2::Pool<Manager>,
    /// SQLite only: a connection per core for reads run on the calling
    /// thread (see [`Db::read_here`]), which give up on a lock at once.
    pub(super) here: Option<r2d2::Pool<Manager>>,
    /// PostgreSQL: the hot reads on each worker's own connection (see
    /// `pg_reads`), where one could be opened.
    pub(super) pg_reads: Option<Arc<PgReads>>,
    pub(super) url: DatabaseUrl,
    pub(super) backend: Backend,
    /// How long any one operation may wait on the database.
    pub(super) bound: Duration,
    /// How a write transaction starts with the whole bound before it (see
    /// `transaction::Begin`).
    begin: Arc<str>,
    pub(super) last_loss: Arc<LastLoss>,
    pub(super) faults: Arc<Faults>,
    /// Writes for one account take at most half of the pool (PostgreSQL;
    /// SQLite's one write lock is the database's, not an account's, so a
    /// cap there would only queue one user's writes twice).
    pub(super) turns: Option<Arc<AccountTurns>>,
    /// SQLite takes one writer at a time. Two of our connections writing at
    /// once made the second wait in SQLite's busy handler, which sleeps
    /// 1–100 ms between retries (POST /posts p99 of 150–250 ms at 64
    /// connections); queued here, a writer starts the moment the last ends.
    sqlite_writer: Arc<parking_lot::Mutex<()>>,
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
        let mut first = manager.connect().map_err(ConnectError::new)?;
        if let DatabaseUrl::Postgres(_, Pooler::Transaction) = url {
            check_bounds_set(&mut first)?;
        }
        drop(first);
        // Every pool of ours starts here: a ping per checkout (r2d2's
        // default) cost a quarter of a simple read's throughput, and 10 % of
        // a page's CPU in the `here` pool while it was built apart.
        let builder = |max_size: u32, wait: Duration| {
            r2d2::Pool::builder()
                .max_size(max_size)
                .min_idle(Some(1))
                // `checkout` pings only idle or suspect connections, and
                // `run_on` retires the ones that fail.
                .test_on_check_out(false)
                .connection_timeout(wait)
        };
        let urgent_bound = bound.min(URGENT_BOUND);
        let last_loss =
            Arc::new(LastLoss { origin: Instant::now(), nanos: AtomicU64::new(0), count: AtomicU64::new(0) });
        Ok(Self {
            pool: builder(max_size, bound.min(POOL_WAIT)).build(manager).map_err(ConnectError::new)?,
            urgent: builder(2, urgent_bound)
                .build(Manager { url: url.clone(), bound: urgent_bound })
                .map_err(ConnectError::new)?,
            here: match url.backend() {
                Backend::Sqlite => Some(
                    // All open from the start: `try_get` never opens one.
                    builder(std::thread::available_parallelism().map_or(2, |n| n.get()) as u32, bound)
                        .min_idle(None)
                        .connection_customizer(Box::new(NoLockWaits))
                        .build(Manager { url: url.clone(), bound })
                        .map_err(ConnectError::new)?,
                ),
                Backend::Postgres => None,
            },
            pg_reads: match url {
                DatabaseUrl::Postgres(url, pooler) => match PgReads::start(url, *pooler, bound) {
                    Ok(reads) => Some(Arc::new(reads)),
                    Err(why) => {
                        tracing::info!(reason = %why, "hot reads take the pool's threads");
                        None
                    }
                },
                DatabaseUrl::Sqlite(_) => None,
            },
            url: url.clone(),
            backend: url.backend(),
            bound,
            begin: match url {
                DatabaseUrl::Postgres(_, Pooler::Transaction) => {
                    let ms = bound.as_millis();
                    format!(
                        "BEGIN; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}; \
                         SET LOCAL idle_in_transaction_session_timeout = {}",
                        ms * 2
                    )
                    .into()
                }
                DatabaseUrl::Postgres(..) => "BEGIN".into(),
                DatabaseUrl::Sqlite(_) => "BEGIN IMMEDIATE".into(),
            },
            last_loss,
            faults: Arc::default(),
            turns: (url.backend() == Backend::Postgres).then(|| AccountTurns::new(max_size as usize / 2)),
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

    /// Runs `f` as one transaction on the current thread, and answers only
    /// once its commit succeeded: a write acknowledged is a write stored. A
    /// transaction that conflicts with a concurrent one is run again (a few
    /// times, within the bound), so `f` must be safe to repeat. On SQLite
    /// it waits its turn behind this process's other writers first. For the
    /// command line and startup; request handlers use [`Db::write`].
    pub fn write_blocking<T>(&self, f: impl FnMut(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
        self.faults.count(self.write_until(Instant::now() + self.bound, f))
    }

    pub(super) fn write_until<T>(
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
            let left = deadline.saturating_duration_since(Instant::now());
            let begin = Begin::with_left(&self.begin, self.backend, self.bound, left);
            self.run_on(&mut pooled, |conn| transaction(conn, &begin, &mut f))
        })
    }

    /// Runs a read (no writes in `f`) on the current thread. It is safe to
    /// repeat: when its connection turns out to be dead (the server
    /// restarted, a proxy dropped it) it runs once more on another, and a
    /// conflict is retried like a write's.
    pub fn read_blocking<T>(&self, f: impl Fn(&mut DbConn) -> Result<T, DbError>) -> Result<T, DbError> {
        self.faults.count(self.read_on(&self.pool, Instant::now() + self.bound, f))
    }

    pub(super) fn read_on<T>(
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

    /// Runs a read on the calling thread when nothing in it can wait: on
    /// SQLite, whose WAL readers take no lock a writer holds, on one of the
    /// `here` connections kept for this that is free right now.
    /// `None` (nothing answered) when it would have to wait: on PostgreSQL
    /// (the answer comes over the network), with each such connection in
    /// use, or a lock in the way (checkpoint, recovery); the caller then
    /// hands the read to the blocking pool. Saves the two thread hand-offs
    /// a read otherwise costs (`bench/RESULTS.md`, item 23).
    pub(super) fn read_here<T>(
        &self,
        f: &impl Fn(&mut DbConn) -> Result<T, DbError>,
    ) -> Option<Result<T, DbError>> {
        let mut pooled = self.here.as_ref()?.try_get()?;
        match self.run_on(&mut pooled, f) {
            Err(DbError::Conflict(_) | DbError::TimedOut(_) | DbError::Unavailable(_)) => None,
            answer => Some(self.faults.count(answer)),
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
}
