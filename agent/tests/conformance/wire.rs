//! Each platform's wire format, as the fake server speaks it: where the credentials go and how
//! they are checked, which paging parameters a page request carries, how a page of N records
//! looks (records cloned from the platform's fixtures with distinct ids), and the platform's
//! documented error answers. A declarative spec of a platform uses the platform's wire.

use std::{sync::LazyLock, time::Duration};

use domain::crypto::Credentials;
use serde_json::{Value, json};

use crate::fake::{Ask, Recorded, Reply};

/// The secret credential every fake integration uses. It has `/`, `+` and `=` so that its
/// URL-encoded and JSON-escaped (`\/`) forms differ from it: none of them may leak.
pub const KEY: &str = "sk-C0nf/orm+ance=Key";

/// Every form in which [`KEY`] could show up in a URL, a header or a body.
pub fn secret_forms() -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    vec![KEY.to_string(), encoded, KEY.replace('/', "\\/")]
}

/// A documented error answer: what it is, the reply, and a text the error must carry.
pub struct Documented {
    pub what: &'static str,
    pub reply: Reply,
    pub says: &'static str,
}

/// What the fake server needs to know about a platform.
pub trait Wire: Send + Sync {
    fn platform(&self) -> &'static str;

    /// Credentials of an integration whose API URL is the fake server's `base`.
    fn creds(&self, base: &str) -> Credentials;

    /// The request carries the credentials where the platform expects them (and nowhere else).
    fn check_auth(&self, req: &Recorded) -> Result<(), String>;

    /// The slice of the feed a request asks for, from its paging parameters.
    fn ask(&self, req: &Recorded) -> Result<Ask, String>;

    /// The external id the connector must report for record `n` (1-based).
    fn external_id(&self, n: u64) -> String {
        n.to_string()
    }

    /// The page `ask` of a feed of `total` records.
    fn page(&self, total: u64, ask: &Ask, req: &Recorded) -> Reply;

    /// The body has no totals: the feed ends on a short or empty page.
    fn ends_on_short_page(&self) -> bool {
        false
    }

    /// The platform's answer to refused credentials with HTTP `status` (401 or 403), and a text
    /// the error must carry.
    fn refusal(&self, status: u16) -> (Reply, String) {
        (Reply::text(status, "Access denied"), format!("HTTP {status}"))
    }

    /// Refusals of credentials the platform documents in the body (with HTTP 200 or another
    /// status than 401/403).
    fn in_body_refusals(&self) -> Vec<Documented> {
        vec![]
    }

    /// The platform's documented in-body rate-limit answer, and the wait it means.
    fn in_body_rate_limit(&self, _req: &Recorded) -> Option<(Reply, Duration)> {
        None
    }

    /// An HTTP 429 as the platform sends it (the test adds Retry-After).
    fn too_many_requests(&self) -> Reply {
        Reply::text(429, "Too Many Requests")
    }

    /// Well-formed bodies with a wrong type where the page's records or envelope are, each with
    /// a word the error must carry.
    fn wrong_types(&self) -> Vec<(Reply, &'static str)>;
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn creds(pairs: &[(&str, &str)]) -> Credentials {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn expect_path(req: &Recorded, path: &str) -> Result<(), String> {
    if req.path == path { Ok(()) } else { Err(format!("path is '{}', expected '{path}'", req.path)) }
}

/// A key sent in a header must not also travel in the URL.
fn not_in_query(req: &Recorded) -> Result<(), String> {
    if secret_forms().iter().any(|s| req.raw_query.contains(s.as_str())) {
        Err("the key is in the query string too".into())
    } else {
        Ok(())
    }
}

fn page_and_limit(req: &Recorded, page: &str, limit: &str) -> Result<Ask, String> {
    let (page, limit) = (req.number(page)?, req.number(limit)?);
    Ok(Ask { offset: (page - 1) * limit, limit })
}

// ---------------------------------------------------------------------------------------------

/// TUNE / HasOffers affiliate API v3 (research §1): key in the query, `page`/`limit`, the
/// paginated `data` wrapper with `pageCount`, every answer HTTP 200, the request (key included)
/// echoed in the body by PHP's `json_encode` (which writes `/` as `\/`).
pub struct HasOffers;

const NETWORK: &str = "conformance1";

static HO_ROW: LazyLock<Value> = LazyLock::new(|| {
    let page = fixture(include_str!("../../fixtures/hasoffers/offer_findall_paginated_limit2.json"));
    let mut row = page["response"]["data"]["data"]["3"].clone();
    let countries = fixture(include_str!("../../fixtures/hasoffers/offer_findall_unpaginated_contain_country.json"));
    row["Country"] = countries["response"]["data"]["62"]["Country"].clone();
    let link = fixture(include_str!("../../fixtures/hasoffers/generate_tracking_link.json"));
    row["TrackingLink"] = link["response"]["data"].clone();
    row
});

impl HasOffers {
    fn echo(req: &Recorded) -> Value {
        Value::Object(req.query.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
    }

    /// The envelope as HasOffers writes it: PHP escapes every `/`.
    fn envelope(req: &Recorded, response: Value) -> Reply {
        let body = json!({"request": Self::echo(req), "response": response}).to_string().replace('/', "\\/");
        Reply::new(200, "application/json", body)
    }
}

impl Wire for HasOffers {
    fn platform(&self) -> &'static str {
        "hasoffers"
    }

    fn creds(&self, base: &str) -> Credentials {
        creds(&[("network_id", NETWORK), ("api_key", KEY), ("api_url", base)])
    }

    fn check_auth(&self, req: &Recorded) -> Result<(), String> {
        expect_path(req, "/Apiv3/json")?;
        req.expect_query("api_key", KEY)?;
        req.expect_query("NetworkId", NETWORK)?;
        req.expect_query("Target", "Affiliate_Offer")?;
        req.expect_query("Method", "findMyApprovedOffers")
    }

    fn ask(&self, req: &Recorded) -> Result<Ask, String> {
        page_and_limit(req, "page", "limit")
    }

    fn page(&self, total: u64, ask: &Ask, req: &Recorded) -> Reply {
        let mut rows = serde_json::Map::new();
        for n in ask.ids(total) {
            let mut row = HO_ROW.clone();
            row["Offer"]["id"] = json!(n.to_string());
            row["Offer"]["name"] = json!(format!("Půjčka7 #{n}"));
            row["TrackingLink"]["offer_id"] = json!(n);
            rows.insert(n.to_string(), row);
        }
        // PHP writes an empty id map as `[]`.
        let data = if rows.is_empty() { json!([]) } else { Value::Object(rows) };
        let page_count = total.div_ceil(ask.limit);
        let wrapper = json!({"page": ask.page(), "current": ask.offset, "count": total, "pageCount": page_count, "data": data});
        Self::envelope(req, json!({"status": 1, "httpStatus": 200, "data": wrapper, "errors": [], "errorMessage": null}))
    }

    fn in_body_refusals(&self) -> Vec<Documented> {
        vec![
            Documented {
                what: "invalid network, HTTP 200 (real)",
                reply: Reply::new(200, "application/json", include_str!("../../fixtures/hasoffers/auth_error_invalid_network.json")),
                says: "Network id is not valid",
            },
            Documented {
                what: "bad credentials, HTTP 200 (synthetic)",
                reply: Reply::new(
                    200,
                    "application/json",
                    include_str!("../../fixtures/hasoffers/synthetic_bad_credentials_errors_strings.json"),
                ),
                says: "bad credentials",
            },
        ]
    }

    fn in_body_rate_limit(&self, req: &Recorded) -> Option<(Reply, Duration)> {
        // The documented text (§1.4) in the documented error envelope; no Retry-After: one 10 s window.
        let message = "API usage exceeded rate limit. Configured: 50/10s window; Your usage: 51";
        let response =
            json!({"status": -1, "httpStatus": 200, "data": "", "errors": [{"publicMessage": message}], "errorMessage": message});
        Some((Self::envelope(req, response), Duration::from_secs(10)))
    }

    fn wrong_types(&self) -> Vec<(Reply, &'static str)> {
        let wrapper = json!({"page": 1, "current": 0, "count": 3, "pageCount": 1, "data": "3 offers"});
        vec![
            (Reply::json(200, &json!({"response": {"status": 1, "httpStatus": 200, "data": wrapper, "errors": []}})), "data"),
            (Reply::json(200, &json!([{"Offer": {"id": "1"}}])), "JSON object"),
        ]
    }
}

// ---------------------------------------------------------------------------------------------

/// Everflow affiliate API (research §2): `X-Eflow-API-Key` header, `page`/`page_size`,
/// `paging.total_count`, errors as `{"error": "..."}` with a real HTTP status.
pub struct Everflow;

static EF_OFFER: LazyLock<Value> =
    LazyLock::new(|| fixture(include_str!("../../fixtures/everflow/alloffers_docs_example.json"))["offers"][0].clone());

impl Wire for Everflow {
    fn platform(&self) -> &'static str {
        "everflow"
    }

    fn creds(&self, base: &str) -> Credentials {
        creds(&[("api_key", KEY), ("api_url", base)])
    }

    fn check_auth(&self, req: &Recorded) -> Result<(), String> {
        expect_path(req, "/v1/affiliates/offersrunnable")?;
        req.expect_header("x-eflow-api-key", KEY)?;
        not_in_query(req)
    }

    fn ask(&self, req: &Recorded) -> Result<Ask, String> {
        page_and_limit(req, "page", "page_size")
    }

    fn page(&self, total: u64, ask: &Ask, _req: &Recorded) -> Reply {
        let offers: Vec<Value> = ask
            .ids(total)
            .map(|n| {
                let mut o = EF_OFFER.clone();
                o["network_offer_id"] = json!(n);
                o["name"] = json!(format!("Offer Example #{n}"));
                o
            })
            .collect();
        Reply::json(200, &json!({"offers": offers, "paging": {"page": ask.page(), "page_size": ask.limit, "total_count": total}}))
    }

    fn refusal(&self, status: u16) -> (Reply, String) {
        // §2.1/§2.3: no or a revoked key is 401 "No Authentication Method Found"; a key of the
        // wrong portal is 403 "Out of realm".
        let text = if status == 401 { "No Authentication Method Found" } else { "Out of realm" };
        (Reply::json(status, &json!({"error": text})), text.into())
    }

    fn too_many_requests(&self) -> Reply {
        Reply::json(429, &json!({"error": "rate limit exceeded"}))
            .with_header("x-ratelimit-limit", "5")
            .with_header("x-ratelimit-remaining", "0")
    }

    fn wrong_types(&self) -> Vec<(Reply, &'static str)> {
        vec![
            (
                Reply::json(200, &json!({"offers": {"1": EF_OFFER.clone()}, "paging": {"page": 1, "page_size": 4, "total_count": 1}})),
                "offers",
            ),
            (Reply::json(200, &json!([EF_OFFER.clone()])), "JSON object"),
        ]
    }
}

// ---------------------------------------------------------------------------------------------

/// Affise partner API 3.0 (research §3): `API-Key` header on the network's own host,
/// `page`/`limit`, `pagination.next_page` absent on the last page, 401/403 with
/// `{"status": 2, "message": ...}`.
pub struct Affise;

static AF_OFFER: LazyLock<Value> =
    LazyLock::new(|| fixture(include_str!("../../fixtures/affise/partner_offers_docs_example.json"))["offers"][0].clone());

impl Wire for Affise {
    fn platform(&self) -> &'static str {
        "affise"
    }

    fn creds(&self, base: &str) -> Credentials {
        creds(&[("api_url", base), ("api_key", KEY)])
    }

    fn check_auth(&self, req: &Recorded) -> Result<(), String> {
        expect_path(req, "/3.0/partner/offers")?;
        req.expect_header("api-key", KEY)?;
        not_in_query(req)
    }

    fn ask(&self, req: &Recorded) -> Result<Ask, String> {
        page_and_limit(req, "page", "limit")
    }

    fn page(&self, total: u64, ask: &Ask, _req: &Recorded) -> Reply {
        let offers: Vec<Value> = ask
            .ids(total)
            .map(|n| {
                let mut o = AF_OFFER.clone();
                o["id"] = json!(n);
                o["offer_id"] = json!(format!("{n:024x}"));
                o["title"] = json!(format!("Affise offer #{n}"));
                o
            })
            .collect();
        let mut pagination = json!({"per_page": ask.limit, "total_count": total, "page": ask.page()});
        if ask.offset + ask.limit < total {
            pagination["next_page"] = json!(ask.page() + 1);
        }
        Reply::json(200, &json!({"status": 1, "offers": offers, "pagination": pagination}))
    }

    fn refusal(&self, status: u16) -> (Reply, String) {
        if status == 401 {
            (
                Reply::new(401, "application/json", include_str!("../../fixtures/affise/auth_error_401_token_necessary.json")),
                "Token is necessary".into(),
            )
        } else {
            (
                Reply::new(status, "application/json", include_str!("../../fixtures/affise/auth_error_403_auth_denied.json")),
                "Auth Denied".into(),
            )
        }
    }

    fn wrong_types(&self) -> Vec<(Reply, &'static str)> {
        vec![
            (
                Reply::json(200, &json!({"status": 1, "offers": "none", "pagination": {"per_page": 4, "total_count": 0, "page": 1}})),
                "offers",
            ),
            (Reply::json(200, &json!([AF_OFFER.clone()])), "JSON object"),
        ]
    }
}

// ---------------------------------------------------------------------------------------------

/// CAKE affiliate OfferFeed (research §4): an ASMX XML service, `api_key` + `affiliate_id` and
/// every other parameter in the query, `start_at_row` (1-based) / `row_limit`, `<row_count>`.
pub struct Cake;

const CAKE_FEED: &str = include_str!("../../fixtures/cake/offerfeed_v4.xml");
const CAKE_AFFILIATE: &str = "42";

impl Cake {
    /// The feed's first `<offer>` element, as recorded.
    fn offer() -> &'static str {
        let start = CAKE_FEED.find("<offer>").expect("an <offer> in the fixture");
        let end = CAKE_FEED[start..].find("</offer>").expect("a closed <offer>") + start + "</offer>".len();
        &CAKE_FEED[start..end]
    }

    fn feed(row_count: u64, offers: &str) -> String {
        let head = &CAKE_FEED[..CAKE_FEED.find("<row_count>").expect("<row_count> in the fixture")];
        format!("{head}<row_count>{row_count}</row_count>\n  <offers>{offers}</offers>\n</offer_feed_response>\n")
    }
}

impl Wire for Cake {
    fn platform(&self) -> &'static str {
        "cake"
    }

    fn creds(&self, base: &str) -> Credentials {
        creds(&[("api_url", base), ("api_key", KEY), ("affiliate_id", CAKE_AFFILIATE)])
    }

    fn check_auth(&self, req: &Recorded) -> Result<(), String> {
        expect_path(req, "/affiliates/api/4/offers.asmx/OfferFeed")?;
        req.expect_query("api_key", KEY)?;
        req.expect_query("affiliate_id", CAKE_AFFILIATE)?;
        // ASMX binds only when every parameter is present.
        for p in ["campaign_name", "media_type_category_id", "vertical_category_id", "vertical_id", "offer_status_id", "tag_id"] {
            req.query(p).ok_or_else(|| format!("ASMX parameter '{p}' is missing"))?;
        }
        Ok(())
    }

    fn ask(&self, req: &Recorded) -> Result<Ask, String> {
        let (start, limit) = (req.number("start_at_row")?, req.number("row_limit")?);
        if (start - 1) % limit != 0 {
            return Err(format!("start_at_row {start} is not the first row of a page of {limit}"));
        }
        Ok(Ask { offset: start - 1, limit })
    }

    fn page(&self, total: u64, ask: &Ask, _req: &Recorded) -> Reply {
        let offers: String = ask
            .ids(total)
            .map(|n| {
                Self::offer().replace("<offer_id>169</offer_id>", &format!("<offer_id>{n}</offer_id>")).replace(
                    "<offer_name>Eternal Uprising ( android) </offer_name>",
                    &format!("<offer_name>Eternal Uprising #{n} ( android) </offer_name>"),
                )
            })
            .collect();
        Reply::xml(200, Self::feed(total, &offers))
    }

    fn in_body_refusals(&self) -> Vec<Documented> {
        // §4.2 infers both shapes ([I]); the fixtures are hand-made from that inference.
        vec![
            Documented {
                what: "<success>false</success>, HTTP 200 (inferred)",
                reply: Reply::xml(200, include_str!("../../fixtures/cake/error_success_false_synthetic.xml")),
                says: "Invalid API Key",
            },
            Documented {
                what: "SOAP fault naming the key, HTTP 500 (inferred)",
                reply: Reply::xml(500, include_str!("../../fixtures/cake/soap_fault_500_synthetic.xml")),
                says: "Invalid API Key",
            },
        ]
    }

    fn wrong_types(&self) -> Vec<(Reply, &'static str)> {
        vec![
            (Reply::xml(200, Self::feed(3, "three offers")), "offers"),
            (Reply::json(200, &json!({"success": true, "row_count": 0, "offers": []})), "XML"),
        ]
    }
}

// ---------------------------------------------------------------------------------------------

/// Trackier publisher API (research §5): `X-Api-Key` header, `page`/`limit`, `data.count`, an
/// invalid key as `{"success": false, "error": {"code": 13 | 102, ...}}` with HTTP 400.
pub struct Trackier;

static TRK_CAMPAIGN: LazyLock<Value> = LazyLock::new(|| {
    fixture(include_str!("../../fixtures/trackier/campaigns_assembled_from_spec_examples.json"))["data"]["campaigns"][0].clone()
});
const TRK_CODE13: &str = include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code13.json");
const TRK_CODE102: &str = include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code102.json");

impl Wire for Trackier {
    fn platform(&self) -> &'static str {
        "trackier"
    }

    fn creds(&self, base: &str) -> Credentials {
        creds(&[("api_key", KEY), ("api_url", base)])
    }

    fn check_auth(&self, req: &Recorded) -> Result<(), String> {
        expect_path(req, "/v2/publisher/campaigns")?;
        req.expect_header("x-api-key", KEY)?;
        not_in_query(req)
    }

    fn ask(&self, req: &Recorded) -> Result<Ask, String> {
        page_and_limit(req, "page", "limit")
    }

    fn page(&self, total: u64, ask: &Ask, _req: &Recorded) -> Reply {
        let campaigns: Vec<Value> = ask
            .ids(total)
            .map(|n| {
                let mut c = TRK_CAMPAIGN.clone();
                c["id"] = json!(n);
                c["title"] = json!(format!("AppAttribution CPI-Incent #{n}"));
                c
            })
            .collect();
        Reply::json(200, &json!({"success": true, "data": {"campaigns": campaigns, "page": ask.page(), "count": total}}))
    }

    fn refusal(&self, status: u16) -> (Reply, String) {
        // §5.2 lists "401 - API Key Invalid" and "403 - No permissions visit this resource"; no body is documented.
        let text = if status == 401 { "API Key Invalid" } else { "No permissions visit this resource" };
        (Reply::text(status, text), text.into())
    }

    fn in_body_refusals(&self) -> Vec<Documented> {
        vec![
            Documented {
                what: "code 13, HTTP 400 (docs)",
                reply: Reply::new(400, "application/json", TRK_CODE13),
                says: "Invalid API Key",
            },
            Documented {
                what: "code 102, HTTP 400 (docs)",
                reply: Reply::new(400, "application/json", TRK_CODE102),
                says: "API Key supplied with the request is invalid",
            },
            Documented { what: "code 13, HTTP 200", reply: Reply::new(200, "application/json", TRK_CODE13), says: "Invalid API Key" },
        ]
    }

    fn wrong_types(&self) -> Vec<(Reply, &'static str)> {
        vec![
            (Reply::json(200, &json!({"success": true, "data": {"campaigns": 42, "page": 1, "count": 1}})), "campaigns"),
            (Reply::json(200, &json!([TRK_CAMPAIGN.clone()])), "JSON object"),
        ]
    }
}

// ---------------------------------------------------------------------------------------------

/// Offer18 affiliate offers API (research §6): `key`, `aid` and `mid` in the query, `page` (+ the
/// undocumented `limit`), `"response": "200"` as a string, `data` keyed by zero-padded offer id,
/// no totals (the feed ends on a short or empty page; PHP writes an empty map as `[]`).
pub struct Offer18;

const O18_AID: &str = "55";
const O18_MID: &str = "7";

static O18_OFFER: LazyLock<Value> =
    LazyLock::new(|| fixture(include_str!("../../fixtures/offer18/offers_real_older_api.json"))["data"]["3060765"].clone());

impl Wire for Offer18 {
    fn platform(&self) -> &'static str {
        "offer18"
    }

    fn creds(&self, base: &str) -> Credentials {
        creds(&[("key", KEY), ("aid", O18_AID), ("mid", O18_MID), ("api_url", base)])
    }

    fn check_auth(&self, req: &Recorded) -> Result<(), String> {
        expect_path(req, "/api/af/offers")?;
        req.expect_query("key", KEY)?;
        req.expect_query("aid", O18_AID)?;
        req.expect_query("mid", O18_MID)
    }

    fn ask(&self, req: &Recorded) -> Result<Ask, String> {
        page_and_limit(req, "page", "limit")
    }

    fn external_id(&self, n: u64) -> String {
        format!("{n:05}")
    }

    fn page(&self, total: u64, ask: &Ask, _req: &Recorded) -> Reply {
        let mut data = serde_json::Map::new();
        for n in ask.ids(total) {
            let mut o = O18_OFFER.clone();
            o["offerid"] = json!(self.external_id(n));
            o["name"] = json!(format!("LifeAfter #{n} (iPhone 8.0+, iPad 8.0+) JP - Non incent"));
            data.insert(self.external_id(n), o);
        }
        let data = if data.is_empty() { json!([]) } else { Value::Object(data) };
        Reply::json(200, &json!({"response": "200", "data": data}))
    }

    fn ends_on_short_page(&self) -> bool {
        true
    }

    fn wrong_types(&self) -> Vec<(Reply, &'static str)> {
        vec![
            (Reply::json(200, &json!({"response": "200", "data": 42})), "data"),
            (Reply::json(200, &json!([O18_OFFER.clone()])), "JSON object"),
        ]
    }
}
