//! Why a use case did not happen, in the service's terms. Each variant's
//! message is the `detail` a client reads (faults apart, whose causes are
//! only logged); the HTTP edge gives each its status and code in one table.
use crate::auth::mfa::UnknownMfaKey;
use crate::auth::HashError;
use crate::db::DbError;
use crate::domain::Refusal;

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
    #[error("this instance cannot read which sessions have ended; retry shortly")]
    NotSynced,
    #[error("the mfa_token is unknown, expired, used, or out of attempts; log in again")]
    InvalidMfaToken,
    /// A wrong code where the code is the credential (the login's second
    /// step): refused as a wrong password is.
    #[error("{0}")]
    LoginCodeRejected(&'static str),
    /// A wrong code where a signed-in owner confirms a change with one.
    #[error("{0}")]
    InvalidCode(&'static str),
    #[error("two-factor login is already on")]
    MfaAlreadyEnabled,
    /// Another account verified the address first: a conflict when
    /// verifying, a field that failed at signup.
    #[error("another account uses this email address")]
    EmailTaken { at_signup: bool },
    #[error("the link is unknown, used, expired or superseded: ask for a new one")]
    InvalidLink,
    /// A passkey that does not verify (any reason: one answer): a failed
    /// login, or a refused registration.
    #[error("the passkey did not verify")]
    InvalidPasskey { at_login: bool },
    /// A TOTP secret sealed under a key this instance does not hold.
    #[error("this instance cannot read two-factor secrets (its WARRANT_MFA_KEY); retry later")]
    MfaKey(#[source] UnknownMfaKey),
    #[error("the database failed")]
    Db(#[source] DbError),
    #[error("password hashing failed")]
    Hash(#[source] HashError),
    #[error("signing the token failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// The wrong code a signed-in owner gives, or one used already.
pub(super) const WRONG_CODE: &str = "the code is wrong, or was used already";
/// TOTP is off for the account.
pub(super) const NOT_ON: ServiceError = ServiceError::NotFound("two-factor login is not on for this account");

impl From<Refusal> for ServiceError {
    /// A rule's refusal, as most use cases answer it; those that answer
    /// one differently say so where they call.
    fn from(refusal: Refusal) -> Self {
        match refusal {
            // The password checked is no longer the account's.
            Refusal::Stale => Self::InvalidCredentials,
            Refusal::NoSuchUser => Self::NotFound("no such user"),
            Refusal::LastAdmin => Self::LastAdmin,
            // Demoted or deleted (on any instance) after this token was issued.
            Refusal::NoLongerAdmin => Self::SessionEnded,
            Refusal::CodeUsed => Self::InvalidCode(WRONG_CODE),
            Refusal::SecondFactorOff => NOT_ON,
            Refusal::EmailTaken => Self::EmailTaken { at_signup: false },
            Refusal::InvalidLink => Self::InvalidLink,
        }
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Refused(refusal) => refusal.into(),
            other => Self::Db(other),
        }
    }
}

impl From<HashError> for ServiceError {
    fn from(e: HashError) -> Self {
        Self::Hash(e)
    }
}

impl From<UnknownMfaKey> for ServiceError {
    fn from(e: UnknownMfaKey) -> Self {
        Self::MfaKey(e)
    }
}
