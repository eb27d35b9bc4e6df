//! `guess_budgets` (wrong guesses per account, see `domain::guessing`) and
//! `login_networks` (where each account logs in from), one statement each.
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::schema::{guess_budgets, login_networks};
use super::{execute, DbConn, DbError};
use crate::domain::{Charge, GuessBudget, GuessSubject, UserId, KNOWN_NETWORK_FOR, MAX_GUESS_WINDOW};

type Row = (NaiveDateTime, i32, i32);

fn of(subject: &GuessSubject) -> (&'static str, &str) {
    (subject.kind.as_str(), subject.key())
}

/// The subject's budget, its row locked until the transaction ends (so
/// that concurrent guesses on any instance are charged one at a time).
fn lock(conn: &mut DbConn, subject: &GuessSubject) -> Result<Option<GuessBudget>, DbError> {
    let (kind, key) = of(subject);
    let query = guess_budgets::table.find((kind, key)).select((
        guess_budgets::window_start,
        guess_budgets::window_secs,
        guess_budgets::failures,
    ));
    let row: Option<Row> = match conn {
        DbConn::Pg(pg) => query.for_update().first(pg).optional()?,
        // SQLite's write transactions are serialized already.
        DbConn::Sqlite(sqlite) => query.first(sqlite).optional()?,
    };
    Ok(row.map(|(window_start, secs, failures)| GuessBudget {
        window_start,
        window: TimeDelta::seconds(secs.into()),
        failures,
    }))
}

/// Charges one guess to `subject` at `now` (see [`GuessBudget::charge`]),
/// in the caller's write transaction. `exempt` is asked only of a spent
/// budget: whether this guess may pass it anyway.
pub fn charge(
    conn: &mut DbConn,
    subject: &GuessSubject,
    now: NaiveDateTime,
    exempt: impl FnOnce(&mut DbConn) -> Result<bool, DbError>,
) -> Result<Charge, DbError> {
    let (kind, key) = of(subject);
    let budget = match lock(conn, subject)? {
        Some(budget) => budget,
        None => {
            // A first guess, perhaps on two instances at once: one row wins.
            let fresh = GuessBudget::fresh(now);
            let insert = diesel::insert_into(guess_budgets::table)
                .values((
                    guess_budgets::kind.eq(kind),
                    guess_budgets::subject.eq(key),
                    guess_budgets::window_start.eq(fresh.window_start),
                    guess_budgets::window_secs.eq(fresh.window.num_seconds() as i32),
                    guess_budgets::failures.eq(0),
                ))
                .on_conflict((guess_budgets::kind, guess_budgets::subject))
                .do_nothing();
            execute(conn, insert)?;
            lock(conn, subject)?.unwrap_or(fresh)
        }
    };
    let exempt = budget.throttled_for(subject.kind, now).is_some() && exempt(conn)?;
    let charged = budget.charge(subject.kind, now, exempt);
    if let Charge::Admitted(next) = charged {
        diesel::update(guess_budgets::table.find((kind, key)))
            .set((
                guess_budgets::window_start.eq(next.window_start),
                guess_budgets::window_secs.eq(next.window.num_seconds() as i32),
                guess_budgets::failures.eq(next.failures),
            ))
            .execute(conn)?;
    }
    Ok(charged)
}

/// Takes back one charge of `subject`: the guess was right.
pub fn refund(conn: &mut DbConn, subject: &GuessSubject) -> Result<(), DbError> {
    let (kind, key) = of(subject);
    diesel::update(guess_budgets::table.find((kind, key)).filter(guess_budgets::failures.gt(0)))
        .set(guess_budgets::failures.eq(guess_budgets::failures - 1))
        .execute(conn)?;
    Ok(())
}

/// Forgets the budgets of `subjects` (an operator's `unthrottle`): how many
/// were spent.
pub fn clear(conn: &mut DbConn, subjects: &[GuessSubject], now: NaiveDateTime) -> Result<usize, DbError> {
    let mut spent = 0;
    for subject in subjects {
        if lock(conn, subject)?.is_some_and(|budget| budget.throttled_for(subject.kind, now).is_some()) {
            spent += 1;
        }
        let (kind, key) = of(subject);
        diesel::delete(guess_budgets::table.find((kind, key))).execute(conn)?;
    }
    Ok(spent)
}

/// Whether `user` signed up or logged in from `network` within
/// [`KNOWN_NETWORK_FOR`] of `now`.
pub fn is_known_network(
    conn: &mut DbConn,
    user: UserId,
    network: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let seen: Option<NaiveDateTime> = login_networks::table
        .find((user.0, network))
        .select(login_networks::last_login_at)
        .first(conn)
        .optional()?;
    Ok(seen.is_some_and(|seen| seen > now - KNOWN_NETWORK_FOR))
}

/// Records that `user` signed up or logged in from `network` at `now`.
pub fn record_network(
    conn: &mut DbConn,
    user: UserId,
    network: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let upsert = diesel::insert_into(login_networks::table)
        .values((
            login_networks::user_id.eq(user.0),
            login_networks::network.eq(network),
            login_networks::last_login_at.eq(now),
        ))
        .on_conflict((login_networks::user_id, login_networks::network))
        .do_update()
        .set(login_networks::last_login_at.eq(now));
    execute(conn, upsert)?;
    Ok(())
}

/// Deletes budgets that can no longer matter (a window's budget matters
/// until one window's length after it ends) and networks not seen within
/// [`KNOWN_NETWORK_FOR`].
pub fn prune(conn: &mut DbConn, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::delete(guess_budgets::table.filter(guess_budgets::window_start.lt(now - MAX_GUESS_WINDOW * 2)))
        .execute(conn)?;
    diesel::delete(login_networks::table.filter(login_networks::last_login_at.lt(now - KNOWN_NETWORK_FOR)))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::now;
    use crate::db::scratch_sqlite;
    use crate::domain::GuessKind;

    #[test]
    fn charges_refunds_and_clears_persist_per_subject() {
        let (_dir, db) = scratch_sqlite();
        let alice = GuessSubject::password_of("alice");
        let bob = GuessSubject::password_of("bob");
        let now = now();
        let charge_at = |subject: &GuessSubject, exempt: bool| {
            db.write_blocking(|conn| charge(conn, subject, now, |_| Ok(exempt))).unwrap()
        };
        for _ in 0..GuessKind::Password.limit() {
            assert!(matches!(charge_at(&alice, false), Charge::Admitted(_)));
        }
        assert!(matches!(charge_at(&alice, false), Charge::Throttled { .. }));
        assert!(matches!(charge_at(&alice, true), Charge::Admitted(b) if b.failures == 21));
        assert!(
            matches!(charge_at(&bob, false), Charge::Admitted(b) if b.failures == 1),
            "a budget per name"
        );
        db.write_blocking(|conn| refund(conn, &alice)).unwrap();
        db.write_blocking(|conn| refund(conn, &alice)).unwrap();
        assert!(matches!(charge_at(&alice, false), Charge::Admitted(b) if b.failures == 20));
        let cleared = db.write_blocking(|conn| clear(conn, &[alice.clone(), bob.clone()], now)).unwrap();
        assert_eq!(cleared, 1, "only alice's budget was spent");
        assert!(matches!(charge_at(&alice, false), Charge::Admitted(b) if b.failures == 1));
    }

    #[test]
    fn networks_are_known_for_thirty_days_and_pruned_after() {
        let (_dir, db) = scratch_sqlite();
        let user = db
            .write_blocking(|conn| {
                let name = crate::domain::Username::parse("carol").unwrap();
                crate::db::users::insert(conn, &name, "hash", crate::domain::Role::User)
            })
            .unwrap()
            .id;
        let then = now();
        let net = "198.51.100.0/24";
        db.write_blocking(|conn| record_network(conn, user, net, then)).unwrap();
        db.write_blocking(|conn| record_network(conn, user, net, then)).unwrap();
        let known = |at| db.read_blocking(|conn| is_known_network(conn, user, net, at)).unwrap();
        assert!(known(then + TimeDelta::days(29)));
        assert!(!known(then + TimeDelta::days(31)));
        assert!(!db.read_blocking(|conn| is_known_network(conn, user, "203.0.113.0/24", then)).unwrap());
        db.write_blocking(|conn| prune(conn, then + TimeDelta::days(31))).unwrap();
        db.write_blocking(|conn| record_network(conn, user, "203.0.113.0/24", then)).unwrap();
        assert!(!known(then), "pruned");
    }
}
