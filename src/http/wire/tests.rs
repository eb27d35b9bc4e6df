use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

#[test]
fn timestamps_serialize_as_chrono_serializes_them() {
    #[derive(serde::Serialize)]
    struct Ours(#[serde(serialize_with = "super::rfc3339")] DateTime<Utc>);
    let whole = Utc.with_ymd_and_hms(2026, 11, 24, 13, 35, 7).unwrap();
    for time in
        [whole, whole + chrono::TimeDelta::microseconds(123_456), whole + chrono::TimeDelta::milliseconds(5)]
    {
        let ours = serde_json::to_string(&Ours(time)).unwrap();
        assert_eq!(ours, serde_json::to_string(&time).unwrap());
    }
}

fn ours(time: &DateTime<Utc>) -> Option<String> {
    let mut buf = [0u8; 32];
    write_rfc3339(time, &mut buf).map(|len| String::from_utf8(buf[..len].to_vec()).unwrap())
}

proptest! {
    #[test]
    fn timestamps_are_written_as_chrono_writes_them(secs in -62_000_000_000i64..253_402_300_799, nanos in 0u32..1_000_000_000, round in 0u32..4) {
        let nanos = match round { 0 => 0, 1 => nanos / 1_000_000 * 1_000_000, 2 => nanos / 1_000 * 1_000, _ => nanos };
        let time = DateTime::from_timestamp(secs, nanos).unwrap();
        let chrono = time.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        prop_assert_eq!(ours(&time).unwrap_or_else(|| chrono.clone()), chrono);
    }
}

fn post(id: i64, content: String, username: String, secs: i64, nanos: u32) -> PostResponse {
    let time = DateTime::from_timestamp(secs, nanos).unwrap();
    PostResponse {
        id,
        content,
        created_at: time,
        updated_at: time + chrono::TimeDelta::milliseconds(id % 1000),
        user: AuthorResponse { id: id / 7, username },
    }
}

proptest! {
    #[test]
    fn a_page_of_posts_is_written_as_serde_json_writes_it(
        posts in proptest::collection::vec((any::<i64>(), any::<String>(), "[\\x00-\\x7f\\\\\"é😀]{0,12}", -62_000_000_000i64..300_000_000_000, 0u32..1_000_000_000), 0..4),
        cursor in proptest::option::of(any::<String>()),
    ) {
        let page = Page {
            items: posts.into_iter().map(|(id, content, name, secs, nanos)| post(id, content, name, secs, nanos)).collect(),
            next_cursor: cursor,
        };
        prop_assert_eq!(String::from_utf8(page.to_json()).unwrap(), serde_json::to_string(&page).unwrap());
    }
}

#[test]
fn every_control_character_is_escaped_as_serde_json_escapes_it() {
    let all: String = (0u8..0x80).map(char::from).collect();
    let page = Page { items: vec![post(1, all.clone(), all, 0, 0)], next_cursor: None };
    assert_eq!(String::from_utf8(page.to_json()).unwrap(), serde_json::to_string(&page).unwrap());
}

#[test]
fn years_outside_four_digits_are_left_to_chrono() {
    let far = DateTime::from_timestamp(253_402_300_800, 0).unwrap();
    assert_eq!(ours(&far), None);
    assert_eq!(ours(&DateTime::from_timestamp(0, 1_500).unwrap()).unwrap(), "1970-01-01T00:00:00.000001500Z");
}
