//! What the benchmarks share: the credentials key, the sample advertiser served from memory,
//! a gateway in the bench's own process, and a GraphQL call.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Query, State},
    http::header,
    response::IntoResponse,
    routing::get,
};
use domain::{Config, crypto::Cipher, model::Role};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Base64 of 32 bytes: the credentials key of the benchmark's installation.
pub const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A gateway serving in the bench's process on `config`'s database (migrated), with an admin
/// token; `shutdown` stops it, `server` ends then.
pub struct InProcess {
    pub db: DatabaseConnection,
    pub base: String,
    pub token: String,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn serve_gateway(config: Arc<Config>) -> anyhow::Result<InProcess> {
    let db = domain::db::connect(&config.database_url).await?;
    domain::db::migrate(&db).await?;
    let cipher = Cipher::from_base64(&secrecy::SecretString::from(KEY.to_string()))?;
    let shutdown = CancellationToken::new();
    let (_, token) = domain::tokens::create(&db, "bench", Role::Admin).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = gateway::state(db.clone(), config, cipher, shutdown.clone()).await?;
    let s = shutdown.clone();
    let server = tokio::spawn(async move { gateway::serve(state, listener, s).await });
    Ok(InProcess { db, base, token, shutdown, server })
}

/// The sample advertiser's HasOffers pages, rendered once (`agent::sample`).
pub struct Feed {
    /// Rendered pages per variant: `pages[variant][page - 1]`.
    pub pages: Vec<Vec<bytes::Bytes>>,
    pub context: bytes::Bytes,
    /// The variant served now.
    pub variant: AtomicU32,
    /// How long each page takes to answer.
    pub delay: Duration,
}

impl Feed {
    /// `offers` offers in pages of `page_size`, one rendering per variant.
    pub fn render(offers: u32, page_size: u32, variants: &[u32], delay: Duration) -> Self {
        let pages = offers.div_ceil(page_size);
        let render = |v: u32| (1..=pages).map(|p| bytes::Bytes::from(agent::sample::hasoffers_page(offers, p, page_size, v))).collect();
        Self {
            pages: variants.iter().map(|v| render(*v)).collect(),
            context: agent::sample::hasoffers_context().into(),
            variant: AtomicU32::new(0),
            delay,
        }
    }

    /// Serves the feed on loopback (`/Apiv3/json`); returns its base URL.
    pub async fn serve(self: &Arc<Self>) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Router::new().route("/Apiv3/json", get(api)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }
}

async fn api(State(f): State<Arc<Feed>>, Query(q): Query<HashMap<String, String>>) -> impl IntoResponse {
    let body = if q.get("Method").map(String::as_str) == Some("getContext") {
        f.context.clone()
    } else {
        tokio::time::sleep(f.delay).await;
        let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let pages = &f.pages[f.variant.load(Ordering::SeqCst) as usize];
        pages.get(page.saturating_sub(1)).cloned().unwrap_or_else(|| pages[pages.len() - 1].clone())
    };
    ([(header::CONTENT_TYPE, "application/json")], body)
}

/// A GraphQL request that must not answer errors; its `data`.
pub async fn gql(http: &reqwest::Client, base: &str, token: &str, q: &str, v: Value) -> anyhow::Result<Value> {
    let r: Value =
        http.post(format!("{base}/graphql")).bearer_auth(token).json(&json!({"query": q, "variables": v})).send().await?.json().await?;
    anyhow::ensure!(r.get("errors").is_none(), "GraphQL errors: {r}");
    Ok(r["data"].clone())
}
