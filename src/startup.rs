//! Builds the application: database, keys, listener and server. `main` and
//! the tests share this path.
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};

use crate::auth::keys::KeyError;
use crate::auth::mfa::{MfaKey, MFA_KEY_SECRET_NAME};
use crate::auth::{KeySet, PasswordHasher, Revocations, Successors, SyncClock, Tokens, SYNC_INTERVAL};
use crate::config::{Config, JwtConfig};
use crate::db::{Db, DbError};
use crate::http::middleware::{body_deadline, head_as_get, request_span, REQUEST_ID_HEADER};
use crate::http::request::{json_config, not_found, path_config, query_config};
use crate::metrics::Metrics;
use crate::service::{Accounts, AccountsParts, Admin, Limiter, Posts, Readiness, Sessions};
use crate::{db, http};

/// Expired revocations and long-finished sessions are deleted this often
/// (every this many key reloads).
const DB_PRUNE_EVERY: u64 = 12;
/// Finished sessions (and their used refresh tokens) are kept this long.
const KEEP_FINISHED_SESSIONS: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// How long a graceful shutdown waits for in-flight requests.
const SHUTDOWN_GRACE_SECS: u64 = 20;

/// Browsers may call us from these origins. Bearer tokens, not cookies, so
/// no credentials mode (and never a wildcard). Preflights are answered here,
/// before routing and authentication. Without configured origins there is no
/// CORS layer at all: browsers then refuse cross-origin calls themselves.
fn cors(origins: &[String]) -> Cors {
    let cors = origins.iter().fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
    cors.allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER, header::HeaderName::from_static(REQUEST_ID_HEADER)])
        .max_age(600)
}

/// Headers every response carries unless it sets its own: JSON is never
/// sniffed as something else, and answers (personal ones above all) are not
/// stored by caches; the JWKS sets its own public `Cache-Control`.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"))
}

type Maintenance = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Connect(#[from] crate::db::ConnectError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::auth::HashError),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("WARRANT_BIND: cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
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

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    maintenance: Maintenance,
    readiness: Readiness,
    shutdown_drain: Duration,
}

impl Application {
    /// Connects, migrates, loads keys and binds `config.bind` (port 0 picks a
    /// free port).
    pub fn build(config: Config) -> Result<Self, StartupError> {
        let db = Db::connect(&config.database_url, config.db_pool_size, config.db_timeout)?;
        let applied = db.migrate()?;
        let policy = config.session_policy();
        let (keys, key_source) = KeySet::load(&config.jwt, &db, policy.revoked_for)?;
        let synced = std::sync::Arc::new(SyncClock::default());
        let (metrics, prometheus) =
            Metrics::new(&db, synced.clone()).map_err(|e| StartupError::Metrics(e.to_string()))?;
        let revocations = web::Data::new(Revocations::new(metrics.sessions_revoked.clone(), synced));
        revocations.load(&db)?;
        let tokens =
            web::Data::new(Tokens::new(keys, &config.issuer, &config.audience, config.access_ttl_secs));
        let hasher =
            web::Data::new(PasswordHasher::new(config.hash_concurrency, metrics.hashes_in_flight.clone())?);
        let sessions = Sessions::new(db.clone(), revocations.clone().into_inner(), policy);
        let successor_key = shared_secret(&db, Successors::SECRET_NAME, Successors::generate_key)?;
        let mfa_key = match &config.mfa_key {
            Some(key) => MfaKey::new(key.expose()),
            None => MfaKey::new(&shared_secret(&db, MFA_KEY_SECRET_NAME, MfaKey::generate)?),
        };
        let accounts = web::Data::new(Accounts::new(
            sessions.clone(),
            AccountsParts {
                tokens: tokens.clone().into_inner(),
                hasher: hasher.into_inner(),
                successors: std::sync::Arc::new(Successors::new(&successor_key)),
                mfa_key: std::sync::Arc::new(mfa_key),
                issuer: config.issuer.clone(),
                metrics: metrics.clone(),
            },
        ));
        let admin = web::Data::new(Admin::new(sessions.clone()));
        let posts = web::Data::new(Posts::new(db.clone()));
        let issuer = web::Data::new(http::Issuer(config.issuer_url()));
        let ready = Readiness::new(db.clone(), revocations.clone().into_inner());
        let readiness = web::Data::new(ready.clone());
        let sessions = web::Data::new(sessions);
        let metrics = web::Data::new(metrics);
        let limiter = web::Data::new(Limiter::new(
            config.rate_limit_per_min,
            config.trusted_proxies.clone(),
            db.clone(),
        ));

        let bind = config.bind.clone();
        let bind_error = move |source| StartupError::Bind { addr: bind.clone(), source };
        let listener = TcpListener::bind(&config.bind).map_err(&bind_error)?;
        let addr = listener.local_addr().map_err(&bind_error)?;
        tracing::info!(
            database = ?config.database_url,
            migrations_applied = applied,
            keys = key_source,
            "listening on http://{addr}"
        );

        let reload_keys = matches!(config.jwt, JwtConfig::EdDsa { key_files: None });
        let maintenance = Box::pin(maintain(
            db.clone(),
            revocations.clone().into_inner(),
            tokens.clone().into_inner(),
            limiter.clone().into_inner(),
            config.key_reload,
            reload_keys.then_some(StoredKeys {
                retire_after: policy.revoked_for,
                rotate_every: config.key_rotation,
            }),
        ));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pool_size = config.db_pool_size as usize;
        let cors_origins = config.cors_origins.clone();
        let body_timeout = config.body_timeout;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(Condition::new(!cors_origins.is_empty(), cors(&cors_origins)))
                .wrap(prometheus.clone())
                // Inside the request span, so logs show the method sent.
                .wrap(from_fn(head_as_get))
                .wrap(from_fn(move |req, next| body_deadline(body_timeout, req, next)))
                .wrap(from_fn(request_span))
                .wrap(security_headers())
                .app_data(json_config())
                .app_data(path_config())
                .app_data(query_config())
                .app_data(tokens.clone())
                .app_data(revocations.clone())
                .app_data(limiter.clone())
                .app_data(metrics.clone())
                .app_data(accounts.clone())
                .app_data(admin.clone())
                .app_data(posts.clone())
                .app_data(sessions.clone())
                .app_data(readiness.clone())
                .app_data(issuer.clone())
                .configure(http::configure)
                .default_service(web::to(not_found))
        })
        // Stopped by `run_until_stopped` on SIGTERM/SIGINT: it stops
        // accepting, lets in-flight requests finish (at most this long), then
        // returns so the pool closes and we exit 0.
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_GRACE_SECS)
        .workers(workers)
        // Queries wait for a pooled connection anyway, but each worker may
        // need every connection: with fewer threads, requests stuck on a
        // lock on one worker held its threads, and that worker's other
        // requests queued behind them for want of a thread, not of a
        // connection.
        .worker_max_blocking_threads(pool_size)
        .listen(listener)
        .map_err(&bind_error)?
        .run();
        Ok(Self { server, addr, maintenance, readiness: ready, shutdown_drain: config.shutdown_drain })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until SIGINT/SIGTERM, keeping the revocation list and keys in
    /// step with the database meanwhile. On the signal it first drains:
    /// `/readyz` answers 503 for `WARRANT_SHUTDOWN_DRAIN` while requests are
    /// still served, then the listener closes and in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let maintenance = actix_web::rt::spawn(self.maintenance);
        let handle = self.server.handle();
        let (readiness, drain) = (self.readiness, self.shutdown_drain);
        let stopper = actix_web::rt::spawn(async move {
            let signal = match termination().await {
                Ok(signal) => signal,
                Err(e) => return tracing::error!(error = %e, "cannot listen for SIGTERM"),
            };
            readiness.drain();
            tracing::info!(signal, drain_secs = drain.as_secs(), "shutting down: not ready, then draining");
            tokio::time::sleep(drain).await;
            handle.stop(true).await;
        });
        let result = self.server.await;
        stopper.abort();
        maintenance.abort();
        result
    }
}

/// The first SIGTERM or SIGINT, by name.
async fn termination() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// How an instance keeps keys that live in the database.
#[derive(Debug, Clone, Copy)]
struct StoredKeys {
    /// A key stops verifying this long after its successor took over.
    retire_after: chrono::TimeDelta,
    /// A new key is added once the newest has signed this long.
    rotate_every: Option<chrono::TimeDelta>,
}

/// Background upkeep: sync revocations every [`SYNC_INTERVAL`]; beside it,
/// reload (and, when due, rotate) keys kept in the database, forget expired
/// entries, and prune the database. Two loops, so that a slow prune or key
/// reload never delays a sync (a late one turns authenticated requests into
/// 503s, see [`Revocations::is_current`]).
async fn maintain(
    db: Db,
    revocations: std::sync::Arc<Revocations>,
    tokens: std::sync::Arc<Tokens>,
    limiter: std::sync::Arc<Limiter>,
    upkeep_every: Duration,
    stored_keys: Option<StoredKeys>,
) {
    let sync = async {
        let mut ticker = tokio::time::interval(SYNC_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            if let Err(e) = revocations.sync(&db).await {
                tracing::warn!(error = %e, "revocation sync failed; retrying");
            }
        }
    };
    let upkeep = async {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + upkeep_every, upkeep_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for tick in 1u64.. {
            ticker.tick().await;
            revocations.prune();
            tokens.prune_verified();
            limiter.shrink();
            if let Some(StoredKeys { retire_after, rotate_every }) = stored_keys {
                match KeySet::reload(&db, retire_after, rotate_every).await {
                    Ok(keys) => tokens.set_keys(keys),
                    Err(e) => tracing::warn!(error = %e, "key reload failed; keeping the current keys"),
                }
            }
            if tick % DB_PRUNE_EVERY == 0 {
                let pruned = db.write(|conn| {
                    db::sessions::prune(conn, KEEP_FINISHED_SESSIONS)?;
                    db::guesses::prune(conn, db::now())?;
                    db::rate_limits::prune(conn, chrono::Utc::now().timestamp_micros())
                });
                if let Err(e) = pruned.await {
                    tracing::warn!(error = %e, "pruning failed");
                }
            }
        }
    };
    tokio::join!(sync, upkeep);
}
