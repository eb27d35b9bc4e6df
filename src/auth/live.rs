//! Sessions this instance knows to be live, so that a token is honoured only
//! for a session this deployment issued, and checking one costs no database
//! round trip in the common case: sessions started here are known at once,
//! others after one lookup.
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::domain::{SessionId, UserId};

/// Sessions remembered at most; past it the set starts over (each session
/// then costs one lookup again).
const CAPACITY: usize = 200_000;

/// Session id → the user it belongs to.
#[derive(Default)]
pub struct LiveSessions {
    known: RwLock<HashMap<String, UserId>>,
}

impl LiveSessions {
    /// Whether the session is known to have been issued by this deployment
    /// to `user`: a token pairing one user's `sub` with another's session
    /// is not. Ended sessions are refused before this is asked (see
    /// `Revocations`).
    pub fn knows(&self, session: &SessionId, user: UserId) -> bool {
        self.known.read().unwrap_or_else(PoisonError::into_inner).get(session.as_str()) == Some(&user)
    }

    /// Remembers a session of `user` found live (started here, or looked up).
    pub fn remember(&self, session: &SessionId, user: UserId) {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= CAPACITY {
            known.clear();
        }
        known.insert(session.0.clone(), user);
    }
}
