//! Import benchmark: a large feed from a local fake Everflow server into a real database,
//! through the real agent (`Agent::run_once`), measuring time and peak memory per phase.
//!
//! ```sh
//! cargo bench --bench import -- --offers 100000            # temp SQLite file
//! cargo bench --bench import -- --offers 100000 --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! Phases: first import (every offer created), unchanged re-sync (nothing written), re-sync
//! with 10 % of payouts changed. Peak RSS is reset before each phase (`/proc/self/clear_refs`)
//! and read from `VmHWM`, so each figure is that phase's own peak. Offers are generated page by
//! page, so the fake server holds one page at a time too.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use domain::{Config, crypto::Cipher, model::Role};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

struct Feed {
    offers: u32,
    /// Bumped to change every tenth payout.
    variant: AtomicU32,
}

fn offer(id: u32, variant: u32) -> Value {
    let bump = if variant > 0 && id.is_multiple_of(10) { variant } else { 0 };
    json!({
        "network_offer_id": id, "network_id": 1, "name": format!("Offer {id}: a long enough title for a real feed"),
        "offer_status": "active", "currency_id": "USD",
        "tracking_url": format!("https://trk.example/{id}/?aff=7"), "preview_url": format!("https://shop.example/p/{id}"),
        "html_description": "<p>Promote our <b>great</b> product. No incent, no adult traffic.</p>",
        "relationship": {
            "offer_affiliate_status": "approved",
            "payouts": {"total": 1, "entries": [{"is_default": true, "payout_type": "cpa", "payout_amount": f64::from(id % 50 + bump) + 0.25, "entry_name": "Base"}]},
            "ruleset": {"countries": [{"country_code": "US"}, {"country_code": "CA"}], "platforms": [{"label": "Android"}]}
        }
    })
}

async fn page(State(f): State<Arc<Feed>>, Query(q): Query<std::collections::HashMap<String, String>>) -> Json<Value> {
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let size: u32 = q.get("page_size").and_then(|p| p.parse().ok()).unwrap_or(500);
    let variant = f.variant.load(Ordering::SeqCst);
    let from = (page - 1) * size + 1;
    let to = (page * size).min(f.offers);
    let offers: Vec<Value> = (from..=to).map(|id| offer(id, variant)).collect();
    Json(json!({"offers": offers, "paging": {"page": page, "page_size": size, "total_count": f.offers}}))
}

fn proc_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Args {
    offers: u32,
    page_size: u32,
    database_url: Option<String>,
    cache_mib: Option<u64>,
}

fn args() -> Args {
    let mut a = Args { offers: 100_000, page_size: 500, database_url: None, cache_mib: None };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--offers" => a.offers = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.offers),
            "--page-size" => a.page_size = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.page_size),
            "--database-url" => a.database_url = it.next(),
            "--cache-mib" => a.cache_mib = it.next().and_then(|v| v.parse().ok()),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

async fn gql(http: &reqwest::Client, base: &str, token: &str, q: &str, v: Value) -> anyhow::Result<Value> {
    let r: Value =
        http.post(format!("{base}/graphql")).bearer_auth(token).json(&json!({"query": q, "variables": v})).send().await?.json().await?;
    anyhow::ensure!(r.get("errors").is_none(), "GraphQL errors: {r}");
    Ok(r["data"].clone())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    // The database: a temp SQLite file, or a fresh PostgreSQL database dropped at the end.
    let dir = tempfile::tempdir()?;
    let (url, pg) = match &a.database_url {
        Some(admin) if admin.starts_with("postgres") => {
            let name = format!("ob_bench_{}", std::process::id());
            let db = domain::db::connect(admin).await?;
            db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await?;
            db.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
            (format!("{base}/{name}"), Some((admin.clone(), name)))
        }
        _ => (format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()), None),
    };
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    let mut cfg = Config { database_url: url.clone(), ..Config::default() };
    cfg.agent.id = Some("bench".into());
    cfg.agent.allowed_networks = vec!["127.0.0.1/32".into()];
    if let Some(m) = a.cache_mib {
        cfg.agent.cache_max_mib = m;
    }
    let config = Arc::new(cfg);
    let db = domain::db::connect(&url).await?;
    domain::db::migrate(&db).await?;
    let cipher = Cipher::from_base64(&secrecy::SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string()))?;

    let feed = Arc::new(Feed { offers: a.offers, variant: AtomicU32::new(0) });
    let app = Router::new().route("/v1/affiliates/offersrunnable", get(page)).with_state(feed.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fake = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // The gateway (no agent) to set the integration up the way an admin would.
    let shutdown = CancellationToken::new();
    let (_, token) = domain::tokens::create(&db, "bench", Role::Admin).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = gateway::state(db.clone(), config.clone(), cipher.clone(), shutdown.clone()).await?;
    let s = shutdown.clone();
    tokio::spawn(async move { gateway::serve(state, listener, s).await });
    let http = reqwest::Client::new();
    let adv = gql(&http, &base, &token, "mutation { createAdvertiser(input: {name: \"Bench\"}) { id } }", json!({})).await?;
    let d = gql(
        &http,
        &base,
        &token,
        "mutation($a: ID!, $u: String!) { createIntegration(input: {name: \"bench\", connector: \"everflow\", advertiserId: $a,
           credentials: [{field: \"api_key\", value: \"bench-key\"}, {field: \"api_url\", value: $u}]}) { id version } }",
        json!({"a": adv["createAdvertiser"]["id"], "u": fake}),
    )
    .await?;
    let id = d["createIntegration"]["id"].as_str().unwrap_or_default().to_string();
    gql(
        &http,
        &base,
        &token,
        "mutation($id: ID!, $v: Int!, $ps: Int!) { updateIntegration(id: $id, version: $v, input: {
            payoutRules: {globalRatio: \"0.8\", tierRatios: [], publisherPayouts: []},
            settings: {refreshMinutes: 60, updatableColumns: [TITLE, REVENUE, PAYOUT, TRACKING_URL, COUNTRIES], redirectType: HTTP_302, pageSize: $ps, rateLimitPerSecond: \"100\"},
            basicDetails: {trackingUrlAppend: \"sub1={click_id}\"}}) { version } }",
        json!({"id": id, "v": d["createIntegration"]["version"], "ps": a.page_size}),
    )
    .await?;
    gql(&http, &base, &token, "mutation($id: ID!) { finalizeIntegration(id: $id) { lifecycle } }", json!({"id": id})).await?;
    let integration_id: i64 = id.parse()?;

    let agent = agent::runtime::Agent::new(db.clone(), config.clone(), cipher)?;
    println!(
        "offerbridge import benchmark: {} offers, page size {}, {backend}, page cache {} MiB; RSS before the first run {:.0} MiB",
        a.offers,
        a.page_size,
        config.agent.cache_max_mib,
        proc_kib("VmRSS:") as f64 / 1024.0
    );
    println!();
    println!("| phase | wall time | offers/s | created | updated | unchanged | peak RSS (phase) | RSS after: heap / files+shm |");
    println!("|---|---|---|---|---|---|---|---|");
    let phases: [(&str, u32); 3] = [("first import", 0), ("re-sync, unchanged", 0), ("re-sync, 10 % payouts changed", 1)];
    for (name, variant) in phases {
        feed.variant.store(variant, Ordering::SeqCst);
        reset_peak();
        let t = Instant::now();
        let s = agent.run_once(integration_id, false, CancellationToken::new()).await?;
        let took = t.elapsed();
        anyhow::ensure!(s.status == domain::model::RunStatus::Succeeded, "run {} ended {}: {:?}", s.run_id, s.status, s.error);
        let c = &s.counters;
        println!(
            "| {name} | {:.1} s | {:.0} | {} | {} | {} | {:.0} MiB | {:.0} / {:.0} MiB |",
            took.as_secs_f64(),
            f64::from(a.offers) / took.as_secs_f64().max(1e-9),
            c.created,
            c.updated,
            c.unchanged,
            proc_kib("VmHWM:") as f64 / 1024.0,
            proc_kib("RssAnon:") as f64 / 1024.0,
            (proc_kib("RssFile:") + proc_kib("RssShmem:")) as f64 / 1024.0
        );
    }
    let n = domain::entity::campaign::Entity::find().count(&db).await?;
    anyhow::ensure!(n == u64::from(a.offers), "expected {} campaigns, found {n}", a.offers);
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(db);
    if let Some((admin, name)) = pg {
        let db = domain::db::connect(&admin).await?;
        db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
    }
    Ok(())
}
