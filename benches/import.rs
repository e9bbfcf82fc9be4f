//! Import benchmark: the physical floor against `offerbridge sync`, side by side, in one run.
//!
//! ```sh
//! cargo bench --bench import                                   # 100,000 offers, temp SQLite files
//! cargo bench --bench import -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! cargo bench --bench import -- --offers 1000000 --runs 1      # memory at 1M offers
//! ```
//!
//! The feed is the sample advertiser (`agent::sample`): TUNE (HasOffers) `findMyApprovedOffers`
//! pages of 1,000 offers, rendered once before timing and served from memory by a local axum
//! server, the request budget lifted to 10,000 requests/s (`unbudgeted`: at the API's
//! highest, 100/s, an unchanged re-sync of 100 pages measured the budget, 1.20 s).
//!
//! - **floor**: this binary again (`--floor-child`), a minimal program that fetches the same pages
//!   one after another, parses them into typed serde structs and inserts one row per offer with
//!   one prepared statement in one transaction. No filters, no child rows, no updates: the cost
//!   of moving the bytes into the database.
//! - **offerbridge**: the integration is set up through the GraphQL gateway as an admin would
//!   (payout ratio, link append, updatable columns), then `offerbridge sync <id>` runs as its own
//!   process three times: the first import, an unchanged re-sync, and a re-sync where 1 % of the
//!   offers changed their payout.
//!
//! Each figure is the median of `--runs` runs (default 3), each on a fresh database. Peak RSS is
//! the child process's own (`getrusage(RUSAGE_CHILDREN)` in a `--measure` wrapper), so floor and
//! offerbridge are measured alike.

mod common;
#[path = "common/setup.rs"]
mod setup;

use std::{
    collections::HashMap,
    process::{Command, Stdio},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use common::{Feed, KEY};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::Deserialize;
use serde_json::{Value, json};
use setup::{Databases, arg, set_up_many};

struct Args {
    offers: u32,
    page_size: u32,
    runs: usize,
    database_url: Option<String>,
}

fn args() -> Args {
    Args {
        offers: arg("--offers").unwrap_or(100_000),
        page_size: arg("--page-size").unwrap_or(1000),
        runs: arg("--runs").unwrap_or(3).max(1),
        database_url: arg("--database-url"),
    }
}

// ------------------------------------------------------------------------------------------
// The floor: typed parse, one prepared insert, one transaction.

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    response: Response<'a>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    data: PageData<'a>,
}

#[derive(Deserialize)]
struct PageData<'a> {
    #[serde(rename = "pageCount")]
    page_count: u32,
    #[serde(borrow)]
    data: HashMap<&'a str, Row<'a>>,
}

#[derive(Deserialize)]
struct Row<'a> {
    #[serde(rename = "Offer", borrow)]
    offer: Offer<'a>,
    #[serde(rename = "TrackingLink", borrow)]
    link: Option<Link<'a>>,
    #[serde(rename = "Country", default)]
    country: Value,
}

#[derive(Deserialize)]
struct Offer<'a> {
    id: &'a str,
    name: std::borrow::Cow<'a, str>,
    description: Option<std::borrow::Cow<'a, str>>,
    preview_url: Option<std::borrow::Cow<'a, str>>,
    currency: Option<&'a str>,
    default_payout: Option<&'a str>,
    status: &'a str,
}

#[derive(Deserialize)]
struct Link<'a> {
    click_url: std::borrow::Cow<'a, str>,
}

/// One row of the floor's table.
type FloorRow = (String, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, String, String);

/// Inserts `rows` with one prepared statement (sqlx caches it per connection), row by row.
macro_rules! insert_rows {
    ($tx:expr, $sql:expr, $rows:expr) => {
        for r in $rows {
            sea_orm::sqlx::query($sql)
                .bind(r.0)
                .bind(r.1)
                .bind(r.2)
                .bind(r.3)
                .bind(r.4)
                .bind(r.5)
                .bind(r.6)
                .bind(r.7)
                .bind(r.8)
                .execute(&mut **$tx)
                .await?;
        }
    };
}

async fn floor_child(fake: &str, db_url: &str, page_size: u32) -> anyhow::Result<u64> {
    const TABLE: &str = "CREATE TABLE offers (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, preview_url TEXT,
        tracking_url TEXT, currency TEXT, payout TEXT, status TEXT NOT NULL, countries TEXT NOT NULL)";
    // The same connection settings as offerbridge (SQLite: WAL, synchronous NORMAL).
    let db = domain::db::connect(db_url).await?;
    db.execute_unprepared(TABLE).await?;
    let http = reqwest::Client::new();
    let (mut pg_tx, mut lite_tx) = match db.get_database_backend() {
        DbBackend::Postgres => (Some(db.get_postgres_connection_pool().begin().await?), None),
        _ => (None, Some(db.get_sqlite_connection_pool().begin().await?)),
    };
    let mut page = 1;
    let mut rows = 0;
    let (mut fetch, mut parse, mut insert) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    loop {
        let url = format!(
            "{fake}/Apiv3/json?api_key=k&Target=Affiliate_Offer&Method=findMyApprovedOffers&limit={page_size}&page={page}&NetworkId=bench"
        );
        let t = Instant::now();
        let body = http.get(url).send().await?.bytes().await?;
        fetch += t.elapsed();
        let t = Instant::now();
        let env: Envelope = serde_json::from_slice(&body)?;
        parse += t.elapsed();
        let t = Instant::now();
        let last = page >= env.response.data.page_count;
        // In feed order (the map is keyed by id): inserts into the primary key stay local.
        let mut rows_in_order: Vec<(u64, Row)> =
            env.response.data.data.into_iter().map(|(k, r)| (k.parse().unwrap_or(u64::MAX), r)).collect();
        rows_in_order.sort_by_key(|(k, _)| *k);
        let batch: Vec<FloorRow> = rows_in_order
            .into_iter()
            .map(|(_, r)| r)
            .map(|r| {
                let countries = r.country.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_default();
                (
                    r.offer.id.to_string(),
                    r.offer.name.into_owned(),
                    r.offer.description.map(|d| d.into_owned()),
                    r.offer.preview_url.map(|d| d.into_owned()),
                    r.link.map(|l| l.click_url.into_owned()),
                    r.offer.currency.map(str::to_string),
                    r.offer.default_payout.map(str::to_string),
                    r.offer.status.to_string(),
                    countries,
                )
            })
            .collect();
        rows += batch.len() as u64;
        match (pg_tx.as_mut(), lite_tx.as_mut()) {
            (Some(tx), _) => insert_rows!(tx, "INSERT INTO offers VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", batch),
            (_, Some(tx)) => insert_rows!(tx, "INSERT INTO offers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch),
            _ => {}
        }
        insert += t.elapsed();
        if last {
            break;
        }
        page += 1;
    }
    if let Some(tx) = pg_tx {
        tx.commit().await?;
    }
    if let Some(tx) = lite_tx {
        tx.commit().await?;
    }
    eprintln!("floor: fetch {fetch:?}, parse {parse:?}, insert {insert:?}");
    Ok(rows)
}

// ------------------------------------------------------------------------------------------
// Processes, databases, measurement.

/// Runs `cmd` to its end through this binary's `--measure` mode (which waits for it and reads
/// `getrusage(RUSAGE_CHILDREN)`: its only child's peak RSS): wall time, peak RSS (KiB), stdout.
async fn measure(cmd: Command) -> anyhow::Result<(Duration, u64, String)> {
    let mut wrapper = Command::new(std::env::current_exe()?);
    wrapper.arg("--measure").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapper.env(k, v);
        }
    }
    let t = Instant::now();
    let out = tokio::process::Command::from(wrapper).stdout(Stdio::piped()).stderr(Stdio::piped()).output().await?;
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    anyhow::ensure!(out.status.success(), "child failed ({}): {stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let (body, rss) = stdout.trim_end().rsplit_once('\n').unwrap_or(("", stdout.trim_end()));
    let rss = rss.strip_prefix("peak_rss_kib=").and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("no peak RSS in {stdout}"))?;
    Ok((took, rss, body.to_string()))
}

/// `--measure <program> <args>`: runs the program (inheriting stdio) and prints its peak RSS.
fn measure_child(argv: &[String]) -> anyhow::Result<()> {
    let status = Command::new(&argv[0]).args(&argv[1..]).status()?;
    anyhow::ensure!(status.success(), "{} ended {status}", argv[0]);
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    println!("\npeak_rss_kib={}", usage.max_rss());
    Ok(())
}

/// A fresh database per measured run: a temp SQLite file, or a new PostgreSQL database.
/// The last run's status and counters, from its row.
async fn last_run(db: &DatabaseConnection) -> anyhow::Result<(String, Value)> {
    let r = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT status, counters FROM sync_runs ORDER BY id DESC LIMIT 1"))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no run"))?;
    let status: String = r.try_get("", "status")?;
    let counters: String = r.try_get("", "counters")?;
    Ok((status, serde_json::from_str(&counters)?))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[derive(Default)]
struct Samples {
    secs: Vec<f64>,
    rss_mib: Vec<f64>,
    note: String,
}

/// Lifts the integration's request budget to 10,000 requests/s, past the 100/s the API
/// accepts: at 100/s an unchanged re-sync of 100 pages takes the budget's 1 s whatever
/// offerbridge does (it measured 1.20 s, every run), and this bench measures offerbridge.
async fn unbudgeted(db: &sea_orm::DatabaseConnection, id: i64) -> anyhow::Result<()> {
    use domain::entity::integration;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let i = integration::Entity::find_by_id(id).one(db).await?.context("the integration")?;
    let mut settings: Value = serde_json::from_str(&i.settings)?;
    settings["rate_limit_per_second"] = json!("10000");
    let mut am: integration::ActiveModel = i.into();
    am.settings = Set(settings.to_string());
    am.update(db).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(i) = argv.iter().position(|a| a == "--measure") {
        return measure_child(&argv[i + 1..]);
    }
    if let Some(i) = argv.iter().position(|a| a == "--floor-child") {
        let rows = floor_child(&argv[i + 1], &argv[i + 2], argv[i + 3].parse()?).await?;
        println!("{rows}");
        return Ok(());
    }
    let a = args();
    let backend = if a.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")) { "PostgreSQL" } else { "SQLite" };
    let pages = a.offers.div_ceil(a.page_size);
    let feed = Arc::new(Feed::render(a.offers, a.page_size, &[0, 1], Duration::ZERO));
    let feed_mib = feed.pages[0].iter().map(bytes::Bytes::len).sum::<usize>() as f64 / 1048576.0;
    let fake = feed.serve().await?;

    let mut dbs =
        Databases { admin: a.database_url.clone().filter(|u| u.starts_with("postgres")), dir: tempfile::tempdir()?, made: vec![] };
    let exe = std::env::current_exe()?;
    let offerbridge = env!("CARGO_BIN_EXE_offerbridge");
    let phases = ["first import", "re-sync, unchanged", "re-sync, 1 % changed"];
    let mut floor = Samples::default();
    let mut ob: Vec<Samples> = phases.iter().map(|_| Samples::default()).collect();
    eprintln!("{} offers, {pages} pages of {} ({feed_mib:.0} MiB of JSON), {backend}, {} run(s) each", a.offers, a.page_size, a.runs);
    for run in 0..a.runs {
        let url = dbs.fresh("floor").await?;
        let mut cmd = Command::new(&exe);
        cmd.args(["--floor-child", &fake, &url, &a.page_size.to_string()]);
        let (took, rss, out) = measure(cmd).await?;
        anyhow::ensure!(out.trim() == a.offers.to_string(), "the floor inserted {out} rows");
        floor.secs.push(took.as_secs_f64());
        floor.rss_mib.push(rss as f64 / 1024.0);
        eprintln!("run {}: floor {:.2} s, {:.0} MiB", run + 1, took.as_secs_f64(), rss as f64 / 1024.0);

        let url = dbs.fresh("ob").await?;
        let (db, ids) = set_up_many(&url, &fake, a.page_size, dbs.dir.path(), 1, 60).await?;
        let id = ids[0];
        unbudgeted(&db, id).await?;
        for (k, phase) in phases.iter().enumerate() {
            feed.variant.store(u32::from(k == 2), Ordering::SeqCst);
            // `OB_BENCH_PERF=<phase number>`: profile that phase (perf, DWARF call graphs).
            let perf = std::env::var("OB_BENCH_PERF").ok().filter(|p| *p == (k + 1).to_string());
            let mut cmd = match &perf {
                Some(p) => {
                    let mut c = Command::new("perf");
                    c.args([
                        "record",
                        "-F",
                        "250",
                        "--call-graph",
                        "dwarf,32768",
                        "-o",
                        &format!("/tmp/ob-perf-{p}.data"),
                        "--",
                        offerbridge,
                    ]);
                    c
                }
                None => Command::new(offerbridge),
            };
            cmd.args(["sync", &id.to_string()])
                .env("DATABASE_URL", &url)
                .env("OFFERBRIDGE_SECRET_KEY", KEY)
                .env("OFFERBRIDGE_DATA_DIR", dbs.dir.path())
                .env("OFFERBRIDGE_AGENT__ALLOWED_NETWORKS", "127.0.0.1/32")
                .env("OFFERBRIDGE_LOG", "warn");
            let (took, rss, _) = measure(cmd).await?;
            let (status, c) = last_run(&db).await?;
            anyhow::ensure!(matches!(status.as_str(), "succeeded" | "partially_succeeded"), "{phase}: run ended {status}: {c}");
            let s = &mut ob[k];
            s.secs.push(took.as_secs_f64());
            s.rss_mib.push(rss as f64 / 1024.0);
            s.note =
                format!("{} created, {} updated, {} unchanged, {} filtered", c["created"], c["updated"], c["unchanged"], c["filtered"]);
            eprintln!("run {}: {phase} {:.2} s, {:.0} MiB ({})", run + 1, took.as_secs_f64(), rss as f64 / 1024.0, s.note);
        }
        db.close().await?;
    }
    dbs.drop_all().await?;

    let f = median(&mut floor.secs);
    let first = median(&mut ob[0].secs.clone());
    println!();
    println!(
        "{} offers ({pages} pages of {}), {backend}, median of {} run(s), commit {}",
        a.offers,
        a.page_size,
        a.runs,
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    );
    println!();
    println!("| phase | floor | offerbridge | ratio | peak RSS floor / offerbridge | rows |");
    println!("|---|---|---|---|---|---|");
    let frss = median(&mut floor.rss_mib);
    for (k, phase) in phases.iter().enumerate() {
        let s = &mut ob[k];
        let t = median(&mut s.secs);
        let rss = median(&mut s.rss_mib);
        let ratio = if k == 0 { format!("{:.2}x the floor", t / f) } else { format!("{:.2}x the first import", t / first) };
        let floor_cell = if k == 0 { format!("{f:.2} s") } else { "".into() };
        println!("| {phase} | {floor_cell} | {t:.2} s | {ratio} | {frss:.0} / {rss:.0} MiB | {} |", s.note);
    }
    Ok(())
}
