//! The connector catalog: every connector (native and declarative) and what it needs.

use async_graphql::{Context, Object, SimpleObject};

use super::app;
use crate::auth;

#[derive(Default)]
pub struct CatalogQuery;

/// A credential field a connector needs.
#[derive(SimpleObject)]
pub struct CredentialFieldInfo {
    pub name: String,
    pub label: String,
    pub required: bool,
    /// Secret fields are write-only: the API shows only whether they are set and their last 4.
    pub secret: bool,
    pub help: String,
}

/// A connector in the catalog.
#[derive(SimpleObject)]
pub struct ConnectorInfo {
    pub id: String,
    pub display_name: String,
    /// "native" (Rust code) or "declarative" (a spec file).
    pub kind: String,
    pub credential_fields: Vec<CredentialFieldInfo>,
    /// Paging style: page_total, page_count, until_short_page, row_offset, header_totals.
    pub paging: String,
    pub default_page_size: i32,
    /// Default request budget: `rateLimitRequests` per `rateLimitPerSeconds`.
    pub rate_limit_requests: i32,
    pub rate_limit_per_seconds: f64,
    /// Whether the connector fetches only offers the affiliate is approved for.
    pub approved_only: bool,
    pub docs_url: Option<String>,
}

impl From<&agent::connectors::ConnectorInfo> for ConnectorInfo {
    fn from(i: &agent::connectors::ConnectorInfo) -> Self {
        Self {
            id: i.id.clone(),
            display_name: i.display_name.clone(),
            kind: i.kind.to_string(),
            credential_fields: i
                .credential_fields
                .iter()
                .map(|f| CredentialFieldInfo {
                    name: f.name.into(),
                    label: f.label.into(),
                    required: f.required,
                    secret: f.secret,
                    help: f.help.into(),
                })
                .collect(),
            paging: serde_json::to_value(i.paging).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            default_page_size: i.default_page_size as i32,
            rate_limit_requests: i.rate_limit_requests as i32,
            rate_limit_per_seconds: i.rate_limit_per.as_secs_f64(),
            approved_only: i.approved_only,
            docs_url: i.docs_url.clone(),
        }
    }
}

#[Object]
impl CatalogQuery {
    /// Every connector this deployment can import from.
    async fn connectors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ConnectorInfo>> {
        auth::read(ctx)?;
        Ok(app(ctx).connectors.iter().map(|c| ConnectorInfo::from(c.info())).collect())
    }

    /// One connector by id.
    async fn connector(&self, ctx: &Context<'_>, id: String) -> async_graphql::Result<Option<ConnectorInfo>> {
        auth::read(ctx)?;
        Ok(app(ctx).connectors.iter().find(|c| c.info().id == id).map(|c| ConnectorInfo::from(c.info())))
    }
}
