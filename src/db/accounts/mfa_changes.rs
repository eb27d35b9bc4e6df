//! Two-factor changes that reach past its own tables: a login completed
//! with its code (a session), TOTP turned on or off (sessions end), new
//! recovery codes, and the resets for a user who lost their device. A code
//! is checked against the secret by the caller (`service`, which holds the
//! sealing key); here it is spent, so none is accepted twice.
use super::super::guesses;
use super::super::mfa::{self, ChallengeUse, Factor};
use super::super::sessions::{self, SessionSet};
use super::super::users::{self, RowLock};
use super::super::{DbConn, DbError, Tx};
use super::{guard_admin_change, lock_unchanged, start_session, CheckedPassword, NewSession, Start};
use crate::domain::{
    Actor, Amr, Charge, ClientDetails, GuessSubject, RefreshHash, Refusal, SessionId, SessionPolicy, User,
    UserId,
};

/// A second factor whose code was right for the stored secret.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A TOTP code, of this time step.
    Totp { step: i64 },
    /// A recovery code, by its hash.
    RecoveryCode { hash: String },
}

/// Spends `factor` (`CodeUsed` when it was used already). A code spent was
/// right: its charge to the account's second-factor budget is refunded.
fn spend(conn: &mut DbConn, user: UserId, factor: &SecondFactor) -> Result<(), DbError> {
    let spent = match factor {
        SecondFactor::Totp { step } => mfa::advance_step(conn, user, *step)?,
        SecondFactor::RecoveryCode { hash } => mfa::use_recovery_code(conn, user, hash)?,
    };
    if !spent {
        return Err(Refusal::CodeUsed.into());
    }
    guesses::refund(conn, &GuessSubject::second_factor_of(user))
}

/// A code about to be checked for a waiting login.
#[derive(Debug)]
pub struct Attempt {
    pub user: UserId,
    /// The TOTP factor to check the code against.
    pub factor: Factor,
    /// The guess charged to the account's second-factor budget; when it was
    /// refused, the login's own attempt is not counted either.
    pub charge: Charge,
}

/// Counts one attempt at the waiting login `token_hash`, and charges it to
/// the account's second-factor budget; `None` once the login is expired,
/// used, or out of attempts. Commits on its own, so a wrong code counts.
pub fn attempt_login(conn: &mut DbConn, token_hash: &str) -> Result<Option<Attempt>, DbError> {
    let Some(waiting) = mfa::challenge(conn, token_hash, ChallengeUse::Attempt)? else { return Ok(None) };
    let Some(factor) = mfa::factor(conn, waiting.user, true)? else { return Ok(None) };
    let budget = GuessSubject::second_factor_of(waiting.user);
    let charge = guesses::charge(conn, &budget, super::super::now(), |_| Ok(false))?;
    if let Charge::Throttled { .. } = charge {
        mfa::uncount_attempt(conn, token_hash)?;
    }
    Ok(Some(Attempt { user: waiting.user, factor, charge }))
}

/// Ends the waiting login `token_hash` with its second factor: a session
/// whose tokens say `["pwd", "otp"]`, for the account as it is now. `Stale`
/// when the login expired, was completed meanwhile, or the password changed
/// since it was checked.
pub fn complete_login(
    tx: &mut Tx,
    token_hash: &str,
    factor: &SecondFactor,
    new: NewLogin<'_>,
    policy: SessionPolicy,
) -> Result<User, DbError> {
    let waiting = mfa::challenge(tx, token_hash, ChallengeUse::Complete)?.ok_or(Refusal::Stale)?;
    let user = waiting.user;
    let hash = users::password_hash(tx, user)?.filter(|hash| waiting.checked(hash)).ok_or(Refusal::Stale)?;
    spend(tx, user, factor)?;
    mfa::end_challenge(tx, token_hash)?;
    let password = Some(CheckedPassword { hash: &hash, renewed: None });
    let NewLogin { id, first_token, client } = new;
    let new = NewSession { id, user, password, first_token, client, amr: Amr::PasswordAndOtp, guessed: None };
    match start_session(tx, new, None, policy)? {
        Start::Started(account) => Ok(account),
        Start::SecondFactorDue => Err(Refusal::Stale.into()),
    }
}

/// The session a completed second factor starts.
#[derive(Debug, Clone, Copy)]
pub struct NewLogin<'a> {
    pub id: &'a SessionId,
    pub first_token: &'a RefreshHash,
    pub client: &'a ClientDetails,
}

/// Turns the pending enrolment on with the code of `step`, with a first
/// set of recovery codes, and ends every other session of the user (one
/// stolen before would otherwise outlive the second factor): how many.
/// `SecondFactorOff` when there is no enrolment (any more), `Stale` when
/// the account is gone.
pub fn confirm_enrolment(
    tx: &mut Tx,
    user: UserId,
    keep: &SessionId,
    step: i64,
    recovery_hashes: &[String],
    policy: SessionPolicy,
) -> Result<usize, DbError> {
    users::lock(tx, user, RowLock::Update)?.ok_or(Refusal::Stale)?;
    if !mfa::confirm(tx, user, step)? {
        return Err(Refusal::SecondFactorOff.into());
    }
    mfa::replace_recovery_codes(tx, user, recovery_hashes)?;
    Ok(sessions::end(tx, SessionSet::OthersOf(user, keep), policy)?.len())
}

/// Locks the account, checks that its password is still `checked_hash`
/// and TOTP is on, and spends `factor`.
fn guard_own(
    conn: &mut DbConn,
    user: UserId,
    checked_hash: &str,
    factor: &SecondFactor,
) -> Result<(), DbError> {
    lock_unchanged(conn, user, checked_hash)?;
    if mfa::factor(conn, user, true)?.is_none() {
        return Err(Refusal::SecondFactorOff.into());
    }
    spend(conn, user, factor)
}

/// Turns TOTP off at the user's request (password and a code checked) and
/// ends every other session of theirs: how many.
pub fn turn_off_mfa(
    tx: &mut Tx,
    user: UserId,
    keep: &SessionId,
    checked_hash: &str,
    factor: &SecondFactor,
    policy: SessionPolicy,
) -> Result<usize, DbError> {
    guard_own(tx, user, checked_hash, factor)?;
    mfa::remove(tx, user)?;
    Ok(sessions::end(tx, SessionSet::OthersOf(user, keep), policy)?.len())
}

/// Replaces the user's recovery codes (password and a code checked).
pub fn renew_recovery_codes(
    conn: &mut DbConn,
    user: UserId,
    checked_hash: &str,
    factor: &SecondFactor,
    hashes: &[String],
) -> Result<(), DbError> {
    guard_own(conn, user, checked_hash, factor)?;
    mfa::replace_recovery_codes(conn, user, hashes)
}

/// Turns `user`'s TOTP off, as admin `by` (a lost device). Whether it was on.
pub fn reset_mfa(conn: &mut DbConn, by: Actor, user: UserId) -> Result<bool, DbError> {
    guard_admin_change(conn, by, user, true)?;
    mfa::remove(conn, user)
}

/// Turns the TOTP of the account named `username_key` off, from the
/// command line: the account and whether TOTP was on; `None` when there is
/// no such account.
pub fn reset_mfa_by_name(conn: &mut DbConn, username_key: &str) -> Result<Option<(User, bool)>, DbError> {
    let Some((found, _)) = users::find_credentials(conn, username_key)? else { return Ok(None) };
    let Some(account) = users::lock(conn, found.id, RowLock::Update)? else { return Ok(None) };
    let was_on = mfa::remove(conn, account.id)?;
    Ok(Some((account, was_on)))
}
