//! Response shapes shared by several resources. Database rows are never
//! serialized directly.
use std::borrow::Cow;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::HttpResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::request::Validator;
use crate::domain::{Cursor, Post, User};
use crate::service::TokenPair;

/// An account.
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub id: i64,
    pub username: String,
    #[schema(example = "user")]
    pub role: &'static str,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self { id: user.id.0, username: user.username, role: user.role.as_str(), created_at: user.created_at }
    }
}

/// The text chrono's own `Serialize` writes (RFC 3339, `Z`, as many
/// fraction digits as needed: 0, 3, 6 or 9), built in one piece: chrono's
/// version streams it to serde_json a character at a time, each escaped
/// separately, and its formatter was 9% of a 20-post page's instructions.
pub(super) fn rfc3339<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339_text(time, &mut [0u8; 32]))
}

/// `time` as [`rfc3339`] writes it: in `buf` where [`write_rfc3339`] can.
fn rfc3339_text<'a>(time: &DateTime<Utc>, buf: &'a mut [u8; 32]) -> Cow<'a, str> {
    match write_rfc3339(time, buf) {
        Some(len) => Cow::Borrowed(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => Cow::Owned(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// Writes `time` as `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z` into `buf`: its
/// length, or `None` for what only chrono spells (years outside
/// 0000–9999, leap seconds).
fn write_rfc3339(time: &DateTime<Utc>, buf: &mut [u8; 32]) -> Option<usize> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (time.year(), time.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    let digits = |buf: &mut [u8], mut value: u32| {
        for byte in buf.iter_mut().rev() {
            *byte = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(&mut buf[0..4], year as u32);
    buf[4] = b'-';
    digits(&mut buf[5..7], time.month());
    buf[7] = b'-';
    digits(&mut buf[8..10], time.day());
    buf[10] = b'T';
    digits(&mut buf[11..13], time.hour());
    buf[13] = b':';
    digits(&mut buf[14..16], time.minute());
    buf[16] = b':';
    digits(&mut buf[17..19], time.second());
    let mut len = 19;
    let (fraction, width) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    if width > 0 {
        buf[len] = b'.';
        digits(&mut buf[len + 1..len + 1 + width], fraction);
        len += 1 + width;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// A post's author.
#[derive(Serialize, ToSchema)]
pub struct AuthorResponse {
    pub id: i64,
    pub username: String,
}

/// A post.
#[derive(Serialize, ToSchema)]
pub struct PostResponse {
    pub id: i64,
    pub content: String,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub user: AuthorResponse,
}

impl From<Post> for PostResponse {
    fn from(post: Post) -> Self {
        Self {
            id: post.id.0,
            content: post.content,
            created_at: post.created_at,
            updated_at: post.updated_at,
            user: AuthorResponse { id: post.author_id.0, username: post.author_username },
        }
    }
}

/// One page of a keyset-paginated list.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` was fetched with one extra item: its presence means there is a
    /// next page, which starts after the last item shown.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: usize,
        id: impl Fn(&R) -> i64,
        map: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = more.then(|| rows.last().map(|r| Cursor::after(id(r)).encode())).flatten();
        Self { items: rows.into_iter().map(map).collect(), next_cursor }
    }
}

impl Page<PostResponse> {
    /// This page as JSON, byte for byte what serde_json writes for it, and
    /// written straight: serde_json escapes every key and timestamp (nine
    /// strings a post, 8 % of a page's CPU, `bench/RESULTS.md` item 25),
    /// where only the content, the name and the cursor can need it.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(64 + self.items.iter().map(|p| 160 + p.content.len()).sum::<usize>());
        out.extend_from_slice(b"{\"items\":[");
        for (i, post) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"id\":");
            out.extend_from_slice(itoa::Buffer::new().format(post.id).as_bytes());
            out.extend_from_slice(b",\"content\":");
            json_str(&mut out, &post.content);
            out.extend_from_slice(b",\"created_at\":");
            json_time(&mut out, &post.created_at);
            out.extend_from_slice(b",\"updated_at\":");
            json_time(&mut out, &post.updated_at);
            out.extend_from_slice(b",\"user\":{\"id\":");
            out.extend_from_slice(itoa::Buffer::new().format(post.user.id).as_bytes());
            out.extend_from_slice(b",\"username\":");
            json_str(&mut out, &post.user.username);
            out.extend_from_slice(b"}}");
        }
        out.extend_from_slice(b"],\"next_cursor\":");
        match &self.next_cursor {
            Some(cursor) => json_str(&mut out, cursor),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        out
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it: `"` and `\`,
/// the five short escapes, other control characters as `\u00xx`.
fn json_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    // Most text needs no escape: one pass without an early exit, which the
    // compiler turns into vector instructions, and one copy.
    if bytes.iter().fold(true, |plain, &byte| plain & (byte >= 0x20) & (byte != b'"') & (byte != b'\\')) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        match short {
            [] => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ]);
            }
            escape => out.extend_from_slice(escape),
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `time` as a JSON string, as [`rfc3339`] writes it.
fn json_time(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    out.push(b'"');
    out.extend_from_slice(rfc3339_text(time, &mut [0u8; 32]).as_bytes());
    out.push(b'"');
}

/// The body of signup, login and refresh answers (sent with
/// `Cache-Control: no-store`).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque; use once with `POST /refresh`.
    pub refresh_token: String,
    pub user: UserResponse,
}

impl TokenResponse {
    /// The answer for a new token pair, never stored by caches (RFC 6749
    /// §5.1).
    pub fn respond(pair: TokenPair, mut builder: actix_web::HttpResponseBuilder) -> HttpResponse {
        let body = Self {
            access_token: pair.access.token,
            token_type: "Bearer",
            expires_in: pair.access.expires_in,
            refresh_token: pair.refresh_token,
            user: pair.user.into(),
        };
        builder.insert_header(CacheControl(vec![CacheDirective::NoStore])).json(body)
    }
}

/// Page size when `limit` is absent.
pub const DEFAULT_PAGE: i64 = 20;
/// Largest `limit`.
pub const MAX_PAGE: i64 = 100;

/// Parses the `limit` and `cursor` query parameters of a list route into
/// the page size (default [`DEFAULT_PAGE`]) and where to resume.
pub fn page_params(
    v: &mut Validator,
    limit: Option<String>,
    cursor: Option<String>,
) -> Option<(i64, Option<Cursor>)> {
    let limit = v.optional("limit", limit, |raw| match raw.parse::<i64>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_PAGE}")),
    });
    let cursor = v.optional("cursor", cursor, |raw| Cursor::decode(&raw));
    limit.zip(cursor).map(|(limit, cursor)| (limit.unwrap_or(DEFAULT_PAGE), cursor))
}

#[cfg(test)]
mod tests;
