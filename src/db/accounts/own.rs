//! Changes the account's owner makes: a new password, or no account.
use super::super::sessions::{self, SessionSet};
use super::super::users::{self, RowLock};
use super::super::{emails, DbError, Tx};
use super::{lock_unchanged, refuse_last_admin};
use crate::domain::{LinkPurpose, Refusal, SessionId, SessionPolicy, UserId};

/// A password change: the hash the current password was checked against,
/// and the new password's hash.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    pub checked: &'a str,
    pub new: &'a str,
}

/// Replaces the password of `user` (`Stale` when it was replaced, or the
/// account deleted, since the check) and ends every other session of the
/// user: whoever knew the old password keeps nothing. How many ended.
pub fn change_password(
    tx: &mut Tx,
    user: UserId,
    keep: &SessionId,
    change: PasswordChange<'_>,
    policy: SessionPolicy,
) -> Result<usize, DbError> {
    lock_unchanged(tx, user, change.checked)?;
    users::set_password_hash(tx, user, change.new)?;
    emails::void_links(tx, user, LinkPurpose::ResetPassword)?;
    Ok(sessions::end(tx, SessionSet::OthersOf(user, keep), policy)?.len())
}

/// Sets the password of the account a reset link was mailed to, spending
/// the link (`InvalidLink` when it is not live), voiding its other reset
/// links and ending every session of the account: the account and how
/// many sessions ended. TOTP stays as it was.
pub fn reset_password(
    tx: &mut Tx,
    token_hash: &str,
    new_hash: &str,
    policy: SessionPolicy,
) -> Result<(UserId, usize), DbError> {
    let link = emails::take_link(tx, token_hash, LinkPurpose::ResetPassword)?.ok_or(Refusal::InvalidLink)?;
    users::lock(tx, link.user, RowLock::Update)?.ok_or(Refusal::InvalidLink)?;
    users::set_password_hash(tx, link.user, new_hash)?;
    emails::void_links(tx, link.user, LinkPurpose::ResetPassword)?;
    Ok((link.user, sessions::end(tx, SessionSet::OfUser(link.user), policy)?.len()))
}

/// Deletes `user` on their own request, whose password was checked against
/// `checked_hash` (`Stale` when it was replaced, or the account deleted,
/// meanwhile); never the last admin. How many sessions ended.
pub fn delete_self(
    tx: &mut Tx,
    user: UserId,
    checked_hash: &str,
    policy: SessionPolicy,
) -> Result<usize, DbError> {
    users::lock_admins(tx)?;
    let account = lock_unchanged(tx, user, checked_hash)?;
    refuse_last_admin(tx, &account, false)?;
    let ended = sessions::end(tx, SessionSet::OfUser(user), policy)?;
    users::delete(tx, user)?;
    Ok(ended.len())
}
