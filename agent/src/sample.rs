//! A sample advertiser: realistic TUNE (HasOffers) and Everflow feeds, generated page by page
//! from an offer count, in each platform's real wire format (`Affiliate_Offer::findMyApprovedOffers`
//! with `contain[]` rows keyed by id, research §1; `GET /v1/affiliates/offersrunnable`, §2).
//! It is deterministic: two runs over the same `(offers, variant, generation)` see the same bytes.
//! [`server`] serves it on loopback: `offerbridge demo` imports from it, the end-to-end tests
//! use it as their fake advertiser, and the benchmarks render its pages.
//!
//! What the feed holds, per offer id:
//! - `currency` null (the network's, from getContext) for most, USD / EUR / GBP for some;
//! - `cpa_flat` payouts from 0.25 to 49.75, every 9th `cpa_percentage`;
//! - 1 to 4 countries, every 5th offer two goals, every 7th a daily conversion cap;
//! - every 50th paused upstream, every 37th without a preview URL;
//! - `variant` > 0 raises the payout of every 100th offer (a 1 % changed feed);
//! - `generation` (the demo's minute counter, see [`Change`]) moves a few offers each step.

pub mod server;

use serde_json::{Value, json};

const COUNTRIES: [&str; 8] = ["US", "CA", "GB", "DE", "FR", "BR", "IN", "AU"];
const CURRENCIES: [&str; 3] = ["USD", "EUR", "GBP"];
const CATEGORIES: [&str; 5] = ["Finance", "Gaming", "Dating", "Shopping", "Health"];

/// One `findMyApprovedOffers` row (`Offer` plus its contained models).
pub fn hasoffers_row(id: u32, variant: u32) -> Value {
    hasoffers_row_at(id, variant, Change::default())
}

/// One `findMyApprovedOffers` row after `change`.
pub fn hasoffers_row_at(id: u32, variant: u32, change: Change) -> Value {
    let cents = base_cents(id) + if variant > 0 && id.is_multiple_of(100) { variant * 300 } else { 0 } + change.payout_bump_cents;
    let payout = format!("{}.{:02}000", cents / 100, cents % 100);
    let percent = id.is_multiple_of(9);
    let currency = match id % 10 {
        0..=6 => Value::Null,
        n => json!(CURRENCIES[(n - 7) as usize]),
    };
    let countries: serde_json::Map<String, Value> =
        (0..=(id % 4)).map(|k| COUNTRIES[((id + k * 3) % 8) as usize]).map(|c| (c.to_string(), json!({"code": c, "name": c}))).collect();
    let mut row = json!({
        "Offer": {
            "id": id.to_string(),
            "name": format!("Offer {id}: a long enough title for a real feed"),
            "description": format!("<p>Promote our <b>great</b> product #{id}. No incent, no adult traffic.</p>"),
            "preview_url": if id.is_multiple_of(37) { Value::Null } else { json!(format!("https://shop.example/p/{id}")) },
            "currency": currency,
            "default_payout": if percent { Value::Null } else { json!(payout) },
            "percent_payout": if percent { json!("12.50") } else { Value::Null },
            "payout_type": if percent { "cpa_percentage" } else { "cpa_flat" },
            "status": if change.paused(id) { "paused" } else { "active" },
            "is_expired": "0",
            "expiration_date": "2030-12-31 23:59:59",
            "conversion_cap": if id.is_multiple_of(7) { "50" } else { "0" },
            "monthly_conversion_cap": "0",
            "payout_cap": "0.00",
            "monthly_payout_cap": "0.00",
            "require_approval": "0"
        },
        "TrackingLink": {"click_url": format!("https://trk.example/aff_c?offer_id={id}&aff_id=7"), "impression_pixel": ""},
        "Country": countries,
        "OfferCategory": {"3": {"id": "3", "name": CATEGORIES[(id % 5) as usize]}},
        "OfferOperatingSystem": if id.is_multiple_of(3) { json!({"1": {"name": "Android"}}) } else { json!([]) },
    });
    if id.is_multiple_of(5) {
        row["Goal"] = json!({
            (id * 10).to_string(): {"id": (id * 10).to_string(), "name": "Registration", "payout_type": "cpa_flat", "default_payout": "1.50", "percent_payout": null, "status": "active"},
            (id * 10 + 1).to_string(): {"id": (id * 10 + 1).to_string(), "name": "Deposit", "payout_type": "cpa_flat", "default_payout": payout, "percent_payout": null, "status": "active"}
        });
    }
    row
}

/// Page `page` (from 1) of a feed of `offers` offers, `size` per page: the whole HTTP body.
pub fn hasoffers_page(offers: u32, page: u32, size: u32, variant: u32) -> Vec<u8> {
    let ids: Vec<u32> = (1..=offers).collect();
    hasoffers_page_of(&ids, page, size, variant, |_| Change::default())
}

/// Page `page` (from 1) of the offers `ids` (in feed order), `size` per page, each after
/// `change(id)`.
pub fn hasoffers_page_of(ids: &[u32], page: u32, size: u32, variant: u32, change: impl Fn(u32) -> Change) -> Vec<u8> {
    let (size, total) = (size.max(1), ids.len() as u32);
    let rows: serde_json::Map<String, Value> =
        page_slice(ids, page, size).iter().map(|id| (id.to_string(), hasoffers_row_at(*id, variant, change(*id)))).collect();
    let body = json!({"response": {"status": 1, "httpStatus": 200, "data": {
        "page": page, "current": rows.len(), "count": total, "pageCount": total.div_ceil(size), "data": rows
    }, "errors": [], "errorMessage": null}});
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The ids of page `page` (from 1), `size` per page.
fn page_slice(ids: &[u32], page: u32, size: u32) -> &[u32] {
    let from = ((page.max(1) - 1) as usize).saturating_mul(size as usize).min(ids.len());
    let to = from.saturating_add(size as usize).min(ids.len());
    &ids[from..to]
}

/// The payout of an offer before any change, in cents: 0.25 to 49.75.
fn base_cents(id: u32) -> u32 {
    (id % 50) * 100 + (id % 4) * 25
}

/// What `generation` steps of the demo's clock did to one offer. Each step, in a feed of N
/// offers (N >= 100):
/// - the offers whose id ends in the step's number (mod 100) earn 0.50 more, for good;
/// - one offer (`step × 7 mod N + 1`) flips its status for that step only (an active one is
///   paused; one of the every-50th offers, paused upstream, comes back for the step);
/// - one offer (`step × 13 mod N + 1`) is missing from the feed for that step only, so the
///   vanish policy can be watched; it comes back on the next step;
/// - one new offer appears (id N + step) and stays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    pub payout_bump_cents: u32,
    /// Status flipped at this generation.
    pub flipped: bool,
}

impl Change {
    /// What `generation` steps did to offer `id` in a feed of `offers` base offers.
    pub fn in_feed(id: u32, offers: u32, generation: u32) -> Change {
        // Steps k in 1..=generation with k ≡ id (mod 100).
        let first = match id % 100 {
            0 => 100,
            r => r,
        };
        let bumps = if generation >= first { (generation - first) / 100 + 1 } else { 0 };
        let flipped = generation > 0 && offers > 0 && id == (generation * 7) % offers + 1;
        Change { payout_bump_cents: bumps * 50, flipped }
    }

    /// Paused upstream: every 50th offer, flipped while its step lasts.
    pub fn paused(&self, id: u32) -> bool {
        id.is_multiple_of(50) != self.flipped
    }
}

/// The offers in a feed of `offers` base offers at `generation`, in feed order.
pub fn offer_ids(offers: u32, generation: u32) -> Vec<u32> {
    let missing = (generation > 0 && offers > 0).then(|| (generation * 13) % offers + 1);
    (1..=offers.saturating_add(generation)).filter(|id| Some(*id) != missing).collect()
}

/// One `offersrunnable` offer after `change`: the same offer as [`hasoffers_row`] says it
/// (payout, currency, countries, the same goals as payout entries after the default one, a
/// daily cap, category, OS).
pub fn everflow_offer(id: u32, change: Change) -> Value {
    let cents = base_cents(id) + change.payout_bump_cents;
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    let percent = id.is_multiple_of(9);
    // The default entry is the offer's own payout; the goals are the same as HasOffers' (ids,
    // names, amounts), listed after it.
    let mut entries = vec![if percent {
        json!({"network_offer_payout_revenue_id": id * 10 + 9, "entry_name": "Base", "is_default": true,
               "payout_type": "cps", "payout_amount": 0, "payout_percentage": 12.5})
    } else {
        json!({"network_offer_payout_revenue_id": id * 10 + 9, "entry_name": "Base", "is_default": true,
               "payout_type": "cpa", "payout_amount": number(&amount), "payout_percentage": 0})
    }];
    if id.is_multiple_of(5) {
        entries.push(json!({"network_offer_payout_revenue_id": id * 10, "entry_name": "Registration", "is_default": false,
                            "payout_type": "cpa", "payout_amount": 1.5, "payout_percentage": 0}));
        entries.push(json!({"network_offer_payout_revenue_id": id * 10 + 1, "entry_name": "Deposit", "is_default": false,
                            "payout_type": "cpa", "payout_amount": number(&amount), "payout_percentage": 0}));
    }
    let countries: Vec<Value> =
        (0..=(id % 4)).map(|k| json!({"country_code": COUNTRIES[((id + k * 3) % 8) as usize], "targeting_type": "include"})).collect();
    let platforms: Vec<Value> = if id.is_multiple_of(3) { vec![json!({"label": "Android", "targeting_type": "include"})] } else { vec![] };
    json!({
        "network_offer_id": id,
        "network_id": 1,
        "name": format!("Offer {id}: a long enough title for a real feed"),
        "offer_status": if change.paused(id) { "paused" } else { "active" },
        "currency_id": match id % 10 { 8 => "EUR", 9 => "GBP", _ => "USD" },
        "tracking_url": format!("https://trk.example/{id}/7/"),
        "preview_url": if id.is_multiple_of(37) { String::new() } else { format!("https://shop.example/p/{id}") },
        "html_description": format!("<p>Promote our <b>great</b> product #{id}. No incent, no adult traffic.</p>"),
        "is_description_plain_text": false,
        "thumbnail_url": "",
        "date_live_until": "",
        "is_caps_enabled": id.is_multiple_of(7),
        "daily_conversion_cap": if id.is_multiple_of(7) { 50 } else { 0 },
        "relationship": {
            "offer_affiliate_status": "approved",
            "category": {"name": CATEGORIES[(id % 5) as usize], "status": "active"},
            "payouts": {"total": entries.len(), "entries": entries},
            "ruleset": {"countries": countries, "platforms": platforms, "device_types": []}
        }
    })
}

/// A JSON number from its decimal text (exact: serde_json keeps the digits).
fn number(text: &str) -> Value {
    text.parse::<serde_json::Number>().map_or(Value::Null, Value::Number)
}

/// A page of `offersrunnable`: the offers `ids` of page `page` (from 1), `size` per page.
pub fn everflow_page(ids: &[u32], page: u32, size: u32, change: impl Fn(u32) -> Change) -> Vec<u8> {
    let size = size.max(1);
    let offers: Vec<Value> = page_slice(ids, page, size).iter().map(|id| everflow_offer(*id, change(*id))).collect();
    let body = json!({"offers": offers, "paging": {"page": page.max(1), "page_size": size, "total_count": ids.len()}});
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `Affiliate_AffiliateUser::getContext`: the network currency (USD).
pub fn hasoffers_context() -> Vec<u8> {
    serde_json::to_vec(&json!({"response": {"status": 1, "httpStatus": 200, "data": {
        "AffiliateUser": {"id": "7"}, "BrandPreferences": {"network_currency": "USD"}
    }, "errors": []}}))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_changes_what_the_demo_says_it_changes() {
        // Step 1 in a feed of 300: offers 1, 101, 201 earn 0.50 for good, offer 8 flips for
        // the step, offer 14 is gone for the step, offer 301 appears.
        let bumped: Vec<u32> = (1..=300).filter(|id| Change::in_feed(*id, 300, 1).payout_bump_cents > 0).collect();
        assert_eq!(bumped, [1, 101, 201]);
        assert_eq!(Change::in_feed(101, 300, 1).payout_bump_cents, 50);
        assert_eq!(Change::in_feed(101, 300, 2).payout_bump_cents, 50, "kept after its step");
        assert_eq!(Change::in_feed(101, 300, 101).payout_bump_cents, 100, "and again 100 steps later");
        let flipped: Vec<u32> = (1..=301).filter(|id| Change::in_feed(*id, 300, 1).flipped).collect();
        assert_eq!(flipped, [8]);
        assert!(Change::in_feed(8, 300, 1).paused(8) && !Change::in_feed(8, 300, 2).paused(8), "paused for one step");
        assert!(Change::in_feed(50, 300, 0).paused(50), "every 50th is paused upstream");
        let ids = offer_ids(300, 1);
        assert_eq!((ids.len(), ids.contains(&14), ids.contains(&301)), (300, false, true));
        assert!(offer_ids(300, 2).contains(&14), "back on the next step");
        assert_eq!(offer_ids(300, 0), (1..=300).collect::<Vec<_>>());
    }

    #[test]
    fn pages_cover_the_feed_once_and_say_its_size() {
        let ids = offer_ids(120, 1);
        let mut seen = vec![];
        for page in 1..=3 {
            let body: Value = serde_json::from_slice(&everflow_page(&ids, page, 50, |_| Change::default())).unwrap_or_default();
            assert_eq!(body["paging"]["total_count"], 120);
            seen.extend(body["offers"].as_array().into_iter().flatten().map(|o| o["network_offer_id"].as_u64().unwrap_or(0) as u32));
            let ho: Value = serde_json::from_slice(&hasoffers_page_of(&ids, page, 50, 0, |_| Change::default())).unwrap_or_default();
            assert_eq!((ho["response"]["data"]["count"].clone(), ho["response"]["data"]["pageCount"].clone()), (json!(120), json!(3)));
        }
        assert_eq!(seen, ids);
        let past: Value = serde_json::from_slice(&everflow_page(&ids, 9, 50, |_| Change::default())).unwrap_or_default();
        assert_eq!(past["offers"], json!([]), "a page past the end is empty");
    }
}
