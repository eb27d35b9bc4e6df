//! The caller's own account: a new password, or no account.
use crate::auth::Verdict;
use crate::db;
use crate::db::accounts::{AdminChange, PasswordChange};
use crate::domain::{ClientIp, Password, SessionId, UserId};
use crate::service::ServiceError;
use crate::telemetry::AUDIT;

use super::Accounts;

impl Accounts {
    /// Checks `password` against the account's current one (an argon2
    /// verify whatever happens); the hash it matched.
    pub(super) async fn check_password(
        &self,
        user: UserId,
        password: String,
    ) -> Result<String, ServiceError> {
        let hash = self.sessions.db().read(move |conn| db::users::password_hash(conn, user)).await?;
        match self.hasher.verify(password, hash.clone()).await? {
            Verdict::Match { .. } => hash.ok_or(ServiceError::InvalidCredentials),
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
        let checked = self.check_password(user, current).await?;
        let new_hash = self.hasher.hash(new).await?;
        let keep = session.clone();
        let ended = self
            .sessions
            .ending(Some(user), move |conn, policy| {
                let change = PasswordChange { checked: &checked, new: &new_hash };
                let ended = db::accounts::change_password(conn, user, &keep, change, policy)?;
                Ok((ended.clone(), ended.unwrap_or_default()))
            })
            .await?
            // The password was changed by someone else since the check.
            .ok_or(ServiceError::InvalidCredentials)?;
        tracing::info!(target: AUDIT, event = "password_changed", user_id = user.0, session_id = %session,
            sessions_ended = ended.len(), ip = %ip);
        Ok(())
    }

    /// Deletes the caller's account, posts and sessions, once the password
    /// is confirmed; never the last admin.
    pub async fn delete_me(&self, user: UserId, password: String, ip: ClientIp) -> Result<(), ServiceError> {
        let checked = self.check_password(user, password).await?;
        let ended = self
            .sessions
            .ending(Some(user), move |conn, policy| {
                Ok(db::accounts::delete_self(conn, user, &checked, policy)?.and_ended())
            })
            .await?;
        let ended = match ended {
            AdminChange::Done(ended) => ended,
            AdminChange::LastAdmin => return Err(ServiceError::LastAdmin),
            AdminChange::NotFound | AdminChange::NoLongerAdmin => {
                return Err(ServiceError::InvalidCredentials)
            }
        };
        tracing::info!(target: AUDIT, event = "account_deleted", user_id = user.0, sessions_ended = ended.len(), ip = %ip);
        Ok(())
    }
}
