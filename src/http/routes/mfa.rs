//! Two-factor login (TOTP): the caller's enrolment and its management, and
//! the login's second step.
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::mfa::{qr_svg, TotpSecret};
use crate::http::client_ip::{client_details, Throttled};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AuthUser;
use crate::http::request::Validator;
use crate::http::wire::TokenResponse;
use crate::service::{Accounts, Enrolment};

#[derive(Deserialize, ToSchema)]
pub struct PasswordRequest {
    /// The caller's current password.
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// The 6-digit code the authenticator app shows now.
    #[schema(value_type = String, required = true, example = "492039")]
    code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordAndCodeRequest {
    #[schema(value_type = String, required = true, example = "correct horse battery")]
    password: Option<String>,
    /// A current TOTP code, or one of the recovery codes.
    #[schema(value_type = String, required = true, example = "492039")]
    code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginCodeRequest {
    /// The `mfa_token` of the `mfa_required` answer to `POST /login`.
    #[schema(value_type = String, required = true)]
    mfa_token: Option<String>,
    /// A TOTP code (6 digits) or a recovery code (`xxxx-xxxx-xxxx-xxxx`).
    #[schema(value_type = String, required = true, example = "492039")]
    code: Option<String>,
}

/// What an authenticator app needs: shown once, at enrolment.
#[derive(Serialize, ToSchema)]
#[schema(example = enrolment_example)]
pub struct EnrolmentResponse {
    /// The TOTP secret, base32, for typing into the app.
    secret: String,
    /// `otpauth://totp/ISSUER:USERNAME?secret=…&issuer=ISSUER`.
    otpauth_uri: String,
    /// The URI as a QR code: a standalone SVG document, for scanning.
    qr_svg: String,
}

impl From<Enrolment> for EnrolmentResponse {
    fn from(e: Enrolment) -> Self {
        Self { secret: e.secret, otpauth_uri: e.otpauth_uri, qr_svg: e.qr_svg }
    }
}

/// The docs page's example: a real enrolment of a fixed secret.
fn enrolment_example() -> serde_json::Value {
    let secret = TotpSecret::example();
    let uri = secret.otpauth_uri("warrant", "alice");
    serde_json::json!({"secret": secret.base32(), "qr_svg": qr_svg(&uri), "otpauth_uri": uri})
}

/// One-time recovery codes, shown this once; each logs in once in place
/// of a TOTP code.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    #[schema(example = json!(["k2md-q7xa-pz4f-9wnc", "…"]))]
    recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MfaStatusResponse {
    /// Whether logins need a TOTP code.
    totp: bool,
    /// Recovery codes not yet used.
    recovery_codes_left: i64,
}

/// Start a TOTP enrolment
///
/// Answers the secret, its `otpauth://` URI and a QR code of it. Not on
/// until confirmed with a code; an unconfirmed enrolment expires in 10
/// minutes, and a new one replaces it. Counts toward the `/login` limit.
#[utoipa::path(tag = "two-factor", request_body = PasswordRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "Enrolment started", body = EnrolmentResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 409, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
#[post("/me/mfa/totp")]
pub async fn enrol_totp(
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<PasswordRequest>,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<EnrolmentResponse>, ApiError> {
    let mut v = Validator::default();
    let password = v.required("password", body.into_inner().password, Ok);
    let password = v.finish(password)?;
    Ok(web::Json(accounts.enrol_totp(user.id(), password, ip).await?.into()))
}

/// Turn TOTP on
///
/// With a code from the app, which proves it holds the secret. Answers ten
/// one-time recovery codes, shown this once and stored only as hashes.
/// Ends every other session of the caller: one stolen before would
/// otherwise outlive the second factor.
#[utoipa::path(tag = "two-factor", request_body = CodeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "TOTP is on", body = RecoveryCodesResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 409, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
#[post("/me/mfa/totp/confirm")]
pub async fn confirm_totp(
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<CodeRequest>,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<RecoveryCodesResponse>, ApiError> {
    let mut v = Validator::default();
    let code = v.required("code", body.into_inner().code, Ok);
    let code = v.finish(code)?;
    let AuthUser(claims) = user;
    let recovery_codes = accounts.confirm_totp(claims.user_id, claims.session_id, &code, ip).await?;
    Ok(web::Json(RecoveryCodesResponse { recovery_codes }))
}

/// The caller's two-factor login
#[utoipa::path(tag = "two-factor", security(("bearer" = [])),
    responses((status = 200, description = "What is on", body = MfaStatusResponse),
        (status = 401, response = Problem)))]
#[get("/me/mfa")]
pub async fn mfa_status(
    user: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<MfaStatusResponse>, ApiError> {
    let status = accounts.mfa_status(user.id()).await?;
    Ok(web::Json(MfaStatusResponse { totp: status.totp, recovery_codes_left: status.recovery_codes_left }))
}

/// Turn TOTP off
///
/// Needs the password and a current code (or a recovery code); ends every
/// other session of the caller. A wrong password is 401, then a wrong code
/// 422 `invalid_code` (wrong codes spend the account's second-factor
/// budget: 429 once spent); 404 when TOTP is not on.
#[utoipa::path(tag = "two-factor", request_body = PasswordAndCodeRequest,
    security(("bearer" = [])),
    responses((status = 204, description = "TOTP is off; the caller's other sessions ended"),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
#[delete("/me/mfa/totp")]
pub async fn turn_off_totp(
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<PasswordAndCodeRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let password = v.required("password", body.password, Ok);
    let code = v.required("code", body.code, Ok);
    let (password, code) = v.finish(password.zip(code))?;
    let AuthUser(claims) = user;
    accounts.turn_off_totp(claims.user_id, claims.session_id, password, &code, ip).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new set of recovery codes
///
/// Needs the password and a current TOTP code (or a recovery code): a
/// wrong password is 401, then a wrong code 422 `invalid_code`, and wrong
/// codes spend the account's second-factor budget (429 once spent). The
/// old set stops working. 404 when TOTP is not on.
#[utoipa::path(tag = "two-factor", request_body = PasswordAndCodeRequest,
    security(("bearer" = [])),
    responses((status = 200, description = "The new codes, shown this once", body = RecoveryCodesResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 404, response = Problem),
        (status = 413, response = Problem), (status = 415, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
#[post("/me/mfa/recovery-codes")]
pub async fn renew_recovery_codes(
    Throttled(ip): Throttled,
    user: AuthUser,
    body: web::Json<PasswordAndCodeRequest>,
    accounts: web::Data<Accounts>,
) -> Result<web::Json<RecoveryCodesResponse>, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let password = v.required("password", body.password, Ok);
    let code = v.required("code", body.code, Ok);
    let (password, code) = v.finish(password.zip(code))?;
    let recovery_codes = accounts.renew_recovery_codes(user.id(), password, &code, ip).await?;
    Ok(web::Json(RecoveryCodesResponse { recovery_codes }))
}

/// Log in, second step: a TOTP or recovery code
///
/// For the `mfa_token` that `POST /login` answered with `mfa_required`. A
/// code is accepted once; five wrong codes, or five minutes, end the
/// `mfa_token` (`invalid_mfa_token`: log in again). Counts toward the
/// `/login` limit. The access token's `amr` is `["pwd", "otp"]`.
#[utoipa::path(tag = "accounts", request_body = LoginCodeRequest,
    responses((status = 200, description = "A new session's token pair", body = TokenResponse),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 413, response = Problem),
        (status = 415, response = Problem), (status = 422, response = Problem), (status = 429, response = Problem)))]
#[post("/login/mfa")]
pub async fn login_mfa(
    Throttled(ip): Throttled,
    req: HttpRequest,
    body: web::Json<LoginCodeRequest>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut v = Validator::default();
    let mfa_token = v.required("mfa_token", body.mfa_token, Ok);
    let code = v.required("code", body.code, Ok);
    let (mfa_token, code) = v.finish(mfa_token.zip(code))?;
    let pair = accounts.log_in_with_code(&mfa_token, &code, ip, client_details(&req, ip)).await?;
    Ok(TokenResponse::respond(pair, HttpResponse::Ok()))
}
