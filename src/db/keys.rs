//! Signing keys kept in the database, shared by every replica.
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::signing_keys;
use super::{now, pg_only, write_transaction, DbConn, DbError};

/// A stored Ed25519 private key (PKCS#8 PEM).
pub struct StoredKey {
    pub kid: String,
    pub private_key_pem: String,
    pub signs_from: NaiveDateTime,
}

/// Every stored key, oldest first.
pub fn load_all(conn: &mut DbConn) -> Result<Vec<StoredKey>, DbError> {
    let rows: Vec<(String, String, NaiveDateTime)> = signing_keys::table
        .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
        .select((signing_keys::kid, signing_keys::private_key_pem, signing_keys::signs_from))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(kid, private_key_pem, signs_from)| StoredKey { kid, private_key_pem, signs_from })
        .collect())
}

/// Stores the first key unless one exists. Replicas starting together on an
/// empty database serialize here, so exactly one key wins and all use it.
/// `generate` returns `(kid, pem)`. Returns whether its key was stored.
pub fn insert_first(
    conn: &mut DbConn,
    generate: impl FnOnce() -> Result<(String, String), DbError>,
) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        pg_only(conn, "LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")?;
        let existing: i64 = signing_keys::table.count().get_result(conn)?;
        if existing > 0 {
            return Ok(false);
        }
        let (kid, pem) = generate()?;
        let now = now();
        diesel::insert_into(signing_keys::table)
            .values((
                signing_keys::kid.eq(kid),
                signing_keys::private_key_pem.eq(pem),
                signing_keys::created_at.eq(now),
                signing_keys::signs_from.eq(now),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Adds a key that signs from `signs_from` on (key rotation).
pub fn insert(conn: &mut DbConn, kid: &str, pem: &str, signs_from: NaiveDateTime) -> Result<(), DbError> {
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(kid),
            signing_keys::private_key_pem.eq(pem),
            signing_keys::created_at.eq(now()),
            signing_keys::signs_from.eq(signs_from),
        ))
        .execute(conn)?;
    Ok(())
}
