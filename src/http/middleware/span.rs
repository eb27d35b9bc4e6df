//! The per-request span that carries the request id.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// Response header that carries the request id, so clients can quote it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A process-unique request id: a random per-process prefix and a counter,
/// so no system call is spent per request.
fn next_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| crate::auth::random_token(6));
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Wraps each request in a span with a fresh request id, logs its outcome,
/// and returns the id in `x-request-id`.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = next_request_id();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    span.record("route", route.as_str());
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}
