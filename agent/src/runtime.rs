//! The agent's loop: claims due work (scheduled syncs, "sync now", previews, test
//! connections) through the database, runs it under a lease with a fencing token, and
//! records every decision as runs, logs and events.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use domain::{
    Config,
    crypto::{Cipher, Credentials},
    db::{now, write_tx},
    entity::{
        agent_heartbeat, campaign, exchange_rate, integration, log_entry, preview_offer, preview_request, publisher, skipped_offer,
        sync_request, sync_run,
    },
    events::{self, RunProgress, kind},
    model::{self as m, LogLevel, RunStatus, section},
    money,
};
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
    sea_query::{Expr, ExprTrait},
    sea_query::{LockBehavior, LockType},
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{
    connectors::{
        self, Connector, FetchError,
        scaffold::{Pager, Scaffold},
    },
    offer::CanonicalOffer,
    pipeline::{self, Rates, Rules, Verdict},
    stages::{
        evaluate::{self, Tally},
        fetch::{Fetched, Fetcher, Probe},
        log_row, write,
    },
};

/// The agent: one per process.
/// A request lost with dead agents at least this many times, the first of them more than
/// [`GIVE_UP_AFTER`] ago, fails instead of being queued again: a feed that kills every agent
/// that reads it must not crash-loop forever, while agents killed by deploys, the OOM killer
/// or a lost machine never cost an admin a request.
const MAX_LOST_ATTEMPTS: u64 = 5;
/// How often an agent deletes logs, events and skipped-offer rows past the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(1);

#[derive(Clone)]
pub struct Agent {
    pub(crate) db: DatabaseConnection,
    pub(crate) cfg: Arc<Config>,
    cipher: Cipher,
    scaffold: Scaffold,
    specs: Arc<Vec<Arc<dyn Connector>>>,
    id: String,
    busy: Arc<tokio::sync::Semaphore>,
}

/// Counters of a run, stored as JSON on the run.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    pub fetched: i64,
    pub not_selected: i64,
    pub filtered: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub paused: i64,
    pub reactivated: i64,
    pub deleted: i64,
    pub invalid: i64,
    pub errors: i64,
    pub locked_kept: i64,
    /// Offers the feed sent more than once (the first is used).
    pub duplicates: i64,
}

/// What a finished run reports (for the CLI and tests).
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub counters: Counters,
    pub filter_counts: BTreeMap<String, i64>,
    pub error: Option<String>,
    /// The code of the error (failed), or of the warning or stop (`NOTHING_IMPORTED`,
    /// `SHUTDOWN`).
    pub error_code: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("lease lost: another agent owns integration {0} now")]
    LeaseLost(i64),
}

pub struct Lease {
    integration_id: i64,
    token: i64,
    lost: Arc<AtomicBool>,
    stop: CancellationToken,
}

impl Agent {
    pub fn new(db: DatabaseConnection, cfg: Arc<Config>, cipher: Cipher) -> anyhow::Result<Self> {
        // Every agent on this database shares each advertiser account's request budget.
        let scaffold = Scaffold::new(&cfg.agent)?.with_budget(Arc::new(crate::budget::DbBudget::new(db.clone())));
        let specs = Arc::new(connectors::spec::load(cfg.agent.connectors_dir.as_deref())?);
        let id = cfg.agent_id();
        let busy = Arc::new(tokio::sync::Semaphore::new(cfg.agent.concurrency.max(1)));
        Ok(Self { db, cfg, cipher, scaffold, specs, id, busy })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown`: polls for due work every `poll_interval`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(agent.id = %self.id, "agent started");
        let started = now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut last_prune: Option<std::time::Instant> = None;
        // Recovery looks for expired leases a few times per lease TTL, not on every poll.
        let recover_every = self.cfg.agent.lease_ttl / 4;
        let mut last_recovery: Option<std::time::Instant> = None;
        let mut requeued = false;
        loop {
            // Until it succeeds (the database may be down as the agent starts): once this id's
            // heartbeat is back, nothing else would ever take that work back.
            if !requeued {
                match self.requeue_own_claims().await {
                    Ok(()) => requeued = true,
                    Err(e) => tracing::warn!(error = %e, "queuing again what this agent's previous process claimed failed; retrying"),
                }
            }
            if let Err(e) = self.heartbeat(started).await {
                tracing::warn!(error = %e, "agent heartbeat failed");
            }
            if last_recovery.is_none_or(|t| t.elapsed() >= recover_every) {
                last_recovery = Some(std::time::Instant::now());
                if let Err(e) = self.recover_lost_work().await {
                    tracing::warn!(error = %e, "recovering work of stopped agents failed; retrying");
                }
            }
            if let Err(e) = self.tick(&mut tasks, &shutdown).await {
                tracing::warn!(error = %e, "agent tick failed; retrying");
            }
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(std::time::Instant::now());
                if let Err(e) = self.prune().await {
                    tracing::warn!(error = %e, "log retention failed");
                }
            }
            while tasks.try_join_next().is_some() {}
            // A run that ends frees a slot: look for due work at once, not a poll later (but
            // never more often than every tenth of a poll, should runs end as soon as they start).
            let ticked = tokio::time::Instant::now();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.cfg.agent.poll_interval) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                    tokio::time::sleep_until(ticked + self.cfg.agent.poll_interval / 10).await;
                }
            }
        }
        // Runs see the cancellation, stop after their current page and release their leases.
        while tasks.join_next().await.is_some() {}
        tracing::info!(agent.id = %self.id, "agent stopped");
        Ok(())
    }

    async fn heartbeat(&self, started: chrono::DateTime<Utc>) -> Result<(), DbErr> {
        let t = now();
        let existing = agent_heartbeat::Entity::find_by_id(self.id.clone()).one(&self.db).await?;
        match existing {
            Some(h) => {
                // A new process under the same id (a restarted container keeps its hostname
                // and pid 1) starts a new life: `agents` shows when.
                let restarted = h.started_at != started;
                let mut am: agent_heartbeat::ActiveModel = h.into();
                am.last_seen_at = Set(t);
                if restarted {
                    am.started_at = Set(started);
                }
                am.update(&self.db).await?;
            }
            None => {
                agent_heartbeat::ActiveModel {
                    agent_id: Set(self.id.clone()),
                    hostname: Set(std::env::var("HOSTNAME").unwrap_or_default()),
                    started_at: Set(started),
                    last_seen_at: Set(t),
                }
                .insert(&self.db)
                .await?;
            }
        }
        Ok(())
    }

    async fn prune(&self) -> Result<(), DbErr> {
        let cutoff = now() - chrono::Duration::from_std(self.cfg.agent.log_retention).unwrap_or(chrono::Duration::days(30));
        log_entry::Entity::delete_many().filter(log_entry::Column::CreatedAt.lt(cutoff)).exec(&self.db).await?;
        domain::entity::event::Entity::delete_many().filter(domain::entity::event::Column::CreatedAt.lt(cutoff)).exec(&self.db).await?;
        // A skipped offer still skipped is logged again after half the retention, so an older
        // row belongs to an offer that left the feed (or is no longer filtered).
        skipped_offer::Entity::delete_many().filter(skipped_offer::Column::LoggedAt.lt(cutoff)).exec(&self.db).await?;
        Ok(())
    }

    /// One pass over due work.
    pub async fn tick(&self, tasks: &mut tokio::task::JoinSet<()>, shutdown: &CancellationToken) -> Result<(), DbErr> {
        // Previews and test connections do not need the integration's lease. A free slot is
        // taken before anything is claimed, so the tick (and with it the heartbeat) never
        // waits for a run to end.
        for p in preview_request::Entity::find().filter(preview_request::Column::Status.eq("pending")).limit(16).all(&self.db).await? {
            let Ok(permit) = self.busy.clone().try_acquire_owned() else { break };
            if !self.claim_row_preview(p.id).await? {
                continue;
            }
            let me = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                if let Err(e) = me.run_preview(p.id).await {
                    tracing::error!(error = %e, preview = p.id, "preview failed");
                }
            });
        }
        for r in sync_request::Entity::find().filter(sync_request::Column::Status.eq("pending")).limit(16).all(&self.db).await? {
            let kind = m::RequestKind::parse(&r.kind).unwrap_or(m::RequestKind::Sync);
            if kind == m::RequestKind::TestConnection {
                if !self.claim_request(r.id).await? {
                    continue;
                }
                let me = self.clone();
                tasks.spawn(async move {
                    if let Err(e) = me.test_connection(r.id, r.integration_id).await {
                        tracing::error!(error = %e, "test connection failed");
                    }
                });
                continue;
            }
            let Ok(permit) = self.busy.clone().try_acquire_owned() else { continue };
            let Some(lease) = self.claim_lease(r.integration_id).await? else { continue };
            if !self.claim_request(r.id).await? {
                self.release(&lease).await?;
                continue;
            }
            let trigger = if kind == m::RequestKind::FirstSync { m::RunTrigger::Finalize } else { m::RunTrigger::Manual };
            self.spawn_run(tasks, permit, lease, trigger, kind == m::RequestKind::DryRun, Some(r.id), shutdown);
        }
        // Held runs confirmed by an admin.
        for r in sync_run::Entity::find()
            .filter(sync_run::Column::Status.eq(RunStatus::Held.as_str()))
            .filter(sync_run::Column::Phase.eq("confirmed"))
            .all(&self.db)
            .await?
        {
            if let Some(lease) = self.claim_lease(r.integration_id).await? {
                let res = self.apply_held(&r, &lease).await;
                self.release(&lease).await?;
                res.map_err(|e| DbErr::Custom(e.to_string()))?;
            }
        }
        let due = integration::Entity::find()
            .filter(integration::Column::Lifecycle.eq(m::Lifecycle::Active.as_str()))
            .filter(integration::Column::DisabledReason.is_null())
            .filter(integration::Column::NextRunAt.lte(now()))
            // Integrations running elsewhere stay due until their run ends: skip them, or the
            // oldest (running) ones would fill the batch and starve the rest.
            .filter(integration::Column::LeaseOwner.is_null().or(integration::Column::LeaseExpiresAt.lt(now())))
            .order_by_asc(integration::Column::NextRunAt)
            .limit(16)
            .all(&self.db)
            .await?;
        for i in due {
            let Ok(permit) = self.busy.clone().try_acquire_owned() else { break };
            if let Some(lease) = self.claim_lease(i.id).await? {
                self.spawn_run(tasks, permit, lease, m::RunTrigger::Schedule, false, None, shutdown);
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn_run(
        &self,
        tasks: &mut tokio::task::JoinSet<()>,
        permit: tokio::sync::OwnedSemaphorePermit,
        lease: Lease,
        trigger: m::RunTrigger,
        dry_run: bool,
        request: Option<i64>,
        shutdown: &CancellationToken,
    ) {
        let me = self.clone();
        let stop = shutdown.child_token();
        let lease = Lease { stop: stop.clone(), ..lease };
        tasks.spawn(async move {
            let _permit = permit;
            match me.sync(&lease, trigger, dry_run, request).await {
                // A failed run is an ERROR with its code and message; partial ones WARN.
                Ok(s) if s.status == RunStatus::Failed => tracing::error!(
                    integration.id = lease.integration_id,
                    run = s.run_id,
                    code = s.error_code.as_deref().unwrap_or("UNKNOWN"),
                    "run failed: {}",
                    s.error.as_deref().unwrap_or("no message")
                ),
                // Partial, warning, stopped, or held for an admin to confirm: WARN with the code.
                Ok(s)
                    if matches!(s.status, RunStatus::PartiallySucceeded | RunStatus::Warning | RunStatus::Cancelled | RunStatus::Held) =>
                {
                    tracing::warn!(
                        integration.id = lease.integration_id,
                        run = s.run_id,
                        status = %s.status,
                        code = s.error_code.as_deref().unwrap_or("-"),
                        "run finished: {}",
                        s.status
                    )
                }
                Ok(s) => {
                    tracing::info!(integration.id = lease.integration_id, run = s.run_id, status = %s.status, "run finished: {}", s.status)
                }
                Err(e) => tracing::error!(integration.id = lease.integration_id, error = %e, "run aborted"),
            }
            if let Err(e) = me.release(&lease).await {
                tracing::warn!(error = %e, "lease release failed; it expires by itself");
            }
        });
    }

    async fn claim_row_preview(&self, id: i64) -> Result<bool, DbErr> {
        let r = preview_request::Entity::update_many()
            .col_expr(preview_request::Column::Status, Expr::value("running"))
            .col_expr(preview_request::Column::ClaimedBy, Expr::value(self.id.clone()))
            .col_expr(preview_request::Column::StartedAt, Expr::value(now()))
            .filter(preview_request::Column::Id.eq(id))
            .filter(preview_request::Column::Status.eq("pending"))
            .exec(&self.db)
            .await?;
        if r.rows_affected == 1 {
            // A preview queued again after its agent died may hold that agent's first pages.
            preview_offer::Entity::delete_many().filter(preview_offer::Column::PreviewId.eq(id)).exec(&self.db).await?;
        }
        Ok(r.rows_affected == 1)
    }

    async fn claim_request(&self, id: i64) -> Result<bool, DbErr> {
        let r = sync_request::Entity::update_many()
            .col_expr(sync_request::Column::Status, Expr::value("running"))
            .col_expr(sync_request::Column::ClaimedBy, Expr::value(self.id.clone()))
            .col_expr(sync_request::Column::ClaimedAt, Expr::value(now()))
            .filter(sync_request::Column::Id.eq(id))
            .filter(sync_request::Column::Status.eq("pending"))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// Runs one sync of `integration_id` in the foreground (the `offerbridge sync` command):
    /// claims the lease like any agent would, runs, releases. Fails when another agent holds
    /// the lease, so a manual run never overlaps a scheduled one.
    pub async fn run_once(&self, integration_id: i64, dry_run: bool, stop: CancellationToken) -> anyhow::Result<RunSummary> {
        let i = integration::Entity::find_by_id(integration_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("integration {integration_id} does not exist"))?;
        if !dry_run && i.lifecycle != m::Lifecycle::Active.as_str() {
            anyhow::bail!(
                "integration {integration_id} is {}: finalise and activate it first, or pass --dry-run to see what a sync would do",
                i.lifecycle
            );
        }
        let Some(lease) = self.claim_lease(integration_id).await? else {
            anyhow::bail!(
                "integration {integration_id} is being synced by agent {} right now; try again when that run ends",
                i.lease_owner.as_deref().unwrap_or("?")
            );
        };
        let lease = Lease { stop, ..lease };
        let res = self.sync(&lease, m::RunTrigger::Cli, dry_run, None).await;
        self.release(&lease).await?;
        Ok(res?)
    }

    /// Claims the integration's lease atomically and bumps the fencing token. On PostgreSQL
    /// the row is read `FOR UPDATE SKIP LOCKED` inside the claiming transaction, so an agent
    /// never waits on a row another agent is claiming; on SQLite the transaction is
    /// `BEGIN IMMEDIATE` (sea-query leaves the lock clause out there). The conditional UPDATE
    /// is the final word either way. Returns `None` when another agent holds a live lease.
    pub async fn claim_lease(&self, integration_id: i64) -> Result<Option<Lease>, DbErr> {
        let t = now();
        let until = t + chrono::Duration::from_std(self.cfg.agent.lease_ttl).unwrap_or(chrono::Duration::seconds(60));
        let free = integration::Column::LeaseOwner.is_null().or(integration::Column::LeaseExpiresAt.lt(t));
        let tx = write_tx(&self.db).await?;
        let candidate = integration::Entity::find_by_id(integration_id)
            .filter(free.clone())
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&tx)
            .await?;
        let Some(candidate) = candidate else {
            tx.rollback().await?;
            return Ok(None);
        };
        let r = integration::Entity::update_many()
            .col_expr(integration::Column::LeaseOwner, Expr::value(self.id.clone()))
            .col_expr(integration::Column::LeaseExpiresAt, Expr::value(until))
            .col_expr(integration::Column::FencingToken, Expr::value(candidate.fencing_token + 1))
            .filter(integration::Column::Id.eq(integration_id))
            .filter(integration::Column::FencingToken.eq(candidate.fencing_token))
            .filter(free)
            .exec(&tx)
            .await?;
        if r.rows_affected != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(Lease {
            integration_id,
            token: candidate.fencing_token + 1,
            lost: Arc::new(AtomicBool::new(false)),
            stop: CancellationToken::new(),
        }))
    }

    /// Extends the lease if it is still ours (same owner and fencing token).
    pub(crate) async fn renew(&self, db: &impl ConnectionTrait, lease: &Lease) -> Result<(), RunError> {
        let until = now() + chrono::Duration::from_std(self.cfg.agent.lease_ttl).unwrap_or(chrono::Duration::seconds(60));
        let r = integration::Entity::update_many()
            .col_expr(integration::Column::LeaseExpiresAt, Expr::value(until))
            .filter(integration::Column::Id.eq(lease.integration_id))
            .filter(integration::Column::FencingToken.eq(lease.token))
            .filter(integration::Column::LeaseOwner.eq(self.id.clone()))
            .exec(db)
            .await?;
        if r.rows_affected != 1 {
            lease.lost.store(true, Ordering::SeqCst);
            return Err(RunError::LeaseLost(lease.integration_id));
        }
        Ok(())
    }

    async fn release(&self, lease: &Lease) -> Result<(), DbErr> {
        integration::Entity::update_many()
            .col_expr(integration::Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(integration::Column::LeaseExpiresAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .filter(integration::Column::Id.eq(lease.integration_id))
            .filter(integration::Column::FencingToken.eq(lease.token))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn rules_for(&self, i: &integration::Model) -> Result<Rules, DbErr> {
        let rates = exchange_rate::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| ((r.base, r.quote), money::from_db(&r.rate)))
            .collect::<HashMap<_, _>>();
        let selected: Vec<String> = serde_json::from_str(&i.selected_offer_ids).unwrap_or_default();
        let creds = self.credentials(i);
        Ok(Rules {
            connector: i.connector.clone(),
            filters: section(&i.filters),
            payout_rules: section(&i.payout_rules),
            settings: section(&i.settings),
            cap_settings: section(&i.cap_settings),
            default_category: i.default_category.clone(),
            imported_status: m::CampaignStatus::parse(&i.imported_status).unwrap_or(m::CampaignStatus::Active),
            imported_visibility: m::Visibility::parse(&i.imported_visibility).unwrap_or(m::Visibility::Permission),
            tracking_append: i.tracking_url_append.clone(),
            impression_append: i.impression_url_append.clone(),
            selected: selected.into_iter().collect(),
            rates: Rates(rates),
            // Completed per run by `account_currency` (the platform's account context).
            default_currency: creds.get("currency").and_then(|c| domain::validate::currency(c)),
            tiers: publisher::Entity::find().all(&self.db).await?.into_iter().map(|p| (p.id, p.tier_id)).collect(),
        })
    }

    /// The currency of amounts sent without one: the account's own (read once per run from
    /// the platform and cached, HasOffers' network currency), else the integration's
    /// `currency` field, else the platform's fixed default. `None` = offers without a
    /// currency are skipped (NO_CURRENCY). Refused credentials fail; any other failure of the
    /// account call falls back, with a warning in the run's log.
    async fn account_currency(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        settings: &m::Settings,
        rules: &Rules,
        log_to: Option<(i64, i64)>,
    ) -> Result<Option<String>, FetchError> {
        let fallback = rules.default_currency.clone().or_else(|| conn.fallback_currency().map(str::to_string));
        match self.scaffold.fetch_context(conn, creds, settings.rate_limit_per_second).await {
            Ok(ctx) => Ok(ctx.currency.or(fallback)),
            Err(f) if matches!(f.error, FetchError::Unauthorized(_) | FetchError::Config(_)) => Err(f.error),
            Err(f) => {
                if let Some((integration_id, run_id)) = log_to {
                    let msg = format!(
                        "cannot read the account's currency ({}); offers without a currency of their own {}",
                        f.error,
                        match &fallback {
                            Some(c) => format!("are taken as {c}, the integration's currency field"),
                            None => "are skipped: set the integration's currency field".into(),
                        }
                    );
                    events::log(&self.db, Some(integration_id), Some(run_id), LogLevel::Warn, "ACCOUNT_CONTEXT_FAILED", None, &msg, None)
                        .await
                        .map_err(|e| FetchError::Config(e.to_string()))?;
                }
                Ok(fallback)
            }
        }
    }

    fn credentials(&self, i: &integration::Model) -> Credentials {
        i.credentials_sealed.as_deref().and_then(|s| self.cipher.open(s).ok()).unwrap_or_default()
    }

    /// Fails (instead of reading "no credentials") when the stored credentials cannot be
    /// opened with this agent's key.
    fn check_credentials(&self, i: &integration::Model) -> Result<(), FetchError> {
        match i.credentials_sealed.as_deref().map(|s| self.cipher.open(s)) {
            Some(Err(_)) => Err(FetchError::Config(format!(
                "the stored credentials cannot be opened with this agent's secret key (fingerprint {}): the gateway and every \
                 agent must share one key; save the credentials again if they were sealed with a lost key",
                self.cipher.fingerprint()
            ))),
            _ => Ok(()),
        }
    }

    fn connector(&self, id: &str) -> Result<Arc<dyn Connector>, FetchError> {
        connectors::by_id(id, &self.specs)
    }

    /// Runs one sync (or dry run) of an integration whose lease we hold.
    pub async fn sync(&self, lease: &Lease, trigger: m::RunTrigger, dry_run: bool, request: Option<i64>) -> Result<RunSummary, RunError> {
        let db = &self.db;
        let i = integration::Entity::find_by_id(lease.integration_id)
            .one(db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("integration".into()))?;
        self.abandon_orphaned_runs(i.id, lease).await?;
        let run = sync_run::ActiveModel {
            integration_id: Set(i.id),
            trigger: Set(trigger.as_str().into()),
            status: Set(RunStatus::Running.as_str().into()),
            phase: Set(m::RunPhase::Fetching.as_str().into()),
            dry_run: Set(dry_run),
            pages_done: Set(0),
            counters: Set("{}".into()),
            filter_counts: Set("{}".into()),
            queued_at: Set(now()),
            started_at: Set(Some(now())),
            fencing_token: Set(lease.token),
            agent_id: Set(Some(self.id.clone())),
            request_id: Set(request),
            ..Default::default()
        }
        .insert(db)
        .await?;
        if let Some(r) = request {
            sync_request::Entity::update_many()
                .col_expr(sync_request::Column::RunId, Expr::value(run.id))
                .filter(sync_request::Column::Id.eq(r))
                .exec(db)
                .await?;
        }
        let mut progress = RunProgress { run_id: run.id, status: "running".into(), phase: "fetching".into(), ..Default::default() };
        events::append(db, kind::RUN_STARTED, Some(i.id), Some(run.id), None, &progress).await?;
        // Heartbeat: keeps the lease alive while a page waits on rate limits or retries.
        let _hb = {
            let me = self.clone();
            let l = Lease { integration_id: lease.integration_id, token: lease.token, lost: lease.lost.clone(), stop: lease.stop.clone() };
            let every = self.cfg.agent.lease_ttl / 3;
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    // A busy database is retried at the next beat; only a lost lease ends it.
                    match me.renew(&me.db, &l).await {
                        Err(RunError::LeaseLost(_)) => break,
                        Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying at the next beat"),
                        Ok(()) => {}
                    }
                }
            }))
        };
        let run_clock = std::time::Instant::now();
        let in_progress = domain::metrics::Held::new(domain::metrics::RUNS_IN_PROGRESS);
        let result = self.sync_inner(lease, &i, &run, dry_run, &mut progress).await;
        drop(_hb);
        drop(in_progress);
        // A dry run writes nothing: it is not counted as an import.
        if !dry_run {
            record_run(
                result.as_ref().map(|s| (s.status, &s.counters)).unwrap_or((RunStatus::Failed, &Counters::default())),
                run_clock.elapsed(),
            );
        }
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                // The run could not finish: mark it failed (unless the lease is lost, in which
                // case another agent owns the integration and we must not write).
                if !lease.lost.load(Ordering::SeqCst) {
                    self.finish(
                        &i,
                        run.id,
                        RunStatus::Failed,
                        &Counters::default(),
                        &BTreeMap::new(),
                        Some(("RUN_ABORTED", e.to_string(), None)),
                        dry_run,
                        request,
                    )
                    .await?;
                }
                return Err(e);
            }
        };
        Ok(summary)
    }

    /// Work a dead agent left behind is taken back by any live agent within about one and a
    /// quarter lease TTL (it runs every quarter TTL), with no manual step:
    /// - an integration whose lease expired is claimed; its open runs are closed as AGENT_LOST
    ///   and the requests they served (a first import, a "sync now", a dry run) are queued
    ///   again, as are requests claimed under that lease whose run never started;
    /// - a preview or connection test claimed by an agent whose heartbeat is older than one
    ///   lease TTL is queued again.
    ///
    /// A request lost [`MAX_LOST_ATTEMPTS`] times over more than [`GIVE_UP_AFTER`] (an offer
    /// feed that kills agents) fails instead of looping. Scheduled runs need nothing: `next_run_at` only moves when a run
    /// ends, so the integration is due again as soon as its lease is free.
    async fn recover_lost_work(&self) -> Result<(), DbErr> {
        let t = now();
        let expired = integration::Entity::find()
            .filter(integration::Column::LeaseOwner.is_not_null())
            .filter(integration::Column::LeaseExpiresAt.lt(t))
            .limit(16)
            .all(&self.db)
            .await?;
        for i in expired {
            let Some(lease) = self.claim_lease(i.id).await? else { continue };
            let res = self.abandon_orphaned_runs(i.id, &lease).await;
            let res = match res {
                Ok(()) => self.requeue_unstarted_requests(i.id, i.lease_owner.as_deref()).await,
                Err(e) => Err(e),
            };
            self.release(&lease).await?;
            res?;
        }
        let dead = t - chrono::Duration::from_std(self.cfg.agent.lease_ttl).unwrap_or(chrono::Duration::seconds(60));
        let alive: Vec<String> = agent_heartbeat::Entity::find()
            .filter(agent_heartbeat::Column::LastSeenAt.gte(dead))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|h| h.agent_id)
            .collect();
        let (previews, tests) = self
            .requeue_claimed(
                Condition::all()
                    .add(preview_request::Column::StartedAt.lt(dead))
                    .add(preview_request::Column::ClaimedBy.is_not_in(alive.clone())),
                Condition::all().add(sync_request::Column::ClaimedAt.lt(dead)).add(sync_request::Column::ClaimedBy.is_not_in(alive)),
            )
            .await?;
        if previews + tests > 0 {
            tracing::warn!(previews, tests, "queued again work claimed by an agent that stopped");
        }
        Ok(())
    }

    /// Previews and connection tests still "running" under this agent's id were claimed by a
    /// previous process of the same id (a restarted container keeps its hostname and pid, a
    /// fixed `agent.id` is the same on every start): no process runs them any more, and as the
    /// id looks alive again at once, recovery by heartbeat would never take them back. They are
    /// queued again when the agent starts.
    async fn requeue_own_claims(&self) -> Result<(), DbErr> {
        let (previews, tests) = self
            .requeue_claimed(
                Condition::all().add(preview_request::Column::ClaimedBy.eq(self.id.clone())),
                Condition::all().add(sync_request::Column::ClaimedBy.eq(self.id.clone())),
            )
            .await?;
        if previews + tests > 0 {
            tracing::warn!(
                previews,
                tests,
                agent.id = %self.id,
                "queued again work a previous process of this agent claimed"
            );
        }
        Ok(())
    }

    /// Puts RUNNING previews and connection tests matching `previews` / `tests` back in the
    /// queue, unclaimed; returns how many of each.
    async fn requeue_claimed(&self, previews: Condition, tests: Condition) -> Result<(u64, u64), DbErr> {
        let p = preview_request::Entity::update_many()
            .col_expr(preview_request::Column::Status, Expr::value("pending"))
            .col_expr(preview_request::Column::ClaimedBy, Expr::value(Option::<String>::None))
            .col_expr(preview_request::Column::StartedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .filter(preview_request::Column::Status.eq("running"))
            .filter(previews)
            .exec(&self.db)
            .await?;
        let t = sync_request::Entity::update_many()
            .col_expr(sync_request::Column::Status, Expr::value("pending"))
            .col_expr(sync_request::Column::ClaimedBy, Expr::value(Option::<String>::None))
            .col_expr(sync_request::Column::ClaimedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
            .filter(sync_request::Column::Kind.eq(m::RequestKind::TestConnection.as_str()))
            .filter(sync_request::Column::Status.eq("running"))
            .filter(tests)
            .exec(&self.db)
            .await?;
        Ok((p.rows_affected, t.rows_affected))
    }

    /// Requests of an integration whose lease we now hold that are still "running" with no
    /// open run: the agent that claimed them died between the claim and the run's start.
    async fn requeue_unstarted_requests(&self, integration_id: i64, lost_agent: Option<&str>) -> Result<(), DbErr> {
        let stuck = sync_request::Entity::find()
            .filter(sync_request::Column::IntegrationId.eq(integration_id))
            .filter(sync_request::Column::Status.eq("running"))
            .filter(sync_request::Column::Kind.ne(m::RequestKind::TestConnection.as_str()))
            .all(&self.db)
            .await?;
        for req in stuck {
            let open = sync_run::Entity::find()
                .filter(sync_run::Column::RequestId.eq(req.id))
                .filter(sync_run::Column::Status.is_in([RunStatus::Running.as_str(), RunStatus::Queued.as_str()]))
                .count(&self.db)
                .await?;
            if open == 0 {
                self.requeue_request(integration_id, req.id, None, lost_agent).await?;
            }
        }
        Ok(())
    }

    /// Puts a request a dead agent was serving back in the queue (or fails it, see
    /// [`MAX_LOST_ATTEMPTS`]), with a log line saying which.
    async fn requeue_request(
        &self,
        integration_id: i64,
        request_id: i64,
        run_id: Option<i64>,
        lost_agent: Option<&str>,
    ) -> Result<(), DbErr> {
        let lost_runs = sync_run::Entity::find()
            .filter(sync_run::Column::RequestId.eq(request_id))
            .filter(sync_run::Column::ErrorCode.eq("AGENT_LOST"))
            .all(&self.db)
            .await?;
        let lost = lost_runs.len() as u64;
        let first_lost = lost_runs.iter().map(|r| r.queued_at).min();
        let give_up = lost >= MAX_LOST_ATTEMPTS && first_lost.is_some_and(|t| now() - t > GIVE_UP_AFTER);
        let upd = sync_request::Entity::update_many()
            .col_expr(sync_request::Column::ClaimedBy, Expr::value(Option::<String>::None))
            .col_expr(sync_request::Column::ClaimedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None));
        let upd = if give_up {
            upd.col_expr(sync_request::Column::Status, Expr::value("failed")).col_expr(sync_request::Column::FinishedAt, Expr::value(now()))
        } else {
            upd.col_expr(sync_request::Column::Status, Expr::value("pending"))
        };
        upd.filter(sync_request::Column::Id.eq(request_id)).filter(sync_request::Column::Status.eq("running")).exec(&self.db).await?;
        let agent = lost_agent.unwrap_or("?");
        let (level, code, msg) = if give_up {
            (
                LogLevel::Error,
                "REQUEST_ABANDONED",
                format!(
                    "request {request_id} was lost with {lost} agents that stopped while serving it over more than an hour; it is not queued again: look at the agents' logs (memory, crashes), then sync again"
                ),
            )
        } else {
            (
                LogLevel::Warn,
                "REQUEST_REQUEUED",
                format!(
                    "agent {agent} stopped while serving request {request_id} (lost {lost} time(s)); it is queued again and any live agent will run it"
                ),
            )
        };
        events::log(&self.db, Some(integration_id), run_id, level, code, None, &msg, None).await?;
        Ok(())
    }

    /// Runs left "running" by an agent that died (crash, kill -9, lost machine) belong to an
    /// older fencing token: close them as failed with AGENT_LOST so admins and subscribers see
    /// an end, and fail the requests they served. Nothing was paused by them: vanished offers
    /// are only reconciled after the last page, in the same agent that fetched every page.
    async fn abandon_orphaned_runs(&self, integration_id: i64, lease: &Lease) -> Result<(), DbErr> {
        let orphans = sync_run::Entity::find()
            .filter(sync_run::Column::IntegrationId.eq(integration_id))
            .filter(sync_run::Column::Status.is_in([RunStatus::Running.as_str(), RunStatus::Queued.as_str()]))
            .filter(sync_run::Column::FencingToken.lt(lease.token))
            .all(&self.db)
            .await?;
        for r in orphans {
            let msg = format!(
                "agent {} stopped without finishing this run (crash or kill); its lease expired and run {} was closed; nothing was paused",
                r.agent_id.as_deref().unwrap_or("?"),
                r.id
            );
            sync_run::Entity::update_many()
                .col_expr(sync_run::Column::Status, Expr::value(RunStatus::Failed.as_str()))
                .col_expr(sync_run::Column::Phase, Expr::value(m::RunPhase::Done.as_str()))
                .col_expr(sync_run::Column::ErrorCode, Expr::value("AGENT_LOST"))
                .col_expr(sync_run::Column::ErrorMessage, Expr::value(msg.clone()))
                .col_expr(sync_run::Column::FinishedAt, Expr::value(now()))
                .filter(sync_run::Column::Id.eq(r.id))
                .exec(&self.db)
                .await?;
            events::log(&self.db, Some(integration_id), Some(r.id), LogLevel::Warn, "AGENT_LOST", None, &msg, None).await?;
            if let Some(req) = r.request_id {
                self.requeue_request(integration_id, req, Some(r.id), r.agent_id.as_deref()).await?;
            }
            let p = RunProgress {
                run_id: r.id,
                status: RunStatus::Failed.as_str().into(),
                phase: "done".into(),
                error_code: Some("AGENT_LOST".into()),
                ..Default::default()
            };
            events::append(&self.db, kind::RUN_FINISHED, Some(integration_id), Some(r.id), None, &p).await?;
        }
        Ok(())
    }

    /// Ends a run as FAILED because of `error`: one ERROR log line with its code and `msg`;
    /// refused credentials also disable the integration until new ones are saved. No campaign
    /// is touched.
    #[allow(clippy::too_many_arguments)]
    async fn fail_run(
        &self,
        i: &integration::Model,
        run: &sync_run::Model,
        dry_run: bool,
        counters: Counters,
        filter_counts: BTreeMap<String, i64>,
        error: &FetchError,
        msg: String,
        last_response: Option<String>,
    ) -> Result<RunSummary, RunError> {
        let db = &self.db;
        events::log(db, Some(i.id), Some(run.id), LogLevel::Error, error.code(), None, &msg, None).await?;
        if let FetchError::Unauthorized(m) = error {
            integration::Entity::update_many()
                .col_expr(integration::Column::DisabledReason, Expr::value(format!("credentials rejected: {m}")))
                .filter(integration::Column::Id.eq(i.id))
                .exec(db)
                .await?;
            events::log(
                db,
                Some(i.id),
                Some(run.id),
                LogLevel::Error,
                "INTEGRATION_DISABLED",
                None,
                "credentials rejected: the integration is paused until new credentials are saved; campaigns are untouched",
                None,
            )
            .await?;
        }
        self.finish(
            i,
            run.id,
            RunStatus::Failed,
            &counters,
            &filter_counts,
            Some((error.code(), msg.clone(), last_response)),
            dry_run,
            run.request_id,
        )
        .await?;
        Ok(RunSummary {
            run_id: run.id,
            status: RunStatus::Failed,
            counters,
            filter_counts,
            error: Some(msg),
            error_code: Some(error.code().to_string()),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn finish(
        &self,
        i: &integration::Model,
        run_id: i64,
        status: RunStatus,
        counters: &Counters,
        filter_counts: &BTreeMap<String, i64>,
        error: Option<(&str, String, Option<String>)>,
        dry_run: bool,
        request: Option<i64>,
    ) -> Result<(), DbErr> {
        let db = &self.db;
        let t = now();
        let (code, msg, last) = match &error {
            Some((c, m, l)) => (Some(c.to_string()), Some(m.clone()), l.clone()),
            None => (None, None, None),
        };
        let closed = sync_run::Entity::update_many()
            .col_expr(sync_run::Column::Status, Expr::value(status.as_str()))
            .col_expr(sync_run::Column::Phase, Expr::value(m::RunPhase::Done.as_str()))
            .col_expr(sync_run::Column::Counters, Expr::value(serde_json::to_string(counters).unwrap_or_default()))
            .col_expr(sync_run::Column::FilterCounts, Expr::value(serde_json::to_string(filter_counts).unwrap_or_default()))
            .col_expr(sync_run::Column::FinishedAt, Expr::value(t))
            .col_expr(sync_run::Column::ErrorCode, Expr::value(code.clone()))
            .col_expr(sync_run::Column::ErrorMessage, Expr::value(msg.clone()))
            .col_expr(sync_run::Column::LastResponse, Expr::value(last))
            .filter(sync_run::Column::Id.eq(run_id))
            // Only a run still open: one another agent closed (AGENT_LOST) is not ours any more.
            .filter(sync_run::Column::Status.is_in([RunStatus::Running.as_str(), RunStatus::Queued.as_str()]))
            .exec(db)
            .await?;
        if closed.rows_affected == 0 {
            tracing::warn!(run = run_id, "run {run_id} was closed by another agent (its lease was lost); this agent leaves it as it is");
            return Ok(());
        }
        if !dry_run {
            let settings: m::Settings = section(&i.settings);
            let jitter = rand::rng().random_range(0..=std::cmp::max(settings.refresh_minutes as i64 * 6, 1));
            let next = t + chrono::Duration::minutes(settings.refresh_minutes as i64) + chrono::Duration::seconds(jitter);
            let mut upd = integration::Entity::update_many().col_expr(integration::Column::NextRunAt, Expr::value(next));
            upd = match status {
                RunStatus::Succeeded | RunStatus::PartiallySucceeded | RunStatus::Warning | RunStatus::Held => upd
                    .col_expr(integration::Column::LastSuccessAt, Expr::value(t))
                    .col_expr(integration::Column::ConsecutiveFailures, Expr::value(0)),
                _ => upd.col_expr(integration::Column::ConsecutiveFailures, Expr::col(integration::Column::ConsecutiveFailures).add(1)),
            };
            upd.filter(integration::Column::Id.eq(i.id)).exec(db).await?;
        }
        if let Some(r) = request {
            let upd = sync_request::Entity::update_many();
            let upd = match status {
                // Stopped by a shutdown (a deploy): the request waits for the next agent.
                RunStatus::Cancelled => upd
                    .col_expr(sync_request::Column::Status, Expr::value("pending"))
                    .col_expr(sync_request::Column::ClaimedBy, Expr::value(Option::<String>::None))
                    .col_expr(sync_request::Column::ClaimedAt, Expr::value(Option::<chrono::DateTime<Utc>>::None)),
                RunStatus::Failed => upd
                    .col_expr(sync_request::Column::Status, Expr::value("failed"))
                    .col_expr(sync_request::Column::FinishedAt, Expr::value(t)),
                _ => upd
                    .col_expr(sync_request::Column::Status, Expr::value("done"))
                    .col_expr(sync_request::Column::FinishedAt, Expr::value(t)),
            };
            // Only a request this agent still serves (not one queued again after a lost lease).
            upd.filter(sync_request::Column::Id.eq(r))
                .filter(sync_request::Column::Status.eq("running"))
                .filter(sync_request::Column::ClaimedBy.eq(self.id.clone()))
                .exec(db)
                .await?;
        }
        let pages = sync_run::Entity::find_by_id(run_id).one(db).await?.map(|r| (r.pages_done, r.pages_total)).unwrap_or((0, None));
        let p = RunProgress {
            run_id,
            status: status.as_str().into(),
            phase: "done".into(),
            pages_done: pages.0,
            pages_total: pages.1,
            fetched: counters.fetched,
            created: counters.created,
            updated: counters.updated,
            unchanged: counters.unchanged,
            filtered: counters.filtered,
            error_code: code,
        };
        events::append(db, if status == RunStatus::Held { kind::RUN_HELD } else { kind::RUN_FINISHED }, Some(i.id), Some(run_id), None, &p)
            .await?;
        Ok(())
    }

    async fn sync_inner(
        &self,
        lease: &Lease,
        i: &integration::Model,
        run: &sync_run::Model,
        dry_run: bool,
        progress: &mut RunProgress,
    ) -> Result<RunSummary, RunError> {
        let db = &self.db;
        let mut rules = self.rules_for(i).await?;
        let creds = self.credentials(i);
        let counters = Counters::default();
        let filter_counts: BTreeMap<String, i64> = BTreeMap::new();
        let conn = match self.check_credentials(i).and_then(|()| self.connector(&i.connector)) {
            Ok(c) => c,
            Err(e) => return self.fail_run(i, run, dry_run, counters, filter_counts, &e, e.to_string(), None).await,
        };
        let settings: m::Settings = section(&i.settings);
        match self.account_currency(conn.as_ref(), &creds, &settings, &rules, Some((i.id, run.id))).await {
            Ok(c) => rules.default_currency = c,
            Err(e) => {
                let msg = format!("cannot read the advertiser account: {e}");
                return self.fail_run(i, run, dry_run, counters, filter_counts, &e, msg, None).await;
            }
        }
        let updatable: HashSet<&'static str> = settings.updatable_columns.iter().map(|c| c.as_str()).collect();
        // Memory per run is two pages (the one written, the one fetched ahead) plus the set of
        // external ids seen (16 bytes each): existing campaigns are looked up page by page.
        let relog_after = chrono::Duration::from_std(self.cfg.agent.log_retention / 2).unwrap_or(chrono::Duration::days(15));
        let mut skipped_known =
            skipped_offer::Entity::find().filter(skipped_offer::Column::IntegrationId.eq(i.id)).one(db).await?.is_some();
        let mut tally = Tally::default();
        let mut last_event = Instant::now();
        let mut changed_fields: BTreeMap<String, i64> = BTreeMap::new();
        let mut analyzed = false;
        let mut created_in_run: i64 = 0;
        let mut per_page: u64 = 0;
        let page_size = settings.page_size.unwrap_or(conn.info().default_page_size);
        let secrets = Scaffold::secrets(conn.as_ref(), &creds);
        let probe = Probe { db: self.db.clone(), integration_id: i.id, seed: rules.source_seed(&secrets) };
        let mut fetcher =
            Fetcher::start(self.scaffold.clone(), conn.clone(), creds.clone(), settings.rate_limit_per_second, page_size, probe);
        loop {
            let fetched = tokio::select! {
                biased;
                _ = lease.stop.cancelled() => None,
                f = fetcher.next() => f,
            };
            let (cursor, page, report, last) = match fetched {
                Some(Fetched::Page { cursor, page, report, last }) if !lease.stop.is_cancelled() => (cursor, page, report, last),
                Some(Fetched::Failed { cursor, failure: f }) if !lease.stop.is_cancelled() => {
                    drop(fetcher);
                    let last = f.last_response.as_ref().map(|l| serde_json::to_string(l).unwrap_or_default());
                    let msg = format!("page {} failed after {} attempt(s): {}", cursor.page, f.attempts, f.error);
                    return self.fail_run(i, run, dry_run, tally.counters, tally.filter_counts, &f.error, msg, last).await;
                }
                Some(Fetched::Broken(e)) if !lease.stop.is_cancelled() => {
                    drop(fetcher);
                    let msg = e.to_string();
                    return self.fail_run(i, run, dry_run, tally.counters, tally.filter_counts, &e, msg, None).await;
                }
                // Stopped (the channel only ends without a message when the task was aborted).
                _ => {
                    drop(fetcher);
                    self.finish(
                        i,
                        run.id,
                        RunStatus::Cancelled,
                        &tally.counters,
                        &tally.filter_counts,
                        Some(("SHUTDOWN", "the agent stopped before the run finished; nothing was paused".into(), None)),
                        dry_run,
                        run.request_id,
                    )
                    .await?;
                    return Ok(RunSummary {
                        run_id: run.id,
                        status: RunStatus::Cancelled,
                        counters: tally.counters,
                        filter_counts: tally.filter_counts,
                        error: None,
                        error_code: Some("SHUTDOWN".into()),
                    });
                }
            };
            let mut logs: Vec<log_entry::ActiveModel> = report
                .rate_limit_waits
                .iter()
                .map(|w| {
                    log_row(
                        i.id,
                        run.id,
                        LogLevel::Warn,
                        "RATE_LIMIT_WAIT",
                        None,
                        &format!("the advertiser rate-limited page {}: waited {:.1} s", cursor.page, w.as_secs_f64()),
                    )
                })
                .collect();
            let t = now();
            if cursor.page == 1
                && let Some(total) = page.total_records
            {
                tally.seen.expect(total);
            }
            let evaluated = evaluate::evaluate_page(&page, &rules, i.id, run.id, page.now.unwrap_or_else(Utc::now), &mut tally);
            // Platforms that send a record count but no page count (Everflow's `total_count`)
            // still get an honest total.
            // (Divided by the size the platform really sends: some cap it below what we ask.)
            per_page = Ord::max(per_page, page.records as u64);
            let pages_total = page
                .total_pages
                .map(u64::from)
                .or_else(|| page.total_records.map(|r| r.div_ceil(Ord::max(per_page, 1))))
                .map(|p| i32::try_from(p).unwrap_or(i32::MAX));
            drop(page);
            // Write the page: one transaction, fenced by the lease.
            let tx = write_tx(db).await?;
            if !dry_run {
                self.renew(&tx, lease).await?;
            }
            logs.extend(evaluated.logs.iter().cloned());
            if dry_run {
                logs.extend(
                    evaluated.skipped.iter().map(|s| {
                        log_row(i.id, run.id, LogLevel::Info, s.code, Some(&s.external_id), &format!("offer skipped: {}", s.reason))
                    }),
                );
            } else {
                evaluate::record_skipped(&tx, i.id, run.id, &evaluated, relog_after, t, &mut skipped_known, &mut logs).await?;
            }
            let counters = &mut tally.counters;
            let drafts = &evaluated.drafts;
            let created_before = counters.created;
            let plan =
                write::plan_page(&tx, i.id, run.id, drafts, &updatable, t, &secrets, counters, &mut changed_fields, &mut logs).await?;
            let page_created = counters.created - created_before;
            if !dry_run {
                write::write_page(&tx, plan).await?;
            }
            events::log_many(&tx, logs).await?;
            progress.pages_done = cursor.page as i32;
            progress.pages_total = pages_total.map(|t| Ord::max(t, progress.pages_done));
            progress.fetched = counters.fetched;
            progress.created = counters.created;
            progress.updated = counters.updated;
            progress.unchanged = counters.unchanged;
            progress.filtered = counters.filtered;
            sync_run::Entity::update_many()
                .col_expr(sync_run::Column::PagesDone, Expr::value(progress.pages_done))
                .col_expr(sync_run::Column::PagesTotal, Expr::value(progress.pages_total))
                .col_expr(sync_run::Column::Counters, Expr::value(serde_json::to_string(&*counters).unwrap_or_default()))
                .col_expr(sync_run::Column::FilterCounts, Expr::value(serde_json::to_string(&tally.filter_counts).unwrap_or_default()))
                .filter(sync_run::Column::Id.eq(run.id))
                .exec(&tx)
                .await?;
            // Progress events are coalesced: at most 4 per second per run.
            if last_event.elapsed() >= Duration::from_millis(250) || cursor.page == 1 {
                events::append(&tx, kind::RUN_PROGRESS, Some(i.id), Some(run.id), None, progress).await?;
                last_event = Instant::now();
            }
            tx.commit().await?;
            // PostgreSQL plans the per-page lookup from table statistics, and a table that
            // grows by thousands of rows inside one run has none yet (autovacuum analyzes a
            // minute later): without them the planner scans it for every page. Statistics
            // taken once in the run, after its first thousand new campaigns, are enough: they
            // tell the planner the table is indexed and selective, and it keeps using the index
            // as the table grows. Refreshes that add a few campaigns never analyze.
            created_in_run += page_created;
            if !dry_run && !analyzed && created_in_run >= ANALYZE_AFTER && db.get_database_backend() == sea_orm::DbBackend::Postgres {
                analyzed = true;
                if let Err(e) =
                    db.execute_unprepared("ANALYZE campaigns, campaign_countries, campaign_payouts, campaign_publisher_payouts").await
                {
                    tracing::warn!(error = %e, "ANALYZE failed; lookups may be slow until autovacuum runs");
                }
            }
            if last {
                break;
            }
        }
        drop(fetcher);
        self.reconcile(lease, i, run, dry_run, tally, changed_fields).await
    }

    async fn apply_held(&self, r: &sync_run::Model, lease: &Lease) -> Result<(), RunError> {
        let held: serde_json::Value = r.held_changes.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
        let ids: Vec<i64> =
            held.get("pause").and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_i64()).collect()).unwrap_or_default();
        let tx = write_tx(&self.db).await?;
        self.renew(&tx, lease).await?;
        let t = now();
        campaign::Entity::update_many()
            .col_expr(campaign::Column::Status, Expr::value(m::CampaignStatus::Paused.as_str()))
            .col_expr(campaign::Column::PausedBy, Expr::value("sync"))
            .col_expr(campaign::Column::VanishedAt, Expr::value(t))
            .filter(campaign::Column::Id.is_in(ids.clone()))
            .filter(campaign::Column::Status.eq(m::CampaignStatus::Active.as_str()))
            .exec(&tx)
            .await?;
        sync_run::Entity::update_many()
            .col_expr(sync_run::Column::Status, Expr::value(RunStatus::Succeeded.as_str()))
            .col_expr(sync_run::Column::Phase, Expr::value(m::RunPhase::Done.as_str()))
            .filter(sync_run::Column::Id.eq(r.id))
            .exec(&tx)
            .await?;
        events::log(
            &tx,
            Some(r.integration_id),
            Some(r.id),
            LogLevel::Info,
            "RUN_CONFIRMED",
            None,
            &format!("held run confirmed: paused {} campaigns", ids.len()),
            None,
        )
        .await?;
        events::append(&tx, kind::RUN_FINISHED, Some(r.integration_id), Some(r.id), None, &json!({"run_id": r.id, "status": "succeeded"}))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fetches the offers (through the cache) and stores a verdict for each.
    pub async fn run_preview(&self, preview_id: i64) -> Result<(), RunError> {
        let db = &self.db;
        let p = preview_request::Entity::find_by_id(preview_id).one(db).await?.ok_or_else(|| DbErr::RecordNotFound("preview".into()))?;
        let i =
            integration::Entity::find_by_id(p.integration_id).one(db).await?.ok_or_else(|| DbErr::RecordNotFound("integration".into()))?;
        let mut rules = Rules { selected: HashSet::new(), ..self.rules_for(&i).await? };
        let creds = self.credentials(&i);
        let settings: m::Settings = section(&i.settings);
        let outcome: Result<(i32, i32), FetchError> = async {
            self.check_credentials(&i)?;
            let conn = self.connector(&i.connector)?;
            rules.default_currency = self.account_currency(conn.as_ref(), &creds, &settings, &rules, None).await?;
            let mut pager = Pager::new(settings.page_size.unwrap_or(conn.info().default_page_size));
            let (mut total, mut would) = (0, 0);
            loop {
                let (page, report) = self
                    .scaffold
                    .fetch_page(conn.as_ref(), &creds, settings.rate_limit_per_second, pager.cursor(), true)
                    .await
                    .map_err(|f| f.error)?;
                let mut rows = vec![];
                for o in &page.offers {
                    total += 1;
                    rows.push(match o {
                        Ok(offer) => preview_row(preview_id, offer, pipeline::evaluate(offer, &rules, Utc::now())),
                        Err(inv) => preview_offer::ActiveModel {
                            preview_id: Set(preview_id),
                            external_id: Set(inv.external_id.clone().unwrap_or_default()),
                            title: Set(String::new()),
                            verdict: Set("drop".into()),
                            reason_code: Set(Some("OFFER_INVALID".into())),
                            reason: Set(Some(inv.reason.clone())),
                            countries: Set("[]".into()),
                            offer: Set("null".into()),
                            ..Default::default()
                        },
                    });
                }
                would += rows.iter().filter(|r| matches!(&r.verdict, sea_orm::ActiveValue::Set(v) if v == "import")).count() as i32;
                for chunk in rows.chunks(200) {
                    preview_offer::Entity::insert_many(chunk.to_vec()).exec(db).await.map_err(|e| FetchError::Config(e.to_string()))?;
                }
                match pager.advance(&page, report.body_hash)? {
                    Some(_) => continue,
                    None => break,
                }
            }
            Ok((total, would))
        }
        .await;
        let t = now();
        let mut am: preview_request::ActiveModel = p.into();
        match &outcome {
            Ok((total, would)) => {
                am.status = Set("done".into());
                am.offers_total = Set(*total);
                am.would_import = Set(*would);
            }
            Err(e) => {
                am.status = Set("failed".into());
                am.error_code = Set(Some(e.code().into()));
                am.error_message = Set(Some(e.to_string()));
            }
        }
        am.finished_at = Set(Some(t));
        am.update(db).await?;
        if outcome.is_ok() {
            self.credentials_worked(&i).await;
        }
        events::append(
            db,
            kind::PREVIEW_READY,
            Some(i.id),
            None,
            Some(preview_id),
            &json!({"preview_id": preview_id, "ok": outcome.is_ok()}),
        )
        .await?;
        Ok(())
    }

    /// Records that `i`'s credentials worked, unless they changed meanwhile: sealing uses a
    /// fresh nonce, so the sealed text is the same only if no one saved credentials since.
    /// Best effort: the request is closed and its event sent whatever happens here (the admin
    /// can test again).
    async fn credentials_worked(&self, i: &integration::Model) {
        let same = match &i.credentials_sealed {
            Some(s) => integration::Column::CredentialsSealed.eq(s.clone()),
            None => integration::Column::CredentialsSealed.is_null(),
        };
        if let Err(e) = integration::Entity::update_many()
            .col_expr(integration::Column::CredentialsVerifiedAt, Expr::value(now()))
            .filter(integration::Column::Id.eq(i.id))
            .filter(same)
            .exec(&self.db)
            .await
        {
            tracing::warn!(integration.id = i.id, error = %e, "could not record that the credentials worked");
        }
    }

    /// Checks credentials with one small page and stores the answer on the request.
    pub async fn test_connection(&self, request_id: i64, integration_id: i64) -> Result<(), DbErr> {
        let db = &self.db;
        let i =
            integration::Entity::find_by_id(integration_id).one(db).await?.ok_or_else(|| DbErr::RecordNotFound("integration".into()))?;
        let creds = self.credentials(&i);
        let result = match self.check_credentials(&i).and_then(|()| self.connector(&i.connector)) {
            Err(e) => json!({"ok": false, "code": e.code(), "message": e.to_string()}),
            Ok(conn) => {
                let cursor = connectors::Cursor { page: 1, page_size: conn.info().default_page_size };
                match self.scaffold.fetch_page(conn.as_ref(), &creds, None, cursor, true).await {
                    Ok((page, _)) => {
                        let visible = page.total_records.map(|t| t as i64).unwrap_or(page.records as i64);
                        json!({"ok": true, "offersVisible": visible, "code": "OK", "message": format!("connected: {visible} offers visible")})
                    }
                    Err(f) => json!({"ok": false, "code": f.error.code(), "message": f.error.to_string()}),
                }
            }
        };
        if result["ok"] == true {
            self.credentials_worked(&i).await;
        }
        sync_request::Entity::update_many()
            .col_expr(sync_request::Column::Status, Expr::value("done"))
            .col_expr(sync_request::Column::Result, Expr::value(result.to_string()))
            .col_expr(sync_request::Column::FinishedAt, Expr::value(now()))
            .filter(sync_request::Column::Id.eq(request_id))
            .exec(db)
            .await?;
        events::append(db, kind::REQUEST_DONE, Some(integration_id), None, None, &json!({"request_id": request_id, "result": result}))
            .await?;
        Ok(())
    }
}

/// New campaigns in one run after which PostgreSQL statistics are refreshed (once per run).
const ANALYZE_AFTER: i64 = 1_000;

/// A finished run in the metrics: its status, duration and the offers by outcome.
fn record_run((status, c): (RunStatus, &Counters), took: std::time::Duration) {
    use domain::metrics as dm;
    let status = status.as_str();
    metrics::counter!(dm::RUNS, "status" => status).increment(1);
    metrics::histogram!(dm::RUN_SECONDS, "status" => status).record(took.as_secs_f64());
    for (outcome, n) in [
        ("created", c.created),
        ("updated", c.updated),
        ("unchanged", c.unchanged),
        ("filtered", c.filtered),
        ("not_selected", c.not_selected),
        ("invalid", c.invalid),
        ("duplicate", c.duplicates),
        ("paused", c.paused),
        ("reactivated", c.reactivated),
        ("deleted", c.deleted),
    ] {
        if n > 0 {
            metrics::counter!(dm::OFFERS, "outcome" => outcome).increment(n.unsigned_abs());
        }
    }
}

/// Stops the lease heartbeat however the run ends, including when its task is aborted: a
/// heartbeat that outlived its run would keep a dead run's lease alive forever.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn preview_row(preview_id: i64, o: &CanonicalOffer, v: Verdict) -> preview_offer::ActiveModel {
    let base = preview_offer::ActiveModel {
        preview_id: Set(preview_id),
        external_id: Set(o.external_id.clone()),
        title: Set(o.name.clone()),
        preview_url: Set(o.preview_url.clone()),
        countries: Set(serde_json::to_string(&o.countries).unwrap_or_default()),
        offer: Set(serde_json::to_string(&json!({"name": o.name, "revenue": o.revenue, "currency": o.currency, "countries": o.countries}))
            .unwrap_or_default()),
        upstream_status: Set(Some(o.status.as_str().into())),
        ..Default::default()
    };
    match v {
        Verdict::Import(d) => preview_offer::ActiveModel {
            verdict: Set("import".into()),
            revenue: Set(Some(money::to_db(d.revenue))),
            payout: Set(Some(money::to_db(d.payout))),
            currency: Set(Some(d.currency.clone())),
            countries: Set(serde_json::to_string(&d.countries).unwrap_or_default()),
            final_tracking_url: Set(d.tracking_url.clone()),
            status: Set(Some(d.status.as_str().into())),
            ..base
        },
        Verdict::Drop { code, reason } => preview_offer::ActiveModel {
            verdict: Set("drop".into()),
            reason_code: Set(Some(code.into())),
            reason: Set(Some(reason)),
            revenue: Set(Some(money::to_db(o.revenue))),
            currency: Set(o.currency.clone()),
            ..base
        },
    }
}
