//! Logging setup: text or JSON lines, audit events, never a secret.

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Log target of security events (signup, login, refresh, logout, role
/// changes, deletions, rate limiting): ids and client IP, never a secret.
pub const AUDIT: &str = "warrant::audit";

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
