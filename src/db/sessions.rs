//! Sessions, their rotating refresh tokens, and the revocation list every
//! instance mirrors in memory.
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::{refresh_tokens, revoked_sessions, sessions, users};
use super::users::{lock_user, to_user, RowLock, UserRow, USER_COLUMNS};
use super::{now, DbConn, DbError};
use crate::domain::User;

/// How long sessions and their traces live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A refresh token unused this long lapses (`WARRANT_REFRESH_TTL`).
    pub idle: TimeDelta,
    /// A session ends this long after login whatever its use.
    pub absolute: TimeDelta,
    /// How long an access token issued just before a session ended may still
    /// be presented: access TTL plus clock leeway. Revocation entries live
    /// this long.
    pub revocation: TimeDelta,
    /// Live sessions a user may hold (`WARRANT_MAX_SESSIONS`).
    pub max_per_user: i64,
}

/// A session just started.
#[derive(Debug)]
pub struct Started {
    /// The account as it is now.
    pub user: User,
    /// The user's oldest sessions, ended to keep them within the cap.
    pub evicted: Vec<String>,
}

/// The password hash a signup stored or a login checked the password
/// against, and — for a login whose hash was outdated — a fresh hash of the
/// same password to store in its place.
#[derive(Debug, Clone, Copy)]
pub struct CheckedPassword<'a> {
    pub hash: &'a str,
    pub renewed: Option<&'a str>,
}

/// Starts a session with its first refresh token (given as its hash), ending
/// the user's oldest live sessions beyond [`SessionPolicy::max_per_user`].
/// The password was checked before an argon2 verify: `None` if the account
/// was deleted or its password replaced meanwhile. Its role may have changed
/// too, and the token must carry the current one.
pub fn start(
    conn: &mut DbConn,
    id: &str,
    user_id: i64,
    password: CheckedPassword<'_>,
    refresh_hash: &str,
    policy: SessionPolicy,
) -> Result<Option<Started>, DbError> {
    // A role change, password reset or deletion running now either
    // committed before this read (we see its result) or waits for this
    // session to exist, and then ends it: a token with a stale role or
    // password never outlives the change. The lock is exclusive so that
    // one user's concurrent logins count their sessions one at a time,
    // and the cap holds.
    let Some(user) = lock_user(conn, user_id, RowLock::Update)? else { return Ok(None) };
    let current: String = users::table.find(user_id).select(users::password_hash).first(conn)?;
    if current != password.hash {
        return Ok(None);
    }
    if let Some(renewed) = password.renewed {
        diesel::update(users::table.find(user_id)).set(users::password_hash.eq(renewed)).execute(conn)?;
    }
    let now = now();
    let beyond_cap: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::idle_expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(sessions::id)
        .offset(policy.max_per_user - 1)
        .load(conn)?;
    let evicted = if beyond_cap.is_empty() {
        Vec::new()
    } else {
        end_sessions(conn, Sessions::Listed(&beyond_cap), policy)?
    };
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + policy.absolute),
            sessions::idle_expires_at.eq(now + policy.idle.min(policy.absolute)),
        ))
        .execute(conn)?;
    insert_refresh_token(conn, id, refresh_hash, now)?;
    Ok(Some(Started { user, evicted }))
}

fn insert_refresh_token(
    conn: &mut DbConn,
    session_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Refresh {
    /// The token was live: it is now used, and the successor is the live one.
    Rotated { user: User, session_id: String },
    /// The token had already been used: its session has been ended.
    Reused { user_id: i64, ended: Vec<String> },
    /// Unknown, or its session is over.
    Invalid,
}

/// Rotates a refresh token in one transaction. Claiming the token is a
/// conditional update, so of N concurrent presentations at most one wins; the
/// others count as reuse and end the session, winner included. The live path
/// is four statements: extend the session's idle deadline, claim the token,
/// read the user, store the successor.
pub fn rotate(
    conn: &mut DbConn,
    presented_hash: &str,
    successor_hash: &str,
    policy: SessionPolicy,
) -> Result<Refresh, DbError> {
    let now = now();
    // The session first, then the token: the order everything else that
    // writes both takes them in (deleting a user marks its sessions
    // ended, then the cascade deletes them and their tokens). Claiming
    // the token first deadlocked with a deletion under way, and
    // PostgreSQL aborted one of the two (a 500). Concurrent refreshes of
    // one session queue here. The idle deadline may pass the absolute
    // one: a session lapses at whichever comes first.
    let of_token = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(presented_hash))
        .select(refresh_tokens::session_id)
        .single_value();
    let live_user: Option<i64> = diesel::update(
        sessions::table
            .filter(sessions::id.nullable().eq(of_token))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .filter(sessions::idle_expires_at.gt(now)),
    )
    .set(sessions::idle_expires_at.eq(now + policy.idle))
    .returning(sessions::user_id)
    .get_result(conn)
    .optional()?;
    let claimed: Option<String> = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(presented_hash))
            .filter(refresh_tokens::used_at.is_null()),
    )
    .set(refresh_tokens::used_at.eq(now))
    .returning(refresh_tokens::session_id)
    .get_result(conn)
    .optional()?;
    let Some(session_id) = claimed else { return end_on_reuse(conn, presented_hash, policy) };
    // Ended or lapsed: the token is spent with its session.
    let Some(user_id) = live_user else { return Ok(Refresh::Invalid) };
    // The session's row lock keeps its user (deletion cascades through it).
    let user: Option<UserRow> = users::table.find(user_id).select(USER_COLUMNS).first(conn).optional()?;
    let Some(user) = user else { return Ok(Refresh::Invalid) };
    insert_refresh_token(conn, &session_id, successor_hash, now)?;
    Ok(Refresh::Rotated { user: to_user(user)?, session_id })
}

/// A presented token that could not be claimed: unknown, or already used —
/// then its session ends.
fn end_on_reuse(conn: &mut DbConn, presented_hash: &str, policy: SessionPolicy) -> Result<Refresh, DbError> {
    let owner: Option<(String, i64)> = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(refresh_tokens::token_hash.eq(presented_hash))
        .select((sessions::id, sessions::user_id))
        .first(conn)
        .optional()?;
    let Some((session_id, user_id)) = owner else { return Ok(Refresh::Invalid) };
    let ended = end_sessions(conn, Sessions::One(&session_id), policy)?;
    Ok(Refresh::Reused { user_id, ended })
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum Sessions<'a> {
    One(&'a str),
    Listed(&'a [String]),
    OfUser(i64),
}

/// Ends the live sessions selected and records their revocation. Runs inside
/// the caller's write transaction; returns the ids it ended.
pub(crate) fn end_sessions(
    conn: &mut DbConn,
    which: Sessions<'_>,
    policy: SessionPolicy,
) -> Result<Vec<String>, DbError> {
    let now = now();
    // A session past its absolute end may still have an access token out.
    let mut live = sessions::table
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now - policy.revocation))
        .select(sessions::id)
        .into_boxed();
    live = match which {
        Sessions::One(id) => live.filter(sessions::id.eq(id)),
        Sessions::Listed(ids) => live.filter(sessions::id.eq_any(ids)),
        Sessions::OfUser(user_id) => live.filter(sessions::user_id.eq(user_id)),
    };
    let ids: Vec<String> = live.load(conn)?;
    if ids.is_empty() {
        return Ok(ids);
    }
    // One statement over all the ids: transactions ending overlapping sets
    // (a logout of all sessions, a login evicting several) lock the rows as
    // one scan meets them, not each in an order of its own.
    diesel::update(sessions::table.filter(sessions::id.eq_any(&ids)))
        .set(sessions::ended_at.eq(now))
        .execute(conn)?;
    // One row at a time: the multi-backend connection has no batch insert.
    for id in &ids {
        diesel::insert_into(revoked_sessions::table)
            .values((
                revoked_sessions::session_id.eq(id),
                revoked_sessions::expires_at.eq(now + policy.revocation),
            ))
            .execute(conn)?;
    }
    Ok(ids)
}

/// Ends sessions (logout). Idempotent: ending an ended session is a no-op.
pub fn end(conn: &mut DbConn, which: Sessions<'_>, policy: SessionPolicy) -> Result<Vec<String>, DbError> {
    end_sessions(conn, which, policy)
}

/// Where a reader of `revoked_sessions` has got to: every revocation
/// committed before its last read is behind it, whatever ids it was given
/// and however long its transaction ran. On SQLite, whose writers take
/// turns, ids are handed out in commit order and the highest id read is
/// enough. On PostgreSQL ids are drawn at insert and shown at commit, in any
/// order; the cursor is instead the oldest transaction still running at the
/// last read (its snapshot's xmin): rows written by it or by later
/// transactions are read again next time, so none committing after a read
/// is skipped (see the migration that added `writer_xid`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevocationCursor(i64);

/// A revoked session: its id, and when its last access token expires.
pub type Revocation = (String, NaiveDateTime);

/// The revocations still live and recorded since `cursor` (every live one
/// from the default cursor), and the cursor to read from next. On
/// PostgreSQL a row may come again on the next read: applying one twice is
/// harmless.
pub fn revocations_since(
    conn: &mut DbConn,
    cursor: RevocationCursor,
) -> Result<(Vec<Revocation>, RevocationCursor), DbError> {
    use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        horizon: i64,
        #[diesel(sql_type = Nullable<Text>)]
        session_id: Option<String>,
        #[diesel(sql_type = Nullable<Timestamp>)]
        expires_at: Option<NaiveDateTime>,
    }
    let now = now();
    match conn {
        DbConn::Pg(pg) => {
            // One statement, so the horizon is that of the snapshot the rows
            // were read in. The cursor is inlined, not bound: a generic plan
            // cannot tell that it selects only the newest rows of the index.
            let rows: Vec<Row> = diesel::sql_query(format!(
                "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon, \
                 r.session_id, r.expires_at FROM (SELECT 1) AS one \
                 LEFT JOIN revoked_sessions r ON r.writer_xid >= {} AND r.expires_at > $1",
                cursor.0
            ))
            .bind::<Timestamp, _>(now)
            .load(pg)?;
            let horizon = rows.first().map_or(cursor.0, |row| row.horizon);
            let revocations =
                rows.into_iter().filter_map(|row| Some((row.session_id?, row.expires_at?))).collect();
            Ok((revocations, RevocationCursor(horizon)))
        }
        DbConn::Sqlite(sqlite) => {
            let rows: Vec<(i64, String, NaiveDateTime)> = revoked_sessions::table
                .filter(revoked_sessions::id.gt(cursor.0))
                .filter(revoked_sessions::expires_at.gt(now))
                .order(revoked_sessions::id.asc())
                .select((revoked_sessions::id, revoked_sessions::session_id, revoked_sessions::expires_at))
                .load(sqlite)?;
            let next = rows.last().map_or(cursor, |(id, _, _)| RevocationCursor(*id));
            Ok((rows.into_iter().map(|(_, sid, until)| (sid, until)).collect(), next))
        }
    }
}

/// Deletes what can no longer matter: revocations whose tokens have all
/// expired, and sessions over for longer than `keep` (their refresh tokens go
/// with them).
pub fn prune(conn: &mut DbConn, keep: TimeDelta) -> Result<(), DbError> {
    let now = now();
    diesel::delete(revoked_sessions::table.filter(revoked_sessions::expires_at.lt(now))).execute(conn)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{scratch_sqlite, users};
    use crate::domain::{Role, Username};

    const POLICY: SessionPolicy = SessionPolicy {
        idle: TimeDelta::days(14),
        absolute: TimeDelta::days(30),
        revocation: TimeDelta::minutes(16),
        max_per_user: 100,
    };

    #[test]
    fn a_session_starts_only_if_the_checked_password_is_still_the_accounts() {
        let (_dir, db) = scratch_sqlite();
        let alice = Username::parse("alice").unwrap();
        let id = db.write_blocking(|conn| users::insert(conn, &alice, "hash-1", Role::User)).unwrap().id;
        let start = |sid: &str, checked: &str| {
            let password = CheckedPassword { hash: checked, renewed: None };
            db.write_blocking(|conn| start(conn, sid, id, password, &format!("refresh-{sid}"), POLICY))
                .unwrap()
        };
        assert!(start("s1", "hash-1").is_some());
        // A login that checked the old password finishes after the reset.
        let reset = db
            .write_blocking(|conn| users::sign_out_everywhere(conn, &alice.key(), Some("hash-2"), POLICY))
            .unwrap();
        assert_eq!(reset.map(|(_, ended)| ended), Some(vec!["s1".to_string()]));
        assert!(start("s2", "hash-1").is_none());
        assert!(start("s3", "hash-2").is_some());
    }
}
