//! Why a use case did not happen, in the service's terms; the HTTP edge maps
//! each to the contract's status and code.
use crate::auth::mfa::UnknownMfaKey;
use crate::auth::HashError;
use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unknown username or wrong password")]
    InvalidCredentials,
    #[error("unknown, expired or revoked refresh token")]
    InvalidRefreshToken,
    /// The caller's session, or the role it acted with, has ended.
    #[error("the session of this token has ended")]
    SessionEnded,
    /// A correctly signed token for a session this deployment never issued.
    #[error("unknown session")]
    UnknownSession,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("that would leave no admin")]
    LastAdmin,
    #[error("too many requests from this address; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The account's budget of wrong guesses (passwords or codes) is spent.
    #[error("too many wrong attempts for this account; retry in {retry_after_secs} s")]
    AccountThrottled { retry_after_secs: u64 },
    /// SIGTERM came: the instance drains before it stops.
    #[error("this instance is shutting down")]
    ShuttingDown,
    /// This instance cannot read which sessions have ended.
    #[error("revocations not synced within a second")]
    NotSynced,
    /// The password was right; the login waits for a code under this token.
    #[error("this account needs a second factor: send a code to /login/mfa with the mfa_token")]
    MfaRequired(String),
    #[error("the mfa_token is unknown, expired, used, or out of attempts; log in again")]
    InvalidMfaToken,
    #[error("{0}")]
    InvalidCode(&'static str),
    #[error("two-factor login is already on")]
    MfaAlreadyEnabled,
    /// A TOTP secret sealed under a key this instance does not hold.
    #[error(transparent)]
    MfaKey(#[from] UnknownMfaKey),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("signing failed: {0}")]
    Signing(String),
}
