//! `AuthUser` in a handler's signature is what makes a route protected: it
//! runs every token check before the handler body.
use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderValue, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};

use super::ApiError;
use crate::auth::{AccessClaims, Tokens};
use crate::domain::{Actor, Role, UserId};
use crate::service::ServiceError;

/// The authenticated caller, from a verified access token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub AccessClaims);

impl AuthUser {
    pub fn id(&self) -> UserId {
        self.0.user_id
    }

    pub fn actor(&self) -> Actor {
        Actor { user_id: self.0.user_id, role: self.0.role }
    }
}

/// A verified access token whose session may already have ended: for
/// logout, which must stay idempotent.
#[derive(Debug, Clone)]
pub struct SessionToken(pub AccessClaims);

/// An authenticated caller whose token carries the admin role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    parse_bearer(req.headers().get_all(AUTHORIZATION))
}

/// The token of the `Authorization` header `values`, for `Bearer`. The
/// scheme is case-insensitive (RFC 7235); anything but Bearer counts as no
/// token. A second `Authorization` header makes the request malformed: a
/// proxy reading one and this service the other would disagree on the
/// caller.
pub fn parse_bearer<'a>(mut values: impl Iterator<Item = &'a HeaderValue>) -> Result<&'a str, ApiError> {
    let value = values.next().ok_or(ApiError::MissingToken)?;
    if values.next().is_some() {
        return Err(ApiError::InvalidToken("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| ApiError::InvalidToken("malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(ApiError::MissingToken);
    }
    // `to_str` admitted only visible ASCII, spaces and tabs: two memchr
    // scans replace a per-character Unicode whitespace test.
    let token = token.trim_matches([' ', '\t']);
    if token.is_empty() || token.contains(' ') || token.contains('\t') {
        return Err(ApiError::InvalidToken("malformed Authorization header"));
    }
    Ok(token)
}

fn app_data<T: 'static>(req: &HttpRequest) -> Result<&T, ApiError> {
    req.app_data::<web::Data<T>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| ApiError::Internal(format!("{} not configured", std::any::type_name::<T>())))
}

/// Signature, algorithm, `typ`, `iss`, `aud`, `exp`, `nbf`.
fn verify(req: &HttpRequest) -> Result<AccessClaims, ApiError> {
    let claims = app_data::<Tokens>(req)?.verify(bearer_token(req)?)?;
    tracing::Span::current().record("user_id", claims.user_id.0);
    Ok(claims)
}

/// The benchmark-only build: the first token's claims, read once without
/// any check, stand for every request, so the baseline pays nothing for auth
/// (the bench uses one token per scenario).
#[cfg(feature = "bench-skip-auth")]
fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    static FIRST: std::sync::OnceLock<AccessClaims> = std::sync::OnceLock::new();
    if let Some(claims) = FIRST.get() {
        return Ok(AuthUser(claims.clone()));
    }
    let claims = app_data::<Tokens>(req)?.decode_unchecked(bearer_token(req)?)?;
    Ok(AuthUser(FIRST.get_or_init(|| claims).clone()))
}

impl FromRequest for SessionToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(verify(req).map(SessionToken))
    }
}

type Checked<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// Everything [`verify`] checks, and that the token's session is alive
/// (`Sessions::check_alive`, the one answer to that).
#[cfg(not(feature = "bench-skip-auth"))]
fn authenticated(req: &HttpRequest) -> Checked<AuthUser> {
    let claims = verify(req);
    // The `Data`'s one reference count, not a clone of the pool's many.
    let sessions = req
        .app_data::<web::Data<crate::service::Sessions>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("Sessions not configured".into()));
    Box::pin(async move {
        let (claims, sessions) = (claims?, sessions?);
        sessions.check_alive(&claims.session_id, claims.user_id).await?;
        Ok(AuthUser(claims))
    })
}

#[cfg(feature = "bench-skip-auth")]
fn authenticated(req: &HttpRequest) -> Checked<AuthUser> {
    let user = authenticate(req);
    Box::pin(async move { user })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Checked<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authenticated(req)
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Checked<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = authenticated(req);
        Box::pin(async move {
            let user = user.await?;
            match user.0.role {
                Role::Admin => Ok(AdminUser(user)),
                Role::User => Err(ServiceError::Forbidden("this route is for admins").into()),
            }
        })
    }
}

/// An optional feature's routes answer 404 while it is off.
pub trait Feature {
    /// The 404's detail.
    const OFF: &'static str;
    fn on(accounts: &crate::service::Accounts) -> bool;
}

/// Mail: `WARRANT_SMTP_URL`.
pub struct Mail;

impl Feature for Mail {
    const OFF: &'static str = "mail is not configured on this server";
    fn on(accounts: &crate::service::Accounts) -> bool {
        accounts.mail_on()
    }
}

/// Passkeys: `WARRANT_WEBAUTHN_RP_ID`.
pub struct Passkeys;

impl Feature for Passkeys {
    const OFF: &'static str = "passkeys are not configured on this server";
    fn on(accounts: &crate::service::Accounts) -> bool {
        accounts.passkeys_on()
    }
}

/// First in an optional feature's handler: 404 before the body is read
/// when the feature is off.
pub struct Enabled<F>(std::marker::PhantomData<F>);

impl<F: Feature> FromRequest for Enabled<F> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let on = req.app_data::<web::Data<crate::service::Accounts>>().is_some_and(|a| F::on(a));
        ready(match on {
            true => Ok(Self(std::marker::PhantomData)),
            false => Err(ServiceError::NotFound(F::OFF).into()),
        })
    }
}
