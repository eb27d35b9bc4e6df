//! The caller's own account: a new password, or no account.
use crate::auth::Verdict;
use crate::db;
use crate::db::accounts::PasswordChange;
use crate::domain::{ClientIp, GuessSubject, Password, SessionId, UserId};
use crate::service::{Guesser, ServiceError};
use crate::telemetry::AUDIT;

use super::Accounts;

impl Accounts {
    /// Checks `password` against the account's current one (an argon2
    /// verify whatever happens); the hash it matched. The check spends the
    /// account's password budget as a login does: a stolen session is no
    /// way around it.
    pub(super) async fn check_password(
        &self,
        user: UserId,
        password: String,
        ip: ClientIp,
    ) -> Result<String, ServiceError> {
        let found = self
            .sessions
            .db()
            .read(move |conn| Ok(db::users::find(conn, user)?.zip(db::users::password_hash(conn, user)?)))
            .await?;
        let Some((account, hash)) = found else { return Err(ServiceError::SessionEnded) };
        let guessed = GuessSubject::password_of(&account.username);
        let network = ip.network();
        self.guesses
            .charge(&guessed, Guesser { account: Some(user), network: network.as_deref(), ip })
            .await?;
        match self.hasher.verify(password, Some(hash.clone())).await? {
            Verdict::Match { .. } => {
                self.guesses.refund(&guessed).await?;
                Ok(hash)
            }
            Verdict::Mismatch => Err(ServiceError::InvalidCredentials),
        }
    }

    /// Replaces the caller's password and ends every other session of
    /// theirs; this one goes on.
    pub async fn change_password(
        &self,
        user: UserId,
        session: SessionId,
        current: String,
        new: Password,
        ip: ClientIp,
    ) -> Result<(), ServiceError> {
        let checked = self.check_password(user, current, ip).await?;
        let new_hash = self.hasher.hash(new).await?;
        let keep = session.clone();
        // Refused (`InvalidCredentials`) when the password was changed by
        // someone else since the check.
        let ended = self
            .sessions
            .write(Some(user), move |tx, policy| {
                let change = PasswordChange { checked: &checked, new: &new_hash };
                db::accounts::change_password(tx, user, &keep, change, policy)
            })
            .await?;
        tracing::info!(target: AUDIT, event = "password_changed", user_id = user.0, session_id = %session,
            sessions_ended = ended, ip = %ip);
        Ok(())
    }

    /// Deletes the caller's account, posts and sessions, once the password
    /// is confirmed; never the last admin.
    pub async fn delete_me(&self, user: UserId, password: String, ip: ClientIp) -> Result<(), ServiceError> {
        let checked = self.check_password(user, password, ip).await?;
        let ended = self
            .sessions
            .write(Some(user), move |tx, policy| db::accounts::delete_self(tx, user, &checked, policy))
            .await?;
        tracing::info!(target: AUDIT, event = "account_deleted", user_id = user.0, sessions_ended = ended, ip = %ip);
        Ok(())
    }
}
