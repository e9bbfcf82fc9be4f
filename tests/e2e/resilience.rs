//! The agent under pressure: rate limits, a killed agent, two agents on one database, and the
//! `offerbridge sync` command.

use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    api::everflow_integration,
    harness::{App, eventually},
    sync::{campaigns, fake_everflow, last_run, lock, offer, run_id, sync_now},
};

fn feed(n: u32) -> Vec<Value> {
    (1..=n).map(|i| offer(i, &format!("{}.25", i % 40 + 1), &["US"])).collect()
}

/// Finalises with a small page size so a feed spans several pages.
async fn finalize_paged(app: &App, id: &str, version: i64, page_size: u32) {
    let q = "mutation($id: ID!, $v: Int!, $ps: Int!) { updateIntegration(id: $id, version: $v, input: {
        payoutRules: {globalRatio: \"0.8\", tierRatios: [], publisherPayouts: []},
        settings: {refreshMinutes: 60, updatableColumns: [TITLE, REVENUE, PAYOUT], redirectType: HTTP_302, pageSize: $ps}}) { version } }";
    app.ok(q, json!({"id": id, "v": version, "ps": page_size})).await;
    app.ok("mutation($id: ID!) { finalizeIntegration(id: $id) { lifecycle } }", json!({"id": id})).await;
}

fn int_id(id: &str) -> i64 {
    id.parse().unwrap_or_default()
}

async fn campaign_count(app: &App, id: &str) -> u64 {
    domain::entity::campaign::Entity::find()
        .filter(domain::entity::campaign::Column::IntegrationId.eq(int_id(id)))
        .count(&app.db)
        .await
        .expect("count")
}

/// Requests not yet served plus runs not yet finished, for one integration.
async fn open_work(app: &App, id: &str) -> u64 {
    use domain::entity::{sync_request, sync_run};
    let requests = sync_request::Entity::find()
        .filter(sync_request::Column::IntegrationId.eq(int_id(id)))
        .filter(sync_request::Column::Status.is_in(["pending", "running"]))
        .count(&app.db)
        .await
        .expect("count");
    let runs = sync_run::Entity::find()
        .filter(sync_run::Column::IntegrationId.eq(int_id(id)))
        .filter(sync_run::Column::FinishedAt.is_null())
        .count(&app.db)
        .await
        .expect("count");
    requests + runs
}

#[tokio::test]
async fn a_429_with_retry_after_slows_the_run_and_it_completes() {
    let (url, fake) = fake_everflow(feed(30)).await;
    lock(&fake).rate_limit_page = Some(2);
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize_paged(&app, &id, v, 10).await;
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["counters"]["created"], 30, "{run}");

    // The retry of page 2 came no sooner than the Retry-After the fake sent.
    let hits = lock(&fake).hits.clone();
    let limited = hits.iter().find(|(_, p, s)| *p == 2 && *s == 429).expect("the 429 was sent");
    let retry = hits.iter().find(|(at, p, s)| *p == 2 && *s == 200 && *at > limited.0).expect("page 2 was retried");
    assert!(retry.0 - limited.0 >= Duration::from_millis(990), "retried after {:?}", retry.0 - limited.0);
    assert_eq!(hits.iter().filter(|(_, _, s)| *s == 200).count(), 3, "each page fetched once after the wait: {hits:?}");

    // The wait is in the logs, for the admin.
    let logs = app
        .ok(
            "query($id: ID!) { logs(filter: {integrationId: $id, code: \"RATE_LIMIT_WAIT\"}, first: 5) { edges { node { level message } } } }",
            json!({"id": id}),
        )
        .await;
    let msg = logs["logs"]["edges"][0]["node"]["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("page 2"), "{logs}");
}

#[tokio::test]
async fn a_killed_agent_leaves_no_duplicates_and_the_next_run_converges() {
    let (url, fake) = fake_everflow(feed(60)).await;
    lock(&fake).delay = Duration::from_millis(400);
    // The gateway only; agents are started by hand with a short lease.
    let app = App::start_with(false, |c| c.agent.lease_ttl = Duration::from_secs(2)).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let (_stop_a, killed) = app.spawn_agent("agent-a", |_| {});
    finalize_paged(&app, &id, v, 10).await;

    // Kill agent A after it wrote some pages but before the feed ended: no graceful stop,
    // its lease is left behind and its run stays "running".
    eventually(30, "a partial import", || async {
        let n = campaign_count(&app, &id).await;
        (10..60).contains(&n).then_some(())
    })
    .await;
    killed.abort();
    let _ = killed.await;
    let partial = campaign_count(&app, &id).await;
    assert!(partial < 60, "the run finished before the kill ({partial} campaigns); the test proves nothing");

    // Agent B takes over once the lease expires; a new "sync now" converges.
    lock(&fake).delay = Duration::ZERO;
    let (_stop_b, _b) = app.spawn_agent("agent-b", |_| {});
    sync_now(&app, &id).await;
    // B may serve the "sync now" request or a scheduled run first: wait until both are done.
    let run = eventually(30, "a succeeded run by agent B and nothing left open", || async {
        let d = app
            .ok(
                "query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 10) { edges { node { id status errorCode counters } } } }",
                json!({"id": id}),
            )
            .await;
        let runs: Vec<Value> =
            d["syncRuns"]["edges"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["node"].clone()).collect();
        let settled = open_work(&app, &id).await == 0;
        runs.into_iter().find(|n| n["status"] == "SUCCEEDED").filter(|_| settled)
    })
    .await;
    assert_eq!(campaign_count(&app, &id).await, 60, "{run}");
    let cs = campaigns(&app, &id).await;
    let mut ids: Vec<String> = cs.iter().map(|c| c["externalId"].as_str().unwrap_or_default().to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "one campaign per offer, no duplicates");
    // The orphaned run is closed as AGENT_LOST, so nobody waits on it forever.
    let d = app
        .ok(
            "query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 10) { edges { node { status errorCode } } } }",
            json!({"id": id}),
        )
        .await;
    let lost = d["syncRuns"]["edges"].as_array().cloned().unwrap_or_default();
    assert!(lost.iter().any(|e| e["node"]["errorCode"] == "AGENT_LOST"), "{d}");
    assert!(lost.iter().all(|e| e["node"]["status"] != "RUNNING"), "{d}");
}

/// An agent killed in the middle of a first import: another agent closes the dead run as
/// AGENT_LOST and runs the import again within about one lease TTL, with no "sync now".
#[tokio::test]
async fn a_first_import_cut_by_a_killed_agent_is_resumed_without_any_manual_step() {
    use domain::entity::{log_entry, sync_request, sync_run};
    let (url, fake) = fake_everflow(feed(60)).await;
    lock(&fake).delay = Duration::from_millis(400);
    let app = App::start_with(false, |c| c.agent.lease_ttl = Duration::from_secs(2)).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let (_stop_a, killed) = app.spawn_agent("agent-a", |_| {});
    finalize_paged(&app, &id, v, 10).await;
    eventually(30, "a partial import", || async { (10..60).contains(&campaign_count(&app, &id).await).then_some(()) }).await;
    killed.abort();
    let _ = killed.await;
    assert!(campaign_count(&app, &id).await < 60, "the import finished before the kill; the test proves nothing");

    lock(&fake).delay = Duration::ZERO;
    let (_stop_b, _b) = app.spawn_agent("agent-b", |_| {});
    let runs = eventually(30, "the first import finished by agent B, nothing left open", || async {
        let runs = sync_run::Entity::find().filter(sync_run::Column::IntegrationId.eq(int_id(&id))).all(&app.db).await.ok()?;
        (open_work(&app, &id).await == 0 && runs.iter().any(|r| r.status == "succeeded")).then_some(runs)
    })
    .await;
    assert_eq!(campaign_count(&app, &id).await, 60);
    let lost = runs.iter().find(|r| r.error_code.as_deref() == Some("AGENT_LOST")).expect("the dead run is closed as AGENT_LOST");
    assert_eq!((lost.status.as_str(), lost.agent_id.as_deref()), ("failed", Some("agent-a")));
    let done = runs.iter().find(|r| r.status == "succeeded").expect("a succeeded run");
    assert_eq!(
        (done.agent_id.as_deref(), done.request_id),
        (Some("agent-b"), lost.request_id),
        "the same first-import request, served again"
    );
    let req = sync_request::Entity::find_by_id(lost.request_id.expect("a request")).one(&app.db).await.expect("q").expect("request");
    assert_eq!((req.kind.as_str(), req.status.as_str()), ("first_sync", "done"));
    let logs = log_entry::Entity::find().filter(log_entry::Column::IntegrationId.eq(int_id(&id))).all(&app.db).await.expect("logs");
    assert!(logs.iter().any(|l| l.code == "REQUEST_REQUEUED" && l.message.contains("agent-a")), "an admin can read what happened");
}

#[tokio::test]
async fn two_agents_never_run_one_integration_at_the_same_time() {
    let (url, fake) = fake_everflow(feed(40)).await;
    lock(&fake).delay = Duration::from_millis(50);
    let app = App::start_with(false, |c| c.agent.lease_ttl = Duration::from_secs(5)).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let _a = app.spawn_agent("agent-a", |_| {});
    let _b = app.spawn_agent("agent-b", |_| {});
    finalize_paged(&app, &id, v, 10).await;
    let first = last_run(&app, &id, 0).await;
    // Ask both agents for more runs while they race for the lease.
    for _ in 0..4 {
        sync_now(&app, &id).await;
    }
    eventually(60, "every request served and every run finished", || async { (open_work(&app, &id).await == 0).then_some(()) }).await;
    assert!(run_id(&first) > 0);
    // The fake never saw two requests at once, and no two runs overlapped in time.
    assert_eq!(lock(&fake).max_in_flight, 1, "two runs fetched at the same time");
    let runs = domain::entity::sync_run::Entity::find()
        .filter(domain::entity::sync_run::Column::IntegrationId.eq(int_id(&id)))
        .all(&app.db)
        .await
        .expect("runs");
    for a in &runs {
        for b in &runs {
            if a.id < b.id {
                let (Some(a0), Some(a1), Some(b0), Some(b1)) = (a.started_at, a.finished_at, b.started_at, b.finished_at) else {
                    panic!("unfinished run: {a:?} {b:?}")
                };
                assert!(a1 <= b0 || b1 <= a0, "runs {} and {} overlapped", a.id, b.id);
            }
        }
    }
    let agents: std::collections::BTreeSet<_> = runs.iter().filter_map(|r| r.agent_id.clone()).collect();
    assert!(!agents.is_empty());
    assert!(runs.len() >= 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.status == "succeeded"), "{runs:?}");
    // The fencing token grew with every claim.
    let mut tokens: Vec<i64> = runs.iter().map(|r| r.fencing_token).collect();
    let n = tokens.len();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), n, "each run had its own fencing token");
}

#[tokio::test]
async fn concurrent_claims_have_exactly_one_winner() {
    let app = App::start(false).await;
    let (id, _) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let mk = |name: &str| {
        let mut cfg = (*app.config).clone();
        cfg.agent.id = Some(name.into());
        agent::runtime::Agent::new(app.db.clone(), std::sync::Arc::new(cfg), app.cipher.clone()).expect("agent")
    };
    let (a, b) = (mk("a"), mk("b"));
    let (x, y) = tokio::join!(a.claim_lease(int_id(&id)), b.claim_lease(int_id(&id)));
    let wins = [x.expect("claim a"), y.expect("claim b")].into_iter().filter(Option::is_some).count();
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn the_sync_command_runs_one_sync_in_the_foreground_and_prints_a_summary() {
    let (url, fake) = fake_everflow(feed(25)).await;
    let app = App::start(false).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize_paged(&app, &id, v, 10).await;
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let cli = |args: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_offerbridge"))
            .args(args)
            .env("DATABASE_URL", &app.config.database_url)
            .env("OFFERBRIDGE_SECRET_KEY", key)
            .env("OFFERBRIDGE_AGENT__ALLOWED_NETWORKS", "127.0.0.1/32")
            .env("OFFERBRIDGE_LOG", "warn")
            .output()
    };
    let out = cli(&["sync", &id]).await.expect("run offerbridge");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("created") && l.trim_end().ends_with(" 25")), "{stdout}");
    assert_eq!(campaign_count(&app, &id).await, 25);

    // A dry run reports the change and writes nothing.
    lock(&fake).offers[0] = offer(1, "99", &["US"]);
    let out = cli(&["sync", &id, "--dry-run"]).await.expect("run offerbridge");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("would update") && l.trim_end().ends_with(" 1")), "{stdout}");
    let c1 = campaigns(&app, &id).await.into_iter().find(|c| c["externalId"] == "1").unwrap_or_default();
    assert_ne!(c1["revenue"], "99", "a dry run wrote a campaign");

    // An unknown integration is a clear error, not a panic.
    let out = cli(&["sync", "no-such-integration"]).await.expect("run offerbridge");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no integration with id or name"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_failed_page_3_pauses_nothing_and_keeps_what_pages_1_and_2_wrote() {
    let (url, fake) = fake_everflow(feed(30)).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize_paged(&app, &id, v, 10).await;
    let first = last_run(&app, &id, 0).await;
    assert_eq!(first["counters"]["created"], 30, "{first}");

    // Offer 5 leaves the feed, offer 1 changes payout, and page 3 answers 502 every time.
    {
        let mut f = lock(&fake);
        f.offers.retain(|o| o["network_offer_id"] != 5);
        f.offers[0] = offer(1, "77", &["US"]);
        f.fail_page = Some(3);
    }
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&first)).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["errorCode"], "UPSTREAM_UNAVAILABLE", "{run}");
    assert_eq!(run["counters"]["paused"], 0, "{run}");
    let cs = campaigns(&app, &id).await;
    assert_eq!(cs.len(), 30);
    assert!(cs.iter().all(|c| c["status"] == "ACTIVE"), "a failed run paused a campaign");
    // Pages 1 and 2 were applied before page 3 failed.
    let c1 = cs.iter().find(|c| c["externalId"] == "1").cloned().unwrap_or_default();
    assert_eq!(c1["revenue"], "77");
}
