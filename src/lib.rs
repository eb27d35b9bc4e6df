//! warrant: a stateless JWT-bearer identity service.
pub mod auth;
pub mod body_deadline;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod ratelimit;
pub mod routes;
pub mod startup;
pub mod telemetry;
