//! Affise partner API 3.0: `GET /3.0/partner/offers` on the network's own API host.
//!
//! Payouts come as `payments[]` rows, one per goal x geo group; `countries: []` means every
//! geo. Partner responses carry no offer status (listed = active) and no approval state other
//! than the tracking link: `link: ""` means not approved yet.

use std::time::Duration;

use domain::{crypto::Credentials, model::OfferModel, model::PayoutType};
use rust_decimal::Decimal;
use serde_json::Value;

use super::lenient::CountryList;
use super::{
    Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, Page, PageRequest, PagingStyle, RawResponse, base_url,
    body, endpoint, lenient, required, scaffold,
};
use crate::offer::{Approval, CanonicalOffer, GoalPayout, UpstreamCap, UpstreamStatus};

pub struct Affise {
    info: ConnectorInfo,
}

impl Affise {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "affise".into(),
                display_name: "Affise".into(),
                kind: "native",
                credential_fields: vec![
                    CredentialField {
                        name: "api_url",
                        label: "API URL",
                        required: true,
                        secret: false,
                        help: "The network's Affise API host, from your account manager, e.g. https://api-demo.affise.com.",
                    },
                    CredentialField {
                        name: "api_key",
                        label: "Partner API key",
                        required: true,
                        secret: true,
                        help: "Your partner (affiliate) API key, under Settings > Security. Admin keys are refused.",
                    },
                ],
                paging: PagingStyle::PageTotal,
                default_page_size: 500,
                rate_limit_requests: 2,
                rate_limit_per: Duration::from_secs(1),
                approved_only: false,
                docs_url: Some("https://help-center.affise.com/en/articles/6790455-start-with-api-affiliates".into()),
            },
        }
    }
}

impl Default for Affise {
    fn default() -> Self {
        Self::new()
    }
}

impl Connector for Affise {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        let api_url = required(creds, "api_url")?;
        let api_key = required(creds, "api_key")?.trim();
        let mut url = endpoint(base_url(creds, api_url)?, &["3.0", "partner", "offers"])?;
        url.query_pairs_mut()
            .append_pair("page", &cursor.page.to_string())
            .append_pair("limit", &cursor.page_size.max(1).to_string())
            .append_pair("sort[id]", "asc");
        Ok(PageRequest {
            url,
            headers: vec![("API-Key".into(), api_key.into()), ("Accept".into(), "application/json".into())],
            basic_auth: None,
        })
    }

    fn parse_page(&self, _creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        let body = body::json_object("affise", &resp.body)?;
        if let Some(status) = lenient::string(&body["status"])
            && status != "1"
        {
            let message = lenient::string(&body["message"]).unwrap_or_else(|| format!("affise answered status {status}"));
            return Err(if is_auth_message(&message) { FetchError::Unauthorized(message) } else { FetchError::InvalidPayload(message) });
        }
        let offers: Vec<&Value> = match (&body["offers"], &body["offer"]) {
            (Value::Array(a), _) => a.iter().collect(),
            // `GET /3.0/offer/{id}` answers with one `offer`.
            (Value::Null, single @ Value::Object(_)) => vec![single],
            (Value::Null, _) => {
                return Err(FetchError::InvalidPayload("affise page has no 'offers' list".into()));
            }
            (other, _) => {
                return Err(FetchError::InvalidPayload(format!("affise page 'offers' is {}, not a list", body::kind_of(other))));
            }
        };
        let pagination = &body["pagination"];
        // The last page has no `next_page`; without `pagination` the scaffold's short-page rule decides.
        let has_more = pagination.is_object().then(|| !matches!(&pagination["next_page"], Value::Null | Value::Bool(false)));
        Ok(Page {
            records: offers.len(),
            offers: offers.into_iter().map(to_offer).collect(),
            total_pages: None,
            total_records: lenient::string(&pagination["total_count"]).and_then(|t| t.parse().ok()),
            has_more,
            unchanged: vec![],
            now: None,
        })
    }

    fn classify_status(&self, resp: &RawResponse) -> Option<FetchError> {
        let message = || {
            serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|b| lenient::string(&b["message"]))
                .unwrap_or_else(|| format!("affise answered HTTP {}", resp.status))
        };
        match resp.status {
            401 | 403 => Some(FetchError::Unauthorized(message())),
            429 => Some(FetchError::RateLimited { retry_after: scaffold::retry_after(&resp.headers), message: message() }),
            _ => None,
        }
    }
}

/// Affise's auth texts: "Token is necessary", "Auth Denied".
fn is_auth_message(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["token", "auth", "api key", "api-key", "api_key", "denied", "forbidden", "permission"].iter().any(|p| lower.contains(p))
}

fn lower(v: &Value) -> Option<String> {
    lenient::string(v).map(|s| s.to_ascii_lowercase())
}

/// Strings of a list that may come as `[]`, `{}`, a map or null.
fn strings(v: &Value) -> Vec<String> {
    lenient::items(v).into_iter().filter_map(lenient::string).collect()
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// The shape of every field this connector reads ([`lenient::check_shapes`]).
const SHAPES: &[(&str, lenient::Shape)] = {
    use lenient::Shape;
    &[
        ("id", Shape::Scalar),
        ("offer_id", Shape::Scalar),
        ("title", Shape::Scalar),
        ("preview_url", Shape::Scalar),
        ("link", Shape::Scalar),
        ("description", Shape::Scalar),
        ("status", Shape::Scalar),
        ("stop_at", Shape::Scalar),
        ("logo", Shape::Scalar),
        ("is_cpi", Shape::Scalar),
        ("description_lang", Shape::Map),
        ("categories", Shape::List),
        ("payments", Shape::Records),
        ("caps", Shape::Records),
        ("targeting", Shape::Records),
        ("full_categories", Shape::Records),
        ("links", Shape::Records),
    ]
};

fn to_offer(o: &Value) -> Result<CanonicalOffer, InvalidOffer> {
    let external_id = lenient::string(&o["id"]);
    let invalid = |reason: String| InvalidOffer { external_id: external_id.clone().or_else(|| lenient::string(&o["offer_id"])), reason };
    if !o.is_object() {
        return Err(invalid(format!("offer is {}, not an object", body::kind_of(o))));
    }
    lenient::check_shapes(o, SHAPES).map_err(&invalid)?;
    let Some(id) = external_id.clone() else {
        return Err(invalid("offer has no id".into()));
    };
    let Some(name) = lenient::string(&o["title"]) else {
        return Err(invalid("offer has no title".into()));
    };
    let mut offer = CanonicalOffer::new(id, name);

    if let Some(html) = description(o) {
        offer.description_html = Some(html);
    }
    offer.preview_url = lenient::string(&o["preview_url"]);
    offer.tracking_url =
        lenient::string(&o["link"]).or_else(|| lenient::items(&o["links"]).into_iter().find_map(|l| lenient::string(&l["url"])));
    offer.impression_url = lenient::string(&o["impressions_link"]);
    offer.approval = if offer.tracking_url.is_some() {
        Approval::Approved
    } else if lenient::boolean(&o["required_approval"]) == Some(true) {
        Approval::NotApplied
    } else {
        Approval::Unknown
    };
    // Partner responses have no status: a listed offer is active.
    offer.status = match lower(&o["status"]).as_deref() {
        None | Some("active") => UpstreamStatus::Active,
        Some("stopped" | "suspended") => UpstreamStatus::Paused,
        Some(_) => UpstreamStatus::Unknown,
    };

    // Targeting: the top-level `countries` is the union of the groups' allow lists.
    let words = |v: &Value, field: &str| lenient::country_words(v, &["code", "country_code"], field).map_err(&invalid);
    let mut allowed = words(&o["countries"], "countries")?;
    let mut denied = vec![];
    for group in lenient::items(&o["targeting"]) {
        push_unique(&mut denied, words(&group["country"]["deny"], "targeting.country.deny")?);
        push_unique(&mut offer.os, strings(&group["os"]["allow"]).iter().map(|s| lenient::os_name(s)));
        push_unique(&mut offer.devices, strings(&group["device_type"]).iter().map(|s| s.to_ascii_lowercase()));
    }
    if allowed.is_empty() {
        for group in lenient::items(&o["targeting"]) {
            push_unique(&mut allowed, words(&group["country"]["allow"], "targeting.country.allow")?);
        }
    }
    offer.countries = lenient::countries("countries", CountryList::Allow, allowed).map_err(&invalid)?;
    offer.blocked_countries = lenient::countries("targeting.country.deny", CountryList::Exact, denied)
        .map_err(&invalid)?
        .into_iter()
        .filter(|c| !offer.countries.contains(c))
        .collect();

    let goals = &o["goals"];
    let is_cpi = lenient::boolean(&o["is_cpi"]) == Some(true);
    for (i, p) in lenient::items(&o["payments"]).into_iter().enumerate() {
        let goal_id = lenient::string(&p["goal"]);
        let label = goal_id.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let revenue = money(&p["revenue"]).map_err(|m| invalid(format!("payment for goal '{label}': revenue {m}")))?;
        let currency = match lenient::string(&p["currency"]) {
            None => None,
            Some(c) => Some(
                domain::validate::currency(&c)
                    .ok_or_else(|| invalid(format!("payment for goal '{label}': currency '{c}' is not an ISO 4217 code")))?,
            ),
        };
        let payment_type = lower(&p["type"]).unwrap_or_default();
        let payout_type = if matches!(payment_type.as_str(), "percent" | "first_cps") { PayoutType::Percent } else { PayoutType::Fixed };
        if i == 0 {
            // The first row is the offer's default payout, as integrators read it.
            offer.revenue = revenue;
            offer.payout_type = payout_type;
            offer.currency = currency.clone();
            offer.model = Some(match payment_type.as_str() {
                "percent" | "first_cps" => OfferModel::Cps,
                "cpc" => OfferModel::Cpc,
                "cpm" => OfferModel::Cpm,
                _ if is_cpi => OfferModel::Cpi,
                _ => OfferModel::Cpa,
            });
        }
        let listed = lenient::country_words(&p["countries"], &["code", "country_code"], "countries")
            .and_then(|w| lenient::countries("countries", CountryList::Exact, w))
            .map_err(|e| invalid(format!("payment for goal '{label}': {e}")))?;
        // `country_exclude: true`: the row pays in every geo except the listed ones.
        let (countries, excluded_countries) =
            if lenient::boolean(&p["country_exclude"]) == Some(true) { (vec![], listed) } else { (listed, vec![]) };
        let goal_name = goal_id.as_deref().and_then(|g| lenient::string(&goals[g])).or_else(|| lenient::string(&p["title"]));
        offer.payouts.push(GoalPayout { goal_id, goal_name, countries, excluded_countries, revenue, payout_type, currency });
    }

    push_unique(&mut offer.categories, strings(&o["categories"]));
    if offer.categories.is_empty() {
        push_unique(&mut offer.categories, lenient::items(&o["full_categories"]).into_iter().filter_map(|c| lenient::string(&c["title"])));
    }
    offer.caps = lenient::items(&o["caps"]).into_iter().flat_map(|c| caps(c, goals)).collect();
    offer.expires_at = lenient::datetime(&o["stop_at"]);
    offer.thumbnail_url = lenient::string(&o["logo"]);
    Ok(offer)
}

/// The first non-empty language of `description_lang` (English first).
fn description(o: &Value) -> Option<String> {
    let langs = &o["description_lang"];
    lenient::string(&langs["en"])
        .or_else(|| lenient::items(langs).into_iter().find_map(lenient::string))
        .or_else(|| lenient::string(&o["description"]))
}

/// The caps of one cap rule (research §3.4: `{period, type, value, goals, goal_type,
/// country_type, country}`):
///
/// | Affise | cap |
/// |---|---|
/// | `period` day / week / month / all | daily / weekly / monthly / total (hour: skipped) |
/// | `type` conversions / clicks / budget | conversions / clicks / payout (impressions: skipped) |
/// | `goal_type` all | one cap on the whole offer |
/// | `goal_type` exact, `goals` {"1": ..., "2": ...} | one cap shared by those goals (goal "1,2") |
/// | `goal_type` each | one cap per goal (the rule's `goals`, else every goal of the offer) |
/// | `country_type` each / exact | skipped: per-country caps have no column yet |
/// | `value` 0 | unlimited: no cap |
fn caps(c: &Value, offer_goals: &Value) -> Vec<UpstreamCap> {
    let period = match lower(&c["period"]).as_deref() {
        Some("day") => "daily",
        Some("week") => "weekly",
        Some("month") => "monthly",
        Some("all") => "total",
        _ => return vec![],
    };
    let event = match lower(&c["type"]).as_deref() {
        Some("conversions") => "conversions",
        Some("clicks") => "clicks",
        Some("budget") => "payout",
        _ => return vec![],
    };
    if !matches!(lower(&c["country_type"]).as_deref(), None | Some("all")) {
        return vec![];
    }
    let Some(value) = lenient::decimal(&c["value"]).filter(|v| *v > Decimal::ZERO) else {
        return vec![];
    };
    let keys = |g: &Value| -> Vec<String> {
        match g {
            Value::Object(m) => m.keys().cloned().collect(),
            other => strings(other),
        }
    };
    let goals: Vec<Option<String>> = match lower(&c["goal_type"]).as_deref() {
        Some("exact") => vec![Some(keys(&c["goals"]).join(",")).filter(|g| !g.is_empty())],
        Some("each") => {
            let mut g = keys(&c["goals"]);
            if g.is_empty() {
                g = keys(offer_goals);
            }
            if g.is_empty() { vec![None] } else { g.into_iter().map(Some).collect() }
        }
        _ => vec![None],
    };
    goals.into_iter().map(|goal| UpstreamCap { event: event.into(), period: period.into(), value, goal }).collect()
}

/// A money field: absent = 0; present but not a non-negative number = an error.
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
        Affise::new().parse_page(&Credentials::new(), &response(200, body))
    }

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("fixture is JSON")
    }

    fn offer78() -> Value {
        fixture(include_str!("../../fixtures/affise/partner_offers_real_offer78.json"))["offers"][0].clone()
    }

    fn only(page: &Page) -> &CanonicalOffer {
        assert_eq!(page.offers.len(), 1);
        page.offers[0].as_ref().expect("a valid offer")
    }

    #[test]
    fn docs_example_with_next_page() {
        let page = parse(include_str!("../../fixtures/affise/partner_offers_docs_example.json")).expect("page");
        assert_eq!((page.records, page.total_records, page.has_more, page.total_pages), (1, Some(127), Some(true), None));
        let o = only(&page);
        assert_eq!(o.external_id, "902");
        assert_eq!(o.tracking_url.as_deref(), Some("http://YOUR_API_DOMAIN/click?pid=610&offer_id=902"));
        assert_eq!((o.approval, o.status), (Approval::Approved, UpstreamStatus::Active));
        assert_eq!((o.revenue, o.payout_type, o.model), (Decimal::ZERO, PayoutType::Fixed, Some(OfferModel::Cpa)));
        // "usd" upper-cased
        assert_eq!(o.currency.as_deref(), Some("USD"));
        // "type: fixed, country_exclude: true, countries: [US]": pays everywhere except US
        let rows: Vec<_> = o.payouts.iter().map(|p| (p.countries.clone(), p.excluded_countries.clone(), p.payout_type)).collect();
        assert_eq!(rows, [(vec![], vec!["US".to_string()], PayoutType::Fixed)]);
        assert_eq!(o.thumbnail_url.as_deref(), Some("http://YOUR_API_DOMAIN/images/cpa/logos/2602108452.png"));
        let caps: Vec<_> = o.caps.iter().map(|c| (c.event.as_str(), c.period.as_str(), c.value, c.goal.as_deref())).collect();
        assert_eq!(caps, [("conversions", "daily", dec("10"), None)]);
        // every description language is empty
        assert_eq!(o.description_html, None);
        assert_eq!(o.expires_at, None);
    }

    #[test]
    fn real_offer_without_link_is_not_approved() {
        let page = parse(include_str!("../../fixtures/affise/partner_offers_real_offer78.json")).expect("page");
        // no `pagination` in this capture: the scaffold decides by page length
        assert_eq!((page.records, page.total_records, page.has_more), (1, None, None));
        let o = only(&page);
        assert_eq!((o.external_id.as_str(), o.name.as_str()), ("78", "Sweepstakes Bucks (US) (non-incent)"));
        assert_eq!(o.tracking_url, None);
        assert_eq!(o.approval, Approval::NotApplied);
        assert!(!o.is_approved());
        assert_eq!((o.revenue, o.payout_type, o.currency.as_deref()), (dec("1.4"), PayoutType::Fixed, Some("USD")));
        assert_eq!(o.countries, ["US"]);
        assert!(o.blocked_countries.is_empty());
        assert_eq!(o.categories, ["direct", "survey / sweepstakes"]);
        let rows: Vec<_> = o.payouts.iter().map(|p| (p.goal_id.as_deref(), p.countries.len(), p.revenue)).collect();
        assert_eq!(rows, [(Some("1"), 0, dec("1.4"))]);
        assert_eq!(o.preview_url.as_deref(), Some("https://www.sweepstakesbucks.com"));
        let text = o.plain_description().expect("text");
        assert_eq!(
            text,
            "Requirements: Registration form submit Target: 18+ (The offer only converts for ages 18 and above) **** Must pass website/app on click URL*****"
        );
        assert!(o.description_html.as_deref().expect("html").starts_with("<p>Requirements:"));
        assert_eq!(o.caps.len(), 1);
    }

    #[test]
    fn single_offer_with_goal_and_geo_payments() {
        let page = parse(include_str!("../../fixtures/affise/offer_660_real_partner_key.json")).expect("page");
        let o = only(&page);
        assert_eq!((o.external_id.as_str(), o.name.as_str()), ("660", "1win [Baseline 5$]"));
        assert_eq!(o.tracking_url.as_deref(), Some("https://x.go-track.ru/click?pid=10932&offer_id=660"));
        assert_eq!(o.approval, Approval::Approved);
        let cis = ["UA", "GE", "KZ", "TM", "KG", "MD", "BY", "AM", "TJ", "UZ", "AZ"];
        let mut all = vec!["RU"];
        all.extend(cis);
        assert_eq!(o.countries, all);
        assert_eq!((o.revenue, o.currency.as_deref()), (dec("32"), Some("USD")));
        let rows: Vec<_> = o
            .payouts
            .iter()
            .map(|p| (p.goal_id.as_deref(), p.goal_name.as_deref(), p.countries.clone(), p.revenue, p.payout_type))
            .collect();
        let mut reg_geo: Vec<String> = cis.iter().map(|c| c.to_string()).collect();
        reg_geo.insert(7, "RU".into());
        assert_eq!(rows[0], (Some("fd"), Some("fd"), vec!["RU".to_string()], dec("32"), PayoutType::Fixed));
        assert_eq!(rows[1], (Some("fd"), Some("fd"), cis.iter().map(|c| c.to_string()).collect(), dec("28"), PayoutType::Fixed));
        assert_eq!(rows[2], (Some("reg"), Some("reg"), reg_geo, dec("0"), PayoutType::Fixed));
        assert_eq!(rows.len(), 3);
        // Russian description, English empty
        assert!(o.plain_description().expect("text").starts_with("1win БК -"));
        assert_eq!(o.categories, ["Betting"]);
        assert_eq!(o.thumbnail_url.as_deref(), Some("http://offers.cpanomer1.affise.com/images/cpa/logos/1961720404.png"));
        assert_eq!(o.expires_at, None);
        assert!(o.caps.is_empty());
    }

    #[test]
    fn percent_payments_exclusions_and_targeting() {
        let mut o = offer78();
        o["countries"] = json!(["US", "CA", "GB"]);
        o["payments"] = json!([
            {"countries": [], "goal": "sale", "revenue": "12.5", "currency": "eur", "type": "percent", "country_exclude": false},
            {"countries": ["GB"], "goal": "sale", "revenue": 10, "currency": "EUR", "type": "percent", "country_exclude": true}
        ]);
        o["goals"] = json!({"sale": "Sale"});
        o["targeting"][0]["country"]["deny"] = json!(["DE", "US"]);
        o["targeting"][0]["os"]["allow"] = json!(["iOS", "Android"]);
        o["targeting"][0]["device_type"] = json!(["Mobile", "tablet"]);
        let page = parse(json!({"status": 1, "offers": [o], "pagination": {"total_count": 1, "per_page": 100, "page": 1}}).to_string())
            .expect("page");
        assert_eq!(page.has_more, Some(false));
        let o = only(&page);
        assert_eq!((o.payout_type, o.revenue, o.model), (PayoutType::Percent, dec("12.5"), Some(OfferModel::Cps)));
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        let rows: Vec<_> =
            o.payouts.iter().map(|p| (p.goal_name.as_deref(), p.countries.clone(), p.excluded_countries.clone(), p.revenue)).collect();
        assert_eq!(rows, [(Some("Sale"), vec![], vec![], dec("12.5")), (Some("Sale"), vec![], vec!["GB".to_string()], dec("10"))]);
        assert_eq!(o.countries, ["US", "CA", "GB"]);
        // a denied country that is also allowed stays allowed
        assert_eq!(o.blocked_countries, ["DE"]);
        assert_eq!(o.os, ["ios", "android"]);
        assert_eq!(o.devices, ["mobile", "tablet"]);
    }

    #[test]
    fn caps_per_goal() {
        let mut o = offer78();
        o["caps"] = fixture(include_str!("../../fixtures/affise/partner_offers_caps_per_goal_fragment.json"))["caps"].clone();
        o["caps"].as_array_mut().expect("caps list").push(json!({"period": "hour", "type": "conversions", "value": 5}));
        o["caps"].as_array_mut().expect("caps list").push(json!({"period": "day", "type": "clicks", "value": 0}));
        let page = parse(json!({"status": 1, "offers": [o]}).to_string()).expect("page");
        let caps: Vec<_> = only(&page).caps.iter().map(|c| (c.event.as_str(), c.period.as_str(), c.value, c.goal.as_deref())).collect();
        assert_eq!(
            caps,
            [
                ("conversions", "daily", dec("100"), Some("1,2")),
                ("payout", "monthly", dec("100"), None),
                ("payout", "total", dec("100"), None)
            ]
        );
    }

    #[test]
    fn last_page_has_no_next_page() {
        let mut body = fixture(include_str!("../../fixtures/affise/pagination_last_page_fragment.json"));
        body["status"] = json!(1);
        body["offers"] = json!([]);
        let page = parse(body.to_string()).expect("page");
        assert_eq!((page.records, page.total_records, page.has_more), (0, Some(1), Some(false)));
    }

    #[test]
    fn one_broken_offer_does_not_fail_the_page() {
        let docs = fixture(include_str!("../../fixtures/affise/partner_offers_docs_example.json"))["offers"][0].clone();
        let broken =
            json!({"id": 5, "title": "Broken", "payments": [{"goal": "1", "revenue": "lots", "currency": "USD", "type": "fixed"}]});
        let no_id = json!({"offer_id": "abc123", "title": "No id"});
        let page = parse(json!({"status": 1, "offers": [offer78(), broken, docs, no_id]}).to_string()).expect("page");
        assert_eq!(page.records, 4);
        let ok: Vec<_> = page.offers.iter().filter_map(|o| o.as_ref().ok()).map(|o| o.external_id.as_str()).collect();
        assert_eq!(ok, ["78", "902"]);
        let errs: Vec<_> =
            page.offers.iter().filter_map(|o| o.as_ref().err()).map(|e| (e.external_id.as_deref(), e.reason.as_str())).collect();
        assert_eq!(errs, [(Some("5"), "payment for goal '1': revenue \"lots\" is not a number"), (Some("abc123"), "offer has no id")]);
    }

    #[test]
    fn http_auth_errors_are_unauthorized_with_the_message() {
        let c = Affise::new();
        let r401 = response(401, include_str!("../../fixtures/affise/auth_error_401_token_necessary.json"));
        assert_eq!(c.classify_status(&r401), Some(FetchError::Unauthorized("Token is necessary".into())));
        let r403 = response(403, include_str!("../../fixtures/affise/auth_error_403_auth_denied.json"));
        assert_eq!(c.classify_status(&r403), Some(FetchError::Unauthorized("Auth Denied".into())));
        assert_eq!(
            c.classify_status(&response(429, "")),
            Some(FetchError::RateLimited { retry_after: None, message: "affise answered HTTP 429".into() })
        );
        let r500 = response(500, include_str!("../../fixtures/affise/server_error_500.json"));
        assert_eq!(c.classify_status(&r500), None);
        // the same bodies with a 2xx status
        assert_eq!(
            parse(include_str!("../../fixtures/affise/auth_error_403_auth_denied.json")).expect_err("auth"),
            FetchError::Unauthorized("Auth Denied".into())
        );
        assert_eq!(
            parse(include_str!("../../fixtures/affise/server_error_500.json")).expect_err("server"),
            FetchError::InvalidPayload("Server error, Please contact your administrator".into())
        );
    }

    #[test]
    fn broken_bodies_are_invalid_payloads() {
        let full = include_str!("../../fixtures/affise/partner_offers_real_offer78.json");
        let err = parse(&full[..1000]).expect_err("truncated");
        assert!(matches!(&err, FetchError::InvalidPayload(m) if m.starts_with("affise sent truncated JSON: EOF while parsing")), "{err:?}");
        let err = parse("<html><head><title>403 Forbidden</title></head></html>").expect_err("html");
        assert_eq!(err, FetchError::InvalidPayload("affise sent an HTML page instead of JSON (a wrong host or a login page?)".into()));
        let err = parse("\"ok\"").expect_err("string");
        assert_eq!(err, FetchError::InvalidPayload("affise sent a string, expected a JSON object".into()));
        let err = parse(include_str!("../../fixtures/affise/activation_request_success.json")).expect_err("not a list");
        assert_eq!(err, FetchError::InvalidPayload("affise page has no 'offers' list".into()));
        let err = parse(r#"{"status": 1, "offers": {"78": {}}}"#).expect_err("map");
        assert_eq!(err, FetchError::InvalidPayload("affise page 'offers' is an object, not a list".into()));
    }

    #[test]
    fn page_request_uses_the_network_host_and_key_header() {
        let c = Affise::new();
        let mut creds: Credentials =
            [("api_url".to_string(), "https://api-demo.affise.com".to_string()), ("api_key".to_string(), "af-key".to_string())].into();
        let req = c.page_request(&creds, Cursor { page: 4, page_size: 500 }).expect("request");
        assert_eq!(req.url.as_str(), "https://api-demo.affise.com/3.0/partner/offers?page=4&limit=500&sort%5Bid%5D=asc");
        assert!(req.headers.contains(&("API-Key".to_string(), "af-key".to_string())));
        assert!(!req.url.as_str().contains("af-key"));

        creds.insert("api_url".into(), "http://api.cpanomer1.affise.com/3.0/".into());
        let req = c.page_request(&creds, Cursor { page: 1, page_size: 100 }).expect("request");
        assert_eq!(req.url.path(), "/3.0/partner/offers");

        creds.remove("api_url");
        assert!(matches!(c.page_request(&creds, Cursor { page: 1, page_size: 100 }), Err(FetchError::Config(m)) if m.contains("api_url")));
        creds.insert("api_url".into(), "api-demo.affise.com".into());
        assert!(matches!(c.page_request(&creds, Cursor { page: 1, page_size: 100 }), Err(FetchError::Config(_))));
    }

    #[test]
    fn catalog_entry() {
        let info = Affise::default().info().clone();
        assert_eq!((info.id.as_str(), info.display_name.as_str(), info.kind), ("affise", "Affise", "native"));
        assert_eq!((info.rate_limit_requests, info.rate_limit_per), (2, Duration::from_secs(1)));
        let names: Vec<_> = info.credential_fields.iter().map(|f| (f.name, f.required, f.secret)).collect();
        assert_eq!(names, [("api_url", true, false), ("api_key", true, true)]);
    }

    /// `countries: "US"` is the list `["US"]`; a number, or an unknown code in a payment row,
    /// fails the offer (a payment row that lost a country would pay it the default amount).
    #[test]
    fn country_lists_of_the_wrong_shape_never_widen_targeting() {
        let page_of =
            |o: &Value| json!({"status": 1, "offers": [o], "pagination": {"per_page": 1, "total_count": 1, "page": 1}}).to_string();
        let mut o = offer78();
        o["countries"] = json!("US");
        assert_eq!(only(&parse(page_of(&o)).expect("page")).countries, ["US"]);
        o["countries"] = json!(840);
        assert_eq!(
            parse(page_of(&o)).expect("page").offers[0].as_ref().expect_err("invalid").reason,
            "countries: 840 is not a country list"
        );
        let mut o = offer78();
        o["payments"] = json!([{"countries": ["US", "Narnia"], "goal": "1", "revenue": 2, "currency": "USD", "type": "fixed"}]);
        assert_eq!(
            parse(page_of(&o)).expect("page").offers[0].as_ref().expect_err("invalid").reason,
            "payment for goal '1': countries: 'Narnia' is not an ISO 3166 country code"
        );
    }
}
