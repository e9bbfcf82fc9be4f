//! The admin API: validation with coded field errors, optimistic concurrency, write-only
//! secrets, bulk edits with dry run and revert.

use serde_json::{Value, json};

use crate::harness::{App, code};

pub const SECRET: &str = "ef-secret-key-1234567890";

pub async fn advertiser(app: &App, name: &str) -> String {
    let d = app.ok("mutation($n: String!) { createAdvertiser(input: {name: $n}) { id } }", json!({"n": name})).await;
    d["createAdvertiser"]["id"].as_str().unwrap_or_default().to_string()
}

pub async fn everflow_integration(app: &App, api_url: &str) -> (String, i64) {
    let adv = advertiser(app, &format!("Adv {}", uuid::Uuid::new_v4())).await;
    let d = app
        .ok(
            "mutation($a: ID!, $u: String!, $k: String!) { createIntegration(input: {name: \"EF\", connector: \"everflow\", advertiserId: $a,
               credentials: [{field: \"api_key\", value: $k}, {field: \"api_url\", value: $u}]}) { id version credentials { field isSet last4 } } }",
            json!({"a": adv, "u": api_url, "k": SECRET}),
        )
        .await;
    let i = &d["createIntegration"];
    (i["id"].as_str().unwrap_or_default().to_string(), i["version"].as_i64().unwrap_or_default())
}

const SETTINGS: &str = "{refreshMinutes: 60, updatableColumns: [TITLE, REVENUE, PAYOUT, TRACKING_URL, COUNTRIES], redirectType: HTTP_302}";

#[tokio::test]
async fn invalid_sections_answer_validation_errors_naming_the_field() {
    let app = App::start(false).await;
    let (id, v) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let r = app
        .gql(
            "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {filters: {countryMode: ALLOW, countries: [\"US\", \"XX\"],
               minPayout: \"5\", maxPayout: \"2\", os: ALL, offerModels: [], skipWithoutPreviewUrl: false, countryPayouts: [], compareCurrency: \"USD\"}}) { id } }",
            json!({"id": id, "v": v}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "filters.countries[1]");
    let fields: Vec<String> = r["errors"][0]["extensions"]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| f["field"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(fields.contains(&"filters.maxPayout".to_string()), "{fields:?}");
    let r = app
        .gql(
            "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {basicDetails: {trackingUrlAppend: \"aff_sub={clickid}\"}}) { id } }",
            json!({"id": id, "v": v}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION");
    assert!(r["errors"][0]["message"].as_str().unwrap_or_default().contains("unknown macro {clickid}"));
}

#[tokio::test]
async fn a_stale_version_is_a_conflict() {
    let app = App::start(false).await;
    let (id, v) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let q = format!(
        "mutation($id: ID!, $v: Int!) {{ updateIntegration(id: $id, version: $v, input: {{settings: {SETTINGS}}}) {{ version }} }}"
    );
    let d = app.ok(&q, json!({"id": id, "v": v})).await;
    assert_eq!(d["updateIntegration"]["version"].as_i64(), Some(v + 1));
    let r = app.gql(&q, json!({"id": id, "v": v})).await;
    assert_eq!(code(&r), "CONFLICT");
}

#[tokio::test]
async fn credentials_are_write_only_and_sealed_at_rest() {
    let app = App::start(false).await;
    let (id, _) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let d = app.ok("query($id: ID!) { integration(id: $id) { credentials { field isSet last4 } } }", json!({"id": id})).await;
    let text = d.to_string();
    assert!(!text.contains(SECRET), "the API leaked the secret: {text}");
    let creds = d["integration"]["credentials"].as_array().cloned().unwrap_or_default();
    let key = creds.iter().find(|c| c["field"] == "api_key").cloned().unwrap_or(Value::Null);
    assert_eq!(key["isSet"], true);
    assert_eq!(key["last4"], &SECRET[SECRET.len() - 4..]);
    // Nothing in the database holds the secret in plain text.
    use sea_orm::EntityTrait;
    let rows = domain::entity::integration::Entity::find().all(&app.db).await.expect("rows");
    assert!(rows.iter().all(|r| !format!("{r:?}").contains(SECRET)));
    let audit = domain::entity::audit_log::Entity::find().all(&app.db).await.expect("audit");
    assert!(!audit.is_empty() && audit.iter().all(|r| !format!("{r:?}").contains(SECRET)));
}

#[tokio::test]
async fn bulk_update_integrations_dry_run_apply_and_revert() {
    let app = App::start(false).await;
    let (a, _) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let (b, vb) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let read = |id: String| {
        let app = &app;
        async move {
            app.ok(
                "query($id: ID!) { integration(id: $id) { version settings { refreshMinutes } payoutRules { globalRatio } } }",
                json!({"id": id}),
            )
            .await["integration"]
                .clone()
        }
    };
    let before = read(a.clone()).await;
    let m = "mutation($set: IntegrationBulkSet!, $dry: Boolean!) { bulkUpdateIntegrations(where: {connector: \"everflow\"}, set: $set, dryRun: $dry) { id dryRun rowCount sample } }";

    // A dry run shows before/after and writes nothing.
    let d = app.ok(m, json!({"set": {"refreshMinutes": 120, "globalRatio": "0.65"}, "dry": true})).await;
    let cs = &d["bulkUpdateIntegrations"];
    assert_eq!(cs["rowCount"], 2);
    assert!(cs["id"].is_null());
    assert!(cs["sample"][0]["after"]["settings"].as_str().unwrap_or_default().contains("\"refresh_minutes\":120"), "{cs}");
    assert_eq!(read(a.clone()).await, before);

    // Invalid values are refused for every row, naming the field; drafts cannot be activated.
    let r = app.gql(m, json!({"set": {"refreshMinutes": 5}, "dry": false})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(r["errors"][0]["extensions"]["field"], "settings.refreshMinutes");
    let r = app.gql(m, json!({"set": {"status": "ACTIVE"}, "dry": false})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap_or_default().contains("draft"), "{r}");

    // Applied: one changeset, every row changed, versions bumped (an editor holding the old
    // version gets CONFLICT).
    let d = app.ok(m, json!({"set": {"refreshMinutes": 120, "globalRatio": "0.65"}, "dry": false})).await;
    let cs_id = d["bulkUpdateIntegrations"]["id"].clone();
    let after = read(a.clone()).await;
    assert_eq!(after["settings"]["refreshMinutes"], 120);
    assert_eq!(after["payoutRules"]["globalRatio"], "0.65");
    assert_eq!(after["version"].as_i64(), before["version"].as_i64().map(|v| v + 1));
    let r = app
        .gql(
            "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {basicDetails: {name: \"x\"}}) { id } }",
            json!({"id": b, "v": vb}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");

    // Reverted: the sections are back as they were.
    let d = app.ok("mutation($id: ID!) { revertChangeset(id: $id) { revertedAt rowCount } }", json!({"id": cs_id})).await;
    assert_eq!(d["revertChangeset"]["rowCount"], 2);
    let reverted = read(a.clone()).await;
    assert_eq!(reverted["settings"], before["settings"]);
    assert_eq!(reverted["payoutRules"], before["payoutRules"]);
}

/// The read path's SQL: a page of campaigns with their payouts, caps and publisher payouts
/// costs the same number of statements for 5 rows as for 50 (child rows are batch-loaded), and
/// COUNT(*) runs only when `totalCount` is selected.
#[tokio::test]
async fn a_campaign_page_costs_the_same_statements_whatever_its_size() {
    let app = App::start(false).await;
    let feed: Vec<Value> = (1..=60).map(|i| crate::sync::offer(i, "2.5", &["US", "CA"])).collect();
    let (url, _fake) = crate::sync::fake_everflow(feed).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let (stop, agent) = app.spawn_agent("importer", |_| {});
    crate::sync::finalize(&app, &id, v).await;
    crate::harness::eventually(60, "60 campaigns and no run open", || async {
        let d = app.ok("query($id: ID!) { campaigns(filter: {integrationId: $id}, first: 1) { totalCount } }", json!({"id": id})).await;
        let open = app
            .ok("query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 10) { edges { node { status } } } }", json!({"id": id}))
            .await;
        let running = open["syncRuns"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["node"]["status"] == "RUNNING" || e["node"]["status"] == "QUEUED");
        (d["campaigns"]["totalCount"] == 60 && !running).then_some(())
    })
    .await;
    // Only the gateway touches the campaign tables from here on.
    stop.cancel();
    let _ = agent.await;
    // (statements, of which COUNT) for one page query.
    let statements = |first: i64, total: bool| {
        let app = &app;
        let id = id.clone();
        async move {
            let q = format!(
                "query($id: ID!, $n: Int!) {{ campaigns(filter: {{integrationId: $id}}, first: $n) {{ {} edges {{ node {{ id title
                   payouts {{ country revenue payout }} caps {{ event value }} publisherPayouts {{ publisherId payout }} }} }} }} }}",
                if total { "totalCount" } else { "" }
            );
            let before = app.campaign_statements.lock().unwrap_or_else(|e| e.into_inner()).len();
            let d = app.ok(&q, json!({"id": id, "n": first})).await;
            let sql: Vec<String> = app.campaign_statements.lock().unwrap_or_else(|e| e.into_inner())[before..].to_vec();
            assert_eq!(d["campaigns"]["edges"].as_array().map(Vec::len), Some(first as usize));
            (sql.len(), sql.iter().filter(|s| s.to_uppercase().contains("COUNT(")).count())
        }
    };
    let small = statements(5, false).await;
    let large = statements(50, false).await;
    let counted = statements(50, true).await;
    println!("campaign statements (all, COUNT): 5 rows {small:?}, 50 rows {large:?}, 50 rows with totalCount {counted:?}");
    // One page query and one batch per child table: 4. A busy machine may split a batch in two
    // (the loader waits 1 ms for more keys). Without batching, 50 rows cost 152.
    assert!(small.0 <= 7 && large.0 <= 7, "statements grow with the page size: 5 rows {small:?}, 50 rows {large:?}");
    assert_eq!((small.1, large.1, counted.1), (0, 0, 1), "COUNT(*) only when totalCount is selected");
}
