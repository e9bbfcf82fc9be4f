//! Campaigns (the imported offers): search, hand edits that lock columns, bulk edits with
//! dry run and revert.

use std::collections::BTreeMap;

use crate::schema::types::Decimal;
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{
    db::{now, write_tx},
    entity::{campaign, campaign_cap, campaign_country, campaign_payout, campaign_publisher_payout, changeset},
    model as m, money, validate,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TryIntoModel};

pub(crate) mod compiled;

use super::{Page, app, audit, paginate, parties::parse_id, types};
use crate::{
    auth,
    error::{self, OrInternal},
};

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Campaign {
    pub id: ID,
    pub integration_id: ID,
    pub external_id: String,
    pub title: String,
    pub description: Option<String>,
    pub description_text: Option<String>,
    pub preview_url: Option<String>,
    pub tracking_url: Option<String>,
    pub impression_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub status: types::CampaignStatus,
    /// Who stopped the campaign: SYNC (its offer left the feed), UPSTREAM (the advertiser
    /// paused, expired or deleted it) or HAND; null when active.
    pub paused_by: Option<String>,
    /// The offer's status on the advertiser's platform as last seen (ACTIVE, PAUSED, PENDING,
    /// EXPIRED, DELETED, UNKNOWN): not live upstream = not active here.
    pub upstream_status: Option<String>,
    pub visibility: types::Visibility,
    pub category: Option<String>,
    pub currency: String,
    /// What the advertiser pays (exact decimal).
    pub revenue: Decimal,
    /// What publishers are paid by default (revenue x ratio).
    pub payout: Decimal,
    pub payout_type: types::PayoutType,
    pub model: Option<String>,
    pub objective: Option<String>,
    pub redirect_type: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub exchange_rate: Option<Decimal>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub consecutive_misses: i32,
    pub vanished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub row_id: i64,
    /// The columns stored as JSON, read only when a query selects them (a list of 50
    /// campaigns that does not ask for provenance never expands 50 provenance maps).
    #[graphql(skip)]
    pub json: CampaignJson,
}

impl Campaign {
    /// `provenance` as served (one function for the schema and the compiled pages).
    fn provenance_json(&self) -> types::JsonValue {
        types::JsonValue(serde_json::to_value(domain::model::provenance(&self.json.provenance)).unwrap_or_default())
    }
}

/// [`Campaign`]'s JSON columns as stored.
pub struct CampaignJson {
    countries: String,
    blocked_countries: String,
    os: String,
    devices: String,
    locked_columns: String,
    provenance: String,
}

fn list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

impl From<campaign::Model> for Campaign {
    fn from(c: campaign::Model) -> Self {
        Self {
            id: c.id.into(),
            row_id: c.id,
            integration_id: c.integration_id.into(),
            external_id: c.external_id,
            title: c.title,
            description: c.description,
            description_text: c.description_text,
            preview_url: c.preview_url,
            tracking_url: c.tracking_url,
            impression_url: c.impression_url,
            thumbnail_url: c.thumbnail_url,
            status: m::CampaignStatus::parse(&c.status).unwrap_or(m::CampaignStatus::Paused).into(),
            paused_by: c.paused_by.map(|p| p.to_ascii_uppercase()),
            upstream_status: c.upstream_status.map(|p| p.to_ascii_uppercase()),
            visibility: m::Visibility::parse(&c.visibility).unwrap_or(m::Visibility::Private).into(),
            category: c.category,
            currency: c.currency,
            revenue: money::from_db(&c.revenue).into(),
            payout: money::from_db(&c.payout).into(),
            payout_type: m::PayoutType::parse(&c.payout_type).unwrap_or(m::PayoutType::Fixed).into(),
            model: c.model,
            objective: c.objective,
            redirect_type: c.redirect_type,
            expires_at: c.expires_at,
            json: CampaignJson {
                countries: c.countries,
                blocked_countries: c.blocked_countries,
                os: c.os,
                devices: c.devices,
                locked_columns: c.locked_columns,
                provenance: c.provenance,
            },
            exchange_rate: c.exchange_rate.as_deref().map(|d| money::from_db(d).into()),
            first_seen_at: c.first_seen_at,
            last_seen_at: c.last_seen_at,
            consecutive_misses: c.consecutive_misses,
            vanished_at: c.vanished_at,
            updated_at: c.updated_at,
        }
    }
}

/// A per-country / per-goal payout row.
#[derive(SimpleObject)]
pub struct CampaignPayout {
    /// The country the row pays in; null = every country (but `excludedCountries`).
    pub country: Option<String>,
    /// "Every country except these" (e.g. Affise `country_exclude`); empty = no exclusion.
    pub excluded_countries: Vec<String>,
    pub goal: Option<String>,
    pub goal_name: Option<String>,
    pub revenue: Decimal,
    pub payout: Decimal,
    pub payout_type: types::PayoutType,
    pub currency: String,
}

/// A cap on the campaign.
#[derive(SimpleObject)]
pub struct CampaignCap {
    /// UPSTREAM (sent by the advertiser), SETTINGS (the integration's cap) or EXTRA.
    pub source: String,
    /// The goal an upstream cap is set on (its upstream id; "1,2" = shared by goals 1 and 2);
    /// null = the whole offer.
    pub goal: Option<String>,
    pub event: types::CapEvent,
    pub period: types::CapPeriod,
    pub value: Decimal,
    pub visibility: types::CapVisibility,
    pub counting: types::CapCounting,
    pub timezone: String,
    pub over_delivery: types::OverDelivery,
}

/// What one publisher earns on a campaign when it differs from the campaign payout: from its
/// tier's ratio or a fixed per-publisher payout of the integration's payout rules.
#[derive(SimpleObject)]
pub struct CampaignPublisherPayout {
    pub publisher_id: ID,
    pub payout: Decimal,
    /// TIER (revenue x the tier's ratio) or PUBLISHER (a fixed payout).
    pub source: String,
}

impl From<campaign_payout::Model> for CampaignPayout {
    fn from(p: campaign_payout::Model) -> Self {
        Self {
            country: p.country,
            excluded_countries: list(&p.excluded_countries),
            goal: p.goal,
            goal_name: p.goal_name,
            revenue: money::from_db(&p.revenue).into(),
            payout: money::from_db(&p.payout).into(),
            payout_type: m::PayoutType::parse(&p.payout_type).unwrap_or(m::PayoutType::Fixed).into(),
            currency: p.currency,
        }
    }
}

impl From<campaign_cap::Model> for CampaignCap {
    fn from(c: campaign_cap::Model) -> Self {
        Self {
            source: c.source.to_ascii_uppercase(),
            goal: c.goal,
            event: m::CapEvent::parse(&c.event).unwrap_or(m::CapEvent::Conversions).into(),
            period: m::CapPeriod::parse(&c.period).unwrap_or(m::CapPeriod::Daily).into(),
            value: money::from_db(&c.value).into(),
            visibility: m::CapVisibility::parse(&c.visibility).unwrap_or(m::CapVisibility::Private).into(),
            counting: m::CapCounting::parse(&c.counting).unwrap_or(m::CapCounting::Gross).into(),
            timezone: c.timezone,
            over_delivery: m::OverDelivery::parse(&c.over_delivery).unwrap_or(m::OverDelivery::Pause).into(),
        }
    }
}

impl From<campaign_publisher_payout::Model> for CampaignPublisherPayout {
    fn from(p: campaign_publisher_payout::Model) -> Self {
        Self { publisher_id: p.publisher_id.into(), payout: money::from_db(&p.payout).into(), source: p.source.to_ascii_uppercase() }
    }
}

/// Child rows of many campaigns in one query per table: a page of campaigns costs the same
/// number of statements whatever its size (async-graphql's DataLoader batches the keys every
/// campaign of the page asks for). One loader per HTTP request, so nothing is cached across
/// requests.
pub struct ChildRows {
    pub db: sea_orm::DatabaseConnection,
}

/// Keys: the campaign id whose rows are wanted, per table.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayoutsOf(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CapsOf(pub i64);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherPayoutsOf(pub i64);

macro_rules! child_loader {
    ($key:ident, $entity:ident, $order:ident) => {
        impl async_graphql::dataloader::Loader<$key> for ChildRows {
            type Value = Vec<domain::entity::$entity::Model>;
            type Error = std::sync::Arc<sea_orm::DbErr>;

            async fn load(&self, keys: &[$key]) -> Result<std::collections::HashMap<$key, Self::Value>, Self::Error> {
                use domain::entity::$entity;
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = $entity::Entity::find()
                    .filter($entity::Column::CampaignId.is_in(ids))
                    .order_by_asc($entity::Column::$order)
                    .all(&self.db)
                    .await
                    .map_err(std::sync::Arc::new)?;
                let mut out: std::collections::HashMap<$key, Self::Value> = keys.iter().map(|k| (*k, vec![])).collect();
                for r in rows {
                    out.entry($key(r.campaign_id)).or_default().push(r);
                }
                Ok(out)
            }
        }
    };
}
child_loader!(PayoutsOf, campaign_payout, Id);
child_loader!(CapsOf, campaign_cap, Id);
child_loader!(PublisherPayoutsOf, campaign_publisher_payout, PublisherId);

/// The rows for `key` through the request's loader (batched), or one query when there is no
/// loader (subscriptions over WebSocket).
async fn children<K>(ctx: &Context<'_>, key: K) -> async_graphql::Result<<ChildRows as async_graphql::dataloader::Loader<K>>::Value>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    ChildRows: async_graphql::dataloader::Loader<K, Error = std::sync::Arc<sea_orm::DbErr>>,
    <ChildRows as async_graphql::dataloader::Loader<K>>::Value: Default,
{
    use async_graphql::dataloader::{DataLoader, Loader};
    match ctx.data_opt::<DataLoader<ChildRows>>() {
        Some(l) => Ok(l.load_one(key).await.map_err(|e| error::internal(e.as_ref()))?.unwrap_or_default()),
        None => {
            let direct = ChildRows { db: app(ctx).db.clone() };
            let mut map = direct.load(std::slice::from_ref(&key)).await.map_err(|e| error::internal(e.as_ref()))?;
            Ok(map.remove(&key).unwrap_or_default())
        }
    }
}

#[ComplexObject]
impl Campaign {
    async fn countries(&self) -> Vec<String> {
        list(&self.json.countries)
    }

    async fn blocked_countries(&self) -> Vec<String> {
        list(&self.json.blocked_countries)
    }

    async fn os(&self) -> Vec<String> {
        list(&self.json.os)
    }

    async fn devices(&self) -> Vec<String> {
        list(&self.json.devices)
    }

    /// Columns edited by hand: kept by every sync until unlocked.
    async fn locked_columns(&self) -> Vec<String> {
        list(&self.json.locked_columns)
    }

    /// Where each column's value came from: `{column: {source: "sync"|"hand", runId?, at}}`.
    async fn provenance(&self) -> crate::schema::types::JsonValue {
        self.provenance_json()
    }

    /// Per-publisher payouts (tiers and fixed payouts); publishers not listed get `payout`.
    async fn publisher_payouts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CampaignPublisherPayout>> {
        let rows = children(ctx, PublisherPayoutsOf(self.row_id)).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Caps: the advertiser's (with their goal) and the integration's.
    async fn caps(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CampaignCap>> {
        let rows = children(ctx, CapsOf(self.row_id)).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn payouts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CampaignPayout>> {
        let rows = children(ctx, PayoutsOf(self.row_id)).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[derive(InputObject, Default, Clone)]
pub struct CampaignFilter {
    pub integration_id: Option<ID>,
    pub status: Option<types::CampaignStatus>,
    /// ISO alpha-2: campaigns that run in this country.
    pub country: Option<String>,
    pub model: Option<String>,
    /// Case-insensitive substring of the title.
    pub search: Option<String>,
    pub external_ids: Option<Vec<String>>,
}

fn apply_filter(mut q: sea_orm::Select<campaign::Entity>, f: &CampaignFilter) -> async_graphql::Result<sea_orm::Select<campaign::Entity>> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
    if let Some(i) = &f.integration_id {
        q = q.filter(campaign::Column::IntegrationId.eq(parse_id(i, "integration")?));
    }
    if let Some(s) = f.status {
        q = q.filter(campaign::Column::Status.eq(m::CampaignStatus::from(s).as_str()));
    }
    if let Some(c) = &f.country {
        let c = validate::country(c)
            .ok_or_else(|| error::field("filter.country", format!("'{c}' is not an ISO 3166-1 alpha-2 country code")))?;
        q = q.filter(
            campaign::Column::Id.in_subquery(
                Query::select()
                    .column(campaign_country::Column::CampaignId)
                    .from(campaign_country::Entity)
                    .and_where(campaign_country::Column::Country.eq(c))
                    .to_owned(),
            ),
        );
    }
    if let Some(mdl) = &f.model {
        q = q.filter(campaign::Column::Model.eq(mdl.to_ascii_lowercase()));
    }
    if let Some(s) = f.search.as_ref().filter(|s| !s.trim().is_empty()) {
        q = q.filter(Expr::expr(Func::lower(Expr::col(campaign::Column::Title))).like(crate::schema::contains_pattern(s)));
    }
    if let Some(ids) = &f.external_ids {
        q = q.filter(campaign::Column::ExternalId.is_in(ids.clone()));
    }
    Ok(q)
}

/// A hand edit. Every column given is locked: syncs keep it until unlocked.
#[derive(InputObject, Default, Clone, Debug)]
pub struct CampaignInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub preview_url: Option<String>,
    pub tracking_url: Option<String>,
    pub status: Option<types::CampaignStatus>,
    pub visibility: Option<types::Visibility>,
    pub category: Option<String>,
    pub revenue: Option<Decimal>,
    pub payout: Option<Decimal>,
}

fn input_json(i: &CampaignInput) -> serde_json::Value {
    serde_json::json!({
        "title": i.title, "description": i.description, "previewUrl": i.preview_url, "trackingUrl": i.tracking_url,
        "status": i.status.map(|s| m::CampaignStatus::from(s).as_str()), "visibility": i.visibility.map(|v| m::Visibility::from(v).as_str()),
        "category": i.category, "revenue": i.revenue.map(|d| d.to_string()), "payout": i.payout.map(|d| d.to_string()),
    })
}

/// Applies `input` to a row; returns the columns changed. Validation errors name the field.
fn apply_edit(am: &mut campaign::ActiveModel, c: &campaign::Model, input: &CampaignInput) -> async_graphql::Result<Vec<&'static str>> {
    let mut cols = vec![];
    if let Some(t) = &input.title {
        if t.trim().is_empty() {
            return Err(error::field("input.title", "title must not be empty"));
        }
        am.title = Set(t.trim().to_string());
        cols.push("title");
    }
    if let Some(d) = &input.description {
        am.description = Set(Some(d.clone()));
        // The plain text is derived from the description; it follows every edit.
        am.description_text = Set(agent::offer::plain_text(None, Some(d)));
        cols.push("description");
    }
    for (field, col, v) in
        [("input.previewUrl", "preview_url", &input.preview_url), ("input.trackingUrl", "tracking_url", &input.tracking_url)]
    {
        if let Some(u) = v {
            if !validate::http_url(u) {
                return Err(error::field(field, format!("'{u}' is not an absolute http(s) URL")));
            }
            if col == "preview_url" {
                am.preview_url = Set(Some(u.clone()));
            } else {
                am.tracking_url = Set(Some(u.clone()));
            }
            cols.push(col);
        }
    }
    if let Some(s) = input.status {
        am.status = Set(m::CampaignStatus::from(s).as_str().into());
        am.paused_by = Set((s == types::CampaignStatus::Paused).then(|| "hand".to_string()));
        cols.push("status");
    }
    if let Some(v) = input.visibility {
        am.visibility = Set(m::Visibility::from(v).as_str().into());
        cols.push("visibility");
    }
    if let Some(cat) = &input.category {
        am.category = Set(Some(cat.clone()));
        cols.push("category");
    }
    for (field, col, v) in [("input.revenue", "revenue", input.revenue), ("input.payout", "payout", input.payout)] {
        if let Some(x) = v {
            if x < Decimal::ZERO {
                return Err(error::field(field, "amount must not be negative"));
            }
            if col == "revenue" {
                am.revenue = Set(money::to_db(x.0));
            } else {
                am.payout = Set(money::to_db(x.0));
            }
            cols.push(col);
        }
    }
    let _ = c;
    Ok(cols)
}

fn lock(am: &mut campaign::ActiveModel, c: &campaign::Model, cols: &[&str], actor: &str) {
    let mut locked: Vec<String> = list(&c.locked_columns);
    let mut prov: BTreeMap<String, serde_json::Value> = serde_json::from_str(&c.provenance).unwrap_or_default();
    let at = now();
    for col in cols {
        if !locked.iter().any(|l| l == col) {
            locked.push((*col).to_string());
        }
        prov.insert((*col).to_string(), serde_json::json!({"source": "hand", "actor": actor, "at": at}));
    }
    am.locked_columns = Set(serde_json::to_string(&locked).unwrap_or_else(|_| "[]".into()));
    am.provenance = Set(serde_json::to_string(&prov).unwrap_or_else(|_| "{}".into()));
    am.updated_at = Set(at);
}

/// The result of a bulk edit: how many rows, before/after for the first rows, an id to revert.
#[derive(SimpleObject)]
pub struct Changeset {
    /// Null for a dry run (nothing was written).
    pub id: Option<ID>,
    pub dry_run: bool,
    pub row_count: i32,
    /// Before/after of the first 50 rows.
    pub sample: crate::schema::types::JsonValue,
    pub reverted_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct CampaignsQuery;

#[Object]
impl CampaignsQuery {
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        filter: Option<CampaignFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<Campaign>> {
        auth::read(ctx)?;
        let q = apply_filter(campaign::Entity::find(), &filter.unwrap_or_default())?;
        paginate(ctx, q, campaign::Column::Id, |r| r.id, Campaign::from, first, after, false).await
    }

    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Campaign>> {
        auth::read(ctx)?;
        let id = parse_id(&id, "campaign")?;
        Ok(campaign::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }
}

fn snapshot(c: &campaign::Model) -> serde_json::Value {
    serde_json::json!({
        "id": c.id, "title": c.title, "description": c.description, "preview_url": c.preview_url, "tracking_url": c.tracking_url,
        "status": c.status, "visibility": c.visibility, "category": c.category, "revenue": c.revenue, "payout": c.payout,
        "locked_columns": c.locked_columns, "provenance": c.provenance, "paused_by": c.paused_by,
    })
}

fn restore(am: &mut campaign::ActiveModel, s: &serde_json::Value) {
    let str_of = |k: &str| s.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(v) = str_of("title") {
        am.title = Set(v);
    }
    am.description = Set(str_of("description"));
    am.description_text = Set(agent::offer::plain_text(None, str_of("description").as_deref()));
    am.preview_url = Set(str_of("preview_url"));
    am.tracking_url = Set(str_of("tracking_url"));
    if let Some(v) = str_of("status") {
        am.status = Set(v);
    }
    if let Some(v) = str_of("visibility") {
        am.visibility = Set(v);
    }
    am.category = Set(str_of("category"));
    if let Some(v) = str_of("revenue") {
        am.revenue = Set(v);
    }
    if let Some(v) = str_of("payout") {
        am.payout = Set(v);
    }
    if let Some(v) = str_of("locked_columns") {
        am.locked_columns = Set(v);
    }
    if let Some(v) = str_of("provenance") {
        am.provenance = Set(v);
    }
    am.paused_by = Set(str_of("paused_by"));
    // The restored values are as old as the snapshot and the columns it unlocks may lag the
    // advertiser: the next sync rewrites whatever is updatable, even if the offer is unchanged.
    am.fingerprint = Set(String::new());
    am.updated_at = Set(now());
}

/// Most rows one bulk edit may touch.
const BULK_LIMIT: u64 = 10_000;

#[derive(Default)]
pub struct CampaignsMutation;

#[Object]
impl CampaignsMutation {
    /// A hand edit: the edited columns are locked and survive every sync until unlocked.
    async fn update_campaign(&self, ctx: &Context<'_>, id: ID, input: CampaignInput) -> async_graphql::Result<Campaign> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "campaign")?;
        let db = &app(ctx).db;
        let c = campaign::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::not_found("campaign", id))?;
        let mut am: campaign::ActiveModel = c.clone().into();
        let cols = apply_edit(&mut am, &c, &input)?;
        if cols.is_empty() {
            return Err(error::field("input", "give at least one column to change"));
        }
        lock(&mut am, &c, &cols, &who.actor());
        let c2 = am.update(db).await.or_internal()?;
        audit(db, &who, "updateCampaign", "campaign", id, serde_json::json!({"columns": cols})).await?;
        Ok(c2.into())
    }

    /// Lets syncs write these columns again (the next refresh takes the advertiser's value).
    async fn unlock_campaign_columns(
        &self,
        ctx: &Context<'_>,
        id: ID,
        columns: Vec<types::CampaignColumn>,
    ) -> async_graphql::Result<Campaign> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "campaign")?;
        let db = &app(ctx).db;
        let c = campaign::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::not_found("campaign", id))?;
        let names: Vec<&str> = columns.iter().map(|c| m::CampaignColumn::from(*c).as_str()).collect();
        let locked: Vec<String> = list(&c.locked_columns).into_iter().filter(|l| !names.contains(&l.as_str())).collect();
        let mut am: campaign::ActiveModel = c.clone().into();
        am.locked_columns = Set(serde_json::to_string(&locked).unwrap_or_else(|_| "[]".into()));
        // Force the next sync to rewrite the unlocked columns even if the offer is unchanged.
        am.fingerprint = Set(String::new());
        am.updated_at = Set(now());
        let c2 = am.update(db).await.or_internal()?;
        audit(db, &who, "unlockCampaignColumns", "campaign", id, serde_json::json!({"columns": names})).await?;
        Ok(c2.into())
    }

    /// Edits every campaign matching `where` in one transaction, as hand edits (locking the
    /// columns). `dryRun` shows what would change without writing. Revert with `revertChangeset`.
    async fn bulk_update_campaigns(
        &self,
        ctx: &Context<'_>,
        r#where: CampaignFilter,
        set: CampaignInput,
        #[graphql(default = false)] dry_run: bool,
    ) -> async_graphql::Result<Changeset> {
        let who = auth::edit(ctx)?;
        let db = &app(ctx).db;
        let rows = apply_filter(campaign::Entity::find(), &r#where)?
            .order_by_asc(campaign::Column::Id)
            .limit(BULK_LIMIT + 1)
            .all(db)
            .await
            .or_internal()?;
        if rows.len() as u64 > BULK_LIMIT {
            return Err(error::field("where", format!("matches more than {BULK_LIMIT} campaigns: narrow the filter")));
        }
        let mut planned = vec![];
        for c in &rows {
            let mut am: campaign::ActiveModel = c.clone().into();
            let cols = apply_edit(&mut am, c, &set)?;
            if cols.is_empty() {
                return Err(error::field("set", "give at least one column to change"));
            }
            lock(&mut am, c, &cols, &who.actor());
            planned.push((c.clone(), am));
        }
        let mut sample = vec![];
        let mut befores = vec![];
        let tx = write_tx(db).await.or_internal()?;
        for (before, am) in planned {
            let after = if dry_run { am.try_into_model().or_internal()? } else { am.update(&tx).await.or_internal()? };
            if sample.len() < 50 {
                sample.push(serde_json::json!({"before": snapshot(&before), "after": snapshot(&after)}));
            }
            befores.push(snapshot(&before));
        }
        let n = befores.len() as i32;
        if dry_run {
            tx.rollback().await.or_internal()?;
            return Ok(Changeset {
                id: None,
                dry_run: true,
                row_count: n,
                sample: crate::schema::types::JsonValue(serde_json::Value::Array(sample)),
                reverted_at: None,
            });
        }
        let cs = changeset::ActiveModel {
            target: Set("campaigns".into()),
            actor: Set(who.actor()),
            where_clause: Set(serde_json::json!({"integrationId": r#where.integration_id.as_ref().map(|i| i.to_string()), "search": r#where.search, "country": r#where.country}).to_string()),
            set_values: Set(input_json(&set).to_string()),
            row_count: Set(n),
            rows: Set(serde_json::Value::Array(befores).to_string()),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .or_internal()?;
        audit(&tx, &who, "bulkUpdateCampaigns", "changeset", cs.id, serde_json::json!({"rows": n})).await?;
        tx.commit().await.or_internal()?;
        Ok(Changeset {
            id: Some(cs.id.into()),
            dry_run: false,
            row_count: n,
            sample: crate::schema::types::JsonValue(serde_json::Value::Array(sample)),
            reverted_at: None,
        })
    }

    /// Restores every row of a bulk edit to its state before the edit, in one transaction.
    async fn revert_changeset(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Changeset> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "changeset")?;
        let db = &app(ctx).db;
        let cs = changeset::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::not_found("changeset", id))?;
        if cs.reverted_at.is_some() {
            return Err(error::coded(error::BAD_STATE, format!("changeset {id} is already reverted")));
        }
        let rows: Vec<serde_json::Value> = serde_json::from_str(&cs.rows).unwrap_or_default();
        let tx = write_tx(db).await.or_internal()?;
        for r in &rows {
            let Some(rid) = r.get("id").and_then(|v| v.as_i64()) else { continue };
            if cs.target == "integrations" {
                if let Some(i) = domain::entity::integration::Entity::find_by_id(rid).one(&tx).await.or_internal()? {
                    let mut am: domain::entity::integration::ActiveModel = i.clone().into();
                    super::bulk::restore(&mut am, &i, r);
                    am.update(&tx).await.or_internal()?;
                }
            } else if let Some(c) = campaign::Entity::find_by_id(rid).one(&tx).await.or_internal()? {
                let mut am: campaign::ActiveModel = c.into();
                restore(&mut am, r);
                am.update(&tx).await.or_internal()?;
            }
        }
        let t = now();
        let mut am: changeset::ActiveModel = cs.clone().into();
        am.reverted_at = Set(Some(t));
        am.update(&tx).await.or_internal()?;
        audit(&tx, &who, "revertChangeset", "changeset", id, serde_json::json!({"rows": rows.len()})).await?;
        tx.commit().await.or_internal()?;
        Ok(Changeset {
            id: Some(id.into()),
            dry_run: false,
            row_count: cs.row_count,
            sample: crate::schema::types::JsonValue(serde_json::Value::Array(vec![])),
            reverted_at: Some(t),
        })
    }
}
