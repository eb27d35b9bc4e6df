//! The transactions that span accounts and their sessions: starting and
//! rotating a session, and the account changes that must end sessions with
//! them. Each runs inside the caller's transaction (`Db::write`).
use chrono::NaiveDateTime;

use super::sessions::{self, SessionSet};
use super::users::{self, NoLongerAdmin, RowLock};
use super::{guesses, mfa};
use super::{now, DbConn, DbError, Tx};
use crate::domain::{
    Actor, Amr, ClientDetails, GuessSubject, RefreshHash, Refusal, Role, SessionId, SessionPolicy, User,
    UserId, Username,
};

/// The password hash a signup stored or a login checked the password
/// against, and — for a login whose hash was outdated — a fresh hash of the
/// same password to store in its place.
#[derive(Debug, Clone, Copy)]
pub struct CheckedPassword<'a> {
    pub hash: &'a str,
    pub renewed: Option<&'a str>,
}

/// A session to start for an account whose password was checked.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub user: UserId,
    /// The password checked; `None` for a passkey login.
    pub password: Option<CheckedPassword<'a>>,
    pub first_token: &'a RefreshHash,
    pub client: &'a ClientDetails,
    /// How the user logged in; a password alone may not suffice.
    pub amr: Amr,
    /// The guess charged for this login's password, refunded: it was right.
    pub guessed: Option<&'a GuessSubject>,
}

/// Where a login that needs its second factor waits for it (a login only:
/// a signup has none, and a completed second factor needs none).
#[derive(Debug, Clone, Copy)]
pub struct Hold<'a> {
    pub token_hash: &'a str,
    pub expires_at: NaiveDateTime,
}

/// What starting a session did (a refusal is `Stale`: the account was
/// deleted, or its password replaced, since the check).
#[derive(Debug)]
pub enum Start {
    /// Started, for the account as it is now.
    Started(User),
    /// TOTP is on and only the password was given: the login waits at the
    /// hold for a code, and no session started.
    SecondFactorDue,
}

/// Locks the account (see [`users::lock`]) and checks that its password is
/// still the one `checked` against: `Stale` when it was replaced, or the
/// account deleted, since.
fn lock_unchanged(conn: &mut DbConn, user: UserId, checked: &str) -> Result<User, DbError> {
    let account = users::lock(conn, user, RowLock::Update)?.ok_or(Refusal::Stale)?;
    if users::password_hash(conn, user)?.as_deref() != Some(checked) {
        return Err(Refusal::Stale.into());
    }
    Ok(account)
}

/// Refuses a change that would leave no admin: `account` losing its role
/// (`keeps_admin` false) while the only one. The caller locked the admins
/// (`users::lock_admins`), so two such changes cannot both pass.
fn refuse_last_admin(conn: &mut DbConn, account: &User, keeps_admin: bool) -> Result<(), DbError> {
    if account.role == Role::Admin && !keeps_admin && users::count_admins(conn)? <= 1 {
        return Err(Refusal::LastAdmin.into());
    }
    Ok(())
}

/// A new session with its first refresh token, ending the user's oldest
/// live sessions beyond [`SessionPolicy::max_per_user`] — or, for an
/// account with TOTP on and a password alone, the login held for its code.
/// The password was checked before, by an argon2 verify; the account may
/// have changed since, and the token must carry its current role.
pub fn start_session(
    tx: &mut Tx,
    new: NewSession<'_>,
    hold: Option<Hold<'_>>,
    policy: SessionPolicy,
) -> Result<Start, DbError> {
    let user = new.user;
    // A role change, password reset or deletion running now either
    // committed before this read (we see its result) or waits for this
    // session to exist, and then ends it: a token with a stale role or
    // password never outlives the change. The lock is exclusive so that one
    // user's concurrent logins count their sessions one at a time, and the
    // cap holds.
    let account = match new.password {
        Some(password) => lock_unchanged(tx, user, password.hash)?,
        None => users::lock(tx, user, RowLock::Update)?.ok_or(Refusal::Stale)?,
    };
    if let Some(renewed) = new.password.and_then(|password| password.renewed) {
        users::set_password_hash(tx, user, renewed)?;
    }
    if let Some(guessed) = new.guessed {
        guesses::refund(tx, guessed)?;
    }
    if new.amr == Amr::Password && mfa::factor(tx, user, true)?.is_some() {
        let (Some(hold), Some(password)) = (hold, new.password) else { return Err(Refusal::Stale.into()) };
        let checked = password.renewed.unwrap_or(password.hash);
        mfa::insert_challenge(tx, hold.token_hash, user, checked, hold.expires_at)?;
        return Ok(Start::SecondFactorDue);
    }
    let beyond_cap = sessions::beyond_cap(tx, user, policy)?;
    if !beyond_cap.is_empty() {
        sessions::end(tx, SessionSet::Listed(&beyond_cap), policy)?;
    }
    if let Some(network) = &new.client.network {
        guesses::record_network(tx, user, network, super::now())?;
    }
    sessions::insert(tx, new.id, user, new.first_token, new.client, new.amr, policy)?;
    Ok(Start::Started(account))
}

/// A refresh token presented, and the one to store in its place.
#[derive(Debug, Clone, Copy)]
pub struct Rotation<'a> {
    pub presented: &'a RefreshHash,
    pub successor: &'a RefreshHash,
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Refresh {
    /// The token was live: it is now used, and the successor is the live one.
    Rotated { user: User, session: SessionId, amr: Amr },
    /// The token was rotated moments ago into the live one (another tab, a
    /// retry): the same successor stands.
    Repeated { user: User, session: SessionId, amr: Amr },
    /// The token had already been used: its session has been ended.
    Reused { user: UserId, ended: Vec<SessionId> },
    /// Unknown, or its session is over.
    Invalid,
}

/// Rotates a refresh token. Claiming the token is a conditional update, so
/// of N concurrent presentations at most one wins; the others count as
/// reuse and end the session, winner included. The live path is four
/// statements: extend the session's idle deadline, claim the token, read
/// the user, store the successor.
pub fn rotate(tx: &mut Tx, rotation: Rotation<'_>, policy: SessionPolicy) -> Result<Refresh, DbError> {
    let now = now();
    // The session first, then the token: the order everything else that
    // writes both takes them in (deleting a user marks its sessions ended,
    // then the cascade deletes them and their tokens). Claiming the token
    // first deadlocked with a deletion under way. Concurrent refreshes of
    // one session queue here.
    let live = sessions::touch_live_of(tx, rotation.presented, now, policy)?;
    let Some(session) = sessions::claim_token(tx, rotation.presented, rotation.successor, now)? else {
        // Within the grace window, the immediate parent of the live token
        // converges on it; anything else is reuse.
        let grace = policy.reuse_grace > chrono::TimeDelta::zero();
        if let (true, Some((user, amr))) = (grace, live) {
            if let Some(session) =
                sessions::rotated_into_live(tx, rotation.presented, now - policy.reuse_grace)?
            {
                let Some(user) = users::find(tx, user)? else { return Ok(Refresh::Invalid) };
                return Ok(Refresh::Repeated { user, session, amr });
            }
        }
        return end_on_reuse(tx, rotation.presented, policy);
    };
    // Ended or lapsed: the token is spent with its session.
    let Some((user, amr)) = live else { return Ok(Refresh::Invalid) };
    // The session's row lock keeps its user (deletion cascades through it).
    let Some(user) = users::find(tx, user)? else { return Ok(Refresh::Invalid) };
    sessions::insert_token(tx, &session, rotation.successor, now)?;
    Ok(Refresh::Rotated { user, session, amr })
}

/// A presented token that could not be claimed: unknown, or already used —
/// then its session ends.
fn end_on_reuse(tx: &mut Tx, presented: &RefreshHash, policy: SessionPolicy) -> Result<Refresh, DbError> {
    let Some((session, user)) = sessions::owner_of_token(tx, presented)? else {
        return Ok(Refresh::Invalid);
    };
    let ended = sessions::end(tx, SessionSet::One(&session), policy)?;
    Ok(Refresh::Reused { user, ended })
}

/// Checks that `by` is still an admin and locks `user`'s account, refusing
/// a change that would leave no admin. On PostgreSQL the admin rows are
/// locked first, so two admins demoting each other at once cannot both
/// win, and the account changed is locked before its sessions are read, so
/// none starting meanwhile escapes the change.
fn guard_admin_change(
    conn: &mut DbConn,
    by: Actor,
    user: UserId,
    keeps_admin: bool,
) -> Result<User, DbError> {
    users::lock_admins(conn)?;
    if let Err(NoLongerAdmin) = users::holds_admin(conn, by.user_id)? {
        return Err(Refusal::NoLongerAdmin.into());
    }
    let account = users::lock(conn, user, RowLock::Update)?.ok_or(Refusal::NoSuchUser)?;
    refuse_last_admin(conn, &account, keeps_admin)?;
    Ok(account)
}

/// Sets the role, as admin `by`; a change ends the user's sessions, so no
/// token keeps the old role. Returns the user and how many sessions ended.
pub fn set_role(
    tx: &mut Tx,
    by: Actor,
    user: UserId,
    role: Role,
    policy: SessionPolicy,
) -> Result<(User, usize), DbError> {
    let account = guard_admin_change(tx, by, user, role == Role::Admin)?;
    if account.role == role {
        return Ok((account, 0));
    }
    users::set_role(tx, user, role)?;
    let ended = sessions::end(tx, SessionSet::OfUser(user), policy)?;
    Ok((User { role, ..account }, ended.len()))
}

/// Deletes a user, as admin `by`; their posts and sessions go with them
/// after the sessions are recorded as revoked. Returns how many ended.
pub fn delete_user(tx: &mut Tx, by: Actor, user: UserId, policy: SessionPolicy) -> Result<usize, DbError> {
    guard_admin_change(tx, by, user, false)?;
    let ended = sessions::end(tx, SessionSet::OfUser(user), policy)?;
    users::delete(tx, user)?;
    Ok(ended.len())
}

/// Ends every session of the account named `username_key` and, given a
/// hash, replaces its password: a login that checked the old password just
/// before cannot start a session after it (see [`start_session`]). Returns
/// the account and how many sessions ended; `None` when there is no such
/// account.
pub fn sign_out_everywhere(
    tx: &mut Tx,
    username_key: &str,
    new_password_hash: Option<&str>,
    policy: SessionPolicy,
) -> Result<Option<(User, usize)>, DbError> {
    let Some((found, _)) = users::find_credentials(tx, username_key)? else { return Ok(None) };
    let Some(account) = users::lock(tx, found.id, RowLock::Update)? else { return Ok(None) };
    if let Some(hash) = new_password_hash {
        users::set_password_hash(tx, account.id, hash)?;
        super::emails::void_links(tx, account.id, crate::domain::LinkPurpose::ResetPassword)?;
    }
    let ended = sessions::end(tx, SessionSet::OfUser(account.id), policy)?;
    Ok(Some((account, ended.len())))
}

/// Makes `username` an admin: promotes the existing account (keeping its
/// password; like any role change this ends their sessions), or creates it
/// with `password_hash`. Returns the user and whether it was created;
/// `None` when the account does not exist and no hash was given.
pub fn create_or_promote_admin(
    tx: &mut Tx,
    username: &Username,
    password_hash: Option<&str>,
    policy: SessionPolicy,
) -> Result<Option<(User, bool)>, DbError> {
    match (users::find_credentials(tx, &username.key())?, password_hash) {
        (Some((account, _)), _) if account.role == Role::Admin => Ok(Some((account, false))),
        (Some((account, _)), _) => {
            users::set_role(tx, account.id, Role::Admin)?;
            sessions::end(tx, SessionSet::OfUser(account.id), policy)?;
            Ok(Some((User { role: Role::Admin, ..account }, false)))
        }
        (None, Some(hash)) => Ok(Some((users::insert(tx, username, hash, Role::Admin)?, true))),
        (None, None) => Ok(None),
    }
}

mod mfa_changes;
mod own;
#[cfg(test)]
mod tests;

pub use mfa_changes::{
    attempt_login, complete_login, confirm_enrolment, renew_recovery_codes, reset_mfa, reset_mfa_by_name,
    turn_off_mfa, Attempt, NewLogin, SecondFactor,
};
pub use own::{change_password, delete_self, reset_password, PasswordChange};
