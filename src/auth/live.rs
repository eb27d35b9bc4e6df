//! Sessions this instance knows to be live, so that a token is honoured only
//! for a session this deployment issued, and checking one costs no database
//! round trip in the common case: sessions started here are known at once,
//! others after one lookup.
use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

/// Sessions remembered at most; past it the set starts over (each session
/// then costs one lookup again).
const CAPACITY: usize = 200_000;

#[derive(Default)]
pub struct LiveSessions {
    known: RwLock<HashSet<String>>,
}

impl LiveSessions {
    /// Whether the session is known to have been issued by this deployment.
    /// Ended sessions are refused before this is asked (see `Revocations`).
    pub fn knows(&self, session_id: &str) -> bool {
        self.known.read().unwrap_or_else(PoisonError::into_inner).contains(session_id)
    }

    /// Remembers a session found live (started here, or looked up).
    pub fn remember(&self, session_id: &str) {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if known.len() >= CAPACITY {
            known.clear();
        }
        known.insert(session_id.to_string());
    }
}
