//! Unit tests of `token`.
use super::*;
use crate::auth::keys::generate_ed25519_pem;
use crate::config::Secret;

fn alice() -> User {
    User { id: UserId(7), username: "alice".into(), role: Role::User, created_at: chrono::Utc::now() }
}

fn eddsa() -> Tokens {
    Tokens::new(KeySet::ed25519(&[generate_ed25519_pem()]).unwrap(), "warrant", "warrant", 900)
}

#[test]
fn an_issued_token_verifies_with_its_claims() {
    let tokens = eddsa();
    let issued = tokens.issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap();
    let claims = tokens.verify(&issued.token).unwrap();
    assert_eq!((claims.user_id, claims.role, claims.session_id.as_str()), (UserId(7), Role::User, "s1"));
    let header = decode_header(&issued.token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());
}

#[test]
fn another_issuer_audience_or_key_is_refused() {
    let pem = generate_ed25519_pem();
    let with = |iss: &str, aud: &str| {
        Tokens::new(KeySet::ed25519(std::slice::from_ref(&pem)).unwrap(), iss, aud, 900)
    };
    let token =
        with("warrant", "warrant").issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap().token;
    assert_eq!(with("other", "warrant").verify(&token).unwrap_err(), TokenError::Invalid("wrong issuer"));
    assert_eq!(with("warrant", "other").verify(&token).unwrap_err(), TokenError::Invalid("wrong audience"));
    assert_eq!(eddsa().verify(&token).unwrap_err(), TokenError::Invalid("unknown signing key"));
}

#[test]
fn a_cached_verification_ends_when_the_keys_change() {
    let pem = generate_ed25519_pem();
    let tokens = Tokens::new(KeySet::ed25519(std::slice::from_ref(&pem)).unwrap(), "warrant", "warrant", 900);
    let token = tokens.issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap().token;
    assert!(tokens.verify(&token).is_ok());
    assert!(tokens.verify(&token).is_ok(), "from the cache");
    let mut tampered = token.clone();
    tampered.push('x');
    assert!(tokens.verify(&tampered).is_err(), "only the exact text is cached");
    tokens.set_keys(KeySet::ed25519(&[generate_ed25519_pem()]).unwrap());
    assert_eq!(tokens.verify(&token).unwrap_err(), TokenError::Invalid("unknown signing key"));
}

#[test]
fn a_cached_token_still_expires() {
    let tokens = Tokens::new(KeySet::ed25519(&[generate_ed25519_pem()]).unwrap(), "warrant", "warrant", -31);
    let token = tokens.issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap().token;
    assert_eq!(tokens.verify(&token).unwrap_err(), TokenError::Expired);
    let fresh = Tokens::new(KeySet::ed25519(&[generate_ed25519_pem()]).unwrap(), "warrant", "warrant", 900);
    let token = fresh.issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap().token;
    fresh.verify(&token).unwrap();
    let mut cache = fresh.verified.write().unwrap();
    cache.values_mut().for_each(|c| c.expires_at = chrono::Utc::now().timestamp() - 31);
    drop(cache);
    assert_eq!(fresh.verify(&token).unwrap_err(), TokenError::Expired);
}

#[test]
fn a_token_lives_no_longer_than_the_configured_lifetime_even_if_issued_under_a_longer_one() {
    // Revocations are kept for the configured lifetime (plus leeway): a
    // token issued before the operator lowered WARRANT_ACCESS_TTL must
    // not outlive them.
    let pem = generate_ed25519_pem();
    let keys = || KeySet::ed25519(std::slice::from_ref(&pem)).unwrap();
    let (long, short) =
        (Tokens::new(keys(), "warrant", "warrant", 3600), Tokens::new(keys(), "warrant", "warrant", 60));
    let now = chrono::Utc::now().timestamp();
    let sign = |iat: i64| {
        let claims = Claims {
            iss: "warrant".into(),
            aud: "warrant".into(),
            sub: "7".into(),
            iat,
            exp: iat + 3600,
            nbf: None,
            jti: "j".into(),
            sid: "s1".into(),
            role: "user".into(),
            username: "alice".into(),
            amr: vec!["pwd".into()],
        };
        let keys = long.keys();
        let (kid, key) = keys.signing();
        let mut header = Header::new(keys.algorithm());
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = kid.map(Into::into);
        encode(&header, &claims, key).unwrap()
    };
    let old = sign(now - 60 - LEEWAY_SECS as i64 - 1);
    assert!(long.verify(&old).is_ok());
    assert_eq!(short.verify(&old).unwrap_err(), TokenError::Expired);
    let recent = sign(now - 10);
    assert_eq!(short.verify(&recent).unwrap().expires_at, now - 10 + 60);
}

#[test]
fn hs256_tokens_do_not_verify_under_eddsa_and_back() {
    let hs = Tokens::new(KeySet::hs256(&Secret::new("k".repeat(32))), "warrant", "warrant", 900);
    let token = hs.issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap().token;
    assert!(hs.verify(&token).is_ok());
    assert_eq!(eddsa().verify(&token).unwrap_err(), TokenError::Invalid("algorithm not allowed"));
    let ed_token = eddsa().issue(&alice(), &SessionId("s1".into()), Amr::Password).unwrap().token;
    assert_eq!(hs.verify(&ed_token).unwrap_err(), TokenError::Invalid("algorithm not allowed"));
}

#[test]
fn a_signed_token_naming_an_impossible_subject_or_session_is_refused() {
    // Found by the `token` fuzz target: these reached the session lookup.
    let tokens = eddsa();
    let keys = tokens.keys();
    let (kid, key) = keys.signing();
    let mut header = jsonwebtoken::Header::new(keys.algorithm());
    header.typ = Some("at+jwt".into());
    header.kid = kid.map(str::to_owned);
    let now = chrono::Utc::now().timestamp();
    let sign = |sub: &str, sid: &str| {
        let claims = serde_json::json!({"iss": "warrant", "aud": "warrant", "sub": sub, "iat": now,
            "exp": now + 60, "jti": "j", "sid": sid, "role": "user", "username": "alice"});
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    };
    assert!(tokens.verify(&sign("7", "AbC-_9")).is_ok());
    for (sub, sid) in
        [("0", "s1"), ("-7", "s1"), ("+7", "s1"), ("07", "s1"), ("7", "s\u{0}1"), ("7", ""), ("7", "a b")]
    {
        assert!(tokens.verify(&sign(sub, sid)).is_err(), "{sub:?} {sid:?}");
    }
}
