//! Where sessions end: in the database and in this instance's revocation
//! mirror, together. Ending a session takes a `db::Tx`, which only
//! [`Sessions::write`] opens and applies to the mirror after its commit
//! (logout, refresh reuse, the session cap, a role change, a deletion, the
//! command line): none can forget the mirror.
use std::sync::Arc;

use crate::auth::{LiveSessions, Revocations};
use crate::db::sessions::SessionSet;
use crate::db::{self, Db, DbError, Mirror, Tx};
use crate::domain::{ClientIp, SessionId, SessionInfo, SessionPolicy, User, UserId};
use crate::telemetry::AUDIT;

use super::ServiceError;

#[derive(Clone)]
pub struct Sessions {
    db: Db,
    revocations: Arc<Revocations>,
    live: Arc<LiveSessions>,
    policy: SessionPolicy,
    /// Wakes this instance's mail sender when a write stored mail.
    mail_wake: Arc<tokio::sync::Notify>,
}

/// The sessions a committed write ended reach this instance's mirror; the
/// mail it stored wakes the sender.
impl Mirror for Sessions {
    fn sessions_ended(&self, ended: &[SessionId]) {
        self.revocations.add_local(ended, self.policy);
    }

    fn mail_queued(&self) {
        self.mail_wake.notify_one();
    }
}

impl Sessions {
    pub fn new(db: Db, revocations: Arc<Revocations>, policy: SessionPolicy) -> Self {
        Self { db, revocations, live: Arc::default(), policy, mail_wake: Arc::default() }
    }

    /// A session of `user` just started here: its tokens are honoured
    /// without a lookup.
    pub fn started(&self, session: &SessionId, user: UserId) {
        self.live.remember(session, user);
    }

    /// Whether the session of a verified token of `user` is alive: the one
    /// answer every protected route gets. In memory when it can be:
    /// `SessionEnded` once this instance knows it ended (here, or elsewhere
    /// as of its last sync), `NotSynced` while it cannot know (its mirror
    /// out of date: better 503 than a revoked token let through). A session
    /// this deployment never issued (a leaked key, a staging token replayed
    /// on production) is `UnknownSession`; one not yet seen here costs one
    /// lookup, then is known.
    pub async fn check_alive(&self, session: &SessionId, user: UserId) -> Result<(), ServiceError> {
        if self.revocations.is_revoked(session.as_str()) {
            return Err(ServiceError::SessionEnded);
        }
        if !self.revocations.is_current() {
            return Err(ServiceError::NotSynced);
        }
        if self.live.knows(session, user) {
            return Ok(());
        }
        let id = session.clone();
        match self.db.read(move |conn| db::sessions::has_ended(conn, &id, user)).await? {
            None => Err(ServiceError::UnknownSession),
            Some(true) => Err(ServiceError::SessionEnded),
            Some(false) => {
                self.live.remember(session, user);
                Ok(())
            }
        }
    }

    /// What wakes the mail sender (see `Mirror::mail_queued`).
    pub fn mail_wake(&self) -> Arc<tokio::sync::Notify> {
        self.mail_wake.clone()
    }

    /// The database, for reads and for writes that end no session.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Runs `write` as one transaction — on behalf of `account`, when known
    /// (see `Db::write_for`) — in a [`Tx`], which records every session it
    /// ends: once it committed, their tokens are refused here at once, and
    /// on every other instance at its next sync.
    pub async fn write<T, F>(&self, account: Option<UserId>, mut write: F) -> Result<T, DbError>
    where
        F: FnMut(&mut Tx, SessionPolicy) -> Result<T, DbError> + Send + 'static,
        T: Send + 'static,
    {
        let policy = self.policy;
        let write = move |tx: &mut Tx| write(tx, policy);
        let committed = match account {
            Some(account) => self.db.write_tx_for(account, write).await?,
            None => self.db.write_tx(write).await?,
        };
        Ok(committed.apply(self))
    }

    /// [`Sessions::write`] on the current thread, for the command line.
    pub fn write_blocking<T>(
        &self,
        mut write: impl FnMut(&mut Tx, SessionPolicy) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let policy = self.policy;
        Ok(self.db.write_tx_blocking(|tx| write(tx, policy))?.apply(self))
    }

    /// Logout: ends `session`, or with `all` every session of `user`.
    /// Idempotent for the caller's own session; only a live session may end
    /// the others (a token whose session ended, perhaps because it was
    /// stolen, keeps only the logout of its own).
    pub async fn log_out(
        &self,
        user: UserId,
        session: SessionId,
        all: bool,
        ip: ClientIp,
    ) -> Result<usize, ServiceError> {
        if all {
            self.check_alive(&session, user).await?;
        }
        let which = session.clone();
        let ended = self
            .write(Some(user), move |tx, policy| {
                let set = if all { SessionSet::OfUser(user) } else { SessionSet::One(&which) };
                Ok(db::sessions::end(tx, set, policy)?.len())
            })
            .await?;
        tracing::info!(target: AUDIT, event = "logout", user_id = user.0, session_id = %session, all, ended, ip = %ip);
        Ok(ended)
    }

    /// The user's live sessions, newest first.
    pub async fn list(&self, user: UserId) -> Result<Vec<SessionInfo>, ServiceError> {
        Ok(self.db.read(move |conn| db::sessions::list_live(conn, user)).await?)
    }

    /// Ends the user's live session `id`, or, with `others`, every live
    /// session of the user but `id`. A single session that is not one of
    /// the user's live ones (another user's, an ended one, none) is
    /// `NotFound`, with no hint which.
    pub async fn end_for(
        &self,
        user: UserId,
        id: SessionId,
        others: bool,
        ip: ClientIp,
    ) -> Result<(), ServiceError> {
        let which = id.clone();
        let (listed, ended) = self
            .write(Some(user), move |tx, policy| {
                // One the list shows: a session idle past its refresh
                // lapses from the list, though its last access token may
                // still be out (it is ended all the same).
                let listed = others || db::sessions::is_listed(tx, user, &which)?;
                let set =
                    if others { SessionSet::OthersOf(user, &which) } else { SessionSet::OneOf(user, &which) };
                Ok((listed, db::sessions::end(tx, set, policy)?.len()))
            })
            .await?;
        if !listed || (ended == 0 && !others) {
            return Err(ServiceError::NotFound("no such session"));
        }
        tracing::info!(target: AUDIT, event = "sessions_ended", user_id = user.0, session_id = %id, others, ended, ip = %ip);
        Ok(())
    }

    /// Ends every session of the account named `username_key` and, given a
    /// hash, replaces its password (the command line's `set-password` and
    /// `end-sessions`). `None` when there is no such account.
    pub fn sign_out_everywhere(
        &self,
        username_key: &str,
        new_password_hash: Option<&str>,
    ) -> Result<Option<(User, usize)>, DbError> {
        let signed_out = self.write_blocking(|tx, policy| {
            db::accounts::sign_out_everywhere(tx, username_key, new_password_hash, policy)
        })?;
        if let Some((user, ended)) = &signed_out {
            tracing::info!(target: AUDIT, event = "signed_out_everywhere", user_id = user.id.0,
                password_replaced = new_password_hash.is_some(), ended);
        }
        Ok(signed_out)
    }
}
