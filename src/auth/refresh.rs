//! Opaque refresh tokens: 256 random bits, handed out once, stored only as a
//! SHA-256 hash (a fast hash is enough for a high-entropy secret).
use sha2::{Digest, Sha256};

use super::random_token;
use crate::domain::RefreshHash;

/// Random bytes in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

/// A new refresh token and the hash to store.
pub fn new_refresh_token() -> (String, RefreshHash) {
    let token = random_token(REFRESH_TOKEN_BYTES);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> RefreshHash {
    RefreshHash(Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_url_safe_and_stored_hashed() {
        let (token, hash) = new_refresh_token();
        assert_eq!(token.len(), 43, "32 bytes in unpadded base64url");
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(hash, hash_refresh_token(&token));
        assert_eq!(hash.as_str().len(), 64);
        assert!(!hash.as_str().contains(&token));
        assert_ne!(new_refresh_token().0, token);
    }
}
