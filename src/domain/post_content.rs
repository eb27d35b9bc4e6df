/// The longest post, in Unicode scalar values.
pub const MAX_POST_CHARS: usize = 400;

/// Post text: 1–400 characters, not only whitespace, no NUL; otherwise kept
/// exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostContent(String);

impl PostContent {
    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.chars().all(char::is_whitespace) {
            return Err("must not be empty or only whitespace".into());
        }
        if raw.chars().count() > MAX_POST_CHARS {
            return Err(format!("must be at most {MAX_POST_CHARS} characters long"));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(PostContent::parse("x".repeat(400)).is_ok());
        assert!(PostContent::parse("x".repeat(401)).is_err());
        assert!(PostContent::parse("😀".repeat(400)).is_ok(), "1600 bytes, 400 characters");
        assert!(PostContent::parse("😀".repeat(401)).is_err());
    }

    #[test]
    fn blank_and_nul_are_refused() {
        for bad in ["", " ", "\n\t", "\u{3000}\u{2003}", "a\0b"] {
            assert!(PostContent::parse(bad.into()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn content_is_kept_exactly() {
        let raw = "  hello <b>world</b> \n".to_string();
        assert_eq!(PostContent::parse(raw.clone()).unwrap().as_str(), raw);
    }

    proptest::proptest! {
        #[test]
        fn content_with_a_visible_character_and_no_nul_is_stored_exactly(
            before in "[ \t\n]{0,5}", body in "[^\u{0}\\s]{1,300}", after in "\\PC{0,50}"
        ) {
            let raw = format!("{before}{body}{}", after.replace('\0', ""));
            let parsed = PostContent::parse(raw.clone());
            if raw.chars().count() <= MAX_POST_CHARS {
                let stored = parsed.unwrap();
                proptest::prop_assert_eq!(stored.as_str(), raw.as_str());
            } else {
                proptest::prop_assert!(parsed.is_err());
            }
        }

        #[test]
        fn blank_content_or_a_nul_never_parses(blank in "\\s{0,30}", text in "[a-z]{0,10}") {
            proptest::prop_assert!(PostContent::parse(blank).is_err());
            let with_nul = format!("{text}\0{text}");
            proptest::prop_assert!(PostContent::parse(with_nul).is_err());
        }
    }
}
