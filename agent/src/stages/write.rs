//! Campaign writes: what a page of drafts turns into, in a few multi-row statements.
//!
//! A page is planned first ([`plan_update`] per existing campaign, [`new_campaign`] per new
//! one, all pure) and then written by [`write_page`] inside the run's fenced transaction:
//! one multi-row INSERT ... RETURNING for new campaigns, one multi-row upsert on the primary
//! key for changed ones. Child rows (countries, payouts, caps, publisher payouts) of new
//! campaigns are inserted; those of refreshed campaigns are loaded and compared, and only the
//! rows that differ are deleted or inserted: a payout change rewrites that payout row, nothing
//! else. The number of statements per page does not grow with the page size.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use domain::{
    entity::{campaign, campaign_cap, campaign_country, campaign_payout, campaign_publisher_payout, log_entry},
    model::{self as m, LogLevel},
    money,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IdenStatic, Iterable, QueryFilter, QuerySelect, Set, sea_query::ExprTrait,
};
use serde_json::json;

use super::{
    batch::{Rows, Tail},
    log_row,
};
use crate::{pipeline::CampaignDraft, runtime::Counters};

/// Rows per multi-row statement: campaigns have ~40 columns, which keeps a statement far
/// below SQLite's 32766 bound parameters and PostgreSQL's 65535.
const CHUNK: usize = 200;

/// The columns an admin locked by editing them by hand (the `locked_columns` JSON list).
pub fn locked(locked_columns: &str) -> Vec<String> {
    serde_json::from_str(locked_columns).unwrap_or_default()
}

pub fn js<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The provenance after a sync wrote `cols`: the previous entries, with `cols` now "from this
/// run". A new campaign stores one `*` entry for every sync column ([`m::PROVENANCE_ALL`]).
fn provenance_for(cols: &[&str], run_id: i64, at: chrono::DateTime<Utc>, prev: &str) -> String {
    if cols.is_empty() {
        return prev.to_string();
    }
    let mut p: BTreeMap<String, serde_json::Value> = serde_json::from_str(prev).unwrap_or_default();
    for c in cols {
        p.insert((*c).to_string(), json!({"source": "sync", "runId": run_id, "at": at}));
    }
    js(&p)
}

/// The plain text of a draft's description, with the account's secrets redacted: the offer was
/// redacted as parsed, but decoding the HTML's entities could reveal a secret written as them.
fn description_text(d: &CampaignDraft, secrets: &[String]) -> Option<String> {
    crate::offer::plain_text(d.description_text.as_deref(), d.description.as_deref())
        .map(|t| if secrets.is_empty() { t } else { crate::connectors::scaffold::redact(&t, secrets) })
}

/// A new campaign row for `d`.
pub fn new_campaign(
    integration_id: i64,
    run_id: i64,
    d: &CampaignDraft,
    t: chrono::DateTime<Utc>,
    secrets: &[String],
) -> campaign::ActiveModel {
    campaign::ActiveModel {
        integration_id: Set(integration_id),
        external_id: Set(d.external_id.clone()),
        title: Set(d.title.clone()),
        description: Set(d.description.clone()),
        description_text: Set(description_text(d, secrets)),
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
        source_hash: Set(d.source_hash.clone()),
        source_expires_at: Set(d.expires_at),
        provenance: Set(js(&json!({(m::PROVENANCE_ALL): {"source": "sync", "runId": run_id, "at": t}}))),
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
    secrets: &[String],
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
    // The plain text follows the description it is derived from (and catches up where an
    // older version left it behind); derived only for campaigns that change.
    if am.description.is_set() || (updatable.contains("description") && !lock.iter().any(|l| l == "description")) {
        let text = description_text(d, secrets);
        if am.description.is_set() || c.description.as_deref() == d.description.as_deref() && c.description_text != text {
            am.description_text = Set(text);
        }
    }
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
    am.source_hash = Set(d.source_hash.clone());
    am.source_expires_at = Set(d.expires_at);
    am.consecutive_misses = Set(0);
    am.last_seen_at = Set(t);
    am.last_run_id = Set(Some(run_id));
    am.provenance = Set(provenance_for(&changed, run_id, t, &c.provenance));
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

/// What [`plan_page`] decided for one page.
pub struct PagePlan<'a> {
    pub inserts: Vec<(campaign::ActiveModel, &'a CampaignDraft)>,
    pub updates: Vec<(Planned, &'a CampaignDraft)>,
    /// Unchanged campaigns whose record hash is new (a campaign written before source hashes,
    /// or a record that changed only in fields nothing reads): `(id, source hash, expiry)`.
    pub rehash: Vec<(i64, String, Option<chrono::DateTime<Utc>>)>,
}

/// Plans one page: looks its campaigns up (a narrow projection: id, fingerprint and the
/// refresh state), counts the unchanged ones, loads whole rows only for campaigns that change,
/// and plans their refresh.
#[allow(clippy::too_many_arguments)]
pub async fn plan_page<'a>(
    db: &impl ConnectionTrait,
    integration_id: i64,
    run_id: i64,
    drafts: &'a [CampaignDraft],
    updatable: &HashSet<&'static str>,
    t: chrono::DateTime<Utc>,
    secrets: &[String],
    counters: &mut Counters,
    changed_fields: &mut BTreeMap<String, i64>,
    logs: &mut Vec<log_entry::ActiveModel>,
) -> Result<PagePlan<'a>, DbErr> {
    type Known = (i64, String, Option<String>, i32, Option<String>);
    let mut known: HashMap<String, Known> = HashMap::new();
    for chunk in drafts.chunks(CHUNK * 5) {
        let rows = campaign::Entity::find()
            .select_only()
            .columns([
                campaign::Column::Id,
                campaign::Column::ExternalId,
                campaign::Column::Fingerprint,
                campaign::Column::PausedBy,
                campaign::Column::ConsecutiveMisses,
                campaign::Column::SourceHash,
            ])
            .filter(campaign::Column::IntegrationId.eq(integration_id))
            .filter(campaign::Column::ExternalId.is_in(chunk.iter().map(|d| d.external_id.clone())))
            .into_tuple::<(i64, String, String, Option<String>, i32, Option<String>)>()
            .all(db)
            .await?;
        known.extend(rows.into_iter().map(|(id, ext, fp, paused_by, misses, hash)| (ext, (id, fp, paused_by, misses, hash))));
    }
    let mut inserts = vec![];
    let mut changing = vec![];
    let mut rehash = vec![];
    for d in drafts {
        match known.get(&d.external_id) {
            None => {
                counters.created += 1;
                inserts.push((new_campaign(integration_id, run_id, d, t, secrets), d));
            }
            Some((id, fp, paused_by, misses, hash)) if *fp == d.fingerprint && paused_by.as_deref() != Some("sync") && *misses == 0 => {
                counters.unchanged += 1;
                if let Some(h) = &d.source_hash
                    && hash.as_ref() != Some(h)
                {
                    rehash.push((*id, h.clone(), d.expires_at));
                }
            }
            Some((id, ..)) => changing.push((*id, d)),
        }
    }
    let mut full: HashMap<i64, campaign::Model> = HashMap::new();
    for chunk in changing.chunks(CHUNK * 5) {
        let rows = campaign::Entity::find().filter(campaign::Column::Id.is_in(chunk.iter().map(|(id, _)| *id))).all(db).await?;
        full.extend(rows.into_iter().map(|c| (c.id, c)));
    }
    let mut updates = vec![];
    for (id, d) in changing {
        let Some(c) = full.get(&id) else { continue };
        let reactivate = c.paused_by.as_deref() == Some("sync");
        let plan = plan_update(c, run_id, d, updatable, reactivate, t, secrets);
        for k in &plan.kept {
            counters.locked_kept += 1;
            logs.push(log_row(
                integration_id,
                run_id,
                LogLevel::Info,
                "COLUMN_LOCKED",
                Some(&d.external_id),
                &format!("kept the hand-edited {k}: it is locked"),
            ));
        }
        for col in &plan.changed {
            *changed_fields.entry((*col).to_string()).or_default() += 1;
        }
        if reactivate {
            counters.reactivated += 1;
            logs.push(log_row(
                integration_id,
                run_id,
                LogLevel::Info,
                "CAMPAIGN_REACTIVATED",
                Some(&d.external_id),
                "the offer is back in the feed: campaign re-activated",
            ));
        }
        if plan.changed.is_empty() && !reactivate {
            counters.unchanged += 1;
        } else {
            counters.updated += 1;
        }
        updates.push((plan, d));
    }
    Ok(PagePlan { inserts, updates, rehash })
}

/// Writes one page: new campaigns, refreshed campaigns, and their child rows.
pub async fn write_page(db: &impl ConnectionTrait, plan: PagePlan<'_>) -> Result<(), DbErr> {
    let PagePlan { inserts, updates, rehash } = plan;
    // Only the hash of an unchanged campaign: one statement per chunk, nothing else touched.
    for chunk in rehash.chunks(CHUNK) {
        let (mut hash, mut expiry) = (sea_orm::sea_query::CaseStatement::new(), sea_orm::sea_query::CaseStatement::new());
        for (id, h, e) in chunk {
            hash = hash.case(campaign::Column::Id.eq(*id), h.clone());
            expiry = expiry.case(campaign::Column::Id.eq(*id), *e);
        }
        campaign::Entity::update_many()
            .col_expr(campaign::Column::SourceHash, hash.into())
            .col_expr(campaign::Column::SourceExpiresAt, expiry.into())
            .filter(campaign::Column::Id.is_in(chunk.iter().map(|(id, ..)| *id)))
            .exec(db)
            .await?;
    }
    let mut children: Vec<(i64, &CampaignDraft)> = vec![];
    let mut inserts = inserts.into_iter().peekable();
    while inserts.peek().is_some() {
        let chunk: Vec<_> = inserts.by_ref().take(CHUNK).collect();
        let mut by_external: HashMap<&str, &CampaignDraft> = HashMap::with_capacity(chunk.len());
        let mut rows =
            Rows::<campaign::Entity>::new(campaign::Column::iter().filter(|c| !matches!(c, campaign::Column::Id)).collect(), chunk.len());
        for (am, d) in chunk {
            by_external.insert(d.external_id.as_str(), d);
            rows.push(am)?;
        }
        // RETURNING only what the child rows need, not the whole row.
        for r in rows.returning(db, &["id", "external_id"]).await? {
            let id: i64 = r.try_get("", "id")?;
            let external_id: String = r.try_get("", "external_id")?;
            if let Some(d) = by_external.get(external_id.as_str()) {
                children.push((id, d));
            }
        }
    }
    let mut refreshed: Vec<(i64, &CampaignDraft)> = vec![];
    let mut updates = updates.into_iter().peekable();
    while updates.peek().is_some() {
        let chunk: Vec<_> = updates.by_ref().take(CHUNK).collect();
        let mut rows = Rows::<campaign::Entity>::new(campaign::Column::iter().collect(), chunk.len());
        for (p, d) in chunk {
            if p.children {
                refreshed.push((*p.row.id.as_ref(), d));
            }
            rows.push(p.row)?;
        }
        // One multi-row upsert on the primary key: every row exists, so each one becomes an
        // UPDATE of its columns with the planned values.
        rows.execute(db, Tail::Upsert { key: "id", keep: &["created_at"] }).await?;
    }
    // New campaigns get all their child rows; refreshed ones only the rows that changed.
    let mut want = Children::of(&children);
    if !refreshed.is_empty() {
        let have = Children::load(db, &refreshed.iter().map(|(id, _)| *id).collect::<Vec<_>>()).await?;
        let wanted = Children::of(&refreshed);
        let stale = have.minus(&wanted);
        stale.delete(db).await?;
        want.append(wanted.minus(&have));
    }
    want.insert(db).await
}

/// Child rows of some campaigns, as they are in the database or as drafts want them.
#[derive(Default)]
struct Children {
    countries: Vec<campaign_country::Model>,
    payouts: Vec<campaign_payout::Model>,
    caps: Vec<campaign_cap::Model>,
    publisher_payouts: Vec<campaign_publisher_payout::Model>,
}

/// The rows of `a` without a row of `b` equal to it (ids aside), as multisets: what to delete
/// (`a` = the database, `b` = the drafts) or what to insert (the other way round). Rows are
/// compared only within their campaign (`campaign`), so the cost is per campaign, not per page.
fn minus<T: Clone>(a: &[T], b: &[T], campaign: impl Fn(&T) -> i64, same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    let mut left: HashMap<i64, Vec<Option<&T>>> = HashMap::new();
    for y in b {
        left.entry(campaign(y)).or_default().push(Some(y));
    }
    a.iter()
        .filter(|x| {
            let Some(group) = left.get_mut(&campaign(x)) else { return true };
            match group.iter_mut().find(|y| y.is_some_and(|y| same(x, y))) {
                Some(slot) => {
                    *slot = None;
                    false
                }
                None => true,
            }
        })
        .cloned()
        .collect()
}

impl Children {
    /// The child rows `campaigns` should have (ids of payouts and caps left 0).
    fn of(campaigns: &[(i64, &CampaignDraft)]) -> Self {
        let mut out = Self::default();
        for (id, d) in campaigns {
            let id = *id;
            out.countries.extend(d.countries.iter().map(|c| campaign_country::Model { campaign_id: id, country: c.clone() }));
            out.payouts.extend(d.payouts.iter().map(|p| campaign_payout::Model {
                id: 0,
                campaign_id: id,
                country: p.country.clone(),
                goal: p.goal.clone(),
                goal_name: p.goal_name.clone(),
                revenue: money::to_db(p.revenue),
                payout: money::to_db(p.payout),
                payout_type: p.payout_type.as_str().into(),
                currency: p.currency.clone(),
                excluded_countries: js(&p.excluded_countries),
            }));
            out.caps.extend(d.caps.iter().map(|c| campaign_cap::Model {
                id: 0,
                campaign_id: id,
                source: c.source.into(),
                event: c.event.clone(),
                period: c.period.clone(),
                value: money::to_db(c.value),
                visibility: c.visibility.clone(),
                counting: c.counting.clone(),
                timezone: c.timezone.clone(),
                over_delivery: c.over_delivery.clone(),
                goal: c.goal.clone(),
            }));
            out.publisher_payouts.extend(d.publisher_payouts.iter().map(|p| campaign_publisher_payout::Model {
                campaign_id: id,
                publisher_id: p.publisher_id,
                payout: money::to_db(p.payout),
                source: p.source.into(),
            }));
        }
        out
    }

    /// The child rows `ids` have now: one query per table and chunk.
    async fn load(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Self, DbErr> {
        let mut out = Self::default();
        for ids in ids.chunks(CHUNK * 4) {
            let ids = ids.to_vec();
            out.countries
                .extend(campaign_country::Entity::find().filter(campaign_country::Column::CampaignId.is_in(ids.clone())).all(db).await?);
            out.payouts
                .extend(campaign_payout::Entity::find().filter(campaign_payout::Column::CampaignId.is_in(ids.clone())).all(db).await?);
            out.caps.extend(campaign_cap::Entity::find().filter(campaign_cap::Column::CampaignId.is_in(ids.clone())).all(db).await?);
            out.publisher_payouts.extend(
                campaign_publisher_payout::Entity::find().filter(campaign_publisher_payout::Column::CampaignId.is_in(ids)).all(db).await?,
            );
        }
        Ok(out)
    }

    /// The rows of `self` that `other` lacks, comparing payouts and caps without their ids
    /// (rows from drafts have none).
    fn minus(&self, other: &Self) -> Self {
        Self {
            countries: minus(&self.countries, &other.countries, |r| r.campaign_id, |a, b| a == b),
            payouts: minus(&self.payouts, &other.payouts, |r| r.campaign_id, |a, b| campaign_payout::Model { id: a.id, ..b.clone() } == *a),
            caps: minus(&self.caps, &other.caps, |r| r.campaign_id, |a, b| campaign_cap::Model { id: a.id, ..b.clone() } == *a),
            publisher_payouts: minus(&self.publisher_payouts, &other.publisher_payouts, |r| r.campaign_id, |a, b| a == b),
        }
    }

    fn append(&mut self, more: Self) {
        self.countries.extend(more.countries);
        self.payouts.extend(more.payouts);
        self.caps.extend(more.caps);
        self.publisher_payouts.extend(more.publisher_payouts);
    }

    /// Deletes these rows (loaded from the database): by id, or by their composite key.
    async fn delete(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        for chunk in self.countries.chunks(CHUNK) {
            let mut any = Condition::any();
            for c in chunk {
                any = any.add(
                    campaign_country::Column::CampaignId.eq(c.campaign_id).and(campaign_country::Column::Country.eq(c.country.clone())),
                );
            }
            campaign_country::Entity::delete_many().filter(any).exec(db).await?;
        }
        for chunk in self.payouts.chunks(CHUNK * 4) {
            campaign_payout::Entity::delete_many().filter(campaign_payout::Column::Id.is_in(chunk.iter().map(|p| p.id))).exec(db).await?;
        }
        for chunk in self.caps.chunks(CHUNK * 4) {
            campaign_cap::Entity::delete_many().filter(campaign_cap::Column::Id.is_in(chunk.iter().map(|c| c.id))).exec(db).await?;
        }
        for chunk in self.publisher_payouts.chunks(CHUNK) {
            let mut any = Condition::any();
            for p in chunk {
                any = any.add(
                    campaign_publisher_payout::Column::CampaignId
                        .eq(p.campaign_id)
                        .and(campaign_publisher_payout::Column::PublisherId.eq(p.publisher_id)),
                );
            }
            campaign_publisher_payout::Entity::delete_many().filter(any).exec(db).await?;
        }
        Ok(())
    }

    /// Inserts these rows, one multi-row statement per table and chunk.
    async fn insert(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        insert_models::<campaign_country::Entity>(db, &self.countries, CHUNK * 4, false).await?;
        insert_models::<campaign_payout::Entity>(db, &self.payouts, CHUNK, true).await?;
        insert_models::<campaign_cap::Entity>(db, &self.caps, CHUNK, true).await?;
        insert_models::<campaign_publisher_payout::Entity>(db, &self.publisher_payouts, CHUNK, false).await
    }
}

/// Inserts `models`, `chunk` rows per statement; `auto_id`: the table's `id` column is left to
/// the database.
async fn insert_models<E>(db: &impl ConnectionTrait, models: &[E::Model], chunk: usize, auto_id: bool) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: sea_orm::ModelTrait<Entity = E>,
{
    for part in models.chunks(chunk) {
        let cols = E::Column::iter().filter(|c| !(auto_id && c.as_str() == "id")).collect();
        let mut rows = Rows::<E>::new(cols, part.len());
        for m in part {
            rows.push_model(m);
        }
        rows.execute(db, Tail::None).await?;
    }
    Ok(())
}
