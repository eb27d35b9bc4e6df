//! Mail (`WARRANT_SMTP_URL` and friends): off unless the SMTP URL is set;
//! then every other variable it needs must make sense.
use std::time::Duration;

use super::env::Env;
use super::{invalid, ConfigError, Secret};

/// Where mail goes and what it links to.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub smtp: SmtpServer,
    /// The `From` address.
    pub from: String,
    /// The client app's page that handles links (`?action=…&token=…`).
    pub link_url: String,
    /// How long a reset link lasts.
    pub reset_ttl: Duration,
}

/// An SMTP server, as `WARRANT_SMTP_URL` names it.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub credentials: Option<(String, Secret)>,
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or nothing is sent.
    Required,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

const SMTP: &str = "WARRANT_SMTP_URL";

/// The mail configuration, or `None` when `WARRANT_SMTP_URL` is unset.
/// `issuer_host` is the issuer URL's host, for the default `From`.
pub(super) fn read(env: &Env, issuer_host: Option<&str>) -> Result<Option<MailConfig>, ConfigError> {
    let Some(raw) = env.get(SMTP)? else { return Ok(None) };
    let smtp = parse_smtp(&raw)?;
    let from = match (env.get("WARRANT_MAIL_FROM")?, issuer_host) {
        (Some(from), _) => from,
        (None, Some(host)) => format!("warrant@{host}"),
        (None, None) => {
            return Err(invalid("WARRANT_MAIL_FROM", "is required when WARRANT_ISSUER is not a URL"))
        }
    };
    if from.parse::<lettre::Address>().is_err() {
        return Err(invalid("WARRANT_MAIL_FROM", format!("{from:?} is not an email address")));
    }
    let link_url = env.get("WARRANT_LINK_URL")?.ok_or_else(|| {
        invalid("WARRANT_LINK_URL", "is required when mail is on: the client app's page that handles links")
    })?;
    let parsed = url::Url::parse(&link_url)
        .map_err(|e| invalid("WARRANT_LINK_URL", format!("{link_url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "https" | "http")
        || parsed.host_str().is_none()
        || parsed.fragment().is_some()
    {
        return Err(invalid(
            "WARRANT_LINK_URL",
            format!("{link_url:?} must be an http(s) URL with no fragment"),
        ));
    }
    let reset_ttl = Duration::from_secs(env.number("WARRANT_RESET_TTL", 900, 60..=86_400)?);
    Ok(Some(MailConfig { smtp, from, link_url, reset_ttl }))
}

fn parse_smtp(raw: &str) -> Result<SmtpServer, ConfigError> {
    // The URL may hold a password: never echo it.
    let url = url::Url::parse(raw).map_err(|e| invalid(SMTP, format!("is not a URL: {e}")))?;
    let shape = "must be smtp://[user:pass@]host[:port][?tls=required] or smtps://[user:pass@]host[:port]";
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| invalid(SMTP, shape))?.to_string();
    let query: Vec<(String, String)> =
        url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let tls = match (url.scheme(), query.as_slice()) {
        ("smtp", []) => SmtpTls::Opportunistic,
        ("smtp", [(k, v)]) if k == "tls" && v == "required" => SmtpTls::Required,
        ("smtps", []) => SmtpTls::Implicit,
        _ => return Err(invalid(SMTP, shape)),
    };
    if url.path() != "" && url.path() != "/" || url.fragment().is_some() {
        return Err(invalid(SMTP, shape));
    }
    let decode = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| invalid(SMTP, "its user or password is not valid percent-encoded UTF-8"))
    };
    let credentials = match (url.username(), url.password()) {
        ("", None) => None,
        (user, Some(pass)) if !user.is_empty() => Some((decode(user)?, Secret::new(decode(pass)?))),
        _ => return Err(invalid(SMTP, "a user needs a password (smtp://user:pass@host)")),
    };
    Ok(SmtpServer { host, port: url.port(), tls, credentials })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_with(
        vars: &[(&str, &str)],
        issuer_host: Option<&str>,
    ) -> Result<Option<MailConfig>, ConfigError> {
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        read(&Env(&lookup), issuer_host)
    }

    #[test]
    fn mail_is_off_without_an_smtp_url_and_needs_a_link_page_with_one() {
        assert!(read_with(&[], None).unwrap().is_none());
        let err = read_with(&[(SMTP, "smtp://localhost:2525")], Some("auth.example.com")).unwrap_err();
        assert_eq!(err.var, "WARRANT_LINK_URL");
        let mail = read_with(
            &[(SMTP, "smtp://localhost:2525"), ("WARRANT_LINK_URL", "https://app.example.com/auth")],
            Some("auth.example.com"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(mail.from, "warrant@auth.example.com");
        assert_eq!(
            (mail.smtp.host.as_str(), mail.smtp.port, mail.smtp.tls),
            ("localhost", Some(2525), SmtpTls::Opportunistic)
        );
        assert_eq!(mail.reset_ttl, Duration::from_secs(900));
    }

    #[test]
    fn smtp_urls_say_their_tls_and_never_echo_a_password() {
        let link = ("WARRANT_LINK_URL", "https://app.example.com");
        let tls = |url: &str| read_with(&[(SMTP, url), link], Some("h")).map(|m| m.unwrap().smtp.tls);
        assert_eq!(tls("smtp://h?tls=required").unwrap(), SmtpTls::Required);
        assert_eq!(tls("smtps://h").unwrap(), SmtpTls::Implicit);
        let mail = read_with(&[(SMTP, "smtps://me%40x:p%3Ass@h:465"), link], Some("h")).unwrap().unwrap();
        let (user, pass) = mail.smtp.credentials.unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("me@x", "p:ss"));
        for bad in ["http://u:hunter2@h", "smtp://u:hunter2@h?tls=maybe", "smtp://u:hunter2@h/path", "nope"] {
            let err = read_with(&[(SMTP, bad), link], Some("h")).unwrap_err();
            assert_eq!(err.var, SMTP);
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        let err = read_with(&[(SMTP, "smtp://h"), link], None).unwrap_err();
        assert_eq!(err.var, "WARRANT_MAIL_FROM", "no issuer host to default the From to");
        let err =
            read_with(&[(SMTP, "smtp://h"), ("WARRANT_LINK_URL", "app.example.com")], Some("h")).unwrap_err();
        assert_eq!(err.var, "WARRANT_LINK_URL");
    }
}
