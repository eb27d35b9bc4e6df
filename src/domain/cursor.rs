use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// An opaque keyset-pagination cursor: the id of the last item of a page.
/// Clients treat it as a string; we encode it so they are not tempted to
/// build their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(i64);

const PREFIX: &str = "v1:";

impl Cursor {
    pub fn after(id: i64) -> Self {
        Self(id)
    }

    pub fn id(self) -> i64 {
        self.0
    }

    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}", self.0))
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let bad = || "is not a cursor this API returned".to_string();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
        let id = text.strip_prefix(PREFIX).and_then(|n| n.parse::<i64>().ok()).ok_or_else(bad)?;
        if id <= 0 {
            return Err(bad());
        }
        Ok(Self(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for id in [1, 42, i64::MAX] {
            assert_eq!(Cursor::decode(&Cursor::after(id).encode()), Ok(Cursor::after(id)));
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "42", "!!!", &URL_SAFE_NO_PAD.encode("v1:-5"), &URL_SAFE_NO_PAD.encode("v1:x")] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_cursor_we_hand_out_reads_back(id in 1..=i64::MAX) {
            let cursor = Cursor::after(id);
            proptest::prop_assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        }

        #[test]
        fn text_a_client_made_up_is_refused_or_a_positive_id(raw in "\\PC{0,40}") {
            if let Ok(cursor) = Cursor::decode(&raw) {
                proptest::prop_assert!(cursor.id() > 0);
            }
        }
    }
}
