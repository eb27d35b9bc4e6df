//! The transactions that span accounts and their sessions: starting and
//! rotating a session, and the account changes that must end sessions with
//! them. Each runs inside the caller's transaction (`Db::write`).
use chrono::NaiveDateTime;

use super::sessions::{self, SessionSet};
use super::users::{self, NoLongerAdmin, RowLock};
use super::{guesses, mfa};
use super::{now, DbConn, DbError};
use crate::domain::{
    Actor, Amr, ClientDetails, GuessSubject, RefreshHash, Role, SessionId, SessionPolicy, User, UserId,
    Username,
};

/// A session just started.
#[derive(Debug)]
pub struct Started {
    /// The account as it is now.
    pub user: User,
    /// The user's oldest sessions, ended to keep them within the cap.
    pub evicted: Vec<SessionId>,
}

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
    pub password: CheckedPassword<'a>,
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

/// What starting a session did.
#[derive(Debug)]
pub enum Start {
    Started(Started),
    /// TOTP is on and only the password was given: the login waits at the
    /// hold for a code, and no session started.
    SecondFactorDue,
    /// The account was deleted, or its password replaced, since the check.
    Gone,
}

/// A new session with its first refresh token, ending the user's oldest
/// live sessions beyond [`SessionPolicy::max_per_user`] — or, for an
/// account with TOTP on and a password alone, the login held for its code.
/// The password was checked before, by an argon2 verify; the account may
/// have changed since, and the token must carry its current role.
pub fn start_session(
    conn: &mut DbConn,
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
    let Some(account) = users::lock(conn, user, RowLock::Update)? else { return Ok(Start::Gone) };
    if users::password_hash(conn, user)?.as_deref() != Some(new.password.hash) {
        return Ok(Start::Gone);
    }
    if let Some(renewed) = new.password.renewed {
        users::set_password_hash(conn, user, renewed)?;
    }
    if let Some(guessed) = new.guessed {
        guesses::refund(conn, guessed)?;
    }
    if new.amr == Amr::Password && mfa::factor(conn, user, true)?.is_some() {
        let Some(hold) = hold else { return Ok(Start::Gone) };
        let checked = new.password.renewed.unwrap_or(new.password.hash);
        mfa::insert_challenge(conn, hold.token_hash, user, checked, hold.expires_at)?;
        return Ok(Start::SecondFactorDue);
    }
    let beyond_cap = sessions::beyond_cap(conn, user, policy)?;
    let evicted = if beyond_cap.is_empty() {
        Vec::new()
    } else {
        sessions::end(conn, SessionSet::Listed(&beyond_cap), policy)?
    };
    if let Some(network) = &new.client.network {
        guesses::record_network(conn, user, network, super::now())?;
    }
    sessions::insert(conn, new.id, user, new.first_token, new.client, new.amr, policy)?;
    Ok(Start::Started(Started { user: account, evicted }))
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
pub fn rotate(conn: &mut DbConn, rotation: Rotation<'_>, policy: SessionPolicy) -> Result<Refresh, DbError> {
    let now = now();
    // The session first, then the token: the order everything else that
    // writes both takes them in (deleting a user marks its sessions ended,
    // then the cascade deletes them and their tokens). Claiming the token
    // first deadlocked with a deletion under way. Concurrent refreshes of
    // one session queue here.
    let live = sessions::touch_live_of(conn, rotation.presented, now, policy)?;
    let Some(session) = sessions::claim_token(conn, rotation.presented, rotation.successor, now)? else {
        // Within the grace window, the immediate parent of the live token
        // converges on it; anything else is reuse.
        let grace = policy.reuse_grace > chrono::TimeDelta::zero();
        if let (true, Some((user, amr))) = (grace, live) {
            if let Some(session) =
                sessions::rotated_into_live(conn, rotation.presented, now - policy.reuse_grace)?
            {
                let Some(user) = users::find(conn, user)? else { return Ok(Refresh::Invalid) };
                return Ok(Refresh::Repeated { user, session, amr });
            }
        }
        return end_on_reuse(conn, rotation.presented, policy);
    };
    // Ended or lapsed: the token is spent with its session.
    let Some((user, amr)) = live else { return Ok(Refresh::Invalid) };
    // The session's row lock keeps its user (deletion cascades through it).
    let Some(user) = users::find(conn, user)? else { return Ok(Refresh::Invalid) };
    sessions::insert_token(conn, &session, rotation.successor, now)?;
    Ok(Refresh::Rotated { user, session, amr })
}

/// A presented token that could not be claimed: unknown, or already used —
/// then its session ends.
fn end_on_reuse(
    conn: &mut DbConn,
    presented: &RefreshHash,
    policy: SessionPolicy,
) -> Result<Refresh, DbError> {
    let Some((session, user)) = sessions::owner_of_token(conn, presented)? else {
        return Ok(Refresh::Invalid);
    };
    let ended = sessions::end(conn, SessionSet::One(&session), policy)?;
    Ok(Refresh::Reused { user, ended })
}

/// Outcome of a change made with admin rights.
#[derive(Debug)]
pub enum AdminChange<T> {
    Done(T),
    NotFound,
    /// It would leave no admin.
    LastAdmin,
    NoLongerAdmin,
}

/// What a change carries of the sessions it ended.
pub trait EndedSessions {
    fn ended(&self) -> &[SessionId];
}

impl EndedSessions for Vec<SessionId> {
    fn ended(&self) -> &[SessionId] {
        self
    }
}

impl EndedSessions for (User, Vec<SessionId>) {
    fn ended(&self) -> &[SessionId] {
        &self.1
    }
}

impl EndedSessions for Started {
    fn ended(&self) -> &[SessionId] {
        &self.evicted
    }
}

impl Start {
    /// The start, and beside it the sessions it evicted, as
    /// `Sessions::ending` takes them.
    pub fn and_ended(self) -> (Self, Vec<SessionId>) {
        let ended = match &self {
            Start::Started(started) => started.ended().to_vec(),
            _ => Vec::new(),
        };
        (self, ended)
    }
}

impl<T: EndedSessions> AdminChange<T> {
    /// The change, and beside it the sessions it ended (none unless done),
    /// as `Sessions::ending` takes them.
    pub fn and_ended(self) -> (Self, Vec<SessionId>) {
        let ended = match &self {
            AdminChange::Done(value) => value.ended().to_vec(),
            _ => Vec::new(),
        };
        (self, ended)
    }
}

impl<T> AdminChange<T> {
    fn try_map<U>(self, f: impl FnOnce(T) -> Result<U, DbError>) -> Result<AdminChange<U>, DbError> {
        Ok(match self {
            AdminChange::Done(value) => AdminChange::Done(f(value)?),
            AdminChange::NotFound => AdminChange::NotFound,
            AdminChange::LastAdmin => AdminChange::LastAdmin,
            AdminChange::NoLongerAdmin => AdminChange::NoLongerAdmin,
        })
    }
}

/// Checks that `by` is still an admin, whether `user` exists and whether
/// removing its admin role would leave none. On PostgreSQL the admin rows
/// are locked first, so two admins demoting each other at once cannot both
/// win, and the account changed is locked before its sessions are read, so
/// none starting meanwhile escapes the change.
fn guard_last_admin(
    conn: &mut DbConn,
    by: Actor,
    user: UserId,
    keeps_admin: bool,
) -> Result<AdminChange<User>, DbError> {
    users::lock_admins(conn)?;
    if let Err(NoLongerAdmin) = users::holds_admin(conn, by.user_id)? {
        return Ok(AdminChange::NoLongerAdmin);
    }
    let Some(account) = users::lock(conn, user, RowLock::Update)? else { return Ok(AdminChange::NotFound) };
    if account.role == Role::Admin && !keeps_admin && users::count_admins(conn)? <= 1 {
        return Ok(AdminChange::LastAdmin);
    }
    Ok(AdminChange::Done(account))
}

/// Sets the role, as admin `by`; a change ends the user's sessions, so no
/// token keeps the old role. Returns the user and the ended session ids.
pub fn set_role(
    conn: &mut DbConn,
    by: Actor,
    user: UserId,
    role: Role,
    policy: SessionPolicy,
) -> Result<AdminChange<(User, Vec<SessionId>)>, DbError> {
    guard_last_admin(conn, by, user, role == Role::Admin)?.try_map(|account| {
        if account.role == role {
            return Ok((account, Vec::new()));
        }
        users::set_role(conn, user, role)?;
        let ended = sessions::end(conn, SessionSet::OfUser(user), policy)?;
        Ok((User { role, ..account }, ended))
    })
}

/// Deletes a user, as admin `by`; their posts and sessions go with them
/// after the sessions are recorded as revoked. Returns the ended session ids.
pub fn delete_user(
    conn: &mut DbConn,
    by: Actor,
    user: UserId,
    policy: SessionPolicy,
) -> Result<AdminChange<Vec<SessionId>>, DbError> {
    guard_last_admin(conn, by, user, false)?.try_map(|_| {
        let ended = sessions::end(conn, SessionSet::OfUser(user), policy)?;
        users::delete(conn, user)?;
        Ok(ended)
    })
}

/// Ends every session of the account named `username_key` and, given a
/// hash, replaces its password: a login that checked the old password just
/// before cannot start a session after it (see [`start_session`]). Returns
/// the account and the ended session ids; `None` when there is no such
/// account.
pub fn sign_out_everywhere(
    conn: &mut DbConn,
    username_key: &str,
    new_password_hash: Option<&str>,
    policy: SessionPolicy,
) -> Result<Option<(User, Vec<SessionId>)>, DbError> {
    let Some((found, _)) = users::find_credentials(conn, username_key)? else { return Ok(None) };
    let Some(account) = users::lock(conn, found.id, RowLock::Update)? else { return Ok(None) };
    if let Some(hash) = new_password_hash {
        users::set_password_hash(conn, account.id, hash)?;
    }
    let ended = sessions::end(conn, SessionSet::OfUser(account.id), policy)?;
    Ok(Some((account, ended)))
}

/// Makes `username` an admin: promotes the existing account (keeping its
/// password; like any role change this ends their sessions), or creates it
/// with `password_hash`. Returns the user, whether it was created, and the
/// ended sessions; `None` when the account does not exist and no hash was
/// given.
pub fn create_or_promote_admin(
    conn: &mut DbConn,
    username: &Username,
    password_hash: Option<&str>,
    policy: SessionPolicy,
) -> Result<Option<(User, bool, Vec<SessionId>)>, DbError> {
    match (users::find_credentials(conn, &username.key())?, password_hash) {
        (Some((account, _)), _) if account.role == Role::Admin => Ok(Some((account, false, Vec::new()))),
        (Some((account, _)), _) => {
            users::set_role(conn, account.id, Role::Admin)?;
            let ended = sessions::end(conn, SessionSet::OfUser(account.id), policy)?;
            Ok(Some((User { role: Role::Admin, ..account }, false, ended)))
        }
        (None, Some(hash)) => Ok(Some((users::insert(conn, username, hash, Role::Admin)?, true, Vec::new()))),
        (None, None) => Ok(None),
    }
}

mod mfa_changes;
mod own;
#[cfg(test)]
mod tests;

pub use mfa_changes::{
    attempt_login, complete_login, confirm_enrolment, renew_recovery_codes, reset_mfa, reset_mfa_by_name,
    turn_off_mfa, Attempt, MfaChange, SecondFactor,
};
pub use own::{change_password, delete_self, PasswordChange};
