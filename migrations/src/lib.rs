//! Append-only schema migrations, one file per change.
//!
//! A migration that has been released is never edited: a change to the schema is a new file
//! appended to [`Migrator::migrations`]. Only `offerbridge migrate` and start-up apply them.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261129_000001_fidelity;
mod m20261129_000002_rate_budgets;
mod m20261129_000003_instance_meta;
mod m20261129_000004_skipped_offers;
mod m20261130_000001_source_hash;
mod m20261130_000002_credentials_verified;

/// The list of migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261129_000001_fidelity::Migration),
            Box::new(m20261129_000002_rate_budgets::Migration),
            Box::new(m20261129_000003_instance_meta::Migration),
            Box::new(m20261129_000004_skipped_offers::Migration),
            Box::new(m20261130_000001_source_hash::Migration),
            Box::new(m20261130_000002_credentials_verified::Migration),
        ]
    }
}
