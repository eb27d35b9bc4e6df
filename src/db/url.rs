//! Which database `DATABASE_URL` names, and how it is shown in logs.

/// Which database a URL points at.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String, Pooler),
    /// A file path (`sqlite://` stripped).
    Sqlite(String),
}

/// What stands between us and PostgreSQL (`WARRANT_DB_POOLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// The server itself, or a pooler in session mode: a connection is ours
    /// from open to close, with its prepared statements and settings.
    #[default]
    None,
    /// A transaction-mode pooler (PgBouncer `pool_mode = transaction`): each
    /// transaction may run on another server connection, so nothing may
    /// outlive one — no named prepared statements, no session `SET`s.
    Transaction,
}

/// The backend in use, for log lines and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DatabaseUrl {
    /// `postgres://…`/`postgresql://…`, `sqlite://PATH`, or a plain path.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string(), Pooler::None));
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        if path.is_empty() || path.contains("://") {
            // Only the scheme: the rest may carry a password.
            let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
            return Err(format!("a {scheme}:// URL is neither postgres://… nor a SQLite path"));
        }
        if path == ":memory:" || path.contains("mode=memory") {
            // Every pooled connection would get its own empty database.
            return Err("an in-memory SQLite database cannot be shared by a pool; use a file".into());
        }
        Ok(Self::Sqlite(path.to_string()))
    }

    /// The same database, reached through `pooler` (PostgreSQL only).
    pub fn through(self, pooler: Pooler) -> Self {
        match self {
            Self::Postgres(url, _) => Self::Postgres(url, pooler),
            sqlite => sqlite,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(..) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The URL with any password replaced, for logs: in the user info and
    /// in a `password=` parameter (libpq accepts both).
    pub fn redacted(&self) -> String {
        let url = match self {
            Self::Sqlite(path) => return format!("sqlite://{path}"),
            Self::Postgres(url, _) => url,
        };
        let (base, params) = url.split_once('?').map_or((url.as_str(), None), |(b, p)| (b, Some(p)));
        let base = match (base.find("://"), base.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => match base[scheme + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &base[..scheme + 3], &base[at..]),
                None => base.to_string(),
            },
            _ => base.to_string(),
        };
        let Some(params) = params else { return base };
        let params: Vec<&str> = params
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => "password=***",
                _ => param,
            })
            .collect();
        format!("{base}?{}", params.join("&"))
    }
}

/// A PostgreSQL URL with libpq's `connect_timeout` added, unless it sets
/// its own: without one, connecting to a host that does not answer waits
/// for the operating system's TCP timeout (minutes), and every request
/// waiting on the pool waits with it.
pub(super) fn with_connect_timeout(url: &str, secs: u64) -> String {
    let params = url.split_once('?').map_or("", |(_, params)| params);
    if params.split('&').any(|param| param.split('=').next() == Some("connect_timeout")) {
        return url.to_string();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={secs}")
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_backend() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/w.db").unwrap(),
            DatabaseUrl::Sqlite("data/w.db".into())
        );
        assert_eq!(DatabaseUrl::parse("./warrant.db").unwrap(), DatabaseUrl::Sqlite("./warrant.db".into()));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse(":memory:").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }

    #[test]
    fn passwords_are_redacted_in_logs() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/warrant").unwrap();
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/warrant");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url = DatabaseUrl::parse("postgres://db/warrant?sslmode=require&password=s3cret").unwrap();
        assert_eq!(url.redacted(), "postgres://db/warrant?sslmode=require&password=***");
        let plain = DatabaseUrl::parse("postgresql://app@db/warrant?sslmode=disable").unwrap();
        assert_eq!(plain.redacted(), "postgresql://app@db/warrant?sslmode=disable");
    }

    #[test]
    fn a_connect_timeout_is_added_unless_the_url_has_one() {
        assert_eq!(with_connect_timeout("postgres://h/db", 2), "postgres://h/db?connect_timeout=2");
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=require", 2),
            "postgres://h/db?sslmode=require&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9", 2),
            "postgres://h/db?connect_timeout=9"
        );
    }

    #[test]
    fn an_unsupported_scheme_is_named_without_echoing_the_url() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/warrant").unwrap_err();
        assert!(err.contains("mysql://") && !err.contains("hunter2"), "{err}");
    }
}
