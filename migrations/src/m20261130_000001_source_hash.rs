//! `campaigns.source_hash`: a hash of the upstream record a campaign was last written from,
//! together with everything else that decided its values (the integration's rules, its
//! publishers' tiers, the account's currency, the mapping's version). A refresh that meets the
//! same record again under the same rules knows the campaign is unchanged without parsing or
//! evaluating the record. `NULL` = unknown (campaigns written before this column, or forced to
//! refresh): the record is parsed and compared as before. `source_expires_at`: the expiry that
//! record gave (the campaign's own `expires_at` may be kept by the admin), so an offer whose
//! expiry has passed is evaluated again, whatever its bytes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("campaigns").add_column(string_null("source_hash")).take()).await?;
        m.alter_table(Table::alter().table("campaigns").add_column(timestamp_with_time_zone_null("source_expires_at")).take()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("campaigns").drop_column("source_expires_at").take()).await?;
        m.alter_table(Table::alter().table("campaigns").drop_column("source_hash").take()).await
    }
}
