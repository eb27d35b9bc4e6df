use std::fmt;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password that follows the signup rules: 8–128 Unicode scalar values,
/// any characters, no composition rules. `Debug` never shows it.
///
/// The contract's common-password list is checked here too once it ships
/// (token-lifecycle issue); until then only the length rule applies.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&len) {
            return Err(format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters_from_8_to_128() {
        assert!(Password::parse("a".repeat(7)).is_err());
        assert!(Password::parse("a".repeat(8)).is_ok());
        assert!(Password::parse("a".repeat(128)).is_ok());
        assert!(Password::parse("a".repeat(129)).is_err());
        // 8 emoji are 32 bytes but 8 characters.
        assert!(Password::parse("😀".repeat(8)).is_ok());
        assert!(Password::parse("😀".repeat(129)).is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
