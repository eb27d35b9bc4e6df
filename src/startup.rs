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
use crate::auth::KeySet;
use crate::background::{maintain, StoredKeys};
use crate::config::{Config, JwtConfig};
use crate::db::{Db, DbError};
use crate::http;
use crate::http::middleware::{body_deadline, head_as_get, request_span, REQUEST_ID_HEADER};
use crate::http::request::{json_config, not_found, path_config, query_config};
use crate::service::Readiness;

mod services;

pub use services::Services;

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
    #[error("{0}")]
    Mail(String),
    #[error("{0}")]
    Passkeys(String),
    #[error("WARRANT_BIND: cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
    maintenance: Maintenance,
    mailer: Option<crate::service::Mailer>,
    readiness: Readiness,
    shutdown_drain: Duration,
}

impl Application {
    /// Connects, migrates, loads keys and binds `config.bind` (port 0 picks a
    /// free port).
    pub fn build(config: Config) -> Result<Self, StartupError> {
        // Key files first: a wrong path must not leave a new database behind.
        if let JwtConfig::EdDsa { key_files: Some(files) } = &config.jwt {
            KeySet::from_files(files)?;
        }
        let db = Db::connect(&config.database_url, config.db_pool_size, config.db_timeout)?;
        let applied = db.migrate()?;
        let policy = config.session_policy();
        let built = Services::build(&config, &db)?;
        let prometheus = built.prometheus;
        let tokens = web::Data::from(built.tokens);
        let accounts = web::Data::new(built.accounts);
        let admin = web::Data::new(built.admin);
        let posts = web::Data::new(built.posts);
        let issuer = web::Data::new(http::Issuer(config.issuer_url()));
        let ready = built.readiness;
        let readiness = web::Data::new(ready.clone());
        let sessions = web::Data::new(built.sessions);
        let metrics = web::Data::new(built.metrics);
        let limiter = web::Data::new(built.limiter);
        let key_source = built.key_source;
        let mailer = built.mailer;

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
            built.revocations,
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
        let docs_url = config.docs_url.clone();
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
                .app_data(limiter.clone())
                .app_data(metrics.clone())
                .app_data(accounts.clone())
                .app_data(admin.clone())
                .app_data(posts.clone())
                .app_data(sessions.clone())
                .app_data(readiness.clone())
                .app_data(issuer.clone())
                .configure(|cfg| http::configure(cfg, docs_url.as_deref()))
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
        Ok(Self {
            server,
            addr,
            maintenance,
            mailer,
            readiness: ready,
            shutdown_drain: config.shutdown_drain,
        })
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
        let mailer = self.mailer.map(|mailer| actix_web::rt::spawn(mailer.run()));
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
        if let Some(mailer) = mailer {
            mailer.abort();
        }
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
