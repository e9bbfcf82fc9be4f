//! Security and live delivery: credentials never leave the system in any form a client or the
//! database can read, roles guard every mutation, and subscriptions (graphql-transport-ws)
//! deliver log tails, preview results and resumable event streams without gaps.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use domain::{entity, events, model::Role};
use futures::{SinkExt, StreamExt};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

use crate::{
    api::{SECRET, advertiser, everflow_integration},
    harness::{App, code, eventually},
    sync::{fake_everflow, finalize, last_run, lock, offer, run_id, sync_now},
};

/// A second key, sent by an integration whose credentials are wrong; the upstream echoes it.
const WRONG: &str = "wrong-key-zyxwvu98765";

// ---------------------------------------------------------------------------------------------
// A graphql-transport-ws client.

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One server message for a subscription.
#[derive(Debug, Clone)]
pub(crate) enum Msg {
    /// `next`: the execution result (`{data}` or `{errors}`).
    Next(Value),
    /// `error`: the operation was refused before it ran.
    Error(Value),
    Complete,
}

/// A connection that received `connection_ack`.
pub(crate) struct Ws {
    socket: Socket,
    /// Messages read while waiting for another subscription, by subscription id.
    stash: HashMap<String, VecDeque<Msg>>,
}

/// How the server answered `connection_init`: an ack, or why the connection ended.
pub(crate) enum Init {
    Ack(Box<Ws>),
    Refused(String),
}

async fn ws_init(app: &App, payload: Value) -> Init {
    ws_init_at(&app.base, payload).await
}

/// `connection_init` with `payload` to the gateway at `base` (`http://…`).
pub(crate) async fn ws_init_at(base: &str, payload: Value) -> Init {
    let url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().expect("ws request");
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, resp) = tokio_tungstenite::connect_async(req).await.expect("ws connect");
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()),
        Some("graphql-transport-ws"),
        "the server must pick graphql-transport-ws"
    );
    socket.send(Message::text(json!({"type": "connection_init", "payload": payload}).to_string())).await.expect("send init");
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Err(_) => panic!("no answer to connection_init within 10 s"),
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("server message is JSON");
                match v["type"].as_str() {
                    Some("connection_ack") => return Init::Ack(Box::new(Ws { socket, stash: HashMap::new() })),
                    Some("ping") => socket.send(Message::text(json!({"type": "pong"}).to_string())).await.expect("pong"),
                    _ => return Init::Refused(format!("unexpected message before ack: {t}")),
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Init::Refused(
                    frame.map(|f| format!("close {}: {}", u16::from(f.code), f.reason)).unwrap_or_else(|| "close".into()),
                );
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Init::Refused(format!("socket error: {e}")),
            Ok(None) => return Init::Refused("socket ended".into()),
        }
    }
}

/// Connects with `token` and expects `connection_ack`.
async fn ws_connect(app: &App, token: &str) -> Ws {
    match ws_init(app, json!({"Authorization": format!("Bearer {token}")})).await {
        Init::Ack(ws) => *ws,
        Init::Refused(why) => panic!("connection_init with a valid token was refused: {why}"),
    }
}

impl Ws {
    pub(crate) async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let m = json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}});
        self.socket.send(Message::text(m.to_string())).await.expect("send subscribe");
    }

    /// The next message for subscription `id`, or None when nothing came within `secs`.
    async fn try_next(&mut self, id: &str, secs: u64) -> Option<Msg> {
        if let Some(m) = self.stash.get_mut(id).and_then(VecDeque::pop_front) {
            return Some(m);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?;
            let text = match frame {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Close(f))) => panic!("the server closed the connection: {f:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error: {e}"),
                None => panic!("the socket ended"),
            };
            let v: Value = serde_json::from_str(&text).expect("server message is JSON");
            let msg = match v["type"].as_str() {
                Some("next") => Msg::Next(v["payload"].clone()),
                Some("error") => Msg::Error(v["payload"].clone()),
                Some("complete") => Msg::Complete,
                Some("ping") => {
                    self.socket.send(Message::text(json!({"type": "pong"}).to_string())).await.expect("pong");
                    continue;
                }
                _ => continue,
            };
            let from = v["id"].as_str().unwrap_or_default().to_string();
            if from == id {
                return Some(msg);
            }
            self.stash.entry(from).or_default().push_back(msg);
        }
    }

    /// The next message for `id`; panics after `secs`.
    pub(crate) async fn next(&mut self, id: &str, secs: u64) -> Msg {
        match self.try_next(id, secs).await {
            Some(m) => m,
            None => panic!("subscription {id}: nothing within {secs} s"),
        }
    }

    /// The next event of subscription `id` (the single root field of `next.data`).
    async fn event(&mut self, id: &str, secs: u64) -> Value {
        match self.next(id, secs).await {
            Msg::Next(p) => {
                assert!(p.get("errors").is_none(), "subscription {id} answered errors: {p}");
                p["data"].as_object().and_then(|d| d.values().next().cloned()).unwrap_or(Value::Null)
            }
            other => panic!("subscription {id}: expected an event, got {other:?}"),
        }
    }

    /// Events of `id` until `done` says the last one arrived.
    async fn events_until(&mut self, id: &str, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut out = vec![];
        loop {
            let e = self.event(id, 30).await;
            let stop = done(&e);
            out.push(e);
            if stop {
                return out;
            }
        }
    }

    async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

fn seq(e: &Value) -> i64 {
    e["sequence"].as_i64().unwrap_or_default()
}

const EVENT: &str = "sequence kind integrationId runId previewId payload createdAt";

// ---------------------------------------------------------------------------------------------
// A small Everflow stand-in that misbehaves on demand, echoing the key it was sent.

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    #[default]
    Serve,
    /// Redirects to a URL carrying the key, then answers 500 echoing it in body and headers.
    Explode,
    /// Answers 401 to every key, echoing it.
    Reject,
}

#[derive(Default)]
struct Upstream {
    offers: Vec<Value>,
    mode: Mode,
    base: String,
}

type Up = Arc<Mutex<Upstream>>;

fn up(s: &Up) -> std::sync::MutexGuard<'_, Upstream> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// A body echoing `key` twice: whole in the error, and again across the 4096-byte mark where
/// stored excerpts of failed responses are cut (a cut must not keep part of a key).
fn echo_body(key: &str, url: &str) -> String {
    let head =
        format!(r#"{{"error":"internal error while serving key {key}","request":{{"url":"{url}","x-eflow-api-key":"{key}"}},"pad":""#);
    let tail_field = r#"","echo":""#;
    let pad = 4096usize.saturating_sub(12 + head.len() + tail_field.len());
    format!(r#"{head}{}{tail_field}{key}"}}"#, "x".repeat(pad))
}

async fn upstream_offers(State(s): State<Up>, headers: HeaderMap, uri: Uri, Query(q): Query<HashMap<String, String>>) -> Response {
    let key = headers.get("x-eflow-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (mode, offers, base) = {
        let u = up(&s);
        (u.mode, u.offers.clone(), u.base.clone())
    };
    let echoed_url = format!("{base}{}", uri.path_and_query().map(|p| p.as_str()).unwrap_or_default());
    let echoed_url = if echoed_url.contains("api_key=") { echoed_url } else { format!("{echoed_url}&api_key={key}") };
    if key != SECRET || mode == Mode::Reject {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", format!("EflowKey key=\"{key}\"")), ("x-echo-request", echoed_url.clone())],
            Json(json!({"error": format!("bad key {key}"), "request": {"url": echoed_url, "headers": {"X-Eflow-API-Key": key}}})),
        )
            .into_response();
    }
    match mode {
        Mode::Explode if !q.contains_key("hop") => {
            Redirect::temporary(&format!("{}&api_key={key}&hop=1", uri.path_and_query().map(|p| p.as_str()).unwrap_or_default()))
                .into_response()
        }
        Mode::Explode => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/json".to_string()), ("x-echo-request", echoed_url.clone())],
            echo_body(&key, &echoed_url),
        )
            .into_response(),
        _ => Json(json!({"offers": offers, "paging": {"page": 1, "page_size": 500, "total_count": offers.len()}})).into_response(),
    }
}

async fn upstream(offers: Vec<Value>) -> (String, Up) {
    let state: Up = Arc::new(Mutex::new(Upstream { offers, ..Upstream::default() }));
    let app = Router::new().route("/v1/affiliates/offersrunnable", get(upstream_offers)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    up(&state).base = url.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

// ---------------------------------------------------------------------------------------------
// Reading everything.

const RUN: &str = "id integrationId trigger status phase dryRun pagesDone pagesTotal counters filterCounts queuedAt startedAt finishedAt
    errorCode errorMessage lastResponse heldChanges";
const CAP: &str = "event period value visibility counting timezone overDelivery";
const REQUEST: &str = "id integrationId kind status runId result createdAt finishedAt";

fn integration_fields() -> String {
    format!(
        "id name connector advertiserId credentials {{ field isSet last4 }} trackingUrlAppend impressionUrlAppend defaultCategory
         importedStatus importedVisibility payoutRules {{ globalRatio tierRatios {{ tierId ratio }} publisherPayouts {{ publisherId payout }} }}
         filters {{ countryMode countries minPayout maxPayout os offerModels skipWithoutPreviewUrl countryPayouts {{ country min max }} compareCurrency }}
         settings {{ refreshMinutes updatableColumns redirectType primaryObjective currencyOverride rateLimitPerSecond pageSize }}
         capSettings {{ addCapOnImport cap {{ {CAP} }} timeTargeting {{ timezone days startHour endHour }} extraCaps {{ {CAP} }} importUpstreamCaps }}
         vanishedPolicy {{ action deleteAfterMisses maxPauseShare }} selectedOfferIds lifecycle version nextRunAt
         health {{ lastSuccessAt consecutiveFailures disabledReason }} finalizedAt createdAt updatedAt advertiser {{ id name email website }}
         lastRun {{ {RUN} }}"
    )
}

const CAMPAIGN: &str = "id integrationId externalId title description descriptionText previewUrl trackingUrl impressionUrl thumbnailUrl
    status visibility category currency revenue payout payoutType model objective redirectType countries blockedCountries os devices
    expiresAt lockedColumns provenance exchangeRate firstSeenAt lastSeenAt consecutiveMisses vanishedAt updatedAt
    payouts { country goal goalName revenue payout payoutType currency }";

const PREVIEW: &str = "id integrationId status offersTotal wouldImport errorCode errorMessage createdAt finishedAt
    offers(first: 200) { totalCount edges { node { externalId title verdict reasonCode reason revenue payout currency countries finalTrackingUrl previewUrl } } }";

/// Every query answer a client can get about `integrations` and `previews`, labelled.
async fn everything_over_http(app: &App, integrations: &[String], previews: &[String]) -> Vec<(String, String)> {
    let mut out = vec![];
    let fields = integration_fields();
    let list = app
        .ok(
            &format!(
                "{{ integrations(first: 100) {{ totalCount edges {{ node {{ {fields} }} }} }} advertisers {{ id name email website }} }}"
            ),
            json!({}),
        )
        .await;
    out.push(("integrations".to_string(), list.to_string()));
    for id in integrations {
        let v = json!({"id": id});
        let d = app.ok(&format!("query($id: ID!) {{ integration(id: $id) {{ {fields} }} }}"), v.clone()).await;
        out.push((format!("integration {id}"), d.to_string()));
        let d = app.ok(&format!("query($id: ID!) {{ syncRuns(filter: {{integrationId: $id}}, first: 100) {{ totalCount edges {{ node {{ {RUN} }} }} }} }}"), v.clone()).await;
        assert!(d["syncRuns"]["totalCount"].as_i64() <= Some(100), "more runs than one page");
        for e in d["syncRuns"]["edges"].as_array().cloned().unwrap_or_default() {
            let r = app.ok(&format!("query($id: ID!) {{ syncRun(id: $id) {{ {RUN} }} }}"), json!({"id": e["node"]["id"]})).await;
            out.push((format!("syncRun {}", e["node"]["id"]), r.to_string()));
        }
        out.push((format!("syncRuns {id}"), d.to_string()));
        let d = app
            .ok(
                "query($id: ID!) { logs(filter: {integrationId: $id, minLevel: DEBUG}, first: 200) { totalCount edges { node {
                    id integrationId runId level code offerExternalId message details createdAt } } } }",
                v.clone(),
            )
            .await;
        assert!(d["logs"]["totalCount"].as_i64() <= Some(200), "more logs than one page");
        out.push((format!("logs {id}"), d.to_string()));
        let d = app.ok(&format!("query($id: ID!) {{ campaigns(filter: {{integrationId: $id}}, first: 200) {{ totalCount edges {{ node {{ {CAMPAIGN} }} }} }} }}"), v.clone()).await;
        for e in d["campaigns"]["edges"].as_array().cloned().unwrap_or_default() {
            let c = app.ok(&format!("query($id: ID!) {{ campaign(id: $id) {{ {CAMPAIGN} }} }}"), json!({"id": e["node"]["id"]})).await;
            out.push((format!("campaign {}", e["node"]["id"]), c.to_string()));
        }
        out.push((format!("campaigns {id}"), d.to_string()));
    }
    let requests = entity::sync_request::Entity::find().all(&app.db).await.expect("requests");
    for r in requests {
        let d = app.ok(&format!("query($id: ID!) {{ syncRequest(id: $id) {{ {REQUEST} }} }}"), json!({"id": r.id.to_string()})).await;
        out.push((format!("syncRequest {}", r.id), d.to_string()));
    }
    for p in previews {
        let d = app.ok(&format!("query($id: ID!) {{ preview(id: $id) {{ {PREVIEW} }} }}"), json!({"id": p})).await;
        out.push((format!("preview {p}"), d.to_string()));
    }
    // A bulk edit's dry run shows integration rows before/after.
    let d = app
        .ok("mutation { bulkUpdateIntegrations(where: {connector: \"everflow\"}, set: {refreshMinutes: 90}, dryRun: true) { rowCount sample } }", json!({}))
        .await;
    out.push(("bulkUpdateIntegrations dry run".to_string(), d.to_string()));
    out
}

/// Every table, as `Debug` text of its rows, except those named in `skip`.
async fn dump_tables(db: &DatabaseConnection, skip: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    macro_rules! dump {
        ($($m:ident),+ $(,)?) => {$(
            if !skip.contains(&stringify!($m)) {
                let rows = entity::$m::Entity::find().all(db).await.expect(stringify!($m));
                out.push((format!("table {}", stringify!($m)), format!("{rows:?}")));
            }
        )+};
    }
    dump!(
        advertiser,
        publisher_tier,
        publisher,
        integration,
        campaign,
        campaign_country,
        campaign_payout,
        campaign_cap,
        campaign_publisher_payout,
        sync_run,
        log_entry,
        event,
        preview_request,
        preview_offer,
        sync_request,
        exchange_rate,
        api_token,
        audit_log,
        changeset,
        agent_heartbeat,
    );
    out
}

/// Where `secret` shows in `text`: whole, and (elsewhere) any 12-character piece of it, as a
/// cut key would.
fn leaks(text: &str, secret: &str) -> Vec<String> {
    let around = |text: &str, i: usize, len: usize| {
        let mut start = i.saturating_sub(100);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (i + len + 60).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        text[start..end].to_string()
    };
    let mut out = vec![];
    if let Some(i) = text.find(secret) {
        out.push(format!("the whole secret in ...{}...", around(text, i, secret.len())));
    }
    let rest = text.replace(secret, "");
    let chars: Vec<char> = secret.chars().collect();
    if let Some((piece, i)) = chars.windows(12).map(|w| w.iter().collect::<String>()).find_map(|p| rest.find(&p).map(|i| (p, i))) {
        out.push(format!("part of the secret ('{piece}') in ...{}...", around(&rest, i, piece.len())));
    }
    out
}

fn assert_no_leaks(sources: &[(String, String)], secrets: &[&str]) {
    let found: Vec<String> = sources
        .iter()
        .flat_map(|(label, text)| secrets.iter().flat_map(move |s| leaks(text, s).into_iter().map(move |l| format!("- {label}: {l}"))))
        .collect();
    assert!(found.is_empty(), "credentials leaked in {} place(s):\n{}", found.len(), found.join("\n"));
}

async fn db_events(db: &DatabaseConnection, integration: &str) -> Vec<entity::event::Model> {
    entity::event::Entity::find()
        .filter(entity::event::Column::IntegrationId.eq(integration.parse::<i64>().unwrap_or_default()))
        .order_by_asc(entity::event::Column::Seq)
        .all(db)
        .await
        .expect("events")
}

/// Waits until an event of `integration` matching `pred` is in the table; returns the table's
/// last sequence for the integration at that moment.
async fn settled(app: &App, integration: &str, what: &str, pred: impl Fn(&entity::event::Model) -> bool) -> i64 {
    let pred = &pred;
    eventually(30, what, || async move {
        let evs = db_events(&app.db, integration).await;
        evs.iter().any(pred).then(|| evs.last().map(|e| e.seq).unwrap_or_default())
    })
    .await
}

async fn max_seq(db: &DatabaseConnection) -> i64 {
    entity::event::Entity::find().order_by_desc(entity::event::Column::Seq).one(db).await.expect("events").map(|e| e.seq).unwrap_or(0)
}

/// Runs a test connection and returns the finished request.
async fn test_connection(app: &App, id: &str) -> Value {
    let d = app.ok("mutation($id: ID!) { testConnection(integrationId: $id) { id } }", json!({"id": id})).await;
    let rid = d["testConnection"]["id"].clone();
    eventually(30, "a test connection answer", || async {
        let d = app.ok(&format!("query($id: ID!) {{ syncRequest(id: $id) {{ {REQUEST} }} }}"), json!({"id": rid})).await;
        (d["syncRequest"]["status"] == "DONE" || d["syncRequest"]["status"] == "FAILED").then(|| d["syncRequest"].clone())
    })
    .await
}

/// Requests a preview and returns its id and the finished preview.
async fn preview(app: &App, id: &str) -> (String, Value) {
    let d = app.ok("mutation($id: ID!) { requestPreview(integrationId: $id) { id } }", json!({"id": id})).await;
    let pid = d["requestPreview"]["id"].as_str().unwrap_or_default().to_string();
    let p = eventually(30, "a finished preview", || async {
        let d = app.ok(&format!("query($id: ID!) {{ preview(id: $id) {{ {PREVIEW} }} }}"), json!({"id": pid})).await;
        matches!(d["preview"]["status"].as_str(), Some("DONE" | "FAILED")).then(|| d["preview"].clone())
    })
    .await;
    (pid, p)
}

async fn integration_with_key(app: &App, url: &str, key: &str) -> String {
    let adv = advertiser(app, &format!("Adv {}", uuid::Uuid::new_v4())).await;
    let d = app
        .ok(
            "mutation($a: ID!, $u: String!, $k: String!) { createIntegration(input: {name: \"EF wrong\", connector: \"everflow\", advertiserId: $a,
               credentials: [{field: \"api_key\", value: $k}, {field: \"api_url\", value: $u}]}) { id } }",
            json!({"a": adv, "u": url, "k": key}),
        )
        .await;
    d["createIntegration"]["id"].as_str().unwrap_or_default().to_string()
}

fn last4(integration: &Value, field: &str) -> Value {
    integration["credentials"].as_array().and_then(|c| c.iter().find(|c| c["field"] == field).cloned()).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_secret_leaks_anywhere() {
    let mut keyed = offer(1, "2.50", &["US"]);
    keyed["tracking_url"] = json!(format!("https://trk.test/1/?api_key={SECRET}&aff=7"));
    let (url, upstream_state) = upstream(vec![keyed, offer(2, "4", &["US"])]).await;
    let app = App::start_with(true, |c| {
        c.agent.max_attempts = 2;
        // Previews and test connections reach the upstream every time.
        c.agent.cache_ttl = Duration::from_millis(1);
    })
    .await;

    // A healthy run, test connection and preview.
    let (a, va) = everflow_integration(&app, &url).await;
    finalize(&app, &a, va).await;
    let run1 = last_run(&app, &a, 0).await;
    assert_eq!(run1["status"], "SUCCEEDED", "{run1}");
    assert_eq!(run1["counters"]["created"], 2, "{run1}");
    let tc = test_connection(&app, &a).await;
    assert_eq!(tc["result"]["ok"], true, "{tc}");
    let (p_ok, p) = preview(&app, &a).await;
    assert_eq!(p["status"], "DONE", "{p}");

    // The upstream redirects to a URL carrying the key, then answers 500 echoing it.
    up(&upstream_state).mode = Mode::Explode;
    sync_now(&app, &a).await;
    let run2 = last_run(&app, &a, run_id(&run1)).await;
    assert_eq!(run2["status"], "FAILED", "{run2}");
    assert_eq!(run2["errorCode"], "UPSTREAM_UNAVAILABLE", "{run2}");
    let run2_full = app.ok(&format!("query($id: ID!) {{ syncRun(id: $id) {{ {RUN} }} }}"), json!({"id": run2["id"]})).await;
    assert_eq!(run2_full["syncRun"]["lastResponse"]["status"], 500, "the failed run keeps the upstream's answer: {run2_full}");

    // The upstream rejects the key, echoing it: the run fails and the integration is disabled.
    up(&upstream_state).mode = Mode::Reject;
    sync_now(&app, &a).await;
    let run3 = last_run(&app, &a, run_id(&run2)).await;
    assert_eq!(run3["errorCode"], "UPSTREAM_UNAUTHORIZED", "{run3}");
    let h = app.ok("query($id: ID!) { integration(id: $id) { health { disabledReason } } }", json!({"id": a})).await;
    assert!(h["integration"]["health"]["disabledReason"].as_str().is_some_and(|r| r.contains("credentials rejected")), "{h}");
    let tc_rejected = test_connection(&app, &a).await;
    assert_eq!(tc_rejected["result"]["ok"], false, "{tc_rejected}");
    assert_eq!(tc_rejected["result"]["code"], "UPSTREAM_UNAUTHORIZED", "{tc_rejected}");
    let (p_failed, p) = preview(&app, &a).await;
    assert_eq!(p["status"], "FAILED", "{p}");
    up(&upstream_state).mode = Mode::Serve;

    // Wrong credentials: the upstream echoes the wrong key in its 401.
    let b = integration_with_key(&app, &url, WRONG).await;
    let tc_wrong = test_connection(&app, &b).await;
    assert_eq!(tc_wrong["result"]["ok"], false, "{tc_wrong}");
    assert_eq!(tc_wrong["result"]["code"], "UPSTREAM_UNAUTHORIZED", "{tc_wrong}");
    assert!(tc_wrong["result"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{tc_wrong}");

    // GraphQL errors for inputs carrying a secret do not repeat it.
    let mut answers: Vec<(String, String)> = vec![];
    for (what, input) in [
        ("unknown credential field", json!([{"field": "api_secret", "value": SECRET}])),
        ("invalid api_url", json!([{"field": "api_url", "value": format!("ftp://{SECRET}@host")}])),
    ] {
        let r = app
            .gql(
                "mutation($id: ID!, $c: [CredentialInput!]!) { updateIntegration(id: $id, version: 1, input: {credentials: $c}) { id } }",
                json!({"id": b, "c": input}),
            )
            .await;
        assert_eq!(code(&r), "VALIDATION", "{what}: {r}");
        answers.push((format!("GraphQL error ({what})"), r.to_string()));
    }
    let r = app
        .gql(
            "mutation($k: String!) { createIntegration(input: {name: \"x\", connector: \"nope\", advertiserId: \"1\",
               credentials: [{field: \"api_key\", value: $k}]}) { id } }",
            json!({"k": SECRET}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    answers.push(("GraphQL error (unknown connector)".into(), r.to_string()));

    // last4 is the real last four characters, and nothing more.
    let d = app.ok("query($a: ID!, $b: ID!) { a: integration(id: $a) { credentials { field isSet last4 } } b: integration(id: $b) { credentials { field isSet last4 } } }", json!({"a": a, "b": b})).await;
    assert_eq!(last4(&d["a"], "api_key"), json!({"field": "api_key", "isSet": true, "last4": &SECRET[SECRET.len() - 4..]}));
    assert_eq!(last4(&d["b"], "api_key"), json!({"field": "api_key", "isSet": true, "last4": &WRONG[WRONG.len() - 4..]}));

    // Everything is written (events follow the rows they describe).
    let pf: i64 = p_failed.parse().unwrap_or_default();
    settled(&app, &a, "the failed preview's event", |e| e.kind == "preview_ready" && e.preview_id == Some(pf)).await;
    settled(&app, &b, "the wrong key's test connection event", |e| e.kind == "request_done").await;

    // Everything over HTTP.
    answers.extend(everything_over_http(&app, &[a.clone(), b.clone()], &[p_ok, p_failed]).await);

    // Everything over WebSocket: the integrations' event replays, a failed run's progress, log tails.
    let mut ws = ws_connect(&app, &app.admin_token).await;
    for id in [&a, &b] {
        let last = db_events(&app.db, id).await.last().map(|e| e.seq).expect("the integration has events");
        ws.subscribe(
            id,
            &format!("subscription($id: ID!) {{ integrationEvents(integrationId: $id, afterSequence: 0) {{ {EVENT} }} }}"),
            json!({"id": id}),
        )
        .await;
        let evs = ws.events_until(id, |e| seq(e) >= last).await;
        answers.push((format!("integrationEvents {id}"), Value::Array(evs).to_string()));
    }
    ws.subscribe("run2", &format!("subscription($id: ID!) {{ syncRunProgress(runId: $id) {{ {EVENT} }} }}"), json!({"id": run2["id"]}))
        .await;
    let evs = ws.events_until("run2", |e| e["kind"] == "run_finished").await;
    answers.push(("syncRunProgress run2".into(), Value::Array(evs).to_string()));
    let last_log = db_events(&app.db, &a).await.iter().filter(|e| e.kind == "log").map(|e| e.seq).max().expect("log events");
    ws.subscribe(
        "tail",
        &format!("subscription($id: ID!) {{ logTail(integrationId: $id, minLevel: DEBUG, afterSequence: 0) {{ {EVENT} }} }}"),
        json!({"id": a}),
    )
    .await;
    let evs = ws.events_until("tail", |e| seq(e) >= last_log).await;
    answers.push(("logTail".into(), Value::Array(evs).to_string()));
    ws.close().await;

    // The database: the sealed credentials hold the real keys, and no table holds them in clear.
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT id, credentials_sealed FROM integrations ORDER BY id",
        ))
        .await
        .expect("raw read");
    assert_eq!(rows.len(), 2);
    for (row, key) in rows.iter().zip([SECRET, WRONG]) {
        let sealed: Option<String> = row.try_get("", "credentials_sealed").expect("credentials_sealed");
        let sealed = sealed.expect("credentials are stored sealed");
        assert!(!sealed.contains(key));
        let opened = app.cipher.open(&sealed).expect("the sealed credentials open with the service key");
        assert_eq!(opened.get("api_key").map(String::as_str), Some(key), "the sealed document holds the real key");
    }
    answers.extend(dump_tables(&app.db, &[]).await);
    assert_no_leaks(&answers, &[SECRET, WRONG]);
}

#[tokio::test]
async fn roles_are_enforced_on_every_mutation_kind() {
    let (url, fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["US"])]).await;
    let app = App::start(true).await;
    let (id, v) = everflow_integration(&app, &url).await;
    finalize(&app, &id, v).await;
    let run1 = last_run(&app, &id, 0).await;
    assert_eq!(run1["status"], "SUCCEEDED", "{run1}");
    // A held run to confirm: an empty feed while campaigns are live.
    lock(&fake).offers.clear();
    sync_now(&app, &id).await;
    let held = last_run(&app, &id, run_id(&run1)).await;
    assert_eq!(held["status"], "HELD", "{held}");
    let (draft, _) = everflow_integration(&app, &url).await;
    let d = app
        .ok(
            "query($id: ID!) { integration(id: $id) { advertiserId } campaigns(filter: {integrationId: $id}) { nodes { id } } }",
            json!({"id": id}),
        )
        .await;
    let adv = d["integration"]["advertiserId"].as_str().unwrap_or_default().to_string();
    let campaign = d["campaigns"]["nodes"][0]["id"].as_str().unwrap_or_default().to_string();
    let tier = app.ok("mutation { createPublisherTier(name: \"Gold\") { id } }", json!({})).await["createPublisherTier"]["id"].clone();
    let publisher = app.ok("mutation($t: ID!) { createPublisher(input: {name: \"P\", tierId: $t}) { id } }", json!({"t": tier})).await["createPublisher"]["id"].clone();
    let cs = app
        .ok("mutation($id: ID!) { bulkUpdateCampaigns(where: {integrationId: $id}, set: {category: \"Admin\"}) { id } }", json!({"id": id}))
        .await["bulkUpdateCampaigns"]["id"]
        .clone();
    let version = app.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": id})).await["integration"]["version"].clone();

    let fill = |q: &str| {
        q.replace("<id>", &id)
            .replace("<draft>", &draft)
            .replace("<adv>", &adv)
            .replace("<campaign>", &campaign)
            .replace("<tier>", tier.as_str().unwrap_or_default())
            .replace("<publisher>", publisher.as_str().unwrap_or_default())
            .replace("<cs>", cs.as_str().unwrap_or_default())
            .replace("<run>", held["id"].as_str().unwrap_or_default())
            .replace("<version>", &version.to_string())
    };
    let mutations: Vec<(&str, String)> = [
        ("createAdvertiser", r#"createAdvertiser(input: {name: "V"}) { id }"#),
        ("updateAdvertiser", r#"updateAdvertiser(id: "<adv>", input: {name: "V"}) { id }"#),
        ("deleteAdvertiser", r#"deleteAdvertiser(id: "<adv>")"#),
        ("createPublisherTier", r#"createPublisherTier(name: "V") { id }"#),
        ("updatePublisherTier", r#"updatePublisherTier(id: "<tier>", name: "V") { id }"#),
        ("deletePublisherTier", r#"deletePublisherTier(id: "<tier>")"#),
        ("createPublisher", r#"createPublisher(input: {name: "V"}) { id }"#),
        ("updatePublisher", r#"updatePublisher(id: "<publisher>", input: {name: "V"}) { id }"#),
        ("deletePublisher", r#"deletePublisher(id: "<publisher>")"#),
        ("setExchangeRate", r#"setExchangeRate(base: "EUR", quote: "USD", rate: "1.1") { rate }"#),
        ("createIntegration", r#"createIntegration(input: {name: "V", connector: "everflow", advertiserId: "<adv>"}) { id }"#),
        ("updateIntegration", r#"updateIntegration(id: "<id>", version: <version>, input: {basicDetails: {name: "V"}}) { id }"#),
        ("requestPreview", r#"requestPreview(integrationId: "<draft>") { id }"#),
        ("selectOffers", r#"selectOffers(integrationId: "<id>", externalIds: ["1"]) { id }"#),
        ("finalizeIntegration", r#"finalizeIntegration(id: "<draft>", force: true) { id }"#),
        ("setIntegrationStatus", r#"setIntegrationStatus(id: "<id>", status: INACTIVE) { id }"#),
        ("syncNow", r#"syncNow(integrationId: "<id>") { id }"#),
        ("testConnection", r#"testConnection(integrationId: "<id>") { id }"#),
        ("deleteIntegration", r#"deleteIntegration(id: "<id>")"#),
        ("updateCampaign", r#"updateCampaign(id: "<campaign>", input: {title: "V"}) { id }"#),
        ("unlockCampaignColumns", r#"unlockCampaignColumns(id: "<campaign>", columns: [CATEGORY]) { id }"#),
        ("bulkUpdateCampaigns", r#"bulkUpdateCampaigns(where: {integrationId: "<id>"}, set: {title: "V"}) { id }"#),
        ("revertChangeset", r#"revertChangeset(id: "<cs>") { id }"#),
        ("bulkUpdateIntegrations", r#"bulkUpdateIntegrations(where: {}, set: {refreshMinutes: 120}) { id }"#),
        ("confirmHeldRun", r#"confirmHeldRun(runId: "<run>") { id }"#),
        ("discardHeldRun", r#"discardHeldRun(runId: "<run>") { id }"#),
        ("createApiToken", r#"createApiToken(input: {name: "V", role: ADMIN}) { token }"#),
        ("revokeApiToken", r#"revokeApiToken(id: "1") { id }"#),
    ]
    .into_iter()
    .map(|(name, m)| (name, format!("mutation {{ {} }}", fill(m))))
    .collect();

    // Every mutation the schema serves is in the list (a new one must be added here).
    let d = app.ok("{ __schema { mutationType { fields { name } } } }", json!({})).await;
    let served: BTreeSet<String> = d["__schema"]["mutationType"]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["name"].as_str().map(String::from))
        .collect();
    let covered: BTreeSet<String> = mutations.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(served, covered, "every mutation must be checked for roles");

    // Quiet database (the held run's lease is released), then the viewer tries everything.
    eventually(30, "the agent to release the lease", || async {
        let i = entity::integration::Entity::find_by_id(id.parse::<i64>().unwrap_or_default()).one(&app.db).await.expect("read");
        i.is_some_and(|i| i.lease_owner.is_none()).then_some(())
    })
    .await;
    let volatile = ["api_token", "agent_heartbeat"];
    let before = dump_tables(&app.db, &volatile).await;
    let viewer = app.token(Role::Viewer).await;
    for (name, m) in &mutations {
        let r = app.gql_as(Some(&viewer), m, json!({})).await;
        assert_eq!(code(&r), "FORBIDDEN", "viewer {name}: {r}");
        assert!(r["data"].is_null(), "viewer {name} got data: {r}");
        for (who, token) in [("no token", None), ("unknown token", Some("obt_not-a-real-token"))] {
            let r = app.gql_as(token, m, json!({})).await;
            assert_eq!(code(&r), "UNAUTHENTICATED", "{who} {name}: {r}");
        }
    }
    let after = dump_tables(&app.db, &volatile).await;
    for ((table, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(b, a, "refused mutations changed {table}");
    }
    // Reading is allowed to a viewer.
    let r = app.gql_as(Some(&viewer), "query($id: ID!) { integration(id: $id) { id } syncRuns { totalCount } }", json!({"id": id})).await;
    assert!(r.get("errors").is_none(), "{r}");

    // An editor edits integrations and campaigns, and reviews runs.
    let editor = app.token(Role::Editor).await;
    let as_editor = |q: String| {
        let app = &app;
        let editor = editor.clone();
        async move {
            let r = app.gql_as(Some(&editor), &q, json!({})).await;
            assert!(r.get("errors").is_none(), "editor: {q}: {r}");
            r["data"].clone()
        }
    };
    as_editor(mutations.iter().find(|(n, _)| *n == "updateIntegration").map(|(_, m)| m.clone()).unwrap_or_default()).await;
    as_editor(mutations.iter().find(|(n, _)| *n == "updateCampaign").map(|(_, m)| m.clone()).unwrap_or_default()).await;
    let d = as_editor(fill(r#"mutation { bulkUpdateCampaigns(where: {integrationId: "<id>"}, set: {category: "Ed"}) { id } }"#)).await;
    let editor_cs = d["bulkUpdateCampaigns"]["id"].as_str().unwrap_or_default().to_string();
    as_editor(format!(r#"mutation {{ revertChangeset(id: "{editor_cs}") {{ id }} }}"#)).await;
    as_editor(fill(
        r#"mutation { bulkUpdateIntegrations(where: {connector: "everflow"}, set: {refreshMinutes: 120}, dryRun: true) { rowCount } }"#,
    ))
    .await;
    as_editor(fill(r#"mutation { confirmHeldRun(runId: "<run>") { phase } }"#)).await;
    let audit =
        entity::audit_log::Entity::find().filter(entity::audit_log::Column::Actor.eq("token:t-editor")).all(&app.db).await.expect("audit");
    let actions: BTreeSet<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for a in ["updateIntegration", "updateCampaign", "bulkUpdateCampaigns", "revertChangeset", "confirmHeldRun"] {
        assert!(actions.contains(a), "no audit entry for the editor's {a}: {actions:?}");
    }
    let d = app.ok("query($c: ID!) { campaign(id: $c) { title lockedColumns } }", json!({"c": campaign})).await;
    assert_eq!(d["campaign"]["title"], "V", "{d}");

    // A revoked token is refused like an unknown one.
    let hash = domain::crypto::hash_token(&editor);
    let t = entity::api_token::Entity::find()
        .filter(entity::api_token::Column::TokenHash.eq(hash))
        .one(&app.db)
        .await
        .expect("read")
        .expect("editor token");
    let mut am: entity::api_token::ActiveModel = t.into();
    am.revoked_at = Set(Some(domain::db::now()));
    am.update(&app.db).await.expect("revoke");
    let r = app.gql_as(Some(&editor), "{ advertisers { id } }", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED", "{r}");

    // Over WebSocket: a viewer subscribes (and still cannot mutate); no token, an unknown or a
    // revoked token is refused at connection_init.
    let mut ws = ws_connect(&app, &viewer).await;
    ws.subscribe(
        "ev",
        &format!("subscription($id: ID!) {{ integrationEvents(integrationId: $id, afterSequence: 0) {{ {EVENT} }} }}"),
        json!({"id": id}),
    )
    .await;
    let e = ws.event("ev", 30).await;
    assert_eq!(e["integrationId"], json!(id), "{e}");
    ws.subscribe("m", "mutation { createAdvertiser(input: {name: \"over ws\"}) { id } }", json!({})).await;
    match ws.next("m", 30).await {
        Msg::Next(p) => assert_eq!(code(&p), "FORBIDDEN", "{p}"),
        Msg::Error(p) => assert_eq!(p[0]["extensions"]["code"], "FORBIDDEN", "{p}"),
        Msg::Complete => panic!("a viewer's mutation over WebSocket completed without an answer"),
    }
    // The input guard and the error codes hold over WebSocket as over HTTP: a NUL in a
    // variable, a document that does not parse, one that does not validate.
    for (n, (query, variables, want)) in [
        ("subscription($id: ID!) { integrationEvents(integrationId: $id) { sequence } }", json!({"id": "1\u{0}"}), "VALIDATION"),
        ("subscription { integrationEvents(", json!({}), "GRAPHQL_PARSE_FAILED"),
        ("subscription { integrationEvents(integrationId: \"1\") { nope } }", json!({}), "GRAPHQL_VALIDATION_FAILED"),
    ]
    .into_iter()
    .enumerate()
    {
        let sub = format!("bad{n}");
        ws.subscribe(&sub, query, variables).await;
        let first = match ws.next(&sub, 30).await {
            Msg::Next(p) => p["errors"][0].clone(),
            Msg::Error(p) => p[0].clone(),
            Msg::Complete => panic!("{query}: completed without an error"),
        };
        assert_eq!(first["extensions"]["code"], want, "{query}: {first}");
        if n == 0 {
            // The guard's refusal, naming the variable, before any resolver saw the value.
            assert_eq!(first["extensions"]["field"], "$id", "{first}");
        }
    }
    ws.close().await;
    let d = app.ok("{ advertisers { name } }", json!({})).await;
    assert!(!d.to_string().contains("over ws"), "a viewer created an advertiser over WebSocket");
    for (what, payload) in [
        ("no token", json!({})),
        ("unknown token", json!({"Authorization": "Bearer obt_not-a-real-token"})),
        ("revoked token", json!({"Authorization": format!("Bearer {editor}")})),
    ] {
        if let Init::Ack(_) = ws_init(&app, payload).await {
            panic!("connection_init with {what} was acknowledged");
        }
    }
}

#[tokio::test]
async fn log_tail_streams_new_lines_at_or_above_min_level() {
    let mut invalid = offer(3, "1", &["US"]);
    if let Some(o) = invalid.as_object_mut() {
        o.remove("name");
    }
    let (url, fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["DE"]), invalid]).await;
    let app = App::start_with(true, |c| c.agent.max_attempts = 2).await;
    let (id, v) = everflow_integration(&app, &url).await;
    let q =
        "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {filters: {countryMode: ALLOW, countries: [\"US\"],
        os: ALL, offerModels: [], skipWithoutPreviewUrl: false, countryPayouts: [], compareCurrency: \"USD\"}}) { version } }";
    let v = app.ok(q, json!({"id": id, "v": v})).await["updateIntegration"]["version"].as_i64().unwrap_or_default();

    let start = max_seq(&app.db).await;
    let mut ws = ws_connect(&app, &app.admin_token).await;
    let tail = |level: &str| {
        format!("subscription($id: ID!, $s: Int!) {{ logTail(integrationId: $id, minLevel: {level}, afterSequence: $s) {{ {EVENT} }} }}")
    };
    ws.subscribe("warn", &tail("WARN"), json!({"id": id, "s": start})).await;
    ws.subscribe("all", &tail("DEBUG"), json!({"id": id, "s": start})).await;

    // Run 1: a 429 with Retry-After: 1 (WARN), an offer filtered by country (INFO), an invalid offer.
    lock(&fake).rate_limit_page = Some(1);
    finalize(&app, &id, v).await;
    let run1 = last_run(&app, &id, 0).await;
    assert_eq!(run1["status"], "PARTIALLY_SUCCEEDED", "{run1}");
    let logs =
        app.ok("query($id: ID!) { logs(filter: {integrationId: $id, minLevel: DEBUG}) { nodes { level code } } }", json!({"id": id})).await;
    let text = logs.to_string();
    assert!(text.contains("FILTER_COUNTRY") && text.contains("OFFER_INVALID") && text.contains("RATE_LIMIT_WAIT"), "{logs}");
    // Run 2 is held (WARN); confirming it logs RUN_CONFIRMED (INFO); run 3 fails (ERROR).
    lock(&fake).offers.clear();
    sync_now(&app, &id).await;
    let run2 = last_run(&app, &id, run_id(&run1)).await;
    assert_eq!(run2["status"], "HELD", "{run2}");
    app.ok("mutation($r: ID!) { confirmHeldRun(runId: $r) { id } }", json!({"r": run2["id"]})).await;
    let all = ws.events_until("all", |e| e["payload"]["code"] == "RUN_CONFIRMED").await;
    lock(&fake).fail_page = Some(1);
    sync_now(&app, &id).await;
    let run3 = last_run(&app, &id, run_id(&run2)).await;
    assert_eq!(run3["status"], "FAILED", "{run3}");
    let warn = ws.events_until("warn", |e| e["payload"]["level"] == "error").await;
    ws.close().await;

    let levels = |evs: &[Value]| evs.iter().map(|e| format!("{}:{}", e["payload"]["level"], e["payload"]["code"])).collect::<Vec<_>>();
    assert!(
        warn.iter().all(|e| e["kind"] == "log" && matches!(e["payload"]["level"].as_str(), Some("warn" | "error"))),
        "below WARN: {:?}",
        levels(&warn)
    );
    let codes: Vec<&str> = warn.iter().filter_map(|e| e["payload"]["code"].as_str()).collect();
    for c in ["RATE_LIMIT_WAIT", "RUN_HELD", "UPSTREAM_UNAVAILABLE"] {
        assert!(codes.contains(&c), "{c} did not arrive on the WARN tail: {codes:?}");
    }
    assert!(all.iter().all(|e| e["kind"] == "log"), "logTail sent other kinds: {all:?}");
    assert!(all.iter().any(|e| e["payload"]["level"] == "info"), "the unfiltered tail saw no INFO line: {:?}", levels(&all));
    assert!(!codes.contains(&"RUN_CONFIRMED"), "an INFO line reached the WARN tail: {codes:?}");

    // Exactly the table's log events at WARN and above, in order, with nothing skipped.
    let last = warn.last().map(seq).unwrap_or_default();
    let expected: Vec<i64> = db_events(&app.db, &id)
        .await
        .into_iter()
        .filter(|e| e.seq > start && e.seq <= last && e.kind == "log")
        .filter(|e| serde_json::from_str::<Value>(&e.payload).is_ok_and(|p| matches!(p["level"].as_str(), Some("warn" | "error"))))
        .map(|e| e.seq)
        .collect();
    assert_eq!(warn.iter().map(seq).collect::<Vec<_>>(), expected, "{:?}", levels(&warn));
}

#[tokio::test]
async fn preview_ready_fires_when_the_agent_stores_a_preview() {
    let (url, fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["DE"])]).await;
    lock(&fake).delay = Duration::from_millis(500);
    let app = App::start(true).await;
    let (good, _) = everflow_integration(&app, &url).await;
    let bad = integration_with_key(&app, &url, WRONG).await;
    let request = |id: String| {
        let app = &app;
        async move {
            app.ok("mutation($id: ID!) { requestPreview(integrationId: $id) { id status } }", json!({"id": id})).await["requestPreview"]
                .clone()
        }
    };
    let p_good = request(good.clone()).await;
    let p_bad = request(bad.clone()).await;
    assert_eq!(p_good["status"], "PENDING");
    let sub = format!("subscription($p: ID!) {{ previewReady(previewId: $p) {{ {EVENT} }} }}");
    let mut ws = ws_connect(&app, &app.admin_token).await;
    ws.subscribe("good", &sub, json!({"p": p_good["id"]})).await;
    ws.subscribe("bad", &sub, json!({"p": p_bad["id"]})).await;

    let e = ws.event("good", 30).await;
    assert_eq!(
        (e["kind"].clone(), e["previewId"].clone(), e["integrationId"].clone()),
        (json!("preview_ready"), p_good["id"].clone(), json!(good))
    );
    assert_eq!(e["payload"]["ok"], true, "{e}");
    // The event follows the stored result.
    let d = app.ok(&format!("query($p: ID!) {{ preview(id: $p) {{ {PREVIEW} }} }}"), json!({"p": p_good["id"]})).await;
    assert_eq!(d["preview"]["status"], "DONE", "{d}");
    assert_eq!((d["preview"]["offersTotal"].clone(), d["preview"]["wouldImport"].clone()), (json!(2), json!(2)), "{d}");
    assert_eq!(d["preview"]["offers"]["totalCount"], 2, "{d}");
    assert!(matches!(ws.next("good", 30).await, Msg::Complete), "previewReady fires once, then completes");

    let e = ws.event("bad", 30).await;
    assert_eq!((e["kind"].clone(), e["previewId"].clone()), (json!("preview_ready"), p_bad["id"].clone()));
    assert_eq!(e["payload"]["ok"], false, "{e}");
    let d = app.ok(&format!("query($p: ID!) {{ preview(id: $p) {{ {PREVIEW} }} }}"), json!({"p": p_bad["id"]})).await;
    assert_eq!(d["preview"]["status"], "FAILED", "{d}");
    assert_eq!(d["preview"]["errorCode"], "UPSTREAM_UNAUTHORIZED", "{d}");
    assert!(matches!(ws.next("bad", 30).await, Msg::Complete));

    // A late subscriber still gets the event.
    ws.subscribe("late", &sub, json!({"p": p_good["id"]})).await;
    let e = ws.event("late", 30).await;
    assert_eq!(e["previewId"], p_good["id"], "{e}");
    ws.close().await;
}

#[tokio::test]
async fn resume_after_reconnect_misses_nothing() {
    let (url, _fake) = fake_everflow(vec![offer(1, "2.50", &["US"]), offer(2, "10", &["US"]), offer(3, "4", &["US"])]).await;
    let app = App::start(true).await;
    let (a, va) = everflow_integration(&app, &url).await;
    let (b, vb) = everflow_integration(&app, &url).await;
    let sub = format!("subscription($id: ID!, $s: Int!) {{ integrationEvents(integrationId: $id, afterSequence: $s) {{ {EVENT} }} }}");

    // Read a few events of A's first run, then drop the connection.
    let mut ws = ws_connect(&app, &app.admin_token).await;
    ws.subscribe("a", &sub, json!({"id": a, "s": 0})).await;
    finalize(&app, &a, va).await;
    finalize(&app, &b, vb).await;
    let first = [ws.event("a", 30).await, ws.event("a", 30).await];
    ws.close().await;

    // More happens while disconnected: both integrations run again, A answers a test connection.
    let ra = last_run(&app, &a, 0).await;
    let rb = last_run(&app, &b, 0).await;
    sync_now(&app, &a).await;
    sync_now(&app, &b).await;
    let ra2 = last_run(&app, &a, run_id(&ra)).await;
    last_run(&app, &b, run_id(&rb)).await;
    test_connection(&app, &a).await;
    let r2 = run_id(&ra2);
    settled(&app, &a, "run 2's end", |e| e.kind == "run_finished" && e.run_id == Some(r2)).await;
    let last_a = settled(&app, &a, "the test connection's event", |e| e.kind == "request_done").await;

    // Reconnect from the last sequence seen; catch up, then follow live.
    let resume_from = first.last().map(seq).unwrap_or_default();
    let mut ws = ws_connect(&app, &app.admin_token).await;
    ws.subscribe("a", &sub, json!({"id": a, "s": resume_from})).await;
    let mut second = ws.events_until("a", |e| seq(e) >= last_a).await;
    sync_now(&app, &a).await;
    let r3 = run_id(&last_run(&app, &a, r2).await);
    let last_a = settled(&app, &a, "run 3's end", |e| e.kind == "run_finished" && e.run_id == Some(r3)).await;
    second.extend(ws.events_until("a", |e| seq(e) >= last_a).await);
    ws.close().await;

    let union: Vec<&Value> = first.iter().chain(&second).collect();
    let seqs: Vec<i64> = union.iter().map(|e| seq(e)).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequences must strictly increase: {seqs:?}");
    assert!(union.iter().all(|e| e["integrationId"] == json!(a)), "another integration's events leaked in");
    let table = db_events(&app.db, &a).await;
    let expected: Vec<(i64, String)> = table.iter().map(|e| (e.seq, e.kind.clone())).collect();
    let got: Vec<(i64, String)> = union.iter().map(|e| (seq(e), e["kind"].as_str().unwrap_or_default().to_string())).collect();
    assert_eq!(got, expected, "the two connections together must deliver exactly the table's events");
    assert!(second.iter().any(|e| e["kind"] == "run_started"), "events after the disconnect were replayed");
    assert!(second.iter().any(|e| e["kind"] == "request_done"), "the test connection's event arrived");
}

/// A progress event's payload for page `n`.
fn progress(n: i64) -> serde_json::Value {
    json!({"run_id": 0, "status": "running", "phase": "fetching", "pages_done": n})
}

/// An integration (its advertiser unreachable: nothing runs) and an admin's WebSocket
/// subscribed as "a" to its events from now on.
async fn subscribed_to_an_integration(app: &App) -> (i64, Ws) {
    let (id, _) = everflow_integration(app, "http://127.0.0.1:9").await;
    let mut ws = ws_connect(app, &app.admin_token).await;
    ws.subscribe(
        "a",
        &format!("subscription($id: ID!, $s: Int!) {{ integrationEvents(integrationId: $id, afterSequence: $s) {{ {EVENT} }} }}"),
        json!({"id": id, "s": max_seq(&app.db).await}),
    )
    .await;
    (id.parse().unwrap_or_default(), ws)
}

/// On PostgreSQL a sequence number is taken at insert but becomes visible at commit, so an
/// event written inside a longer transaction (a page write) can commit after a later one.
#[tokio::test]
async fn an_event_committed_after_a_later_one_still_reaches_subscribers() {
    let app = App::start(false).await;
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        eprintln!("SQLite serialises writers: commit order is sequence order; nothing to check");
        return;
    }
    let (iid, mut ws) = subscribed_to_an_integration(&app).await;
    // The subscription is live once a first event arrives.
    let marker = events::append(&app.db, events::kind::RUN_PROGRESS, Some(iid), None, None, &progress(0)).await.expect("append");
    assert_eq!(seq(&ws.event("a", 30).await), marker);

    use sea_orm::TransactionTrait;
    let tx = app.db.begin().await.expect("begin");
    let early = events::append(&tx, events::kind::RUN_PROGRESS, Some(iid), None, None, &progress(1)).await.expect("append in tx");
    let later = events::append(&app.db, events::kind::RUN_PROGRESS, Some(iid), None, None, &progress(2)).await.expect("append");
    assert!(later > early);
    // Give the poller time to see the later event while the earlier one is uncommitted.
    let mut got: Vec<i64> = vec![];
    if let Some(Msg::Next(p)) = ws.try_next("a", 2).await {
        got.push(p["data"]["integrationEvents"]["sequence"].as_i64().unwrap_or_default());
    }
    tx.commit().await.expect("commit");
    while got.len() < 2 {
        match ws.try_next("a", 15).await {
            Some(Msg::Next(p)) => got.push(p["data"]["integrationEvents"]["sequence"].as_i64().unwrap_or_default()),
            other => panic!("event {early} (committed after {later}) never reached the subscriber: got {got:?}, then {other:?}"),
        }
    }
    assert_eq!(got, vec![early, later], "events must arrive once each, in sequence order");
    ws.close().await;
}

/// A server on `ip:0` that counts requests and answers each with a redirect to `to` (or 200).
async fn counting_server(ip: &str, to: Option<String>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().fallback(move || {
        let h = h.clone();
        let to = to.clone();
        async move {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match to {
                Some(t) => Redirect::temporary(&t).into_response(),
                None => Json(json!({"offers": [], "paging": {"page": 1, "page_size": 50, "total_count": 0}})).into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// SSRF: an editor cannot point the agent at its own network. Literal private addresses and
/// `localhost` are refused when saved; a name resolving to a refused address, a literal one
/// that got in, and a redirect into the network are refused when the agent connects, before
/// any byte is sent; the operator's `agent.allowed_networks` is the only way in.
#[tokio::test]
async fn api_urls_into_the_agents_own_network_are_refused_when_saved_and_when_connecting() {
    let strict = App::start_with(false, |c| c.agent.allowed_networks = vec![]).await;
    let adv = advertiser(&strict, "Adv ssrf").await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://192.168.1.1/",
        "http://2130706433/",
    ] {
        let r = strict
            .gql(
                "mutation($a: ID!, $u: String!) { createIntegration(input: {name: \"SSRF\", connector: \"everflow\", advertiserId: $a,
                   credentials: [{field: \"api_key\", value: \"k3y-0123456789\"}, {field: \"api_url\", value: $u}]}) { id } }",
                json!({"a": adv, "u": url}),
            )
            .await;
        assert_eq!(code(&r), "VALIDATION", "{url}: {r}");
        assert!(r["errors"][0]["message"].as_str().unwrap_or_default().contains("api_url is refused"), "{r}");
    }

    // The gateway allows loopback (so the URLs can be saved); this agent does not.
    let app = App::start(false).await;
    let (_stop, _agent) = app.spawn_agent("strict", |c| c.agent.allowed_networks = vec![]);
    let (target, hits) = counting_server("127.0.0.1", None).await;
    let port = target.rsplit(':').next().unwrap_or_default().to_string();
    for (url, why) in [
        (format!("http://localhost:{port}"), "localhost resolves to 127.0.0.1, a loopback address"),
        (target.clone(), "127.0.0.1 is a loopback address"),
    ] {
        let id = integration_with_key(&app, &url, SECRET).await;
        let r = test_connection(&app, &id).await;
        assert_eq!((r["result"]["ok"].as_bool(), r["result"]["code"].as_str()), (Some(false), Some("TARGET_REFUSED")), "{url}: {r}");
        assert!(r["result"]["message"].as_str().unwrap_or_default().contains(why), "{r}");
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing reached the refused target");

    // An allowed server that redirects into the network: the redirect is refused.
    let with_agent = App::start(true).await;
    let (inner, inner_hits) = counting_server("127.0.0.2", None).await;
    for to in [format!("{inner}/v1/affiliates/offersrunnable"), "http://169.254.169.254/latest/meta-data/".to_string()] {
        let (outer, outer_hits) = counting_server("127.0.0.1", Some(to.clone())).await;
        let id = integration_with_key(&with_agent, &outer, SECRET).await;
        let r = test_connection(&with_agent, &id).await;
        assert_eq!(r["result"]["code"], "TARGET_REFUSED", "{to}: {r}");
        assert!(r["result"]["message"].as_str().unwrap_or_default().contains("a redirect to"), "{r}");
        assert_eq!(outer_hits.load(std::sync::atomic::Ordering::SeqCst), 1, "one request, not retried");
    }
    assert_eq!(inner_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// A password written into an API URL is a secret: never shown back, not even in part.
#[tokio::test]
async fn a_password_inside_an_api_url_is_never_shown() {
    let app = App::start(false).await;
    let id = integration_with_key(&app, "http://bob:hunter2-secret@127.0.0.1:9/v1", SECRET).await;
    let d = app.ok("query($id: ID!) { integration(id: $id) { credentials { field isSet last4 } } }", json!({"id": id})).await;
    let text = d.to_string();
    assert!(!text.contains("hunter2") && !text.contains("bob"), "{text}");
    assert_eq!(last4(&d["integration"], "api_url")["last4"], "http://***@127.0.0.1:9/v1");
}

/// Events are pushed, not polled: with the poll interval set to an hour, an event appended in
/// this process (the agent embedded in `serve`) reaches a subscriber at once; on PostgreSQL an
/// append also sends `NOTIFY offerbridge_events`, and a `NOTIFY` from another process (here a
/// row inserted and notified over a separate connection, as an agent process would) wakes the
/// gateway too.
#[tokio::test]
async fn events_reach_subscribers_without_waiting_for_a_poll() {
    let app = App::start_with(false, |c| c.gateway.event_poll_interval = Duration::from_secs(3600)).await;
    let (iid, mut ws) = subscribed_to_an_integration(&app).await;
    // The subscription may register a moment after `subscribe` is sent: append until one
    // arrives (each append is its own wake-up; none is polled for within the hour).
    let mut first = None;
    for n in 0..20 {
        let s = events::append(&app.db, events::kind::RUN_PROGRESS, Some(iid), None, None, &progress(n)).await.expect("append");
        if let Some(Msg::Next(p)) = ws.try_next("a", 1).await {
            first = Some((s, p));
            break;
        }
    }
    let (_, p) = first.expect("an event appended in this process never reached the subscriber without a poll");
    assert!(p.get("errors").is_none(), "{p}");
    // Drain what the loop appended, then one more: it arrives on its own wake-up.
    while ws.try_next("a", 1).await.is_some() {}
    let s = events::append(&app.db, events::kind::RUN_PROGRESS, Some(iid), None, None, &progress(99)).await.expect("append");
    assert_eq!(seq(&ws.event("a", 10).await), s, "a single append is delivered without a poll");

    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        ws.close().await;
        return;
    }
    // An append notifies the channel (delivered at commit)...
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(app.db.get_postgres_connection_pool()).await.expect("listener");
    listener.listen(events::CHANNEL).await.expect("listen");
    let s = events::append(&app.db, events::kind::RUN_PROGRESS, Some(iid), None, None, &progress(100)).await.expect("append");
    let n = tokio::time::timeout(Duration::from_secs(10), listener.recv()).await.expect("no NOTIFY within 10 s").expect("recv");
    assert_eq!(n.channel(), events::CHANNEL);
    assert_eq!(seq(&ws.event("a", 10).await), s);
    // ...and the gateway wakes on a NOTIFY it did not cause: a row written by "another process"
    // (a plain INSERT, which does not touch this process's wake-up) followed by a NOTIFY.
    let other = domain::db::connect(&app.config.database_url).await.expect("second connection");
    let insert = format!(
        "INSERT INTO events (integration_id, run_id, preview_id, kind, payload, created_at) VALUES ({iid}, NULL, NULL, 'run_progress', '{}', now()) RETURNING seq",
        progress(101)
    );
    let row =
        other.query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, insert)).await.expect("insert").expect("row");
    let s: i64 = row.try_get("", "seq").expect("seq");
    other.execute_unprepared(&format!("NOTIFY {}", events::CHANNEL)).await.expect("notify");
    assert_eq!(seq(&ws.event("a", 10).await), s, "a NOTIFY from another connection wakes the gateway");
    ws.close().await;
}
