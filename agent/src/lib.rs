//! The sync agent: scheduler and leases, connectors, the offer pipeline, the store.

pub mod budget;
pub mod connectors;
pub mod offer;
pub mod pipeline;
pub mod runtime;
pub mod sample;
pub mod stages;
