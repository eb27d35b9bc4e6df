//! Command line entry point: parse the command, hand over to the library.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use warrant::{cli, config::Config, telemetry};

// Many small short-lived allocations per request (rows, strings, JSON):
// with mimalloc a page of posts costs 30% less server CPU than with glibc's
// allocator (bench/RESULTS.md). Built without transparent huge pages, which
// made every touched 4 KiB of its arenas cost 2 MiB of resident memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "warrant", version, about = "A stateless JWT-bearer identity service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin, or promote an existing user. The password comes from
    /// WARRANT_ADMIN_PASSWORD, a terminal prompt, or one line of piped stdin.
    CreateAdmin { username: String },
    /// Replace a user's password (from WARRANT_NEW_PASSWORD, a terminal
    /// prompt, or one line of piped stdin) and end all of their sessions.
    SetPassword { username: String },
    /// End all sessions of a user, on every instance.
    EndSessions { username: String },
    /// Turn a user's two-factor login (TOTP) off, for a lost device.
    ResetMfa { username: String },
    /// Lift a user's budgets against guessing (429 on login after many wrong
    /// passwords or second-factor codes) now, not at the end of the window.
    Unthrottle { username: String },
    /// Add a new signing key: published at once, signing 610 s later (one JWKS
    /// cache lifetime and a key reload).
    RotateKey,
    /// Exit 0 if the server at WARRANT_BIND answers GET /healthz (for containers).
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("warrant: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve(config),
        Command::Migrate => cli::migrate(&config),
        Command::CreateAdmin { username } => cli::create_admin(&config, &username),
        Command::SetPassword { username } => cli::set_password(&config, &username),
        Command::EndSessions { username } => cli::end_sessions(&config, &username),
        Command::ResetMfa { username } => cli::reset_mfa(&config, &username),
        Command::Unthrottle { username } => cli::unthrottle(&config, &username),
        Command::RotateKey => cli::rotate_key(&config),
        Command::Healthcheck => cli::healthcheck(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warrant: {e}");
            ExitCode::FAILURE
        }
    }
}
