//! A write transaction that remembers what must follow its commit. Ending a
//! session takes a [`Tx`] (see `sessions::end`), and the value of a write
//! run in one comes out only through [`Committed::apply`], which hands the
//! ended sessions to the instance's mirror: a write cannot end a session
//! and leave this instance honouring its tokens.
use std::ops::{Deref, DerefMut};

use super::{Db, DbConn, DbError};
use crate::domain::{SessionId, UserId};

/// What follows a committed write on this instance (the service layer's):
/// the revocation mirror learns which sessions it ended, and the mail
/// sender wakes for the mails it stored.
pub trait Mirror {
    fn sessions_ended(&self, ended: &[SessionId]);
    fn mail_queued(&self) {}
}

/// Work to run once the transaction committed (never after a rollback).
type AfterCommit = Box<dyn FnOnce() + Send>;

/// The connection of a write transaction, and what its commit must be
/// followed by. A conflict that reruns the transaction starts a new `Tx`,
/// so a rolled-back attempt leaves nothing behind.
pub struct Tx<'c> {
    conn: &'c mut DbConn,
    ended: Vec<SessionId>,
    mail: bool,
    after: Vec<AfterCommit>,
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: &'c mut DbConn) -> Self {
        Self { conn, ended: Vec::new(), mail: false, after: Vec::new() }
    }

    /// Records sessions this transaction ended (`sessions::end`).
    pub(super) fn ended(&mut self, sessions: &[SessionId]) {
        self.ended.extend_from_slice(sessions);
    }

    /// Records that this transaction stored a mail (`outbox::enqueue`).
    pub(super) fn mail_queued(&mut self) {
        self.mail = true;
    }

    /// Runs `work` after the commit, on the thread that ran the write: an
    /// audit line, a wake-up, what must not happen for a rolled-back write.
    pub fn after_commit(&mut self, work: impl FnOnce() + Send + 'static) {
        self.after.push(Box::new(work));
    }

    pub(super) fn commit<T>(self, value: T) -> Committed<T> {
        Committed { value, ended: self.ended, mail: self.mail, after: self.after }
    }
}

impl Deref for Tx<'_> {
    type Target = DbConn;

    fn deref(&self) -> &DbConn {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
    }
}

/// A committed write's value, held until what follows the commit is done.
#[must_use = "a committed write's sessions must reach the mirror: call `apply`"]
pub struct Committed<T> {
    value: T,
    ended: Vec<SessionId>,
    mail: bool,
    after: Vec<AfterCommit>,
}

impl<T> Committed<T> {
    /// Tells `mirror` the sessions the write ended and whether it stored
    /// mail, runs its after-commit work, and gives its value.
    pub fn apply(self, mirror: &impl Mirror) -> T {
        if !self.ended.is_empty() {
            mirror.sessions_ended(&self.ended);
        }
        if self.mail {
            mirror.mail_queued();
        }
        self.after.into_iter().for_each(|work| work());
        self.value
    }
}

impl Db {
    /// [`Db::write`] in a [`Tx`].
    pub async fn write_tx<T, F>(&self, mut f: F) -> Result<Committed<T>, DbError>
    where
        F: FnMut(&mut Tx) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |conn| in_tx(conn, &mut f)).await
    }

    /// [`Db::write_for`] in a [`Tx`].
    pub async fn write_tx_for<T, F>(&self, account: UserId, mut f: F) -> Result<Committed<T>, DbError>
    where
        F: FnMut(&mut Tx) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        self.write_for(account, move |conn| in_tx(conn, &mut f)).await
    }

    /// [`Db::write_blocking`] in a [`Tx`].
    pub fn write_tx_blocking<T>(
        &self,
        mut f: impl FnMut(&mut Tx) -> Result<T, DbError>,
    ) -> Result<Committed<T>, DbError> {
        self.write_blocking(|conn| in_tx(conn, &mut f))
    }
}

fn in_tx<T>(
    conn: &mut DbConn,
    f: &mut impl FnMut(&mut Tx) -> Result<T, DbError>,
) -> Result<Committed<T>, DbError> {
    let mut tx = Tx::new(conn);
    let value = f(&mut tx)?;
    Ok(tx.commit(value))
}

/// A mirror that keeps what it is told, for unit tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct Seen(pub std::cell::RefCell<Vec<SessionId>>);

#[cfg(test)]
impl Mirror for Seen {
    fn sessions_ended(&self, ended: &[SessionId]) {
        self.0.borrow_mut().extend_from_slice(ended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_write_hands_its_ended_sessions_to_the_mirror_before_its_value() {
        let (_dir, db) = super::super::scratch_sqlite();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let committed = db
            .write_tx_blocking(move |tx| {
                tx.ended(&[SessionId("s1".into())]);
                let flag = flag.clone();
                tx.after_commit(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
                Ok(7)
            })
            .unwrap();
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "nothing runs before apply");
        let seen = Seen::default();
        assert_eq!(committed.apply(&seen), 7);
        assert_eq!(*seen.0.borrow(), vec![SessionId("s1".into())]);
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_refused_write_leaves_nothing_to_apply() {
        let (_dir, db) = super::super::scratch_sqlite();
        let refused = db.write_tx_blocking(|tx| -> Result<(), _> {
            tx.ended(&[SessionId("s1".into())]);
            Err(super::super::DbError::Refused(crate::domain::Refusal::LastAdmin))
        });
        assert!(matches!(refused, Err(super::super::DbError::Refused(_))));
    }
}
