//! The handlers, one file per resource.
pub mod accounts;
pub mod admin;
pub mod discovery;
pub mod health;
pub mod me;
pub mod mfa;
pub mod posts;
pub mod revoke;
pub mod sessions;
