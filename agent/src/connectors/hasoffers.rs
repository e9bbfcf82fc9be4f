//! TUNE (HasOffers) affiliate API v3: `Affiliate_Offer::findMyApprovedOffers`, one page per call,
//! with the related models (`TrackingLink`, `Country`, `OfferCategory`, `Thumbnail`,
//! `OfferOperatingSystem`, `Goal`) contained in each row so no per-offer call is needed, and
//! `Affiliate_AffiliateUser::getContext` once per run for the network currency.
//!
//! What each field means and how it is mapped ([TUNE-models], research §1.5-1.7):
//!
//! | HasOffers | campaign |
//! |---|---|
//! | `status` active / paused / pending / expired / deleted, `is_expired` "1" | upstream status (active, paused, pending, expired, deleted): decides the campaign status |
//! | `currency`; `null` = "this Offer uses the default Network currency" | currency; `null` = `BrandPreferences.network_currency` of getContext (else the `currency` field; else the offer is skipped, NO_CURRENCY) |
//! | `payout_type` cpa_flat / cpa_percentage / cpa_both / cpc / cpm | FIXED + CPA / PERCENT + CPS / FIXED default + both parts as payouts / FIXED + CPC / FIXED + CPM |
//! | `default_payout` (flat), `percent_payout` (percent) | revenue |
//! | `Goal` rows: `id`, `name`, `payout_type`, `default_payout`, `percent_payout`, `status` | one payout per goal (deleted and paused goals skipped) |
//! | `conversion_cap`, `monthly_*`, `lifetime_*`, `payout_cap`... ("0" = no cap) | offer-level caps (daily / monthly / total) |
//! | `Country`, `GeoTargeting.Countries` | countries |
//! | `OfferOperatingSystem[].name` | OS, normalised |
//! | `TrackingLink.click_url`, `impression_pixel` `<img src>` | tracking / impression URL |
//!
//! HasOffers answers every request with HTTP 200, errors and rate limits included, so the
//! envelope's `response.status` and error texts are classified here.

use std::time::Duration;

use domain::{crypto::Credentials, model::OfferModel, model::PayoutType};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    AccountContext, Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, Page, PageRequest, PagingStyle, RawRecord,
    RawResponse, SplitPage, base_url, body, endpoint, lenient, required,
};
use crate::offer::{Approval, CanonicalOffer, GoalPayout, UpstreamCap, UpstreamStatus};

/// The related models requested with every page (`contain[]`).
const CONTAIN: [&str; 6] = ["TrackingLink", "Country", "OfferCategory", "Thumbnail", "OfferOperatingSystem", "Goal"];

/// The documented in-body rate-limit text ("... Configured: 50/10s window; Your usage: n").
const RATE_LIMIT_TEXT: &str = "api usage exceeded rate limit";

/// The limit window is 10 s and no Retry-After is sent: wait one window.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(10);

pub struct HasOffers {
    info: ConnectorInfo,
}

impl HasOffers {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "hasoffers".into(),
                display_name: "TUNE (HasOffers)".into(),
                kind: "native",
                credential_fields: vec![
                    CredentialField {
                        name: "network_id",
                        label: "Network ID",
                        required: true,
                        secret: false,
                        help: "The network's HasOffers id, the subdomain of <network_id>.api.hasoffers.com.",
                    },
                    CredentialField {
                        name: "api_key",
                        label: "Affiliate API key",
                        required: true,
                        secret: true,
                        help: "Your affiliate API key, from the network's affiliate panel.",
                    },
                    CredentialField {
                        name: "api_url",
                        label: "API URL",
                        required: false,
                        secret: false,
                        help: "Only for white-label hosts; defaults to https://<network_id>.api.hasoffers.com.",
                    },
                    CredentialField {
                        name: "currency",
                        label: "Network currency",
                        required: false,
                        secret: false,
                        help: "Only if the network does not answer Affiliate_AffiliateUser::getContext: the ISO 4217 currency of offers sent without one.",
                    },
                ],
                paging: PagingStyle::PageCount,
                default_page_size: 500,
                rate_limit_requests: 50,
                rate_limit_per: Duration::from_secs(10),
                approved_only: true,
                docs_url: Some("https://developers.tune.com/affiliate/affiliate_offer-findmyapprovedoffers/".into()),
            },
        }
    }
}

impl Default for HasOffers {
    fn default() -> Self {
        Self::new()
    }
}

impl Connector for HasOffers {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        self.request(creds, "Affiliate_Offer", "findMyApprovedOffers", Some(cursor))
    }

    fn parse_page(&self, _creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        // Rows are moved out of the parsed tree, not copied.
        let mut data = envelope(resp)?.get_mut("data").map(Value::take).unwrap_or(Value::Null);
        let (rows, total_pages, total_records) = if data.get("pageCount").is_some() {
            let pages = count(&data["pageCount"]).and_then(|p| u32::try_from(p).ok());
            let total = count(&data["count"]);
            (rows(data["data"].take())?, pages, total)
        } else if data.get("Offer").is_some() {
            // `findById`-style single row.
            (vec![(None, data)], None, None)
        } else {
            (rows(data)?, None, None)
        };
        let records = rows.len();
        let offers = rows.into_iter().map(|(key, row)| to_offer(key.as_deref(), row)).collect();
        Ok(Page { offers, records, total_pages, total_records, has_more: None, unchanged: vec![], now: None })
    }

    /// The page's offers as spans of the body, when the answer is the usual success envelope
    /// (`response.status` 1, `data.pageCount`, `data.data` an id-keyed map with plain keys
    /// and no key twice); anything else goes through [`HasOffers::parse_page`].
    fn split_page(&self, resp: &RawResponse) -> Option<SplitPage> {
        split(&resp.body)
    }

    /// One row of a split page, read as [`HasOffers::parse_page`] reads it.
    fn parse_record(&self, record: &RawRecord, json: &[u8]) -> Result<CanonicalOffer, InvalidOffer> {
        let row: Value = serde_json::from_slice(json)
            .map_err(|e| InvalidOffer { external_id: record.key.clone(), reason: format!("the offer's record is not JSON: {e}") })?;
        to_offer(record.key.as_deref(), row)
    }

    /// `Affiliate_AffiliateUser::getContext`: "The advertiser's default currency is
    /// `network_currency` in the `BrandPreferences` array of this call's result" (research §1.2).
    fn context_request(&self, creds: &Credentials) -> Option<Result<PageRequest, FetchError>> {
        Some(self.request(creds, "Affiliate_AffiliateUser", "getContext", None))
    }

    fn parse_context(&self, _creds: &Credentials, resp: &RawResponse) -> Result<AccountContext, FetchError> {
        let envelope = envelope(resp)?;
        let currency = match find_key(&envelope["data"], "network_currency").and_then(lenient::string) {
            None => None,
            Some(c) => Some(
                domain::validate::currency(&c)
                    .ok_or_else(|| FetchError::InvalidPayload(format!("getContext network_currency '{c}' is not an ISO 4217 code")))?,
            ),
        };
        Ok(AccountContext { currency })
    }

    /// HasOffers has no fixed currency: a `null` offer currency means the network's.
    fn fallback_currency(&self) -> Option<&'static str> {
        None
    }
}

impl HasOffers {
    /// A `Target`/`Method` call; `cursor` adds paging, sorting and the related models.
    fn request(&self, creds: &Credentials, target: &str, method: &str, cursor: Option<Cursor>) -> Result<PageRequest, FetchError> {
        let network_id = required(creds, "network_id")?.trim();
        let api_key = required(creds, "api_key")?.trim();
        if !network_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(FetchError::Config(format!("network id '{network_id}' may hold only letters, digits, '-' and '_'")));
        }
        let custom_host = creds.get("api_url").is_some_and(|u| !u.trim().is_empty());
        let mut url = endpoint(base_url(creds, &format!("https://{network_id}.api.hasoffers.com"))?, &["Apiv3", "json"])?;
        {
            let mut q = url.query_pairs_mut();
            if custom_host {
                // The host-less gateway form (`api.hasoffers.com/Apiv3/json?NetworkId=`) and
                // white-label hosts need the network in the query.
                q.append_pair("NetworkId", network_id);
            }
            q.append_pair("api_key", api_key).append_pair("Target", target).append_pair("Method", method);
            if let Some(cursor) = cursor {
                q.append_pair("limit", &cursor.page_size.max(1).to_string())
                    .append_pair("page", &cursor.page.to_string())
                    .append_pair("sort[id]", "asc");
                for c in CONTAIN {
                    q.append_pair("contain[]", c);
                }
            }
        }
        Ok(PageRequest { url, headers: vec![("Accept".into(), "application/json".into())], basic_auth: None })
    }
}

/// The `response` object of an answer whose `status` is 1; in-body errors classified.
fn envelope(resp: &RawResponse) -> Result<Value, FetchError> {
    let mut body = body::json_object("hasoffers", &resp.body)?;
    let Some(envelope) = body.get_mut("response").filter(|r| r.is_object()).map(Value::take) else {
        return Err(FetchError::InvalidPayload("hasoffers answer has no 'response' object".into()));
    };
    if lenient::string(&envelope["status"]).as_deref() != Some("1") {
        return Err(classify_error(&envelope, &resp.body));
    }
    Ok(envelope)
}

/// The first value under `key` anywhere in `v` (getContext nests `BrandPreferences` in a
/// list or a keyed map depending on the network).
fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key).filter(|x| !x.is_null()).or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// A count sent as a number or a numeric string.
fn count(v: &Value) -> Option<u64> {
    lenient::string(v)?.parse().ok()
}

/// An error envelope (`status` missing or not 1) as the error that drives retries.
fn classify_error(envelope: &Value, body: &[u8]) -> FetchError {
    let message = error_message(envelope);
    let lower = message.to_ascii_lowercase();
    if lower.contains(RATE_LIMIT_TEXT) || String::from_utf8_lossy(body).to_ascii_lowercase().contains(RATE_LIMIT_TEXT) {
        return FetchError::RateLimited { retry_after: Some(RATE_LIMIT_BACKOFF), message };
    }
    let auth = [
        "network id",
        "networkid",
        "network_id",
        "api key",
        "api_key",
        "apikey",
        "credential",
        "unauthori",
        "authenticat",
        "token",
        "access denied",
        "permission",
    ];
    if auth.iter().any(|p| lower.contains(p)) {
        return FetchError::Unauthorized(message);
    }
    FetchError::InvalidPayload(message)
}

/// The error text: `errorMessage`, else the `errors` value (a list or a single object of
/// `{publicMessage, err_msg}`, or plain strings).
fn error_message(envelope: &Value) -> String {
    if let Some(m) = lenient::string(&envelope["errorMessage"]) {
        return m;
    }
    let mut texts = vec![];
    collect_error_texts(&envelope["errors"], &mut texts);
    if texts.is_empty() {
        let status = lenient::string(&envelope["status"]).unwrap_or_else(|| "missing".into());
        return format!("hasoffers answered an error without a message (status {status})");
    }
    texts.join("; ")
}

fn collect_error_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(_) | Value::Number(_) => out.extend(lenient::string(v)),
        Value::Array(a) => a.iter().for_each(|e| collect_error_texts(e, out)),
        Value::Object(m) if m.contains_key("publicMessage") || m.contains_key("err_msg") => {
            let mut parts: Vec<String> = vec![];
            for p in [&v["publicMessage"], &v["err_msg"]].into_iter().filter_map(lenient::string) {
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
            if !parts.is_empty() {
                out.push(parts.join(" "));
            }
        }
        Value::Object(m) => m.values().for_each(|e| collect_error_texts(e, out)),
        _ => {}
    }
}

/// The rows of an id-keyed map (or a list), in numeric id order, each with its map key.
fn rows(v: Value) -> Result<Vec<(Option<String>, Value)>, FetchError> {
    let mut rows: Vec<(Option<String>, Value)> = match v {
        Value::Object(m) => m.into_iter().map(|(k, row)| (Some(k), row)).collect(),
        Value::Array(a) => a.into_iter().map(|row| (None, row)).collect(),
        Value::Null => vec![],
        Value::String(s) if s.trim().is_empty() => vec![],
        other => {
            return Err(FetchError::InvalidPayload(format!("hasoffers page data is {}, not a map of offers", body::kind_of(&other))));
        }
    };
    rows.sort_by_cached_key(|(k, _)| (k.as_deref().and_then(|k| k.parse::<u64>().ok()).unwrap_or(u64::MAX), k.clone()));
    Ok(rows)
}

/// [`HasOffers::split_page`]: the envelope is read with typed structs that borrow the body,
/// and each row is kept as its raw JSON text.
fn split(body: &bytes::Bytes) -> Option<SplitPage> {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    /// `T` read from a JSON object only (a derived struct also reads an array).
    struct Obj<T>(T);
    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Fields<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Fields<T> {
                type Value = Obj<T>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Self::Value, A::Error> {
                    T::deserialize(serde::de::value::MapAccessDeserializer::new(m)).map(Obj)
                }
            }
            d.deserialize_map(Fields(std::marker::PhantomData))
        }
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        response: Obj<Response<'a>>,
    }
    #[derive(Deserialize)]
    struct Response<'a> {
        status: Value,
        #[serde(borrow)]
        data: Obj<Data<'a>>,
    }
    #[derive(Deserialize)]
    struct Data<'a> {
        #[serde(rename = "pageCount")]
        page_count: Option<Value>,
        count: Option<Value>,
        #[serde(borrow)]
        data: Keyed<'a>,
    }
    /// An id-keyed map of rows, in the body's order.
    struct Keyed<'a>(Vec<(&'a str, &'a RawValue)>);
    impl<'de: 'a, 'a> Deserialize<'de> for Keyed<'a> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Rows<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> serde::de::Visitor<'de> for Rows<'a> {
                type Value = Keyed<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an id-keyed map of offers")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut rows = Vec::with_capacity(m.size_hint().unwrap_or(0));
                    while let Some(row) = m.next_entry::<&'a str, &'a RawValue>()? {
                        rows.push(row);
                    }
                    Ok(Keyed(rows))
                }
            }
            d.deserialize_map(Rows(std::marker::PhantomData))
        }
    }

    let text = std::str::from_utf8(body).ok()?;
    let Obj(env): Obj<Envelope> = serde_json::from_str(text).ok()?;
    let Obj(r) = env.response;
    let Obj(data) = r.data;
    if lenient::string(&r.status).as_deref() != Some("1") {
        return None;
    }
    let total_pages = count(data.page_count.as_ref()?).and_then(|p| u32::try_from(p).ok());
    let total_records = data.count.as_ref().and_then(count);
    let mut rows = data.data.0;
    // `rows` orders a page by numeric id; a key sent twice is left to the whole-page parse.
    rows.sort_by_cached_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), *k));
    if rows.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    let base = text.as_ptr() as usize;
    let records = rows
        .into_iter()
        .map(|(key, raw)| {
            let start = raw.get().as_ptr() as usize - base;
            RawRecord { key: Some(key.to_string()), span: start..start + raw.get().len() }
        })
        .collect();
    Some(SplitPage { body: body.clone(), records, total_pages, total_records, has_more: None })
}

/// The shape of every field this connector reads ([`lenient::check_shapes`]).
const SHAPES: &[(&str, lenient::Shape)] = {
    use lenient::Shape;
    &[
        ("Offer.id", Shape::Scalar),
        ("Offer.name", Shape::Scalar),
        ("Offer.description", Shape::Scalar),
        ("Offer.preview_url", Shape::Scalar),
        ("Offer.expiration_date", Shape::Scalar),
        ("Offer.default_payout", Shape::Scalar),
        ("Offer.percent_payout", Shape::Scalar),
        ("Offer.currency", Shape::Scalar),
        ("Offer.status", Shape::Scalar),
        ("Offer.payout_type", Shape::Scalar),
        ("Offer.is_expired", Shape::Scalar),
        ("Offer.conversion_cap", Shape::Scalar),
        ("Offer.monthly_conversion_cap", Shape::Scalar),
        ("Offer.payout_cap", Shape::Scalar),
        ("Offer.monthly_payout_cap", Shape::Scalar),
        ("Offer.require_approval", Shape::Scalar),
        ("Goal", Shape::Records),
        ("TrackingLink", Shape::Map),
        ("OfferCategory", Shape::Records),
        ("OfferOperatingSystem", Shape::Records),
    ]
};

/// One row as an offer. The row is not kept (`raw` stays empty): nothing reads it after the
/// parse, and keeping it doubled the memory and the work of every page.
fn to_offer(key: Option<&str>, row: Value) -> Result<CanonicalOffer, InvalidOffer> {
    read_offer(key, &row)
}

fn read_offer(key: Option<&str>, row: &Value) -> Result<CanonicalOffer, InvalidOffer> {
    let o = &row["Offer"];
    let external_id = lenient::string(&o["id"]).or_else(|| key.map(str::to_string));
    let invalid = |reason: String| InvalidOffer { external_id: external_id.clone(), reason };
    if !o.is_object() {
        return Err(invalid("row has no Offer object".into()));
    }
    lenient::check_shapes(row, SHAPES).map_err(&invalid)?;
    let Some(id) = external_id.clone() else {
        return Err(invalid("offer has no id".into()));
    };
    let Some(name) = lenient::string(&o["name"]) else {
        return Err(invalid("offer has no name".into()));
    };
    let mut offer = CanonicalOffer::new(id, name);

    if let Some(html) = lenient::string(&o["description"]) {
        offer.description_html = Some(html);
    }
    offer.preview_url = lenient::string(&o["preview_url"]);
    let link = tracking_link(&row["TrackingLink"]);
    offer.tracking_url = lenient::string(&link["click_url"]);
    offer.impression_url = lenient::string(&link["impression_pixel"]).and_then(|p| pixel_src(&p));
    offer.approval = match lenient::string(&o["approval_status"]).map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("pending") => Approval::Pending,
        Some("rejected") => Approval::Rejected,
        // findMyApprovedOffers returns only offers the affiliate may run.
        _ => Approval::Approved,
    };
    offer.status = if lenient::boolean(&o["is_expired"]) == Some(true) {
        UpstreamStatus::Expired
    } else {
        match lenient::string(&o["status"]).map(|s| s.to_ascii_lowercase()).as_deref() {
            Some("active") => UpstreamStatus::Active,
            Some("paused") => UpstreamStatus::Paused,
            Some("pending") => UpstreamStatus::Pending,
            Some("expired") => UpstreamStatus::Expired,
            Some("deleted") => UpstreamStatus::Deleted,
            _ => UpstreamStatus::Unknown,
        }
    };

    offer.currency = currency(&o["currency"]).map_err(&invalid)?;
    let flat = money(&o["default_payout"], "default_payout").map_err(&invalid)?;
    let percent = money(&o["percent_payout"], "percent_payout").map_err(&invalid)?;
    let payout_type = lenient::string(&o["payout_type"]).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let goal_name = lenient::string(&o["default_goal_name"]);
    match payout_type.as_str() {
        "cpa_percentage" => {
            offer.payout_type = PayoutType::Percent;
            offer.revenue = percent.unwrap_or_default();
            offer.model = Some(OfferModel::Cps);
        }
        "cpa_both" => {
            // A flat amount plus a percentage of the sale: the flat part is the default, both
            // parts are listed as payouts.
            offer.revenue = flat.unwrap_or_default();
            offer.model = Some(OfferModel::Cpa);
            for (revenue, payout_type) in [(flat, PayoutType::Fixed), (percent, PayoutType::Percent)] {
                if let Some(revenue) = revenue {
                    offer.payouts.push(GoalPayout {
                        excluded_countries: vec![],
                        goal_id: None,
                        goal_name: goal_name.clone(),
                        countries: vec![],
                        revenue,
                        payout_type,
                        currency: offer.currency.clone(),
                    });
                }
            }
        }
        other => {
            offer.revenue = flat.unwrap_or_default();
            offer.model = match other {
                "cpa_flat" => Some(OfferModel::Cpa),
                "cpc" => Some(OfferModel::Cpc),
                "cpm" => Some(OfferModel::Cpm),
                _ => None,
            };
        }
    }

    for g in lenient::items(&row["Goal"]) {
        let g = if g.get("Goal").is_some() { &g["Goal"] } else { g };
        let status = lenient::string(&g["status"]).map(|s| s.to_ascii_lowercase());
        if matches!(status.as_deref(), Some("deleted" | "paused" | "inactive")) {
            continue;
        }
        let gid = lenient::string(&g["id"]);
        let field = |f: &str| format!("goal {} {f}", gid.as_deref().unwrap_or("?"));
        let flat = money(&g["default_payout"], &field("default_payout")).map_err(&invalid)?;
        let percent = money(&g["percent_payout"], &field("percent_payout")).map_err(&invalid)?;
        let gtype = lenient::string(&g["payout_type"]).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        let parts: Vec<(Option<Decimal>, PayoutType)> = match gtype.as_str() {
            "cpa_percentage" => vec![(percent, PayoutType::Percent)],
            "cpa_both" => vec![(flat, PayoutType::Fixed), (percent, PayoutType::Percent)],
            _ => vec![(flat, PayoutType::Fixed)],
        };
        for (revenue, payout_type) in parts {
            if let Some(revenue) = revenue {
                offer.payouts.push(GoalPayout {
                    excluded_countries: vec![],
                    goal_id: gid.clone(),
                    goal_name: lenient::string(&g["name"]),
                    countries: vec![],
                    revenue,
                    payout_type,
                    currency: offer.currency.clone(),
                });
            }
        }
    }

    let mut countries = lenient::country_words(&row["Country"], &["code"], "Country").map_err(&invalid)?;
    countries.extend(lenient::country_words(&row["GeoTargeting"]["Countries"], &["code"], "GeoTargeting.Countries").map_err(&invalid)?);
    offer.countries = lenient::countries("Country", lenient::CountryList::Allow, countries).map_err(&invalid)?;
    for os in lenient::items(&row["OfferOperatingSystem"]).into_iter().filter_map(|v| lenient::string(&v["name"])) {
        let os = lenient::os_name(&os);
        if !offer.os.contains(&os) {
            offer.os.push(os);
        }
    }
    for name in lenient::items(&row["OfferCategory"]).into_iter().filter_map(|c| lenient::string(&c["name"])) {
        if !offer.categories.contains(&name) {
            offer.categories.push(name);
        }
    }
    for (field, event, period) in [
        ("conversion_cap", "conversions", "daily"),
        ("monthly_conversion_cap", "conversions", "monthly"),
        ("lifetime_conversion_cap", "conversions", "total"),
        ("payout_cap", "payout", "daily"),
        ("monthly_payout_cap", "payout", "monthly"),
        ("lifetime_payout_cap", "payout", "total"),
    ] {
        if let Some(value) = lenient::decimal(&o[field]).filter(|v| *v > Decimal::ZERO) {
            offer.caps.push(UpstreamCap { event: event.into(), period: period.into(), value, goal: None });
        }
    }
    offer.expires_at = lenient::datetime(&o["expiration_date"]);
    offer.thumbnail_url = thumbnail(&row["Thumbnail"]);
    Ok(offer)
}

/// `TrackingLink` is a single object; tolerate a keyed map or list of them too.
fn tracking_link(v: &Value) -> &Value {
    if v.get("click_url").is_some() {
        return v;
    }
    lenient::items(v).into_iter().find(|l| l.get("click_url").is_some()).unwrap_or(&Value::Null)
}

/// `Thumbnail` is a single object (`thumbnail` = the small image, `url` = the original).
fn thumbnail(v: &Value) -> Option<String> {
    let pick = |t: &Value| lenient::string(&t["thumbnail"]).or_else(|| lenient::string(&t["url"]));
    pick(v).or_else(|| lenient::items(v).into_iter().find_map(pick))
}

/// The `src` of an `<img>` impression pixel, or the value itself when it is already a URL.
fn pixel_src(pixel: &str) -> Option<String> {
    let pixel = pixel.trim();
    if !pixel.starts_with('<') {
        return pixel.starts_with("http").then(|| pixel.to_string());
    }
    let lower = pixel.to_ascii_lowercase();
    let start = lower.find("src=")? + 4;
    let rest = &pixel[start..];
    let src = match rest.chars().next()? {
        q @ ('"' | '\'') => rest[1..].split(q).next()?,
        _ => rest.split(|c: char| c.is_whitespace() || c == '>').next()?,
    };
    let src = src.trim().replace("&amp;", "&");
    (!src.is_empty()).then_some(src)
}

/// A money field: absent or empty = `None`; present but not a non-negative number = an error.
fn money(v: &Value, field: &str) -> Result<Option<Decimal>, String> {
    lenient::money(v).map_err(|e| format!("{field} {e}"))
}

/// `null` = the network's default currency.
fn currency(v: &Value) -> Result<Option<String>, String> {
    match lenient::string(v) {
        None => Ok(None),
        Some(c) => domain::validate::currency(&c).map(Some).ok_or_else(|| format!("currency '{c}' is not an ISO 4217 code")),
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, str::FromStr};

    use serde_json::json;

    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test value")
    }

    fn response(body: impl Into<Vec<u8>>) -> RawResponse {
        RawResponse { status: 200, headers: BTreeMap::new(), body: bytes::Bytes::from(body.into()) }
    }

    fn parse(body: impl Into<Vec<u8>>) -> Result<Page, FetchError> {
        HasOffers::new().parse_page(&Credentials::new(), &response(body))
    }

    /// A paginated findMyApprovedOffers envelope around an id-keyed map of rows.
    fn envelope(rows: Value) -> String {
        let count = rows.as_object().map_or(0, |m| m.len());
        json!({
            "request": {"Target": "Affiliate_Offer", "Method": "findMyApprovedOffers", "api_key": "secret"},
            "response": {"status": 1, "httpStatus": 200, "data": {"page": 1, "current": count, "count": count, "pageCount": 1, "data": rows}, "errors": [], "errorMessage": null}
        })
        .to_string()
    }

    fn ok_offers(page: &Page) -> Vec<&CanonicalOffer> {
        page.offers.iter().filter_map(|o| o.as_ref().ok()).collect()
    }

    fn find<'a>(page: &'a Page, id: &str) -> &'a CanonicalOffer {
        ok_offers(page).into_iter().find(|o| o.external_id == id).expect("test value")
    }

    fn creds(pairs: &[(&str, &str)]) -> Credentials {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn paginated_page_reports_totals_and_maps_offers() {
        let page = parse(include_str!("../../fixtures/hasoffers/offer_findall_paginated_limit2.json")).expect("test value");
        assert_eq!(page.records, 2);
        assert_eq!(page.total_pages, Some(52));
        assert_eq!(page.total_records, Some(104));
        assert_eq!(page.has_more, None);
        assert_eq!(ok_offers(&page).iter().map(|o| o.external_id.as_str()).collect::<Vec<_>>(), ["1", "3"]);

        let o = find(&page, "3");
        assert_eq!(o.name, "Půjčka7");
        assert_eq!(o.revenue, dec("950.00000"));
        assert_eq!(o.payout_type, PayoutType::Fixed);
        assert_eq!(o.model, Some(OfferModel::Cpa));
        assert_eq!(o.currency.as_deref(), Some("CZK"));
        assert_eq!(o.status, UpstreamStatus::Active);
        assert_eq!(o.preview_url.as_deref(), Some("http://www.pujcka7.cz"));
        assert_eq!(o.expires_at.expect("test value").to_rfc3339(), "2021-02-03T22:59:59+00:00");
        // every cap is "0" / "0.00": unlimited, so none is kept
        assert!(o.caps.is_empty());
        assert!(o.payouts.is_empty());
        assert_eq!(o.description_html, None);
        // no TrackingLink contained: not runnable
        assert_eq!(o.tracking_url, None);
        assert!(!o.is_approved());

        let perfect = find(&page, "1");
        assert_eq!(perfect.status, UpstreamStatus::Deleted);
        // cpa_flat: the network-side percent_payout "90.00" is not the payout
        assert_eq!(perfect.payout_type, PayoutType::Fixed);
        assert_eq!(perfect.revenue, dec("900"));
    }

    #[test]
    fn unpaginated_map_with_countries_and_network_currency() {
        let page = parse(include_str!("../../fixtures/hasoffers/offer_findall_unpaginated_contain_country.json")).expect("test value");
        assert_eq!((page.records, page.total_pages, page.total_records), (1, None, None));
        let o = find(&page, "62");
        assert_eq!(o.name, "Kyzoo");
        assert_eq!(o.countries, ["ES"]);
        assert_eq!(o.currency, None);
        assert_eq!(o.revenue, dec("40.00000"));
    }

    #[test]
    fn country_contain_as_empty_array_or_keyed_map() {
        let page = parse(include_str!("../../fixtures/hasoffers/offer_findall_country_empty_array.json")).expect("test value");
        assert_eq!(page.records, 2);
        let cpc = find(&page, "100");
        assert!(cpc.countries.is_empty());
        assert_eq!(cpc.model, Some(OfferModel::Cpc));
        assert_eq!(cpc.payout_type, PayoutType::Fixed);
        assert_eq!(cpc.revenue, dec("1"));
        // is_expired "1" wins over status
        assert_eq!(cpc.status, UpstreamStatus::Expired);
        assert_eq!(find(&page, "1").countries, ["CZ"]);
    }

    #[test]
    fn single_offer_data_with_html_description() {
        let page = parse(include_str!("../../fixtures/hasoffers/offer_findbyid_438_contain_country.json")).expect("test value");
        let o = find(&page, "438");
        assert_eq!(o.countries, ["ES", "RU"]);
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert_eq!(o.revenue, dec("0.5"));
        assert!(o.description_html.as_deref().expect("test value").starts_with("<h1>Description</h1>\r\n"));
        let text = o.plain_description().expect("test value");
        assert!(text.starts_with("Description Dineo es una campaña a CPL"), "{text}");
        assert!(!text.contains('<'));
    }

    #[test]
    fn affiliate_row_with_date_only_expiry() {
        let rows: Value =
            serde_json::from_str(include_str!("../../fixtures/hasoffers/affiliate_offer_findall_row_fragment.json")).expect("test value");
        let page = parse(envelope(rows)).expect("test value");
        let o = find(&page, "532");
        assert_eq!(o.name, "BINGO Blitz - iPhone/iPad US/CA/AU - non incent");
        assert_eq!(o.revenue, dec("2.00"));
        assert_eq!(o.currency, None);
        assert_eq!(o.expires_at.expect("test value").to_rfc3339(), "2014-10-31T23:59:59+00:00");
        assert_eq!(o.description_html, None);
    }

    #[test]
    fn contained_category_thumbnail_and_tracking_link() {
        let mut row: Value =
            serde_json::from_str(include_str!("../../fixtures/hasoffers/affiliate_offer_row_with_category_thumbnail.json"))
                .expect("test value");
        // The quoted row was cut by its author to id, description and currency.
        row["Offer"]["name"] = json!("William Hill Casino");
        // TrackingLink carries what generateTrackingLink returns.
        let link: Value = serde_json::from_str(include_str!("../../fixtures/hasoffers/generate_tracking_link.json")).expect("test value");
        row["TrackingLink"] = link["response"]["data"].clone();
        row["OfferOperatingSystem"] =
            json!({"3": {"attribute": "Operating System", "name": "iOS"}, "4": {"attribute": "Operating System", "name": "Android"}});
        let page = parse(envelope(json!({ "2053": row }))).expect("test value");
        let o = find(&page, "2053");
        assert_eq!(o.categories, ["Gambling"]);
        assert_eq!(o.thumbnail_url.as_deref(), Some("http://media.vcommission.com/brand/files/vcm/2053/thumbnails_100/williamhill.png"));
        assert_eq!(o.tracking_url.as_deref(), Some("http://tracking.volsor.com/aff_c?offer_id=472&aff_id=94&file_id=727"));
        assert_eq!(o.impression_url.as_deref(), Some("http://tracking.volsor.com/aff_i?offer_id=472&aff_id=94&file_id=727"));
        assert_eq!(o.approval, Approval::Approved);
        assert!(o.is_approved());
        assert_eq!(o.os, ["ios", "android"]);
        assert_eq!(o.currency.as_deref(), Some("USD"));
        let text = o.plain_description().expect("test value");
        assert!(text.starts_with("WilliamHill casino is world most trusted casino brand. Converts on:Minimum Deposit"), "{text}");
        assert!(text.contains("Lead is Counted & Credited."));
    }

    #[test]
    fn percentage_and_both_payouts_are_told_apart() {
        let page = parse(envelope(json!({
            "7": {"Offer": {"id": "7", "name": "Shop", "payout_type": "cpa_percentage", "default_payout": null, "percent_payout": "7.50", "currency": "usd"}},
            "8": {"Offer": {"id": "8", "name": "Both", "payout_type": "cpa_both", "default_payout": "2.00", "percent_payout": "5.00", "default_goal_name": "Sale"}},
            "9": {"Offer": {"id": "9", "name": "Capped", "payout_type": "cpa_flat", "default_payout": "1.10", "conversion_cap": "50", "monthly_payout_cap": "1000.00", "payout_cap": "0.00"}}
        })))
        .expect("test value");
        let shop = find(&page, "7");
        assert_eq!((shop.payout_type, shop.revenue, shop.model), (PayoutType::Percent, dec("7.5"), Some(OfferModel::Cps)));
        assert_eq!(shop.currency.as_deref(), Some("USD"));

        let both = find(&page, "8");
        assert_eq!((both.payout_type, both.revenue), (PayoutType::Fixed, dec("2")));
        let parts: Vec<_> = both.payouts.iter().map(|p| (p.payout_type, p.revenue, p.goal_name.as_deref())).collect();
        assert_eq!(parts, [(PayoutType::Fixed, dec("2"), Some("Sale")), (PayoutType::Percent, dec("5"), Some("Sale"))]);

        let capped = find(&page, "9");
        let caps: Vec<_> = capped.caps.iter().map(|c| (c.event.as_str(), c.period.as_str(), c.value)).collect();
        assert_eq!(caps, [("conversions", "daily", dec("50")), ("payout", "monthly", dec("1000"))]);
    }

    #[test]
    fn one_broken_offer_does_not_fail_the_page() {
        let mut body: Value =
            serde_json::from_str(include_str!("../../fixtures/hasoffers/offer_findall_paginated_limit2.json")).expect("test value");
        body["response"]["data"]["data"]["7"] = json!({"Offer": {"id": "7", "name": "Broken", "default_payout": "n/a"}});
        body["response"]["data"]["data"]["8"] = json!({"Offer": {"id": "8"}});
        let page = parse(body.to_string()).expect("test value");
        assert_eq!(page.records, 4);
        assert_eq!(ok_offers(&page).len(), 2);
        let bad: Vec<&InvalidOffer> = page.offers.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].external_id.as_deref(), Some("7"));
        assert!(bad[0].reason.contains("default_payout"), "{}", bad[0].reason);
        assert_eq!(bad[1].external_id.as_deref(), Some("8"));
        assert_eq!(bad[1].reason, "offer has no name");
    }

    #[test]
    fn empty_and_null_data_are_empty_pages() {
        let page = parse(include_str!("../../fixtures/hasoffers/findbyid_unknown_id_null_data.json")).expect("test value");
        assert_eq!((page.records, page.offers.len()), (0, 0));
        let page = parse(envelope(json!([]))).expect("test value");
        assert_eq!(page.records, 0);
    }

    #[test]
    fn in_body_auth_errors_are_unauthorized() {
        let err = parse(include_str!("../../fixtures/hasoffers/auth_error_invalid_network.json")).expect_err("an error");
        assert_eq!(err, FetchError::Unauthorized("Network id is not valid".into()));
        let err = parse(include_str!("../../fixtures/hasoffers/synthetic_bad_credentials_errors_strings.json")).expect_err("an error");
        assert_eq!(err, FetchError::Unauthorized("bad credentials".into()));
    }

    #[test]
    fn other_in_body_errors_are_invalid_payloads_with_the_message() {
        let err = parse(include_str!("../../fixtures/hasoffers/error_status_minus1_row_id_negative.json")).expect_err("an error");
        assert_eq!(err, FetchError::InvalidPayload("Row id is negative".into()));
        let list: Value =
            serde_json::from_str(include_str!("../../fixtures/hasoffers/errors_value_list_of_objects.json")).expect("test value");
        let err = parse(json!({"response": {"status": -1, "data": "", "errors": list}}).to_string()).expect_err("an error");
        assert_eq!(err, FetchError::InvalidPayload("Could not create offer. Name cannot be blank.".into()));
        let single: Value =
            serde_json::from_str(include_str!("../../fixtures/hasoffers/errors_value_single_object.json")).expect("test value");
        let err = parse(json!({"response": {"status": -1, "errors": single}}).to_string()).expect_err("an error");
        assert_eq!(err, FetchError::InvalidPayload("Could not update advertiser. Account_manager_id is not valid.".into()));
    }

    #[test]
    fn rate_limit_text_is_rate_limited_for_one_window() {
        // No verbatim rate-limit body exists; this uses the documented message text (§1.4)
        // in the documented error envelope.
        let message = "API usage exceeded rate limit. Configured: 50/10s window; Your usage: 51";
        let body = json!({"request": {}, "response": {"status": -1, "httpStatus": 200, "data": "", "errors": [{"publicMessage": message}], "errorMessage": message}});
        let err = parse(body.to_string()).expect_err("an error");
        assert_eq!(err, FetchError::RateLimited { retry_after: Some(Duration::from_secs(10)), message: message.into() });
    }

    #[test]
    fn broken_bodies_are_invalid_payloads() {
        let full = include_str!("../../fixtures/hasoffers/offer_findall_paginated_limit2.json");
        let err = parse(&full[..full.len() / 2]).expect_err("an error");
        assert!(
            matches!(&err, FetchError::InvalidPayload(m) if m.starts_with("hasoffers sent truncated JSON: EOF while parsing")),
            "{err:?}"
        );
        let err = parse("<html><body>502 Bad Gateway</body></html>").expect_err("an error");
        assert_eq!(err, FetchError::InvalidPayload("hasoffers sent an HTML page instead of JSON (a wrong host or a login page?)".into()));
        let err = parse("[1, 2]").expect_err("an error");
        assert_eq!(err, FetchError::InvalidPayload("hasoffers sent an array, expected a JSON object".into()));
        // the legacy flat feed is another format
        let err = parse(include_str!("../../fixtures/hasoffers/legacy_offers_feed.json")).expect_err("an error");
        assert!(matches!(err, FetchError::InvalidPayload(_)));
    }

    #[test]
    fn page_request_puts_the_key_in_the_query_with_paging_and_contains() {
        let c = HasOffers::new();
        let req = c
            .page_request(&creds(&[("network_id", "volsor1"), ("api_key", "k3y")]), Cursor { page: 3, page_size: 200 })
            .expect("test value");
        assert_eq!(req.url.scheme(), "https");
        assert_eq!(req.url.host_str(), Some("volsor1.api.hasoffers.com"));
        assert_eq!(req.url.path(), "/Apiv3/json");
        let q: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().filter(|(n, _)| n == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("api_key"), ["k3y"]);
        assert_eq!(get("Target"), ["Affiliate_Offer"]);
        assert_eq!(get("Method"), ["findMyApprovedOffers"]);
        assert_eq!(get("limit"), ["200"]);
        assert_eq!(get("page"), ["3"]);
        assert_eq!(get("sort[id]"), ["asc"]);
        assert_eq!(get("contain[]"), CONTAIN);
        assert!(get("NetworkId").is_empty());
        assert!(req.headers.iter().all(|(_, v)| !v.contains("k3y")));
        assert!(req.basic_auth.is_none());
    }

    #[test]
    fn page_request_honours_api_url_and_checks_credentials() {
        let c = HasOffers::new();
        let cur = Cursor { page: 1, page_size: 500 };
        let req = c
            .page_request(&creds(&[("network_id", "demo"), ("api_key", "k"), ("api_url", "http://127.0.0.1:4000/")]), cur)
            .expect("test value");
        assert_eq!(req.url.as_str().split('?').next(), Some("http://127.0.0.1:4000/Apiv3/json"));
        assert!(req.url.query_pairs().any(|(k, v)| k == "NetworkId" && v == "demo"));
        let req = c
            .page_request(&creds(&[("network_id", "demo"), ("api_key", "k"), ("api_url", "https://api.hasoffers.com/Apiv3/json")]), cur)
            .expect("test value");
        assert_eq!(req.url.path(), "/Apiv3/json");

        assert!(matches!(c.page_request(&creds(&[("network_id", "demo")]), cur), Err(FetchError::Config(m)) if m.contains("api_key")));
        assert!(matches!(c.page_request(&creds(&[("api_key", "k")]), cur), Err(FetchError::Config(m)) if m.contains("network_id")));
        assert!(matches!(c.page_request(&creds(&[("network_id", "evil.com/x"), ("api_key", "k")]), cur), Err(FetchError::Config(_))));
    }

    #[test]
    fn catalog_entry() {
        let c = HasOffers::default();
        let info = c.info();
        assert_eq!((info.id.as_str(), info.display_name.as_str(), info.kind), ("hasoffers", "TUNE (HasOffers)", "native"));
        assert_eq!((info.rate_limit_requests, info.rate_limit_per), (50, Duration::from_secs(10)));
        assert!(info.approved_only);
        let names: Vec<_> = info.credential_fields.iter().map(|f| (f.name, f.required, f.secret)).collect();
        assert_eq!(names, [("network_id", true, false), ("api_key", true, true), ("api_url", false, false), ("currency", false, false)]);
    }

    /// A country list in the wrong shape is read as what it names or fails the offer; it is
    /// never read as "every country".
    #[test]
    fn country_lists_of_the_wrong_shape_never_widen_targeting() {
        let row = |country: Value| json!({"Offer": {"id": "7", "name": "N", "default_payout": "1", "currency": "EUR", "status": "active"}, "Country": country});
        let page = parse(envelope(json!({"7": row(json!("US"))}))).expect("page");
        assert_eq!(find(&page, "7").countries, ["US"]);
        for (bad, reason) in [
            (json!(42), "Country: 42 is not a country list"),
            (json!({"US": {"id": "840", "name": "United States"}}), r#"Country: {"id":"840","name":"United States"} has no country code"#),
            (
                json!({"XX": {"code": "XX"}}),
                "Country: 'XX' is not an ISO 3166 country code (read as no list it would target every country)",
            ),
        ] {
            let page = parse(envelope(json!({"7": row(bad)}))).expect("page");
            let err = page.offers[0].as_ref().expect_err("invalid");
            assert_eq!((err.external_id.as_deref(), err.reason.as_str()), (Some("7"), reason));
        }
    }

    /// The page and each record parsed on its own, in page order: `None` when the answer is
    /// not split.
    fn split_and_parse(body: &str) -> Option<Page> {
        let c = HasOffers::new();
        let split = c.split_page(&response(body))?;
        let offers = split.records.iter().map(|r| c.parse_record(r, &split.body[r.span.clone()])).collect();
        Some(Page {
            offers,
            records: split.records.len(),
            total_pages: split.total_pages,
            total_records: split.total_records,
            has_more: split.has_more,
            unchanged: vec![],
            now: None,
        })
    }

    /// The fast path reads every record as the whole-page parse does, invalid ones included,
    /// in the same order, with the same totals.
    #[test]
    fn a_split_page_reads_exactly_as_the_whole_page() {
        let bad = json!({"Offer": {"id": "8", "name": "N", "default_payout": "abc", "currency": "EUR", "status": "active"}});
        let odd = json!({"Offer": {"name": "No id", "default_payout": "1", "currency": "EUR"}, "TrackingLink": {"click_url": "https://t.test/c"}});
        let mixed =
            envelope(json!({"10": {"Offer": {"id": "10", "name": "Ten", "default_payout": "2.5", "currency": "EUR", "status": "active"}},
            "9": bad, "100": odd, "x": {"Offer": {"id": "11", "name": "Keyed x", "currency": "EUR"}}}))
            .replace('/', "\\/");
        let mut bodies: Vec<String> =
            (1..=3).map(|p| String::from_utf8(crate::sample::hasoffers_page(250, p, 100, p - 1)).unwrap_or_default()).collect();
        bodies.push(mixed);
        for body in &bodies {
            let whole = parse(body.as_str()).expect("page");
            let split = split_and_parse(body).expect("the usual envelope is split");
            assert_eq!(split.offers, whole.offers);
            assert_eq!(
                (split.records, split.total_pages, split.total_records, split.has_more),
                (whole.records, whole.total_pages, whole.total_records, whole.has_more)
            );
        }
        let ids: Vec<Option<String>> = split_and_parse(&bodies[3])
            .expect("split")
            .offers
            .iter()
            .map(|o| match o {
                Ok(o) => Some(o.external_id.clone()),
                Err(e) => e.external_id.clone(),
            })
            .collect();
        assert_eq!(ids, [Some("8".into()), Some("10".into()), Some("100".into()), Some("11".into())], "numeric ids first, in order");
    }

    /// Errors, unusual shapes and JSON the typed read would take differently go through the
    /// whole-page parse, which classifies them as it always did.
    #[test]
    fn answers_the_split_does_not_know_are_parsed_whole() {
        let row = r#"{"Offer": {"id": "1", "name": "A", "default_payout": "1", "currency": "EUR"}}"#;
        let page =
            |data: &str| format!(r#"{{"response": {{"status": 1, "data": {{"page": 1, "count": 1, "pageCount": 1, "data": {data}}}}}}}"#);
        for body in [
            r#"{"response": {"status": -1, "data": "", "errors": [{"publicMessage": "Invalid API key"}], "errorMessage": null}}"#
                .to_string(),
            r#"{"response": {"status": -1, "data": "", "errorMessage": "API usage exceeded rate limit. Configured: 50/10s window"}}"#
                .to_string(),
            page(&format!("[{row}]")),
            page("null"),
            page(r#""""#),
            page(&format!(r#"{{"1": {row}, "1": {row}}}"#)),
            format!(r#"{{"response": {{"status": 1, "data": {row}}}}}"#),
            format!("\u{feff}{}", page(&format!(r#"{{"1": {row}}}"#))),
            format!(r#"{{"response": {{"status": 1, "data": {{"count": 1, "data": {{"1": {row}}}}}}}}}"#),
            format!(r#"{{"response": {{"status": 1, "data": {{"page": 1, "count": 1, "pageCount": 1, "data": {{"\u0031": {row}}}}}}}}}"#),
            format!(r#"{{"response": [1, [1, 1, 1, {{"1": {row}}}]]}}"#),
            format!(r#"{{"response": {{"status": 1, "data": [1, 1, 1, {{"1": {row}}}]}}}}"#),
            format!(r#"[{{"status": 1, "data": {{"page": 1, "count": 1, "pageCount": 1, "data": {{"1": {row}}}}}}}]"#),
        ] {
            assert!(HasOffers::new().split_page(&response(body.as_str())).is_none(), "{body}");
        }
        assert!(HasOffers::new().split_page(&response(page(&format!(r#"{{"1": {row}}}"#)).as_str())).is_some());
    }
}
