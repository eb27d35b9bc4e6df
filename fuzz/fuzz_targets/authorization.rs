//! The `Authorization` header, as the bearer extractor reads it: any bytes
//! a client can send in one or two header lines.
#![no_main]
use actix_web::http::header::HeaderValue;
use libfuzzer_sys::fuzz_target;
use warrant::http::extract::parse_bearer;

fuzz_target!(|data: &[u8]| {
    // Two header lines when the input has a NUL (a second header).
    let lines: Vec<HeaderValue> =
        data.split(|b| *b == 0).take(2).filter_map(|line| HeaderValue::from_bytes(line).ok()).collect();
    if let Ok(token) = parse_bearer(lines.iter()) {
        assert!(!token.is_empty() && !token.contains([' ', '\t']), "{token:?}");
        assert_eq!(lines.len(), 1, "two headers are refused");
    }
});
