//! GraphQL mirrors of the domain's enums and settings sections.
//!
//! The domain crate has no GraphQL dependency, so each enum is mirrored with
//! `#[graphql(remote = ...)]` (conversions both ways are generated) and each section is one
//! struct that is both the output object and the input (`...Input`), converted once each way.

use async_graphql::{Enum, InputObject, SimpleObject};
use domain::model as m;

macro_rules! mirror_enum {
    ($name:ident, $remote:literal, [$($v:ident),+ $(,)?]) => {
        #[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
        #[graphql(remote = $remote)]
        pub enum $name { $($v),+ }
    };
}

mirror_enum!(Lifecycle, "m::Lifecycle", [Draft, Active, Inactive]);
mirror_enum!(CampaignStatus, "m::CampaignStatus", [Active, Paused, Pending, Expired]);
mirror_enum!(Visibility, "m::Visibility", [Private, Permission, Public]);
mirror_enum!(OsFilter, "m::OsFilter", [All, Android, Ios]);
mirror_enum!(OfferModel, "m::OfferModel", [Cpa, Cpi, Cpl, Cps, Cpc, Cpm, Cpe, RevShare]);
mirror_enum!(PayoutType, "m::PayoutType", [Fixed, Percent]);
mirror_enum!(RedirectType, "m::RedirectType", [Http302, Http301, MetaRefresh, Javascript, Hidden]);
mirror_enum!(Objective, "m::Objective", [Conversions, Installs, Leads, Sales, Clicks, Impressions, AppEngagement]);
mirror_enum!(CapEvent, "m::CapEvent", [Conversions, Clicks, Payout, Revenue]);
mirror_enum!(CapPeriod, "m::CapPeriod", [Daily, Weekly, Monthly, Total]);
mirror_enum!(CapVisibility, "m::CapVisibility", [Private, Public]);
mirror_enum!(CapCounting, "m::CapCounting", [Gross, Approved]);
mirror_enum!(OverDelivery, "m::OverDelivery", [Pause, KeepActive]);
mirror_enum!(VanishedAction, "m::VanishedAction", [Pause, Keep, Delete]);
mirror_enum!(RunStatus, "m::RunStatus", [Queued, Running, Succeeded, PartiallySucceeded, Warning, Failed, Held, Cancelled]);
mirror_enum!(RunTrigger, "m::RunTrigger", [Schedule, Manual, Finalize, Cli, Retry]);
mirror_enum!(LogLevel, "m::LogLevel", [Debug, Info, Warn, Error]);
mirror_enum!(RequestStatus, "m::RequestStatus", [Pending, Running, Done, Failed]);
mirror_enum!(RequestKind, "m::RequestKind", [Sync, FirstSync, DryRun, TestConnection]);
mirror_enum!(CountryMode, "m::CountryMode", [Allow, Block]);
mirror_enum!(
    CampaignColumn,
    "m::CampaignColumn",
    [
        Title,
        Description,
        PreviewUrl,
        TrackingUrl,
        ImpressionUrl,
        Thumbnail,
        Status,
        Visibility,
        Category,
        Currency,
        Revenue,
        Payout,
        Model,
        Objective,
        RedirectType,
        Countries,
        Os,
        Devices,
        Expiry,
        Caps,
        TimeTargeting
    ]
);

fn map<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

/// Payout-to-revenue rules: publisher payout = revenue x ratio.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "PayoutRulesInput")]
pub struct PayoutRules {
    /// Ratio for every publisher (0 < ratio <= 10), e.g. 0.8.
    pub global_ratio: Decimal,
    /// Per-tier ratios, overriding the global ratio.
    pub tier_ratios: Vec<TierRatio>,
    /// Fixed per-publisher payouts, overriding ratios.
    pub publisher_payouts: Vec<PublisherPayout>,
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "TierRatioInput")]
pub struct TierRatio {
    pub tier_id: i64,
    pub ratio: Decimal,
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "PublisherPayoutInput")]
pub struct PublisherPayout {
    pub publisher_id: i64,
    pub payout: Decimal,
}

impl From<m::PayoutRules> for PayoutRules {
    fn from(p: m::PayoutRules) -> Self {
        Self {
            global_ratio: p.global_ratio.into(),
            tier_ratios: p.tier_ratios.into_iter().map(|t| TierRatio { tier_id: t.tier_id, ratio: t.ratio.into() }).collect(),
            publisher_payouts: p
                .publisher_payouts
                .into_iter()
                .map(|x| PublisherPayout { publisher_id: x.publisher_id, payout: x.payout.into() })
                .collect(),
        }
    }
}
impl From<PayoutRules> for m::PayoutRules {
    fn from(p: PayoutRules) -> Self {
        Self {
            global_ratio: p.global_ratio.0,
            tier_ratios: p.tier_ratios.into_iter().map(|t| m::TierRatio { tier_id: t.tier_id, ratio: t.ratio.0 }).collect(),
            publisher_payouts: p
                .publisher_payouts
                .into_iter()
                .map(|x| m::PublisherPayout { publisher_id: x.publisher_id, payout: x.payout.0 })
                .collect(),
        }
    }
}

/// Which offers are imported.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "FiltersInput")]
pub struct Filters {
    pub country_mode: CountryMode,
    /// ISO 3166-1 alpha-2 codes; empty = no country filter.
    pub countries: Vec<String>,
    pub min_payout: Option<Decimal>,
    pub max_payout: Option<Decimal>,
    pub os: OsFilter,
    /// Empty = every model.
    pub offer_models: Vec<OfferModel>,
    pub skip_without_preview_url: bool,
    pub country_payouts: Vec<CountryPayoutBound>,
    /// Currency of min/max amounts (ISO 4217).
    pub compare_currency: String,
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "CountryPayoutBoundInput")]
pub struct CountryPayoutBound {
    pub country: String,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
}

impl From<m::Filters> for Filters {
    fn from(f: m::Filters) -> Self {
        Self {
            country_mode: f.country_mode.into(),
            countries: f.countries,
            min_payout: f.min_payout.map(Into::into),
            max_payout: f.max_payout.map(Into::into),
            os: f.os.into(),
            offer_models: map(f.offer_models),
            skip_without_preview_url: f.skip_without_preview_url,
            country_payouts: f
                .country_payouts
                .into_iter()
                .map(|c| CountryPayoutBound { country: c.country, min: c.min.map(Into::into), max: c.max.map(Into::into) })
                .collect(),
            compare_currency: f.compare_currency,
        }
    }
}
impl From<Filters> for m::Filters {
    fn from(f: Filters) -> Self {
        Self {
            country_mode: f.country_mode.into(),
            countries: f.countries.iter().map(|c| c.trim().to_ascii_uppercase()).collect(),
            min_payout: f.min_payout.map(Into::into),
            max_payout: f.max_payout.map(Into::into),
            os: f.os.into(),
            offer_models: map(f.offer_models),
            skip_without_preview_url: f.skip_without_preview_url,
            country_payouts: f
                .country_payouts
                .into_iter()
                .map(|c| m::CountryPayoutBound {
                    country: c.country.trim().to_ascii_uppercase(),
                    min: c.min.map(Into::into),
                    max: c.max.map(Into::into),
                })
                .collect(),
            compare_currency: f.compare_currency.trim().to_ascii_uppercase(),
        }
    }
}

/// How the integration runs and what it may change.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "SettingsInput")]
pub struct Settings {
    /// Minutes between refreshes (15 to 10080).
    pub refresh_minutes: i32,
    /// Columns a refresh may overwrite.
    pub updatable_columns: Vec<CampaignColumn>,
    pub redirect_type: RedirectType,
    pub primary_objective: Option<Objective>,
    pub currency_override: Option<String>,
    pub rate_limit_per_second: Option<Decimal>,
    /// Offers per page requested from the advertiser (1 to 5000); null = the connector's default.
    pub page_size: Option<i32>,
}

impl From<m::Settings> for Settings {
    fn from(s: m::Settings) -> Self {
        Self {
            refresh_minutes: s.refresh_minutes as i32,
            updatable_columns: map(s.updatable_columns),
            redirect_type: s.redirect_type.into(),
            primary_objective: s.primary_objective.map(Into::into),
            currency_override: s.currency_override,
            rate_limit_per_second: s.rate_limit_per_second.map(Into::into),
            page_size: s.page_size.map(|n| n as i32),
        }
    }
}
impl From<Settings> for m::Settings {
    fn from(s: Settings) -> Self {
        Self {
            refresh_minutes: s.refresh_minutes.max(0) as u32,
            updatable_columns: map(s.updatable_columns),
            redirect_type: s.redirect_type.into(),
            primary_objective: s.primary_objective.map(Into::into),
            currency_override: s.currency_override.map(|c| c.trim().to_ascii_uppercase()),
            rate_limit_per_second: s.rate_limit_per_second.map(Into::into),
            // Negative sizes become 0, which validation rejects with a field error.
            page_size: s.page_size.map(|n| n.max(0) as u32),
        }
    }
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "CapInput")]
pub struct Cap {
    pub event: CapEvent,
    pub period: CapPeriod,
    pub value: Decimal,
    pub visibility: CapVisibility,
    pub counting: CapCounting,
    /// IANA timezone.
    pub timezone: String,
    pub over_delivery: OverDelivery,
}

impl From<m::Cap> for Cap {
    fn from(c: m::Cap) -> Self {
        Self {
            event: c.event.into(),
            period: c.period.into(),
            value: c.value.into(),
            visibility: c.visibility.into(),
            counting: c.counting.into(),
            timezone: c.timezone,
            over_delivery: c.over_delivery.into(),
        }
    }
}
impl From<Cap> for m::Cap {
    fn from(c: Cap) -> Self {
        Self {
            event: c.event.into(),
            period: c.period.into(),
            value: c.value.0,
            visibility: c.visibility.into(),
            counting: c.counting.into(),
            timezone: c.timezone,
            over_delivery: c.over_delivery.into(),
        }
    }
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "TimeTargetingInput")]
pub struct TimeTargeting {
    pub timezone: String,
    /// ISO weekdays 1 (Monday) to 7 (Sunday); empty = every day.
    pub days: Vec<i32>,
    pub start_hour: i32,
    pub end_hour: i32,
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "CapSettingsInput")]
pub struct CapSettings {
    pub add_cap_on_import: bool,
    pub cap: Cap,
    pub time_targeting: Option<TimeTargeting>,
    pub extra_caps: Vec<Cap>,
    pub import_upstream_caps: bool,
}

impl From<m::CapSettings> for CapSettings {
    fn from(c: m::CapSettings) -> Self {
        Self {
            add_cap_on_import: c.add_cap_on_import,
            cap: c.cap.into(),
            time_targeting: c.time_targeting.map(|t| TimeTargeting {
                timezone: t.timezone,
                days: t.days.into_iter().map(i32::from).collect(),
                start_hour: t.start_hour.into(),
                end_hour: t.end_hour.into(),
            }),
            extra_caps: map(c.extra_caps),
            import_upstream_caps: c.import_upstream_caps,
        }
    }
}
impl From<CapSettings> for m::CapSettings {
    fn from(c: CapSettings) -> Self {
        let b = |v: i32| u8::try_from(v).unwrap_or(u8::MAX);
        Self {
            add_cap_on_import: c.add_cap_on_import,
            cap: c.cap.into(),
            time_targeting: c.time_targeting.map(|t| m::TimeTargeting {
                timezone: t.timezone,
                days: t.days.into_iter().map(b).collect(),
                start_hour: b(t.start_hour),
                end_hour: b(t.end_hour),
            }),
            extra_caps: map(c.extra_caps),
            import_upstream_caps: c.import_upstream_caps,
        }
    }
}

/// What happens to campaigns whose offer left the feed.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "VanishedPolicyInput")]
pub struct VanishedPolicy {
    pub action: VanishedAction,
    pub delete_after_misses: i32,
    /// Hold a run for review when it would pause more than this share (0..1] of live campaigns.
    pub max_pause_share: Decimal,
}

impl From<m::VanishedPolicy> for VanishedPolicy {
    fn from(v: m::VanishedPolicy) -> Self {
        Self { action: v.action.into(), delete_after_misses: v.delete_after_misses as i32, max_pause_share: v.max_pause_share.into() }
    }
}
impl From<VanishedPolicy> for m::VanishedPolicy {
    fn from(v: VanishedPolicy) -> Self {
        Self { action: v.action.into(), delete_after_misses: v.delete_after_misses.max(0) as u32, max_pause_share: v.max_pause_share.0 }
    }
}

/// Any JSON value (the `JSON` scalar). Unlike `async_graphql::Json<serde_json::Value>`, numbers
/// stay JSON numbers: with serde_json's `arbitrary_precision` (which rust_decimal needs),
/// `async_graphql::to_value` turns every number into `{"$serde_json::private::Number": "1"}`.
#[derive(Clone, Debug, Default)]
pub struct JsonValue(pub serde_json::Value);

/// A scalar that can represent any JSON value.
#[async_graphql::Scalar(name = "JSON")]
impl async_graphql::ScalarType for JsonValue {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        Ok(Self(value.into_json()?))
    }

    fn to_value(&self) -> async_graphql::Value {
        self.to_graphql()
    }
}

impl JsonValue {
    /// The value as GraphQL's.
    pub fn to_graphql(&self) -> async_graphql::Value {
        fn conv(v: &serde_json::Value) -> async_graphql::Value {
            use async_graphql::Value as G;
            match v {
                serde_json::Value::Null => G::Null,
                serde_json::Value::Bool(b) => G::Boolean(*b),
                serde_json::Value::Number(n) => G::Number(n.clone()),
                serde_json::Value::String(s) => G::String(s.clone()),
                serde_json::Value::Array(a) => G::List(a.iter().map(conv).collect()),
                serde_json::Value::Object(o) => G::Object(o.iter().map(|(k, v)| (async_graphql::Name::new(k), conv(v))).collect()),
            }
        }
        conv(&self.0)
    }
}

/// A `JSON` value converted once and shared by every response that carries it (an event's
/// payload, sent to each of its subscribers): resolving it is a clone, not a conversion.
#[derive(Clone)]
pub struct SharedJson(pub std::sync::Arc<async_graphql::Value>);

impl async_graphql::OutputType for SharedJson {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <JsonValue as async_graphql::OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <JsonValue as async_graphql::OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &async_graphql::ContextSelectionSet<'_>,
        _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        Ok((*self.0).clone())
    }
}

/// An exact decimal: the `Decimal` scalar. Input may be a string (`"12.50"`) or a number literal;
/// either is read from its text, never through f64, so `0.1` is 0.1 and
/// `12345678901234567.89` keeps every digit. Output is always a string. A value that does not
/// fit (more than 28 significant digits, `1e400`), would be rounded (`1e-40`), or is not a
/// plain decimal (`NaN`, `1_000`, `" 2 "`) is refused with a message (coded VALIDATION);
/// nothing on this path can panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Decimal(pub rust_decimal::Decimal);

impl Decimal {
    pub const ZERO: Decimal = Decimal(rust_decimal::Decimal::ZERO);
    pub const ONE: Decimal = Decimal(rust_decimal::Decimal::ONE);

    /// Reads a decimal from text exactly, or says why not.
    pub fn parse_exact(text: &str) -> Result<Self, String> {
        let plain = {
            let t = text.strip_prefix('-').unwrap_or(text);
            let (mantissa, exponent) = match t.find(['e', 'E']) {
                Some(i) => (&t[..i], Some(&t[i + 1..])),
                None => (t, None),
            };
            let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            !int.is_empty()
                && digits(int)
                && digits(frac)
                && exponent.is_none_or(|e| {
                    let e = e.strip_prefix(['-', '+']).unwrap_or(e);
                    !e.is_empty() && e.len() <= 4 && digits(e)
                })
        };
        if !plain {
            return Err(format!("'{}' is not a decimal number (write it like \"12.50\")", text.chars().take(40).collect::<String>()));
        }
        let out_of_range = || {
            format!("'{}' is out of range: at most 28 significant digits and 28 decimal places", text.chars().take(40).collect::<String>())
        };
        // The mantissa exactly, then the exponent moved into the scale: nothing is rounded.
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().map_err(|_| out_of_range())?),
            None => (text, 0),
        };
        let m = rust_decimal::Decimal::from_str_exact(mantissa).map_err(|_| out_of_range())?;
        let scale = m.scale() as i32 - exponent;
        let value = if scale >= 0 {
            u32::try_from(scale)
                .ok()
                .filter(|s| *s <= 28)
                .map(|s| rust_decimal::Decimal::from_i128_with_scale(m.mantissa(), s))
                .ok_or_else(out_of_range)?
        } else {
            let ten = rust_decimal::Decimal::from(10);
            (0..-scale)
                .try_fold(rust_decimal::Decimal::from_i128_with_scale(m.mantissa(), 0), |acc, _| acc.checked_mul(ten))
                .ok_or_else(out_of_range)?
        };
        Ok(Decimal(value))
    }
}

impl std::ops::Deref for Decimal {
    type Target = rust_decimal::Decimal;
    fn deref(&self) -> &rust_decimal::Decimal {
        &self.0
    }
}

impl From<rust_decimal::Decimal> for Decimal {
    fn from(d: rust_decimal::Decimal) -> Self {
        Decimal(d)
    }
}

impl From<Decimal> for rust_decimal::Decimal {
    fn from(d: Decimal) -> Self {
        d.0
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An exact decimal number, sent and returned as a string (`"12.50"`); a number literal is
/// also accepted and read from its text.
#[async_graphql::Scalar(name = "Decimal")]
impl async_graphql::ScalarType for Decimal {
    fn parse(value: async_graphql::Value) -> async_graphql::InputValueResult<Self> {
        let text = match &value {
            async_graphql::Value::String(s) => s.clone(),
            async_graphql::Value::Number(n) => n.to_string(),
            _ => return Err(async_graphql::InputValueError::expected_type(value)),
        };
        Decimal::parse_exact(&text).map_err(async_graphql::InputValueError::custom)
    }

    fn is_valid(value: &async_graphql::Value) -> bool {
        matches!(value, async_graphql::Value::String(_) | async_graphql::Value::Number(_))
    }

    fn to_value(&self) -> async_graphql::Value {
        async_graphql::Value::String(self.0.to_string())
    }
}

#[cfg(test)]
mod decimal_tests {
    use super::Decimal;

    #[test]
    fn decimals_are_read_exactly_or_refused_never_rounded() {
        let ok = |s: &str| Decimal::parse_exact(s).map(|d| d.0.to_string());
        assert_eq!(ok("12.50"), Ok("12.50".into()));
        assert_eq!(ok("0.1"), Ok("0.1".into()));
        assert_eq!(ok("12345678901234567.89"), Ok("12345678901234567.89".into()));
        assert_eq!(ok("-1E5"), Ok("-100000".into()));
        assert_eq!(ok("1.5e3"), Ok("1500".into()));
        assert_eq!(ok("1.25e-2"), Ok("0.0125".into()));
        assert_eq!(ok("12e1"), Ok("120".into()));
        for bad in [
            "0.00000000000000000000000000001e5",
            "1e400",
            "1e-400",
            "79228162514264337593543950336",
            "0.00000000000000000000000000000001",
            "NaN",
            "inf",
            "1_000",
            " 2 ",
            "1e",
            "",
            "-",
            ".5",
            "1e99999",
        ] {
            assert!(Decimal::parse_exact(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
