//! One request budget per advertiser account, shared by every agent through the database.
//!
//! `rate_budgets` holds, per account (a hash of the connector, the API host and the
//! credentials), the earliest time the next request may go out (`next_at_us`, milliseconds
//! since the epoch on the database's clock), the time the last reservation got
//! (`last_slot_us`), and the slowest interval asked for recently (`slow_interval_us`, until
//! `slow_until_us`), so two integrations of one account with different rate settings share
//! the slower one. See `agent/src/budget.rs`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("rate_budgets")
                .col(string("account_key").primary_key())
                .col(big_integer("next_at_us"))
                .col(big_integer("last_slot_us"))
                .col(big_integer("slow_interval_us"))
                .col(big_integer("slow_until_us"))
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("rate_budgets").take()).await
    }
}
