//! Declarative connectors: a JSON spec describes how a platform is asked for a page (URL,
//! credentials, paging), how its errors look and where each canonical field sits in a
//! record; [`SpecConnector`] runs it. The built-in specs in `agent/specs/` are embedded; more
//! are read from a directory. `agent/specs/README.md` documents every key.
//!
//! The engine reads bodies with [`body`](super::body) and values with
//! [`lenient`](super::lenient), the same readers the native connectors use, so a spec and a
//! native connector read the same record the same way.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use domain::{crypto::Credentials, model::PayoutType, validate};
use rust_decimal::Decimal;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::lenient::CountryList;
use super::{
    Connector, ConnectorInfo, CredentialField, Cursor, FetchError, InvalidOffer, NATIVE, Page, PageRequest, PagingStyle, RawResponse,
    append_path, base_url,
    body::{self, kind_of},
    fill,
    lenient::{self, describe, find_word, from_word, is_empty, push_cap, rows, unique, word_text},
    required, scaffold,
};
use crate::offer::{Approval, CanonicalOffer, GoalPayout, UpstreamStatus};

/// The specs shipped with the agent: (file name, text).
const BUILT_IN: &[(&str, &str)] =
    &[("offer18.json", include_str!("../../specs/offer18.json")), ("trackier.json", include_str!("../../specs/trackier.json"))];

/// Loads the built-in specs and, with `dir`, every `*.json` in it (in file-name order). A spec
/// in `dir` with the id of a built-in one replaces it. A bad spec fails the whole load with an
/// error naming its file.
pub fn load(dir: Option<&Path>) -> Result<Vec<Arc<dyn Connector>>, FetchError> {
    // (where it came from, built in?, the spec)
    let mut specs: Vec<(String, bool, Spec)> = vec![];
    for (name, text) in BUILT_IN {
        let origin = format!("built-in {name}");
        specs.push((origin.clone(), true, Spec::parse(&origin, text)?));
    }
    if let Some(dir) = dir {
        let unreadable = |e: std::io::Error| FetchError::Config(format!("cannot read spec directory '{}': {e}", dir.display()));
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(unreadable)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(unreadable)?;
        files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")));
        files.sort();
        for file in files {
            let origin = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| FetchError::Config(format!("spec '{origin}': cannot read: {e}")))?;
            let spec = Spec::parse(&origin, &text)?;
            match specs.iter().position(|(_, _, s)| s.id == spec.id) {
                Some(i) if specs[i].1 => specs[i] = (origin, false, spec),
                Some(i) => {
                    return Err(FetchError::Config(format!("spec '{origin}': id '{}' is already used by '{}'", spec.id, specs[i].0)));
                }
                None => specs.push((origin, false, spec)),
            }
        }
    }
    Ok(specs.into_iter().map(|(_, _, spec)| Arc::new(SpecConnector::new(spec)) as Arc<dyn Connector>).collect())
}

// ---------------------------------------------------------------------------------------------
// The spec format. Field docs are the user's documentation; agent/specs/README.md mirrors them.

/// One declarative connector, as written in a `*.json` spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Connector id, unique among all connectors (natives included), e.g. `"offer18-spec"`.
    pub id: String,
    /// The name the admin UI shows.
    pub display_name: String,
    /// Link to the platform's API documentation.
    #[serde(default)]
    pub docs_url: Option<String>,
    /// The credential fields an integration fills in. `api_url` (the API base URL, for
    /// white-label hosts and tests) is always accepted and need not be listed.
    pub credential_fields: Vec<CredentialSpec>,
    /// How the request for a page is built.
    pub request: RequestSpec,
    /// How the platform pages and where it reports totals.
    pub paging: PagingSpec,
    /// The default request budget for one advertiser account.
    #[serde(default)]
    pub rate_limit: RateLimitSpec,
    /// True when the endpoint lists only offers the affiliate is approved for.
    #[serde(default)]
    pub approved_only: bool,
    /// Path to the records in the body: an array, or an object keyed by offer id (its keys are
    /// then available as `@key`). Missing, `null` or `""` means an empty page, except in a body
    /// that is a list the path does not reach into (an invalid payload).
    pub records: FieldPath,
    /// In-body error rules, tried in order on every parsed body (and on non-2xx JSON bodies,
    /// where only `unauthorized` and `rate_limited` rules refine the scaffold's reading).
    #[serde(default)]
    pub errors: Vec<ErrorRule>,
    /// Paths to the error message, the first non-empty one wins.
    #[serde(default)]
    pub error_message: Vec<FieldPath>,
    /// Where each canonical field comes from in a record.
    pub fields: FieldsSpec,
    /// Named value maps (word -> word, `null` drops the value), used by a mapping's `map`.
    /// A map named like a built-in one (`statuses`, `approvals`, `payout_types`, `models`,
    /// `cap_events`, `cap_periods`) extends it; its entries win.
    #[serde(default)]
    pub value_maps: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

/// A credential field of a spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    /// The key in the integration's credentials, referenced as `{name}` in templates.
    pub name: String,
    /// The label the admin UI shows.
    pub label: String,
    /// Whether the integration must fill it in (default true).
    #[serde(default = "yes")]
    pub required: bool,
    /// Whether the value is a secret: stored encrypted, never shown or logged (default false).
    #[serde(default)]
    pub secret: bool,
    /// Help text under the field.
    #[serde(default)]
    pub help: String,
}

/// How the request for a page is built.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// API base URL. `{field}` takes the value of a credential field (for hosts per network,
    /// e.g. `https://{network_id}.api.example.com`). The `api_url` credential replaces it.
    pub base_url: String,
    /// Path appended to the base URL, e.g. `/api/af/offers`; `{field}` templates allowed.
    pub path: String,
    /// How credentials are sent: any number of query, header and basic entries.
    #[serde(default)]
    pub auth: Vec<AuthSpec>,
    /// Fixed query parameters sent with every page; values may use `{field}` templates.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Fixed headers sent with every page; values may use `{field}` templates.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// One way a credential is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuthSpec {
    /// A query parameter `name` carrying credential `field`.
    Query {
        /// The query parameter name.
        name: String,
        /// The credential field whose value is sent.
        field: String,
    },
    /// A header `name` carrying `prefix` + credential `field` (e.g. prefix `"Bearer "`).
    Header {
        /// The header name.
        name: String,
        /// The credential field whose value is sent.
        field: String,
        /// Text put before the value.
        #[serde(default)]
        prefix: String,
    },
    /// HTTP basic auth from two credential fields.
    Basic {
        /// The credential field holding the user name.
        user_field: String,
        /// The credential field holding the password.
        password_field: String,
    },
}

/// How the platform pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingSpec {
    /// `page_total` (page + limit, total records in the body), `page_count` (total pages in
    /// the body), `until_short_page`, `row_offset` (offset + limit) or `header_totals`.
    pub style: PagingKind,
    /// Query parameter carrying the page number.
    #[serde(default)]
    pub page_param: Option<String>,
    /// Number of the first page: 1 (default) or 0.
    #[serde(default = "one")]
    pub first_page: u32,
    /// Query parameter carrying the page size.
    #[serde(default)]
    pub limit_param: Option<String>,
    /// Query parameter carrying the row offset (`row_offset`).
    #[serde(default)]
    pub offset_param: Option<String>,
    /// Offset of the first row: 0 (default) or 1.
    #[serde(default)]
    pub first_offset: u64,
    /// Default page size.
    #[serde(default = "hundred")]
    pub page_size: u32,
    /// Path to the total number of records in the body.
    #[serde(default)]
    pub total_records: Option<FieldPath>,
    /// Path to the total number of pages in the body.
    #[serde(default)]
    pub total_pages: Option<FieldPath>,
    /// Path to a "there is a next page" flag in the body.
    #[serde(default)]
    pub has_more: Option<FieldPath>,
    /// Response header with the total number of records (`header_totals`).
    #[serde(default)]
    pub total_records_header: Option<String>,
    /// Response header with the total number of pages (`header_totals`).
    #[serde(default)]
    pub total_pages_header: Option<String>,
}

/// The paging styles a spec can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PagingKind {
    PageTotal,
    PageCount,
    UntilShortPage,
    RowOffset,
    HeaderTotals,
}

/// A request budget: `requests` per `per_seconds`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed per window (default 2).
    pub requests: u32,
    /// Window length in seconds (default 1).
    pub per_seconds: u64,
}

impl Default for RateLimitSpec {
    fn default() -> Self {
        Self { requests: 2, per_seconds: 1 }
    }
}

/// An in-body error: the value at `path` (as text, compared case-insensitively) is tested
/// against every condition given; when all hold, the page fails with `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// Where the tested value is. A rule never fires when the value is missing or null.
    pub path: FieldPath,
    /// The value is one of these (strings, numbers or booleans).
    #[serde(default)]
    pub equals: Vec<Value>,
    /// The value is none of these.
    #[serde(default)]
    pub not_equals: Vec<Value>,
    /// The error message (see `error_message`) contains one of these words.
    #[serde(default)]
    pub message_contains: Vec<String>,
    /// `unauthorized`, `rate_limited`, `transient`, `not_found`, `invalid`, or `empty` (an
    /// empty page, e.g. "no offers found").
    pub kind: ErrorKind,
}

/// What a matched error rule means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Unauthorized,
    RateLimited,
    Transient,
    NotFound,
    Invalid,
    Empty,
}

/// Where each canonical field comes from. Every value is a [`Source`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldsSpec {
    /// The offer id (required; a record without one is reported as an invalid offer).
    pub external_id: Source,
    /// The offer name (required; trimmed).
    pub name: Source,
    /// Description parts, joined by a blank line; a part's `prefix` labels it ("KPI: ").
    #[serde(default)]
    pub description: Vec<Source>,
    pub preview_url: Option<Source>,
    /// The tracking link; empty or missing means not approved. Kept verbatim, placeholders too.
    pub tracking_url: Option<Source>,
    pub impression_url: Option<Source>,
    pub thumbnail_url: Option<Source>,
    /// A word: approved, pending, rejected, not_applied or unknown (default unknown).
    pub approval: Option<Source>,
    /// A word: active, paused, pending, expired, deleted or unknown (default unknown).
    pub status: Option<Source>,
    /// A word: fixed or percent (default fixed).
    pub payout_type: Option<Source>,
    /// A word: cpa, cpi, cpl, cps, cpc, cpm, cpe or revshare.
    pub model: Option<Source>,
    /// An ISO 4217 code, any case; none (or not a code) = the account's default currency.
    pub currency: Option<Source>,
    /// The default revenue, a decimal (required: a record without one is an invalid offer).
    pub revenue: Source,
    /// Payout rows per goal and/or countries.
    #[serde(default)]
    pub payouts: Vec<PayoutSpec>,
    /// ISO alpha-2 countries allowed (an unknown code is dropped while a known one is left).
    pub countries: Option<Source>,
    pub blocked_countries: Option<Source>,
    /// OS names (lower-cased).
    pub os: Option<Source>,
    /// Device types (lower-cased).
    pub devices: Option<Source>,
    pub categories: Option<Source>,
    /// Caps; a cap whose value is missing or 0 (unlimited) is not kept.
    #[serde(default)]
    pub caps: Vec<CapSpec>,
    /// A date-time (RFC 3339, `YYYY-MM-DD HH:MM:SS`, a date or a Unix timestamp).
    pub expires_at: Option<Source>,
}

/// Payout rows: `rows` walks into the record, and each row becomes one payout.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutSpec {
    /// Levels of nested lists, e.g. `["goals", "payouts"]`; paths inside a row are relative to
    /// the innermost item, `^.` reaches one level up, `$.` the record.
    #[serde(default)]
    pub rows: Vec<Level>,
    /// The row's amount; a row without one is skipped, a non-number fails the offer.
    pub revenue: Source,
    pub goal_id: Option<Source>,
    pub goal_name: Option<Source>,
    /// Countries the row applies to; none = every country.
    pub countries: Option<Source>,
    /// Countries the row does not apply to ("everywhere except"); none = no exclusion.
    pub excluded_countries: Option<Source>,
    /// The row's payout type; default the offer's.
    pub payout_type: Option<Source>,
    /// The row's currency; default the offer's.
    pub currency: Option<Source>,
}

/// Caps: like payouts, each row gives one cap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapSpec {
    /// Levels of nested lists, as for payouts; none = the record itself.
    #[serde(default)]
    pub rows: Vec<Level>,
    /// conversions, clicks, payout or revenue (a cap with another word is skipped).
    pub event: Source,
    /// daily, weekly, monthly or total (a cap with another word is skipped).
    pub period: Source,
    /// The cap's value; missing, not a number or 0 = no cap.
    pub value: Source,
    pub goal: Option<Source>,
}

/// One level of `rows`: a path to a list (an object counts as one item). Written as a path,
/// or as `{"path": ..., "optional": true}` to keep the parent once, with a null item, when
/// the list is empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct Level {
    path: FieldPath,
    optional: bool,
}

impl TryFrom<Value> for Level {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Def {
            path: String,
            #[serde(default)]
            optional: bool,
        }
        let def = match v {
            Value::String(path) => Def { path, optional: false },
            other => serde_json::from_value(other).map_err(|e| format!("a rows level is a path or {{\"path\", \"optional\"}}: {e}"))?,
        };
        Ok(Self { path: FieldPath::parse(&def.path)?, optional: def.optional })
    }
}

/// Where a value comes from: a path (`"name"`), a list of paths (the first that gives a
/// non-empty value wins) or an object with `path`, `const`, `transform`, `map`, `default` and
/// `prefix`. Values are read, arrays flattened, empty values (null, `""`, `[]`, `{}`)
/// dropped, then transformed, mapped, and defaulted when nothing is left.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct Source {
    paths: Vec<FieldPath>,
    constant: Option<Value>,
    transforms: Vec<Transform>,
    map: Option<MapRef>,
    default: Option<Value>,
    prefix: Option<String>,
    /// The platform sends an array here: text instead fails the offer (it is not read as a
    /// one-item list).
    list: bool,
}

/// The object form of a [`Source`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceDef {
    /// A path or a list of paths; the first giving a non-empty value wins.
    #[serde(default)]
    path: Option<Value>,
    /// A constant, used when no path gives a value.
    #[serde(default, rename = "const")]
    constant: Option<Value>,
    /// Transforms applied in order: a name or a list of names.
    #[serde(default)]
    transform: Option<Value>,
    /// A value map: the name of one in `value_maps` (or a built-in), or an inline object.
    #[serde(default)]
    map: Option<MapRef>,
    /// The value when nothing is left after reading, transforming and mapping.
    #[serde(default)]
    default: Option<Value>,
    /// Text put before a non-empty text value (description labels).
    #[serde(default)]
    prefix: Option<String>,
    /// `true`: the platform sends an array at this path; text there fails the offer.
    #[serde(default)]
    list: bool,
}

impl TryFrom<Value> for Source {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        let def = match v {
            Value::String(_) | Value::Array(_) => {
                SourceDef { path: Some(v), constant: None, transform: None, map: None, default: None, prefix: None, list: false }
            }
            Value::Object(_) => serde_json::from_value(v).map_err(|e| format!("in a field mapping: {e}"))?,
            other => return Err(format!("a field mapping is a path, a list of paths or an object, not {}", kind_of(&other))),
        };
        let paths = strings(def.path, "path")?.iter().map(|p| FieldPath::parse(p)).collect::<Result<Vec<_>, _>>()?;
        let transforms = strings(def.transform, "transform")?
            .into_iter()
            .map(|t| serde_json::from_value(Value::String(t)).map_err(|e| format!("transform: {e}")))
            .collect::<Result<Vec<Transform>, _>>()?;
        if paths.is_empty() && def.constant.is_none() && def.default.is_none() {
            return Err("a field mapping needs 'path', 'const' or 'default'".into());
        }
        Ok(Self { paths, constant: def.constant, transforms, map: def.map, default: def.default, prefix: def.prefix, list: def.list })
    }
}

/// A string or a list of strings.
fn strings(v: Option<Value>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(format!("'{what}' lists strings, not {}", kind_of(&other))),
            })
            .collect(),
        Some(other) => Err(format!("'{what}' is a string or a list of strings, not {}", kind_of(&other))),
    }
}

/// A value map: named, or inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MapRef {
    Named(String),
    Inline(BTreeMap<String, Option<String>>),
}

/// A value transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// A number or numeric text (`"$2.50"`, `"1,200.00"`) as an exact decimal; other text
    /// fails the offer.
    Decimal,
    /// Split text on commas (trimmed, empty items dropped); arrays pass through.
    Csv,
    /// Split like `csv`, upper-casing ISO 3166-1 alpha-2 codes (`uk` -> `GB`); a word that is
    /// not a code is kept, so the country field rejects it by name rather than dropping it.
    Countries,
    /// HTML to plain text.
    HtmlText,
    /// Normalise OS names (`iPhone` -> `ios`, `Android` -> `android`).
    Os,
    /// A date-time as RFC 3339; zero and unreadable dates are dropped.
    Datetime,
    /// `1`/`0`, `"true"`/`"false"`, `"yes"`/`"no"` as a boolean; others are dropped.
    Bool,
    /// Replace all values by one boolean: whether any of them is non-empty.
    Nonempty,
}

impl Transform {
    fn apply(self, v: Value, out: &mut Vec<Value>) -> Result<(), String> {
        // Transforms read text: an object is the wrong shape, never "nothing".
        if v.is_object() && self != Transform::Nonempty {
            return Err(format!("{} is not text", kind_of(&v)));
        }
        let text = || lenient::string(&v);
        match self {
            Transform::Decimal => {
                let d = lenient::decimal(&v).ok_or_else(|| format!("'{}' is not a number", word_text(&v).unwrap_or_default()))?;
                out.push(Value::String(d.to_string()));
            }
            Transform::Csv => out.extend(lenient::csv(&v).into_iter().map(Value::String)),
            // Codes upper-cased; what is not a code is kept, for the field's check to name it.
            Transform::Countries => out.extend(lenient::csv(&v).into_iter().map(|t| Value::String(validate::country(&t).unwrap_or(t)))),
            Transform::HtmlText => out.extend(text().map(|t| Value::String(lenient::html_to_text(&t)))),
            Transform::Os => out.extend(text().map(|t| Value::String(lenient::os_name(&t)))),
            Transform::Datetime => out.extend(lenient::datetime(&v).map(|t| Value::String(t.to_rfc3339()))),
            Transform::Bool => out.extend(lenient::boolean(&v).map(Value::Bool)),
            Transform::Nonempty => out.push(Value::Bool(!is_empty(&v))),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Paths.

/// A path into a JSON value: a JSON pointer (`/data/count`), a dotted path (`payouts.0.payout`,
/// `goals.*.payouts`, `creatives.*[mime_type^=image/].full_url`), `@key` (the record's key in
/// an id-keyed object) or `""` (the value itself). `$.`/`$/` start at the record, `^.`/`^/` one
/// row level up (`^^.` two).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FieldPath {
    raw: String,
    start: Start,
    walk: Walk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Current,
    Up(usize),
    Record,
    Key,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Walk {
    Pointer(String),
    Steps(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    select: Select,
    filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Select {
    /// A key of an object, or an index of an array.
    Field(String),
    /// Every item of an array, every value of an object.
    All,
    /// The values as they are (a filter-only step).
    Here,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Filter {
    key: String,
    op: Op,
    value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Prefix,
}

impl TryFrom<String> for FieldPath {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        FieldPath::parse(&s)
    }
}

impl FieldPath {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let bad = |why: &str| format!("path '{raw}': {why}");
        if s == "@key" {
            return Ok(Self { raw: raw.into(), start: Start::Key, walk: Walk::Steps(vec![]) });
        }
        let (start, rest) = if let Some(rest) = s.strip_prefix('$') {
            (Start::Record, rest)
        } else if s.starts_with('^') {
            let ups = s.chars().take_while(|c| *c == '^').count();
            (Start::Up(ups), &s[ups..])
        } else {
            (Start::Current, s)
        };
        let walk = if rest.starts_with('/') {
            Walk::Pointer(rest.to_string())
        } else if rest.is_empty() {
            Walk::Steps(vec![])
        } else {
            let dotted = match start {
                Start::Current => rest,
                _ => rest.strip_prefix('.').ok_or_else(|| bad("'$' and '^' are followed by '.' or '/'"))?,
            };
            Walk::Steps(split_steps(dotted).map_err(|why| bad(&why))?)
        };
        Ok(Self { raw: raw.into(), start, walk })
    }

    /// The values at this path, from `scope`.
    fn resolve<'v>(&self, scope: &Scope<'v>) -> Vec<&'v Value> {
        let base = match self.start {
            Start::Key => return scope.key.into_iter().collect(),
            Start::Record => scope.chain[0],
            Start::Current => scope.chain[scope.chain.len() - 1],
            Start::Up(n) => match scope.chain.len().checked_sub(n + 1) {
                Some(i) => scope.chain[i],
                None => return vec![],
            },
        };
        match &self.walk {
            Walk::Pointer(p) => base.pointer(p).into_iter().collect(),
            Walk::Steps(steps) => steps.iter().fold(vec![base], |vals, step| step.apply(vals)),
        }
    }

    /// The first value at this path in a whole body.
    fn first<'v>(&self, body: &'v Value) -> Option<&'v Value> {
        self.resolve(&Scope::root(body, None)).into_iter().next()
    }
}

fn split_steps(dotted: &str) -> Result<Vec<Step>, String> {
    let mut segments = vec![];
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in dotted.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1).ok_or("unbalanced ']'")?,
            '.' if depth == 0 => {
                segments.push(&dotted[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '['".into());
    }
    segments.push(&dotted[start..]);
    segments.into_iter().map(parse_step).collect()
}

fn parse_step(segment: &str) -> Result<Step, String> {
    let (name, mut rest) = segment.split_at(segment.find('[').unwrap_or(segment.len()));
    let mut filters = vec![];
    while let Some(body) = rest.strip_prefix('[') {
        let close = body.find(']').ok_or("unclosed '['")?;
        filters.push(parse_filter(&body[..close])?);
        rest = &body[close + 1..];
    }
    if !rest.is_empty() {
        return Err(format!("unexpected '{rest}' after a filter"));
    }
    let select = match name {
        "" if filters.is_empty() => return Err("empty segment".into()),
        "" => Select::Here,
        "*" => Select::All,
        field => Select::Field(field.to_string()),
    };
    Ok(Step { select, filters })
}

fn parse_filter(f: &str) -> Result<Filter, String> {
    let (key, op, value) = if let Some((k, v)) = f.split_once("!=") {
        (k, Op::Ne, v)
    } else if let Some((k, v)) = f.split_once("^=") {
        (k, Op::Prefix, v)
    } else if let Some((k, v)) = f.split_once('=') {
        (k, Op::Eq, v)
    } else {
        return Err(format!("filter '[{f}]' needs '=', '!=' or '^='"));
    };
    if key.trim().is_empty() {
        return Err(format!("filter '[{f}]' has no key"));
    }
    Ok(Filter { key: key.trim().into(), op, value: value.trim().into() })
}

impl Step {
    fn apply<'v>(&self, vals: Vec<&'v Value>) -> Vec<&'v Value> {
        let selected: Vec<&'v Value> = match &self.select {
            Select::Here => vals,
            Select::All => vals.into_iter().flat_map(lenient::items).collect(),
            Select::Field(name) => vals
                .into_iter()
                .filter_map(|v| match v {
                    Value::Object(m) => m.get(name),
                    Value::Array(a) => name.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                })
                .collect(),
        };
        selected.into_iter().filter(|v| self.filters.iter().all(|f| f.matches(v))).collect()
    }
}

impl Filter {
    fn matches(&self, v: &Value) -> bool {
        let found = v.get(&self.key).and_then(word_text).map(|t| t.to_lowercase());
        let want = self.value.to_lowercase();
        match self.op {
            Op::Eq => found.is_some_and(|f| f == want),
            Op::Ne => found.is_none_or(|f| f != want),
            Op::Prefix => found.is_some_and(|f| f.starts_with(&want)),
        }
    }
}

/// Where paths are resolved: the record (its key, when records are id-keyed) and the rows
/// walked into it, innermost last.
#[derive(Debug, Clone)]
struct Scope<'v> {
    key: Option<&'v Value>,
    chain: Vec<&'v Value>,
}

impl<'v> Scope<'v> {
    fn root(record: &'v Value, key: Option<&'v Value>) -> Self {
        Self { key, chain: vec![record] }
    }

    fn child(&self, item: &'v Value) -> Self {
        let mut chain = self.chain.clone();
        chain.push(item);
        Self { key: self.key, chain }
    }

    /// The scopes of every row `levels` reach.
    /// The row scopes of `levels`; a row that is text or a number (text where the platform
    /// sends a list of rows) is an error, not a row that reads as empty.
    fn rows(&self, levels: &[Level], field: &str) -> Result<Vec<Scope<'v>>, String> {
        static NULL: Value = Value::Null;
        let mut scopes = vec![self.clone()];
        for level in levels {
            let mut next = vec![];
            for scope in &scopes {
                let items: Vec<&'v Value> = level.path.resolve(scope).into_iter().flat_map(rows).collect();
                if let Some(bad) = items.iter().find(|i| !i.is_object() && !i.is_array()) {
                    return Err(format!("{field}: {} is not a row", kind_of(bad)));
                }
                if items.is_empty() && level.optional {
                    next.push(scope.child(&NULL));
                }
                next.extend(items.into_iter().map(|item| scope.child(item)));
            }
            scopes = next;
        }
        Ok(scopes)
    }
}

// ---------------------------------------------------------------------------------------------
// The engine.

/// A connector run from a [`Spec`].
pub struct SpecConnector {
    spec: Spec,
    info: ConnectorInfo,
}

impl SpecConnector {
    pub fn new(spec: Spec) -> Self {
        let mut credential_fields: Vec<CredentialField> = spec
            .credential_fields
            .iter()
            .map(|c| CredentialField {
                name: intern(&c.name),
                label: intern(&c.label),
                required: c.required,
                secret: c.secret,
                help: intern(&c.help),
            })
            .collect();
        if !credential_fields.iter().any(|c| c.name == "api_url") {
            credential_fields.push(api_url_field(&spec.request.base_url));
        }
        let info = ConnectorInfo {
            id: spec.id.clone(),
            display_name: spec.display_name.clone(),
            kind: "declarative",
            credential_fields,
            paging: spec.paging.style.into(),
            default_page_size: spec.paging.page_size,
            rate_limit_requests: spec.rate_limit.requests,
            rate_limit_per: Duration::from_secs(spec.rate_limit.per_seconds),
            approved_only: spec.approved_only,
            docs_url: spec.docs_url.clone(),
        };
        Self { spec, info }
    }

    /// The first matching error rule, as (kind, message).
    fn error_in(&self, body: &Value) -> Option<(ErrorKind, String)> {
        let root = Scope::root(body, None);
        let message = self.spec.error_message.iter().find_map(|p| p.resolve(&root).into_iter().find_map(word_text));
        self.spec.errors.iter().find_map(|rule| {
            let value = rule.path.resolve(&root).into_iter().find(|v| !v.is_null())?;
            let text = word_text(value).unwrap_or_default().to_lowercase();
            let is = |list: &[Value]| list.iter().filter_map(word_text).any(|w| w.to_lowercase() == text);
            let msg = message.clone().unwrap_or_else(|| format!("{} is {text}", rule.path.raw));
            let lower = msg.to_lowercase();
            let fires = (rule.equals.is_empty() || is(&rule.equals))
                && (rule.not_equals.is_empty() || !is(&rule.not_equals))
                && (rule.message_contains.is_empty() || rule.message_contains.iter().any(|w| lower.contains(&w.to_lowercase())));
            fires.then_some((rule.kind, msg))
        })
    }

    fn values(&self, src: &Source, scope: &Scope<'_>) -> Result<Vec<Value>, String> {
        let mut vals: Vec<Value> = vec![];
        for path in &src.paths {
            let raw = path.resolve(scope);
            if src.list
                && let Some(bad) = raw.iter().find(|v| !v.is_array() && !is_empty(v))
            {
                return Err(format!("{} is not a list", kind_of(bad)));
            }
            let found = flatten(raw);
            if found.iter().any(|v| !is_empty(v)) {
                vals = found;
                break;
            }
        }
        if vals.is_empty()
            && let Some(c) = &src.constant
        {
            vals = flatten(vec![c]);
        }
        for t in &src.transforms {
            let mut next = vec![];
            if *t == Transform::Nonempty {
                next.push(Value::Bool(vals.iter().any(|v| !is_empty(v))));
            } else {
                for v in vals.into_iter().filter(|v| !is_empty(v)) {
                    t.apply(v, &mut next)?;
                }
            }
            vals = next;
        }
        vals.retain(|v| !is_empty(v));
        if let Some(map) = &src.map {
            vals = vals.into_iter().filter_map(|v| self.map_value(map, v)).collect();
        }
        if vals.is_empty()
            && let Some(d) = &src.default
        {
            vals = flatten(vec![d]);
        }
        Ok(vals)
    }

    /// A value through a map: mapped, dropped (`null`) or passed through.
    fn map_value(&self, map: &MapRef, v: Value) -> Option<Value> {
        let Some(key) = word_text(&v) else { return Some(v) };
        let hit = match map {
            MapRef::Inline(m) => find_word(m.iter().map(|(k, v)| (k.as_str(), v.as_deref())), &key),
            MapRef::Named(name) => self
                .spec
                .value_maps
                .get(name)
                .and_then(|m| find_word(m.iter().map(|(k, v)| (k.as_str(), v.as_deref())), &key))
                .or_else(|| builtin_map(name).and_then(|m| find_word(m.iter().copied(), &key))),
        };
        match hit {
            Some(Some(to)) => Some(Value::String(to.to_string())),
            Some(None) => None,
            None => Some(v),
        }
    }

    fn text(&self, src: Option<&Source>, scope: &Scope<'_>, field: &str) -> Result<Option<String>, String> {
        let Some(src) = src else { return Ok(None) };
        let vals = self.values(src, scope).map_err(|e| format!("{field}: {e}"))?;
        not_objects(&vals, field, "text")?;
        Ok(vals.iter().find_map(word_text).map(|t| format!("{}{t}", src.prefix.as_deref().unwrap_or_default())))
    }

    fn word<T: DeserializeOwned>(&self, src: Option<&Source>, scope: &Scope<'_>, field: &str) -> Result<Option<T>, String> {
        Ok(self.text(src, scope, field)?.and_then(|w| from_word(&w)))
    }

    fn list(&self, src: Option<&Source>, scope: &Scope<'_>, field: &str) -> Result<Vec<String>, String> {
        let Some(src) = src else { return Ok(vec![]) };
        let vals = self.values(src, scope).map_err(|e| format!("{field}: {e}"))?;
        not_objects(&vals, field, "a list of text")?;
        Ok(unique(vals.iter().filter_map(word_text)))
    }

    /// A country list: each value read by [`lenient::country_words`] (a string, an array, an
    /// object with a `code`/`country_code`), then checked by [`lenient::countries`].
    fn countries(&self, src: Option<&Source>, scope: &Scope<'_>, field: &str, role: CountryList) -> Result<Vec<String>, String> {
        let Some(src) = src else { return Ok(vec![]) };
        let mut words = vec![];
        for v in self.values(src, scope).map_err(|e| format!("{field}: {e}"))? {
            words.extend(lenient::country_words(&v, &["code", "country_code"], field)?);
        }
        lenient::countries(field, role, words)
    }

    /// An ISO 4217 code; other text fails the offer (it never falls back to another currency).
    fn currency(&self, src: Option<&Source>, scope: &Scope<'_>, field: &str) -> Result<Option<String>, String> {
        match self.text(src, scope, field)? {
            Some(c) => validate::currency(&c).map(Some).ok_or_else(|| format!("{field}: '{c}' is not an ISO 4217 code")),
            None => Ok(None),
        }
    }

    fn decimal(&self, src: &Source, scope: &Scope<'_>, field: &str) -> Result<Option<Decimal>, String> {
        let vals = self.values(src, scope).map_err(|e| format!("{field}: {e}"))?;
        match vals.first() {
            None => Ok(None),
            Some(v) => {
                lenient::decimal(v).map(Some).ok_or_else(|| format!("{field}: '{}' is not a number", word_text(v).unwrap_or_default()))
            }
        }
    }

    fn offer(&self, key: Option<&Value>, record: &Value) -> Result<CanonicalOffer, InvalidOffer> {
        let scope = Scope::root(record, key);
        let f = &self.spec.fields;
        let id = self.text(Some(&f.external_id), &scope, "external_id").ok().flatten().or_else(|| key.and_then(word_text));
        let fail = |reason: String| InvalidOffer { external_id: id.clone(), reason };
        if !record.is_object() {
            return Err(fail(format!("the record is {}, expected an object", kind_of(record))));
        }
        self.build(&scope).map_err(fail)
    }

    fn build(&self, scope: &Scope<'_>) -> Result<CanonicalOffer, String> {
        let f = &self.spec.fields;
        let external_id = self.text(Some(&f.external_id), scope, "external_id")?.ok_or("no external id")?;
        let name = self.text(Some(&f.name), scope, "name")?.ok_or("no name")?;
        let mut o = CanonicalOffer::new(external_id, name);
        let mut parts = vec![];
        for part in &f.description {
            parts.push(("", self.text(Some(part), scope, "description")?));
        }
        (o.description_html, o.description_text) = describe(parts);
        o.preview_url = self.text(f.preview_url.as_ref(), scope, "preview_url")?;
        o.tracking_url = self.text(f.tracking_url.as_ref(), scope, "tracking_url")?;
        o.impression_url = self.text(f.impression_url.as_ref(), scope, "impression_url")?;
        o.thumbnail_url = self.text(f.thumbnail_url.as_ref(), scope, "thumbnail_url")?;
        o.approval = self.word(f.approval.as_ref(), scope, "approval")?.unwrap_or(Approval::Unknown);
        o.status = self.word(f.status.as_ref(), scope, "status")?.unwrap_or(UpstreamStatus::Unknown);
        o.payout_type = self.word(f.payout_type.as_ref(), scope, "payout_type")?.unwrap_or(PayoutType::Fixed);
        o.model = self.word(f.model.as_ref(), scope, "model")?;
        o.currency = self.currency(f.currency.as_ref(), scope, "currency")?;
        o.revenue = self.decimal(&f.revenue, scope, "revenue")?.ok_or("no revenue")?;
        for p in &f.payouts {
            for row in scope.rows(&p.rows, "payouts")? {
                let Some(revenue) = self.decimal(&p.revenue, &row, "payouts.revenue")? else { continue };
                o.payouts.push(GoalPayout {
                    excluded_countries: self.countries(
                        p.excluded_countries.as_ref(),
                        &row,
                        "payouts.excluded_countries",
                        CountryList::Exact,
                    )?,
                    goal_id: self.text(p.goal_id.as_ref(), &row, "payouts.goal_id")?,
                    goal_name: self.text(p.goal_name.as_ref(), &row, "payouts.goal_name")?,
                    countries: self.countries(p.countries.as_ref(), &row, "payouts.countries", CountryList::Exact)?,
                    revenue,
                    payout_type: self.word(p.payout_type.as_ref(), &row, "payouts.payout_type")?.unwrap_or(o.payout_type),
                    currency: self.currency(p.currency.as_ref(), &row, "payouts.currency")?.or(o.currency.clone()),
                });
            }
        }
        o.countries = self.countries(f.countries.as_ref(), scope, "countries", CountryList::Allow)?;
        o.blocked_countries = self.countries(f.blocked_countries.as_ref(), scope, "blocked_countries", CountryList::Exact)?;
        o.os = unique(self.list(f.os.as_ref(), scope, "os")?.iter().map(|s| s.to_lowercase()));
        o.devices = unique(self.list(f.devices.as_ref(), scope, "devices")?.iter().map(|s| s.to_lowercase()));
        o.categories = self.list(f.categories.as_ref(), scope, "categories")?;
        for c in &f.caps {
            for row in scope.rows(&c.rows, "caps")? {
                push_cap(
                    &mut o.caps,
                    self.word(Some(&c.event), &row, "caps.event")?,
                    self.word(Some(&c.period), &row, "caps.period")?,
                    self.decimal(&c.value, &row, "caps.value").ok().flatten(),
                    self.text(c.goal.as_ref(), &row, "caps.goal")?,
                );
            }
        }
        if let Some(src) = &f.expires_at {
            let vals = self.values(src, scope).map_err(|e| format!("expires_at: {e}"))?;
            not_objects(&vals, "expires_at", "a date")?;
            o.expires_at = vals.iter().find_map(lenient::datetime);
        }
        o.raw = scope.chain[0].clone();
        Ok(o)
    }
}

impl Spec {
    /// Parses and checks a spec; errors name `origin` (the file).
    pub fn parse(origin: &str, text: &str) -> Result<Spec, FetchError> {
        let spec: Spec = serde_json::from_str(text).map_err(|e| FetchError::Config(format!("spec '{origin}': {e}")))?;
        spec.check().map_err(|e| FetchError::Config(format!("spec '{origin}': {e}")))?;
        Ok(spec)
    }

    /// Checks what a spec refers to: credential fields in templates and auth, value maps, and
    /// what its paging style needs.
    fn check(&self) -> Result<(), String> {
        let spec = self;
        if spec.id.trim().is_empty() {
            return Err("'id' is empty".into());
        }
        if NATIVE.contains(&spec.id.as_str()) {
            return Err(format!("id '{}' is a native connector's", spec.id));
        }
        let declared: BTreeSet<&str> = spec.credential_fields.iter().map(|c| c.name.as_str()).chain(["api_url"]).collect();
        let known = |field: &str, place: &str| {
            if declared.contains(field) { Ok(()) } else { Err(format!("{place} uses '{field}', which is not in 'credential_fields'")) }
        };
        let r = &spec.request;
        let templates = [("request.base_url", &r.base_url), ("request.path", &r.path)]
            .into_iter()
            .map(|(place, t)| (place.to_string(), t))
            .chain(r.query.iter().map(|(k, v)| (format!("request.query.{k}"), v)))
            .chain(r.headers.iter().map(|(k, v)| (format!("request.headers.{k}"), v)));
        for (place, template) in templates {
            fill(template, |name| known(name, &place).map(|()| Some(String::new())))?;
        }
        for auth in &r.auth {
            match auth {
                AuthSpec::Query { field, .. } | AuthSpec::Header { field, .. } => known(field, "request.auth")?,
                AuthSpec::Basic { user_field, password_field } => {
                    known(user_field, "request.auth")?;
                    known(password_field, "request.auth")?;
                }
            }
        }
        let p = &spec.paging;
        let need = |ok: bool, what: &str| if ok { Ok(()) } else { Err(format!("paging style {:?} needs {what}", p.style)) };
        match p.style {
            PagingKind::PageTotal => {
                need(p.total_records.is_some() || p.total_records_header.is_some(), "'total_records' or 'total_records_header'")?
            }
            PagingKind::PageCount => {
                need(p.total_pages.is_some() || p.total_pages_header.is_some(), "'total_pages' or 'total_pages_header'")?
            }
            PagingKind::HeaderTotals => {
                need(p.total_records_header.is_some() || p.total_pages_header.is_some(), "'total_records_header' or 'total_pages_header'")?
            }
            PagingKind::RowOffset => need(p.offset_param.is_some(), "'offset_param'")?,
            PagingKind::UntilShortPage => {}
        }
        if p.style != PagingKind::RowOffset && p.page_param.is_none() {
            return Err("paging needs 'page_param'".into());
        }
        if p.first_page > 1 || p.first_offset > 1 || p.page_size == 0 {
            return Err("paging: 'first_page' and 'first_offset' are 0 or 1, 'page_size' is above 0".into());
        }
        for src in spec.fields.sources() {
            if let Some(MapRef::Named(name)) = &src.map
                && !spec.value_maps.contains_key(name)
                && builtin_map(name).is_none()
            {
                return Err(format!("value map '{name}' is not defined in 'value_maps' and is not built in"));
            }
        }
        Ok(())
    }
}

impl FieldsSpec {
    fn sources(&self) -> Vec<&Source> {
        let mut out: Vec<&Source> = vec![&self.external_id, &self.name, &self.revenue];
        out.extend(&self.description);
        out.extend(
            [
                &self.preview_url,
                &self.tracking_url,
                &self.impression_url,
                &self.thumbnail_url,
                &self.approval,
                &self.status,
                &self.payout_type,
                &self.model,
                &self.currency,
                &self.countries,
                &self.blocked_countries,
                &self.os,
                &self.devices,
                &self.categories,
                &self.expires_at,
            ]
            .into_iter()
            .flatten(),
        );
        for p in &self.payouts {
            out.push(&p.revenue);
            out.extend([&p.goal_id, &p.goal_name, &p.countries, &p.payout_type, &p.currency].into_iter().flatten());
        }
        for c in &self.caps {
            out.extend([&c.event, &c.period, &c.value]);
            out.extend(&c.goal);
        }
        out
    }
}

impl From<PagingKind> for PagingStyle {
    fn from(k: PagingKind) -> Self {
        match k {
            PagingKind::PageTotal => PagingStyle::PageTotal,
            PagingKind::PageCount => PagingStyle::PageCount,
            PagingKind::UntilShortPage => PagingStyle::UntilShortPage,
            PagingKind::RowOffset => PagingStyle::RowOffset,
            PagingKind::HeaderTotals => PagingStyle::HeaderTotals,
        }
    }
}

impl Connector for SpecConnector {
    fn info(&self) -> &ConnectorInfo {
        &self.info
    }

    fn page_request(&self, creds: &Credentials, cursor: Cursor) -> Result<PageRequest, FetchError> {
        let r = &self.spec.request;
        let value = |name: &str| required(creds, name).map(|v| Some(v.to_string()));
        let has_api_url = creds.get("api_url").is_some_and(|u| !u.trim().is_empty());
        let default = if has_api_url { r.base_url.clone() } else { fill(&r.base_url, value)? };
        let mut url = append_path(base_url(creds, &default)?, &fill(&r.path, value)?)?;
        let mut headers = vec![];
        let mut basic_auth = None;
        {
            let mut q = url.query_pairs_mut();
            for auth in &r.auth {
                match auth {
                    AuthSpec::Query { name, field } => {
                        q.append_pair(name, required(creds, field)?);
                    }
                    AuthSpec::Header { name, field, prefix } => {
                        headers.push((name.clone(), format!("{prefix}{}", required(creds, field)?)))
                    }
                    AuthSpec::Basic { user_field, password_field } => {
                        basic_auth = Some((required(creds, user_field)?.to_string(), required(creds, password_field)?.to_string()));
                    }
                }
            }
            for (k, v) in &r.query {
                q.append_pair(k, &fill(v, value)?);
            }
            let p = &self.spec.paging;
            let index = u64::from(cursor.page.saturating_sub(1));
            if let Some(name) = &p.page_param {
                q.append_pair(name, &(index + u64::from(p.first_page)).to_string());
            }
            if let Some(name) = &p.offset_param {
                q.append_pair(name, &(index * u64::from(cursor.page_size) + p.first_offset).to_string());
            }
            if let Some(name) = &p.limit_param {
                q.append_pair(name, &cursor.page_size.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        for (k, v) in &r.headers {
            headers.push((k.clone(), fill(v, value)?));
        }
        Ok(PageRequest { url, headers, basic_auth })
    }

    fn parse_page(&self, _creds: &Credentials, resp: &RawResponse) -> Result<Page, FetchError> {
        let id = &self.spec.id;
        let body = body::json(id, &resp.body)?;
        if !(body.is_object() || body.is_array()) {
            return Err(FetchError::InvalidPayload(format!("{id}: expected a JSON object, got {}", kind_of(&body))));
        }
        if let Some((kind, msg)) = self.error_in(&body) {
            return match kind {
                ErrorKind::Empty => Ok(Page::default()),
                ErrorKind::Unauthorized => Err(FetchError::Unauthorized(msg)),
                ErrorKind::RateLimited => Err(FetchError::RateLimited { retry_after: scaffold::retry_after(&resp.headers), message: msg }),
                ErrorKind::Transient => Err(FetchError::Transient(msg)),
                ErrorKind::NotFound => Err(FetchError::NotFound(msg)),
                ErrorKind::Invalid => Err(FetchError::InvalidPayload(format!("{id}: {msg}"))),
            };
        }
        let keys: Vec<Value>;
        let records: Vec<(Option<&Value>, &Value)> = match self.spec.records.first(&body) {
            // A list where the spec expects an object holding the records is not an empty page.
            None if body.is_array() => {
                return Err(FetchError::InvalidPayload(format!(
                    "{id}: expected a JSON object with the records at '{}', got an array",
                    self.spec.records.raw
                )));
            }
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) if s.trim().is_empty() => vec![],
            Some(Value::Array(items)) => items.iter().map(|r| (None, r)).collect(),
            Some(Value::Object(map)) => {
                keys = map.keys().map(|k| Value::String(k.clone())).collect();
                keys.iter().zip(map.values()).map(|(k, r)| (Some(k), r)).collect()
            }
            Some(other) => {
                return Err(FetchError::InvalidPayload(format!(
                    "{id}: records at '{}' are {}, expected an array or an object keyed by id",
                    self.spec.records.raw,
                    kind_of(other)
                )));
            }
        };
        let p = &self.spec.paging;
        let count = |path: &Option<FieldPath>, header_name: &Option<String>| {
            path.as_ref()
                .and_then(|p| p.first(&body))
                .and_then(lenient::decimal)
                .or_else(|| header_name.as_ref().and_then(|h| body::header(resp, h)).and_then(lenient::decimal_str))
                .and_then(|d| u64::try_from(d.trunc()).ok())
        };
        Ok(Page {
            records: records.len(),
            total_records: count(&p.total_records, &p.total_records_header),
            total_pages: count(&p.total_pages, &p.total_pages_header).map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
            has_more: p.has_more.as_ref().and_then(|h| h.first(&body)).and_then(lenient::boolean),
            offers: records.into_iter().map(|(key, record)| self.offer(key, record)).collect(),
            unchanged: vec![],
            now: None,
        })
    }

    fn classify_status(&self, resp: &RawResponse) -> Option<FetchError> {
        let body = body::json(&self.spec.id, &resp.body).ok()?;
        match self.error_in(&body)? {
            (ErrorKind::Unauthorized, msg) => Some(FetchError::Unauthorized(msg)),
            (ErrorKind::RateLimited, msg) => {
                Some(FetchError::RateLimited { retry_after: scaffold::retry_after(&resp.headers), message: msg })
            }
            _ => None,
        }
    }
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn hundred() -> u32 {
    100
}

/// A `'static` copy of `s`, shared by every spec that uses the same text. Credential fields
/// are `&'static str` in [`CredentialField`]; interning keeps repeated loads from leaking.
fn intern(s: &str) -> &'static str {
    static TABLE: OnceLock<Mutex<BTreeSet<&'static str>>> = OnceLock::new();
    let mut table = TABLE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = table.get(s) {
        return hit;
    }
    let leaked: &'static str = Box::leak(s.to_string().into_boxed_str());
    table.insert(leaked);
    leaked
}

fn api_url_field(default: &str) -> CredentialField {
    CredentialField {
        name: "api_url",
        label: "API URL",
        required: false,
        secret: false,
        help: intern(&format!("Only for white-label hosts; default {default}")),
    }
}

/// Values with arrays (at any depth) replaced by their items.
fn flatten(vals: Vec<&Value>) -> Vec<Value> {
    let mut out = vec![];
    let mut stack: Vec<&Value> = vals.into_iter().rev().collect();
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            v => out.push(v.clone()),
        }
    }
    out
}

/// The built-in value maps, by name. Unlisted words pass through unchanged.
fn builtin_map(name: &str) -> Option<&'static [(&'static str, Option<&'static str>)]> {
    match name {
        "statuses" => Some(lenient::STATUS_WORDS),
        "approvals" => Some(lenient::APPROVAL_WORDS),
        "payout_types" => Some(lenient::PAYOUT_TYPE_WORDS),
        "models" => Some(lenient::MODEL_WORDS),
        "cap_events" => Some(lenient::CAP_EVENT_WORDS),
        "cap_periods" => Some(lenient::CAP_PERIOD_WORDS),
        _ => None,
    }
}

/// A field read as text (or a list of text) whose path found an object: the platform sent the
/// wrong shape, which fails the offer instead of reading as absent (that would erase a value).
fn not_objects(vals: &[Value], field: &str, want: &str) -> Result<(), String> {
    match vals.iter().find(|v| v.is_object()) {
        Some(v) => Err(format!("{field}: {} is not {want}", kind_of(v))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use serde_json::json;

    use domain::model::{CapEvent, CapPeriod, OfferModel};

    use super::*;
    use crate::connectors::{
        body::looks_like_html,
        lenient::{cap_event_word, cap_period_word, model_word, payout_type_word, status_word},
        offer18::Offer18,
        trackier::Trackier,
    };

    fn response(status: u16, body: &str) -> RawResponse {
        RawResponse { status, headers: Default::default(), body: bytes::Bytes::from(body.to_string()) }
    }

    fn creds(pairs: &[(&str, &str)]) -> Credentials {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn built_in(id: &str) -> Arc<dyn Connector> {
        let specs = load(None).expect("built-in specs load");
        specs.into_iter().find(|c| c.info().id == id).expect("spec present")
    }

    /// Parses `body` with both connectors and asserts the same outcome: the same pages, the
    /// same canonical offers (`raw` included), the same invalid offers, or the same error.
    fn assert_same(native: &dyn Connector, spec: &dyn Connector, body: &str) {
        let (n, s) =
            (native.parse_page(&Credentials::new(), &response(200, body)), spec.parse_page(&Credentials::new(), &response(200, body)));
        match (n, s) {
            (Ok(n), Ok(s)) => {
                assert_eq!(
                    (n.records, n.total_records, n.total_pages, n.has_more),
                    (s.records, s.total_records, s.total_pages, s.has_more)
                );
                assert_eq!(n.offers.len(), s.offers.len());
                for (a, b) in n.offers.iter().zip(&s.offers) {
                    match (a, b) {
                        (Ok(a), Ok(b)) => assert_eq!(a, b),
                        (Err(a), Err(b)) => assert_eq!(a.external_id, b.external_id, "{} / {}", a.reason, b.reason),
                        (a, b) => panic!("native {a:?}\nspec {b:?}"),
                    }
                }
            }
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "native {a} / spec {b}"),
            (a, b) => panic!("native {a:?}\nspec {b:?}"),
        }
    }

    const OFFER18_RICH: &str = r#"{"response": "200", "data": {
        "7": {"offerid": "7", "name": " Shop ", "price": "12.5", "model": "RevShare", "currency": "eur", "authorized": "true",
              "click_url": "https://trk.example/c?o=7&a=55", "status": "paused", "offer_terms": "<p>Buy &amp; save</p>", "offer_kpi": "No fraud",
              "os_allow": "Android, iOS,all", "device_allow": "Mobile, All", "country_allow": "us, ca ,xx", "country_block": "uk",
              "category": "shopping, retail , shopping", "logo": "https://cdn/l.png", "date_end": "2030-01-01",
              "capping": [{"rule_type": "affiliate_capping", "event": "sale", "type": "approved_conversions", "period": "lifetime", "value": "5"},
                          {"type": "gross_conversions", "period": "hourly", "value": 3}],
              "capping_conversion": "50", "capping_conversion_period": "monthly", "capping_budget": "100.5", "capping_budget_period": "week",
              "payout": [{"payout": "10.00", "currency": "USD", "model": "CPA", "condition": [
                            [{"field": "event", "operator_type": "is_equal", "value": "sale"}, {"field": "country", "operator_type": "is_equal", "value": "US, CA"}],
                            [{"field": "country", "operator_type": "is_equal", "value": ["DE"]}, {"field": "country", "operator_type": "is_not_equal", "value": "FR"}]]},
                         {"payout": "7", "condition": []}, {"currency": "USD"}]},
        "8": {"name": "Keyed by id only", "price": 1, "authorized": "", "status": "weird"},
        "9": {"offerid": "9", "name": "Bad price", "price": "free"},
        "10": {"offerid": "10", "name": "Bad row", "price": 1, "payout": [{"payout": "abc"}]},
        "11": "not an object"
    }}"#;

    const TRACKIER_RICH: &str = r#"{"success": true, "data": {"page": 2, "count": 7, "campaigns": [
        {"id": "abc", "title": " Shop ", "model": "cps", "currency": null, "tracking_link": "", "description": "<p>Buy &amp; save</p>", "kpi": "No fraud",
         "status": "live", "categories": ["Shopping", "Shopping"], "os": ["iPhone", "all"], "device": ["Desktop", "all"],
         "creatives": [{"mime_type": "video/mp4", "full_url": "https://cdn/v.mp4"}, {"mime_type": "IMAGE/png", "full_url": "https://cdn/i.png"}],
         "impressionUrl": "https://demo.trackier.net/imp?campaign_id=20931&pub_id=31", "defaultGoal": "Sale",
         "payouts": [{"payout": "12.5", "geo": ["de", "uk"]}, {"payout": 11}],
         "goals": [{"id": "g1", "title": "Upsell", "payout_model": "fixed", "payouts": [{"payout": 3, "geo": []}]},
                   {"id": "g2", "title": "Lead", "payouts": [{"payout": "1.5"}]}, {"id": "g3", "title": "Empty"}],
         "cap": {"type": "click", "daily": "10", "weekly": 0, "monthly": 0, "lifetime": 900}},
        {"id": 19, "title": "EUR", "currency": "eur", "model": "cpa", "tracking_link": "https://t/19", "payouts": [{"payout": "2"}], "cap": {"daily": 4}},
        {"id": 20, "title": "Bad", "payouts": [{"payout": "n/a"}]},
        {"title": "No id", "payouts": [{"payout": 1}]},
        7
    ]}}"#;

    #[test]
    fn offer18_spec_reads_every_fixture_exactly_like_the_native_connector() {
        let (native, spec) = (Offer18::new(), built_in("offer18-spec"));
        for body in [
            include_str!("../../fixtures/offer18/offers_docs_example_truncated.json"),
            include_str!("../../fixtures/offer18/offers_real_older_api.json"),
            include_str!("../../fixtures/offer18/error_400_invalid_key_synthetic.json"),
            include_str!("../../fixtures/offer18/error_400_no_offers_synthetic.json"),
            OFFER18_RICH,
            r#"{"response": "401", "error": "x"}"#,
            r#"{"response": "429"}"#,
            r#"{"response": "503"}"#,
            r#"{"response": "400", "error": "unknown filter"}"#,
            r#"{"response": "200", "data": ""}"#,
        ] {
            assert_same(&native, spec.as_ref(), body);
        }
        // The rich record really exercises the mapping (not two empty pages).
        let page = spec.parse_page(&Credentials::new(), &response(200, OFFER18_RICH)).expect("page");
        let o = page.offers.iter().flatten().find(|o| o.external_id == "7").expect("offer 7");
        assert_eq!((o.payouts.len(), o.caps.len()), (3, 3));
        assert_eq!(o.os, ["android", "ios"]);
        assert!(page.offers.iter().flatten().any(|o| o.external_id == "8"), "the map key stands in for a missing offerid");
        let err = spec
            .parse_page(&Credentials::new(), &response(200, include_str!("../../fixtures/offer18/error_400_invalid_key_synthetic.json")));
        assert_eq!(err.err(), Some(FetchError::Unauthorized("Invalid API key".into())));
    }

    #[test]
    fn trackier_spec_reads_every_fixture_exactly_like_the_native_connector() {
        let (native, spec) = (Trackier::new(), built_in("trackier-spec"));
        for body in [
            include_str!("../../fixtures/trackier/campaigns_assembled_from_spec_examples.json"),
            include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code13.json"),
            include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code102.json"),
            TRACKIER_RICH,
            r#"{"success": true, "data": {"count": 0, "campaigns": null}}"#,
        ] {
            assert_same(&native, spec.as_ref(), body);
        }
        for body in [
            include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code13.json"),
            include_str!("../../fixtures/trackier/auth_error_invalid_api_key_code102.json"),
        ] {
            let resp = response(400, body);
            assert_eq!(native.classify_status(&resp), spec.classify_status(&resp));
            assert!(matches!(spec.parse_page(&Credentials::new(), &response(200, body)), Err(FetchError::Unauthorized(_))));
        }
        let page = spec.parse_page(&Credentials::new(), &response(200, TRACKIER_RICH)).expect("page");
        let o = page.offers[0].as_ref().expect("offer");
        assert_eq!((o.payouts.len(), o.caps.len(), o.thumbnail_url.as_deref()), (4, 2, Some("https://cdn/i.png")));
    }

    #[test]
    fn spec_requests_match_the_native_ones() {
        let cursor = Cursor { page: 4, page_size: 250 };
        let pairs = |r: &PageRequest| r.url.query_pairs().into_owned().collect::<BTreeSet<(String, String)>>();
        for (native, spec, c) in [
            (Box::new(Offer18::new()) as Box<dyn Connector>, built_in("offer18-spec"), creds(&[("key", "k"), ("aid", "1"), ("mid", "2")])),
            (Box::new(Trackier::new()), built_in("trackier-spec"), creds(&[("api_key", "k"), ("api_url", "http://127.0.0.1:8080/")])),
        ] {
            let (a, b) = (native.page_request(&c, cursor).expect("native"), spec.page_request(&c, cursor).expect("spec"));
            assert_eq!((a.url.origin(), a.url.path()), (b.url.origin(), b.url.path()));
            assert_eq!(pairs(&a), pairs(&b));
            assert_eq!((a.headers, a.basic_auth), (b.headers, b.basic_auth));
        }
    }

    #[test]
    fn built_in_specs_are_in_the_catalog_as_declarative() {
        let specs = load(None).expect("load");
        let ids: Vec<&str> = specs.iter().map(|s| s.info().id.as_str()).collect();
        assert_eq!(ids, ["offer18-spec", "trackier-spec"]);
        let info = built_in("trackier-spec").info().clone();
        assert_eq!(
            (info.kind, info.paging, info.default_page_size, info.rate_limit_requests),
            ("declarative", PagingStyle::PageTotal, 500, 5)
        );
        let fields: Vec<(&str, bool, bool)> = info.credential_fields.iter().map(|f| (f.name, f.required, f.secret)).collect();
        assert_eq!(fields, [("api_key", true, true), ("api_url", false, false)]);
        let all = crate::connectors::all(&specs);
        assert!(crate::connectors::by_id("offer18-spec", &specs).is_ok() && all.len() == NATIVE.len() + 2);
    }

    const CUSTOM: &str = r#"{
        "id": "acme", "display_name": "Acme",
        "credential_fields": [{"name": "network", "label": "Network"}, {"name": "user", "label": "User"}, {"name": "password", "label": "Password", "secret": true}],
        "request": {"base_url": "https://{network}.acme.example/api", "path": "/v3/offers", "auth": [{"type": "basic", "user_field": "user", "password_field": "password"},
                    {"type": "header", "name": "Authorization-Extra", "field": "user", "prefix": "User "}], "query": {"format": "json", "net": "{network}"},
                    "headers": {"Accept": "application/json"}},
        "paging": {"style": "header_totals", "offset_param": "skip", "limit_param": "take", "page_param": "p", "first_page": 0, "page_size": 20,
                   "total_records_header": "X-Total-Count", "total_pages_header": "X-Page-Count", "has_more": "meta.more"},
        "records": "",
        "fields": {"external_id": "$/id", "name": {"path": ["title", "name"], "default": "untitled"}, "revenue": {"path": "amount", "transform": "decimal"},
                   "expires_at": {"path": "ends", "transform": "datetime"}, "description": [{"path": "html", "transform": "html_text"}],
                   "approval": {"path": "state", "map": "approvals"}}
    }"#;

    #[test]
    fn a_spec_directory_adds_connectors_with_basic_auth_templates_and_header_totals() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("acme.json"), CUSTOM).expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a spec").expect("write");
        let specs = load(Some(dir.path())).expect("load");
        let acme = specs.iter().find(|s| s.info().id == "acme").expect("acme");
        let c = creds(&[("network", "n1"), ("user", "u"), ("password", "p")]);
        let req = acme.page_request(&c, Cursor { page: 3, page_size: 20 }).expect("request");
        assert_eq!(req.url.as_str(), "https://n1.acme.example/api/v3/offers?format=json&net=n1&p=2&skip=40&take=20");
        assert_eq!(req.basic_auth, Some(("u".into(), "p".into())));
        assert_eq!(
            req.headers,
            [("Authorization-Extra".to_string(), "User u".to_string()), ("Accept".to_string(), "application/json".to_string())]
        );
        let mut with_url = c.clone();
        with_url.insert("api_url".into(), "http://127.0.0.1:3000".into());
        with_url.remove("network");
        assert!(acme.page_request(&with_url, Cursor { page: 1, page_size: 20 }).is_err(), "the query still needs {{network}}");
        with_url.insert("network".into(), "n1".into());
        let req = acme.page_request(&with_url, Cursor { page: 1, page_size: 20 }).expect("request");
        assert!(req.url.as_str().starts_with("http://127.0.0.1:3000/v3/offers?"));

        let mut resp = response(
            200,
            r#"[{"id": 5, "amount": "$1,200.50", "ends": "2030-05-01 10:00:00", "html": "<b>Hi</b>", "state": "Apply To Run"}, {"id": 6, "amount": "x"}]"#,
        );
        resp.headers.insert("x-total-count".into(), "41".into());
        resp.headers.insert("x-page-count".into(), "3".into());
        let page = acme.parse_page(&c, &resp).expect("page");
        assert_eq!((page.records, page.total_records, page.total_pages, page.has_more), (2, Some(41), Some(3), None));
        let o = page.offers[0].as_ref().expect("offer");
        assert_eq!((o.external_id.as_str(), o.name.as_str(), o.revenue), ("5", "untitled", Decimal::from_str("1200.50").expect("dec")));
        assert_eq!((o.description_text.as_deref(), o.approval), (Some("Hi"), Approval::NotApplied));
        assert_eq!(o.expires_at.map(|t| t.to_rfc3339()).as_deref(), Some("2030-05-01T10:00:00+00:00"));
        let bad = page.offers[1].as_ref().expect_err("bad amount");
        assert_eq!((bad.external_id.as_deref(), bad.reason.as_str()), (Some("6"), "revenue: 'x' is not a number"));
    }

    #[test]
    fn a_bad_spec_fails_the_load_naming_its_file_and_the_problem() {
        let cases = [
            (r#"{"id": "x""#, "EOF while parsing"),
            (&CUSTOM.replace("\"records\"", "\"recordz\""), "unknown field `recordz`"),
            (&CUSTOM.replace("{network}.acme", "{tenant}.acme"), "request.base_url uses 'tenant', which is not in 'credential_fields'"),
            (&CUSTOM.replace("\"map\": \"approvals\"", "\"map\": \"nope\""), "value map 'nope' is not defined"),
            (&CUSTOM.replace("\"transform\": \"decimal\"", "\"transform\": \"cents\""), "unknown variant `cents`"),
            (&CUSTOM.replace("\"path\": \"amount\"", "\"path\": \"a[b\""), "path 'a[b': unclosed '['"),
            (
                &CUSTOM
                    .replace("\"style\": \"header_totals\"", "\"style\": \"page_count\"")
                    .replace("\"total_pages_header\": \"X-Page-Count\", ", ""),
                "needs 'total_pages' or 'total_pages_header'",
            ),
            (&CUSTOM.replace("\"id\": \"acme\"", "\"id\": \"cake\""), "id 'cake' is a native connector's"),
        ];
        for (text, want) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("broken.json");
            std::fs::write(&file, text).expect("write");
            let err = load(Some(dir.path())).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with(&format!("configuration: spec '{}': ", file.display())), "{want}: {err}");
            assert!(err.contains(want), "{err} should mention {want}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.json"), CUSTOM).expect("write");
        std::fs::write(dir.path().join("b.json"), CUSTOM).expect("write");
        let err = load(Some(dir.path())).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("b.json': id 'acme' is already used by") && err.contains("a.json"), "{err}");
        let missing = load(Some(&dir.path().join("nope"))).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(missing.starts_with("configuration: cannot read spec directory"), "{missing}");
    }

    #[test]
    fn a_directory_spec_replaces_the_built_in_one_with_its_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = include_str!("../../specs/offer18.json").replace("Offer18 (declarative)", "Offer18 (patched)");
        std::fs::write(dir.path().join("offer18.json"), text).expect("write");
        let specs = load(Some(dir.path())).expect("load");
        let names: Vec<&str> = specs.iter().map(|s| s.info().display_name.as_str()).collect();
        assert_eq!(names, ["Offer18 (patched)", "Trackier (declarative)"]);
    }

    #[test]
    fn paths_walk_pointers_dots_wildcards_filters_keys_and_parents() {
        let record = json!({"a": {"b": [10, 20]}, "list": [{"k": "X", "v": 1}, {"k": "y", "v": 2}, {"v": 3}], "map": {"p": {"v": 4}}});
        let key = json!("id-1");
        let root = Scope::root(&record, Some(&key));
        let at = |path: &str, scope: &Scope<'_>| {
            FieldPath::parse(path).expect("path").resolve(scope).into_iter().cloned().collect::<Vec<Value>>()
        };
        assert_eq!(at("/a/b/1", &root), [json!(20)]);
        assert_eq!(at("a.b.0", &root), [json!(10)]);
        assert_eq!(at("list.*.v", &root), [json!(1), json!(2), json!(3)]);
        assert_eq!(at("list.*[k=x].v", &root), [json!(1)], "filters ignore case");
        assert_eq!(at("list.*[k!=x].v", &root), [json!(2), json!(3)], "!= keeps items without the key");
        assert_eq!(at("list.*[k^=Y].v", &root), [json!(2)]);
        assert_eq!(at("map.*.v", &root), [json!(4)]);
        assert_eq!(at("@key", &root), [json!("id-1")]);
        assert_eq!(at("", &root), std::slice::from_ref(&record));
        let row = root.child(&record["list"][1]);
        assert_eq!(
            (at("v", &row), at("^.a.b.1", &row), at("$/a/b/0", &row), at("^^.a", &row)),
            (vec![json!(2)], vec![json!(20)], vec![json!(10)], vec![])
        );
        for (bad, why) in
            [("a..b", "empty segment"), ("a[k]", "needs '='"), ("a]", "unbalanced"), ("$a", "followed by '.' or '/'"), ("a[=1]", "no key")]
        {
            let err = FieldPath::parse(bad).expect_err(bad);
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn sources_read_transform_map_and_default() {
        let spec = SpecConnector::new(Spec::parse("test", CUSTOM).expect("spec"));
        let record = json!({"tags": "a, b,,a", "flag": "1", "empty": "", "n": "3.50", "word": "Running", "none": null});
        let scope = Scope::root(&record, None);
        let src = |v: Value| Source::try_from(v).expect("source");
        let vals = |v: Value| spec.values(&src(v), &scope).expect("values");
        assert_eq!(vals(json!({"path": "tags", "transform": "csv"})), [json!("a"), json!("b"), json!("a")]);
        assert_eq!(vals(json!({"path": "flag", "transform": "bool", "map": {"true": "yes"}})), [json!("yes")]);
        assert_eq!(vals(json!({"path": ["none", "empty", "n"], "transform": "decimal"})), [json!("3.50")]);
        assert_eq!(vals(json!({"path": "empty", "transform": "nonempty"})), [json!(false)]);
        assert_eq!(vals(json!({"path": "word", "map": "statuses"})), [json!("active")]);
        assert_eq!(vals(json!({"path": "word", "map": {"running": null}, "default": "gone"})), [json!("gone")]);
        assert_eq!(vals(json!({"path": "missing", "const": ["x", "y"]})), [json!("x"), json!("y")]);
        let err = spec.values(&src(json!({"path": "tags", "transform": "decimal"})), &scope).expect_err("not a number");
        assert_eq!(err, "'a, b,,a' is not a number");
        assert!(Source::try_from(json!({"transform": "csv"})).is_err_and(|e| e.contains("needs 'path'")));
        assert!(Source::try_from(json!(5)).is_err_and(|e| e.contains("not a number")));
    }

    #[test]
    fn shared_readers() {
        assert_eq!(describe([("", None), ("KPI: ", Some("<b>x</b>".into()))]), (Some("KPI: <b>x</b>".into()), Some("KPI: x".into())));
        assert_eq!(describe([("", None)]), (None, None));
        let filled: Result<String, ()> = fill("{a}-{b}-{ c}-{}", |n| Ok((n == "a").then(|| "1".to_string())));
        assert_eq!(filled, Ok("1-{b}-{ c}-{}".to_string()));
        assert_eq!(status_word("Live"), UpstreamStatus::Active);
        assert_eq!(
            (cap_event_word("gross_conversions"), cap_period_word("lifetime")),
            (Some(CapEvent::Conversions), Some(CapPeriod::Total))
        );
        assert_eq!(
            (payout_type_word("Percentage"), payout_type_word("cps"), model_word("Rev_Share")),
            (Some(PayoutType::Percent), None, Some(OfferModel::RevShare))
        );
        assert!(looks_like_html("<?xml version=\"1.0\"?><html><body>x</body></html>") && !looks_like_html("<offer_feed_response/>"));
        let base = url::Url::parse("http://h/prefix/").expect("url");
        assert_eq!(append_path(base, "/v2/x").expect("endpoint").as_str(), "http://h/prefix/v2/x");
    }
}
