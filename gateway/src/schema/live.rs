//! Subscriptions, fed by the process's one event poller ([`crate::hub`]). Resumable: pass the
//! last `sequence` you saw and nothing in between is missed.

use async_graphql::{Context, ID, Object, Subscription};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use super::{app, parties::parse_id, runs::levels_from, types};
use crate::{auth, hub};

// A view of the row the hub broadcast, shared by every subscriber: each field is read from it
// only when selected, so an event reaching 1,000 subscribers is never copied, and its payload
// is parsed once, when the first of them asks for it.
#[derive(Clone)]
pub struct IntegrationEvent(hub::Event);

/// One event: run started / progress / finished / held, a log line, a preview ready.
#[Object]
impl IntegrationEvent {
    /// Global, growing sequence number: resume with `afterSequence`.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }

    /// run_started, run_progress, run_finished, run_held, log, preview_ready, request_done.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn integration_id(&self) -> Option<ID> {
        self.0.integration_id.map(Into::into)
    }

    async fn run_id(&self) -> Option<ID> {
        self.0.run_id.map(Into::into)
    }

    async fn preview_id(&self) -> Option<ID> {
        self.0.preview_id.map(Into::into)
    }

    async fn payload(&self) -> types::SharedJson {
        types::SharedJson(self.0.payload().clone())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The level of a `log` event, read from the payload all its subscribers share.
fn log_level(e: &hub::Broadcast) -> Option<&str> {
    match &**e.payload() {
        async_graphql::Value::Object(o) => match o.get("level") {
            Some(async_graphql::Value::String(l)) => Some(l),
            _ => None,
        },
        _ => None,
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
        Ok(s.map(IntegrationEvent))
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
        Ok(hub::stream(hub, Some(id), from, |_| true).map(IntegrationEvent))
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
            e.kind == domain::events::kind::LOG && log_level(e).is_some_and(|l| levels.contains(&l))
        });
        Ok(s.map(IntegrationEvent))
    }

    /// Fires once when the preview is ready (or failed).
    async fn preview_ready(&self, ctx: &Context<'_>, preview_id: ID) -> async_graphql::Result<impl Stream<Item = IntegrationEvent>> {
        auth::read(ctx)?;
        let id = parse_id(&preview_id, "preview")?;
        let s =
            hub::stream(app(ctx).hub.clone(), None, 0, move |e| e.preview_id == Some(id) && e.kind == domain::events::kind::PREVIEW_READY);
        Ok(s.map(IntegrationEvent).take(1))
    }
}
