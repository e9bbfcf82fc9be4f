//! Stage 1, fetch: walks the feed's pages in a task of its own, one page ahead of the run.
//!
//! While the run evaluates and writes page `n`, this stage is already fetching (rate-limited,
//! cached, retried by the [`Scaffold`]) and parsing page `n + 1`, and no further: it reserves
//! the channel's one slot before it fetches, so at most two pages are in memory whatever the
//! feed's size, and a run that stops (an error, a cancellation) has fetched at most one page
//! it will not use. Dropping the [`Fetcher`] ends the task.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Utc};
use domain::{
    crypto::Credentials,
    entity::{campaign, skipped_offer},
};
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    sea_query::{Alias, Expr, ExprTrait, Query},
};
use tokio::sync::mpsc;

use crate::{
    connectors::{
        Connector, Cursor, FetchError, Page, SplitPage,
        scaffold::{FetchFailure, FetchReport, Pager, RunPage, Scaffold},
    },
    pipeline::{source_hash, source_hash_text},
};

/// How the fetch stage recognises unchanged offers before parsing them: each record of a
/// split page ([`Connector::split_page`]) is hashed, with `seed` (everything else that decides
/// a campaign's values: [`crate::pipeline::Rules::source_seed`]), and compared, by the
/// database, with the `source_hash` its campaign was last written with. Only records that
/// differ are parsed.
pub struct Probe {
    pub db: DatabaseConnection,
    pub integration_id: i64,
    pub seed: u64,
}

impl Probe {
    /// Of the `(external id, source hash)` pairs of a page, those whose record a refresh may
    /// not leave alone: no campaign was written from these bytes, or the campaign is forced to
    /// refresh (an empty fingerprint), paused as vanished or missed, its record's expiry is past
    /// at `now` (the filter decides that again), or it is listed as skipped (its import deletes
    /// that row). The database compares the pairs itself and returns only those: a refresh of
    /// an unchanged feed reads no rows at all.
    async fn changed(&self, pairs: &[(&str, String)], now: DateTime<Utc>) -> Result<HashSet<(String, String)>, DbErr> {
        let skipped = Query::select()
            .column(skipped_offer::Column::ExternalId)
            .from(skipped_offer::Entity)
            .and_where(skipped_offer::Column::IntegrationId.eq(self.integration_id))
            .to_owned();
        // VALUES rows are named column1, column2 by both SQLite and PostgreSQL.
        let (v, key, hash) = (Alias::new("v"), Alias::new("column1"), Alias::new("column2"));
        let mut out = HashSet::new();
        for chunk in pairs.chunks(500) {
            let unchanged = Query::select()
                .expr(Expr::value(1))
                .from(campaign::Entity)
                .and_where(campaign::Column::IntegrationId.eq(self.integration_id))
                .and_where(Expr::col((campaign::Entity, campaign::Column::ExternalId)).equals((v.clone(), key.clone())))
                .and_where(Expr::col((campaign::Entity, campaign::Column::SourceHash)).equals((v.clone(), hash.clone())))
                .and_where(campaign::Column::Fingerprint.ne(""))
                .and_where(campaign::Column::ConsecutiveMisses.eq(0))
                .cond_where(Condition::any().add(campaign::Column::PausedBy.is_null()).add(campaign::Column::PausedBy.ne("sync")))
                .cond_where(
                    Condition::any().add(campaign::Column::SourceExpiresAt.is_null()).add(campaign::Column::SourceExpiresAt.gt(now)),
                )
                .and_where(campaign::Column::ExternalId.not_in_subquery(skipped.clone()))
                .to_owned();
            let q = Query::select()
                .columns([key.clone(), hash.clone()])
                .from_values(chunk.iter().map(|(k, h)| (k.to_string(), h.clone())), v.clone())
                .and_where(Expr::exists(unchanged).not())
                .to_owned();
            for row in self.db.query_all(&q).await? {
                out.insert((row.try_get_by_index::<String>(0)?, row.try_get_by_index::<String>(1)?));
            }
        }
        Ok(out)
    }

    /// Parses the records of `split` whose campaign was written from other bytes; the rest
    /// are `unchanged`. A lookup that fails parses every record (the run then decides as it
    /// always did), and so does a page where an unchanged offer's id turns up again among
    /// the parsed ones (its place in the page decides which copy wins).
    async fn settle(&self, conn: &dyn Connector, split: SplitPage) -> Page {
        // The run evaluates this page at the same instant (`Page::now`): an offer that expires
        // in between is never taken for unchanged.
        let now = Utc::now();
        let body = &split.body[..];
        let hashes: Vec<Option<u128>> =
            split.records.iter().map(|r| r.key.as_deref().map(|k| source_hash(self.seed, k, &body[r.span.clone()]))).collect();
        let hashed: Vec<Option<(&str, String)>> =
            split.records.iter().zip(&hashes).map(|(r, h)| Some((r.key.as_deref()?, source_hash_text((*h)?)))).collect();
        let pairs: Vec<(&str, String)> = hashed.iter().flatten().cloned().collect();
        let changed = match self.changed(&pairs, now).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(error = %e, "comparing source hashes failed: parsing the whole page");
                None
            }
        };
        let unchanged: HashSet<usize> = match &changed {
            None => HashSet::new(),
            Some(changed) => (0..split.records.len())
                .filter(|&n| hashed[n].as_ref().is_some_and(|(k, h)| !changed.contains(&(k.to_string(), h.clone()))))
                .collect(),
        };
        let parse = |n: usize| {
            let r = &split.records[n];
            let mut offer = conn.parse_record(r, &body[r.span.clone()]);
            if let Ok(o) = &mut offer {
                o.source_hash = hashes[n];
            }
            offer
        };
        let mut page = Page {
            now: Some(now),
            records: split.records.len(),
            total_pages: split.total_pages,
            total_records: split.total_records,
            has_more: split.has_more,
            ..Page::default()
        };
        page.offers = (0..split.records.len()).filter(|n| !unchanged.contains(n)).map(parse).collect();
        let kept: HashSet<&str> = unchanged.iter().filter_map(|&n| split.records[n].key.as_deref()).collect();
        let clash = page.offers.iter().any(|o| {
            let id = match o {
                Ok(o) => Some(o.external_id.as_str()),
                Err(inv) => inv.external_id.as_deref(),
            };
            id.is_some_and(|id| kept.contains(id))
        });
        if clash {
            page.offers = (0..split.records.len()).map(parse).collect();
        } else {
            let mut unchanged: Vec<usize> = unchanged.into_iter().collect();
            unchanged.sort_unstable();
            page.unchanged = unchanged.into_iter().filter_map(|n| split.records[n].key.clone()).collect();
        }
        page
    }
}

/// What the stage hands to the run, in feed order.
pub enum Fetched {
    /// One page, parsed; `last` when the pager decided the feed ends with it.
    Page { cursor: Cursor, page: Page, report: FetchReport, last: bool },
    /// The page at `cursor` could not be fetched after its attempts.
    Failed { cursor: Cursor, failure: FetchFailure },
    /// The feed's paging is broken (a repeating page, too many pages).
    Broken(FetchError),
}

/// Aborts the stage's task when the run drops it, however the run ends.
pub struct Fetcher {
    rx: mpsc::Receiver<Fetched>,
    task: tokio::task::JoinHandle<()>,
}

impl Fetcher {
    /// Starts fetching from page 1. Unchanged offers of pages the connector can split are
    /// recognised by `probe` without being parsed.
    pub fn start(
        scaffold: Scaffold,
        conn: Arc<dyn Connector>,
        creds: Credentials,
        rps: Option<Decimal>,
        page_size: u32,
        probe: Probe,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut pager = Pager::new(page_size);
            loop {
                // Fetch page n + 1 only once page n has been taken.
                let Ok(permit) = tx.reserve().await else { return };
                let cursor = pager.cursor();
                let fetched = match scaffold.fetch_run_page(conn.as_ref(), &creds, rps, cursor).await {
                    Ok((RunPage::Parsed(page), report)) => Ok((page, report)),
                    Ok((RunPage::Split(split), report)) => {
                        let page = probe.settle(conn.as_ref(), split).await;
                        Ok((Scaffold::redact_offers(conn.as_ref(), &creds, page), report))
                    }
                    Err(f) => Err(f),
                };
                let msg = match fetched {
                    Err(failure) => Fetched::Failed { cursor, failure },
                    Ok((page, report)) => match pager.advance(&page, report.body_hash) {
                        Ok(next) => Fetched::Page { cursor, last: next.is_none(), page, report },
                        Err(e) => Fetched::Broken(e),
                    },
                };
                let end = !matches!(msg, Fetched::Page { last: false, .. });
                permit.send(msg);
                if end {
                    return;
                }
            }
        });
        Self { rx, task }
    }

    /// The next page, or `None` after the last message. A task that died (a connector that
    /// panicked on a page) is reported as a broken feed, never as a clean end.
    pub async fn next(&mut self) -> Option<Fetched> {
        match self.rx.recv().await {
            Some(m) => Some(m),
            None => match (&mut self.task).await {
                Err(e) if e.is_panic() => {
                    let p = e.into_panic();
                    let why = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    Some(Fetched::Broken(FetchError::InvalidPayload(format!(
                        "reading the feed failed unexpectedly: {}",
                        why.unwrap_or_else(|| "the connector panicked".into())
                    ))))
                }
                _ => None,
            },
        }
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
