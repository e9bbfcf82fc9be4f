//! `offerbridge`: one binary. `serve` runs the gateway with the agent embedded; `gateway` and
//! `agent` run them as separate processes over the same database.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::{Config, crypto::Cipher, model::Role};
use tokio_util::sync::CancellationToken;

mod demo;

#[derive(Parser)]
#[command(name = "offerbridge", version, about = "Import advertiser offers into campaigns, with a GraphQL admin API")]
struct Cli {
    /// Configuration file (TOML). Default: ./offerbridge.toml when present.
    #[arg(long, global = true, env = "OFFERBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway with the agent embedded (SQLite file by default).
    Serve,
    /// Run only the GraphQL gateway.
    Gateway,
    /// A demo on this machine, nothing to install: the service on a fresh SQLite database and a
    /// sample advertiser on loopback (HasOffers and Everflow), two integrations imported.
    Demo(demo::DemoArgs),
    /// Run only the sync agent.
    Agent,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Run one sync of an integration in the foreground, with a progress bar and a summary.
    Sync {
        /// Integration id, or its exact name.
        integration: String,
        /// Show what would change without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the secret key that seals advertiser credentials.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a new key and re-seal every stored credential with it, in one transaction.
    /// Stop every gateway and agent first: they hold the old key.
    Rotate {
        /// Rotate although agents have sent a heartbeat within the lease TTL.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List tokens: id, name, role, first characters, created, last used, revoked.
    List,
    /// Revoke a token by id or name; requests with it are refused from then on.
    Revoke {
        /// Token id (from `token list`) or its name.
        token: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", gateway::sdl());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    // The demo's terminal shows its progress bars and summary; its log says only what went wrong.
    if matches!(cli.command, Command::Demo(_)) && std::env::var_os("OFFERBRIDGE_LOG").is_none() {
        config.log = "warn".into();
    }
    init_tracing(&config);
    match cli.command {
        Command::Schema => Ok(()),
        Command::Migrate => {
            let db = domain::db::connect(&config.database_url).await.context("cannot connect to the database")?;
            domain::db::migrate(&db).await.context("migrations failed")?;
            println!("migrations applied");
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { role, name } } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role '{role}', expected admin, editor or viewer"))?;
            let db = open(&config, false).await?;
            let (_, token) = domain::tokens::create(&db, &name, role).await?;
            println!("{token}");
            eprintln!("Created a {role} token named '{name}'. It is shown only once: store it now.");
            Ok(())
        }
        Command::Token { command: TokenCommand::List } => {
            let db = open(&config, false).await?;
            println!("{:<5} {:<24} {:<7} {:<9} {:<25} {:<25} revoked", "id", "name", "role", "starts", "created", "last used");
            for t in domain::tokens::list(&db).await? {
                let when =
                    |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
                println!(
                    "{:<5} {:<24} {:<7} {:<9} {:<25} {:<25} {}",
                    t.id,
                    t.name,
                    t.role,
                    t.prefix,
                    when(Some(t.created_at)),
                    when(t.last_used_at),
                    when(t.revoked_at)
                );
            }
            Ok(())
        }
        Command::Token { command: TokenCommand::Revoke { token } } => {
            let db = open(&config, false).await?;
            match domain::tokens::revoke(&db, &token).await? {
                0 => anyhow::bail!("no active token with id or name '{token}' (see `offerbridge token list`)"),
                n => {
                    println!("revoked {n} token(s) '{token}'");
                    Ok(())
                }
            }
        }
        Command::Key { command: KeyCommand::Rotate { force } } => rotate_key(&config, force).await,
        Command::Sync { integration, dry_run } => sync(config, &integration, dry_run).await,
        Command::Serve => run(config, true, true).await,
        Command::Demo(args) => demo::demo(config, args).await,
        Command::Gateway => run(config, true, false).await,
        Command::Agent => run(config, false, true).await,
    }
}

/// `offerbridge sync`: one run in the foreground. The bar follows the run's own row, which the
/// agent updates after every page, so it shows exactly what an admin sees in the gateway.
async fn sync(config: Config, integration: &str, dry_run: bool) -> anyhow::Result<()> {
    use domain::entity::{integration as ie, sync_run};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    // One run in its own process: no preview will reuse its pages, so they are not cached.
    let mut config = config;
    config.agent.cache_max_mib = 0;

    let config = Arc::new(config);
    let db = open(&config, false).await?;
    let cipher = load_cipher(&config, &db).await?;
    let row = match integration.parse::<i64>() {
        Ok(id) => ie::Entity::find_by_id(id).one(&db).await?,
        Err(_) => ie::Entity::find().filter(ie::Column::Name.eq(integration)).one(&db).await?,
    }
    .with_context(|| format!("no integration with id or name '{integration}'"))?;
    let before = sync_run::Entity::find()
        .filter(sync_run::Column::IntegrationId.eq(row.id))
        .order_by_desc(sync_run::Column::Id)
        .one(&db)
        .await?
        .map_or(0, |r| r.id);
    let agent = agent::runtime::Agent::new(db.clone(), config.clone(), cipher)?;
    let stop = CancellationToken::new();
    {
        let s = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("stopping after the current page; nothing will be paused");
            s.cancel();
        });
    }
    let bar = indicatif::ProgressBar::new_spinner();
    let style = |template: &str| {
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .progress_chars("=> ")
    };
    // "page 5/6" only when the platform told the total; "page 5" otherwise.
    let (known, unknown) =
        (style("{spinner} {elapsed_precise} [{bar:30}] page {pos}/{len} {msg}"), style("{spinner} {elapsed_precise} page {pos} {msg}"));
    bar.set_style(unknown.clone());
    let mut total_known = false;
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message(format!("{} ({}){}", row.name, row.connector, if dry_run { ", dry run" } else { "" }));
    let run = agent.run_once(row.id, dry_run, stop);
    tokio::pin!(run);
    let summary = loop {
        tokio::select! {
            r = &mut run => break r?,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                if let Ok(Some(r)) = sync_run::Entity::find()
                    .filter(sync_run::Column::IntegrationId.eq(row.id))
                    .filter(sync_run::Column::Id.gt(before))
                    .order_by_desc(sync_run::Column::Id)
                    .one(&db)
                    .await
                {
                    let (done, total, message) = progress(r.pages_done, r.pages_total, &r.counters, dry_run);
                    if let Some(total) = total {
                        if !total_known {
                            bar.set_style(known.clone());
                            total_known = true;
                        }
                        bar.set_length(total);
                    }
                    bar.set_position(done);
                    bar.set_message(message);
                }
            }
        }
    };
    bar.finish_and_clear();
    print!("{}", summary_table(&row.name, dry_run, &summary));
    match summary.status {
        domain::model::RunStatus::Failed => anyhow::bail!("run {} failed: {}", summary.run_id, summary.error.unwrap_or_default()),
        // Interrupted (Ctrl-C, SIGTERM): the shell convention for a run stopped by a signal.
        domain::model::RunStatus::Cancelled => {
            eprintln!("run {} was stopped before the end; nothing was paused", summary.run_id);
            std::process::exit(130)
        }
        _ => Ok(()),
    }
}

/// `offerbridge key rotate`: a new key, every credential re-sealed with it in one transaction.
///
/// The new key is on disk before the transaction commits, so a crash at any point leaves a key
/// that opens what the database holds: the old one (`secret.key` untouched until the commit)
/// or the new one (`secret.key.next`, renamed into place after the commit). A key given by
/// configuration is never rewritten: the new one goes to `secret.key.new` for the operator to
/// put into every process's configuration.
async fn rotate_key(config: &Config, force: bool) -> anyhow::Result<()> {
    use domain::entity::agent_heartbeat;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let key_file = config.data_dir.join("secret.key");
    if config.secret_key.is_none() && !key_file.exists() {
        anyhow::bail!(
            "no secret key at {} and none configured (secret_key / OFFERBRIDGE_SECRET_KEY): run this command with the service's \
             data folder and configuration",
            key_file.display()
        );
    }
    let db = open(config, false).await?;
    let old = load_cipher(config, &db).await?;
    let recent = chrono::Utc::now() - chrono::Duration::from_std(config.agent.lease_ttl).unwrap_or(chrono::Duration::seconds(60));
    let alive = agent_heartbeat::Entity::find().filter(agent_heartbeat::Column::LastSeenAt.gte(recent)).all(&db).await?;
    if !alive.is_empty() && !force {
        let names: Vec<String> =
            alive.iter().map(|a| format!("{} (last heartbeat {})", a.agent_id, a.last_seen_at.format("%H:%M:%S UTC"))).collect();
        anyhow::bail!(
            "agents are running: {}. Stop every gateway and agent first (they hold the old key and would fail to open \
             credentials, or seal new ones with it), or pass --force",
            names.join(", ")
        );
    }
    let new_key = Cipher::generate_key();
    let new = Cipher::from_base64(&new_key)?;
    let from_file = config.secret_key.is_none();
    let staged = config.data_dir.join(if from_file { "secret.key.next" } else { "secret.key.new" });
    if staged.exists() {
        anyhow::bail!(
            "{} exists: an earlier rotation did not finish. If processes refuse to start with a fingerprint message, that file may \
             hold the installation's key; move it away once you know which key is current, then rotate again",
            staged.display()
        );
    }
    // On disk, flushed, before the transaction can commit: the new key is never only in memory
    // while the database already depends on it.
    domain::crypto::write_key_file(&staged, &new_key).with_context(|| format!("cannot write {}", staged.display()))?;
    let n = match old.rotate_to(&db, &new).await {
        Ok(n) => n,
        Err(e @ domain::crypto::RotateError::RolledBack(_)) => {
            let _ = std::fs::remove_file(&staged);
            anyhow::bail!(e);
        }
        Err(e) => anyhow::bail!(
            "{e}. The new key stays in {}: if processes started with the old key refuse with a fingerprint message, the \
             rotation was applied and that file holds the key (fingerprint {})",
            staged.display(),
            new.fingerprint()
        ),
    };
    println!("re-sealed the credentials of {n} integration(s); key fingerprint {} -> {}", old.fingerprint(), new.fingerprint());
    if from_file {
        // The old key stays under a name of its own (backups taken before need it), then one
        // rename replaces secret.key: there is never a moment without it.
        let kept = config.data_dir.join(format!("secret.key.old-{}", old.fingerprint()));
        std::fs::hard_link(&key_file, &kept).with_context(|| format!("cannot keep the old key as {}", kept.display()))?;
        std::fs::rename(&staged, &key_file).with_context(|| format!("cannot move {} to {}", staged.display(), key_file.display()))?;
        domain::crypto::sync_dir(&config.data_dir).with_context(|| format!("cannot flush {}", config.data_dir.display()))?;
        println!(
            "the new key is in {}; the old one is kept as {} (keep it with the backups taken before this rotation). Copy the \
             new key to every machine that runs a gateway or an agent, then start them",
            key_file.display(),
            kept.display()
        );
    } else {
        println!(
            "the key comes from the configuration, so the new key was written to {}: set secret_key (or OFFERBRIDGE_SECRET_KEY) \
             to its content in every gateway's and agent's configuration, start them, then delete the file",
            staged.display()
        );
    }
    Ok(())
}

/// The installation's key, checked against the fingerprint the database holds. A key file is
/// generated only for a new installation (no fingerprint recorded yet): once credentials were
/// sealed, a missing `secret.key` can never be replaced by a new one, so the command says
/// which key it needs instead of leaving a useless key file behind.
async fn load_cipher(config: &Config, db: &sea_orm::DatabaseConnection) -> anyhow::Result<Cipher> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let key_file = config.data_dir.join("secret.key");
    if config.secret_key.is_none() && !key_file.exists() {
        let fingerprint = domain::crypto::installed_fingerprint(db).await?;
        let sealed = domain::entity::integration::Entity::find()
            .filter(domain::entity::integration::Column::CredentialsSealed.is_not_null())
            .count(db)
            .await?;
        if fingerprint.is_some() || sealed > 0 {
            let which = fingerprint
                .map_or_else(|| "a key from before fingerprints were kept".to_string(), |f| format!("the key of fingerprint {f}"));
            anyhow::bail!(
                "no secret key at {} and none configured, but this installation uses {which} ({sealed} integration(s) hold \
                 credentials sealed with it): copy secret.key from the machine that has it into the data folder, or set \
                 OFFERBRIDGE_SECRET_KEY (the gateway and every agent share one key)",
                key_file.display()
            );
        }
    }
    let cipher = Cipher::from_config_or_file(config.secret_key.as_ref(), &config.data_dir)?;
    cipher.verify_installation(db).await.map_err(anyhow::Error::msg)?;
    Ok(cipher)
}

/// The progress bar's figures from the run's row: pages done, the page total when the platform
/// gave one, and the message (zeros before the first page, "would create" in a dry run).
fn progress(pages_done: i32, pages_total: Option<i32>, counters: &str, dry_run: bool) -> (u64, Option<u64>, String) {
    let done = u64::try_from(pages_done).unwrap_or(0);
    let total = pages_total.and_then(|t| u64::try_from(t).ok()).map(|t| t.max(done));
    let c: serde_json::Value = serde_json::from_str(counters).unwrap_or_default();
    let n = |k: &str| c[k].as_i64().unwrap_or(0);
    let (create, update) = if dry_run { ("would create", "would update") } else { ("created", "updated") };
    (done, total, format!("{} offers fetched, {} {create}, {} {update}", n("fetched"), n("created"), n("updated")))
}

/// The run summary as an aligned two-column table.
fn summary_table(name: &str, dry_run: bool, s: &agent::runtime::RunSummary) -> String {
    let c = &s.counters;
    let verb = |done: &str, would: &str| if dry_run { would.to_string() } else { done.to_string() };
    let mut rows: Vec<(String, String)> = vec![
        ("integration".into(), name.into()),
        ("run".into(), format!("{}{}", s.run_id, if dry_run { " (dry run: nothing was written)" } else { "" })),
        ("status".into(), s.status.to_string()),
        ("offers fetched".into(), c.fetched.to_string()),
        ("not selected".into(), c.not_selected.to_string()),
        ("filtered out".into(), c.filtered.to_string()),
        (verb("created", "would create"), c.created.to_string()),
        (verb("updated", "would update"), c.updated.to_string()),
        ("unchanged".into(), c.unchanged.to_string()),
        (verb("paused", "would pause"), c.paused.to_string()),
        (verb("re-activated", "would re-activate"), c.reactivated.to_string()),
        (verb("deleted", "would delete"), c.deleted.to_string()),
        ("invalid offers".into(), c.invalid.to_string()),
        ("duplicates in feed".into(), c.duplicates.to_string()),
        ("locked columns kept".into(), c.locked_kept.to_string()),
    ];
    for (code, n) in &s.filter_counts {
        rows.push((format!("  {code}"), n.to_string()));
    }
    if let Some(e) = &s.error {
        rows.push(("error".into(), e.clone()));
    }
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<w$}  {v}\n")).collect()
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    // Colour only on a terminal: a redirected log file gets plain text.
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    if config.log_json { b.json().init() } else { b.init() }
}

/// Opens the database and applies pending migrations. Only `serve` and `migrate` create a
/// SQLite file (`create`): any other command run in the wrong folder would otherwise start on a
/// new, empty database in silence, so it says which file it looked for instead.
async fn open(config: &Config, create: bool) -> anyhow::Result<sea_orm::DatabaseConnection> {
    if !create
        && let Some(path) = sqlite_file(&config.database_url)
        && !path.exists()
    {
        anyhow::bail!(
            "no database at {}: `offerbridge serve` or `offerbridge migrate` creates it. Run this command with the same data folder \
             (data_dir, now {}) or DATABASE_URL as the service",
            path.display(),
            config.data_dir.display()
        );
    }
    let db = domain::db::connect(&config.database_url).await.context("cannot connect to the database")?;
    domain::db::migrate(&db).await.context("migrations failed")?;
    Ok(db)
}

/// The file of a SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`); `None` for other
/// databases and in-memory ones.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

async fn run(config: Config, with_gateway: bool, with_agent: bool) -> anyhow::Result<()> {
    // `serve` (gateway and agent) is the one-command start that creates a SQLite database.
    let db = open(&config, with_gateway && with_agent).await?;
    start(config, db, with_gateway, with_agent).await?.finish().await
}

/// The service's tasks, running until a signal or a failure cancels `shutdown`.
struct Started {
    tasks: tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
    /// The gateway's address, when it runs.
    addr: Option<std::net::SocketAddr>,
}

impl Started {
    /// Waits for every task; the first error, after cancelling the others.
    async fn finish(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(r) = self.tasks.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.shutdown.cancel();
                    result = Err(e);
                }
                Err(e) => {
                    self.shutdown.cancel();
                    result = Err(e.into());
                }
            }
        }
        result
    }
}

/// Starts the gateway and/or the agent on `db` (migrated); Ctrl-C or SIGTERM cancels them.
async fn start(config: Config, db: sea_orm::DatabaseConnection, with_gateway: bool, with_agent: bool) -> anyhow::Result<Started> {
    let config = Arc::new(config);
    let cipher = load_cipher(&config, &db).await?;
    let shutdown = CancellationToken::new();
    {
        let s = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing the current page and releasing leases");
            s.cancel();
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    domain::metrics::install();
    if with_agent
        && !with_gateway
        && let Some(addr) = &config.agent.metrics_listen
    {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on agent.metrics_listen {addr}"))?;
        println!("agent metrics on http://{}/metrics", listener.local_addr()?);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async {
                ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], domain::metrics::render())
            }),
        );
        let s = shutdown.clone();
        spawn_service(&mut tasks, &shutdown, async move {
            axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await?;
            Ok(())
        });
    }
    if with_agent {
        let agent = agent::runtime::Agent::new(db.clone(), config.clone(), cipher.clone())?;
        let s = shutdown.clone();
        spawn_service(&mut tasks, &shutdown, async move { agent.run(s).await });
    }
    let mut addr = None;
    if with_gateway {
        // Bind and build the gateway first: a port already in use (or a catalog that does not
        // load) must not cost a printed, unusable admin token.
        let listener =
            tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = gateway::state(db.clone(), config.clone(), cipher.clone(), shutdown.clone()).await?;
        if domain::tokens::active_count(&db).await? == 0 {
            let (_, token) = domain::tokens::create(&db, "first-admin", Role::Admin).await?;
            use std::io::IsTerminal;
            if std::io::stderr().is_terminal() {
                eprintln!(
                    "No API token existed, so a first admin token was created. It is shown only once:\n\n    {token}\n\nSend it as 'Authorization: Bearer <token>'. Create more with `offerbridge token create --role editor`."
                );
            } else {
                // Output that is not a terminal ends up in log files: the token goes to a file
                // only this user can read, never into the log stream.
                let path = config.data_dir.join("first-admin-token");
                std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create {}", config.data_dir.display()))?;
                std::fs::write(&path, format!("{token}\n")).with_context(|| format!("cannot write {}", path.display()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                tracing::warn!(path = %path.display(), "no API token existed: a first admin token was written to {} (readable by this user only); store it and delete the file", path.display());
            }
        }
        let bound = listener.local_addr()?;
        println!("offerbridge listening on http://{bound}  (GraphiQL: http://{bound}/graphql)");
        addr = Some(bound);
        let s = shutdown.clone();
        spawn_service(&mut tasks, &shutdown, async move { gateway::serve(state, listener, s).await });
    }
    Ok(Started { tasks, shutdown, addr })
}

/// Spawns one of the service's tasks. When it fails or panics it cancels `shutdown`, so the
/// other tasks (and the demo, which waits on `shutdown`) stop with it instead of running on
/// half a service.
fn spawn_service(
    tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
    task: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    let guard = shutdown.clone().drop_guard();
    tasks.spawn(async move {
        let r = task.await;
        if r.is_ok() {
            guard.disarm();
        }
        r
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::progress;

    #[test]
    fn the_progress_bar_says_what_is_known() {
        assert_eq!(progress(0, None, "{}", false), (0, None, "0 offers fetched, 0 created, 0 updated".into()), "before the first page");
        assert_eq!(
            progress(5, None, r#"{"fetched": 250, "created": 240, "updated": 0}"#, false),
            (5, None, "250 offers fetched, 240 created, 0 updated".into()),
            "no total from the platform: no made-up length"
        );
        assert_eq!(
            progress(6, Some(6), r#"{"fetched": 300, "created": 12}"#, true).2,
            "300 offers fetched, 12 would create, 0 would update"
        );
        assert_eq!(progress(7, Some(6), "{}", false).1, Some(7), "a total the feed outgrew is not shown below the pages done");
    }
}
