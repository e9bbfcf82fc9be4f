//! `skipped_offers`: the current verdict of every offer a filter skips, per integration. A
//! refresh logs a skipped offer only when its verdict (the reason code) changes, or when its
//! last log line is half-way to the log retention, instead of one log row per filtered offer per
//! refresh: the logs always hold the reason of every offer skipped now. Rows older than the
//! retention (offers gone from the feed) are pruned with the logs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("skipped_offers")
                .col(big_integer("integration_id"))
                .col(string("external_id"))
                .col(string("code"))
                .col(text("reason"))
                .col(big_integer("run_id"))
                .col(timestamp_with_time_zone("logged_at"))
                .primary_key(Index::create().col("integration_id").col("external_id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("skipped_offers", "integration_id")
                        .to("integrations", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("skipped_offers").take()).await
    }
}
