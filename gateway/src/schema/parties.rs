//! Advertisers, publishers, publisher tiers and exchange rates.

use crate::schema::types::Decimal;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{
    db::now,
    entity::{advertiser, exchange_rate, publisher, publisher_tier},
    validate,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{app, audit};
use crate::{
    auth,
    error::{self, OrInternal},
};

pub(crate) fn parse_id(id: &ID, what: &str) -> async_graphql::Result<i64> {
    id.parse::<i64>().map_err(|_| error::field("id", format!("'{}' is not a {what} id", id.as_str())))
}

/// Maps a unique-constraint violation to CONFLICT, anything else to INTERNAL.
pub(crate) fn unique_or_internal(e: sea_orm::DbErr, what: &str) -> async_graphql::Error {
    let s = e.to_string().to_ascii_lowercase();
    if s.contains("unique") || s.contains("duplicate") {
        error::coded(error::CONFLICT, format!("{what} already exists"))
    } else {
        error::internal(e)
    }
}

#[derive(SimpleObject)]
pub struct Advertiser {
    pub id: ID,
    pub name: String,
    pub email: Option<String>,
    pub website: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<advertiser::Model> for Advertiser {
    fn from(m: advertiser::Model) -> Self {
        Self { id: m.id.into(), name: m.name, email: m.email, website: m.website, created_at: m.created_at, updated_at: m.updated_at }
    }
}

#[derive(SimpleObject)]
pub struct PublisherTier {
    pub id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct Publisher {
    pub id: ID,
    pub name: String,
    pub email: Option<String>,
    pub tier_id: Option<ID>,
    pub created_at: DateTime<Utc>,
}

#[derive(SimpleObject)]
pub struct ExchangeRate {
    pub base: String,
    pub quote: String,
    /// 1 `base` = `rate` `quote`, exact.
    pub rate: Decimal,
    pub updated_at: DateTime<Utc>,
}

#[derive(InputObject)]
pub struct AdvertiserInput {
    pub name: String,
    pub email: Option<String>,
    pub website: Option<String>,
}

#[derive(InputObject)]
pub struct PublisherInput {
    pub name: String,
    pub email: Option<String>,
    pub tier_id: Option<ID>,
}

fn check_name(name: &str) -> async_graphql::Result<String> {
    let n = name.trim();
    if n.is_empty() || n.len() > 200 {
        return Err(error::field("name", "name must be 1 to 200 characters"));
    }
    Ok(n.to_string())
}

fn check_website(w: &Option<String>) -> async_graphql::Result<()> {
    if let Some(w) = w
        && !validate::http_url(w)
    {
        return Err(error::field("website", format!("'{w}' is not an absolute http(s) URL")));
    }
    Ok(())
}

#[derive(Default)]
pub struct PartiesQuery;

#[Object]
impl PartiesQuery {
    async fn advertisers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Advertiser>> {
        auth::read(ctx)?;
        let rows = advertiser::Entity::find().order_by_asc(advertiser::Column::Name).all(&app(ctx).db).await.or_internal()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn advertiser(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Advertiser>> {
        auth::read(ctx)?;
        let id = parse_id(&id, "advertiser")?;
        Ok(advertiser::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }

    async fn publisher_tiers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PublisherTier>> {
        auth::read(ctx)?;
        let rows = publisher_tier::Entity::find().order_by_asc(publisher_tier::Column::Name).all(&app(ctx).db).await.or_internal()?;
        Ok(rows.into_iter().map(|m| PublisherTier { id: m.id.into(), name: m.name, created_at: m.created_at }).collect())
    }

    async fn publishers(&self, ctx: &Context<'_>, tier_id: Option<ID>) -> async_graphql::Result<Vec<Publisher>> {
        auth::read(ctx)?;
        let mut q = publisher::Entity::find().order_by_asc(publisher::Column::Name);
        if let Some(t) = tier_id {
            q = q.filter(publisher::Column::TierId.eq(parse_id(&t, "tier")?));
        }
        let rows = q.all(&app(ctx).db).await.or_internal()?;
        Ok(rows.into_iter().map(publisher_out).collect())
    }

    /// The exchange-rate table used by payout filters and currency overrides.
    async fn exchange_rates(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ExchangeRate>> {
        auth::read(ctx)?;
        let rows = exchange_rate::Entity::find()
            .order_by_asc(exchange_rate::Column::Base)
            .order_by_asc(exchange_rate::Column::Quote)
            .all(&app(ctx).db)
            .await
            .or_internal()?;
        Ok(rows
            .into_iter()
            .map(|m| ExchangeRate { base: m.base, quote: m.quote, rate: domain::money::from_db(&m.rate).into(), updated_at: m.updated_at })
            .collect())
    }
}

/// The tier id of a publisher input, checked to exist (a field error on `tierId` otherwise).
async fn existing_tier(db: &sea_orm::DatabaseConnection, tier: Option<&ID>) -> async_graphql::Result<Option<i64>> {
    let Some(t) = tier else { return Ok(None) };
    let t = parse_id(t, "tier")?;
    publisher_tier::Entity::find_by_id(t)
        .one(db)
        .await
        .or_internal()?
        .ok_or_else(|| error::field("tierId", format!("publisher tier {t} does not exist")))?;
    Ok(Some(t))
}

fn publisher_out(m: publisher::Model) -> Publisher {
    Publisher { id: m.id.into(), name: m.name, email: m.email, tier_id: m.tier_id.map(Into::into), created_at: m.created_at }
}

#[derive(Default)]
pub struct PartiesMutation;

#[Object]
impl PartiesMutation {
    async fn create_advertiser(&self, ctx: &Context<'_>, input: AdvertiserInput) -> async_graphql::Result<Advertiser> {
        let who = auth::edit(ctx)?;
        let name = check_name(&input.name)?;
        check_website(&input.website)?;
        let db = &app(ctx).db;
        let t = now();
        let m = advertiser::ActiveModel {
            name: Set(name),
            email: Set(input.email),
            website: Set(input.website),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        }
        .insert(db)
        .await
        .map_err(|e| unique_or_internal(e, "an advertiser with this name"))?;
        audit(db, &who, "createAdvertiser", "advertiser", m.id, serde_json::json!({"name": m.name})).await?;
        Ok(m.into())
    }

    async fn update_advertiser(&self, ctx: &Context<'_>, id: ID, input: AdvertiserInput) -> async_graphql::Result<Advertiser> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "advertiser")?;
        let name = check_name(&input.name)?;
        check_website(&input.website)?;
        let db = &app(ctx).db;
        let m = advertiser::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::not_found("advertiser", id))?;
        let mut am: advertiser::ActiveModel = m.into();
        am.name = Set(name);
        am.email = Set(input.email);
        am.website = Set(input.website);
        am.updated_at = Set(now());
        let m = am.update(db).await.map_err(|e| unique_or_internal(e, "an advertiser with this name"))?;
        audit(db, &who, "updateAdvertiser", "advertiser", id, serde_json::json!({"name": m.name})).await?;
        Ok(m.into())
    }

    /// Deletes an advertiser and, with it, its integrations and their campaigns.
    async fn delete_advertiser(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "advertiser")?;
        let db = &app(ctx).db;
        let r = advertiser::Entity::delete_by_id(id).exec(db).await.or_internal()?;
        if r.rows_affected == 0 {
            return Err(error::not_found("advertiser", id));
        }
        audit(db, &who, "deleteAdvertiser", "advertiser", id, serde_json::json!({})).await?;
        Ok(true)
    }

    async fn create_publisher_tier(&self, ctx: &Context<'_>, name: String) -> async_graphql::Result<PublisherTier> {
        let who = auth::edit(ctx)?;
        let name = check_name(&name)?;
        let db = &app(ctx).db;
        let t = now();
        let m = publisher_tier::ActiveModel { name: Set(name), created_at: Set(t), updated_at: Set(t), ..Default::default() }
            .insert(db)
            .await
            .map_err(|e| unique_or_internal(e, "a tier with this name"))?;
        audit(db, &who, "createPublisherTier", "publisher_tier", m.id, serde_json::json!({"name": m.name})).await?;
        Ok(PublisherTier { id: m.id.into(), name: m.name, created_at: m.created_at })
    }

    async fn update_publisher_tier(&self, ctx: &Context<'_>, id: ID, name: String) -> async_graphql::Result<PublisherTier> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "tier")?;
        let name = check_name(&name)?;
        let db = &app(ctx).db;
        let m =
            publisher_tier::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::not_found("publisher tier", id))?;
        let mut am: publisher_tier::ActiveModel = m.into();
        am.name = Set(name);
        am.updated_at = Set(now());
        let m = am.update(db).await.map_err(|e| unique_or_internal(e, "a tier with this name"))?;
        audit(db, &who, "updatePublisherTier", "publisher_tier", id, serde_json::json!({"name": m.name})).await?;
        Ok(PublisherTier { id: m.id.into(), name: m.name, created_at: m.created_at })
    }

    async fn delete_publisher_tier(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "tier")?;
        let db = &app(ctx).db;
        let r = publisher_tier::Entity::delete_by_id(id).exec(db).await.or_internal()?;
        if r.rows_affected == 0 {
            return Err(error::not_found("publisher tier", id));
        }
        audit(db, &who, "deletePublisherTier", "publisher_tier", id, serde_json::json!({})).await?;
        Ok(true)
    }

    async fn create_publisher(&self, ctx: &Context<'_>, input: PublisherInput) -> async_graphql::Result<Publisher> {
        let who = auth::edit(ctx)?;
        let name = check_name(&input.name)?;
        let db = &app(ctx).db;
        let tier_id = existing_tier(db, input.tier_id.as_ref()).await?;
        let ts = now();
        let m = publisher::ActiveModel {
            name: Set(name),
            email: Set(input.email),
            tier_id: Set(tier_id),
            created_at: Set(ts),
            updated_at: Set(ts),
            ..Default::default()
        }
        .insert(db)
        .await
        .or_internal()?;
        audit(db, &who, "createPublisher", "publisher", m.id, serde_json::json!({"name": m.name})).await?;
        Ok(publisher_out(m))
    }

    async fn update_publisher(&self, ctx: &Context<'_>, id: ID, input: PublisherInput) -> async_graphql::Result<Publisher> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "publisher")?;
        let name = check_name(&input.name)?;
        let db = &app(ctx).db;
        let m = publisher::Entity::find_by_id(id).one(db).await.or_internal()?.ok_or_else(|| error::not_found("publisher", id))?;
        let tier_id = existing_tier(db, input.tier_id.as_ref()).await?;
        let mut am: publisher::ActiveModel = m.into();
        am.name = Set(name);
        am.email = Set(input.email);
        am.tier_id = Set(tier_id);
        am.updated_at = Set(now());
        let m = am.update(db).await.or_internal()?;
        audit(db, &who, "updatePublisher", "publisher", id, serde_json::json!({"name": m.name})).await?;
        Ok(publisher_out(m))
    }

    async fn delete_publisher(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let who = auth::edit(ctx)?;
        let id = parse_id(&id, "publisher")?;
        let db = &app(ctx).db;
        let r = publisher::Entity::delete_by_id(id).exec(db).await.or_internal()?;
        if r.rows_affected == 0 {
            return Err(error::not_found("publisher", id));
        }
        audit(db, &who, "deletePublisher", "publisher", id, serde_json::json!({})).await?;
        Ok(true)
    }

    /// Sets 1 `base` = `rate` `quote` (and the inverse is derived when converting).
    async fn set_exchange_rate(
        &self,
        ctx: &Context<'_>,
        base: String,
        quote: String,
        rate: Decimal,
    ) -> async_graphql::Result<ExchangeRate> {
        let who = auth::edit(ctx)?;
        let b = validate::currency(&base).ok_or_else(|| error::field("base", format!("'{base}' is not an ISO 4217 currency code")))?;
        let q = validate::currency(&quote).ok_or_else(|| error::field("quote", format!("'{quote}' is not an ISO 4217 currency code")))?;
        if rate <= Decimal::ZERO {
            return Err(error::field("rate", "rate must be greater than 0"));
        }
        let db = &app(ctx).db;
        let existing = exchange_rate::Entity::find()
            .filter(exchange_rate::Column::Base.eq(&b))
            .filter(exchange_rate::Column::Quote.eq(&q))
            .one(db)
            .await
            .or_internal()?;
        let t = now();
        let m = match existing {
            Some(m) => {
                let mut am: exchange_rate::ActiveModel = m.into();
                am.rate = Set(domain::money::to_db(rate.0));
                am.updated_at = Set(t);
                am.update(db).await.or_internal()?
            }
            None => exchange_rate::ActiveModel {
                base: Set(b),
                quote: Set(q),
                rate: Set(domain::money::to_db(rate.0)),
                updated_at: Set(t),
                ..Default::default()
            }
            .insert(db)
            .await
            .or_internal()?,
        };
        audit(db, &who, "setExchangeRate", "exchange_rate", format!("{}/{}", m.base, m.quote), serde_json::json!({"rate": m.rate})).await?;
        Ok(ExchangeRate { base: m.base, quote: m.quote, rate: domain::money::from_db(&m.rate).into(), updated_at: m.updated_at })
    }
}
