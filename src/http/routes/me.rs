//! The caller's own account: a new password, or no account at all.
use actix_web::{delete, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::Password;
use crate::http::client_ip::Throttled;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AuthUser;
use crate::http::request::Validator;
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
