//! The in-memory mirror of ended sessions. Checking a token against it costs
//! a hash lookup, no database round trip; each instance refreshes it from the
//! `revoked_sessions` table every [`SYNC_INTERVAL`].
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use prometheus::IntCounter;

use crate::db::sessions::Revocation;
use crate::db::{self, Db, DbError};

/// How often each instance reads new revocations: the bound on how long a
/// token ended elsewhere keeps working here.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// Each sync re-reads this many ids below the highest seen: PostgreSQL
/// identity values can become visible out of order when transactions commit
/// in a different order than they drew their ids.
const LOOKBACK_IDS: i64 = 256;

pub struct Revocations {
    /// Session id → unix time after which no token of it can be valid.
    ended: RwLock<HashMap<String, i64>>,
    high_water: AtomicI64,
    /// Counts sessions this instance ended.
    ended_here: IntCounter,
}

impl Revocations {
    pub fn new(ended_here: IntCounter) -> Self {
        Self { ended: RwLock::default(), high_water: AtomicI64::default(), ended_here }
    }

    /// Whether the session was ended (here, or elsewhere and synced since).
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.ended.read().unwrap_or_else(PoisonError::into_inner).contains_key(session_id)
    }

    /// Records sessions this instance just ended, so they are refused at once.
    pub fn add_local(&self, session_ids: &[String], policy: db::sessions::SessionPolicy) {
        self.ended_here.inc_by(session_ids.len() as u64);
        let until = (chrono::Utc::now() + policy.revocation).timestamp();
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        ended.extend(session_ids.iter().map(|id| (id.clone(), until)));
    }

    fn add(&self, rows: Vec<Revocation>) {
        if rows.is_empty() {
            return;
        }
        let high = rows.iter().map(|(id, _, _)| *id).max().unwrap_or(0);
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        ended.extend(rows.into_iter().map(|(_, sid, until)| (sid, until.and_utc().timestamp())));
        self.high_water.fetch_max(high, Ordering::Relaxed);
    }

    /// Loads every revocation whose tokens may still be alive (startup).
    pub fn load(&self, db: &Db) -> Result<(), DbError> {
        self.add(db.run_blocking(db::sessions::live_revocations)?);
        Ok(())
    }

    /// Reads revocations recorded since the last sync, by any instance.
    pub async fn sync(&self, db: &Db) -> Result<(), DbError> {
        let after = self.high_water.load(Ordering::Relaxed) - LOOKBACK_IDS;
        self.add(db.run(move |conn| db::sessions::revocations_after(conn, after)).await?);
        Ok(())
    }

    /// Forgets entries whose tokens have all expired.
    pub fn prune(&self) {
        let now = chrono::Utc::now().timestamp();
        self.ended.write().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }
}
