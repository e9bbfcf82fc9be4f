//! Connectors: one file per platform, a shared HTTP scaffold, one explicit registry.
//!
//! A connector only builds page requests and parses pages ([`Connector`]); the scaffold
//! ([`scaffold`]) owns paging loops, timeouts, retries with backoff and jitter, Retry-After,
//! the per-account rate limiter, the response cache and redaction.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use domain::crypto::Credentials;
use serde::Serialize;

use crate::offer::CanonicalOffer;

pub mod affise;
pub mod body;
pub mod cake;
pub mod everflow;
pub mod hasoffers;
pub mod lenient;
pub mod offer18;
pub mod scaffold;
pub mod spec;
pub mod trackier;

/// The one error type that drives retry decisions.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// Credentials rejected (401/403 or an in-body auth error): the integration is disabled.
    #[error("credentials rejected: {0}")]
    Unauthorized(String),
    /// Rate limited (429 or an in-body rate-limit error): back off.
    #[error("rate limited{}: {message}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration>, message: String },
    /// 5xx, timeouts, connection errors: retried, then surfaced.
    #[error("advertiser API unavailable: {0}")]
    Transient(String),
    /// The page cannot be parsed: the run fails, nothing is changed.
    #[error("invalid response: {0}")]
    InvalidPayload(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A configuration problem (missing credential field, bad URL).
    #[error("configuration: {0}")]
    Config(String),
    /// The API URL (or a redirect, or what its name resolves to) is an address the agent must
    /// not call (loopback, private, link-local...): nothing was sent, nothing is retried.
    #[error("refused target: {0}")]
    TargetRefused(String),
}

impl FetchError {
    /// Stable code for logs and GraphQL.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Unauthorized(_) => "UPSTREAM_UNAUTHORIZED",
            FetchError::RateLimited { .. } => "UPSTREAM_RATE_LIMITED",
            FetchError::Transient(_) => "UPSTREAM_UNAVAILABLE",
            FetchError::InvalidPayload(_) => "UPSTREAM_INVALID_PAYLOAD",
            FetchError::NotFound(_) => "UPSTREAM_NOT_FOUND",
            FetchError::Config(_) => "CONNECTOR_CONFIG",
            FetchError::TargetRefused(_) => "TARGET_REFUSED",
        }
    }
}

/// One credential field a connector needs.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialField {
    pub name: &'static str,
    pub label: &'static str,
    pub required: bool,
    pub secret: bool,
    pub help: &'static str,
}

/// How a platform pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PagingStyle {
    /// page + limit, with a total in the body.
    PageTotal,
    /// page count in the body.
    PageCount,
    /// until a short or empty page.
    UntilShortPage,
    /// row offsets (start_at_row / row_limit).
    RowOffset,
    /// totals in response headers.
    HeaderTotals,
}

/// The catalog entry of a connector.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorInfo {
    pub id: String,
    pub display_name: String,
    /// "native" or "declarative".
    pub kind: &'static str,
    pub credential_fields: Vec<CredentialField>,
    pub paging: PagingStyle,
    pub default_page_size: u32,
    /// Default budget: `requests` per `per`.
    pub rate_limit_requests: u32,
    pub rate_limit_per: Duration,
    pub approved_only: bool,
    pub docs_url: Option<String>,
}

/// Where a page request is in the feed (1-based page number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub page: u32,
    pub page_size: u32,
}

impl Cursor {
    /// 1-based row offset of the first row of this page (CAKE's `start_at_row`).
    pub fn start_row(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.page_size) + 1
    }
}

/// A request for one page, built by a connector.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    /// Basic auth (user, password), when the platform uses it.
    pub basic_auth: Option<(String, String)>,
}

/// A response as the scaffold hands it to a connector.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: bytes::Bytes,
}

/// An offer in a page that could not be turned into a canonical offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidOffer {
    pub external_id: Option<String>,
    pub reason: String,
}

/// One parsed page.
#[derive(Debug, Default)]
pub struct Page {
    pub offers: Vec<Result<CanonicalOffer, InvalidOffer>>,
    /// Offers whose record is byte for byte the one their campaign was last written from,
    /// under the same rules (see the fetch stage): nothing to parse, evaluate or write. Their
    /// external ids are unique on the page and absent from `offers`.
    pub unchanged: Vec<String>,
    /// The instant `unchanged` was decided at (expiries compared with it); the run evaluates
    /// the page's offers at the same instant. `None` = whenever the run evaluates.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Records on the page as the platform counts them (for the short-page rule).
    pub records: usize,
    /// Total pages, when the platform says (HasOffers `pageCount`).
    pub total_pages: Option<u32>,
    /// Total records, when the platform says (Everflow `total_count`, Trackier `count`).
    pub total_records: Option<u64>,
    /// The platform says whether there is a next page (Affise `next_page`).
    pub has_more: Option<bool>,
}

/// A page cut into its records without parsing them ([`Connector::split_page`]).
#[derive(Debug, Clone)]
pub struct SplitPage {
    /// The answer's body, which every record's span points into.
    pub body: bytes::Bytes,
    /// The records in the order [`Connector::parse_page`] would return them.
    pub records: Vec<RawRecord>,
    pub total_pages: Option<u32>,
    pub total_records: Option<u64>,
    pub has_more: Option<bool>,
}

/// One record of a [`SplitPage`].
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// The key the page files the record under (HasOffers' id-keyed map), if any. It is only
    /// a guess at the external id: the record's own id wins when it is parsed.
    pub key: Option<String>,
    /// Where the record's JSON is in the body.
    pub span: std::ops::Range<usize>,
}

/// Facts about the advertiser account that hold for every offer, read once per run (and
/// cached) before the first page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountContext {
    /// The currency of amounts sent without one (HasOffers' `network_currency`).
    pub currency: Option<String>,
}

/// What every connector implements: build a page request, parse a page.
pub trait Connector: Send + Sync {
    fn info(&self) -> &ConnectorInfo;

    /// The request for `cursor`. `creds` holds the integration's credential fields.
    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError>;

    /// Parses a response with a 2xx status (and, for platforms that answer errors with
    /// HTTP 200, classifies in-body errors). Non-2xx statuses are classified by the scaffold
    /// unless [`Connector::classify_status`] says otherwise.
    fn parse_page(&self, creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError>;

    /// Platform-specific reading of a non-2xx answer (e.g. Trackier answers a bad key with 400).
    /// `None` = the scaffold's default classification.
    fn classify_status(&self, _resp: &RawResponse) -> Option<FetchError> {
        None
    }

    /// A request for the account's context, made once per run (cached) before the first
    /// page. `None` = the platform needs none.
    fn context_request(&self, _creds: &Credentials) -> Option<Result<PageRequest, FetchError>> {
        None
    }

    /// Reads the answer to [`Connector::context_request`].
    fn parse_context(&self, _creds: &Credentials, _resp: &RawResponse) -> Result<AccountContext, FetchError> {
        Ok(AccountContext::default())
    }

    /// The currency of amounts when neither the offer nor the account context names one.
    /// `None` = the platform has no fixed default: such an offer is skipped (NO_CURRENCY)
    /// rather than labelled with a guess.
    fn fallback_currency(&self) -> Option<&'static str> {
        Some("USD")
    }

    /// A follow-up request one parsed offer needs (CAKE's `GetCampaign` for the tracking
    /// link); `None` = the page row said everything.
    fn detail_request(&self, _creds: &Credentials, _offer: &CanonicalOffer) -> Option<Result<PageRequest, FetchError>> {
        None
    }

    /// Completes `offer` from the answer to its [`Connector::detail_request`].
    fn apply_detail(&self, _creds: &Credentials, _offer: &mut CanonicalOffer, _resp: &RawResponse) -> Result<(), FetchError> {
        Ok(())
    }

    /// The fast path of a refresh: the records of a successful page as spans of the body,
    /// without parsing them. A run hashes each record and parses only those whose campaign
    /// was written from other bytes ([`Connector::parse_record`]). `None` = this answer goes
    /// through [`Connector::parse_page`] (an error envelope, a shape the split does not know,
    /// a platform without the fast path). Only for platforms whose page records say
    /// everything: no [`Connector::detail_request`].
    fn split_page(&self, _resp: &RawResponse) -> Option<SplitPage> {
        None
    }

    /// Parses one record of a [`SplitPage`] exactly as [`Connector::parse_page`] parses it
    /// within its page. Only called for records of a page [`Connector::split_page`] split.
    fn parse_record(&self, record: &RawRecord, _json: &[u8]) -> Result<CanonicalOffer, InvalidOffer> {
        Err(InvalidOffer { external_id: record.key.clone(), reason: format!("{} does not parse single records", self.info().id) })
    }
}

/// A required credential field, or a `Config` error naming it.
pub fn required<'a>(creds: &'a Credentials, field: &str) -> Result<&'a str, FetchError> {
    creds
        .get(field)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| FetchError::Config(format!("credential field '{field}' is missing")))
}

/// The API base URL: the `api_url` credential when set (white-label hosts, tests), else `default`.
pub fn base_url(creds: &Credentials, default: &str) -> Result<url::Url, FetchError> {
    let raw = creds.get("api_url").map(String::as_str).filter(|s| !s.trim().is_empty()).unwrap_or(default);
    url::Url::parse(raw.trim()).map_err(|e| FetchError::Config(format!("api_url '{raw}' is not a URL: {e}")))
}

/// `base` with `path` appended as it is (a base with a path prefix keeps it).
pub(crate) fn append_path(mut base: url::Url, path: &str) -> Result<url::Url, FetchError> {
    let shown = base.to_string();
    base.path_segments_mut()
        .map_err(|()| FetchError::Config(format!("api_url '{shown}' cannot take a path")))?
        .pop_if_empty()
        .extend(path.split('/').filter(|s| !s.is_empty()));
    Ok(base)
}

/// Appends the API path to the base URL unless the base already ends with (part of) it, so an
/// `api_url` given with or without the path (`https://api-eu.eflow.team/v1/affiliates/`) works.
pub(crate) fn endpoint(mut base: url::Url, path: &[&str]) -> Result<url::Url, FetchError> {
    if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
        return Err(FetchError::Config(format!("api_url '{base}' is not an http(s) URL")));
    }
    let have: Vec<String> = base.path_segments().map(|s| s.filter(|p| !p.is_empty()).map(str::to_string).collect()).unwrap_or_default();
    let overlap = (0..=path.len().min(have.len()))
        .rev()
        .find(|&n| have[have.len() - n..].iter().zip(&path[..n]).all(|(a, b)| a.eq_ignore_ascii_case(b)))
        .unwrap_or(0);
    if let Ok(mut segments) = base.path_segments_mut() {
        segments.pop_if_empty().extend(&path[overlap..]);
    }
    base.set_fragment(None);
    Ok(base)
}

/// Replaces every `{name}` (letters, digits, `_`) with `value(name)`; `None` keeps it verbatim.
pub(crate) fn fill<E>(template: &str, mut value: impl FnMut(&str) -> Result<Option<String>, E>) -> Result<String, E> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after
            .find('}')
            .map(|close| &after[..close])
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match name.map(|n| (n, value(n))) {
            Some((n, v)) => {
                match v? {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(n);
                        out.push('}');
                    }
                }
                rest = &after[n.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The registry: every connector id this build knows, native first.
pub const NATIVE: &[&str] = &["hasoffers", "everflow", "affise", "cake", "trackier", "offer18"];

/// Looks up a connector by id: one explicit arm per native connector, then declarative specs.
pub fn by_id(id: &str, specs: &[Arc<dyn Connector>]) -> Result<Arc<dyn Connector>, FetchError> {
    let native: Option<Arc<dyn Connector>> = match id {
        "hasoffers" => Some(Arc::new(hasoffers::HasOffers::new())),
        "everflow" => Some(Arc::new(everflow::Everflow::new())),
        "affise" => Some(Arc::new(affise::Affise::new())),
        "cake" => Some(Arc::new(cake::Cake::new())),
        "trackier" => Some(Arc::new(trackier::Trackier::new())),
        "offer18" => Some(Arc::new(offer18::Offer18::new())),
        _ => None,
    };
    if let Some(c) = native {
        return Ok(c);
    }
    if let Some(spec) = specs.iter().find(|s| s.info().id == id) {
        return Ok(spec.clone());
    }
    let mut known: Vec<String> = NATIVE.iter().map(|s| s.to_string()).collect();
    known.extend(specs.iter().map(|s| s.info().id.clone()));
    Err(FetchError::Config(format!("unknown connector '{id}', expected one of: {}", known.join(", "))))
}

/// Every connector: the natives, then the declarative specs.
pub fn all(specs: &[Arc<dyn Connector>]) -> Vec<Arc<dyn Connector>> {
    let mut out: Vec<Arc<dyn Connector>> = NATIVE.iter().filter_map(|id| by_id(id, &[]).ok()).collect();
    out.extend(specs.iter().cloned());
    out
}
