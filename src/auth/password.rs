//! Argon2id hashing, off the async workers and capped in concurrency so a
//! login flood queues instead of stalling every other route.
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier};
use argon2::Argon2;
use prometheus::IntGauge;
use tokio::sync::Semaphore;

use crate::domain::Password;

/// How long a request waits for a hashing slot before we answer 503.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password hashes queued")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes a password with argon2id and the crate's default (OWASP minimum)
/// parameters, returning the PHC string.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordVerifier::<str>::verify_password(&Argon2::default(), password.as_bytes(), phc).is_ok()
}

/// Runs argon2 on the blocking pool, at most `concurrency` at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the user does
    /// not exist, so an unknown name costs the same as a wrong password.
    dummy_hash: Arc<str>,
    in_flight: IntGauge,
}

/// Decrements a gauge when dropped.
struct GaugeGuard<'a>(&'a IntGauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl PasswordHasher {
    /// `in_flight` counts hashes running or waiting for a slot.
    pub fn new(concurrency: usize, in_flight: IntGauge) -> Result<Self, HashError> {
        let dummy = Password::parse(crate::auth::random_token(24)).map_err(HashError::Failed)?;
        let slots = Arc::new(Semaphore::new(concurrency));
        Ok(Self { slots, dummy_hash: hash_password(&dummy)?.into(), in_flight })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        self.in_flight.inc();
        // Decrements even when the request is dropped while waiting.
        let _counted = GaugeGuard(&self.in_flight);
        let _slot = tokio::time::timeout(QUEUE_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|e| HashError::Failed(e.to_string()))?;
        actix_web::web::block(work).await.map_err(|e| HashError::Failed(e.to_string()))
    }

    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move || hash_password(&password)).await?
    }

    /// Whether `password` matches `phc`; with no stored hash, verifies
    /// against the dummy and answers false, taking the same time.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, HashError> {
        let dummy = self.dummy_hash.clone();
        self.run(move || match phc {
            Some(phc) => verify_password(&password, &phc),
            None => {
                let _ = verify_password(&password, &dummy);
                false
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let password = Password::parse("correct horse battery".into()).unwrap();
        let phc = hash_password(&password).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse battery!", &phc));
        assert!(!verify_password("anything", "not a phc string"));
    }
}
