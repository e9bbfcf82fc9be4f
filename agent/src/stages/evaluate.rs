//! Stage 2, evaluate: a page's offers become campaign drafts, or verdicts with a reason.
//!
//! Invalid offers (their campaign keeps its last good values) and duplicates are logged every
//! time; an offer a filter skips is logged when its verdict changes ([`record_skipped`]), and
//! counted per reason on the run every time.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use domain::{
    entity::{log_entry, skipped_offer},
    model::LogLevel,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::OnConflict};
use sha2::{Digest, Sha256};

use super::log_row;
use crate::{
    connectors::Page,
    pipeline::{self, CampaignDraft, Rules, Verdict},
    runtime::Counters,
};

/// The external ids a run has seen, 16 bytes each whatever their length (a 128-bit hash:
/// a collision among a billion ids has odds below 10^-20).
///
/// Kept as a sorted vector plus a hash set of the keys added since the last merge, merged
/// every [`MERGE_EVERY`] keys: 16 bytes a key, where a hash set of all of them costs 17 bytes
/// a bucket at up to 7/8 load in power-of-two tables (about 35 MiB at 1,000,000 offers against
/// 16 MiB here, BENCHMARKS.md).
#[derive(Default)]
pub struct SeenIds {
    sorted: Vec<u128>,
    recent: HashSet<u128>,
}

/// Keys added to [`SeenIds`] between two merges into its sorted vector (about 2 MiB of hash
/// set; 16 merges at 1,000,000 offers).
const MERGE_EVERY: usize = 65_536;

impl SeenIds {
    fn key(id: &str) -> u128 {
        let d = Sha256::digest(id.as_bytes());
        u128::from_le_bytes(d[..16].try_into().unwrap_or_default())
    }

    /// `false` when `id` was seen before.
    pub fn insert(&mut self, id: &str) -> bool {
        let k = Self::key(id);
        if self.sorted.binary_search(&k).is_ok() || !self.recent.insert(k) {
            return false;
        }
        if self.recent.len() >= MERGE_EVERY {
            self.merge();
        }
        true
    }

    pub fn contains(&self, id: &str) -> bool {
        let k = Self::key(id);
        self.recent.contains(&k) || self.sorted.binary_search(&k).is_ok()
    }

    /// Sizes the vector once for a feed of `records` offers (as the platform announces it,
    /// capped at 10 million): growing it by doubling would hold the old and the new one at once.
    pub fn expect(&mut self, records: u64) {
        let want = usize::try_from(records.min(10_000_000)).unwrap_or(0);
        self.sorted.reserve_exact(want.saturating_sub(self.sorted.len()));
    }

    /// Moves the recent keys into the sorted vector, merging from the back in place.
    fn merge(&mut self) {
        let mut add: Vec<u128> = self.recent.drain().collect();
        add.sort_unstable();
        let old = self.sorted.len();
        self.sorted.resize(old + add.len(), 0);
        let (mut i, mut j) = (old, add.len());
        for w in (0..self.sorted.len()).rev() {
            if j == 0 {
                break;
            }
            if i > 0 && self.sorted[i - 1] > add[j - 1] {
                self.sorted[w] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[w] = add[j - 1];
                j -= 1;
            }
        }
    }
}

/// What a run has counted so far.
#[derive(Default)]
pub struct Tally {
    pub counters: Counters,
    pub filter_counts: BTreeMap<String, i64>,
    pub seen: SeenIds,
    /// Invalid offers without an id: any missing campaign may be one of them.
    pub unidentified_invalid: i64,
}

/// An offer a filter skipped.
pub struct Skipped {
    pub external_id: String,
    pub code: &'static str,
    pub reason: String,
}

/// One page, evaluated.
#[derive(Default)]
pub struct Evaluated {
    pub drafts: Vec<CampaignDraft>,
    pub skipped: Vec<Skipped>,
    /// Invalid and duplicate offers.
    pub logs: Vec<log_entry::ActiveModel>,
}

/// Evaluates every offer of `page` against `rules`.
pub fn evaluate_page(page: &Page, rules: &Rules, integration_id: i64, run_id: i64, now: DateTime<Utc>, tally: &mut Tally) -> Evaluated {
    let mut out = Evaluated::default();
    let c = &mut tally.counters;
    // Offers whose record is unchanged (ids unique on the page, none among `offers`): seen,
    // counted, and nothing else, unless an earlier page already sent the same id.
    for id in &page.unchanged {
        c.fetched += 1;
        if tally.seen.insert(id) {
            c.unchanged += 1;
        } else {
            c.duplicates += 1;
            out.logs.push(duplicate_log(integration_id, run_id, id));
        }
    }
    for o in &page.offers {
        c.fetched += 1;
        match o {
            Err(inv) => {
                c.invalid += 1;
                // The offer is in the feed: its campaign keeps its last good values and is
                // never paused as vanished. One without an id could be any campaign, so nothing
                // is paused as vanished in this run.
                match &inv.external_id {
                    Some(id) => {
                        tally.seen.insert(id);
                    }
                    None => tally.unidentified_invalid += 1,
                }
                out.logs.push(log_row(
                    integration_id,
                    run_id,
                    LogLevel::Warn,
                    "OFFER_INVALID",
                    inv.external_id.as_deref(),
                    &format!("offer skipped, its campaign (if any) keeps its last good values: {}", inv.reason),
                ));
            }
            Ok(offer) if !tally.seen.insert(&offer.external_id) => {
                // Platforms whose paging shifts while we read (an offer added on page 1 pushes
                // another onto page 2) send some offers twice: the first wins.
                c.duplicates += 1;
                out.logs.push(duplicate_log(integration_id, run_id, &offer.external_id));
            }
            // A skipped offer stays "seen": its campaign, if any, is not paused as vanished.
            Ok(offer) => match pipeline::evaluate(offer, rules, now) {
                Verdict::Drop { code, .. } if code == pipeline::reason::NOT_SELECTED => c.not_selected += 1,
                Verdict::Drop { code, reason } => {
                    c.filtered += 1;
                    *tally.filter_counts.entry(code.to_string()).or_default() += 1;
                    out.skipped.push(Skipped { external_id: offer.external_id.clone(), code, reason });
                }
                Verdict::Import(d) => out.drafts.push(*d),
            },
        }
    }
    out
}

fn duplicate_log(integration_id: i64, run_id: i64, external_id: &str) -> log_entry::ActiveModel {
    log_row(
        integration_id,
        run_id,
        LogLevel::Warn,
        "OFFER_DUPLICATE",
        Some(external_id),
        "offer skipped: it appeared earlier in this run's feed (the platform's paging shifted)",
    )
}

/// The log rows for this page's skipped offers, and the `skipped_offers` rows kept in step:
/// an offer is logged when it is newly skipped, skipped for another reason, or when its last
/// log line is older than `relog_after` (so log retention never leaves a skipped offer without
/// its reason); an offer imported again loses its row. `known`: whether the integration may
/// have rows at all (a run whose integration has none skips the lookup until it writes one).
#[allow(clippy::too_many_arguments)]
pub async fn record_skipped(
    db: &impl ConnectionTrait,
    integration_id: i64,
    run_id: i64,
    page: &Evaluated,
    relog_after: chrono::Duration,
    now: DateTime<Utc>,
    known: &mut bool,
    logs: &mut Vec<log_entry::ActiveModel>,
) -> Result<(), DbErr> {
    if !*known && page.skipped.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> =
        page.skipped.iter().map(|s| s.external_id.clone()).chain(page.drafts.iter().map(|d| d.external_id.clone())).collect();
    let mut before: std::collections::HashMap<String, skipped_offer::Model> = std::collections::HashMap::new();
    if *known {
        for ids in ids.chunks(1000) {
            before.extend(
                skipped_offer::Entity::find()
                    .filter(skipped_offer::Column::IntegrationId.eq(integration_id))
                    .filter(skipped_offer::Column::ExternalId.is_in(ids.to_vec()))
                    .all(db)
                    .await?
                    .into_iter()
                    .map(|r| (r.external_id.clone(), r)),
            );
        }
    }
    let mut upserts = vec![];
    for s in &page.skipped {
        let unchanged = before.get(&s.external_id).is_some_and(|b| b.code == s.code && now - b.logged_at < relog_after);
        if unchanged {
            continue;
        }
        logs.push(log_row(integration_id, run_id, LogLevel::Info, s.code, Some(&s.external_id), &format!("offer skipped: {}", s.reason)));
        upserts.push(skipped_offer::ActiveModel {
            integration_id: Set(integration_id),
            external_id: Set(s.external_id.clone()),
            code: Set(s.code.to_string()),
            reason: Set(s.reason.clone()),
            run_id: Set(run_id),
            logged_at: Set(now),
        });
    }
    let imported: Vec<String> = page.drafts.iter().filter(|d| before.contains_key(&d.external_id)).map(|d| d.external_id.clone()).collect();
    if !imported.is_empty() {
        skipped_offer::Entity::delete_many()
            .filter(skipped_offer::Column::IntegrationId.eq(integration_id))
            .filter(skipped_offer::Column::ExternalId.is_in(imported))
            .exec(db)
            .await?;
    }
    for chunk in upserts.chunks(500) {
        skipped_offer::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([skipped_offer::Column::IntegrationId, skipped_offer::Column::ExternalId])
                    .update_columns([
                        skipped_offer::Column::Code,
                        skipped_offer::Column::Reason,
                        skipped_offer::Column::RunId,
                        skipped_offer::Column::LoggedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        *known = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Duplicates are found whether the first sighting is among the recent keys or already
    /// merged into the sorted vector, and ids never seen are not reported as seen.
    #[test]
    fn seen_ids_find_every_repeat_across_merges() {
        let n = 3 * MERGE_EVERY + 123;
        let mut seen = SeenIds::default();
        seen.expect(n as u64);
        assert!((0..n).all(|i| seen.insert(&format!("offer-{i}"))), "first sightings are new");
        assert!(seen.sorted.windows(2).all(|w| w[0] < w[1]), "the merged keys stay sorted and unique");
        assert_eq!(seen.sorted.len() + seen.recent.len(), n);
        assert!((0..n).step_by(97).all(|i| !seen.insert(&format!("offer-{i}"))), "repeats are duplicates");
        assert!((0..n).step_by(89).all(|i| seen.contains(&format!("offer-{i}"))));
        assert!((n..n + 1000).all(|i| !seen.contains(&format!("offer-{i}"))), "ids never seen are not seen");
        assert_eq!(seen.sorted.len() + seen.recent.len(), n, "repeats add nothing");
    }
}
