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

/// Each refresh token's successor, derived from it with a key every instance
/// shares (HMAC-SHA256): a repeat of a just-rotated token, on any instance,
/// is answered with the very successor the first rotation stored (as a
/// hash), without the successor being stored itself. Without the key, a
/// used token tells nothing of its successor.
pub struct Successors {
    key: Vec<u8>,
}

impl Successors {
    /// The name of the shared key in the database.
    pub const SECRET_NAME: &'static str = "refresh_successor_key";

    pub fn new(key: &str) -> Self {
        Self { key: key.as_bytes().to_vec() }
    }

    /// A fresh key to share (256 random bits).
    pub fn generate_key() -> String {
        random_token(32)
    }

    /// The successor of `parent`, and the hash to store.
    pub fn of(&self, parent: &str) -> (String, RefreshHash) {
        use base64::Engine;
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(parent.as_bytes());
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let hash = hash_refresh_token(&token);
        (token, hash)
    }
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

    #[test]
    fn a_successor_depends_on_its_parent_and_the_shared_key() {
        let (one, other) = (Successors::new("key one"), Successors::new("key two"));
        let (successor, hash) = one.of("parent");
        assert_eq!(one.of("parent").0, successor, "every instance derives the same one");
        assert_eq!(hash, hash_refresh_token(&successor));
        assert_eq!(successor.len(), 43, "256 bits");
        assert_ne!(one.of("another parent").0, successor);
        assert_ne!(other.of("parent").0, successor, "not without the key");
    }
}
