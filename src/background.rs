//! Background work beside the server: the revocation sync, and the upkeep
//! loop (keys, in-memory caches, pruning the database).
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{KeySet, Revocations, Tokens, SYNC_INTERVAL};
use crate::db::{self, Db};
use crate::service::Limiter;

/// Expired revocations and long-finished sessions are deleted this often
/// (every this many key reloads).
const DB_PRUNE_EVERY: u64 = 12;
/// Finished sessions (and their used refresh tokens) are kept this long.
const KEEP_FINISHED_SESSIONS: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Mails sent (or refused for good) are kept this long, for operators.
const KEEP_SENT_MAIL: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// How an instance keeps keys that live in the database.
#[derive(Debug, Clone, Copy)]
pub struct StoredKeys {
    /// A key stops verifying this long after its successor took over.
    pub retire_after: chrono::TimeDelta,
    /// A new key is added once the newest has signed this long.
    pub rotate_every: Option<chrono::TimeDelta>,
}

/// Background upkeep: sync revocations every [`SYNC_INTERVAL`]; beside it,
/// reload (and, when due, rotate) keys kept in the database, forget expired
/// entries, and prune the database. Two loops, so that a slow prune or key
/// reload never delays a sync (a late one turns authenticated requests into
/// 503s, see [`Revocations::is_current`]).
pub async fn maintain(
    db: Db,
    revocations: Arc<Revocations>,
    tokens: Arc<Tokens>,
    limiter: Arc<Limiter>,
    upkeep_every: Duration,
    stored_keys: Option<StoredKeys>,
) {
    let sync = async {
        let mut ticker = tokio::time::interval(SYNC_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticker.tick().await;
            if let Err(e) = revocations.sync(&db).await {
                tracing::warn!(error = %e, "revocation sync failed; retrying");
            }
        }
    };
    let upkeep = async {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + upkeep_every, upkeep_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for tick in 1u64.. {
            ticker.tick().await;
            revocations.prune();
            tokens.prune_verified();
            limiter.shrink();
            if let Some(StoredKeys { retire_after, rotate_every }) = stored_keys {
                match KeySet::reload(&db, retire_after, rotate_every).await {
                    Ok(keys) => tokens.set_keys(keys),
                    Err(e) => tracing::warn!(error = %e, "key reload failed; keeping the current keys"),
                }
            }
            if tick % DB_PRUNE_EVERY == 0 {
                let pruned = db.write(|conn| {
                    db::sessions::prune(conn, KEEP_FINISHED_SESSIONS)?;
                    db::emails::prune(conn, KEEP_FINISHED_SESSIONS)?;
                    db::outbox::prune(conn, KEEP_SENT_MAIL)?;
                    db::passkeys::prune(conn)?;
                    db::guesses::prune(conn, db::now())?;
                    db::rate_limits::prune(conn, chrono::Utc::now().timestamp_micros())
                });
                if let Err(e) = pruned.await {
                    tracing::warn!(error = %e, "pruning failed");
                }
            }
        }
    };
    tokio::join!(sync, upkeep);
}
