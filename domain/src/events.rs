//! Events and logs: the only channel from the agent to subscribers in other processes.
//!
//! The agent appends rows to `events` (a global, growing `seq`); each gateway process reads
//! them by sequence and fans out to its subscribers. Payloads are JSON documents typed here.
//!
//! Readers are woken rather than left to poll: an append wakes this process's reader
//! ([`WRITTEN`], the agent embedded in `serve`), and on PostgreSQL it also sends
//! `NOTIFY offerbridge_events`, delivered at commit to gateways in other processes. Polling
//! remains the fallback (SQLite with the agent in another process).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use serde::{Deserialize, Serialize};

use crate::{
    db::now,
    entity::{event, log_entry},
    model::LogLevel,
};

/// Event kinds as stored in `events.kind`.
pub mod kind {
    pub const RUN_STARTED: &str = "run_started";
    pub const RUN_PROGRESS: &str = "run_progress";
    pub const RUN_FINISHED: &str = "run_finished";
    pub const RUN_HELD: &str = "run_held";
    pub const LOG: &str = "log";
    pub const PREVIEW_READY: &str = "preview_ready";
    pub const REQUEST_DONE: &str = "request_done";
}

/// Progress of a run, as sent in `run_started`, `run_progress`, `run_finished`, `run_held`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    pub run_id: i64,
    pub status: String,
    pub phase: String,
    pub pages_done: i32,
    pub pages_total: Option<i32>,
    pub fetched: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub filtered: i64,
    pub error_code: Option<String>,
}

/// A log line, as stored in `log_entries` and echoed into `events` for live tails.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    pub id: i64,
    pub integration_id: Option<i64>,
    pub run_id: Option<i64>,
    pub level: LogLevel,
    pub code: String,
    pub offer_external_id: Option<String>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

impl From<log_entry::Model> for LogLine {
    fn from(row: log_entry::Model) -> Self {
        Self {
            id: row.id,
            integration_id: row.integration_id,
            run_id: row.run_id,
            level: LogLevel::parse(&row.level).unwrap_or(LogLevel::Info),
            code: row.code,
            offer_external_id: row.offer_external_id,
            message: row.message,
            created_at: row.created_at,
        }
    }
}

/// Wakes this process's event readers when an event was written here. The writing transaction
/// may commit a moment later, so a reader looks again a few times over the next ~60 ms.
pub static WRITTEN: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Appends in this process so far: a reader that was busy when [`WRITTEN`] fired sees the
/// count move and reads again instead of missing the wake-up.
pub static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The PostgreSQL channel every append notifies (delivered when its transaction commits).
pub const CHANNEL: &str = "offerbridge_events";

/// Tells readers that events were written: this process's at once, other processes' (on
/// PostgreSQL) when the transaction commits.
async fn written(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
    }
    WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    WRITTEN.notify_waiters();
    Ok(())
}

/// Appends one event.
pub async fn append(
    db: &impl ConnectionTrait,
    kind: &str,
    integration_id: Option<i64>,
    run_id: Option<i64>,
    preview_id: Option<i64>,
    payload: &impl Serialize,
) -> Result<i64, DbErr> {
    let row = event::ActiveModel {
        integration_id: Set(integration_id),
        run_id: Set(run_id),
        preview_id: Set(preview_id),
        kind: Set(kind.to_string()),
        payload: Set(serde_json::to_string(payload).unwrap_or_else(|_| "{}".into())),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    written(db).await?;
    Ok(row.seq)
}

/// Writes a log entry and its live-tail event. `details` must already be redacted.
#[allow(clippy::too_many_arguments)]
pub async fn log(
    db: &impl ConnectionTrait,
    integration_id: Option<i64>,
    run_id: Option<i64>,
    level: LogLevel,
    code: &str,
    offer_external_id: Option<&str>,
    message: &str,
    details: Option<serde_json::Value>,
) -> Result<(), DbErr> {
    let row = log_entry::ActiveModel {
        integration_id: Set(integration_id),
        run_id: Set(run_id),
        level: Set(level.as_str().into()),
        code: Set(code.into()),
        offer_external_id: Set(offer_external_id.map(str::to_string)),
        message: Set(message.into()),
        details: Set(details.map(|d| d.to_string())),
        created_at: Set(now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    append(db, kind::LOG, integration_id, run_id, None, &LogLine::from(row)).await?;
    Ok(())
}

/// Writes many log entries in a few multi-row statements; warnings and errors also get their
/// live-tail event (info lines, one per filtered offer, are only in `log_entries`).
pub async fn log_many(db: &impl ConnectionTrait, rows: Vec<log_entry::ActiveModel>) -> Result<(), DbErr> {
    use sea_orm::EntityTrait;
    let (loud, quiet): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| matches!(r.level.try_as_ref().and_then(|l| LogLevel::parse(l)), Some(LogLevel::Warn | LogLevel::Error)));
    for chunk in quiet.chunks(200) {
        log_entry::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await?;
    }
    for chunk in loud.chunks(200) {
        let saved = log_entry::Entity::insert_many(chunk.to_vec()).exec_with_returning(db).await?;
        let t = now();
        let events: Vec<event::ActiveModel> = saved
            .into_iter()
            .map(|row| event::ActiveModel {
                integration_id: Set(row.integration_id),
                run_id: Set(row.run_id),
                preview_id: Set(None),
                kind: Set(kind::LOG.to_string()),
                payload: Set(serde_json::to_string(&LogLine::from(row)).unwrap_or_else(|_| "{}".into())),
                created_at: Set(t),
                ..Default::default()
            })
            .collect();
        event::Entity::insert_many(events).exec_without_returning(db).await?;
        written(db).await?;
    }
    Ok(())
}
