//! The offer pipeline: pure, synchronous filters and transforms of (offer, integration
//! settings). A filter that drops an offer says why with a stable reason code.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use domain::model::{self as m, CountryMode, OsFilter, PayoutType};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::offer::{CanonicalOffer, UpstreamStatus};

/// Stable reason codes for dropped offers.
pub mod reason {
    pub const NOT_SELECTED: &str = "NOT_SELECTED";
    pub const NOT_APPROVED: &str = "NOT_APPROVED";
    pub const EXPIRED: &str = "EXPIRED";
    pub const COUNTRY: &str = "FILTER_COUNTRY";
    pub const PAYOUT_BELOW_MIN: &str = "PAYOUT_BELOW_MIN";
    pub const PAYOUT_ABOVE_MAX: &str = "PAYOUT_ABOVE_MAX";
    pub const COUNTRY_PAYOUT_BELOW_MIN: &str = "COUNTRY_PAYOUT_BELOW_MIN";
    pub const COUNTRY_PAYOUT_ABOVE_MAX: &str = "COUNTRY_PAYOUT_ABOVE_MAX";
    pub const NO_EXCHANGE_RATE: &str = "NO_EXCHANGE_RATE";
    pub const NO_CURRENCY: &str = "NO_CURRENCY";
    pub const OS: &str = "FILTER_OS";
    pub const MODEL: &str = "FILTER_MODEL";
    pub const NO_PREVIEW_URL: &str = "NO_PREVIEW_URL";
}

/// Exchange rates: 1 base = rate quote; inverses derived.
#[derive(Debug, Clone, Default)]
pub struct Rates(pub HashMap<(String, String), Decimal>);

impl Rates {
    /// The factor that converts an amount in `from` into `to`.
    pub fn factor(&self, from: &str, to: &str) -> Option<Decimal> {
        if from.eq_ignore_ascii_case(to) {
            return Some(Decimal::ONE);
        }
        if let Some(r) = self.0.get(&(from.to_string(), to.to_string())) {
            return Some(*r);
        }
        self.0.get(&(to.to_string(), from.to_string())).filter(|r| !r.is_zero()).map(|r| Decimal::ONE / *r)
    }
}

/// Everything the pipeline needs from an integration.
#[derive(Debug, Clone)]
pub struct Rules {
    pub connector: String,
    pub filters: m::Filters,
    pub payout_rules: m::PayoutRules,
    pub settings: m::Settings,
    pub cap_settings: m::CapSettings,
    pub default_category: Option<String>,
    pub imported_status: m::CampaignStatus,
    pub imported_visibility: m::Visibility,
    pub tracking_append: Option<String>,
    pub impression_append: Option<String>,
    /// Empty = every offer.
    pub selected: HashSet<String>,
    pub rates: Rates,
    /// The account's currency when the offer names none; `None` = unknown: such an offer is
    /// skipped (NO_CURRENCY) rather than labelled with a guess.
    pub default_currency: Option<String>,
    /// Every publisher's tier (publisher id -> tier id), for per-publisher payouts.
    pub tiers: BTreeMap<i64, Option<i64>>,
}

/// A cap to write on the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapRow {
    pub source: &'static str,
    /// The goal an upstream cap is set on; `None` = the whole offer.
    pub goal: Option<String>,
    pub event: String,
    pub period: String,
    pub value: Decimal,
    pub visibility: String,
    pub counting: String,
    pub timezone: String,
    pub over_delivery: String,
}

/// A per-country/goal payout row to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutRow {
    pub country: Option<String>,
    /// "Every country except these"; empty = `country` (or every country).
    pub excluded_countries: Vec<String>,
    pub goal: Option<String>,
    pub goal_name: Option<String>,
    pub revenue: Decimal,
    pub payout: Decimal,
    pub payout_type: PayoutType,
    pub currency: String,
}

/// The campaign values an offer produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignDraft {
    pub external_id: String,
    pub title: String,
    pub description: Option<String>,
    /// The description as plain text when the platform sent one; else derived from
    /// `description` when the campaign is written.
    pub description_text: Option<String>,
    pub preview_url: Option<String>,
    pub tracking_url: Option<String>,
    pub impression_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub status: m::CampaignStatus,
    /// The offer's status upstream, which decided `status` (see [`campaign_status`]).
    pub upstream_status: UpstreamStatus,
    pub visibility: m::Visibility,
    pub category: Option<String>,
    pub currency: String,
    pub revenue: Decimal,
    pub payout: Decimal,
    pub payout_type: PayoutType,
    pub model: Option<m::OfferModel>,
    pub objective: Option<m::Objective>,
    pub redirect_type: m::RedirectType,
    pub countries: Vec<String>,
    pub blocked_countries: Vec<String>,
    pub os: Vec<String>,
    pub devices: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub caps: Vec<CapRow>,
    pub payouts: Vec<PayoutRow>,
    pub time_targeting: Option<m::TimeTargeting>,
    pub exchange_rate: Option<Decimal>,
    /// What each publisher in a tier with its own ratio, or with a fixed payout, earns. Part
    /// of the fingerprint, so a new tier ratio or a publisher moved to another tier refreshes
    /// the campaign (left out when empty, so drafts without any keep their fingerprint).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub publisher_payouts: Vec<PublisherPayoutRow>,
    /// Hash of everything above: an unchanged draft writes nothing.
    pub fingerprint: String,
    /// The source hash of the offer's record ([`source_hash`]), not part of the fingerprint.
    #[serde(skip)]
    pub source_hash: Option<String>,
}

/// A publisher's own payout on a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublisherPayoutRow {
    pub publisher_id: i64,
    pub payout: Decimal,
    /// "tier" (the tier's ratio) or "publisher" (a fixed payout).
    pub source: &'static str,
}

/// What the pipeline decided for one offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Import(Box<CampaignDraft>),
    Drop { code: &'static str, reason: String },
}

fn drop(code: &'static str, reason: String) -> Verdict {
    Verdict::Drop { code, reason }
}

/// Runs every filter, then the transform.
pub fn evaluate(offer: &CanonicalOffer, rules: &Rules, now: DateTime<Utc>) -> Verdict {
    if !rules.selected.is_empty() && !rules.selected.contains(&offer.external_id) {
        return drop(reason::NOT_SELECTED, "not among the selected offers".into());
    }
    if !offer.is_approved() {
        return drop(reason::NOT_APPROVED, "not approved: the advertiser sent no tracking link".into());
    }
    if let Some(e) = offer.expires_at
        && e <= now
    {
        return drop(reason::EXPIRED, format!("expired at {e}"));
    }
    let countries = match keep_allowed_countries(offer, &rules.filters) {
        Ok(c) => c,
        Err(v) => return v,
    };
    if let Some(v) = drop_by_os(offer, rules.filters.os) {
        return v;
    }
    if let Some(v) = drop_by_model(offer, &rules.filters.offer_models) {
        return v;
    }
    if rules.filters.skip_without_preview_url && offer.preview_url.as_deref().is_none_or(|u| u.trim().is_empty()) {
        return drop(reason::NO_PREVIEW_URL, "no preview URL".into());
    }
    let Some(currency) = offer.currency.clone().or_else(|| rules.default_currency.clone()) else {
        return drop(
            reason::NO_CURRENCY,
            "the offer names no currency and the account's currency is unknown: set the integration's currency field".into(),
        );
    };
    if let Some(v) = drop_by_payout(offer, &currency, &countries, rules) {
        return v;
    }
    match transform(offer, rules, countries, &currency) {
        Ok(d) => Verdict::Import(Box::new(d)),
        Err(v) => v,
    }
}

/// Country allow/block: keeps only allowed countries; drops the offer if none remain.
pub fn keep_allowed_countries(offer: &CanonicalOffer, f: &m::Filters) -> Result<Vec<String>, Verdict> {
    if f.countries.is_empty() {
        return Ok(offer.countries.clone());
    }
    let listed: HashSet<&str> = f.countries.iter().map(String::as_str).collect();
    match f.country_mode {
        CountryMode::Allow => {
            if offer.countries.is_empty() {
                // A worldwide offer runs in the allowed countries.
                return Ok(f.countries.clone());
            }
            let kept: Vec<String> = offer.countries.iter().filter(|c| listed.contains(c.as_str())).cloned().collect();
            if kept.is_empty() {
                return Err(drop(reason::COUNTRY, format!("countries {} are not in the allow list", offer.countries.join(","))));
            }
            Ok(kept)
        }
        CountryMode::Block => {
            if offer.countries.is_empty() {
                return Ok(vec![]);
            }
            let kept: Vec<String> = offer.countries.iter().filter(|c| !listed.contains(c.as_str())).cloned().collect();
            if kept.is_empty() {
                return Err(drop(reason::COUNTRY, format!("every country ({}) is blocked", offer.countries.join(","))));
            }
            Ok(kept)
        }
    }
}

pub fn drop_by_os(offer: &CanonicalOffer, os: OsFilter) -> Option<Verdict> {
    let want = match os {
        OsFilter::All => return None,
        OsFilter::Android => "android",
        OsFilter::Ios => "ios",
    };
    (!offer.os.is_empty() && !offer.os.iter().any(|o| o == want))
        .then(|| drop(reason::OS, format!("runs on {} only, not {want}", offer.os.join(","))))
}

pub fn drop_by_model(offer: &CanonicalOffer, models: &[m::OfferModel]) -> Option<Verdict> {
    if models.is_empty() {
        return None;
    }
    match offer.model {
        Some(mdl) if models.contains(&mdl) => None,
        Some(mdl) => Some(drop(reason::MODEL, format!("model {mdl} is not among the chosen models"))),
        None => Some(drop(reason::MODEL, "the advertiser sent no offer model".into())),
    }
}

/// Min/max payout (and per-country bounds), compared in the filter's currency.
pub fn drop_by_payout(offer: &CanonicalOffer, currency: &str, countries: &[String], rules: &Rules) -> Option<Verdict> {
    let f = &rules.filters;
    if f.min_payout.is_none() && f.max_payout.is_none() && f.country_payouts.is_empty() {
        return None;
    }
    if offer.payout_type == PayoutType::Percent {
        // Percentages are not amounts: bounds do not apply.
        return None;
    }
    let Some(factor) = rules.rates.factor(currency, &f.compare_currency) else {
        return Some(drop(reason::NO_EXCHANGE_RATE, format!("no exchange rate {currency}->{} to compare payouts", f.compare_currency)));
    };
    let amount = offer.revenue * factor;
    if let Some(min) = f.min_payout
        && amount < min
    {
        return Some(drop(reason::PAYOUT_BELOW_MIN, format!("payout {amount} {} is below the minimum {min}", f.compare_currency)));
    }
    if let Some(max) = f.max_payout
        && amount > max
    {
        return Some(drop(reason::PAYOUT_ABOVE_MAX, format!("payout {amount} {} is above the maximum {max}", f.compare_currency)));
    }
    for b in &f.country_payouts {
        let applies = countries.is_empty() || countries.contains(&b.country);
        if !applies {
            continue;
        }
        let country_amount = offer
            .payouts
            .iter()
            .find(|p| p.goal_id.is_none() && p.countries.contains(&b.country))
            .map(|p| p.revenue * factor)
            .unwrap_or(amount);
        if let Some(min) = b.min
            && country_amount < min
        {
            return Some(drop(
                reason::COUNTRY_PAYOUT_BELOW_MIN,
                format!("payout {country_amount} in {} is below the minimum {min}", b.country),
            ));
        }
        if let Some(max) = b.max
            && country_amount > max
        {
            return Some(drop(
                reason::COUNTRY_PAYOUT_ABOVE_MAX,
                format!("payout {country_amount} in {} is above the maximum {max}", b.country),
            ));
        }
    }
    None
}

/// Publisher payout = revenue x ratio (percent offers keep their type: the ratio scales the percentage).
pub fn apply_payout_ratio(revenue: Decimal, ratio: Decimal) -> Decimal {
    domain::money::round(revenue * ratio)
}

/// The sub-id parameter a platform uses for our generic `sub1`..`sub5` keys.
pub fn platform_param(connector: &str, key: &str) -> String {
    let n = key.strip_prefix("sub").and_then(|n| n.parse::<u8>().ok());
    match (connector, n) {
        ("hasoffers", Some(1)) => "aff_sub".into(),
        ("hasoffers", Some(n)) => format!("aff_sub{n}"),
        ("cake", Some(n)) => format!("s{n}"),
        ("trackier" | "trackier-spec", Some(n)) => format!("p{n}"),
        _ => key.to_string(),
    }
}

/// Adds `template` (`key=value&...`) to `url`: a parameter the URL already has (or a
/// `{placeholder}` value) is replaced, not duplicated.
pub fn append_to_url(url: &str, template: &str, connector: &str) -> String {
    let t = template.trim().trim_start_matches(['?', '&']);
    if t.is_empty() {
        return url.to_string();
    }
    let (base, frag) = match url.split_once('#') {
        Some((b, f)) => (b.to_string(), Some(f.to_string())),
        None => (url.to_string(), None),
    };
    let (path, query) = match base.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (base.clone(), String::new()),
    };
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect();
    for pair in t.split('&').filter(|s| !s.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else { continue };
        let k = platform_param(connector, k);
        match pairs.iter_mut().find(|(pk, _)| *pk == k) {
            Some(existing) => existing.1 = v.to_string(),
            None => pairs.push((k, v.to_string())),
        }
    }
    let q = pairs.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") }).collect::<Vec<_>>().join("&");
    let mut out = if q.is_empty() { path } else { format!("{path}?{q}") };
    if let Some(f) = frag {
        out.push('#');
        out.push_str(&f);
    }
    out
}

fn transform(offer: &CanonicalOffer, rules: &Rules, countries: Vec<String>, currency: &str) -> Result<CampaignDraft, Verdict> {
    let (currency_out, factor, rate) = match &rules.settings.currency_override {
        Some(target) if !target.eq_ignore_ascii_case(currency) => match rules.rates.factor(currency, target) {
            Some(f) => (target.clone(), f, Some(f)),
            None => return Err(drop(reason::NO_EXCHANGE_RATE, format!("no exchange rate {currency}->{target} for the currency override"))),
        },
        _ => (currency.to_string(), Decimal::ONE, None),
    };
    let convert = |d: Decimal, t: PayoutType| if t == PayoutType::Percent { d } else { domain::money::round(d * factor) };
    let revenue = convert(offer.revenue, offer.payout_type);
    let ratio = rules.payout_rules.global_ratio;
    let payouts: Vec<PayoutRow> = offer
        .payouts
        .iter()
        .flat_map(|p| {
            let rev = convert(p.revenue, p.payout_type);
            // An exclusion row ("everywhere except X, Y") stays one row: split per country it
            // would mean "everywhere except X" and "everywhere except Y", which is wider.
            // A row that lists countries pays in those (less any excluded one).
            let (cs, excluded): (Vec<Option<String>>, Vec<String>) = if p.countries.is_empty() {
                (vec![None], p.excluded_countries.clone())
            } else {
                (p.countries.iter().filter(|c| !p.excluded_countries.contains(c)).cloned().map(Some).collect(), vec![])
            };
            let cur = currency_out.clone();
            cs.into_iter().map(move |c| PayoutRow {
                country: c,
                excluded_countries: excluded.clone(),
                goal: p.goal_id.clone(),
                goal_name: p.goal_name.clone(),
                revenue: rev,
                payout: apply_payout_ratio(rev, ratio),
                payout_type: p.payout_type,
                currency: cur.clone(),
            })
        })
        .collect();
    let mut caps = vec![];
    if rules.cap_settings.import_upstream_caps {
        for c in offer.caps.iter().filter(|c| c.value > Decimal::ZERO) {
            let main = &rules.cap_settings.cap;
            caps.push(CapRow {
                source: "upstream",
                goal: c.goal.clone(),
                event: c.event.clone(),
                period: c.period.clone(),
                value: c.value,
                visibility: main.visibility.as_str().into(),
                counting: main.counting.as_str().into(),
                timezone: main.timezone.clone(),
                over_delivery: main.over_delivery.as_str().into(),
            });
        }
    }
    let cap_row = |c: &m::Cap, source: &'static str| CapRow {
        source,
        goal: None,
        event: c.event.as_str().into(),
        period: c.period.as_str().into(),
        value: c.value,
        visibility: c.visibility.as_str().into(),
        counting: c.counting.as_str().into(),
        timezone: c.timezone.clone(),
        over_delivery: c.over_delivery.as_str().into(),
    };
    if rules.cap_settings.add_cap_on_import {
        caps.push(cap_row(&rules.cap_settings.cap, "settings"));
    }
    caps.extend(rules.cap_settings.extra_caps.iter().map(|c| cap_row(c, "extra")));
    let tracking_url = offer.tracking_url.as_deref().map(|u| match &rules.tracking_append {
        Some(t) => append_to_url(u, t, &rules.connector),
        None => u.to_string(),
    });
    let impression_url = offer.impression_url.as_deref().map(|u| match &rules.impression_append {
        Some(t) => append_to_url(u, t, &rules.connector),
        None => u.to_string(),
    });
    let mut d = CampaignDraft {
        external_id: offer.external_id.clone(),
        title: offer.name.clone(),
        description: offer.description_html.clone(),
        description_text: offer.description_text.clone(),
        preview_url: offer.preview_url.clone(),
        tracking_url,
        impression_url,
        thumbnail_url: offer.thumbnail_url.clone(),
        status: campaign_status(offer.status, rules.imported_status),
        upstream_status: offer.status,
        visibility: rules.imported_visibility,
        category: offer.categories.first().cloned().or_else(|| rules.default_category.clone()),
        currency: currency_out,
        revenue,
        payout: apply_payout_ratio(revenue, ratio),
        payout_type: offer.payout_type,
        model: offer.model,
        objective: rules.settings.primary_objective,
        redirect_type: rules.settings.redirect_type,
        countries,
        blocked_countries: offer.blocked_countries.clone(),
        os: offer.os.clone(),
        devices: offer.devices.clone(),
        expires_at: offer.expires_at,
        caps,
        payouts,
        time_targeting: rules.cap_settings.time_targeting.clone(),
        exchange_rate: rate,
        publisher_payouts: vec![],
        fingerprint: String::new(),
        source_hash: offer.source_hash.map(source_hash_text),
    };
    d.publisher_payouts = publisher_payouts(&d, &rules.payout_rules, &rules.tiers);
    d.fingerprint = fingerprint(&d);
    Ok(d)
}

/// The campaign status an offer gets: the advertiser's status first. An offer live upstream
/// (active, or a platform that sends no status) gets the admin's imported status; a paused or
/// deleted offer is paused, a pending one pending, an expired one expired, whatever the
/// imported status says, so traffic is never sent to an offer the advertiser does not pay for.
pub fn campaign_status(upstream: UpstreamStatus, imported: m::CampaignStatus) -> m::CampaignStatus {
    match upstream {
        UpstreamStatus::Active | UpstreamStatus::Unknown => imported,
        UpstreamStatus::Paused | UpstreamStatus::Deleted => m::CampaignStatus::Paused,
        UpstreamStatus::Pending => m::CampaignStatus::Pending,
        UpstreamStatus::Expired => m::CampaignStatus::Expired,
    }
}

/// A stable hash of a draft's content.
pub fn fingerprint(d: &CampaignDraft) -> String {
    let json = serde_json::to_string(d).unwrap_or_default();
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Bumped whenever a connector or the pipeline changes what a record becomes, so that no
/// campaign is kept because its record's bytes are unchanged ([`Rules::source_seed`]; the
/// package version is mixed in as well).
const SOURCE_VERSION: u32 = 1;

impl Rules {
    /// Everything besides the record that decides a campaign's values, as the seed of its
    /// records' source hashes: a change to any rule, exchange rate, publisher tier, the
    /// account's currency, the credentials (redaction) or the code makes every record look
    /// new once. SHA-256, so the stored hashes reveal nothing of the credentials.
    pub fn source_seed(&self, secrets: &[String]) -> u64 {
        // Every field by name: a new field does not compile until it is considered here.
        let Rules {
            connector,
            filters,
            payout_rules,
            settings,
            cap_settings,
            default_category,
            imported_status,
            imported_visibility,
            tracking_append,
            impression_append,
            selected,
            rates,
            default_currency,
            tiers,
        } = self;
        let mut selected: Vec<&String> = selected.iter().collect();
        selected.sort();
        let mut rates: Vec<_> = rates.0.iter().collect();
        rates.sort();
        let text = format!(
            "{SOURCE_VERSION}|{}|{connector}|{filters:?}|{payout_rules:?}|{settings:?}|{cap_settings:?}|{default_category:?}|\
             {imported_status:?}|{imported_visibility:?}|{tracking_append:?}|{impression_append:?}|{selected:?}|{rates:?}|\
             {default_currency:?}|{tiers:?}|{secrets:?}",
            env!("CARGO_PKG_VERSION"),
        );
        let d = Sha256::digest(text.as_bytes());
        u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
    }
}

/// The hash of one record of a split page under `seed` ([`Rules::source_seed`]): the key the
/// page files it under and its bytes. Stored as `campaigns.source_hash` ([`source_hash_text`]).
pub fn source_hash(seed: u64, key: &str, json: &[u8]) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::with_seed(seed);
    h.update(key.as_bytes());
    h.update(&[0xff]);
    h.update(json);
    h.digest128()
}

pub fn source_hash_text(h: u128) -> String {
    format!("{h:032x}")
}

/// Per-publisher payouts for a draft: tier ratios for publishers in a tier, fixed payouts
/// for publishers listed. `tiers` maps publisher id -> tier id.
pub fn publisher_payouts(d: &CampaignDraft, rules: &m::PayoutRules, tiers: &BTreeMap<i64, Option<i64>>) -> Vec<PublisherPayoutRow> {
    let mut out = vec![];
    if rules.publisher_payouts.is_empty() && rules.tier_ratios.is_empty() {
        return out;
    }
    for (pid, tier) in tiers {
        if let Some(fixed) = rules.publisher_payouts.iter().find(|p| p.publisher_id == *pid) {
            out.push(PublisherPayoutRow { publisher_id: *pid, payout: fixed.payout, source: "publisher" });
        } else if let Some(t) = tier.and_then(|t| rules.tier_ratios.iter().find(|r| r.tier_id == t)) {
            out.push(PublisherPayoutRow { publisher_id: *pid, payout: apply_payout_ratio(d.revenue, t.ratio), source: "tier" });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offer::{Approval, CanonicalOffer};
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    fn offer(id: &str) -> CanonicalOffer {
        let mut o = CanonicalOffer::new(id, format!("Offer {id}"));
        o.tracking_url = Some("https://trk.example/c?o=1&p1={your-transaction-id}".into());
        o.approval = Approval::Approved;
        o.revenue = dec("2.50");
        o.currency = Some("USD".into());
        o.countries = vec!["US".into(), "CA".into()];
        o.preview_url = Some("https://shop.example".into());
        o
    }

    fn rules() -> Rules {
        Rules {
            connector: "trackier".into(),
            filters: m::Filters::default(),
            payout_rules: m::PayoutRules::default(),
            settings: m::Settings::default(),
            cap_settings: m::CapSettings::default(),
            default_category: Some("General".into()),
            imported_status: m::CampaignStatus::Active,
            imported_visibility: m::Visibility::Permission,
            tracking_append: None,
            impression_append: None,
            selected: HashSet::new(),
            rates: Rates::default(),
            default_currency: Some("USD".into()),
            tiers: BTreeMap::new(),
        }
    }

    fn code(v: &Verdict) -> &str {
        match v {
            Verdict::Drop { code, .. } => code,
            Verdict::Import(_) => "IMPORT",
        }
    }

    #[test]
    fn payout_is_revenue_times_ratio_exactly() {
        let Verdict::Import(d) = evaluate(&offer("1"), &rules(), Utc::now()) else { panic!("dropped") };
        assert_eq!(d.revenue, dec("2.5"));
        assert_eq!(d.payout, dec("2"));
        assert_eq!(d.category.as_deref(), Some("General"));
    }

    #[test]
    fn country_allow_list_keeps_only_allowed_and_drops_when_none_remain() {
        let mut r = rules();
        r.filters.countries = vec!["CA".into()];
        let Verdict::Import(d) = evaluate(&offer("1"), &r, Utc::now()) else { panic!("dropped") };
        assert_eq!(d.countries, vec!["CA"]);
        r.filters.countries = vec!["DE".into()];
        assert_eq!(code(&evaluate(&offer("1"), &r, Utc::now())), reason::COUNTRY);
        r.filters.country_mode = CountryMode::Block;
        r.filters.countries = vec!["US".into(), "CA".into()];
        assert_eq!(code(&evaluate(&offer("1"), &r, Utc::now())), reason::COUNTRY);
    }

    #[test]
    fn each_filter_has_its_reason_code() {
        let now = Utc::now();
        let mut o = offer("1");
        o.tracking_url = Some(String::new());
        assert_eq!(code(&evaluate(&o, &rules(), now)), reason::NOT_APPROVED);
        let mut o = offer("1");
        o.expires_at = Some(now - chrono::Duration::days(1));
        assert_eq!(code(&evaluate(&o, &rules(), now)), reason::EXPIRED);
        let mut r = rules();
        r.filters.min_payout = Some(dec("3"));
        assert_eq!(code(&evaluate(&offer("1"), &r, now)), reason::PAYOUT_BELOW_MIN);
        let mut r = rules();
        r.filters.max_payout = Some(dec("2"));
        assert_eq!(code(&evaluate(&offer("1"), &r, now)), reason::PAYOUT_ABOVE_MAX);
        let mut o = offer("1");
        o.currency = Some("EUR".into());
        let mut r = rules();
        r.filters.min_payout = Some(dec("1"));
        assert_eq!(code(&evaluate(&o, &r, now)), reason::NO_EXCHANGE_RATE);
        r.rates.0.insert(("EUR".into(), "USD".into()), dec("1.1"));
        assert_eq!(code(&evaluate(&o, &r, now)), "IMPORT");
        let mut o = offer("1");
        o.os = vec!["ios".into()];
        let mut r = rules();
        r.filters.os = OsFilter::Android;
        assert_eq!(code(&evaluate(&o, &r, now)), reason::OS);
        let mut r = rules();
        r.filters.offer_models = vec![m::OfferModel::Cpi];
        assert_eq!(code(&evaluate(&offer("1"), &r, now)), reason::MODEL);
        let mut o = offer("1");
        o.preview_url = None;
        let mut r = rules();
        r.filters.skip_without_preview_url = true;
        assert_eq!(code(&evaluate(&o, &r, now)), reason::NO_PREVIEW_URL);
        let mut r = rules();
        r.selected.insert("2".into());
        assert_eq!(code(&evaluate(&offer("1"), &r, now)), reason::NOT_SELECTED);
    }

    #[test]
    fn append_replaces_placeholders_instead_of_duplicating() {
        let u = append_to_url("https://trk.example/c?o=1&p1={your-transaction-id}", "sub1={click_id}&source={publisher_id}", "trackier");
        assert_eq!(u, "https://trk.example/c?o=1&p1={click_id}&source={publisher_id}");
        let u = append_to_url("https://n.example/aff_c?offer_id=5&aff_id=9", "sub1={click_id}", "hasoffers");
        assert_eq!(u, "https://n.example/aff_c?offer_id=5&aff_id=9&aff_sub={click_id}");
    }

    #[test]
    fn currency_override_converts_and_records_the_rate() {
        let mut r = rules();
        r.settings.currency_override = Some("EUR".into());
        r.rates.0.insert(("EUR".into(), "USD".into()), dec("1.25"));
        let Verdict::Import(d) = evaluate(&offer("1"), &r, Utc::now()) else { panic!("dropped") };
        assert_eq!(d.currency, "EUR");
        assert_eq!(d.revenue, dec("2"));
        assert_eq!(d.exchange_rate, Some(dec("0.8")));
    }

    #[test]
    fn tier_ratios_and_fixed_publisher_payouts_are_exact() {
        let Verdict::Import(d) = evaluate(&offer("1"), &rules(), Utc::now()) else { panic!("dropped") };
        let pr = m::PayoutRules {
            global_ratio: dec("0.8"),
            tier_ratios: vec![m::TierRatio { tier_id: 1, ratio: dec("0.9") }],
            publisher_payouts: vec![m::PublisherPayout { publisher_id: 3, payout: dec("1.75") }],
        };
        let tiers: BTreeMap<i64, Option<i64>> = [(1, Some(1)), (2, None), (3, Some(1))].into_iter().collect();
        let p = publisher_payouts(&d, &pr, &tiers);
        let row = |publisher_id, payout: &str, source| PublisherPayoutRow { publisher_id, payout: dec(payout), source };
        assert_eq!(p, vec![row(1, "2.25", "tier"), row(3, "1.75", "publisher")]);
    }

    /// What a publisher earns is part of the fingerprint: a new tier ratio, or a publisher
    /// moved into a tier, refreshes a campaign whose offer did not change.
    #[test]
    fn publisher_payouts_change_the_fingerprint() {
        let mut r = rules();
        r.tiers = [(1, Some(1)), (2, None)].into_iter().collect();
        let Verdict::Import(plain) = evaluate(&offer("1"), &r, Utc::now()) else { panic!("dropped") };
        let Verdict::Import(unruled) = evaluate(&offer("1"), &rules(), Utc::now()) else { panic!("dropped") };
        assert_eq!(plain.fingerprint, unruled.fingerprint, "no tier rules: the fingerprint of older drafts");
        r.payout_rules.tier_ratios = vec![m::TierRatio { tier_id: 1, ratio: dec("0.9") }];
        let Verdict::Import(a) = evaluate(&offer("1"), &r, Utc::now()) else { panic!("dropped") };
        assert_eq!(a.publisher_payouts, vec![PublisherPayoutRow { publisher_id: 1, payout: dec("2.25"), source: "tier" }]);
        r.payout_rules.tier_ratios[0].ratio = dec("0.95");
        let Verdict::Import(b) = evaluate(&offer("1"), &r, Utc::now()) else { panic!("dropped") };
        assert_ne!(a.fingerprint, b.fingerprint, "a new tier ratio");
        r.tiers.insert(2, Some(1));
        let Verdict::Import(c) = evaluate(&offer("1"), &r, Utc::now()) else { panic!("dropped") };
        assert_ne!(b.fingerprint, c.fingerprint, "a publisher moved into the tier");
        assert_eq!(c.publisher_payouts.len(), 2);
    }

    #[test]
    fn upstream_status_decides_before_the_imported_status() {
        let now = Utc::now();
        for (upstream, want) in [
            (UpstreamStatus::Active, m::CampaignStatus::Active),
            (UpstreamStatus::Unknown, m::CampaignStatus::Active),
            (UpstreamStatus::Paused, m::CampaignStatus::Paused),
            (UpstreamStatus::Deleted, m::CampaignStatus::Paused),
            (UpstreamStatus::Pending, m::CampaignStatus::Pending),
            (UpstreamStatus::Expired, m::CampaignStatus::Expired),
        ] {
            let mut o = offer("1");
            o.status = upstream;
            let Verdict::Import(d) = evaluate(&o, &rules(), now) else { panic!("dropped") };
            assert_eq!(d.status, want, "upstream {upstream:?}");
            assert_eq!(d.upstream_status, upstream);
        }
        // The admin's imported status applies to live offers only.
        let mut r = rules();
        r.imported_status = m::CampaignStatus::Pending;
        let Verdict::Import(d) = evaluate(&offer("1"), &r, now) else { panic!("dropped") };
        assert_eq!(d.status, m::CampaignStatus::Pending);
    }

    #[test]
    fn goal_caps_keep_their_goal_and_exclusion_payouts_stay_one_row() {
        let mut o = offer("1");
        o.caps.push(crate::offer::UpstreamCap {
            event: "conversions".into(),
            period: "daily".into(),
            value: dec("50"),
            goal: Some("2".into()),
        });
        o.payouts.push(crate::offer::GoalPayout {
            goal_id: None,
            goal_name: None,
            countries: vec![],
            excluded_countries: vec!["US".into(), "CA".into()],
            revenue: dec("1.5"),
            payout_type: PayoutType::Fixed,
            currency: None,
        });
        let Verdict::Import(d) = evaluate(&o, &rules(), Utc::now()) else { panic!("dropped") };
        assert_eq!(d.caps[0].goal.as_deref(), Some("2"));
        assert_eq!(d.payouts.len(), 1);
        assert_eq!(d.payouts[0].country, None);
        assert_eq!(d.payouts[0].excluded_countries, vec!["US", "CA"]);
        assert_eq!(d.payouts[0].payout, dec("1.2"));
    }

    #[test]
    fn fingerprint_changes_with_content_only() {
        let Verdict::Import(a) = evaluate(&offer("1"), &rules(), Utc::now()) else { panic!("dropped") };
        let Verdict::Import(b) = evaluate(&offer("1"), &rules(), Utc::now()) else { panic!("dropped") };
        assert_eq!(a.fingerprint, b.fingerprint);
        let mut o = offer("1");
        o.revenue = dec("2.51");
        let Verdict::Import(c) = evaluate(&o, &rules(), Utc::now()) else { panic!("dropped") };
        assert_ne!(a.fingerprint, c.fingerprint);
    }
}
