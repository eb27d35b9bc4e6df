use std::fmt;

pub const MIN_USERNAME_CHARS: usize = 3;
pub const MAX_USERNAME_CHARS: usize = 32;

/// A username that follows the signup rules: 3–32 characters of
/// `A-Z a-z 0-9 _ . -`. Kept as first written; compared case-insensitively.
#[derive(Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if !(MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&len) {
            return Err(format!("must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} characters long"));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            return Err("may contain only letters A-Z, digits, '_', '.' and '-'".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and login compare: ASCII lower case, which is
    /// exact because the alphabet is ASCII.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_boundaries_are_3_and_32() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn only_the_contract_alphabet_is_allowed() {
        assert!(Username::parse("Al-ice_.9").is_ok());
        for bad in ["al ice", "alice!", "élise", "ali\0ce", "bob😀", "a/b", ""] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_ignores_case_but_the_name_keeps_it() {
        let name = Username::parse("Alice").unwrap();
        assert_eq!(name.as_str(), "Alice");
        assert_eq!(name.key(), Username::parse("aLICE").unwrap().key());
    }

    proptest::proptest! {
        #[test]
        fn names_of_the_allowed_characters_and_length_parse_and_key_case_insensitively(
            raw in "[A-Za-z0-9_.-]{3,32}"
        ) {
            let name = Username::parse(&raw).unwrap();
            proptest::prop_assert_eq!(name.as_str(), raw.as_str());
            proptest::prop_assert_eq!(name.key(), raw.to_ascii_lowercase());
            proptest::prop_assert_eq!(Username::parse(&raw.to_ascii_uppercase()).unwrap().key(), name.key());
        }

        #[test]
        fn names_with_another_character_or_length_do_not_parse(
            head in "[a-z]{1,20}", odd in "[^A-Za-z0-9_.-]", tail in "[a-z]{1,20}", long in "[a-z]{33,60}"
        ) {
            let with_odd = format!("{head}{odd}{tail}");
            proptest::prop_assert!(Username::parse(&with_odd).is_err());
            proptest::prop_assert!(Username::parse(&long).is_err());
            proptest::prop_assert!(Username::parse(&long[..2]).is_err());
        }
    }
}
