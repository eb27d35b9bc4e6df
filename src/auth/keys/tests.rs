//! Unit tests of `keys`.
use super::*;

#[test]
fn generated_keys_load_and_get_distinct_thumbprint_kids() {
    let keys = KeySet::ed25519(&[generate_ed25519_pem(), generate_ed25519_pem()]).unwrap();
    assert_eq!(keys.jwks().keys.len(), 2);
    let kids: Vec<_> = keys.jwks().keys.iter().map(|k| k.common.key_id.clone().unwrap()).collect();
    assert_ne!(kids[0], kids[1]);
    assert_eq!(keys.signing().0, Some(kids[0].as_str()), "the first key signs");
    assert!(keys.verifying(Some(&kids[1])).is_some(), "every key verifies");
    assert!(keys.verifying(Some("unknown")).is_none());
    assert!(keys.verifying(None).is_none());
}

#[test]
fn the_jwks_never_contains_private_material() {
    let keys = KeySet::ed25519(&[generate_ed25519_pem()]).unwrap();
    let json = serde_json::to_value(keys.jwks()).unwrap();
    let key = &json["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "EdDSA");
    assert!(key.get("d").is_none());
}

#[test]
fn stored_keys_publish_ahead_sign_when_due_and_retire_after_the_last_token() {
    let t0 = chrono::Utc::now().naive_utc();
    let ttl = TimeDelta::seconds(900);
    let key =
        |signs_from| StoredKey { kid: String::new(), private_key_pem: generate_ed25519_pem(), signs_from };
    let stored = [key(t0), key(t0 + TimeDelta::seconds(600))];
    let kid = |pem: &str| Ed25519Key::parse(pem).unwrap().kid;
    let (old, new) = (kid(&stored[0].private_key_pem), kid(&stored[1].private_key_pem));

    let before = KeySet::from_stored(&stored, t0 + TimeDelta::seconds(1), ttl).unwrap();
    assert_eq!(before.signing().0, Some(old.as_str()), "the new key does not sign yet");
    assert!(before.verifying(Some(&new)).is_some(), "but it is published at once");
    assert_eq!(before.jwks().keys.len(), 2);

    let after = KeySet::from_stored(&stored, t0 + TimeDelta::seconds(601), ttl).unwrap();
    assert_eq!(after.signing().0, Some(new.as_str()));
    assert!(after.verifying(Some(&old)).is_some(), "old tokens still verify");

    let later = KeySet::from_stored(&stored, t0 + TimeDelta::seconds(600 + 901), ttl).unwrap();
    assert!(later.verifying(Some(&old)).is_none(), "retired once its last token expired");
    assert_eq!(later.jwks().keys.len(), 1);
}

#[test]
fn garbage_is_not_a_key() {
    assert!(KeySet::ed25519(&["not a pem".into()]).is_err());
    assert!(KeySet::ed25519(&[]).is_err());
}
