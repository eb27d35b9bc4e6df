//! `totp_factors`, `recovery_codes` and `mfa_challenges`: a user's second
//! factor and the logins waiting for it, one statement each. The
//! transactions that combine them with sessions are in `accounts/mfa.rs`.
use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::{mfa_challenges, recovery_codes, totp_factors};
use super::{now, DbConn, DbError};
use crate::domain::{UserId, ENROLMENT_TTL, MAX_MFA_ATTEMPTS};

/// A user's TOTP factor as stored.
#[derive(Debug, Clone)]
pub struct Factor {
    pub sealed_secret: String,
    /// The newest step accepted; a code of this step or older is refused.
    pub last_step: i64,
}

/// The state of a user's two-factor login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub totp: bool,
    pub recovery_codes_left: i64,
}

/// The user's TOTP factor once confirmed (`confirmed`), or the enrolment
/// waiting for its first code (not yet expired).
pub fn factor(conn: &mut DbConn, user: UserId, confirmed: bool) -> Result<Option<Factor>, DbError> {
    let query =
        totp_factors::table.find(user.0).select((totp_factors::sealed_secret, totp_factors::last_step));
    let row: Option<(String, i64)> = if confirmed {
        query.filter(totp_factors::confirmed_at.is_not_null()).first(conn).optional()?
    } else {
        query
            .filter(totp_factors::confirmed_at.is_null())
            .filter(totp_factors::created_at.gt(now() - ENROLMENT_TTL))
            .first(conn)
            .optional()?
    };
    Ok(row.map(|(sealed_secret, last_step)| Factor { sealed_secret, last_step }))
}

/// Whether TOTP is on, and the recovery codes left.
pub fn status(conn: &mut DbConn, user: UserId) -> Result<Status, DbError> {
    let totp = factor(conn, user, true)?.is_some();
    let recovery_codes_left =
        recovery_codes::table.filter(recovery_codes::user_id.eq(user.0)).count().get_result(conn)?;
    Ok(Status { totp, recovery_codes_left })
}

/// Stores a new enrolment in place of any earlier unconfirmed one; `false`
/// (nothing stored) when TOTP is already on.
pub fn enrol(conn: &mut DbConn, user: UserId, sealed_secret: &str) -> Result<bool, DbError> {
    // Two enrolments at once each deleted the other's nothing, then both
    // inserted: one failed on the primary key. Queued on the account's row,
    // the later one replaces the earlier.
    super::users::lock(conn, user, super::users::RowLock::Update)?;
    diesel::delete(
        totp_factors::table
            .filter(totp_factors::user_id.eq(user.0))
            .filter(totp_factors::confirmed_at.is_null()),
    )
    .execute(conn)?;
    if factor(conn, user, true)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(totp_factors::table)
        .values((
            totp_factors::user_id.eq(user.0),
            totp_factors::sealed_secret.eq(sealed_secret),
            totp_factors::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Turns the pending enrolment on, accepting `step`'s code; `false` if
/// there is no such enrolment any more.
pub fn confirm(conn: &mut DbConn, user: UserId, step: i64) -> Result<bool, DbError> {
    let now = now();
    let confirmed = diesel::update(
        totp_factors::table
            .filter(totp_factors::user_id.eq(user.0))
            .filter(totp_factors::confirmed_at.is_null())
            .filter(totp_factors::created_at.gt(now - ENROLMENT_TTL)),
    )
    .set((totp_factors::confirmed_at.eq(now), totp_factors::last_step.eq(step)))
    .execute(conn)?;
    Ok(confirmed == 1)
}

/// Accepts a code of `step`: `false` when that step, or a later one, was
/// already used (a replayed code) or TOTP is off.
pub fn advance_step(conn: &mut DbConn, user: UserId, step: i64) -> Result<bool, DbError> {
    let advanced = diesel::update(
        totp_factors::table
            .filter(totp_factors::user_id.eq(user.0))
            .filter(totp_factors::confirmed_at.is_not_null())
            .filter(totp_factors::last_step.lt(step)),
    )
    .set(totp_factors::last_step.eq(step))
    .execute(conn)?;
    Ok(advanced == 1)
}

/// Turns two-factor login off: the factor (or enrolment), the recovery
/// codes and the logins waiting for a code. Whether TOTP was on.
pub fn remove(conn: &mut DbConn, user: UserId) -> Result<bool, DbError> {
    let was_on = factor(conn, user, true)?.is_some();
    diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user.0))).execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.0))).execute(conn)?;
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user.0))).execute(conn)?;
    Ok(was_on)
}

/// Replaces the user's recovery codes with `hashes`.
pub fn replace_recovery_codes(conn: &mut DbConn, user: UserId, hashes: &[String]) -> Result<(), DbError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.0))).execute(conn)?;
    // One row at a time: the multi-backend connection has no batch insert.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((recovery_codes::user_id.eq(user.0), recovery_codes::code_hash.eq(hash.as_str())))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends a recovery code: `false` when it is not one of the user's (any
/// more).
pub fn use_recovery_code(conn: &mut DbConn, user: UserId, hash: &str) -> Result<bool, DbError> {
    let used = diesel::delete(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user.0))
            .filter(recovery_codes::code_hash.eq(hash)),
    )
    .execute(conn)?;
    Ok(used == 1)
}

/// Stores a login waiting for its second factor, and forgets the user's
/// expired ones.
pub fn insert_challenge(
    conn: &mut DbConn,
    token_hash: &str,
    user: UserId,
    checked_password_hash: &str,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(
        mfa_challenges::table
            .filter(mfa_challenges::user_id.eq(user.0))
            .filter(mfa_challenges::expires_at.le(now())),
    )
    .execute(conn)?;
    diesel::insert_into(mfa_challenges::table)
        .values((
            mfa_challenges::token_hash.eq(token_hash),
            mfa_challenges::user_id.eq(user.0),
            mfa_challenges::password_tag.eq(password_tag(checked_password_hash)),
            mfa_challenges::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which use of a waiting login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeUse {
    /// A code is about to be checked: counts as one of the attempts.
    Attempt,
    /// The code was right: lock the login, to end it in this transaction.
    Complete,
}

/// A waiting login's account, and the password check it came from.
#[derive(Debug)]
pub struct Waiting {
    pub user: UserId,
    password_tag: String,
}

impl Waiting {
    /// Whether the account's password is still the one checked: a
    /// password change in between voids the login.
    pub fn checked(&self, password_hash: &str) -> bool {
        self.password_tag == password_tag(password_hash)
    }
}

/// Binds a waiting login to the password hash it was checked against
/// without storing the hash twice.
fn password_tag(password_hash: &str) -> String {
    Sha256::digest(password_hash.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The waiting login named by `token_hash` if it is live (not expired, not
/// past its attempts). Locks its row.
pub fn challenge(
    conn: &mut DbConn,
    token_hash: &str,
    used_for: ChallengeUse,
) -> Result<Option<Waiting>, DbError> {
    let live = mfa_challenges::table
        .filter(mfa_challenges::token_hash.eq(token_hash))
        .filter(mfa_challenges::expires_at.gt(now()));
    let found: Option<(i64, String)> = match used_for {
        ChallengeUse::Attempt => diesel::update(live.filter(mfa_challenges::attempts.lt(MAX_MFA_ATTEMPTS)))
            .set(mfa_challenges::attempts.eq(mfa_challenges::attempts + 1))
            .returning((mfa_challenges::user_id, mfa_challenges::password_tag))
            .get_result(conn)
            .optional()?,
        // The attempt was counted already: at most the last allowed one.
        // A no-op update, for its row lock: a concurrent completion waits,
        // then finds the login gone.
        ChallengeUse::Complete => diesel::update(live.filter(mfa_challenges::attempts.le(MAX_MFA_ATTEMPTS)))
            .set(mfa_challenges::attempts.eq(mfa_challenges::attempts))
            .returning((mfa_challenges::user_id, mfa_challenges::password_tag))
            .get_result(conn)
            .optional()?,
    };
    Ok(found.map(|(user, password_tag)| Waiting { user: UserId(user), password_tag }))
}

/// Takes back an attempt counted at a waiting login whose code was not
/// checked (the account's budget refused it).
pub fn uncount_attempt(conn: &mut DbConn, token_hash: &str) -> Result<(), DbError> {
    diesel::update(mfa_challenges::table.filter(mfa_challenges::token_hash.eq(token_hash)))
        .set(mfa_challenges::attempts.eq(mfa_challenges::attempts - 1))
        .execute(conn)?;
    Ok(())
}

/// Ends a waiting login (its second factor was given).
pub fn end_challenge(conn: &mut DbConn, token_hash: &str) -> Result<(), DbError> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::token_hash.eq(token_hash))).execute(conn)?;
    Ok(())
}
