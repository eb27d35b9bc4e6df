//! Liveness, readiness and the public keys.
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Tokens, JWKS_MAX_AGE_SECS};
use crate::http::error::{ApiError, Problem};
use crate::service::Readiness;

/// A health answer.
#[derive(Serialize, ToSchema)]
pub struct StatusResponse {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: the process is up
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "The process is up", body = StatusResponse)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<StatusResponse> {
    web::Json(StatusResponse { status: "ok" })
}

/// Readiness: the database answers and revocations are current
///
/// This instance knows every session ended more than a second ago (its
/// revocation sync keeps up).
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "Ready to serve", body = StatusResponse),
        (status = 503, response = Problem)))]
#[get("/readyz")]
pub async fn readyz(readiness: web::Data<Readiness>) -> Result<web::Json<StatusResponse>, ApiError> {
    readiness.check().await?;
    Ok(web::Json(StatusResponse { status: "ready" }))
}

/// The public keys that verify our tokens
///
/// An RFC 7517 JWK Set; empty under HS256.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "RFC 7517 JWK Set, cacheable for 600 s", body = Object,
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "alg": "EdDSA", "use": "sig"}]}))))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(tokens: web::Data<Tokens>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(JWKS_MAX_AGE_SECS as u32),
        ]))
        .json(tokens.keys().jwks())
}
