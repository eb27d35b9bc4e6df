//! The in-memory mirror of ended sessions. Checking a token against it costs
//! a hash lookup, no database round trip; each instance refreshes it from the
//! `revoked_sessions` table every [`SYNC_INTERVAL`].
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use prometheus::IntCounter;

use crate::db::sessions::Revocation;
use crate::db::{self, Db, DbError};

/// How often each instance reads new revocations.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// The contract's bound on how long a token whose session ended on another
/// instance may keep working here. An instance whose last successful sync
/// began longer ago than this cannot tell, and refuses to decide (503).
pub const MAX_STALENESS: Duration = Duration::from_secs(1);

/// A revocation id below the highest one read that has not appeared yet is
/// asked for again on every sync for this long; after that its transaction
/// is taken to have rolled back.
const PENDING_FOR: Duration = Duration::from_secs(60);
/// At most this many pending ids are tracked (the newest win).
const MAX_PENDING: usize = 4096;
/// At startup, ids this far below the highest live one that are missing
/// count as pending: a transaction may have been committing meanwhile.
const STARTUP_LOOKBACK: i64 = 256;

/// How far the sync has read the `revoked_sessions` ids. PostgreSQL draws an
/// identity value when a row is inserted but shows the row only when its
/// transaction commits, so a slow transaction's row can appear below ids
/// already read (any number of them). Each missing id below the high-water
/// mark is remembered and asked for by id until it appears or
/// [`PENDING_FOR`] has passed.
#[derive(Debug, Default)]
struct SyncPosition {
    /// The highest id read (or, at startup, taken as read).
    high_water: i64,
    /// Ids below the high-water mark not read yet, with when they were missed.
    pending: BTreeMap<i64, Instant>,
}

impl SyncPosition {
    /// Records ids read (ascending): new gaps become pending, arrivals
    /// leave it, and pending ids older than [`PENDING_FOR`] are given up.
    fn observe(&mut self, ids: impl IntoIterator<Item = i64>, now: Instant) {
        for id in ids {
            if id <= self.high_water {
                self.pending.remove(&id);
            } else {
                let first_missing = (self.high_water + 1).max(id - MAX_PENDING as i64);
                self.pending.extend((first_missing..id).map(|missing| (missing, now)));
                self.high_water = id;
            }
        }
        self.pending.retain(|_, missed| now.duration_since(*missed) < PENDING_FOR);
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
        }
    }
}

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
    position: Mutex<SyncPosition>,
    /// Counts sessions this instance ended.
    ended_here: IntCounter,
    synced: Arc<SyncClock>,
}

impl Revocations {
    pub fn new(ended_here: IntCounter, synced: Arc<SyncClock>) -> Self {
        Self { ended: RwLock::default(), position: Mutex::default(), ended_here, synced }
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
    pub fn add_local(&self, session_ids: &[String], policy: db::sessions::SessionPolicy) {
        self.ended_here.inc_by(session_ids.len() as u64);
        let until = (chrono::Utc::now() + policy.revocation).timestamp();
        let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
        ended.extend(session_ids.iter().map(|id| (id.clone(), until)));
    }

    /// Adds rows read from the database (ascending ids).
    fn add(&self, rows: Vec<Revocation>) {
        let mut position = self.position.lock().unwrap_or_else(PoisonError::into_inner);
        position.observe(rows.iter().map(|(id, _, _)| *id), Instant::now());
        drop(position);
        if !rows.is_empty() {
            let mut ended = self.ended.write().unwrap_or_else(PoisonError::into_inner);
            ended.extend(rows.into_iter().map(|(_, sid, until)| (sid, until.and_utc().timestamp())));
        }
    }

    /// Loads every revocation whose tokens may still be alive (startup).
    pub fn load(&self, db: &Db) -> Result<(), DbError> {
        let began = Instant::now();
        let (last_id, rows) = db.run_blocking(|conn| {
            Ok((db::sessions::last_revocation_id(conn)?, db::sessions::live_revocations(conn)?))
        })?;
        self.position.lock().unwrap_or_else(PoisonError::into_inner).high_water =
            (last_id.unwrap_or(0) - STARTUP_LOOKBACK).max(0);
        self.add(rows);
        self.synced.mark(began);
        Ok(())
    }

    /// Reads revocations recorded since the last sync, by any instance, and
    /// those still pending.
    pub async fn sync(&self, db: &Db) -> Result<(), DbError> {
        let (after, pending) = {
            let position = self.position.lock().unwrap_or_else(PoisonError::into_inner);
            (position.high_water, position.pending.keys().copied().collect::<Vec<_>>())
        };
        let began = Instant::now();
        self.add(db.read(move |conn| db::sessions::revocations_after(conn, after, &pending)).await?);
        self.synced.mark(began);
        Ok(())
    }

    /// Forgets entries whose tokens have all expired.
    pub fn prune(&self) {
        let now = chrono::Utc::now().timestamp();
        self.ended.write().unwrap_or_else(PoisonError::into_inner).retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_appear_late_are_asked_for_until_they_do_or_time_runs_out() {
        let start = Instant::now();
        let mut position = SyncPosition { high_water: 4, ..Default::default() };
        position.observe([5, 6, 9], start);
        assert_eq!(position.high_water, 9);
        assert_eq!(position.pending.keys().copied().collect::<Vec<_>>(), [7, 8]);
        position.observe([7, 1000], start + Duration::from_secs(1));
        assert_eq!(position.high_water, 1000);
        assert!(position.pending.contains_key(&8) && position.pending.contains_key(&999));
        assert!(!position.pending.contains_key(&7));
        position.observe([], start + PENDING_FOR);
        assert!(!position.pending.contains_key(&8), "given up: rolled back");
        assert!(position.pending.contains_key(&999));
    }

    #[test]
    fn a_huge_jump_in_ids_tracks_only_the_newest_gaps() {
        let now = Instant::now();
        let mut position = SyncPosition { high_water: 1, ..Default::default() };
        position.observe([1_000_000], now);
        assert_eq!(position.pending.len(), MAX_PENDING);
        assert_eq!(position.pending.keys().next_back(), Some(&999_999));
    }
}
