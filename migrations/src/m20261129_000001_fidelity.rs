//! Field fidelity (issue 10): what the platforms send that the first schema could not hold.
//!
//! - `campaign_caps.goal`: a cap the advertiser set on one goal (Affise `caps[].goals`), not on
//!   the whole offer. NULL = the cap applies to the offer.
//! - `campaign_payouts.excluded_countries`: a payout for "every country except these" (Affise
//!   `payouts[].country_exclude`), a JSON list; `[]` = the row's `country` (or every country).
//! - `campaigns.upstream_status`: the offer's status on the advertiser's platform as last seen
//!   (active, paused, pending, expired, deleted, unknown), which decides the campaign status.
//! - `preview_offers.status` / `upstream_status`: the status a previewed offer would get, and why.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        m.alter_table(Table::alter().table("campaign_caps").add_column(string_null("goal")).take()).await?;
        m.alter_table(Table::alter().table("campaign_payouts").add_column(string("excluded_countries").default("[]")).take()).await?;
        m.alter_table(Table::alter().table("campaigns").add_column(string_null("upstream_status")).take()).await?;
        m.alter_table(Table::alter().table("preview_offers").add_column(string_null("status")).take()).await?;
        m.alter_table(Table::alter().table("preview_offers").add_column(string_null("upstream_status")).take()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("preview_offers").drop_column("upstream_status").take()).await?;
        m.alter_table(Table::alter().table("preview_offers").drop_column("status").take()).await?;
        m.alter_table(Table::alter().table("campaigns").drop_column("upstream_status").take()).await?;
        m.alter_table(Table::alter().table("campaign_payouts").drop_column("excluded_countries").take()).await?;
        m.alter_table(Table::alter().table("campaign_caps").drop_column("goal").take()).await?;
        Ok(())
    }
}
