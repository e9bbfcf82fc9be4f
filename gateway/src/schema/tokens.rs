//! API tokens, for admins: list, create (the token is shown once), revoke. What
//! `offerbridge token list|create|revoke` does, over GraphQL.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{entity::api_token, model::Role};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait};

use super::{app, audit, parties::parse_id};
use crate::{
    auth,
    error::{self, OrInternal},
};

/// What a token may do: ADMIN (everything, tokens included), EDITOR (edit integrations and
/// campaigns), VIEWER (read).
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TokenRole {
    Admin,
    Editor,
    Viewer,
}

impl From<TokenRole> for Role {
    fn from(r: TokenRole) -> Self {
        match r {
            TokenRole::Admin => Role::Admin,
            TokenRole::Editor => Role::Editor,
            TokenRole::Viewer => Role::Viewer,
        }
    }
}

fn role_of(s: &str) -> TokenRole {
    match Role::parse(s) {
        Some(Role::Admin) => TokenRole::Admin,
        Some(Role::Editor) => TokenRole::Editor,
        _ => TokenRole::Viewer,
    }
}

/// An API token's record. The token itself is never stored, only its hash: it is shown once,
/// by `createApiToken`.
#[derive(SimpleObject)]
pub struct ApiToken {
    pub id: ID,
    pub name: String,
    pub role: TokenRole,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The token of this request.
    pub current: bool,
}

impl ApiToken {
    fn of(m: api_token::Model, caller: i64) -> Self {
        Self {
            id: m.id.into(),
            current: m.id == caller,
            name: m.name,
            role: role_of(&m.role),
            prefix: m.prefix,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// A name to recognise it by (1 to 100 characters), e.g. the app or person using it.
    pub name: String,
    pub role: TokenRole,
}

/// A new token: `token` is shown here once and never again.
#[derive(SimpleObject)]
pub struct CreatedApiToken {
    pub token: String,
    pub api_token: ApiToken,
}

#[derive(Default)]
pub struct TokensQuery;

#[Object]
impl TokensQuery {
    /// Every API token, revoked ones too, oldest first (admin only).
    async fn api_tokens(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiToken>> {
        let who = auth::admin(ctx)?;
        let rows = domain::tokens::list(&app(ctx).db).await.or_internal()?;
        Ok(rows.into_iter().map(|m| ApiToken::of(m, who.token_id)).collect())
    }
}

#[derive(Default)]
pub struct TokensMutation;

#[Object]
impl TokensMutation {
    /// Creates a token (admin only) and returns it once. Send it as `Authorization: Bearer
    /// <token>` (or in `connection_init` over WebSocket).
    async fn create_api_token(&self, ctx: &Context<'_>, input: CreateApiTokenInput) -> async_graphql::Result<CreatedApiToken> {
        let who = auth::admin(ctx)?;
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(error::field("name", "a token name is 1 to 100 characters"));
        }
        let db = &app(ctx).db;
        let (row, token) = domain::tokens::create(db, name, input.role.into()).await.or_internal()?;
        audit(db, &who, "createApiToken", "api_token", row.id, serde_json::json!({"name": row.name, "role": row.role})).await?;
        Ok(CreatedApiToken { token, api_token: ApiToken::of(row, who.token_id) })
    }

    /// Revokes a token (admin only): it is refused from the next request on. The last active
    /// admin token cannot be revoked (create another admin token first), so the API never
    /// locks everyone out.
    async fn revoke_api_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiToken> {
        let who = auth::admin(ctx)?;
        let id = parse_id(&id, "token")?;
        let db = &app(ctx).db;
        let row = api_token::Entity::find_by_id(id)
            .one(db)
            .await
            .or_internal()?
            .ok_or_else(|| error::coded(error::NOT_FOUND, format!("no token with id {id}")))?;
        if row.revoked_at.is_some() {
            return Ok(ApiToken::of(row, who.token_id));
        }
        // Counted and revoked in one transaction that locks the active admin tokens (a write
        // transaction on SQLite): two admins revoking each other at once cannot both pass.
        let tx = db.begin().await.or_internal()?;
        if role_of(&row.role) == TokenRole::Admin {
            let admins = api_token::Entity::find()
                .filter(api_token::Column::RevokedAt.is_null())
                .filter(api_token::Column::Role.eq(Role::Admin.as_str()))
                .lock_exclusive()
                .all(&tx)
                .await
                .or_internal()?
                .len();
            if admins <= 1 {
                return Err(error::coded(
                    error::BAD_STATE,
                    "this is the last active admin token: create another admin token before revoking it",
                ));
            }
        }
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, sea_orm::sea_query::Expr::value(domain::db::now()))
            .filter(api_token::Column::Id.eq(id))
            .filter(api_token::Column::RevokedAt.is_null())
            .exec(&tx)
            .await
            .or_internal()?;
        tx.commit().await.or_internal()?;
        audit(db, &who, "revokeApiToken", "api_token", id, serde_json::json!({"name": row.name})).await?;
        let row = api_token::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::internal("token vanished"))?;
        Ok(ApiToken::of(row, who.token_id))
    }
}
