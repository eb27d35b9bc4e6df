//! `sessions` and their rotating `refresh_tokens`: one table's statements
//! each; the transactions that combine them with accounts are in
//! `accounts.rs`.
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::{refresh_tokens, sessions};
use super::sql::get_optional;
use super::time::UtcTime;
use super::{execute, now, revocations, DbConn, DbError, Tx};
use crate::domain::{Amr, ClientDetails, RefreshHash, SessionId, SessionInfo, SessionPolicy, UserId};

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum SessionSet<'a> {
    One(&'a SessionId),
    Listed(&'a [SessionId]),
    OfUser(UserId),
    /// Every session of the user but this one.
    OthersOf(UserId, &'a SessionId),
    /// This session, if it is the user's.
    OneOf(UserId, &'a SessionId),
}

/// Ends the live sessions selected and records their revocation, in the
/// caller's transaction, which hands them to the mirror after its commit;
/// returns the ids it ended. Ending an ended session is a no-op.
pub fn end(tx: &mut Tx, which: SessionSet<'_>, policy: SessionPolicy) -> Result<Vec<SessionId>, DbError> {
    let now = now();
    let conn: &mut DbConn = tx;
    // A session past its absolute end may still have an access token out.
    let mut live = sessions::table
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now - policy.revoked_for))
        .select(sessions::id)
        .into_boxed();
    live = match which {
        SessionSet::One(id) => live.filter(sessions::id.eq(id.as_str())),
        SessionSet::Listed(ids) => live.filter(sessions::id.eq_any(ids.iter().map(SessionId::as_str))),
        SessionSet::OfUser(user) => live.filter(sessions::user_id.eq(user.0)),
        SessionSet::OthersOf(user, keep) => {
            live.filter(sessions::user_id.eq(user.0)).filter(sessions::id.ne(keep.as_str()))
        }
        SessionSet::OneOf(user, id) => {
            live.filter(sessions::user_id.eq(user.0)).filter(sessions::id.eq(id.as_str()))
        }
    };
    let ids: Vec<String> = live.load(conn)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One statement over all the ids: transactions ending overlapping sets
    // (a logout of all sessions, a login evicting several) lock the rows as
    // one scan meets them, not each in an order of its own.
    diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
        .set(sessions::ended_at.eq(now))
        .execute(conn)?;
    let ids: Vec<SessionId> = ids.into_iter().map(SessionId).collect();
    revocations::record(conn, &ids, now + policy.revoked_for)?;
    tx.ended(&ids);
    Ok(ids)
}

/// The user's live sessions beyond the newest `policy.max_per_user - 1`:
/// those a new session would push over the cap.
pub(super) fn beyond_cap(
    conn: &mut DbConn,
    user: UserId,
    policy: SessionPolicy,
) -> Result<Vec<SessionId>, DbError> {
    let now = now();
    let ids: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user.0))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::idle_expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(sessions::id)
        .offset(policy.max_per_user - 1)
        .load(conn)?;
    Ok(ids.into_iter().map(SessionId).collect())
}

/// Stores a new session of `user` with its first refresh token.
pub(super) fn insert(
    conn: &mut DbConn,
    id: &SessionId,
    user: UserId,
    first_token: &RefreshHash,
    client: &ClientDetails,
    amr: Amr,
    policy: SessionPolicy,
) -> Result<(), DbError> {
    let now = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id.as_str()),
            sessions::user_id.eq(user.0),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + policy.absolute),
            sessions::idle_expires_at.eq(now + policy.idle.min(policy.absolute)),
            sessions::last_used_at.eq(now),
            sessions::user_agent.eq(client.user_agent.as_deref()),
            sessions::client_ip.eq(client.network.as_deref()),
            sessions::amr.eq(amr.as_str()),
        ))
        .execute(conn)?;
    insert_token(conn, id, first_token, now)
}

/// Stores a refresh token of a session (its first, or a successor).
pub(super) fn insert_token(
    conn: &mut DbConn,
    session: &SessionId,
    hash: &RefreshHash,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let insert = diesel::insert_into(refresh_tokens::table).values((
        refresh_tokens::token_hash.eq(hash.as_str()),
        refresh_tokens::session_id.eq(session.as_str()),
        refresh_tokens::created_at.eq(now),
    ));
    execute(conn, insert)?;
    Ok(())
}

/// Moves the idle deadline of the live session that `token` belongs to,
/// locking the session's row; its user and how they logged in, or `None`
/// if there is no such live session.
pub(super) fn touch_live_of(
    conn: &mut DbConn,
    token: &RefreshHash,
    now: NaiveDateTime,
    policy: SessionPolicy,
) -> Result<Option<(UserId, Amr)>, DbError> {
    let of_token = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token.as_str()))
        .select(refresh_tokens::session_id)
        .single_value();
    // The idle deadline may pass the absolute one: a session lapses at
    // whichever comes first.
    let touch = diesel::update(
        sessions::table
            .filter(sessions::id.nullable().eq(of_token))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::idle_expires_at.gt(now)),
    )
    .set((sessions::idle_expires_at.eq(now + policy.idle), sessions::last_used_at.eq(now)))
    .returning((sessions::user_id, sessions::amr));
    let live: Option<(i64, String)> = get_optional(conn, touch)?;
    Ok(live.map(|(user, amr)| (UserId(user), Amr::from_stored(&amr))))
}

/// Marks `token` used, rotated into `successor`, if it was not used: its
/// session, or `None` when it was already used or is unknown. Of N
/// concurrent claims at most one wins.
pub(super) fn claim_token(
    conn: &mut DbConn,
    token: &RefreshHash,
    successor: &RefreshHash,
    now: NaiveDateTime,
) -> Result<Option<SessionId>, DbError> {
    let claim = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token.as_str()))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set((refresh_tokens::used_at.eq(now), refresh_tokens::successor_hash.eq(successor.as_str())))
    .returning(refresh_tokens::session_id);
    let claimed: Option<String> = get_optional(conn, claim)?;
    Ok(claimed.map(SessionId))
}

/// The session of `token` if it was rotated at or after `since` into the
/// session's live token (whose successor is unused): the immediate parent,
/// presented again within the grace window.
pub(super) fn rotated_into_live(
    conn: &mut DbConn,
    token: &RefreshHash,
    since: NaiveDateTime,
) -> Result<Option<SessionId>, DbError> {
    let parent: Option<(String, Option<String>)> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token.as_str()))
        .filter(refresh_tokens::used_at.ge(since))
        .select((refresh_tokens::session_id, refresh_tokens::successor_hash))
        .first(conn)
        .optional()?;
    let Some((session, Some(successor))) = parent else { return Ok(None) };
    let live: Option<String> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(&successor))
        .filter(refresh_tokens::used_at.is_null())
        .select(refresh_tokens::token_hash)
        .first(conn)
        .optional()?;
    Ok(live.map(|_| SessionId(session)))
}

/// The session `token` belongs to, and its user.
pub fn owner_of_token(
    conn: &mut DbConn,
    token: &RefreshHash,
) -> Result<Option<(SessionId, UserId)>, DbError> {
    let owner: Option<(String, i64)> = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(token.as_str()))
        .select((sessions::id, sessions::user_id))
        .first(conn)
        .optional()?;
    Ok(owner.map(|(session, user)| (SessionId(session), UserId(user))))
}

/// Whether `id` is a session this deployment issued to `user`: `None` if
/// not, `Some(true)` if it has ended.
pub fn has_ended(conn: &mut DbConn, id: &SessionId, user: UserId) -> Result<Option<bool>, DbError> {
    let ended_at: Option<Option<NaiveDateTime>> = sessions::table
        .filter(sessions::id.eq(id.as_str()))
        .filter(sessions::user_id.eq(user.0))
        .select(sessions::ended_at)
        .first(conn)
        .optional()?;
    Ok(ended_at.map(|ended_at| ended_at.is_some()))
}

/// Whether `id` is one of the sessions [`list_live`] shows `user`.
pub fn is_listed(conn: &mut DbConn, user: UserId, id: &SessionId) -> Result<bool, DbError> {
    let now = now();
    let found: Option<String> = sessions::table
        .filter(sessions::id.eq(id.as_str()))
        .filter(sessions::user_id.eq(user.0))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::idle_expires_at.gt(now))
        .select(sessions::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// The user's live sessions, newest first.
pub fn list_live(conn: &mut DbConn, user: UserId) -> Result<Vec<SessionInfo>, DbError> {
    let now = now();
    type Row = (String, UtcTime, Option<UtcTime>, Option<String>, Option<String>);
    let rows: Vec<Row> = sessions::table
        .filter(sessions::user_id.eq(user.0))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::idle_expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select((
            sessions::id,
            sessions::created_at,
            sessions::last_used_at,
            sessions::user_agent,
            sessions::client_ip,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, last_used_at, user_agent, client_ip)| SessionInfo {
            id: SessionId(id),
            created_at: created_at.0,
            // Sessions started before the column existed.
            last_used_at: last_used_at.map_or(created_at.0, |t| t.0),
            user_agent,
            client_ip,
        })
        .collect())
}

/// Deletes what can no longer matter: revocations whose tokens have all
/// expired, and sessions over for longer than `keep` (their refresh tokens go
/// with them).
pub fn prune(conn: &mut DbConn, keep: TimeDelta) -> Result<(), DbError> {
    let now = now();
    revocations::prune(conn, now)?;
    let cutoff = now - keep;
    diesel::delete(
        sessions::table.filter(
            sessions::ended_at
                .lt(cutoff)
                .or(sessions::expires_at.lt(cutoff))
                .or(sessions::idle_expires_at.lt(cutoff)),
        ),
    )
    .execute(conn)?;
    Ok(())
}
