//! `AuthUser` in a handler's signature is what makes a route protected: it
//! runs every token check before the handler body.
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};

use super::{AccessClaims, Tokens};
use crate::domain::{Actor, Role};
use crate::error::ApiError;

/// The authenticated caller, from a verified access token.
#[derive(Debug, Clone)]
pub struct AuthUser(pub AccessClaims);

impl AuthUser {
    pub fn id(&self) -> i64 {
        self.0.user_id
    }

    pub fn actor(&self) -> Actor {
        Actor { user_id: self.0.user_id, role: self.0.role }
    }
}

/// An authenticated caller whose token carries the admin role.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

/// The token of an `Authorization: Bearer` header. The scheme is
/// case-insensitive (RFC 7235); anything but Bearer counts as no token.
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req.headers().get(AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    let value = value.to_str().map_err(|_| ApiError::InvalidToken("malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(ApiError::MissingToken);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(ApiError::InvalidToken("malformed Authorization header"));
    }
    Ok(token)
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let token = bearer_token(req)?;
    let tokens = req
        .app_data::<web::Data<Tokens>>()
        .ok_or_else(|| ApiError::Internal("token verifier not configured".into()))?;
    let claims = tokens.verify(token)?;
    tracing::Span::current().record("user_id", claims.user_id);
    Ok(AuthUser(claims))
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|user| match user.0.role {
            Role::Admin => Ok(AdminUser(user)),
            Role::User => Err(ApiError::Forbidden("this route is for admins")),
        }))
    }
}
