//! `passkey_users`, `passkeys` and `webauthn_ceremonies`: an account's
//! WebAuthn user handle, its registered credentials (kept as webauthn-rs
//! serializes them), and the ceremonies waiting for a browser's answer.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{passkey_users, passkeys, webauthn_ceremonies};
use super::{execute, now, DbConn, DbError};
use crate::domain::UserId;

/// The account's user handle, stored as `new_handle` if it has none yet
/// (of two registrations starting at once, one handle wins).
pub fn handle(conn: &mut DbConn, user: UserId, new_handle: &str) -> Result<String, DbError> {
    let insert = diesel::insert_into(passkey_users::table)
        .values((passkey_users::user_id.eq(user.0), passkey_users::handle.eq(new_handle)))
        .on_conflict(passkey_users::user_id)
        .do_nothing();
    execute(conn, insert)?;
    Ok(passkey_users::table.find(user.0).select(passkey_users::handle).first(conn)?)
}

/// The account whose user handle is `handle`.
pub fn user_of_handle(conn: &mut DbConn, handle: &str) -> Result<Option<UserId>, DbError> {
    let user: Option<i64> = passkey_users::table
        .filter(passkey_users::handle.eq(handle))
        .select(passkey_users::user_id)
        .first(conn)
        .optional()?;
    Ok(user.map(UserId))
}

/// A registered passkey.
#[derive(Debug, Clone)]
pub struct StoredPasskey {
    pub id: i64,
    pub name: String,
    /// webauthn-rs's `Passkey`, as JSON.
    pub credential: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

impl StoredPasskey {
    /// What its user may see of it.
    pub fn info(self) -> crate::domain::PasskeyInfo {
        crate::domain::PasskeyInfo {
            id: self.id,
            name: self.name,
            created_at: self.created_at.and_utc(),
            last_used_at: self.last_used_at.map(|t| t.and_utc()),
        }
    }
}

type Row = (i64, String, String, NaiveDateTime, Option<NaiveDateTime>);

fn to_stored((id, name, credential, created_at, last_used_at): Row) -> StoredPasskey {
    StoredPasskey { id, name, credential, created_at, last_used_at }
}

/// The account's passkeys, oldest first.
pub fn list(conn: &mut DbConn, user: UserId) -> Result<Vec<StoredPasskey>, DbError> {
    let rows: Vec<Row> = passkeys::table
        .filter(passkeys::user_id.eq(user.0))
        .order(passkeys::id)
        .select((
            passkeys::id,
            passkeys::name,
            passkeys::credential,
            passkeys::created_at,
            passkeys::last_used_at,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(to_stored).collect())
}

pub fn count(conn: &mut DbConn, user: UserId) -> Result<i64, DbError> {
    Ok(passkeys::table.filter(passkeys::user_id.eq(user.0)).count().get_result(conn)?)
}

/// Stores a new passkey (a `UniqueViolation` when its credential id is
/// registered already).
pub fn insert(
    conn: &mut DbConn,
    user: UserId,
    credential_id: &str,
    name: &str,
    credential: &str,
) -> Result<StoredPasskey, DbError> {
    let row: Row = diesel::insert_into(passkeys::table)
        .values((
            passkeys::user_id.eq(user.0),
            passkeys::credential_id.eq(credential_id),
            passkeys::name.eq(name),
            passkeys::credential.eq(credential),
            passkeys::created_at.eq(now()),
        ))
        .returning((
            passkeys::id,
            passkeys::name,
            passkeys::credential,
            passkeys::created_at,
            passkeys::last_used_at,
        ))
        .get_result(conn)?;
    Ok(to_stored(row))
}

/// Deletes the account's passkey `id`: whether there was one.
pub fn delete(conn: &mut DbConn, user: UserId, id: i64) -> Result<bool, DbError> {
    let deleted =
        diesel::delete(passkeys::table.filter(passkeys::id.eq(id)).filter(passkeys::user_id.eq(user.0)))
            .execute(conn)?;
    Ok(deleted > 0)
}

/// Stores a passkey's credential after a login (its counter moved) and when
/// it was used.
pub fn used(conn: &mut DbConn, id: i64, credential: &str) -> Result<(), DbError> {
    diesel::update(passkeys::table.find(id))
        .set((passkeys::credential.eq(credential), passkeys::last_used_at.eq(now())))
        .execute(conn)?;
    Ok(())
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Registration,
    Login,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Ceremony::Registration => "registration",
            Ceremony::Login => "login",
        }
    }
}

/// Stores a ceremony's state (webauthn-rs's, as JSON) under `id`.
pub fn start_ceremony(
    conn: &mut DbConn,
    id: &str,
    kind: Ceremony,
    user: Option<UserId>,
    state: &str,
    expires_at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::id.eq(id),
            webauthn_ceremonies::kind.eq(kind.as_str()),
            webauthn_ceremonies::user_id.eq(user.map(|u| u.0)),
            webauthn_ceremonies::state.eq(state),
            webauthn_ceremonies::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes the live ceremony `id` of `kind` (deleting it: single-use, on any
/// instance): its user and state; `None` when unknown, used or expired.
pub fn take_ceremony(
    conn: &mut DbConn,
    id: &str,
    kind: Ceremony,
) -> Result<Option<(Option<UserId>, String)>, DbError> {
    let taken: Option<(Option<i64>, String)> = diesel::delete(
        webauthn_ceremonies::table
            .filter(webauthn_ceremonies::id.eq(id))
            .filter(webauthn_ceremonies::kind.eq(kind.as_str()))
            .filter(webauthn_ceremonies::expires_at.gt(now())),
    )
    .returning((webauthn_ceremonies::user_id, webauthn_ceremonies::state))
    .get_result(conn)
    .optional()?;
    Ok(taken.map(|(user, state)| (user.map(UserId), state)))
}

/// Deletes expired ceremonies.
pub fn prune(conn: &mut DbConn) -> Result<(), DbError> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now())))
        .execute(conn)?;
    Ok(())
}
