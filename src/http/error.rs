//! The one error type at the HTTP edge, rendered as RFC 9457 problem+json
//! with the contract's stable `code`. Internal detail is logged, never sent.
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

use super::request::MAX_BODY_BYTES;
use crate::auth::{HashError, TokenError};
use crate::db::DbError;
use crate::service::ServiceError;

/// One failing field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("this route needs an Authorization: Bearer token")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the session of this token has ended")]
    TokenRevoked,
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("this route does not accept that method")]
    MethodNotAllowed { allow: &'static str },
    #[error("that would leave no admin")]
    LastAdmin,
    #[error("the request body is over {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("some fields are not valid")]
    Validation(Vec<FieldError>),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("too many requests from this address; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The account's budget of wrong guesses is spent (for this network).
    #[error("too many wrong attempts for this account; retry in {retry_after_secs} s")]
    AccountThrottled { retry_after_secs: u64 },
    #[error("unknown, expired or revoked refresh token")]
    InvalidRefreshToken,
    /// The password was right; the login waits for a second factor.
    #[error("this account needs a second factor: send a code to /login/mfa with the mfa_token")]
    MfaRequired { mfa_token: String },
    #[error("the mfa_token is unknown, expired, used, or out of attempts; log in again")]
    InvalidMfaToken,
    /// A wrong code where the code is the credential (`/login/mfa`).
    #[error("{0}")]
    LoginCodeRejected(&'static str),
    /// A wrong code where a code is re-checked (enrolment, turning it off).
    #[error("{0}")]
    InvalidCode(&'static str),
    #[error("two-factor login is already on")]
    MfaAlreadyEnabled,
    /// Says why, in words for the client: database unreachable, storage
    /// full, busy.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The contract's table, one row per variant: status, `code`, title.
    /// A new code is one line here.
    fn row(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::BadRequest(_) => (S::BAD_REQUEST, "bad_request", "Malformed request"),
            Self::MissingToken => (S::UNAUTHORIZED, "missing_token", "Authentication required"),
            Self::InvalidToken(_) => (S::UNAUTHORIZED, "invalid_token", "Invalid access token"),
            Self::TokenExpired => (S::UNAUTHORIZED, "token_expired", "Access token expired"),
            Self::TokenRevoked => (S::UNAUTHORIZED, "token_revoked", "Session ended"),
            Self::InvalidCredentials => (S::UNAUTHORIZED, "invalid_credentials", "Invalid credentials"),
            Self::InvalidRefreshToken => (S::UNAUTHORIZED, "invalid_refresh_token", "Invalid refresh token"),
            Self::MfaRequired { .. } => (S::UNAUTHORIZED, "mfa_required", "Second factor required"),
            Self::InvalidMfaToken => (S::UNAUTHORIZED, "invalid_mfa_token", "Invalid MFA token"),
            Self::LoginCodeRejected(_) => (S::UNAUTHORIZED, "invalid_code", "Invalid code"),
            Self::InvalidCode(_) => (S::UNPROCESSABLE_ENTITY, "invalid_code", "Invalid code"),
            Self::MfaAlreadyEnabled => (S::CONFLICT, "mfa_already_enabled", "Two-factor login already on"),
            Self::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound(_) => (S::NOT_FOUND, "not_found", "Not found"),
            Self::MethodNotAllowed { .. } => {
                (S::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed")
            }
            Self::LastAdmin => (S::CONFLICT, "last_admin", "Last admin"),
            Self::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large"),
            Self::UnsupportedMediaType => {
                (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type")
            }
            Self::Validation(_) => (S::UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed"),
            Self::UsernameTaken => (S::UNPROCESSABLE_ENTITY, "username_taken", "Username taken"),
            Self::RateLimited { .. } | Self::AccountThrottled { .. } => {
                (S::TOO_MANY_REQUESTS, "rate_limited", "Too many requests")
            }
            Self::Unavailable(_) => (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error"),
        }
    }

    /// The contract's machine-readable `code`.
    pub fn code(&self) -> &'static str {
        self.row().1
    }

    /// A 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }
}

/// RFC 9457 problem details, as every error is sent.
#[derive(Serialize, ToSchema, ToResponse)]
#[response(
    description = "Problem details (RFC 9457); `code` is the stable machine-readable reason",
    content_type = "application/problem+json"
)]
#[schema(example = json!({"type": "urn:warrant:problem:validation_failed", "title": "Validation failed",
    "status": 422, "detail": "some fields are not valid", "code": "validation_failed",
    "errors": [{"field": "username", "message": "must be 3 to 32 characters long"}]}))]
pub struct Problem {
    /// `urn:warrant:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine-readable reason: `validation_failed`, `token_revoked`, `unavailable`, …
    /// (the contract's table; the README lists every code).
    pub code: String,
    /// Every failing field (validation errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// With `mfa_required` only: send it with a code to `POST /login/mfa`
    /// (single use, 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.row().0
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            // Logged inside the request span, so the line carries the request id.
            tracing::error!(error = %detail, "internal error");
        }
        let status = self.status_code();
        let problem = Problem {
            type_: format!("urn:warrant:problem:{}", self.code()),
            title: self.row().2.into(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().into(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            mfa_token: match self {
                Self::MfaRequired { mfa_token } => Some(mfa_token.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            Self::MissingToken
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken
            | Self::MfaRequired { .. }
            | Self::InvalidMfaToken
            | Self::LoginCodeRejected(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::InvalidToken(_) | Self::TokenExpired | Self::TokenRevoked => {
                let description = self.to_string().replace('"', "'");
                let value = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            Self::RateLimited { retry_after_secs } | Self::AccountThrottled { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(problem)
    }
}

/// The `detail` of a 503 from an instance that cannot tell whether a
/// session ended elsewhere.
pub const NOT_SYNCED: &str = "this instance cannot read which sessions have ended; retry shortly";

/// The `detail` of a 503 whose cause is the database.
pub const DB_UNREACHABLE: &str = "the database cannot be reached; retry shortly";

impl From<DbError> for ApiError {
    /// Every database fault is a 503 that says which kind; nothing of the
    /// request was stored. The log line carries the database's own words.
    fn from(e: DbError) -> Self {
        let detail = match &e {
            DbError::Full(_) => "the database's storage is full; nothing was stored; retry later",
            DbError::TimedOut(_) => {
                "the database did not answer within the time allowed; nothing was stored; retry shortly"
            }
            DbError::Conflict(_) => {
                "the database is busy with conflicting changes; nothing was stored; retry shortly"
            }
            DbError::Unavailable(_) => DB_UNREACHABLE,
            DbError::Failed(_) => "the database refused the request; nothing was stored; retry later",
            DbError::UniqueViolation | DbError::ForeignKeyViolation | DbError::Other(_) => {
                return Self::Internal(e.to_string())
            }
        };
        match e {
            DbError::Failed(_) => tracing::error!(error = %e, "database fault"),
            _ => tracing::warn!(error = %e, "database fault"),
        }
        Self::Unavailable(detail)
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Unavailable("too many passwords are being checked; retry shortly"),
            HashError::Failed(detail) => Self::Internal(detail),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidCredentials => Self::InvalidCredentials,
            ServiceError::InvalidRefreshToken => Self::InvalidRefreshToken,
            ServiceError::SessionEnded => Self::TokenRevoked,
            ServiceError::UnknownSession => Self::InvalidToken("unknown session"),
            ServiceError::UsernameTaken => Self::UsernameTaken,
            ServiceError::NotFound(detail) => Self::NotFound(detail),
            ServiceError::Forbidden(detail) => Self::Forbidden(detail),
            ServiceError::LastAdmin => Self::LastAdmin,
            ServiceError::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            ServiceError::AccountThrottled { retry_after_secs } => {
                Self::AccountThrottled { retry_after_secs }
            }
            ServiceError::NotSynced => Self::Unavailable(NOT_SYNCED),
            ServiceError::ShuttingDown => Self::Unavailable("this instance is shutting down"),
            ServiceError::MfaRequired(mfa_token) => Self::MfaRequired { mfa_token },
            ServiceError::InvalidMfaToken => Self::InvalidMfaToken,
            ServiceError::InvalidCode(detail) => Self::InvalidCode(detail),
            ServiceError::MfaAlreadyEnabled => Self::MfaAlreadyEnabled,
            ServiceError::MfaKey(e) => {
                tracing::error!(error = %e, "two-factor secret unreadable");
                Self::Unavailable(
                    "this instance cannot read two-factor secrets (its WARRANT_MFA_KEY); retry later",
                )
            }
            ServiceError::Db(e) => e.into(),
            ServiceError::Hash(e) => e.into(),
            ServiceError::Signing(detail) => Self::Internal(detail),
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => Self::TokenExpired,
            TokenError::Invalid(reason) => Self::InvalidToken(reason),
        }
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}
