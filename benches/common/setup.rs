//! Fresh databases and an integration set up through the gateway: what the import and API
//! benchmarks share (`#[path = "common/setup.rs"] mod setup;`).

use std::sync::Arc;

use domain::Config;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;

use super::common::{InProcess, gql, serve_gateway};

/// The value after `name` on the command line (`cargo bench --bench x -- --name value`),
/// parsed; `None` when absent or unreadable.
pub fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let argv: Vec<String> = std::env::args().collect();
    argv.iter().position(|a| a == name).and_then(|i| argv.get(i + 1)).and_then(|v| v.parse().ok())
}

/// The databases a benchmark makes, dropped at the end.
pub struct Databases {
    /// The PostgreSQL server's admin URL; `None` = SQLite files in `dir`.
    pub admin: Option<String>,
    pub dir: tempfile::TempDir,
    pub made: Vec<String>,
}

impl Databases {
    /// A new empty database (PostgreSQL database or SQLite file) named after `label`.
    pub async fn fresh(&mut self, label: &str) -> anyhow::Result<String> {
        let name = format!("ob_bench_{}_{label}_{}", std::process::id(), self.made.len());
        self.made.push(name.clone());
        match &self.admin {
            Some(admin) => {
                let db = domain::db::connect(admin).await?;
                db.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
                Ok(format!("{base}/{name}"))
            }
            None => Ok(format!("sqlite://{}?mode=rwc", self.dir.path().join(format!("{name}.db")).display())),
        }
    }

    /// Drops every PostgreSQL database `fresh` made, unless `OB_BENCH_KEEP` is set (to study
    /// the tables afterwards with `psql` or `pgbench`).
    pub async fn drop_all(&self) -> anyhow::Result<()> {
        if std::env::var_os("OB_BENCH_KEEP").is_some() {
            eprintln!("kept: {}", self.made.join(", "));
            return Ok(());
        }
        if let Some(admin) = &self.admin {
            let db = domain::db::connect(admin).await?;
            for name in &self.made {
                db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            }
        }
        Ok(())
    }
}

/// Sets `n` integrations up through the gateway, as an admin would (each its own advertiser account: network id
/// `bench<k>`), refreshed every `refresh_minutes`; returns their ids.
pub async fn set_up_many(
    url: &str,
    fake: &str,
    page_size: u32,
    dir: &std::path::Path,
    n: usize,
    refresh_minutes: u32,
) -> anyhow::Result<(DatabaseConnection, Vec<i64>)> {
    let mut cfg = Config { database_url: url.to_string(), data_dir: dir.to_path_buf(), ..Config::default() };
    cfg.agent.allowed_networks = vec!["127.0.0.1/32".into()];
    let InProcess { db, base, token, shutdown, server, .. } = serve_gateway(Arc::new(cfg)).await?;
    let http = reqwest::Client::new();
    let adv = gql(&http, &base, &token, "mutation { createAdvertiser(input: {name: \"Bench\"}) { id } }", json!({})).await?;
    let mut ids = Vec::with_capacity(n);
    for k in 0..n {
        let d = gql(
            &http,
            &base,
            &token,
            "mutation($a: ID!, $u: String!, $n: String!) { createIntegration(input: {name: $n, connector: \"hasoffers\", advertiserId: $a,
               credentials: [{field: \"network_id\", value: $n}, {field: \"api_key\", value: \"bench-key\"}, {field: \"api_url\", value: $u}]}) { id version } }",
            json!({"a": adv["createAdvertiser"]["id"], "u": fake, "n": format!("bench{k}")}),
        )
        .await?;
        let id = d["createIntegration"]["id"].as_str().unwrap_or_default().to_string();
        gql(
            &http,
            &base,
            &token,
            "mutation($id: ID!, $v: Int!, $ps: Int!, $r: Int!) { updateIntegration(id: $id, version: $v, input: {
                payoutRules: {globalRatio: \"0.8\", tierRatios: [], publisherPayouts: []},
                settings: {refreshMinutes: $r, updatableColumns: [TITLE, REVENUE, PAYOUT, TRACKING_URL, COUNTRIES], redirectType: HTTP_302, pageSize: $ps, rateLimitPerSecond: \"100\"},
                basicDetails: {trackingUrlAppend: \"sub1={click_id}\"}}) { version } }",
            json!({"id": id, "v": d["createIntegration"]["version"], "ps": page_size, "r": refresh_minutes}),
        )
        .await?;
        gql(&http, &base, &token, "mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id}))
            .await?;
        ids.push(id.parse()?);
    }
    shutdown.cancel();
    let _ = server.await;
    Ok((db, ids))
}
