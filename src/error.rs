//! The one error type at the HTTP edge, rendered as RFC 9457 problem+json
//! with the contract's stable `code`. Internal detail is logged, never sent.
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::{ToResponse, ToSchema};

use crate::auth::{HashError, TokenError};
use crate::db::DbError;

/// Largest request body we read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    #[error("unknown, expired or revoked refresh token")]
    InvalidRefreshToken,
    /// Says why, in words for the client: database unreachable, storage
    /// full, busy.
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The contract's machine-readable `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::MissingToken => "missing_token",
            Self::InvalidToken(_) => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::LastAdmin => "last_admin",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::UsernameTaken => "username_taken",
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Malformed request",
            Self::MissingToken => "Authentication required",
            Self::InvalidToken(_) => "Invalid access token",
            Self::TokenExpired => "Access token expired",
            Self::TokenRevoked => "Session ended",
            Self::InvalidCredentials => "Invalid credentials",
            Self::Forbidden(_) => "Forbidden",
            Self::NotFound(_) => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::LastAdmin => "Last admin",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Validation(_) => "Validation failed",
            Self::UsernameTaken => "Username taken",
            Self::RateLimited { .. } => "Too many requests",
            Self::InvalidRefreshToken => "Invalid refresh token",
            Self::Unavailable(_) => "Service unavailable",
            Self::Internal(_) => "Internal server error",
        }
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
    /// One of the contract's codes: `bad_request`, `missing_token`, `invalid_token`, `token_expired`,
    /// `token_revoked`, `invalid_credentials`, `invalid_refresh_token`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `last_admin`, `payload_too_large`, `unsupported_media_type`,
    /// `validation_failed`, `username_taken`, `rate_limited`, `unavailable`.
    pub code: String,
    /// Every failing field (validation errors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MissingToken | Self::InvalidToken(_) | Self::TokenExpired | Self::TokenRevoked => {
                StatusCode::UNAUTHORIZED
            }
            Self::InvalidCredentials | Self::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::LastAdmin => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::UsernameTaken => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            // Logged inside the request span, so the line carries the request id.
            tracing::error!(error = %detail, "internal error");
        }
        let status = self.status_code();
        let problem = Problem {
            type_: format!("urn:warrant:problem:{}", self.code()),
            title: self.title().into(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code().into(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            Self::MissingToken | Self::InvalidCredentials | Self::InvalidRefreshToken => {
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
            Self::RateLimited { retry_after_secs } => {
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

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Expired => Self::TokenExpired,
            TokenError::Invalid(reason) => Self::InvalidToken(reason),
        }
    }
}

/// Collects every failing field of a request before answering 422.
#[derive(Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// Parses a required field; missing or `null` is an error naming it.
    pub fn required<T>(
        &mut self,
        field: &str,
        value: Option<String>,
        parse: impl FnOnce(String) -> Result<T, String>,
    ) -> Option<T> {
        match value {
            None => self.fail(field, "is required"),
            Some(raw) => self.optional(field, Some(raw), parse).flatten(),
        }
    }

    /// Parses an optional field: `Some(None)` when absent.
    pub fn optional<T>(
        &mut self,
        field: &str,
        value: Option<String>,
        parse: impl FnOnce(String) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match value.map(parse).transpose() {
            Ok(parsed) => Some(parsed),
            Err(message) => self.fail(field, message),
        }
    }

    fn fail<T>(&mut self, field: &str, message: impl Into<String>) -> Option<T> {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
        None
    }

    /// The parsed `values` (zip several with `Option::zip`) when no field
    /// failed; otherwise a 422 listing every failure.
    pub fn finish<T>(self, values: Option<T>) -> Result<T, ApiError> {
        match values {
            Some(values) if self.errors.is_empty() => Ok(values),
            _ if self.errors.is_empty() => Err(ApiError::Internal("a field parsed to nothing".into())),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

/// JSON bodies: at most 64 KiB, a JSON content type, and every rejection as
/// the contract's problem.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .content_type(|mime| mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        .error_handler(|err, _req: &HttpRequest| {
            match err {
                JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                    ApiError::PayloadTooLarge
                }
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                // The body deadline's own message names the limit.
                JsonPayloadError::Payload(PayloadError::Io(e))
                    if e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    ApiError::BadRequest(e.to_string())
                }
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::BadRequest(format!("the body must be a JSON object with string fields: {e}"))
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
                }
                other => ApiError::BadRequest(format!("could not read the body: {other}")),
            }
            .into()
        })
}

/// Path parameters are ids: anything unparsable names no resource.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_err: PathError, _req| ApiError::NotFound("no such resource").into())
}

/// Query strings that do not even decode are a 422 on the query as a whole.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::invalid_field("query", format!("could not be read: {err}")).into()
    })
}

/// The answer for any path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no route matches this path")
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}
