//! What the query layer reports upward; diesel's errors stop here, sorted by
//! what a caller can do about them.
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint violated")]
    UniqueViolation,
    #[error("foreign key constraint violated")]
    ForeignKeyViolation,
    /// The connection failed as a connection (server gone, restarting,
    /// unreachable): it is not reused.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database cannot store more (disk or quota full).
    #[error("database storage full: {0}")]
    Full(String),
    /// A lock, statement, pool or writer wait passed the configured bound.
    #[error("database wait timed out: {0}")]
    TimedOut(String),
    /// The transaction conflicted with a concurrent one (serialization
    /// failure, deadlock, SQLite busy) and was rolled back: running it again
    /// may succeed.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// The database refused the statement for a reason of its own (I/O
    /// error, read-only, permissions, a table renamed from outside).
    #[error("database error: {0}")]
    Failed(String),
    /// Our bug: a row that does not parse, a query diesel cannot build.
    #[error("database error: {0}")]
    Other(String),
    /// A rule checked inside the transaction said no; it rolled back. Not a
    /// fault: the service answers it as the rule's refusal.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
}

/// The kinds of database fault, as the metrics label them.
pub const FAULT_KINDS: [&str; 5] = ["unreachable", "full", "timeout", "conflict", "failed"];

impl DbError {
    /// Which of [`FAULT_KINDS`] this is, when the database, not the request
    /// or our code, is at fault: the client should retry later (503).
    pub fn fault_kind(&self) -> Option<&'static str> {
        let kind = match self {
            Self::Unavailable(_) => 0,
            Self::Full(_) => 1,
            Self::TimedOut(_) => 2,
            Self::Conflict(_) => 3,
            Self::Failed(_) => 4,
            Self::UniqueViolation | Self::ForeignKeyViolation | Self::Other(_) | Self::Refused(_) => {
                return None
            }
        };
        Some(FAULT_KINDS[kind])
    }
}

/// Sorts a database error that diesel leaves as `Unknown`. diesel 2.3 keeps
/// the SQLSTATE to itself except for the eight codes it maps to kinds
/// (40001 is one); the rest is told apart by the primary message, which
/// PostgreSQL words in English unless `lc_messages` says otherwise, and
/// SQLite always (`sqlite3_errstr`). A message not recognised here is still
/// a fault (503), only without the retry or the precise detail.
fn classify_unknown(message: &str) -> DbError {
    let m = message.to_ascii_lowercase();
    let has = |needle: &str| m.contains(needle);
    let message = message.to_string();
    if has("deadlock detected") || has("database is locked") || has("database table is locked") {
        // PostgreSQL 40P01; SQLite BUSY/LOCKED past its busy timeout, which
        // rolled the statement back.
        DbError::Conflict(message)
    } else if has("statement timeout") || has("lock timeout") || has("could not obtain lock") {
        // 57014 query_canceled, 55P03 lock_not_available.
        DbError::TimedOut(message)
    } else if has("database or disk is full") || has("no space left on device") || has("disk quota") {
        // SQLITE_FULL; PostgreSQL 53100 disk_full (ENOSPC, EDQUOT).
        DbError::Full(message)
    } else if has("terminating connection") || has("the database system is") || has("server closed") {
        // 57P01 admin_shutdown, 57P03 cannot_connect_now.
        DbError::Unavailable(message)
    } else if has("prepared statement \"__diesel_stmt_") {
        // A transaction-mode pooler handed our connection's statements to
        // another server connection (or another client's to ours).
        DbError::Failed(format!(
            "{message} (a transaction-mode pooler such as PgBouncer? set WARRANT_DB_POOLER=transaction, \
             or pool_mode = session)"
        ))
    } else {
        DbError::Failed(message)
    }
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        use DatabaseErrorKind as Kind;
        match e {
            DieselError::DatabaseError(Kind::UniqueViolation, _) => Self::UniqueViolation,
            DieselError::DatabaseError(Kind::ForeignKeyViolation, _) => Self::ForeignKeyViolation,
            DieselError::DatabaseError(Kind::SerializationFailure, info) => {
                Self::Conflict(info.message().to_string())
            }
            DieselError::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, info) => {
                Self::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(Kind::ReadOnlyTransaction, info) => {
                // A failover left us on a standby.
                Self::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(_, info) => classify_unknown(info.message()),
            // A commit that failed: what matters is why the commit did.
            DieselError::RollbackErrorOnCommit { commit_error, .. } => Self::from(*commit_error),
            DieselError::BrokenTransactionManager => Self::Unavailable(e.to_string()),
            other => Self::Other(other.to_string()),
        }
    }
}

/// The async driver's errors (see `pg_reads`), sorted as diesel's are.
impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.as_db_error() {
            Some(db) if *db.code() == SqlState::T_R_SERIALIZATION_FAILURE => {
                Self::Conflict(db.message().into())
            }
            Some(db) if *db.code() == SqlState::READ_ONLY_SQL_TRANSACTION => {
                Self::Unavailable(db.message().into())
            }
            Some(db) => classify_unknown(db.message()),
            // No answer from the server: the connection failed as one.
            None => Self::Unavailable(with_cause(&e)),
        }
    }
}

/// An error's text with what caused it, which tokio-postgres keeps apart
/// ("error connecting to server: Connection refused").
pub(super) fn with_cause(e: &dyn std::error::Error) -> String {
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The database `DATABASE_URL` names cannot be opened (startup, the
/// command line): one line, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL: {0}")]
pub struct ConnectError(String);

impl ConnectError {
    /// libpq's messages span lines (a hint on the next, a blank one last):
    /// one line reads better after `warrant:` and in a log.
    pub(super) fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string().split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_told_apart_by_what_a_caller_can_do() {
        assert!(matches!(classify_unknown("deadlock detected"), DbError::Conflict(_)));
        assert!(matches!(classify_unknown("database is locked"), DbError::Conflict(_)));
        assert!(matches!(classify_unknown("canceling statement due to lock timeout"), DbError::TimedOut(_)));
        assert!(matches!(
            classify_unknown("canceling statement due to statement timeout"),
            DbError::TimedOut(_)
        ));
        assert!(matches!(classify_unknown("database or disk is full"), DbError::Full(_)));
        assert!(matches!(
            classify_unknown("could not extend file \"base/1/2\": No space left on device"),
            DbError::Full(_)
        ));
        assert!(matches!(
            classify_unknown("terminating connection due to administrator command"),
            DbError::Unavailable(_)
        ));
        let unknown = classify_unknown("relation \"users\" does not exist");
        assert_eq!(unknown.fault_kind(), Some("failed"));
        assert_eq!(DbError::Other("bad row".into()).fault_kind(), None);
    }
}
