//! Passkeys: registered behind the password, listed, deleted, and used to
//! log in with no name typed. Every route here is 404 when passkeys are not
//! configured (`WARRANT_WEBAUTHN_RP_ID`).
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::domain::{ClientIp, PasskeyInfo, UserId};
use crate::http::client_ip::{client_details, Throttled};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AdminUser, AuthUser, Enabled, Passkeys};
use crate::http::request::Validator;
use crate::http::wire::TokenResponse;
use crate::service::{Accounts, PasskeyCeremony, ServiceError};

#[derive(Deserialize, ToSchema)]
pub struct PasskeyPasswordRequest {
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
}

/// A ceremony for the browser: `options` goes to `navigator.credentials`
/// (`PublicKeyCredential.parseCreationOptionsFromJSON` /
/// `parseRequestOptionsFromJSON` of `options.publicKey`), `ceremony` back
/// with its answer.
#[derive(Serialize, ToSchema)]
pub struct CeremonyResponse {
    ceremony: String,
    #[schema(value_type = Object)]
    options: serde_json::Value,
}

impl From<PasskeyCeremony> for CeremonyResponse {
    fn from(started: PasskeyCeremony) -> Self {
        Self { ceremony: started.ceremony, options: started.options }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewPasskeyRequest {
    #[schema(value_type = String, required = true)]
    ceremony: Option<String>,
    /// The browser's `PublicKeyCredential.toJSON()` (`RegistrationResponseJSON`).
    #[schema(value_type = Object, required = true)]
    credential: Option<serde_json::Value>,
    /// 1–64 characters; `Passkey N` when absent.
    #[schema(value_type = Option<String>, example = "Laptop")]
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PasskeyLoginRequest {
    #[schema(value_type = String, required = true)]
    ceremony: Option<String>,
    /// The browser's `PublicKeyCredential.toJSON()` (`AuthenticationResponseJSON`).
    #[schema(value_type = Object, required = true)]
    credential: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyResponse {
    id: i64,
    name: String,
    #[serde(serialize_with = "crate::http::wire::rfc3339")]
    created_at: chrono::DateTime<chrono::Utc>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<PasskeyInfo> for PasskeyResponse {
    fn from(passkey: PasskeyInfo) -> Self {
        Self {
            id: passkey.id,
            name: passkey.name,
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PasskeysResponse {
    items: Vec<PasskeyResponse>,
}

fn parse_name(raw: String) -> Result<String, String> {
    let len = raw.chars().count();
    if !(1..=64).contains(&len) || raw.trim() != raw || raw.chars().any(char::is_control) {
        return Err("must be 1 to 64 characters, with no surrounding spaces or control characters".into());
    }
    Ok(raw)
}

/// Start registering a passkey
///
/// Once the password is confirmed: `options.publicKey` asks for a
/// discoverable credential with user verification (ES256 among the
/// algorithms, attestation `none`), excluding the caller's passkeys.
#[utoipa::path(tag = "passkeys", request_body = PasskeyPasswordRequest, security(("bearer" = [])),
    responses((status = 200, description = "A registration ceremony", body = CeremonyResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/me/passkeys/registration")]
pub async fn start_passkey_registration(
    _: Enabled<Passkeys>,
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<PasskeyPasswordRequest>,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<CeremonyResponse>, ApiError> {
    let mut v = Validator::default();
    let password = v.required("password", body.into_inner().password, Ok);
    let password = v.finish(password)?;
    Ok(web::Json(accounts.start_passkey_registration(user.id(), password, ip).await?.into()))
}

/// Register a passkey
///
/// With the ceremony's id and the browser's answer; 422 `invalid_passkey`
/// when it does not verify (or the ceremony is unknown, used, expired or
/// another user's).
#[utoipa::path(tag = "passkeys", request_body = NewPasskeyRequest, security(("bearer" = [])),
    responses((status = 201, description = "Registered", body = PasskeyResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem)))]
#[post("/me/passkeys")]
pub async fn register_passkey(
    _: Enabled<Passkeys>,
    ip: ClientIp,
    user: AuthUser,
    body: web::Json<NewPasskeyRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let ceremony = v.required("ceremony", body.ceremony, Ok);
    let name = v.optional("name", body.name, parse_name);
    let (ceremony, name) = v.finish(ceremony.zip(name))?;
    let credential = body
        .credential
        .and_then(|c| serde_json::from_value::<RegisterPublicKeyCredential>(c).ok())
        .ok_or(ServiceError::InvalidPasskey { at_login: false })?;
    let created = accounts.finish_passkey_registration(user.id(), ceremony, credential, name, ip).await?;
    Ok(HttpResponse::Created().json(PasskeyResponse::from(created)))
}

/// The caller's passkeys
#[utoipa::path(tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, description = "Oldest first", body = PasskeysResponse),
        (status = 401, response = Problem), (status = 404, response = Problem)))]
#[get("/me/passkeys")]
pub async fn list_passkeys(
    _: Enabled<Passkeys>,
    user: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<PasskeysResponse>, ApiError> {
    let items = accounts.passkeys(user.id()).await?.into_iter().map(PasskeyResponse::from).collect();
    Ok(web::Json(PasskeysResponse { items }))
}

/// Delete one of the caller's passkeys
#[utoipa::path(tag = "passkeys", params(("id" = i64, Path, description = "Passkey id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 404, response = Problem)))]
#[delete("/me/passkeys/{id}")]
pub async fn delete_passkey(
    _: Enabled<Passkeys>,
    ip: ClientIp,
    user: AuthUser,
    id: web::Path<i64>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    accounts.delete_passkey(user.id(), id.into_inner(), user.id(), ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Start a passkey login
///
/// `options.publicKey` for `navigator.credentials.get`: no account named
/// (`allowCredentials` empty), user verification required. Counts toward
/// the `/login` limit.
#[utoipa::path(tag = "passkeys",
    responses((status = 200, description = "A login ceremony", body = CeremonyResponse),
        (status = 404, response = Problem), (status = 429, response = Problem)))]
#[post("/login/passkey/options")]
pub async fn passkey_login_options(
    _: Enabled<Passkeys>,
    _throttled: Throttled,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<CeremonyResponse>, ApiError> {
    Ok(web::Json(accounts.start_passkey_login().await?.into()))
}

/// Log in with a passkey
///
/// A session as for a password login, with `amr` `["hwk", "user"]` and no
/// second factor asked. 401 `invalid_passkey` for anything that does not
/// verify. Counts toward the `/login` limit.
#[utoipa::path(tag = "passkeys", request_body = PasskeyLoginRequest,
    responses((status = 200, description = "A new session's token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
        (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/login/passkey")]
pub async fn log_in_with_passkey(
    _: Enabled<Passkeys>,
    Throttled(ip): Throttled,
    req: HttpRequest,
    body: web::Json<PasskeyLoginRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let ceremony = v.required("ceremony", body.ceremony, Ok);
    let ceremony = v.finish(ceremony)?;
    let credential = body
        .credential
        .and_then(|c| serde_json::from_value::<PublicKeyCredential>(c).ok())
        .ok_or(ServiceError::InvalidPasskey { at_login: true })?;
    let pair = accounts.log_in_with_passkey(ceremony, credential, ip, client_details(&req, ip)).await?;
    Ok(TokenResponse::respond(pair, HttpResponse::Ok()))
}

/// A user's passkeys (admin)
#[utoipa::path(tag = "admin", params(("id" = i64, Path, description = "User id")), security(("bearer" = [])),
    responses((status = 200, description = "Oldest first", body = PasskeysResponse),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
#[get("/admin/users/{id}/passkeys")]
pub async fn list_user_passkeys(
    _: Enabled<Passkeys>,
    _admin: AdminUser,
    id: web::Path<i64>,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<PasskeysResponse>, ApiError> {
    let items =
        accounts.passkeys(UserId(id.into_inner())).await?.into_iter().map(PasskeyResponse::from).collect();
    Ok(web::Json(PasskeysResponse { items }))
}

/// Delete a user's passkey (admin)
#[utoipa::path(tag = "admin",
    params(("id" = i64, Path, description = "User id"), ("passkey_id" = i64, Path, description = "Passkey id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
#[delete("/admin/users/{id}/passkeys/{passkey_id}")]
pub async fn delete_user_passkey(
    _: Enabled<Passkeys>,
    ip: ClientIp,
    admin: AdminUser,
    path: web::Path<(i64, i64)>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let (user, passkey) = path.into_inner();
    accounts.delete_passkey(UserId(user), passkey, admin.0.id(), ip).await?;
    Ok(HttpResponse::NoContent().finish())
}
