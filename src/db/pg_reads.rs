//! PostgreSQL's hot reads (a page of posts, a post) on the async worker that
//! received the request. Through the pool a read is handed to a blocking
//! thread, which sends it with libpq, sleeps on the socket and hands the
//! rows back: two cross-thread wake-ups and a parked thread per read, most
//! of a page's CPU beyond the query itself (`bench/RESULTS.md`, item 26).
//! Here each worker thread keeps a connection of its own, opened by its
//! first read; the reads it serves are pipelined on it, and an answer wakes
//! the worker that asked.
//!
//! The pool's promises hold: the same session bounds (or, behind a
//! transaction-mode pooler, the database's own, with unnamed statements
//! only), a read that meets a lost connection runs once more on a new one,
//! and every read answers within the bound. Used only where a connection of
//! its own was opened at start (see [`PgReads::start`]); where it could not
//! be (a TLS mode that verifies certificates, a setting only libpq reads
//! such as `PGPASSWORD`), reads take the pool's path as before.
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use super::conn::{session_bounds, CONNECT_TIMEOUT_SECS};
use super::error::with_cause;
use super::url::with_connect_timeout;
use super::{Db, DbError, Pooler};

/// These connections' `application_name`, unless `DATABASE_URL` sets one.
pub const APPLICATION_NAME: &str = "warrant reads";

/// libpq's connection variables (PostgreSQL 17's list).
const LIBPQ_VARIABLES: &str = "PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE \
    PGSERVICE PGSERVICEFILE PGOPTIONS PGAPPNAME PGSSLMODE PGREQUIRESSL PGSSLNEGOTIATION PGSSLCOMPRESSION \
    PGSSLCERT PGSSLKEY PGSSLROOTCERT PGSSLCRL PGSSLCRLDIR PGSSLSNI PGREQUIREPEER PGSSLMINPROTOCOLVERSION \
    PGSSLMAXPROTOCOLVERSION PGGSSENCMODE PGKRBSRVNAME PGGSSLIB PGCONNECT_TIMEOUT PGCLIENTENCODING \
    PGTARGETSESSIONATTRS PGCHANNELBINDING PGLOADBALANCEHOSTS";

/// The first of [`LIBPQ_VARIABLES`] that `is_set` says is set.
fn libpq_only(is_set: impl Fn(&str) -> bool) -> Option<&'static str> {
    LIBPQ_VARIABLES.split_whitespace().find(|name| is_set(name))
}

/// A read with a PostgreSQL text of its own: its SQL (`$1`… bound from
/// `params` in order) and how a row becomes a `T`.
pub(crate) struct PgRead<'a, T> {
    pub sql: &'static str,
    pub params: &'a [i64],
    pub row: fn(&Row) -> Result<T, tokio_postgres::Error>,
}

pub(super) struct PgReads {
    /// Which of a thread's connections are ours: tests run several pools.
    id: u64,
    config: tokio_postgres::Config,
    tls: MakeTlsConnector,
    /// What each session starts with; none behind a transaction-mode
    /// pooler, which carries no session state (and no named statements).
    setup: Option<String>,
}

/// A worker thread's connection.
struct Reader {
    client: Client,
    /// Statements prepared on it, by their SQL's address.
    prepared: parking_lot::Mutex<Vec<(&'static str, Statement)>>,
}

/// Shared by the reads that find the thread without a connection, so that
/// only the first opens one.
type Slot = Arc<tokio::sync::OnceCell<Arc<Reader>>>;

thread_local! {
    static READERS: RefCell<Vec<(u64, Slot)>> = const { RefCell::new(Vec::new()) };
}

impl PgReads {
    /// Reads on the workers for `url` when a connection opens the way they
    /// would open theirs (run on a thread of its own: the caller may be on
    /// a runtime); `Err` says why not.
    pub(super) fn start(url: &str, pooler: Pooler, bound: Duration) -> Result<Self, String> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        // libpq reads these; tokio-postgres does not, and would connect
        // otherwise than the pool does (where, as whom, how securely).
        if let Some(name) = libpq_only(|name| std::env::var_os(name).is_some()) {
            return Err(format!("{name} is set, which only libpq reads"));
        }
        let url = with_connect_timeout(url, CONNECT_TIMEOUT_SECS);
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| with_cause(&e))?;
        if config.get_application_name().is_none() {
            // For operators (and tests) telling these apart in pg_stat_activity.
            config.application_name(APPLICATION_NAME);
        }
        let mut tls = SslConnector::builder(SslMethod::tls()).map_err(|e| e.to_string())?;
        // libpq's `prefer` and `require` (the only modes parsed here)
        // encrypt without checking the certificate; the modes that check
        // it are refused by the parse above and stay with libpq.
        tls.set_verify(SslVerifyMode::NONE);
        let reads = Self {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            config,
            tls: MakeTlsConnector::new(tls.build()),
            setup: (pooler == Pooler::None).then(|| session_bounds(bound)),
        };
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    runtime.block_on(async {
                        let reader =
                            reads.connect(Instant::now() + bound).await.map_err(|e| e.to_string())?;
                        reader.client.batch_execute("SELECT 1").await.map_err(|e| with_cause(&e))
                    })
                })
                .join()
                .unwrap_or_else(|_| Err("the probe's thread panicked".into()))
        })?;
        Ok(reads)
    }

    async fn connect(&self, deadline: Instant) -> Result<Arc<Reader>, DbError> {
        let opened = tokio::time::timeout_at(deadline.into(), async {
            let (client, connection) = self.config.connect(self.tls.clone()).await?;
            // Runs on this thread's runtime: the answers wake this worker.
            tokio::spawn(connection);
            if let Some(setup) = &self.setup {
                client.batch_execute(setup).await?;
            }
            Ok::<_, tokio_postgres::Error>(client)
        });
        match opened.await {
            Ok(Ok(client)) => Ok(Arc::new(Reader { client, prepared: Default::default() })),
            Ok(Err(e)) => Err(DbError::Unavailable(format!("cannot connect: {}", with_cause(&e)))),
            Err(_) => Err(DbError::Unavailable("cannot connect within the bound".into())),
        }
    }

    /// This thread's connection: open, or opened now.
    async fn reader(&self, deadline: Instant) -> Result<Arc<Reader>, DbError> {
        let slot = READERS.with_borrow_mut(|readers| {
            let live = |slot: &Slot| slot.get().is_none_or(|reader| !reader.client.is_closed());
            match readers.iter().position(|(id, _)| *id == self.id) {
                Some(i) if live(&readers[i].1) => readers[i].1.clone(),
                Some(i) => {
                    readers[i].1 = Slot::default();
                    readers[i].1.clone()
                }
                None => {
                    readers.push((self.id, Slot::default()));
                    readers[readers.len() - 1].1.clone()
                }
            }
        });
        slot.get_or_try_init(|| self.connect(deadline)).await.cloned()
    }

    /// Forgets `reader`, if it is still this thread's connection.
    fn forget(&self, reader: &Arc<Reader>) {
        READERS.with_borrow_mut(|readers| {
            readers.retain(|(id, slot)| *id != self.id || slot.get().is_none_or(|r| !Arc::ptr_eq(r, reader)))
        });
    }

    async fn query<T>(&self, reader: &Reader, read: &PgRead<'_, T>) -> Result<Vec<T>, tokio_postgres::Error> {
        let rows = if self.setup.is_none() {
            let params: Vec<(&(dyn ToSql + Sync), Type)> =
                read.params.iter().map(|p| (p as &(dyn ToSql + Sync), Type::INT8)).collect();
            reader.client.query_typed(read.sql, &params).await?
        } else {
            let params: Vec<&(dyn ToSql + Sync)> =
                read.params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            let known = reader
                .prepared
                .lock()
                .iter()
                .find(|(sql, _)| std::ptr::eq(*sql, read.sql))
                .map(|s| s.1.clone());
            let statement = match known {
                Some(statement) => statement,
                None => {
                    let statement = reader.client.prepare(read.sql).await?;
                    reader.prepared.lock().push((read.sql, statement.clone()));
                    statement
                }
            };
            reader.client.query(&statement, &params).await?
        };
        rows.iter().map(read.row).collect()
    }
}

impl Db {
    /// Runs `read` on this worker's own connection when reads run there
    /// (see the module), else `f` as [`Db::read`] does.
    pub(crate) async fn read_either<T, F>(&self, read: PgRead<'_, T>, f: F) -> Result<Vec<T>, DbError>
    where
        F: Fn(&mut super::DbConn) -> Result<Vec<T>, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(reads) = &self.pg_reads else {
            return self.read(f).await;
        };
        let deadline = Instant::now() + self.bound;
        let answer = async {
            let mut tries = 0;
            loop {
                tries += 1;
                let reader = reads.reader(deadline).await?;
                let error = match tokio::time::timeout_at(deadline.into(), reads.query(&reader, &read)).await
                {
                    Ok(Ok(rows)) => return Ok(rows),
                    Ok(Err(e)) => DbError::from(e),
                    Err(_) => {
                        // Still busy with what timed out: not used again.
                        reads.forget(&reader);
                        return Err(DbError::TimedOut("no answer from the database within the bound".into()));
                    }
                };
                if let DbError::Unavailable(_) = error {
                    reads.forget(&reader);
                }
                match error {
                    // As on the pool's path: once more on a new connection.
                    DbError::Unavailable(e) if tries == 1 => {
                        self.last_loss.record();
                        tracing::warn!(error = %e, "database connection lost; running the read again on another");
                    }
                    DbError::Conflict(_) if tries < 3 && Instant::now() < deadline => {}
                    error => return Err(error),
                }
            }
        };
        self.faults.count(answer.await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_setting_only_libpq_reads_keeps_reads_on_the_pool() {
        assert_eq!(libpq_only(|name| name == "PGSSLMODE"), Some("PGSSLMODE"));
        assert_eq!(libpq_only(|name| name == "PGPASSWORD"), Some("PGPASSWORD"));
        assert_eq!(libpq_only(|name| name == "PGDATA"), None, "the server's, not libpq's");
        assert_eq!(libpq_only(|_| false), None);
        assert_eq!(LIBPQ_VARIABLES.split_whitespace().count(), 32);
        assert_eq!(libpq_only(|name| name == "PGLOADBALANCEHOSTS"), Some("PGLOADBALANCEHOSTS"));
        let refused =
            PgReads::start("postgres://u@h/db?sslmode=verify-full", Pooler::None, Duration::from_secs(1));
        let why = refused.err().expect("refused");
        assert!(why.contains("sslmode"), "{why}");
    }
}
