//! Signup, login, refresh, logout and the caller's own account.
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::domain::{ClientIp, Email, Password, Username};
use crate::http::client_ip::{client_details, Throttled};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AuthUser, SessionToken};
use crate::http::request::Validator;
use crate::http::wire::{TokenResponse, UserResponse};
use crate::service::{Accounts, Login, Sessions};

// Wire types keep plain optional strings: a wrong JSON type is a 400 from
// the extractor, a missing field or a broken rule a 422 from us.

/// A username and password.
#[derive(Deserialize, ToSchema)]
pub struct CredentialsRequest {
    /// 3–32 characters of `A-Z a-z 0-9 _ . -`; case-insensitively unique.
    #[schema(value_type = String, required = true, example = "alice")]
    username: Option<String>,
    /// 8–128 characters; not one of the 10,000 most common passwords.
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
}

/// A new account: credentials and, when mail is on, an address.
#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    /// 3–32 characters of `A-Z a-z 0-9 _ . -`; case-insensitively unique.
    #[schema(value_type = String, required = true, example = "alice")]
    username: Option<String>,
    /// 8–128 characters; not one of the 10,000 most common passwords.
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
    /// Optional, only when the server sends mail: a verification link goes
    /// to it. 3–254 characters, one `@`.
    #[schema(value_type = Option<String>, example = "alice@example.com")]
    email: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the last token response.
    #[schema(value_type = String, required = true)]
    refresh_token: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogoutQuery {
    /// `all` ends every session of the user; `session` (the default) only this one.
    #[param(value_type = Option<String>, example = "all")]
    scope: Option<String>,
}

/// Create an account and its first session
///
/// The account's role is always `user`. With `email` (mail on), the address
/// is the account's, unverified, and a verification link is mailed to it.
#[utoipa::path(tag = "accounts", request_body = SignupRequest,
    responses((status = 201, description = "Account created; first token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 413, response = Problem), (status = 415, response = Problem),
        (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/signup")]
pub async fn signup(
    Throttled(ip): Throttled,
    req: HttpRequest,
    body: web::Json<SignupRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let username = v.required("username", body.username, |raw| Username::parse(&raw));
    let password = v.required("password", body.password, Password::parse);
    let email = v.optional("email", body.email, |raw| match accounts.mail_on() {
        true => Email::parse(&raw),
        false => Err("cannot be given: mail is not configured on this server".into()),
    });
    let ((username, password), email) = v.finish(username.zip(password).zip(email))?;
    let pair = accounts.sign_up(username, password, email, ip, client_details(&req, ip)).await?;
    Ok(TokenResponse::respond(pair, HttpResponse::Created()))
}

/// Log in: a new session
///
/// An unknown name, a name that breaks the rules and a wrong password all
/// cost one argon2 verify and get the same answer. For an account with TOTP
/// on, the right password answers 401 `mfa_required` with an `mfa_token`:
/// the login ends at `POST /login/mfa`.
#[utoipa::path(tag = "accounts", request_body = CredentialsRequest,
    responses((status = 200, description = "A new session's token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/login")]
pub async fn login(
    Throttled(ip): Throttled,
    req: HttpRequest,
    body: web::Json<CredentialsRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let username = v.required("username", body.username, Ok);
    let password = v.required("password", body.password, Ok);
    let (username, password) = v.finish(username.zip(password))?;
    match accounts.log_in(&username, password, ip, client_details(&req, ip)).await? {
        Login::Started(pair) => Ok(TokenResponse::respond(pair, HttpResponse::Ok())),
        Login::SecondFactorDue { mfa_token } => Err(ApiError::MfaRequired { mfa_token }),
    }
}

/// Trade a refresh token for a new token pair
///
/// The refresh token rotates; one that was already used ends its whole
/// session.
#[utoipa::path(tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, description = "The rotated token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/refresh")]
pub async fn refresh(
    Throttled(ip): Throttled,
    body: web::Json<RefreshRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let presented = v.required("refresh_token", body.into_inner().refresh_token, Ok);
    let pair = accounts.refresh(&v.finish(presented)?, ip).await?;
    Ok(TokenResponse::respond(pair, HttpResponse::Ok()))
}

/// End this session, or every session of the user
///
/// Idempotent: a token whose session already ended still gets 204 for its
/// own session (but 401 for `scope=all`).
#[utoipa::path(tag = "accounts", params(LogoutQuery), security(("bearer" = [])),
    responses((status = 204, description = "Session(s) ended"),
        (status = 401, response = Problem), (status = 422, response = Problem)))]
#[delete("/logout")]
pub async fn logout(
    SessionToken(claims): SessionToken,
    query: web::Query<LogoutQuery>,
    ip: ClientIp,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, ApiError> {
    let mut v = Validator::default();
    let all = v.optional("scope", query.into_inner().scope, |scope| match scope.as_str() {
        "all" => Ok(true),
        "session" => Ok(false),
        _ => Err("must be \"all\" or \"session\"".to_string()),
    });
    let all = v.finish(all)?.unwrap_or(false);
    sessions.log_out(claims.user_id, claims.session_id, all, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The account the token belongs to
#[utoipa::path(tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The caller's account", body = UserResponse),
        (status = 401, response = Problem)))]
#[get("/check_session")]
pub async fn check_session(
    user: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<UserResponse>, ApiError> {
    Ok(web::Json(accounts.me(user.id()).await?.into()))
}
