//! Small SQL helpers shared by the table modules.
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::query_dsl::methods::{ExecuteDsl, LoadQuery};
use diesel::sqlite::SqliteConnection;
use diesel::{OptionalExtension, RunQueryDsl};

use super::{DbConn, DbError};

/// The current time as stored: UTC, at the microsecond precision both
/// backends keep, so a value reads back exactly as written.
pub(crate) fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}

/// Runs `$body` with `$c` bound to the concrete connection under a
/// [`DbConn`]. Through the multi-backend wrapper diesel renders a query's
/// SQL text on every call to find its cached statement; on the concrete
/// connection it finds it by the query's type (callgrind: 15% of the
/// instructions of `GET /posts/{id}`, 7.5% of a `POST /posts`).
macro_rules! concrete {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            DbConn::Pg($c) => $body,
            DbConn::Sqlite($c) => $body,
        }
    };
}

/// Loads the rows of a hot query on the concrete connection (see
/// [`concrete!`]).
pub(crate) fn load<'q, Q, U>(conn: &mut DbConn, query: Q) -> Result<Vec<U>, DbError>
where
    Q: RunQueryDsl<PgConnection> + RunQueryDsl<SqliteConnection>,
    Q: LoadQuery<'q, PgConnection, U> + LoadQuery<'q, SqliteConnection, U>,
{
    Ok(concrete!(conn, c => query.load(c))?)
}

/// [`load`] for one row, e.g. an insert's `RETURNING`.
pub(crate) fn get_result<'q, Q, U>(conn: &mut DbConn, query: Q) -> Result<U, DbError>
where
    Q: RunQueryDsl<PgConnection> + RunQueryDsl<SqliteConnection>,
    Q: LoadQuery<'q, PgConnection, U> + LoadQuery<'q, SqliteConnection, U>,
{
    Ok(concrete!(conn, c => query.get_result(c))?)
}

/// [`get_result`] for a row that may not exist (an `UPDATE … RETURNING`
/// that matched none, a `LIMIT 1` read).
pub(crate) fn get_optional<'q, Q, U>(conn: &mut DbConn, query: Q) -> Result<Option<U>, DbError>
where
    Q: RunQueryDsl<PgConnection> + RunQueryDsl<SqliteConnection>,
    Q: LoadQuery<'q, PgConnection, U> + LoadQuery<'q, SqliteConnection, U>,
{
    Ok(concrete!(conn, c => query.get_result(c).optional())?)
}

/// A query's PostgreSQL text, `$1`… in the order of its binds.
pub(crate) fn pg_text<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>(query: Q) -> String {
    let text = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
    text.split(" -- binds: ").next().unwrap_or_default().to_string()
}

/// Executes a statement on the concrete connection (see [`concrete!`]);
/// also for what the multi-backend wrapper cannot render (an upsert's `ON
/// CONFLICT`).
pub(crate) fn execute<Q>(conn: &mut DbConn, query: Q) -> Result<usize, DbError>
where
    Q: RunQueryDsl<PgConnection> + RunQueryDsl<SqliteConnection>,
    Q: ExecuteDsl<PgConnection> + ExecuteDsl<SqliteConnection>,
{
    Ok(concrete!(conn, c => ExecuteDsl::execute(query, c))?)
}

/// Runs a raw statement on PostgreSQL only (row locks SQLite does not need:
/// its write transactions are already serialized).
pub(crate) fn pg_only(conn: &mut DbConn, sql: &str) -> Result<(), DbError> {
    if let DbConn::Pg(pg) = conn {
        pg.batch_execute(sql)?;
    }
    Ok(())
}

/// A round trip to the database.
pub fn ping(conn: &mut DbConn) -> Result<(), DbError> {
    conn.batch_execute("SELECT 1")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;

    #[test]
    fn bundled_sqlite_plans_independently_of_bound_values() {
        // Set in .cargo/config.toml; without it every paginated read is
        // re-prepared on each execution (see that file).
        use diesel::sql_types::Text;
        #[derive(diesel::QueryableByName)]
        struct CompileOption {
            #[diesel(sql_type = Text)]
            compile_options: String,
        }
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let options: Vec<CompileOption> =
            diesel::sql_query("SELECT compile_options FROM pragma_compile_options").load(&mut conn).unwrap();
        assert!(options.iter().any(|o| o.compile_options == "ENABLE_QPSG"));
    }
}
