//! The scheduler at scale: how late scheduled refreshes start when one agent keeps many
//! integrations fresh, and what an unchanged refresh costs it.
//!
//! ```sh
//! cargo bench --bench scheduler                                 # 1,000 integrations x 500 offers, SQLite
//! cargo bench --bench scheduler -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! 1,000 integrations (each its own advertiser account) of 500 sample offers each, refreshed
//! every 15 minutes, are set up through the gateway and imported once by `offerbridge agent`.
//! Then the steady state is reproduced: each integration's next refresh is spread evenly over
//! the 15-minute cycle (one due every 0.9 s), and a fresh `offerbridge agent` (default
//! settings: 4 runs at once, 1 s poll) runs for `--window` seconds. A start's lateness is its
//! run's `started_at` minus the time it was due; the agent's CPU time (from /proc) is divided
//! by the runs it made.

mod common;
#[path = "common/setup.rs"]
mod setup;

use std::{
    collections::HashMap,
    process::Stdio,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use common::{Feed, KEY};
use domain::entity::{integration, sync_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use setup::{Databases, arg, set_up_many};
use tokio::process::{Child, Command};

struct Args {
    database_url: Option<String>,
    integrations: usize,
    offers: u32,
    window: u64,
    cycle_minutes: u32,
}

fn args() -> Args {
    Args {
        database_url: arg("--database-url"),
        integrations: arg("--integrations").unwrap_or(1000),
        offers: arg("--offers").unwrap_or(500),
        window: arg("--window").unwrap_or(180),
        cycle_minutes: arg("--cycle-minutes").unwrap_or(15),
    }
}

/// `offerbridge agent` on `url`.
fn agent(url: &str, dir: &std::path::Path) -> anyhow::Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_offerbridge"))
        .arg("agent")
        .env("DATABASE_URL", url)
        .env("OFFERBRIDGE_SECRET_KEY", KEY)
        .env("OFFERBRIDGE_DATA_DIR", dir)
        .env("OFFERBRIDGE_AGENT__ALLOWED_NETWORKS", "127.0.0.1/32")
        .env("OFFERBRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?)
}

/// User plus system CPU time of a running process (Linux `/proc/<pid>/stat`, clock ticks of
/// 10 ms).
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |k: usize| fields.get(k).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").arg(pid.to_string()).status().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    let _ = child.kill().await;
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    let pg = a.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
    let backend = if pg { "PostgreSQL" } else { "SQLite" };
    let feed = std::sync::Arc::new(Feed::render(a.offers, a.offers, &[0], Duration::ZERO));
    let fake = feed.serve().await?;
    let mut dbs = Databases { admin: a.database_url.clone().filter(|_| pg), dir: tempfile::tempdir()?, made: vec![] };
    let url = dbs.fresh("sched").await?;
    let t = Instant::now();
    let (db, ids) = set_up_many(&url, &fake, a.offers, dbs.dir.path(), a.integrations, a.cycle_minutes).await?;
    eprintln!("{} integrations set up in {:.0} s ({backend})", ids.len(), t.elapsed().as_secs_f64());

    // The first imports, all due at once.
    let t = Instant::now();
    let child = agent(&url, dbs.dir.path())?;
    loop {
        let done = sync_run::Entity::find().filter(sync_run::Column::Status.is_not_in(["running", "queued"])).all(&db).await?.len();
        if done >= ids.len() {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(1800), "first imports: {done} of {} after 30 minutes", ids.len());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop(child).await;
    let failed = sync_run::Entity::find().filter(sync_run::Column::Status.ne("succeeded")).all(&db).await?;
    anyhow::ensure!(failed.is_empty(), "first imports that did not succeed: {:?}", failed.first());
    eprintln!("first imports of {} offers done in {:.0} s", ids.len() as u64 * u64::from(a.offers), t.elapsed().as_secs_f64());

    // The steady state: one integration due every cycle / n, from a few seconds from now.
    let spacing = Duration::from_secs(u64::from(a.cycle_minutes) * 60).as_secs_f64() / ids.len() as f64;
    let t0 = Utc::now() + chrono::Duration::seconds(5);
    let mut due: HashMap<i64, DateTime<Utc>> = HashMap::new();
    for (k, id) in ids.iter().enumerate() {
        let at = t0 + chrono::Duration::milliseconds((k as f64 * spacing * 1000.0) as i64);
        due.insert(*id, at);
        integration::Entity::update_many()
            .col_expr(integration::Column::NextRunAt, Expr::value(at))
            .filter(integration::Column::Id.eq(*id))
            .exec(&db)
            .await?;
    }
    let before = sync_run::Entity::find().all(&db).await?.iter().map(|r| r.id).max().unwrap_or(0);
    let child = agent(&url, dbs.dir.path())?;
    let pid = child.id().unwrap_or(0);
    let cpu0 = cpu(pid);
    let window_end = t0 + chrono::Duration::seconds(a.window as i64);
    tokio::time::sleep(Duration::from_secs(a.window + 10)).await;
    let cpu_used = cpu(pid).saturating_sub(cpu0);
    stop(child).await;

    let runs = sync_run::Entity::find().filter(sync_run::Column::Id.gt(before)).all(&db).await?;
    let mut late = vec![];
    let mut missing = 0;
    let mut unchanged = 0i64;
    for (id, at) in &due {
        if *at > window_end {
            continue;
        }
        match runs.iter().find(|r| r.integration_id == *id).and_then(|r| r.started_at.map(|s| (r, s))) {
            Some((r, s)) => {
                late.push((s - *at).num_milliseconds() as f64 / 1000.0);
                let c: serde_json::Value = serde_json::from_str(&r.counters).unwrap_or_default();
                unchanged += c["unchanged"].as_i64().unwrap_or(0);
            }
            None => missing += 1,
        }
    }
    late.sort_by(|a, b| a.total_cmp(b));
    let ok = runs.iter().filter(|r| r.status == "succeeded").count();
    db.close().await?;
    dbs.drop_all().await?;

    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "\n{backend}, {} integrations x {} offers, {}-minute cycle (one due every {spacing:.2} s), {} s window, commit {commit}\n",
        ids.len(),
        a.offers,
        a.cycle_minutes,
        a.window
    );
    println!("| runs due in the window | started | not started | succeeded | start late p50 | p99 | max | CPU per refresh |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {missing} | {ok} | {:.2} s | {:.2} s | {:.2} s | {:.0} ms ({unchanged} offers unchanged) |",
        late.len() + missing,
        late.len(),
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(f64::NAN),
        cpu_used.as_secs_f64() * 1000.0 / runs.len().max(1) as f64,
    );
    Ok(())
}
