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

/// Every token (revoked ones too), oldest first: what `token list` prints. Hashes stay inside.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<api_token::Model>, DbErr> {
    use sea_orm::QueryOrder;
    api_token::Entity::find().order_by_asc(api_token::Column::Id).all(db).await
}

/// Revokes the token with this id or name; returns how many were revoked (0: none matched or
/// already revoked).
pub async fn revoke(db: &DatabaseConnection, id_or_name: &str) -> Result<u64, DbErr> {
    let q = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(now()))
        .filter(api_token::Column::RevokedAt.is_null());
    let q = match id_or_name.parse::<i64>() {
        Ok(id) => q.filter(api_token::Column::Id.eq(id)),
        Err(_) => q.filter(api_token::Column::Name.eq(id_or_name)),
    };
    Ok(q.exec(db).await?.rows_affected)
}
