//! The connector conformance suite: every connector (the six native ones and the built-in
//! declarative specs) is driven through the real [`Scaffold`] and [`Pager`] against a fake
//! server speaking its platform's wire format ([`wire`]), and must show the same properties:
//!
//! - paging visits every offer exactly once and stops (no request past the last page);
//! - 401/403 and the platform's documented in-body refusals are `Unauthorized`, not retried;
//! - 429 (and the documented in-body rate limit) is `RateLimited`; Retry-After is waited out;
//! - 5xx is retried up to `max_attempts`, then surfaced as `Transient` with the last response;
//! - a truncated body, an HTML page and wrong types are `InvalidPayload` with a readable message;
//! - the account's request budget is never exceeded, counted at the fake server;
//! - the credential never appears in an error, a kept last response or a request URL it does not
//!   belong in; the fake server checks credentials and paging parameters on every request.
//!
//! Tests are generated per connector: `cargo test -p agent --test conformance hasoffers::`.

mod fake;
mod wire;

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use agent::{
    connectors::{
        self, Connector, Cursor, FetchError,
        scaffold::{FetchFailure, FetchReport, Pager, Scaffold},
    },
    offer::CanonicalOffer,
};
use domain::{config::AgentConfig, crypto::Credentials};
use fake::{Fake, Reply, Seen};
use rust_decimal::Decimal;
use wire::{Wire, secret_forms};

/// Fast enough that the limiter does not slow the tests that are not about it.
const FAST_RPS: u32 = 200;
const PAGE_SIZE: u32 = 4;
/// Arrival times at the fake server may bunch up by network and scheduling jitter; windows are
/// shortened by this much before counting (the limiter's spacing is far larger).
const JITTER: Duration = Duration::from_millis(50);

/// One connector under test and its platform's wire.
struct Case {
    conn: Arc<dyn Connector>,
    wire: &'static dyn Wire,
}

impl Case {
    fn native(id: &str, wire: &'static dyn Wire) -> Self {
        Self { conn: connectors::by_id(id, &[]).expect("native connector"), wire }
    }

    fn spec(id: &str, wire: &'static dyn Wire) -> Self {
        let specs = connectors::spec::load(None).expect("built-in specs load");
        Self { conn: connectors::by_id(id, &specs).expect("built-in spec"), wire }
    }

    fn id(&self) -> &str {
        &self.conn.info().id
    }

    fn creds(&self, fake: &Fake) -> Credentials {
        self.wire.creds(&fake.base)
    }
}

fn config(max_backoff: Duration) -> AgentConfig {
    AgentConfig {
        max_attempts: 3,
        max_backoff,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        // The fake servers listen on loopback, which the agent refuses by default.
        allowed_networks: vec!["127.0.0.1/32".into()],
        ..AgentConfig::default()
    }
}

fn scaffold(max_backoff: Duration) -> Scaffold {
    Scaffold::new(&config(max_backoff)).expect("scaffold")
}

fn fast() -> Option<Decimal> {
    Some(Decimal::from(FAST_RPS))
}

/// What a walk over the feed brought back.
struct Walked {
    offers: Vec<CanonicalOffer>,
    records: usize,
    reports: Vec<FetchReport>,
}

/// The runtime's paging loop (`agent::runtime`): fetch the pager's cursor, hand the page to the
/// pager, stop when it says the feed is done.
async fn walk(s: &Scaffold, case: &Case, creds: &Credentials, rps: Option<Decimal>, page_size: u32) -> Result<Walked, FetchFailure> {
    let mut pager = Pager::new(page_size);
    let mut walked = Walked { offers: vec![], records: 0, reports: vec![] };
    loop {
        let (page, report) = s.fetch_page(case.conn.as_ref(), creds, rps, pager.cursor(), false).await?;
        walked.records += page.records;
        for o in page.offers.iter() {
            match o {
                Ok(offer) => walked.offers.push(offer.clone()),
                Err(inv) => panic!("{}: the fake's record {:?} is an invalid offer: {}", case.id(), inv.external_id, inv.reason),
            }
        }
        let next = pager.advance(&page, report.body_hash);
        walked.reports.push(report);
        match next {
            Ok(Some(_)) => continue,
            Ok(None) => return Ok(walked),
            Err(error) => return Err(FetchFailure { error, last_response: None, attempts: 0 }),
        }
    }
}

/// One page request at page 1.
async fn fetch_first(s: &Scaffold, case: &Case, fake: &Fake) -> Result<(agent::connectors::Page, FetchReport), FetchFailure> {
    s.fetch_page(case.conn.as_ref(), &case.creds(fake), fast(), Cursor { page: 1, page_size: PAGE_SIZE }, false).await
}

fn failure<T>(case: &Case, what: &str, r: Result<T, FetchFailure>) -> FetchFailure {
    match r {
        Ok(_) => panic!("{}: {what}: expected a failure, the fetch succeeded", case.id()),
        Err(f) => f,
    }
}

/// The credential appears nowhere in the error or the kept last response.
fn assert_redacted(case: &Case, what: &str, f: &FetchFailure) {
    let mut shown = vec![f.error.to_string()];
    if let Some(last) = &f.last_response {
        shown.extend([last.url.clone(), last.body_excerpt.clone()]);
        shown.extend(last.headers.iter().map(|(k, v)| format!("{k}: {v}")));
    }
    for text in shown {
        for s in secret_forms() {
            assert!(!text.contains(&s), "{}: {what}: the credential ({s}) leaks in {text}", case.id());
        }
    }
}

/// An error message a person can act on: it names the connector and `about`, holds no secret
/// and is not a dump.
fn assert_readable(case: &Case, what: &str, message: &str, about: &str) {
    assert!(message.contains(case.id()), "{}: {what}: the message does not name the connector: {message}", case.id());
    assert!(message.to_lowercase().contains(&about.to_lowercase()), "{}: {what}: the message does not say '{about}': {message}", case.id());
    assert!(message.chars().count() <= 400 && !message.chars().any(|c| c.is_control()), "{}: {what}: not readable: {message:?}", case.id());
}

fn statuses(seen: &[Seen]) -> Vec<u16> {
    seen.iter().map(|s| s.status).collect()
}

// ---------------------------------------------------------------------------------------------
// The properties.

mod properties {
    use super::*;

    /// Every offer is fetched exactly once, pages are asked for in order, and the pager stops at
    /// the last page: for a short last page, an exact multiple of the page size, and no offers.
    pub async fn paging(case: Case) {
        for total in [10u64, 8, 0] {
            let fake = Fake::feed(case.wire, total).await;
            let s = scaffold(Duration::from_millis(300));
            let walked = walk(&s, &case, &case.creds(&fake), fast(), PAGE_SIZE).await.unwrap_or_else(|f| {
                panic!("{}: walking {total} offers failed: {} (last response {:?})", case.id(), f.error, f.last_response)
            });
            fake.assert_clean();
            let ids: Vec<String> = walked.offers.iter().map(|o| o.external_id.clone()).collect();
            let unique: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "{}: an offer came twice: {ids:?}", case.id());
            let want: BTreeSet<String> = (1..=total).map(|n| case.wire.external_id(n)).collect();
            assert_eq!(unique, want.iter().collect(), "{}: the offers of a feed of {total}", case.id());
            assert_eq!(walked.records as u64, total, "{}: records counted", case.id());

            let size = u64::from(PAGE_SIZE);
            let pages = if total == 0 {
                1
            } else if case.wire.ends_on_short_page() {
                total / size + 1
            } else {
                total.div_ceil(size)
            };
            let asked: Vec<Option<(u64, u64)>> = fake.seen().iter().map(|s| s.ask.map(|a| (a.offset, a.limit))).collect();
            let want: Vec<Option<(u64, u64)>> = (0..pages).map(|p| Some((p * size, size))).collect();
            assert_eq!(
                asked,
                want,
                "{}: (offset, limit) of each request for a feed of {total}: pages in order, none past the end",
                case.id()
            );
            assert!(walked.reports.iter().all(|r| r.attempts == 1), "{}: no page was retried", case.id());
        }
    }

    /// 401 and 403 are `Unauthorized` with the platform's message, after one attempt.
    pub async fn refused(case: Case) {
        for status in [401, 403] {
            let (reply, says) = case.wire.refusal(status);
            let fake = Fake::start(case.wire, 3, Box::new(move |_, _, _| Some(reply.clone()))).await;
            let s = scaffold(Duration::from_millis(300));
            let f = failure(&case, &format!("HTTP {status}"), fetch_first(&s, &case, &fake).await);
            assert!(
                matches!(&f.error, FetchError::Unauthorized(m) if m.contains(&says)),
                "{}: HTTP {status} should be Unauthorized saying '{says}', got {:?}",
                case.id(),
                f.error
            );
            assert_eq!((f.attempts, statuses(&fake.seen())), (1, vec![status]), "{}: HTTP {status} is not retried", case.id());
            assert_eq!(f.last_response.as_ref().and_then(|l| l.status), Some(status));
            assert_redacted(&case, &format!("HTTP {status}"), &f);
            fake.assert_clean();
        }
    }

    /// The platform's documented in-body refusals are `Unauthorized`, after one attempt.
    pub async fn in_body_refusals(case: Case) {
        let documented = case.wire.in_body_refusals();
        assert!(!documented.is_empty(), "{}: no documented in-body refusal to test", case.id());
        for d in documented {
            let reply = d.reply.clone();
            let fake = Fake::start(case.wire, 3, Box::new(move |_, _, _| Some(reply.clone()))).await;
            let s = scaffold(Duration::from_millis(300));
            let f = failure(&case, d.what, fetch_first(&s, &case, &fake).await);
            assert!(
                matches!(&f.error, FetchError::Unauthorized(m) if m.contains(d.says)),
                "{}: {} should be Unauthorized saying '{}', got {:?}",
                case.id(),
                d.what,
                d.says,
                f.error
            );
            assert_eq!(f.attempts, 1, "{}: {} is not retried", case.id(), d.what);
            assert_eq!(fake.seen().len(), 1);
            assert_redacted(&case, d.what, &f);
            fake.assert_clean();
        }
    }

    /// A 429 with `Retry-After: 1` is waited out (measured at the fake server), then the page is
    /// fetched; a 429 on every attempt is `RateLimited` after `max_attempts`.
    pub async fn too_many_requests(case: Case) {
        let reply = case.wire.too_many_requests().with_header("retry-after", "1");
        let fake = Fake::start(case.wire, 3, Box::new(move |n, _, _| (n == 0).then(|| reply.clone()))).await;
        let s = scaffold(Duration::from_secs(2));
        let walked = walk(&s, &case, &case.creds(&fake), fast(), PAGE_SIZE).await.unwrap_or_else(|f| {
            panic!("{}: a 429 with Retry-After: 1 should be waited out, got {} ({:?})", case.id(), f.error, f.last_response)
        });
        let seen = fake.seen();
        assert_eq!(statuses(&seen), [429, 200], "{}", case.id());
        let gap = seen[1].req.at - seen[0].req.at;
        assert!(gap >= Duration::from_secs(1), "{}: the retry came {gap:?} after the 429, before Retry-After: 1", case.id());
        assert_eq!(walked.reports[0].rate_limit_waits, [Duration::from_secs(1)], "{}: the wait is reported", case.id());
        assert_eq!(walked.offers.len(), 3);
        fake.assert_clean();

        let reply = case.wire.too_many_requests().with_header("retry-after", "0");
        let fake = Fake::start(case.wire, 3, Box::new(move |_, _, _| Some(reply.clone()))).await;
        let f = failure(&case, "429 on every attempt", fetch_first(&s, &case, &fake).await);
        assert!(matches!(f.error, FetchError::RateLimited { .. }), "{}: expected RateLimited, got {:?}", case.id(), f.error);
        assert_eq!((f.attempts, fake.seen().len()), (3, 3), "{}: max_attempts is 3", case.id());
        assert_eq!(f.last_response.as_ref().and_then(|l| l.status), Some(429));
        assert_redacted(&case, "429", &f);
        fake.assert_clean();
    }

    /// The platform's documented in-body rate limit is `RateLimited` with the platform's wait;
    /// a wait longer than `max_backoff` is not slept but surfaced at once.
    pub async fn in_body_rate_limit(case: Case) {
        let Some((_, wait)) = case.wire.in_body_rate_limit(&fake::Recorded::blank()) else {
            panic!("{}: no documented in-body rate limit to test", case.id())
        };
        let s = scaffold(Duration::from_millis(300));
        let wire = case.wire;
        let fake = Fake::start(wire, 3, Box::new(move |_, _, req| wire.in_body_rate_limit(req).map(|(r, _)| r))).await;
        let f = failure(&case, "in-body rate limit", fetch_first(&s, &case, &fake).await);
        assert_eq!(
            match &f.error {
                FetchError::RateLimited { retry_after, .. } => *retry_after,
                other => panic!("{}: expected RateLimited, got {other:?}", case.id()),
            },
            Some(wait),
            "{}: the platform's wait",
            case.id()
        );
        assert_eq!((f.attempts, fake.seen().len()), (1, 1), "{}: a wait above max_backoff is surfaced, not slept", case.id());
        assert_redacted(&case, "in-body rate limit (the body echoes the key)", &f);
        fake.assert_clean();
    }

    /// A 500 is retried and the page fetched; a 503 on every attempt is `Transient` after
    /// `max_attempts`, with the last response kept and redacted (its body echoes the request).
    pub async fn server_errors(case: Case) {
        let fake = Fake::start(case.wire, 3, Box::new(|n, _, req| (n == 0).then(|| error_page(500, req)))).await;
        let s = scaffold(Duration::from_millis(300));
        let walked = walk(&s, &case, &case.creds(&fake), fast(), PAGE_SIZE)
            .await
            .unwrap_or_else(|f| panic!("{}: one 500 should be retried, got {}", case.id(), f.error));
        assert_eq!((statuses(&fake.seen()), walked.reports[0].attempts, walked.offers.len()), (vec![500, 200], 2, 3), "{}", case.id());
        fake.assert_clean();

        let fake = Fake::start(case.wire, 3, Box::new(|_, _, req| Some(error_page(503, req)))).await;
        let f = failure(&case, "503 on every attempt", fetch_first(&s, &case, &fake).await);
        assert!(matches!(&f.error, FetchError::Transient(m) if m.contains("503")), "{}: expected Transient, got {:?}", case.id(), f.error);
        assert_eq!((f.attempts, statuses(&fake.seen())), (3, vec![503, 503, 503]), "{}: max_attempts is 3", case.id());
        let last = f.last_response.as_ref().unwrap_or_else(|| panic!("{}: the last response is kept", case.id()));
        assert_eq!(last.status, Some(503));
        assert!(last.body_excerpt.contains("Service Unavailable"), "{}: the body is kept: {}", case.id(), last.body_excerpt);
        assert!(last.url.starts_with(&fake.base), "{}: the URL is kept: {}", case.id(), last.url);
        assert_redacted(&case, "503", &f);
        fake.assert_clean();
    }

    /// A body cut short is `InvalidPayload` saying so, at a quarter, half and three quarters of a
    /// page (a cut may fall inside a multi-byte character). Not retried.
    pub async fn truncated(case: Case) {
        let wire = case.wire;
        let fake = Fake::start(
            wire,
            3,
            Box::new(move |n, ask, req| {
                let full = wire.page(3, ask, req);
                let cut = full.body.len() * (n + 1) / 4;
                Some(Reply { body: full.body[..cut].to_vec(), ..full })
            }),
        )
        .await;
        let s = scaffold(Duration::from_millis(300));
        for quarter in 1..=3 {
            let what = format!("a body cut at {quarter}/4");
            let f = failure(&case, &what, fetch_first(&s, &case, &fake).await);
            match &f.error {
                FetchError::InvalidPayload(m) => assert_readable(&case, &what, m, "truncated"),
                other => panic!("{}: {what}: expected InvalidPayload, got {other:?}", case.id()),
            }
            assert_eq!(f.attempts, 1, "{}: {what} is not retried", case.id());
            assert_redacted(&case, &what, &f);
        }
        fake.assert_clean();
    }

    /// An HTML page with HTTP 200 (a login or parking page) is `InvalidPayload` saying HTML.
    pub async fn html_page(case: Case) {
        let fake = Fake::start(case.wire, 3, Box::new(|_, _, req| Some(login_page(req)))).await;
        let s = scaffold(Duration::from_millis(300));
        let f = failure(&case, "an HTML page", fetch_first(&s, &case, &fake).await);
        match &f.error {
            FetchError::InvalidPayload(m) => assert_readable(&case, "an HTML page", m, "HTML"),
            other => panic!("{}: an HTML page: expected InvalidPayload, got {other:?}", case.id()),
        }
        assert_eq!(f.attempts, 1);
        assert_redacted(&case, "an HTML page (it echoes the request)", &f);
        fake.assert_clean();
    }

    /// Well-formed bodies with the wrong type where the records or the envelope are, are
    /// `InvalidPayload` naming what is wrong, never an empty page.
    pub async fn wrong_types(case: Case) {
        for (reply, about) in case.wire.wrong_types() {
            let what = format!("wrong type ({about})");
            let body = String::from_utf8_lossy(&reply.body).into_owned();
            let fake = Fake::start(case.wire, 3, Box::new(move |_, _, _| Some(reply.clone()))).await;
            let s = scaffold(Duration::from_millis(300));
            let f = failure(&case, &format!("{what}: {body}"), fetch_first(&s, &case, &fake).await);
            match &f.error {
                FetchError::InvalidPayload(m) => assert_readable(&case, &what, m, about),
                other => panic!("{}: {what}: expected InvalidPayload for {body}, got {other:?}", case.id()),
            }
            assert_eq!(f.attempts, 1);
            fake.assert_clean();
        }
    }

    /// The account's budget holds at the fake server: no window of the budget's length ever
    /// sees more requests than it allows, with a sync and a preview walking the feed at once
    /// and a retry among them. The connector's own budget is used when its window is at most a
    /// second; longer windows (HasOffers' 50 per 10 s) are tested with an override of 5 per second.
    pub async fn budget(case: Case) {
        let info = case.conn.info();
        let (budget, window, rps) = if info.rate_limit_per <= Duration::from_secs(1) {
            (u64::from(info.rate_limit_requests), info.rate_limit_per, None)
        } else {
            (5, Duration::from_secs(1), Some(Decimal::from(5)))
        };
        // Two walks of this many pages each: more requests than one window allows.
        let pages = (budget + 2).div_ceil(2);
        let total = pages * u64::from(PAGE_SIZE);
        let fake = Fake::start(case.wire, total, Box::new(|n, _, req| (n == 2).then(|| error_page(503, req)))).await;
        let s = scaffold(Duration::from_millis(300));
        let creds = case.creds(&fake);
        let started = Instant::now();
        let (a, b) = tokio::join!(walk(&s, &case, &creds, rps, PAGE_SIZE), walk(&s, &case, &creds, rps, PAGE_SIZE));
        for w in [a, b] {
            let w = w.unwrap_or_else(|f| panic!("{}: a walk under the budget failed: {}", case.id(), f.error));
            assert_eq!(w.offers.len() as u64, total);
        }
        let times: Vec<Instant> = fake.seen().iter().map(|s| s.req.at).collect();
        let per_walk = pages + u64::from(case.wire.ends_on_short_page());
        assert_eq!(times.len() as u64, 2 * per_walk + 1, "{}: both walks and one retry", case.id());
        let span = window - JITTER;
        let busiest = (0..times.len()).map(|i| times[i..].iter().filter(|t| **t - times[i] < span).count()).max().unwrap_or(0);
        assert!(
            busiest as u64 <= budget,
            "{}: {busiest} requests within {span:?}, the budget is {budget} per {window:?} (arrivals after start: {:?})",
            case.id(),
            times.iter().map(|t| *t - started).collect::<Vec<_>>()
        );
        fake.assert_clean();
    }

    /// A proxy's error page that echoes the request, credentials included.
    pub fn error_page(status: u16, req: &fake::Recorded) -> Reply {
        let reason = if status == 503 { "Service Unavailable" } else { "Internal Server Error" };
        let headers: Vec<String> = req.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        Reply::html(
            status,
            format!(
                "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1>\
                 <p>GET {}?{}</p><pre>{}</pre></body></html>",
                req.path,
                req.raw_query,
                headers.join("\n")
            ),
        )
    }

    /// A login page served with HTTP 200, echoing where the user came from.
    pub fn login_page(req: &fake::Recorded) -> Reply {
        Reply::html(
            200,
            format!(
                "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><form method=\"post\" action=\"/login?next={}%3F{}\">\
                 <input name=\"user\"><input name=\"password\" type=\"password\"></form></body></html>",
                req.path, req.raw_query
            ),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// One module of tests per connector: `<connector>::<property>`.

macro_rules! conformance {
    ($($name:ident => $case:expr $(, $extra:ident)* ;)+) => {
        /// Every case of the suite.
        fn cases() -> Vec<Case> {
            vec![$($case),+]
        }
        $(
        mod $name {
            use super::*;

            fn case() -> Case {
                $case
            }

            #[tokio::test]
            async fn paging_visits_every_offer_exactly_once_and_stops() {
                properties::paging(case()).await
            }

            #[tokio::test]
            async fn http_401_and_403_are_unauthorized_and_not_retried() {
                properties::refused(case()).await
            }

            #[tokio::test]
            async fn http_429_waits_for_retry_after_then_surfaces_as_rate_limited() {
                properties::too_many_requests(case()).await
            }

            #[tokio::test]
            async fn server_errors_are_retried_then_surfaced_as_transient_and_redacted() {
                properties::server_errors(case()).await
            }

            #[tokio::test]
            async fn truncated_body_is_invalid_payload_saying_truncated() {
                properties::truncated(case()).await
            }

            #[tokio::test]
            async fn html_page_is_invalid_payload_saying_html() {
                properties::html_page(case()).await
            }

            #[tokio::test]
            async fn wrong_types_are_invalid_payload_naming_the_field() {
                properties::wrong_types(case()).await
            }

            #[tokio::test]
            async fn request_budget_is_never_exceeded() {
                properties::budget(case()).await
            }

            $(
                #[tokio::test]
                async fn $extra() {
                    properties::$extra(case()).await
                }
            )*
        }
    )+};
}

conformance! {
    hasoffers => Case::native("hasoffers", &wire::HasOffers), in_body_refusals, in_body_rate_limit;
    everflow => Case::native("everflow", &wire::Everflow);
    affise => Case::native("affise", &wire::Affise);
    cake => Case::native("cake", &wire::Cake), in_body_refusals;
    trackier => Case::native("trackier", &wire::Trackier), in_body_refusals;
    offer18 => Case::native("offer18", &wire::Offer18);
    trackier_spec => Case::spec("trackier-spec", &wire::Trackier), in_body_refusals;
    offer18_spec => Case::spec("offer18-spec", &wire::Offer18);
}

/// The suite covers every connector the registry knows: the natives and the built-in specs.
#[test]
fn every_connector_is_in_the_suite() {
    let specs = connectors::spec::load(None).expect("built-in specs load");
    let known: BTreeSet<String> = connectors::all(&specs).iter().map(|c| c.info().id.clone()).collect();
    let tested: BTreeSet<String> = cases().iter().map(|c| c.id().to_string()).collect();
    assert_eq!(tested, known);
}
