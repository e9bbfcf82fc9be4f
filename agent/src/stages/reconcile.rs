//! Stage 4, reconcile: after the last page, the campaigns whose offers left the feed.
//!
//! The integration's campaigns are streamed in a compact projection (memory holds only the
//! ones that vanished). Under the vanish policy they are paused (or deleted after N misses),
//! unless the share of live campaigns the run would pause is above the guard rail: then the
//! run is HELD for an admin to confirm. A non-empty feed that imports nothing ends WARNING.

use std::collections::BTreeMap;

use chrono::Utc;
use domain::{
    db::{now, write_tx},
    entity::{campaign, sync_run},
    events,
    model::{self as m, LogLevel, RunStatus, section},
};
use futures::TryStreamExt;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, sea_query::Expr};
use serde_json::json;

use super::{evaluate::Tally, log_row, write};
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
        // The integration's campaigns as they were before this run (rows this run created are
        // not "live" for the guard rail), streamed in a compact projection: memory holds only
        // the campaigns that vanished, not the whole integration.
        let started = run.started_at.unwrap_or(run.queued_at);
        let mut live: usize = 0;
        let mut gone: Vec<Known> = vec![];
        {
            let mut rows = campaign::Entity::find()
                .select_only()
                .columns([
                    campaign::Column::Id,
                    campaign::Column::ExternalId,
                    campaign::Column::Status,
                    campaign::Column::LockedColumns,
                    campaign::Column::ConsecutiveMisses,
                    campaign::Column::VanishedAt,
                    campaign::Column::CreatedAt,
                ])
                .filter(campaign::Column::IntegrationId.eq(i.id))
                .into_tuple::<(i64, String, String, String, i32, Option<chrono::DateTime<Utc>>, chrono::DateTime<Utc>)>()
                .stream(db)
                .await?;
            while let Some((id, external_id, status, locked_columns, consecutive_misses, vanished_at, created_at)) = rows.try_next().await?
            {
                let active = status == m::CampaignStatus::Active.as_str();
                if active && created_at < started {
                    live += 1;
                }
                if vanished_at.is_none() && !seen.contains(&external_id) {
                    gone.push(Known {
                        id,
                        external_id,
                        active,
                        status_locked: write::locked(&locked_columns).iter().any(|c| c == "status"),
                        consecutive_misses,
                    });
                }
            }
        }
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
