//! Configuration: defaults that work, a TOML file, then environment variables.
//!
//! Precedence (last wins): built-in defaults < `offerbridge.toml` (or `--config FILE`) <
//! `OFFERBRIDGE_*` environment variables (nested keys with `__`, e.g.
//! `OFFERBRIDGE_AGENT__CONCURRENCY=4`) < `DATABASE_URL`. Every key is listed in the README.

use std::{path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Database: `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    pub database_url: String,
    /// Address the gateway listens on.
    pub listen: String,
    /// Folder for the SQLite file and the generated secret key.
    pub data_dir: PathBuf,
    /// Base64 of 32 bytes that seal credentials at rest. Unset: read from or generate
    /// `<data_dir>/secret.key` (0600).
    #[serde(skip_serializing)]
    pub secret_key: Option<SecretString>,
    /// `tracing` filter, e.g. `info,offerbridge=debug`.
    pub log: String,
    /// Log lines as JSON (for log shippers) instead of text.
    pub log_json: bool,
    pub gateway: GatewayConfig,
    pub agent: AgentConfig,
}

/// Gateway limits and behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Largest `first` a list query accepts.
    pub max_page_size: u32,
    /// Maximum query depth.
    pub max_depth: usize,
    /// Maximum query complexity.
    pub max_complexity: usize,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Serve introspection queries (and so GraphiQL's docs).
    pub introspection: bool,
    /// How often the event poller reads new events (one poller per process).
    #[serde(with = "humantime_serde")]
    pub event_poll_interval: Duration,
    /// Answer `campaigns` pages the schema has answered once by a compiled plan (the same
    /// values from one statement, without resolving field by field); off: always the resolvers.
    pub compiled_queries: bool,
}

/// Agent scheduling, leases and HTTP behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    /// Identifies this agent in leases and runs; default: hostname + pid.
    pub id: Option<String>,
    /// Runs (syncs, previews, tests) at a time.
    pub concurrency: usize,
    /// How often the scheduler looks for due work.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A lease not renewed for this long is taken over by another agent.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Connect timeout for advertiser APIs.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Whole-request timeout for advertiser APIs.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Attempts per request (first try included) on 5xx, timeouts and rate limits.
    pub max_attempts: u32,
    /// Longest single backoff wait (Retry-After above this fails the request).
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// How long a fetched page is reused (previews right after a sync hit the cache).
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Most bytes of response bodies kept in the page cache (MiB).
    pub cache_max_mib: u64,
    /// Log entries and events older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub log_retention: Duration,
    /// Folder of user connector specs (`*.yaml`/`*.json`), added to the built-in catalog.
    pub connectors_dir: Option<PathBuf>,
    /// Upserts per database transaction.
    pub batch_size: usize,
    /// Campaign ids read per statement (one JSON array each) when a run looks for offers that
    /// left the feed (used within 1 to 1,000,000).
    pub reconcile_chunk: u64,
    /// Networks the agent may call although they are loopback, private or link-local (CIDRs
    /// or addresses, a list or comma-separated text, e.g. `127.0.0.1/32`). Empty by default:
    /// an API URL pointing into the agent's own network is refused (see `domain::netguard`).
    #[serde(deserialize_with = "list_or_csv")]
    pub allowed_networks: Vec<String>,
    /// Address of a standalone agent's Prometheus endpoint (`GET /metrics`), e.g.
    /// `0.0.0.0:9464`; none by default. `serve` and `gateway` serve `/metrics` on `listen`.
    pub metrics_listen: Option<String>,
}

impl AgentConfig {
    /// The address policy for advertiser API calls, from `allowed_networks`.
    pub fn target_policy(&self) -> Result<crate::netguard::TargetPolicy, String> {
        crate::netguard::TargetPolicy::new(&self.allowed_networks)
    }
}

/// A list from TOML, or comma-separated text from an environment variable.
fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(d)? {
        ListOrText::List(l) => l,
        ListOrText::Text(t) => t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
    })
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: String::new(),
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            secret_key: None,
            log: "info".into(),
            log_json: false,
            gateway: GatewayConfig::default(),
            agent: AgentConfig::default(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_page_size: 200,
            max_depth: 12,
            max_complexity: 2000,
            max_body_bytes: 1 << 20,
            introspection: true,
            event_poll_interval: Duration::from_millis(100),
            compiled_queries: true,
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            id: None,
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_attempts: 5,
            max_backoff: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(300),
            cache_max_mib: 64,
            log_retention: Duration::from_secs(30 * 24 * 3600),
            connectors_dir: None,
            batch_size: 500,
            reconcile_chunk: 10_000,
            allowed_networks: vec![],
            metrics_listen: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// Keys read from `OFFERBRIDGE_*` that are not configuration keys: `OFFERBRIDGE_CONFIG` names
/// the file (the `--config` flag).
const NOT_CONFIG: &[&str] = &["config"];

/// Every configuration key as a dotted path (`listen`, `gateway.max_depth`, ...).
fn known_keys() -> Vec<String> {
    fn walk(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let serde_json::Value::Object(m) = v {
            for (k, x) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                walk(x, &path, out);
                out.push(path);
            }
        }
    }
    // Secrets are never serialised, so they are listed here.
    let mut out = vec!["secret_key".to_string()];
    walk(&serde_json::to_value(Config::default()).unwrap_or_default(), "", &mut out);
    out
}

/// A misspelt key (`lisen`, `[gateway] max_dept`, `OFFERBRIDGE_LISEN`) would be ignored and
/// its default used in silence: refuse it, name where it came from, and suggest the nearest key.
fn refuse_unknown_keys(fig: &Figment) -> Result<(), ConfigError> {
    fn walk(d: &figment::value::Dict, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in d {
            let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                figment::value::Value::Dict(_, inner) => walk(inner, &path, out),
                _ => out.push(path),
            }
        }
    }
    let known = known_keys();
    let mut given = vec![];
    for dict in figment::Provider::data(fig).map_err(|e| ConfigError(e.to_string()))?.values() {
        walk(dict, "", &mut given);
    }
    let env = |path: &str| format!("OFFERBRIDGE_{}", path.to_ascii_uppercase().replace('.', "__"));
    let mut errors = vec![];
    for path in given {
        if known.contains(&path) || NOT_CONFIG.contains(&path.as_str()) {
            continue;
        }
        let from_env = fig.find_metadata(&path).is_some_and(|m| m.name.contains("environment"));
        let last = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
        let nearest = known
            .iter()
            .map(|k| (strsim::levenshtein(&last(&path), &last(k)).min(strsim::levenshtein(&path, k)), k))
            .filter(|(d, k)| *d <= 2.max(last(k).len() / 4))
            .min_by_key(|(d, k)| (*d, k.len()))
            .map(|(_, k)| k.clone());
        let (name, hint) = if from_env {
            (env(&path), nearest.map(|k| format!("; did you mean {}?", env(&k))))
        } else {
            (format!("'{path}'"), nearest.map(|k| format!("; did you mean '{k}'?")))
        };
        errors.push(format!(
            "unknown configuration key {name} ({}){}",
            if from_env { "environment" } else { "configuration file" },
            hint.unwrap_or_else(|| " (every key is listed in the README)".into())
        ));
    }
    if errors.is_empty() { Ok(()) } else { Err(ConfigError(errors.join("; "))) }
}

impl Config {
    /// Loads defaults, then `file` (or `./offerbridge.toml` when present), then the environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError(format!("config file {} does not exist", f.display())));
                }
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("offerbridge.toml")),
        }
        fig = fig.merge(Env::prefixed("OFFERBRIDGE_").split("__"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            fig = fig.merge(Serialized::default("database_url", url));
        }
        refuse_unknown_keys(&fig)?;
        let mut cfg: Config = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        if cfg.database_url.is_empty() {
            cfg.database_url = format!("sqlite://{}?mode=rwc", cfg.data_dir.join("offerbridge.db").display());
        }
        crate::netguard::TargetPolicy::new(&cfg.agent.allowed_networks).map_err(ConfigError)?;
        Ok(cfg)
    }

    /// The agent id: configured, or `hostname-pid`.
    pub fn agent_id(&self) -> String {
        self.agent.id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "agent".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

#[cfg(test)]
mod deploy_files {
    use super::{NOT_CONFIG, known_keys};

    /// Every `OFFERBRIDGE_*` variable the deploy files and the operator docs name is a
    /// configuration key (or `OFFERBRIDGE_CONFIG`): the binary refuses unknown ones, so a typo
    /// there would stop a deployment at start.
    #[test]
    fn the_deploy_files_name_only_real_configuration_keys() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let known = known_keys();
        let mut seen = 0;
        for file in ["deploy/Dockerfile", "deploy/compose.yaml", "deploy/offerbridge.service", "OPERATIONS.md", "README.md"] {
            let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
            for (i, _) in text.match_indices("OFFERBRIDGE_") {
                let name: String = text[i + "OFFERBRIDGE_".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let key = name.to_ascii_lowercase().replace("__", ".");
                // README shows `OFFERBRIDGE_LISEN` as the typo that is refused.
                if key.is_empty() || key.ends_with('_') || key == "lisen" {
                    continue;
                }
                seen += 1;
                assert!(
                    known.contains(&key) || NOT_CONFIG.contains(&key.as_str()),
                    "{file}: OFFERBRIDGE_{name} is not a configuration key"
                );
            }
        }
        assert!(seen > 20, "the files were read ({seen} variables)");
    }
}
