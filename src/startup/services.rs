//! The services one instance runs, built from its configuration over its
//! database: the server's, and the services' unit tests'.
use std::sync::Arc;

use actix_web_prom::PrometheusMetrics;

use super::StartupError;
use crate::auth::mfa::{MfaKey, MFA_KEY_SECRET_NAME};
use crate::auth::{KeySet, LinkKey, PasswordHasher, Revocations, Successors, SyncClock, Tokens};
use crate::config::{Config, WebauthnConfig};
use crate::db::{self, Db, DbError};
use crate::metrics::Metrics;
use crate::service::{Accounts, AccountsParts, Admin, Limiter, Mailer, Posts, Readiness, Sessions};

pub struct Services {
    pub sessions: Sessions,
    pub accounts: Accounts,
    pub admin: Admin,
    pub posts: Posts,
    pub limiter: Limiter,
    pub readiness: Readiness,
    pub tokens: Arc<Tokens>,
    pub revocations: Arc<Revocations>,
    pub metrics: Metrics,
    pub prometheus: PrometheusMetrics,
    /// The outbox's sender, when mail is on.
    pub mailer: Option<Mailer>,
    /// Where the signing keys came from, for the startup log.
    pub key_source: &'static str,
}

impl Services {
    /// Loads keys, shared secrets and the ended sessions from `db` (migrated).
    pub fn build(config: &Config, db: &Db) -> Result<Self, StartupError> {
        let policy = config.session_policy();
        let (keys, key_source) = KeySet::load(&config.jwt, db, policy.revoked_for)?;
        let synced = Arc::new(SyncClock::default());
        let (metrics, prometheus) =
            Metrics::new(db, synced.clone()).map_err(|e| StartupError::Metrics(e.to_string()))?;
        let revocations = Arc::new(Revocations::new(metrics.sessions_revoked.clone(), synced));
        revocations.load(db)?;
        let tokens = Arc::new(Tokens::new(keys, &config.issuer, &config.audience, config.access_ttl_secs));
        let hasher = PasswordHasher::new(config.hash_concurrency, metrics.hashes_in_flight.clone())?;
        let sessions = Sessions::new(db.clone(), revocations.clone(), policy);
        let successor_key = shared_secret(db, Successors::SECRET_NAME, Successors::generate_key)?;
        let mfa_key = match &config.mfa_key {
            Some(key) => MfaKey::new(key.expose()),
            None => MfaKey::new(&shared_secret(db, MFA_KEY_SECRET_NAME, MfaKey::generate)?),
        };
        let links = Arc::new(LinkKey::new(&shared_secret(db, LinkKey::SECRET_NAME, LinkKey::generate_key)?));
        let mailer = match &config.mail {
            Some(mail) => Some(
                Mailer::new(mail, db.clone(), links.clone(), metrics.clone(), sessions.mail_wake())
                    .map_err(StartupError::Mail)?,
            ),
            None => None,
        };
        let accounts = Accounts::new(
            sessions.clone(),
            AccountsParts {
                tokens: tokens.clone(),
                hasher: Arc::new(hasher),
                successors: Arc::new(Successors::new(&successor_key)),
                mfa_key: Arc::new(mfa_key),
                issuer: config.issuer.clone(),
                metrics: metrics.clone(),
                links,
                reset_ttl: config.mail.as_ref().map(|mail| mail.reset_ttl),
                webauthn: config.webauthn.as_ref().map(relying_party).transpose()?.map(Arc::new),
            },
        );
        Ok(Self {
            admin: Admin::new(sessions.clone()),
            posts: Posts::new(db.clone()),
            readiness: Readiness::new(db.clone(), revocations.clone()),
            limiter: Limiter::new(config.rate_limit_per_min, config.trusted_proxies.clone(), db.clone()),
            sessions,
            accounts,
            mailer,
            tokens,
            revocations,
            metrics,
            prometheus,
            key_source,
        })
    }
}

/// The relying party passkeys are verified for.
fn relying_party(config: &WebauthnConfig) -> Result<webauthn_rs::Webauthn, StartupError> {
    let bad = |e: webauthn_rs::prelude::WebauthnError| {
        StartupError::Passkeys(format!(
            "WARRANT_WEBAUTHN_ORIGINS: not usable with WARRANT_WEBAUTHN_RP_ID: {e}"
        ))
    };
    let (first, others) =
        config.origins.split_first().ok_or_else(|| StartupError::Passkeys("no origin".into()))?;
    let mut builder =
        webauthn_rs::WebauthnBuilder::new(&config.rp_id, first).map_err(bad)?.rp_name(&config.rp_name);
    for origin in others {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(bad)
}

/// The secret every instance on the database shares under `name`, made by
/// whichever asks first. Replicas starting together: the one that lost the
/// race reads the winner's.
fn shared_secret(db: &Db, name: &'static str, generate: fn() -> String) -> Result<String, DbError> {
    let get = |conn: &mut db::DbConn| db::secrets::get_or_create(conn, name, generate);
    match db.write_blocking(get) {
        Err(DbError::UniqueViolation) => db.write_blocking(get),
        other => other,
    }
}
