//! One event poller per gateway process, fanning out to every subscriber.
//!
//! The agent may be another process (or machine): the `events` table is the only channel.
//! The poller reads `seq > last` every `event_poll_interval` (100 ms by default) and
//! broadcasts each row; subscribers first replay what they missed from the table, then follow
//! the broadcast, skipping what they already delivered, so a client that reconnects with the
//! last sequence it saw misses nothing.
//!
//! PostgreSQL hands out sequence numbers at insert but rows appear at commit, so `seq` N+1 can
//! be visible before N. The poller never moves past such a gap until N commits or the gap is
//! older than [`GAP_GRACE`] (a rolled-back insert leaves a gap for ever), and subscribers replay
//! only up to the poller's cursor: every event reaches every subscriber, in sequence order.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use domain::entity::event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast;

/// An event as subscribers receive it.
pub type Event = Arc<event::Model>;

/// How long the poller waits for a missing sequence number before it treats it as rolled back.
pub const GAP_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Event>,
    db: DatabaseConnection,
    /// Every event up to here has been broadcast (or skipped as a rolled-back gap).
    cursor: Arc<AtomicI64>,
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
        let cursor = Arc::new(AtomicI64::new(last));
        let hub = Self { tx: tx.clone(), db: db.clone(), cursor: cursor.clone() };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first missing sequence number and when it was first noticed.
            let mut gap: Option<(i64, Instant)> = None;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                match after(&db, None, last, 1000).await {
                    Ok(rows) => {
                        for r in rows {
                            if r.seq > last + 1 {
                                let since = match gap {
                                    Some((missing, t)) if missing == last + 1 => t,
                                    _ => {
                                        let t = Instant::now();
                                        gap = Some((last + 1, t));
                                        t
                                    }
                                };
                                if since.elapsed() < GAP_GRACE {
                                    break;
                                }
                                tracing::debug!(
                                    from = last + 1,
                                    to = r.seq - 1,
                                    "event sequence gap never filled (rolled back); moving on"
                                );
                            }
                            gap = None;
                            last = r.seq;
                            cursor.store(last, Ordering::SeqCst);
                            // No receivers is fine: the cursor still moves, and late
                            // subscribers replay from the table.
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

    /// Every event up to this sequence has been broadcast.
    pub fn cursor(&self) -> i64 {
        self.cursor.load(Ordering::SeqCst)
    }
}

pub async fn latest_seq(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    Ok(event::Entity::find().order_by_desc(event::Column::Seq).one(db).await?.map(|e| e.seq).unwrap_or(0))
}

/// Events after `seq`, optionally for one integration, oldest first.
pub async fn after(db: &DatabaseConnection, integration: Option<i64>, seq: i64, limit: u64) -> Result<Vec<event::Model>, sea_orm::DbErr> {
    between(db, integration, seq, i64::MAX, limit).await
}

/// Events in `(seq, upto]`, optionally for one integration, oldest first.
pub async fn between(
    db: &DatabaseConnection,
    integration: Option<i64>,
    seq: i64,
    upto: i64,
    limit: u64,
) -> Result<Vec<event::Model>, sea_orm::DbErr> {
    let mut q = event::Entity::find().filter(event::Column::Seq.gt(seq)).filter(event::Column::Seq.lte(upto));
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
        // Replay what the poller has already passed; everything after it comes live.
        let upto = hub.cursor();
        let mut last = from;
        loop {
            let backlog = match between(hub.db(), integration, last, upto, 500).await {
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
        last = last.max(upto);
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if e.seq <= last { continue; }
                    if integration.is_some() && e.integration_id != integration { last = e.seq; continue; }
                    last = e.seq;
                    if keep(&e) { yield e; }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the broadcast: catch up from the table, up to the cursor.
                    let upto = hub.cursor();
                    while let Ok(rows) = between(hub.db(), integration, last, upto, 500).await {
                        let n = rows.len();
                        for r in rows { last = r.seq; if keep(&r) { yield Arc::new(r); } }
                        if n < 500 { break; }
                    }
                    last = last.max(upto);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}
