//! Field fidelity: for each platform, a feed in the platform's documented wire format that
//! exercises every field the connector maps (quirks included) is imported through the wizard's
//! fields (createIntegration + finalizeIntegration) by a real agent, and every resulting
//! campaign is compared field by field with what the platform's documentation says the offer
//! means. Each platform prints a table row (offers, fields compared, mismatches); the goal,
//! asserted, is 0 mismatches.
//!
//! The meaning of each field is stated next to the offer that exercises it, with the research
//! section (../shared/research/advertiser-apis.md) it comes from.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Query, Request},
    response::{IntoResponse, Response},
};
use domain::entity::{campaign, campaign_cap, campaign_payout, log_entry, sync_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::{
    api::advertiser,
    harness::{App, eventually},
};

/// One answer of the fake platform: (status, content type, body), chosen from the request's
/// path and query.
pub(crate) type Answer = Arc<dyn Fn(&str, &HashMap<String, String>) -> (u16, &'static str, String) + Send + Sync>;

/// A platform on 127.0.0.1:0 that answers with `answer` and records every path asked.
pub(crate) async fn platform(answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(vec![]));
    let log = asked.clone();
    let app = Router::new().fallback(move |Query(q): Query<HashMap<String, String>>, req: Request| {
        let answer = answer.clone();
        let log = log.clone();
        async move {
            let path = req.uri().path().to_string();
            log.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{path}?{}", req.uri().query().unwrap_or_default()));
            let (status, ct, body) = answer(&path, &q);
            let mut r: Response = body.into_response();
            *r.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            r.headers_mut().insert("content-type", axum::http::HeaderValue::from_static(ct));
            r
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, asked)
}

/// A payout row: (goal, country, excluded countries, revenue, payout type, currency).
type PayoutWant = (Option<&'static str>, Option<&'static str>, Vec<&'static str>, &'static str, &'static str, &'static str);

/// The campaign an offer must become (or the reason it must be skipped).
#[derive(Debug, Clone, Default)]
struct Want {
    id: &'static str,
    /// A stable skip code (the offer must not become a campaign); the rest is ignored.
    skipped: Option<&'static str>,
    status: &'static str,
    upstream: &'static str,
    currency: &'static str,
    revenue: &'static str,
    payout_type: &'static str,
    model: Option<&'static str>,
    countries: Vec<&'static str>,
    blocked_countries: Vec<&'static str>,
    os: Vec<&'static str>,
    devices: Vec<&'static str>,
    tracking_url: Option<&'static str>,
    impression_url: Option<&'static str>,
    thumbnail_url: Option<&'static str>,
    preview_url: Option<&'static str>,
    description_text: Option<&'static str>,
    category: Option<&'static str>,
    expires_at: Option<&'static str>,
    payouts: Vec<PayoutWant>,
    /// (event, period, value, goal)
    caps: Vec<(&'static str, &'static str, &'static str, Option<&'static str>)>,
}

fn dec(s: &str) -> rust_decimal::Decimal {
    s.parse().unwrap_or_else(|_| panic!("decimal {s}"))
}

/// Creates the integration through the wizard's fields, finalises it and waits for the first
/// import to end; returns the run.
pub(crate) async fn import(app: &App, connector: &str, creds: &[(&str, &str)]) -> sync_run::Model {
    let adv = advertiser(app, &format!("Adv {connector}")).await;
    let credentials: Vec<Value> = creds.iter().map(|(f, v)| json!({"field": f, "value": v})).collect();
    let d = app
        .ok(
            "mutation($a: ID!, $c: String!, $cr: [CredentialInput!]!) { createIntegration(input: {name: \"Fidelity\", connector: $c,
               advertiserId: $a, credentials: $cr}) { id } }",
            json!({"a": adv, "c": connector, "cr": credentials}),
        )
        .await;
    let id = d["createIntegration"]["id"].as_str().unwrap_or_default().to_string();
    app.ok("mutation($id: ID!) { finalizeIntegration(id: $id, force: true) { lifecycle } }", json!({"id": id})).await;
    finished_run(app, id.parse().unwrap_or_default(), 0).await
}

/// Waits for the integration's first run after run `after` to end, and returns it.
pub(crate) async fn finished_run(app: &App, integration_id: i64, after: i64) -> sync_run::Model {
    eventually(60, "the run to finish", || async {
        sync_run::Entity::find()
            .filter(sync_run::Column::IntegrationId.eq(integration_id))
            .filter(sync_run::Column::Id.gt(after))
            .order_by_asc(sync_run::Column::Id)
            .one(&app.db)
            .await
            .ok()
            .flatten()
            .filter(|r| !matches!(r.status.as_str(), "running" | "queued"))
    })
    .await
}

/// Compares every campaign of the run's integration with `wants`; returns (fields compared,
/// mismatches described).
async fn compare(app: &App, run: &sync_run::Model, wants: &[Want]) -> (usize, Vec<String>) {
    let campaigns: BTreeMap<String, campaign::Model> = campaign::Entity::find()
        .filter(campaign::Column::IntegrationId.eq(run.integration_id))
        .all(&app.db)
        .await
        .expect("campaigns")
        .into_iter()
        .map(|c| (c.external_id.clone(), c))
        .collect();
    let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(run.id)).all(&app.db).await.expect("logs");
    let mut compared = 0;
    let mut bad = vec![];
    let mut check = |offer: &str, field: &str, got: String, want: String| {
        compared += 1;
        if got != want {
            bad.push(format!("offer {offer} {field}: got {got}, want {want}"));
        }
    };
    for w in wants {
        let c = campaigns.get(w.id);
        if let Some(code) = w.skipped {
            check(w.id, "imported", c.is_some().to_string(), "false".into());
            let logged = logs.iter().find(|l| l.offer_external_id.as_deref() == Some(w.id)).map(|l| l.code.clone());
            check(w.id, "skip reason", format!("{logged:?}"), format!("{:?}", Some(code)));
            continue;
        }
        let Some(c) = c else {
            let why = logs.iter().find(|l| l.offer_external_id.as_deref() == Some(w.id)).map(|l| l.message.clone());
            check(w.id, "imported", format!("false ({why:?})"), "true".into());
            continue;
        };
        let list = |s: &str| {
            let mut v: Vec<String> = serde_json::from_str(s).unwrap_or_default();
            v.sort();
            v
        };
        let sorted = |v: &[&str]| {
            let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            v.sort();
            v
        };
        check(w.id, "status", c.status.clone(), w.status.into());
        check(w.id, "upstream status", format!("{:?}", c.upstream_status), format!("{:?}", Some(w.upstream)));
        check(w.id, "currency", c.currency.clone(), w.currency.into());
        check(w.id, "revenue", dec(&c.revenue).normalize().to_string(), dec(w.revenue).normalize().to_string());
        check(w.id, "payout type", c.payout_type.clone(), w.payout_type.into());
        check(w.id, "model", format!("{:?}", c.model), format!("{:?}", w.model));
        check(w.id, "countries", format!("{:?}", list(&c.countries)), format!("{:?}", sorted(&w.countries)));
        check(w.id, "blocked countries", format!("{:?}", list(&c.blocked_countries)), format!("{:?}", sorted(&w.blocked_countries)));
        check(w.id, "os", format!("{:?}", list(&c.os)), format!("{:?}", sorted(&w.os)));
        check(w.id, "devices", format!("{:?}", list(&c.devices)), format!("{:?}", sorted(&w.devices)));
        check(w.id, "tracking url", format!("{:?}", c.tracking_url), format!("{:?}", w.tracking_url));
        check(w.id, "impression url", format!("{:?}", c.impression_url), format!("{:?}", w.impression_url));
        check(w.id, "thumbnail url", format!("{:?}", c.thumbnail_url), format!("{:?}", w.thumbnail_url));
        check(w.id, "preview url", format!("{:?}", c.preview_url), format!("{:?}", w.preview_url));
        check(w.id, "description", format!("{:?}", c.description_text), format!("{:?}", w.description_text));
        check(w.id, "category", format!("{:?}", c.category), format!("{:?}", w.category));
        check(w.id, "expires at", format!("{:?}", c.expires_at.map(|t| t.to_rfc3339())), format!("{:?}", w.expires_at));
        let payouts = campaign_payout::Entity::find()
            .filter(campaign_payout::Column::CampaignId.eq(c.id))
            .order_by_asc(campaign_payout::Column::Id)
            .all(&app.db)
            .await
            .expect("payouts");
        let mut got: Vec<String> = payouts
            .iter()
            .map(|p| {
                format!(
                    "{:?} {:?} {:?} {} {} {}",
                    p.goal,
                    p.country,
                    list(&p.excluded_countries),
                    dec(&p.revenue).normalize(),
                    p.payout_type,
                    p.currency
                )
            })
            .collect();
        let mut want: Vec<String> = w
            .payouts
            .iter()
            .map(|(g, country, ex, rev, t, cur)| {
                format!("{:?} {:?} {:?} {} {t} {cur}", g.map(str::to_string), country.map(str::to_string), sorted(ex), dec(rev).normalize())
            })
            .collect();
        got.sort();
        want.sort();
        check(w.id, "payouts", format!("{got:?}"), format!("{want:?}"));
        let caps = campaign_cap::Entity::find()
            .filter(campaign_cap::Column::CampaignId.eq(c.id))
            .filter(campaign_cap::Column::Source.eq("upstream"))
            .all(&app.db)
            .await
            .expect("caps");
        let mut got: Vec<String> =
            caps.iter().map(|k| format!("{} {} {} {:?}", k.event, k.period, dec(&k.value).normalize(), k.goal)).collect();
        let mut want: Vec<String> =
            w.caps.iter().map(|(e, p, v, g)| format!("{e} {p} {} {:?}", dec(v).normalize(), g.map(str::to_string))).collect();
        got.sort();
        want.sort();
        check(w.id, "caps", format!("{got:?}"), format!("{want:?}"));
    }
    (compared, bad)
}

/// Imports `wants`' feed through `connector` and asserts 0 mismatches, printing the table row.
async fn assert_fidelity(app: &App, connector: &str, creds: &[(&str, &str)], wants: &[Want], run_status: &str) -> sync_run::Model {
    let run = import(app, connector, creds).await;
    let (compared, bad) = compare(app, &run, wants).await;
    println!("| {connector} | {} offers | {compared} fields compared | {} mismatches |", wants.len(), bad.len());
    assert!(bad.is_empty(), "{connector}: {} mismatches:\n{}", bad.len(), bad.join("\n"));
    assert_eq!(run.status, run_status, "{connector} run: {:?} {:?}", run.error_code, run.error_message);
    run
}

// ---------------------------------------------------------------------------------------------
// HasOffers (research §1): findMyApprovedOffers with contain[] (TrackingLink, Country,
// OfferCategory, OfferOperatingSystem, Goal), getContext for the network currency.

pub(crate) fn hasoffers_feed() -> Value {
    let link = |id: u32| json!({"click_url": format!("https://trk.ho.test/aff_c?offer_id={id}&aff_id=7"), "impression_pixel": ""});
    let offer = |id: u32, extra: Value| {
        let mut o = json!({"id": id.to_string(), "name": format!("HO {id}"), "description": "", "preview_url": format!("https://shop.test/{id}"),
            "currency": null, "default_payout": "2.50000", "percent_payout": null, "payout_type": "cpa_flat", "status": "active",
            "is_expired": "0", "expiration_date": "2030-12-31 23:59:59", "conversion_cap": "0", "monthly_conversion_cap": "0",
            "payout_cap": "0.00", "require_approval": "0"});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            o[k] = v;
        }
        o
    };
    json!({
        // §1.5 `currency: null` = "this Offer uses the default Network currency" (EUR from
        // getContext); `Goal` rows pay per goal (§1.7); `conversion_cap` "Maximum number of
        // conversions allowed per day"; OfferOperatingSystem names are normalised.
        "101": {"Offer": offer(101, json!({"description": "<p>Deposit &amp; play</p>", "conversion_cap": "50"})),
                // §1.6(g): `impression_pixel` is an <img> tag; its src is the impression URL.
                "TrackingLink": {"click_url": "https://trk.ho.test/aff_c?offer_id=101&aff_id=7",
                                 "impression_pixel": "<img src=\"https://trk.ho.test/aff_i?offer_id=101&amp;aff_id=7\" width=\"1\" height=\"1\" />"},
                // §1.6(f): `Thumbnail` is a single object; `thumbnail` is the small image.
                "Thumbnail": {"id": "9", "url": "https://media.ho.test/101.png", "thumbnail": "https://media.ho.test/thumbnails_100/101.png"},
                "Country": {"US": {"code": "US"}, "CA": {"code": "CA"}},
                "OfferCategory": {"3": {"id": "3", "name": "Finance"}},
                "OfferOperatingSystem": {"1": {"attribute": "Operating System", "name": "iOS"}},
                "Goal": {"5": {"id": "5", "name": "Deposit", "payout_type": "cpa_flat", "default_payout": "7.00", "percent_payout": null, "status": "active"},
                         "6": {"id": "6", "name": "Old", "payout_type": "cpa_flat", "default_payout": "1.00", "status": "deleted"}}},
        // `status: paused` upstream: paused here, whatever the imported status.
        "102": {"Offer": offer(102, json!({"status": "paused", "currency": "USD", "payout_type": "cpa_percentage", "percent_payout": "12.50", "default_payout": null})),
                "TrackingLink": link(102), "Country": [], "OfferOperatingSystem": {"2": {"name": "Mac OS X"}}},
        // `status: pending`: not active.
        "103": {"Offer": offer(103, json!({"status": "pending"})), "TrackingLink": link(103), "Country": []},
        // `is_expired: "1"`: expired upstream, with a zero date.
        "104": {"Offer": offer(104, json!({"is_expired": "1", "expiration_date": "0000-00-00 00:00:00"})), "TrackingLink": link(104)},
        // `cpa_both`: a flat amount plus a percentage; the flat part is the default.
        "105": {"Offer": offer(105, json!({"payout_type": "cpa_both", "default_payout": "3.00", "percent_payout": "5.00", "monthly_conversion_cap": "900"})),
                "TrackingLink": link(105), "Country": {"DE": {"code": "DE"}}},
        // No tracking link: not runnable.
        "106": {"Offer": offer(106, json!({})), "Country": []}
    })
}

fn hasoffers_wants() -> Vec<Want> {
    let base = |id: &'static str| Want {
        id,
        status: "active",
        upstream: "active",
        currency: "EUR",
        revenue: "2.5",
        payout_type: "fixed",
        model: Some("cpa"),
        preview_url: None,
        expires_at: Some("2030-12-31T23:59:59+00:00"),
        ..Want::default()
    };
    vec![
        Want {
            countries: vec!["US", "CA"],
            os: vec!["ios"],
            tracking_url: Some("https://trk.ho.test/aff_c?offer_id=101&aff_id=7"),
            impression_url: Some("https://trk.ho.test/aff_i?offer_id=101&aff_id=7"),
            thumbnail_url: Some("https://media.ho.test/thumbnails_100/101.png"),
            preview_url: Some("https://shop.test/101"),
            description_text: Some("Deposit & play"),
            category: Some("Finance"),
            payouts: vec![(Some("5"), None, vec![], "7", "fixed", "EUR")],
            caps: vec![("conversions", "daily", "50", None)],
            ..base("101")
        },
        Want {
            status: "paused",
            upstream: "paused",
            currency: "USD",
            revenue: "12.5",
            payout_type: "percent",
            model: Some("cps"),
            os: vec!["macos"],
            tracking_url: Some("https://trk.ho.test/aff_c?offer_id=102&aff_id=7"),
            preview_url: Some("https://shop.test/102"),
            ..base("102")
        },
        Want {
            status: "pending",
            upstream: "pending",
            tracking_url: Some("https://trk.ho.test/aff_c?offer_id=103&aff_id=7"),
            preview_url: Some("https://shop.test/103"),
            ..base("103")
        },
        Want {
            status: "expired",
            upstream: "expired",
            tracking_url: Some("https://trk.ho.test/aff_c?offer_id=104&aff_id=7"),
            preview_url: Some("https://shop.test/104"),
            expires_at: None,
            ..base("104")
        },
        Want {
            revenue: "3",
            countries: vec!["DE"],
            tracking_url: Some("https://trk.ho.test/aff_c?offer_id=105&aff_id=7"),
            preview_url: Some("https://shop.test/105"),
            payouts: vec![(None, None, vec![], "3", "fixed", "EUR"), (None, None, vec![], "5", "percent", "EUR")],
            caps: vec![("conversions", "monthly", "900", None)],
            ..base("105")
        },
        Want { skipped: Some("NOT_APPROVED"), ..base("106") },
    ]
}

pub(crate) fn hasoffers_answer(feed: Value, network_currency: Option<&'static str>) -> Answer {
    Arc::new(move |_path, q| {
        let envelope = |data: Value| json!({"request": {}, "response": {"status": 1, "httpStatus": 200, "data": data, "errors": [], "errorMessage": null}});
        let body = match q.get("Method").map(String::as_str) {
            Some("getContext") => match network_currency {
                Some(c) => {
                    envelope(json!({"AffiliateUser": {"id": "7"}, "BrandPreferences": {"network_currency": c, "network_name": "Demo"}}))
                }
                None => {
                    json!({"request": {}, "response": {"status": -1, "httpStatus": 200, "data": "", "errors": [{"publicMessage": "Method not allowed"}], "errorMessage": "Method not allowed"}})
                }
            },
            _ => envelope(json!({"page": 1, "current": 0, "count": feed.as_object().map_or(0, |m| m.len()), "pageCount": 1, "data": feed})),
        };
        (200, "application/json", body.to_string().replace('/', "\\/"))
    })
}

#[tokio::test]
async fn hasoffers_campaigns_say_what_hasoffers_says() {
    let app = App::start(true).await;
    let (base, asked) = platform(hasoffers_answer(hasoffers_feed(), Some("EUR"))).await;
    assert_fidelity(
        &app,
        "hasoffers",
        &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base)],
        &hasoffers_wants(),
        "succeeded",
    )
    .await;
    let asked = asked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(asked.iter().any(|a| a.contains("Method=getContext")), "the network currency is read: {asked:?}");
    assert!(asked.iter().any(|a| a.contains("contain%5B%5D=Goal")), "goals are requested: {asked:?}");
}

#[tokio::test]
async fn hasoffers_without_a_known_network_currency_skips_offers_without_one_instead_of_guessing_usd() {
    let app = App::start(true).await;
    let (base, _) = platform(hasoffers_answer(hasoffers_feed(), None)).await;
    let mut wants = hasoffers_wants();
    for w in wants.iter_mut().filter(|w| w.id != "102" && w.id != "106") {
        w.skipped = Some("NO_CURRENCY");
    }
    let run = assert_fidelity(
        &app,
        "hasoffers",
        &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base)],
        &wants,
        "succeeded",
    )
    .await;
    let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(run.id)).all(&app.db).await.expect("logs");
    assert!(logs.iter().any(|l| l.code == "ACCOUNT_CONTEXT_FAILED" && l.message.contains("Method not allowed")), "the admin is told why");
    // The integration's currency field is the documented fallback.
    let app = App::start(true).await;
    let (base, _) = platform(hasoffers_answer(hasoffers_feed(), None)).await;
    assert_fidelity(
        &app,
        "hasoffers",
        &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base), ("currency", "EUR")],
        &hasoffers_wants(),
        "succeeded",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// CAKE (research §4): OfferFeed v4 (XML, no links, campaign_id once the affiliate runs the
// offer) and GetCampaign per campaign for the creatives' unique links.

fn cake_offer(id: u32, campaign: Option<u32>, status: &str, name: &str, payout: &str, price_format: &str, description: &str) -> String {
    let campaign = campaign.map_or("<campaign_id xsi:nil=\"true\" />".to_string(), |c| format!("<campaign_id>{c}</campaign_id>"));
    format!(
        "<offer><offer_id>{id}</offer_id><offer_contract_id>{id}0</offer_contract_id>{campaign}<offer_name>{name}</offer_name>\
         <vertical_name>Games</vertical_name><offer_status><status_id>1</status_id><status_name>{status}</status_name></offer_status>\
         <payout>{payout}</payout><price_format>{price_format}</price_format><preview_link>https://play.test/{id}</preview_link>\
         <description>{description}</description><restrictions>No incent</restrictions>\
         <allowed_countries><country><country_code>US</country_code><country_name>United States</country_name></country></allowed_countries>\
         <expiration_date>2031-01-01T00:00:00</expiration_date><tags /><hidden>false</hidden></offer>"
    )
}

fn cake_answer(offers: Vec<String>, creatives: bool) -> Answer {
    Arc::new(move |path, q| {
        if path.ends_with("/GetCampaign") {
            let c = q.get("campaign_id").cloned().unwrap_or_default();
            let items = if creatives {
                format!(
                    "<creative_info><creative_id>{c}1</creative_id><creative_name>Banner</creative_name>\
                     <unique_link>https://trk.cake.test/?a=42&amp;c={c}1</unique_link></creative_info>"
                )
            } else {
                String::new()
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><campaign_response xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
                 xmlns=\"http://cakemarketing.com/affiliates/api/2/\"><success>true</success><campaign><campaign_id>{c}</campaign_id>\
                 <creatives>{items}</creatives></campaign></campaign_response>"
            );
            return (200, "text/xml; charset=utf-8", body);
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><offer_feed_response xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns=\"http://cakemarketing.com/affiliates/api/4/\"><success>true</success><row_count>{}</row_count><offers>{}</offers></offer_feed_response>",
            offers.len(),
            offers.concat()
        );
        (200, "text/xml; charset=utf-8", body)
    })
}

#[tokio::test]
async fn cake_imports_through_the_wizard_alone_with_creative_links() {
    let app = App::start(true).await;
    let offers = vec![
        // Runs (campaign 500): GetCampaign gives the creative's unique link. "(android)" in
        // the name is the only OS statement the feed has (§4.4).
        cake_offer(1, Some(500), "Active", "Dragons ( android)", "$2.50", "CPA", "&lt;b&gt;Slay&lt;/b&gt; dragons"),
        // A revenue share ("12%", price_format RevShare) is a percentage.
        cake_offer(2, Some(501), "Active", "Shop", "12%", "RevShare", ""),
        // "Win an iPhone" states no OS.
        cake_offer(3, Some(502), "Inactive", "Win an iPhone 15", "$1.00", "CPL", "Sweepstake"),
        // Apply To Run, no campaign: not runnable, no call made.
        cake_offer(4, None, "Apply To Run", "Later", "$9.00", "CPA", ""),
    ];
    let (base, asked) = platform(cake_answer(offers, true)).await;
    let base_want = |id: &'static str| Want {
        id,
        status: "active",
        upstream: "active",
        currency: "USD",
        payout_type: "fixed",
        countries: vec!["US"],
        category: Some("Games"),
        expires_at: Some("2031-01-01T00:00:00+00:00"),
        ..Want::default()
    };
    let wants = vec![
        Want {
            revenue: "2.5",
            model: Some("cpa"),
            os: vec!["android"],
            tracking_url: Some("https://trk.cake.test/?a=42&c=5001"),
            preview_url: Some("https://play.test/1"),
            description_text: Some("Slay dragons"),
            ..base_want("1")
        },
        Want {
            revenue: "12",
            payout_type: "percent",
            model: Some("revshare"),
            tracking_url: Some("https://trk.cake.test/?a=42&c=5011"),
            preview_url: Some("https://play.test/2"),
            ..base_want("2")
        },
        Want {
            status: "paused",
            upstream: "paused",
            revenue: "1",
            model: Some("cpl"),
            tracking_url: Some("https://trk.cake.test/?a=42&c=5021"),
            preview_url: Some("https://play.test/3"),
            description_text: Some("Sweepstake"),
            ..base_want("3")
        },
        Want { skipped: Some("NOT_APPROVED"), ..base_want("4") },
    ];
    assert_fidelity(
        &app,
        "cake",
        &[("api_url", &base), ("api_key", "k3y-0123456789"), ("affiliate_id", "42"), ("currency", "USD")],
        &wants,
        "succeeded",
    )
    .await;
    let asked = asked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let calls: Vec<&String> = asked.iter().filter(|a| a.contains("GetCampaign")).collect();
    assert_eq!(calls.len(), 3, "one GetCampaign per offer with a campaign: {asked:?}");
}

#[tokio::test]
async fn a_feed_that_imports_nothing_is_a_warning_that_says_why_never_a_plain_success() {
    let app = App::start(true).await;
    // Every offer runs, but the platform gives no creative link for any campaign.
    let offers = vec![cake_offer(1, Some(500), "Active", "A", "$1", "CPA", ""), cake_offer(2, Some(501), "Active", "B", "$1", "CPA", "")];
    let (base, _) = platform(cake_answer(offers, false)).await;
    let run = import(&app, "cake", &[("api_url", &base), ("api_key", "k3y-0123456789"), ("affiliate_id", "42"), ("currency", "USD")]).await;
    assert_eq!(run.status, "warning", "{run:?}");
    assert_eq!(run.error_code.as_deref(), Some("NOTHING_IMPORTED"));
    let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(run.id)).all(&app.db).await.expect("logs");
    let offer_log = logs.iter().find(|l| l.offer_external_id.as_deref() == Some("1")).expect("a log line for the offer");
    assert!(offer_log.message.contains("tracking_link_template"), "names the field to fill: {}", offer_log.message);
    let summary = logs.iter().find(|l| l.code == "NOTHING_IMPORTED").expect("a run log line");
    assert!(summary.message.contains("2 OFFER_INVALID"), "{}", summary.message);
    let d = app.ok("query($id: ID!) { syncRun(id: $id) { status errorCode } }", json!({"id": run.id.to_string()})).await;
    assert_eq!(d["syncRun"]["status"], "WARNING", "{d}");
}

// ---------------------------------------------------------------------------------------------
// Affise (research §3): partner offers; payments per goal x geo (`country_exclude` = every geo
// except the listed ones); caps per goal (`goal_type` exact / each).

#[tokio::test]
async fn affise_campaigns_keep_goal_caps_and_exclusion_payouts() {
    let app = App::start(true).await;
    let offer = json!({
        "id": 902, "offer_id": "5a1b", "title": "Affise 902", "preview_url": "https://shop.test/902",
        "description_lang": {"en": "<p>Register &amp; deposit</p>"},
        "link": "https://trk.affise.test/click?pid=610&offer_id=902", "countries": ["US", "GB", "DE"],
        "goals": {"1": "Register", "2": "Deposit"}, "categories": ["Casino"], "stop_at": "2031-02-01 00:00:00", "logo": "",
        "payments": [
            {"countries": [], "goal": "1", "revenue": 1.5, "currency": "usd", "type": "fixed", "country_exclude": false},
            {"countries": ["US"], "goal": "2", "revenue": "20", "currency": "USD", "type": "fixed", "country_exclude": true},
            {"countries": ["US"], "goal": "2", "revenue": "30", "currency": "USD", "type": "fixed", "country_exclude": false}
        ],
        "caps": [
            {"period": "day", "type": "conversions", "value": 100, "goal_type": "exact", "goals": {"2": "Deposit"}, "country_type": "all"},
            {"period": "month", "type": "budget", "value": 5000, "goal_type": "all", "goals": {}, "country_type": "all"},
            {"period": "day", "type": "clicks", "value": 0, "goal_type": "all", "goals": {}, "country_type": "all"}
        ],
        "targeting": [{"os": {"allow": ["iOS 14+", "Android"]}, "country": {"allow": [], "deny": []}, "device_type": ["mobile"]}]
    });
    let stopped = json!({"id": 903, "title": "Affise 903", "status": "stopped", "link": "https://trk.affise.test/click?pid=610&offer_id=903",
        "countries": [], "payments": [{"countries": [], "goal": "1", "revenue": 2, "currency": "EUR", "type": "percent"}]});
    let body = json!({"status": 1, "offers": [offer, stopped], "pagination": {"per_page": 100, "total_count": 2, "page": 1}}).to_string();
    let (base, _) = platform(Arc::new(move |_, _| (200, "application/json", body.clone()))).await;
    let wants = vec![
        Want {
            id: "902",
            status: "active",
            upstream: "active",
            currency: "USD",
            revenue: "1.5",
            payout_type: "fixed",
            model: Some("cpa"),
            countries: vec!["US", "GB", "DE"],
            os: vec!["ios", "android"],
            devices: vec!["mobile"],
            tracking_url: Some("https://trk.affise.test/click?pid=610&offer_id=902"),
            preview_url: Some("https://shop.test/902"),
            description_text: Some("Register & deposit"),
            category: Some("Casino"),
            expires_at: Some("2031-02-01T00:00:00+00:00"),
            payouts: vec![
                (Some("1"), None, vec![], "1.5", "fixed", "USD"),
                (Some("2"), None, vec!["US"], "20", "fixed", "USD"),
                (Some("2"), Some("US"), vec![], "30", "fixed", "USD"),
            ],
            caps: vec![("conversions", "daily", "100", Some("2")), ("payout", "monthly", "5000", None)],
            ..Want::default()
        },
        Want {
            id: "903",
            status: "paused",
            upstream: "paused",
            currency: "EUR",
            revenue: "2",
            payout_type: "percent",
            model: Some("cps"),
            tracking_url: Some("https://trk.affise.test/click?pid=610&offer_id=903"),
            payouts: vec![(Some("1"), None, vec![], "2", "percent", "EUR")],
            ..Want::default()
        },
    ];
    assert_fidelity(&app, "affise", &[("api_url", &base), ("api_key", "k3y-0123456789")], &wants, "succeeded").await;
    // The API shows the cap's goal and the payout's exclusion.
    let d = app
        .ok(
            "{ campaigns(first: 10, filter: {externalIds: [\"902\"]}) { nodes { caps { source goal event period value } payouts { goal country excludedCountries revenue } } } }",
            json!({}),
        )
        .await;
    let c = &d["campaigns"]["nodes"][0];
    assert!(c["caps"].as_array().is_some_and(|a| a.iter().any(|k| k["goal"] == "2" && k["source"] == "UPSTREAM")), "{c}");
    assert!(c["payouts"].as_array().is_some_and(|a| a.iter().any(|p| p["excludedCountries"] == json!(["US"]))), "{c}");
}

// ---------------------------------------------------------------------------------------------
// Offer18 (research §6) and its declarative twin: `model` CPS is revenue share (a percentage),
// OS names normalised, `is_not_equal` country conditions are exclusions.

pub(crate) fn offer18_feed() -> String {
    json!({"response": "200", "data": {
        "00011": {"offerid": "00011", "name": "Shop CPS", "price": "8.5", "model": "CPS", "currency": "usd", "authorized": "true",
            "click_url": "https://trk.o18.test/c?o=11&a=5", "preview_url": "https://shop.test/11", "status": "active",
            "offer_terms": "<p>Buy &amp; save</p>", "os_allow": "Mac OS X, Windows 10", "country_allow": "US, CA",
            "category": "Retail", "date_end": "2031-03-01 00:00:00",
            "payout": [{"payout": "8.5", "currency": "USD", "model": "CPS", "condition": [
                [{"field": "country", "operator_type": "is_not_equal", "value": "CA"}]]}]},
        "00012": {"offerid": "00012", "name": "App CPI", "price": "1.20", "model": "CPI", "currency": "EUR", "authorized": "true",
            "click_url": "https://trk.o18.test/c?o=12&a=5", "status": "paused", "os_allow": "Android 5.0+, all", "country_allow": "DE",
            "capping_conversion": "30", "capping_conversion_period": "daily"}
    }})
    .to_string()
}

fn offer18_wants() -> Vec<Want> {
    vec![
        Want {
            id: "00011",
            status: "active",
            upstream: "active",
            currency: "USD",
            revenue: "8.5",
            payout_type: "percent",
            model: Some("cps"),
            countries: vec!["US", "CA"],
            os: vec!["macos", "windows"],
            tracking_url: Some("https://trk.o18.test/c?o=11&a=5"),
            preview_url: Some("https://shop.test/11"),
            description_text: Some("Buy & save"),
            category: Some("Retail"),
            expires_at: Some("2031-03-01T00:00:00+00:00"),
            payouts: vec![(None, None, vec!["CA"], "8.5", "percent", "USD")],
            ..Want::default()
        },
        Want {
            id: "00012",
            status: "paused",
            upstream: "paused",
            currency: "EUR",
            revenue: "1.2",
            payout_type: "fixed",
            model: Some("cpi"),
            countries: vec!["DE"],
            os: vec!["android"],
            tracking_url: Some("https://trk.o18.test/c?o=12&a=5"),
            caps: vec![("conversions", "daily", "30", None)],
            ..Want::default()
        },
    ]
}

#[tokio::test]
async fn offer18_and_its_declarative_twin_import_revenue_share_as_percent() {
    for connector in ["offer18", "offer18-spec"] {
        let app = App::start(true).await;
        let body = offer18_feed();
        let (base, _) = platform(Arc::new(move |_, _| (200, "application/json", body.clone()))).await;
        assert_fidelity(
            &app,
            connector,
            &[("api_url", &base), ("key", "k3y-0123456789"), ("aid", "5"), ("mid", "9")],
            &offer18_wants(),
            "succeeded",
        )
        .await;
    }
}

/// HasOffers serving whatever `feed` holds at each request (the test edits it between runs).
pub(crate) fn live_hasoffers(feed: Arc<Mutex<Value>>) -> Answer {
    Arc::new(move |p, q| {
        let f = feed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        hasoffers_answer(f, Some("EUR"))(p, q)
    })
}

/// Runs one more sync of the integration and waits for it.
pub(crate) async fn sync_again(app: &App, integration_id: i64, after_run: i64) -> sync_run::Model {
    app.ok("mutation($id: ID!) { syncNow(integrationId: $id) { id } }", json!({"id": integration_id.to_string()})).await;
    finished_run(app, integration_id, after_run).await
}

#[tokio::test]
async fn a_refresh_follows_the_advertiser_status_unless_an_admin_locked_it() {
    let app = App::start(true).await;
    let feed = Arc::new(Mutex::new(hasoffers_feed()));
    let (base, _) = platform(live_hasoffers(feed.clone())).await;
    let run = import(&app, "hasoffers", &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base)]).await;
    let status = |id: &'static str| {
        let db = app.db.clone();
        let iid = run.integration_id;
        async move {
            let c = campaign::Entity::find()
                .filter(campaign::Column::IntegrationId.eq(iid))
                .filter(campaign::Column::ExternalId.eq(id))
                .one(&db)
                .await
                .expect("query")
                .expect("campaign");
            (c.status, c.paused_by)
        }
    };
    assert_eq!(status("101").await, ("active".into(), None));
    assert_eq!(status("102").await, ("paused".into(), Some("upstream".into())));
    // The advertiser pauses 101 and 105 and resumes 102; an admin set 105's status by hand.
    let c105 = campaign::Entity::find().filter(campaign::Column::ExternalId.eq("105")).one(&app.db).await.expect("q").expect("105");
    app.ok(
        "mutation($id: ID!) { updateCampaign(id: $id, input: {status: ACTIVE}) { id lockedColumns } }",
        json!({"id": c105.id.to_string()}),
    )
    .await;
    {
        let mut f = feed.lock().unwrap_or_else(|e| e.into_inner());
        f["101"]["Offer"]["status"] = json!("paused");
        f["105"]["Offer"]["status"] = json!("paused");
        f["102"]["Offer"]["status"] = json!("active");
    }
    let second = sync_again(&app, run.integration_id, run.id).await;
    assert_eq!(second.status, "succeeded", "{second:?}");
    assert_eq!(
        status("101").await,
        ("paused".into(), Some("upstream".into())),
        "paused upstream = paused here, though status is not updatable"
    );
    assert_eq!(status("102").await, ("active".into(), None), "live again upstream: the campaign upstream had stopped runs again");
    assert_eq!(status("105").await.0, "active", "a hand-set status is locked and kept");
    let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(second.id)).all(&app.db).await.expect("logs");
    assert!(
        logs.iter().any(|l| l.code == "COLUMN_LOCKED" && l.offer_external_id.as_deref() == Some("105") && l.message.contains("status"))
    );
    // Back live upstream: 101 resumes.
    feed.lock().unwrap_or_else(|e| e.into_inner())["101"]["Offer"]["status"] = json!("active");
    sync_again(&app, run.integration_id, second.id).await;
    assert_eq!(status("101").await, ("active".into(), None));
}

#[tokio::test]
async fn an_offer_that_turns_malformed_keeps_its_campaign_live_and_is_logged() {
    let app = App::start(true).await;
    let feed = Arc::new(Mutex::new(hasoffers_feed()));
    let (base, _) = platform(live_hasoffers(feed.clone())).await;
    let run = import(&app, "hasoffers", &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base)]).await;
    // 101's payout arrives with the wrong type: the offer is still in the feed.
    feed.lock().unwrap_or_else(|e| e.into_inner())["101"]["Offer"]["default_payout"] = json!({"amount": "2.50"});
    let second = sync_again(&app, run.integration_id, run.id).await;
    assert_eq!(second.status, "partially_succeeded");
    let c = campaign::Entity::find().filter(campaign::Column::ExternalId.eq("101")).one(&app.db).await.expect("q").expect("101");
    assert_eq!((c.status.as_str(), c.paused_by.as_deref(), c.vanished_at), ("active", None, None), "never paused as vanished");
    assert_eq!(dec(&c.revenue), dec("2.5"), "keeps its last good values");
    let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(second.id)).all(&app.db).await.expect("logs");
    assert!(logs.iter().any(|l| l.code == "OFFER_INVALID" && l.offer_external_id.as_deref() == Some("101")));
    assert!(!logs.iter().any(|l| l.code == "CAMPAIGN_PAUSED"));
}

/// A country list that arrives as a string is read as the countries it names; one that cannot
/// be read fails the offer, which keeps its campaign and targeting: neither ever becomes
/// "every country".
#[tokio::test]
async fn a_country_list_of_the_wrong_shape_never_widens_targeting() {
    let app = App::start(true).await;
    let feed = Arc::new(Mutex::new(hasoffers_feed()));
    let (base, _) = platform(live_hasoffers(feed.clone())).await;
    let run = import(&app, "hasoffers", &[("network_id", "demo"), ("api_key", "k3y-0123456789"), ("api_url", &base)]).await;
    let countries = |id: &'static str| {
        let db = app.db.clone();
        async move {
            let c = campaign::Entity::find().filter(campaign::Column::ExternalId.eq(id)).one(&db).await.expect("q").expect("campaign");
            (serde_json::from_str::<Value>(&c.countries).expect("json"), c.status)
        }
    };
    assert_eq!(countries("105").await, (json!(["DE"]), "active".to_string()));
    {
        let mut f = feed.lock().unwrap_or_else(|e| e.into_inner());
        f["101"]["Country"] = json!("US");
        f["105"]["Country"] = json!({"DE": {"id": "276", "name": "Germany"}});
    }
    let second = sync_again(&app, run.integration_id, run.id).await;
    assert_eq!(second.status, "partially_succeeded", "{second:?}");
    assert_eq!(countries("101").await.0, json!(["US"]), "\"US\" is the list [US], not every country");
    assert_eq!(countries("105").await, (json!(["DE"]), "active".to_string()), "unreadable: keeps its last good targeting, live");
    let logs = log_entry::Entity::find().filter(log_entry::Column::RunId.eq(second.id)).all(&app.db).await.expect("logs");
    let invalid = logs.iter().find(|l| l.code == "OFFER_INVALID" && l.offer_external_id.as_deref() == Some("105")).expect("a log line");
    assert!(invalid.message.contains("Country") && invalid.message.contains("has no country code"), "{}", invalid.message);
}

// ---------------------------------------------------------------------------------------------
// Trackier (research §5) and its declarative twin: the publisher campaigns API, assembled from
// the spec's examples (goals with per-geo payouts, caps where 0 = unlimited, "no currency =
// USD").

#[tokio::test]
async fn trackier_and_its_declarative_twin_keep_goal_and_geo_payouts() {
    let mut body: Value =
        serde_json::from_str(include_str!("../../agent/fixtures/trackier/campaigns_assembled_from_spec_examples.json")).expect("fixture");
    // One page: the fixture's total (251) is for a feed we do not serve.
    body["data"]["count"] = json!(1);
    let body = body.to_string();
    let wants = vec![Want {
        id: "18",
        status: "active",
        upstream: "active",
        currency: "USD",
        revenue: "1.87",
        payout_type: "fixed",
        model: Some("cpi"),
        countries: vec!["US", "IN"],
        os: vec!["android"],
        devices: vec!["mobile"],
        tracking_url: Some("https://trk.trackier.com/5acdefeadcxwe3dsad?p1={your-transaction-id}&source={your-sub-aff-id}"),
        preview_url: Some("https://play.google.com/store/apps/details?id=io.appattribution.device"),
        payouts: vec![
            (None, Some("US"), vec![], "1.87", "fixed", "USD"),
            (None, Some("IN"), vec![], "1.87", "fixed", "USD"),
            (Some("5cebd00db6920d7e89622ccf"), Some("US"), vec![], "1.87", "fixed", "USD"),
        ],
        caps: vec![("conversions", "monthly", "928", None)],
        ..Want::default()
    }];
    for connector in ["trackier", "trackier-spec"] {
        let app = App::start(true).await;
        let b = body.clone();
        let (base, _) = platform(Arc::new(move |_, _| (200, "application/json", b.clone()))).await;
        assert_fidelity(&app, connector, &[("api_url", &base), ("api_key", "k3y-0123456789")], &wants, "succeeded").await;
    }
}

// ---------------------------------------------------------------------------------------------
// Everflow (research §2): offersrunnable, the docs' offer with the `relationship` the docs
// describe (payout entries, ruleset targeting, category, thumbnail asset); `is_caps_enabled`
// decides whether the stored caps are in force; 0 = unset.

#[tokio::test]
async fn everflow_campaigns_say_what_everflow_says() {
    let docs: Value = serde_json::from_str(include_str!("../../agent/fixtures/everflow/alloffers_docs_example.json")).expect("fixture");
    let mut runs = docs["offers"][0].clone();
    runs["network_offer_id"] = json!(42);
    runs["currency_id"] = json!("eur");
    runs["is_caps_enabled"] = json!(true);
    runs["impression_tracking_url"] = json!("https://imp.everflow.test/42");
    runs["date_live_until"] = json!("2030-06-30 23:00:00");
    runs["relationship"] = json!({
        "offer_affiliate_status": "approved",
        "category": {"network_category_id": 3, "name": "Finance", "status": "active"},
        "payouts": {"total": 3, "entries": [
            {"network_offer_payout_revenue_id": 11, "entry_name": "Base", "payout_type": "cpa", "payout_amount": 12.35, "payout_percentage": 0, "is_default": true},
            {"network_offer_payout_revenue_id": 12, "entry_name": "Deposit", "payout_type": "cps", "payout_amount": 0, "payout_percentage": 30, "is_default": false},
            {"network_offer_payout_revenue_id": 13, "entry_name": "Upsell", "payout_type": "cpa_cps", "payout_amount": 1.5, "payout_percentage": 5}
        ]},
        "ruleset": {
            "countries": [
                {"country_code": "US", "targeting_type": "include"}, {"country_code": "ca", "targeting_type": "include"},
                {"country_code": "GB", "targeting_type": "exclude"}
            ],
            "platforms": [{"label": "iOS", "targeting_type": "include"}, {"label": "Windows", "targeting_type": "exclude"}],
            "device_types": [{"label": "Mobile", "targeting_type": "include"}]
        },
        "thumbnail_asset": {"url": "https://cdn.everflow.test/42.png"}
    });
    // `offer_status: paused` upstream; `is_caps_enabled: false`: the stored caps are not in force.
    let mut paused = docs["offers"][0].clone();
    paused["network_offer_id"] = json!(43);
    paused["offer_status"] = json!("paused");
    paused["relationship"] = json!({"offer_affiliate_status": "approved",
        "payouts": {"total": 1, "entries": [{"network_offer_payout_revenue_id": 21, "entry_name": "Base", "payout_type": "cpc", "payout_amount": "0.40", "is_default": true}]}});
    let body = json!({"offers": [runs, paused], "paging": {"page": 1, "page_size": 50, "total_count": 2}}).to_string();
    let (base, _) = platform(Arc::new(move |_, _| (200, "application/json", body.clone()))).await;
    let link = Some("http://www.servetrack.test/9W598/2CTPL/");
    let wants = vec![
        Want {
            id: "42",
            status: "active",
            upstream: "active",
            currency: "EUR",
            revenue: "12.35",
            payout_type: "fixed",
            model: Some("cpa"),
            countries: vec!["US", "CA"],
            blocked_countries: vec!["GB"],
            os: vec!["ios"],
            devices: vec!["mobile"],
            tracking_url: link,
            impression_url: Some("https://imp.everflow.test/42"),
            thumbnail_url: Some("https://cdn.everflow.test/42.png"),
            category: Some("Finance"),
            expires_at: Some("2030-06-30T23:00:00+00:00"),
            payouts: vec![
                (Some("11"), None, vec![], "12.35", "fixed", "EUR"),
                (Some("12"), None, vec![], "30", "percent", "EUR"),
                (Some("13"), None, vec![], "1.5", "fixed", "EUR"),
                (Some("13"), None, vec![], "5", "percent", "EUR"),
            ],
            caps: vec![
                ("payout", "daily", "10.3", None),
                ("conversions", "weekly", "88", None),
                ("clicks", "monthly", "2500", None),
                ("conversions", "total", "125", None),
                ("payout", "total", "300.5", None),
            ],
            ..Want::default()
        },
        Want {
            id: "43",
            status: "paused",
            upstream: "paused",
            currency: "USD",
            revenue: "0.4",
            payout_type: "fixed",
            model: Some("cpc"),
            tracking_url: link,
            payouts: vec![(Some("21"), None, vec![], "0.4", "fixed", "USD")],
            ..Want::default()
        },
    ];
    let app = App::start(true).await;
    assert_fidelity(&app, "everflow", &[("api_url", &base), ("api_key", "k3y-0123456789")], &wants, "succeeded").await;
}
