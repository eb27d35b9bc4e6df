//! The caller's own account: its view, a new password or address, or no
//! account at all.
use actix_web::{delete, get, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Email, Password};
use crate::http::client_ip::{client_details, Throttled};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AuthUser, Enabled, Mail};
use crate::http::request::Validator;
use crate::http::wire::UserResponse;
use crate::service::Accounts;

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    current_password: Option<String>,
    /// Signup's rules: 8–128 characters, not one of the 10,000 most common.
    #[schema(value_type = String, required = true, example = "another horse, another battery")]
    new_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct DeleteMeRequest {
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
}

/// Change the caller's password
///
/// Ends every other session of the caller; this one goes on. Rule failures
/// (422) come before the password check (401); counts toward the same
/// per-client limit as `/login`.
#[utoipa::path(tag = "accounts", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "Changed; the caller's other sessions ended"),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
#[put("/me/password")]
pub async fn change_password(
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<ChangePasswordRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let current = v.required("current_password", body.current_password, Ok);
    let new = v.required("new_password", body.new_password, Password::parse);
    let (current, new) = v.finish(current.zip(new))?;
    let AuthUser(claims) = user;
    accounts.change_password(claims.user_id, claims.session_id, current, new, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete the caller's account
///
/// With their posts and sessions, once the password is confirmed. A wrong
/// password (401) comes before `last_admin` (409).
#[utoipa::path(tag = "accounts", request_body = DeleteMeRequest, security(("bearer" = [])),
    responses((status = 204, description = "Deleted, with every post and session"),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 409, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
#[delete("/me")]
pub async fn delete_me(
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<DeleteMeRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let password = v.required("password", body.into_inner().password, Ok);
    let password = v.finish(password)?;
    accounts.delete_me(user.id(), password, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's account, as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    #[serde(flatten)]
    user: UserResponse,
    /// The account's address (unverified until its link is opened), or null.
    #[schema(example = "alice@example.com")]
    email: Option<String>,
    email_verified: bool,
    /// A new address asked for with `PUT /me/email`, waiting for verification.
    pending_email: Option<String>,
    /// Whether two-factor login (TOTP) is on.
    totp: bool,
    /// Registered passkeys.
    passkeys: i64,
}

/// The caller's account
///
/// With its email, whether it is verified, an address waiting for
/// verification, TOTP and passkeys.
#[utoipa::path(tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller's account", body = MeResponse),
        (status = 401, response = Problem)))]
#[get("/me")]
pub async fn get_me(
    user: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<MeResponse>, ApiError> {
    let account = accounts.account(user.id()).await?;
    Ok(web::Json(MeResponse {
        user: account.user.into(),
        email: account.email.address,
        email_verified: account.email.verified,
        pending_email: account.email.pending,
        totp: account.totp,
        passkeys: account.passkeys,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
    /// 3–254 characters, one `@`.
    #[schema(value_type = String, required = true, example = "alice@example.org")]
    email: Option<String>,
}

/// Change the caller's email address
///
/// Mails a verification link to the new address; until it is opened the
/// account keeps its old `email` and shows the new one as `pending_email`.
/// 404 when mail is not configured. Rule failures (422) come before the
/// password check (401); counts toward the same per-client limit as
/// `/login`.
#[utoipa::path(tag = "accounts", request_body = ChangeEmailRequest, security(("bearer" = [])),
    responses((status = 202, description = "The verification mail is stored and will be sent"),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
#[put("/me/email")]
pub async fn change_email(
    _: Enabled<Mail>,
    Throttled(ip): Throttled,
    req: HttpRequest,
    user: AuthUser,
    body: web::Json<ChangeEmailRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let password = v.required("password", body.password, Ok);
    let email = v.required("email", body.email, |raw| Email::parse(&raw));
    let (password, email) = v.finish(password.zip(email))?;
    accounts.change_email(user.id(), password, email, ip, client_details(&req, ip)).await?;
    Ok(HttpResponse::Accepted().finish())
}
