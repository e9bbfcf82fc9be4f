//! Validation of user input: country codes, currencies, timezones, URLs, macros, ranges.
//!
//! Every check reports a [`FieldError`] naming the field, so the gateway can answer
//! `VALIDATION` with `extensions.field` and a sentence an admin can act on.

use std::str::FromStr;

use rust_decimal::Decimal;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `filters.countries[2]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects field errors; `finish` turns them into a result.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

/// An ISO 3166-1 alpha-2 code, upper case (`"US"`). `UK` is accepted as `GB`, as advertisers send it.
pub fn country(code: &str) -> Option<String> {
    let up = code.trim().to_ascii_uppercase();
    let up = if up == "UK" { "GB".to_string() } else { up };
    if up.len() == 2 && celes::Country::from_alpha2(&up).is_ok() { Some(up) } else { None }
}

/// An ISO 4217 currency code, upper case (`"USD"`).
pub fn currency(code: &str) -> Option<String> {
    let up = code.trim().to_ascii_uppercase();
    iso_currency::Currency::from_code(&up).map(|_| up)
}

/// An IANA timezone name (`"Europe/Berlin"`, `"UTC"`).
pub fn timezone(name: &str) -> bool {
    chrono_tz::Tz::from_str(name).is_ok()
}

/// An absolute http(s) URL.
pub fn http_url(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => matches!(u.scheme(), "http" | "https") && u.host_str().is_some(),
        Err(_) => false,
    }
}

/// The macros an append-to-URL template may use; the agent maps them to the platform's
/// sub-id parameters. Anything else in `{...}` is rejected.
pub const URL_MACROS: &[&str] =
    &["click_id", "publisher_id", "sub1", "sub2", "sub3", "sub4", "sub5", "source", "campaign_id", "offer_id", "gaid", "idfa", "country"];

/// Validates an append-to-URL template such as `aff_sub={click_id}&source={publisher_id}`:
/// `key=value` pairs joined by `&`, macros in braces from [`URL_MACROS`].
pub fn url_template(field: &str, template: &str, errors: &mut Errors) {
    let t = template.trim().trim_start_matches(['?', '&']);
    if t.is_empty() {
        return;
    }
    for (i, pair) in t.split('&').enumerate() {
        let Some((k, v)) = pair.split_once('=') else {
            errors.push(field, format!("part {} ('{pair}') is not key=value", i + 1));
            continue;
        };
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
            errors.push(field, format!("parameter name '{k}' must be letters, digits, '_', '-' or '.'"));
        }
        let mut rest = v;
        while let Some(start) = rest.find('{') {
            let Some(end) = rest[start..].find('}') else {
                errors.push(field, format!("unclosed '{{' in '{pair}'"));
                break;
            };
            let name = &rest[start + 1..start + end];
            if !URL_MACROS.contains(&name) {
                errors.push(field, format!("unknown macro {{{name}}}, expected one of: {}", URL_MACROS.join(", ")));
            }
            rest = &rest[start + end + 1..];
        }
    }
}

/// A ratio such as the payout-to-revenue ratio: 0 < r <= 10.
pub fn ratio(field: &str, r: Decimal, errors: &mut Errors) {
    errors.check(r > Decimal::ZERO && r <= Decimal::from(10), field, format!("ratio {r} must be greater than 0 and at most 10"));
}

/// A money amount: not negative.
pub fn amount(field: &str, a: Decimal, errors: &mut Errors) {
    errors.check(a >= Decimal::ZERO, field, format!("amount {a} must not be negative"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_iso_alpha2_and_uk_means_gb() {
        assert_eq!(country("us"), Some("US".into()));
        assert_eq!(country("UK"), Some("GB".into()));
        assert_eq!(country("XX"), None);
        assert_eq!(country("USA"), None);
    }

    #[test]
    fn currencies_and_timezones() {
        assert_eq!(currency("eur"), Some("EUR".into()));
        assert_eq!(currency("EURO"), None);
        assert!(timezone("America/New_York"));
        assert!(!timezone("Mars/Olympus"));
    }

    #[test]
    fn url_templates_accept_known_macros_only() {
        let mut e = Errors::default();
        url_template("t", "aff_sub={click_id}&source={publisher_id}", &mut e);
        assert!(e.0.is_empty(), "{:?}", e.0);
        url_template("t", "aff_sub={clickid}", &mut e);
        url_template("t", "novalue", &mut e);
        assert_eq!(e.0.len(), 2);
        assert!(e.0[0].message.contains("unknown macro {clickid}"));
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(http_url("https://a.example/x?y=1"));
        assert!(!http_url("ftp://a.example"));
        assert!(!http_url("/relative"));
    }
}
