//! Accounts.
use diesel::prelude::*;

use super::schema::{lower, posts, users};
use super::sessions::{end_sessions, SessionPolicy, Sessions};
use super::time::UtcTime;
use super::{now, pg_only, DbConn, DbError};
use crate::domain::{Role, User, Username};

/// An account row without its password hash, which only login reads.
pub(super) type UserRow = (i64, String, String, UtcTime);
pub(super) const USER_COLUMNS: (users::id, users::username, users::role, users::created_at) =
    (users::id, users::username, users::role, users::created_at);

/// Rows are validated through the domain parser on the way out.
pub(super) fn to_user((id, username, role, created_at): UserRow) -> Result<User, DbError> {
    let role = role.parse::<Role>().map_err(|e| DbError::Other(format!("user {id}: role {e}")))?;
    Ok(User { id, username, role, created_at: created_at.0 })
}

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

pub fn find(conn: &mut DbConn, id: i64) -> Result<Option<User>, DbError> {
    let row: Option<UserRow> = users::table.find(id).select(USER_COLUMNS).first(conn).optional()?;
    row.map(to_user).transpose()
}

/// How [`lock_user`] holds the row on PostgreSQL until the transaction ends.
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
pub(super) fn lock_user(conn: &mut DbConn, id: i64, lock: RowLock) -> Result<Option<User>, DbError> {
    let query = users::table.find(id).select(USER_COLUMNS);
    let row: Option<UserRow> = match conn {
        DbConn::Pg(pg) if lock == RowLock::Share => query.for_share().first(pg).optional()?,
        DbConn::Pg(pg) => query.for_update().first(pg).optional()?,
        DbConn::Sqlite(sqlite) => query.first(sqlite).optional()?,
    };
    row.map(to_user).transpose()
}

/// One page of users in id order, each with how many posts they own.
pub fn list_with_post_counts(
    conn: &mut DbConn,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<(User, i64)>, DbError> {
    let rows: Vec<UserRow> = users::table
        .filter(users::id.gt(after_id.unwrap_or(0)))
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

/// Outcome of a change made with admin rights.
#[derive(Debug)]
pub enum AdminChange<T> {
    Done(T),
    NotFound,
    /// It would leave no admin.
    LastAdmin,
    /// The acting account no longer holds the admin role (demoted or
    /// deleted, possibly through another instance a moment ago).
    NotAdmin,
}

impl<T> AdminChange<T> {
    fn try_map<U>(self, f: impl FnOnce(T) -> Result<U, DbError>) -> Result<AdminChange<U>, DbError> {
        Ok(match self {
            AdminChange::Done(value) => AdminChange::Done(f(value)?),
            AdminChange::NotFound => AdminChange::NotFound,
            AdminChange::LastAdmin => AdminChange::LastAdmin,
            AdminChange::NotAdmin => AdminChange::NotAdmin,
        })
    }
}

/// Whether account `id` holds the admin role now, read inside a write
/// transaction and held until it ends (see [`lock_user`]). Admin writes check
/// it besides the token's role claim: a session ended on another instance
/// reaches this one within the revocation sync interval, and a stolen admin
/// token must not keep its powers that long.
pub(super) fn holds_admin(conn: &mut DbConn, id: i64) -> Result<bool, DbError> {
    Ok(lock_user(conn, id, RowLock::Share)?.is_some_and(|user| user.role == Role::Admin))
}

/// Checks, inside a write transaction, that `by` is still an admin, whether
/// `id` exists and whether removing its admin role would leave none. On
/// PostgreSQL the admin rows are locked first, so two admins demoting each
/// other at once cannot both win, and the account changed is locked before
/// its sessions are read, so none starting meanwhile escapes the change.
fn guard_last_admin(
    conn: &mut DbConn,
    by: i64,
    id: i64,
    keeps_admin: bool,
) -> Result<AdminChange<User>, DbError> {
    pg_only(conn, "SELECT id FROM users WHERE role = 'admin' FOR UPDATE")?;
    if !holds_admin(conn, by)? {
        return Ok(AdminChange::NotAdmin);
    }
    let Some(user) = lock_user(conn, id, RowLock::Update)? else { return Ok(AdminChange::NotFound) };
    if user.role == Role::Admin && !keeps_admin {
        let admins: i64 =
            users::table.filter(users::role.eq(Role::Admin.as_str())).count().get_result(conn)?;
        if admins <= 1 {
            return Ok(AdminChange::LastAdmin);
        }
    }
    Ok(AdminChange::Done(user))
}

/// Sets the role, as admin `by`; a change ends the user's sessions, so no
/// token keeps the old role. Returns the user and the ended session ids.
pub fn set_role(
    conn: &mut DbConn,
    by: i64,
    id: i64,
    role: Role,
    policy: SessionPolicy,
) -> Result<AdminChange<(User, Vec<String>)>, DbError> {
    guard_last_admin(conn, by, id, role == Role::Admin)?.try_map(|user| {
        if user.role == role {
            return Ok((user, Vec::new()));
        }
        diesel::update(users::table.find(id)).set(users::role.eq(role.as_str())).execute(conn)?;
        let ended = end_sessions(conn, Sessions::OfUser(id), policy)?;
        Ok((User { role, ..user }, ended))
    })
}

/// Deletes a user, as admin `by`; their posts and sessions go with them (ON
/// DELETE CASCADE) after the sessions are recorded as revoked. Returns the
/// ended session ids.
pub fn delete(
    conn: &mut DbConn,
    by: i64,
    id: i64,
    policy: SessionPolicy,
) -> Result<AdminChange<Vec<String>>, DbError> {
    guard_last_admin(conn, by, id, false)?.try_map(|_| {
        let ended = end_sessions(conn, Sessions::OfUser(id), policy)?;
        diesel::delete(users::table.find(id)).execute(conn)?;
        Ok(ended)
    })
}

/// Ends every session of the account named `username_key` and, given a
/// hash, replaces its password, in one transaction: a login that checked
/// the old password just before cannot start a session after it (see
/// [`super::sessions::start`]). Returns the account and the ended session
/// ids; `None` when there is no such account.
pub fn sign_out_everywhere(
    conn: &mut DbConn,
    username_key: &str,
    new_password_hash: Option<&str>,
    policy: SessionPolicy,
) -> Result<Option<(User, Vec<String>)>, DbError> {
    let Some((found, _)) = find_credentials(conn, username_key)? else { return Ok(None) };
    let Some(user) = lock_user(conn, found.id, RowLock::Update)? else { return Ok(None) };
    if let Some(hash) = new_password_hash {
        diesel::update(users::table.find(user.id)).set(users::password_hash.eq(hash)).execute(conn)?;
    }
    let ended = end_sessions(conn, Sessions::OfUser(user.id), policy)?;
    Ok(Some((user, ended)))
}

/// Makes `username` an admin: promotes the existing account (keeping its
/// password; like any role change this ends their sessions), or creates it
/// with `password_hash`. Returns the user and whether it was created; `None`
/// when the account does not exist and no hash was given.
pub fn create_or_promote_admin(
    conn: &mut DbConn,
    username: &Username,
    password_hash: Option<&str>,
    policy: SessionPolicy,
) -> Result<Option<(User, bool)>, DbError> {
    match (find_credentials(conn, &username.key())?, password_hash) {
        (Some((user, _)), _) if user.role == Role::Admin => Ok(Some((user, false))),
        (Some((user, _)), _) => {
            diesel::update(users::table.find(user.id))
                .set(users::role.eq(Role::Admin.as_str()))
                .execute(conn)?;
            end_sessions(conn, Sessions::OfUser(user.id), policy)?;
            Ok(Some((User { role: Role::Admin, ..user }, false)))
        }
        (None, Some(hash)) => Ok(Some((insert(conn, username, hash, Role::Admin)?, true))),
        (None, None) => Ok(None),
    }
}
