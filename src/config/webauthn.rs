//! Passkeys (`WARRANT_WEBAUTHN_*`): off unless the relying party id is set;
//! then its origins must be URLs on that id or below it.
use super::env::Env;
use super::{invalid, ConfigError};

/// The relying party passkeys are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// A registrable domain (`example.com`) or `localhost`.
    pub rp_id: String,
    /// What authenticators show.
    pub rp_name: String,
    /// Origins allowed in `clientDataJSON` (`https://app.example.com`).
    pub origins: Vec<url::Url>,
}

const RP_ID: &str = "WARRANT_WEBAUTHN_RP_ID";
const ORIGINS: &str = "WARRANT_WEBAUTHN_ORIGINS";

pub(super) fn read(env: &Env) -> Result<Option<WebauthnConfig>, ConfigError> {
    let Some(rp_id) = env.get(RP_ID)? else {
        if env.get(ORIGINS)?.is_some() {
            return Err(invalid(ORIGINS, format!("is set but {RP_ID} is not: set both, or neither")));
        }
        return Ok(None);
    };
    let rp_id = rp_id.trim().to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
    };
    if rp_id.len() > 253 || !rp_id.split('.').all(valid_label) {
        return Err(invalid(
            RP_ID,
            format!("{rp_id:?} is not a domain like example.com (no scheme, port or path)"),
        ));
    }
    let listed =
        env.get(ORIGINS)?.ok_or_else(|| invalid(ORIGINS, format!("is required when {RP_ID} is set")))?;
    let origins = listed
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let url = url::Url::parse(origin)
                .map_err(|e| invalid(ORIGINS, format!("{origin:?} is not a URL: {e}")))?;
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            if !matches!(url.scheme(), "https" | "http") || url.path() != "/" || url.query().is_some() {
                return Err(invalid(
                    ORIGINS,
                    format!("{origin:?} is not an origin like https://app.example.com"),
                ));
            }
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(invalid(ORIGINS, format!("{origin:?} is not on {rp_id} or below it")));
            }
            if url.scheme() == "http" && host != "localhost" {
                return Err(invalid(ORIGINS, format!("{origin:?}: only localhost may use http")));
            }
            Ok(url)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if origins.is_empty() {
        return Err(invalid(ORIGINS, "lists no origin"));
    }
    let rp_name = env.get("WARRANT_WEBAUTHN_RP_NAME")?.unwrap_or_else(|| rp_id.clone());
    Ok(Some(WebauthnConfig { rp_id, rp_name, origins }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(vars: &[(&str, &str)]) -> Result<Option<WebauthnConfig>, ConfigError> {
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        read(&Env(&lookup))
    }

    #[test]
    fn passkeys_are_off_without_an_rp_id_and_need_origins_on_it() {
        assert_eq!(read_with(&[]).unwrap(), None);
        assert_eq!(read_with(&[(RP_ID, "example.com")]).unwrap_err().var, ORIGINS);
        assert_eq!(read_with(&[(ORIGINS, "https://example.com")]).unwrap_err().var, ORIGINS);
        let config =
            read_with(&[(RP_ID, "Example.com"), (ORIGINS, "https://app.example.com, https://example.com")])
                .unwrap()
                .unwrap();
        assert_eq!(
            (config.rp_id.as_str(), config.rp_name.as_str(), config.origins.len()),
            ("example.com", "example.com", 2)
        );
        assert!(read_with(&[(RP_ID, "localhost"), (ORIGINS, "http://localhost:5173")]).unwrap().is_some());
    }

    #[test]
    fn nonsense_is_refused_naming_the_variable() {
        for (rp_id, origins, var) in [
            ("https://example.com", "https://example.com", RP_ID),
            ("example.com/x", "https://example.com", RP_ID),
            ("example.com", "https://evil.com", ORIGINS),
            ("example.com", "https://notexample.com", ORIGINS),
            ("example.com", "example.com", ORIGINS),
            ("example.com", "https://app.example.com/login", ORIGINS),
            ("example.com", "http://app.example.com", ORIGINS),
        ] {
            assert_eq!(
                read_with(&[(RP_ID, rp_id), (ORIGINS, origins)]).unwrap_err().var,
                var,
                "{rp_id} {origins}"
            );
        }
    }
}
