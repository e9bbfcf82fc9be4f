//! Everflow affiliate API: `GET /v1/affiliates/offersrunnable`, the offers the affiliate can
//! run, each with its full `relationship` (payout entries, ruleset, category).
//!
//! Everflow follows proto3 conventions: unset values are `0`, `""`, `false` or `[]`, or are
//! omitted, so zero means unset everywhere (and unlimited for caps).

use std::time::Duration;

use domain::{crypto::Credentials, model::OfferModel, model::PayoutType};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, Page, PageRequest, PagingStyle, RawRecord, RawResponse,
    SplitPage, base_url, body, endpoint, lenient, required, scaffold,
};
use crate::offer::{Approval, CanonicalOffer, GoalPayout, UpstreamCap, UpstreamStatus};

const DEFAULT_BASE: &str = "https://api.eflow.team";

pub struct Everflow {
    info: ConnectorInfo,
}

impl Everflow {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "everflow".into(),
                display_name: "Everflow".into(),
                kind: "native",
                credential_fields: vec![
                    CredentialField {
                        name: "api_key",
                        label: "Affiliate API key",
                        required: true,
                        secret: true,
                        help: "The affiliate API key the network created for you (Manage Affiliate > API).",
                    },
                    CredentialField {
                        name: "api_url",
                        label: "API URL",
                        required: false,
                        secret: false,
                        help: "Defaults to https://api.eflow.team; EU accounts use https://api-eu.eflow.team.",
                    },
                ],
                paging: PagingStyle::PageTotal,
                default_page_size: 500,
                rate_limit_requests: 5,
                rate_limit_per: Duration::from_secs(1),
                approved_only: true,
                docs_url: Some("https://developers.everflow.io/api-reference/get-affiliatesoffersrunnable".into()),
            },
        }
    }
}

impl Default for Everflow {
    fn default() -> Self {
        Self::new()
    }
}

impl Connector for Everflow {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        let api_key = required(creds, "api_key")?.trim();
        let mut url = endpoint(base_url(creds, DEFAULT_BASE)?, &["v1", "affiliates", "offersrunnable"])?;
        url.query_pairs_mut().append_pair("page", &cursor.page.to_string()).append_pair("page_size", &cursor.page_size.max(1).to_string());
        Ok(PageRequest {
            url,
            headers: vec![("X-Eflow-API-Key".into(), api_key.into()), ("Accept".into(), "application/json".into())],
            basic_auth: None,
        })
    }

    fn parse_page(&self, _creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        let body = body::json_object("everflow", &resp.body)?;
        if let Some(message) = error_text(&body) {
            return Err(FetchError::InvalidPayload(message));
        }
        let offers = match &body["offers"] {
            Value::Array(a) => a.as_slice(),
            // proto3 omits an empty list.
            Value::Null => &[],
            other => {
                return Err(FetchError::InvalidPayload(format!("everflow page 'offers' is {}, not a list", body::kind_of(other))));
            }
        };
        Ok(Page {
            offers: offers.iter().map(to_offer).collect(),
            records: offers.len(),
            total_pages: None,
            total_records: lenient::string(&body["paging"]["total_count"]).and_then(|t| t.parse().ok()),
            has_more: None,
            unchanged: vec![],
            now: None,
        })
    }

    /// The usual page (`{"offers": [...], "paging": {...}}`) cut into its records without
    /// parsing them, each keyed by its `network_offer_id` read as [`Everflow::parse_page`]
    /// reads it. Anything else (an error body, a key sent twice, `offers` not a list, a body
    /// that is not an object) is left to `parse_page`.
    fn split_page(&self, resp: &RawResponse) -> Option<SplitPage> {
        split(&resp.body)
    }

    /// One record of a split page, read as [`Everflow::parse_page`] reads it.
    fn parse_record(&self, record: &RawRecord, json: &[u8]) -> Result<CanonicalOffer, InvalidOffer> {
        let row: Value = serde_json::from_slice(json)
            .map_err(|e| InvalidOffer { external_id: record.key.clone(), reason: format!("the offer's record is not JSON: {e}") })?;
        to_offer(&row)
    }

    fn classify_status(&self, resp: &RawResponse) -> Option<FetchError> {
        let message = || {
            serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|b| error_text(&b))
                .unwrap_or_else(|| format!("everflow answered HTTP {}", resp.status))
        };
        match resp.status {
            401 | 403 => Some(FetchError::Unauthorized(message())),
            429 => Some(FetchError::RateLimited { retry_after: scaffold::retry_after(&resp.headers), message: message() }),
            _ => None,
        }
    }
}

/// See [`Everflow::split_page`].
fn split(body: &bytes::Bytes) -> Option<SplitPage> {
    use serde::Deserialize;
    use serde_json::value::RawValue;
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        offers: Vec<&'a RawValue>,
        paging: Option<Paging>,
        // Present with a value: the whole-page parse decides what it means (null reads as
        // absent, as it does there).
        error: Option<serde::de::IgnoredAny>,
        #[serde(rename = "Error")]
        error_old: Option<serde::de::IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct Paging {
        total_count: Option<Value>,
    }
    #[derive(Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        network_offer_id: Option<&'a RawValue>,
    }
    // A derived struct also reads a JSON array: only an object is the usual page.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let env: Envelope = serde_json::from_slice(body).ok()?;
    if env.error.is_some() || env.error_old.is_some() {
        return None;
    }
    let start = body.as_ptr() as usize;
    let records = env
        .offers
        .iter()
        .map(|raw| {
            let at = raw.get().as_ptr() as usize - start;
            // The key is the id the whole parse would give; a record it cannot be read from is
            // parsed in full (and refused there if it is not an offer).
            let key = serde_json::from_str::<Id>(raw.get())
                .ok()
                .and_then(|r| r.network_offer_id)
                .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
                .and_then(|v| id(&v));
            RawRecord { key, span: at..at + raw.get().len() }
        })
        .collect();
    let total_records = env.paging.and_then(|p| p.total_count).and_then(|t| lenient::string(&t)).and_then(|t| t.parse().ok());
    Some(SplitPage { body: body.clone(), records, total_pages: None, total_records, has_more: None })
}

/// The `{"error": "..."}` body (older responses spell it `Error`).
fn error_text(body: &Value) -> Option<String> {
    lenient::string(&body["error"]).or_else(|| lenient::string(&body["Error"]))
}

/// A proto3 id: `0` and `""` are unset.
fn id(v: &Value) -> Option<String> {
    lenient::string(v).filter(|s| s != "0")
}

fn lower(v: &Value) -> Option<String> {
    lenient::string(v).map(|s| s.to_ascii_lowercase())
}

/// The shape of every field this connector reads ([`lenient::check_shapes`]).
const SHAPES: &[(&str, lenient::Shape)] = {
    use lenient::Shape;
    &[
        ("network_offer_id", Shape::Scalar),
        ("name", Shape::Scalar),
        ("html_description", Shape::Scalar),
        ("preview_url", Shape::Scalar),
        ("tracking_url", Shape::Scalar),
        ("impression_url", Shape::Scalar),
        ("currency_id", Shape::Scalar),
        ("offer_status", Shape::Scalar),
        ("date_live_until", Shape::Scalar),
        ("thumbnail_url", Shape::Scalar),
        ("relationship", Shape::Map),
        ("relationship.payouts", Shape::Map),
        ("relationship.payouts.entries", Shape::Records),
        ("relationship.ruleset", Shape::Map),
        ("relationship.category", Shape::Map),
    ]
};

fn to_offer(o: &Value) -> Result<CanonicalOffer, InvalidOffer> {
    let external_id = id(&o["network_offer_id"]);
    let invalid = |reason: String| InvalidOffer { external_id: external_id.clone(), reason };
    if !o.is_object() {
        return Err(invalid(format!("offer is {}, not an object", body::kind_of(o))));
    }
    lenient::check_shapes(o, SHAPES).map_err(&invalid)?;
    let Some(offer_id) = external_id.clone() else {
        return Err(invalid("offer has no network_offer_id".into()));
    };
    let Some(name) = lenient::string(&o["name"]) else {
        return Err(invalid("offer has no name".into()));
    };
    let rel = &o["relationship"];
    let mut offer = CanonicalOffer::new(offer_id, name);

    if let Some(description) = lenient::string(&o["html_description"]) {
        if lenient::boolean(&o["is_description_plain_text"]) == Some(true) {
            offer.description_text = Some(description.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|t| !t.is_empty());
        }
        offer.description_html = Some(description);
    }
    offer.preview_url = lenient::string(&o["preview_url"]);
    offer.tracking_url = lenient::string(&o["tracking_url"]);
    offer.impression_url = lenient::string(&o["impression_tracking_url"]);
    offer.approval = match lower(&rel["offer_affiliate_status"]).as_deref() {
        Some("approved" | "public") => Approval::Approved,
        Some("pending") => Approval::Pending,
        Some("rejected") => Approval::Rejected,
        Some("not_applied") => Approval::NotApplied,
        // offersrunnable lists runnable offers only; an omitted status is the zero value.
        None if offer.tracking_url.is_some() => Approval::Approved,
        _ => Approval::Unknown,
    };
    offer.status = match lower(&o["offer_status"]).as_deref() {
        Some("active") => UpstreamStatus::Active,
        Some("paused") => UpstreamStatus::Paused,
        Some("pending") => UpstreamStatus::Pending,
        Some("deleted") => UpstreamStatus::Deleted,
        _ => UpstreamStatus::Unknown,
    };
    offer.currency = match lenient::string(&o["currency_id"]) {
        None => None,
        Some(c) => Some(domain::validate::currency(&c).ok_or_else(|| invalid(format!("currency_id '{c}' is not an ISO 4217 code")))?),
    };

    // Payout entries: `{total, entries}`; the older YAML's plain array is accepted too.
    let entries = match &rel["payouts"] {
        Value::Array(_) => lenient::items(&rel["payouts"]),
        p => lenient::items(&p["entries"]),
    };
    // The base conversion is the `is_default` entry (else the first); the others are events.
    let default_index = entries.iter().position(|e| lenient::boolean(&e["is_default"]) == Some(true)).unwrap_or(0);
    for (i, e) in entries.iter().enumerate() {
        let entry_name = lenient::string(&e["entry_name"]);
        let label = entry_name.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let amount = money(&e["payout_amount"]).map_err(|m| invalid(format!("payout entry '{label}': payout_amount {m}")))?;
        let percentage = money(&e["payout_percentage"]).map_err(|m| invalid(format!("payout entry '{label}': payout_percentage {m}")))?;
        let payout_type = lower(&e["payout_type"]).unwrap_or_default();
        let (kind, revenue, model) = match payout_type.as_str() {
            "cps" => (PayoutType::Percent, percentage, Some(OfferModel::Cps)),
            "prv" => (PayoutType::Percent, percentage, Some(OfferModel::RevShare)),
            "cpc" => (PayoutType::Fixed, amount, Some(OfferModel::Cpc)),
            "cpm" => (PayoutType::Fixed, amount, Some(OfferModel::Cpm)),
            "cpa" | "cpa_cps" => (PayoutType::Fixed, amount, Some(OfferModel::Cpa)),
            _ => (PayoutType::Fixed, amount, None),
        };
        let goal_id = id(&e["network_offer_payout_revenue_id"]);
        let row = |revenue, payout_type| GoalPayout {
            excluded_countries: vec![],
            goal_id: goal_id.clone(),
            goal_name: entry_name.clone(),
            countries: vec![],
            revenue,
            payout_type,
            currency: offer.currency.clone(),
        };
        offer.payouts.push(row(revenue, kind));
        if payout_type == "cpa_cps" && percentage > Decimal::ZERO {
            // CPA + CPS: a flat amount plus a share of the sale.
            offer.payouts.push(row(percentage, PayoutType::Percent));
        }
        if i == default_index {
            offer.payout_type = kind;
            offer.revenue = revenue;
            offer.model = model;
        }
    }

    let ruleset = &rel["ruleset"];
    let mut include = vec![];
    let mut exclude = vec![];
    let field = "relationship.ruleset.countries";
    match &ruleset["countries"] {
        rules @ (Value::Array(_) | Value::Object(_)) if rules.get("country_code").is_none() => {
            for c in lenient::items(rules) {
                let code = lenient::country_item(c, &["country_code"], field).map_err(&invalid)?;
                if excluded(c) { exclude.extend(code) } else { include.extend(code) }
            }
        }
        other => {
            let words = lenient::country_words(other, &["country_code"], field).map_err(&invalid)?;
            // A single rule object keeps its own targeting type.
            if excluded(other) { exclude = words } else { include = words }
        }
    }
    offer.countries = lenient::countries(field, lenient::CountryList::Allow, include).map_err(&invalid)?;
    offer.blocked_countries = lenient::countries(field, lenient::CountryList::Exact, exclude).map_err(&invalid)?;
    for p in lenient::items(&ruleset["platforms"]).into_iter().filter(|p| !excluded(p)) {
        if let Some(os) = lenient::string(&p["label"]).map(|l| lenient::os_name(&l))
            && !offer.os.contains(&os)
        {
            offer.os.push(os);
        }
    }
    for d in lenient::items(&ruleset["device_types"]).into_iter().filter(|d| !excluded(d)) {
        if let Some(device) = lower(&d["label"])
            && !offer.devices.contains(&device)
        {
            offer.devices.push(device);
        }
    }
    if let Some(category) = lenient::string(&rel["category"]["name"])
        && matches!(lower(&rel["category"]["status"]).as_deref(), None | Some("active"))
    {
        offer.categories.push(category);
    }

    // Caps count only when enabled on the offer; 0 = unlimited.
    if lenient::boolean(&o["is_caps_enabled"]) != Some(false) {
        for (period, period_name) in [("daily", "daily"), ("weekly", "weekly"), ("monthly", "monthly"), ("global", "total")] {
            for (kind, event) in [("conversion", "conversions"), ("payout", "payout"), ("click", "clicks")] {
                if let Some(value) = lenient::decimal(&o[format!("{period}_{kind}_cap").as_str()]).filter(|v| *v > Decimal::ZERO) {
                    offer.caps.push(UpstreamCap { event: event.into(), period: period_name.into(), value, goal: None });
                }
            }
        }
    }
    offer.expires_at = lenient::datetime(&o["date_live_until"]);
    offer.thumbnail_url = lenient::string(&o["thumbnail_url"]).or_else(|| lenient::string(&rel["thumbnail_asset"]["url"]));
    Ok(offer)
}

fn excluded(rule: &Value) -> bool {
    lower(&rule["targeting_type"]).as_deref() == Some("exclude")
}

/// A money field: omitted = 0 (proto3); present but not a non-negative number = an error.
fn money(v: &Value) -> Result<Decimal, String> {
    lenient::money(v).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, str::FromStr};

    use serde_json::json;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn response(status: u16, body: impl Into<Vec<u8>>) -> RawResponse {
        RawResponse { status, headers: BTreeMap::new(), body: bytes::Bytes::from(body.into()) }
    }

    fn parse(body: impl Into<Vec<u8>>) -> Result<Page, FetchError> {
        Everflow::new().parse_page(&Credentials::new(), &response(200, body))
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn docs_offer() -> Value {
        fixture(include_str!("../../fixtures/everflow/alloffers_docs_example.json"))["offers"][0].clone()
    }

    fn page_of(offers: Vec<Value>) -> String {
        json!({"offers": offers, "paging": {"page": 1, "page_size": 50, "total_count": offers.len()}}).to_string()
    }

    fn only(page: &Page) -> &CanonicalOffer {
        assert_eq!(page.offers.len(), 1);
        page.offers[0].as_ref().expect("a valid offer")
    }

    /// An offersrunnable offer with the relationship parts the docs describe (no real sample
    /// with payouts and a ruleset exists, so it is built here).
    fn runnable_offer() -> Value {
        let mut o = docs_offer();
        o["network_offer_id"] = json!(42);
        o["currency_id"] = json!("eur");
        o["thumbnail_url"] = json!("");
        o["date_live_until"] = json!("2030-06-30 23:00:00");
        o["relationship"] = json!({
            "offer_affiliate_status": "approved",
            "category": {"network_category_id": 3, "name": "Finance", "status": "active"},
            "payouts": {"total": 3, "entries": [
                {"network_offer_payout_revenue_id": 11, "entry_name": "Base", "payout_type": "cpa", "payout_amount": 12.35, "payout_percentage": 0, "is_default": true},
                {"network_offer_payout_revenue_id": 12, "entry_name": "Deposit", "payout_type": "cps", "payout_amount": 0, "payout_percentage": 30, "is_default": false},
                {"network_offer_payout_revenue_id": 13, "entry_name": "Upsell", "payout_type": "cpa_cps", "payout_amount": 1.5, "payout_percentage": 5}
            ]},
            "ruleset": {
                "countries": [
                    {"country_id": 227, "country_code": "US", "targeting_type": "include", "match_type": "exact", "label": "United States"},
                    {"country_id": 38, "country_code": "ca", "targeting_type": "include", "match_type": "exact", "label": "Canada"},
                    {"country_id": 226, "country_code": "GB", "targeting_type": "exclude", "match_type": "exact", "label": "United Kingdom"}
                ],
                "platforms": [{"label": "iOS", "targeting_type": "include"}, {"label": "Windows", "targeting_type": "exclude"}],
                "device_types": [{"label": "Mobile", "targeting_type": "include"}]
            },
            "thumbnail_asset": {"url": "https://cdn.example/42.png"}
        });
        o
    }

    #[test]
    fn docs_example_maps_the_base_fields_and_total() {
        let page = parse(include_str!("../../fixtures/everflow/alloffers_docs_example.json")).expect("page");
        assert_eq!((page.records, page.total_records, page.total_pages, page.has_more), (1, Some(34), None, None));
        let o = only(&page);
        assert_eq!((o.external_id.as_str(), o.name.as_str()), ("1", "Offer Example"));
        assert_eq!(o.tracking_url.as_deref(), Some("http://www.servetrack.test/9W598/2CTPL/"));
        assert_eq!(o.approval, Approval::Approved);
        assert!(o.is_approved());
        assert_eq!(o.status, UpstreamStatus::Active);
        assert_eq!(o.currency.as_deref(), Some("USD"));
        // "" is unset
        assert_eq!((o.preview_url.as_deref(), o.thumbnail_url.as_deref(), o.impression_url.as_deref()), (None, None, None));
        assert_eq!((o.description_html.as_deref(), o.expires_at), (None, None));
        // no payout entries on alloffers: zero, fixed
        assert_eq!((o.revenue, o.payout_type, o.model), (Decimal::ZERO, PayoutType::Fixed, None));
        // is_caps_enabled false: the stored cap values are not in force
        assert!(o.caps.is_empty());
    }

    #[test]
    fn enabled_caps_keep_nonzero_values_exactly() {
        let mut o = docs_offer();
        o["is_caps_enabled"] = json!(true);
        let page = parse(page_of(vec![o])).expect("page");
        let caps: Vec<_> = only(&page).caps.iter().map(|c| (c.event.as_str(), c.period.as_str(), c.value)).collect();
        assert_eq!(
            caps,
            [
                ("payout", "daily", dec("10.3")),
                ("conversions", "weekly", dec("88")),
                ("clicks", "monthly", dec("2500")),
                ("conversions", "total", dec("125")),
                ("payout", "total", dec("300.5")),
            ]
        );
    }

    #[test]
    fn real_production_offer_without_paging() {
        let page = parse(include_str!("../../fixtures/everflow/alloffers_real_production.json")).expect("page");
        assert_eq!((page.records, page.total_records), (1, None));
        let o = only(&page);
        assert_eq!((o.external_id.as_str(), o.name.as_str()), ("7", "College Allstar (A)"));
        // visibility require_approval, relationship approved
        assert_eq!(o.approval, Approval::Approved);
        assert_eq!(o.tracking_url.as_deref(), Some("https://www.nettracx.com/5ZS8GM/BP658/"));
        assert_eq!(o.preview_url.as_deref(), Some("https://www.collegeallstar.com/collegefunnel/"));
        // plain-text description: kept as sent, whitespace collapsed in the text form
        assert!(o.description_html.as_deref().expect("description").contains("financial aid\n\nYOU MUST"));
        assert!(
            o.description_text
                .as_deref()
                .expect("text")
                .starts_with("Let us help you find a school and you may qualify for financial aid YOU MUST")
        );
    }

    #[test]
    fn runnable_relationship_payouts_targeting_and_category() {
        let page = parse(page_of(vec![runnable_offer()])).expect("page");
        let o = only(&page);
        assert_eq!(o.external_id, "42");
        assert_eq!((o.payout_type, o.revenue, o.model), (PayoutType::Fixed, dec("12.35"), Some(OfferModel::Cpa)));
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        let rows: Vec<_> = o
            .payouts
            .iter()
            .map(|p| (p.goal_id.as_deref(), p.goal_name.as_deref(), p.revenue, p.payout_type, p.currency.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [
                (Some("11"), Some("Base"), dec("12.35"), PayoutType::Fixed, Some("EUR")),
                (Some("12"), Some("Deposit"), dec("30"), PayoutType::Percent, Some("EUR")),
                (Some("13"), Some("Upsell"), dec("1.5"), PayoutType::Fixed, Some("EUR")),
                (Some("13"), Some("Upsell"), dec("5"), PayoutType::Percent, Some("EUR")),
            ]
        );
        assert_eq!(o.countries, ["US", "CA"]);
        assert_eq!(o.blocked_countries, ["GB"]);
        assert_eq!(o.os, ["ios"]);
        assert_eq!(o.devices, ["mobile"]);
        assert_eq!(o.categories, ["Finance"]);
        assert_eq!(o.thumbnail_url.as_deref(), Some("https://cdn.example/42.png"));
        assert_eq!(o.expires_at.expect("expiry").to_rfc3339(), "2030-06-30T23:00:00+00:00");
    }

    #[test]
    fn percent_default_entry_is_percent() {
        let mut o = runnable_offer();
        o["relationship"]["payouts"]["entries"][0]["is_default"] = json!(false);
        o["relationship"]["payouts"]["entries"][1]["is_default"] = json!(true);
        let page = parse(page_of(vec![o])).expect("page");
        let o = only(&page);
        assert_eq!((o.payout_type, o.revenue, o.model), (PayoutType::Percent, dec("30"), Some(OfferModel::Cps)));
    }

    #[test]
    fn schema_fragment_and_empty_ruleset_are_tolerated() {
        let mut o = docs_offer();
        o["relationship"] =
            fixture(include_str!("../../fixtures/everflow/offersrunnable_relationship_schema_fragment.json"))["relationship"].clone();
        o["relationship"]["ruleset"] = fixture(include_str!("../../fixtures/everflow/ruleset_empty.json"))["ruleset"].clone();
        let page = parse(page_of(vec![o])).expect("page");
        let o = only(&page);
        // "<string>" is not a known status; the category status "<string>" is not active
        assert_eq!(o.approval, Approval::Unknown);
        assert!(o.categories.is_empty());
        // empty ruleset = all traffic
        assert!(o.countries.is_empty() && o.blocked_countries.is_empty() && o.os.is_empty() && o.devices.is_empty());
    }

    #[test]
    fn one_broken_offer_does_not_fail_the_page() {
        let good = docs_offer();
        let mut bad_amount = runnable_offer();
        bad_amount["network_offer_id"] = json!(98);
        bad_amount["relationship"]["payouts"]["entries"][0]["payout_amount"] = json!("twelve");
        let no_name = json!({"network_offer_id": 99, "name": ""});
        let page = parse(page_of(vec![good, bad_amount, no_name, json!("oops")])).expect("page");
        assert_eq!(page.records, 4);
        let errs: Vec<_> =
            page.offers.iter().filter_map(|o| o.as_ref().err()).map(|e| (e.external_id.as_deref(), e.reason.as_str())).collect();
        assert_eq!(
            errs,
            [
                (Some("98"), "payout entry 'Base': payout_amount \"twelve\" is not a number"),
                (Some("99"), "offer has no name"),
                (None, "offer is a string, not an object"),
            ]
        );
        assert_eq!(page.offers.iter().filter(|o| o.is_ok()).count(), 1);
    }

    #[test]
    fn http_auth_and_rate_limit_statuses() {
        let c = Everflow::new();
        let body = include_str!("../../fixtures/everflow/error_body_docs.json");
        assert_eq!(c.classify_status(&response(401, body)), Some(FetchError::Unauthorized("descriptive error message".into())));
        assert_eq!(
            c.classify_status(&response(403, r#"{"Error": "Out of realm"}"#)),
            Some(FetchError::Unauthorized("Out of realm".into()))
        );
        assert_eq!(c.classify_status(&response(401, "")), Some(FetchError::Unauthorized("everflow answered HTTP 401".into())));
        let mut limited = response(429, r#"{"error": "rate limit exceeded"}"#);
        assert_eq!(c.classify_status(&limited), Some(FetchError::RateLimited { retry_after: None, message: "rate limit exceeded".into() }));
        limited.headers.insert("retry-after".into(), "7".into());
        assert!(
            matches!(c.classify_status(&limited), Some(FetchError::RateLimited { retry_after: Some(d), .. }) if d == Duration::from_secs(7))
        );
        assert_eq!(c.classify_status(&response(500, body)), None);
        assert_eq!(c.classify_status(&response(404, body)), None);
    }

    #[test]
    fn broken_bodies_are_invalid_payloads() {
        let full = include_str!("../../fixtures/everflow/alloffers_docs_example.json");
        let err = parse(&full[..full.len() - 40]).expect_err("truncated");
        assert!(
            matches!(&err, FetchError::InvalidPayload(m) if m.starts_with("everflow sent truncated JSON: EOF while parsing")),
            "{err:?}"
        );
        let err = parse("<!DOCTYPE html><html><body>Bad gateway</body></html>").expect_err("html");
        assert_eq!(err, FetchError::InvalidPayload("everflow sent an HTML page instead of JSON (a wrong host or a login page?)".into()));
        let err = parse(r#"[{"network_offer_id": 1}]"#).expect_err("array");
        assert_eq!(err, FetchError::InvalidPayload("everflow sent an array, expected a JSON object".into()));
        let err = parse(r#"{"offers": {"1": {}}}"#).expect_err("map");
        assert_eq!(err, FetchError::InvalidPayload("everflow page 'offers' is an object, not a list".into()));
        // an error body with a 2xx status is not a page
        let err = parse(include_str!("../../fixtures/everflow/error_body_docs.json")).expect_err("error body");
        assert_eq!(err, FetchError::InvalidPayload("descriptive error message".into()));
        // proto3: an empty list may be omitted
        let page = parse(r#"{"paging": {"page": 3, "page_size": 50, "total_count": 100}}"#).expect("empty page");
        assert_eq!((page.records, page.total_records), (0, Some(100)));
    }

    #[test]
    fn page_request_sends_the_key_as_a_header_and_pages() {
        let c = Everflow::new();
        let creds: Credentials = [("api_key".to_string(), "ef-key".to_string())].into();
        let req = c.page_request(&creds, Cursor { page: 2, page_size: 500 }).expect("request");
        assert_eq!(req.url.as_str(), "https://api.eflow.team/v1/affiliates/offersrunnable?page=2&page_size=500");
        assert!(req.headers.contains(&("X-Eflow-API-Key".to_string(), "ef-key".to_string())));
        assert!(!req.url.as_str().contains("ef-key"));

        let mut eu = creds.clone();
        eu.insert("api_url".into(), "https://api-eu.eflow.team/v1/affiliates/".into());
        let req = c.page_request(&eu, Cursor { page: 1, page_size: 50 }).expect("request");
        assert_eq!(req.url.as_str(), "https://api-eu.eflow.team/v1/affiliates/offersrunnable?page=1&page_size=50");
        eu.insert("api_url".into(), "http://127.0.0.1:8080".into());
        let req = c.page_request(&eu, Cursor { page: 1, page_size: 50 }).expect("request");
        assert_eq!(req.url.as_str(), "http://127.0.0.1:8080/v1/affiliates/offersrunnable?page=1&page_size=50");

        assert!(matches!(c.page_request(&Credentials::new(), Cursor { page: 1, page_size: 50 }), Err(FetchError::Config(_))));
    }

    #[test]
    fn catalog_entry() {
        let info = Everflow::default().info().clone();
        assert_eq!((info.id.as_str(), info.display_name.as_str(), info.kind), ("everflow", "Everflow", "native"));
        assert_eq!((info.rate_limit_requests, info.rate_limit_per), (5, Duration::from_secs(1)));
        assert!(info.approved_only);
        let names: Vec<_> = info.credential_fields.iter().map(|f| (f.name, f.required, f.secret)).collect();
        assert_eq!(names, [("api_key", true, true), ("api_url", false, false)]);
    }

    /// Country rules as a bare string are read as an include list; rules without a code, and
    /// unknown excluded codes, fail the offer instead of widening targeting.
    #[test]
    fn country_rules_of_the_wrong_shape_never_widen_targeting() {
        let mut o = runnable_offer();
        o["relationship"]["ruleset"]["countries"] = json!("US");
        assert_eq!(only(&parse(page_of(vec![o.clone()])).expect("page")).countries, ["US"]);
        // One rule object instead of a list keeps its targeting type: an exclusion stays one.
        o["relationship"]["ruleset"]["countries"] = json!({"country_code": "GB", "targeting_type": "exclude"});
        let page = parse(page_of(vec![o.clone()])).expect("page");
        assert_eq!((only(&page).countries.len(), only(&page).blocked_countries.as_slice()), (0, &["GB".to_string()][..]));
        for (bad, reason) in [
            (json!(7), "relationship.ruleset.countries: 7 is not a country list"),
            (
                json!([{"country_id": 227, "targeting_type": "include"}]),
                r#"relationship.ruleset.countries: {"country_id":227,"targeting_type":"include"} has no country code"#,
            ),
            (
                json!([{"country_code": "ZZ", "targeting_type": "exclude"}]),
                "relationship.ruleset.countries: 'ZZ' is not an ISO 3166 country code",
            ),
        ] {
            o["relationship"]["ruleset"]["countries"] = bad;
            let page = parse(page_of(vec![o.clone()])).expect("page");
            assert_eq!(page.offers[0].as_ref().expect_err("invalid").reason, reason);
        }
    }

    /// A split page's records, each parsed alone, with the split's totals; and each record's
    /// key next to the id its parse gives.
    /// Each record's key, next to the id its parse gives.
    type Keys = Vec<(Option<String>, Option<String>)>;

    fn split_and_parse(body: &str) -> Option<(Page, Keys)> {
        let e = Everflow::new();
        let split = e.split_page(&response(200, body.to_string()))?;
        let mut keys = vec![];
        let offers: Vec<_> = split
            .records
            .iter()
            .map(|r| {
                let o = e.parse_record(r, &split.body[r.span.clone()]);
                let id = match &o {
                    Ok(o) => Some(o.external_id.clone()),
                    Err(inv) => inv.external_id.clone(),
                };
                keys.push((r.key.clone(), id));
                o
            })
            .collect();
        let page = Page {
            records: split.records.len(),
            offers,
            total_pages: split.total_pages,
            total_records: split.total_records,
            has_more: split.has_more,
            unchanged: vec![],
            now: None,
        };
        Some((page, keys))
    }

    /// The fast path reads every record as the whole-page parse does, invalid ones included,
    /// in the same order, with the same totals; each record's key is the id its campaign is
    /// filed under.
    #[test]
    fn a_split_page_reads_exactly_as_the_whole_page() {
        let docs = include_str!("../../fixtures/everflow/alloffers_docs_example.json").to_string();
        let good = docs_offer();
        let mut numeric = good.clone();
        numeric["network_offer_id"] = json!(77);
        let mut text_id = good.clone();
        text_id["network_offer_id"] = json!("78");
        let mut zero = good.clone();
        zero["network_offer_id"] = json!(0);
        let mut bad_payout = good.clone();
        bad_payout["network_offer_id"] = json!(79);
        bad_payout["relationship"]["payouts"] = json!("not a list");
        let mixed = json!({"offers": [numeric, "not an offer", text_id, zero, bad_payout, {"name": "no id"}], "paging": {"page": 1, "page_size": 50, "total_count": "6"}})
            .to_string();
        for body in [docs, mixed.clone()] {
            let whole = parse(body.clone()).expect("page");
            let (split, keys) = split_and_parse(&body).expect("the usual page is split");
            assert_eq!(split.offers, whole.offers);
            assert_eq!(
                (split.records, split.total_pages, split.total_records, split.has_more),
                (whole.records, whole.total_pages, whole.total_records, whole.has_more)
            );
            for (key, id) in keys {
                if key.is_some() {
                    assert_eq!(key, id, "a record is keyed by the id its parse gives");
                }
            }
        }
        let (_, keys) = split_and_parse(&mixed).expect("split");
        let keys: Vec<Option<String>> = keys.into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [Some("77".into()), None, Some("78".into()), None, Some("79".into()), None]);
    }

    /// Error bodies, shapes the typed read would take differently, and anything that is not
    /// the usual page go through the whole-page parse.
    #[test]
    fn answers_the_split_does_not_know_are_parsed_whole() {
        let row = docs_offer().to_string();
        for body in [
            r#"{"error": "No Authentication Method Found"}"#.to_string(),
            r#"{"Error": "bad key", "offers": []}"#.to_string(),
            r#"{"offers": null}"#.to_string(),
            r#"{"paging": {"total_count": 0}}"#.to_string(),
            format!(r#"[[{row}], {{"total_count": 1}}]"#),
            format!(r#"{{"offers": [{row}], "offers": []}}"#),
            format!("\u{feff}{{\"offers\": [{row}]}}"),
            format!(r#"{{"offers": {{"1": {row}}}}}"#),
            format!(r#"{{"offers": [{row}]}} trailing"#),
        ] {
            assert!(split_and_parse(&body).is_none(), "split: {body}");
        }
    }
}
