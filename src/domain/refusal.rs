//! Why a change was refused by the rules inside its transaction, which then
//! rolls back: nothing of it is stored.

/// A rule, checked under the change's row locks, that said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The account is gone, or its password was replaced, since the
    /// password (or the login waiting for its code) was checked.
    #[error("the account changed since its password was checked")]
    Stale,
    #[error("no such user")]
    NoSuchUser,
    /// It would leave no admin.
    #[error("that would leave no admin")]
    LastAdmin,
    /// The acting admin was demoted or deleted since their token was issued.
    #[error("the acting account is no longer an admin")]
    NoLongerAdmin,
    /// The code was used already (its TOTP step, or the recovery code).
    #[error("the code was used already")]
    CodeUsed,
    /// Two-factor login is not on (or the enrolment expired).
    #[error("two-factor login is not on")]
    SecondFactorOff,
    /// Another account verified this email address first.
    #[error("another account verified this address first")]
    EmailTaken,
    /// A mailed link that is unknown, used, expired or superseded.
    #[error("the link is unknown, used, expired or superseded")]
    InvalidLink,
}
