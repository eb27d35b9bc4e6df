//! Authentication: passwords, signing keys, access and refresh tokens, and
//! the in-memory mirror of ended sessions. No HTTP here: the edge's
//! extractors (`http::extract`) call [`Tokens::verify`] and
//! [`Revocations::is_revoked`]. May import `db`, `domain`, `config`.
pub mod keys;
mod links;
mod live;
pub mod mfa;
mod password;
mod random;
mod refresh;
mod revocations;
mod token;

pub use keys::{KeySet, JWKS_MAX_AGE_SECS, ROTATION_LEAD};
pub use links::{hash_link_token, LinkKey, NewLinkToken};
pub use live::LiveSessions;
pub use password::{hash_password, HashError, PasswordHasher, Verdict};
pub use random::random_token;
pub use refresh::{hash_refresh_token, new_refresh_token, Successors};
pub use revocations::{Revocations, SyncClock, MAX_STALENESS, SYNC_INTERVAL};
pub use token::{AccessClaims, IssuedToken, TokenError, Tokens};
