//! `revoked_sessions`: ended sessions whose access tokens may still be
//! unexpired, which every instance mirrors in memory.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::revoked_sessions;
use super::{now, DbConn, DbError};
use crate::domain::SessionId;

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

/// A revoked session, and when its last access token expires.
pub type Revocation = (SessionId, NaiveDateTime);

/// Records `ids` as revoked until `until`, in the caller's transaction.
pub(super) fn record(conn: &mut DbConn, ids: &[SessionId], until: NaiveDateTime) -> Result<(), DbError> {
    // One row at a time: the multi-backend connection has no batch insert.
    for id in ids {
        diesel::insert_into(revoked_sessions::table)
            .values((revoked_sessions::session_id.eq(id.as_str()), revoked_sessions::expires_at.eq(until)))
            .execute(conn)?;
    }
    Ok(())
}

/// The revocations still live and recorded since `cursor` (every live one
/// from the default cursor), and the cursor to read from next. On
/// PostgreSQL a row may come again on the next read: applying one twice is
/// harmless.
pub fn since(
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
            let revocations = rows
                .into_iter()
                .filter_map(|row| Some((SessionId(row.session_id?), row.expires_at?)))
                .collect();
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
            Ok((rows.into_iter().map(|(_, sid, until)| (SessionId(sid), until)).collect(), next))
        }
    }
}

/// Deletes revocations whose tokens have all expired.
pub(super) fn prune(conn: &mut DbConn, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::delete(revoked_sessions::table.filter(revoked_sessions::expires_at.lt(now))).execute(conn)?;
    Ok(())
}
