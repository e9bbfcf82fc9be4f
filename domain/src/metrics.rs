//! Prometheus metrics: the series gateway and agent record, and the process's one registry.
//!
//! Series are recorded through the `metrics` facade wherever the work happens (the agent's
//! fetch and runs, the gateway's requests and subscriptions) and rendered in the Prometheus
//! text format by [`render`]: on the gateway's `/metrics` (which covers the embedded agent under
//! `serve`) and on a standalone agent's `agent.metrics_listen`. Names and labels are kept here
//! so both sides, the docs and the tests agree on them.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Runs finished, by `status` (succeeded, partially_succeeded, failed, cancelled).
pub const RUNS: &str = "offerbridge_sync_runs_total";
/// Run duration in seconds, by `status`.
pub const RUN_SECONDS: &str = "offerbridge_sync_run_duration_seconds";
/// Runs in progress in this process.
pub const RUNS_IN_PROGRESS: &str = "offerbridge_sync_runs_in_progress";
/// Offers seen by runs, by `outcome` (created, updated, unchanged, filtered, not_selected,
/// invalid, duplicate, paused, reactivated, deleted).
pub const OFFERS: &str = "offerbridge_offers_total";
/// Requests sent to advertiser platforms, by `platform` (connector id) and `status` (the HTTP
/// status, or `error` when no answer came).
pub const UPSTREAM_REQUESTS: &str = "offerbridge_upstream_requests_total";
/// Requests sent again after a transient failure or a rate-limit answer, by `platform`.
pub const UPSTREAM_RETRIES: &str = "offerbridge_upstream_retries_total";
/// Waits on rate limits in seconds (a histogram: `_count` is the number of waits), by
/// `platform` and `cause`: `budget` (the account's own request budget, shared by all agents)
/// or `upstream` (a 429 or Retry-After from the platform).
pub const RATE_LIMIT_WAIT_SECONDS: &str = "offerbridge_rate_limit_wait_seconds";
/// Page cache lookups, by `result`: hit (served from the cache), revalidated (304 Not
/// Modified), miss.
pub const PAGE_CACHE: &str = "offerbridge_page_cache_requests_total";
/// GraphQL subscriptions open on this gateway.
pub const SUBSCRIBERS: &str = "offerbridge_graphql_subscribers";
/// GraphQL request duration in seconds (HTTP queries and mutations), by `operation` (the
/// operation name; `anonymous` without one, `other` past [`MAX_OPERATIONS`] names) and
/// `outcome` (ok, error).
pub const GRAPHQL_SECONDS: &str = "offerbridge_graphql_request_duration_seconds";
/// GraphQL requests answered by a compiled plan instead of the schema's resolvers (the
/// `campaigns` pages, see `gateway.compiled_queries`), by `operation` (as
/// [`GRAPHQL_SECONDS`]).
pub const GRAPHQL_COMPILED: &str = "offerbridge_graphql_compiled_requests_total";

/// Distinct operation names kept as labels; later ones are counted as `other`, so a client
/// that sends random names cannot grow the registry without bound.
pub const MAX_OPERATIONS: usize = 200;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's registry (once; later calls return the same handle). `None` when
/// another recorder was installed first, which only an embedding program would do.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let waits = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0];
            let runs = [1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(GRAPHQL_SECONDS.into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(RUN_SECONDS.into()), &runs))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(RATE_LIMIT_WAIT_SECONDS.into()), &waits))
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| tracing::warn!(error = %e, "metrics are not recorded"))
                .ok()?;
            describe();
            // Histogram samples are folded in by upkeep: without a scrape they would pile up.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let h = handle.clone();
                rt.spawn(async move {
                    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
                    loop {
                        every.tick().await;
                        h.run_upkeep();
                    }
                });
            }
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(RUNS, "Sync runs finished, by status.");
    describe_histogram!(RUN_SECONDS, metrics::Unit::Seconds, "Sync run duration, by status.");
    describe_gauge!(RUNS_IN_PROGRESS, "Sync runs in progress in this process.");
    describe_counter!(OFFERS, "Offers seen by sync runs, by outcome.");
    describe_counter!(UPSTREAM_REQUESTS, "Requests sent to advertiser platforms, by platform and HTTP status (error: no answer).");
    describe_counter!(UPSTREAM_RETRIES, "Advertiser requests sent again after a transient failure or a rate limit, by platform.");
    describe_histogram!(RATE_LIMIT_WAIT_SECONDS, metrics::Unit::Seconds, "Waits on rate limits, by platform and cause (budget, upstream).");
    describe_counter!(PAGE_CACHE, "Page cache lookups, by result (hit, revalidated, miss).");
    describe_gauge!(SUBSCRIBERS, "GraphQL subscriptions open on this gateway.");
    describe_histogram!(GRAPHQL_SECONDS, metrics::Unit::Seconds, "GraphQL request duration, by operation and outcome.");
    describe_counter!(
        GRAPHQL_COMPILED,
        "GraphQL requests answered by a compiled plan (campaigns pages) instead of the resolvers, by operation."
    );
}

/// The registry in the Prometheus text format (empty when it is not installed).
pub fn render() -> String {
    match install() {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}

/// The `operation` label for an operation name: the name when it is a plain GraphQL name
/// among the first [`MAX_OPERATIONS`] seen, `anonymous` without one, else `other`.
pub fn operation_label(name: Option<&str>) -> String {
    use std::{
        collections::HashSet,
        sync::{LazyLock, Mutex},
    };
    static SEEN: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);
    let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".into() };
    let plain = name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !name.as_bytes()[0].is_ascii_digit();
    if !plain {
        return "other".into();
    }
    let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen.contains(name) || (seen.len() < MAX_OPERATIONS && seen.insert(name.to_string())) { name.to_string() } else { "other".into() }
}

/// A gauge raised while this value lives (a run, a subscription).
pub struct Held(&'static str);

impl Held {
    pub fn new(gauge: &'static str) -> Self {
        metrics::gauge!(gauge).increment(1.0);
        Self(gauge)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_plain_names_and_bounded() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("")), "anonymous");
        assert_eq!(operation_label(Some("Campaigns")), "Campaigns");
        assert_eq!(operation_label(Some("a b")), "other");
        assert_eq!(operation_label(Some("1x")), "other");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other");
        for i in 0..MAX_OPERATIONS {
            operation_label(Some(&format!("op{i}")));
        }
        assert_eq!(operation_label(Some("one_too_many")), "other", "the set is full");
        assert_eq!(operation_label(Some("Campaigns")), "Campaigns", "names seen before keep their label");
    }
}
