//! Black-box tests: the real app on port 0, real HTTP, a fresh database per
//! test, on SQLite and (when `TEST_DATABASE_URL` is set) PostgreSQL.
mod binary;
mod discovery;
mod helpers;

mod accounts;
mod admin;
mod authenticator;
mod errors;
mod faults;
mod guessing;
mod health;
mod keys;
mod me;
mod mfa;
mod openapi;
mod ops;
mod passkeys;
mod posts;
mod rate_limits;
mod recovery;
mod refresh_grace;
mod revoke;
mod session_list;
mod sessions;
mod smtp;
mod tokens;
