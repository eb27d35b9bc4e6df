//! Two-factor changes that reach past its own tables: a login completed
//! with its code (a session), TOTP turned on or off (sessions end), new
//! recovery codes, and the resets for a user who lost their device. A code
//! is checked against the secret by the caller (`service`, which holds the
//! sealing key); here it is spent, so none is accepted twice.
use super::super::guesses;
use super::super::mfa::{self, ChallengeUse, Factor};
use super::super::sessions::{self, SessionSet};
use super::super::users::{self, RowLock};
use super::super::{DbConn, DbError};
use super::{
    guard_last_admin, start_session, AdminChange, CheckedPassword, EndedSessions, NewSession, Start, Started,
};
use crate::domain::{
    Actor, Amr, Charge, ClientDetails, GuessSubject, RefreshHash, SessionId, SessionPolicy, User, UserId,
};

/// A second factor whose code was right for the stored secret.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A TOTP code, of this time step.
    Totp { step: i64 },
    /// A recovery code, by its hash.
    RecoveryCode { hash: String },
}

/// What a two-factor change did.
#[derive(Debug)]
pub enum MfaChange<T> {
    Done(T),
    /// The code was used already (a TOTP step, a recovery code).
    CodeUsed,
    /// The account, its password or the waiting login changed since the
    /// check, or is gone.
    Gone,
    /// Two-factor login is not on (or the enrolment expired).
    Off,
}

/// Spends `factor`: `false` when it was used already. A code spent was
/// right: its charge to the account's second-factor budget is refunded.
fn spend(conn: &mut DbConn, user: UserId, factor: &SecondFactor) -> Result<bool, DbError> {
    let spent = match factor {
        SecondFactor::Totp { step } => mfa::advance_step(conn, user, *step)?,
        SecondFactor::RecoveryCode { hash } => mfa::use_recovery_code(conn, user, hash)?,
    };
    if spent {
        guesses::refund(conn, &GuessSubject::second_factor_of(user))?;
    }
    Ok(spent)
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
/// whose tokens say `["pwd", "otp"]`. `Gone` when the login expired, was
/// completed meanwhile, or the password changed since it was checked.
pub fn complete_login(
    conn: &mut DbConn,
    token_hash: &str,
    factor: &SecondFactor,
    id: &SessionId,
    first_token: &RefreshHash,
    client: &ClientDetails,
    policy: SessionPolicy,
) -> Result<MfaChange<Started>, DbError> {
    let Some(waiting) = mfa::challenge(conn, token_hash, ChallengeUse::Complete)? else {
        return Ok(MfaChange::Gone);
    };
    let user = waiting.user;
    let Some(hash) = users::password_hash(conn, user)?.filter(|hash| waiting.checked(hash)) else {
        return Ok(MfaChange::Gone);
    };
    if !spend(conn, user, factor)? {
        return Ok(MfaChange::CodeUsed);
    }
    mfa::end_challenge(conn, token_hash)?;
    let password = CheckedPassword { hash: &hash, renewed: None };
    let new = NewSession { id, user, password, first_token, client, amr: Amr::PasswordAndOtp, guessed: None };
    Ok(match start_session(conn, new, None, policy)? {
        Start::Started(started) => MfaChange::Done(started),
        Start::SecondFactorDue | Start::Gone => MfaChange::Gone,
    })
}

/// Turns the pending enrolment on with the code of `step`, with a first
/// set of recovery codes, and ends every other session of the user (one
/// stolen before would otherwise outlive the second factor). `Off` when
/// there is no enrolment (any more). Returns the ended sessions.
pub fn confirm_enrolment(
    conn: &mut DbConn,
    user: UserId,
    keep: &SessionId,
    step: i64,
    recovery_hashes: &[String],
    policy: SessionPolicy,
) -> Result<MfaChange<Vec<SessionId>>, DbError> {
    if users::lock(conn, user, RowLock::Update)?.is_none() {
        return Ok(MfaChange::Gone);
    }
    if !mfa::confirm(conn, user, step)? {
        return Ok(MfaChange::Off);
    }
    mfa::replace_recovery_codes(conn, user, recovery_hashes)?;
    Ok(MfaChange::Done(sessions::end(conn, SessionSet::OthersOf(user, keep), policy)?))
}

/// Locks the account and checks that its password is still `checked_hash`
/// and TOTP is on.
fn guard_own(conn: &mut DbConn, user: UserId, checked_hash: &str) -> Result<MfaChange<()>, DbError> {
    if users::lock(conn, user, RowLock::Update)?.is_none()
        || users::password_hash(conn, user)?.as_deref() != Some(checked_hash)
    {
        return Ok(MfaChange::Gone);
    }
    if mfa::factor(conn, user, true)?.is_none() {
        return Ok(MfaChange::Off);
    }
    Ok(MfaChange::Done(()))
}

/// Turns TOTP off at the user's request (password and a code checked) and
/// ends every other session of theirs. Returns the ended sessions.
pub fn turn_off_mfa(
    conn: &mut DbConn,
    user: UserId,
    keep: &SessionId,
    checked_hash: &str,
    factor: &SecondFactor,
    policy: SessionPolicy,
) -> Result<MfaChange<Vec<SessionId>>, DbError> {
    if let refused @ (MfaChange::CodeUsed | MfaChange::Gone | MfaChange::Off) =
        guard_own(conn, user, checked_hash)?
    {
        return Ok(refused.refused());
    }
    if !spend(conn, user, factor)? {
        return Ok(MfaChange::CodeUsed);
    }
    mfa::remove(conn, user)?;
    Ok(MfaChange::Done(sessions::end(conn, SessionSet::OthersOf(user, keep), policy)?))
}

/// Replaces the user's recovery codes (password and a code checked).
pub fn renew_recovery_codes(
    conn: &mut DbConn,
    user: UserId,
    checked_hash: &str,
    factor: &SecondFactor,
    hashes: &[String],
) -> Result<MfaChange<()>, DbError> {
    let guarded = guard_own(conn, user, checked_hash)?;
    if let MfaChange::Done(()) = guarded {
        if !spend(conn, user, factor)? {
            return Ok(MfaChange::CodeUsed);
        }
        mfa::replace_recovery_codes(conn, user, hashes)?;
    }
    Ok(guarded)
}

/// Turns `user`'s TOTP off, as admin `by` (a lost device). Whether it was on.
pub fn reset_mfa(conn: &mut DbConn, by: Actor, user: UserId) -> Result<AdminChange<bool>, DbError> {
    guard_last_admin(conn, by, user, true)?.try_map(|_| mfa::remove(conn, user))
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

impl<T: EndedSessions> MfaChange<T> {
    /// The change, and beside it the sessions it ended (none unless done),
    /// as `Sessions::ending` takes them.
    pub fn and_ended(self) -> (Self, Vec<SessionId>) {
        let ended = match &self {
            MfaChange::Done(value) => value.ended().to_vec(),
            _ => Vec::new(),
        };
        (self, ended)
    }
}

impl MfaChange<()> {
    /// A refusal, as any other change's outcome.
    fn refused<T>(self) -> MfaChange<T> {
        match self {
            MfaChange::Done(()) | MfaChange::Gone => MfaChange::Gone,
            MfaChange::CodeUsed => MfaChange::CodeUsed,
            MfaChange::Off => MfaChange::Off,
        }
    }
}
