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
    /// Longest id accepted from a client (ours are 22 characters).
    const MAX_CHARS: usize = 64;

    /// A session id sent by a client, if it can be one: 1–64 characters of
    /// base64url. Anything else names no session, and costs no query.
    pub fn parse(raw: &str) -> Option<Self> {
        let fits = !raw.is_empty()
            && raw.len() <= Self::MAX_CHARS
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        fits.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RefreshHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_from_clients_are_base64url_and_short() {
        assert!(SessionId::parse("AbC-_09xyzAbC-_09xyzAb").is_some());
        for bad in ["", "a b", "%00", "\0", "a/b", "ä", &"a".repeat(65)] {
            assert!(SessionId::parse(bad).is_none(), "{bad:?}");
        }
    }
}
