//! Campaign writes: what a page of drafts turns into, in a few multi-row statements.
//!
//! A page is planned first ([`plan_update`] per existing campaign, [`new_campaign`] per new
//! one, all pure) and then written by [`write_page`] inside the run's fenced transaction:
//! one multi-row INSERT ... RETURNING for new campaigns, one multi-row upsert on the primary
//! key for changed ones, and one delete plus one multi-row insert per child table. The number
//! of statements per page does not grow with the page size.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use domain::{
    entity::{campaign, campaign_cap, campaign_country, campaign_payout, campaign_publisher_payout},
    model as m, money,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable, QueryFilter, Set, sea_query::OnConflict};
use serde_json::json;

use crate::pipeline::{self, CampaignDraft, Rules};

/// Rows per multi-row statement: campaigns have ~40 columns, which keeps a statement far
/// below SQLite's 32766 bound parameters and PostgreSQL's 65535.
const CHUNK: usize = 200;

/// Columns a sync run may write (provenance records which of them it wrote).
pub const SYNC_COLUMNS: &[&str] = &[
    "title",
    "description",
    "preview_url",
    "tracking_url",
    "impression_url",
    "thumbnail_url",
    "status",
    "visibility",
    "category",
    "currency",
    "revenue",
    "payout",
    "model",
    "objective",
    "redirect_type",
    "countries",
    "os",
    "devices",
    "expires_at",
    "caps",
    "time_targeting",
];

/// The columns an admin locked by editing them by hand (the `locked_columns` JSON list).
pub fn locked(locked_columns: &str) -> Vec<String> {
    serde_json::from_str(locked_columns).unwrap_or_default()
}

pub fn js<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn provenance_for(cols: &[&str], run_id: i64, at: chrono::DateTime<Utc>, prev: Option<&str>) -> String {
    let mut p: BTreeMap<String, serde_json::Value> = prev.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    for c in cols {
        p.insert((*c).to_string(), json!({"source": "sync", "runId": run_id, "at": at}));
    }
    js(&p)
}

/// A new campaign row for `d`.
pub fn new_campaign(integration_id: i64, run_id: i64, d: &CampaignDraft, t: chrono::DateTime<Utc>) -> campaign::ActiveModel {
    campaign::ActiveModel {
        integration_id: Set(integration_id),
        external_id: Set(d.external_id.clone()),
        title: Set(d.title.clone()),
        description: Set(d.description.clone()),
        description_text: Set(d.description_text.clone()),
        preview_url: Set(d.preview_url.clone()),
        tracking_url: Set(d.tracking_url.clone()),
        impression_url: Set(d.impression_url.clone()),
        thumbnail_url: Set(d.thumbnail_url.clone()),
        status: Set(d.status.as_str().into()),
        visibility: Set(d.visibility.as_str().into()),
        category: Set(d.category.clone()),
        currency: Set(d.currency.clone()),
        revenue: Set(money::to_db(d.revenue)),
        payout: Set(money::to_db(d.payout)),
        payout_type: Set(d.payout_type.as_str().into()),
        model: Set(d.model.map(|x| x.as_str().into())),
        objective: Set(d.objective.map(|x| x.as_str().into())),
        redirect_type: Set(Some(d.redirect_type.as_str().into())),
        countries: Set(js(&d.countries)),
        blocked_countries: Set(js(&d.blocked_countries)),
        os: Set(js(&d.os)),
        devices: Set(js(&d.devices)),
        expires_at: Set(d.expires_at),
        time_targeting: Set(js(&d.time_targeting)),
        exchange_rate: Set(d.exchange_rate.map(money::to_db)),
        fingerprint: Set(d.fingerprint.clone()),
        provenance: Set(provenance_for(SYNC_COLUMNS, run_id, t, None)),
        locked_columns: Set("[]".into()),
        paused_by: Set((!d.upstream_status.is_live()).then(|| "upstream".to_string())),
        upstream_status: Set(Some(d.upstream_status.as_str().into())),
        last_run_id: Set(Some(run_id)),
        first_seen_at: Set(t),
        last_seen_at: Set(t),
        consecutive_misses: Set(0),
        vanished_at: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    }
}

/// What a refresh does to one existing campaign.
pub struct Planned {
    /// The whole row as it should be after the write.
    pub row: campaign::ActiveModel,
    /// Columns whose value changes.
    pub changed: Vec<&'static str>,
    /// Columns whose upstream value changed but an admin locked them.
    pub kept: Vec<String>,
    /// Child rows (countries, payouts, caps, publisher payouts) must be rewritten.
    pub children: bool,
}

/// Plans the refresh of `c` from draft `d`: only updatable, unlocked columns change; a
/// campaign paused by sync (its offer had vanished) is re-activated unless status is locked.
#[allow(clippy::too_many_arguments)]
pub fn plan_update(
    c: &campaign::Model,
    run_id: i64,
    d: &CampaignDraft,
    updatable: &HashSet<&'static str>,
    reactivate: bool,
    t: chrono::DateTime<Utc>,
) -> Planned {
    let lock = locked(&c.locked_columns);
    let mut am: campaign::ActiveModel = c.clone().into();
    let mut changed: Vec<&'static str> = vec![];
    let mut kept: Vec<String> = vec![];
    macro_rules! col {
        ($name:literal, $field:ident, $new:expr) => {{
            let new = $new;
            if c.$field != new {
                if lock.iter().any(|l| l == $name) {
                    kept.push($name.to_string());
                } else if updatable.contains($name) {
                    am.$field = Set(new);
                    changed.push($name);
                }
            }
        }};
    }
    col!("title", title, d.title.clone());
    col!("description", description, d.description.clone());
    col!("preview_url", preview_url, d.preview_url.clone());
    col!("tracking_url", tracking_url, d.tracking_url.clone());
    col!("impression_url", impression_url, d.impression_url.clone());
    col!("thumbnail_url", thumbnail_url, d.thumbnail_url.clone());
    col!("category", category, d.category.clone());
    col!("currency", currency, d.currency.clone());
    col!("revenue", revenue, money::to_db(d.revenue));
    col!("payout", payout, money::to_db(d.payout));
    col!("model", model, d.model.map(|x| x.as_str().to_string()));
    col!("countries", countries, js(&d.countries));
    col!("os", os, js(&d.os));
    col!("devices", devices, js(&d.devices));
    col!("expires_at", expires_at, d.expires_at);
    let status_locked = lock.iter().any(|l| l == "status");
    let want = d.status.as_str();
    let upstream_live = d.upstream_status.is_live();
    let stopped_upstream = c.paused_by.as_deref() == Some("upstream");
    // The advertiser's status wins over "updatable columns": an offer paused (pending,
    // expired, deleted) upstream stops an active campaign, and one live again restarts a
    // campaign only upstream (or a vanished feed) had stopped. Only a hand edit (a lock) keeps
    // status.
    let follow = reactivate
        || stopped_upstream
        || (!upstream_live && c.status == m::CampaignStatus::Active.as_str())
        || updatable.contains("status");
    if c.status != want || reactivate || (stopped_upstream && upstream_live) {
        if status_locked {
            if c.status != want {
                kept.push("status".into());
            }
        } else if follow {
            am.status = Set(want.into());
            am.paused_by = Set((!upstream_live).then(|| "upstream".to_string()));
            am.vanished_at = Set(None);
            if c.status != want || reactivate {
                changed.push("status");
            }
        }
    }
    let upstream = Some(d.upstream_status.as_str().to_string());
    if c.upstream_status != upstream {
        am.upstream_status = Set(upstream);
    }
    am.fingerprint = Set(d.fingerprint.clone());
    am.consecutive_misses = Set(0);
    am.last_seen_at = Set(t);
    am.last_run_id = Set(Some(run_id));
    am.provenance = Set(provenance_for(&changed, run_id, t, Some(&c.provenance)));
    if !changed.is_empty() {
        am.updated_at = Set(t);
    }
    // Goal/country payouts and upstream caps live in child rows: a draft that changed while
    // revenue or payout is updatable rewrites them even when the default amount is the same.
    let amounts_updatable = ["revenue", "payout"].iter().any(|k| updatable.contains(k) && !lock.iter().any(|l| l == k));
    let children =
        changed.iter().any(|c| matches!(*c, "countries" | "revenue" | "payout")) || (amounts_updatable && c.fingerprint != d.fingerprint);
    Planned { row: am, changed, kept, children }
}

/// Writes one page: new campaigns, refreshed campaigns, and their child rows.
pub async fn write_page(
    db: &impl ConnectionTrait,
    inserts: Vec<(campaign::ActiveModel, &CampaignDraft)>,
    updates: Vec<(Planned, &CampaignDraft)>,
    rules: &Rules,
    tiers: &BTreeMap<i64, Option<i64>>,
) -> Result<(), DbErr> {
    let mut children: Vec<(i64, &CampaignDraft)> = vec![];
    let mut inserts = inserts.into_iter().peekable();
    while inserts.peek().is_some() {
        let chunk: Vec<_> = inserts.by_ref().take(CHUNK).collect();
        let by_external: HashMap<&str, &CampaignDraft> = chunk.iter().map(|(_, d)| (d.external_id.as_str(), *d)).collect();
        let rows = campaign::Entity::insert_many(chunk.iter().map(|(am, _)| am.clone())).exec_with_returning(db).await?;
        for r in rows {
            if let Some(d) = by_external.get(r.external_id.as_str()) {
                children.push((r.id, d));
            }
        }
    }
    let mut replace: Vec<i64> = vec![];
    let mut updates = updates.into_iter().peekable();
    while updates.peek().is_some() {
        let chunk: Vec<_> = updates.by_ref().take(CHUNK).collect();
        let rows = chunk.iter().map(|(p, _)| p.row.clone().reset_all());
        // One multi-row upsert on the primary key: every row exists, so each one becomes an
        // UPDATE of the listed columns with the planned values.
        let cols = campaign::Column::iter().filter(|c| !matches!(c, campaign::Column::Id | campaign::Column::CreatedAt));
        campaign::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(campaign::Column::Id).update_columns(cols).to_owned())
            .exec_without_returning(db)
            .await?;
        for (p, d) in &chunk {
            if p.children {
                let id = *p.row.id.as_ref();
                replace.push(id);
                children.push((id, d));
            }
        }
    }
    for ids in replace.chunks(CHUNK * 4) {
        campaign_country::Entity::delete_many().filter(campaign_country::Column::CampaignId.is_in(ids.to_vec())).exec(db).await?;
        campaign_payout::Entity::delete_many().filter(campaign_payout::Column::CampaignId.is_in(ids.to_vec())).exec(db).await?;
        campaign_cap::Entity::delete_many().filter(campaign_cap::Column::CampaignId.is_in(ids.to_vec())).exec(db).await?;
        campaign_publisher_payout::Entity::delete_many()
            .filter(campaign_publisher_payout::Column::CampaignId.is_in(ids.to_vec()))
            .exec(db)
            .await?;
    }
    write_children(db, &children, rules, tiers).await
}

/// Inserts the child rows of `campaigns`, one multi-row statement per table and chunk.
async fn write_children(
    db: &impl ConnectionTrait,
    campaigns: &[(i64, &CampaignDraft)],
    rules: &Rules,
    tiers: &BTreeMap<i64, Option<i64>>,
) -> Result<(), DbErr> {
    let countries: Vec<campaign_country::ActiveModel> = campaigns
        .iter()
        .flat_map(|(id, d)| d.countries.iter().map(|c| campaign_country::ActiveModel { campaign_id: Set(*id), country: Set(c.clone()) }))
        .collect();
    let payouts: Vec<campaign_payout::ActiveModel> = campaigns
        .iter()
        .flat_map(|(id, d)| {
            d.payouts.iter().map(|p| campaign_payout::ActiveModel {
                campaign_id: Set(*id),
                country: Set(p.country.clone()),
                goal: Set(p.goal.clone()),
                goal_name: Set(p.goal_name.clone()),
                revenue: Set(money::to_db(p.revenue)),
                payout: Set(money::to_db(p.payout)),
                payout_type: Set(p.payout_type.as_str().into()),
                currency: Set(p.currency.clone()),
                excluded_countries: Set(js(&p.excluded_countries)),
                ..Default::default()
            })
        })
        .collect();
    let caps: Vec<campaign_cap::ActiveModel> = campaigns
        .iter()
        .flat_map(|(id, d)| {
            d.caps.iter().map(|c| campaign_cap::ActiveModel {
                campaign_id: Set(*id),
                source: Set(c.source.into()),
                event: Set(c.event.clone()),
                period: Set(c.period.clone()),
                value: Set(money::to_db(c.value)),
                visibility: Set(c.visibility.clone()),
                counting: Set(c.counting.clone()),
                timezone: Set(c.timezone.clone()),
                over_delivery: Set(c.over_delivery.clone()),
                goal: Set(c.goal.clone()),
                ..Default::default()
            })
        })
        .collect();
    let publisher_payouts: Vec<campaign_publisher_payout::ActiveModel> = campaigns
        .iter()
        .flat_map(|(id, d)| {
            pipeline::publisher_payouts(d, &rules.payout_rules, tiers).into_iter().map(|(p, amount, source)| {
                campaign_publisher_payout::ActiveModel {
                    campaign_id: Set(*id),
                    publisher_id: Set(p),
                    payout: Set(money::to_db(amount)),
                    source: Set(source.into()),
                }
            })
        })
        .collect();
    for chunk in countries.chunks(CHUNK * 4) {
        campaign_country::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in payouts.chunks(CHUNK) {
        campaign_payout::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in caps.chunks(CHUNK) {
        campaign_cap::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in publisher_payouts.chunks(CHUNK) {
        campaign_publisher_payout::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    Ok(())
}
