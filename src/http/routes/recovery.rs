//! Links mailed to the account: verifying an address, and resetting a
//! forgotten password. Every route here is 404 when mail is not configured.
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::{Email, Password};
use crate::http::client_ip::{client_details, Throttled};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Enabled, Mail};
use crate::http::request::Validator;
use crate::service::Accounts;

#[derive(Deserialize, ToSchema)]
pub struct LinkRequest {
    /// The `token` of the mailed link.
    #[schema(value_type = String, required = true)]
    token: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[schema(value_type = String, required = true, example = "alice@example.com")]
    email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    /// The `token` of the mailed link.
    #[schema(value_type = String, required = true)]
    token: Option<String>,
    /// Signup's rules: 8–128 characters, not one of the 10,000 most common.
    #[schema(value_type = String, required = true, example = "another horse, another battery")]
    new_password: Option<String>,
}

/// Verify an email address
///
/// With the token of the link mailed to it: the address becomes the
/// account's verified `email`. 422 `invalid_link` when the link is unknown,
/// used, expired or superseded; 409 `email_taken` when another account
/// verified the address first.
#[utoipa::path(tag = "accounts", request_body = LinkRequest,
    responses((status = 204, description = "Verified"),
        (status = 400, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem)))]
#[post("/email/verify")]
pub async fn verify_email(
    _: Enabled<Mail>,
    ip: crate::domain::ClientIp,
    body: web::Json<LinkRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let token = v.required("token", body.into_inner().token, Ok);
    let token = v.finish(token)?;
    accounts.verify_email(&token, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a password reset link
///
/// Always 202 with an empty body, for unknown, unverified and known
/// addresses alike. A reset link is mailed only to an account whose
/// verified `email` this is, at most 3 an hour. Counts toward the same
/// per-client limit as `/login`.
#[utoipa::path(tag = "accounts", request_body = ForgotPasswordRequest,
    responses((status = 202, description = "Accepted (whether or not a mail goes out)"),
        (status = 400, response = Problem), (status = 404, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/password/forgot")]
pub async fn forgot_password(
    _: Enabled<Mail>,
    Throttled(ip): Throttled,
    req: HttpRequest,
    body: web::Json<ForgotPasswordRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let email = v.required("email", body.into_inner().email, |raw| Email::parse(&raw));
    let email = v.finish(email)?;
    accounts.forgot_password(email, ip, client_details(&req, ip)).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Reset the password with a mailed link
///
/// Sets the new password (signup's rules: a 422 leaves the link usable) and
/// ends every session of the account; the link is single-use. TOTP stays
/// on. 422 `invalid_link` when the link is unknown, used, expired or
/// voided by a password change. Counts toward the same per-client limit as
/// `/login`.
#[utoipa::path(tag = "accounts", request_body = ResetPasswordRequest,
    responses((status = 204, description = "The password is reset; every session of the account ended"),
        (status = 400, response = Problem), (status = 404, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/password/reset")]
pub async fn reset_password(
    _: Enabled<Mail>,
    Throttled(ip): Throttled,
    body: web::Json<ResetPasswordRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let token = v.required("token", body.token, Ok);
    let new = v.required("new_password", body.new_password, Password::parse);
    let (token, new) = v.finish(token.zip(new))?;
    accounts.reset_password(&token, new, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}
