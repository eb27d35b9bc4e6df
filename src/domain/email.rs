use std::fmt;

pub const MIN_EMAIL_CHARS: usize = 3;
pub const MAX_EMAIL_CHARS: usize = 254;

/// An email address as the contract takes it: 3–254 characters, exactly one
/// `@` with something on each side, no whitespace or control characters.
/// Kept as written; compared case-insensitively (by [`Email::key`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(MIN_EMAIL_CHARS..=MAX_EMAIL_CHARS).contains(&len) {
            return Err(format!("must be {MIN_EMAIL_CHARS} to {MAX_EMAIL_CHARS} characters long"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("may not contain whitespace or control characters".into());
        }
        match raw.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {
                Ok(Self(raw.to_string()))
            }
            _ => Err("must be an address with exactly one '@' and something on each side".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and lookups compare: lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.0)
    }
}

/// What a mailed link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Makes the address it was sent to the account's verified email.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify-email",
            Self::ResetPassword => "reset-password",
        }
    }

    pub fn from_stored(stored: &str) -> Option<Self> {
        [Self::VerifyEmail, Self::ResetPassword].into_iter().find(|p| p.as_str() == stored)
    }
}

/// Reset mails an account may be sent within [`RESET_MAIL_WINDOW`].
pub const RESET_MAILS_PER_WINDOW: i64 = 3;
pub const RESET_MAIL_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How long a verification link lasts (a reset link's is configured).
pub const VERIFY_LINK_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_has_one_at_with_something_on_each_side() {
        assert!(Email::parse("a@b").is_ok());
        for bad in ["ab", "@ab", "ab@", "a@b@c", "a b@c", "a@b\n", "a\u{7}@b"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@b", "a".repeat(252))).is_ok());
        assert!(Email::parse(&format!("{}@b", "a".repeat(253))).is_err());
    }

    #[test]
    fn addresses_compare_case_insensitively() {
        assert_eq!(Email::parse("Alice@Example.COM").unwrap().key(), "alice@example.com");
        assert_eq!(Email::parse("Alice@Example.COM").unwrap().as_str(), "Alice@Example.COM");
    }

    #[test]
    fn purposes_round_trip_through_storage() {
        for p in [LinkPurpose::VerifyEmail, LinkPurpose::ResetPassword] {
            assert_eq!(LinkPurpose::from_stored(p.as_str()), Some(p));
        }
        assert_eq!(LinkPurpose::from_stored("other"), None);
    }
}
