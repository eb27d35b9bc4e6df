//! Reading `Timestamp` columns as UTC instants, fast on SQLite.
//!
//! SQLite stores timestamps as text. Diesel parses that text by trying up to
//! 18 `strftime` formats, re-reading each format string every time; a page
//! of 20 posts holds 40 timestamps, and that parsing was the largest single
//! cost of listing posts. Everything we store has one shape
//! (`YYYY-MM-DD HH:MM:SS[.fraction]`, diesel's own and SQLite's
//! `CURRENT_TIMESTAMP`), read here directly; anything else still goes through
//! diesel's parser.
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::Pg;
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

use super::DbConn;

type MultiBackend = <DbConn as diesel::Connection>::Backend;

/// A `Timestamp` column's value, which both backends store in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct UtcTime(pub DateTime<Utc>);

impl FromSql<Timestamp, Sqlite> for UtcTime {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if let Some(time) = parse_sqlite_text(value.read_text()) {
            return Ok(Self(time.and_utc()));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(|time| Self(time.and_utc()))
    }
}

impl FromSql<Timestamp, Pg> for UtcTime {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(|time| Self(time.and_utc()))
    }
}

impl FromSql<Timestamp, MultiBackend> for UtcTime {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional `.` and 1–9 fraction digits;
/// `None` for any other shape or an impossible date or time.
fn parse_sqlite_text(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(20..b.len())? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    date.and_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use diesel::dsl::sql;
    use diesel::sql_types::Timestamp;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    use super::{parse_sqlite_text, UtcTime};

    #[test]
    fn sqlite_columns_read_in_our_shape_and_in_any_other_diesel_knows() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        let expected = Utc.with_ymd_and_hms(2026, 11, 24, 13, 35, 7).unwrap();
        for stored in ["'2026-11-24 13:35:07'", "'2026-11-24T13:35:07Z'", "'2026-11-24 13:35:07+00:00'"] {
            let read: UtcTime = diesel::select(sql::<Timestamp>(stored)).get_result(&mut conn).unwrap();
            assert_eq!(read.0, expected, "{stored}");
        }
        let garbage = diesel::select(sql::<Timestamp>("'yesterday'")).get_result::<UtcTime>(&mut conn);
        assert!(garbage.is_err());
    }

    fn diesel_format(text: &str) -> Option<chrono::NaiveDateTime> {
        chrono::NaiveDateTime::parse_from_str(text, "%F %T%.f").ok()
    }

    #[test]
    fn reads_what_diesel_and_sqlite_write_exactly_as_diesel_would() {
        for text in [
            "2026-11-24 13:35:07",
            "2026-11-24 13:35:07.5",
            "2026-11-24 13:35:07.123456",
            "2026-11-24 13:35:07.123456789",
            "2024-02-29 00:00:00",
            "0001-01-01 23:59:59.000001",
        ] {
            assert_eq!(parse_sqlite_text(text), diesel_format(text), "{text}");
            assert!(parse_sqlite_text(text).is_some(), "{text}");
        }
    }

    #[test]
    fn leaves_every_other_shape_to_diesel() {
        for text in [
            "",
            "2026-11-24",
            "2026-11-24T13:35:07",
            "2026-11-24 13:35:07Z",
            "2026-11-24 13:35:07+00:00",
            "2026-11-24 13:35:07.",
            "2026-11-24 13:35:07.1234567890",
            "2026-13-24 13:35:07",
            "2025-02-29 13:35:07",
            "2026-11-24 24:00:00",
            "2026-1a-24 13:35:07",
            "2459000.5",
            "2026-11-24 13:35:０7",
        ] {
            assert_eq!(parse_sqlite_text(text), None, "{text}");
        }
    }
}
