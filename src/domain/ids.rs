//! Ids as types: a user id cannot go where a post id is expected, nor a
//! session id where a refresh token's hash is.
use std::fmt;

/// An account's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A post's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(pub i64);

/// A session's id: the access token's `sid` (random, base64url).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

/// The SHA-256 of a refresh token, as stored (the token itself never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshHash(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl SessionId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RefreshHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
