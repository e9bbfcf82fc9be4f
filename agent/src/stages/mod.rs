//! A sync run as explicit stages, each in its own module:
//!
//! 1. [`fetch`]: pages fetched (rate-limited, cached, retried) and parsed in a task of their
//!    own, one page ahead of the run, over a bounded channel;
//! 2. [`evaluate`]: each offer checked, filtered and transformed into a campaign draft (the
//!    pure [`crate::pipeline`]), on the run's task; skipped offers logged only when their
//!    verdict changes. (In a task of its own, or in the fetch task, it was measured slower on
//!    two cores: the extra thread competes with the write for the cores, BENCHMARKS.md);
//! 3. [`write`]: drafts compared with their campaigns and written in one fenced transaction
//!    per page, child rows only where they changed;
//! 4. [`reconcile`]: after the last page, campaigns whose offers left the feed are paused or
//!    deleted under the vanish policy and its guard rail.
//!
//! [`crate::runtime`] claims work, holds the lease and drives the stages.

pub mod batch;
pub mod evaluate;
pub mod fetch;
pub mod reconcile;
pub mod write;

use domain::{db::now, entity::log_entry, model::LogLevel};
use sea_orm::Set;

/// One log row of a run.
pub fn log_row(
    integration_id: i64,
    run_id: i64,
    level: LogLevel,
    code: &str,
    offer: Option<&str>,
    message: &str,
) -> log_entry::ActiveModel {
    log_entry::ActiveModel {
        integration_id: Set(Some(integration_id)),
        run_id: Set(Some(run_id)),
        level: Set(level.as_str().into()),
        code: Set(code.into()),
        offer_external_id: Set(offer.map(str::to_string)),
        message: Set(message.into()),
        created_at: Set(now()),
        ..Default::default()
    }
}
