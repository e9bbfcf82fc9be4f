//! API tokens with roles: admin (everything), editor (edit integrations and campaigns, no token
//! management), viewer (read and subscribe only). Bearer header over HTTP, `connection_init`
//! payload (`{"Authorization": "Bearer ..."}` or `{"token": "..."}`) over WebSocket.

use async_graphql::Context;
use domain::{crypto::hash_token, db::now, entity::api_token, model::Role};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

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

/// The token a request carries (`Bearer ` prefix optional), if any.
pub fn presented(token: Option<&str>) -> Option<&str> {
    let token = token.map(str::trim).filter(|t| !t.is_empty())?;
    Some(token.strip_prefix("Bearer ").or_else(|| token.strip_prefix("bearer ")).unwrap_or(token).trim())
}

/// Looks the token up by hash. Unknown or revoked tokens are `Invalid`.
pub async fn authenticate(db: &DatabaseConnection, token: Option<&str>) -> Auth {
    let Some(token) = presented(token) else {
        return Auth::Missing;
    };
    let found = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_token(token)))
        .filter(api_token::Column::RevokedAt.is_null())
        .one(db)
        .await;
    match found {
        Ok(Some(t)) => admit(db, t.id, t.name, &t.role, t.last_used_at),
        Ok(None) => Auth::Invalid,
        Err(e) => {
            tracing::error!(error = %e, "token lookup failed");
            Auth::Invalid
        }
    }
}

/// The caller of a current (found, not revoked) token row: `Invalid` for a role this build
/// does not know. Touches the token's last-used time when it is a minute old.
pub fn admit(db: &DatabaseConnection, id: i64, name: String, role: &str, last_used_at: Option<chrono::DateTime<chrono::Utc>>) -> Auth {
    let Some(role) = Role::parse(role) else { return Auth::Invalid };
    // Last-used is informative: written at most once a minute per token, off the request path,
    // so reads never commit a write or queue on the token's row lock.
    if last_used_at.is_none_or(|at| now() - at > chrono::Duration::seconds(60)) {
        let db = db.clone();
        tokio::spawn(async move {
            let _ = api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now()))
                .filter(api_token::Column::Id.eq(id))
                .exec(&db)
                .await;
        });
    }
    Auth::Caller(Caller { token_id: id, name, role })
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
