//! Spawned processes: the real `offerbridge` binary as `gateway` and `agent` (separate
//! processes sharing one database, as in production), a fake Everflow server, and Node.js
//! client scripts from `tests/node/` with their npm dependencies installed on first use.

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, OnceLock, atomic::AtomicU32},
    time::Duration,
};

use agent::sample::server::{SampleAdvertiser, SampleOptions};
use serde_json::{Value, json};

use crate::harness::TestDb;

/// The API key the fake advertiser accepts.
pub const EVERFLOW_KEY: &str = agent::sample::server::API_KEY;
/// Base64 of 32 bytes: one credentials key shared by the gateway and agent processes.
const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const BIN: &str = env!("CARGO_BIN_EXE_offerbridge");

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

// ---------------------------------------------------------------------------------------------
// Fake Everflow: the real wire format, a server-side page size cap and a per-page delay.

/// The fake Everflow advertiser: the sample advertiser `offerbridge demo` imports from
/// (`agent::sample::server`), its feed never moving unless the test advances it.
pub struct FakeEverflow {
    pub url: String,
    pub requests: Arc<AtomicU32>,
    /// Requests still to answer with 429 and `Retry-After: 1` (a platform's rate limit).
    pub rate_limited: Arc<AtomicU32>,
    _server: SampleAdvertiser,
}

impl FakeEverflow {
    /// Serves offers 1..=`count`, at most 50 a page, each page after `delay`.
    pub async fn start(count: usize, delay: Duration) -> FakeEverflow {
        let options = SampleOptions { offers: count as u32, page_delay: delay, max_page_size: 50 };
        let sample = SampleAdvertiser::start(options).await.expect("start the sample advertiser");
        FakeEverflow {
            url: sample.url.clone(),
            requests: sample.requests.clone(),
            rate_limited: sample.rate_limited.clone(),
            _server: sample,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary as separate processes.

/// A child process killed (and reaped) on drop. Its stdout and stderr go to `log`, which is
/// printed when the test fails.
pub struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// SIGKILL, as a crash or the OOM killer would: no shutdown, no lease released.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `secs` for the process to exit by itself; its exit code and log.
    pub fn wait_exit(&mut self, secs: u64) -> Option<(Option<i32>, String)> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((status.code(), std::fs::read_to_string(&self.log).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- offerbridge {} log (last lines) ----\n{}\n----", self.name, self.tail());
        }
    }
}

/// A gateway process and an agent process over one fresh database, and an admin token.
pub struct Stack {
    /// `http://127.0.0.1:PORT` of the gateway.
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    // Drop order: processes first, then their data dir and database.
    procs: Vec<Proc>,
    dir: tempfile::TempDir,
    db: TestDb,
}

impl Stack {
    /// Runs migrations (`offerbridge migrate`) and creates an admin token (`offerbridge token create`), then starts
    /// `offerbridge gateway` and, with `with_agent`, `offerbridge agent`.
    pub async fn start(with_agent: bool) -> Stack {
        let db = TestDb::new().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let out = base_command(&db.url, dir.path()).arg("migrate").output().expect("run offerbridge migrate");
        assert!(out.status.success(), "offerbridge migrate failed: {}", String::from_utf8_lossy(&out.stderr));
        let token = {
            let out = base_command(&db.url, dir.path())
                .args(["token", "create", "--role", "admin", "--name", "client-tests"])
                .output()
                .expect("run offerbridge token create");
            assert!(out.status.success(), "offerbridge token create failed: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert!(!token.is_empty() && !token.contains(char::is_whitespace), "token create printed {token:?}");
        let mut stack = Stack { base: String::new(), token, http: reqwest::Client::new(), procs: vec![], dir, db };
        let (gateway, base) = stack.spawn_gateway();
        stack.procs.push(gateway);
        stack.base = base;
        if with_agent {
            let agent = stack.spawn("agent");
            stack.procs.push(agent);
        }
        stack
    }

    fn spawn(&self, sub: &'static str) -> Proc {
        self.spawn_with(sub, sub, &[])
    }

    /// Starts one more `offerbridge gateway` (output to a log file, not a terminal).
    pub fn spawn_second_gateway(&self) -> Proc {
        self.spawn_with("gateway", "gateway-2", &[])
    }

    /// Starts `offerbridge agent` as agent `id`, with extra environment (e.g. a short lease).
    pub fn spawn_agent(&self, id: &'static str, env: &[(&str, &str)]) -> Proc {
        let mut env = env.to_vec();
        env.push(("OFFERBRIDGE_AGENT__ID", id));
        self.spawn_with("agent", id, &env)
    }

    fn spawn_with(&self, sub: &'static str, name: &'static str, env: &[(&str, &str)]) -> Proc {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = base_command(&self.db.url, self.dir.path())
            .envs(env.iter().copied())
            .arg(sub)
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN} {sub}: {e}"));
        Proc { name, child, log }
    }

    /// Starts the gateway on port 0 and reads the address it prints.
    fn spawn_gateway(&self) -> (Proc, String) {
        let log = self.dir.path().join("gateway.log");
        let mut file = std::fs::File::create(&log).expect("log file");
        let mut child = base_command(&self.db.url, self.dir.path())
            .arg("gateway")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file.try_clone().expect("log file")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN} gateway: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Forward stdout to the log, handing over the "listening on http://ADDR" line.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1).and_then(|r| r.split_whitespace().next()) {
                    let _ = tx.send(addr.to_string());
                }
                let _ = writeln!(file, "{line}");
            }
        });
        let proc = Proc { name: "gateway", child, log };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => (proc, base),
            Err(_) => panic!("the gateway did not print its address within 30 s:\n{}", proc.tail()),
        }
    }

    /// Runs `offerbridge <args>` on the stack's database and key; returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = base_command(&self.db.url, self.dir.path()).args(args).output().expect("run offerbridge");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// `cli` with environment variables set (`set`) or removed (`remove`).
    pub fn cli_env(&self, args: &[&str], set: &[(&str, &str)], remove: &[&str]) -> (Option<i32>, String, String) {
        let mut c = base_command(&self.db.url, self.dir.path());
        c.args(args).envs(set.iter().copied());
        for k in remove {
            c.env_remove(k);
        }
        let out = c.output().expect("run offerbridge");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    /// The key every process of the stack is started with (`OFFERBRIDGE_SECRET_KEY`).
    pub fn secret_key(&self) -> &'static str {
        SECRET_KEY
    }

    /// What the gateway process has written to its log so far.
    pub fn gateway_log(&self) -> String {
        self.procs.iter().find(|p| p.name == "gateway").map(Proc::log_text).unwrap_or_default()
    }

    /// Keeps `proc` running as long as the stack.
    pub fn keep(&mut self, proc: Proc) {
        self.procs.push(proc);
    }

    /// The stack's data folder.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// POSTs a GraphQL request as admin; returns the whole body, errors included.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        post_graphql(&self.http, &self.base, &self.token, query, variables).await
    }

    /// POSTs a GraphQL request as admin; panics on errors and returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let r = self.gql(query, variables).await;
        assert!(r.get("errors").is_none(), "unexpected errors: {r}");
        r["data"].clone()
    }
}

/// `offerbridge` on a new SQLite database in `dir` (what a newcomer's first `serve` sees), with
/// the tests' environment otherwise.
pub fn fresh_sqlite_command(dir: &Path) -> Command {
    base_command(&format!("sqlite://{}?mode=rwc", dir.join("offerbridge.db").display()), dir)
}

/// `offerbridge` with the test's configuration, all by environment variables, run in the data
/// dir so that no stray `offerbridge.toml` is read.
fn base_command(database_url: &str, data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(data_dir)
        .env("DATABASE_URL", database_url)
        .env("OFFERBRIDGE_LISTEN", "127.0.0.1:0")
        .env("OFFERBRIDGE_DATA_DIR", data_dir)
        .env("OFFERBRIDGE_SECRET_KEY", SECRET_KEY)
        .env("OFFERBRIDGE_LOG", "info")
        .env("NO_COLOR", "1")
        .env("OFFERBRIDGE_AGENT__POLL_INTERVAL", "100ms")
        .env("OFFERBRIDGE_AGENT__MAX_BACKOFF", "5s")
        .env("OFFERBRIDGE_GATEWAY__EVENT_POLL_INTERVAL", "50ms")
        .env("OFFERBRIDGE_AGENT__ALLOWED_NETWORKS", "127.0.0.1/32")
        .env_remove("RUST_LOG")
        .env_remove("OFFERBRIDGE_CONFIG")
        .stdin(Stdio::null());
    c
}

// ---------------------------------------------------------------------------------------------
// `offerbridge demo` as a process.

/// `offerbridge demo` in a folder of its own, after it printed its GraphiQL address and token
/// (that is, after both first imports finished).
pub struct Demo {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT` of its gateway.
    pub base: String,
    pub token: String,
    /// The sample advertiser's URL (the `api_url` credential).
    pub sample_url: String,
    pub http: reqwest::Client,
    /// Everything the demo printed up to its token.
    pub intro: String,
    _dir: tempfile::TempDir,
}

impl Demo {
    /// Starts `offerbridge demo <args>` (the gateway and the sample advertiser on free ports);
    /// panics unless it prints its token within `secs`.
    pub fn start(args: &[&str], secs: u64) -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("demo.log");
        let mut file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(BIN)
            .current_dir(dir.path())
            .args(["demo", "--dir", "demo", "--sample-listen", "127.0.0.1:0"])
            .args(args)
            .env("OFFERBRIDGE_LISTEN", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env_remove("OFFERBRIDGE_SECRET_KEY")
            .env_remove("OFFERBRIDGE_LOG")
            .env_remove("RUST_LOG")
            .env_remove("OFFERBRIDGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file.try_clone().expect("log file")))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN} demo: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut intro = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
                intro.push_str(&line);
                intro.push('\n');
                if line.starts_with("token:") {
                    let _ = tx.send(intro.clone());
                }
            }
        });
        let proc = Proc { name: "demo", child, log };
        let intro = match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(intro) => intro,
            Err(_) => panic!("the demo did not print its token within {secs} s:\n{}", proc.tail()),
        };
        let after = |prefix: &str| {
            intro
                .lines()
                .find_map(|l| l.split(prefix).nth(1))
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_else(|| panic!("the demo printed no '{prefix}':\n{intro}"))
                .to_string()
        };
        let (base, token) = (format!("http://{}", after("listening on http://")), after("token:"));
        let sample_url = format!("http://{}", after("on http://"));
        Demo { proc, base, token, sample_url, http: reqwest::Client::new(), intro, _dir: dir }
    }

    /// A GraphQL request with the demo's token; the whole response.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        post_graphql(&self.http, &self.base, &self.token, query, variables).await
    }

    /// `offerbridge demo <args>` in a fresh folder, expected to stop at once; (exit code, stderr).
    pub fn refused(args: &[&str]) -> (Option<i32>, String) {
        demo_once(tempfile::tempdir().expect("tempdir").path(), args)
    }

    /// `offerbridge demo` started again in this demo's folder while it runs; (exit code, stderr).
    pub fn again_in_the_same_folder(&self) -> (Option<i32>, String) {
        demo_once(self._dir.path(), &["--dir", "demo", "--sample-listen", "127.0.0.1:0"])
    }

    /// Sends SIGINT (Ctrl-C) and waits up to `secs` for the exit; its code.
    pub fn interrupt(&mut self, secs: u64) -> Option<i32> {
        let sent = Command::new("kill").args(["-INT", &self.proc.child.id().to_string()]).status().expect("kill");
        assert!(sent.success());
        match self.proc.wait_exit(secs) {
            Some((code, _)) => code,
            None => panic!("the demo did not stop within {secs} s of Ctrl-C:\n{}", self.proc.tail()),
        }
    }
}

/// A GraphQL POST to the gateway at `base` with `token`; the whole response.
async fn post_graphql(http: &reqwest::Client, base: &str, token: &str, query: &str, variables: Value) -> Value {
    let r = http.post(format!("{base}/graphql")).bearer_auth(token).json(&json!({"query": query, "variables": variables}));
    r.send().await.expect("POST /graphql").json().await.expect("JSON response")
}

/// `offerbridge demo <args>` run to its end in `dir`; (exit code, stderr).
fn demo_once(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .arg("demo")
        .args(args)
        .env("OFFERBRIDGE_LISTEN", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env_remove("OFFERBRIDGE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run offerbridge demo");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into())
}

// ---------------------------------------------------------------------------------------------
// Node.js client scripts.

/// Runs `node tests/node/<script>` with `env`; panics with its output unless it exits 0.
/// Its output is printed (shown by `cargo test` on failure or with `--nocapture`).
pub async fn node(script: &str, env: &[(&str, String)]) {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(script).current_dir(node_dir()).envs(env.iter().map(|(k, v)| (*k, v.as_str()))).stdin(Stdio::null()).kill_on_drop(true);
    let out = match tokio::time::timeout(Duration::from_secs(60), cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("cannot run node {script}: {e}"),
        Err(_) => panic!("node {script} did not finish within 60 s"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node {script} failed ({}):\n{stdout}\n{stderr}", out.status);
    println!("node {script}:\n{stdout}");
}

/// Checks that Node.js 20+ and npm are installed and that `tests/node/node_modules` holds
/// exactly the pinned versions, running `npm ci` once otherwise. Fails (never skips) when
/// node or npm is missing. Safe to call from concurrent tests and test processes.
pub async fn node_ready() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let r = tokio::task::spawn_blocking(|| READY.get_or_init(install_node_modules).clone()).await.expect("npm install task");
    if let Err(e) = r {
        panic!("{e}");
    }
}

fn install_node_modules() -> Result<(), String> {
    let version = Command::new("node").arg("--version").output().map_err(|e| {
        format!("Node.js 20+ is required by tests/e2e/clients.rs (real GraphQL clients) but `node` cannot run: {e}. Install Node.js 20 or later.")
    })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        return Err(format!("Node.js 20+ is required by tests/e2e/clients.rs, found {version:?}"));
    }
    let dir = node_dir();
    // One installer at a time across test processes too.
    let lock = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("offerbridge-npm-ci.lock"))
        .map_err(|e| format!("cannot create the npm lock file: {e}"))?;
    lock.lock().map_err(|e| format!("cannot lock the npm lock file: {e}"))?;
    if installed_matches_pins(&dir) {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--prefix"])
        .arg(&dir)
        .args(["--no-audit", "--no-fund"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("npm is required by tests/e2e/clients.rs to install tests/node's dependencies but cannot run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`npm ci --prefix tests/node` failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if !installed_matches_pins(&dir) {
        return Err("`npm ci --prefix tests/node` succeeded but node_modules does not hold the pinned versions".into());
    }
    Ok(())
}

/// Whether every dependency pinned in package.json is installed at that exact version.
fn installed_matches_pins(dir: &Path) -> bool {
    let read = |p: PathBuf| std::fs::read_to_string(p).ok().and_then(|s| serde_json::from_str::<Value>(&s).ok());
    let Some(pkg) = read(dir.join("package.json")) else { return false };
    let Some(deps) = pkg["dependencies"].as_object() else { return false };
    deps.iter().all(|(name, pinned)| {
        read(dir.join("node_modules").join(name).join("package.json")).is_some_and(|installed| installed["version"] == *pinned)
    })
}
