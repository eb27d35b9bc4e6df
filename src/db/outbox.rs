//! `mail_outbox`: mails stored with the transaction that made their link,
//! claimed by one sender at a time (a lease), then marked sent, due again
//! later, or failed for good.
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::{email_links, mail_outbox};
use super::{now, DbConn, DbError, Tx};
use crate::domain::{LinkPurpose, UserId};

/// A mail to store, for the link `link_id`; who asked, coarsely.
#[derive(Debug, Clone, Copy)]
pub struct NewMail<'a> {
    pub link_id: &'a str,
    pub recipient: &'a str,
    pub network: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Stores a mail, due now, in the caller's transaction, which wakes the
/// sender once it committed.
pub fn enqueue(tx: &mut Tx, mail: NewMail<'_>) -> Result<(), DbError> {
    let now = now();
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::link_id.eq(mail.link_id),
            mail_outbox::recipient.eq(mail.recipient),
            mail_outbox::network.eq(mail.network),
            mail_outbox::user_agent.eq(mail.user_agent),
            mail_outbox::created_at.eq(now),
            mail_outbox::due_at.eq(now),
            mail_outbox::attempts.eq(0),
        ))
        .execute(&mut **tx)?;
    tx.mail_queued();
    Ok(())
}

/// A mail claimed for sending, with what its text needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub link_id: String,
    pub recipient: String,
    pub network: Option<String>,
    pub user_agent: Option<String>,
    /// Sends so far, this one included.
    pub attempts: i32,
    pub purpose: LinkPurpose,
    pub user: UserId,
    pub expires_at: NaiveDateTime,
}

/// Claims up to `limit` mails that are due and not claimed by a live lease,
/// for `lease`: until then no other sender takes them. On PostgreSQL the
/// rows another sender is claiming are skipped, not waited for.
pub fn claim_due(conn: &mut DbConn, lease: TimeDelta, limit: i64) -> Result<Vec<Claimed>, DbError> {
    let now = now();
    let due = mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .filter(mail_outbox::due_at.le(now))
        .filter(mail_outbox::lease_until.is_null().or(mail_outbox::lease_until.le(now)))
        .order(mail_outbox::id)
        .limit(limit)
        .select(mail_outbox::id);
    let ids: Vec<i64> = match conn {
        DbConn::Pg(pg) => due.for_update().skip_locked().load(pg)?,
        DbConn::Sqlite(sqlite) => due.load(sqlite)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids)))
        .set((mail_outbox::lease_until.eq(now + lease), mail_outbox::attempts.eq(mail_outbox::attempts + 1)))
        .execute(conn)?;
    type Row = (i64, String, String, Option<String>, Option<String>, i32, String, i64, NaiveDateTime);
    let rows: Vec<Row> = mail_outbox::table
        .inner_join(email_links::table)
        .filter(mail_outbox::id.eq_any(&ids))
        .order(mail_outbox::id)
        .select((
            mail_outbox::id,
            mail_outbox::link_id,
            mail_outbox::recipient,
            mail_outbox::network,
            mail_outbox::user_agent,
            mail_outbox::attempts,
            email_links::purpose,
            email_links::user_id,
            email_links::expires_at,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, link_id, recipient, network, user_agent, attempts, purpose, user, expires_at)| {
            let purpose = LinkPurpose::from_stored(&purpose)
                .ok_or_else(|| DbError::Other(format!("link purpose {purpose:?}")))?;
            Ok(Claimed {
                id,
                link_id,
                recipient,
                network,
                user_agent,
                attempts,
                purpose,
                user: UserId(user),
                expires_at,
            })
        })
        .collect()
}

/// The SMTP server took the mail.
pub fn mark_sent(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    diesel::update(mail_outbox::table.find(id))
        .set((mail_outbox::sent_at.eq(now()), mail_outbox::lease_until.eq(None::<NaiveDateTime>)))
        .execute(conn)?;
    Ok(())
}

/// A transient failure: due again at `due_at`.
pub fn retry_at(conn: &mut DbConn, id: i64, due_at: NaiveDateTime, error: &str) -> Result<(), DbError> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::due_at.eq(due_at),
            mail_outbox::lease_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// A permanent refusal (SMTP 5xx): never sent again.
pub fn mark_failed(conn: &mut DbConn, id: i64, error: &str) -> Result<(), DbError> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::failed_at.eq(now()),
            mail_outbox::lease_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// Mails waiting to be sent.
pub fn queued(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Deletes mails sent or failed longer than `keep` ago.
pub fn prune(conn: &mut DbConn, keep: TimeDelta) -> Result<(), DbError> {
    let cutoff = now() - keep;
    diesel::delete(
        mail_outbox::table.filter(mail_outbox::sent_at.lt(cutoff).or(mail_outbox::failed_at.lt(cutoff))),
    )
    .execute(conn)?;
    Ok(())
}
