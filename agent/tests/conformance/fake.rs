//! A fake advertiser API on 127.0.0.1:0 (axum). It records every request (arrival time, path,
//! query, headers), checks the credentials and paging parameters the way the platform's
//! [`Wire`] says, and answers with the feed's pages unless the test's script answers first.
//! Violations are collected, not panicked on, so a test can report all of them at once.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::Response,
};

use crate::wire::Wire;

/// A request as the fake server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub path: String,
    /// The query as received (percent-encoded).
    pub raw_query: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
}

impl Recorded {
    /// A request with nothing in it, for replies that do not depend on the request.
    pub fn blank() -> Self {
        Self { at: Instant::now(), path: "/".into(), raw_query: String::new(), query: vec![], headers: BTreeMap::new() }
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// A query parameter that must be present and equal `want`.
    pub fn expect_query(&self, name: &str, want: &str) -> Result<(), String> {
        match self.query(name) {
            Some(v) if v == want => Ok(()),
            Some(v) => Err(format!("query '{name}' is '{v}', expected '{want}'")),
            None => Err(format!("query '{name}' is missing")),
        }
    }

    /// A header that must be present and equal `want`.
    pub fn expect_header(&self, name: &str, want: &str) -> Result<(), String> {
        match self.header(name) {
            Some(v) if v == want => Ok(()),
            Some(v) => Err(format!("header '{name}' is '{v}', expected '{want}'")),
            None => Err(format!("header '{name}' is missing")),
        }
    }

    /// A positive integer query parameter.
    pub fn number(&self, name: &str) -> Result<u64, String> {
        let v = self.query(name).ok_or_else(|| format!("query '{name}' is missing"))?;
        v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| format!("query '{name}' is '{v}', expected a positive integer"))
    }
}

/// One answer of the fake server.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, "application/json", body.to_string())
    }

    pub fn xml(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/xml; charset=utf-8", body)
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self::new(status, "text/plain", body)
    }

    pub fn html(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/html; charset=utf-8", body)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn into_response(self) -> Response {
        let mut b = Response::builder().status(self.status);
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b.body(Body::from(self.body)).unwrap_or_else(|e| {
            let mut r = Response::new(Body::from(format!("fake server cannot build its reply: {e}")));
            *r.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

/// Which slice of the feed a request asks for, read from the platform's paging parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// 0-based index of the first record.
    pub offset: u64,
    /// Records per page.
    pub limit: u64,
}

impl Ask {
    /// The 1-based ids of the records on this page of a feed of `total`.
    pub fn ids(&self, total: u64) -> std::ops::RangeInclusive<u64> {
        let first = self.offset + 1;
        let last = (self.offset + self.limit).min(total);
        first..=last
    }

    pub fn page(&self) -> u64 {
        self.offset / self.limit.max(1) + 1
    }
}

/// A test's answer to request `n` (0-based) asking for `ask`; `None` serves the feed's page.
pub type Script = Box<dyn Fn(usize, &Ask, &Recorded) -> Option<Reply> + Send + Sync>;

/// What the server saw: the request, the slice it asked for and the status it got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub req: Recorded,
    pub ask: Option<Ask>,
    pub status: u16,
}

struct Shared {
    wire: &'static dyn Wire,
    total: u64,
    script: Script,
    seen: Mutex<Vec<Seen>>,
    violations: Mutex<Vec<String>>,
}

/// A running fake server; stopped when dropped.
pub struct Fake {
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    /// Serves a feed of `total` records in `wire`'s format, with `script` answering first.
    pub async fn start(wire: &'static dyn Wire, total: u64, script: Script) -> Fake {
        let shared = Arc::new(Shared { wire, total, script, seen: Mutex::new(vec![]), violations: Mutex::new(vec![]) });
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { base: format!("http://{addr}"), shared, task }
    }

    /// A feed served as it is.
    pub async fn feed(wire: &'static dyn Wire, total: u64) -> Fake {
        Self::start(wire, total, Box::new(|_, _, _| None)).await
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Every request carried the credentials and valid paging parameters.
    pub fn assert_clean(&self) {
        let v = self.shared.violations.lock().unwrap_or_else(PoisonError::into_inner).clone();
        assert!(v.is_empty(), "the fake {} server saw bad requests:\n{}", self.shared.wire.platform(), v.join("\n"));
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let at = Instant::now();
    let uri = req.uri();
    let raw_query = uri.query().unwrap_or_default().to_string();
    let rec = Recorded {
        at,
        path: uri.path().to_string(),
        query: url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect(),
        raw_query,
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_string())))
            .collect(),
    };
    let n = {
        let mut seen = s.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.push(Seen { req: rec.clone(), ask: None, status: 0 });
        seen.len() - 1
    };
    let violation = |what: String| s.violations.lock().unwrap_or_else(PoisonError::into_inner).push(format!("request {n}: {what}"));
    let (ask, reply) = match (s.wire.check_auth(&rec), s.wire.ask(&rec)) {
        (Err(why), _) => {
            violation(format!("credentials: {why}"));
            (None, s.wire.refusal(401).0)
        }
        (Ok(()), Err(why)) => {
            violation(format!("paging: {why}"));
            (None, Reply::text(400, &format!("bad paging parameters: {why}")))
        }
        (Ok(()), Ok(ask)) => (Some(ask), (s.script)(n, &ask, &rec).unwrap_or_else(|| s.wire.page(s.total, &ask, &rec))),
    };
    if let Some(seen) = s.seen.lock().unwrap_or_else(PoisonError::into_inner).get_mut(n) {
        seen.ask = ask;
        seen.status = reply.status;
    }
    reply.into_response()
}
