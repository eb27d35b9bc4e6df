//! The in-memory mirror of ended sessions. Checking a token against it costs
//! a hash lookup, no database round trip; each instance refreshes it from the
//! `revoked_sessions` table every [`SYNC_INTERVAL`].
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus::IntCounter;

use crate::db::revocations::{self, Revocation, RevocationCursor};
use crate::db::{Db, DbError};
use crate::domain::{SessionId, SessionPolicy};

/// How often each instance reads new revocations.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// The contract's bound on how long a token whose session ended on another
/// instance may keep working here. An instance whose last successful sync
/// began longer ago than this cannot tell, and refuses to decide (503).
pub const MAX_STALENESS: Duration = Duration::from_secs(1);

/// When the mirror last caught up with the database: the moment its latest
/// successful read began (every revocation committed before it is known).
/// Shared with the metrics, which report its age.
#[derive(Debug)]
pub struct SyncClock {
    epoch: Instant,
    /// Milliseconds from `epoch` to the start of the latest successful read.
    synced_ms: AtomicU64,
}

impl Default for SyncClock {
    fn default() -> Self {
        Self { epoch: Instant::now(), synced_ms: AtomicU64::new(0) }
    }
}

impl SyncClock {
    /// How long ago the latest successful read began.
    pub fn age(&self) -> Duration {
        let synced = Duration::from_millis(self.synced_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(synced)
    }

    /// Records that a read which began at `began` succeeded.
    fn mark(&self, began: Instant) {
        let ms = began.saturating_duration_since(self.epoch).as_millis() as u64;
        self.synced_ms.fetch_max(ms, Ordering::Relaxed);
    }
}

pub struct Revocations {
    /// Session id → unix time after which no token of it can be valid.
    ended: RwLock<HashMap<String, i64>>,
    /// How far the database's revocations have been read.
    cursor: Mutex<RevocationCursor>,
    /// Counts sessions this instance ended.
    ended_here: IntCounter,
    synced: Arc<SyncClock>,
}

impl Revocations {
    pub fn new(ended_here: IntCounter, synced: Arc<SyncClock>) -> Self {
        Self { ended: RwLock::default(), cursor: Mutex::default(), ended_here, synced }
    }

    /// A mirror no server reads, for the command line: the sessions it ends
    /// reach every running instance at that instance's next sync.
    pub fn detached() -> Self {
        let counter = IntCounter::new("detached", "unused").unwrap_or_else(|_| unreachable!("a valid name"));
        Self::new(counter, Arc::default())
    }

    /// Whether the session was ended (here, or elsewhere and synced since).
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.ended.read().unwrap_or_else(PoisonError::into_inner).contains_key(session_id)
    }

    /// Whether the mirror holds every revocation older than
    /// [`MAX_STALENESS`]: false when syncs have been failing or stalling.
    pub fn is_current(&self) -> bool {
        self.synced.age() <= MAX_STALENESS
    }

    /// Records sessions this instance just ended, so they are refused at once.
    pub fn add_local(&self, session_ids: &[SessionId], policy: SessionPolicy) {
        self.ended_here.inc_by(session_ids.len() as u64);
        let until = (chrono::Utc::now() + policy.revoked_for).timestamp();
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        ended.extend(session_ids.iter().map(|id| (id.0.clone(), until)));
    }

    /// Adds revocations read from the database, in a read that began at
    /// `began`, and moves the cursor on.
    fn add(&self, (rows, next): (Vec<Revocation>, RevocationCursor), began: Instant) {
        if !rows.is_empty() {
            let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
            ended.extend(rows.into_iter().map(|(sid, until)| (sid.0, until.and_utc().timestamp())));
        }
        *self.cursor.lock().unwrap_or_else(PoisonError::into_inner) = next;
        self.synced.mark(began);
    }

    /// Loads every revocation whose tokens may still be alive (startup).
    pub fn load(&self, db: &Db) -> Result<(), DbError> {
        let began = Instant::now();
        let read = db.read_blocking(|conn| revocations::since(conn, RevocationCursor::default()))?;
        self.add(read, began);
        Ok(())
    }

    /// Reads the revocations recorded since the last sync, by any instance,
    /// on a connection requests cannot take.
    pub async fn sync(&self, db: &Db) -> Result<(), DbError> {
        let cursor = *self.cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let began = Instant::now();
        let read = db.read_urgent(move |conn| revocations::since(conn, cursor)).await?;
        self.add(read, began);
        Ok(())
    }

    /// Forgets entries whose tokens have all expired.
    pub fn prune(&self) {
        let now = chrono::Utc::now().timestamp();
        self.ended.write().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }
}
