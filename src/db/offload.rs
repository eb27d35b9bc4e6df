//! The async doors to the database: each moves its blocking work off the
//! async workers, inside the caller's tracing span, so what it logs names
//! its request, and waits for it no longer than the bound (and
//! [`GRACE`]): the database's own timeouts answer first where they can,
//! this side where they cannot — a server process stopped or swapped out,
//! a pooler holding the query (PgBouncer's `query_wait_timeout`), none of
//! which ends a query libpq is waiting on.
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pool::URGENT_BOUND;
use super::{Db, DbConn, DbError};

/// How long past its deadline work on another thread is waited for.
const GRACE: Duration = Duration::from_millis(250);

impl Db {
    /// Runs `f` as one transaction on the blocking thread pool (see
    /// [`Db::write_blocking`]); reads use [`Db::read`].
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnMut(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_until_async(Instant::now() + self.bound, f).await
    }

    /// A write the request stops waiting for is never committed after: the
    /// write's thread and the request settle, once, whether it commits (see
    /// [`Commit`]). One whose commit is under way is waited for a bound
    /// more, then answered as a lost connection would be.
    async fn write_until_async<T, F>(&self, deadline: Instant, mut f: F) -> Result<T, DbError>
    where
        F: FnMut(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let commit = Arc::new(Commit::default());
        let settled = commit.clone();
        let last_step = move |conn: &mut DbConn| {
            let value = f(conn)?;
            // Still wanted: commit (an error here rolls back).
            match settled.claim() {
                true => Ok(value),
                false => Err(DbError::TimedOut("the request stopped waiting for this write".into())),
            }
        };
        let mut task = std::pin::pin!(offload(move || db.write_until(deadline, last_step)));
        let answer = match within(deadline, &mut task).await {
            Some(answer) => answer,
            None if commit.abandon() => Err(no_answer()),
            None => within(Instant::now() + self.bound, task).await.unwrap_or_else(|| {
                Err(DbError::Unavailable("no answer from the database to a commit".into()))
            }),
        };
        // Counted here, once: an abandoned write's thread answers no one.
        self.faults.count(answer)
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
        let _turn = match &self.turns {
            Some(turns) => Some(
                self.faults
                    .count(turns.take(account.0, deadline.saturating_duration_since(Instant::now())).await)?,
            ),
            None => None,
        };
        self.write_until_async(deadline, f).await
    }

    /// Runs a read (no writes in `f`): here when it cannot wait (SQLite,
    /// see [`Db::read_here`]), else on the blocking thread pool (see
    /// [`Db::read_blocking`]).
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: Fn(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(answer) = self.read_here(&f) {
            return answer;
        }
        let db = self.clone();
        let deadline = Instant::now() + self.bound;
        let task = offload(move || db.read_on(&db.pool, deadline, f));
        self.faults.count(within(deadline, task).await.unwrap_or_else(|| Err(no_answer())))
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
        // A thread of its own: the blocking pool may be full of requests
        // waiting for connections, and this must not queue behind them.
        let (done, answer) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        std::thread::Builder::new()
            .name("warrant-urgent".into())
            .spawn(move || {
                let _ = done.send(span.in_scope(|| db.read_on(&db.urgent, deadline, f)));
            })
            .map_err(|e| DbError::Other(format!("cannot start a thread: {e}")))?;
        let answer = async {
            answer
                .await
                .map_err(|_| DbError::Other("the urgent read's thread ended without an answer".into()))?
        };
        // The thread answers into the void after that.
        within(deadline, answer).await.unwrap_or_else(|| Err(no_answer()))
    }
}

/// Whether a write commits, settled once between its thread, about to
/// commit, and the request, out of time.
#[derive(Default)]
struct Commit(AtomicU8);

impl Commit {
    const WAITED_FOR: u8 = 0;
    const COMMITTING: u8 = 1;
    const ABANDONED: u8 = 2;

    /// The write's thread, before each commit: may it commit?
    fn claim(&self) -> bool {
        match self.0.compare_exchange(Self::WAITED_FOR, Self::COMMITTING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == Self::COMMITTING,
        }
    }

    /// The request, out of time: true when the write will not commit.
    fn abandon(&self) -> bool {
        self.0
            .compare_exchange(Self::WAITED_FOR, Self::ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// `work`'s answer, or `None` at `deadline` and [`GRACE`].
async fn within<T>(deadline: Instant, work: impl Future<Output = T>) -> Option<T> {
    tokio::time::timeout_at((deadline + GRACE).into(), work).await.ok()
}

fn no_answer() -> DbError {
    DbError::TimedOut("no answer from the database within the bound".into())
}

/// Moves blocking database work off the async workers, inside the caller's
/// tracing span, so what it logs names its request.
async fn offload<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DbError> + Send + 'static,
) -> Result<T, DbError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| DbError::Other(format!("blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    use super::super::{scratch_sqlite, DbConn, DbError};

    fn rows(conn: &mut DbConn) -> Result<i64, DbError> {
        Ok(diesel::select(diesel::dsl::sql::<BigInt>("(SELECT count(*) FROM t)")).get_result(conn)?)
    }

    /// A second process's connection to the scratch database.
    fn foreign(dir: &tempfile::TempDir, sql: &str) -> SqliteConnection {
        let mut conn = SqliteConnection::establish(&dir.path().join("scratch.db").to_string_lossy()).unwrap();
        conn.batch_execute(sql).unwrap();
        conn
    }

    #[test]
    fn a_write_commits_or_is_abandoned_never_both() {
        let abandoned = super::Commit::default();
        assert!(abandoned.abandon());
        assert!(!abandoned.claim(), "abandoned: rolls back");
        let committing = super::Commit::default();
        assert!(committing.claim());
        assert!(committing.claim(), "a rerun after a conflict commits too");
        assert!(!committing.abandon(), "under way: waited for");
    }

    #[test]
    fn a_read_runs_here_beside_a_write_in_progress_and_sees_only_what_committed() {
        let (dir, db) = scratch_sqlite();
        let writer = foreign(
            &dir,
            "CREATE TABLE t (x); INSERT INTO t VALUES (1); BEGIN IMMEDIATE; INSERT INTO t VALUES (2)",
        );
        assert_eq!(db.read_here(&rows).expect("answered here").unwrap(), 1);
        drop(writer);
    }

    #[test]
    fn reads_here_give_up_on_a_lock_at_once_and_never_wait_for_a_connection() {
        let (dir, db) = scratch_sqlite();
        drop(foreign(&dir, "CREATE TABLE t (x)"));
        let busy_timeout = |conn: &mut DbConn| -> Result<i64, DbError> {
            Ok(diesel::select(diesel::dsl::sql::<BigInt>("(SELECT * FROM pragma_busy_timeout)"))
                .get_result(conn)?)
        };
        // SQLite's busy handler would sleep on the async worker.
        assert_eq!(db.read_here(&busy_timeout).unwrap().unwrap(), 0);
        assert_eq!(db.read_blocking(busy_timeout).unwrap(), 5000, "the blocking pool's wait up to the bound");
        // Every connection kept for this in use: handed on, not waited for.
        let here = db.here.as_ref().unwrap();
        let taken: Vec<_> = (0..here.max_size()).map(|_| here.get().unwrap()).collect();
        assert!(db.read_here(&rows).is_none());
        drop(taken);
        assert_eq!(db.read_here(&rows).unwrap().unwrap(), 0);
    }
}
