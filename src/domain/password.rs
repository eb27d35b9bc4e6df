use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The 10,000 most common passwords, most common first: the head of the
/// `passwords` frequency list of zxcvbn (MIT; ranked from Xato's 10 million
/// leaked passwords), as packaged by `zxcvbn` 4.5.0 on PyPI.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn is_common(password: &str) -> bool {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().map(str::to_lowercase).collect())
        .contains(&password.to_lowercase())
}

/// A password that follows the signup rules: 8–128 Unicode scalar values,
/// any characters, no composition rules, not one of the 10,000 most common
/// (compared case-insensitively). `Debug` never shows it.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&len) {
            return Err(format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"));
        }
        if is_common(&raw) {
            return Err("is one of the 10,000 most common passwords; choose another".into());
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
        assert!(Password::parse("ab".repeat(4)).is_ok());
        assert!(Password::parse("a".repeat(128)).is_ok());
        assert!(Password::parse("a".repeat(129)).is_err());
        // 8 emoji are 32 bytes but 8 characters.
        assert!(Password::parse("😀".repeat(8)).is_ok());
        assert!(Password::parse("😀".repeat(129)).is_err());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        assert_eq!(COMMON_PASSWORDS.lines().count(), 10_000);
        for common in ["password", "PassWord", "12345678", "iloveyou", "trustno1", "Baseball"] {
            assert!(Password::parse(common.into()).is_err(), "{common}");
        }
        assert!(Password::parse("correct horse battery".into()).is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Password::parse("correct horse".into()).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    proptest::proptest! {
        #[test]
        fn length_is_counted_in_characters_not_bytes(raw in "\\PC{0,140}") {
            let chars = raw.chars().count();
            let parsed = Password::parse(raw.clone());
            if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
                proptest::prop_assert!(parsed.is_err());
            }
        }

        #[test]
        fn uncommon_passwords_of_a_good_length_parse(raw in "[a-zA-Z0-9 ]{8,20}[\\u{1F600}-\\u{1F64F}]{1,4}") {
            proptest::prop_assert!(Password::parse(raw).is_ok());
        }
    }
}
