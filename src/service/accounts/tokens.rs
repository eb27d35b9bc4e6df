//! A session's tokens after its start: a refresh token traded for a new
//! pair, and a token whose session ends (RFC 7009 revocation).
use crate::auth::hash_refresh_token;
use crate::db;
use crate::db::accounts::{Refresh, Rotation};
use crate::db::sessions::SessionSet;
use crate::domain::ClientIp;
use crate::service::ServiceError;
use crate::telemetry::AUDIT;

use super::{Accounts, TokenPair};

impl Accounts {
    /// Trades a live refresh token for a new pair. A token that was already
    /// used ends its whole session.
    pub async fn refresh(&self, presented: &str, ip: ClientIp) -> Result<TokenPair, ServiceError> {
        // The successor is derived from the token presented, so a repeat
        // within the grace window, on any instance, gets the same one.
        let (successor, successor_hash) = self.successors.of(presented);
        let presented = hash_refresh_token(presented);
        let outcome = self
            .sessions
            .write(None, move |tx, policy| {
                let rotation = Rotation { presented: &presented, successor: &successor_hash };
                db::accounts::rotate(tx, rotation, policy)
            })
            .await?;
        let result = match &outcome {
            Refresh::Rotated { .. } => "ok",
            Refresh::Repeated { .. } => "repeat",
            Refresh::Reused { .. } => "reuse",
            Refresh::Invalid => "invalid",
        };
        self.metrics.refreshes.with_label_values(&[result]).inc();
        match outcome {
            Refresh::Rotated { user, session, amr } => {
                tracing::info!(target: AUDIT, event = "refresh", user_id = user.id.0, session_id = %session, ip = %ip);
                self.pair(user, session, successor, amr)
            }
            Refresh::Repeated { user, session, amr } => {
                tracing::info!(target: AUDIT, event = "refresh_repeated", user_id = user.id.0, session_id = %session, ip = %ip);
                self.pair(user, session, successor, amr)
            }
            Refresh::Reused { user, ended } => {
                tracing::warn!(target: AUDIT, event = "refresh_reuse_detected", user_id = user.0, session_id = ?ended, ip = %ip);
                Err(ServiceError::InvalidRefreshToken)
            }
            Refresh::Invalid => Err(ServiceError::InvalidRefreshToken),
        }
    }

    /// Ends the session of `token`, a refresh or an access token (RFC 7009:
    /// a client that lost its access token can still end its session). An
    /// unknown, expired or already ended token is no error: there is
    /// nothing left to end.
    pub async fn revoke(&self, token: &str, ip: ClientIp) -> Result<(), ServiceError> {
        let refresh = hash_refresh_token(token);
        let access = self.tokens.verify(token).ok();
        let ended = self
            .sessions
            .write(access.as_ref().map(|claims| claims.user_id), move |tx, policy| {
                let session = match &access {
                    Some(claims) => Some(claims.session_id.clone()),
                    None => db::sessions::owner_of_token(tx, &refresh)?.map(|(session, _)| session),
                };
                match &session {
                    Some(session) => db::sessions::end(tx, SessionSet::One(session), policy),
                    None => Ok(Vec::new()),
                }
            })
            .await?;
        if !ended.is_empty() {
            tracing::info!(target: AUDIT, event = "revoked", session_id = ?ended, ip = %ip);
        }
        Ok(())
    }
}
