//! The one error type at the HTTP edge, rendered as RFC 9457 problem+json
//! with the contract's stable `code`. Internal detail is logged, never sent.
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

use crate::auth::{HashError, TokenError};
use crate::db::DbError;
use crate::service::ServiceError;

/// One failing field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every answer that is not a success: a use case's refusal or fault
/// (`Service`), or what the edge itself refuses before any use case runs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0}")]
    BadRequest(String),
    #[error("this route needs an Authorization: Bearer token")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error("the access token has expired")]
    TokenExpired,
    #[error("this route does not accept that method")]
    MethodNotAllowed { allow: String },
    #[error("the request body is over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("some fields are not valid")]
    Validation(Vec<FieldError>),
    /// The password was right; the login waits for a second factor (a
    /// login's outcome, sent as the contract's 401 problem).
    #[error("this account needs a second factor: send a code to /login/mfa with the mfa_token")]
    MfaRequired { mfa_token: String },
    /// Our bug at the edge (a missing app_data, a field parsed to nothing).
    #[error("internal error")]
    Internal(String),
}

/// The contract's table: status, `code` and title of every answer. A new
/// code is one line here (and its variant, whose message is the `detail`).
fn row(e: &ApiError) -> (StatusCode, &'static str, &'static str) {
    use ServiceError as E;
    use StatusCode as S;
    const UNAVAILABLE: (S, &str, &str) = (S::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable");
    const INTERNAL: (S, &str, &str) = (S::INTERNAL_SERVER_ERROR, "internal_error", "Internal server error");
    const INVALID_CODE: &str = "invalid_code";
    match e {
        ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad_request", "Malformed request"),
        ApiError::MissingToken => (S::UNAUTHORIZED, "missing_token", "Authentication required"),
        ApiError::InvalidToken(_) | ApiError::Service(E::UnknownSession) => {
            (S::UNAUTHORIZED, "invalid_token", "Invalid access token")
        }
        ApiError::TokenExpired => (S::UNAUTHORIZED, "token_expired", "Access token expired"),
        ApiError::Service(E::SessionEnded) => (S::UNAUTHORIZED, "token_revoked", "Session ended"),
        ApiError::Service(E::InvalidCredentials) => {
            (S::UNAUTHORIZED, "invalid_credentials", "Invalid credentials")
        }
        ApiError::Service(E::InvalidRefreshToken) => {
            (S::UNAUTHORIZED, "invalid_refresh_token", "Invalid refresh token")
        }
        ApiError::MfaRequired { .. } => (S::UNAUTHORIZED, "mfa_required", "Second factor required"),
        ApiError::Service(E::InvalidMfaToken) => (S::UNAUTHORIZED, "invalid_mfa_token", "Invalid MFA token"),
        // The login's code is its credential (401); a code confirming a
        // signed-in owner's change is a field that failed (422).
        ApiError::Service(E::LoginCodeRejected(_)) => (S::UNAUTHORIZED, INVALID_CODE, "Invalid code"),
        ApiError::Service(E::InvalidCode(_)) => (S::UNPROCESSABLE_ENTITY, INVALID_CODE, "Invalid code"),
        ApiError::Service(E::MfaAlreadyEnabled) => {
            (S::CONFLICT, "mfa_already_enabled", "Two-factor login already on")
        }
        ApiError::Service(E::Forbidden(_)) => (S::FORBIDDEN, "forbidden", "Forbidden"),
        ApiError::Service(E::NotFound(_)) => (S::NOT_FOUND, "not_found", "Not found"),
        ApiError::MethodNotAllowed { .. } => {
            (S::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed")
        }
        ApiError::Service(E::LastAdmin) => (S::CONFLICT, "last_admin", "Last admin"),
        ApiError::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large"),
        ApiError::UnsupportedMediaType => {
            (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type")
        }
        ApiError::Validation(_) => (S::UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed"),
        ApiError::Service(E::UsernameTaken) => (S::UNPROCESSABLE_ENTITY, "username_taken", "Username taken"),
        ApiError::Service(E::EmailTaken { at_signup: true }) => {
            (S::UNPROCESSABLE_ENTITY, "email_taken", "Email taken")
        }
        ApiError::Service(E::EmailTaken { at_signup: false }) => (S::CONFLICT, "email_taken", "Email taken"),
        ApiError::Service(E::InvalidLink) => (S::UNPROCESSABLE_ENTITY, "invalid_link", "Invalid link"),
        ApiError::Service(E::InvalidPasskey { at_login: true }) => {
            (S::UNAUTHORIZED, "invalid_passkey", "Invalid passkey")
        }
        ApiError::Service(E::InvalidPasskey { at_login: false }) => {
            (S::UNPROCESSABLE_ENTITY, "invalid_passkey", "Invalid passkey")
        }
        ApiError::Service(E::RateLimited { .. } | E::AccountThrottled { .. }) => {
            (S::TOO_MANY_REQUESTS, "rate_limited", "Too many requests")
        }
        ApiError::Service(
            E::NotSynced | E::ShuttingDown | E::MfaKey(_) | E::Hash(HashError::Busy) | E::Db(_),
        ) => match e {
            // Our bug, not the database's fault.
            ApiError::Service(E::Db(db)) if db.fault_kind().is_none() => INTERNAL,
            _ => UNAVAILABLE,
        },
        ApiError::Service(E::Hash(HashError::Failed(_)) | E::Signing(_)) | ApiError::Internal(_) => INTERNAL,
    }
}

/// The `detail` of a database fault: which kind, in words for the client;
/// nothing of the request was stored.
fn db_detail(e: &DbError) -> &'static str {
    match e {
        DbError::Full(_) => "the database's storage is full; nothing was stored; retry later",
        DbError::TimedOut(_) => {
            "the database did not answer within the time allowed; nothing was stored; retry shortly"
        }
        DbError::Conflict(_) => {
            "the database is busy with conflicting changes; nothing was stored; retry shortly"
        }
        DbError::Unavailable(_) => "the database cannot be reached; retry shortly",
        DbError::Failed(_) => "the database refused the request; nothing was stored; retry later",
        _ => "internal error",
    }
}

impl ApiError {
    /// The contract's machine-readable `code`.
    pub fn code(&self) -> &'static str {
        row(self).1
    }

    /// What the client reads: the variant's message, but for faults and
    /// bugs, whose causes go to the log only.
    fn detail(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Service(ServiceError::Db(e)) => db_detail(e).into(),
            Self::Service(ServiceError::Hash(HashError::Busy)) => {
                "too many passwords are being checked; retry shortly".into()
            }
            _ if row(self).0 == StatusCode::INTERNAL_SERVER_ERROR => "internal error".into(),
            _ => self.to_string().into(),
        }
    }

    /// A 422 for one field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }

    /// Logs what the client is not told: a fault's or a bug's cause, with
    /// its chain, inside the request span (so the line names the request).
    fn log_cause(&self) {
        let status = row(self).0;
        if !status.is_server_error() {
            return;
        }
        let mut cause = match self {
            Self::Service(e) => e.to_string(),
            Self::Internal(detail) => detail.clone(),
            other => other.to_string(),
        };
        let mut source = std::error::Error::source(self);
        // `Service` is transparent: its source is the service error's.
        if let Self::Service(e) = self {
            source = std::error::Error::source(e);
        }
        while let Some(next) = source {
            cause = format!("{cause}: {next}");
            source = next.source();
        }
        match self {
            Self::Service(ServiceError::Db(e))
                if e.fault_kind().is_some() && !matches!(e, DbError::Failed(_)) =>
            {
                tracing::warn!(error = %cause, "database fault");
            }
            Self::Service(ServiceError::Db(_)) => tracing::error!(error = %cause, "database fault"),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => tracing::warn!(error = %cause, "unavailable"),
            _ => tracing::error!(error = %cause, "internal error"),
        }
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
        row(self).0
    }

    fn error_response(&self) -> HttpResponse {
        self.log_cause();
        let (status, code, title) = row(self);
        let problem = Problem {
            type_: format!("urn:warrant:problem:{code}"),
            title: title.into(),
            status: status.as_u16(),
            detail: self.detail().into_owned(),
            code: code.into(),
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
            Self::InvalidToken(_)
            | Self::TokenExpired
            | Self::Service(ServiceError::SessionEnded | ServiceError::UnknownSession) => {
                let description = problem.detail.replace('"', "'");
                let value = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            Self::Service(
                ServiceError::RateLimited { retry_after_secs }
                | ServiceError::AccountThrottled { retry_after_secs },
            ) => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.json(problem)
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
