//! `POST /revoke`, in the manner of RFC 7009: for a client that must end its
//! session without a usable access token (it expired, or was lost).
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::client_ip::Throttled;
use crate::http::error::{ApiError, Problem};
use crate::http::request::{Validator, MAX_BODY_BYTES};
use crate::service::Accounts;

/// The token to revoke. Form-encoded as RFC 7009 has it
/// (`token=…&token_type_hint=…`), or as JSON.
#[derive(Deserialize, ToSchema)]
pub struct RevokeRequest {
    /// A refresh token or an access token.
    #[schema(value_type = String, required = true)]
    token: Option<String>,
    /// Ignored: either kind of token is recognised.
    #[schema(value_type = Option<String>, example = "refresh_token")]
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// The `token` of a form-encoded or JSON body.
fn token_of(req: &HttpRequest, body: &[u8]) -> Result<Option<String>, ApiError> {
    let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/x-www-form-urlencoded" {
        return Ok(url::form_urlencoded::parse(body)
            .find(|(key, _)| key == "token")
            .map(|(_, v)| v.into_owned()));
    }
    if essence == "application/json" || essence.ends_with("+json") {
        let request: RevokeRequest = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("the body must be a JSON object with string fields: {e}"))
        })?;
        return Ok(request.token);
    }
    Err(ApiError::UnsupportedMediaType)
}

/// Revoke a token
///
/// Ends the session of a refresh or an access token. Answers 200 with an
/// empty body whether or not the token was valid (RFC 7009 §2.2); counts
/// toward the same per-client limit as `/refresh`.
#[utoipa::path(tag = "accounts",
    request_body(content((RevokeRequest = "application/x-www-form-urlencoded"), (RevokeRequest = "application/json"))),
    responses((status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, response = Problem), (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/revoke")]
pub async fn revoke(
    Throttled(ip): Throttled,
    req: HttpRequest,
    payload: web::Payload,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = payload
        .to_bytes_limited(MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES })?
        // The body deadline's own message names the limit.
        .map_err(|e| ApiError::BadRequest(format!("could not read the body: {e}")))?;
    let mut v = Validator::default();
    let token = v.required("token", token_of(&req, &body)?, Ok);
    accounts.revoke(&v.finish(token)?, ip).await?;
    Ok(HttpResponse::Ok().finish())
}
