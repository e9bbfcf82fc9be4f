//! A sample advertiser: realistic TUNE (HasOffers) feeds, generated page by page from an offer
//! count, in the platform's real wire format (`Affiliate_Offer::findMyApprovedOffers` with
//! `contain[]` rows keyed by id, research §1). The benchmarks serve it; it is deterministic,
//! so two runs over the same `(offers, variant)` see the same bytes.
//!
//! What the feed holds, per offer id:
//! - `currency` null (the network's, from getContext) for most, USD / EUR / GBP for some;
//! - `cpa_flat` payouts from 0.25 to 49.75, every 9th `cpa_percentage`;
//! - 1 to 4 countries, every 5th offer two goals, every 7th a daily conversion cap;
//! - every 50th paused upstream, every 37th without a preview URL;
//! - `variant` > 0 raises the payout of every 100th offer (a 1 % changed feed).

use serde_json::{Value, json};

const COUNTRIES: [&str; 8] = ["US", "CA", "GB", "DE", "FR", "BR", "IN", "AU"];
const CURRENCIES: [&str; 3] = ["USD", "EUR", "GBP"];
const CATEGORIES: [&str; 5] = ["Finance", "Gaming", "Dating", "Shopping", "Health"];

/// One `findMyApprovedOffers` row (`Offer` plus its contained models).
pub fn hasoffers_row(id: u32, variant: u32) -> Value {
    let bump = if variant > 0 && id.is_multiple_of(100) { variant * 3 } else { 0 };
    let payout = format!("{}.{:02}000", id % 50 + bump, (id % 4) * 25);
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
            "status": if id.is_multiple_of(50) { "paused" } else { "active" },
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
    let size = size.max(1);
    let from = (page.max(1) - 1).saturating_mul(size) + 1;
    let to = page.max(1).saturating_mul(size).min(offers);
    let rows: serde_json::Map<String, Value> = (from..=to).map(|id| (id.to_string(), hasoffers_row(id, variant))).collect();
    let body = json!({"response": {"status": 1, "httpStatus": 200, "data": {
        "page": page, "current": rows.len(), "count": offers, "pageCount": offers.div_ceil(size), "data": rows
    }, "errors": [], "errorMessage": null}});
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `Affiliate_AffiliateUser::getContext`: the network currency (USD).
pub fn hasoffers_context() -> Vec<u8> {
    serde_json::to_vec(&json!({"response": {"status": 1, "httpStatus": 200, "data": {
        "AffiliateUser": {"id": "7"}, "BrandPreferences": {"network_currency": "USD"}
    }, "errors": []}}))
    .unwrap_or_default()
}
