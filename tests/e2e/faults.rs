//! The fault matrix: for each JSON platform family (HasOffers, Everflow, Affise, Trackier,
//! Offer18, and the declarative twins of the last two), a real import through the wizard, then refreshes against a fake platform that
//! injects one fault at a time:
//!
//! - transport faults on every request (HTTP 500, 429 with Retry-After, a truncated body, an
//!   HTML page, an empty body, then 401): the run FAILS with the fault's code, the platform is
//!   asked the expected number of times, and no campaign changes;
//! - each field of the first offer sent with the wrong type (an object where the platform sends
//!   text, a number or a list): the run never fails, no campaign is paused or vanished, and the
//!   damaged offer either keeps its campaign exactly (logged OFFER_INVALID) or the field is one
//!   the connector does not read.
//!
//! The matrix is printed (platform, fault, run status, code, requests, outcome).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use domain::entity::{campaign, campaign_payout, log_entry, sync_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::{
    fidelity::{Answer, hasoffers_feed, import, offer18_feed, platform, sync_again},
    harness::App,
};

/// A transport fault applied to every request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    Http500,
    TooMany,
    Truncated,
    Html,
    Empty,
    Refused,
}

struct Family {
    connector: &'static str,
    creds: Vec<(&'static str, String)>,
}

/// What a campaign looks like to an admin, for before/after comparisons.
async fn snapshot(app: &App, integration_id: i64) -> Vec<(String, String)> {
    let mut out = vec![];
    for c in campaign::Entity::find()
        .filter(campaign::Column::IntegrationId.eq(integration_id))
        .order_by_asc(campaign::Column::ExternalId)
        .all(&app.db)
        .await
        .expect("campaigns")
    {
        let payouts: Vec<String> = campaign_payout::Entity::find()
            .filter(campaign_payout::Column::CampaignId.eq(c.id))
            .order_by_asc(campaign_payout::Column::Id)
            .all(&app.db)
            .await
            .expect("payouts")
            .into_iter()
            .map(|p| format!("{:?}/{:?}/{}/{}/{}", p.country, p.goal, p.revenue, p.payout, p.currency))
            .collect();
        let view = format!(
            "{:?}|{:?}|{:?}|{}|{:?}|{}|{:?}|{}|{}|{}|{}|{:?}|{:?}|{}|{}|{}|{:?}|{:?}|{:?}|{:?}",
            c.category,
            c.impression_url,
            c.thumbnail_url,
            c.devices,
            c.model,
            c.title,
            c.description,
            c.status,
            c.revenue,
            c.payout,
            c.currency,
            c.tracking_url,
            c.preview_url,
            c.countries,
            c.blocked_countries,
            c.os,
            c.expires_at,
            c.vanished_at,
            c.paused_by,
            payouts
        );
        out.push((c.external_id, view));
    }
    out
}

/// Serves `body` (or the fault) for every request; HasOffers' account call gets its own answer.
fn faulty(body: Arc<Mutex<Value>>, fault: Arc<Mutex<Fault>>, hasoffers: bool) -> Answer {
    Arc::new(move |_path, q: &HashMap<String, String>| {
        let f = *fault.lock().unwrap_or_else(|e| e.into_inner());
        let text = if hasoffers && q.get("Method").map(String::as_str) == Some("getContext") {
            json!({"request": {}, "response": {"status": 1, "httpStatus": 200, "errors": [], "errorMessage": null,
                "data": {"AffiliateUser": {"id": "7"}, "BrandPreferences": {"network_currency": "EUR"}}}})
            .to_string()
        } else {
            body.lock().unwrap_or_else(|e| e.into_inner()).to_string()
        };
        match f {
            Fault::None => (200, "application/json", text),
            Fault::Http500 => (500, "application/json", json!({"error": "internal"}).to_string()),
            Fault::TooMany => (429, "application/json", json!({"error": "slow down"}).to_string()),
            Fault::Truncated => (200, "application/json", text[..text.len() / 2].to_string()),
            Fault::Html => (200, "text/html", "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>".into()),
            Fault::Empty => (200, "application/json", String::new()),
            Fault::Refused => (401, "application/json", json!({"error": "invalid api key"}).to_string()),
        }
    })
}

/// The platforms, each with a one-page feed of two offers and where its first offer lives.
fn families(base: &str) -> Vec<(Family, Value, Vec<&'static str>)> {
    let ef_offer = |id: u32| crate::sync::offer(id, "2.5", &["US"]);
    let affise_offer = |id: u32| {
        json!({"id": id, "title": format!("Affise {id}"), "preview_url": "https://shop.test/a", "link": format!("https://trk.affise.test/c?o={id}"),
            "countries": ["US"], "description_lang": {"en": "<p>Hi</p>"}, "categories": ["Retail"],
            "payments": [{"countries": [], "goal": "1", "revenue": "3.5", "currency": "USD", "type": "fixed"}]})
    };
    let mut trackier: Value =
        serde_json::from_str(include_str!("../../agent/fixtures/trackier/campaigns_assembled_from_spec_examples.json")).expect("fixture");
    let second = {
        let mut t = trackier["data"]["campaigns"][0].clone();
        t["id"] = json!("19");
        t["title"] = json!("Second");
        t
    };
    trackier["data"]["campaigns"].as_array_mut().expect("campaigns").push(second);
    trackier["data"]["count"] = json!(2);
    let ho = {
        let mut f = hasoffers_feed();
        let keep: serde_json::Map<String, Value> = f
            .as_object_mut()
            .expect("map")
            .iter()
            .filter(|(k, _)| ["101", "105"].contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        json!({"request": {}, "response": {"status": 1, "httpStatus": 200, "errors": [], "errorMessage": null,
            "data": {"page": 1, "current": 2, "count": 2, "pageCount": 1, "data": keep}}})
    };
    let o18: Value = serde_json::from_str(&offer18_feed()).expect("feed");
    let url = |k: &'static str| (k, base.to_string());
    let key = |k: &'static str| (k, "k3y-0123456789".to_string());
    vec![
        (
            Family { connector: "hasoffers", creds: vec![("network_id", "demo".into()), key("api_key"), url("api_url")] },
            ho,
            vec!["response", "data", "data", "101", "Offer"],
        ),
        (
            Family { connector: "everflow", creds: vec![key("api_key"), url("api_url")] },
            json!({"offers": [ef_offer(1), ef_offer(2)], "paging": {"page": 1, "page_size": 50, "total_count": 2}}),
            vec!["offers", "0"],
        ),
        (
            Family { connector: "affise", creds: vec![key("api_key"), url("api_url")] },
            json!({"status": 1, "offers": [affise_offer(901), affise_offer(902)], "pagination": {"per_page": 100, "total_count": 2, "page": 1}}),
            vec!["offers", "0"],
        ),
        (Family { connector: "trackier", creds: vec![key("api_key"), url("api_url")] }, trackier, vec!["data", "campaigns", "0"]),
        (
            Family { connector: "offer18", creds: vec![key("key"), ("aid", "5".into()), ("mid", "9".into()), url("api_url")] },
            o18,
            vec!["data", "00011"],
        ),
    ]
}

fn at<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap_or(0)],
        other => &mut other[*k],
    })
}

#[tokio::test]
async fn every_fault_on_every_platform_changes_no_campaign_wrongly() {
    let mut table = vec![];
    let mut changed: Vec<String> = vec![];
    // The declarative twins of Trackier and Offer18 read the same feeds.
    for (n, twin) in [(0, None), (1, None), (2, None), (3, None), (3, Some("trackier-spec")), (4, None), (4, Some("offer18-spec"))] {
        let app = App::start_with(true, |c| {
            c.agent.max_attempts = 2;
            c.agent.max_backoff = Duration::from_secs(2);
            c.agent.cache_ttl = Duration::ZERO;
        })
        .await;
        let body = Arc::new(Mutex::new(Value::Null));
        let fault = Arc::new(Mutex::new(Fault::None));
        let hasoffers_family = n == 0;
        let (base, asked) = platform(faulty(body.clone(), fault.clone(), hasoffers_family)).await;
        let (mut family, feed, first) = families(&base).swap_remove(n);
        family.connector = twin.unwrap_or(family.connector);
        *body.lock().unwrap_or_else(|e| e.into_inner()) = feed.clone();
        let creds: Vec<(&str, &str)> = family.creds.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run = import(&app, family.connector, &creds).await;
        assert!(matches!(run.status.as_str(), "succeeded" | "partially_succeeded"), "{}: first import {run:?}", family.connector);
        let iid = run.integration_id;
        // Every column updatable: a wrong value anywhere would show.
        let v =
            app.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": iid.to_string()})).await["integration"]["version"]
                .clone();
        app.ok(
            "mutation($id: ID!, $v: Int!) { updateIntegration(id: $id, version: $v, input: {settings: {refreshMinutes: 60, redirectType: HTTP_302,
               updatableColumns: [TITLE, DESCRIPTION, PREVIEW_URL, TRACKING_URL, IMPRESSION_URL, THUMBNAIL, STATUS, CATEGORY, CURRENCY, REVENUE,
                                  PAYOUT, MODEL, COUNTRIES, OS, DEVICES, EXPIRY, CAPS]}}) { version } }",
            json!({"id": iid.to_string(), "v": v}),
        )
        .await;
        let good = snapshot(&app, iid).await;
        assert_eq!(good.len(), 2, "{}: two campaigns imported", family.connector);
        let mut last = run.id;

        // Transport faults: the run fails with the fault's code and nothing changes.
        for (f, code, asks) in [
            (Fault::Http500, "UPSTREAM_UNAVAILABLE", 2),
            (Fault::TooMany, "UPSTREAM_RATE_LIMITED", 2),
            (Fault::Truncated, "UPSTREAM_INVALID_PAYLOAD", 1),
            (Fault::Html, "UPSTREAM_INVALID_PAYLOAD", 1),
            (Fault::Empty, "UPSTREAM_INVALID_PAYLOAD", 1),
            (Fault::Refused, "UPSTREAM_UNAUTHORIZED", 1),
        ] {
            *fault.lock().unwrap_or_else(|e| e.into_inner()) = f;
            asked.lock().unwrap_or_else(|e| e.into_inner()).clear();
            let r = sync_again(&app, iid, last).await;
            last = r.id;
            let requests = asked.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|p| !p.contains("getContext")).count();
            table.push(format!(
                "{:<9} {:<10} {:<8} {:<26} requests {requests}",
                family.connector,
                format!("{f:?}"),
                r.status,
                r.error_code.clone().unwrap_or_default()
            ));
            assert_eq!((r.status.as_str(), r.error_code.as_deref()), ("failed", Some(code)), "{} {f:?}: {r:?}", family.connector);
            // HasOffers asks for the account first; refused there, it asks for no page.
            let asks = if hasoffers_family && f == Fault::Refused { 0 } else { asks };
            assert_eq!(requests, asks, "{} {f:?}: page requests made (retried only when worth it)", family.connector);
            assert_eq!(snapshot(&app, iid).await, good, "{} {f:?}: campaigns changed", family.connector);
            if f == Fault::Refused {
                break;
            }
        }
        *fault.lock().unwrap_or_else(|e| e.into_inner()) = Fault::None;
        // Refused credentials disable the integration until they are saved again.
        let cr: Vec<Value> = family.creds.iter().map(|(f, v)| json!({"field": f, "value": v})).collect();
        let v =
            app.ok("query($id: ID!) { integration(id: $id) { version } }", json!({"id": iid.to_string()})).await["integration"]["version"]
                .clone();
        app.ok(
            "mutation($id: ID!, $v: Int!, $c: [CredentialInput!]!) { updateIntegration(id: $id, version: $v, input: {credentials: $c}) { version } }",
            json!({"id": iid.to_string(), "v": v, "c": cr}),
        )
        .await;

        // Each field of the first offer with the wrong type.
        let keys: Vec<String> = at(&mut feed.clone(), &first).as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for k in keys {
            let mut damaged = feed.clone();
            // An object where the platform sends text or a number; text where it sends a list
            // or an object.
            let slot = &mut at(&mut damaged, &first)[k.as_str()];
            *slot = if slot.is_object() || slot.is_array() { json!("wrong type") } else { json!({"wrong": ["type"]}) };
            *body.lock().unwrap_or_else(|e| e.into_inner()) = damaged;
            let r = sync_again(&app, iid, last).await;
            last = r.id;
            let now = snapshot(&app, iid).await;
            let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(r.id)).all(&app.db).await.expect("logs");
            let invalid = logs.iter().any(|l| l.code == "OFFER_INVALID");
            let outcome = if now == good { if invalid { "kept, OFFER_INVALID" } else { "not read" } } else { "CHANGED" };
            table.push(format!("{:<9} {:<28} {:<19} {}", family.connector, k, r.status, outcome));
            assert_ne!(r.status, "failed", "{} field {k}: one offer's field failed the run: {r:?}", family.connector);
            if now != good {
                changed.push(format!("{} {k}", family.connector));
                // Back to the healthy feed, so one field's damage does not leak into the next.
                *body.lock().unwrap_or_else(|e| e.into_inner()) = feed.clone();
                last = sync_again(&app, iid, last).await.id;
            }
            assert!(!logs.iter().any(|l| l.code == "CAMPAIGN_PAUSED"), "{} field {k}: paused a campaign", family.connector);
        }
        *body.lock().unwrap_or_else(|e| e.into_inner()) = feed.clone();
        let r = sync_again(&app, iid, last).await;
        assert_eq!(r.status, "succeeded", "{}: healthy again", family.connector);
        let runs = sync_run::Entity::find().filter(sync_run::Column::IntegrationId.eq(iid)).all(&app.db).await.expect("runs");
        assert!(runs.iter().all(|r| r.finished_at.is_some()), "no run left open");
    }
    println!("fault matrix:\n{}", table.join("\n"));
    assert!(changed.is_empty(), "a field of the wrong type changed a campaign: {changed:?}");
}
