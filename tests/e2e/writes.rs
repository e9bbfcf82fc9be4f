//! What a refresh writes, row by row, counted by triggers the test installs on every table
//! (SQLite and PostgreSQL): an unchanged re-sync writes no offer data at all, a payout-only
//! change writes only that campaign's changed rows, and a skipped offer is logged when its
//! verdict changes, not on every refresh.

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use std::sync::{Arc, Mutex};

use domain::entity::{campaign, skipped_offer, sync_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    api::everflow_integration,
    fidelity::{hasoffers_feed, import, live_hasoffers, platform, sync_again},
    harness::App,
    sync::{fake_everflow, finalize, last_run, lock, offer, run_id, sync_now},
};

/// Tables holding offer data: a refresh that changes nothing must not write any of them.
const OFFER_TABLES: &[&str] = &[
    "campaigns",
    "campaign_countries",
    "campaign_payouts",
    "campaign_caps",
    "campaign_publisher_payouts",
    "skipped_offers",
    "preview_offers",
];

/// Bookkeeping a run may write whatever the feed says: its own row and request, its events
/// (progress for subscribers), its run-level log lines, the integration's lease and schedule,
/// the account's rate budget, the agent's heartbeat, the API token's last use, and the audit
/// entry of the admin's "sync now".
const RUN_TABLES: &[&str] =
    &["sync_runs", "sync_requests", "events", "log_entries", "integrations", "rate_budgets", "agent_heartbeats", "api_tokens", "audit_log"];

async fn tables(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'",
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("tables");
    rows.iter().map(|r| r.try_get::<String>("", "name").expect("name")).filter(|t| t != "write_audit" && t != "seaql_migrations").collect()
}

/// Installs a row-level trigger on every table: each insert, update and delete leaves a
/// `write_audit` row (table, operation, campaign id where the table has one).
async fn audit(db: &sea_orm::DatabaseConnection) {
    let pg = db.get_database_backend() == DbBackend::Postgres;
    db.execute_unprepared("CREATE TABLE write_audit (tbl TEXT NOT NULL, op TEXT NOT NULL, cid BIGINT)").await.expect("audit table");
    if pg {
        db.execute_unprepared(
            "CREATE FUNCTION audit_row() RETURNS trigger AS $$
             DECLARE r RECORD; cid BIGINT;
             BEGIN
               IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
               cid := CASE TG_ARGV[0] WHEN '' THEN NULL ELSE (to_jsonb(r) ->> TG_ARGV[0])::BIGINT END;
               INSERT INTO write_audit VALUES (TG_TABLE_NAME, TG_OP, cid);
               RETURN NULL;
             END $$ LANGUAGE plpgsql",
        )
        .await
        .expect("audit function");
    }
    for t in tables(db).await {
        let col = match t.as_str() {
            "campaigns" => "id",
            t if t.starts_with("campaign_") => "campaign_id",
            _ => "",
        };
        if pg {
            db.execute_unprepared(&format!(
                "CREATE TRIGGER audit_{t} AFTER INSERT OR UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION audit_row('{col}')"
            ))
            .await
            .expect("trigger");
        } else {
            for (op, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
                let cid = if col.is_empty() { "NULL".to_string() } else { format!("{row}.{col}") };
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER audit_{t}_{op} AFTER {op} ON {t} BEGIN INSERT INTO write_audit VALUES ('{t}', '{op}', {cid}); END"
                ))
                .await
                .expect("trigger");
            }
        }
    }
}

/// Rows written since the last call, per table and operation, with the campaign ids touched;
/// then clears the audit.
async fn writes(db: &sea_orm::DatabaseConnection) -> BTreeMap<String, (BTreeMap<String, i64>, Vec<i64>)> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT tbl, op, cid FROM write_audit"))
        .await
        .expect("audit rows");
    db.execute_unprepared("DELETE FROM write_audit").await.expect("clear audit");
    let mut out: BTreeMap<String, (BTreeMap<String, i64>, Vec<i64>)> = BTreeMap::new();
    for r in rows {
        let t: String = r.try_get("", "tbl").expect("tbl");
        let op: String = r.try_get("", "op").expect("op");
        let e = out.entry(t).or_default();
        *e.0.entry(op).or_default() += 1;
        if let Ok(Some(cid)) = r.try_get::<Option<i64>>("", "cid") {
            e.1.push(cid);
        }
    }
    out
}

async fn logs_for(app: &App, id: &str, offer: &str) -> Vec<Value> {
    let d = app
        .ok(
            "query($id: ID!) { logs(filter: {integrationId: $id}, first: 200) { edges { node { code offerExternalId runId } } } }",
            json!({"id": id}),
        )
        .await;
    d["logs"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["offerExternalId"] == offer)
        .collect()
}

#[tokio::test]
async fn a_refresh_writes_only_what_changed() {
    // Twenty offers at 2.50 in two countries, and one at 0.50 that `minPayout: 1` skips.
    let mut feed: Vec<Value> = (1..=20).map(|k| offer(k, "2.50", &["US", "CA"])).collect();
    feed.push(offer(21, "0.50", &["US"]));
    let (url, fake) = fake_everflow(feed).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let q = "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {filters: {countryMode: BLOCK, countries: [],
        minPayout: \"1\", os: ALL, offerModels: [], skipWithoutPreviewUrl: false, countryPayouts: [], compareCurrency: \"USD\"}}) { version } }";
    let d = app.ok(q, json!({"id": id, "v": v})).await;
    finalize(&app, &id, d["updateIntegration"]["version"].as_i64().unwrap_or_default()).await;
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert_eq!(run["counters"]["created"], 20, "{run}");
    assert_eq!(run["filterCounts"]["PAYOUT_BELOW_MIN"], 1, "{run}");
    assert_eq!(logs_for(&app, &id, "21").await.len(), 1, "the skipped offer is logged with its reason on the first import");
    audit(&app.db).await;

    // Unchanged re-sync: no offer table is written; the skipped offer is counted again but not
    // logged again; only run bookkeeping is written.
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(run["counters"]["unchanged"], 20, "{run}");
    assert_eq!(run["filterCounts"]["PAYOUT_BELOW_MIN"], 1, "per-reason counts are on every run: {run}");
    let w = writes(&app.db).await;
    for t in OFFER_TABLES {
        assert!(!w.contains_key(*t), "an unchanged re-sync wrote {t}: {w:?}");
    }
    for t in w.keys() {
        assert!(RUN_TABLES.contains(&t.as_str()), "an unchanged re-sync wrote {t}, which is not run bookkeeping: {w:?}");
    }
    assert_eq!(logs_for(&app, &id, "21").await.len(), 1, "an unchanged verdict is not logged again");

    // One payout changes: that campaign's row and its changed payout rows, nothing else.
    let c5: i64 = {
        let d = app.ok("query($id: ID!) { campaigns(filter: {integrationId: $id, externalIds: [\"5\"]}, first: 5) { edges { node { id externalId } } } }", json!({"id": id})).await;
        let e = d["campaigns"]["edges"].as_array().cloned().unwrap_or_default();
        let n = e.iter().find(|e| e["node"]["externalId"] == "5").expect("campaign 5");
        n["node"]["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
    };
    lock(&fake).offers[4] = offer(5, "3.00", &["US", "CA"]);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(run["counters"]["updated"], 1, "{run}");
    let w = writes(&app.db).await;
    assert_eq!(w.get("campaigns").map(|(ops, _)| ops.clone()), Some(BTreeMap::from([("UPDATE".to_string(), 1)])), "{w:?}");
    assert!(!w.contains_key("campaign_countries"), "countries did not change: {w:?}");
    for (t, (ops, cids)) in &w {
        if OFFER_TABLES.contains(&t.as_str()) && t != "skipped_offers" {
            assert!(cids.iter().all(|c| *c == c5), "{t} rows of other campaigns were written: {w:?}");
            assert!(ops.values().sum::<i64>() <= 2, "{t}: more than the changed row was rewritten: {w:?}");
        }
    }
    let d =
        app.ok("query($id: ID!) { campaign(id: $id) { revenue payout payouts { revenue payout } } }", json!({"id": c5.to_string()})).await;
    assert_eq!(d["campaign"]["revenue"], "3", "{d}");
    assert_eq!(d["campaign"]["payout"], "2.4", "{d}");
    assert!(d["campaign"]["payouts"].as_array().is_some_and(|p| p.iter().all(|p| p["revenue"] == "3")), "{d}");

    // Verdicts that change are logged: offer 21 now pays enough and is imported; offer 1 now
    // pays too little and is skipped (logged once, however many refreshes follow).
    {
        let mut f = lock(&fake);
        f.offers[20] = offer(21, "5.00", &["US"]);
        f.offers[0] = offer(1, "0.10", &["US", "CA"]);
    }
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(run["counters"]["created"], 1, "{run}");
    assert_eq!(run["filterCounts"]["PAYOUT_BELOW_MIN"], 1, "{run}");
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(run["filterCounts"]["PAYOUT_BELOW_MIN"], 1, "{run}");
    assert_eq!(logs_for(&app, &id, "1").await.iter().filter(|l| l["code"] == "PAYOUT_BELOW_MIN").count(), 1);
    // Back to importable and skipped again: logged again, since the verdict changed twice.
    lock(&fake).offers[0] = offer(1, "2.50", &["US", "CA"]);
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    lock(&fake).offers[0] = offer(1, "0.10", &["US", "CA"]);
    sync_now(&app, &id).await;
    last_run(&app, &id, run_id(&run)).await;
    assert_eq!(logs_for(&app, &id, "1").await.iter().filter(|l| l["code"] == "PAYOUT_BELOW_MIN").count(), 2);
}

/// The plain-text description is derived from the HTML one and follows it: at import, when the
/// advertiser changes the description (an updatable column), and when an admin edits it.
#[tokio::test]
async fn the_plain_text_description_follows_the_description() {
    let (url, fake) = fake_everflow(vec![offer(1, "2.50", &["US"])]).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let q = "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {
        settings: {refreshMinutes: 60, updatableColumns: [TITLE, DESCRIPTION, REVENUE, PAYOUT], redirectType: HTTP_302}}) { version } }";
    app.ok(q, json!({"id": id, "v": v})).await;
    app.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
    let run = last_run(&app, &id, 0).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let c = campaign_text(&app, &id).await;
    assert_eq!(c["descriptionText"], "Great", "{c}");

    lock(&fake).offers[0]["html_description"] = json!("<p>Deposit &amp; <b>play</b></p>");
    sync_now(&app, &id).await;
    let run = last_run(&app, &id, run_id(&run)).await;
    assert_eq!(run["counters"]["updated"], 1, "{run}");
    let c = campaign_text(&app, &id).await;
    assert_eq!(c["description"], "<p>Deposit &amp; <b>play</b></p>", "{c}");
    assert_eq!(c["descriptionText"], "Deposit & play", "the text follows an upstream change: {c}");

    app.ok("mutation($id: ID!) { updateCampaign(id: $id, input: {description: \"<i>Mine</i> &lt;3\"}) { id } }", json!({"id": c["id"]}))
        .await;
    let c = campaign_text(&app, &id).await;
    assert_eq!(c["descriptionText"], "Mine <3", "the text follows a hand edit: {c}");
}

async fn campaign_text(app: &App, id: &str) -> Value {
    let q = "query($id: ID!) { campaigns(filter: {integrationId: $id}, first: 5) { edges { node { id description descriptionText } } } }";
    app.ok(q, json!({"id": id})).await["campaigns"]["edges"][0]["node"].clone()
}

fn counter(run: &sync_run::Model, name: &str) -> i64 {
    serde_json::from_str::<Value>(&run.counters).unwrap_or_default()[name].as_i64().unwrap_or(-1)
}

async fn ho_campaign(app: &App, integration_id: i64, external_id: &str) -> campaign::Model {
    campaign::Entity::find()
        .filter(campaign::Column::IntegrationId.eq(integration_id))
        .filter(campaign::Column::ExternalId.eq(external_id))
        .one(&app.db)
        .await
        .expect("query")
        .expect("campaign")
}

/// A HasOffers refresh knows an unchanged record by its bytes (hashed with everything else
/// that decides the campaign) and leaves the campaign alone without parsing the record; all
/// that can still change a campaign refreshes it: its record, the integration's rules, a
/// forced refresh after an unlock, a missed offer seen again. Campaigns written before source
/// hashes get theirs once, without any other write.
#[tokio::test]
async fn unchanged_records_are_known_by_their_bytes_and_nothing_that_matters_is_skipped() {
    let app = App::start(true).await;
    let feed = Arc::new(Mutex::new(hasoffers_feed()));
    // Offer 107 expires in a few seconds: the same bytes must then be skipped as expired.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(4)).format("%Y-%m-%d %H:%M:%S").to_string();
    feed.lock().unwrap_or_else(|e| e.into_inner())["107"] = json!({"Offer": {"id": "107", "name": "HO 107", "currency": "EUR",
        "default_payout": "1.00", "payout_type": "cpa_flat", "status": "active", "expiration_date": soon},
        "TrackingLink": {"click_url": "https://trk.ho.test/aff_c?offer_id=107&aff_id=7"}});
    let (base, _) = platform(live_hasoffers(feed.clone())).await;
    let run = import(&app, "hasoffers", &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base)]).await;
    assert_eq!(run.status, "succeeded", "{run:?}");
    let iid = run.integration_id;
    assert_eq!(counter(&run, "created"), 6, "{run:?}");
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!((counter(&run, "unchanged"), counter(&run, "filtered")), (5, 2), "{run:?}");
    assert_eq!(serde_json::from_str::<Value>(&run.filter_counts).unwrap_or_default()["EXPIRED"], 1, "{run:?}");
    feed.lock().unwrap_or_else(|e| e.into_inner()).as_object_mut().map(|m| m.remove("107"));
    campaign::Entity::delete_many().filter(campaign::Column::ExternalId.eq("107")).exec(&app.db).await.expect("drop 107");
    let created = 5;
    let all = campaign::Entity::find().filter(campaign::Column::IntegrationId.eq(iid)).all(&app.db).await.expect("campaigns");
    assert!(all.iter().all(|c| c.source_hash.as_ref().is_some_and(|h| h.len() == 32)), "every campaign keeps its record's hash");
    audit(&app.db).await;

    // Nothing changed: every campaign unchanged, no offer table written.
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!((counter(&run, "unchanged"), counter(&run, "updated")), (created, 0), "{run:?}");
    let w = writes(&app.db).await;
    assert!(OFFER_TABLES.iter().all(|t| !w.contains_key(*t)), "an unchanged re-sync wrote offer data: {w:?}");

    // One record changes: that campaign alone is refreshed.
    feed.lock().unwrap_or_else(|e| e.into_inner())["101"]["Offer"]["default_payout"] = json!("3.00000");
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!((counter(&run, "updated"), counter(&run, "unchanged")), (1, created - 1), "{run:?}");
    let c101 = ho_campaign(&app, iid, "101").await;
    assert_eq!((c101.revenue.as_str(), c101.currency.as_str()), ("3", "EUR"));
    let w = writes(&app.db).await;
    assert_eq!(
        w.get("campaigns").map(|(ops, cids)| (ops.clone(), cids.clone())),
        Some((BTreeMap::from([("UPDATE".into(), 1)]), vec![c101.id]))
    );

    // The rules change, no record does: every campaign follows the new payout ratio.
    let v = app.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": iid.to_string()})).await["integration"]["version"]
        .as_i64();
    app.ok(
        "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {payoutRules: {globalRatio: \"0.5\", tierRatios: [], publisherPayouts: []}}) { version } }",
        json!({"id": iid.to_string(), "v": v}),
    )
    .await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!((counter(&run, "updated"), counter(&run, "unchanged")), (created, 0), "{run:?}");
    assert_eq!(ho_campaign(&app, iid, "101").await.payout, "1.5", "3.00 x 0.5");

    // A hand edit is kept; once unlocked, the next refresh restores the advertiser's title
    // though the record is unchanged.
    let id101 = c101.id.to_string();
    app.ok("mutation($id: ID!) { updateCampaign(id: $id, input: {title: \"Mine\"}) { id } }", json!({"id": id101})).await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!(ho_campaign(&app, iid, "101").await.title, "Mine", "{run:?}");
    app.ok("mutation($id: ID!) { unlockCampaignColumns(id: $id, columns: [TITLE]) { id } }", json!({"id": id101})).await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!(ho_campaign(&app, iid, "101").await.title, "HO 101", "{run:?}");

    // A filter skips every offer, then is lifted: the rules (and so the seed) are as before,
    // but each offer leaves the skipped list, so skipping it again logs it again.
    let set_min = |min: &'static str| {
        let app = &app;
        async move {
            let v = app.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": iid.to_string()})).await["integration"]["version"]
                .as_i64();
            let q = format!("mutation($id: ID!, $v: Int!) {{ updateIntegration(id: $id, version: $v, input: {{filters: {{countryMode: BLOCK,
                countries: [], {min} os: ALL, offerModels: [], skipWithoutPreviewUrl: false, countryPayouts: [], compareCurrency: \"EUR\"}}}}) {{ version }} }}");
            app.ok(&q, json!({"id": iid.to_string(), "v": v})).await;
        }
    };
    let skipped_logs = || async {
        app.ok(
            "query($id: ID!) { logs(filter: {integrationId: $id}, first: 200) { edges { node { code } } } }",
            json!({"id": iid.to_string()}),
        )
        .await["logs"]["edges"]
            .as_array()
            .map_or(0, |e| e.iter().filter(|e| e["node"]["code"] == "PAYOUT_BELOW_MIN").count())
    };
    set_min("minPayout: \"1000\",").await;
    let run = sync_again(&app, iid, run.id).await;
    // (The percent-payout offer 102 has no amount to compare: it stays.)
    let below = serde_json::from_str::<Value>(&run.filter_counts).unwrap_or_default()["PAYOUT_BELOW_MIN"].as_i64();
    assert_eq!(below, Some(created - 1), "{run:?}");
    let logged = skipped_logs().await;
    assert_eq!(logged, created as usize - 1);
    set_min("").await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!(counter(&run, "unchanged"), created, "{run:?}");
    set_min("minPayout: \"1000\",").await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!(skipped_logs().await, 2 * logged, "skipped, imported, skipped again: logged again ({run:?})");
    set_min("").await;
    let run = sync_again(&app, iid, run.id).await;
    let left = skipped_offer::Entity::find().filter(skipped_offer::Column::IntegrationId.eq(iid)).all(&app.db).await.expect("skipped");
    assert!(left.iter().all(|r| r.code != "PAYOUT_BELOW_MIN"), "imported offers left the skipped list: {left:?} ({run:?})");

    // A campaign whose offer was missed once is written again when its unchanged record returns.
    campaign::Entity::update_many()
        .col_expr(campaign::Column::ConsecutiveMisses, sea_orm::sea_query::Expr::value(1))
        .filter(campaign::Column::Id.eq(ho_campaign(&app, iid, "103").await.id))
        .exec(&app.db)
        .await
        .expect("miss");
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!(ho_campaign(&app, iid, "103").await.consecutive_misses, 0, "{run:?}");

    // Campaigns written before source hashes: compared as before, then given their hash and
    // nothing else; the refresh after that skips them.
    campaign::Entity::update_many()
        .col_expr(campaign::Column::SourceHash, sea_orm::sea_query::Expr::value(Option::<String>::None))
        .filter(campaign::Column::IntegrationId.eq(iid))
        .exec(&app.db)
        .await
        .expect("forget hashes");
    writes(&app.db).await;
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!((counter(&run, "unchanged"), counter(&run, "updated")), (created, 0), "{run:?}");
    let w = writes(&app.db).await;
    assert_eq!(w.get("campaigns").map(|(ops, _)| ops.clone()), Some(BTreeMap::from([("UPDATE".into(), created)])), "{w:?}");
    assert!(OFFER_TABLES.iter().filter(|t| **t != "campaigns").all(|t| !w.contains_key(*t)), "{w:?}");
    let run = sync_again(&app, iid, run.id).await;
    assert_eq!(counter(&run, "unchanged"), created, "{run:?}");
    let w = writes(&app.db).await;
    assert!(OFFER_TABLES.iter().all(|t| !w.contains_key(*t)), "{w:?}");
}

/// Everflow pages are split into raw records too: after the first import every campaign holds
/// the hash of its record, an unchanged re-sync counts every offer unchanged without writing,
/// and a payout change on the platform still reaches its campaign.
#[tokio::test]
async fn everflow_records_are_known_by_their_bytes_too() {
    let offers: Vec<Value> = (1..=30).map(|i| offer(i, &format!("{}.50", i % 7 + 1), &["US"])).collect();
    let (url, fake) = fake_everflow(offers).await;
    let app = App::start(true).await;
    let (id, version) = crate::api::everflow_integration(&app, &url).await;
    finalize(&app, &id, version).await;
    let first = last_run(&app, &id, 0).await;
    assert_eq!(first["counters"]["created"], 30, "{first}");
    let iid: i64 = id.parse().expect("id");
    let hashed = campaign::Entity::find()
        .filter(campaign::Column::IntegrationId.eq(iid))
        .filter(campaign::Column::SourceHash.is_not_null())
        .all(&app.db)
        .await
        .expect("campaigns")
        .len();
    assert_eq!(hashed, 30, "every campaign knows the record it was written from");

    sync_now(&app, &id).await;
    let again = last_run(&app, &id, run_id(&first)).await;
    assert_eq!((again["counters"]["unchanged"].as_i64(), again["counters"]["updated"].as_i64()), (Some(30), Some(0)), "{again}");

    lock(&fake).offers[4] = offer(5, "9.99", &["US"]);
    sync_now(&app, &id).await;
    let changed = last_run(&app, &id, run_id(&again)).await;
    assert_eq!((changed["counters"]["unchanged"].as_i64(), changed["counters"]["updated"].as_i64()), (Some(29), Some(1)), "{changed}");
    let c = campaign::Entity::find()
        .filter(campaign::Column::IntegrationId.eq(iid))
        .filter(campaign::Column::ExternalId.eq("5"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("campaign 5");
    assert_eq!(c.payout, "7.992", "9.99 at the 0.8 ratio");
}
