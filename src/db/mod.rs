//! Persistence: schema, rows, queries, and the SQLite/PostgreSQL switch.
//! Nothing outside this folder knows which backend is in use.
pub mod keys;
mod pool;
pub mod posts;
pub mod rate_limits;
pub mod schema;
pub mod sessions;
mod time;
pub mod users;

pub use pool::{establish_pg, ping, Backend, DatabaseUrl, Db, DbConn, DbError};
pub(crate) use pool::{load, now, pg_only, write_transaction};
