//! What the gateway and the agent must agree on: domain types and their validation, sea-orm
//! entities, database connect, configuration, secrets, and the shapes of events and logs.
//!
//! This crate depends on no web, GraphQL or HTTP-client crate.

pub mod config;
pub mod crypto;
pub mod db;
pub mod entity;
pub mod events;
pub mod metrics;
pub mod model;
pub mod money;
pub mod netguard;
pub mod tokens;
pub mod validate;

pub use config::Config;
