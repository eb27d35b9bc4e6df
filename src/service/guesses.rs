//! The per-account budgets against guessing, as the use cases spend them: a
//! guess is charged before it is checked and refunded when it was right,
//! so concurrent guesses on any instance cannot slip past the limit. See
//! `domain::guessing` for the numbers.
use crate::db::{self, Db};
use crate::domain::{Charge, ClientIp, GuessKind, GuessSubject, UserId};
use crate::metrics::Metrics;
use crate::telemetry::AUDIT;

use super::ServiceError;

#[derive(Clone)]
pub struct Guesses {
    db: Db,
    metrics: Metrics,
}

/// Who is guessing, as far as the budgets care: the account the guess is
/// at, if it exists, and the network it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Guesser<'a> {
    pub account: Option<UserId>,
    pub network: Option<&'a str>,
    pub ip: ClientIp,
}

impl Guesses {
    pub fn new(db: Db, metrics: Metrics) -> Self {
        Self { db, metrics }
    }

    /// Charges one guess of `subject`; `AccountThrottled` when its budget is
    /// spent. A password guess from a network the account logged in from
    /// within 30 days passes a spent budget: the owner is never locked out.
    pub async fn charge(&self, subject: &GuessSubject, by: Guesser<'_>) -> Result<(), ServiceError> {
        let (charged, kind) = (subject.clone(), subject.kind);
        let known = match (kind, by.account, by.network) {
            (GuessKind::Password, Some(user), Some(network)) => Some((user, network.to_owned())),
            _ => None,
        };
        let outcome = self
            .db
            .write(move |conn| {
                let now = db::now();
                db::guesses::charge(conn, &charged, now, |conn| match &known {
                    Some((user, network)) => db::guesses::is_known_network(conn, *user, network, now),
                    None => Ok(false),
                })
            })
            .await?;
        self.settle(kind, outcome, by)
    }

    /// What a charge made (here, or inside a use case's own transaction)
    /// means for the guess: `AccountThrottled` when refused; the audit
    /// event when it spent the budget, and the metric when it was refused.
    pub fn settle(&self, kind: GuessKind, outcome: Charge, by: Guesser<'_>) -> Result<(), ServiceError> {
        match outcome {
            Charge::Admitted(budget) => {
                if budget.failures == kind.limit() {
                    // The account's id when it exists, never the name typed.
                    tracing::warn!(target: AUDIT, event = "account_throttled", kind = kind.as_str(),
                        user_id = by.account.map(|u| u.0), window_secs = budget.window.num_seconds(), ip = %by.ip);
                }
                Ok(())
            }
            Charge::Throttled { retry_after } => {
                self.metrics.account_throttled.with_label_values(&[kind.as_str()]).inc();
                tracing::info!(target: AUDIT, event = "guess_refused", kind = kind.as_str(),
                    user_id = by.account.map(|u| u.0), ip = %by.ip);
                Err(ServiceError::AccountThrottled {
                    retry_after_secs: retry_after.num_seconds().max(1) as u64,
                })
            }
        }
    }

    /// Takes back the charge of a guess that was right.
    pub async fn refund(&self, subject: &GuessSubject) -> Result<(), ServiceError> {
        let subject = subject.clone();
        Ok(self.db.write(move |conn| db::guesses::refund(conn, &subject)).await?)
    }
}
