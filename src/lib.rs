//! warrant: a stateless JWT-bearer identity service.
//!
//! Layers, each importing only those below it: `http` (the edge) →
//! `service` (use cases) → `auth` and `db` → `domain`. `config`,
//! `telemetry` and `metrics` sit beside them; `startup` and `cli` wire
//! everything together.
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod telemetry;
