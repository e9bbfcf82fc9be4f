//! Offer18 affiliate offers API: `GET {base}/api/af/offers?key=&aid=&mid=&page=&limit=`.
//!
//! The status is a string code in the body (`"response": "200"`), `data` is an object keyed by
//! (zero-padded) offer id, booleans are strings, targeting is comma-separated text and payouts
//! per goal/country come as a condition DNF. There is no total: the scaffold stops on a short
//! or empty page.

use domain::{crypto::Credentials, validate};
use serde_json::Value;

use super::{
    Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, Page, PageRequest, PagingStyle, RawResponse, append_path,
    base_url, body,
    lenient::{self, cap_event_word, cap_period_word, describe, model_word, payout_type_word, push_cap, rows, status_word, unique},
    required,
};
use crate::offer::{Approval, CanonicalOffer, GoalPayout};

const DEFAULT_BASE: &str = "https://api.offer18.com";

pub struct Offer18 {
    info: ConnectorInfo,
}

impl Default for Offer18 {
    fn default() -> Self {
        Self::new()
    }
}

impl Offer18 {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "offer18".into(),
                display_name: "Offer18".into(),
                kind: "native",
                credential_fields: vec![
                    CredentialField {
                        name: "key",
                        label: "API key",
                        required: true,
                        secret: true,
                        help: "Your affiliate API key (Offer18 > Profile > API)",
                    },
                    CredentialField {
                        name: "aid",
                        label: "Affiliate ID",
                        required: true,
                        secret: false,
                        help: "Your affiliate id at the network (aid)",
                    },
                    CredentialField {
                        name: "mid",
                        label: "Network MID",
                        required: true,
                        secret: false,
                        help: "The network's advertiser MID (mid)",
                    },
                    CredentialField {
                        name: "api_url",
                        label: "API URL",
                        required: false,
                        secret: false,
                        help: "Only for white-label hosts; default https://api.offer18.com",
                    },
                ],
                paging: PagingStyle::UntilShortPage,
                default_page_size: 1000,
                rate_limit_requests: 2,
                rate_limit_per: std::time::Duration::from_secs(1),
                approved_only: false,
                docs_url: Some("https://knowledgebase.offer18.com/affiliate/affiliate-api/offers-api".into()),
            },
        }
    }
}

impl Connector for Offer18 {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        let mut url = append_path(base_url(creds, DEFAULT_BASE)?, "/api/af/offers")?;
        url.query_pairs_mut()
            .append_pair("key", required(creds, "key")?)
            .append_pair("aid", required(creds, "aid")?)
            .append_pair("mid", required(creds, "mid")?)
            .append_pair("page", &cursor.page.to_string())
            // Undocumented but honoured; without it the page size is the server's choice.
            .append_pair("limit", &cursor.page_size.to_string());
        Ok(PageRequest { url, headers: vec![], basic_auth: None })
    }

    fn parse_page(&self, _creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        let body = body::json_object("offer18", &resp.body)?;
        if let Some(code) = lenient::string(&body["response"])
            && code != "200"
        {
            return in_body_error(&code, &body);
        }
        let keys: Vec<Value>;
        let records: Vec<(Option<&Value>, &Value)> = match &body["data"] {
            Value::Object(map) => {
                keys = map.keys().map(|k| Value::String(k.clone())).collect();
                keys.iter().zip(map.values()).map(|(k, r)| (Some(k), r)).collect()
            }
            Value::Array(items) => items.iter().map(|r| (None, r)).collect(),
            Value::Null => vec![],
            Value::String(s) if s.trim().is_empty() => vec![],
            other => {
                return Err(FetchError::InvalidPayload(format!(
                    "offer18 sent data as {}, expected an object keyed by offer id",
                    body::kind_of(other)
                )));
            }
        };
        Ok(Page { records: records.len(), offers: records.into_iter().map(|(key, r)| offer(key, r)).collect(), ..Page::default() })
    }
}

/// A body whose `response` code is not "200".
fn in_body_error(code: &str, body: &Value) -> Result<Page, FetchError> {
    let message = [&body["error"], &body["error"]["message"], &body["message"]]
        .into_iter()
        .find_map(lenient::string)
        .unwrap_or_else(|| format!("response code {code}"));
    match code {
        "401" | "403" => Err(FetchError::Unauthorized(message)),
        "429" => Err(FetchError::RateLimited { retry_after: None, message }),
        c if c.starts_with('5') => Err(FetchError::Transient(format!("offer18 answered {c}: {message}"))),
        _ if message.to_lowercase().contains("no offer") => Ok(Page::default()),
        _ => Err(body::classify_message("offer18", message)),
    }
}

/// The shape of every field this connector reads ([`lenient::check_shapes`]).
const SHAPES: &[(&str, lenient::Shape)] = {
    use lenient::Shape;
    &[
        ("offerid", Shape::Scalar),
        ("name", Shape::Scalar),
        ("price", Shape::Scalar),
        ("model", Shape::Scalar),
        ("currency", Shape::Scalar),
        ("authorized", Shape::Scalar),
        ("click_url", Shape::Scalar),
        ("preview_url", Shape::Scalar),
        ("status", Shape::Scalar),
        ("offer_terms", Shape::Scalar),
        ("offer_kpi", Shape::Scalar),
        ("date_end", Shape::Scalar),
        ("category", Shape::Scalar),
        ("capping_conversion", Shape::Scalar),
        ("capping_conversion_period", Shape::Scalar),
        ("capping_budget", Shape::Scalar),
        ("capping_budget_period", Shape::Scalar),
        ("payout", Shape::Records),
        ("os_allow", Shape::Scalar),
        ("device_allow", Shape::Scalar),
    ]
};

fn offer(key: Option<&Value>, r: &Value) -> Result<CanonicalOffer, InvalidOffer> {
    let id = lenient::string(&r["offerid"]).or_else(|| key.and_then(lenient::string));
    let fail = |reason: String| InvalidOffer { external_id: id.clone(), reason };
    if !r.is_object() {
        return Err(fail(format!("the record is {}, expected an object", body::kind_of(r))));
    }
    lenient::check_shapes(r, SHAPES).map_err(&fail)?;
    let id = id.clone().ok_or_else(|| fail("no offerid".into()))?;
    let name = lenient::string(&r["name"]).ok_or_else(|| fail("no name".into()))?;
    let mut o = CanonicalOffer::new(id, name);
    (o.description_html, o.description_text) =
        describe([("", lenient::string(&r["offer_terms"])), ("KPI: ", lenient::string(&r["offer_kpi"]))]);
    o.preview_url = lenient::string(&r["preview_url"]);
    o.tracking_url = lenient::string(&r["click_url"]);
    o.impression_url = lenient::string(&r["impression_url"]);
    o.thumbnail_url = lenient::string(&r["logo"]);
    // A string boolean; "" says nothing.
    let authorized = &r["authorized"];
    o.approval = match lenient::word_text(authorized).and(lenient::boolean(authorized)) {
        Some(true) => Approval::Approved,
        Some(false) => Approval::NotApplied,
        None => Approval::Unknown,
    };
    o.status = lenient::string(&r["status"]).map_or(o.status, |s| status_word(&s));
    let model = lenient::string(&r["model"]);
    o.model = model.as_deref().and_then(model_word);
    o.payout_type = model.as_deref().and_then(payout_type).unwrap_or(o.payout_type);
    o.currency = match lenient::string(&r["currency"]) {
        Some(c) => Some(validate::currency(&c).ok_or_else(|| fail(format!("currency '{c}' is not an ISO 4217 code")))?),
        None => None,
    };
    let price = [&r["price"], &r["payout"][0]["payout"]].into_iter().find_map(lenient::string).ok_or_else(|| fail("no price".into()))?;
    o.revenue = lenient::decimal_str(&price).ok_or_else(|| fail(format!("price '{price}' is not a number")))?;
    o.payouts = payouts(r, &o).map_err(fail)?;
    let list = |field: &str, role| lenient::country_words(&r[field], &["code"], field).and_then(|w| lenient::countries(field, role, w));
    o.countries = list("country_allow", lenient::CountryList::Allow).map_err(fail)?;
    o.blocked_countries = list("country_block", lenient::CountryList::Exact).map_err(fail)?;
    o.os = unique(lenient::csv(&r["os_allow"]).iter().map(|s| lenient::os_name(s)).filter(|s| s != "all"));
    o.devices = unique(lenient::csv(&r["device_allow"]).iter().map(|s| s.to_lowercase()).filter(|s| s != "all"));
    o.categories = unique(lenient::csv(&r["category"]));
    for rule in rows(&r["capping"]) {
        let word = |k: &str| lenient::string(&rule[k]);
        push_cap(
            &mut o.caps,
            word("type").and_then(|w| cap_event_word(&w)),
            word("period").and_then(|w| cap_period_word(&w)),
            lenient::decimal(&rule["value"]),
            word("event"),
        );
    }
    // The older API's flat caps.
    for (event, value, period) in
        [("conversions", "capping_conversion", "capping_conversion_period"), ("revenue", "capping_budget", "capping_budget_period")]
    {
        let period = lenient::string(&r[period]).and_then(|w| cap_period_word(&w));
        push_cap(&mut o.caps, cap_event_word(event), period, lenient::decimal(&r[value]), None);
    }
    o.expires_at = lenient::datetime(&r["date_end"]);
    o.raw = r.clone();
    Ok(o)
}

/// Offer18's `model` as a payout type: CPS is revenue share, a percentage of the sale
/// (like Trackier's `cps`); the shared word table leaves `cps` to each platform.
fn payout_type(model: &str) -> Option<domain::model::PayoutType> {
    if model.trim().eq_ignore_ascii_case("cps") { Some(domain::model::PayoutType::Percent) } else { payout_type_word(model) }
}

/// `payout[]` rows: each AND-group of a row's `condition` DNF is one payout, its `event`
/// condition the goal and its `country` conditions the countries; a row without conditions
/// applies to every goal and country.
fn payouts(r: &Value, o: &CanonicalOffer) -> Result<Vec<GoalPayout>, String> {
    let mut out = vec![];
    for (i, row) in rows(&r["payout"]).into_iter().enumerate() {
        let Some(amount) = lenient::string(&row["payout"]) else { continue };
        let revenue = lenient::decimal_str(&amount).ok_or_else(|| format!("payout[{i}] '{amount}' is not a number"))?;
        let currency = match lenient::string(&row["currency"]) {
            Some(c) => Some(validate::currency(&c).ok_or_else(|| format!("payout[{i}] currency '{c}' is not an ISO 4217 code"))?),
            None => o.currency.clone(),
        };
        let payout_type = lenient::string(&row["model"]).and_then(|m| payout_type(&m)).unwrap_or(o.payout_type);
        static NO_CONDITIONS: Value = Value::Null;
        let mut groups = rows(&row["condition"]);
        if groups.is_empty() {
            groups.push(&NO_CONDITIONS);
        }
        for group in groups {
            let conditions = lenient::items(group);
            let is = |c: &Value, field: &str| lenient::string(&c["field"]).is_some_and(|f| f.eq_ignore_ascii_case(field));
            let goal_id = conditions.iter().filter(|c| is(c, "event")).flat_map(|c| lenient::csv(&c["value"])).next();
            let excludes = |c: &Value| lenient::string(&c["operator_type"]).is_some_and(|op| op.eq_ignore_ascii_case("is_not_equal"));
            let field = format!("payout[{i}] country condition");
            let countries = |exclude: bool| -> Result<Vec<String>, String> {
                let mut words = vec![];
                for c in conditions.iter().filter(|c| is(c, "country") && excludes(c) == exclude) {
                    words.extend(lenient::country_words(&c["value"], &["code"], &field)?);
                }
                lenient::countries(&field, lenient::CountryList::Exact, words)
            };
            out.push(GoalPayout {
                // `country is_not_equal X`: the row pays everywhere except X.
                excluded_countries: countries(true)?,
                goal_id,
                goal_name: None,
                countries: countries(false)?,
                revenue,
                payout_type,
                currency: currency.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use domain::model::{OfferModel, PayoutType};
    use rust_decimal::Decimal;
    use serde_json::json;

    use super::*;
    use crate::offer::{UpstreamCap, UpstreamStatus};

    const DOCS: &str = include_str!("../../fixtures/offer18/offers_docs_example_truncated.json");
    const REAL: &str = include_str!("../../fixtures/offer18/offers_real_older_api.json");
    const BAD_KEY: &str = include_str!("../../fixtures/offer18/error_400_invalid_key_synthetic.json");
    const NO_OFFERS: &str = include_str!("../../fixtures/offer18/error_400_no_offers_synthetic.json");

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn parse(body: &str) -> Result<Page, FetchError> {
        let resp = RawResponse { status: 200, headers: Default::default(), body: bytes::Bytes::from(body.to_string()) };
        Offer18::new().parse_page(&Credentials::new(), &resp)
    }

    fn only(page: &Page) -> &CanonicalOffer {
        assert_eq!(page.offers.len(), 1, "{:?}", page.offers);
        page.offers[0].as_ref().expect("a valid offer")
    }

    fn creds() -> Credentials {
        [("key", "k3y"), ("aid", "55"), ("mid", "7")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn docs_example_maps_ids_targeting_caps_and_condition_payouts() {
        let page = parse(DOCS).expect("page");
        assert_eq!((page.records, page.total_records, page.total_pages, page.has_more), (1, None, None, None));
        let o = only(&page);
        assert_eq!(o.external_id, "00011", "zero padding is part of the id");
        assert_eq!(o.name, "XXXXX");
        assert_eq!((o.revenue, o.payout_type, o.model), (dec("100"), PayoutType::Fixed, Some(OfferModel::Cpa)));
        assert_eq!(o.currency.as_deref(), Some("USD"));
        assert_eq!(o.countries, ["IN", "US"]);
        assert_eq!(o.blocked_countries, ["GB"]);
        assert_eq!(o.categories, ["download campaigns", "gaming", "subscription offers", "Ecommerece Campaign"]);
        assert_eq!((o.status, o.approval, o.tracking_url.as_deref()), (UpstreamStatus::Active, Approval::Unknown, None));
        assert_eq!(o.preview_url.as_deref(), Some("https://www.example.com/?offerid=00011"));
        assert_eq!(o.thumbnail_url.as_deref(), Some("https://example.com/sample.jpeg/"));
        assert_eq!(
            (o.description_html.as_deref(), o.description_text.as_deref()),
            (Some("These are the offer terms"), Some("These are the offer terms"))
        );
        assert_eq!(o.expires_at.map(|t| t.to_rfc3339()).as_deref(), Some("2021-08-31T02:19:00+00:00"));
        // The shared and the affiliate rule are the same cap once read.
        assert_eq!(o.caps, [UpstreamCap { event: "conversions".into(), period: "daily".into(), value: dec("100"), goal: None }]);
        // The DNF's event condition names the goal; the cut source leaves its country without a value.
        let row = GoalPayout {
            excluded_countries: vec![],
            goal_id: Some("reagistration".into()),
            goal_name: None,
            countries: vec![],
            revenue: dec("515.0000"),
            payout_type: PayoutType::Fixed,
            currency: Some("USD".into()),
        };
        assert_eq!(o.payouts, [row]);
        assert_eq!(o.raw["offerid"], "00011");
    }

    #[test]
    fn real_older_payload_is_not_authorized_and_keeps_the_exact_price() {
        let page = parse(REAL).expect("page");
        let o = only(&page);
        assert_eq!(o.external_id, "3060765");
        assert_eq!(o.name, "LifeAfter (iPhone 8.0+, iPad 8.0+) JP - Non incent");
        assert_eq!(o.revenue.to_string(), "0.603");
        assert_eq!((o.approval, o.tracking_url.as_deref(), o.is_approved()), (Approval::NotApplied, None, false));
        assert_eq!(o.countries, ["JP"]);
        assert!(o.blocked_countries.is_empty() && o.caps.is_empty() && o.payouts.is_empty() && o.categories.is_empty());
        assert_eq!(o.preview_url.as_deref(), Some("https://apps.apple.com/US/app/id1441752845?ls=1&mt=8"));
        assert_eq!(o.expires_at.map(|t| t.to_rfc3339()).as_deref(), Some("2020-10-16T11:07:23+00:00"));
        assert!(o.description_text.as_deref().is_some_and(|t| t.starts_with("You CAN T deliver to Music FM")));
    }

    #[test]
    fn authorized_offer_with_condition_rows_csv_targeting_and_flat_caps() {
        let body = json!({"response": "200", "data": {"7": {
            "offerid": "7", "name": " Shop ", "price": "12.5", "model": "RevShare", "currency": "eur",
            "authorized": "true", "click_url": "https://trk.example/c?o=7&a=55", "status": "paused",
            "offer_terms": "<p>Buy &amp; save</p>", "offer_kpi": "No fraud",
            "os_allow": "Android, iOS,all", "device_allow": "Mobile, Tablet", "country_allow": "us, ca ,xx",
            "capping_conversion": "50", "capping_conversion_period": "monthly", "capping_budget": "0", "capping_budget_period": "daily",
            "payout": [
                {"payout": "10.00", "currency": "USD", "model": "CPA", "condition": [
                    [{"field": "event", "operator_type": "is_equal", "value": "sale"}, {"field": "country", "operator_type": "is_equal", "value": "US, CA"}],
                    [{"field": "country", "operator_type": "is_equal", "value": "DE"}, {"field": "country", "operator_type": "is_not_equal", "value": "FR"}]
                ]},
                {"payout": "7", "condition": []}
            ]
        }}});
        let page = parse(&body.to_string()).expect("page");
        let o = only(&page);
        assert_eq!((o.name.as_str(), o.approval, o.is_approved()), ("Shop", Approval::Approved, true));
        assert_eq!(o.tracking_url.as_deref(), Some("https://trk.example/c?o=7&a=55"));
        assert_eq!((o.revenue, o.payout_type, o.model), (dec("12.5"), PayoutType::Percent, Some(OfferModel::RevShare)));
        assert_eq!((o.currency.as_deref(), o.status), (Some("EUR"), UpstreamStatus::Paused));
        assert_eq!(o.os, ["android", "ios"]);
        assert_eq!(o.devices, ["mobile", "tablet"]);
        assert_eq!(o.countries, ["US", "CA"]);
        assert_eq!(o.description_text.as_deref(), Some("Buy & save KPI: No fraud"));
        assert_eq!(o.caps, [UpstreamCap { event: "conversions".into(), period: "monthly".into(), value: dec("50"), goal: None }]);
        let row = |goal: Option<&str>, countries: &[&str], revenue: &str, payout_type, currency: &str| GoalPayout {
            excluded_countries: if countries == ["DE"] { vec!["FR".to_string()] } else { vec![] },
            goal_id: goal.map(str::to_string),
            goal_name: None,
            countries: countries.iter().map(|c| c.to_string()).collect(),
            revenue: dec(revenue),
            payout_type,
            currency: Some(currency.into()),
        };
        assert_eq!(
            o.payouts,
            [
                row(Some("sale"), &["US", "CA"], "10.00", PayoutType::Fixed, "USD"),
                row(None, &["DE"], "10.00", PayoutType::Fixed, "USD"),
                row(None, &[], "7", PayoutType::Percent, "EUR"),
            ]
        );
    }

    #[test]
    fn string_codes_in_the_body_are_classified() {
        assert_eq!(parse(BAD_KEY).err(), Some(FetchError::Unauthorized("Invalid API key".into())));
        assert_eq!(parse(r#"{"response": "403", "error": "Access denied"}"#).err(), Some(FetchError::Unauthorized("Access denied".into())));
        assert!(matches!(parse(r#"{"response": "429"}"#), Err(FetchError::RateLimited { .. })));
        assert!(matches!(parse(r#"{"response": "503", "error": "maintenance"}"#), Err(FetchError::Transient(_))));
        let other = parse(r#"{"response": "400", "error": "unknown filter"}"#);
        assert!(matches!(&other, Err(FetchError::InvalidPayload(m)) if m.contains("unknown filter")), "{other:?}");
        for empty in
            [NO_OFFERS, r#"{"response": "200", "data": {}}"#, r#"{"response": "200", "data": ""}"#, r#"{"response": 200, "data": []}"#]
        {
            let page = parse(empty).expect("empty page");
            assert_eq!((page.records, page.offers.len()), (0, 0), "{empty}");
        }
    }

    #[test]
    fn truncated_html_and_wrong_shapes_are_invalid_payloads() {
        let invalid = |body: &str| match parse(body) {
            Err(FetchError::InvalidPayload(m)) => m,
            other => panic!("expected InvalidPayload for {body:?}, got {other:?}"),
        };
        assert!(invalid(&REAL[..REAL.len() / 2]).starts_with("offer18 sent truncated JSON"));
        assert!(invalid("<!DOCTYPE html><html><body>Forbidden</body></html>").contains("HTML page"));
        assert_eq!(invalid("[]"), "offer18 sent an array, expected a JSON object");
        assert!(invalid(r#"{"response": "200", "data": 5}"#).contains("data as a number"));
        assert!(invalid("").contains("empty body"));
    }

    #[test]
    fn one_broken_offer_is_reported_and_the_rest_kept() {
        let body = json!({"response": "200", "data": {
            "1": {"offerid": "1", "name": "Good", "price": 2, "click_url": "https://t/1"},
            "2": {"offerid": "2", "name": "Bad", "price": "free"},
            "3": {"offerid": "3", "name": "Good too", "price": "0.50"}
        }});
        let page = parse(&body.to_string()).expect("page");
        assert_eq!(page.records, 3);
        let bad: Vec<&InvalidOffer> = page.offers.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(bad, [&InvalidOffer { external_id: Some("2".into()), reason: "price 'free' is not a number".into() }]);
        let good: Vec<(&str, Decimal)> = page.offers.iter().flatten().map(|o| (o.external_id.as_str(), o.revenue)).collect();
        assert_eq!(good, [("1", dec("2")), ("3", dec("0.50"))]);
    }

    #[test]
    fn page_request_sends_key_ids_and_paging_in_the_query() {
        let req = Offer18::new().page_request(&creds(), Cursor { page: 3, page_size: 1000 }).expect("request");
        assert_eq!(req.url.as_str(), "https://api.offer18.com/api/af/offers?key=k3y&aid=55&mid=7&page=3&limit=1000");
        assert!(req.headers.is_empty() && req.basic_auth.is_none());
        let mut white_label = creds();
        white_label.insert("api_url".into(), "http://127.0.0.1:9/o18/".into());
        let req = Offer18::new().page_request(&white_label, Cursor { page: 1, page_size: 50 }).expect("request");
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/o18/api/af/offers?key=k3y&aid=55&mid=7&page=1&limit=50");
        let mut missing = creds();
        missing.remove("mid");
        let err = Offer18::new().page_request(&missing, Cursor { page: 1, page_size: 50 }).err();
        assert_eq!(err, Some(FetchError::Config("credential field 'mid' is missing".into())));
    }

    /// A block list or a payout condition with a code we cannot read fails the offer: dropping
    /// it would let the blocked country in, or pay it the default amount.
    #[test]
    fn unknown_country_codes_in_block_lists_and_conditions_fail_the_offer() {
        let offer = |extra: Value| {
            let mut o =
                json!({"offerid": "7", "name": "Shop", "price": "1", "currency": "USD", "authorized": "true", "click_url": "https://t/7"});
            o.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            json!({"response": "200", "data": {"7": o}}).to_string()
        };
        let reason = |extra: Value| parse(&offer(extra)).expect("page").offers[0].as_ref().expect_err("invalid").reason.clone();
        assert_eq!(reason(json!({"country_block": "US, XX"})), "country_block: 'XX' is not an ISO 3166 country code");
        assert_eq!(reason(json!({"country_allow": 5})), "country_allow: 5 is not a country list");
        assert_eq!(
            reason(
                json!({"payout": [{"payout": "2", "condition": [[{"field": "country", "operator_type": "is_not_equal", "value": "U.S."}]]}]})
            ),
            "payout[0] country condition: 'U.S.' is not an ISO 3166 country code"
        );
        assert_eq!(
            reason(json!({"payout": [{"payout": "2", "currency": "dollars"}]})),
            "payout[0] currency 'dollars' is not an ISO 4217 code"
        );
        let page = parse(&offer(json!({"country_allow": ["us", "ca"]}))).expect("page");
        assert_eq!(only(&page).countries, ["US", "CA"]);
    }
}
