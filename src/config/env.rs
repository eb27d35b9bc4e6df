//! Reading variables: set-but-empty is an error, numbers within their
//! range, origins as browsers send them.
use std::fmt;

use super::{invalid, ConfigError};

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
