//! Authentication: passwords, signing keys, access and refresh tokens,
//! revocation, and the request extractors that check them.
mod extractor;
pub mod keys;
mod password;
mod random;
mod refresh;
mod revocations;
mod token;

pub use extractor::{AdminUser, AuthUser, SessionToken};
pub use keys::{KeySet, JWKS_MAX_AGE_SECS, ROTATION_LEAD};
pub use password::{hash_password, HashError, PasswordHasher, Verdict};
pub use random::random_token;
pub use refresh::{hash_refresh_token, new_refresh_token};
pub use revocations::{Revocations, SyncClock, MAX_STALENESS, SYNC_INTERVAL};
pub use token::{AccessClaims, IssuedToken, TokenError, Tokens, LEEWAY_SECS};
