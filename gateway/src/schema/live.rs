//! Subscriptions, fed by the process's one event poller ([`crate::hub`]). Resumable: pass the
//! last `sequence` you saw and nothing in between is missed.

use async_graphql::{Context, ID, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use super::{app, parties::parse_id, runs::levels_from, types};
use crate::{auth, hub};

/// One event: run started / progress / finished / held, a log line, a preview ready.
#[derive(SimpleObject, Clone)]
pub struct IntegrationEvent {
    /// Global, growing sequence number: resume with `afterSequence`.
    pub sequence: i64,
    /// run_started, run_progress, run_finished, run_held, log, preview_ready, request_done.
    pub kind: String,
    pub integration_id: Option<ID>,
    pub run_id: Option<ID>,
    pub preview_id: Option<ID>,
    pub payload: crate::schema::types::JsonValue,
    pub created_at: DateTime<Utc>,
}

fn to_event(e: &hub::Event) -> IntegrationEvent {
    IntegrationEvent {
        sequence: e.seq,
        kind: e.kind.clone(),
        integration_id: e.integration_id.map(Into::into),
        run_id: e.run_id.map(Into::into),
        preview_id: e.preview_id.map(Into::into),
        payload: crate::schema::types::JsonValue(serde_json::from_str(&e.payload).unwrap_or_default()),
        created_at: e.created_at,
    }
}

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Progress of one run (started, progress, finished/held), replayed from its start.
    async fn sync_run_progress(&self, ctx: &Context<'_>, run_id: ID) -> async_graphql::Result<impl Stream<Item = IntegrationEvent>> {
        auth::read(ctx)?;
        let run = parse_id(&run_id, "run")?;
        // Replay only the run's integration, not the whole events table.
        let integration = <domain::entity::sync_run::Entity as sea_orm::EntityTrait>::find_by_id(run)
            .one(app(ctx).hub.db())
            .await
            .map_err(crate::error::internal)?
            .map(|r| r.integration_id)
            .ok_or_else(|| crate::error::not_found("run", run))?;
        let s = hub::stream(app(ctx).hub.clone(), Some(integration), 0, move |e| e.run_id == Some(run) && e.kind.starts_with("run_"));
        Ok(s.map(|e| to_event(&e)))
    }

    /// Everything about an integration after `afterSequence` (default: from now).
    async fn integration_events(
        &self,
        ctx: &Context<'_>,
        integration_id: ID,
        after_sequence: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = IntegrationEvent>> {
        auth::read(ctx)?;
        let id = parse_id(&integration_id, "integration")?;
        let hub = app(ctx).hub.clone();
        let from = match after_sequence {
            Some(s) => s,
            None => hub.cursor(),
        };
        Ok(hub::stream(hub, Some(id), from, |_| true).map(|e| to_event(&e)))
    }

    /// Live log lines of an integration at `minLevel` and above.
    async fn log_tail(
        &self,
        ctx: &Context<'_>,
        integration_id: ID,
        min_level: Option<types::LogLevel>,
        after_sequence: Option<i64>,
    ) -> async_graphql::Result<impl Stream<Item = IntegrationEvent>> {
        auth::read(ctx)?;
        let id = parse_id(&integration_id, "integration")?;
        let levels: Vec<&'static str> = levels_from(min_level.map(Into::into).unwrap_or(domain::model::LogLevel::Info));
        let hub = app(ctx).hub.clone();
        let from = match after_sequence {
            Some(s) => s,
            None => hub.cursor(),
        };
        let s = hub::stream(hub, Some(id), from, move |e| {
            e.kind == domain::events::kind::LOG
                && serde_json::from_str::<serde_json::Value>(&e.payload)
                    .ok()
                    .and_then(|p| p.get("level").and_then(|l| l.as_str()).map(|l| levels.contains(&l)))
                    .unwrap_or(false)
        });
        Ok(s.map(|e| to_event(&e)))
    }

    /// Fires once when the preview is ready (or failed).
    async fn preview_ready(&self, ctx: &Context<'_>, preview_id: ID) -> async_graphql::Result<impl Stream<Item = IntegrationEvent>> {
        auth::read(ctx)?;
        let id = parse_id(&preview_id, "preview")?;
        let s =
            hub::stream(app(ctx).hub.clone(), None, 0, move |e| e.preview_id == Some(id) && e.kind == domain::events::kind::PREVIEW_READY);
        Ok(s.map(|e| to_event(&e)).take(1))
    }
}
