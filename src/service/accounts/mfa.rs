//! Two-factor login (TOTP): enrolment, the login's second step, recovery
//! codes, turning it off, and the resets for a lost device.
use crate::auth::mfa::TotpSecret;
use crate::auth::mfa::{hash_mfa_token, hash_recovery_code, is_recovery_code, new_recovery_codes, qr_svg};
use crate::db::accounts::{Attempt, NewLogin, SecondFactor};
use crate::db::mfa::{Factor, Status};
use crate::db::{self, DbError};
use crate::domain::{Amr, ClientDetails, ClientIp, GuessKind, GuessSubject, Refusal, SessionId, UserId};
use crate::service::error::{NOT_ON, WRONG_CODE};
use crate::service::{Guesser, ServiceError};
use crate::telemetry::AUDIT;

use super::{Accounts, NewTokens, TokenPair};

/// What an authenticator app needs, shown once at enrolment.
pub struct Enrolment {
    /// Base32, for typing.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, for scanning.
    pub qr_svg: String,
}

/// At the login's second step the code is the credential: a wrong one is
/// refused as a wrong password is.
fn as_login(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::InvalidCode(detail) => ServiceError::LoginCodeRejected(detail),
        other => other,
    }
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

impl Accounts {
    /// Starts a TOTP enrolment (replacing an unconfirmed one) once the
    /// password is confirmed. It is not on until `confirm_totp`.
    pub async fn enrol_totp(
        &self,
        user: UserId,
        password: String,
        ip: ClientIp,
    ) -> Result<Enrolment, ServiceError> {
        self.check_password(user, password, ip).await?;
        let account = self.me(user).await?;
        let secret = TotpSecret::generate();
        let sealed = self.mfa_key.seal(user, &secret);
        let stored =
            self.sessions.db().write_for(user, move |conn| db::mfa::enrol(conn, user, &sealed)).await?;
        if !stored {
            return Err(ServiceError::MfaAlreadyEnabled);
        }
        tracing::info!(target: AUDIT, event = "mfa_enrolment_started", user_id = user.0, ip = %ip);
        let otpauth_uri = secret.otpauth_uri(&self.issuer, &account.username);
        Ok(Enrolment { secret: secret.base32(), qr_svg: qr_svg(&otpauth_uri), otpauth_uri })
    }

    /// Turns the enrolment on with a first correct code, and ends every
    /// other session of the user; the recovery codes, in the clear, this
    /// once.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        session: SessionId,
        code: &str,
        ip: ClientIp,
    ) -> Result<Vec<String>, ServiceError> {
        let (pending, on) = self
            .sessions
            .db()
            .read(move |conn| Ok((db::mfa::factor(conn, user, false)?, db::mfa::factor(conn, user, true)?)))
            .await?;
        let pending =
            match (pending, on) {
                (_, Some(_)) => return Err(ServiceError::MfaAlreadyEnabled),
                (None, None) => return Err(ServiceError::InvalidCode(
                    "no enrolment is waiting (none started, or it expired): start one with POST /me/mfa/totp",
                )),
                (Some(pending), None) => pending,
            };
        let step = self
            .mfa_key
            .open(user, &pending.sealed_secret)?
            .step_of(code, unix_now())
            .ok_or(ServiceError::InvalidCode(WRONG_CODE))?;
        let (codes, hashes) = new_recovery_codes();
        let keep = session.clone();
        let ended = self
            .sessions
            .write(Some(user), move |tx, policy| {
                db::accounts::confirm_enrolment(tx, user, &keep, step, &hashes, policy)
            })
            .await
            .map_err(|e| match e {
                DbError::Refused(Refusal::Stale) => ServiceError::SessionEnded,
                DbError::Refused(Refusal::SecondFactorOff) => {
                    ServiceError::InvalidCode("the enrolment expired: start again with POST /me/mfa/totp")
                }
                other => other.into(),
            })?;
        tracing::info!(target: AUDIT, event = "mfa_enabled", user_id = user.0, session_id = %session,
            sessions_ended = ended, ip = %ip);
        Ok(codes)
    }

    /// Whether TOTP is on, and how many recovery codes are left.
    pub async fn mfa_status(&self, user: UserId) -> Result<Status, ServiceError> {
        Ok(self.sessions.db().read(move |conn| db::mfa::status(conn, user)).await?)
    }

    /// Turns TOTP off (password and a current code, or a recovery code) and
    /// ends every other session of the user.
    pub async fn turn_off_totp(
        &self,
        user: UserId,
        session: SessionId,
        password: String,
        code: &str,
        ip: ClientIp,
    ) -> Result<(), ServiceError> {
        let checked = self.check_password(user, password, ip).await?;
        let proof = self.recheck_code(user, code, ip).await?;
        let keep = session.clone();
        let ended = self
            .sessions
            .write(Some(user), move |tx, policy| {
                db::accounts::turn_off_mfa(tx, user, &keep, &checked, &proof, policy)
            })
            .await?;
        tracing::info!(target: AUDIT, event = "mfa_disabled", user_id = user.0, session_id = %session,
            sessions_ended = ended, ip = %ip);
        Ok(())
    }

    /// A new set of recovery codes (password and a current code
    /// confirmed: a stolen session and the password are not enough); the
    /// old set dies.
    pub async fn renew_recovery_codes(
        &self,
        user: UserId,
        password: String,
        code: &str,
        ip: ClientIp,
    ) -> Result<Vec<String>, ServiceError> {
        let checked = self.check_password(user, password, ip).await?;
        let proof = self.recheck_code(user, code, ip).await?;
        let (codes, hashes) = new_recovery_codes();
        self.sessions
            .db()
            .write_for(user, move |conn| {
                db::accounts::renew_recovery_codes(conn, user, &checked, &proof, &hashes)
            })
            .await?;
        tracing::info!(target: AUDIT, event = "mfa_recovery_codes_renewed", user_id = user.0, ip = %ip);
        Ok(codes)
    }

    /// A code the signed-in owner gives again to confirm a change: charged
    /// to the account's second-factor budget (429 once spent), then checked
    /// against the factor; it is spent, and refunded, by the change.
    async fn recheck_code(
        &self,
        user: UserId,
        code: &str,
        ip: ClientIp,
    ) -> Result<SecondFactor, ServiceError> {
        let factor =
            self.sessions.db().read(move |conn| db::mfa::factor(conn, user, true)).await?.ok_or(NOT_ON)?;
        let network = ip.network();
        let by = Guesser { account: Some(user), network: network.as_deref(), ip };
        self.guesses.charge(&GuessSubject::second_factor_of(user), by).await?;
        self.check_code(user, &factor, code)
    }

    /// The login's second step: a TOTP or recovery code for the login
    /// waiting under `mfa_token`. Five wrong codes end that login.
    pub async fn log_in_with_code(
        &self,
        mfa_token: &str,
        code: &str,
        ip: ClientIp,
        client: ClientDetails,
    ) -> Result<TokenPair, ServiceError> {
        let token_hash = hash_mfa_token(mfa_token);
        let attempt = token_hash.clone();
        let waiting =
            self.sessions.db().write(move |conn| db::accounts::attempt_login(conn, &attempt)).await?;
        let Some(Attempt { user, factor, charge }) = waiting else {
            return Err(ServiceError::InvalidMfaToken);
        };
        let network = client.network.clone();
        let by = Guesser { account: Some(user), network: network.as_deref(), ip };
        self.guesses.settle(GuessKind::SecondFactor, charge, by)?;
        let failed = |reason: ServiceError| {
            self.metrics.logins.with_label_values(&["failed"]).inc();
            tracing::info!(target: AUDIT, event = "login_mfa_failed", user_id = user.0, ip = %ip);
            reason
        };
        let proof = self.check_code(user, &factor, code).map_err(|e| failed(as_login(e)))?;
        let new = NewTokens::generate();
        let (sid, refresh_hash) = (new.session.clone(), new.refresh_hash.clone());
        let recovery = matches!(proof, SecondFactor::RecoveryCode { .. });
        let account = self
            .sessions
            .write(Some(user), move |tx, policy| {
                let login = NewLogin { id: &sid, first_token: &refresh_hash, client: &client };
                db::accounts::complete_login(tx, &token_hash, &proof, login, policy)
            })
            .await
            .map_err(|e| match e {
                DbError::Refused(Refusal::Stale) => ServiceError::InvalidMfaToken,
                DbError::Refused(Refusal::CodeUsed) => failed(ServiceError::LoginCodeRejected(WRONG_CODE)),
                other => other.into(),
            })?;
        self.metrics.logins.with_label_values(&["ok"]).inc();
        tracing::info!(target: AUDIT, event = "login", user_id = user.0, session_id = %new.session,
            amr = "pwd otp", recovery_code = recovery, ip = %ip);
        self.begin(account, new, Amr::PasswordAndOtp)
    }

    /// Which factor `code` is, checked against the stored secret (a
    /// recovery code is checked when spent).
    fn check_code(&self, user: UserId, factor: &Factor, code: &str) -> Result<SecondFactor, ServiceError> {
        if is_recovery_code(code) {
            return Ok(SecondFactor::RecoveryCode { hash: hash_recovery_code(code) });
        }
        let secret = self.mfa_key.open(user, &factor.sealed_secret)?;
        match secret.step_of(code, unix_now()) {
            Some(step) if step > factor.last_step => Ok(SecondFactor::Totp { step }),
            _ => Err(ServiceError::InvalidCode(WRONG_CODE)),
        }
    }
}
