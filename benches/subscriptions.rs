//! Subscription latency benchmark: N graphql-transport-ws subscribers follow one integration's
//! events (`integrationEvents`) while its first import runs; each event's latency is the time
//! of receipt minus the event's `createdAt` (stamped by the agent when it writes the row, a
//! moment before its transaction commits, so this is an upper bound of commit-to-receipt).
//!
//! ```sh
//! cargo bench --bench subscriptions                                     # 1,000 subscribers, SQLite, agent in process
//! cargo bench --bench subscriptions -- --database-url postgres://postgres@127.0.0.1:5432/postgres --split
//! cargo bench --bench subscriptions -- --per-event                      # also each event's p50 and max
//! ```
//!
//! `--split` runs the agent as its own process (`offerbridge agent`), as on several machines:
//! on PostgreSQL the gateway then learns of events by `LISTEN`; without it (or on SQLite, in
//! process) by the in-process wake-up. The feed is the sample advertiser, 40 pages of 250
//! offers with a 100 ms answer time per page, so the run lasts a few seconds and sends its
//! progress (at most 4 events per second) and log events.

mod common;

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Feed, InProcess, KEY, gql, serve_gateway};
use domain::Config;
use futures::{SinkExt, StreamExt};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const PAGES: u32 = 40;
const PAGE_SIZE: u32 = 250;

/// One subscriber: connects, subscribes, then records (receipt instant, event) until the run
/// finishes.
async fn subscriber(
    ws_url: String,
    token: String,
    integration: String,
    after: i64,
    all_done: Arc<tokio::sync::Barrier>,
) -> anyhow::Result<Vec<(chrono::DateTime<chrono::Utc>, Value)>> {
    let mut req = ws_url.into_client_request()?;
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("graphql-transport-ws"));
    // A browser reads a socket into a buffer the size of what arrived; tungstenite zero-fills
    // its whole read buffer (128 KiB by default) before every read, which made the 1,000
    // clients in this process the largest cost on the machine (15 % of all samples) and
    // delayed the receipts they measure. Events are a few hundred bytes.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true).await?;
    ws.send(Message::text(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}).to_string())).await?;
    let q = "subscription($id: ID!, $s: Int!) { integrationEvents(integrationId: $id, afterSequence: $s) { sequence kind createdAt } }";
    let mut subscribed = false;
    let mut got = vec![];
    while let Some(m) = ws.next().await {
        let at = chrono::Utc::now();
        let Message::Text(t) = m? else { continue };
        let v: Value = serde_json::from_str(&t)?;
        match v["type"].as_str() {
            Some("connection_ack") if !subscribed => {
                subscribed = true;
                let m = json!({"id": "e", "type": "subscribe", "payload": {"query": q, "variables": {"id": integration, "s": after}}});
                ws.send(Message::text(m.to_string())).await?;
            }
            Some("ping") => ws.send(Message::text(json!({"type": "pong"}).to_string())).await?,
            Some("next") => {
                let e = v["payload"]["data"]["integrationEvents"].clone();
                let done = e["kind"] == "run_finished";
                got.push((at, e));
                if done {
                    break;
                }
            }
            _ => anyhow::bail!("unexpected message: {t}"),
        }
    }
    // Closed only once every subscriber has the last event: 1,000 closing handshakes at once
    // would compete with the delivery of that event to the others (in the bench, not in life,
    // where screens do not close on the same millisecond), and made it the whole p99.
    all_done.wait().await;
    let _ = ws.close(None).await;
    Ok(got)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut subscribers = 1000usize;
    let mut admin_url: Option<String> = None;
    let mut split = false;
    let mut per_event = false;
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--subscribers" => subscribers = it.next().and_then(|v| v.parse().ok()).unwrap_or(subscribers),
            "--database-url" => admin_url = it.next(),
            "--split" => split = true,
            "--per-event" => per_event = true,
            _ => {}
        }
    }
    let dir = tempfile::tempdir()?;
    let name = format!("ob_subs_{}", std::process::id());
    let url = match &admin_url {
        Some(admin) if admin.starts_with("postgres") => {
            let db = domain::db::connect(admin).await?;
            db.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
            format!("{}/{name}", admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin))
        }
        _ => format!("sqlite://{}?mode=rwc", dir.path().join("subs.db").display()),
    };
    let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };

    let fake = Arc::new(Feed::render(PAGES * PAGE_SIZE, PAGE_SIZE, &[0], Duration::from_millis(100))).serve().await?;

    let mut cfg = Config { database_url: url.clone(), data_dir: dir.path().to_path_buf(), ..Config::default() };
    cfg.agent.allowed_networks = vec!["127.0.0.1/32".into()];
    cfg.agent.poll_interval = Duration::from_millis(200);
    let config = Arc::new(cfg);
    let InProcess { db, base, token, shutdown, server } = serve_gateway(config.clone()).await?;
    let mut child = None;
    if split {
        child = Some(
            Command::new(env!("CARGO_BIN_EXE_offerbridge"))
                .arg("agent")
                .env("DATABASE_URL", &url)
                .env("OFFERBRIDGE_SECRET_KEY", KEY)
                .env("OFFERBRIDGE_DATA_DIR", dir.path())
                .env("OFFERBRIDGE_AGENT__ALLOWED_NETWORKS", "127.0.0.1/32")
                .env("OFFERBRIDGE_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()?,
        );
    } else {
        let cipher = domain::crypto::Cipher::from_base64(&secrecy::SecretString::from(KEY.to_string()))?;
        let agent = agent::runtime::Agent::new(db.clone(), config.clone(), cipher)?;
        let s = shutdown.clone();
        tokio::spawn(async move { agent.run(s).await });
    }

    let http = reqwest::Client::new();
    let adv = gql(&http, &base, &token, "mutation { createAdvertiser(input: {name: \"Bench\"}) { id } }", json!({})).await?;
    let d = gql(
        &http,
        &base,
        &token,
        "mutation($a: ID!, $u: String!) { createIntegration(input: {name: \"subs\", connector: \"hasoffers\", advertiserId: $a,
           credentials: [{field: \"network_id\", value: \"bench\"}, {field: \"api_key\", value: \"bench-key\"}, {field: \"api_url\", value: $u}]}) { id version } }",
        json!({"a": adv["createAdvertiser"]["id"], "u": fake}),
    )
    .await?;
    let id = d["createIntegration"]["id"].as_str().unwrap_or_default().to_string();
    gql(
        &http,
        &base,
        &token,
        "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {
            settings: {refreshMinutes: 60, updatableColumns: [TITLE, REVENUE, PAYOUT], redirectType: HTTP_302, pageSize: 250, rateLimitPerSecond: \"100\"}}) { version } }",
        json!({"id": id, "v": d["createIntegration"]["version"]}),
    )
    .await?;
    let after = hub_max(&db).await?;
    let ws_url = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1));
    let mut clients = tokio::task::JoinSet::new();
    let all_done = Arc::new(tokio::sync::Barrier::new(subscribers));
    for _ in 0..subscribers {
        clients.spawn(subscriber(ws_url.clone(), token.clone(), id.clone(), after, all_done.clone()));
    }
    // Every subscriber connected and subscribed (no acknowledgement exists for `subscribe`).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = Instant::now();
    gql(&http, &base, &token, "mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await?;
    let mut latencies: Vec<f64> = vec![];
    let mut counts: Vec<usize> = vec![];
    // Per event (sequence): its kind and every subscriber's latency.
    let mut by_event: std::collections::BTreeMap<i64, (String, Vec<f64>)> = Default::default();
    while let Some(r) = clients.join_next().await {
        let got = r??;
        counts.push(got.len());
        for (at, e) in got {
            let created: chrono::DateTime<chrono::Utc> = e["createdAt"].as_str().unwrap_or_default().parse()?;
            let ms = (at - created).num_microseconds().unwrap_or(0) as f64 / 1000.0;
            latencies.push(ms);
            let slot = by_event.entry(e["sequence"].as_i64().unwrap_or_default()).or_default();
            slot.0 = e["kind"].as_str().unwrap_or_default().to_string();
            slot.1.push(ms);
        }
    }
    let took = t.elapsed();
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let events = counts.iter().copied().max().unwrap_or(0);
    anyhow::ensure!(counts.iter().all(|c| *c == events), "subscribers received different numbers of events: {counts:?}");
    println!(
        "{subscribers} subscribers, {backend}, agent {}, {events} events each ({} deliveries) in {:.1} s",
        if split { "in its own process" } else { "in the gateway's process" },
        latencies.len(),
        took.as_secs_f64()
    );
    println!();
    println!("| backend | agent | subscribers | events each | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {backend} | {} | {subscribers} | {events} | {:.1} ms | {:.1} ms | {:.1} ms |",
        if split { "own process" } else { "in process" },
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    if per_event {
        // `--per-event`: where the tail comes from (events that arrive together queue behind
        // each other's fan-out).
        println!();
        println!("| sequence | kind | p50 | max |");
        println!("|---|---|---|---|");
        for (seq, (kind, mut l)) in by_event {
            l.sort_by(|a, b| a.total_cmp(b));
            println!("| {seq} | {kind} | {:.1} ms | {:.1} ms |", percentile(&l, 0.5), l.last().copied().unwrap_or(0.0));
        }
    }
    drop(db);
    if let Some(admin) = admin_url.filter(|u| u.starts_with("postgres")) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let db = domain::db::connect(&admin).await?;
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    }
    Ok(())
}

async fn hub_max(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i64> {
    Ok(gateway::hub::latest_seq(db).await?)
}
