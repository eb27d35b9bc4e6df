//! Prometheus metrics: request counts and latency by route pattern and
//! status (actix-web-prom), plus the service's own counters, the database
//! pool's state and how current the revocation mirror is.
use std::sync::{Arc, Mutex, PoisonError};

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::auth::SyncClock;
use crate::db::Db;

/// Counters the handlers bump. Cheap to clone (the handles are shared).
#[derive(Clone)]
pub struct Metrics {
    pub logins: IntCounterVec,
    pub refreshes: IntCounterVec,
    pub sessions_revoked: IntCounter,
    pub rate_limited: IntCounter,
    /// Guesses refused because the account's budget was spent, by kind.
    pub account_throttled: IntCounterVec,
    pub hashes_in_flight: IntGauge,
    /// Mails stored and not yet sent or refused (as the sender last saw).
    pub mail_queued: IntGauge,
    pub mail_sent: IntCounter,
    /// Send attempts that failed, by reason: `transient` (retried) or
    /// `permanent` (a 5xx: never retried).
    pub mail_failed: IntCounterVec,
}

impl Metrics {
    /// Registers the service's metrics and builds the middleware that serves
    /// them at `/metrics`. Each application has its own registry.
    pub fn new(db: &Db, synced: Arc<SyncClock>) -> Result<(Self, PrometheusMetrics), prometheus::Error> {
        let registry = Registry::new();
        registry.register(Box::new(StateCollector::new(db.clone(), synced)?))?;
        let metrics = Self {
            logins: IntCounterVec::new(
                Opts::new("warrant_logins_total", "Login attempts by result"),
                &["result"],
            )?,
            refreshes: IntCounterVec::new(
                Opts::new(
                    "warrant_refreshes_total",
                    "Refresh attempts by result (ok, repeat within the grace window, reuse, invalid)",
                ),
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
            account_throttled: IntCounterVec::new(
                Opts::new(
                    "warrant_account_throttled_total",
                    "Guesses refused because the account's budget of wrong ones was spent, by kind",
                ),
                &["kind"],
            )?,
            hashes_in_flight: IntGauge::new(
                "warrant_password_hashes_in_flight",
                "Argon2 hashes or verifies running or queued",
            )?,
            mail_queued: IntGauge::new("warrant_mail_queued", "Mails stored and not yet sent or refused")?,
            mail_sent: IntCounter::new("warrant_mail_sent_total", "Mails the SMTP server accepted")?,
            mail_failed: IntCounterVec::new(
                Opts::new(
                    "warrant_mail_failed_total",
                    "Mail send attempts that failed: transient (retried) or permanent (refused, not retried)",
                ),
                &["reason"],
            )?,
        };
        registry.register(Box::new(metrics.logins.clone()))?;
        registry.register(Box::new(metrics.refreshes.clone()))?;
        registry.register(Box::new(metrics.sessions_revoked.clone()))?;
        registry.register(Box::new(metrics.rate_limited.clone()))?;
        registry.register(Box::new(metrics.hashes_in_flight.clone()))?;
        registry.register(Box::new(metrics.account_throttled.clone()))?;
        registry.register(Box::new(metrics.mail_queued.clone()))?;
        registry.register(Box::new(metrics.mail_sent.clone()))?;
        registry.register(Box::new(metrics.mail_failed.clone()))?;
        for reason in ["transient", "permanent"] {
            metrics.mail_failed.with_label_values(&[reason]);
        }
        for kind in crate::domain::GuessKind::ALL {
            metrics.account_throttled.with_label_values(&[kind.as_str()]);
        }
        for result in ["ok", "failed", "mfa_required"] {
            metrics.logins.with_label_values(&[result]);
        }
        for result in ["ok", "repeat", "reuse", "invalid"] {
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

/// The connection pool's state and the revocation mirror's age, read when
/// `/metrics` is scraped.
struct StateCollector {
    db: Db,
    open: IntGauge,
    idle: IntGauge,
    lost: IntCounter,
    faults: IntCounterVec,
    retries: IntCounter,
    synced: Arc<SyncClock>,
    sync_age: Gauge,
    /// Concurrent scrapes update one at a time (the counter catches up by
    /// difference).
    updating: Mutex<()>,
}

impl StateCollector {
    fn new(db: Db, synced: Arc<SyncClock>) -> Result<Self, prometheus::Error> {
        Ok(Self {
            db,
            open: IntGauge::new("warrant_db_connections_open", "Database connections open in the pool")?,
            idle: IntGauge::new("warrant_db_connections_idle", "Open database connections not in use")?,
            lost: IntCounter::new(
                "warrant_db_connections_lost_total",
                "Database connections found dead (server restart, failover, dropped by a proxy)",
            )?,
            faults: IntCounterVec::new(
                Opts::new(
                    "warrant_db_faults_total",
                    "Database operations answered 503, by kind: unreachable, full, timeout, conflict (after retries), failed",
                ),
                &["kind"],
            )?,
            retries: IntCounter::new(
                "warrant_db_retries_total",
                "Transactions run again after a serialization failure, deadlock or busy database",
            )?,
            synced,
            sync_age: Gauge::new(
                "warrant_revocation_sync_age_seconds",
                "Time since the last successful read of revoked sessions began (authenticated requests get 503 above 1)",
            )?,
            updating: Mutex::new(()),
        })
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        [
            self.open.desc(),
            self.idle.desc(),
            self.lost.desc(),
            self.faults.desc(),
            self.retries.desc(),
            self.sync_age.desc(),
        ]
        .concat()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _one_at_a_time = self.updating.lock().unwrap_or_else(PoisonError::into_inner);
        let (open, idle) = self.db.connections();
        self.open.set(open.into());
        self.idle.set(idle.into());
        // The pool counts; the counter catches up (it only ever grows).
        self.lost.inc_by(self.db.connections_lost().saturating_sub(self.lost.get()));
        let (faults, retries) = self.db.faults();
        for (kind, count) in faults {
            let counter = self.faults.with_label_values(&[kind]);
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        self.retries.inc_by(retries.saturating_sub(self.retries.get()));
        self.sync_age.set(self.synced.age().as_secs_f64());
        [
            self.open.collect(),
            self.idle.collect(),
            self.lost.collect(),
            self.faults.collect(),
            self.retries.collect(),
            self.sync_age.collect(),
        ]
        .concat()
    }
}
