use super::*;

#[test]
fn rfc_6238_test_vectors_hold_for_sha1_truncated_to_six_digits() {
    // RFC 6238 appendix B: secret "12345678901234567890", 8 digits; the
    // 6-digit codes are their last six.
    let secret = TotpSecret(b"12345678901234567890".to_vec());
    for (time, eight) in [(59, "94287082"), (1_111_111_109, "07081804"), (2_000_000_000, "69279037")] {
        assert_eq!(secret.code_at(time / TOTP_STEP_SECS), eight[2..]);
    }
}

#[test]
fn a_code_matches_its_step_and_the_neighbours_only() {
    let secret = TotpSecret::generate();
    let now = 1_800_000_000;
    let step = now / TOTP_STEP_SECS;
    for drift in [-1i64, 0, 1] {
        let at = (step as i64 + drift) as u64;
        assert_eq!(secret.step_of(&secret.code_at(at), now), Some(at as i64));
    }
    for far in [step - 2, step + 2] {
        let code = secret.code_at(far);
        // A far step's code may collide with a near one's (1 in 10^6).
        if (step - 1..=step + 1).all(|near| secret.code_at(near) != code) {
            assert_eq!(secret.step_of(&code, now), None);
        }
    }
}

#[test]
fn the_uri_names_the_issuer_host_and_the_account() {
    let secret = TotpSecret::generate();
    let uri = secret.otpauth_uri("https://id.example.com", "alice");
    assert!(uri.starts_with("otpauth://totp/id.example.com:alice?secret="), "{uri}");
    assert!(uri.contains(&format!("secret={}", secret.base32())));
    assert!(uri.contains("issuer=id.example.com"));
    assert_eq!(secret.base32().len(), 32);
}

#[test]
fn recovery_codes_are_distinct_and_match_however_typed() {
    let (codes, hashes) = new_recovery_codes();
    assert_eq!(codes.len(), RECOVERY_CODES);
    let unique: std::collections::HashSet<_> = hashes.iter().collect();
    assert_eq!(unique.len(), RECOVERY_CODES);
    let code = &codes[0];
    assert_eq!(code.len(), 19);
    assert!(is_recovery_code(code) && !is_recovery_code("123456"));
    assert_eq!(hash_recovery_code(&code.to_uppercase().replace('-', " ")), hashes[0]);
}

#[test]
fn a_sealed_secret_opens_only_for_its_user_under_its_key() {
    let key = MfaKey::new("key material");
    let secret = TotpSecret::generate();
    let sealed = key.seal(UserId(7), &secret);
    assert!(!sealed.contains(&secret.base32()));
    assert_eq!(key.open(UserId(7), &sealed).map(|s| s.0).ok(), Some(secret.0.clone()));
    assert!(key.open(UserId(8), &sealed).is_err());
    assert!(MfaKey::new("other material").open(UserId(7), &sealed).is_err());
}

#[test]
fn the_qr_code_is_an_svg_document() {
    let svg = qr_svg("otpauth://totp/warrant:alice?secret=AAAA&issuer=warrant");
    assert!(svg.contains("<svg") && svg.ends_with("</svg>"));
}
