//! `posts`, always read with their author's name.
use std::sync::LazyLock;

use diesel::prelude::*;

use super::rows::{pg_post_row, to_post, PostColumns, PostRow, POST_COLUMNS};
use super::schema::{posts, users};
use super::sql::{get_result, pg_text};
use super::users::{holds_admin, NoLongerAdmin};
use super::{load, now, Db, DbConn, DbError, PgRead};
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
    let insert = diesel::insert_into(posts::table)
        .values((
            posts::user_id.eq(author.0),
            posts::content.eq(content.as_str()),
            posts::created_at.eq(now),
            posts::updated_at.eq(now),
        ))
        .returning(posts::id);
    let id: i64 = get_result(conn, insert)?;
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

/// A post with its author's name.
#[diesel::dsl::auto_type]
fn one(id: i64) -> _ {
    let columns: PostColumns = POST_COLUMNS;
    posts::table.inner_join(users::table).filter(posts::id.eq(id)).select(columns).limit(1_i64)
}

/// Newest first, by id: a keyset page that costs the same at any depth.
/// Fixed query shapes rather than a boxed one: diesel caches prepared
/// statements only for queries whose SQL it knows at compile time.
#[diesel::dsl::auto_type]
fn page(before: i64, limit: i64) -> _ {
    let columns: PostColumns = POST_COLUMNS;
    posts::table
        .inner_join(users::table)
        .select(columns)
        .filter(posts::id.lt(before))
        .order(posts::id.desc())
        .limit(limit)
}

#[diesel::dsl::auto_type]
fn page_by(author: i64, before: i64, limit: i64) -> _ {
    let page: page = page(before, limit);
    page.filter(posts::user_id.eq(author))
}

/// The same queries' PostgreSQL text, for the async path (see `pg_reads`);
/// their binds in the order the tests below pin.
static ONE: LazyLock<String> = LazyLock::new(|| pg_text(one(0)));
static PAGE: LazyLock<String> = LazyLock::new(|| pg_text(page(0, 0)));
static PAGE_BY: LazyLock<String> = LazyLock::new(|| pg_text(page_by(0, 0, 0)));

pub fn find(conn: &mut DbConn, id: PostId) -> Result<Option<Post>, DbError> {
    let rows: Vec<PostRow> = load(conn, one(id.0))?;
    Ok(rows.into_iter().next().map(to_post))
}

/// [`find`] for a request: on PostgreSQL on the worker's own connection
/// (see `pg_reads`).
pub async fn get(db: &Db, id: PostId) -> Result<Option<Post>, DbError> {
    let read = PgRead { sql: &ONE, params: &[id.0, 1], row: pg_post_row };
    let rows = db.read_either(read, move |conn| load(conn, one(id.0))).await?;
    Ok(rows.into_iter().next().map(to_post))
}

/// A page for a request: on PostgreSQL on the worker's own connection
/// (see `pg_reads`).
pub async fn list(
    db: &Db,
    author: Option<UserId>,
    before: Option<PostId>,
    limit: i64,
) -> Result<Vec<Post>, DbError> {
    let before = before.map_or(i64::MAX, |id| id.0);
    let rows = match author {
        Some(author) => {
            let read = PgRead { sql: &PAGE_BY, params: &[before, author.0, limit], row: pg_post_row };
            db.read_either(read, move |conn| load(conn, page_by(author.0, before, limit))).await?
        }
        None => {
            let read = PgRead { sql: &PAGE, params: &[before, limit], row: pg_post_row };
            db.read_either(read, move |conn| load(conn, page(before, limit))).await?
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The async path binds by position: each text's `$n` must be the
    /// parameter it passes in that place.
    #[test]
    fn the_postgresql_texts_bind_in_the_order_the_async_path_passes() {
        let binds = |query: String| query.split(" -- binds: ").nth(1).unwrap().to_string();
        assert_eq!(binds(diesel::debug_query::<diesel::pg::Pg, _>(&one(7)).to_string()), "[7, 1]");
        assert_eq!(binds(diesel::debug_query::<diesel::pg::Pg, _>(&page(7, 20)).to_string()), "[7, 20]");
        assert_eq!(
            binds(diesel::debug_query::<diesel::pg::Pg, _>(&page_by(3, 7, 20)).to_string()),
            "[7, 3, 20]"
        );
        assert!(PAGE_BY.contains("\"posts\".\"id\" < $1") && PAGE_BY.contains("\"posts\".\"user_id\" = $2"));
        assert!(PAGE_BY.ends_with("LIMIT $3"), "{}", *PAGE_BY);
        assert!(!ONE.contains("--"), "{}", *ONE);
    }
}
