//! Where a write becomes durable: one transaction whose commit is checked,
//! run again when it conflicted with a concurrent one.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::Connection;

use super::{Backend, DbConn, DbError};

/// Runs of a transaction that keeps conflicting, at most.
const MAX_ATTEMPTS: u32 = 10;
/// The pause before the first rerun; it doubles with each, with jitter, up
/// to [`MAX_PAUSE`] (about a second in all).
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// How a write transaction begins, and what puts the connection back as
/// it was after it (see `Db::begin_until`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Begin<'a> {
    /// Sent in one round trip: on SQLite `BEGIN IMMEDIATE` (takes the write
    /// lock up front: a deferred transaction that upgrades from read to
    /// write fails with "database is locked" under concurrency); on
    /// PostgreSQL `BEGIN`, or with the bounds as `SET LOCAL` (behind a
    /// transaction-mode pooler no session setting reaches the server
    /// connection; a write that waited has less of the bound left).
    pub sql: std::borrow::Cow<'a, str>,
    /// Run after the transaction ends: SQLite's `busy_timeout` back to the
    /// whole bound, after a write that began with less of it.
    pub after: Option<String>,
}

/// A write that waited less than this before it began keeps the whole
/// bound: not worth a longer `BEGIN`.
const BOUND_SLACK: Duration = Duration::from_millis(50);

impl<'a> Begin<'a> {
    /// How a write with `left` of its `bound` begins (`whole` with the
    /// whole bound): one that waited for its turn or a connection tells the
    /// database what is left (PostgreSQL: `SET LOCAL` in the same round
    /// trip; SQLite: its lock wait, restored after), so the request as a
    /// whole is answered within the bound, not twice it.
    pub(super) fn with_left(whole: &'a str, backend: Backend, bound: Duration, left: Duration) -> Self {
        if left + BOUND_SLACK >= bound {
            return Self { sql: whole.into(), after: None };
        }
        let ms = left.as_millis().max(1);
        match backend {
            Backend::Postgres => Self {
                sql: format!("{whole}; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}")
                    .into(),
                after: None,
            },
            Backend::Sqlite => Self {
                sql: format!("PRAGMA busy_timeout = {ms}; {whole}").into(),
                after: Some(format!("PRAGMA busy_timeout = {}", bound.as_millis())),
            },
        }
    }
}

/// Runs `f` in a transaction and returns its value only once the commit
/// succeeded. A failed `f` rolls everything back. PostgreSQL callers lock
/// the rows they read (see `users::lock_user`).
pub(super) fn transaction<T>(
    conn: &mut DbConn,
    begin: &Begin<'_>,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    let result = run_transaction(conn, &begin.sql, f);
    if let Some(after) = &begin.after {
        if let Err(e) = diesel::connection::SimpleConnection::batch_execute(conn, after) {
            tracing::warn!(error = %e, "could not restore the connection's lock wait");
        }
    }
    result
}

fn run_transaction<T>(
    conn: &mut DbConn,
    begin: &str,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    type Tm = <DbConn as Connection>::TransactionManager;
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, begin)?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(c, begin)?,
    }
    match f(conn) {
        Ok(value) => {
            // The commit can fail too (a full disk, a serialization failure
            // found at commit): then nothing was stored.
            Tm::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // A rollback that fails leaves the transaction manager broken,
            // and the pool drops the connection; the first error is the one
            // worth reporting.
            if let Err(rollback) = Tm::rollback_transaction(conn) {
                tracing::warn!(error = %rollback, "rollback failed; dropping the connection");
            }
            Err(e)
        }
    }
}

/// Runs `attempt` until it does not end in a [`DbError::Conflict`], at most
/// [`MAX_ATTEMPTS`] times and not past `deadline`, pausing a growing,
/// jittered while between runs so that the transactions that collided do
/// not collide again. The last conflict is returned when retries run out.
/// Each rerun is counted in `reruns`.
pub(super) fn retrying<T>(
    deadline: Instant,
    reruns: &AtomicU64,
    mut attempt: impl FnMut() -> Result<T, DbError>,
) -> Result<T, DbError> {
    let mut pause = FIRST_PAUSE;
    for run in 1.. {
        match attempt() {
            Err(DbError::Conflict(e)) if run < MAX_ATTEMPTS => {
                let jittered = pause.mul_f64(0.5 + f64::from(jitter()) / f64::from(u32::MAX));
                if Instant::now() + jittered >= deadline {
                    return Err(DbError::Conflict(e));
                }
                tracing::debug!(error = %e, run, "transaction conflicted; running it again");
                std::thread::sleep(jittered);
                reruns.fetch_add(1, Ordering::Relaxed);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

fn jitter() -> u32 {
    getrandom::u32().unwrap_or(u32::MAX / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_retried_a_bounded_number_of_times() {
        let mut runs = 0;
        let result: Result<(), _> =
            retrying(Instant::now() + Duration::from_secs(5), &AtomicU64::new(0), || {
                runs += 1;
                Err(DbError::Conflict("40001".into()))
            });
        assert!(matches!(result, Err(DbError::Conflict(_))));
        assert_eq!(runs, MAX_ATTEMPTS);
    }

    #[test]
    fn a_conflict_that_clears_is_not_reported() {
        let mut runs = 0;
        let result = retrying(Instant::now() + Duration::from_secs(5), &AtomicU64::new(0), || {
            runs += 1;
            if runs < 3 {
                Err(DbError::Conflict("deadlock detected".into()))
            } else {
                Ok(runs)
            }
        });
        assert_eq!(result.unwrap(), 3);
    }

    #[test]
    fn other_errors_and_a_passed_deadline_end_the_retries() {
        let mut runs = 0;
        let result: Result<(), _> =
            retrying(Instant::now() + Duration::from_secs(5), &AtomicU64::new(0), || {
                runs += 1;
                Err(DbError::Full("database or disk is full".into()))
            });
        assert!(matches!(result, Err(DbError::Full(_))) && runs == 1);
        let mut runs = 0;
        let result: Result<(), _> = retrying(Instant::now(), &AtomicU64::new(0), || {
            runs += 1;
            Err(DbError::Conflict("40001".into()))
        });
        assert!(matches!(result, Err(DbError::Conflict(_))) && runs == 1);
    }

    #[test]
    fn a_write_that_waited_begins_with_what_is_left_of_the_bound() {
        let bound = Duration::from_secs(2);
        let whole = Begin::with_left("BEGIN", Backend::Postgres, bound, bound);
        assert_eq!(whole, Begin { sql: "BEGIN".into(), after: None });
        let late = Begin::with_left("BEGIN", Backend::Postgres, bound, Duration::from_millis(300));
        assert_eq!(late.sql, "BEGIN; SET LOCAL statement_timeout = 300; SET LOCAL lock_timeout = 300");
        let sqlite = Begin::with_left("BEGIN IMMEDIATE", Backend::Sqlite, bound, Duration::ZERO);
        assert_eq!(sqlite.sql, "PRAGMA busy_timeout = 1; BEGIN IMMEDIATE");
        assert_eq!(sqlite.after.as_deref(), Some("PRAGMA busy_timeout = 2000"));
    }
}
