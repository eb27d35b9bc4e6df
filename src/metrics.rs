//! Prometheus metrics: request counts and latency by route pattern and
//! status (actix-web-prom), plus the service's own counters.
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Counters the handlers bump. Cheap to clone (the handles are shared).
#[derive(Clone)]
pub struct Metrics {
    pub logins: IntCounterVec,
    pub refreshes: IntCounterVec,
    pub sessions_revoked: IntCounter,
    pub rate_limited: IntCounter,
    pub hashes_in_flight: IntGauge,
}

impl Metrics {
    /// Registers the service's metrics and builds the middleware that serves
    /// them at `/metrics`. Each application has its own registry.
    pub fn new() -> Result<(Self, PrometheusMetrics), prometheus::Error> {
        let registry = Registry::new();
        let metrics = Self {
            logins: IntCounterVec::new(
                Opts::new("warrant_logins_total", "Login attempts by result"),
                &["result"],
            )?,
            refreshes: IntCounterVec::new(
                Opts::new("warrant_refreshes_total", "Refresh attempts by result (ok, reuse, invalid)"),
                &["result"],
            )?,
            sessions_revoked: IntCounter::new(
                "warrant_sessions_revoked_total",
                "Sessions ended by logout, refresh reuse, role change or user deletion",
            )?,
            rate_limited: IntCounter::new(
                "warrant_rate_limited_total",
                "Requests refused by the rate limit",
            )?,
            hashes_in_flight: IntGauge::new(
                "warrant_password_hashes_in_flight",
                "Argon2 hashes or verifies running or queued",
            )?,
        };
        registry.register(Box::new(metrics.logins.clone()))?;
        registry.register(Box::new(metrics.refreshes.clone()))?;
        registry.register(Box::new(metrics.sessions_revoked.clone()))?;
        registry.register(Box::new(metrics.rate_limited.clone()))?;
        registry.register(Box::new(metrics.hashes_in_flight.clone()))?;
        for result in ["ok", "failed"] {
            metrics.logins.with_label_values(&[result]);
        }
        for result in ["ok", "reuse", "invalid"] {
            metrics.refreshes.with_label_values(&[result]);
        }
        let middleware = PrometheusMetricsBuilder::new("warrant")
            .registry(registry)
            .endpoint("/metrics")
            // Raw paths never become labels: unmatched requests share one.
            .mask_unmatched_patterns("unmatched")
            .build()
            .map_err(|e| prometheus::Error::Msg(e.to_string()))?;
        Ok((metrics, middleware))
    }
}
