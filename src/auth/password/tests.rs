//! Unit tests of `password`.
use super::*;

#[test]
fn hashes_are_argon2id_phc_strings_that_verify() {
    let password = Password::parse("correct horse battery".into()).unwrap();
    let phc = hash_password(&password).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(verify_password("correct horse battery", &phc));
    assert!(!verify_password("correct horse battery!", &phc));
    assert!(!verify_password("anything", "not a phc string"));
    // Hashes made the usual way (password-hash's hasher) verify too.
    let standard = argon2::password_hash::PasswordHasher::hash_password(&Argon2::default(), b"other pw")
        .unwrap()
        .to_string();
    assert!(verify_password("other pw", &standard));
    assert!(!verify_password("other pw!", &standard));
}

#[test]
fn hashes_made_with_other_parameters_are_outdated() {
    let password = Password::parse("correct horse battery".into()).unwrap();
    assert!(!is_outdated(&hash_password(&password).unwrap()));
    let weaker = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
    let old = argon2::password_hash::PasswordHasher::hash_password(&weaker, b"pw").unwrap().to_string();
    assert!(is_outdated(&old));
    let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default());
    let other = argon2::password_hash::PasswordHasher::hash_password(&argon2i, b"pw").unwrap().to_string();
    assert!(is_outdated(&other));
}

#[tokio::test]
async fn a_match_against_an_outdated_hash_brings_a_fresh_one() {
    let hasher = PasswordHasher::new(1, IntGauge::new("h", "h").unwrap()).unwrap();
    let weaker = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap());
    let old =
        argon2::password_hash::PasswordHasher::hash_password(&weaker, b"old secret").unwrap().to_string();
    let Verdict::Match { renewed: Some(fresh) } =
        hasher.verify("old secret".into(), Some(old.clone())).await.unwrap()
    else {
        panic!("a match with a renewed hash")
    };
    assert!(!is_outdated(&fresh), "{fresh}");
    assert!(verify_password("old secret", &fresh));
    assert_eq!(hasher.verify("wrong secret".into(), Some(old)).await.unwrap(), Verdict::Mismatch);
    assert_eq!(
        hasher.verify("old secret".into(), Some(fresh)).await.unwrap(),
        Verdict::Match { renewed: None }
    );
    assert_eq!(hasher.verify("old secret".into(), None).await.unwrap(), Verdict::Mismatch);
}
