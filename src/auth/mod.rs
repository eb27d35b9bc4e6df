//! Authentication: passwords, signing keys, access tokens, and the request
//! extractors that check them.
mod extractor;
pub mod keys;
mod password;
mod random;
mod token;

pub use extractor::{AdminUser, AuthUser};
pub use keys::KeySet;
pub use password::{hash_password, HashError, PasswordHasher};
pub use random::random_token;
pub use token::{AccessClaims, IssuedToken, TokenError, Tokens, LEEWAY_SECS};
