//! `service_secrets`: secrets every instance on the database shares.
use diesel::prelude::*;

use super::schema::service_secrets;
use super::{DbConn, DbError};

/// The secret named `name`, stored from `generate` by whichever instance
/// asks first (in the caller's transaction; a replica that loses the race
/// gets a `UniqueViolation`, and reads the winner's on its next try).
pub fn get_or_create(
    conn: &mut DbConn,
    name: &str,
    generate: impl Fn() -> String,
) -> Result<String, DbError> {
    let stored: Option<String> =
        service_secrets::table.find(name).select(service_secrets::value).first(conn).optional()?;
    if let Some(value) = stored {
        return Ok(value);
    }
    let value = generate();
    diesel::insert_into(service_secrets::table)
        .values((service_secrets::name.eq(name), service_secrets::value.eq(&value)))
        .execute(conn)?;
    Ok(value)
}
