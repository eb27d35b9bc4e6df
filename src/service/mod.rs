//! Use cases: what the routes and the command line do, each one function.
//! Services may use `auth`, `db`, `domain` and `metrics`; they know nothing
//! of HTTP (no actix, no status codes) and run no SQL of their own.
mod accounts;
mod admin;
mod error;
mod guesses;
mod limiter;
mod mail_text;
mod mailer;
mod posts;
mod readiness;
mod sessions;
#[cfg(test)]
mod tests;

pub use accounts::{Account, Accounts, AccountsParts, Enrolment, Login, PasskeyCeremony, TokenPair};
pub use admin::Admin;
pub use error::ServiceError;
pub use guesses::{Guesser, Guesses};
pub use limiter::Limiter;
pub use mailer::Mailer;
pub use posts::Posts;
pub use readiness::Readiness;
pub use sessions::Sessions;
