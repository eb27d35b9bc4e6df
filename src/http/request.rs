//! Reading a request: the body and query extractors' configuration, every
//! rejection routed into the contract's problems, and the collector of
//! failing fields.
use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{web, HttpRequest};

use super::error::{ApiError, FieldError};
use crate::service::ServiceError;

/// Largest request body we read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
                    ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }
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
    web::PathConfig::default().error_handler(|_err: PathError, _req| {
        ApiError::from(ServiceError::NotFound("no such resource")).into()
    })
}

/// Query strings that do not even decode are a 422 on the query as a whole.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::invalid_field("query", format!("could not be read: {err}")).into()
    })
}

/// The answer for any path no route matches.
pub async fn not_found() -> ApiError {
    ServiceError::NotFound("no route matches this path").into()
}
