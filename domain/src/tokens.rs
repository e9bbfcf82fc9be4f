//! API token records: created once (the token is shown once), stored as a hash.

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::{crypto::new_token, db::now, entity::api_token, model::Role};

/// Creates a token and returns its record and the token text (never stored).
pub async fn create(db: &DatabaseConnection, name: &str, role: Role) -> Result<(api_token::Model, String), DbErr> {
    let (token, hash) = new_token();
    let row = api_token::ActiveModel {
        name: Set(name.to_string()),
        role: Set(role.as_str().into()),
        token_hash: Set(hash),
        prefix: Set(token.chars().take(8).collect()),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, token))
}

/// Tokens that are not revoked.
pub async fn active_count(db: &DatabaseConnection) -> Result<u64, DbErr> {
    api_token::Entity::find().filter(api_token::Column::RevokedAt.is_null()).count(db).await
}
