//! Facts about the installation every process checks at start: `key_fingerprint`, a hash of
//! the secret key that sealed the stored credentials, so a process started with another key
//! (a lost or regenerated `secret.key`, a gateway and an agent on different machines) refuses
//! to start instead of failing every sync with "credential missing".

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(Table::create().table("instance_meta").col(string("key").primary_key()).col(string("value")).take()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("instance_meta").take()).await
    }
}
