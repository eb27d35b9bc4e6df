//! Second-factor codes as typed: TOTP codes checked against a secret, and
//! recovery codes (any case, dashes or not).
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warrant::auth::mfa::{hash_recovery_code, is_recovery_code, TotpSecret};

fuzz_target!(|data: (&str, u32)| {
    static SECRET: OnceLock<TotpSecret> = OnceLock::new();
    let secret = SECRET.get_or_init(TotpSecret::example);
    let (code, at) = data;
    if let Some(step) = secret.step_of(code, u64::from(at)) {
        // Accepted: it is the code of that step, within one step of now.
        assert_eq!(secret.code_at(step as u64), code);
        assert!((step - i64::from(at / 30)).abs() <= 1);
    }
    if is_recovery_code(code) {
        // Letter case is ASCII's: `ſ` is not an `s` (found by this target,
        // when it asserted Unicode upper case).
        assert_eq!(hash_recovery_code(code), hash_recovery_code(&code.to_ascii_uppercase()));
    }
});
