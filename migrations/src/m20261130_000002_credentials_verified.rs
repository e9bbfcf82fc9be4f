//! `integrations.credentials_verified_at`: when the integration's current credentials last
//! worked (a connection test that reached the advertiser, or a preview that finished). Cleared
//! whenever the credentials change, so `finalizeIntegration` can refuse credentials that never
//! worked unless the admin forces it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("integrations").add_column(timestamp_with_time_zone_null("credentials_verified_at")).take())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("integrations").drop_column("credentials_verified_at").take()).await
    }
}
