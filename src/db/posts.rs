//! Posts, always read with their author's name.
use diesel::prelude::*;

use super::schema::{posts, users};
use super::time::UtcTime;
use super::users::holds_admin;
use super::{load, now, DbConn, DbError};
use crate::domain::{Post, PostContent};

type PostRow = (i64, i64, String, UtcTime, UtcTime, String);
const POST_COLUMNS: (
    posts::id,
    posts::user_id,
    posts::content,
    posts::created_at,
    posts::updated_at,
    users::username,
) = (posts::id, posts::user_id, posts::content, posts::created_at, posts::updated_at, users::username);

fn to_post((id, author_id, content, created_at, updated_at, author_username): PostRow) -> Post {
    Post { id, content, created_at: created_at.0, updated_at: updated_at.0, author_id, author_username }
}

/// Creates a post. The author's name comes from the caller (access tokens
/// carry it, and names never change), so the answer needs no read-back. An
/// author deleted meanwhile is a `ForeignKeyViolation`.
pub fn insert(
    conn: &mut DbConn,
    author_id: i64,
    author_username: &str,
    content: &PostContent,
) -> Result<Post, DbError> {
    let now = now();
    let id: i64 = diesel::insert_into(posts::table)
        .values((
            posts::user_id.eq(author_id),
            posts::content.eq(content.as_str()),
            posts::created_at.eq(now),
            posts::updated_at.eq(now),
        ))
        .returning(posts::id)
        .get_result(conn)?;
    let now = now.and_utc();
    Ok(Post {
        id,
        content: content.as_str().to_string(),
        created_at: now,
        updated_at: now,
        author_id,
        author_username: author_username.to_string(),
    })
}

pub fn find(conn: &mut DbConn, id: i64) -> Result<Option<Post>, DbError> {
    let query = posts::table.inner_join(users::table).filter(posts::id.eq(id)).select(POST_COLUMNS).limit(1);
    let rows: Vec<PostRow> = load(conn, query)?;
    Ok(rows.into_iter().next().map(to_post))
}

/// Newest first, by id: a keyset page that costs the same at any depth.
/// Two fixed query shapes rather than a boxed one: diesel caches prepared
/// statements only for queries whose SQL it knows at compile time.
pub fn list(
    conn: &mut DbConn,
    author_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Post>, DbError> {
    let page = posts::table
        .inner_join(users::table)
        .select(POST_COLUMNS)
        .filter(posts::id.lt(before_id.unwrap_or(i64::MAX)))
        .order(posts::id.desc())
        .limit(limit);
    let rows: Vec<PostRow> = match author_id {
        Some(author_id) => load(conn, page.filter(posts::user_id.eq(author_id)))?,
        None => load(conn, page)?,
    };
    Ok(rows.into_iter().map(to_post).collect())
}

/// Replaces the content; `None` when the post no longer exists.
pub fn update_content(conn: &mut DbConn, id: i64, content: &PostContent) -> Result<Option<Post>, DbError> {
    let changed = diesel::update(posts::table.find(id))
        .set((posts::content.eq(content.as_str()), posts::updated_at.eq(now())))
        .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    find(conn, id)
}

/// The acting account no longer holds the admin role it acted with (demoted
/// or deleted, possibly through another instance a moment ago).
#[derive(Debug, PartialEq, Eq)]
pub struct NoLongerAdmin;

/// Deletes a post (if it still exists: deleting is idempotent) as its author,
/// or as admin `as_admin`: then only while that account holds the admin
/// role, checked in the same transaction.
pub fn delete(
    conn: &mut DbConn,
    id: i64,
    as_admin: Option<i64>,
) -> Result<Result<(), NoLongerAdmin>, DbError> {
    let Some(admin) = as_admin else {
        diesel::delete(posts::table.find(id)).execute(conn)?;
        return Ok(Ok(()));
    };
    if !holds_admin(conn, admin)? {
        return Ok(Err(NoLongerAdmin));
    }
    diesel::delete(posts::table.find(id)).execute(conn)?;
    Ok(Ok(()))
}
