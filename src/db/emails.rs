//! `user_emails` and `email_links`: an account's address, and the
//! single-use links mailed to it. One statement each; the transactions that
//! combine them with accounts and the outbox are the service's.
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::{email_links, user_emails};
use super::users::{self, RowLock};
use super::{now, DbConn, DbError};
use crate::domain::{Email, LinkPurpose, Refusal, UserId};

/// An account's email as its owner sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailState {
    pub address: Option<String>,
    pub verified: bool,
    pub pending: Option<String>,
}

pub fn state(conn: &mut DbConn, user: UserId) -> Result<EmailState, DbError> {
    let row: Option<(Option<String>, bool, Option<String>)> = user_emails::table
        .find(user.0)
        .select((user_emails::address, user_emails::verified, user_emails::pending))
        .first(conn)
        .optional()?;
    Ok(row.map_or_else(EmailState::default, |(address, verified, pending)| EmailState {
        address,
        verified,
        pending,
    }))
}

/// The account whose **verified** address is `email`, if any, with the
/// address as it was verified.
pub fn verified_owner(conn: &mut DbConn, email: &Email) -> Result<Option<(UserId, String)>, DbError> {
    let owner: Option<(i64, Option<String>)> = user_emails::table
        .filter(user_emails::address_key.eq(email.key()))
        .filter(user_emails::verified.eq(true))
        .select((user_emails::user_id, user_emails::address))
        .first(conn)
        .optional()?;
    Ok(owner.map(|(user, address)| (UserId(user), address.unwrap_or_else(|| email.as_str().to_owned()))))
}

/// Refuses `email` when an account other than `user` verified it:
/// `EmailTaken`.
pub fn refuse_taken(conn: &mut DbConn, user: Option<UserId>, email: &Email) -> Result<(), DbError> {
    match verified_owner(conn, email)? {
        Some((owner, _)) if Some(owner) != user => Err(Refusal::EmailTaken.into()),
        _ => Ok(()),
    }
}

/// A new account's address, not yet verified.
pub fn set_unverified(conn: &mut DbConn, user: UserId, email: &Email) -> Result<(), DbError> {
    diesel::insert_into(user_emails::table)
        .values((
            user_emails::user_id.eq(user.0),
            user_emails::address.eq(email.as_str()),
            user_emails::address_key.eq(email.key()),
            user_emails::verified.eq(false),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records `email` as the address `user` asked to change to, pending until
/// verified, and supersedes the account's earlier verification links.
/// `Stale` when the account is gone.
pub fn request_change(conn: &mut DbConn, user: UserId, email: &Email) -> Result<(), DbError> {
    users::lock(conn, user, RowLock::Update)?.ok_or(Refusal::Stale)?;
    set_pending(conn, user, email)?;
    void_links(conn, user, LinkPurpose::VerifyEmail)
}

fn set_pending(conn: &mut DbConn, user: UserId, email: &Email) -> Result<(), DbError> {
    let updated = diesel::update(user_emails::table.find(user.0))
        .set(user_emails::pending.eq(email.as_str()))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(user_emails::table)
            .values((
                user_emails::user_id.eq(user.0),
                user_emails::verified.eq(false),
                user_emails::pending.eq(email.as_str()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends the verification link whose token hashes to `token_hash`: its
/// address becomes the account's verified email. `InvalidLink` when the
/// link is not live, `EmailTaken` when another account verified the
/// address first.
pub fn verify_link(conn: &mut DbConn, token_hash: &str) -> Result<UserId, DbError> {
    let link = take_link(conn, token_hash, LinkPurpose::VerifyEmail)?.ok_or(Refusal::InvalidLink)?;
    let email = Email::parse(&link.address).map_err(|e| DbError::Other(format!("stored address: {e}")))?;
    users::lock(conn, link.user, RowLock::Update)?.ok_or(Refusal::InvalidLink)?;
    refuse_taken(conn, Some(link.user), &email)?;
    match verify(conn, link.user, &email) {
        // Another account verified it between our check and our write.
        Err(DbError::UniqueViolation) => Err(Refusal::EmailTaken.into()),
        other => other.map(|()| link.user),
    }
}

fn verify(conn: &mut DbConn, user: UserId, address: &Email) -> Result<(), DbError> {
    let state = state(conn, user)?;
    let pending = state.pending.filter(|p| p.to_lowercase() != address.key());
    diesel::update(user_emails::table.find(user.0))
        .set((
            user_emails::address.eq(address.as_str()),
            user_emails::address_key.eq(address.key()),
            user_emails::verified.eq(true),
            user_emails::pending.eq(pending),
        ))
        .execute(conn)?;
    Ok(())
}

/// A link to store: its public id, its token's hash, what it does and for
/// which address, and until when.
#[derive(Debug, Clone, Copy)]
pub struct NewLink<'a> {
    pub id: &'a str,
    pub token_hash: &'a str,
    pub user: UserId,
    pub purpose: LinkPurpose,
    pub address: &'a str,
    pub expires_at: NaiveDateTime,
}

pub fn insert_link(conn: &mut DbConn, link: NewLink<'_>) -> Result<(), DbError> {
    diesel::insert_into(email_links::table)
        .values((
            email_links::id.eq(link.id),
            email_links::token_hash.eq(link.token_hash),
            email_links::user_id.eq(link.user.0),
            email_links::purpose.eq(link.purpose.as_str()),
            email_links::address.eq(link.address),
            email_links::created_at.eq(now()),
            email_links::expires_at.eq(link.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes the account's unused links of `purpose` (with their unsent
/// mails): a newer verification supersedes them, a password change voids
/// reset links.
pub fn void_links(conn: &mut DbConn, user: UserId, purpose: LinkPurpose) -> Result<(), DbError> {
    diesel::delete(
        email_links::table
            .filter(email_links::user_id.eq(user.0))
            .filter(email_links::purpose.eq(purpose.as_str()))
            .filter(email_links::used_at.is_null()),
    )
    .execute(conn)?;
    Ok(())
}

/// A link taken: whose, and the address it was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenLink {
    pub user: UserId,
    pub address: String,
}

/// Uses the live link of `purpose` whose token hashes to `token_hash`:
/// `None` when it is unknown, used, expired or superseded. A conditional
/// update, so of two uses on any replicas at most one wins.
pub(super) fn take_link(
    conn: &mut DbConn,
    token_hash: &str,
    purpose: LinkPurpose,
) -> Result<Option<TakenLink>, DbError> {
    let now = now();
    let taken: Option<(i64, String)> = diesel::update(
        email_links::table
            .filter(email_links::token_hash.eq(token_hash))
            .filter(email_links::purpose.eq(purpose.as_str()))
            .filter(email_links::used_at.is_null())
            .filter(email_links::expires_at.gt(now)),
    )
    .set(email_links::used_at.eq(now))
    .returning((email_links::user_id, email_links::address))
    .get_result(conn)
    .optional()?;
    Ok(taken.map(|(user, address)| TakenLink { user: UserId(user), address }))
}

/// Links of `purpose` made for the account since `since` (used or not).
pub fn links_since(
    conn: &mut DbConn,
    user: UserId,
    purpose: LinkPurpose,
    since: NaiveDateTime,
) -> Result<i64, DbError> {
    Ok(email_links::table
        .filter(email_links::user_id.eq(user.0))
        .filter(email_links::purpose.eq(purpose.as_str()))
        .filter(email_links::created_at.ge(since))
        .count()
        .get_result(conn)?)
}

/// Deletes links expired for longer than `keep` (their mails go with them).
pub fn prune(conn: &mut DbConn, keep: TimeDelta) -> Result<(), DbError> {
    diesel::delete(email_links::table.filter(email_links::expires_at.lt(now() - keep))).execute(conn)?;
    Ok(())
}
