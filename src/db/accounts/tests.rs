//! Unit tests of `accounts`.
use super::*;
use crate::db::scratch_sqlite;

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
        let password = CheckedPassword { hash: checked, renewed: None };
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
        matches!(db.write_blocking(|conn| start_session(conn, new, None, POLICY)).unwrap(), Start::Started(_))
    };
    assert!(start("s1", "hash-1"));
    // A login that checked the old password finishes after the reset.
    let reset =
        db.write_blocking(|conn| sign_out_everywhere(conn, &alice.key(), Some("hash-2"), POLICY)).unwrap();
    assert_eq!(reset.map(|(_, ended)| ended), Some(vec![SessionId("s1".into())]));
    assert!(!start("s2", "hash-1"));
    assert!(start("s3", "hash-2"));
}
