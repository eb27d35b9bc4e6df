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
}
