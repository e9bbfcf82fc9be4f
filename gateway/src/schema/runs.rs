//! Sync runs, agent requests, logs, and the review of held runs.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use domain::{
    db::now,
    entity::{agent_heartbeat, log_entry, sync_request, sync_run},
    model as m,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::{Page, app, audit, paginate, parties::parse_id, types};
use crate::{
    auth,
    error::{self, OrInternal},
};

#[derive(SimpleObject)]
pub struct SyncRun {
    pub id: ID,
    pub integration_id: ID,
    pub trigger: types::RunTrigger,
    pub status: types::RunStatus,
    /// queued, fetching, reconciling, done.
    pub phase: String,
    pub dry_run: bool,
    pub pages_done: i32,
    pub pages_total: Option<i32>,
    /// Counters per outcome: fetched, not_selected, filtered, created, updated, unchanged,
    /// paused, reactivated, deleted, invalid, errors.
    pub counters: crate::schema::types::JsonValue,
    /// Offers filtered out, per reason code.
    pub filter_counts: crate::schema::types::JsonValue,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The last upstream response of a failed request (redacted).
    pub last_response: Option<crate::schema::types::JsonValue>,
    /// For held runs: the changes waiting for review.
    pub held_changes: Option<crate::schema::types::JsonValue>,
    /// The agent that ran it (`agent.id`, by default hostname-pid).
    pub agent_id: Option<String>,
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

impl From<sync_run::Model> for SyncRun {
    fn from(r: sync_run::Model) -> Self {
        Self {
            id: r.id.into(),
            integration_id: r.integration_id.into(),
            trigger: m::RunTrigger::parse(&r.trigger).unwrap_or(m::RunTrigger::Schedule).into(),
            status: m::RunStatus::parse(&r.status).unwrap_or(m::RunStatus::Queued).into(),
            phase: r.phase,
            dry_run: r.dry_run,
            pages_done: r.pages_done,
            pages_total: r.pages_total,
            counters: crate::schema::types::JsonValue(json(&r.counters)),
            filter_counts: crate::schema::types::JsonValue(json(&r.filter_counts)),
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error_code: r.error_code,
            error_message: r.error_message,
            last_response: r.last_response.as_deref().map(|s| crate::schema::types::JsonValue(json(s))),
            held_changes: r.held_changes.as_deref().map(|s| crate::schema::types::JsonValue(json(s))),
            agent_id: r.agent_id,
        }
    }
}

/// A request to the agent: sync now, dry run, or test connection.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct SyncRequest {
    pub id: ID,
    pub integration_id: ID,
    pub kind: types::RequestKind,
    pub status: types::RequestStatus,
    pub run_id: Option<ID>,
    /// For test connections: `{ok, offersVisible, code, message}`.
    pub result: Option<crate::schema::types::JsonValue>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[async_graphql::ComplexObject]
impl SyncRequest {
    /// PENDING for over a minute while no agent is alive (no heartbeat within the lease TTL):
    /// nothing will pick it up until an agent (`offerbridge agent` or `serve`) runs.
    async fn waiting_for_agent(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        waiting_for_agent(ctx, matches!(self.status, types::RequestStatus::Pending), self.created_at).await
    }
}

/// Whether work in `pending` state since `created_at` waits for an agent that is not there:
/// PENDING for over a minute and no heartbeat within the lease TTL. The last heartbeat is read
/// at most once a second per gateway, however many requests a query lists.
pub(crate) async fn waiting_for_agent(ctx: &Context<'_>, pending: bool, created_at: DateTime<Utc>) -> async_graphql::Result<bool> {
    let t = now();
    if !pending || t - created_at < chrono::Duration::minutes(1) {
        return Ok(false);
    }
    let cached = app(ctx).last_heartbeat.lock().ok().and_then(|g| *g).filter(|(at, _)| at.elapsed() < std::time::Duration::from_secs(1));
    let last = match cached {
        Some((_, last)) => last,
        None => {
            let last: Option<DateTime<Utc>> = agent_heartbeat::Entity::find()
                .select_only()
                .column_as(agent_heartbeat::Column::LastSeenAt.max(), "last")
                .into_tuple::<Option<DateTime<Utc>>>()
                .one(&app(ctx).db)
                .await
                .or_internal()?
                .flatten();
            if let Ok(mut g) = app(ctx).last_heartbeat.lock() {
                *g = Some((std::time::Instant::now(), last));
            }
            last
        }
    };
    let ttl = chrono::Duration::from_std(app(ctx).config.agent.lease_ttl).unwrap_or(chrono::Duration::seconds(60));
    Ok(last.is_none_or(|l| t - l >= ttl))
}

impl From<sync_request::Model> for SyncRequest {
    fn from(r: sync_request::Model) -> Self {
        Self {
            id: r.id.into(),
            integration_id: r.integration_id.into(),
            kind: m::RequestKind::parse(&r.kind).unwrap_or(m::RequestKind::Sync).into(),
            status: m::RequestStatus::parse(&r.status).unwrap_or(m::RequestStatus::Pending).into(),
            run_id: r.run_id.map(Into::into),
            result: r.result.as_deref().map(|s| crate::schema::types::JsonValue(json(s))),
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct LogEntry {
    pub id: ID,
    pub integration_id: Option<ID>,
    pub run_id: Option<ID>,
    pub level: types::LogLevel,
    /// Stable code, e.g. FILTER_COUNTRY, OFFER_INVALID, COLUMN_LOCKED, RATE_LIMIT_WAIT.
    pub code: String,
    pub offer_external_id: Option<String>,
    pub message: String,
    pub details: Option<crate::schema::types::JsonValue>,
    pub created_at: DateTime<Utc>,
}

impl From<log_entry::Model> for LogEntry {
    fn from(l: log_entry::Model) -> Self {
        Self {
            id: l.id.into(),
            integration_id: l.integration_id.map(Into::into),
            run_id: l.run_id.map(Into::into),
            level: m::LogLevel::parse(&l.level).unwrap_or(m::LogLevel::Info).into(),
            code: l.code,
            offer_external_id: l.offer_external_id,
            message: l.message,
            details: l.details.as_deref().map(|s| crate::schema::types::JsonValue(json(s))),
            created_at: l.created_at,
        }
    }
}

#[derive(InputObject, Default)]
pub struct SyncRunFilter {
    pub integration_id: Option<ID>,
    pub status: Option<types::RunStatus>,
}

#[derive(InputObject, Default)]
pub struct LogFilter {
    pub integration_id: Option<ID>,
    pub run_id: Option<ID>,
    /// This level and above.
    pub min_level: Option<types::LogLevel>,
    pub code: Option<String>,
    pub offer_external_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub(crate) fn levels_from(min: m::LogLevel) -> Vec<&'static str> {
    m::LogLevel::ALL.iter().filter(|l| **l >= min).map(|l| l.as_str()).collect()
}

#[derive(Default)]
pub struct RunsQuery;

/// An agent process, as its heartbeat shows it.
#[derive(SimpleObject)]
pub struct AgentStatus {
    /// `agent.id`, or `hostname-pid`.
    pub id: String,
    pub hostname: String,
    pub started_at: DateTime<Utc>,
    /// The agent writes this on every poll.
    pub last_seen_at: DateTime<Utc>,
    /// Seen within the lease TTL. An agent not alive holds no lease that counts: another
    /// agent takes its work over.
    pub alive: bool,
    /// Runs this agent is running now.
    pub runs_in_progress: i32,
}

#[Object]
impl RunsQuery {
    /// Every agent that ever ran against this database, most recently seen first: whether any
    /// is alive (a request stays PENDING while none is), and what each is running.
    async fn agents(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AgentStatus>> {
        auth::read(ctx)?;
        let db = &app(ctx).db;
        let ttl = chrono::Duration::from_std(app(ctx).config.agent.lease_ttl).unwrap_or(chrono::Duration::seconds(60));
        let running: Vec<(Option<String>, i64)> = sync_run::Entity::find()
            .select_only()
            .column(sync_run::Column::AgentId)
            .column_as(sync_run::Column::Id.count(), "n")
            .filter(sync_run::Column::Status.eq(m::RunStatus::Running.as_str()))
            .group_by(sync_run::Column::AgentId)
            .into_tuple()
            .all(db)
            .await
            .or_internal()?;
        let t = now();
        Ok(agent_heartbeat::Entity::find()
            .order_by_desc(agent_heartbeat::Column::LastSeenAt)
            .all(db)
            .await
            .or_internal()?
            .into_iter()
            .map(|h| AgentStatus {
                runs_in_progress: running
                    .iter()
                    .find(|(a, _)| a.as_deref() == Some(h.agent_id.as_str()))
                    .map_or(0, |(_, n)| i32::try_from(*n).unwrap_or(i32::MAX)),
                alive: t - h.last_seen_at < ttl,
                id: h.agent_id,
                hostname: h.hostname,
                started_at: h.started_at,
                last_seen_at: h.last_seen_at,
            })
            .collect())
    }

    /// Runs, newest first.
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        filter: Option<SyncRunFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<SyncRun>> {
        auth::read(ctx)?;
        let f = filter.unwrap_or_default();
        let mut q = sync_run::Entity::find();
        if let Some(i) = &f.integration_id {
            q = q.filter(sync_run::Column::IntegrationId.eq(parse_id(i, "integration")?));
        }
        if let Some(s) = f.status {
            q = q.filter(sync_run::Column::Status.eq(m::RunStatus::from(s).as_str()));
        }
        paginate(ctx, q, sync_run::Column::Id, |r| r.id, SyncRun::from, first, after, true).await
    }

    async fn sync_run(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<SyncRun>> {
        auth::read(ctx)?;
        let id = parse_id(&id, "run")?;
        Ok(sync_run::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }

    async fn sync_request(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<SyncRequest>> {
        auth::read(ctx)?;
        let id = parse_id(&id, "request")?;
        Ok(sync_request::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.map(Into::into))
    }

    /// Log entries, newest first.
    async fn logs(
        &self,
        ctx: &Context<'_>,
        filter: Option<LogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Page<LogEntry>> {
        auth::read(ctx)?;
        let f = filter.unwrap_or_default();
        let mut q = log_entry::Entity::find();
        if let Some(i) = &f.integration_id {
            q = q.filter(log_entry::Column::IntegrationId.eq(parse_id(i, "integration")?));
        }
        if let Some(r) = &f.run_id {
            q = q.filter(log_entry::Column::RunId.eq(parse_id(r, "run")?));
        }
        if let Some(l) = f.min_level {
            q = q.filter(log_entry::Column::Level.is_in(levels_from(l.into())));
        }
        if let Some(c) = f.code {
            q = q.filter(log_entry::Column::Code.eq(c));
        }
        if let Some(o) = f.offer_external_id {
            q = q.filter(log_entry::Column::OfferExternalId.eq(o));
        }
        if let Some(s) = f.since {
            q = q.filter(log_entry::Column::CreatedAt.gte(s));
        }
        if let Some(u) = f.until {
            q = q.filter(log_entry::Column::CreatedAt.lt(u));
        }
        paginate(ctx, q, log_entry::Column::Id, |r| r.id, LogEntry::from, first, after, true).await
    }
}

#[derive(Default)]
pub struct RunsMutation;

async fn held(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<sync_run::Model> {
    let id = parse_id(id, "run")?;
    let r = sync_run::Entity::find_by_id(id).one(&app(ctx).db).await.or_internal()?.ok_or_else(|| error::not_found("run", id))?;
    if r.status != m::RunStatus::Held.as_str() {
        return Err(error::coded(error::BAD_STATE, format!("run {id} is {}, not held", r.status)));
    }
    Ok(r)
}

#[Object]
impl RunsMutation {
    /// Applies a held run's changes (the agent applies them on its next pass).
    async fn confirm_held_run(&self, ctx: &Context<'_>, run_id: ID) -> async_graphql::Result<SyncRun> {
        let who = auth::edit(ctx)?;
        let r = held(ctx, &run_id).await?;
        let db = &app(ctx).db;
        let mut am: sync_run::ActiveModel = r.clone().into();
        am.phase = Set("confirmed".into());
        let r2 = am.update(db).await.or_internal()?;
        audit(db, &who, "confirmHeldRun", "sync_run", r.id, serde_json::json!({})).await?;
        Ok(r2.into())
    }

    /// Discards a held run's pending pauses; nothing is changed.
    async fn discard_held_run(&self, ctx: &Context<'_>, run_id: ID) -> async_graphql::Result<SyncRun> {
        let who = auth::edit(ctx)?;
        let r = held(ctx, &run_id).await?;
        let db = &app(ctx).db;
        let mut am: sync_run::ActiveModel = r.clone().into();
        am.status = Set(m::RunStatus::Cancelled.as_str().into());
        am.phase = Set("discarded".into());
        am.finished_at = Set(Some(now()));
        let r2 = am.update(db).await.or_internal()?;
        audit(db, &who, "discardHeldRun", "sync_run", r.id, serde_json::json!({})).await?;
        Ok(r2.into())
    }
}
