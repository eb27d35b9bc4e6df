//! The bearer token path: a token's structure, its JOSE header and its
//! claims. Half the inputs are tokens as sent; the other half are a JOSE
//! header and claims (split at the first 0xFF byte) signed with the key the
//! verifier holds, so that header and claims parsing is reached past the
//! signature check.
#![no_main]
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use warrant::auth::{KeySet, Tokens};
use warrant::config::Secret;

const SECRET: &str = "fuzzing-secret-fuzzing-secret-fuzzing";

fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| Tokens::new(KeySet::hs256(&Secret::new(SECRET)), "warrant", "warrant", 900))
}

fn signed(header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let at = rest.iter().position(|b| *b == 0xFF).unwrap_or(rest.len());
        signed(&rest[..at], rest.get(at + 1..).unwrap_or_default())
    };
    if let Ok(claims) = tokens().verify(&token) {
        // Whatever passes carries what every protected route relies on.
        assert!(!claims.session_id.as_str().is_empty());
        assert!(claims.user_id.0 > 0);
    }
});
