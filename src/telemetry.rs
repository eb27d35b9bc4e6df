//! Logging setup and the per-request span that carries the request id.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::field::{Field, Visit};
use tracing::{Event, Instrument, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Log target of security events (signup, login, refresh, logout, role
/// changes, deletions, rate limiting): ids and client IP, never a secret.
pub const AUDIT: &str = "warrant::audit";

/// Response header that carries the request id, so clients can quote it.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber: human-readable, or one JSON object per line.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A failed log write is dropped: by default tracing-subscriber reports
    // it with `eprintln!`, which panics when stderr itself is gone (a log
    // shipper that died), taking the request or the whole server with it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .log_internal_errors(false);
    let _ = if config.json {
        let builder = builder.json().flatten_event(true).with_current_span(true).with_span_list(false);
        builder.finish().with(QuietClientErrors).try_init()
    } else {
        builder.finish().with(QuietClientErrors).try_init()
    };
}

/// Drops actix-http's `ERROR … stream error: …` line, logged when it closes
/// a connection over malformed HTTP, a broken body or a reset: the client's
/// doing, answered (400) or abandoned before any route runs, and anyone can
/// produce one per connection — ERROR is for what the operator must fix.
struct QuietClientErrors;

impl<S: Subscriber> Layer<S> for QuietClientErrors {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || meta.target() != "actix_http::h1::dispatcher" {
            return true;
        }
        struct StreamError(bool);
        impl Visit for StreamError {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}").starts_with("stream error:");
                }
            }
        }
        let mut message = StreamError(false);
        event.record(&mut message);
        !message.0
    }
}

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
