//! What the pool has seen: connections found dead, and faults met.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::error::FAULT_KINDS;
use super::DbError;

/// When a connection of the pool was last found dead. A server restart or
/// failover ends every connection at once: those not used successfully since
/// are suspect, and pinged before use like idle ones.
pub(super) struct LastLoss {
    pub(super) origin: Instant,
    /// Nanoseconds after `origin`; 0 when no connection was lost yet.
    pub(super) nanos: AtomicU64,
    /// Connections found dead so far.
    pub(super) count: AtomicU64,
}

impl LastLoss {
    pub(super) fn record(&self) {
        let nanos = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        self.nanos.store(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn suspects(&self, last_used: Instant) -> bool {
        let nanos = self.nanos.load(Ordering::Relaxed);
        nanos != 0 && last_used <= self.origin + Duration::from_nanos(nanos)
    }
}

/// Database faults met by requests, by kind, and conflicts run again.
#[derive(Default)]
pub(super) struct Faults {
    pub(super) by_kind: [AtomicU64; FAULT_KINDS.len()],
    pub(super) retried: AtomicU64,
}

impl Faults {
    pub(super) fn count<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        if let Some(kind) = result.as_ref().err().and_then(DbError::fault_kind) {
            let index = FAULT_KINDS.iter().position(|k| *k == kind).unwrap_or(0);
            self.by_kind[index].fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}
