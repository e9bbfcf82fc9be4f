//! `offerbridge demo`: the service on a fresh SQLite database, a sample advertiser on loopback
//! (`agent::sample::server`, speaking HasOffers and Everflow), and two integrations set up and
//! imported through the GraphQL API, the way an admin would. Then it keeps serving, moves the
//! sample feed one step every `--change-every` and asks for a sync of both integrations, so
//! refreshes, locks and the vanish policy can be watched. Ctrl-C stops everything.

use std::{path::PathBuf, time::Duration};

use agent::sample::server::{API_KEY, NETWORK_ID, SampleAdvertiser, SampleOptions};
use std::io::Write;

use anyhow::{Context, bail};
use domain::{Config, model::Role};
use serde_json::{Value, json};

/// A file that marks a folder as the demo's own: only such a folder is ever reset.
const MARKER: &str = ".offerbridge-demo";
const DB_FILE: &str = "demo.db";
/// How long a connection test or a first import of the sample may take before the demo gives up.
const SET_UP_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(clap::Args)]
pub struct DemoArgs {
    /// The demo's folder (database and key). Its database is recreated at every start.
    #[arg(long, default_value = "offerbridge-demo")]
    dir: PathBuf,
    /// Offers in the sample advertiser's feed.
    #[arg(long, default_value_t = 300)]
    offers: u32,
    /// Where the sample advertiser listens (the README's tour uses its default).
    #[arg(long, default_value = "127.0.0.1:8089")]
    sample_listen: String,
    /// How often the sample advertiser changes a few offers (and the demo syncs), e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    change_every: Duration,
}

/// One integration the demo sets up.
struct Sample {
    name: &'static str,
    connector: &'static str,
    credentials: Vec<(&'static str, String)>,
}

pub async fn demo(mut config: Config, args: DemoArgs) -> anyhow::Result<()> {
    if args.change_every.is_zero() {
        bail!("--change-every must be longer than 0 s (e.g. 60s)");
    }
    // Held until the demo ends: a second demo in the same folder stops here instead of
    // deleting the database under the first one.
    let _lock = reset_folder(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir).with_context(|| format!("cannot open {}", args.dir.display()))?;
    config.database_url = format!("sqlite://{}?mode=rwc", dir.join(DB_FILE).display());
    config.data_dir = dir.clone();

    let sample = SampleAdvertiser::start_on(&args.sample_listen, SampleOptions { offers: args.offers, ..SampleOptions::default() })
        .await
        .with_context(|| {
        format!("cannot start the sample advertiser on {} (choose another with --sample-listen)", args.sample_listen)
    })?;
    // The sample advertiser listens on loopback, which the agent refuses by default: allow
    // exactly the address it is bound to.
    config.agent.allowed_networks.push(match sample.addr.ip() {
        std::net::IpAddr::V4(ip) => format!("{ip}/32"),
        std::net::IpAddr::V6(ip) => format!("{ip}/128"),
    });
    println!("sample advertiser (HasOffers and Everflow wire formats, {} offers) on {}", args.offers, sample.url);

    let db = crate::open(&config, true).await?;
    let (_, token) = domain::tokens::create(&db, "demo", Role::Admin).await?;
    let started = crate::start(config, db, true, true).await?;
    let base = format!("http://{}", started.addr.context("the gateway did not start")?);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let api = Api { http, url: format!("{base}/graphql"), token: token.clone() };

    let samples = [
        Sample {
            name: "Sample HasOffers",
            connector: "hasoffers",
            credentials: vec![("network_id", NETWORK_ID.into()), ("api_key", API_KEY.into()), ("api_url", sample.url.clone())],
        },
        Sample {
            name: "Sample Everflow",
            connector: "everflow",
            credentials: vec![("api_key", API_KEY.into()), ("api_url", sample.url.clone())],
        },
    ];
    let setup = async {
        let advertiser = api.call("mutation { createAdvertiser(input: {name: \"Sample Advertiser\"}) { id } }", json!({})).await?;
        let advertiser = advertiser["createAdvertiser"]["id"].clone();
        // Some sample offers pay in EUR or GBP: the payout filters compare in USD.
        for (base, rate) in [("EUR", "1.08"), ("GBP", "1.27")] {
            api.call(
                "mutation($base: String!, $rate: Decimal!) { setExchangeRate(base: $base, quote: \"USD\", rate: $rate) { rate } }",
                json!({"base": base, "rate": rate}),
            )
            .await?;
        }
        let mut ids = vec![];
        for s in &samples {
            ids.push(set_up(&api, &advertiser, s).await.with_context(|| format!("setting up {}", s.name))?);
        }
        watch_first_runs(&api, &ids, &samples).await?;
        anyhow::Ok(ids)
    };
    let ids = tokio::select! {
        r = setup => r?,
        _ = started.shutdown.cancelled() => return started.finish().await,
    };

    println!(
        "\nGraphiQL: {base}/graphql   (paste the token into its token field)\ntoken:    {token}\n\nThree queries to paste:\n\n  \
         {{ campaigns(first: 10, filter: {{integrationId: \"{hasoffers}\"}}) {{ nodes {{ externalId title status currency revenue payouts {{ goal country revenue }} caps {{ event period value }} }} }} }}\n\n  \
         {{ syncRuns(first: 4) {{ edges {{ node {{ integrationId status counters filterCounts }} }} }} }}\n\n  \
         subscription {{ integrationEvents(integrationId: \"{everflow}\") {{ sequence kind payload }} }}\n\n\
         Every {every} the sample advertiser raises a few payouts, flips one offer between active and paused, drops one for a step and adds one,\n\
         and the demo asks for a sync of both integrations. Edit a campaign (updateCampaign) to see your edit survive.\n\
         Ctrl-C stops everything.",
        hasoffers = ids[0].as_str().unwrap_or("1"),
        everflow = ids[1].as_str().unwrap_or("2"),
        every = humantime::format_duration(args.change_every),
    );

    let shutdown = started.shutdown.clone();
    let changes = async {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + args.change_every, args.change_every);
        loop {
            tick.tick().await;
            let generation = sample.advance();
            println!(
                "sample advertiser: step {generation} (a few payouts up, one offer paused or resumed, one gone for this step, one new)"
            );
            for id in &ids {
                if let Err(e) = api.call("mutation($id: ID!) { syncNow(integrationId: $id) { id } }", json!({"id": id})).await {
                    eprintln!("could not request a sync of integration {id}: {e:#}");
                }
            }
        }
    };
    tokio::select! {
        () = changes => {}
        () = shutdown.cancelled() => {}
    }
    started.finish().await
}

/// Creates the folder, or resets the demo's database in a folder the demo made; never touches
/// a folder that is not the demo's, nor one another demo is running in. The marker file,
/// locked for as long as the demo runs.
fn reset_folder(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?.next().is_none();
        if !is_demo && !empty {
            bail!("{} is not a demo folder (no {MARKER} in it): choose another with --dir", dir.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let marker = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(MARKER))?;
    if marker.try_lock().is_err() {
        bail!("another `offerbridge demo` is running in {}: stop it, or choose another folder with --dir", dir.display());
    }
    marker.set_len(0)?;
    (&marker).write_all(b"This folder belongs to `offerbridge demo`: its database is recreated at every start.\n")?;
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.join(format!("{DB_FILE}{suffix}"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    Ok(marker)
}

/// The demo's GraphQL client: its own gateway, its own admin token.
struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    /// `data` of a request that must answer without errors.
    async fn call(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let r: Value = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await?
            .json()
            .await?;
        if let Some(errors) = r.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        Ok(r["data"].clone())
    }
}

/// Creates, configures, tests and finalises one integration; its id.
async fn set_up(api: &Api, advertiser: &Value, s: &Sample) -> anyhow::Result<Value> {
    let credentials: Vec<Value> = s.credentials.iter().map(|(field, value)| json!({"field": field, "value": value})).collect();
    let created = api
        .call(
            "mutation($input: CreateIntegrationInput!) { createIntegration(input: $input) { id version } }",
            json!({"input": {"name": s.name, "connector": s.connector, "advertiserId": advertiser, "credentials": credentials}}),
        )
        .await?;
    let (id, version) = (created["createIntegration"]["id"].clone(), created["createIntegration"]["version"].clone());
    // Sensible settings: no offers for India, none under 0.50 or without a preview URL, and
    // publishers paid 80 % of what the advertiser pays.
    api.call(
        "mutation($id: ID!, $version: Int!) { updateIntegration(id: $id, version: $version, input: {
           filters: {countryMode: BLOCK, countries: [\"IN\"], minPayout: \"0.50\", os: ALL, offerModels: [],
                     skipWithoutPreviewUrl: true, countryPayouts: [], compareCurrency: \"USD\"},
           payoutRules: {globalRatio: \"0.8\", tierRatios: [], publisherPayouts: []}}) { version } }",
        json!({"id": id, "version": version}),
    )
    .await?;
    let test = api.call("mutation($id: ID!) { testConnection(integrationId: $id) { id } }", json!({"id": id})).await?;
    let request = test["testConnection"]["id"].clone();
    let deadline = tokio::time::Instant::now() + SET_UP_TIMEOUT;
    let result = loop {
        let r = api.call("query($id: ID!) { syncRequest(id: $id) { status result } }", json!({"id": request})).await?;
        match r["syncRequest"]["status"].as_str() {
            Some("DONE" | "FAILED") => break r["syncRequest"]["result"].clone(),
            _ if tokio::time::Instant::now() > deadline => bail!("the connection test did not finish within {SET_UP_TIMEOUT:?}: {r}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    if result["ok"] != json!(true) {
        bail!("the connection test failed: {result}");
    }
    println!("{}: connection test passed ({} offers visible)", s.name, result["offersVisible"]);
    api.call("mutation($id: ID!) { finalizeIntegration(id: $id) { lifecycle } }", json!({"id": id})).await?;
    Ok(id)
}

/// Progress bars for the first run of each integration, then a summary of each.
async fn watch_first_runs(api: &Api, ids: &[Value], samples: &[Sample]) -> anyhow::Result<()> {
    const RUN: &str = "query($id: ID!) { syncRuns(filter: {integrationId: $id}, first: 1) { edges { node {
        id status pagesDone pagesTotal counters filterCounts errorCode errorMessage } } } }";
    let bars = indicatif::MultiProgress::new();
    let style = indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {prefix:<17} page {pos} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let mut watched: Vec<(indicatif::ProgressBar, Option<Value>)> = samples
        .iter()
        .map(|s| {
            let bar = bars.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()).with_prefix(s.name));
            bar.enable_steady_tick(Duration::from_millis(120));
            (bar, None)
        })
        .collect();
    let deadline = tokio::time::Instant::now() + SET_UP_TIMEOUT;
    while watched.iter().any(|(_, done)| done.is_none()) {
        if tokio::time::Instant::now() > deadline {
            bail!("the first imports did not finish within {SET_UP_TIMEOUT:?}");
        }
        for ((bar, done), id) in watched.iter_mut().zip(ids) {
            if done.is_some() {
                continue;
            }
            let r = api.call(RUN, json!({"id": id})).await?;
            let Some(run) = r["syncRuns"]["edges"][0]["node"].as_object().cloned().map(Value::Object) else { continue };
            let counters = run["counters"].to_string();
            let pages_done = run["pagesDone"].as_i64().unwrap_or(0) as i32;
            let pages_total = run["pagesTotal"].as_i64().map(|t| t as i32);
            let (pos, total, message) = crate::progress(pages_done, pages_total, &counters, false);
            bar.set_position(pos);
            bar.set_message(match total {
                Some(t) => format!("of {t}: {message}"),
                None => message,
            });
            if !matches!(run["status"].as_str(), Some("QUEUED" | "RUNNING")) {
                bar.finish();
                *done = Some(run);
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    println!();
    for ((_, run), s) in watched.iter().zip(samples) {
        let run = run.as_ref().map_or(Value::Null, Clone::clone);
        let summary = agent::runtime::RunSummary {
            run_id: run["id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0),
            status: domain::model::RunStatus::parse(&run["status"].as_str().unwrap_or("").to_ascii_lowercase())
                .unwrap_or(domain::model::RunStatus::Failed),
            counters: serde_json::from_value(run["counters"].clone()).unwrap_or_default(),
            filter_counts: serde_json::from_value(run["filterCounts"].clone()).unwrap_or_default(),
            error: run["errorMessage"].as_str().map(str::to_string),
            error_code: run["errorCode"].as_str().map(str::to_string),
        };
        println!("{}", crate::summary_table(s.name, false, &summary));
    }
    Ok(())
}
