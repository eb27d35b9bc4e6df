//! The credential routes' rate limit as one budget per client for every
//! instance on the database: a generic cell rate algorithm (GCRA) whose
//! state, one theoretical arrival time per client, lives in `rate_limits`.
use std::num::NonZeroU32;

use diesel::dsl::case_when;
use diesel::prelude::*;

use super::schema::rate_limits;
use super::{load, DbConn, DbError};

/// A burst of requests, refilled one per interval. Times are microseconds
/// (since the Unix epoch where they are instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Between two requests at the sustained rate.
    interval: i64,
    /// How far ahead of now a client's arrival time may run: burst × interval.
    window: i64,
}

impl Quota {
    /// `n` requests per minute, in a burst of up to `n`.
    pub fn per_minute(n: NonZeroU32) -> Self {
        let interval = 60_000_000 / i64::from(n.get());
        Self { interval, window: interval * i64::from(n.get()) }
    }
}

/// Counts one request of `client` at `now` if the quota allows it: `None`,
/// or `Some(microseconds)` until it would. One statement: an upsert that
/// advances the client's arrival time only when that stays within the
/// window, so concurrent requests on any instance cannot both take the last
/// unit of credit.
pub fn admit(conn: &mut DbConn, client: &str, now: i64, quota: Quota) -> Result<Option<i64>, DbError> {
    let Quota { interval, window } = quota;
    let advanced = case_when(rate_limits::tat.gt(now), rate_limits::tat + interval).otherwise(now + interval);
    let upsert = diesel::insert_into(rate_limits::table)
        .values((rate_limits::client.eq(client), rate_limits::tat.eq(now + interval)))
        .on_conflict(rate_limits::client)
        .do_update()
        .set(rate_limits::tat.eq(advanced));
    // `DO UPDATE … WHERE`: QueryDsl's `filter` does not apply to an insert.
    let upsert =
        diesel::query_dsl::methods::FilterDsl::filter(upsert, rate_limits::tat.le(now + window - interval));
    let admitted: Vec<i64> = load(conn, upsert.returning(rate_limits::tat))?;
    if !admitted.is_empty() {
        return Ok(None);
    }
    let tat: Option<i64> = rate_limits::table.find(client).select(rate_limits::tat).first(conn).optional()?;
    // Deleted meanwhile (pruned): the next request will pass.
    Ok(Some(tat.map_or(0, |tat| tat + interval - window - now).max(0)))
}

/// Forgets clients whose credit is full again: their rows mean nothing.
pub fn prune(conn: &mut DbConn, now: i64) -> Result<(), DbError> {
    diesel::delete(rate_limits::table.filter(rate_limits::tat.lt(now))).execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::scratch_sqlite;

    const MINUTE: i64 = 60_000_000;

    #[test]
    fn a_client_gets_its_burst_then_one_request_per_interval() {
        let (_dir, db) = scratch_sqlite();
        let quota = Quota::per_minute(NonZeroU32::new(3).unwrap());
        let third = MINUTE / 3;
        let admit_at = |client: &str, now| db.write_blocking(|conn| admit(conn, client, now, quota)).unwrap();
        for _ in 0..3 {
            assert_eq!(admit_at("a", 0), None);
        }
        assert_eq!(admit_at("a", 0), Some(third), "the burst is spent");
        assert_eq!(admit_at("a", third - 1), Some(1));
        assert_eq!(admit_at("b", 0), None, "every client has its own budget");
        assert_eq!(admit_at("a", third), None, "one interval refills one request");
        assert_eq!(admit_at("a", third), Some(third));
        // Idle for long: the full burst again, and no more.
        let later = 10 * MINUTE;
        for _ in 0..3 {
            assert_eq!(admit_at("a", later), None);
        }
        assert!(admit_at("a", later).is_some());
    }

    #[test]
    fn pruning_forgets_only_clients_whose_credit_is_full() {
        let (_dir, db) = scratch_sqlite();
        let quota = Quota::per_minute(NonZeroU32::new(1).unwrap());
        let admit_at = |client: &str, now| db.write_blocking(|conn| admit(conn, client, now, quota)).unwrap();
        assert_eq!(admit_at("old", 0), None);
        assert_eq!(admit_at("new", MINUTE / 2), None);
        db.write_blocking(|conn| prune(conn, MINUTE + 1)).unwrap();
        assert_eq!(admit_at("old", MINUTE + 1), None);
        assert_eq!(admit_at("new", MINUTE + 1), Some(MINUTE / 2 - 1), "still limited after the prune");
    }
}
