//! Reading variables: set-but-empty is an error, numbers within their
//! range, origins as browsers send them.
use std::fmt;

use super::{invalid, ConfigError, MAX_ISSUER_CHARS};

pub(super) struct Env<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A set variable must not be empty: an empty value is a mistake, not a default.
    pub(super) fn get(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        match (self.0)(var) {
            Some(v) if v.trim().is_empty() => Err(invalid(var, "is set but empty")),
            v => Ok(v),
        }
    }

    pub(super) fn number<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.get(var)? else { return Ok(default) };
        match raw.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(invalid(
                var,
                format!("{raw:?} is not a whole number from {} to {}", range.start(), range.end()),
            )),
        }
    }
}

pub(super) fn parse_origins(list: &str) -> Result<Vec<String>, ConfigError> {
    let origins: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.ends_with('/')
                && !origin.contains('*');
            if ok {
                Ok(origin.to_string())
            } else {
                Err(invalid(
                    "WARRANT_CORS_ORIGINS",
                    format!(
                        "{origin:?} is not an origin like https://app.example.com (no wildcards, no path)"
                    ),
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    if origins.is_empty() {
        return Err(invalid("WARRANT_CORS_ORIGINS", "lists no origin; unset it for none"));
    }
    Ok(origins)
}

/// `WARRANT_ISSUER` is any string, but one that looks like a URL must be a
/// usable one: discovery documents are served under it, and clients fetch
/// them from `ISSUER/.well-known/openid-configuration`.
pub(super) fn parse_issuer(issuer: String) -> Result<String, ConfigError> {
    if issuer.trim() != issuer || issuer.is_empty() || issuer.chars().any(char::is_control) {
        return Err(invalid(
            "WARRANT_ISSUER",
            format!("{issuer:?} must be non-empty, with no surrounding whitespace or control characters"),
        ));
    }
    if issuer.chars().count() > MAX_ISSUER_CHARS {
        return Err(invalid("WARRANT_ISSUER", format!("must be at most {MAX_ISSUER_CHARS} characters")));
    }
    if !issuer.contains("://") {
        return Ok(issuer);
    }
    let bad = |why: &str| invalid("WARRANT_ISSUER", format!("{issuer:?} {why}"));
    let url = url::Url::parse(&issuer).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(bad("must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("must have no query, fragment or user (OpenID Connect Discovery §4.1)"));
    }
    Ok(issuer)
}

/// `WARRANT_DOCS_URL`: an `http(s)` URL (the guides' place, such as the
/// repository's README heading).
pub(super) fn parse_docs_url(raw: String) -> Result<String, ConfigError> {
    match url::Url::parse(&raw) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host_str().is_some() => Ok(raw),
        _ => Err(invalid("WARRANT_DOCS_URL", format!("{raw:?} is not an http(s) URL"))),
    }
}
