//! Two-factor login (TOTP): enrolment, the login's second step, recovery
//! codes, turning it off, and the resets for a lost device.
use crate::auth::mfa::TotpSecret;
use crate::auth::mfa::{hash_mfa_token, hash_recovery_code, is_recovery_code, new_recovery_codes, qr_svg};
use crate::auth::{new_refresh_token, random_token};
use crate::db;
use crate::db::accounts::{Attempt, MfaChange, SecondFactor};
use crate::db::mfa::{Factor, Status};
use crate::domain::{Amr, ClientDetails, ClientIp, GuessKind, GuessSubject, SessionId, UserId};
use crate::service::{Guesser, ServiceError};
use crate::telemetry::AUDIT;

use super::{Accounts, TokenPair};

/// What an authenticator app needs, shown once at enrolment.
pub struct Enrolment {
    /// Base32, for typing.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, for scanning.
    pub qr_svg: String,
}

const NOT_ON: ServiceError = ServiceError::NotFound("two-factor login is not on for this account");
const WRONG_CODE: ServiceError = ServiceError::InvalidCode("the code is wrong, or was used already");

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
        let step =
            self.mfa_key.open(user, &pending.sealed_secret)?.step_of(code, unix_now()).ok_or(WRONG_CODE)?;
        let (codes, hashes) = new_recovery_codes();
        let keep = session.clone();
        let confirmed = self
            .sessions
            .ending(Some(user), move |conn, policy| {
                Ok(db::accounts::confirm_enrolment(conn, user, &keep, step, &hashes, policy)?.and_ended())
            })
            .await?;
        match confirmed {
            MfaChange::Done(ended) => {
                tracing::info!(target: AUDIT, event = "mfa_enabled", user_id = user.0, session_id = %session,
                    sessions_ended = ended.len(), ip = %ip);
                Ok(codes)
            }
            MfaChange::Gone => Err(ServiceError::SessionEnded),
            _ => Err(ServiceError::InvalidCode("the enrolment expired: start again with POST /me/mfa/totp")),
        }
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
        let changed = self
            .sessions
            .ending(Some(user), move |conn, policy| {
                Ok(db::accounts::turn_off_mfa(conn, user, &keep, &checked, &proof, policy)?.and_ended())
            })
            .await?;
        let ended = match changed {
            MfaChange::Done(ended) => ended,
            MfaChange::CodeUsed => return Err(WRONG_CODE),
            MfaChange::Gone => return Err(ServiceError::InvalidCredentials),
            MfaChange::Off => return Err(NOT_ON),
        };
        tracing::info!(target: AUDIT, event = "mfa_disabled", user_id = user.0, session_id = %session,
            sessions_ended = ended.len(), ip = %ip);
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
        let renewed = self
            .sessions
            .db()
            .write_for(user, move |conn| {
                db::accounts::renew_recovery_codes(conn, user, &checked, &proof, &hashes)
            })
            .await?;
        match renewed {
            MfaChange::Done(()) => {
                tracing::info!(target: AUDIT, event = "mfa_recovery_codes_renewed", user_id = user.0, ip = %ip);
                Ok(codes)
            }
            MfaChange::Off => Err(NOT_ON),
            MfaChange::CodeUsed => Err(WRONG_CODE),
            MfaChange::Gone => Err(ServiceError::InvalidCredentials),
        }
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
        let proof = self.check_code(user, &factor, code).map_err(failed)?;
        let session = SessionId(random_token(16));
        let (refresh_token, refresh_hash) = new_refresh_token();
        let sid = session.clone();
        let recovery = matches!(proof, SecondFactor::RecoveryCode { .. });
        let completed = self
            .sessions
            .ending(Some(user), move |conn, policy| {
                let completed = db::accounts::complete_login(
                    conn,
                    &token_hash,
                    &proof,
                    &sid,
                    &refresh_hash,
                    &client,
                    policy,
                )?;
                Ok(completed.and_ended())
            })
            .await?;
        let started = match completed {
            MfaChange::Done(started) => started,
            MfaChange::CodeUsed => return Err(failed(WRONG_CODE)),
            MfaChange::Gone | MfaChange::Off => return Err(ServiceError::InvalidMfaToken),
        };
        self.sessions.started(&session, user);
        self.metrics.logins.with_label_values(&["ok"]).inc();
        tracing::info!(target: AUDIT, event = "login", user_id = user.0, session_id = %session, amr = "pwd otp",
            recovery_code = recovery, ip = %ip);
        self.pair(started.user, session, refresh_token, Amr::PasswordAndOtp)
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
            _ => Err(WRONG_CODE),
        }
    }
}
