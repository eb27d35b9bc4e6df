//! The async doors to the database: each moves its blocking work off the
//! async workers, inside the caller's tracing span, so what it logs names
//! its request.
use std::time::{Duration, Instant};

use super::pool::URGENT_BOUND;
use super::{Db, DbConn, DbError};

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
        let _turn = match &self.turns {
            Some(turns) => Some(
                self.faults
                    .count(turns.take(account.0, deadline.saturating_duration_since(Instant::now())).await)?,
            ),
            None => None,
        };
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
        // Bounded from here too: behind a pooler that queues queries while
        // it has no server (PgBouncer's query_wait_timeout), libpq waits
        // past every bound of ours. The thread answers into the void.
        let grace = Duration::from_millis(250);
        match tokio::time::timeout_at((deadline + grace).into(), answer).await {
            Ok(answer) => answer
                .map_err(|_| DbError::Other("the urgent read's thread ended without an answer".into()))?,
            Err(_) => Err(DbError::TimedOut("no answer from the database within the bound".into())),
        }
    }
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
