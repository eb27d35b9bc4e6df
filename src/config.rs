//! Typed configuration, read once from the environment. A bad value stops
//! startup with a one-line message naming its variable; nothing falls back
//! silently.
use std::fmt;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeDelta;

use crate::db::{Backend, DatabaseUrl, Pooler};
use crate::domain::{SessionPolicy, TrustedProxies};

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub bind: String,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    /// A rotated refresh token presented again within this many seconds gets
    /// the same successor (parallel tabs, retries); 0 turns it off.
    pub refresh_reuse_interval_secs: i64,
    pub session_max_age_secs: i64,
    /// Reverse proxies in front that append to `X-Forwarded-For`, by count
    /// or by network (none: forwarding headers are ignored).
    pub trusted_proxies: TrustedProxies,
    pub issuer: String,
    pub audience: String,
    pub jwt: JwtConfig,
    /// Seals TOTP secrets at rest; `None`: a key kept in the database.
    pub mfa_key: Option<Secret>,
    /// `None`: mail is off (`WARRANT_SMTP_URL` unset).
    pub mail: Option<MailConfig>,
    /// `None`: passkeys are off (`WARRANT_WEBAUTHN_RP_ID` unset).
    pub webauthn: Option<WebauthnConfig>,
    /// Where the docs page sends readers for the guides (`WARRANT_DOCS_URL`).
    pub docs_url: Option<String>,
    pub rate_limit_per_min: u32,
    /// Live sessions a user may hold; a login past it ends their oldest.
    pub max_sessions_per_user: u32,
    /// Keys in the database are rotated once the newest has signed this
    /// long (`None`: only by `warrant rotate-key`).
    pub key_rotation: Option<TimeDelta>,
    pub cors_origins: Vec<String>,
    pub log: LogConfig,
    /// Password hashes computed at once; more wait their turn off the workers.
    pub hash_concurrency: usize,
    pub db_pool_size: u32,
    /// The longest any statement, lock or connection wait may take before
    /// a request is answered 503.
    pub db_timeout: Duration,
    /// A request body must arrive whole within this long.
    pub body_timeout: Duration,
    /// On SIGTERM, `/readyz` answers 503 this long, while requests are
    /// still served, before the listener closes: a balancer's health check
    /// takes the instance out first, and no request meets a closed port.
    pub shutdown_drain: Duration,
    /// Keys in the database are re-read (and expired entries of in-memory
    /// caches dropped) this often: far inside the 600 s a rotated key is
    /// published before it signs. Not an environment variable; tests
    /// shorten it.
    pub key_reload: Duration,
}

/// How access tokens are signed.
#[derive(Debug, Clone)]
pub enum JwtConfig {
    /// Ed25519 keys from PEM files (first signs), or from the database when `None`.
    EdDsa {
        key_files: Option<Vec<PathBuf>>,
    },
    Hs256 {
        secret: Secret,
    },
}

/// Logging filter and format.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub filter: String,
    pub json: bool,
}

/// A secret value whose `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A configuration value that cannot be used, with the variable it came from.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

/// The most reverse proxies `WARRANT_TRUST_PROXY` may declare.
const MAX_TRUSTED_PROXIES: usize = 10;

/// The shortest `WARRANT_MFA_KEY` accepted: 256 bits of base64 is 44.
const MIN_MFA_KEY_BYTES: usize = 32;

/// The smallest HS256 secret we accept (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let jwt = match env.get("WARRANT_JWT_ALG")?.as_deref().unwrap_or("EdDSA") {
            "EdDSA" => JwtConfig::EdDsa {
                key_files: env
                    .get("WARRANT_JWT_KEY_FILE")?
                    .map(|files| files.split(',').map(|f| PathBuf::from(f.trim())).collect()),
            },
            "HS256" => {
                if env.get("WARRANT_JWT_KEY_FILE")?.is_some() {
                    return Err(invalid(
                        "WARRANT_JWT_KEY_FILE",
                        "is for EdDSA; unset it or set WARRANT_JWT_ALG=EdDSA",
                    ));
                }
                let secret = env
                    .get("WARRANT_JWT_SECRET")?
                    .ok_or_else(|| invalid("WARRANT_JWT_SECRET", "is required when WARRANT_JWT_ALG=HS256"))?;
                if secret.len() < MIN_HS256_SECRET_BYTES {
                    return Err(invalid(
                        "WARRANT_JWT_SECRET",
                        format!("must be at least {MIN_HS256_SECRET_BYTES} bytes"),
                    ));
                }
                JwtConfig::Hs256 { secret: Secret(secret) }
            }
            other => {
                return Err(invalid("WARRANT_JWT_ALG", format!("must be EdDSA or HS256, not {other:?}")))
            }
        };

        let bind = env.get("WARRANT_BIND")?.unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.to_socket_addrs().map(|mut a| a.next().is_none()).unwrap_or(true) {
            return Err(invalid("WARRANT_BIND", format!("{bind:?} is not a host:port address")));
        }

        let database_url = env.get("DATABASE_URL")?.unwrap_or_else(|| "./warrant.db".into());
        let log_json = match env.get("WARRANT_LOG_FORMAT")?.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(invalid("WARRANT_LOG_FORMAT", format!("must be text or json, not {other:?}")))
            }
        };
        let log_filter = env.get("WARRANT_LOG")?.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
            return Err(invalid("WARRANT_LOG", format!("{log_filter:?} is not a log filter")));
        }
        let cors_origins = match env.get("WARRANT_CORS_ORIGINS")? {
            None => Vec::new(),
            Some(list) => parse_origins(&list)?,
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let database_url = DatabaseUrl::parse(&database_url).map_err(|m| invalid("DATABASE_URL", m))?;
        let database_url = match env.get("WARRANT_DB_POOLER")?.as_deref() {
            None | Some("none" | "session") => database_url,
            Some("transaction") if database_url.backend() == Backend::Postgres => {
                database_url.through(Pooler::Transaction)
            }
            Some("transaction") => return Err(invalid("WARRANT_DB_POOLER", "is for PostgreSQL")),
            Some(other) => {
                return Err(invalid(
                    "WARRANT_DB_POOLER",
                    format!("must be none, session or transaction, not {other:?}"),
                ))
            }
        };
        // SQLite works on our own CPUs: connections beyond the core count only
        // add thread switches (measured: a list costs a third more CPU at 8 than
        // at 2 on two cores). PostgreSQL connections mostly wait on the network.
        let default_pool = match database_url.backend() {
            Backend::Sqlite => cores.max(2) as u32,
            Backend::Postgres => 8,
        };

        let mfa_key = match env.get("WARRANT_MFA_KEY")? {
            Some(key) if key.len() < MIN_MFA_KEY_BYTES => {
                return Err(invalid(
                    "WARRANT_MFA_KEY",
                    format!("must be at least {MIN_MFA_KEY_BYTES} bytes (e.g. `openssl rand -base64 32`)"),
                ))
            }
            key => key.map(Secret),
        };

        let issuer = parse_issuer(env.get("WARRANT_ISSUER")?.unwrap_or_else(|| "warrant".into()))?;
        let issuer_host = url::Url::parse(&issuer).ok().and_then(|u| u.host_str().map(str::to_owned));
        let mail = mail::read(&env, issuer_host.as_deref())?;
        let webauthn = webauthn::read(&env)?;
        let docs_url = env.get("WARRANT_DOCS_URL")?.map(parse_docs_url).transpose()?;
        Ok(Self {
            database_url,
            bind,
            mfa_key,
            access_ttl_secs: env.number("WARRANT_ACCESS_TTL", 900, 1..=86_400)?,
            refresh_ttl_secs: env.number("WARRANT_REFRESH_TTL", 1_209_600, 60..=31_536_000)?,
            refresh_reuse_interval_secs: env.number("WARRANT_REFRESH_REUSE_INTERVAL", 10, 0..=300)?,
            session_max_age_secs: env.number("WARRANT_SESSION_MAX_AGE", 2_592_000, 60..=31_536_000)?,
            max_sessions_per_user: env.number("WARRANT_MAX_SESSIONS", 100, 1..=10_000)?,
            key_rotation: match env.number("WARRANT_KEY_ROTATION_DAYS", 90, 0..=3650)? {
                0 => None,
                days => Some(TimeDelta::days(days)),
            },
            trusted_proxies: match env.get("WARRANT_TRUST_PROXY")? {
                None => TrustedProxies::None,
                Some(raw) => TrustedProxies::parse(&raw, MAX_TRUSTED_PROXIES)
                    .map_err(|why| invalid("WARRANT_TRUST_PROXY", why))?,
            },
            issuer,
            mail,
            webauthn,
            docs_url,
            audience: env.get("WARRANT_AUDIENCE")?.unwrap_or_else(|| "warrant".into()),
            jwt,
            rate_limit_per_min: env.number("WARRANT_RATE_LIMIT_PER_MIN", 30, 0..=1_000_000)?,
            cors_origins,
            log: LogConfig { filter: log_filter, json: log_json },
            hash_concurrency: env.number("WARRANT_HASH_CONCURRENCY", cores, 1..=256)?,
            db_pool_size: env.number("WARRANT_DB_POOL_SIZE", default_pool, 1..=256)?,
            db_timeout: Duration::from_secs(env.number("WARRANT_DB_TIMEOUT", 5, 1..=600)?),
            body_timeout: Duration::from_secs(env.number("WARRANT_BODY_TIMEOUT", 30, 1..=3600)?),
            shutdown_drain: Duration::from_secs(env.number("WARRANT_SHUTDOWN_DRAIN", 0, 0..=300)?),
            key_reload: Duration::from_secs(5),
        })
    }
}

/// The longest `WARRANT_ISSUER`: it is shown in authenticator apps, and
/// must fit a QR code with the rest of an `otpauth://` URI.
const MAX_ISSUER_CHARS: usize = 255;

impl Config {
    /// The issuer, when it is a URL: discovery is served then.
    pub fn issuer_url(&self) -> Option<String> {
        self.issuer.contains("://").then(|| self.issuer.clone())
    }

    /// Session lifetimes.
    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy::new(
            self.access_ttl_secs,
            self.refresh_ttl_secs,
            self.session_max_age_secs,
            self.max_sessions_per_user,
            self.refresh_reuse_interval_secs,
        )
    }
}

mod env;
mod mail;
#[cfg(test)]
mod tests;
mod webauthn;

use env::{parse_docs_url, parse_issuer, parse_origins, Env};
pub use mail::{MailConfig, SmtpServer, SmtpTls};
pub use webauthn::WebauthnConfig;
