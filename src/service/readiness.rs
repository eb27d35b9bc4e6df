//! Whether this instance should get traffic: its database answers and its
//! revocation mirror is current.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::auth::Revocations;
use crate::db::{self, Db};

use super::ServiceError;

#[derive(Clone)]
pub struct Readiness {
    db: Db,
    revocations: Arc<Revocations>,
    draining: Arc<AtomicBool>,
}

impl Readiness {
    pub fn new(db: Db, revocations: Arc<Revocations>) -> Self {
        Self { db, revocations, draining: Arc::default() }
    }

    /// The instance is shutting down: from now on it is not ready, while it
    /// still serves what reaches it.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// On the connections kept apart from requests, within a second: a pool
    /// full of requests waiting on a lock must not make this hang.
    pub async fn check(&self) -> Result<(), ServiceError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(ServiceError::ShuttingDown);
        }
        if let Err(e) = self.db.read_urgent(db::ping).await {
            tracing::warn!(error = %e, "readiness check failed");
            return Err(e.into());
        }
        if !self.revocations.is_current() {
            tracing::warn!("readiness check failed: revocations not synced within a second");
            return Err(ServiceError::NotSynced);
        }
        Ok(())
    }
}
