//! Day two for an operator: Prometheus metrics from the gateway and from an agent process, an
//! access log line per request, and GET refused for anything but a query.

use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};

use crate::{
    clients::draft_integration,
    harness::eventually,
    procs::{FakeEverflow, Stack},
};

/// The samples of a Prometheus text page: `name{labels}` -> value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The value of the first sample named `name` whose labels include every one of `labels`.
fn value(s: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    s.iter().filter(|(k, _)| k.split('{').next() == Some(name) && labels.iter().all(|l| k.contains(l))).map(|(_, v)| *v).sum()
}

async fn scrape(http: &reqwest::Client, base: &str) -> HashMap<String, f64> {
    let r = http.get(format!("{base}/metrics")).send().await.expect("scrape");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "the Prometheus text format"
    );
    samples(&r.text().await.expect("body"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// `offerbridge gateway` and `offerbridge agent` as separate processes: the agent serves its
/// own `/metrics` on `agent.metrics_listen`, and after a first import its run, offer, upstream
/// and cache series have moved; the gateway's request-duration histogram counts the named
/// operations it served, and each request left one access-log line.
#[tokio::test]
async fn metrics_move_after_a_sync_and_every_request_is_in_the_access_log() {
    let fake = FakeEverflow::start(120, Duration::ZERO).await;
    // The platform's rate limit answers the first request once: a retry after Retry-After.
    fake.rate_limited.store(1, std::sync::atomic::Ordering::SeqCst);
    let mut stack = Stack::start(false).await;
    let port = free_port().to_string();
    let agent_metrics = format!("http://127.0.0.1:{port}");
    let listen = format!("127.0.0.1:{port}");
    let agent = stack.spawn_agent("agent-m", &[("OFFERBRIDGE_AGENT__METRICS_LISTEN", listen.as_str())]);
    stack.keep(agent);
    let http = stack.http.clone();
    let before = eventually(30, "the agent's /metrics", || async {
        let r = http.get(format!("{agent_metrics}/metrics")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let _: () = before;
    let before = scrape(&http, &agent_metrics).await;
    assert_eq!(value(&before, "offerbridge_sync_runs_total", &[]), 0.0, "no run yet");

    let id = draft_integration(&stack, &fake).await;
    stack.ok("mutation Finalize($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
    let after = eventually(60, "a succeeded run in the agent's metrics", || async {
        let s = scrape(&http, &agent_metrics).await;
        (value(&s, "offerbridge_sync_runs_total", &["status=\"succeeded\""]) >= 1.0).then_some(s)
    })
    .await;
    assert_eq!(value(&after, "offerbridge_offers_total", &["outcome=\"created\""]), 120.0, "every offer created once");
    // Everflow gives `paging.total_count`: 120 offers at 50 a page is 3 pages, known from page 1.
    let d = stack
        .ok(
            "query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 5) { edges { node { status pagesDone pagesTotal } } } }",
            json!({"id": id}),
        )
        .await;
    let run = d["syncRuns"]["edges"].as_array().into_iter().flatten().map(|e| &e["node"]).find(|r| r["status"] == "SUCCEEDED").cloned();
    assert_eq!(run.map(|r| (r["pagesDone"].clone(), r["pagesTotal"].clone())), Some((json!(3), json!(3))), "{d}");
    assert!(value(&after, "offerbridge_upstream_requests_total", &["platform=\"everflow\"", "status=\"200\""]) >= 3.0, "three pages");
    assert_eq!(value(&after, "offerbridge_upstream_requests_total", &["platform=\"everflow\"", "status=\"429\""]), 1.0);
    assert_eq!(value(&after, "offerbridge_upstream_retries_total", &["platform=\"everflow\""]), 1.0, "one retry after the 429");
    assert_eq!(
        value(&after, "offerbridge_rate_limit_wait_seconds_count", &["platform=\"everflow\"", "cause=\"upstream\""]),
        1.0,
        "one wait on the platform's Retry-After"
    );
    assert!(value(&after, "offerbridge_rate_limit_wait_seconds_sum", &["cause=\"upstream\""]) >= 1.0, "of one second");
    assert!(value(&after, "offerbridge_sync_run_duration_seconds_count", &["status=\"succeeded\""]) >= 1.0);
    assert_eq!(value(&after, "offerbridge_sync_runs_in_progress", &[]), 0.0, "nothing left running");
    // A preview right after the run reads the pages the run fetched from the cache.
    let pid = stack.ok("mutation($id: ID!) { requestPreview(integrationId: $id) { id } }", json!({"id": id})).await["requestPreview"]["id"]
        .clone();
    eventually(30, "the preview", || async {
        let d = stack.ok("query($id: ID!) { preview(id: $id) { status } }", json!({"id": pid})).await;
        (d["preview"]["status"] == "DONE").then_some(())
    })
    .await;
    let after = scrape(&http, &agent_metrics).await;
    assert!(value(&after, "offerbridge_page_cache_requests_total", &["result=\"hit\""]) >= 1.0, "the preview's pages came from the cache");

    // The gateway's own series: the named operation it served, and no agent series (the agent
    // runs elsewhere).
    let gw = scrape(&http, &stack.base).await;
    assert!(
        value(&gw, "offerbridge_graphql_request_duration_seconds_count", &["operation=\"Finalize\"", "outcome=\"ok\""]) >= 1.0,
        "{gw:?}"
    );
    assert_eq!(value(&gw, "offerbridge_sync_runs_total", &[]), 0.0, "runs are counted by the agent that ran them");

    let log = eventually(10, "the access log line", || async {
        let log = stack.gateway_log();
        log.lines().any(|l| l.contains("offerbridge::access") && l.contains("operation=Finalize")).then_some(log)
    })
    .await;
    let line = log.lines().find(|l| l.contains("operation=Finalize")).unwrap_or_default();
    for part in ["method=POST", "path=/graphql", "status=200", "duration_ms="] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(!log.contains(&stack.token), "the token is never logged");
}

/// GraphQL over HTTP allows only queries over GET. The operation's type comes from the parsed
/// document: a comment line or a byte-order mark before `mutation` does not let it through.
#[tokio::test]
async fn a_mutation_over_get_is_refused_however_the_document_begins() {
    let stack = Stack::start(false).await;
    let get = |q: &'static str, op: Option<&'static str>| {
        let stack = &stack;
        async move {
            let mut params = vec![("query", q)];
            if let Some(op) = op {
                params.push(("operationName", op));
            }
            let r = stack.http.get(format!("{}/graphql", stack.base)).bearer_auth(&stack.token).query(&params).send().await.expect("GET");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let mutation = "mutation { createAdvertiser(input: {name: \"via GET\"}) { id } }";
    for q in [
        mutation,
        "# a comment first\nmutation { createAdvertiser(input: {name: \"via GET\"}) { id } }",
        "\u{feff}mutation { createAdvertiser(input: {name: \"via GET\"}) { id } }",
        "  ,\n mutation M { createAdvertiser(input: {name: \"via GET\"}) { id } }",
    ] {
        let (status, body) = get(q, None).await;
        assert_eq!(status, 405, "{q:?}: {body}");
    }
    // Several operations: the one operationName selects decides.
    let both = "query Q { advertisers { id } } mutation M { createAdvertiser(input: {name: \"via GET\"}) { id } }";
    assert_eq!(get(both, Some("M")).await.0, 405);
    let (status, body) = get(both, Some("Q")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"advertisers\""), "{body}");
    let d = stack.ok("{ advertisers { name } }", json!({})).await;
    assert_eq!(d["advertisers"], json!([]), "no advertiser was created over GET");
}

/// Tokens over GraphQL, for admins only: a created token is shown once and works at once; the
/// list never shows a token or its hash; a revoked token is refused from the next request; the
/// last admin token cannot be revoked; editors and viewers cannot see or touch tokens.
#[tokio::test]
async fn admins_list_create_and_revoke_tokens_over_graphql() {
    use domain::model::Role;

    use crate::harness::App;
    let app = App::start(false).await;
    let admin = app.token(Role::Admin).await;
    let editor = app.token(Role::Editor).await;
    let code = |r: &serde_json::Value| r["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_string();

    let r = app.gql_as(Some(&editor), "{ apiTokens { id } }", json!({})).await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let r = app.gql_as(Some(&editor), "mutation { createApiToken(input: {name: \"x\", role: ADMIN}) { token } }", json!({})).await;
    assert_eq!(code(&r), "FORBIDDEN", "an editor cannot make itself an admin: {r}");

    let r = app
        .gql_as(
            Some(&admin),
            "mutation { createApiToken(input: {name: \"dashboard\", role: VIEWER}) { token apiToken { id name role prefix revokedAt current } } }",
            json!({}),
        )
        .await;
    let created = &r["data"]["createApiToken"];
    let token = created["token"].as_str().expect("the token, once").to_string();
    assert_eq!(created["apiToken"]["role"], "VIEWER");
    assert_eq!(created["apiToken"]["current"], false);
    assert!(token.starts_with(created["apiToken"]["prefix"].as_str().unwrap_or("?")), "{r}");
    let viewer_id = created["apiToken"]["id"].clone();
    let r = app.gql_as(Some(&token), "{ advertisers { id } }", json!({})).await;
    assert!(r.get("errors").is_none(), "the new token works at once: {r}");

    let r = app.gql_as(Some(&admin), "{ apiTokens { id name role prefix current revokedAt } }", json!({})).await;
    let list = r["data"]["apiTokens"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 4, "the harness's admin, ours, the editor, the new viewer: {r}");
    assert!(list.iter().any(|t| t["current"] == true && t["role"] == "ADMIN"), "{r}");
    assert!(!r.to_string().contains(&token) && !r.to_string().contains(&admin), "no token text in the list");

    let r = app.gql_as(Some(&admin), "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }", json!({"id": viewer_id})).await;
    assert!(r["data"]["revokeApiToken"]["revokedAt"].is_string(), "{r}");
    let r = app.gql_as(Some(&token), "{ advertisers { id } }", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED", "a revoked token is refused at once: {r}");

    let other_admin = list.iter().find(|t| t["current"] == false && t["role"] == "ADMIN").map(|t| t["id"].clone()).expect("another admin");
    let r = app.gql_as(Some(&admin), "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }", json!({"id": other_admin})).await;
    assert!(r["data"]["revokeApiToken"]["revokedAt"].is_string(), "another admin token may go: {r}");
    let me = list.iter().find(|t| t["current"] == true).map(|t| t["id"].clone()).expect("the admin token");
    let r = app.gql_as(Some(&admin), "mutation($id: ID!) { revokeApiToken(id: $id) { id } }", json!({"id": me})).await;
    assert_eq!(code(&r), "BAD_STATE", "the last admin token stays: {r}");
    let r = app.gql_as(Some(&admin), "mutation { createApiToken(input: {name: \"  \", role: EDITOR}) { token } }", json!({})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let r = app.gql_as(Some(&admin), "mutation { revokeApiToken(id: \"999999\") { id } }", json!({})).await;
    assert_eq!(code(&r), "NOT_FOUND", "{r}");
}

/// Finalizes a draft integration (the stack may have no agent: the import request waits).
async fn finalized(stack: &Stack, fake: &FakeEverflow) -> String {
    let id = draft_integration(stack, fake).await;
    stack.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
    id
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or_default()
}

/// `key rotate` with the key in the configuration: every credential is re-sealed with a new
/// key in one transaction, the new key is written (0600) for the operator to configure, a
/// process with the new key syncs, and a process still holding the old key refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotate_reseals_every_credential_and_a_process_with_the_old_key_refuses_to_start() {
    let fake = FakeEverflow::start(5, Duration::ZERO).await;
    let stack = Stack::start(false).await;
    let id = finalized(&stack, &fake).await;
    let (code, out, err) = stack.cli(&["key", "rotate"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("re-sealed the credentials of 1 integration(s)"), "{out}");
    let staged = stack.data_dir().join("secret.key.new");
    let new_key = std::fs::read_to_string(&staged).expect("the new key, for the configuration");
    #[cfg(unix)]
    assert_eq!(mode(&staged), 0o600);
    assert_ne!(new_key.trim(), stack.secret_key());
    assert!(!out.contains(new_key.trim()) && !err.contains(new_key.trim()), "the key is never printed");

    // The gateway still runs with the old key: it refuses to seal credentials with it (no agent
    // could open them) and saves nothing.
    let v = stack.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": id})).await["integration"]["version"].clone();
    let r = stack
        .gql(
            "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {credentials: [{field: \"api_key\", value: \"sealed-with-the-old-key\"}]}) { id } }",
            json!({"id": id, "v": v}),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_STATE", "{r}");
    assert!(r["errors"][0]["message"].as_str().is_some_and(|m| m.contains("the key was rotated")), "{r}");

    let (code, out, err) = stack.cli_env(&["sync", &id], &[("OFFERBRIDGE_SECRET_KEY", new_key.trim())], &[]);
    assert_eq!(code, Some(0), "the new key opens the re-sealed credentials: {out}{err}");
    assert!(out.lines().any(|l| l.starts_with("created") && l.trim_end().ends_with(" 5")), "{out}");

    let (code, out, err) = stack.cli(&["sync", &id]);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("is not the key that sealed the stored credentials"), "{err}");
}

/// `key rotate` with the key in `data_dir/secret.key`: the old key is kept as
/// `secret.key.old`, the new one replaces it; a rotation while an agent runs is refused with
/// nothing changed, unless forced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotate_replaces_the_key_file_and_refuses_while_an_agent_runs() {
    let fake = FakeEverflow::start(5, Duration::ZERO).await;
    let mut stack = Stack::start(false).await;
    let id = finalized(&stack, &fake).await;
    let key_file = stack.data_dir().join("secret.key");
    std::fs::write(&key_file, stack.secret_key()).expect("the key file");
    let from_file: &[&str] = &["OFFERBRIDGE_SECRET_KEY"];

    let agent = stack.spawn_agent("agent-k", &[]);
    stack.keep(agent);
    eventually(30, "the agent's heartbeat", || async {
        let d = stack.ok("{ agents { id alive } }", json!({})).await;
        d["agents"].as_array()?.iter().any(|a| a["id"] == "agent-k" && a["alive"] == true).then_some(())
    })
    .await;
    let (code, out, err) = stack.cli_env(&["key", "rotate"], &[], from_file);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("agents are running") && err.contains("agent-k") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&key_file).expect("key"), stack.secret_key(), "nothing changed");
    assert!(!stack.data_dir().join("secret.key.next").exists());

    let (code, out, err) = stack.cli_env(&["key", "rotate", "--force"], &[], from_file);
    assert_eq!(code, Some(0), "{out}{err}");
    let kept: Vec<_> = std::fs::read_dir(stack.data_dir())
        .expect("data dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("secret.key.old-")))
        .collect();
    assert_eq!(kept.len(), 1, "the old key kept under its fingerprint: {kept:?}");
    assert_eq!(std::fs::read_to_string(&kept[0]).expect("old key kept"), stack.secret_key());
    let new_key = std::fs::read_to_string(&key_file).expect("new key");
    assert_ne!(new_key, stack.secret_key());
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    assert!(!stack.data_dir().join("secret.key.next").exists());
    // A second rotation keeps both old keys (backups may need either).
    let (code, out, err) = stack.cli_env(&["key", "rotate", "--force"], &[], from_file);
    assert_eq!(code, Some(0), "{out}{err}");
    let old_keys = std::fs::read_dir(stack.data_dir())
        .expect("data dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("secret.key.old-")))
        .count();
    assert_eq!(old_keys, 2);
    // The file's key is the installation's now: a dry run opens the credentials with it (once
    // the agent's own import, if it still runs, has ended).
    eventually(30, "a dry run with the new key file", || async {
        let (code, out, err) = stack.cli_env(&["sync", &id, "--dry-run"], &[], from_file);
        assert!(!err.contains("is not the key"), "{out}{err}");
        (code == Some(0)).then_some(())
    })
    .await;
}

/// A request nobody will pick up says so: PENDING for over a minute with no agent alive is
/// `waitingForAgent`, for "sync now" requests and previews alike; a fresh request, or one an
/// agent's recent heartbeat will reach, is not.
#[tokio::test]
async fn a_pending_request_without_a_live_agent_is_flagged() {
    use domain::entity::{agent_heartbeat, preview_request, sync_request};
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};

    use crate::{api::everflow_integration, harness::App};
    let app = App::start(false).await;
    let (url, _fake) = crate::sync::fake_everflow(vec![]).await;
    let (id, _) = everflow_integration(&app, &url).await;
    let preview = app.ok("mutation($id: ID!) { requestPreview(integrationId: $id) { id waitingForAgent } }", json!({"id": id})).await;
    assert_eq!(preview["requestPreview"]["waitingForAgent"], false, "a fresh request waits normally");
    let pid: i64 = preview["requestPreview"]["id"].as_str().and_then(|s| s.parse().ok()).expect("preview id");
    let two_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(2);
    let row = preview_request::Entity::find_by_id(pid).one(&app.db).await.expect("q").expect("row");
    let mut am: preview_request::ActiveModel = row.into();
    am.created_at = Set(two_minutes_ago);
    am.update(&app.db).await.expect("aged");
    let q = "query($id: ID!) { preview(id: $id) { status waitingForAgent } }";
    let p = app.ok(q, json!({"id": pid.to_string()})).await;
    assert_eq!((p["preview"]["status"].as_str(), p["preview"]["waitingForAgent"].as_bool()), (Some("PENDING"), Some(true)), "{p}");

    // The same for a sync request, aged in the database.
    let iid: i64 = id.parse().expect("id");
    let req = sync_request::ActiveModel {
        integration_id: Set(iid),
        kind: Set("sync".into()),
        status: Set("pending".into()),
        created_at: Set(two_minutes_ago),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("request");
    let d = app.ok("query($id: ID!) { syncRequest(id: $id) { status waitingForAgent } }", json!({"id": req.id.to_string()})).await;
    assert_eq!(d["syncRequest"]["waitingForAgent"], true, "{d}");

    // An agent's fresh heartbeat: nothing waits for a missing agent any more.
    agent_heartbeat::ActiveModel {
        agent_id: Set("agent-h".into()),
        hostname: Set("h".into()),
        started_at: Set(chrono::Utc::now()),
        last_seen_at: Set(chrono::Utc::now()),
    }
    .insert(&app.db)
    .await
    .expect("heartbeat");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = app.ok(q, json!({"id": pid.to_string()})).await;
    assert_eq!(p["preview"]["waitingForAgent"], false, "{p}");
}

/// A failed run is an ERROR line in the agent's log with the error's code and message (not an
/// INFO "run finished"), and the credential that failed is not in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_logged_as_an_error_with_its_code() {
    let fake = FakeEverflow::start(5, Duration::ZERO).await;
    let mut stack = Stack::start(false).await;
    let d = stack.ok("mutation { createAdvertiser(input: {name: \"Acme\"}) { id } }", json!({})).await;
    let d = stack
        .ok(
            "mutation($a: ID!, $u: String!) { createIntegration(input: {name: \"Wrong key\", connector: \"everflow\", advertiserId: $a,
               credentials: [{field: \"api_key\", value: \"wrong-key-4d1c9\"}, {field: \"api_url\", value: $u}]}) { id version } }",
            json!({"a": d["createAdvertiser"]["id"], "u": fake.url}),
        )
        .await;
    let id = d["createIntegration"]["id"].clone();
    stack.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
    let agent = stack.spawn_agent("agent-e", &[]);
    let line = eventually(30, "the failed run in the agent's log", || async {
        agent.log_text().lines().find(|l| l.contains("run failed")).map(str::to_string)
    })
    .await;
    stack.keep(agent);
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("code=UPSTREAM_UNAUTHORIZED") || line.contains("code=\"UPSTREAM_UNAUTHORIZED\""), "{line}");
    assert!(line.contains("credentials rejected: No Authentication Method Found"), "the platform's answer is in the message: {line}");
    assert!(!line.contains("wrong-key-4d1c9"), "the credential is never logged: {line}");
}

/// Once credentials are sealed, a command started without the key (no `secret.key` in its
/// data folder, none configured) refuses and names the key it needs, and writes no new key
/// file that could never open them.
#[tokio::test]
async fn a_command_without_the_key_says_which_key_it_needs_and_generates_none() {
    let fake = FakeEverflow::start(5, Duration::ZERO).await;
    let stack = Stack::start(false).await;
    let id = finalized(&stack, &fake).await;
    let (code, out, err) = stack.cli_env(&["sync", &id, "--dry-run"], &[], &["OFFERBRIDGE_SECRET_KEY"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("no secret key at") && err.contains("fingerprint"), "{err}");
    assert!(!stack.data_dir().join("secret.key").exists(), "no useless key file was generated");
}

/// A first `serve` whose port is taken fails before it creates the first admin token: no
/// token row, no token file, a message naming the address.
#[tokio::test]
async fn serve_on_a_taken_port_fails_before_creating_a_token() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = crate::procs::fresh_sqlite_command(dir.path())
        .env("OFFERBRIDGE_LISTEN", &addr)
        .arg("serve")
        .output()
        .expect("run offerbridge serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!dir.path().join("first-admin-token").exists(), "no token file");
    let list = crate::procs::fresh_sqlite_command(dir.path()).args(["token", "list"]).output().expect("token list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(!listed.contains("first-admin"), "no token was created: {listed}");
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery`, all options on, `ofType`
/// nine deep) runs for a caller with a token under the default limits, which stay in force for
/// the client's own queries; introspection that nests type-system lists deeper than any tool
/// does, or exceeds the complexity limit, is still refused, and without a token the schema is
/// not read (UNAUTHENTICATED, saying a token is needed; `{ __typename }` answers).
#[tokio::test]
async fn graphiql_introspection_is_never_refused_by_the_query_limits() {
    use crate::harness::App;
    let app = App::start(false).await;
    let type_ref = format!("kind name {}", "ofType { kind name ".repeat(9) + &"}".repeat(9));
    let query = format!(
        "query IntrospectionQuery {{
          __schema {{
            description queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
            types {{ ...FullType }}
            directives {{ name description isRepeatable locations args(includeDeprecated: true) {{ ...InputValue }} }}
          }}
        }}
        fragment FullType on __Type {{
          kind name description specifiedByURL isOneOf
          fields(includeDeprecated: true) {{ name description args(includeDeprecated: true) {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated deprecationReason }}
          inputFields(includeDeprecated: true) {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue isDeprecated deprecationReason }}
        fragment TypeRef on __Type {{ {type_ref} }}"
    );
    let r = app.gql_as(Some(&app.admin_token), &query, json!({})).await;
    assert!(r.get("errors").is_none(), "{}", r["errors"]);
    let anonymous = app.gql_as(None, &query, json!({})).await;
    assert_eq!(anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "no token: no schema, and a message that says so");
    assert!(anonymous["errors"][0]["message"].as_str().unwrap_or_default().contains("API token"), "{anonymous}");
    let mixed = app.gql_as(None, "{ __schema { types { name } } campaigns { totalCount } }", json!({})).await;
    assert!(mixed["data"].is_null() || mixed["data"].get("__schema").is_none_or(Value::is_null), "{mixed}");
    assert!(mixed.get("errors").is_some(), "{mixed}");
    let typename = app.gql_as(None, "{ __typename }", json!({})).await;
    assert_eq!(typename["data"]["__typename"], "Query", "{typename}");
    let types = r["data"]["__schema"]["types"].as_array().map_or(0, Vec::len);
    assert!(types > 50, "the whole schema: {types} types");
    assert_eq!(r["data"]["__schema"]["queryType"]["name"], "Query");

    // The same limits still refuse a deep query of the client's own...
    let deep = format!(
        "{{ campaigns {{ totalCount }} __schema {{ types {} name {} }} }}",
        "{ fields { type { ofType ".repeat(8),
        "} } } ".repeat(8)
    );
    let r = app.gql_as(Some(&app.admin_token), &deep, json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{r}");
    // ...and introspection that multiplies the schema by itself more than any tool does.
    // (Four list levels: not introspection's own bounds, so the ordinary depth limit applies.)
    let blowup = "{ __schema { types { fields { type { ofType { ofType { ofType { fields { type { ofType { ofType { ofType { fields { name } } } } } } } } } } } } } }";
    let r = app.gql_as(Some(&app.admin_token), blowup, json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{r}");
    // Breadth by aliases: the complexity limit still counts every field of introspection.
    let wide = format!(
        "{{ {} }}",
        (0..500).map(|i| format!("s{i}: __schema {{ types {{ fields {{ name description }} }} }}")).collect::<Vec<_>>().join(" ")
    );
    let r = app.gql_as(Some(&app.admin_token), &wide, json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{}", r["errors"]);
}

/// `finalizeIntegration` refuses credentials that have never worked (VALIDATION naming
/// `credentials` and what to do) unless forced; a connection test that reaches the advertiser,
/// or a finished preview, verifies them; saving new credentials clears that; a failed test
/// verifies nothing.
#[tokio::test]
async fn finalize_refuses_credentials_that_never_worked_unless_forced() {
    use crate::{api::everflow_integration, harness::App, sync::offer};
    let (url, _fake) = crate::sync::fake_everflow(vec![offer(1, "2.50", &["US"])]).await;
    let app = App::start(true).await;
    let verified = |id: String| {
        let app = &app;
        async move {
            app.ok("query($id: ID!) { integration(id: $id) { credentialsVerifiedAt } }", json!({"id": id})).await["integration"]
                ["credentialsVerifiedAt"]
                .clone()
        }
    };
    let finalize = "mutation($id: ID!) { finalizeIntegration(id: $id) { lifecycle } }";

    // Never tested: refused, with the field and the way out.
    let (id, _) = everflow_integration(&app, &url).await;
    let r = app.gql(finalize, json!({"id": id})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
    assert!(r.to_string().contains("credentials") && r.to_string().contains("testConnection") && r.to_string().contains("force"), "{r}");
    assert_eq!(verified(id.clone()).await, Value::Null);

    // A connection test that reaches the advertiser verifies them: finalize works.
    app.ok("mutation($id: ID!) { testConnection(integrationId: $id) { id } }", json!({"id": id})).await;
    eventually(30, "the connection test", || async { verified(id.clone()).await.as_str().map(str::to_string) }).await;
    let d = app.ok(finalize, json!({"id": id})).await;
    assert_eq!(d["finalizeIntegration"]["lifecycle"], "ACTIVE");

    // A preview verifies them too; new credentials clear it.
    let (id2, v2) = everflow_integration(&app, &url).await;
    app.ok("mutation($id: ID!) { requestPreview(integrationId: $id) { id } }", json!({"id": id2})).await;
    eventually(30, "the preview", || async { verified(id2.clone()).await.as_str().map(str::to_string) }).await;
    // The same values sent again (a form that always sends them) keep the verification.
    let same = app
        .ok(
            "mutation($id: ID!, $v: Int!, $k: String!) { updateIntegration(id: $id, version: $v, input: {credentials: [{field: \"api_key\", value: $k}]}) { version credentialsVerifiedAt } }",
            json!({"id": id2, "v": v2, "k": crate::api::SECRET}),
        )
        .await;
    assert!(same["updateIntegration"]["credentialsVerifiedAt"].is_string(), "{same}");
    let r = app
        .ok(
            "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {credentials: [{field: \"api_key\", value: \"another-key-123\"}]}) { credentialsVerifiedAt } }",
            json!({"id": id2, "v": same["updateIntegration"]["version"]}),
        )
        .await;
    assert_eq!(r["updateIntegration"]["credentialsVerifiedAt"], Value::Null, "what was verified were the old credentials");

    // A test that fails verifies nothing; force finalizes anyway.
    let (id3, _) = everflow_integration(&app, "http://127.0.0.1:9").await;
    let rid = app.ok("mutation($id: ID!) { testConnection(integrationId: $id) { id } }", json!({"id": id3})).await["testConnection"]["id"]
        .clone();
    eventually(30, "the failed test", || async {
        let d = app.ok("query($id: ID!) { syncRequest(id: $id) { status result } }", json!({"id": rid})).await;
        (d["syncRequest"]["status"] == "DONE").then_some(())
    })
    .await;
    assert_eq!(verified(id3.clone()).await, Value::Null);
    let d = app.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id3})).await;
    assert_eq!(d["finalizeIntegration"]["lifecycle"], "ACTIVE");
}
