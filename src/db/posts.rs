//! `posts`, always read with their author's name.
use diesel::prelude::*;

use super::rows::{to_post, PostRow, POST_COLUMNS};
use super::schema::{posts, users};
use super::users::{holds_admin, NoLongerAdmin};
use super::{load, now, DbConn, DbError};
use crate::domain::{Post, PostContent, PostId, UserId};

/// Creates a post. The author's name comes from the caller (access tokens
/// carry it, and names never change), so the answer needs no read-back. An
/// author deleted meanwhile is a `ForeignKeyViolation`.
pub fn insert(
    conn: &mut DbConn,
    author: UserId,
    author_username: &str,
    content: &PostContent,
) -> Result<Post, DbError> {
    let now = now();
    let id: i64 = diesel::insert_into(posts::table)
        .values((
            posts::user_id.eq(author.0),
            posts::content.eq(content.as_str()),
            posts::created_at.eq(now),
            posts::updated_at.eq(now),
        ))
        .returning(posts::id)
        .get_result(conn)?;
    let now = now.and_utc();
    Ok(Post {
        id: PostId(id),
        content: content.as_str().to_string(),
        created_at: now,
        updated_at: now,
        author_id: author,
        author_username: author_username.to_string(),
    })
}

pub fn find(conn: &mut DbConn, id: PostId) -> Result<Option<Post>, DbError> {
    let query =
        posts::table.inner_join(users::table).filter(posts::id.eq(id.0)).select(POST_COLUMNS).limit(1);
    let rows: Vec<PostRow> = load(conn, query)?;
    Ok(rows.into_iter().next().map(to_post))
}

/// Newest first, by id: a keyset page that costs the same at any depth.
/// Two fixed query shapes rather than a boxed one: diesel caches prepared
/// statements only for queries whose SQL it knows at compile time.
pub fn list(
    conn: &mut DbConn,
    author: Option<UserId>,
    before: Option<PostId>,
    limit: i64,
) -> Result<Vec<Post>, DbError> {
    let page = posts::table
        .inner_join(users::table)
        .select(POST_COLUMNS)
        .filter(posts::id.lt(before.map_or(i64::MAX, |id| id.0)))
        .order(posts::id.desc())
        .limit(limit);
    let rows: Vec<PostRow> = match author {
        Some(author) => load(conn, page.filter(posts::user_id.eq(author.0)))?,
        None => load(conn, page)?,
    };
    Ok(rows.into_iter().map(to_post).collect())
}

/// Replaces the content; `None` when the post no longer exists.
pub fn update_content(conn: &mut DbConn, id: PostId, content: &PostContent) -> Result<Option<Post>, DbError> {
    let changed = diesel::update(posts::table.find(id.0))
        .set((posts::content.eq(content.as_str()), posts::updated_at.eq(now())))
        .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    find(conn, id)
}

/// Deletes a post (if it still exists: deleting is idempotent) as its author,
/// or as admin `as_admin`: then only while that account holds the admin
/// role, checked in the same transaction.
pub fn delete(
    conn: &mut DbConn,
    id: PostId,
    as_admin: Option<UserId>,
) -> Result<Result<(), NoLongerAdmin>, DbError> {
    if let Some(admin) = as_admin {
        if let Err(no_longer) = holds_admin(conn, admin)? {
            return Ok(Err(no_longer));
        }
    }
    diesel::delete(posts::table.find(id.0)).execute(conn)?;
    Ok(Ok(()))
}
