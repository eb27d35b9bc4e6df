//! `users`: one table's statements; the transactions that combine accounts
//! with their sessions are in `accounts.rs`.
use diesel::prelude::*;

use super::rows::{to_user, UserRow, USER_COLUMNS};
use super::schema::{lower, posts, users};
use super::sql::get_optional;
use super::{now, pg_only, DbConn, DbError};
use crate::domain::{Role, User, UserId, Username};

/// The acting account no longer holds the admin role it acted with (demoted
/// or deleted, possibly through another instance a moment ago).
#[derive(Debug, PartialEq, Eq)]
pub struct NoLongerAdmin;

/// Creates an account; a name taken in any letter case is a `UniqueViolation`.
pub fn insert(
    conn: &mut DbConn,
    username: &Username,
    password_hash: &str,
    role: Role,
) -> Result<User, DbError> {
    let row: UserRow = diesel::insert_into(users::table)
        .values((
            users::username.eq(username.as_str()),
            users::password_hash.eq(password_hash),
            users::role.eq(role.as_str()),
            users::created_at.eq(now()),
        ))
        .returning(USER_COLUMNS)
        .get_result(conn)?;
    to_user(row)
}

/// The account and its password hash, by case-insensitive name.
pub fn find_credentials(conn: &mut DbConn, username_key: &str) -> Result<Option<(User, String)>, DbError> {
    let row: Option<(UserRow, String)> = users::table
        .filter(lower(users::username).eq(username_key))
        .select((USER_COLUMNS, users::password_hash))
        .first(conn)
        .optional()?;
    row.map(|(row, hash)| Ok((to_user(row)?, hash))).transpose()
}

pub fn find(conn: &mut DbConn, id: UserId) -> Result<Option<User>, DbError> {
    let row: Option<UserRow> = get_optional(conn, users::table.find(id.0).select(USER_COLUMNS).limit(1))?;
    row.map(to_user).transpose()
}

/// The account's password hash.
pub fn password_hash(conn: &mut DbConn, id: UserId) -> Result<Option<String>, DbError> {
    Ok(users::table.find(id.0).select(users::password_hash).first(conn).optional()?)
}

pub(super) fn set_password_hash(conn: &mut DbConn, id: UserId, hash: &str) -> Result<(), DbError> {
    diesel::update(users::table.find(id.0)).set(users::password_hash.eq(hash)).execute(conn)?;
    Ok(())
}

pub(super) fn set_role(conn: &mut DbConn, id: UserId, role: Role) -> Result<(), DbError> {
    diesel::update(users::table.find(id.0)).set(users::role.eq(role.as_str())).execute(conn)?;
    Ok(())
}

/// Deletes the account; its posts and sessions go with it (ON DELETE CASCADE).
pub(super) fn delete(conn: &mut DbConn, id: UserId) -> Result<(), DbError> {
    diesel::delete(users::table.find(id.0)).execute(conn)?;
    Ok(())
}

/// How [`lock`] holds the row on PostgreSQL until the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowLock {
    /// Others may read and share-lock it; none may change or delete it.
    Share,
    /// To change or delete it: waits for share holders to finish.
    Update,
}

/// Reads the account inside a write transaction and holds it. A session
/// start and a role change, password reset or deletion on one account thus
/// run one after the other: the change either sees the new session and ends
/// it, or commits first and the start sees its result. SQLite's write
/// transactions are serialized already.
pub(super) fn lock(conn: &mut DbConn, id: UserId, lock: RowLock) -> Result<Option<User>, DbError> {
    let query = users::table.find(id.0).select(USER_COLUMNS);
    let row: Option<UserRow> = match conn {
        DbConn::Pg(pg) if lock == RowLock::Share => query.for_share().first(pg).optional()?,
        DbConn::Pg(pg) => query.for_update().first(pg).optional()?,
        DbConn::Sqlite(sqlite) => query.first(sqlite).optional()?,
    };
    row.map(to_user).transpose()
}

/// Locks every admin's row (PostgreSQL), so that two admins demoting each
/// other at once cannot both win.
pub(super) fn lock_admins(conn: &mut DbConn) -> Result<(), DbError> {
    pg_only(conn, "SELECT id FROM users WHERE role = 'admin' FOR UPDATE")
}

pub(super) fn count_admins(conn: &mut DbConn) -> Result<i64, DbError> {
    Ok(users::table.filter(users::role.eq(Role::Admin.as_str())).count().get_result(conn)?)
}

/// Whether account `id` holds the admin role now, read inside a write
/// transaction and held until it ends (see [`lock`]). Admin writes check
/// it besides the token's role claim: a session ended on another instance
/// reaches this one within the revocation sync interval, and a stolen admin
/// token must not keep its powers that long.
pub(super) fn holds_admin(conn: &mut DbConn, id: UserId) -> Result<Result<(), NoLongerAdmin>, DbError> {
    let admin = lock(conn, id, RowLock::Share)?.is_some_and(|user| user.role == Role::Admin);
    Ok(if admin { Ok(()) } else { Err(NoLongerAdmin) })
}

/// One page of users in id order, each with how many posts they own.
pub fn list_with_post_counts(
    conn: &mut DbConn,
    after: Option<UserId>,
    limit: i64,
) -> Result<Vec<(User, i64)>, DbError> {
    let rows: Vec<UserRow> = users::table
        .filter(users::id.gt(after.map_or(0, |id| id.0)))
        .order(users::id.asc())
        .limit(limit)
        .select(USER_COLUMNS)
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let counts: Vec<(i64, i64)> = posts::table
        .filter(posts::user_id.eq_any(&ids))
        .group_by(posts::user_id)
        .select((posts::user_id, diesel::dsl::count_star()))
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let count = counts.iter().find(|(id, _)| *id == row.0).map_or(0, |(_, n)| *n);
            Ok((to_user(row)?, count))
        })
        .collect()
}
