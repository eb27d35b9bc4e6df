//! Builds the application: database, keys, listener and server. `main` and
//! the tests share this path.
use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::auth::keys::KeyError;
use crate::auth::{KeySet, PasswordHasher, Tokens};
use crate::config::{Config, JwtConfig};
use crate::db::{Db, DbError};
use crate::error::{json_config, not_found, path_config, query_config};
use crate::{routes, telemetry};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("password hasher: {0}")]
    Hasher(#[from] crate::auth::HashError),
    #[error("WARRANT_BIND: cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// A bound, ready-to-run server.
pub struct Application {
    server: Server,
    addr: SocketAddr,
}

impl Application {
    /// Connects, migrates, loads keys and binds `config.bind` (port 0 picks a
    /// free port).
    pub fn build(config: Config) -> Result<Self, StartupError> {
        let db = Db::connect(&config.database_url, config.db_pool_size)?;
        let applied = db.migrate()?;
        let keys = KeySet::load(&config.jwt, &db)?;
        let key_source = match &config.jwt {
            JwtConfig::Hs256 { .. } => "HS256 secret",
            JwtConfig::EdDsa { key_files: Some(_) } => "EdDSA keys from WARRANT_JWT_KEY_FILE",
            JwtConfig::EdDsa { key_files: None } => "EdDSA keys from the database",
        };
        let tokens =
            web::Data::new(Tokens::new(keys, &config.issuer, &config.audience, config.access_ttl_secs));
        let hasher = web::Data::new(PasswordHasher::new(config.hash_concurrency)?);

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

        let db = web::Data::new(db);
        let config = web::Data::new(config);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(telemetry::request_span))
                .app_data(json_config())
                .app_data(path_config())
                .app_data(query_config())
                .app_data(db.clone())
                .app_data(tokens.clone())
                .app_data(hasher.clone())
                .app_data(config.clone())
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .listen(listener)
        .map_err(&bind_error)?
        .run();
        Ok(Self { server, addr })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
