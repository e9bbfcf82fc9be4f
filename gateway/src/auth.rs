//! API tokens with roles: admin (everything), editor (edit integrations and campaigns, no token
//! management), viewer (read and subscribe only). Bearer header over HTTP, `connection_init`
//! payload (`{"Authorization": "Bearer ..."}` or `{"token": "..."}`) over WebSocket.

use async_graphql::Context;
use domain::{crypto::hash_token, db::now, entity::api_token, model::Role};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::error::{FORBIDDEN, UNAUTHENTICATED, coded};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// "token:<name>" for audit entries and `requested_by`.
    pub fn actor(&self) -> String {
        format!("token:{}", self.name)
    }
}

/// The result of authenticating a request: a caller, or why not.
#[derive(Debug, Clone)]
pub enum Auth {
    Caller(Caller),
    Missing,
    Invalid,
}

/// Looks the token up by hash. Unknown or revoked tokens are `Invalid`.
pub async fn authenticate(db: &DatabaseConnection, token: Option<&str>) -> Auth {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return Auth::Missing;
    };
    let token = token.strip_prefix("Bearer ").or_else(|| token.strip_prefix("bearer ")).unwrap_or(token).trim();
    let found = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_token(token)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await;
    match found {
        Ok(Some(t)) => {
            let Some(role) = Role::parse(&t.role) else { return Auth::Invalid };
            // Last-used is informative: written at most once a minute per token, off the request
            // path, so reads never commit a write or queue on the token's row lock.
            let stale = t.last_used_at.is_none_or(|at| now() - at > chrono::Duration::seconds(60));
            if stale {
                let db = db.clone();
                let mut am: api_token::ActiveModel = t.clone().into();
                am.last_used_at = Set(Some(now()));
                tokio::spawn(async move {
                    let _ = am.update(&db).await;
                });
            }
            Auth::Caller(Caller { token_id: t.id, name: t.name, role })
        }
        Ok(None) => Auth::Invalid,
        Err(e) => {
            tracing::error!(error = %e, "token lookup failed");
            Auth::Invalid
        }
    }
}

fn caller<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Caller> {
    match ctx.data_opt::<Auth>() {
        Some(Auth::Caller(c)) => Ok(c),
        Some(Auth::Invalid) => Err(coded(UNAUTHENTICATED, "the API token is unknown or revoked")),
        _ => Err(coded(UNAUTHENTICATED, "an API token is required: send 'Authorization: Bearer <token>'")),
    }
}

/// Any authenticated caller (viewer and up).
pub fn read(ctx: &Context<'_>) -> async_graphql::Result<Caller> {
    caller(ctx).cloned()
}

/// Editor or admin.
pub fn edit(ctx: &Context<'_>) -> async_graphql::Result<Caller> {
    let c = caller(ctx)?;
    match c.role {
        Role::Admin | Role::Editor => Ok(c.clone()),
        Role::Viewer => Err(coded(FORBIDDEN, "viewer tokens may read and subscribe only")),
    }
}

/// Admin only.
pub fn admin(ctx: &Context<'_>) -> async_graphql::Result<Caller> {
    let c = caller(ctx)?;
    match c.role {
        Role::Admin => Ok(c.clone()),
        _ => Err(coded(FORBIDDEN, "only admin tokens may do this")),
    }
}
