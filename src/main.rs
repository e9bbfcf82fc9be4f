//! `offerbridge`: one binary. `serve` runs the gateway with the agent embedded; `gateway` and
//! `agent` run them as separate processes over the same database.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::{Config, crypto::Cipher, model::Role};
use tokio_util::sync::CancellationToken;

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
    /// Run only the sync agent.
    Agent,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", gateway::sdl());
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
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
            let db = open(&config).await?;
            let (_, token) = domain::tokens::create(&db, &name, role).await?;
            println!("{token}");
            eprintln!("Created a {role} token named '{name}'. It is shown only once: store it now.");
            Ok(())
        }
        Command::Serve => run(config, true, true).await,
        Command::Gateway => run(config, true, false).await,
        Command::Agent => run(config, false, true).await,
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_json { b.json().init() } else { b.init() }
}

async fn open(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let db = domain::db::connect(&config.database_url).await.context("cannot connect to the database")?;
    domain::db::migrate(&db).await.context("migrations failed")?;
    Ok(db)
}

async fn run(config: Config, with_gateway: bool, with_agent: bool) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let db = open(&config).await?;
    let cipher = Cipher::from_config_or_file(config.secret_key.as_ref(), &config.data_dir)?;
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
    if with_agent {
        let agent = agent::runtime::Agent::new(db.clone(), config.clone(), cipher.clone())?;
        let s = shutdown.clone();
        tasks.spawn(async move { agent.run(s).await });
    }
    if with_gateway {
        if domain::tokens::active_count(&db).await? == 0 {
            let (_, token) = domain::tokens::create(&db, "first-admin", Role::Admin).await?;
            eprintln!(
                "No API token existed, so a first admin token was created. It is shown only once:\n\n    {token}\n\nSend it as 'Authorization: Bearer <token>'. Create more with `offerbridge token create --role editor`."
            );
        }
        let listener =
            tokio::net::TcpListener::bind(&config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let state = gateway::state(db.clone(), config.clone(), cipher.clone(), shutdown.clone()).await?;
        println!("offerbridge listening on http://{addr}  (GraphiQL: http://{addr}/graphql)");
        let s = shutdown.clone();
        tasks.spawn(async move { gateway::serve(state, listener, s).await });
    }
    let mut result = Ok(());
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                shutdown.cancel();
                result = Err(e);
            }
            Err(e) => {
                shutdown.cancel();
                result = Err(e.into());
            }
        }
    }
    result
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
