//! The sample advertiser as an HTTP server on loopback, speaking two platforms' wire formats
//! over one feed:
//! - TUNE (HasOffers): `GET /Apiv3/json?NetworkId=sample&api_key=…&Target=…&Method=…`
//!   (`Affiliate_AffiliateUser::getContext`, `Affiliate_Offer::findMyApprovedOffers` with
//!   `limit` and `page`); errors in the `{"response": {"status": -1, …}}` envelope.
//! - Everflow: `GET /v1/affiliates/offersrunnable?page=&page_size=` with the
//!   `X-Eflow-API-Key` header; errors as `{"error": …}` with 401 or 429.
//!
//! `offerbridge demo` imports from it and the end-to-end tests use it as their fake advertiser:
//! one piece of code. Its feed moves one [`Change`] step at each [`SampleAdvertiser::advance`]
//! (the demo calls it every minute), so refreshes, locks and the vanish policy can be watched.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Change, everflow_page, hasoffers_context, hasoffers_page_of, offer_ids};

/// The API key both platforms accept (HasOffers `api_key`, Everflow `X-Eflow-API-Key`).
pub const API_KEY: &str = "sample-advertiser-key";
/// The HasOffers network id (`NetworkId`).
pub const NETWORK_ID: &str = "sample";

/// What the sample advertiser serves.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Offers in the feed at generation 0.
    pub offers: u32,
    /// How long each page takes to answer.
    pub page_delay: Duration,
    /// The largest page served, whatever the client asks.
    pub max_page_size: u32,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self { offers: 300, page_delay: Duration::ZERO, max_page_size: 50 }
    }
}

/// A running sample advertiser; dropping it stops the server.
pub struct SampleAdvertiser {
    /// `http://127.0.0.1:<port>`: the `api_url` credential of either platform.
    pub url: String,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// Requests received (offer pages and HasOffers context calls).
    pub requests: Arc<AtomicU32>,
    /// Requests still to answer with the platform's rate-limit error (Everflow: 429 with
    /// `Retry-After: 1`; HasOffers: its `status: -1` envelope saying the limit was exceeded).
    pub rate_limited: Arc<AtomicU32>,
    feed: Arc<Feed>,
    stop: CancellationToken,
}

#[derive(Clone, Copy)]
enum Platform {
    HasOffers,
    Everflow,
}

struct Feed {
    options: SampleOptions,
    generation: AtomicU32,
    requests: Arc<AtomicU32>,
    rate_limited: Arc<AtomicU32>,
}

impl Feed {
    /// The offers and the change function at the current generation.
    fn now(&self) -> (Vec<u32>, impl Fn(u32) -> Change + use<>) {
        let (offers, generation) = (self.options.offers, self.generation.load(Ordering::SeqCst));
        (offer_ids(offers, generation), move |id| Change::in_feed(id, offers, generation))
    }

    /// Counts the request; while `rate_limited` lasts, the platform's rate-limit answer.
    fn admit(&self, platform: Platform) -> Option<Response> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.rate_limited.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok().then(|| match platform {
            // TUNE answers HTTP 200 with an error envelope (research §1.4).
            Platform::HasOffers => hasoffers_error("API usage exceeded rate limit. Configured: 50/10s window"),
            Platform::Everflow => {
                (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], Json(json!({"error": "Too Many Requests"}))).into_response()
            }
        })
    }

    fn page_size(&self, asked: Option<&String>) -> u32 {
        asked.and_then(|p| p.parse().ok()).unwrap_or(self.options.max_page_size).clamp(1, self.options.max_page_size.max(1))
    }
}

fn page_number(asked: Option<&String>) -> u32 {
    asked.and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1)
}

fn json_body(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl SampleAdvertiser {
    /// Listens on 127.0.0.1 (a free port) until dropped.
    pub async fn start(options: SampleOptions) -> std::io::Result<SampleAdvertiser> {
        Self::start_on("127.0.0.1:0", options).await
    }

    /// Listens on `addr` until dropped.
    pub async fn start_on(addr: &str, options: SampleOptions) -> std::io::Result<SampleAdvertiser> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let (requests, rate_limited) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let feed =
            Arc::new(Feed { options, generation: AtomicU32::new(0), requests: requests.clone(), rate_limited: rate_limited.clone() });
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/Apiv3/json", get(hasoffers))
            .route("/v1/affiliates/offersrunnable", get(everflow))
            .with_state(feed.clone());
        let s = stop.clone();
        tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await });
        Ok(SampleAdvertiser { url, addr, requests, rate_limited, feed, stop })
    }

    /// Moves the feed one step now; the new generation.
    pub fn advance(&self) -> u32 {
        self.feed.generation.fetch_add(1, Ordering::SeqCst) + 1
    }
}

impl Drop for SampleAdvertiser {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A HasOffers error envelope (HTTP 200, `status` -1), as the platform answers.
fn hasoffers_error(message: &str) -> Response {
    Json(
        json!({"response": {"status": -1, "httpStatus": 200, "data": "", "errors": [{"publicMessage": message}], "errorMessage": message}}),
    )
    .into_response()
}

async fn hasoffers(State(feed): State<Arc<Feed>>, Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    if let Some(limited) = feed.admit(Platform::HasOffers) {
        return limited;
    }
    if q.get("NetworkId").map(String::as_str) != Some(NETWORK_ID) {
        return hasoffers_error("NetworkId is not a valid network");
    }
    if q.get("api_key").map(String::as_str) != Some(API_KEY) {
        return hasoffers_error("Invalid API key provided");
    }
    match (q.get("Target").map(String::as_str), q.get("Method").map(String::as_str)) {
        (Some("Affiliate_AffiliateUser"), Some("getContext")) => json_body(hasoffers_context()),
        (Some("Affiliate_Offer"), Some("findMyApprovedOffers" | "findAll")) => {
            tokio::time::sleep(feed.options.page_delay).await;
            let (ids, change) = feed.now();
            json_body(hasoffers_page_of(&ids, page_number(q.get("page")), feed.page_size(q.get("limit")), 0, change))
        }
        (target, method) => hasoffers_error(&format!("Method {}::{} does not exist", target.unwrap_or(""), method.unwrap_or(""))),
    }
}

async fn everflow(
    State(feed): State<Arc<Feed>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(limited) = feed.admit(Platform::Everflow) {
        return limited;
    }
    if headers.get("x-eflow-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "No Authentication Method Found"}))).into_response();
    }
    tokio::time::sleep(feed.options.page_delay).await;
    let (ids, change) = feed.now();
    json_body(everflow_page(&ids, page_number(q.get("page")), feed.page_size(q.get("page_size")), change))
}
