//! GraphiQL served entirely from the binary: the page (`GET /graphql` from a browser) and
//! its scripts and styles under `/graphiql/{file}`, embedded at build time from
//! `gateway/assets/graphiql/` (pinned versions, licenses and the update steps are in the
//! README.md there). No CDN: the page works offline. Neither the page nor its files need a
//! token; the page sends the token the user types with every request it makes.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// The name carries the package version: the bytes under it never change.
    versioned: bool,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($name:literal, $content_type:expr, $versioned:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/graphiql/", $name)),
            versioned: $versioned,
        }
    };
}

/// Everything the page loads, by the name it is served under.
const ASSETS: &[Asset] = &[
    asset!("react-18.3.1.production.min.js", JS, true),
    asset!("react-dom-18.3.1.production.min.js", JS, true),
    asset!("graphiql-3.9.0.min.js", JS, true),
    asset!("graphiql-3.9.0.min.css", CSS, true),
    asset!("offerbridge-graphiql.js", JS, false),
    asset!("offerbridge-graphiql.css", CSS, false),
];

/// The page itself.
const INDEX_HTML: &str = include_str!("../assets/graphiql/index.html");

/// Only our own files, from our own origin; the WebSocket is same-origin (`'self'` covers
/// ws:// and wss:// to the page's host). Inline styles: React and CodeMirror set `style`
/// attributes. GraphiQL's fonts are data: URLs inside its CSS.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Versioned files are cached for a year; our own (unversioned) files are revalidated with
/// their ETag on every use.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CACHE_REVALIDATE: &str = "no-cache";

/// Each asset's ETag (a hash of its bytes), computed once.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            a.body.hash(&mut h);
            format!("\"{:016x}\"", h.finish())
        })
        .collect()
});

/// The GraphiQL page (for `GET /graphql` with `Accept: text/html` and no query).
pub fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_REVALIDATE),
            // The same URL answers JSON to a GraphQL client.
            (header::VARY, "Accept"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

/// `GET /graphiql/{file}`: one embedded file, 304 when the client's copy is current, 404 for
/// any other name.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such GraphiQL file").into_response();
    };
    let a = &ASSETS[i];
    let etag = ETAGS[i].as_str();
    let cache = if a.versioned { CACHE_IMMUTABLE } else { CACHE_REVALIDATE };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], a.body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, http::Request, routing::get};
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new().route("/graphiql/{file}", get(asset))
    }

    async fn get_file(path: &str, if_none_match: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        app().oneshot(req.body(Body::empty()).expect("request")).await.expect("response")
    }

    fn header_of(resp: &Response, name: header::HeaderName) -> &str {
        resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn every_embedded_file_is_served_whole_with_its_type_and_cache_policy() {
        for a in ASSETS {
            let resp = get_file(&format!("/graphiql/{}", a.name), None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{}", a.name);
            let expected_type = if a.name.ends_with(".js") { JS } else { CSS };
            assert_eq!(header_of(&resp, header::CONTENT_TYPE), expected_type, "{}", a.name);
            let cache = header_of(&resp, header::CACHE_CONTROL).to_string();
            // Only a name that carries a version may be cached for good.
            let has_version = a.name.chars().any(|c| c.is_ascii_digit());
            assert_eq!(cache == CACHE_IMMUTABLE, has_version, "{}: {cache}", a.name);
            let etag = header_of(&resp, header::ETAG).to_string();
            assert!(etag.starts_with('"') && etag.len() > 2, "{}: {etag}", a.name);
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
            assert!(!a.body.is_empty());
            assert_eq!(&bytes[..], a.body, "{}", a.name);
            // The client's current copy: 304, no body.
            let again = get_file(&format!("/graphiql/{}", a.name), Some(&etag)).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{}", a.name);
            assert_eq!(header_of(&again, header::ETAG), etag);
        }
    }

    #[tokio::test]
    async fn unknown_files_are_404() {
        for path in ["/graphiql/nope.js", "/graphiql/index.html", "/graphiql/LICENSE.react", "/graphiql/..%2FCargo.toml", "/graphiql/"] {
            let resp = get_file(path, None).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn the_page_loads_every_embedded_file_and_only_those() {
        for a in ASSETS {
            assert!(INDEX_HTML.contains(&format!("\"/graphiql/{}\"", a.name)), "index.html does not load {}", a.name);
        }
        let loaded: Vec<&str> = INDEX_HTML
            .split(['"', '\''])
            .filter(|s| s.starts_with('/') || s.starts_with("http") || s.starts_with("//"))
            .filter(|s| *s != "/graphql" && *s != "/graphql/ws")
            .collect();
        for url in &loaded {
            let name = url.strip_prefix("/graphiql/").unwrap_or_else(|| panic!("index.html loads {url}, not an embedded file"));
            assert!(ASSETS.iter().any(|a| a.name == name), "index.html loads /graphiql/{name}, which is not embedded");
        }
        assert!(!INDEX_HTML.contains("<script>") && !INDEX_HTML.contains("<style"), "no inline script or style (CSP)");
        assert!(INDEX_HTML.contains("/graphql/ws"), "the page names the WebSocket endpoint");
    }

    #[tokio::test]
    async fn the_page_is_html_under_a_policy_that_allows_only_its_own_origin() {
        let resp = page();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header_of(&resp, header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert!(header_of(&resp, header::CONTENT_SECURITY_POLICY).contains("script-src 'self';"));
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        assert!(String::from_utf8_lossy(&body).contains("<title>offerbridge</title>"));
    }
}
