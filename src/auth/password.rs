//! Argon2id hashing on a few dedicated threads, off the async workers and
//! capped in concurrency, so a login flood queues instead of stalling every
//! other route. Dedicated threads also bound memory: each keeps at most one
//! 19 MiB argon2 block in its allocator arena.
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

/// Random salt bytes per hash (RFC 9106 recommends 16).
const SALT_BYTES: usize = 16;
/// Hash output bytes.
const OUTPUT_BYTES: usize = 32;

thread_local! {
    /// Each hashing thread's argon2 working memory (19 MiB with the default
    /// parameters), allocated once and reused: allocating it per hash left
    /// the allocator holding several copies per thread.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn hash_into(argon2: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), String> {
    let blocks = argon2.params().block_count();
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| e.to_string())
    })
}

/// Hashes a password with argon2id and the crate's default (OWASP minimum)
/// parameters, returning the PHC string.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    hash_secret(password.expose())
}

/// [`hash_password`] for a password that is already stored: the rules apply
/// when a password is chosen, not when its hash is renewed.
fn hash_secret(password: &str) -> Result<String, HashError> {
    let failed = |e: String| HashError::Failed(e);
    let argon2 = Argon2::default();
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| failed(e.to_string()))?;
    let mut out = [0u8; OUTPUT_BYTES];
    hash_into(&argon2, password.as_bytes(), &salt, &mut out).map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|e| failed(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(e.to_string()))?),
        hash: Some(Output::new(&out).map_err(|e| failed(e.to_string()))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the argon2id PHC string `phc` (compared in
/// constant time); false for anything unparsable.
fn verify_password(password: &str, phc: &str) -> bool {
    let check = || -> Option<bool> {
        let hash = PasswordHash::new(phc).ok()?;
        if hash.algorithm != Algorithm::Argon2id.ident() {
            return None;
        }
        let version = hash.version.map_or(Ok(Version::V0x13), Version::try_from).ok()?;
        let argon2 = Argon2::new(Algorithm::Argon2id, version, Params::try_from(&hash).ok()?);
        let (salt, expected) = (hash.salt?, hash.hash?);
        let mut out = vec![0u8; expected.len()];
        hash_into(&argon2, password.as_bytes(), &salt, &mut out).ok()?;
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

/// Whether `phc` was made otherwise than [`hash_password`] makes hashes now
/// (older or weaker parameters, another variant or version), so that a
/// successful login should store a fresh hash.
fn is_outdated(phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else { return true };
    let current = Argon2::default();
    hash.algorithm != Algorithm::Argon2id.ident()
        || hash.version != Some(Version::V0x13.into())
        || Params::try_from(&hash).map_or(true, |params| {
            (params.m_cost(), params.t_cost(), params.p_cost())
                != (current.params().m_cost(), current.params().t_cost(), current.params().p_cost())
        })
        || hash.hash.is_none_or(|out| out.len() != OUTPUT_BYTES)
        || hash.salt.is_none_or(|salt| salt.len() < SALT_BYTES)
}

/// The outcome of a password check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    /// The password is right; `renewed` is a fresh hash of it when the
    /// stored one is outdated, to store in its place.
    Match {
        renewed: Option<String>,
    },
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts `n` threads that run jobs from the returned sender until it is dropped.
fn spawn_hash_threads(n: usize) -> Result<mpsc::Sender<Job>, HashError> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..n {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || loop {
                let job = match receiver.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .map_err(|e| HashError::Failed(format!("cannot start hashing threads: {e}")))?;
    }
    Ok(sender)
}

/// Runs argon2 on its own threads, at most `concurrency` at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
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
        let jobs = spawn_hash_threads(concurrency)?;
        // On a hashing thread, so no other thread keeps argon2 memory.
        let (done, dummy_hash) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(hash_password(&dummy));
        });
        jobs.send(job).map_err(|_| HashError::Failed("hashing threads stopped".into()))?;
        let dummy_hash =
            dummy_hash.recv().map_err(|_| HashError::Failed("hashing thread panicked".into()))??;
        Ok(Self { slots, jobs, dummy_hash: dummy_hash.into(), in_flight })
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
        // One slot per thread: the job starts at once.
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).map_err(|_| HashError::Failed("hashing threads stopped".into()))?;
        result.await.map_err(|_| HashError::Failed("hashing thread panicked".into()))
    }

    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move || hash_password(&password)).await?
    }

    /// Whether `password` matches `phc`, renewing an outdated hash on a
    /// match (in the same hashing slot); with no stored hash, verifies
    /// against the dummy and answers a mismatch, taking the same time.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<Verdict, HashError> {
        let dummy = self.dummy_hash.clone();
        self.run(move || match phc {
            Some(phc) if verify_password(&password, &phc) => {
                let renewed = is_outdated(&phc).then(|| hash_secret(&password)).transpose()?;
                Ok(Verdict::Match { renewed })
            }
            Some(_) => Ok(Verdict::Mismatch),
            None => {
                let _ = verify_password(&password, &dummy);
                Ok(Verdict::Mismatch)
            }
        })
        .await?
    }
}

#[cfg(test)]
mod tests;
