//! A write transaction that remembers what must follow its commit. Ending a
//! session takes a [`Tx`] (see `sessions::end`), and the value of a write
//! run in one comes out only through [`Committed::apply`], which hands the
//! ended sessions to the instance's mirror: a write cannot end a session
//! and leave this instance honouring its tokens, nor store mail and leave
//! the sender asleep.
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

/// The connection of a write transaction, and what its commit must be
/// followed by. A conflict that reruns the transaction starts a new `Tx`,
/// so a rolled-back attempt leaves nothing behind.
pub struct Tx<'c> {
    conn: &'c mut DbConn,
    ended: Vec<SessionId>,
    mail: bool,
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: &'c mut DbConn) -> Self {
        Self { conn, ended: Vec::new(), mail: false }
    }

    /// Records sessions this transaction ended (`sessions::end`).
    pub(super) fn ended(&mut self, sessions: &[SessionId]) {
        self.ended.extend_from_slice(sessions);
    }

    /// Records that this transaction stored a mail (`outbox::enqueue`).
    pub(super) fn mail_queued(&mut self) {
        self.mail = true;
    }

    pub(super) fn commit<T>(self, value: T) -> Committed<T> {
        Committed { value, ended: self.ended, mail: self.mail }
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
}

impl<T> Committed<T> {
    /// Tells `mirror` the sessions the write ended and whether it stored
    /// mail, and gives its value.
    pub fn apply(self, mirror: &impl Mirror) -> T {
        if !self.ended.is_empty() {
            mirror.sessions_ended(&self.ended);
        }
        if self.mail {
            mirror.mail_queued();
        }
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
pub(crate) struct Seen(pub std::cell::RefCell<Vec<SessionId>>, pub std::cell::Cell<bool>);

#[cfg(test)]
impl Mirror for Seen {
    fn sessions_ended(&self, ended: &[SessionId]) {
        self.0.borrow_mut().extend_from_slice(ended);
    }

    fn mail_queued(&self) {
        self.1.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_write_hands_what_it_did_to_the_mirror_with_its_value() {
        let (_dir, db) = super::super::scratch_sqlite();
        let committed = db
            .write_tx_blocking(|tx| {
                tx.ended(&[SessionId("s1".into())]);
                tx.mail_queued();
                Ok(7)
            })
            .unwrap();
        let seen = Seen::default();
        assert_eq!(committed.apply(&seen), 7);
        assert_eq!(*seen.0.borrow(), vec![SessionId("s1".into())]);
        assert!(seen.1.get(), "the mail sender is woken");
        let quiet = Seen::default();
        db.write_tx_blocking(|_| Ok(())).unwrap().apply(&quiet);
        assert!(quiet.0.borrow().is_empty() && !quiet.1.get(), "a write that did neither tells nothing");
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
