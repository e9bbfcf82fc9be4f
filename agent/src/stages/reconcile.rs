//! Stage 4, reconcile: after the last page, the campaigns whose offers left the feed.
//!
//! The integration's campaign ids are read in large chunks, each one JSON array built by the
//! database (memory holds one chunk of ids and the campaigns that vanished). Under the vanish
//! policy they are paused (or deleted after N misses), unless the share of live campaigns the
//! run would pause is above the guard rail: then the run is HELD for an admin to confirm. A
//! non-empty feed that imports nothing ends WARNING.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{
    db::{now, write_tx},
    entity::{campaign, sync_run},
    events,
    model::{self as m, LogLevel, RunStatus, section},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, Func, Order, Query},
};
use serde_json::json;

use super::{
    evaluate::{SeenIds, Tally},
    log_row, write,
};
use crate::runtime::{Agent, Lease, RunError, RunSummary};

/// What reconciliation needs to know about an existing campaign.
struct Known {
    id: i64,
    external_id: String,
    active: bool,
    status_locked: bool,
    consecutive_misses: i32,
}

impl Agent {
    /// Ends a run whose pages were all written: pauses or deletes vanished campaigns (or holds
    /// the run), then records its outcome.
    pub(crate) async fn reconcile(
        &self,
        lease: &Lease,
        i: &domain::entity::integration::Model,
        run: &sync_run::Model,
        dry_run: bool,
        tally: Tally,
        changed_fields: BTreeMap<String, i64>,
    ) -> Result<RunSummary, RunError> {
        let db = &self.db;
        let Tally { mut counters, filter_counts, seen, unidentified_invalid } = tally;
        // Every page fetched: reconcile vanished offers.
        sync_run::Entity::update_many()
            .col_expr(sync_run::Column::Phase, Expr::value(m::RunPhase::Reconciling.as_str()))
            .filter(sync_run::Column::Id.eq(run.id))
            .exec(db)
            .await?;
        let policy: m::VanishedPolicy = section(&i.vanished_policy);
        let started = run.started_at.unwrap_or(run.queued_at);
        let live = live_before(db, i.id, started).await?;
        let mut gone = vanished(db, i.id, &seen, self.cfg.agent.reconcile_chunk.clamp(1, 1_000_000)).await?;
        if unidentified_invalid > 0 && !gone.is_empty() {
            let msg = format!(
                "{} offer(s) in the feed could not be read and have no id: any of the {} campaigns missing from the feed may be one of them, so none is paused or deleted in this run",
                unidentified_invalid,
                gone.len()
            );
            events::log(db, Some(i.id), Some(run.id), LogLevel::Warn, "VANISH_SKIPPED", None, &msg, None).await?;
            gone.clear();
        }
        let to_pause: Vec<&Known> = gone.iter().filter(|c| c.active && !c.status_locked).collect();
        let share = if live == 0 {
            rust_decimal::Decimal::ZERO
        } else {
            rust_decimal::Decimal::from(to_pause.len()) / rust_decimal::Decimal::from(live)
        };
        let hold = policy.action == m::VanishedAction::Pause && live > 0 && (counters.fetched == 0 || share > policy.max_pause_share);
        if dry_run {
            counters.paused = to_pause.len() as i64;
            let mut fc = filter_counts.clone();
            for (k, v) in &changed_fields {
                fc.insert(format!("changed:{k}"), *v);
            }
            self.finish(i, run.id, RunStatus::Succeeded, &counters, &fc, None, true, run.request_id).await?;
            return Ok(RunSummary {
                run_id: run.id,
                status: RunStatus::Succeeded,
                counters,
                filter_counts: fc,
                error: None,
                error_code: None,
            });
        }
        if hold {
            let ids: Vec<i64> = to_pause.iter().map(|c| c.id).collect();
            let why = if counters.fetched == 0 {
                format!("the feed is empty while {live} campaigns are live: nothing was paused; confirm or discard the run")
            } else {
                format!(
                    "the run would pause {} of {} live campaigns ({}%), above the {}% guard rail: confirm or discard the run",
                    ids.len(),
                    live,
                    (share * rust_decimal::Decimal::from(100)).round(),
                    policy.max_pause_share * rust_decimal::Decimal::from(100)
                )
            };
            sync_run::Entity::update_many()
                .col_expr(sync_run::Column::Status, Expr::value(RunStatus::Held.as_str()))
                .col_expr(sync_run::Column::Phase, Expr::value("held"))
                .col_expr(sync_run::Column::HeldChanges, Expr::value(json!({"pause": ids, "reason": why}).to_string()))
                .col_expr(sync_run::Column::Counters, Expr::value(serde_json::to_string(&counters).unwrap_or_default()))
                .col_expr(sync_run::Column::FinishedAt, Expr::value(now()))
                .filter(sync_run::Column::Id.eq(run.id))
                .exec(db)
                .await?;
            events::log(db, Some(i.id), Some(run.id), LogLevel::Warn, "RUN_HELD", None, &why, None).await?;
            self.finish(i, run.id, RunStatus::Held, &counters, &filter_counts, None, false, run.request_id).await?;
            return Ok(RunSummary {
                run_id: run.id,
                status: RunStatus::Held,
                counters,
                filter_counts,
                error: None,
                error_code: Some("RUN_HELD".into()),
            });
        }
        let tx = write_tx(db).await?;
        self.renew(&tx, lease).await?;
        let t = now();
        for c in &gone {
            let misses = c.consecutive_misses + 1;
            match policy.action {
                m::VanishedAction::Delete if misses as u32 >= policy.delete_after_misses => {
                    campaign::Entity::delete_by_id(c.id).exec(&tx).await?;
                    counters.deleted += 1;
                    log_row(
                        i.id,
                        run.id,
                        LogLevel::Info,
                        "CAMPAIGN_DELETED",
                        Some(&c.external_id),
                        &format!("deleted after {misses} runs without the offer"),
                    )
                    .insert(&tx)
                    .await?;
                }
                m::VanishedAction::Pause if to_pause.iter().any(|p| p.id == c.id) => {
                    campaign::Entity::update_many()
                        .col_expr(campaign::Column::Status, Expr::value(m::CampaignStatus::Paused.as_str()))
                        .col_expr(campaign::Column::PausedBy, Expr::value("sync"))
                        .col_expr(campaign::Column::VanishedAt, Expr::value(t))
                        .col_expr(campaign::Column::ConsecutiveMisses, Expr::value(misses))
                        .col_expr(campaign::Column::UpdatedAt, Expr::value(t))
                        .filter(campaign::Column::Id.eq(c.id))
                        .exec(&tx)
                        .await?;
                    counters.paused += 1;
                    log_row(
                        i.id,
                        run.id,
                        LogLevel::Info,
                        "CAMPAIGN_PAUSED",
                        Some(&c.external_id),
                        "the offer is no longer in the feed: campaign paused",
                    )
                    .insert(&tx)
                    .await?;
                }
                _ => {
                    campaign::Entity::update_many()
                        .col_expr(campaign::Column::ConsecutiveMisses, Expr::value(misses))
                        .filter(campaign::Column::Id.eq(c.id))
                        .exec(&tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        let kept = counters.created + counters.updated + counters.unchanged;
        let considered = counters.fetched - counters.not_selected - counters.duplicates;
        let (status, warning) = if considered > 0 && kept == 0 {
            // A non-empty feed that imports nothing is never a plain success.
            let reasons = filter_counts.iter().map(|(code, n)| format!("{n} {code}")).collect::<Vec<_>>().join(", ");
            let invalid = if counters.invalid > 0 { format!("{} OFFER_INVALID", counters.invalid) } else { String::new() };
            let why = [reasons, invalid].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
            let msg = format!("the feed sent {considered} offer(s) and none was imported ({why}); see the offer logs for each reason");
            events::log(db, Some(i.id), Some(run.id), LogLevel::Warn, "NOTHING_IMPORTED", None, &msg, None).await?;
            (RunStatus::Warning, Some(("NOTHING_IMPORTED", msg, None)))
        } else if counters.invalid > 0 {
            (RunStatus::PartiallySucceeded, None)
        } else {
            (RunStatus::Succeeded, None)
        };
        let error_code = match (&warning, status) {
            (Some((code, ..)), _) => Some(code.to_string()),
            (None, RunStatus::PartiallySucceeded) => Some("OFFER_INVALID".to_string()),
            _ => None,
        };
        self.finish(i, run.id, status, &counters, &filter_counts, warning, false, run.request_id).await?;
        Ok(RunSummary { run_id: run.id, status, counters, filter_counts, error: None, error_code })
    }
}

/// Campaigns of the integration live before the run started (the guard rail's base: rows
/// this run created are not counted).
async fn live_before(db: &impl ConnectionTrait, integration_id: i64, started: DateTime<Utc>) -> Result<usize, DbErr> {
    let n = campaign::Entity::find()
        .filter(campaign::Column::IntegrationId.eq(integration_id))
        .filter(campaign::Column::Status.eq(m::CampaignStatus::Active.as_str()))
        .filter(campaign::Column::CreatedAt.lt(started))
        .count(db)
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The integration's campaigns not yet marked vanished whose offer this run did not see.
///
/// Their external ids are read in chunks of `chunk` (`agent.reconcile_chunk`), each aggregated
/// into one JSON array by the database: a row per campaign would cross from the database
/// driver one by one (SQLite's worker thread hands over every row), and a refresh that finds
/// nothing gone would spend a fifth of its time there. Only each chunk's gone campaigns are
/// then read whole.
async fn vanished(db: &impl ConnectionTrait, integration_id: i64, seen: &SeenIds, chunk: u64) -> Result<Vec<Known>, DbErr> {
    let backend = db.get_database_backend();
    // The same aggregate under each database's name (both return a JSON array of strings).
    let agg = match backend {
        DbBackend::Postgres => "json_agg(external_id)::text",
        _ => "json_group_array(external_id)",
    };
    // Keyset on the unique (integration_id, external_id) index: read in its order, no sort.
    let mut after: Option<String> = None;
    let mut gone = vec![];
    loop {
        let mut ids_q = Query::select()
            .column(campaign::Column::ExternalId)
            .from(campaign::Entity)
            .and_where(campaign::Column::IntegrationId.eq(integration_id))
            .and_where(campaign::Column::VanishedAt.is_null())
            .order_by(campaign::Column::ExternalId, Order::Asc)
            .limit(chunk)
            .to_owned();
        if let Some(after) = &after {
            ids_q.and_where(campaign::Column::ExternalId.gt(after.as_str()));
        }
        let q = Query::select()
            .expr(Func::max(Expr::col(Alias::new("external_id"))))
            .expr(Expr::cust(agg))
            .from_subquery(ids_q, Alias::new("chunk"))
            .to_owned();
        let Some(row) = db.query_one(&q).await? else { break };
        let last: Option<String> = row.try_get_by_index(0)?;
        let Some(last) = last else { break };
        let ids: Option<String> = row.try_get_by_index(1)?;
        let ids: Vec<String> = serde_json::from_str(ids.as_deref().unwrap_or("[]"))
            .map_err(|e| DbErr::Custom(format!("reading the integration's campaign ids: {e}")))?;
        let n = ids.len() as u64;
        // This chunk's vanished campaigns, loaded whole before the next chunk is read: memory
        // holds one chunk of ids, however many campaigns vanished.
        let missing: Vec<String> = ids.into_iter().filter(|id| !seen.contains(id)).collect();
        for ids in missing.chunks(500) {
            let rows = campaign::Entity::find()
                .select_only()
                .columns([
                    campaign::Column::Id,
                    campaign::Column::ExternalId,
                    campaign::Column::Status,
                    campaign::Column::LockedColumns,
                    campaign::Column::ConsecutiveMisses,
                ])
                .filter(campaign::Column::IntegrationId.eq(integration_id))
                .filter(campaign::Column::VanishedAt.is_null())
                .filter(campaign::Column::ExternalId.is_in(ids.iter().map(String::as_str)))
                .order_by_asc(campaign::Column::ExternalId)
                .into_tuple::<(i64, String, String, String, i32)>()
                .all(db)
                .await?;
            gone.extend(rows.into_iter().map(|(id, external_id, status, locked_columns, consecutive_misses)| Known {
                id,
                external_id,
                active: status == m::CampaignStatus::Active.as_str(),
                status_locked: write::locked(&locked_columns).iter().any(|c| c == "status"),
                consecutive_misses,
            }));
        }
        after = Some(last);
        if n < chunk {
            break;
        }
    }
    Ok(gone)
}
