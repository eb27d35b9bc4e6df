//! warrant: a stateless JWT-bearer identity service.
//!
//! Layers, top to bottom; each imports only those below it:
//! - `http`: the edge (routes, extractors, the one error type, OpenAPI);
//! - `service`: the use cases, each one function (no HTTP, no SQL);
//! - `metrics`, `telemetry`: what operators see;
//! - `auth`: tokens, keys, passwords, second factors, the revocation mirror;
//! - `config`: read once from the environment, typed;
//! - `db`: persistence, the only layer that knows SQL or the backend;
//! - `domain`: values valid by construction and the rules, pure.
//!
//! `startup` (the server), `background` (its loops) and `cli` wire them
//! together; `main` only parses the command line.
pub mod auth;
pub mod background;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod telemetry;
