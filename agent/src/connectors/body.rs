//! Checks on a response body that every connector shares: text without a byte-order mark, an
//! HTML page told apart from data, JSON read with a message saying what is wrong (empty,
//! truncated, malformed, not an object), and in-body error messages classified by their words.
//! Every message names the platform and the problem, never the body's content.

use serde_json::Value;

use super::{FetchError, RawResponse};

/// A body as text without a byte-order mark. An empty body is `InvalidPayload`; a body cut
/// inside a multi-byte character is read up to the cut (so the parser reports it truncated);
/// other invalid UTF-8 is `InvalidPayload`.
pub(crate) fn text<'a>(platform: &str, body: &'a [u8]) -> Result<&'a str, FetchError> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        // `error_len() == None`: the bytes end inside a character, i.e. the body was cut.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return Err(FetchError::InvalidPayload(format!("{platform} sent a body that is not UTF-8 text"))),
    };
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(FetchError::InvalidPayload(format!("{platform} sent an empty body")));
    }
    Ok(text)
}

/// Whether a body is an HTML page (a login, error or parking page) rather than data.
pub(crate) fn looks_like_html(text: &str) -> bool {
    let head: String = text.chars().take(512).collect::<String>().to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || (head.starts_with('<') && (head.contains("<html") || head.contains("<body")))
}

/// A JSON body; an HTML page, an empty body and truncated or malformed JSON are `InvalidPayload`
/// with a message saying which.
pub(crate) fn json(platform: &str, body: &[u8]) -> Result<Value, FetchError> {
    let text = text(platform, body)?;
    if looks_like_html(text) {
        return Err(FetchError::InvalidPayload(format!("{platform} sent an HTML page instead of JSON (a wrong host or a login page?)")));
    }
    serde_json::from_str(text).map_err(|e| {
        let what = if e.is_eof() { "truncated" } else { "malformed" };
        FetchError::InvalidPayload(format!("{platform} sent {what} JSON: {e}"))
    })
}

/// A JSON body whose top level must be an object.
pub(crate) fn json_object(platform: &str, body: &[u8]) -> Result<Value, FetchError> {
    let v = json(platform, body)?;
    if v.is_object() { Ok(v) } else { Err(FetchError::InvalidPayload(format!("{platform} sent {}, expected a JSON object", kind_of(&v)))) }
}

/// "an object", "a string", ... for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A response header, by case-insensitive name.
pub(crate) fn header<'a>(resp: &'a RawResponse, name: &str) -> Option<&'a str> {
    resp.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Words in an error message that mean the credentials were refused.
const AUTH_WORDS: &[&str] =
    &["api key", "api_key", "apikey", "invalid key", "unauthori", "authenticat", "access denied", "forbidden", "credential", "permission"];
/// Words in an error message that mean a rate limit.
const RATE_WORDS: &[&str] = &["rate limit", "too many", "throttl"];

/// Reads an in-body error message that carries no usable code: credential words ->
/// `Unauthorized`, rate-limit words -> `RateLimited`, anything else -> `InvalidPayload`.
pub(crate) fn classify_message(platform: &str, message: String) -> FetchError {
    let lower = message.to_lowercase();
    if AUTH_WORDS.iter().any(|w| lower.contains(w)) {
        FetchError::Unauthorized(message)
    } else if RATE_WORDS.iter().any(|w| lower.contains(w)) {
        FetchError::RateLimited { retry_after: None, message }
    } else {
        FetchError::InvalidPayload(format!("{platform} answered with an error: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(r: Result<Value, FetchError>) -> String {
        match r {
            Err(FetchError::InvalidPayload(m)) => m,
            other => panic!("expected InvalidPayload, got {other:?}"),
        }
    }

    #[test]
    fn json_bodies_say_what_is_wrong() {
        assert_eq!(json("x", b"\xEF\xBB\xBF {\"a\": 1}").ok(), Some(serde_json::json!({"a": 1})), "a BOM is skipped");
        assert_eq!(invalid(json("x", b"  ")), "x sent an empty body");
        assert!(invalid(json("x", b"{\"a\": [1, 2")).starts_with("x sent truncated JSON: EOF while parsing"));
        assert!(invalid(json("x", b"{\"a\": nope}")).starts_with("x sent malformed JSON: "));
        assert!(invalid(json("x", b"<!DOCTYPE html><html><body>Login</body></html>")).contains("HTML page"));
        assert_eq!(invalid(json_object("x", b"[1]")), "x sent an array, expected a JSON object");
        assert_eq!(invalid(json("x", b"{\"a\": \"\xFF\"}")), "x sent a body that is not UTF-8 text");
    }

    #[test]
    fn a_body_cut_inside_a_character_is_truncated_not_binary() {
        let body = "{\"name\": \"Půjčka\"}".as_bytes();
        let cut = &body[..body.iter().position(|b| *b >= 0x80).unwrap_or(0) + 1];
        assert!(invalid(json("x", cut)).starts_with("x sent truncated JSON: "), "{cut:?}");
    }

    #[test]
    fn messages_are_classified_by_their_words() {
        assert_eq!(classify_message("x", "Invalid API Key".into()), FetchError::Unauthorized("Invalid API Key".into()));
        assert!(matches!(classify_message("x", "Too many requests".into()), FetchError::RateLimited { retry_after: None, .. }));
        assert_eq!(classify_message("x", "bad filter".into()), FetchError::InvalidPayload("x answered with an error: bad filter".into()));
    }
}
