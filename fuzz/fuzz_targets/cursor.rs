//! Pagination cursors: any text a client sends as `cursor`; what decodes
//! encodes back to the same cursor.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warrant::domain::Cursor;

fuzz_target!(|raw: &str| {
    if let Ok(cursor) = Cursor::decode(raw) {
        assert!(cursor.id() > 0);
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }
});
