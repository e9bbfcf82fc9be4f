//! The service starts, answers health checks and GraphQL, and guards its API with tokens.

use domain::model::Role;
use serde_json::json;

use crate::harness::{App, code};

#[test]
fn schema_graphql_is_what_the_code_serves() {
    let checked_in = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    assert!(
        checked_in == gateway::sdl(),
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[tokio::test]
async fn health_readiness_and_typename_over_http() {
    let app = App::start(false).await;
    let h = app.http.get(format!("{}/healthz", app.base)).send().await.expect("healthz");
    assert_eq!(h.status(), 200);
    let r = app.http.get(format!("{}/readyz", app.base)).send().await.expect("readyz");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap_or_default(), "ready");
    let d = app.ok("{ __typename }", json!({})).await;
    assert_eq!(d["__typename"], "Query");
}

#[tokio::test]
async fn the_catalog_lists_every_native_connector_with_its_credential_fields() {
    let app = App::start(false).await;
    let d = app
        .ok("{ connectors { id displayName kind credentialFields { name required secret } rateLimitRequests approvedOnly } }", json!({}))
        .await;
    let list = d["connectors"].as_array().cloned().unwrap_or_default();
    for id in ["hasoffers", "everflow", "affise", "cake", "trackier", "offer18"] {
        let c = list.iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("{id} missing from the catalog"));
        assert_eq!(c["kind"], "native");
        assert!(c["credentialFields"].as_array().is_some_and(|f| f.iter().any(|f| f["secret"] == true)), "{id} declares no secret field");
    }
}

#[tokio::test]
async fn no_token_is_unauthenticated_and_a_viewer_cannot_mutate() {
    let app = App::start(false).await;
    let r = app.gql_as(None, "{ advertisers { id } }", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    let r = app.gql_as(Some("obt_not-a-real-token"), "{ advertisers { id } }", json!({})).await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    let viewer = app.token(Role::Viewer).await;
    let r = app.gql_as(Some(&viewer), "{ advertisers { id } }", json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
    let r = app.gql_as(Some(&viewer), "mutation { createAdvertiser(input: {name: \"A\"}) { id } }", json!({})).await;
    assert_eq!(code(&r), "FORBIDDEN");
    let editor = app.token(Role::Editor).await;
    let r = app.gql_as(Some(&editor), "mutation { createAdvertiser(input: {name: \"A\"}) { id } }", json!({})).await;
    assert!(r.get("errors").is_none(), "{r}");
}

#[tokio::test]
async fn queries_over_get_and_graphiql_in_a_browser() {
    let app = App::start(false).await;
    let r = app
        .http
        .get(format!("{}/graphql", app.base))
        .query(&[("query", "{ __typename }")])
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["data"]["__typename"], "Query");
    let page = app.http.get(format!("{}/graphql", app.base)).header("accept", "text/html").send().await.expect("graphiql");
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("graphiql") && html.contains("/graphql/ws"), "GraphiQL page must wire the WebSocket endpoint");
}

/// A misspelt configuration key would silently leave its default in force: every command
/// refuses it, names where it came from, suggests the nearest key, and creates nothing.
#[test]
fn unknown_configuration_keys_are_refused_with_the_nearest_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |envs: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_offerbridge"));
        c.arg("migrate").current_dir(dir.path()).env("OFFERBRIDGE_DATA_DIR", dir.path()).env_remove("DATABASE_URL");
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OFFERBRIDGE_")) {
            c.env_remove(k);
        }
        c.env("OFFERBRIDGE_DATA_DIR", dir.path());
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c.output().expect("run offerbridge");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = run(&[("OFFERBRIDGE_LISEN", "127.0.0.1:0")]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("unknown configuration key OFFERBRIDGE_LISEN") && err.contains("did you mean OFFERBRIDGE_LISTEN?"), "{err}");
    let (code, err) = run(&[("OFFERBRIDGE_GATEWAY__MAX_DEPT", "3")]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("did you mean OFFERBRIDGE_GATEWAY__MAX_DEPTH?"), "{err}");
    std::fs::write(dir.path().join("offerbridge.toml"), "[gateway]\nmax_dept = 3\n").expect("write config");
    let (code, err) = run(&[]);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("unknown configuration key 'gateway.max_dept' (configuration file); did you mean 'gateway.max_depth'?"), "{err}");
    assert!(!dir.path().join("offerbridge.db").exists(), "nothing is created under a refused configuration");
    // Valid keys still work.
    std::fs::write(dir.path().join("offerbridge.toml"), "[gateway]\nmax_depth = 12\n").expect("write config");
    let (code, err) =
        run(&[("OFFERBRIDGE_AGENT__CONCURRENCY", "2"), ("OFFERBRIDGE_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")]);
    assert_eq!(code, Some(0), "{err}");
}

/// Only `serve` and `migrate` create a database: a command run in the wrong folder says which
/// database it looked for instead of starting on a new, empty one.
#[test]
fn only_serve_and_migrate_create_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_offerbridge"));
        c.args(args).current_dir(dir.path()).env_remove("DATABASE_URL");
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OFFERBRIDGE_")) {
            c.env_remove(k);
        }
        c.env("OFFERBRIDGE_DATA_DIR", dir.path()).env("OFFERBRIDGE_SECRET_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
        let out = c.output().expect("run offerbridge");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let db = dir.path().join("offerbridge.db");
    for args in [&["token", "list"][..], &["token", "create", "--role", "admin", "--name", "x"], &["sync", "1"]] {
        let (code, _, err) = run(args);
        assert_ne!(code, Some(0), "{args:?}: {err}");
        assert!(err.contains(&format!("no database at {}", db.display())) && err.contains("offerbridge migrate"), "{args:?}: {err}");
        assert!(!db.exists(), "{args:?} created a database");
    }
    let (code, _, err) = run(&["migrate"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(db.exists());
    let (code, out, err) = run(&["token", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("name"), "{out}");
}
