//! Rows as selected, and their way into domain types: every row passes
//! through the domain's parsers on the way out.
use super::schema::{posts, users};
use super::time::UtcTime;
use super::DbError;
use crate::domain::{Post, PostId, Role, User, UserId};

/// An account row without its password hash, which only login reads.
pub(super) type UserRow = (i64, String, String, UtcTime);
pub(super) const USER_COLUMNS: (users::id, users::username, users::role, users::created_at) =
    (users::id, users::username, users::role, users::created_at);

pub(super) fn to_user((id, username, role, created_at): UserRow) -> Result<User, DbError> {
    let role = role.parse::<Role>().map_err(|e| DbError::Other(format!("user {id}: role {e}")))?;
    Ok(User { id: UserId(id), username, role, created_at: created_at.0 })
}

/// A post with its author's name.
pub(super) type PostRow = (i64, i64, String, UtcTime, UtcTime, String);
pub(super) type PostColumns =
    (posts::id, posts::user_id, posts::content, posts::created_at, posts::updated_at, users::username);
pub(super) const POST_COLUMNS: PostColumns =
    (posts::id, posts::user_id, posts::content, posts::created_at, posts::updated_at, users::username);

pub(super) fn to_post((id, author_id, content, created_at, updated_at, author_username): PostRow) -> Post {
    Post {
        id: PostId(id),
        content,
        created_at: created_at.0,
        updated_at: updated_at.0,
        author_id: UserId(author_id),
        author_username,
    }
}

/// A [`PostRow`] as the async driver reads it (see `pg_reads`).
pub(super) fn pg_post_row(row: &tokio_postgres::Row) -> Result<PostRow, tokio_postgres::Error> {
    let time = |i| row.try_get::<_, chrono::NaiveDateTime>(i).map(|t| UtcTime(t.and_utc()));
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, time(3)?, time(4)?, row.try_get(5)?))
}
