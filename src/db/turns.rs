//! One account's writes take at most a share of the pool. A row lock held
//! on one account (a stuck transaction elsewhere, a hostile client) makes
//! that account's writes wait up to the bound; without a cap, enough of them
//! would hold every pooled connection, and everyone else would wait too.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::DbError;

pub(super) struct AccountTurns {
    per_account: usize,
    /// Accounts with writes running or waiting; an entry goes with its last.
    accounts: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// A write's turn for its account, held until dropped.
pub(super) struct Turn {
    account: i64,
    turns: Arc<AccountTurns>,
    semaphore: Option<Arc<Semaphore>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl AccountTurns {
    /// At most `per_account` writes of one account at a time.
    pub(super) fn new(per_account: usize) -> Arc<Self> {
        Arc::new(Self { per_account: per_account.max(1), accounts: Mutex::default() })
    }

    /// Waits at most `wait` for a turn to write for `account`.
    pub(super) async fn take(self: &Arc<Self>, account: i64, wait: Duration) -> Result<Turn, DbError> {
        let semaphore = self
            .accounts
            .lock()
            .entry(account)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
            .clone();
        // Made before waiting, so that a request dropped while it waits
        // still cleans up after itself.
        let mut turn =
            Turn { account, turns: self.clone(), semaphore: Some(semaphore.clone()), permit: None };
        let permit = tokio::time::timeout(wait, semaphore.acquire_owned()).await.map_err(|_| {
            DbError::TimedOut(format!(
                "account {account} had {} writes waiting on the database for {} ms",
                self.per_account,
                wait.as_millis()
            ))
        })?;
        turn.permit = Some(permit.map_err(|e| DbError::Other(e.to_string()))?);
        Ok(turn)
    }

    /// Accounts with writes running or waiting (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.accounts.lock().len()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut accounts = self.turns.accounts.lock();
        self.permit.take();
        self.semaphore.take();
        if accounts.get(&self.account).is_some_and(|s| Arc::strong_count(s) == 1) {
            accounts.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_account_past_its_share_waits_then_times_out_and_others_go_on() {
        let turns = AccountTurns::new(2);
        let wait = Duration::from_millis(50);
        let first = turns.take(1, wait).await.unwrap();
        let _second = turns.take(1, wait).await.unwrap();
        assert!(matches!(turns.take(1, wait).await, Err(DbError::TimedOut(_))));
        let other = turns.take(2, wait).await.unwrap();
        drop(first);
        let _third = turns.take(1, wait).await.unwrap();
        drop(other);
        assert_eq!(turns.len(), 1, "an account with no writes left is forgotten");
    }
}
