//! Lenient parsing at the edge: advertiser APIs send numbers as strings, booleans as "0"/"1",
//! empty objects as `[]`, zero dates, "$2.50". These helpers read such values into strict
//! types; money always becomes an exact `Decimal`, never f64. The word tables (statuses,
//! approvals, payout types, models, caps, OS names) live here too, so a native connector and a
//! declarative spec read the same word the same way.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use domain::model::{CapEvent, CapPeriod, OfferModel, PayoutType};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::offer::{Approval, UpstreamCap, UpstreamStatus};

/// A decimal from a number or a string (`"2.50"`, `"$2.50"`, `"1,200.00"`, `" 3 "`).
/// Empty, null and non-numeric values are `None`. Numbers are read from their exact JSON
/// text (serde_json's `arbitrary_precision`), so `0.1` stays `0.1`.
pub fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => decimal_str(&n.to_string()),
        Value::String(s) => decimal_str(s),
        _ => None,
    }
}

/// A decimal from text, tolerating currency symbols, thousands separators and spaces.
pub fn decimal_str(s: &str) -> Option<Decimal> {
    let cleaned: String = s.trim().chars().filter(|c| !matches!(c, '$' | '€' | '£' | ',' | ' ' | '%')).collect();
    if cleaned.is_empty() {
        return None;
    }
    Decimal::from_str(&cleaned).or_else(|_| Decimal::from_scientific(&cleaned)).ok()
}

/// A money field: absent (null or empty text) = `None`; present but not a non-negative number
/// = an error saying which (`"-1 is negative"`, `"\"abc\" is not a number"`).
pub fn money(v: &Value) -> Result<Option<Decimal>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        _ => match decimal(v) {
            Some(d) if d >= Decimal::ZERO => Ok(Some(d)),
            Some(d) => Err(format!("{d} is negative")),
            None => Err(format!("{v} is not a number")),
        },
    }
}

/// A boolean from `true`/`false`, `1`/`0`, `"1"`/`"0"`, `"true"`/`"false"`, `"yes"`/`"no"`.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.to_string() != "0"),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "y" | "on" => Some(true),
            "0" | "false" | "no" | "n" | "off" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A non-empty string from a string or a number; `""`, null and containers are `None`.
pub fn string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The items of a collection sent as an array, an object (id-keyed map: its values, in key
/// order), `""` or null (empty).
pub fn items(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(m) => m.values().collect(),
        _ => vec![],
    }
}

/// A comma-separated list (`"US,CA, GB"`), also accepting an array of strings.
pub fn csv(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        Value::Array(a) => a.iter().filter_map(string).collect(),
        _ => vec![],
    }
}

/// What dropping an unreadable code from a country list would do, which decides whether it
/// may be dropped. An empty list means "every country", so a list that loses all its codes
/// would widen targeting to the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountryList {
    /// An offer's allow list: dropping an unknown code narrows targeting, which is safe, as long
    /// as one known code is left.
    Allow,
    /// A block list, or the countries a payout row applies to or excludes: dropping a code would
    /// widen targeting or pay a country the wrong amount, so every code must be known.
    Exact,
}

/// Words advertisers use for "every country"; in an allow list they mean the empty list.
const WORLDWIDE: [&str; 7] = ["ALL", "WW", "WORLDWIDE", "GLOBAL", "*", "ANY", "INTL"];

/// ISO alpha-2 codes from a list of words (each may hold several codes: `"US, CA"`, `"US|CA"`,
/// `"US CA"`), upper-cased (`UK` read as `GB`), deduplicated, in order. A worldwide word in an
/// allow list means every country (the empty list). An unknown code is an error naming the
/// field and the code, except in an allow list that keeps at least one known code (see
/// [`CountryList`]): targeting is never widened by a value we could not read.
pub fn countries<I: IntoIterator<Item = S>, S: AsRef<str>>(field: &str, role: CountryList, list: I) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = vec![];
    let mut unknown: Vec<String> = vec![];
    let mut worldwide = false;
    for word in list {
        for token in word.as_ref().split(|c: char| matches!(c, ',' | ';' | '|') || c.is_whitespace()).filter(|t| !t.is_empty()) {
            if WORLDWIDE.contains(&token.to_ascii_uppercase().as_str()) {
                worldwide = true;
            } else if let Some(code) = domain::validate::country(token) {
                if !out.contains(&code) {
                    out.push(code);
                }
            } else if !unknown.iter().any(|u| u == token) {
                unknown.push(token.to_string());
            }
        }
    }
    let listed = || unknown.iter().map(|u| format!("'{u}'")).collect::<Vec<_>>().join(", ");
    match role {
        CountryList::Allow if worldwide => Ok(vec![]),
        CountryList::Allow if out.is_empty() && !unknown.is_empty() => {
            Err(format!("{field}: {} is not an ISO 3166 country code (read as no list it would target every country)", listed()))
        }
        CountryList::Allow => Ok(out),
        CountryList::Exact if worldwide => Err(format!("{field}: a worldwide word cannot be part of this list")),
        CountryList::Exact if !unknown.is_empty() => Err(format!("{field}: {} is not an ISO 3166 country code", listed())),
        CountryList::Exact => Ok(out),
    }
}

/// The words of a country list in whatever shape the platform sent it: an array, an id-keyed
/// object, a single string (`"US"`, `"US,CA"`), or null. Items may be strings or objects
/// carrying the code under one of `keys` (`{"code": "US", "name": "United States"}`). Any other
/// shape (a number, a boolean, an object without a code) is an error naming `field`, never an
/// empty list: an empty list would mean every country.
pub fn country_words(v: &Value, keys: &[&str], field: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Null | Value::String(_) => Ok(country_item(v, keys, field)?.into_iter().collect()),
        Value::Object(m) if keys.iter().any(|k| m.contains_key(*k)) => Ok(country_item(v, keys, field)?.into_iter().collect()),
        Value::Array(_) | Value::Object(_) => items(v).into_iter().filter_map(|i| country_item(i, keys, field).transpose()).collect(),
        other => Err(format!("{field}: {} is not a country list", truncate(other))),
    }
}

/// One item of a country list: a string, or an object with the code under one of `keys`
/// (an object without it is an error); null is no item.
pub fn country_item(i: &Value, keys: &[&str], field: &str) -> Result<Option<String>, String> {
    match i {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(m) if !keys.is_empty() => match keys.iter().find_map(|k| m.get(*k)) {
            None | Some(Value::Null) => Err(format!("{field}: {} has no country code", truncate(i))),
            Some(code) => string(code).map(Some).ok_or_else(|| format!("{field}: {} is not a country code", truncate(code))),
        },
        other => Err(format!("{field}: {} is not a country", truncate(other))),
    }
}

/// A value as short text for a message (at most 60 characters).
fn truncate(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text,
    }
}

/// The JSON shape a field of an offer record must have when present (null, and `""` or `[]`
/// for containers, are "absent"). A value of the wrong shape is never read as absent: that
/// would erase a description, a link or an expiry, or drop payout rows, on the next refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Text, a number or a boolean.
    Scalar,
    /// An object.
    Map,
    /// Rows: an array or an id-keyed object whose items are all objects.
    Records,
    /// An array of text or numbers.
    List,
}

/// Checks each `(dotted.path, shape)` of `record`; the first mismatch is an error naming the
/// field (`"description: {\"a\":1} is not text"`), for the offer's OFFER_INVALID line.
pub fn check_shapes(record: &Value, fields: &[(&str, Shape)]) -> Result<(), String> {
    for (path, shape) in fields {
        let v = path.split('.').try_fold(record, |v, k| v.get(k));
        let Some(v) = v else { continue };
        let empty =
            matches!(v, Value::Null) || matches!(v, Value::String(s) if s.is_empty()) || matches!(v, Value::Array(a) if a.is_empty());
        let ok = match shape {
            Shape::Scalar => !v.is_array() && !v.is_object(),
            Shape::Map => empty || v.is_object(),
            Shape::Records => empty || ((v.is_array() || v.is_object()) && items(v).iter().all(|i| i.is_object())),
            Shape::List => empty || v.as_array().is_some_and(|a| a.iter().all(|i| !i.is_array() && !i.is_object())),
        };
        if !ok {
            let want = match shape {
                Shape::Scalar => "text or a number",
                Shape::Map => "an object",
                Shape::Records => "a list of objects",
                Shape::List => "a list of text",
            };
            return Err(format!("{path}: {} is not {want}", truncate(v)));
        }
    }
    Ok(())
}

/// A time from RFC 3339, `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` (UTC) or a Unix timestamp.
/// Zero dates (`0000-00-00`), `""` and 0 are `None`.
pub fn datetime(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            let secs = n.as_i64()?;
            (secs > 0).then(|| Utc.timestamp_opt(secs, 0).single()).flatten()
        }
        Value::String(s) => datetime_str(s),
        _ => None,
    }
}

pub fn datetime_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() || s.starts_with("0000-00-00") {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(23, 59, 59).map(|t| t.and_utc());
    }
    if let Ok(secs) = s.parse::<i64>() {
        return (secs > 0).then(|| Utc.timestamp_opt(secs, 0).single()).flatten();
    }
    None
}

/// Plain text from an HTML description: tags removed, common entities decoded, whitespace
/// collapsed.
pub fn html_to_text(html: &str) -> String {
    // Built once: a builder holds its tag and attribute tables, and building one per
    // description was a measurable share of a first import.
    static STRIP_ALL: std::sync::LazyLock<ammonia::Builder<'static>> = std::sync::LazyLock::new(ammonia::Builder::empty);
    if !html.contains(['<', '&']) {
        return html.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let stripped = STRIP_ALL.clean(html).to_string();
    let decoded = stripped
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// OS names as platforms write them, by their collapsed form (lower case, without spaces,
/// `-`, `_`, `.` and a trailing version such as "14+" or "10.15"), and the name we store.
const OS_NAMES: &[(&str, &str)] = &[
    ("ios", "ios"),
    ("appleios", "ios"),
    ("iphoneos", "ios"),
    ("ipados", "ios"),
    ("iphone", "ios"),
    ("ipad", "ios"),
    ("ipod", "ios"),
    ("android", "android"),
    ("androidos", "android"),
    ("googleandroid", "android"),
    ("windows", "windows"),
    ("win", "windows"),
    ("windowsphone", "windows"),
    ("windowsmobile", "windows"),
    ("mac", "macos"),
    ("macos", "macos"),
    ("macosx", "macos"),
    ("osx", "macos"),
    ("macintosh", "macos"),
    ("linux", "linux"),
    ("ubuntu", "linux"),
    ("chromeos", "chromeos"),
    ("blackberry", "blackberry"),
    ("blackberryos", "blackberry"),
];

/// An OS name normalised through [`OS_NAMES`] ("Mac OS X" and "macOS 10.15" -> "macos",
/// "iOS 14+" -> "ios", "Windows 10" -> "windows"); a name not in the table is kept in lower
/// case with single spaces.
pub fn os_name(s: &str) -> String {
    let lower = s.trim().to_ascii_lowercase();
    let collapsed: String = lower.chars().filter(|c| !matches!(c, ' ' | '-' | '_' | '.' | '\t')).collect();
    let key = collapsed.trim_end_matches(|c: char| c.is_ascii_digit() || c == '+');
    match OS_NAMES.iter().find(|(k, _)| *k == key || *k == collapsed) {
        Some((_, name)) => (*name).to_string(),
        None => lower.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// A description from labelled parts (`("KPI: ", kpi)`): non-empty parts joined by a blank
/// line, as HTML (as sent) and as plain text.
pub(crate) fn describe<'a>(parts: impl IntoIterator<Item = (&'a str, Option<String>)>) -> (Option<String>, Option<String>) {
    let html = parts.into_iter().filter_map(|(label, text)| text.map(|t| format!("{label}{t}"))).collect::<Vec<_>>().join("\n\n");
    if html.is_empty() {
        return (None, None);
    }
    let text = html_to_text(&html);
    (Some(html), (!text.is_empty()).then_some(text))
}

/// The rows of a list: an array's items, an object as one row, nothing for null or `""`.
pub(crate) fn rows(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        v if is_empty(v) => vec![],
        v => vec![v],
    }
}

/// Values in order without duplicates.
pub(crate) fn unique(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Adds a cap unless something is missing, the value is 0 (unlimited) or it is already there.
pub(crate) fn push_cap(
    caps: &mut Vec<UpstreamCap>,
    event: Option<CapEvent>,
    period: Option<CapPeriod>,
    value: Option<Decimal>,
    goal: Option<String>,
) {
    if let (Some(event), Some(period), Some(value)) = (event, period, value)
        && value > Decimal::ZERO
    {
        let cap = UpstreamCap { event: event.as_str().into(), period: period.as_str().into(), value, goal };
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
}

/// Text of a scalar: a trimmed non-empty string, a number, `true`/`false`.
pub(crate) fn word_text(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(b.to_string()),
        v => string(v),
    }
}

/// Whether a value is null, blank text, `[]` or `{}`.
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// An enum from its serde word (`"not_applied"`, `"percent"`, `"cpi"`).
pub(crate) fn from_word<T: DeserializeOwned>(w: &str) -> Option<T> {
    serde_json::from_value(Value::String(w.trim().to_lowercase())).ok()
}

// Word tables: how platforms spell statuses, approvals, payout types, models and caps. The
// spec engine exposes them as the built-in value maps (`statuses`, `approvals`, ...).

pub(crate) const STATUS_WORDS: &[(&str, Option<&str>)] = &[
    ("live", Some("active")),
    ("running", Some("active")),
    ("enabled", Some("active")),
    ("public", Some("active")),
    ("inactive", Some("paused")),
    ("stopped", Some("paused")),
    ("suspended", Some("paused")),
    ("disabled", Some("paused")),
    ("ended", Some("expired")),
    ("archived", Some("deleted")),
    ("removed", Some("deleted")),
];
pub(crate) const APPROVAL_WORDS: &[(&str, Option<&str>)] = &[
    ("approve", Some("approved")),
    ("active", Some("approved")),
    ("public", Some("approved")),
    ("denied", Some("rejected")),
    ("declined", Some("rejected")),
    ("not applied", Some("not_applied")),
    ("apply to run", Some("not_applied")),
    ("require_approval", Some("not_applied")),
];
pub(crate) const PAYOUT_TYPE_WORDS: &[(&str, Option<&str>)] = &[
    ("percentage", Some("percent")),
    ("revshare", Some("percent")),
    ("rev_share", Some("percent")),
    ("flat", Some("fixed")),
    ("cpa", Some("fixed")),
    ("cpi", Some("fixed")),
    ("cpl", Some("fixed")),
    ("cpc", Some("fixed")),
    ("cpm", Some("fixed")),
    ("cpe", Some("fixed")),
];
pub(crate) const MODEL_WORDS: &[(&str, Option<&str>)] = &[("rev_share", Some("revshare")), ("revenue_share", Some("revshare"))];
pub(crate) const CAP_EVENT_WORDS: &[(&str, Option<&str>)] = &[
    ("conversion", Some("conversions")),
    ("gross_conversions", Some("conversions")),
    ("approved_conversions", Some("conversions")),
    ("click", Some("clicks")),
    ("budget", Some("revenue")),
];
pub(crate) const CAP_PERIOD_WORDS: &[(&str, Option<&str>)] = &[
    ("day", Some("daily")),
    ("week", Some("weekly")),
    ("month", Some("monthly")),
    ("lifetime", Some("total")),
    ("overall", Some("total")),
    ("all_time", Some("total")),
];

/// The mapping of `key` in a word table: `Some(None)` = mapped to nothing (dropped).
pub(crate) fn find_word<'a>(mut entries: impl Iterator<Item = (&'a str, Option<&'a str>)>, key: &str) -> Option<Option<&'a str>> {
    entries.find(|(k, _)| k.trim().eq_ignore_ascii_case(key.trim())).map(|(_, v)| v)
}

/// A word through a built-in table, then parsed as `T`.
fn builtin_word<T: DeserializeOwned>(table: &[(&str, Option<&str>)], word: &str) -> Option<T> {
    match find_word(table.iter().copied(), word) {
        Some(mapped) => mapped.and_then(from_word),
        None => from_word(word),
    }
}

/// An upstream status word (`"active"`, `"live"`, `"expired"`); others are unknown.
pub(crate) fn status_word(word: &str) -> UpstreamStatus {
    builtin_word(STATUS_WORDS, word).unwrap_or(UpstreamStatus::Unknown)
}

/// An approval word (`"approved"`, `"Public"`, `"Apply To Run"`); others are unknown.
pub(crate) fn approval_word(word: &str) -> Approval {
    builtin_word(APPROVAL_WORDS, word).unwrap_or(Approval::Unknown)
}

/// `"percent"`, `"percentage"`, `"revshare"` -> percent; `"fixed"`, `"flat"` and per-action
/// models (`"cpa"`, `"cpi"`, ...) -> fixed; `"cps"` is left to each platform.
pub(crate) fn payout_type_word(word: &str) -> Option<PayoutType> {
    builtin_word(PAYOUT_TYPE_WORDS, word)
}

/// An offer model (`"CPA"`, `"cpi"`, `"RevShare"`).
pub(crate) fn model_word(word: &str) -> Option<OfferModel> {
    builtin_word(MODEL_WORDS, word)
}

/// What a cap counts (`"conversion"`, `"gross_conversions"`, `"clicks"`, `"budget"`).
pub(crate) fn cap_event_word(word: &str) -> Option<CapEvent> {
    builtin_word(CAP_EVENT_WORDS, word)
}

/// A cap's window (`"daily"`, `"month"`, `"lifetime"`).
pub(crate) fn cap_period_word(word: &str) -> Option<CapPeriod> {
    builtin_word(CAP_PERIOD_WORDS, word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn decimals_from_strings_numbers_and_money_text() {
        assert_eq!(decimal(&json!("900.00000")), Decimal::from_str("900").ok());
        assert_eq!(decimal(&json!("$2.50")), Decimal::from_str("2.5").ok());
        assert_eq!(decimal(&json!("1,200.75")), Decimal::from_str("1200.75").ok());
        assert_eq!(decimal(&json!(0.1)), Decimal::from_str("0.1").ok());
        assert_eq!(decimal(&json!("")), None);
        assert_eq!(decimal(&json!(null)), None);
        assert_eq!(decimal(&json!("n/a")), None);
    }

    #[test]
    fn collections_and_flags() {
        assert!(items(&json!([])).is_empty());
        assert_eq!(items(&json!({"b": 2, "a": 1})).len(), 2);
        assert!(items(&json!("")).is_empty());
        assert_eq!(boolean(&json!("0")), Some(false));
        assert_eq!(boolean(&json!("1")), Some(true));
        assert_eq!(boolean(&json!("false")), Some(false));
        assert_eq!(csv(&json!("US, ca,,GB")), vec!["US", "ca", "GB"]);
        assert_eq!(countries("c", CountryList::Allow, ["us", "UK", "XX", "US"]), Ok(vec!["US".to_string(), "GB".to_string()]));
    }

    /// A field of the wrong shape is an error naming it, never "absent"; empty containers and
    /// null are absent.
    #[test]
    fn shapes_name_the_field_of_the_wrong_type() {
        let fields = [("name", Shape::Scalar), ("rel", Shape::Map), ("rel.rows", Shape::Records), ("tags", Shape::List)];
        let ok = json!({"name": "N", "rel": {"rows": [{"a": 1}]}, "tags": ["x", 2]});
        assert_eq!(check_shapes(&ok, &fields), Ok(()));
        assert_eq!(check_shapes(&json!({"name": null, "rel": [], "tags": ""}), &fields), Ok(()));
        assert_eq!(check_shapes(&json!({"name": {"a": 1}}), &fields), Err(r#"name: {"a":1} is not text or a number"#.to_string()));
        assert_eq!(check_shapes(&json!({"rel": "x"}), &fields), Err(r#"rel: "x" is not an object"#.to_string()));
        assert_eq!(
            check_shapes(&json!({"rel": {"rows": {"k": "v"}}}), &fields),
            Err(r#"rel.rows: {"k":"v"} is not a list of objects"#.to_string())
        );
        assert_eq!(check_shapes(&json!({"tags": "x"}), &fields), Err(r#"tags: "x" is not a list of text"#.to_string()));
    }

    /// A country list is never silently read as "every country": the wrong shape or codes
    /// that are all unknown are errors; a single string is read as the list it names.
    #[test]
    fn country_lists_never_widen_targeting() {
        use CountryList::{Allow, Exact};
        let read = |v: Value, role| country_words(&v, &["code", "country_code"], "countries").and_then(|w| countries("countries", role, w));
        assert_eq!(read(json!("US"), Allow), Ok(vec!["US".to_string()]));
        assert_eq!(read(json!("us, ca|GB"), Allow), Ok(vec!["US".to_string(), "CA".to_string(), "GB".to_string()]));
        assert_eq!(read(json!({"US": {"code": "US", "name": "United States"}}), Exact), Ok(vec!["US".to_string()]));
        assert_eq!(read(json!({"code": "DE", "name": "Germany"}), Exact), Ok(vec!["DE".to_string()]));
        assert_eq!(read(json!([{"country_code": "fr"}, "IT"]), Exact), Ok(vec!["FR".to_string(), "IT".to_string()]));
        assert_eq!(read(json!(null), Allow), Ok(vec![]));
        assert_eq!(read(json!([]), Exact), Ok(vec![]));
        assert_eq!(read(json!("ALL"), Allow), Ok(vec![]));
        assert_eq!(read(json!(["WW", "US"]), Allow), Ok(vec![]));
        // every code unknown: an error, not the empty (worldwide) list
        assert_eq!(
            read(json!("United States"), Allow),
            Err("countries: 'United', 'States' is not an ISO 3166 country code (read as no list it would target every country)".to_string())
        );
        // a block list or payout row keeps every code or fails: dropping one would widen it
        assert_eq!(read(json!(["US", "XX"]), Exact), Err("countries: 'XX' is not an ISO 3166 country code".to_string()));
        assert!(read(json!("ALL"), Exact).is_err());
        // wrong shapes name the field
        assert_eq!(read(json!(840), Allow), Err("countries: 840 is not a country list".to_string()));
        assert_eq!(read(json!([840]), Allow), Err("countries: 840 is not a country".to_string()));
        assert_eq!(read(json!([{"name": "Spain"}]), Allow), Err(r#"countries: {"name":"Spain"} has no country code"#.to_string()));
        assert_eq!(read(json!(true), Allow), Err("countries: true is not a country list".to_string()));
    }

    #[test]
    fn zero_dates_are_none() {
        assert_eq!(datetime(&json!("0000-00-00 00:00:00")), None);
        assert_eq!(datetime(&json!("")), None);
        assert!(datetime(&json!("2026-12-31")).is_some());
        assert!(datetime(&json!("2026-12-31 10:00:00")).is_some());
        assert!(datetime(&json!(1767225600)).is_some());
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(html_to_text("<p>Hello&nbsp;<b>world</b></p>\r\n<br/>&amp; more"), "Hello world & more");
    }

    proptest! {
        #[test]
        fn decimal_reads_its_own_text_and_string_form_alike(units in -1_000_000_000i64..1_000_000_000, scale in 0u32..6) {
            let d = Decimal::new(units, scale);
            let text = d.to_string();
            prop_assert_eq!(decimal(&json!(text.clone())), Some(d));
            let num: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            prop_assert_eq!(decimal(&num), Some(d));
            prop_assert_eq!(decimal_str(&format!("${text}")), Some(d));
        }

        #[test]
        fn boolean_never_panics_and_digits_agree(s in "\\PC*") {
            let _ = boolean(&json!(s));
            prop_assert_eq!(boolean(&json!("1")), boolean(&json!(1)));
        }

        #[test]
        fn os_names_never_keep_a_version(v in 0u32..30, minor in 0u32..20) {
            prop_assert_eq!(os_name(&format!("iOS {v}.{minor}+")), "ios");
            prop_assert_eq!(os_name(&format!("Android {v}.{minor}")), "android");
            prop_assert_eq!(os_name(&format!("Mac OS X 10.{minor}")), "macos");
        }

        #[test]
        fn items_of_array_and_map_agree(xs in proptest::collection::vec(0i64..1000, 0..20)) {
            let arr = Value::Array(xs.iter().map(|x| json!(x)).collect());
            let map: serde_json::Map<String, Value> = xs.iter().enumerate().map(|(i, x)| (format!("{i:05}"), json!(x))).collect();
            let obj = Value::Object(map);
            prop_assert_eq!(items(&arr), items(&obj));
        }
    }
}
