//! Liveness, readiness and the public keys.
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Tokens;
use crate::db::Db;
use crate::error::ApiError;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers.
pub async fn readyz(db: web::Data<Db>) -> Result<HttpResponse, ApiError> {
    db.run(crate::db::ping).await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::Unavailable
    })?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}

/// How long verifiers may cache the JWK Set; a rotated key is published this
/// long before it signs.
pub const JWKS_MAX_AGE_SECS: i64 = 600;

/// The JWK Set other services verify our tokens with (RFC 7517).
pub async fn jwks(tokens: web::Data<Tokens>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(JWKS_MAX_AGE_SECS as u32),
        ]))
        .json(tokens.keys().jwks())
}
