//! The test harness: a fresh database per test, the gateway (and agent) on port 0.

use std::{sync::Arc, time::Duration};

use domain::{Config, crypto::Cipher, model::Role};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A database for one test: a temp SQLite file, or (TEST_DATABASE_URL set) a new
/// PostgreSQL database, dropped at the end.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    admin_url: Option<String>,
    name: Option<String>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("TEST_DATABASE_URL").ok().filter(|s| !s.is_empty()) {
            Some(admin) => {
                let name = format!("ob_test_{}", uuid::Uuid::new_v4().simple());
                let db = domain::db::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
                use sea_orm::ConnectionTrait;
                db.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                let _ = db.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
                TestDb { url: format!("{base}/{name}"), _dir: None, admin_url: Some(admin), name: Some(name) }
            }
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                TestDb { url, _dir: Some(dir), admin_url: None, name: None }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let (Some(admin), Some(name)) = (self.admin_url.clone(), self.name.clone()) {
            // Drop on a separate runtime: Drop cannot be async.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    if let Ok(db) = domain::db::connect(&admin).await {
                        use sea_orm::ConnectionTrait;
                        let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running gateway (optionally with an embedded agent) against a fresh database.
pub struct App {
    pub base: String,
    pub db: sea_orm::DatabaseConnection,
    pub config: Arc<Config>,
    pub cipher: Cipher,
    pub admin_token: String,
    pub shutdown: CancellationToken,
    _testdb: TestDb,
    pub http: reqwest::Client,
    /// SQL statements run so far that mention a campaign table.
    pub campaign_statements: Arc<std::sync::Mutex<Vec<String>>>,
}

impl App {
    pub async fn start(with_agent: bool) -> App {
        Self::start_with(with_agent, |_| {}).await
    }

    /// Like `start`, with the configuration adjusted by `tweak` (lease TTLs, agent ids...).
    pub async fn start_with(with_agent: bool, tweak: impl FnOnce(&mut Config)) -> App {
        let testdb = TestDb::new().await;
        let mut cfg = Config { database_url: testdb.url.clone(), ..Config::default() };
        // The fake advertisers listen on loopback, which the agent refuses by default.
        cfg.agent.allowed_networks = vec!["127.0.0.1/32".into()];
        cfg.agent.poll_interval = Duration::from_millis(100);
        cfg.agent.max_backoff = Duration::from_secs(5);
        cfg.gateway.event_poll_interval = Duration::from_millis(50);
        tweak(&mut cfg);
        let config = Arc::new(cfg);
        let mut db = domain::db::connect(&config.database_url).await.expect("connect");
        domain::db::migrate(&db).await.expect("migrate");
        // Statements that touch campaign tables, for tests of the read path's statement count.
        let campaign_statements = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = campaign_statements.clone();
        db.set_metric_callback(move |info| {
            if info.statement.sql.contains("campaign") {
                log.lock().unwrap_or_else(|e| e.into_inner()).push(info.statement.sql.clone());
            }
        });
        let cipher =
            Cipher::from_base64(&secrecy::SecretString::from("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string())).expect("key");
        let (_, admin_token) = domain::tokens::create(&db, "test-admin", Role::Admin).await.expect("token");
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = gateway::state(db.clone(), config.clone(), cipher.clone(), shutdown.clone()).await.expect("state");
        let s = shutdown.clone();
        tokio::spawn(async move { gateway::serve(state, listener, s).await });
        if with_agent {
            let agent = agent::runtime::Agent::new(db.clone(), config.clone(), cipher.clone()).expect("agent");
            let s = shutdown.clone();
            tokio::spawn(async move { agent.run(s).await });
        }
        App { base, db, config, cipher, admin_token, shutdown, _testdb: testdb, http: reqwest::Client::new(), campaign_statements }
    }

    /// Starts one more agent on the same database, named `id`. Cancel the token to stop it
    /// gracefully; abort the handle to kill it as a crash would (no lease released).
    pub fn spawn_agent(&self, id: &str, tweak: impl FnOnce(&mut Config)) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let mut cfg = (*self.config).clone();
        cfg.agent.id = Some(id.to_string());
        tweak(&mut cfg);
        let agent = agent::runtime::Agent::new(self.db.clone(), Arc::new(cfg), self.cipher.clone()).expect("agent");
        let stop = self.shutdown.child_token();
        let s = stop.clone();
        (
            stop,
            tokio::spawn(async move {
                let _ = agent.run(s).await;
            }),
        )
    }

    pub async fn token(&self, role: Role) -> String {
        domain::tokens::create(&self.db, &format!("t-{role}"), role).await.expect("token").1
    }

    /// POSTs a GraphQL request with `token` (None = no header); returns the JSON body.
    pub async fn gql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut rb = self.http.post(format!("{}/graphql", self.base)).json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().await.expect("request").json().await.expect("json body")
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_as(Some(&self.admin_token.clone()), query, variables).await
    }

    /// Like `gql`, but panics on GraphQL errors and returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let r = self.gql(query, variables).await;
        assert!(r.get("errors").is_none(), "unexpected errors: {r}");
        r["data"].clone()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The `extensions.code` of the first error.
pub fn code(r: &Value) -> String {
    r["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_string()
}

/// Polls `f` until it returns Some, or panics after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
