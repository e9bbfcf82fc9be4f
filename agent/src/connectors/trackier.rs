//! Trackier publisher API: `GET {base}/v2/publisher/campaigns?page=&limit=` with the key in
//! the `X-Api-Key` header (5 requests a second).
//!
//! `data.count` is the total number of campaigns. A bad key is HTTP 400 (or 200) with
//! `{"success": false, "error": {"code": 13 | 102, ...}}`. Tracking links carry placeholders
//! (`p1={your-transaction-id}`) that are kept verbatim: the pipeline substitutes them.

use domain::{
    crypto::Credentials,
    model::{CapPeriod, PayoutType},
    validate,
};
use serde_json::Value;

use super::{
    Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, Page, PageRequest, PagingStyle, RawResponse, append_path,
    base_url, body,
    lenient::{self, cap_event_word, describe, model_word, payout_type_word, push_cap, rows, status_word, unique},
    required, scaffold,
};
use crate::offer::{Approval, CanonicalOffer, GoalPayout, UpstreamStatus};

const DEFAULT_BASE: &str = "https://api.trackier.com";
/// Error codes Trackier uses for an invalid API key.
const BAD_KEY_CODES: &[&str] = &["13", "102"];

pub struct Trackier {
    info: ConnectorInfo,
}

impl Default for Trackier {
    fn default() -> Self {
        Self::new()
    }
}

impl Trackier {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "trackier".into(),
                display_name: "Trackier".into(),
                kind: "native",
                credential_fields: vec![
                    CredentialField {
                        name: "api_key",
                        label: "API key",
                        required: true,
                        secret: true,
                        help: "Publisher API key (Trackier > Profile > API)",
                    },
                    CredentialField {
                        name: "api_url",
                        label: "API URL",
                        required: false,
                        secret: false,
                        help: "Only for white-label hosts (e.g. https://api.vcommission.com); default https://api.trackier.com",
                    },
                ],
                paging: PagingStyle::PageTotal,
                default_page_size: 500,
                rate_limit_requests: 5,
                rate_limit_per: std::time::Duration::from_secs(1),
                approved_only: false,
                docs_url: Some("https://api.trackier.com/docs".into()),
            },
        }
    }
}

impl Connector for Trackier {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        let mut url = append_path(base_url(creds, DEFAULT_BASE)?, "/v2/publisher/campaigns")?;
        url.query_pairs_mut().append_pair("page", &cursor.page.to_string()).append_pair("limit", &cursor.page_size.to_string());
        let headers = vec![("X-Api-Key".to_string(), required(creds, "api_key")?.to_string())];
        Ok(PageRequest { url, headers, basic_auth: None })
    }

    fn parse_page(&self, _creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        let body = body::json_object("trackier", &resp.body)?;
        if let Some(e) = in_body_error(&body) {
            return Err(e);
        }
        let data = &body["data"];
        let campaigns: Vec<&Value> = match &data["campaigns"] {
            Value::Array(items) => items.iter().collect(),
            Value::Null => vec![],
            other => {
                return Err(FetchError::InvalidPayload(format!(
                    "trackier sent data.campaigns as {}, expected an array",
                    body::kind_of(other)
                )));
            }
        };
        Ok(Page {
            records: campaigns.len(),
            total_records: lenient::decimal(&data["count"]).and_then(|d| u64::try_from(d.trunc()).ok()),
            offers: campaigns.into_iter().map(offer).collect(),
            ..Page::default()
        })
    }

    fn classify_status(&self, resp: &RawResponse) -> Option<FetchError> {
        if resp.status == 429 {
            let message = format!("HTTP 429: {}", scaffold::upstream_message(&resp.body));
            return Some(FetchError::RateLimited { retry_after: scaffold::retry_after(&resp.headers), message });
        }
        let body = body::json_object("trackier", &resp.body).ok()?;
        in_body_error(&body).filter(|e| matches!(e, FetchError::Unauthorized(_)))
    }
}

/// `{"success": false, "error": {...}}`: codes 13 and 102 are an invalid key.
fn in_body_error(body: &Value) -> Option<FetchError> {
    let error = &body["error"];
    if lenient::boolean(&body["success"]) != Some(false) && error.is_null() {
        return None;
    }
    let message =
        [&error["message"], &error["codeMsg"], error].into_iter().find_map(lenient::string).unwrap_or_else(|| "success is false".into());
    let code = lenient::string(&error["code"]);
    Some(match code {
        Some(c) if BAD_KEY_CODES.contains(&c.as_str()) => FetchError::Unauthorized(message),
        Some(c) => FetchError::InvalidPayload(format!("trackier error {c}: {message}")),
        None => body::classify_message("trackier", message),
    })
}

/// Trackier's models: `cps` means the payout is a percentage of the sale.
fn payout_type(word: &str) -> Option<PayoutType> {
    if word.eq_ignore_ascii_case("cps") { Some(PayoutType::Percent) } else { payout_type_word(word) }
}

/// The shape of every field this connector reads ([`lenient::check_shapes`]).
const SHAPES: &[(&str, lenient::Shape)] = {
    use lenient::Shape;
    &[
        ("id", Shape::Scalar),
        ("title", Shape::Scalar),
        ("description", Shape::Scalar),
        ("kpi", Shape::Scalar),
        ("preview_url", Shape::Scalar),
        ("tracking_link", Shape::Scalar),
        ("currency", Shape::Scalar),
        ("model", Shape::Scalar),
        ("status", Shape::Scalar),
        ("impressionUrl", Shape::Scalar),
        ("defaultGoal", Shape::Scalar),
        ("payouts", Shape::Records),
        ("os", Shape::List),
        ("device", Shape::List),
        ("categories", Shape::List),
        ("goals", Shape::Records),
        ("cap", Shape::Map),
        ("creatives", Shape::Records),
    ]
};

fn offer(r: &Value) -> Result<CanonicalOffer, InvalidOffer> {
    let id = lenient::string(&r["id"]);
    let fail = |reason: String| InvalidOffer { external_id: id.clone(), reason };
    if !r.is_object() {
        return Err(fail(format!("the record is {}, expected an object", body::kind_of(r))));
    }
    lenient::check_shapes(r, SHAPES).map_err(&fail)?;
    let id = id.clone().ok_or_else(|| fail("no id".into()))?;
    let name = lenient::string(&r["title"]).ok_or_else(|| fail("no title".into()))?;
    let mut o = CanonicalOffer::new(id, name);
    (o.description_html, o.description_text) = describe([("", lenient::string(&r["description"])), ("KPI: ", lenient::string(&r["kpi"]))]);
    o.preview_url = lenient::string(&r["preview_url"]);
    o.tracking_url = lenient::string(&r["tracking_link"]);
    o.impression_url = lenient::string(&r["impressionUrl"]);
    o.thumbnail_url = lenient::items(&r["creatives"])
        .into_iter()
        .filter(|c| lenient::string(&c["mime_type"]).is_some_and(|m| m.to_lowercase().starts_with("image/")))
        .find_map(|c| lenient::string(&c["full_url"]));
    o.approval = if o.tracking_url.is_some() { Approval::Approved } else { Approval::NotApplied };
    // The publisher API lists live campaigns and sends no status.
    o.status = lenient::string(&r["status"]).map_or(UpstreamStatus::Active, |s| status_word(&s));
    let model = lenient::string(&r["model"]);
    o.model = model.as_deref().and_then(model_word);
    o.payout_type = model.as_deref().and_then(payout_type).unwrap_or(PayoutType::Fixed);
    // "If no currency then it should be assumed as USD".
    o.currency = match lenient::string(&r["currency"]) {
        Some(c) => Some(validate::currency(&c).ok_or_else(|| fail(format!("currency '{c}' is not an ISO 4217 code")))?),
        None => Some("USD".into()),
    };
    let payout = lenient::string(&r["payouts"][0]["payout"]).ok_or_else(|| fail("no payouts".into()))?;
    o.revenue = lenient::decimal_str(&payout).ok_or_else(|| fail(format!("payout '{payout}' is not a number")))?;
    o.payouts = payouts(r, &o).map_err(fail)?;
    o.countries = lenient::country_words(&r["countries"], &["code"], "countries")
        .and_then(|w| lenient::countries("countries", lenient::CountryList::Allow, w))
        .map_err(fail)?;
    o.os = unique(lenient::csv(&r["os"]).iter().map(|s| lenient::os_name(s)).filter(|s| s != "all"));
    o.devices = unique(lenient::csv(&r["device"]).iter().map(|s| s.to_lowercase()).filter(|s| s != "all"));
    o.categories = unique(lenient::csv(&r["categories"]));
    let cap = &r["cap"];
    let event = lenient::string(&cap["type"]).map_or(cap_event_word("conversions"), |w| cap_event_word(&w));
    for (key, period) in
        [("daily", CapPeriod::Daily), ("weekly", CapPeriod::Weekly), ("monthly", CapPeriod::Monthly), ("lifetime", CapPeriod::Total)]
    {
        push_cap(&mut o.caps, event, Some(period), lenient::decimal(&cap[key]), None);
    }
    o.raw = r.clone();
    Ok(o)
}

/// Every default-goal row of `payouts[]` (per geo), then every row of every goal.
fn payouts(r: &Value, o: &CanonicalOffer) -> Result<Vec<GoalPayout>, String> {
    let default_goal = lenient::string(&r["defaultGoal"]);
    let goals = rows(&r["goals"]);
    let default_rows = rows(&r["payouts"]).into_iter().map(|row| (None, row));
    let goal_rows = goals.iter().flat_map(|g| rows(&g["payouts"]).into_iter().map(move |row| (Some(*g), row)));
    let mut out = vec![];
    for (goal, row) in default_rows.chain(goal_rows) {
        let Some(amount) = lenient::string(&row["payout"]) else { continue };
        let revenue = lenient::decimal_str(&amount).ok_or_else(|| format!("payout '{amount}' is not a number"))?;
        let countries = lenient::country_words(&row["geo"], &["code"], "payouts.geo")
            .and_then(|w| lenient::countries("payouts.geo", lenient::CountryList::Exact, w))?;
        out.push(match goal {
            None => GoalPayout {
                excluded_countries: vec![],
                goal_id: None,
                goal_name: default_goal.clone(),
                countries: countries.clone(),
                revenue,
                payout_type: o.payout_type,
                currency: o.currency.clone(),
            },
            Some(g) => GoalPayout {
                excluded_countries: vec![],
                goal_id: lenient::string(&g["id"]),
                goal_name: lenient::string(&g["title"]),
                countries,
                revenue,
                payout_type: lenient::string(&g["payout_model"]).and_then(|w| payout_type(&w)).unwrap_or(o.payout_type),
                currency: o.currency.clone(),
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::{str::FromStr, time::Duration};

    use domain::model::OfferModel;
    use rust_decimal::Decimal;
    use serde_json::json;

    use super::*;
    use crate::offer::UpstreamCap;

    const CAMPAIGNS: &str = include_str!("../../fixtures/trackier/campaigns_assembled_from_spec_examples.json");
    const CODE13: &str = include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code13.json");
    const CODE102: &str = include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code102.json");

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn response(status: u16, body: &str) -> RawResponse {
        RawResponse { status, headers: Default::default(), body: bytes::Bytes::from(body.to_string()) }
    }

    fn parse(body: &str) -> Result<Page, FetchError> {
        Trackier::new().parse_page(&Credentials::new(), &response(200, body))
    }

    fn page_of(campaigns: serde_json::Value) -> String {
        json!({"success": true, "data": {"page": 1, "count": 3, "campaigns": campaigns}}).to_string()
    }

    #[test]
    fn assembled_campaign_maps_goals_geo_payouts_caps_and_the_total() {
        let page = parse(CAMPAIGNS).expect("page");
        assert_eq!((page.records, page.total_records, page.total_pages), (1, Some(251), None));
        let o = page.offers[0].as_ref().expect("offer");
        assert_eq!((o.external_id.as_str(), o.name.as_str()), ("18", "AppAttribution CPI-Incent"));
        assert_eq!(
            o.tracking_url.as_deref(),
            Some("https://trk.trackier.com/5acdefeadcxwe3dsad?p1={your-transaction-id}&source={your-sub-aff-id}"),
            "placeholders are kept for the pipeline to substitute"
        );
        assert_eq!((o.approval, o.status, o.is_approved()), (Approval::Approved, UpstreamStatus::Active, true));
        assert_eq!((o.revenue, o.payout_type, o.model), (dec("1.87"), PayoutType::Fixed, Some(OfferModel::Cpi)));
        assert_eq!(o.currency.as_deref(), Some("USD"));
        assert_eq!(o.preview_url.as_deref(), Some("https://play.google.com/store/apps/details?id=io.appattribution.device"));
        assert_eq!(o.countries, ["US", "IN"]);
        assert_eq!(o.os, ["android"]);
        assert_eq!(o.devices, ["mobile"]);
        let usd = Some("USD".to_string());
        assert_eq!(
            o.payouts,
            [
                GoalPayout {
                    excluded_countries: vec![],
                    goal_id: None,
                    goal_name: Some("Install".into()),
                    countries: vec!["US".into(), "IN".into()],
                    revenue: dec("1.87"),
                    payout_type: PayoutType::Fixed,
                    currency: usd.clone(),
                },
                GoalPayout {
                    excluded_countries: vec![],
                    goal_id: Some("5cebd00db6920d7e89622ccf".into()),
                    goal_name: Some("Purchased".into()),
                    countries: vec!["US".into()],
                    revenue: dec("1.87"),
                    payout_type: PayoutType::Fixed,
                    currency: usd,
                },
            ]
        );
        // daily and lifetime 0 = unlimited.
        assert_eq!(o.caps, [UpstreamCap { event: "conversions".into(), period: "monthly".into(), value: dec("928"), goal: None }]);
        assert_eq!((o.description_html.as_deref(), o.thumbnail_url.as_deref(), o.expires_at), (None, None, None));
        assert_eq!(o.raw["id"], 18);
    }

    #[test]
    fn cps_is_a_percentage_and_an_empty_link_is_not_approved() {
        let body = page_of(json!([{
            "id": "abc", "title": " Shop ", "model": "cps", "currency": null, "tracking_link": "",
            "description": "<p>Buy &amp; save</p>", "kpi": "No fraud", "status": "paused",
            "categories": ["Shopping", "Shopping"], "os": ["all"], "device": ["Desktop", "all"],
            "creatives": [{"mime_type": "video/mp4", "full_url": "https://cdn/v.mp4"}, {"mime_type": "image/png", "full_url": "https://cdn/i.png"}],
            "impressionUrl": "https://demo.trackier.net/imp?campaign_id=20931&pub_id=31",
            "payouts": [{"payout": "12.5", "geo": ["de", "uk"]}],
            "goals": [{"id": "g1", "title": "Sale", "payout_model": "fixed", "payouts": [{"payout": 3}]}, {"id": "g2", "title": "Upsell", "payouts": []}],
            "cap": {"type": "click", "daily": "10", "monthly": 0}
        }]));
        let page = parse(&body).expect("page");
        let o = page.offers[0].as_ref().expect("offer");
        assert_eq!((o.name.as_str(), o.approval, o.tracking_url.as_deref(), o.is_approved()), ("Shop", Approval::NotApplied, None, false));
        assert_eq!((o.payout_type, o.model, o.revenue), (PayoutType::Percent, Some(OfferModel::Cps), dec("12.5")));
        assert_eq!((o.currency.as_deref(), o.status), (Some("USD"), UpstreamStatus::Paused), "null currency means USD");
        assert_eq!(o.description_text.as_deref(), Some("Buy & save KPI: No fraud"));
        assert_eq!(o.categories, ["Shopping"]);
        assert!(o.os.is_empty(), "all = no restriction");
        assert_eq!(o.devices, ["desktop"]);
        assert_eq!(o.thumbnail_url.as_deref(), Some("https://cdn/i.png"));
        assert_eq!(o.impression_url.as_deref(), Some("https://demo.trackier.net/imp?campaign_id=20931&pub_id=31"));
        let rows: Vec<(Option<&str>, &[String], Decimal, PayoutType)> =
            o.payouts.iter().map(|p| (p.goal_id.as_deref(), p.countries.as_slice(), p.revenue, p.payout_type)).collect();
        assert_eq!(
            rows,
            [
                (None, &["DE".to_string(), "GB".to_string()][..], dec("12.5"), PayoutType::Percent),
                (Some("g1"), &[][..], dec("3"), PayoutType::Fixed)
            ]
        );
        assert_eq!(o.caps, [UpstreamCap { event: "clicks".into(), period: "daily".into(), value: dec("10"), goal: None }]);
    }

    #[test]
    fn invalid_key_is_unauthorized_with_the_platforms_message() {
        assert_eq!(parse(CODE13).err(), Some(FetchError::Unauthorized("Invalid API Key".into())));
        let msg = "API Key supplied with the request is invalid. Please cross verify the API Key!";
        assert_eq!(parse(CODE102).err(), Some(FetchError::Unauthorized(msg.into())));
        let t = Trackier::new();
        assert_eq!(t.classify_status(&response(400, CODE13)), Some(FetchError::Unauthorized("Invalid API Key".into())));
        assert_eq!(t.classify_status(&response(400, CODE102)), Some(FetchError::Unauthorized(msg.into())));
        let other = parse(r#"{"success": false, "error": {"code": 7, "message": "Bad page"}}"#);
        assert_eq!(other.err(), Some(FetchError::InvalidPayload("trackier error 7: Bad page".into())));
    }

    #[test]
    fn status_429_is_rate_limited_and_other_statuses_are_the_scaffolds() {
        let t = Trackier::new();
        let mut limited = response(429, r#"{"message": "slow down"}"#);
        limited.headers.insert("retry-after".into(), "3".into());
        assert_eq!(
            t.classify_status(&limited),
            Some(FetchError::RateLimited { retry_after: Some(Duration::from_secs(3)), message: "HTTP 429: slow down".into() })
        );
        assert_eq!(t.classify_status(&response(500, "oops")), None);
        assert_eq!(t.classify_status(&response(400, r#"{"success": false, "error": {"code": 7}}"#)), None);
    }

    #[test]
    fn truncated_html_and_wrong_shapes_are_invalid_payloads() {
        let invalid = |body: &str| match parse(body) {
            Err(FetchError::InvalidPayload(m)) => m,
            other => panic!("expected InvalidPayload for {body:?}, got {other:?}"),
        };
        assert!(invalid(&CAMPAIGNS[..CAMPAIGNS.len() - 40]).starts_with("trackier sent truncated JSON"));
        assert!(invalid("<html><head><title>502 Bad Gateway</title></head></html>").contains("HTML page"));
        assert_eq!(invalid("[1, 2]"), "trackier sent an array, expected a JSON object");
        assert_eq!(
            invalid(r#"{"success": true, "data": {"campaigns": {"id": 1}}}"#),
            "trackier sent data.campaigns as an object, expected an array"
        );
    }

    #[test]
    fn one_broken_campaign_is_reported_and_the_rest_kept() {
        let body = page_of(json!([
            {"id": 1, "title": "Good", "payouts": [{"payout": 2}], "tracking_link": "https://t/1"},
            {"id": 2, "title": "Bad", "payouts": [{"payout": "n/a"}]},
            {"id": 3, "title": "No payouts"},
            "not an object"
        ]));
        let page = parse(&body).expect("page");
        assert_eq!((page.records, page.total_records), (4, Some(3)));
        let bad: Vec<(Option<&str>, &str)> =
            page.offers.iter().filter_map(|o| o.as_ref().err()).map(|e| (e.external_id.as_deref(), e.reason.as_str())).collect();
        assert_eq!(
            bad,
            [(Some("2"), "payout 'n/a' is not a number"), (Some("3"), "no payouts"), (None, "the record is a string, expected an object")]
        );
        assert_eq!(page.offers.iter().flatten().map(|o| o.external_id.as_str()).collect::<Vec<_>>(), ["1"]);
    }

    #[test]
    fn page_request_sends_the_key_as_a_header_and_pages_in_the_query() {
        let creds: Credentials = [("api_key".to_string(), "s3cret".to_string())].into();
        let req = Trackier::new().page_request(&creds, Cursor { page: 2, page_size: 500 }).expect("request");
        assert_eq!(req.url.as_str(), "https://api.trackier.com/v2/publisher/campaigns?page=2&limit=500");
        assert_eq!(req.headers, [("X-Api-Key".to_string(), "s3cret".to_string())]);
        assert!(!req.url.as_str().contains("s3cret"));
        let mut white_label = creds.clone();
        white_label.insert("api_url".into(), "https://api.vcommission.com".into());
        let req = Trackier::new().page_request(&white_label, Cursor { page: 1, page_size: 10 }).expect("request");
        assert_eq!(req.url.as_str(), "https://api.vcommission.com/v2/publisher/campaigns?page=1&limit=10");
        assert!(matches!(Trackier::new().page_request(&Credentials::new(), Cursor { page: 1, page_size: 10 }), Err(FetchError::Config(_))));
    }
}
