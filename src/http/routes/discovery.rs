//! The issuer's discovery document (OpenID Connect Discovery 1.0 and its
//! RFC 8414 twin): what a resource server's one line of configuration
//! (Spring's `issuer-uri`, ASP.NET's `Authority`) starts from.
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Tokens, JWKS_MAX_AGE_SECS};
use crate::http::error::{ApiError, Problem};
use crate::service::ServiceError;

/// The issuer, when `WARRANT_ISSUER` is a URL (checked at startup; the
/// discovery document is served only then), exactly as tokens carry it.
#[derive(Debug, Clone)]
pub struct Issuer(pub Option<String>);

/// An authorization server's metadata, as much of it as warrant has.
#[derive(Serialize, ToSchema)]
pub struct DiscoveryResponse {
    #[schema(example = "https://auth.example.com")]
    issuer: String,
    #[schema(example = "https://auth.example.com/.well-known/jwks.json")]
    jwks_uri: String,
    #[schema(example = "https://auth.example.com/revoke")]
    revocation_endpoint: String,
    /// Clients revoke without authenticating (RFC 7009 public clients).
    revocation_endpoint_auth_methods_supported: [&'static str; 1],
    /// Access tokens' `alg`.
    id_token_signing_alg_values_supported: [&'static str; 1],
    subject_types_supported: [&'static str; 1],
    /// None: there is no authorization endpoint (tokens come from `/login`).
    response_types_supported: [&'static str; 0],
}

/// The issuer's metadata
///
/// Served when `WARRANT_ISSUER` is an `http(s)` URL; every URL in it is
/// under the issuer. Also at `/.well-known/oauth-authorization-server`.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "OpenID Connect Discovery / RFC 8414 metadata", body = DiscoveryResponse),
        (status = 404, response = Problem)))]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(
    issuer: web::Data<Issuer>,
    tokens: web::Data<Tokens>,
) -> Result<HttpResponse, ApiError> {
    metadata(&issuer, &tokens)
}

/// The one document both discovery routes serve.
fn metadata(issuer: &Issuer, tokens: &Tokens) -> Result<HttpResponse, ApiError> {
    let Some(issuer) = &issuer.0 else {
        return Err(ServiceError::NotFound("discovery needs WARRANT_ISSUER to be the service's URL").into());
    };
    let base = issuer.trim_end_matches('/');
    let document = DiscoveryResponse {
        issuer: issuer.clone(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        revocation_endpoint: format!("{base}/revoke"),
        revocation_endpoint_auth_methods_supported: ["none"],
        id_token_signing_alg_values_supported: [tokens.keys().algorithm_name()],
        subject_types_supported: ["public"],
        response_types_supported: [],
    };
    Ok(HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(JWKS_MAX_AGE_SECS as u32),
        ]))
        .json(document))
}

/// The issuer's metadata (RFC 8414)
///
/// The same document as `/.well-known/openid-configuration`.
#[utoipa::path(tag = "operations",
    responses((status = 200, description = "RFC 8414 metadata", body = DiscoveryResponse),
        (status = 404, response = Problem)))]
#[get("/.well-known/oauth-authorization-server")]
pub async fn oauth_authorization_server(
    issuer: web::Data<Issuer>,
    tokens: web::Data<Tokens>,
) -> Result<HttpResponse, ApiError> {
    metadata(&issuer, &tokens)
}
