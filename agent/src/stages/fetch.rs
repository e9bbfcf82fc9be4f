//! Stage 1, fetch: walks the feed's pages in a task of its own, one page ahead of the run.
//!
//! While the run evaluates and writes page `n`, this stage is already fetching (rate-limited,
//! cached, retried by the [`Scaffold`]) and parsing page `n + 1`, and no further: it reserves
//! the channel's one slot before it fetches, so at most two pages are in memory whatever the
//! feed's size, and a run that stops (an error, a cancellation) has fetched at most one page
//! it will not use. Dropping the [`Fetcher`] ends the task.

use std::sync::Arc;

use domain::crypto::Credentials;
use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::connectors::{
    Connector, Cursor, FetchError, Page,
    scaffold::{FetchFailure, FetchReport, Pager, Scaffold},
};

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
    /// Starts fetching from page 1.
    pub fn start(scaffold: Scaffold, conn: Arc<dyn Connector>, creds: Credentials, rps: Option<Decimal>, page_size: u32) -> Self {
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut pager = Pager::new(page_size);
            loop {
                // Fetch page n + 1 only once page n has been taken.
                let Ok(permit) = tx.reserve().await else { return };
                let cursor = pager.cursor();
                let msg = match scaffold.fetch_page(conn.as_ref(), &creds, rps, cursor, false).await {
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
