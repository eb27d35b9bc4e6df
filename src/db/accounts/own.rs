//! Changes the account's owner makes: a new password, or no account.
use super::super::sessions::{self, SessionSet};
use super::super::users::{self, RowLock};
use super::super::{DbConn, DbError};
use super::AdminChange;
use crate::domain::{Role, SessionId, SessionPolicy, UserId};

/// A password change: the hash the current password was checked against,
/// and the new password's hash.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    pub checked: &'a str,
    pub new: &'a str,
}

/// Replaces the password of `user` (`None` when it was replaced, or the
/// account deleted, since the check) and ends every other session of the
/// user: whoever knew the old password keeps nothing.
pub fn change_password(
    conn: &mut DbConn,
    user: UserId,
    keep: &SessionId,
    change: PasswordChange<'_>,
    policy: SessionPolicy,
) -> Result<Option<Vec<SessionId>>, DbError> {
    let Some(_) = users::lock(conn, user, RowLock::Update)? else { return Ok(None) };
    if users::password_hash(conn, user)?.as_deref() != Some(change.checked) {
        return Ok(None);
    }
    users::set_password_hash(conn, user, change.new)?;
    Ok(Some(sessions::end(conn, SessionSet::OthersOf(user, keep), policy)?))
}

/// Deletes `user` on their own request, whose password was checked against
/// `checked_hash`: `NotFound` when it was replaced (or the account deleted)
/// meanwhile, `LastAdmin` for the last admin. Returns the ended sessions.
pub fn delete_self(
    conn: &mut DbConn,
    user: UserId,
    checked_hash: &str,
    policy: SessionPolicy,
) -> Result<AdminChange<Vec<SessionId>>, DbError> {
    users::lock_admins(conn)?;
    let Some(account) = users::lock(conn, user, RowLock::Update)? else { return Ok(AdminChange::NotFound) };
    if users::password_hash(conn, user)?.as_deref() != Some(checked_hash) {
        return Ok(AdminChange::NotFound);
    }
    if account.role == Role::Admin && users::count_admins(conn)? <= 1 {
        return Ok(AdminChange::LastAdmin);
    }
    let ended = sessions::end(conn, SessionSet::OfUser(user), policy)?;
    users::delete(conn, user)?;
    Ok(AdminChange::Done(ended))
}
