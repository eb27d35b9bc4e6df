//! The subcommands behind `main`.
use std::io::{BufRead, IsTerminal};

use crate::auth::keys::new_stored_key;
use crate::auth::{hash_password, ROTATION_LEAD};
use crate::config::{Config, JwtConfig};
use std::sync::Arc;

use crate::auth::Revocations;
use crate::db::{self, Db};
use crate::domain::{Password, Username};
use crate::service::{Admin, Sessions};
use crate::startup::Application;

/// Boxed errors are fine here: they end the process with their message.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// `warrant serve`.
pub fn serve(config: Config) -> CliResult {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config)?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// The database, migrated, and the service that ends sessions on it. A
/// SQLite file that does not exist is refused, not created: run from
/// another directory, `./warrant.db` would be a new, empty database.
fn open_sessions(config: &Config) -> Result<Sessions, Box<dyn std::error::Error>> {
    if let db::DatabaseUrl::Sqlite(path) = &config.database_url {
        if !std::path::Path::new(path).is_file() {
            return Err(format!(
                "there is no database at {path}: set DATABASE_URL to the server's, or create one with `warrant migrate`"
            )
            .into());
        }
    }
    let db = Db::connect(&config.database_url, 1, config.db_timeout)?;
    eprintln!("warrant: database {}", config.database_url.redacted());
    db.migrate()?;
    Ok(Sessions::new(db, Arc::new(Revocations::detached()), config.session_policy()))
}

/// `warrant migrate`.
pub fn migrate(config: &Config) -> CliResult {
    let db = Db::connect(&config.database_url, 1, config.db_timeout)?;
    let applied = db.migrate()?;
    println!("{applied} migration(s) applied to {:?}", config.database_url);
    Ok(())
}

/// `warrant create-admin USERNAME`: promotes the account if it exists,
/// otherwise creates it with a password from `WARRANT_ADMIN_PASSWORD` or stdin.
pub fn create_admin(config: &Config, username: &str) -> CliResult {
    let username = parse_username(username)?;
    let sessions = open_sessions(config)?;
    let existing = sessions.db().read_blocking(|conn| db::users::find_credentials(conn, &username.key()))?;
    let hash = match existing {
        Some(_) => None,
        None => Some(hash_password(&read_password("WARRANT_ADMIN_PASSWORD")?)?),
    };
    let (user, created) = Admin::new(sessions)
        .create_or_promote(&username, hash.as_deref())?
        .ok_or("the account was deleted meanwhile; run the command again")?;
    let verb = if created { "created admin" } else { "promoted to admin:" };
    println!("{verb} {} (id {})", user.username, user.id);
    Ok(())
}

/// `warrant set-password USERNAME`: replaces the password (from
/// `WARRANT_NEW_PASSWORD` or stdin) and ends every session of the account.
pub fn set_password(config: &Config, username: &str) -> CliResult {
    let username = parse_username(username)?;
    let hash = hash_password(&read_password("WARRANT_NEW_PASSWORD")?)?;
    sign_out_everywhere(config, &username, Some(&hash), "password set for")
}

/// `warrant end-sessions USERNAME`: ends every session of the account.
pub fn end_sessions(config: &Config, username: &str) -> CliResult {
    sign_out_everywhere(config, &parse_username(username)?, None, "signed out")
}

fn parse_username(username: &str) -> Result<Username, String> {
    Username::parse(username).map_err(|e| format!("username {e}"))
}

/// Ends the sessions of `username` (replacing its password if a hash is
/// given); every instance refuses their tokens within its sync interval.
fn sign_out_everywhere(
    config: &Config,
    username: &Username,
    new_hash: Option<&str>,
    done: &str,
) -> CliResult {
    let (user, ended) = open_sessions(config)?
        .sign_out_everywhere(&username.key(), new_hash)?
        .ok_or_else(|| format!("there is no account named {:?}", username.as_str()))?;
    println!("{done} {} (id {}): ended {ended} session(s)", user.username, user.id);
    Ok(())
}

/// `warrant reset-mfa USERNAME`: turns the account's TOTP off (a lost
/// device); its next login needs only the password.
pub fn reset_mfa(config: &Config, username: &str) -> CliResult {
    let username = parse_username(username)?;
    let (user, was_on) = Admin::new(open_sessions(config)?)
        .reset_mfa_by_name(&username)?
        .ok_or_else(|| format!("there is no account named {:?}", username.as_str()))?;
    let state = if was_on { "turned off" } else { "was not on" };
    println!("two-factor login {state} for {} (id {})", user.username, user.id);
    Ok(())
}

/// `warrant unthrottle USERNAME`: lifts the account's budgets against
/// guessing (wrong passwords, wrong second-factor codes) at once, rather
/// than at the end of their window.
pub fn unthrottle(config: &Config, username: &str) -> CliResult {
    let username = parse_username(username)?;
    let (user, spent) = Admin::new(open_sessions(config)?).unthrottle(&username)?;
    let whom = match user {
        Some(user) => format!("{} (id {})", user.username, user.id),
        None => format!("{:?} (no such account)", username.as_str()),
    };
    println!("unthrottled {whom}: {spent} spent budget(s) cleared");
    Ok(())
}

/// `warrant rotate-key`: adds a signing key to the database. It is published
/// at once (instances reload keys every few seconds) and signs only after one
/// JWKS cache lifetime, so every verifier has seen it first.
pub fn rotate_key(config: &Config) -> CliResult {
    if !matches!(config.jwt, JwtConfig::EdDsa { key_files: None }) {
        return Err("rotate-key manages keys in the database; with WARRANT_JWT_KEY_FILE or HS256 \
                    rotate by changing that configuration"
            .into());
    }
    let db = open_sessions(config)?.db().clone();
    let (kid, pem) = new_stored_key()?;
    let signs_from = db::now() + ROTATION_LEAD;
    db.write_blocking(|conn| db::keys::insert(conn, &kid, &pem, signs_from))?;
    println!(
        "added signing key {kid}: published now, signing from {} UTC",
        signs_from.format("%Y-%m-%d %H:%M:%S")
    );
    Ok(())
}

/// `warrant healthcheck`: exits 0 when this instance's `/healthz` answers
/// 200. For container health checks: needs no shell or curl in the image.
pub fn healthcheck(config: &Config) -> CliResult {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
    use std::time::Duration;

    let bind = config.bind.to_socket_addrs()?.next().ok_or("WARRANT_BIND has no address")?;
    // A wildcard listener is reached through loopback.
    let target = match bind.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], bind.port())),
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, bind.port())),
        _ => bind,
    };
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" {
        Ok(())
    } else {
        Err(format!("unhealthy: {}", String::from_utf8_lossy(&head)).into())
    }
}

/// A password from the environment variable `var` or, if unset, from stdin:
/// typed twice without echo at a terminal, else one line (piped).
fn read_password(var: &str) -> Result<Password, String> {
    let raw = match std::env::var(var) {
        Ok(pw) => pw,
        Err(_) if std::io::stdin().is_terminal() => {
            let prompt = |text: &str| {
                rpassword::prompt_password(text).map_err(|e| format!("could not read the password: {e}"))
            };
            let first = prompt("password: ")?;
            if prompt("again: ")? != first {
                return Err("the two passwords differ".into());
            }
            first
        }
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("could not read the password from stdin: {e}"))?;
            let line = line.trim_end_matches(['\n', '\r']).to_string();
            if line.is_empty() {
                return Err(format!("no password: set {var}, run at a terminal, or pipe it in on stdin"));
            }
            line
        }
    };
    Password::parse(raw).map_err(|e| format!("password {e}"))
}
