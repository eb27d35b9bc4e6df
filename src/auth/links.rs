//! The tokens of mailed links (email verification, password reset). A
//! link's token is derived from its public id with a key every instance
//! shares (HMAC-SHA256): the database keeps the id and the token's hash,
//! the outbox the id, and the sender derives the token only to write the
//! mail. 256 bits, unpadded base64url.
use base64::Engine;
use hmac::Mac;
use sha2::{Digest, Sha256};

use super::random_token;

pub struct LinkKey {
    key: Vec<u8>,
}

/// A new link's id, token and the token's stored hash.
pub struct NewLinkToken {
    pub id: String,
    pub token: String,
    pub hash: String,
}

impl LinkKey {
    /// The name of the shared key in the database.
    pub const SECRET_NAME: &'static str = "email_link_key";

    pub fn new(key: &str) -> Self {
        Self { key: key.as_bytes().to_vec() }
    }

    /// A fresh key to share (256 random bits).
    pub fn generate_key() -> String {
        random_token(32)
    }

    pub fn new_link(&self) -> NewLinkToken {
        let id = random_token(16);
        let token = self.token_of(&id);
        NewLinkToken { hash: hash_link_token(&token), id, token }
    }

    /// The token of the link `id`.
    pub fn token_of(&self, id: &str) -> String {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("any key length"));
        mac.update(b"warrant email link\0");
        mac.update(id.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The stored form of a link's token.
pub fn hash_link_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_token_is_256_url_safe_bits_derived_from_its_id_and_the_key() {
        let key = LinkKey::new("key one");
        let link = key.new_link();
        assert_eq!(link.token.len(), 43);
        assert!(link.token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(key.token_of(&link.id), link.token, "the sender derives the same token");
        assert_eq!(link.hash, hash_link_token(&link.token));
        assert_ne!(LinkKey::new("key two").token_of(&link.id), link.token, "not without the key");
        assert_ne!(key.new_link().id, link.id);
    }
}
