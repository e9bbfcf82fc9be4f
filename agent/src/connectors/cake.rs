//! CAKE affiliate OfferFeed: `GET {instance}/affiliates/api/4/offers.asmx/OfferFeed`, an ASMX
//! service that answers XML and wants every parameter present, paged by `start_at_row`
//! (1-based) and `row_limit`, with the total in `<row_count>`.
//!
//! The XML is read into JSON (the offer's `raw`) by [`xml_to_json`]: namespaces dropped,
//! `xsi:nil="true"` as null, list elements (`offers`, `allowed_countries`, ...) always arrays.
//! Payouts are text with a symbol (`$2.50`) and no ISO code, so the currency comes from the
//! `currency` credential field. The feed has no tracking links: CAKE makes them per creative
//! of the affiliate's campaign, so every offer the affiliate runs (it has a `campaign_id`)
//! costs one `GET /affiliates/api/2/offers.asmx/GetCampaign?campaign_id=` (research §4.1),
//! through the account's rate limit and the response cache, whose first creative's
//! `unique_link` is the tracking link. An optional template rewrites links as
//! `https://<tracking domain>/?a={affiliate_id}&c={creative_id}`.
//!
//! | CAKE | campaign |
//! |---|---|
//! | `offer_status/status_name` Public, Apply To Run, Pending, Active / Inactive, Paused... | upstream status active / paused... |
//! | `campaign_id` (nil = the affiliate does not run the offer) | approved; GetCampaign gives the link |
//! | GetCampaign `creatives/creative_info[0]/unique_link`, `creative_id` | tracking URL (or the template with `{creative_id}`) |
//! | `payout` "$2.50" / "12%", `price_format` CPA, CPL, RevShare... | revenue, FIXED / PERCENT, model |
//! | `description` (as sent; `restrictions` and `advertiser_extended_terms` stay in `raw`) | description |
//! | `allowed_countries/country/country_code` | countries |
//! | "android" / "iOS" as a word of `offer_name` (the feed has no OS field) | OS |
//! | `vertical_name`, `tags` | categories |

use std::convert::Infallible;

use domain::{crypto::Credentials, model::PayoutType, validate};
use quick_xml::{NsReader, escape::resolve_predefined_entity, events::Event};
use serde_json::Value;

use super::{
    Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, Page, PageRequest, PagingStyle, RawResponse, append_path,
    base_url, body, fill,
    lenient::{self, approval_word, model_word, payout_type_word, status_word, unique},
    required,
};
use crate::offer::{Approval, CanonicalOffer, UpstreamStatus};

const FEED_PATH: &str = "/affiliates/api/4/offers.asmx/OfferFeed";
const CAMPAIGN_PATH: &str = "/affiliates/api/2/offers.asmx/GetCampaign";
/// Elements whose children form a list, even when there is one child or none.
const LIST_ELEMENTS: &[&str] = &["offers", "allowed_countries", "allowed_media_types", "tags", "creatives"];

pub struct Cake {
    info: ConnectorInfo,
}

impl Default for Cake {
    fn default() -> Self {
        Self::new()
    }
}

impl Cake {
    pub fn new() -> Self {
        Self {
            info: ConnectorInfo {
                id: "cake".into(),
                display_name: "CAKE".into(),
                kind: "native",
                credential_fields: vec![
                    CredentialField {
                        name: "api_url",
                        label: "CAKE instance URL",
                        required: true,
                        secret: false,
                        help: "Your network's CAKE address, e.g. https://login.network.com (each network runs its own)",
                    },
                    CredentialField {
                        name: "api_key",
                        label: "API key",
                        required: true,
                        secret: true,
                        help: "Affiliate portal > Reporting API",
                    },
                    CredentialField {
                        name: "affiliate_id",
                        label: "Affiliate ID",
                        required: true,
                        secret: false,
                        help: "Affiliate portal > Reporting API",
                    },
                    CredentialField {
                        name: "currency",
                        label: "Payout currency",
                        required: false,
                        secret: false,
                        help: "ISO 4217 code of the payouts (CAKE sends only a symbol such as $); empty = the account's default",
                    },
                    CredentialField {
                        name: "tracking_link_template",
                        label: "Tracking link template",
                        required: false,
                        secret: false,
                        help: "Only to change the links CAKE gives (another tracking domain): your CAKE tracking link with \
                               {creative_id} where the creative id goes, e.g. https://trk.example.com/?a={affiliate_id}&c={creative_id} \
                               (also {campaign_id}, {offer_id}, {offer_contract_id}). Empty = the link GetCampaign returns",
                    },
                ],
                paging: PagingStyle::RowOffset,
                default_page_size: 500,
                rate_limit_requests: 2,
                rate_limit_per: std::time::Duration::from_secs(1),
                approved_only: false,
                docs_url: None,
            },
        }
    }
}

impl Connector for Cake {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        let mut url = append_path(base_url(creds, required(creds, "api_url")?)?, FEED_PATH)?;
        // ASMX binds only when every parameter is present, empty or 0 included.
        url.query_pairs_mut()
            .append_pair("api_key", required(creds, "api_key")?)
            .append_pair("affiliate_id", required(creds, "affiliate_id")?)
            .append_pair("campaign_name", "")
            .append_pair("media_type_category_id", "0")
            .append_pair("vertical_category_id", "0")
            .append_pair("vertical_id", "0")
            .append_pair("offer_status_id", "0")
            .append_pair("tag_id", "0")
            .append_pair("start_at_row", &cursor.start_row().to_string())
            .append_pair("row_limit", &cursor.page_size.to_string());
        Ok(PageRequest { url, headers: vec![], basic_auth: None })
    }

    fn parse_page(&self, creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        let settings = Settings::from(creds)?;
        let text = body::text("cake", &resp.body)?;
        if body::looks_like_html(text) {
            return Err(FetchError::InvalidPayload("cake sent an HTML page instead of XML (a wrong host or a login page?)".into()));
        }
        let (root_name, root) = xml_to_json(text).map_err(|e| FetchError::InvalidPayload(format!("cake sent {e}")))?;
        if let Value::String(message) = root {
            // ASMX answers some failures with a bare <string>.
            return Err(body::classify_message("cake", message));
        }
        match lenient::string(&root["success"]).as_deref().map(str::to_lowercase).as_deref() {
            Some("true") => {}
            Some("false") => return Err(body::classify_message("cake", message(&root).unwrap_or_else(|| "success is false".into()))),
            _ => return Err(FetchError::InvalidPayload(format!("cake sent <{root_name}> without <success>: not an offer feed"))),
        }
        let offers: &[Value] = match &root["offers"] {
            Value::Array(items) => items,
            Value::Null => &[],
            other => return Err(FetchError::InvalidPayload(format!("cake sent <offers> as {}, expected a list", body::kind_of(other)))),
        };
        Ok(Page {
            records: offers.len(),
            total_records: lenient::decimal(&root["row_count"]).and_then(|d| u64::try_from(d.trunc()).ok()),
            offers: offers.iter().map(|r| offer(r, &settings)).collect(),
            ..Page::default()
        })
    }

    /// GetCampaign for an offer the affiliate runs (it has a campaign) but whose row has no link.
    fn detail_request(&self, creds: &Credentials, offer: &CanonicalOffer) -> Option<Result<PageRequest, FetchError>> {
        if offer.tracking_url.is_some() {
            return None;
        }
        let campaign = lenient::string(&offer.raw["campaign_id"])?;
        Some((|| {
            let mut url = append_path(base_url(creds, required(creds, "api_url")?)?, CAMPAIGN_PATH)?;
            url.query_pairs_mut()
                .append_pair("api_key", required(creds, "api_key")?)
                .append_pair("affiliate_id", required(creds, "affiliate_id")?)
                .append_pair("campaign_id", &campaign);
            Ok(PageRequest { url, headers: vec![], basic_auth: None })
        })())
    }

    /// The tracking link of the campaign's first creative with a `unique_link` (or the
    /// template filled with its `creative_id`). A campaign without one is an invalid offer
    /// whose reason names the field to fill, never a silently unrunnable one.
    fn apply_detail(&self, creds: &Credentials, offer: &mut CanonicalOffer, resp: &RawResponse) -> Result<(), FetchError> {
        let settings = Settings::from(creds)?;
        let campaign = lenient::string(&offer.raw["campaign_id"]).unwrap_or_default();
        let text = body::text("cake", &resp.body)?;
        if body::looks_like_html(text) {
            return Err(FetchError::InvalidPayload(format!("GetCampaign {campaign}: cake sent an HTML page instead of XML")));
        }
        let (_, root) = xml_to_json(text).map_err(|e| FetchError::InvalidPayload(format!("GetCampaign {campaign}: cake sent {e}")))?;
        if let Value::String(message) = root {
            return Err(body::classify_message("cake", message));
        }
        if lenient::string(&root["success"]).as_deref().map(str::to_lowercase).as_deref() != Some("true") {
            let why = message(&root).unwrap_or_else(|| "success is not true".into());
            return Err(FetchError::InvalidPayload(format!("GetCampaign {campaign} failed: {why}")));
        }
        let c = if root["campaign"].is_object() { &root["campaign"] } else { &root };
        let creatives = lenient::rows(&c["creatives"]);
        let creative = creatives.iter().find(|k| lenient::string(&k["unique_link"]).is_some()).or(creatives.first());
        let creative_id = creative.and_then(|k| lenient::string(&k["creative_id"]));
        let link = match (settings.tracking_link_template, &creative_id) {
            (Some(template), Some(creative_id)) => {
                let contract = lenient::string(&offer.raw["offer_contract_id"]);
                fill(template, |name| {
                    Ok::<_, Infallible>(match name {
                        "creative_id" => Some(creative_id.clone()),
                        "campaign_id" => Some(campaign.clone()),
                        "offer_id" => Some(offer.external_id.clone()),
                        "offer_contract_id" => contract.clone(),
                        "affiliate_id" => settings.affiliate_id.map(str::to_string),
                        _ => None,
                    })
                })
                .ok()
            }
            _ => creative.and_then(|k| lenient::string(&k["unique_link"])),
        };
        let Some(link) = link else {
            return Err(FetchError::InvalidPayload(format!(
                "GetCampaign {campaign} returned no creative with a unique_link: the offer has no tracking link; fill the \
                 integration's 'tracking_link_template' (https://<tracking domain>/?a={{affiliate_id}}&c={{creative_id}})"
            )));
        };
        offer.tracking_url = Some(link);
        offer.raw["creative_id"] = creative_id.map_or(Value::Null, Value::String);
        Ok(())
    }

    fn classify_status(&self, resp: &RawResponse) -> Option<FetchError> {
        // A bad key can be an HTTP 500 SOAP fault; its text says so.
        let text = body::text("cake", &resp.body).ok()?;
        let (_, root) = xml_to_json(text).ok()?;
        match body::classify_message("cake", message(&root)?) {
            e @ FetchError::Unauthorized(_) => Some(e),
            _ => None,
        }
    }
}

/// What parsing needs from the credential fields.
struct Settings<'a> {
    currency: Option<String>,
    affiliate_id: Option<&'a str>,
    tracking_link_template: Option<&'a str>,
}

impl<'a> Settings<'a> {
    fn from(creds: &'a Credentials) -> Result<Self, FetchError> {
        let get = |k: &str| creds.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let currency = match get("currency") {
            Some(c) => Some(validate::currency(c).ok_or_else(|| FetchError::Config(format!("currency '{c}' is not an ISO 4217 code")))?),
            None => None,
        };
        let tracking_link_template = get("tracking_link_template");
        if let Some(t) = tracking_link_template
            && !((t.starts_with("https://") || t.starts_with("http://")) && t.contains("{creative_id}"))
        {
            // CAKE links name the creative (`c=`): without it every offer would get one link.
            return Err(FetchError::Config(format!(
                "tracking_link_template '{t}' must be an http(s) URL with {{creative_id}} where the creative id goes (CAKE links carry it as c=)"
            )));
        }
        Ok(Self { currency, affiliate_id: get("affiliate_id"), tracking_link_template })
    }
}

/// The message of an error document: `message`, `error_message`, `error`, `errors` or a SOAP
/// `faultstring`, wherever it is nested.
fn message(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Object(m) => ["message", "error_message", "error", "errors", "faultstring"]
            .iter()
            .find_map(|k| m.get(*k).and_then(message))
            .or_else(|| m.values().filter(|v| v.is_object() || v.is_array()).find_map(message)),
        Value::Array(items) => items.iter().find_map(message),
        _ => None,
    }
}

fn offer(r: &Value, settings: &Settings<'_>) -> Result<CanonicalOffer, InvalidOffer> {
    let id = lenient::string(&r["offer_id"]);
    let fail = |reason: String| InvalidOffer { external_id: id.clone(), reason };
    if !r.is_object() {
        return Err(fail(format!("the offer is {}, expected an element with children", body::kind_of(r))));
    }
    let id = id.clone().ok_or_else(|| fail("no offer_id".into()))?;
    let name = lenient::string(&r["offer_name"]).ok_or_else(|| fail("no offer_name".into()))?;
    let mut o = CanonicalOffer::new(id.clone(), name);
    // The description as sent; restrictions and terms are other fields (kept in `raw`).
    if let Some(d) = r["description"].as_str().filter(|d| !d.trim().is_empty()) {
        o.description_html = Some(d.to_string());
    }
    o.preview_url = lenient::string(&r["preview_link"]);
    o.thumbnail_url = lenient::string(&r["thumbnail_image_url"]);
    let status_name = lenient::string(&r["offer_status"]["status_name"]);
    // `campaign_id` exists once the affiliate runs the offer; nil means no campaign yet.
    let campaign_id = lenient::string(&r["campaign_id"]);
    o.approval = match (&campaign_id, &status_name) {
        (Some(_), _) => Approval::Approved,
        (None, Some(s)) => approval_word(s),
        (None, None) => Approval::Unknown,
    };
    o.status = status_name.as_deref().map_or(UpstreamStatus::Unknown, status);
    // The OfferFeed carries no links: CAKE makes them per creative of the affiliate's
    // campaign, read by GetCampaign ([`Connector::detail_request`]). A row that has one
    // (`tracking_link`, as CAKE's JSON campaign feed sends) keeps it.
    o.tracking_url = lenient::string(&r["tracking_link"]);
    let payout = lenient::string(&r["payout"]).ok_or_else(|| fail("no payout".into()))?;
    o.revenue = lenient::decimal_str(&payout).ok_or_else(|| fail(format!("payout '{payout}' is not a number")))?;
    let price_format = lenient::string(&r["price_format"]);
    o.model = price_format.as_deref().and_then(model_word);
    let percent = payout.trim_end().ends_with('%') || price_format.as_deref().and_then(payout_type_word) == Some(PayoutType::Percent);
    o.payout_type = if percent { PayoutType::Percent } else { PayoutType::Fixed };
    o.currency = settings.currency.clone();
    o.countries = lenient::country_words(&r["allowed_countries"], &["country_code"], "allowed_countries")
        .and_then(|w| lenient::countries("allowed_countries", lenient::CountryList::Allow, w))
        .map_err(fail)?;
    o.os = os_in_name(&o.name);
    let tags = match &r["tags"] {
        Value::Array(items) => items.iter().filter_map(|t| [&t["tag_name"], &t["name"], t].into_iter().find_map(lenient::string)).collect(),
        other => lenient::csv(other),
    };
    o.categories = unique(lenient::string(&r["vertical_name"]).into_iter().chain(tags));
    o.expires_at = lenient::datetime(&r["expiration_date"]);
    o.raw = r.clone();
    Ok(o)
}

/// CAKE's `status_name` is the affiliate's access to a live offer (Public, Apply To Run,
/// Pending, Active); other words are read as statuses.
fn status(name: &str) -> UpstreamStatus {
    match name.trim().to_lowercase().as_str() {
        "public" | "active" | "apply to run" | "pending" => UpstreamStatus::Active,
        other => status_word(other),
    }
}

/// The feed has no OS field; names say it ("Eternal Uprising ( android)", "... iOS"). Only
/// the words "android" and "ios" count: "iPhone" or "iPad" in a name is usually the prize of
/// a sweepstake ("Win an iPhone 15"), and "Windows" or "Mac" seldom means the platform.
fn os_in_name(name: &str) -> Vec<String> {
    let words = name.split(|c: char| !c.is_ascii_alphanumeric()).map(str::to_ascii_lowercase);
    unique(words.filter(|w| w == "android" || w == "ios"))
}

/// An XML element being read.
struct Open {
    name: String,
    nil: bool,
    text: String,
    children: Vec<(String, Value)>,
}

/// Reads an XML document into JSON: an element with child elements becomes an object
/// (children repeated under one name an array), an element of [`LIST_ELEMENTS`] an array of
/// its children, an element with `xsi:nil="true"` null, any other element its text (`""` when
/// empty). Namespace prefixes and other attributes are dropped. Returns the root's name and
/// value; a truncated or ill-formed document is an error.
fn xml_to_json(xml: &str) -> Result<(String, Value), String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Open> = vec![];
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            if matches!(e, quick_xml::Error::Syntax(_)) && reader.buffer_position() >= xml.len() as u64 {
                format!("truncated XML: {e}")
            } else {
                format!("malformed XML at byte {}: {e}", reader.error_position())
            }
        })?;
        match event {
            Event::Start(e) => stack.push(open(&reader, &e)?),
            Event::Empty(e) => {
                let node = open(&reader, &e)?;
                close(node, &mut stack, &mut root)?;
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("malformed XML: an end tag without a start tag")?;
                close(node, &mut stack, &mut root)?;
            }
            Event::Text(t) => {
                let t = t.xml10_content().map_err(|e| format!("malformed XML text: {e}"))?;
                match stack.last_mut() {
                    Some(node) => node.text.push_str(&t),
                    None if t.trim().is_empty() => {}
                    None => return Err("malformed XML: text outside the root element".into()),
                }
            }
            Event::CData(c) => {
                let t = c.decode().map_err(|e| format!("malformed XML CDATA: {e}"))?;
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| format!("malformed XML character reference: {e}"))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| format!("malformed XML entity: {e}"))?;
                        resolve_predefined_entity(&name).map_or_else(|| format!("&{name};"), str::to_string)
                    }
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(node) = stack.last() {
        return Err(format!("truncated XML: <{}> is not closed", node.name));
    }
    root.ok_or_else(|| "no XML element".into())
}

fn open(reader: &NsReader<&[u8]>, e: &quick_xml::events::BytesStart<'_>) -> Result<Open, String> {
    let name =
        std::str::from_utf8(e.local_name().as_ref()).map_err(|_| "malformed XML: an element name is not UTF-8".to_string())?.to_string();
    Ok(Open { name, nil: e.attributes().has_nil(reader), text: String::new(), children: vec![] })
}

fn close(node: Open, stack: &mut [Open], root: &mut Option<(String, Value)>) -> Result<(), String> {
    let value = if node.nil {
        Value::Null
    } else if node.children.is_empty() && !(LIST_ELEMENTS.contains(&node.name.as_str()) && node.text.trim().is_empty()) {
        Value::String(node.text)
    } else if LIST_ELEMENTS.contains(&node.name.as_str()) {
        Value::Array(node.children.into_iter().map(|(_, v)| v).collect())
    } else {
        let mut map = serde_json::Map::new();
        let repeated = |name: &str| node.children.iter().filter(|(n, _)| n == name).count() > 1;
        let flags: Vec<bool> = node.children.iter().map(|(n, _)| repeated(n)).collect();
        for ((name, v), many) in node.children.into_iter().zip(flags) {
            if many {
                if let Value::Array(items) = map.entry(name).or_insert_with(|| Value::Array(vec![])) {
                    items.push(v);
                }
            } else {
                map.insert(name, v);
            }
        }
        Value::Object(map)
    };
    match stack.last_mut() {
        Some(parent) => parent.children.push((node.name, value)),
        None if root.is_none() => *root = Some((node.name, value)),
        None => return Err("malformed XML: more than one root element".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, str::FromStr};

    use domain::model::OfferModel;
    use rust_decimal::Decimal;

    use super::*;

    const FEED: &str = include_str!("../../fixtures/cake/offerfeed_v4.xml");
    const SUCCESS_FALSE: &str = include_str!("../../fixtures/cake/error_success_false_synthetic.xml");
    const SOAP_FAULT: &str = include_str!("../../fixtures/cake/soap_fault_500_synthetic.xml");

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    fn creds(extra: &[(&str, &str)]) -> Credentials {
        [("api_url", "https://login.network.example"), ("api_key", "k3y"), ("affiliate_id", "42")]
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn response(status: u16, body: &str) -> RawResponse {
        RawResponse { status, headers: Default::default(), body: bytes::Bytes::from(body.to_string()) }
    }

    fn parse_with(creds: &Credentials, body: &str) -> Result<Page, FetchError> {
        Cake::new().parse_page(creds, &response(200, body))
    }

    fn parse(body: &str) -> Result<Page, FetchError> {
        parse_with(&creds(&[]), body)
    }

    /// A feed with the given `<offer>` elements.
    fn feed(offers: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<offer_feed_response xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://cakemarketing.com/affiliates/api/4/">
<success>true</success><row_count>3</row_count><offers>{offers}</offers></offer_feed_response>"#
        )
    }

    #[test]
    fn offer_feed_maps_ids_payouts_countries_and_the_total() {
        let page = parse(FEED).expect("page");
        assert_eq!((page.records, page.total_records, page.total_pages, page.has_more), (2, Some(24), None, None));
        let offers: Vec<&CanonicalOffer> = page.offers.iter().flatten().collect();
        let (a, b) = (offers[0], offers[1]);
        assert_eq!((a.external_id.as_str(), a.name.as_str()), ("169", "Eternal Uprising ( android)"), "names are trimmed");
        assert_eq!((a.revenue, a.payout_type, a.model), (dec("2.50"), PayoutType::Fixed, Some(OfferModel::Cpa)));
        assert_eq!(a.currency, None, "\"$2.50\" has no ISO code and no currency is configured");
        assert_eq!(a.countries, ["AU", "CA", "GB", "NL", "US"]);
        assert_eq!((a.status, a.approval), (UpstreamStatus::Active, Approval::Approved), "Public offers need no approval");
        assert_eq!((a.tracking_url.as_deref(), a.is_approved()), (None, false), "the feed has no tracking links");
        assert_eq!(a.os, ["android"]);
        assert_eq!(a.categories, ["Mobile"]);
        assert_eq!(
            (a.description_html.as_deref(), a.preview_url.as_deref(), a.thumbnail_url.as_deref(), a.expires_at),
            (None, None, None, None)
        );
        assert_eq!((b.external_id.as_str(), b.revenue), ("158", dec("3.00")));
        assert_eq!(b.os, ["ios"]);
        assert_eq!(b.countries, ["AU", "CA", "GB", "US"]);
        // <description/> is empty: restrictions and terms are other fields, not a description.
        assert_eq!((b.description_html.as_deref(), b.description_text.as_deref()), (None, None));
        assert_eq!(b.raw["restrictions"], "No Incent,");
        // raw is the <offer> element as JSON: nil is null, empty is "", lists are arrays.
        assert_eq!(a.raw["offer_id"], "169");
        assert_eq!(a.raw["campaign_id"], Value::Null);
        assert_eq!(a.raw["description"], "");
        assert_eq!(a.raw["offer_status"]["status_name"], "Public");
        assert_eq!(a.raw["allowed_countries"][4]["country_name"], "United States");
        assert_eq!(a.raw["tags"], serde_json::json!([]));
    }

    /// A GetCampaign answer with the given creatives (`(creative_id, unique_link)`).
    fn campaign(creatives: &[(&str, &str)]) -> String {
        let items: String = creatives
            .iter()
            .map(|(id, link)| format!("<creative_info><creative_id>{id}</creative_id><creative_name>Banner</creative_name><unique_link>{link}</unique_link></creative_info>"))
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<campaign_response xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://cakemarketing.com/affiliates/api/2/">
<success>true</success><campaign><campaign_id>1234</campaign_id><offer_id>7</offer_id><creatives>{items}</creatives></campaign></campaign_response>"#
        )
    }

    fn detail(c: &Credentials, offer: &mut CanonicalOffer, body: &str) -> Result<(), FetchError> {
        Cake::new().apply_detail(c, offer, &response(200, body))
    }

    #[test]
    fn an_offer_with_a_campaign_gets_the_link_of_its_first_creative_from_get_campaign() {
        let body = feed(
            "<offer><offer_id>7</offer_id><offer_contract_id>9</offer_contract_id><campaign_id>1234</campaign_id>\
             <offer_name>Shop &amp; Save</offer_name><offer_status><status_name>Active</status_name></offer_status>\
             <payout>15%</payout><price_format>RevShare</price_format><expiration_date>2030-01-31T00:00:00</expiration_date>\
             <description><![CDATA[<b>Great</b> offer]]></description>\
             <allowed_countries><country><country_code>DE</country_code></country></allowed_countries>\
             <tags><tag><tag_name>Retail</tag_name></tag></tags></offer>",
        );
        let c = creds(&[("currency", "eur")]);
        let page = parse_with(&c, &body).expect("page");
        let mut o = page.offers[0].as_ref().expect("offer").clone();
        assert_eq!((o.approval, o.tracking_url.as_deref()), (Approval::Approved, None));
        let req = Cake::new().detail_request(&c, &o).expect("a GetCampaign call").expect("request");
        assert_eq!(req.url.path(), "/affiliates/api/2/offers.asmx/GetCampaign");
        let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        assert_eq!((q["campaign_id"].as_str(), q["affiliate_id"].as_str(), q["api_key"].as_str()), ("1234", "42", "k3y"));
        detail(&c, &mut o, &campaign(&[("11", "https://trk.example/?a=42&amp;c=11"), ("12", "https://trk.example/?a=42&amp;c=12")]))
            .expect("detail");
        assert_eq!(o.tracking_url.as_deref(), Some("https://trk.example/?a=42&c=11"));
        assert_eq!((o.is_approved(), o.raw["creative_id"].as_str()), (true, Some("11")));
        assert_eq!(o.name, "Shop & Save");
        assert_eq!((o.revenue, o.payout_type, o.model), (dec("15"), PayoutType::Percent, Some(OfferModel::RevShare)));
        assert_eq!(o.currency.as_deref(), Some("EUR"));
        assert_eq!((o.countries.as_slice(), o.categories.as_slice()), (&["DE".to_string()][..], &["Retail".to_string()][..]));
        assert_eq!(o.description_html.as_deref(), Some("<b>Great</b> offer"));
        assert_eq!(o.plain_description().as_deref(), Some("Great offer"));
        assert_eq!(o.expires_at.map(|t| t.to_rfc3339()).as_deref(), Some("2030-01-31T00:00:00+00:00"));
        // The offer is linked now: no second call.
        assert!(Cake::new().detail_request(&c, &o).is_none());
        let bad = parse_with(&creds(&[("currency", "dollars")]), &body).err();
        assert_eq!(bad, Some(FetchError::Config("currency 'dollars' is not an ISO 4217 code".into())));
    }

    #[test]
    fn the_template_uses_the_creative_id_and_a_campaign_without_creatives_names_the_field_to_fill() {
        let template = "https://trk.example/?a={affiliate_id}&c={creative_id}&cp={campaign_id}&s1={click_id}";
        let c = creds(&[("tracking_link_template", template)]);
        let page = parse_with(
            &c,
            &feed("<offer><offer_id>5</offer_id><campaign_id>1234</campaign_id><offer_name>x</offer_name><payout>$1</payout></offer>"),
        )
        .expect("page");
        let mut o = page.offers[0].as_ref().expect("offer").clone();
        detail(&c, &mut o, &campaign(&[("31", "https://other.example/?a=42&amp;c=31")])).expect("detail");
        assert_eq!(o.tracking_url.as_deref(), Some("https://trk.example/?a=42&c=31&cp=1234&s1={click_id}"), "c= is the creative");
        let mut o = page.offers[0].as_ref().expect("offer").clone();
        let err = detail(&creds(&[]), &mut o, &campaign(&[])).expect_err("no creative");
        assert!(matches!(&err, FetchError::InvalidPayload(m) if m.contains("tracking_link_template") && m.contains("1234")), "{err:?}");
        assert_eq!(o.tracking_url, None);
        let failed = "<campaign_response><success>false</success><message>Invalid Campaign</message></campaign_response>";
        assert!(matches!(detail(&creds(&[]), &mut o, failed), Err(FetchError::InvalidPayload(m)) if m.contains("Invalid Campaign")));
    }

    #[test]
    fn offers_without_a_campaign_or_with_a_feed_link_need_no_call() {
        let body = feed(
            &[
                "<offer><offer_id>5</offer_id><campaign_id xsi:nil=\"true\" /><offer_name>x</offer_name><payout>$1</payout></offer>",
                "<offer><offer_id>6</offer_id><campaign_id>78</campaign_id><tracking_link>https://own.example/c/78</tracking_link><offer_name>y</offer_name><payout>$1</payout></offer>",
            ]
            .concat(),
        );
        let page = parse(&body).expect("page");
        for o in page.offers.iter().flatten() {
            assert!(Cake::new().detail_request(&creds(&[]), o).is_none(), "{}", o.external_id);
        }
        let links: Vec<Option<&str>> = page.offers.iter().flatten().map(|o| o.tracking_url.as_deref()).collect();
        assert_eq!(links, [None, Some("https://own.example/c/78")]);
    }

    #[test]
    fn a_template_without_the_creative_id_is_a_configuration_error() {
        for bad in ["https://trk.example/?a={affiliate_id}&c={campaign_id}", "trk.example/?c={creative_id}"] {
            let err = parse_with(&creds(&[("tracking_link_template", bad)]), FEED).err();
            assert!(matches!(&err, Some(FetchError::Config(m)) if m.contains("{creative_id}") && m.contains(bad)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn approval_follows_the_status_name_until_there_is_a_campaign() {
        let offer = |status: &str| {
            format!(
                "<offer><offer_id>1</offer_id><offer_name>x</offer_name><payout>$1</payout><offer_status><status_name>{status}</status_name></offer_status></offer>"
            )
        };
        let page = parse(&feed(&["Apply To Run", "Pending", "Inactive"].map(offer).concat())).expect("page");
        let read: Vec<(Approval, UpstreamStatus)> = page.offers.iter().flatten().map(|o| (o.approval, o.status)).collect();
        assert_eq!(
            read,
            [
                (Approval::NotApplied, UpstreamStatus::Active),
                (Approval::Pending, UpstreamStatus::Active),
                (Approval::Unknown, UpstreamStatus::Paused)
            ]
        );
    }

    #[test]
    fn success_false_and_soap_faults_naming_the_key_are_unauthorized() {
        assert_eq!(parse(SUCCESS_FALSE).err(), Some(FetchError::Unauthorized("Invalid API Key".into())));
        let other = parse(&SUCCESS_FALSE.replace("Invalid API Key", "Offer feed disabled")).err();
        assert_eq!(other, Some(FetchError::InvalidPayload("cake answered with an error: Offer feed disabled".into())));
        let fault = Cake::new().classify_status(&response(500, SOAP_FAULT));
        assert_eq!(
            fault,
            Some(FetchError::Unauthorized("Server was unable to process request. ---> Invalid API Key or Affiliate ID".into()))
        );
        let unrelated = SOAP_FAULT.replace("Invalid API Key or Affiliate ID", "Timeout expired");
        assert_eq!(Cake::new().classify_status(&response(500, &unrelated)), None);
    }

    #[test]
    fn truncated_xml_html_and_foreign_documents_are_invalid_payloads() {
        let invalid = |body: &str| match parse(body) {
            Err(FetchError::InvalidPayload(m)) => m,
            other => panic!("expected InvalidPayload for {body:?}, got {other:?}"),
        };
        let cut = invalid(&FEED[..FEED.len() / 2]);
        assert!(cut.starts_with("cake sent truncated XML: "), "{cut}");
        let at_element = FEED.find("<offer_contract_id>").expect("fixture");
        assert_eq!(invalid(&FEED[..at_element]), "cake sent truncated XML: <offer> is not closed");
        assert!(invalid("<!DOCTYPE html><html><body><h1>Runtime Error</h1></body></html>").contains("HTML page"));
        assert_eq!(invalid("{\"success\": true}"), "cake sent malformed XML: text outside the root element");
        assert_eq!(invalid("<root><a>1</a></root>"), "cake sent <root> without <success>: not an offer feed");
        assert!(invalid("<a><b></a>").starts_with("cake sent malformed XML"));
    }

    #[test]
    fn one_broken_offer_is_reported_and_the_rest_kept() {
        let body = feed(
            "<offer><offer_id>1</offer_id><offer_name>Good</offer_name><payout>$1.25</payout></offer>\
             <offer><offer_id>2</offer_id><offer_name>Bad</offer_name><payout>call us</payout></offer>\
             <offer><offer_id>3</offer_id><offer_name>Good too</offer_name><payout>$0.10</payout></offer>",
        );
        let page = parse(&body).expect("page");
        assert_eq!(page.records, 3);
        let bad: Vec<&InvalidOffer> = page.offers.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(bad, [&InvalidOffer { external_id: Some("2".into()), reason: "payout 'call us' is not a number".into() }]);
        let good: Vec<(&str, Decimal)> = page.offers.iter().flatten().map(|o| (o.external_id.as_str(), o.revenue)).collect();
        assert_eq!(good, [("1", dec("1.25")), ("3", dec("0.10"))]);
    }

    #[test]
    fn page_request_sends_every_asmx_parameter_and_row_offsets() {
        let req = Cake::new().page_request(&creds(&[]), Cursor { page: 3, page_size: 500 }).expect("request");
        assert_eq!(
            req.url.as_str(),
            "https://login.network.example/affiliates/api/4/offers.asmx/OfferFeed?api_key=k3y&affiliate_id=42&campaign_name=\
             &media_type_category_id=0&vertical_category_id=0&vertical_id=0&offer_status_id=0&tag_id=0&start_at_row=1001&row_limit=500"
        );
        assert!(req.headers.is_empty());
        let mut no_host = creds(&[]);
        no_host.remove("api_url");
        let err = Cake::new().page_request(&no_host, Cursor { page: 1, page_size: 500 }).err();
        assert_eq!(err, Some(FetchError::Config("credential field 'api_url' is missing".into())));
    }

    #[test]
    fn xml_reader_handles_namespaces_nil_entities_and_repeats() {
        let xml = r#"<r xmlns="urn:x" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><a i:nil="true"/><b>x &lt; y &#233;</b><c/><d>1</d><d>2</d><e><f/></e></r>"#;
        let (name, v) = xml_to_json(xml).expect("xml");
        assert_eq!(name, "r");
        assert_eq!(v, serde_json::json!({"a": null, "b": "x < y é", "c": "", "d": ["1", "2"], "e": {"f": ""}}));
    }
}
