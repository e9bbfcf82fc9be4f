//! Scripted bulk edits of integrations: `bulkUpdateIntegrations(where, set, dryRun)`, applied
//! in one transaction and revertible with `revertChangeset` like campaign bulk edits.

use crate::schema::types::Decimal;
use async_graphql::{Context, ID, InputObject, Object};
use domain::{
    db::{now, write_tx},
    entity::{changeset, integration},
    model::{self as m, section},
    validate::Errors,
};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, QuerySelect, Set, TryIntoModel};

use super::{
    audit,
    campaigns::Changeset,
    integrations::{ActiveStatus, IntegrationFilter, filter_integrations},
    types,
};
use crate::{
    auth,
    error::{self, OrInternal},
    schema::app,
};

/// What a bulk edit of integrations may set; every field is optional, at least one is required.
#[derive(InputObject, Default, Clone)]
pub struct IntegrationBulkSet {
    /// Activate or deactivate (drafts are refused: finalise them first).
    pub status: Option<ActiveStatus>,
    /// Minutes between refreshes (15 to 10080).
    pub refresh_minutes: Option<i32>,
    /// Status given to newly imported campaigns.
    pub imported_status: Option<types::CampaignStatus>,
    /// Visibility given to newly imported campaigns.
    pub imported_visibility: Option<types::Visibility>,
    /// Category used when the advertiser sends none.
    pub default_category: Option<String>,
    /// Publisher payout = revenue x this ratio, for publishers without a tier or fixed payout.
    pub global_ratio: Option<Decimal>,
    /// Requests per second to the advertiser.
    pub rate_limit_per_second: Option<Decimal>,
}

/// Most integrations one bulk edit may touch.
const BULK_LIMIT: u64 = 5_000;

/// The columns a bulk edit may change, as stored for revert.
fn snapshot(r: &integration::Model) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "name": r.name, "lifecycle": r.lifecycle, "settings": r.settings, "payout_rules": r.payout_rules,
        "imported_status": r.imported_status, "imported_visibility": r.imported_visibility,
        "default_category": r.default_category, "next_run_at": r.next_run_at, "disabled_reason": r.disabled_reason,
    })
}

/// Puts a snapshot back (used by `revertChangeset` for target "integrations").
pub(crate) fn restore(am: &mut integration::ActiveModel, r: &integration::Model, s: &serde_json::Value) {
    let str_of = |k: &str| s.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if let Some(v) = str_of("lifecycle") {
        am.lifecycle = Set(v);
    }
    if let Some(v) = str_of("settings") {
        am.settings = Set(v);
    }
    if let Some(v) = str_of("payout_rules") {
        am.payout_rules = Set(v);
    }
    if let Some(v) = str_of("imported_status") {
        am.imported_status = Set(v);
    }
    if let Some(v) = str_of("imported_visibility") {
        am.imported_visibility = Set(v);
    }
    am.default_category = Set(str_of("default_category"));
    am.disabled_reason = Set(str_of("disabled_reason"));
    am.next_run_at = Set(s.get("next_run_at").and_then(|v| serde_json::from_value(v.clone()).ok()));
    am.version = Set(r.version + 1);
    am.updated_at = Set(now());
}

/// Applies `set` to one integration; returns the field errors (with the integration's id in
/// the field path) instead of writing anything when the result would be invalid.
fn apply(r: &integration::Model, set: &IntegrationBulkSet, errors: &mut Errors) -> integration::ActiveModel {
    let mut am: integration::ActiveModel = r.clone().into();
    if let Some(s) = set.status {
        if r.lifecycle == m::Lifecycle::Draft.as_str() {
            errors.push(format!("where[{}]", r.id), format!("integration {} ('{}') is a draft: finalise it first", r.id, r.name));
        }
        let active = s == ActiveStatus::Active;
        am.lifecycle = Set(if active { m::Lifecycle::Active } else { m::Lifecycle::Inactive }.as_str().into());
        if active && r.lifecycle != m::Lifecycle::Active.as_str() {
            am.next_run_at = Set(Some(now()));
            am.disabled_reason = Set(None);
        }
    }
    if set.refresh_minutes.is_some() || set.rate_limit_per_second.is_some() {
        let mut settings: m::Settings = section(&r.settings);
        if let Some(n) = set.refresh_minutes {
            settings.refresh_minutes = n.max(0) as u32;
        }
        if let Some(x) = set.rate_limit_per_second {
            settings.rate_limit_per_second = Some(x.0);
        }
        settings.validate(errors);
        am.settings = Set(m::to_json(&settings));
    }
    if let Some(x) = set.global_ratio {
        let mut rules: m::PayoutRules = section(&r.payout_rules);
        rules.global_ratio = x.0;
        rules.validate(errors);
        am.payout_rules = Set(m::to_json(&rules));
    }
    if let Some(s) = set.imported_status {
        am.imported_status = Set(m::CampaignStatus::from(s).as_str().into());
    }
    if let Some(v) = set.imported_visibility {
        am.imported_visibility = Set(m::Visibility::from(v).as_str().into());
    }
    if let Some(c) = &set.default_category {
        let c = c.trim();
        am.default_category = Set((!c.is_empty()).then(|| c.to_string()));
    }
    am.version = Set(r.version + 1);
    am.updated_at = Set(now());
    am
}

fn is_empty(s: &IntegrationBulkSet) -> bool {
    s.status.is_none()
        && s.refresh_minutes.is_none()
        && s.imported_status.is_none()
        && s.imported_visibility.is_none()
        && s.default_category.is_none()
        && s.global_ratio.is_none()
        && s.rate_limit_per_second.is_none()
}

fn set_json(s: &IntegrationBulkSet) -> serde_json::Value {
    serde_json::json!({
        "status": s.status.map(|x| if x == ActiveStatus::Active { "ACTIVE" } else { "INACTIVE" }),
        "refreshMinutes": s.refresh_minutes,
        "importedStatus": s.imported_status.map(|x| m::CampaignStatus::from(x).as_str()),
        "importedVisibility": s.imported_visibility.map(|x| m::Visibility::from(x).as_str()),
        "defaultCategory": s.default_category,
        "globalRatio": s.global_ratio.map(|d| d.to_string()),
        "rateLimitPerSecond": s.rate_limit_per_second.map(|d| d.to_string()),
    })
}

#[derive(Default)]
pub struct BulkMutation;

#[Object]
impl BulkMutation {
    /// Edits every integration matching `where` in one transaction (each one's version goes
    /// up, so editors holding an old version get CONFLICT). `dryRun` shows the before/after
    /// without writing; revert with `revertChangeset`.
    async fn bulk_update_integrations(
        &self,
        ctx: &Context<'_>,
        r#where: IntegrationFilter,
        set: IntegrationBulkSet,
        #[graphql(default = false)] dry_run: bool,
    ) -> async_graphql::Result<Changeset> {
        let who = auth::edit(ctx)?;
        if is_empty(&set) {
            return Err(error::field("set", "give at least one field to change"));
        }
        let db = &app(ctx).db;
        let tx = write_tx(db).await.or_internal()?;
        let rows = filter_integrations(integration::Entity::find(), &r#where)?
            .order_by_asc(integration::Column::Id)
            .limit(BULK_LIMIT + 1)
            .all(&tx)
            .await
            .or_internal()?;
        if rows.len() as u64 > BULK_LIMIT {
            return Err(error::field("where", format!("matches more than {BULK_LIMIT} integrations: narrow the filter")));
        }
        let mut errors = Errors::default();
        let planned: Vec<(integration::Model, integration::ActiveModel)> =
            rows.into_iter().map(|r| (r.clone(), apply(&r, &set, &mut errors))).collect();
        errors.finish().map_err(error::validation)?;
        let mut sample = vec![];
        let mut befores = vec![];
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
            return Ok(Changeset { id: None, dry_run: true, row_count: n, sample: types::JsonValue(sample.into()), reverted_at: None });
        }
        let cs = changeset::ActiveModel {
            target: Set("integrations".into()),
            actor: Set(who.actor()),
            where_clause: Set(serde_json::json!({
                "advertiserId": r#where.advertiser_id.as_ref().map(|i| i.to_string()), "connector": r#where.connector,
                "lifecycle": r#where.lifecycle.map(|l| m::Lifecycle::from(l).as_str()), "search": r#where.search,
            })
            .to_string()),
            set_values: Set(set_json(&set).to_string()),
            row_count: Set(n),
            rows: Set(serde_json::Value::Array(befores).to_string()),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(&tx)
        .await
        .or_internal()?;
        audit(&tx, &who, "bulkUpdateIntegrations", "changeset", cs.id, serde_json::json!({"rows": n, "set": set_json(&set)})).await?;
        tx.commit().await.or_internal()?;
        Ok(Changeset {
            id: Some(ID::from(cs.id)),
            dry_run: false,
            row_count: n,
            sample: types::JsonValue(sample.into()),
            reverted_at: None,
        })
    }
}
