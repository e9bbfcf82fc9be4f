//! One event poller per gateway process, fanning out to every subscriber.
//!
//! The agent may be another process (or machine): the `events` table is the only channel.
//! The reader reads `seq > last` as soon as it is told events were written (an append in this
//! process, or a PostgreSQL `NOTIFY` from another one; see `domain::events`), and at the latest
//! every `event_poll_interval` (100 ms by default), and broadcasts each row; subscribers first replay what they missed from the table, then follow
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

/// An event as subscribers receive it: one allocation shared by all of them.
pub type Event = Arc<Broadcast>;

/// An event row and what subscribers derive from it, derived once for all of them.
pub struct Broadcast {
    row: event::Model,
    payload: std::sync::OnceLock<Arc<async_graphql::Value>>,
}

impl Broadcast {
    pub fn new(row: event::Model) -> Event {
        Arc::new(Self { row, payload: std::sync::OnceLock::new() })
    }

    /// The payload as a GraphQL value, parsed by the first subscriber that asks and shared
    /// with the rest (an unparsable payload is `null`).
    pub fn payload(&self) -> &Arc<async_graphql::Value> {
        self.payload.get_or_init(|| {
            let json: serde_json::Value = serde_json::from_str(&self.row.payload).unwrap_or_default();
            Arc::new(crate::schema::types::JsonValue(json).to_graphql())
        })
    }
}

impl std::ops::Deref for Broadcast {
    type Target = event::Model;

    fn deref(&self) -> &event::Model {
        &self.row
    }
}

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
        let remote = Arc::new(tokio::sync::Notify::new());
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            tokio::spawn(listen(db.clone(), remote.clone(), shutdown.clone()));
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first missing sequence number and when it was first noticed.
            let mut gap: Option<(i64, Instant)> = None;
            // After a wake-up, look again after these pauses until something arrives: an
            // append in this process wakes us before its transaction commits.
            let mut retries: &[u64] = &[];
            let writes = || domain::events::WRITES.load(Ordering::SeqCst);
            let mut seen_writes = writes();
            loop {
                // Registered before the count is read, so no wake-up falls between the two.
                let local = domain::events::WRITTEN.notified();
                tokio::pin!(local);
                local.as_mut().enable();
                let woken = writes() != seen_writes
                    || tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tick.tick() => false,
                        _ = &mut local => true,
                        _ = remote.notified() => true,
                        _ = tokio::time::sleep(Duration::from_millis(retries.first().copied().unwrap_or(0))), if !retries.is_empty() => {
                            retries = &retries[1..];
                            false
                        }
                    };
                if woken {
                    seen_writes = writes();
                    retries = &[2, 4, 8, 16, 32];
                }
                match after(&db, None, last, 1000).await {
                    Ok(rows) => {
                        if !rows.is_empty() {
                            retries = &[];
                        }
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
                            let _ = tx.send(Broadcast::new(r));
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

/// Wakes the reader on every `NOTIFY offerbridge_events` (PostgreSQL): appends by agents in
/// other processes reach subscribers when they commit, not a poll later. The listener
/// reconnects by itself; while it cannot, polling still delivers every event.
async fn listen(db: DatabaseConnection, wake: Arc<tokio::sync::Notify>, shutdown: tokio_util::sync::CancellationToken) {
    loop {
        let listener = async {
            let mut l = sea_orm::sqlx::postgres::PgListener::connect_with(db.get_postgres_connection_pool()).await?;
            l.listen(domain::events::CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(l)
        };
        let mut l = tokio::select! {
            _ = shutdown.cancelled() => return,
            l = listener => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for events; polling until it can");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    }
                }
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                n = l.recv() => match n {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "event LISTEN connection lost; reconnecting");
                        break;
                    }
                }
            }
        }
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
    keep: impl Fn(&Broadcast) -> bool + Send + Sync + 'static,
) -> impl futures::Stream<Item = Event> {
    async_stream::stream! {
        let _open = domain::metrics::Held::new(domain::metrics::SUBSCRIBERS);
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
                let r = Broadcast::new(r);
                if keep(&r) { yield r; }
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
                        for r in rows { last = r.seq; let r = Broadcast::new(r); if keep(&r) { yield r; } }
                        if n < 500 { break; }
                    }
                    last = last.max(upto);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    }
}
