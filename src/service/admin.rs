//! What admins do: list accounts, change a role, delete an account — and,
//! from the command line, make the first admin.
use crate::db::{self, DbError};
use crate::domain::{Actor, GuessSubject, Role, User, UserId, Username};
use crate::telemetry::AUDIT;

use super::{ServiceError, Sessions};

#[derive(Clone)]
pub struct Admin {
    sessions: Sessions,
}

impl Admin {
    pub fn new(sessions: Sessions) -> Self {
        Self { sessions }
    }

    /// One page of accounts in id order, each with its number of posts.
    pub async fn list_users(
        &self,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<(User, i64)>, ServiceError> {
        Ok(self.sessions.db().read(move |conn| db::users::list_with_post_counts(conn, after, limit)).await?)
    }

    /// Sets `user`'s role; a change ends their sessions. Never leaves zero
    /// admins.
    pub async fn set_role(&self, by: Actor, user: UserId, role: Role) -> Result<User, ServiceError> {
        let (changed, ended) = self
            .sessions
            .write(Some(user), move |tx, policy| db::accounts::set_role(tx, by, user, role, policy))
            .await?;
        tracing::info!(target: AUDIT, event = "role_changed", user_id = user.0, by = by.user_id.0, role = %role,
            sessions_ended = ended);
        Ok(changed)
    }

    /// Deletes `user`, their posts and their sessions.
    pub async fn delete_user(&self, by: Actor, user: UserId) -> Result<(), ServiceError> {
        let ended = self
            .sessions
            .write(Some(user), move |tx, policy| db::accounts::delete_user(tx, by, user, policy))
            .await?;
        tracing::info!(target: AUDIT, event = "user_deleted", user_id = user.0, by = by.user_id.0,
            sessions_ended = ended);
        Ok(())
    }

    /// Makes `username` an admin (the command line's `create-admin`):
    /// promotes the account, ending its sessions like any role change, or
    /// creates it with `password_hash`. `None` when there is no such
    /// account and no hash was given.
    pub fn create_or_promote(
        &self,
        username: &Username,
        password_hash: Option<&str>,
    ) -> Result<Option<(User, bool)>, DbError> {
        self.sessions.write_blocking(|tx, policy| {
            db::accounts::create_or_promote_admin(tx, username, password_hash, policy)
        })
    }

    /// Turns `user`'s TOTP off, as admin `by` (a lost device).
    pub async fn reset_mfa(&self, by: Actor, user: UserId) -> Result<(), ServiceError> {
        let was_on =
            self.sessions.db().write_for(user, move |conn| db::accounts::reset_mfa(conn, by, user)).await?;
        tracing::info!(target: AUDIT, event = "mfa_reset", user_id = user.0, by = by.user_id.0, was_on);
        Ok(())
    }

    /// Turns the TOTP of `username` off, from the command line: the account
    /// and whether it was on; `None` when there is no such account.
    pub fn reset_mfa_by_name(&self, username: &Username) -> Result<Option<(User, bool)>, ServiceError> {
        let key = username.key();
        let reset = self.sessions.db().write_blocking(|conn| db::accounts::reset_mfa_by_name(conn, &key))?;
        if let Some((user, was_on)) = &reset {
            tracing::info!(target: AUDIT, event = "mfa_reset", user_id = user.id.0, by = "command line", was_on);
        }
        Ok(reset)
    }

    /// Lifts the guessing budgets of `username` (its password budget, and
    /// its account's second-factor budget), from the command line: the
    /// account, if there is one, and how many budgets were spent.
    pub fn unthrottle(&self, username: &Username) -> Result<(Option<User>, usize), ServiceError> {
        let key = username.key();
        let (user, spent) = self.sessions.db().write_blocking(|conn| {
            let user = db::users::find_credentials(conn, &key)?.map(|(user, _)| user);
            let mut subjects = vec![GuessSubject::password_of(&key)];
            subjects.extend(user.as_ref().map(|user| GuessSubject::second_factor_of(user.id)));
            Ok((user, db::guesses::clear(conn, &subjects, db::now())?))
        })?;
        tracing::info!(target: AUDIT, event = "account_unthrottled", user_id = user.as_ref().map(|u| u.id.0),
            by = "command line", spent);
        Ok((user, spent))
    }
}
