//! `offerbridge demo` as a newcomer runs it: one process, a sample advertiser on loopback
//! (`agent::sample::server`, the same code as the other tests' fake advertiser), two
//! integrations imported within a minute, the feed's changes reaching the campaigns, Ctrl-C
//! stopping everything; and the README's API tour run line by line against it.

use serde_json::{Value, json};

use crate::{
    harness::eventually,
    procs::Demo,
    security::{Init, Msg, ws_init_at},
};

const CAMPAIGNS: &str = "query($id: ID!, $after: String) { campaigns(first: 100, after: $after, filter: {integrationId: $id}) {
    nodes { externalId title status upstreamStatus currency revenue payoutType previewUrl category countries os caps { event period value }
            payouts { goal goalName country revenue payoutType currency } }
    pageInfo { hasNextPage endCursor } } }";

/// Every campaign of an integration, by external id.
async fn campaigns(demo: &Demo, integration: &str) -> std::collections::BTreeMap<String, Value> {
    let mut all = std::collections::BTreeMap::new();
    let mut after = Value::Null;
    loop {
        let r = demo.gql(CAMPAIGNS, json!({"id": integration, "after": after})).await;
        assert!(r.get("errors").is_none(), "{r}");
        let page = &r["data"]["campaigns"];
        for n in page["nodes"].as_array().expect("nodes") {
            let mut n = n.clone();
            let id = n["externalId"].as_str().expect("externalId").to_string();
            if let Some(o) = n.as_object_mut() {
                o.remove("externalId");
                // A set: HasOffers keys its countries by code, Everflow lists them.
                if let Some(Value::Array(c)) = o.get_mut("countries") {
                    c.sort_by_key(|v| v.as_str().unwrap_or_default().to_string());
                }
                // Everflow lists the offer's own payout as its default entry ("Base"); TUNE
                // keeps it on the offer only. The goals after it are the same.
                if let Some(Value::Array(p)) = o.get_mut("payouts") {
                    p.retain(|p| p["goalName"] != "Base");
                }
            }
            all.insert(id, n);
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return all;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The demo imports both sample integrations before it prints its token (within a minute),
/// the same feed through two platforms' wire formats gives the same campaigns, each step of the
/// sample advertiser reaches the campaigns through the demo's sync, and Ctrl-C ends it with 0.
#[tokio::test]
async fn the_demo_imports_the_sample_advertiser_and_follows_its_changes() {
    let mut demo = Demo::start(&["--change-every", "4s"], 60);
    assert_eq!(demo.intro.matches("connection test passed (300 offers visible)").count(), 2, "{}", demo.intro);
    let runs = demo.gql("{ syncRuns(first: 10, filter: {}) { edges { node { integrationId status counters } } } }", json!({})).await;
    let runs = runs["data"]["syncRuns"]["edges"].as_array().cloned().unwrap_or_default();
    for id in ["1", "2"] {
        let first = runs.iter().rev().find(|e| e["node"]["integrationId"] == id).unwrap_or_else(|| panic!("no run of {id}: {runs:?}"));
        assert_eq!(first["node"]["status"], "SUCCEEDED", "{first}");
        assert!(first["node"]["counters"]["created"].as_i64().unwrap_or(0) > 200, "{first}");
    }

    // One feed, two wire formats: the campaigns agree on what the offer is.
    let (hasoffers, everflow) = (campaigns(&demo, "1").await, campaigns(&demo, "2").await);
    assert!(hasoffers.len() > 200, "{}", hasoffers.len());
    assert_eq!(hasoffers.keys().collect::<Vec<_>>(), everflow.keys().collect::<Vec<_>>(), "the same offers pass the same filters");
    for (id, h) in &hasoffers {
        assert_eq!(h, &everflow[id], "offer {id}: HasOffers and Everflow say the same");
    }
    // Offer 101: 1.25 USD, active; offer 50 paused upstream; offer 37 has no preview URL (skipped);
    // offer 105 (5.25) has its two goals (Registration 1.50, Deposit as much as the offer).
    assert_eq!(hasoffers["101"]["revenue"], "1.25", "{}", hasoffers["101"]);
    let goals: Vec<(Value, Value)> =
        hasoffers["105"]["payouts"].as_array().into_iter().flatten().map(|p| (p["goalName"].clone(), p["revenue"].clone())).collect();
    assert_eq!(goals, [(json!("Registration"), json!("1.5")), (json!("Deposit"), json!("5.25"))], "{}", hasoffers["105"]);
    assert_eq!(hasoffers["101"]["currency"], "USD");
    assert_eq!(hasoffers["50"]["upstreamStatus"], "PAUSED", "{}", hasoffers["50"]);
    assert!(!hasoffers.contains_key("37"), "skipWithoutPreviewUrl");

    // A step every 0 s is refused before anything starts.
    let (code, err) = Demo::refused(&["--change-every", "0s", "--sample-listen", "127.0.0.1:0"]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("--change-every must be longer than 0"), "{err}");
    // A second demo in the same folder stops before touching the running one's database.
    let (code, err) = demo.again_in_the_same_folder();
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("another `offerbridge demo` is running"), "{err}");
    assert_eq!(campaigns(&demo, "1").await.len(), hasoffers.len(), "the running demo's database is intact");

    // Step 1: offers 1, 101, 201 earn 0.50 more for good, offer 301 appears.
    eventually(40, "step 1 reaches both integrations", || async {
        let (h, e) = (campaigns(&demo, "1").await, campaigns(&demo, "2").await);
        (h.get("101").map(|c| c["revenue"].clone()) == Some(json!("1.75"))
            && e.get("101").map(|c| c["revenue"].clone()) == Some(json!("1.75"))
            && h.contains_key("301")
            && e.contains_key("301"))
        .then_some(())
    })
    .await;
    assert!(demo.proc.log_text().contains("sample advertiser: step 1"), "{}", demo.proc.log_text());
    // Each step drops one offer for the step (its campaign paused as vanished) and brings the
    // previous step's back (re-activated): the vanish policy at work, in the runs' counters.
    eventually(40, "a vanished offer paused and a returning one re-activated", || async {
        let r = demo.gql("{ syncRuns(first: 50, filter: {integrationId: \"1\"}) { edges { node { counters } } } }", json!({})).await;
        let sum = |k: &str| -> i64 {
            r["data"]["syncRuns"]["edges"].as_array().into_iter().flatten().map(|e| e["node"]["counters"][k].as_i64().unwrap_or(0)).sum()
        };
        (sum("paused") >= 1 && sum("reactivated") >= 1).then_some(())
    })
    .await;

    assert_eq!(demo.interrupt(20), Some(0), "Ctrl-C stops the demo cleanly");
}

/// One request of the README's tour: the operation, and what to wait for.
struct Step {
    operation: String,
    /// `# repeat until F is V` / `# repeat until F is set`.
    until: Option<(String, Option<String>)>,
    /// `# "N"`: the id the README says this step answers.
    id: Option<String>,
}

/// The tour's GraphQL block from README.md: one operation per line, continued while its
/// braces are open; `#` outside a string starts a comment. A comment `# "N"` says the id the
/// step answers on a fresh demo; `# repeat until F is V` (or `is set`) says what to wait for.
fn tour() -> Vec<Step> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let start = readme.find("Run it on the demo").expect("the README's tour on the demo");
    let block = &readme[start..];
    let block = &block[block.find("```graphql\n").expect("the tour's graphql block") + 11..];
    let block = &block[..block.find("```").expect("the end of the block")];
    let mut steps: Vec<Step> = vec![];
    let (mut open, mut current, mut comments) = (0i32, String::new(), String::new());
    for line in block.lines() {
        // Split code from comment, counting braces outside string literals.
        let (mut in_string, mut escaped, mut cut) = (false, false, line.len());
        for (i, c) in line.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '{' if !in_string => open += 1,
                '}' if !in_string => open -= 1,
                '#' if !in_string => {
                    cut = i;
                    break;
                }
                _ => {}
            }
        }
        let (code, comment) = (&line[..cut], line[cut..].trim_start_matches('#').trim());
        if code.trim().is_empty() && current.is_empty() {
            continue;
        }
        current.push_str(code);
        current.push('\n');
        comments.push_str(comment);
        comments.push(' ');
        if open == 0 {
            let until = comments.split("repeat until ").nth(1).map(|u| {
                let (field, value) = u.split_once(" is ").expect("repeat until F is V");
                let value = value.split_whitespace().next().unwrap_or_default().to_string();
                (field.trim().to_string(), (value != "set").then_some(value))
            });
            let id = comments.trim().strip_prefix('"').and_then(|r| r.split('"').next()).map(str::to_string);
            steps.push(Step { operation: std::mem::take(&mut current), until, id });
            comments.clear();
        }
    }
    assert_eq!(open, 0, "unbalanced braces in the tour");
    steps
}

/// The first `id` in `v`, depth first.
fn first_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("id").and_then(Value::as_str).map(str::to_string).or_else(|| m.values().find_map(first_id)),
        Value::Array(a) => a.iter().find_map(first_id),
        _ => None,
    }
}

/// Whether `v` holds `field` equal to `want` (or set to anything but null) somewhere.
fn holds(v: &Value, field: &str, want: &Option<String>) -> bool {
    match v {
        Value::Object(m) => {
            m.get(field).is_some_and(|x| match want {
                Some(w) => x.as_str() == Some(w.as_str()),
                None => !x.is_null(),
            }) || m.values().any(|x| holds(x, field, want))
        }
        Value::Array(a) => a.iter().any(|x| holds(x, field, want)),
        _ => false,
    }
}

/// The README's tour, pasted in order on the demo's database: every line answers without an
/// error (the sample advertiser's address is the only thing substituted: the test's demo
/// listens on a free port, the README's on 127.0.0.1:8089).
#[tokio::test]
async fn the_readme_tour_runs_on_the_demo() {
    let demo = Demo::start(&[], 60);
    let steps = tour();
    assert!(steps.len() >= 20, "{} steps", steps.len());
    assert!(steps.iter().filter(|s| s.id.is_some()).count() >= 4, "the README states the ids its steps create");
    for (n, step) in steps.iter().enumerate() {
        let operation = step.operation.replace("http://127.0.0.1:8089", &demo.sample_url);
        let line = operation.split_whitespace().collect::<Vec<_>>().join(" ");
        if operation.trim_start().starts_with("subscription") {
            let Init::Ack(mut ws) = ws_init_at(&demo.base, json!({"Authorization": format!("Bearer {}", demo.token)})).await else {
                panic!("step {n}: the subscription's connection_init was refused")
            };
            ws.subscribe("tour", &operation, json!({})).await;
            match ws.next("tour", 30).await {
                Msg::Next(v) => assert!(v.get("errors").is_none() && !v["data"].is_null(), "step {n} `{line}`: {v}"),
                other => panic!("step {n} `{line}`: {other:?}"),
            }
            continue;
        }
        let answer = eventually(60, &format!("step {n} `{line}`"), || async {
            let r = demo.gql(&operation, json!({})).await;
            assert!(r.get("errors").is_none(), "step {n} `{line}` answered errors: {r}");
            match &step.until {
                Some((field, want)) if !holds(&r["data"], field, want) => None,
                _ => Some(r),
            }
        })
        .await;
        assert!(!answer["data"].is_null(), "step {n} `{line}`: {answer}");
        if let Some(id) = &step.id {
            assert_eq!(first_id(&answer["data"]).as_ref(), Some(id), "step {n} `{line}`: the README says it answers id {id}: {answer}");
        }
    }
}

/// GraphiQL from `offerbridge demo` in a real browser (Debian's Chromium driven by
/// playwright-core, `tests/node/graphiql_browser.mjs`), with every request off loopback
/// blocked: the page loads from the binary alone, the token typed into its field answers a
/// campaigns query with rows, and a subscription authenticated in `connection_init` shows the
/// progress of a sync the script starts. The screenshot is kept in `artifacts/graphiql.png`.
#[tokio::test]
async fn graphiql_from_the_demo_works_offline_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no browser at {chromium}: install Debian's chromium (`apt-get install chromium`) or set CHROMIUM_PATH"
    );
    crate::procs::node_ready().await;
    let demo = Demo::start(&["--offers", "120"], 60);
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let screenshot = artifacts.join("graphiql.png");
    let _ = std::fs::remove_file(&screenshot);
    crate::procs::node(
        "graphiql_browser.mjs",
        &[
            ("GATEWAY_URL", demo.base.clone()),
            ("TOKEN", demo.token.clone()),
            ("INTEGRATION_ID", "2".into()),
            ("SCREENSHOT", screenshot.display().to_string()),
            ("MIN_ROWS", "5".into()),
            ("TIMEOUT_MS", "40000".into()),
            ("CHROMIUM_PATH", chromium),
        ],
    )
    .await;
    assert!(std::fs::metadata(&screenshot).map(|m| m.len() > 10_000).unwrap_or(false), "a screenshot of the page");
}
