//! How a session's user proved who they are (RFC 8176 `amr` values).

/// The authentication methods behind a session: a password, and perhaps a
/// one-time code after it. A refresh keeps its session's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amr {
    /// `["pwd"]`.
    Password,
    /// `["pwd", "otp"]`: a password, then a TOTP or recovery code.
    PasswordAndOtp,
    /// `["hwk", "user"]`: a passkey, with user verification on the device.
    Passkey,
}

impl Amr {
    /// The claim's values, in order.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            Amr::Password => &["pwd"],
            Amr::PasswordAndOtp => &["pwd", "otp"],
            Amr::Passkey => &["hwk", "user"],
        }
    }

    /// The stored form: the methods joined by a space.
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::PasswordAndOtp => "pwd otp",
            Amr::Passkey => "hwk user",
        }
    }

    /// The stored form read back; anything unknown counts as the weakest.
    pub fn from_stored(stored: &str) -> Self {
        [Amr::PasswordAndOtp, Amr::Passkey]
            .into_iter()
            .find(|amr| amr.as_str() == stored)
            .unwrap_or(Amr::Password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_reads_back() {
        for amr in [Amr::Password, Amr::PasswordAndOtp] {
            assert_eq!(Amr::from_stored(amr.as_str()), amr);
            assert_eq!(amr.methods().join(" "), amr.as_str());
        }
        assert_eq!(Amr::from_stored("mfa"), Amr::Password);
    }
}
