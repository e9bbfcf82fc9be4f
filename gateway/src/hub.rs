//! One event poller per gateway process, fanning out to every subscriber.
//!
//! The agent may be another process (or machine): the `events` table is the only channel.
//! The poller reads `seq > last` every `event_poll_interval` (100 ms by default) and
//! broadcasts each row; subscribers first replay what they missed from the table, then follow
//! the broadcast, skipping what they already delivered, so a client that reconnects with the
//! last sequence it saw misses nothing.

use std::{sync::Arc, time::Duration};

use domain::entity::event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast;

/// An event as subscribers receive it.
pub type Event = Arc<event::Model>;

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Event>,
    db: DatabaseConnection,
}

impl Hub {
    /// Starts the poller from the current end of the table.
    pub async fn start(
        db: DatabaseConnection,
        every: Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Self, sea_orm::DbErr> {
        let (tx, _) = broadcast::channel(4096);
        let mut last = latest_seq(&db).await?;
        let hub = Self { tx: tx.clone(), db: db.clone() };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if tx.receiver_count() == 0 {
                    // Nobody listens: keep the cursor at the end without reading rows.
                    if let Ok(s) = latest_seq(&db).await {
                        last = s;
                    }
                    continue;
                }
                match after(&db, None, last, 1000).await {
                    Ok(rows) => {
                        for r in rows {
                            last = r.seq;
                            let _ = tx.send(Arc::new(r));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "event poll failed; retrying"),
                }
            }
        });
        Ok(hub)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

pub async fn latest_seq(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    Ok(event::Entity::find().order_by_desc(event::Column::Seq).one(db).await?.map(|e| e.seq).unwrap_or(0))
}

/// Events after `seq`, optionally for one integration, oldest first.
pub async fn after(db: &DatabaseConnection, integration: Option<i64>, seq: i64, limit: u64) -> Result<Vec<event::Model>, sea_orm::DbErr> {
    let mut q = event::Entity::find().filter(event::Column::Seq.gt(seq));
    if let Some(i) = integration {
        q = q.filter(event::Column::IntegrationId.eq(i));
    }
    q.order_by_asc(event::Column::Seq).limit(limit).all(db).await
}

/// A stream of events matching `keep`, starting after `from` (replay, then live).
pub fn stream(
    hub: Hub,
    integration: Option<i64>,
    from: i64,
    keep: impl Fn(&event::Model) -> bool + Send + Sync + 'static,
) -> impl futures::Stream<Item = Event> {
    async_stream::stream! {
        let mut rx = hub.subscribe();
        let mut last = from;
        loop {
            let backlog = match after(hub.db(), integration, last, 500).await {
                Ok(rows) => rows,
                Err(e) => { tracing::warn!(error = %e, "event replay failed"); vec![] }
            };
            let n = backlog.len();
            for r in backlog {
                last = r.seq;
                if keep(&r) { yield Arc::new(r); }
            }
            if n < 500 { break; }
        }
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if e.seq <= last { continue; }
                    if integration.is_some() && e.integration_id != integration { last = e.seq; continue; }
                    last = e.seq;
                    if keep(&e) { yield e; }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the broadcast: catch up from the table.
                    while let Ok(rows) = after(hub.db(), integration, last, 500).await {
                        let n = rows.len();
                        for r in rows { last = r.seq; if keep(&r) { yield Arc::new(r); } }
                        if n < 500 { break; }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}
