//! The canonical offer: what every connector turns an advertiser record into.

use chrono::{DateTime, Utc};
use domain::model::{OfferModel, PayoutType};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The advertiser's approval of this affiliate for the offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    Approved,
    Pending,
    Rejected,
    NotApplied,
    Unknown,
}

/// The offer's status upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamStatus {
    Active,
    Paused,
    Pending,
    Expired,
    Deleted,
    Unknown,
}

impl UpstreamStatus {
    /// The offer runs upstream (or the platform does not say): the admin's imported status
    /// applies. Paused, pending, expired and deleted offers are not live.
    pub fn is_live(self) -> bool {
        matches!(self, UpstreamStatus::Active | UpstreamStatus::Unknown)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamStatus::Active => "active",
            UpstreamStatus::Paused => "paused",
            UpstreamStatus::Pending => "pending",
            UpstreamStatus::Expired => "expired",
            UpstreamStatus::Deleted => "deleted",
            UpstreamStatus::Unknown => "unknown",
        }
    }
}

/// A payout for a goal and/or a set of countries (empty `countries` = every country;
/// `excluded_countries` = every country except these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalPayout {
    pub goal_id: Option<String>,
    pub goal_name: Option<String>,
    pub countries: Vec<String>,
    /// "Everywhere except these" (Affise `country_exclude`); empty = no exclusion.
    #[serde(default)]
    pub excluded_countries: Vec<String>,
    pub revenue: Decimal,
    pub payout_type: PayoutType,
    pub currency: Option<String>,
}

/// A cap sent by the advertiser (a 0 upstream means unlimited and is not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamCap {
    /// "conversions", "clicks", "payout" or "revenue".
    pub event: String,
    /// "daily", "weekly", "monthly" or "total".
    pub period: String,
    pub value: Decimal,
    /// The goal the cap is set on (its id upstream); `None` = the whole offer.
    pub goal: Option<String>,
}

/// One offer in the canonical form. Amounts are exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalOffer {
    pub external_id: String,
    pub name: String,
    /// The description as sent (HTML kept raw).
    pub description_html: Option<String>,
    /// The description as plain text, when the platform sends one; otherwise it is derived
    /// from `description_html` when a campaign is written ([`CanonicalOffer::plain_description`]),
    /// so an unchanged offer is never sanitised.
    pub description_text: Option<String>,
    pub preview_url: Option<String>,
    /// Empty or missing tracking link = not approved / not runnable.
    pub tracking_url: Option<String>,
    pub impression_url: Option<String>,
    pub approval: Approval,
    pub status: UpstreamStatus,
    pub payout_type: PayoutType,
    pub model: Option<OfferModel>,
    /// ISO 4217; `None` = the account's default currency.
    pub currency: Option<String>,
    /// Default revenue (what the advertiser pays the network), a percentage when `payout_type` is percent.
    pub revenue: Decimal,
    pub payouts: Vec<GoalPayout>,
    /// ISO 3166-1 alpha-2 countries allowed; empty = all.
    pub countries: Vec<String>,
    pub blocked_countries: Vec<String>,
    /// Lower-case OS names: "android", "ios", "windows", "macos", "linux", ...; empty = all.
    pub os: Vec<String>,
    /// Lower-case device types: "mobile", "desktop", "tablet", ...; empty = all.
    pub devices: Vec<String>,
    pub categories: Vec<String>,
    pub caps: Vec<UpstreamCap>,
    pub expires_at: Option<DateTime<Utc>>,
    pub thumbnail_url: Option<String>,
    /// The upstream record, credentials redacted, for connectors that read it again after the
    /// parse (CAKE's follow-up requests, declarative specs); `Null` for the others.
    pub raw: serde_json::Value,
    /// The hash of the record this offer was parsed from, when the run's fetch stage hashed
    /// it ([`crate::pipeline::source_hash`]); stored with the campaign.
    #[serde(skip)]
    pub source_hash: Option<u128>,
}

/// The plain-text form of a description: the text as sent, else the HTML with tags stripped
/// and entities decoded; `None` when empty.
pub fn plain_text(text: Option<&str>, html: Option<&str>) -> Option<String> {
    match text {
        Some(t) => Some(t.to_string()),
        None => html.map(crate::connectors::lenient::html_to_text),
    }
    .filter(|t| !t.is_empty())
}

impl CanonicalOffer {
    /// The description as plain text ([`plain_text`]).
    pub fn plain_description(&self) -> Option<String> {
        plain_text(self.description_text.as_deref(), self.description_html.as_deref())
    }

    /// An offer with only an id and a name; connectors fill in the rest.
    pub fn new(external_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            external_id: external_id.into(),
            name: name.into(),
            description_html: None,
            description_text: None,
            preview_url: None,
            tracking_url: None,
            impression_url: None,
            approval: Approval::Unknown,
            status: UpstreamStatus::Unknown,
            payout_type: PayoutType::Fixed,
            model: None,
            currency: None,
            revenue: Decimal::ZERO,
            payouts: vec![],
            countries: vec![],
            blocked_countries: vec![],
            os: vec![],
            devices: vec![],
            categories: vec![],
            caps: vec![],
            expires_at: None,
            thumbnail_url: None,
            raw: serde_json::Value::Null,
            source_hash: None,
        }
    }

    /// Approved and runnable: a non-empty tracking link and not rejected/pending.
    pub fn is_approved(&self) -> bool {
        self.tracking_url.as_deref().is_some_and(|u| !u.trim().is_empty())
            && !matches!(self.approval, Approval::Pending | Approval::Rejected | Approval::NotApplied)
    }
}
