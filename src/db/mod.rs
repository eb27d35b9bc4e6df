//! Persistence: schema, rows, queries, and the SQLite/PostgreSQL switch.
//! Nothing outside this folder knows which backend is in use.
pub mod keys;
mod pool;
pub mod posts;
pub mod schema;
pub mod sessions;
pub mod users;

pub(crate) use pool::{now, pg_only, write_transaction};
pub use pool::{ping, Backend, DatabaseUrl, Db, DbConn, DbError};
