//! The sync agent against a local fake Everflow server speaking the real wire format.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use crate::{
    api::{SECRET, everflow_integration},
    harness::{App, eventually},
};

#[derive(Default)]
pub struct Fake {
    pub offers: Vec<Value>,
    pub fail_page: Option<u32>,
    /// Answer this page once with 429 and `Retry-After: 1`.
    pub rate_limit_page: Option<u32>,
    /// Held before every answer (while not holding the lock), to make runs slow.
    pub delay: std::time::Duration,
    pub requests: u32,
    /// (when, page, status) of every request.
    pub hits: Vec<(std::time::Instant, u32, u16)>,
    pub in_flight: u32,
    pub max_in_flight: u32,
}

pub type Shared = Arc<Mutex<Fake>>;

pub fn offer(id: u32, amount: &str, countries: &[&str]) -> Value {
    json!({
        "network_offer_id": id, "network_id": 1, "name": format!("Offer {id}"), "offer_status": "active", "currency_id": "USD",
        "tracking_url": format!("https://trk.test/{id}/"), "preview_url": format!("https://shop.test/{id}"), "html_description": "<p>Great</p>",
        "relationship": {
            "offer_affiliate_status": "approved",
            "payouts": {"total": 1, "entries": [{"is_default": true, "payout_type": "cpa", "payout_amount": amount.parse::<f64>().unwrap_or(0.0), "entry_name": "Base"}]},
            "ruleset": {"countries": countries.iter().map(|c| json!({"country_code": c})).collect::<Vec<_>>()}
        }
    })
}

pub fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

async fn offers(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: usize = q.get("page_size").and_then(|p| p.parse().ok()).unwrap_or(50);
    let (resp, delay) = {
        let mut f = lock(&s);
        f.requests += 1;
        f.in_flight += 1;
        f.max_in_flight = f.max_in_flight.max(f.in_flight);
        let resp = if headers.get("x-eflow-api-key").and_then(|v| v.to_str().ok()) != Some(SECRET) {
            (StatusCode::UNAUTHORIZED, Json(json!({"error": "No Authentication Method Found"}))).into_response()
        } else if f.fail_page == Some(page) {
            (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response()
        } else if f.rate_limit_page == Some(page) {
            f.rate_limit_page = None;
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({"error": "Too Many Requests"}))).into_response()
        } else {
            let start = (page as usize - 1) * size;
            let slice: Vec<Value> = f.offers.iter().skip(start).take(size).cloned().collect();
            Json(json!({"offers": slice, "paging": {"page": page, "page_size": size, "total_count": f.offers.len()}})).into_response()
        };
        f.hits.push((std::time::Instant::now(), page, resp.status().as_u16()));
        (resp, f.delay)
    };
    tokio::time::sleep(delay).await;
    lock(&s).in_flight -= 1;
    resp
}

pub async fn fake_everflow(initial: Vec<Value>) -> (String, Shared) {
    let state: Shared = Arc::new(Mutex::new(Fake { offers: initial, ..Fake::default() }));
    let app = Router::new().route("/v1/affiliates/offersrunnable", get(offers)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

pub async fn finalize(app: &App, id: &str, version: i64) {
    let q = "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {
        payoutRules: {globalRatio: \"0.8\", tierRatios: [], publisherPayouts: []},
        settings: {refreshMinutes: 60, updatableColumns: [TITLE, REVENUE, PAYOUT, TRACKING_URL, COUNTRIES], redirectType: HTTP_302},
        basicDetails: {trackingUrlAppend: \"sub1={click_id}\"}}) { version } }";
    app.ok(q, json!({"id": id, "v": version})).await;
    app.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
}

pub async fn last_run(app: &App, id: &str, after: i64) -> Value {
    eventually(30, "a finished run", || async {
        let d = app.ok("query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 1) { edges { node { id status counters filterCounts errorCode errorMessage } } } }", json!({"id": id})).await;
        let n = d["syncRuns"]["edges"][0]["node"].clone();
        let run_id: i64 = n["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
        (run_id > after && !matches!(n["status"].as_str(), Some("RUNNING") | Some("QUEUED") | None)).then_some(n)
    })
    .await
}

pub fn run_id(run: &Value) -> i64 {
    run["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

pub async fn sync_now(app: &App, id: &str) {
    app.ok("mutation($id: ID!) { syncNow(integrationId: $id) { id } }", json!({"id": id})).await;
}

pub async fn campaigns(app: &App, id: &str) -> Vec<Value> {
    let d = app.ok("query($id: ID!) { campaigns(filter: {integrationId: $id}, first: 100) { totalCount edges { node { id externalId title status revenue payout trackingUrl countries lockedColumns } } } }", json!({"id": id})).await;
    d["campaigns"]["edges"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["node"].clone()).collect()
}

/// Reconciliation reads the integration's campaign ids a chunk at a time (here 2, in the
/// production default 10,000): offers that left the feed are found in every chunk, the first,
/// a middle and the last, and no campaign still in the feed is paused.
#[tokio::test]
async fn offers_gone_from_any_chunk_of_the_reconcile_scan_are_paused() {
    let (url, fake) = fake_everflow((1..=7).map(|n| offer(n, "1", &["US"])).collect()).await;
    let app = App::start_with(true, |c| c.agent.reconcile_chunk = 2).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize(&app, &id, v).await;
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["counters"]["created"], 7, "{run}");

    // Ids 1, 4 and 7 leave (sorted as text: chunks [1 2] [3 4] [5 6] [7]); 3 of 7 is below the
    // 50 % guard rail.
    fake.lock().unwrap_or_else(|e| e.into_inner()).offers.retain(|o| !matches!(o["network_offer_id"].as_u64(), Some(1 | 4 | 7)));
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["counters"]["paused"], 3, "{run}");
    let mut statuses: Vec<(String, String)> = campaigns(&app, &id)
        .await
        .iter()
        .map(|c| (c["externalId"].as_str().unwrap_or_default().to_string(), c["status"].as_str().unwrap_or_default().to_string()))
        .collect();
    statuses.sort();
    let want: Vec<(String, String)> =
        (1..=7).map(|n| (n.to_string(), if matches!(n, 1 | 4 | 7) { "PAUSED" } else { "ACTIVE" }.to_string())).collect();
    assert_eq!(statuses, want);

    // Nothing left the feed since: the next refresh pauses nothing more and keeps the three.
    sync_now(&app, &id).await;
    let again = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(again["counters"]["paused"], 0, "{again}");
}

#[tokio::test]
async fn import_refresh_hand_edit_vanish_and_return() {
    let (url, fake) = fake_everflow(vec![offer(1, "2.50", &["US", "CA"]), offer(2, "10", &["DE"]), offer(3, "1.10", &[])]).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize(&app, &id, v).await;

    // First import: every offer becomes a campaign with exact money.
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["counters"]["created"], 3);
    let cs = campaigns(&app, &id).await;
    assert_eq!(cs.len(), 3);
    let c1 = cs.iter().find(|c| c["externalId"] == "1").cloned().unwrap_or_default();
    assert_eq!(c1["revenue"], "2.5");
    assert_eq!(c1["payout"], "2");
    assert_eq!(c1["trackingUrl"], "https://trk.test/1/?sub1={click_id}");
    assert_eq!(c1["countries"], json!(["US", "CA"]));

    // Re-sync with no change writes nothing.
    let r0 = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, r0).await;
    assert_eq!(run["counters"]["unchanged"], 3, "{run}");
    assert_eq!(run["counters"]["updated"], 0);

    // A changed payout updates that campaign; a hand-edited title survives.
    let c2_id = cs.iter().find(|c| c["externalId"] == "2").map(|c| c["id"].clone()).unwrap_or_default();
    app.ok("mutation($id: ID!) { updateCampaign(id: $id, input: {title: \"My own title\"}) { lockedColumns } }", json!({"id": c2_id}))
        .await;
    {
        let mut f = fake.lock().unwrap_or_else(|e| e.into_inner());
        f.offers[1] = offer(2, "12.5", &["DE"]);
        f.offers[1]["name"] = json!("Renamed upstream");
    }
    let r1 = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, r1).await;
    assert_eq!(run["counters"]["updated"], 1, "{run}");
    assert_eq!(run["counters"]["locked_kept"], 1, "{run}");
    let c2 = campaigns(&app, &id).await.into_iter().find(|c| c["externalId"] == "2").unwrap_or_default();
    assert_eq!(c2["revenue"], "12.5");
    assert_eq!(c2["payout"], "10");
    assert_eq!(c2["title"], "My own title");

    // A failed page pauses nothing.
    fake.lock().unwrap_or_else(|e| e.into_inner()).fail_page = Some(1);
    let r2 = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, r2).await;
    assert_eq!(run["status"], "FAILED");
    assert_eq!(run["errorCode"], "UPSTREAM_UNAVAILABLE");
    assert!(campaigns(&app, &id).await.iter().all(|c| c["status"] == "ACTIVE"));
    fake.lock().unwrap_or_else(|e| e.into_inner()).fail_page = None;

    // An offer that leaves the feed is paused; when it comes back it is re-activated.
    let removed = fake.lock().unwrap_or_else(|e| e.into_inner()).offers.remove(2);
    let r3 = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, r3).await;
    assert_eq!(run["counters"]["paused"], 1, "{run}");
    let c3 = campaigns(&app, &id).await.into_iter().find(|c| c["externalId"] == "3").unwrap_or_default();
    assert_eq!(c3["status"], "PAUSED");
    fake.lock().unwrap_or_else(|e| e.into_inner()).offers.push(removed);
    let r4 = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, r4).await;
    assert_eq!(run["counters"]["reactivated"], 1, "{run}");
    let c3 = campaigns(&app, &id).await.into_iter().find(|c| c["externalId"] == "3").unwrap_or_default();
    assert_eq!(c3["status"], "ACTIVE");

    // An empty feed while campaigns are live is held for review, pausing nothing.
    fake.lock().unwrap_or_else(|e| e.into_inner()).offers.clear();
    let r5 = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, r5).await;
    assert_eq!(run["status"], "HELD", "{run}");
    assert!(campaigns(&app, &id).await.iter().all(|c| c["status"] == "ACTIVE"));

    // Logs never carry the secret.
    let logs = app
        .ok(
            "query($id: ID!) { logs(filter: {integrationId: $id}, first: 200) { edges { node { code message details } } } }",
            json!({"id": id}),
        )
        .await;
    assert!(!logs.to_string().contains(SECRET));
}

#[tokio::test]
async fn filters_drop_exactly_the_offers_they_should_with_reason_counts() {
    let (url, _fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["DE"]), offer(3, "0.50", &["US"])]).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let q = "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {filters: {countryMode: ALLOW, countries: [\"US\"],
        minPayout: \"1\", os: ALL, offerModels: [], skipWithoutPreviewUrl: true, countryPayouts: [], compareCurrency: \"USD\"}}) { version } }";
    let d = app.ok(q, json!({"id": id, "v": v})).await;
    let v = d["updateIntegration"]["version"].as_i64().unwrap_or_default();
    finalize(&app, &id, v).await;
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["counters"]["created"], 1, "{run}");
    assert_eq!(run["filterCounts"]["FILTER_COUNTRY"], 1);
    assert_eq!(run["filterCounts"]["PAYOUT_BELOW_MIN"], 1);
    let logs = app.ok("query($id: ID!) { logs(filter: {integrationId: $id, code: \"FILTER_COUNTRY\"}, first: 10) { edges { node { offerExternalId message } } } }", json!({"id": id})).await;
    assert_eq!(logs["logs"]["edges"][0]["node"]["offerExternalId"], "2");
}

#[tokio::test]
async fn a_preview_evaluates_offers_without_creating_campaigns() {
    let (url, _fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["DE"])]).await;
    let app = App::start(true).await;
    let (id, _) = everflow_integration(&app, &url).await;
    let d = app.ok("mutation($id: ID!) { requestPreview(integrationId: $id) { id } }", json!({"id": id})).await;
    let pid = d["requestPreview"]["id"].clone();
    let p = eventually(30, "preview", || async {
        let d = app.ok("query($id: ID!) { preview(id: $id) { status offersTotal wouldImport offers(first: 10) { edges { node { externalId verdict payout finalTrackingUrl } } } } }", json!({"id": pid})).await;
        (d["preview"]["status"] == "DONE").then_some(d["preview"].clone())
    })
    .await;
    assert_eq!(p["offersTotal"], 2);
    assert_eq!(p["wouldImport"], 2);
    assert_eq!(p["offers"]["edges"][0]["node"]["payout"], "2");
    assert!(campaigns(&app, &id).await.is_empty());
}

#[tokio::test]
async fn payout_ratios_per_tier_and_fixed_publisher_payouts_are_exact() {
    let (url, _fake) = fake_everflow(vec![offer(1, "3.33", &["US"]), offer(2, "10", &["US"])]).await;
    let app = App::start(true).await;
    let gold = app.ok("mutation { createPublisherTier(name: \"Gold\") { id } }", json!({})).await["createPublisherTier"]["id"].clone();
    let tier: i64 = gold.as_str().and_then(|s| s.parse().ok()).unwrap_or_default();
    let mk = |name: &str, tier: Option<Value>| {
        let app = &app;
        let name = name.to_string();
        async move {
            let d = app
                .ok(
                    "mutation($n: String!, $t: ID) { createPublisher(input: {name: $n, tierId: $t}) { id } }",
                    json!({"n": name, "t": tier}),
                )
                .await;
            d["createPublisher"]["id"].as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or_default()
        }
    };
    let p_gold = mk("In gold", Some(gold.clone())).await;
    let p_fixed = mk("Fixed", None).await;
    let p_plain = mk("Plain", None).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let q = "mutation($id: ID!, $v: Int!, $t: Int!, $p: Int!) { updateIntegration(id: $id, version: $v, input: {
        payoutRules: {globalRatio: \"0.7\", tierRatios: [{tierId: $t, ratio: \"0.85\"}], publisherPayouts: [{publisherId: $p, payout: \"1.5\"}]}}) { version } }";
    let d = app.ok(q, json!({"id": id, "v": v, "t": tier, "p": p_fixed})).await;
    finalize_keep_rules(&app, &id, d["updateIntegration"]["version"].as_i64().unwrap_or_default()).await;
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let d = app
        .ok(
            "query($id: ID!) { campaigns(filter: {integrationId: $id}, first: 10) { edges { node { externalId revenue payout publisherPayouts { publisherId payout source } } } } }",
            json!({"id": id}),
        )
        .await;
    let nodes: Vec<Value> =
        d["campaigns"]["edges"].as_array().cloned().unwrap_or_default().into_iter().map(|e| e["node"].clone()).collect();
    let c1 = nodes.iter().find(|c| c["externalId"] == "1").cloned().unwrap_or_default();
    // 3.33 x 0.7 = 2.331 exactly; the gold tier earns 3.33 x 0.85 = 2.8305; the fixed publisher 1.5.
    assert_eq!(c1["revenue"], "3.33");
    assert_eq!(c1["payout"], "2.331");
    let pp = c1["publisherPayouts"].as_array().cloned().unwrap_or_default();
    let of =
        |p: i64| pp.iter().find(|x| x["publisherId"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(p)).cloned().unwrap_or_default();
    assert_eq!(of(p_gold)["payout"], "2.8305", "{pp:?}");
    assert_eq!(of(p_gold)["source"], "TIER");
    assert_eq!(of(p_fixed)["payout"], "1.5", "{pp:?}");
    assert_eq!(of(p_fixed)["source"], "PUBLISHER");
    assert_eq!(pp.len(), 2, "publishers on the global ratio have no row: {pp:?}");
    let c2 = nodes.iter().find(|c| c["externalId"] == "2").cloned().unwrap_or_default();
    assert_eq!(c2["payout"], "7");

    // The offers do not change, but what publishers earn does: a new gold ratio, and a
    // publisher moved into gold. The next refresh pays them the new amounts.
    let v = app.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": id})).await["integration"]["version"].as_i64();
    let q = "mutation($id: ID!, $v: Int!, $t: Int!, $p: Int!) { updateIntegration(id: $id, version: $v, input: {
        payoutRules: {globalRatio: \"0.7\", tierRatios: [{tierId: $t, ratio: \"0.9\"}], publisherPayouts: [{publisherId: $p, payout: \"1.5\"}]}}) { version } }";
    app.ok(q, json!({"id": id, "v": v, "t": tier, "p": p_fixed})).await;
    app.ok(
        "mutation($id: ID!, $t: ID) { updatePublisher(id: $id, input: {name: \"Plain\", tierId: $t}) { id } }",
        json!({"id": p_plain.to_string(), "t": gold}),
    )
    .await;
    let before = run_id(&run);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, before).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let d = app
        .ok(
            "query($id: ID!) { campaigns(filter: {integrationId: $id, externalIds: [\"1\"]}, first: 1) { nodes { payout publisherPayouts { publisherId payout source } } } }",
            json!({"id": id}),
        )
        .await;
    let pp = d["campaigns"]["nodes"][0]["publisherPayouts"].as_array().cloned().unwrap_or_default();
    let of =
        |p: i64| pp.iter().find(|x| x["publisherId"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(p)).cloned().unwrap_or_default();
    // 3.33 x 0.9 = 2.997 for both gold publishers; the fixed one keeps 1.5; the default payout is unchanged.
    assert_eq!(d["campaigns"]["nodes"][0]["payout"], "2.331");
    assert_eq!(of(p_gold)["payout"], "2.997", "{pp:?}");
    assert_eq!(of(p_plain)["payout"], "2.997", "{pp:?}");
    assert_eq!(of(p_plain)["source"], "TIER");
    assert_eq!(of(p_fixed)["payout"], "1.5", "{pp:?}");
    assert_eq!(pp.len(), 3, "{pp:?}");
}

/// Finalises with settings and details but without overwriting the payout rules.
async fn finalize_keep_rules(app: &App, id: &str, version: i64) {
    let q = "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {
        settings: {refreshMinutes: 60, updatableColumns: [TITLE, REVENUE, PAYOUT], redirectType: HTTP_302}}) { version } }";
    app.ok(q, json!({"id": id, "v": version})).await;
    app.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
}

#[tokio::test]
async fn bulk_pause_dry_run_apply_survives_sync_and_reverts() {
    let (url, _fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["DE"]), offer(3, "4", &["DE", "AT"])]).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize(&app, &id, v).await;
    let first = last_run(&app, &id, 0).await;
    assert_eq!(first["counters"]["created"], 3, "{first}");
    let m = "mutation($id: ID!, $dry: Boolean!) { bulkUpdateCampaigns(where: {integrationId: $id, country: \"DE\"}, set: {status: PAUSED}, dryRun: $dry) { id dryRun rowCount sample } }";

    // Dry run: the two German campaigns would be paused; nothing is written.
    let d = app.ok(m, json!({"id": id, "dry": true})).await;
    let cs = &d["bulkUpdateCampaigns"];
    assert_eq!(cs["rowCount"], 2, "{cs}");
    assert!(cs["id"].is_null());
    assert_eq!(cs["sample"][0]["before"]["status"], "active", "{cs}");
    assert_eq!(cs["sample"][0]["after"]["status"], "paused", "{cs}");
    assert!(campaigns(&app, &id).await.iter().all(|c| c["status"] == "ACTIVE"), "a dry run wrote");

    // Applied: paused and locked; a sync keeps them paused.
    let d = app.ok(m, json!({"id": id, "dry": false})).await;
    let cs_id = d["bulkUpdateCampaigns"]["id"].clone();
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&first)).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let after = campaigns(&app, &id).await;
    for c in &after {
        let german = c["externalId"] != "1";
        assert_eq!(c["status"], if german { "PAUSED" } else { "ACTIVE" }, "{c}");
        if german {
            assert!(c["lockedColumns"].as_array().is_some_and(|l| l.iter().any(|x| x == "STATUS" || x == "status")), "{c}");
        }
    }

    // Reverted: active again, unlocked; a second revert is refused.
    app.ok("mutation($id: ID!) { revertChangeset(id: $id) { revertedAt } }", json!({"id": cs_id})).await;
    let reverted = campaigns(&app, &id).await;
    assert!(reverted.iter().all(|c| c["status"] == "ACTIVE"), "{reverted:?}");
    assert!(reverted.iter().all(|c| c["lockedColumns"].as_array().is_some_and(|l| l.is_empty())), "{reverted:?}");
    let r = app.gql("mutation($id: ID!) { revertChangeset(id: $id) { revertedAt } }", json!({"id": cs_id})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_STATE", "{r}");
}

/// A bulk edit locks the title; the advertiser renames the offer meanwhile (the lock keeps the
/// hand title). Reverting restores the title from before the edit and unlocks it: the next
/// sync must bring the advertiser's new title, though the offer did not change since the last
/// sync.
#[tokio::test]
async fn after_a_revert_the_next_sync_brings_what_the_advertiser_changed_meanwhile() {
    let (url, fake) = fake_everflow(vec![offer(1, "2.50", &["US"])]).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize(&app, &id, v).await;
    let run = last_run(&app, &id, 0).await;
    let edit = "mutation($id: ID!) { bulkUpdateCampaigns(where: {integrationId: $id}, set: {title: \"Ours\"}, dryRun: false) { id } }";
    let cs_id = app.ok(edit, json!({"id": id})).await["bulkUpdateCampaigns"]["id"].clone();
    lock(&fake).offers[0]["name"] = json!("Renamed upstream");
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(campaigns(&app, &id).await[0]["title"], "Ours", "the lock keeps the hand title ({run})");
    app.ok("mutation($id: ID!) { revertChangeset(id: $id) { revertedAt } }", json!({"id": cs_id})).await;
    assert_eq!(campaigns(&app, &id).await[0]["title"], "Offer 1", "the title from before the edit");
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(campaigns(&app, &id).await[0]["title"], "Renamed upstream", "{run}");
}
