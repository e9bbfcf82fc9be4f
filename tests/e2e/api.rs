//! The admin API: validation with coded field errors, optimistic concurrency, write-only
//! secrets, bulk edits with dry run and revert.

use serde_json::{Value, json};

use crate::harness::{App, code, eventually};

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
/// costs the same number of statements for 5 rows as for 50, on the resolvers (child rows are
/// batch-loaded) and compiled (one statement), and COUNT(*) runs only when `totalCount` is
/// selected.
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
    let small_again = statements(5, false).await;
    let counted = statements(50, true).await;
    println!("campaign statements (all, COUNT): 5 rows {small:?}, 50 rows {large:?}, 50 rows with totalCount {counted:?}");
    // A document's first request runs on the resolvers: one page query and one batch per child
    // table, 4 for 5 rows as for 50 (a busy machine may split a batch in two: the loader waits
    // 1 ms for more keys; without batching, 50 rows cost 152). The same document again runs its
    // compiled plan: one statement, the child rows as JSON columns, whatever the page size.
    assert!(small.0 <= 7 && counted.0 <= 8, "the resolvers' statements: 5 rows {small:?}, 50 rows and COUNT {counted:?}");
    assert_eq!((large.0, small_again.0), (1, 1), "the compiled page's statements: 50 rows {large:?}, 5 rows {small_again:?}");
    assert_eq!((small.1, large.1, counted.1), (0, 0, 1), "COUNT(*) only when totalCount is selected");
}

/// Campaign rows that exercise every field the list serves: nulls and values, HTML and text
/// that JSON must escape, odd decimals, dates, child rows of every kind (and none).
async fn varied_campaigns(app: &App, integration_id: i64, publisher_id: i64) {
    use chrono::{TimeZone, Utc};
    use domain::entity::{campaign, campaign_cap, campaign_payout, campaign_publisher_payout};
    use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, IntoActiveModel};
    let at = |d: u32, s: u32| Utc.with_ymd_and_hms(2026, 11, d, 10, 0, s).single().expect("date");
    let titles = [
        "Plain",
        "Quotes \" and \\ backslash",
        "Ünïcødé ✓ 🚀 </script>",
        "Line\nbreak\tand tab",
        "Paused by hand",
        "Expired",
        "No children",
    ];
    for (i, title) in titles.iter().enumerate() {
        let n = i as u32 + 1;
        let c = campaign::Model {
            id: 0,
            integration_id,
            external_id: format!("ext-{n}"),
            title: title.to_string(),
            description: (n % 2 == 1).then(|| format!("<p>Offer {n} &amp; <b>more</b></p>")),
            description_text: (n % 2 == 1).then(|| format!("Offer {n} & more")),
            preview_url: (n != 3).then(|| format!("https://shop.test/{n}?a=1&b=\"x\"")),
            tracking_url: Some(format!("https://trk.test/{n}/?sub1={{click_id}}")),
            impression_url: (n == 2).then(|| "https://imp.test/2".to_string()),
            thumbnail_url: None,
            status: ["active", "paused", "pending", "expired"][i % 4].into(),
            visibility: ["public", "private", "permission"][i % 3].into(),
            category: (!n.is_multiple_of(3)).then(|| "Finance & Banking".to_string()),
            currency: ["USD", "EUR", "GBP"][i % 3].into(),
            revenue: domain::money::to_db(format!("{}.{}", n * 3, "105").parse().expect("decimal")),
            payout: domain::money::to_db(format!("0.000{n}").parse().expect("decimal")),
            payout_type: ["fixed", "percent"][i % 2].into(),
            model: (n != 7).then(|| ["cpa", "cpi", "cpl"][i % 3].to_string()),
            objective: (n == 1).then(|| "conversions".to_string()),
            redirect_type: n.is_multiple_of(2).then(|| "http_302".to_string()),
            countries: if n == 7 { "[]".into() } else { format!("[\"US\",\"C{n}\"]") },
            blocked_countries: if n == 2 { "[\"RU\"]".into() } else { "[]".into() },
            os: if n == 3 { "[\"android\",\"ios\"]".into() } else { "[]".into() },
            devices: if n == 4 { "[\"mobile\"]".into() } else { "[]".into() },
            expires_at: (n == 6).then(|| at(30, 0)),
            time_targeting: "{}".into(),
            exchange_rate: (n == 2).then(|| domain::money::to_db("1.0825".parse().expect("decimal"))),
            fingerprint: String::new(),
            source_hash: None,
            source_expires_at: None,
            provenance: if n == 1 {
                "{\"*\":{\"source\":\"sync\",\"run_id\":1,\"at\":\"2026-11-01T10:00:00Z\"}}".into()
            } else {
                "{}".into()
            },
            locked_columns: "[]".into(),
            paused_by: (n == 2).then(|| "upstream".to_string()),
            upstream_status: Some(["active", "paused"][i % 2].to_string()),
            last_run_id: None,
            first_seen_at: at(1, n),
            last_seen_at: at(2, n),
            consecutive_misses: (n == 6) as i32 * 2,
            vanished_at: (n == 6).then(|| at(3, 0)),
            created_at: at(1, n),
            updated_at: at(4, n),
        };
        let mut am = c.into_active_model();
        am.id = NotSet;
        let c = am.insert(&app.db).await.expect("campaign");
        for k in 0..(n % 4) {
            campaign_payout::ActiveModel {
                id: NotSet,
                campaign_id: sea_orm::Set(c.id),
                country: sea_orm::Set((k > 0).then(|| ["US", "DE", "FR"][k as usize % 3].to_string())),
                goal: sea_orm::Set((k == 2).then(|| "2".to_string())),
                goal_name: sea_orm::Set((k == 2).then(|| "Deposit \"first\"".to_string())),
                revenue: sea_orm::Set(domain::money::to_db(format!("1{k}.50").parse().expect("decimal"))),
                payout: sea_orm::Set(domain::money::to_db(format!("{k}.125").parse().expect("decimal"))),
                payout_type: sea_orm::Set(["fixed", "percent"][k as usize % 2].into()),
                currency: sea_orm::Set("USD".into()),
                excluded_countries: sea_orm::Set(if k == 0 && n == 3 { "[\"CN\",\"IN\"]".into() } else { "[]".into() }),
            }
            .insert(&app.db)
            .await
            .expect("payout");
        }
        if n <= 3 {
            campaign_cap::ActiveModel {
                id: NotSet,
                campaign_id: sea_orm::Set(c.id),
                source: sea_orm::Set(["upstream", "settings", "extra"][i].into()),
                event: sea_orm::Set(["conversions", "clicks", "budget"][i].into()),
                period: sea_orm::Set(["daily", "monthly", "lifetime"][i].into()),
                value: sea_orm::Set(domain::money::to_db(format!("{}.5", n * 100).parse().expect("decimal"))),
                visibility: sea_orm::Set(["private", "public", "private"][i].into()),
                counting: sea_orm::Set(["gross", "approved", "gross"][i].into()),
                timezone: sea_orm::Set(["UTC", "America/New_York", "Asia/Kolkata"][i].into()),
                over_delivery: sea_orm::Set(["pause", "keep_active", "pause"][i].into()),
                goal: sea_orm::Set((n == 1).then(|| "1,2".to_string())),
            }
            .insert(&app.db)
            .await
            .expect("cap");
        }
        if n == 1 || n == 4 {
            campaign_publisher_payout::ActiveModel {
                campaign_id: sea_orm::Set(c.id),
                publisher_id: sea_orm::Set(publisher_id),
                payout: sea_orm::Set(domain::money::to_db(format!("{n}.75").parse().expect("decimal"))),
                source: sea_orm::Set(if n == 1 { "tier" } else { "publisher" }.into()),
            }
            .insert(&app.db)
            .await
            .expect("publisher payout");
        }
    }
}

/// One more gateway over `app`'s database that always answers with the schema's resolvers
/// (`gateway.compiled_queries = false`); its base URL.
async fn schema_only_gateway(app: &App) -> String {
    let mut cfg = (*app.config).clone();
    cfg.gateway.compiled_queries = false;
    let state = gateway::state(app.db.clone(), std::sync::Arc::new(cfg), app.cipher.clone(), app.shutdown.clone()).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let s = app.shutdown.clone();
    tokio::spawn(async move { gateway::serve(state, listener, s).await });
    base
}

/// The body bytes and content type of one GraphQL POST.
async fn raw_post(app: &App, base: &str, body: &Value, accept: Option<&str>) -> (String, bytes::Bytes) {
    let mut rb = app.http.post(format!("{base}/graphql")).bearer_auth(&app.admin_token).json(body);
    if let Some(a) = accept {
        rb = rb.header("accept", a);
    }
    let r = rb.send().await.expect("request");
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (ct, r.bytes().await.expect("body"))
}

/// `offerbridge_graphql_compiled_requests_total` as /metrics shows it now (the registry is
/// the process's, shared by every test: the operation names below are this test's alone).
async fn compiled_requests(app: &App, operation: &str) -> u64 {
    let text = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    let series = format!("offerbridge_graphql_compiled_requests_total{{operation=\"{operation}\"}}");
    text.lines().find_map(|l| l.strip_prefix(&series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// The compiled `campaigns` pages (gateway/src/schema/campaigns/compiled.rs) answer what the
/// schema's resolvers answer, every value exactly (compared as JSON: the schema's key order
/// varies, the plan's follows the selection): every field of a campaign and of its payouts,
/// caps and publisher payouts, the connection's fields, aliases, `__typename`, literal and
/// variable arguments, filters, cursors, empty pages and both media types. A request the plan
/// cannot answer as the schema would (a variable of the wrong type, `first` out of range, a
/// bad cursor or country, text the guard refuses) gets the schema's own coded error; the
/// plan's answers are counted exactly.
#[tokio::test]
async fn compiled_pages_answer_what_the_schema_answers() {
    let app = App::start(false).await;
    let schema_only = schema_only_gateway(&app).await;
    let (id, _) = everflow_integration(&app, "https://api.eflow.test").await;
    let integration: i64 = id.parse().expect("id");
    let p = app.ok("mutation { createPublisher(input: {name: \"Pub\"}) { id } }", json!({})).await;
    let publisher: i64 = p["createPublisher"]["id"].as_str().and_then(|s| s.parse().ok()).expect("publisher id");
    varied_campaigns(&app, integration, publisher).await;
    // A hand edit: locked columns and a provenance entry with an actor.
    let first = app.ok("{ campaigns(first: 1) { nodes { id } } }", json!({})).await;
    let cid = first["campaigns"]["nodes"][0]["id"].clone();
    app.ok("mutation($id: ID!) { updateCampaign(id: $id, input: {title: \"Edited ✓\", status: PAUSED}) { id } }", json!({"id": cid})).await;

    const NODE: &str = "__typename id integrationId externalId title description descriptionText previewUrl trackingUrl
        impressionUrl thumbnailUrl status pausedBy upstreamStatus visibility category currency revenue payout payoutType model
        objective redirectType expiresAt exchangeRate firstSeenAt lastSeenAt consecutiveMisses vanishedAt updatedAt countries
        blockedCountries os devices lockedColumns provenance
        payouts { __typename country excludedCountries goal goalName revenue payout payoutType currency }
        caps { __typename source goal event period value visibility counting timezone overDelivery }
        publisherPayouts { __typename publisherId payout source }";
    let every = format!(
        "query CompiledEvery($first: Int, $after: String, $filter: CampaignFilter) {{
           campaigns(first: $first, after: $after, filter: $filter) {{ __typename totalCount
             pageInfo {{ __typename hasPreviousPage hasNextPage startCursor endCursor }}
             edges {{ __typename cursor node {{ {NODE} }} }} nodes {{ {NODE} }} }} }}"
    );
    let cursor = |n: i64| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{n}"))
    };
    let min_id: i64 = cid.as_str().and_then(|s| s.parse().ok()).expect("campaign id");
    // (document, operation name, the variables of each request (the first is also learned
    // from), answered by the plan?)
    type Case<'a> = (String, Option<&'a str>, Vec<(Value, bool)>);
    let cases: Vec<Case> = vec![
        (
            every.clone(),
            Some("CompiledEvery"),
            vec![
                (json!({}), true),
                (json!({"first": 3}), true),
                (json!({"first": 3, "after": cursor(min_id + 2)}), true),
                (json!({"first": 0}), true),
                (json!({"first": 2, "filter": {"status": "PAUSED"}}), true),
                (json!({"filter": {"search": "ÜNÏ", "integrationId": id}}), true),
                (json!({"filter": {"country": "US", "model": "CPA"}}), true),
                (json!({"filter": {"externalIds": ["ext-2", "ext-7", "nope"]}}), true),
                (json!({"after": cursor(min_id + 100)}), true),
                // The schema's own errors, not the plan's.
                (json!({"first": "three"}), false),
                (json!({"first": 100000}), false),
                (json!({"first": -1}), false),
                (json!({"after": "not-a-cursor"}), false),
                (json!({"filter": {"country": "Narnia"}}), false),
                (json!({"filter": {"status": "GONE"}}), false),
                (json!({"filter": {"integrationId": "x"}}), false),
                (json!({"filter": {"search": "nul\u{0}byte"}}), false),
                // A key CampaignFilter does not have: validation refuses it (parse alone would
                // ignore it and serve the unfiltered page).
                (json!({"filter": {"stauts": "PAUSED"}}), false),
                (json!({"filter": {"integration_id": id}}), false),
            ],
        ),
        (
            "query CompiledNested($id: ID!, $s: CampaignStatus) { campaigns(filter: {integrationId: $id, status: $s}) { totalCount
               nodes { externalId status } } }"
                .into(),
            Some("CompiledNested"),
            vec![
                (json!({"id": id}), true),
                (json!({"id": id, "s": "PENDING"}), true),
                (json!({"id": id, "s": null}), true),
                (json!({"id": "x"}), false),
                (json!({"s": "ACTIVE"}), false),
            ],
        ),
        (
            "query CompiledAliases { page: campaigns(first: 4, filter: {status: ACTIVE}) { n: nodes { key: id t: title
               p: payouts { c: country r: revenue } } info: pageInfo { more: hasNextPage end: endCursor } } }"
                .into(),
            Some("CompiledAliases"),
            vec![(json!({}), true), (json!({"unused": 1}), true)],
        ),
        (
            "query CompiledRequired($n: Int!, $a: String = null) { campaigns(first: $n, after: $a) { edges { cursor node { id } } } }"
                .into(),
            Some("CompiledRequired"),
            vec![
                (json!({"n": 2}), true),
                (json!({"n": 2, "a": cursor(min_id)}), true),
                // async-graphql takes an explicit null for `Int!` (first = null: 50 rows); the plan leaves
                // that to it.
                (json!({"n": null}), false),
                (json!({}), false),
            ],
        ),
        ("{ campaigns { totalCount nodes { externalId payouts { revenue } } } }".into(), None, vec![(json!({}), true)]),
        // One child table selected: its rows are joined to the page, one statement row per
        // child row, and grouped back; `first` still counts campaigns.
        (
            "query CompiledJoined($first: Int, $after: String) { campaigns(first: $first, after: $after) { pageInfo { hasNextPage endCursor }
               nodes { id payouts { country excludedCountries goal goalName revenue payout payoutType currency } } } }"
                .into(),
            Some("CompiledJoined"),
            vec![
                (json!({}), true),
                (json!({"first": 1}), true),
                (json!({"first": 2}), true),
                (json!({"first": 2, "after": cursor(min_id + 1)}), true),
                (json!({"first": 0}), true),
            ],
        ),
        (
            "query CompiledCaps($first: Int) { campaigns(first: $first) { edges { cursor node { title caps { source goal event period value
               visibility counting timezone overDelivery } } } pageInfo { hasNextPage } } }"
                .into(),
            Some("CompiledCaps"),
            vec![(json!({}), true), (json!({"first": 1}), true), (json!({"first": 3}), true)],
        ),
        (
            "query CompiledPublisher { campaigns(first: 5) { nodes { externalId publisherPayouts { publisherId payout source } } } }".into(),
            Some("CompiledPublisher"),
            vec![(json!({}), true)],
        ),
    ];
    for (doc, op, requests) in &cases {
        let body = |vars: &Value| {
            let mut b = json!({"query": doc, "variables": vars});
            if let Some(op) = op {
                b["operationName"] = json!(op);
            }
            b
        };
        // The schema answers first; the plan is learned from that answer.
        let learn = raw_post(&app, &app.base, &body(&requests[0].0), None).await;
        let learned: Value = serde_json::from_slice(&learn.1).expect("json");
        assert!(learned.get("errors").is_none(), "{doc}: {learned}");
        let before = match op {
            Some(op) => compiled_requests(&app, op).await,
            None => 0,
        };
        let mut expect_compiled = 0;
        for (vars, compiled) in requests {
            for accept in [None, Some("application/graphql-response+json")] {
                let (ct, got) = raw_post(&app, &app.base, &body(vars), accept).await;
                let (schema_ct, schema) = raw_post(&app, &schema_only, &body(vars), accept).await;
                // async-graphql writes an object's keys in the order its fields finish
                // resolving (payouts and caps load concurrently), so two schema answers may
                // differ in key order: the bodies are compared as JSON values, every string,
                // number and null exactly.
                let answer: Value = serde_json::from_slice(&got).expect("json");
                let expected: Value = serde_json::from_slice(&schema).expect("json");
                assert_eq!(answer, expected, "{doc} with {vars} ({accept:?}): the compiled page differs from the schema's");
                assert_eq!(ct, schema_ct, "{doc} with {vars}: content type");
                if *compiled
                    && doc.contains("CompiledEvery")
                    && answer["data"]["campaigns"]["nodes"].as_array().is_some_and(|n| !n.is_empty())
                {
                    // The plan writes in selection order, as GraphQL asks.
                    let text = String::from_utf8_lossy(&got);
                    let at = |k: &str| text.find(&format!("\"{k}\":[")).unwrap_or_default();
                    assert!(at("payouts") < at("caps") && at("caps") < at("publisherPayouts"), "selection order: {text}");
                }
                if *compiled {
                    assert!(answer.get("errors").is_none(), "{doc} with {vars}: {answer}");
                }
                expect_compiled += *compiled as u64;
            }
        }
        if let Some(op) = op {
            assert_eq!(compiled_requests(&app, op).await - before, expect_compiled, "{op}: requests answered by the plan");
        }
    }
    // Each field alone: the plan reads only the columns the selected fields need, so a field
    // whose column were missing from its list would show here as an empty value.
    let scalars = NODE.split("payouts {").next().unwrap_or_default();
    let before = compiled_requests(&app, "CompiledOne").await;
    let mut alone = 0;
    for field in scalars.split_whitespace() {
        let doc = format!("query CompiledOne {{ campaigns(first: 50) {{ nodes {{ {field} }} }} }}");
        let body = json!({"query": doc, "operationName": "CompiledOne"});
        raw_post(&app, &app.base, &body, None).await;
        let got: Value = serde_json::from_slice(&raw_post(&app, &app.base, &body, None).await.1).expect("json");
        let schema: Value = serde_json::from_slice(&raw_post(&app, &schema_only, &body, None).await.1).expect("json");
        assert_eq!(got, schema, "{field} alone");
        assert_eq!(got["data"]["campaigns"]["nodes"].as_array().map(Vec::len), Some(7), "{field} alone: {got}");
        alone += 1;
    }
    assert_eq!(compiled_requests(&app, "CompiledOne").await - before, alone, "every field alone answered by the plan");
    // The rows served are the fixture's, not an empty page compared with an empty page.
    let all = app.ok(&every, json!({"first": 50})).await;
    assert_eq!(all["campaigns"]["totalCount"], 7);
    let n = &all["campaigns"]["nodes"];
    assert_eq!(n[0]["title"], "Edited ✓");
    assert_eq!(n[0]["lockedColumns"], json!(["title", "status"]));
    assert_eq!(n[0]["publisherPayouts"][0]["source"], "TIER");
    assert_eq!(n[0]["caps"][0]["goal"], "1,2");
    assert_eq!(n[2]["payouts"][0]["excludedCountries"], json!(["CN", "IN"]));
    assert_eq!(n[1]["exchangeRate"], "1.0825");
    assert_eq!(n[2]["title"], "Ünïcødé ✓ 🚀 </script>");
}

/// A compiled page checks its caller's token in its own statement (one round trip, no cache):
/// a current token of any role gets the plan's answer (an empty page too) and has its
/// last-used time touched; a token revoked a moment ago, an unknown one, one whose role this
/// build does not know and none get the schema's UNAUTHENTICATED, and never make the database
/// count.
#[tokio::test]
async fn compiled_pages_check_the_token_in_their_own_statement() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = App::start(false).await;
    let (id, _) = everflow_integration(&app, "https://api.eflow.test").await;
    let integration: i64 = id.parse().expect("id");
    let p = app.ok("mutation { createPublisher(input: {name: \"Pub\"}) { id } }", json!({})).await;
    let publisher: i64 = p["createPublisher"]["id"].as_str().and_then(|s| s.parse().ok()).expect("publisher id");
    varied_campaigns(&app, integration, publisher).await;
    let (viewer, token) = domain::tokens::create(&app.db, "reader", domain::model::Role::Viewer).await.expect("token");
    let (odd, odd_token) = domain::tokens::create(&app.db, "odd", domain::model::Role::Viewer).await.expect("token");
    domain::entity::api_token::Entity::update_many()
        .col_expr(domain::entity::api_token::Column::Role, sea_orm::sea_query::Expr::value("auditor"))
        .filter(domain::entity::api_token::Column::Id.eq(odd.id))
        .exec(&app.db)
        .await
        .expect("a role this build does not know");
    let page =
        json!({"query": "query TokenPage { campaigns(first: 3) { totalCount nodes { externalId title } } }", "operationName": "TokenPage"});
    let empty = json!({"query": "query TokenEmpty { campaigns(filter: {search: \"no such offer\"}) { nodes { id } } }", "operationName": "TokenEmpty"});
    let post = |body: &Value, token: Option<String>| {
        let mut rb = app.http.post(format!("{}/graphql", app.base)).json(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        async move { rb.send().await.expect("request").json::<Value>().await.expect("json") }
    };
    let statements = || app.campaign_statements.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Learned from the admin's answers, then answered by the plan for the viewer.
    let learned = post(&page, Some(app.admin_token.clone())).await;
    assert_eq!(learned["data"]["campaigns"]["nodes"].as_array().map(Vec::len), Some(3), "{learned}");
    assert_eq!(learned["data"]["campaigns"]["totalCount"], 7, "{learned}");
    let nothing = post(&empty, Some(app.admin_token.clone())).await;
    assert_eq!(nothing["data"]["campaigns"]["nodes"], json!([]), "{nothing}");
    let before = (compiled_requests(&app, "TokenPage").await, compiled_requests(&app, "TokenEmpty").await);
    let seen = statements().len();
    assert_eq!(post(&page, Some(token.clone())).await, learned, "a viewer reads the same page");
    let sql = statements()[seen..].to_vec();
    assert_eq!(sql.len(), 2, "the page, the token in it, then COUNT: {sql:?}");
    assert!(sql[0].contains("api_tokens") && sql[0].contains("revoked_at"), "the token is checked in the page's statement: {sql:?}");
    assert_eq!(post(&empty, Some(token.clone())).await, nothing, "an empty page for a current token");
    assert_eq!(compiled_requests(&app, "TokenPage").await - before.0, 1, "answered by the plan");
    assert_eq!(compiled_requests(&app, "TokenEmpty").await - before.1, 1, "the empty page answered by the plan");
    // Last used is written off the request path.
    eventually(10, "the viewer's last-used time is written", || async {
        domain::entity::api_token::Entity::find_by_id(viewer.id).one(&app.db).await.ok().flatten().and_then(|t| t.last_used_at)
    })
    .await;
    // Revoked a moment ago: refused from the next request, by the schema's path.
    let revoked = app.gql("mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }", json!({"id": viewer.id.to_string()})).await;
    assert!(revoked["data"]["revokeApiToken"]["revokedAt"].is_string(), "{revoked}");
    for (who, t) in
        [("revoked", Some(token)), ("unknown", Some("ob_not_a_token".to_string())), ("an unknown role", Some(odd_token)), ("none", None)]
    {
        let seen = statements().len();
        let r = post(&page, t).await;
        assert_eq!(code(&r), "UNAUTHENTICATED", "{who}: {r}");
        assert!(r["data"].is_null() || r["data"]["campaigns"].is_null(), "{who}: no rows: {r}");
        let sql = statements()[seen..].to_vec();
        assert!(sql.iter().all(|s| !s.to_uppercase().contains("COUNT(")), "{who}: the database never counts for it: {sql:?}");
    }
    assert_eq!(compiled_requests(&app, "TokenPage").await - before.0, 1, "only the current token's request was the plan's");
}
