//! Whether this instance should get traffic: its database answers and its
//! revocation mirror is current.
use std::sync::Arc;

use crate::auth::Revocations;
use crate::db::{self, Db};

use super::ServiceError;

#[derive(Clone)]
pub struct Readiness {
    db: Db,
    revocations: Arc<Revocations>,
}

impl Readiness {
    pub fn new(db: Db, revocations: Arc<Revocations>) -> Self {
        Self { db, revocations }
    }

    /// On the connections kept apart from requests, within a second: a pool
    /// full of requests waiting on a lock must not make this hang.
    pub async fn check(&self) -> Result<(), ServiceError> {
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
