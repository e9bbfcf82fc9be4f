//! The read path, side by side: `offerbridge gateway` and PostGraphile 5 (amber preset) on the
//! same PostgreSQL tables, each pinned to core 0, driven by wrk on core 1 with every response
//! body validated (status 200, no `errors`, the expected last row present).
//!
//! ```sh
//! cargo bench --bench api -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench --bench api                       # SQLite: offerbridge alone (PostGraphile needs PostgreSQL)
//! ```
//!
//! The tables are imported by offerbridge itself: the sample advertiser (`agent::sample`,
//! 100,000 HasOffers offers by default) through `offerbridge sync`. PostGraphile is installed
//! from `benches/api/package.json` (pinned, with its own Node 22) by `npm ci` when missing; wrk
//! comes from Debian (`apt-get install wrk`).

mod common;
#[path = "common/setup.rs"]
mod setup;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use common::{Feed, KEY};
use domain::model::Role;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use setup::{Databases, arg, set_up_many};
use tokio::process::{Child, Command};

struct Args {
    database_url: Option<String>,
    offers: u32,
    secs: u32,
    connections: u32,
}

fn args() -> Args {
    Args {
        database_url: arg("--database-url"),
        offers: arg("--offers").unwrap_or(100_000),
        secs: arg("--secs").unwrap_or(10),
        connections: arg("--connections").unwrap_or(8),
    }
}

/// One measured query: wrk's figures and the validation count.
#[derive(Default, Clone)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    responses: u64,
    invalid: u64,
    /// CPU time per response, in microseconds: the server's (its process and children) and
    /// PostgreSQL's (every `postgres` process), from /proc.
    server_cpu_us: f64,
    db_cpu_us: f64,
}

/// Clock ticks per second of /proc's CPU times.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// (pid, parent pid, command name, user + system CPU ticks) of every process.
fn processes() -> Vec<(u32, u32, String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_string();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ppid = f.get(1)?.parse().ok()?;
        let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some((pid, ppid, comm, ticks))
    })
    .collect()
}

/// CPU ticks so far of `root` and its descendants, and of every `postgres` process.
fn cpu_ticks(root: u32) -> (u64, u64) {
    let ps = processes();
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, _, _) in &ps {
            if tree.contains(ppid) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    let server = ps.iter().filter(|p| tree.contains(&p.0)).map(|p| p.3).sum();
    let db = ps.iter().filter(|p| p.2 == "postgres").map(|p| p.3).sum();
    (server, db)
}

/// Drives `url` for `secs` with `body`, every response checked for `expect`.
async fn wrk(url: &str, body: &Path, expect: &str, auth: Option<&str>, secs: u32, connections: u32, server: u32) -> anyhow::Result<Load> {
    let before = cpu_ticks(server);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/api/post.lua");
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1", &format!("-c{connections}"), &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&script)
        .arg(url)
        .env("BODY", body)
        .env("EXPECT", expect)
        .env("AUTH", auth.unwrap_or_default())
        .output()
        .await
        .context("wrk (apt-get install wrk)")?;
    let after = cpu_ticks(server);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    anyhow::ensure!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str, key: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.trim_start().starts_with(prefix))?;
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.trim_end_matches(',').parse().ok()
    };
    let responses = field("responses:", "responses:").unwrap_or(0.0);
    let per_response = |ticks: u64| ticks as f64 / clock_ticks() * 1e6 / responses.max(1.0);
    let load = Load {
        server_cpu_us: per_response(after.0.saturating_sub(before.0)),
        db_cpu_us: per_response(after.1.saturating_sub(before.1)),
        rps: field("Requests/sec:", "Requests/sec:").unwrap_or(0.0),
        p50_ms: field("latency_us:", "p50=").unwrap_or(0.0) / 1000.0,
        p99_ms: field("latency_us:", "p99=").unwrap_or(0.0) / 1000.0,
        responses: field("responses:", "responses:").unwrap_or(0.0) as u64,
        invalid: field("invalid:", "invalid:").unwrap_or(-1.0) as u64,
    };
    anyhow::ensure!(load.responses > 0 && load.invalid == 0, "invalid responses from {url}:\n{text}");
    Ok(load)
}

/// A free loopback port (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Polls `url` with `{__typename}` until it answers 200 (60 s at most).
async fn ready(url: &str, auth: Option<&str>, child: &mut Child) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("{url}: the server exited with {status}");
        }
        let mut rb = http.post(url).json(&json!({"query": "{ __typename }"}));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        if rb.send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not come up within 60 s")
}

async fn post(url: &str, auth: Option<&str>, body: &Value) -> anyhow::Result<Value> {
    let mut rb = reqwest::Client::new().post(url).json(body);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    let v: Value = rb.send().await?.json().await?;
    anyhow::ensure!(v.get("errors").is_none(), "{v}");
    Ok(v)
}

async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        // SIGINT: `perf record` then writes its data and stops its workload.
        let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let _ = child.kill().await;
}

/// The three queries of one server: (label, request body, the external id its last row has).
type Queries = Vec<(&'static str, PathBuf, String)>;

const OB_FIELDS: &str =
    "cursor node { id externalId title status currency revenue payout payouts { country goal revenue payout payoutType currency } }";
const PG_FIELDS: &str = "cursor node { rowId externalId title status currency revenue payout campaignPayoutsByCampaignId(orderBy: PRIMARY_KEY_ASC) { nodes { country goal revenue payout payoutType currency } } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let pg = a.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
    let backend = if pg { "PostgreSQL" } else { "SQLite" };
    let feed = std::sync::Arc::new(Feed::render(a.offers, 1000, &[0], Duration::ZERO));
    let fake = feed.serve().await?;
    let mut dbs = Databases { admin: a.database_url.clone().filter(|_| pg), dir: tempfile::tempdir()?, made: vec![] };
    // Both servers reach PostgreSQL without TLS (PostGraphile's `pg` does not ask for it;
    // sqlx would negotiate it with a server that offers it).
    let url = dbs.fresh("api").await?;
    let url = if pg { format!("{url}?sslmode=disable") } else { url };
    let offerbridge = env!("CARGO_BIN_EXE_offerbridge");
    let (db, ids) = set_up_many(&url, &fake, 1000, dbs.dir.path(), 1, 60).await?;
    let id = ids[0];
    eprintln!("importing {} offers into {backend} with offerbridge sync ...", a.offers);
    let status = Command::new(offerbridge)
        .args(["sync", &id.to_string()])
        .env("DATABASE_URL", &url)
        .env("OFFERBRIDGE_SECRET_KEY", KEY)
        .env("OFFERBRIDGE_DATA_DIR", dbs.dir.path())
        .env("OFFERBRIDGE_AGENT__ALLOWED_NETWORKS", "127.0.0.1/32")
        .env("OFFERBRIDGE_LOG", "warn")
        .status()
        .await?;
    anyhow::ensure!(status.success(), "offerbridge sync failed: {status}");
    if pg {
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    let count = |sql: &str| {
        let db = db.clone();
        let sql = sql.to_string();
        async move {
            let r = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?.context("no row")?;
            anyhow::Ok(r.try_get_by_index::<i64>(0)?)
        }
    };
    let campaigns = count("SELECT COUNT(*) FROM campaigns").await?;
    let payouts = count("SELECT COUNT(*) FROM campaign_payouts").await?;
    let ext_at = |row: i64| {
        let db = db.clone();
        async move {
            let sql = format!("SELECT id, external_id FROM campaigns ORDER BY id LIMIT 1 OFFSET {}", row - 1);
            let r = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?.context("no row")?;
            anyhow::Ok((r.try_get::<i64>("", "id")?, r.try_get::<String>("", "external_id")?))
        }
    };
    let deep = (campaigns / 2).min(50_000);
    let (deep_id, _) = ext_at(deep).await?;
    let (_, ext_50) = ext_at(50).await?;
    let (_, ext_deep_50) = ext_at(deep + 50).await?;
    eprintln!("{campaigns} campaigns, {payouts} payout rows; deep page after row {deep}");
    let dir = dbs.dir.path().to_path_buf();
    let write = |name: &str, query: String| -> anyhow::Result<PathBuf> {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec(&json!({"query": query}))?)?;
        Ok(p)
    };

    // offerbridge gateway, pinned to core 0.
    let (_, token) = domain::tokens::create(&db, "bench-api", Role::Admin).await?;
    let auth = format!("Bearer {token}");
    let port = free_port()?;
    let ob_url = format!("http://127.0.0.1:{port}/graphql");
    // `OB_BENCH_PERF=1`: the gateway runs under `perf record` (call graphs, /tmp/ob-api-perf.data).
    let perf = std::env::var("OB_BENCH_PERF").is_ok();
    let mut gw = Command::new("taskset");
    gw.args(["-c", "0"]);
    if perf {
        gw.args(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", "/tmp/ob-api-perf.data", "--"]);
    }
    gw.args([offerbridge, "gateway"])
        .env("DATABASE_URL", &url)
        .env("OFFERBRIDGE_SECRET_KEY", KEY)
        .env("OFFERBRIDGE_DATA_DIR", &dir)
        .env("OFFERBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("OFFERBRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    let mut child = gw.spawn()?;
    ready(&ob_url, Some(&auth), &mut child).await?;
    let first = format!("{{ campaigns(first: 50) {{ edges {{ {OB_FIELDS} }} }} }}");
    // offerbridge's cursor is the row id, base64url("id:<id>").
    let after = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("id:{deep_id}"))
    };
    let check =
        post(&ob_url, Some(&auth), &json!({"query": format!("{{ campaigns(first: 1, after: \"{after}\") {{ nodes {{ id }} }} }}")}))
            .await?;
    let (next_id, _) = ext_at(deep + 1).await?;
    anyhow::ensure!(check["data"]["campaigns"]["nodes"][0]["id"] == json!(next_id.to_string()), "the deep cursor: {check}");
    let ob_queries: Queries = vec![
        ("first 50 with payouts", write("ob-first.json", first.clone())?, ext_50.clone()),
        (
            "same, after a deep cursor",
            write("ob-deep.json", format!("{{ campaigns(first: 50, after: \"{after}\") {{ edges {{ {OB_FIELDS} }} }} }}"))?,
            ext_deep_50.clone(),
        ),
        (
            "first 50 plus totalCount",
            write("ob-total.json", format!("{{ campaigns(first: 50) {{ totalCount edges {{ {OB_FIELDS} }} }} }}"))?,
            ext_50.clone(),
        ),
    ];
    let mut ob = vec![];
    for (label, body, last) in &ob_queries {
        let expect = format!("\"externalId\":\"{last}\"");
        let pid = child.id().context("the gateway's pid")?;
        wrk(&ob_url, body, &expect, Some(&auth), 3, a.connections, pid).await?; // warm-up
        let l = wrk(&ob_url, body, &expect, Some(&auth), a.secs, a.connections, pid).await?;
        eprintln!("offerbridge  {label}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms", l.rps, l.p50_ms, l.p99_ms);
        ob.push(l);
    }
    stop(child).await;

    // PostGraphile 5 on the same tables, pinned to core 0.
    let mut pgl = vec![Load::default(); 3];
    if pg {
        let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/api");
        if !api.join("node_modules/postgraphile").exists() {
            eprintln!("installing PostGraphile (npm ci, pinned) ...");
            let s = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&api).status().await?;
            anyhow::ensure!(s.success(), "npm ci failed in {}", api.display());
        }
        let port = free_port()?;
        let pg_url = format!("http://127.0.0.1:{port}/graphql");
        let mut child = Command::new("taskset")
            .args(["-c", "0"])
            .arg(api.join("run-postgraphile.sh"))
            .env("DATABASE_URL", &url)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        ready(&pg_url, None, &mut child).await?;
        let c = post(
            &pg_url,
            None,
            &json!({"query": format!("{{ allCampaigns(first: 1, offset: {}, orderBy: PRIMARY_KEY_ASC) {{ edges {{ cursor node {{ rowId }} }} }} }}", deep - 1)}),
        )
        .await?;
        let node = &c["data"]["allCampaigns"]["edges"][0];
        // (PostGraphile sends a bigint as a string.)
        anyhow::ensure!(node["node"]["rowId"] == json!(deep_id.to_string()), "PostGraphile's row {deep} is {node}");
        let pg_after = node["cursor"].as_str().context("cursor")?.to_string();
        let pg_queries: Queries = vec![
            (
                "first 50 with payouts",
                write("pg-first.json", format!("{{ allCampaigns(first: 50, orderBy: PRIMARY_KEY_ASC) {{ edges {{ {PG_FIELDS} }} }} }}"))?,
                ext_50.clone(),
            ),
            (
                "same, after a deep cursor",
                write(
                    "pg-deep.json",
                    format!("{{ allCampaigns(first: 50, after: \"{pg_after}\", orderBy: PRIMARY_KEY_ASC) {{ edges {{ {PG_FIELDS} }} }} }}"),
                )?,
                ext_deep_50.clone(),
            ),
            (
                "first 50 plus totalCount",
                write(
                    "pg-total.json",
                    format!("{{ allCampaigns(first: 50, orderBy: PRIMARY_KEY_ASC) {{ totalCount edges {{ {PG_FIELDS} }} }} }}"),
                )?,
                ext_50.clone(),
            ),
        ];
        for (k, (label, body, last)) in pg_queries.iter().enumerate() {
            let expect = format!("\"externalId\":\"{last}\"");
            let pid = child.id().context("PostGraphile's pid")?;
            wrk(&pg_url, body, &expect, None, 3, a.connections, pid).await?;
            let l = wrk(&pg_url, body, &expect, None, a.secs, a.connections, pid).await?;
            eprintln!("PostGraphile {label}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms", l.rps, l.p50_ms, l.p99_ms);
            pgl[k] = l;
        }
        stop(child).await;
    }
    db.close().await?;
    dbs.drop_all().await?;

    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "\n{backend}, {campaigns} campaigns, {payouts} payout rows, wrk -t1 -c{} -d{}s, servers on core 0, wrk on core 1, commit {commit}\n",
        a.connections, a.secs
    );
    println!(
        "| query | PostGraphile 5 req/s | p50 / p99 | offerbridge req/s | p50 / p99 | req/s ratio | p99 ratio | CPU per request, server + PostgreSQL: PostGraphile / offerbridge |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (k, (label, _, _)) in ob_queries.iter().enumerate() {
        let (o, p) = (&ob[k], &pgl[k]);
        let cpu = |l: &Load| format!("{:.0} + {:.0} µs", l.server_cpu_us, l.db_cpu_us);
        let (pg_rps, pg_lat, ratio, p99_ratio, pg_cpu) = if p.responses > 0 {
            (
                format!("{:.0}", p.rps),
                format!("{:.1} / {:.1} ms", p.p50_ms, p.p99_ms),
                format!("{:.2}x", o.rps / p.rps),
                format!("{:.2}x", o.p99_ms / p.p99_ms),
                cpu(p),
            )
        } else {
            ("".into(), "".into(), "".into(), "".into(), "-".into())
        };
        println!(
            "| {label} | {pg_rps} | {pg_lat} | {:.0} | {:.1} / {:.1} ms | {ratio} | {p99_ratio} | {pg_cpu} / {} |",
            o.rps,
            o.p50_ms,
            o.p99_ms,
            cpu(o)
        );
    }
    Ok(())
}
