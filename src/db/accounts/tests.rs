//! Unit tests of `accounts`.
use super::*;
use crate::db::scratch_sqlite;
use crate::db::tx::Seen;

const POLICY: SessionPolicy = SessionPolicy {
    idle: chrono::TimeDelta::days(14),
    absolute: chrono::TimeDelta::days(30),
    revoked_for: chrono::TimeDelta::minutes(16),
    max_per_user: 100,
    reuse_grace: chrono::TimeDelta::seconds(10),
};

#[test]
fn a_session_starts_only_if_the_checked_password_is_still_the_accounts() {
    let (_dir, db) = scratch_sqlite();
    let alice = Username::parse("alice").unwrap();
    let id = db.write_blocking(|conn| users::insert(conn, &alice, "hash-1", Role::User)).unwrap().id;
    let start = |sid: &str, checked: &str| {
        let password = Some(CheckedPassword { hash: checked, renewed: None });
        let (sid, token) = (SessionId(sid.into()), RefreshHash(format!("refresh-{sid}")));
        let client = ClientDetails::default();
        let new = NewSession {
            id: &sid,
            user: id,
            password,
            first_token: &token,
            client: &client,
            amr: Amr::Password,
            guessed: None,
        };
        match db.write_tx_blocking(|tx| start_session(tx, new, None, POLICY)) {
            Ok(started) => matches!(started.apply(&Seen::default()), Start::Started(_)),
            Err(DbError::Refused(Refusal::Stale)) => false,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(start("s1", "hash-1"));
    // A login that checked the old password finishes after the reset.
    let seen = Seen::default();
    let reset = db
        .write_tx_blocking(|tx| sign_out_everywhere(tx, &alice.key(), Some("hash-2"), POLICY))
        .unwrap()
        .apply(&seen);
    assert_eq!(reset.map(|(_, ended)| ended), Some(1));
    assert_eq!(*seen.0.borrow(), vec![SessionId("s1".into())], "the ended session reaches the mirror");
    assert!(!start("s2", "hash-1"));
    assert!(start("s3", "hash-2"));
}
