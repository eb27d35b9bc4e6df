//! Sessions: one per login or signup, named by the `sid` claim.
use chrono::TimeDelta;
use diesel::prelude::*;

use super::schema::sessions;
use super::{now, DbConn, DbError};

/// Records a new session for `user_id` that ends at the latest after `lifetime`.
pub fn start(conn: &mut DbConn, id: &str, user_id: i64, lifetime: TimeDelta) -> Result<(), DbError> {
    let now = now();
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(id),
            sessions::user_id.eq(user_id),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(now + lifetime),
        ))
        .execute(conn)?;
    Ok(())
}
