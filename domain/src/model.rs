//! Domain types: the vocabulary gateway and agent share, with serde forms stored in the
//! database (JSON sections of an integration) and validation of what an admin may set.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::validate::{self, Errors};

/// Declares a string-backed enum: `as_str`, `parse`, `ALL`, serde in snake_case.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$variant),)+ _ => None } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(
    /// Where an integration is in its life: a draft until finalised.
    Lifecycle { Draft = "draft", Active = "active", Inactive = "inactive" }
);
string_enum!(
    /// A campaign's status in the network.
    CampaignStatus { Active = "active", Paused = "paused", Pending = "pending", Expired = "expired" }
);
string_enum!(
    /// Who may see a campaign: only invited publishers, those who ask, or everybody.
    Visibility { Private = "private", Permission = "permission", Public = "public" }
);
string_enum!(
    /// The OS filter: all offers, or only offers that run on this OS.
    OsFilter { All = "all", Android = "android", Ios = "ios" }
);
string_enum!(
    /// Offer (pricing) model.
    OfferModel { Cpa = "cpa", Cpi = "cpi", Cpl = "cpl", Cps = "cps", Cpc = "cpc", Cpm = "cpm", Cpe = "cpe", RevShare = "revshare" }
);
string_enum!(
    /// Fixed amount per conversion, or a percentage of the sale.
    PayoutType { Fixed = "fixed", Percent = "percent" }
);
string_enum!(
    /// How the tracking link redirects.
    RedirectType { Http302 = "302", Http301 = "301", MetaRefresh = "meta_refresh", Javascript = "javascript", Hidden = "hidden" }
);
string_enum!(
    /// The conversion the campaign is optimised for.
    Objective { Conversions = "conversions", Installs = "installs", Leads = "leads", Sales = "sales", Clicks = "clicks", Impressions = "impressions", AppEngagement = "app_engagement" }
);
string_enum!(
    /// What a cap counts.
    CapEvent { Conversions = "conversions", Clicks = "clicks", Payout = "payout", Revenue = "revenue" }
);
string_enum!(
    /// A cap's window.
    CapPeriod { Daily = "daily", Weekly = "weekly", Monthly = "monthly", Total = "total" }
);
string_enum!(
    /// Whether publishers see the cap.
    CapVisibility { Private = "private", Public = "public" }
);
string_enum!(
    /// Count every conversion (gross) or only approved ones.
    CapCounting { Gross = "gross", Approved = "approved" }
);
string_enum!(
    /// What happens when a cap is reached.
    OverDelivery { Pause = "pause", KeepActive = "keep_active" }
);
string_enum!(
    /// What happens to a campaign whose offer is no longer in the feed.
    VanishedAction { Pause = "pause", Keep = "keep", Delete = "delete" }
);
string_enum!(
    /// Sync run status.
    RunStatus { Queued = "queued", Running = "running", Succeeded = "succeeded", PartiallySucceeded = "partially_succeeded",
        /// The run finished but imported nothing from a non-empty feed (every offer filtered
        /// or invalid): its error code NOTHING_IMPORTED and log say why.
        Warning = "warning",
        Failed = "failed", Held = "held", Cancelled = "cancelled" }
);
string_enum!(
    /// What started a run.
    RunTrigger { Schedule = "schedule", Manual = "manual", Finalize = "finalize", Cli = "cli", Retry = "retry" }
);
string_enum!(
    /// A run's current phase.
    RunPhase { Queued = "queued", Fetching = "fetching", Reconciling = "reconciling", Done = "done" }
);
string_enum!(
    /// Log level, ordered.
    LogLevel { Debug = "debug", Info = "info", Warn = "warn", Error = "error" }
);
string_enum!(
    /// API token role.
    Role { Admin = "admin", Editor = "editor", Viewer = "viewer" }
);
string_enum!(
    /// Request (preview, sync now, test connection) status.
    RequestStatus { Pending = "pending", Running = "running", Done = "done", Failed = "failed" }
);
string_enum!(
    /// Kinds of agent requests in `sync_requests`.
    RequestKind { Sync = "sync", FirstSync = "first_sync", DryRun = "dry_run", TestConnection = "test_connection" }
);
string_enum!(
    /// A country list filter keeps only listed countries, or drops them.
    CountryMode { Allow = "allow", Block = "block" }
);
string_enum!(
    /// Campaign columns the sync may overwrite on refresh (an integration's "updatable
    /// columns") and that a hand edit locks.
    CampaignColumn {
        Title = "title", Description = "description", PreviewUrl = "preview_url", TrackingUrl = "tracking_url",
        ImpressionUrl = "impression_url", Thumbnail = "thumbnail_url", Status = "status", Visibility = "visibility",
        Category = "category", Currency = "currency", Revenue = "revenue", Payout = "payout", Model = "model",
        Objective = "objective", RedirectType = "redirect_type", Countries = "countries", Os = "os", Devices = "devices",
        Expiry = "expires_at", Caps = "caps", TimeTargeting = "time_targeting"
    }
);

/// Payout-to-revenue rules: publisher payout = revenue x ratio, with overrides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PayoutRules {
    /// Default ratio for every publisher, e.g. 0.8 pays publishers 80 % of revenue.
    #[serde(with = "rust_decimal::serde::str")]
    pub global_ratio: Decimal,
    /// Ratios per publisher tier, overriding the global ratio.
    pub tier_ratios: Vec<TierRatio>,
    /// Fixed payouts per publisher (in the campaign currency), overriding ratios.
    pub publisher_payouts: Vec<PublisherPayout>,
}

impl Default for PayoutRules {
    fn default() -> Self {
        Self { global_ratio: Decimal::new(8, 1), tier_ratios: vec![], publisher_payouts: vec![] }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRatio {
    pub tier_id: i64,
    #[serde(with = "rust_decimal::serde::str")]
    pub ratio: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublisherPayout {
    pub publisher_id: i64,
    #[serde(with = "rust_decimal::serde::str")]
    pub payout: Decimal,
}

/// Which offers are imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filters {
    pub country_mode: CountryMode,
    /// ISO 3166-1 alpha-2 codes. Empty = no country filter.
    pub countries: Vec<String>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub min_payout: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub max_payout: Option<Decimal>,
    pub os: OsFilter,
    /// Offer models to import. Empty = every model.
    pub offer_models: Vec<OfferModel>,
    pub skip_without_preview_url: bool,
    /// Per-country payout bounds, compared in `compare_currency`.
    pub country_payouts: Vec<CountryPayoutBound>,
    /// The currency min/max amounts are given in (default USD); offers in other currencies
    /// are converted through the exchange-rate table.
    pub compare_currency: String,
}

impl Default for Filters {
    fn default() -> Self {
        Self {
            country_mode: CountryMode::Allow,
            countries: vec![],
            min_payout: None,
            max_payout: None,
            os: OsFilter::All,
            offer_models: vec![],
            skip_without_preview_url: false,
            country_payouts: vec![],
            compare_currency: "USD".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryPayoutBound {
    pub country: String,
    #[serde(with = "rust_decimal::serde::str_option", default)]
    pub min: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option", default)]
    pub max: Option<Decimal>,
}

/// How the integration runs and what it may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Minutes between refreshes (15 minutes to 7 days).
    pub refresh_minutes: u32,
    /// Columns the refresh may overwrite. Columns not listed are written on creation only.
    pub updatable_columns: Vec<CampaignColumn>,
    pub redirect_type: RedirectType,
    pub primary_objective: Option<Objective>,
    /// Convert amounts to this currency through the exchange-rate table.
    pub currency_override: Option<String>,
    /// Requests per second to the advertiser; none = the connector's default.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub rate_limit_per_second: Option<Decimal>,
    /// Offers per page requested from the advertiser; none = the connector's default.
    pub page_size: Option<u32>,
}

pub const MIN_REFRESH_MINUTES: u32 = 15;
pub const MAX_REFRESH_MINUTES: u32 = 7 * 24 * 60;

impl Default for Settings {
    fn default() -> Self {
        Self {
            refresh_minutes: 60,
            updatable_columns: vec![
                CampaignColumn::Title,
                CampaignColumn::Description,
                CampaignColumn::PreviewUrl,
                CampaignColumn::TrackingUrl,
                CampaignColumn::Revenue,
                CampaignColumn::Payout,
                CampaignColumn::Countries,
                CampaignColumn::Expiry,
            ],
            redirect_type: RedirectType::Http302,
            primary_objective: None,
            currency_override: None,
            rate_limit_per_second: None,
            page_size: None,
        }
    }
}

/// The largest page an integration may ask for.
pub const MAX_PAGE_SIZE: u32 = 5000;

/// Caps added to every imported campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapSettings {
    pub add_cap_on_import: bool,
    pub cap: Cap,
    pub time_targeting: Option<TimeTargeting>,
    /// Integration-specific caps added besides the main one.
    pub extra_caps: Vec<Cap>,
    /// Keep the upstream caps the advertiser sends (0 = unlimited is dropped).
    pub import_upstream_caps: bool,
}

impl Default for CapSettings {
    fn default() -> Self {
        Self { add_cap_on_import: false, cap: Cap::default(), time_targeting: None, extra_caps: vec![], import_upstream_caps: true }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cap {
    pub event: CapEvent,
    pub period: CapPeriod,
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
    pub visibility: CapVisibility,
    pub counting: CapCounting,
    /// IANA timezone in which the cap's day/week/month starts.
    pub timezone: String,
    pub over_delivery: OverDelivery,
}

impl Default for Cap {
    fn default() -> Self {
        Self {
            event: CapEvent::Conversions,
            period: CapPeriod::Daily,
            value: Decimal::from(100),
            visibility: CapVisibility::Private,
            counting: CapCounting::Gross,
            timezone: "UTC".into(),
            over_delivery: OverDelivery::Pause,
        }
    }
}

/// Hours of the week when the campaign runs, in a timezone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeTargeting {
    pub timezone: String,
    /// ISO weekdays 1 (Monday) ..= 7 (Sunday). Empty = every day.
    pub days: Vec<u8>,
    /// Start and end hour, 0..=24, start < end.
    pub start_hour: u8,
    pub end_hour: u8,
}

/// What happens to campaigns whose offer left the feed, and the guard rail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VanishedPolicy {
    pub action: VanishedAction,
    /// With `delete`: delete after this many consecutive complete runs without the offer.
    pub delete_after_misses: u32,
    /// Hold the run for review when it would pause more than this share of live campaigns.
    #[serde(with = "rust_decimal::serde::str")]
    pub max_pause_share: Decimal,
}

impl Default for VanishedPolicy {
    fn default() -> Self {
        Self { action: VanishedAction::Pause, delete_after_misses: 3, max_pause_share: Decimal::new(5, 1) }
    }
}

fn bad_country(field: &str, c: &str, errors: &mut Errors) {
    if validate::country(c).is_none() {
        errors.push(field, format!("'{c}' is not an ISO 3166-1 alpha-2 country code"));
    }
}

impl PayoutRules {
    pub fn validate(&self, errors: &mut Errors) {
        validate::ratio("payoutRules.globalRatio", self.global_ratio, errors);
        for (i, t) in self.tier_ratios.iter().enumerate() {
            validate::ratio(&format!("payoutRules.tierRatios[{i}].ratio"), t.ratio, errors);
        }
        for (i, p) in self.publisher_payouts.iter().enumerate() {
            validate::amount(&format!("payoutRules.publisherPayouts[{i}].payout"), p.payout, errors);
        }
    }
}

impl Filters {
    pub fn validate(&self, errors: &mut Errors) {
        for (i, c) in self.countries.iter().enumerate() {
            bad_country(&format!("filters.countries[{i}]"), c, errors);
        }
        if let Some(m) = self.min_payout {
            validate::amount("filters.minPayout", m, errors);
        }
        if let (Some(lo), Some(hi)) = (self.min_payout, self.max_payout) {
            errors.check(lo <= hi, "filters.maxPayout", format!("max payout {hi} is below min payout {lo}"));
        }
        for (i, r) in self.country_payouts.iter().enumerate() {
            bad_country(&format!("filters.countryPayouts[{i}].country"), &r.country, errors);
            if let (Some(lo), Some(hi)) = (r.min, r.max) {
                errors.check(lo <= hi, format!("filters.countryPayouts[{i}].max"), format!("max {hi} is below min {lo}"));
            }
        }
        errors.check(
            validate::currency(&self.compare_currency).is_some(),
            "filters.compareCurrency",
            format!("'{}' is not an ISO 4217 currency code", self.compare_currency),
        );
    }
}

impl Settings {
    pub fn validate(&self, errors: &mut Errors) {
        errors.check(
            (MIN_REFRESH_MINUTES..=MAX_REFRESH_MINUTES).contains(&self.refresh_minutes),
            "settings.refreshMinutes",
            format!("refresh every {} minutes is outside {MIN_REFRESH_MINUTES}..={MAX_REFRESH_MINUTES}", self.refresh_minutes),
        );
        if let Some(c) = &self.currency_override {
            errors.check(validate::currency(c).is_some(), "settings.currencyOverride", format!("'{c}' is not an ISO 4217 currency code"));
        }
        if let Some(r) = self.rate_limit_per_second {
            errors.check(
                r >= Decimal::new(1, 3) && r <= Decimal::from(100),
                "settings.rateLimitPerSecond",
                "must be between 0.001 (one request in about 17 minutes) and 100",
            );
        }
        if let Some(n) = self.page_size {
            errors.check((1..=MAX_PAGE_SIZE).contains(&n), "settings.pageSize", format!("must be between 1 and {MAX_PAGE_SIZE}"));
        }
    }
}

impl Cap {
    fn validate(&self, field: &str, errors: &mut Errors) {
        validate::amount(&format!("{field}.value"), self.value, errors);
        errors.check(
            validate::timezone(&self.timezone),
            format!("{field}.timezone"),
            format!("'{}' is not an IANA timezone", self.timezone),
        );
    }
}

impl CapSettings {
    pub fn validate(&self, errors: &mut Errors) {
        self.cap.validate("capSettings.cap", errors);
        for (i, c) in self.extra_caps.iter().enumerate() {
            c.validate(&format!("capSettings.extraCaps[{i}]"), errors);
        }
        if let Some(t) = &self.time_targeting {
            errors.check(
                validate::timezone(&t.timezone),
                "capSettings.timeTargeting.timezone",
                format!("'{}' is not an IANA timezone", t.timezone),
            );
            errors.check(
                t.start_hour < t.end_hour && t.end_hour <= 24,
                "capSettings.timeTargeting.endHour",
                "hours must satisfy 0 <= start < end <= 24",
            );
            errors.check(t.days.iter().all(|d| (1..=7).contains(d)), "capSettings.timeTargeting.days", "days are ISO weekdays 1..=7");
        }
    }
}

impl VanishedPolicy {
    pub fn validate(&self, errors: &mut Errors) {
        errors.check(
            self.max_pause_share > Decimal::ZERO && self.max_pause_share <= Decimal::ONE,
            "vanishedPolicy.maxPauseShare",
            "must be above 0 and at most 1",
        );
        errors.check(self.delete_after_misses >= 1, "vanishedPolicy.deleteAfterMisses", "must be at least 1");
    }
}

/// Parses a JSON section stored by the domain; a corrupt document falls back to defaults
/// (and is reported by the caller).
pub fn section<T: serde::de::DeserializeOwned + Default>(json: &str) -> T {
    serde_json::from_str(json).unwrap_or_default()
}

/// Serialises a section for storage.
pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Columns a sync run may write; a campaign's provenance says, per column, who wrote it last.
pub const SYNC_COLUMNS: &[&str] = &[
    "title",
    "description",
    "preview_url",
    "tracking_url",
    "impression_url",
    "thumbnail_url",
    "status",
    "visibility",
    "category",
    "currency",
    "revenue",
    "payout",
    "model",
    "objective",
    "redirect_type",
    "countries",
    "os",
    "devices",
    "expires_at",
    "caps",
    "time_targeting",
];

/// The key of the stored provenance entry that stands for every sync column not listed on
/// its own: a new campaign stores `{"*": {"source": "sync", "runId": .., "at": ..}}` (one
/// entry, not one per column), and later writes add the columns they change.
pub const PROVENANCE_ALL: &str = "*";

/// A campaign's provenance as the API shows it: one entry per column, `*` expanded.
pub fn provenance(stored: &str) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut p: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(stored).unwrap_or_default();
    if let Some(all) = p.remove(PROVENANCE_ALL) {
        for c in SYNC_COLUMNS {
            p.entry((*c).to_string()).or_insert_with(|| all.clone());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut e = Errors::default();
        PayoutRules::default().validate(&mut e);
        Filters::default().validate(&mut e);
        Settings::default().validate(&mut e);
        CapSettings::default().validate(&mut e);
        VanishedPolicy::default().validate(&mut e);
        assert!(e.0.is_empty(), "{:?}", e.0);
    }

    #[test]
    fn min_above_max_is_reported_on_the_field() {
        let f = Filters { min_payout: Some(Decimal::from(5)), max_payout: Some(Decimal::from(2)), ..Filters::default() };
        let mut e = Errors::default();
        f.validate(&mut e);
        assert_eq!(e.0[0].field, "filters.maxPayout");
    }

    #[test]
    fn sections_round_trip_through_json_exactly() {
        let p = PayoutRules { global_ratio: Decimal::new(75, 2), ..PayoutRules::default() };
        let back: PayoutRules = section(&to_json(&p));
        assert_eq!(back, p);
        assert!(to_json(&p).contains("\"0.75\""));
    }
}
