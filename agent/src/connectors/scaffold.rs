//! The shared HTTP scaffold every connector uses: one page at a time, with timeouts,
//! retries (exponential backoff with jitter, honouring Retry-After), one rate limiter per
//! advertiser account, a response cache with conditional requests, a paging loop guard and
//! redaction of credentials in everything that leaves it.

use std::{
    collections::BTreeMap,
    num::NonZeroU32,
    sync::Arc,
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use domain::{config::AgentConfig, crypto::Credentials, metrics as m};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AccountContext, Connector, Cursor, FetchError, InvalidOffer, Page, PageRequest, RawResponse, SplitPage};

/// How much of a failed response body is kept for the admin to read.
const BODY_EXCERPT_BYTES: usize = 4096;
/// A feed with more pages than this is treated as a paging loop.
const MAX_PAGES: u32 = 100_000;

/// Requests are spaced this much wider than the budget allows, so a platform counting requests
/// in fixed windows never sees one more than its limit: 10 s / 50 at 200 ms spacing puts 51
/// requests in a closed 10 s window, at 216 ms 47; at 5/s one request may arrive up to 80 ms
/// late (a busy machine, a new connection) without a sixth landing in one second. 92.6% of the
/// budget stays usable.
pub const BUDGET_MARGIN: f64 = 1.08;

/// Where advertiser accounts' request budgets are kept. Each request reserves the account's
/// next slot, `interval` after the previous reservation; the answer is how long to wait
/// before sending.
pub trait Budget: Send + Sync {
    fn reserve<'a>(&'a self, account: &'a str, interval: Duration) -> futures::future::BoxFuture<'a, Result<Duration, String>>;
}

/// A budget kept in this process (a scaffold without a database: the connector tests). The
/// agent uses the database's ([`crate::budget::DbBudget`]) so that every agent shares one.
pub struct LocalBudget {
    limiters: moka::sync::Cache<(String, Duration), Arc<DefaultDirectRateLimiter>>,
}

impl Default for LocalBudget {
    fn default() -> Self {
        Self { limiters: moka::sync::Cache::new(10_000) }
    }
}

impl Budget for LocalBudget {
    fn reserve<'a>(&'a self, account: &'a str, interval: Duration) -> futures::future::BoxFuture<'a, Result<Duration, String>> {
        let limiter = self.limiters.get_with((account.to_string(), interval), || {
            let quota = Quota::with_period(interval.max(Duration::from_micros(100)))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::MIN);
            Arc::new(RateLimiter::direct(quota))
        });
        Box::pin(async move {
            limiter.until_ready().await;
            Ok(Duration::ZERO)
        })
    }
}

/// The last upstream answer of a failed request, redacted, for the admin to read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastResponse {
    pub url: String,
    pub status: Option<u16>,
    pub headers: BTreeMap<String, String>,
    pub body_excerpt: String,
}

/// A fetch that failed after its attempts, with what the platform last said.
#[derive(Debug, Clone)]
pub struct FetchFailure {
    pub error: FetchError,
    pub last_response: Option<LastResponse>,
    pub attempts: u32,
}

/// What happened while fetching one page.
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    pub attempts: u32,
    pub from_cache: bool,
    pub not_modified: bool,
    /// Waits caused by rate-limit answers (Retry-After or backoff).
    pub rate_limit_waits: Vec<Duration>,
    /// Waits on our own limiter (the account's budget).
    pub limiter_wait: Duration,
    /// Hash of the body, for the loop guard.
    pub body_hash: [u8; 32],
}

#[derive(Clone)]
struct CachedPage {
    fetched_at: Instant,
    etag: Option<String>,
    last_modified: Option<String>,
    resp: RawResponse,
}

/// One per agent process; cheap to clone.
#[derive(Clone)]
pub struct Scaffold {
    client: reqwest::Client,
    budget: Arc<dyn Budget>,
    cache: moka::future::Cache<String, CachedPage>,
    cfg: Arc<AgentConfig>,
    policy: Arc<domain::netguard::TargetPolicy>,
}

/// Why a connection was refused by the address policy; found again in reqwest's error chain.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// DNS through the system resolver, keeping only addresses the policy allows: a public name
/// that resolves to a private address is refused at connect time, after resolution, so the
/// address checked is the address connected to.
struct GuardedResolver(Arc<domain::netguard::TargetPolicy>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (ok, refused): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|a| policy.refuses(a.ip()).is_none());
            if ok.is_empty() {
                let why = refused
                    .first()
                    .and_then(|a| policy.refuses_resolved(&host, a.ip()))
                    .unwrap_or_else(|| format!("{host} resolves to no address"));
                return Err(Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Scaffold {
    pub fn new(cfg: &AgentConfig) -> Result<Self, FetchError> {
        let policy = Arc::new(cfg.target_policy().map_err(FetchError::Config)?);
        let redirects = policy.clone();
        let client = reqwest::Client::builder()
            // No HTTP(S)_PROXY from the environment: a proxy would resolve and fetch the
            // advertiser's host itself, past the address policy.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 10 {
                    return attempt.error(Refused("more than 10 redirects".into()));
                }
                match redirects.refuses_literal(attempt.url()) {
                    Some(why) => attempt.error(Refused(format!("a redirect to {why}"))),
                    None => attempt.follow(),
                }
            }))
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("offerbridge/", env!("CARGO_PKG_VERSION")))
            .gzip(true)
            .build()
            .map_err(|e| FetchError::Config(format!("cannot build HTTP client: {e}")))?;
        let cache = moka::future::Cache::builder()
            .weigher(|_k: &String, v: &CachedPage| u32::try_from(v.resp.body.len()).unwrap_or(u32::MAX))
            .max_capacity(cfg.cache_max_mib * 1024 * 1024)
            .time_to_live(cfg.cache_ttl.saturating_mul(4).max(Duration::from_secs(1)))
            .build();
        Ok(Self { client, budget: Arc::new(LocalBudget::default()), cache, cfg: Arc::new(cfg.clone()), policy })
    }

    /// Keeps every advertiser account's request budget in `budget` (the agent passes the
    /// database's, shared by all agents) instead of this process.
    pub fn with_budget(mut self, budget: Arc<dyn Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// The values in `creds` that must never leave the scaffold.
    pub fn secrets(conn: &dyn Connector, creds: &Credentials) -> Vec<String> {
        let fields = &conn.info().credential_fields;
        let mut out: Vec<String> = creds
            .iter()
            .filter(|(k, v)| {
                let declared = fields.iter().find(|f| f.name == k.as_str());
                let secret = match declared {
                    Some(f) => f.secret,
                    None => k.as_str() != "api_url" && v.len() >= 8,
                };
                secret && !v.is_empty()
            })
            .map(|(_, v)| v.clone())
            .collect();
        // A password written into a URL (`https://user:pass@host`) is a secret whatever field
        // holds it.
        for v in creds.values() {
            if let Ok(u) = url::Url::parse(v) {
                out.extend(u.password().filter(|p| !p.is_empty()).map(str::to_string));
                // A user name is redacted like an undeclared field: when long enough that
                // replacing it cannot garble ordinary text.
                let user = u.username();
                if user.len() >= 8 {
                    out.push(user.to_string());
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        out.sort_by_key(|s| std::cmp::Reverse(s.len()));
        out
    }

    /// The advertiser account a request spends the budget of (platform, API host and the
    /// credentials, not the integration: every integration, preview and sync of one account
    /// shares it), and the spacing between its requests: the integration's
    /// `rateLimitPerSecond`, or the platform's documented limit, plus [`BUDGET_MARGIN`] so no
    /// window of the platform's ever sees one request too many.
    fn account(conn: &dyn Connector, creds: &Credentials, req: &PageRequest, rps: Option<Decimal>) -> (String, Duration) {
        let info = conn.info();
        let mut h = Sha256::new();
        h.update(info.id.as_bytes());
        h.update(req.url.host_str().unwrap_or_default().as_bytes());
        for (k, v) in creds {
            if k != "api_url" {
                h.update(k.as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([0]);
            }
        }
        let period = match rps.filter(|r| *r > Decimal::ZERO).and_then(|r| (Decimal::ONE / r).to_f64()) {
            Some(secs) => Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(3600)),
            None => info.rate_limit_per / info.rate_limit_requests.max(1),
        };
        // At most one request an hour, at least 100 us apart: no setting can overflow the budget.
        (hex::encode(h.finalize()), period.mul_f64(BUDGET_MARGIN).clamp(Duration::from_micros(100), Duration::from_secs(3600)))
    }

    fn cache_key(conn: &dyn Connector, req: &PageRequest) -> String {
        let mut h = Sha256::new();
        h.update(conn.info().id.as_bytes());
        h.update(req.url.as_str().as_bytes());
        for (k, v) in &req.headers {
            h.update(k.as_bytes());
            h.update(v.as_bytes());
        }
        if let Some((u, p)) = &req.basic_auth {
            h.update(u.as_bytes());
            h.update(p.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Fetches and parses one page, with the account's rate limit, the cache and retries,
    /// then the page's per-offer follow-up requests ([`Connector::detail_request`]).
    /// `use_cache` lets a preview reuse a page a sync fetched moments ago (and vice versa).
    pub async fn fetch_page(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        rps: Option<Decimal>,
        cursor: Cursor,
        use_cache: bool,
    ) -> Result<(Page, FetchReport), FetchFailure> {
        let secrets = Self::secrets(conn, creds);
        let req = conn.page_request(creds, cursor).map_err(|e| failure(e, None, 0, &secrets))?;
        let (mut page, mut report) = self.fetch(conn, creds, rps, &req, use_cache, |r| conn.parse_page(creds, r)).await?;
        self.fetch_details(conn, creds, rps, &mut page, &mut report).await?;
        Ok((redact_page(page, &secrets), report))
    }

    /// One page for a run, never from the cache: split into its records when the connector
    /// can ([`Connector::split_page`]), else parsed whole (with follow-up requests and
    /// redaction, as [`Scaffold::fetch_page`]). A split page's records are parsed by the
    /// caller, then passed to [`Scaffold::redact_offers`].
    pub async fn fetch_run_page(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        rps: Option<Decimal>,
        cursor: Cursor,
    ) -> Result<(RunPage, FetchReport), FetchFailure> {
        let secrets = Self::secrets(conn, creds);
        let req = conn.page_request(creds, cursor).map_err(|e| failure(e, None, 0, &secrets))?;
        let split = |r: &RawResponse| match conn.split_page(r) {
            Some(split) => Ok(RunPage::Split(split)),
            None => conn.parse_page(creds, r).map(RunPage::Parsed),
        };
        match self.fetch(conn, creds, rps, &req, false, split).await? {
            (RunPage::Parsed(mut page), mut report) => {
                self.fetch_details(conn, creds, rps, &mut page, &mut report).await?;
                Ok((RunPage::Parsed(redact_page(page, &secrets)), report))
            }
            split => Ok(split),
        }
    }

    /// Redacts the credentials out of offers parsed from a [`SplitPage`].
    pub fn redact_offers(conn: &dyn Connector, creds: &Credentials, page: Page) -> Page {
        redact_page(page, &Self::secrets(conn, creds))
    }

    /// The account's context ([`Connector::context_request`]), fetched once and then served
    /// from the cache for `cache_ttl`: every run and preview of the account shares it.
    pub async fn fetch_context(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        rps: Option<Decimal>,
    ) -> Result<AccountContext, FetchFailure> {
        let secrets = Self::secrets(conn, creds);
        let Some(req) = conn.context_request(creds) else {
            return Ok(AccountContext::default());
        };
        let req = req.map_err(|e| failure(e, None, 0, &secrets))?;
        Ok(self.fetch(conn, creds, rps, &req, true, |r| conn.parse_context(creds, r)).await?.0)
    }

    /// Runs the follow-up request of every offer that needs one, through the same limiter and
    /// cache. An answer that cannot be read makes that offer invalid (it keeps its campaign);
    /// refused credentials, rate limits and outages fail the page, which changes nothing.
    async fn fetch_details(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        rps: Option<Decimal>,
        page: &mut Page,
        report: &mut FetchReport,
    ) -> Result<(), FetchFailure> {
        let secrets = Self::secrets(conn, creds);
        for slot in page.offers.iter_mut() {
            let Ok(offer) = slot else { continue };
            let Some(req) = conn.detail_request(creds, offer) else { continue };
            let id = offer.external_id.clone();
            let invalid = |e: FetchError| InvalidOffer { external_id: Some(id.clone()), reason: redact_cut(&e.to_string(), &secrets) };
            let req = match req {
                Ok(r) => r,
                Err(e) => {
                    *slot = Err(invalid(e));
                    continue;
                }
            };
            match self.fetch(conn, creds, rps, &req, true, |r| Ok(r.clone())).await {
                Ok((resp, r)) => {
                    report.rate_limit_waits.extend(r.rate_limit_waits);
                    report.limiter_wait += r.limiter_wait;
                    if let Err(e) = conn.apply_detail(creds, offer, &resp) {
                        *slot = Err(invalid(e));
                    }
                }
                Err(f) if matches!(f.error, FetchError::InvalidPayload(_) | FetchError::NotFound(_)) => *slot = Err(invalid(f.error)),
                Err(f) => return Err(f),
            }
        }
        Ok(())
    }

    /// One request with the account's rate limit, the cache and retries, parsed by `parse`.
    async fn fetch<T>(
        &self,
        conn: &dyn Connector,
        creds: &Credentials,
        rps: Option<Decimal>,
        req: &PageRequest,
        use_cache: bool,
        parse: impl Fn(&RawResponse) -> Result<T, FetchError>,
    ) -> Result<(T, FetchReport), FetchFailure> {
        let secrets = Self::secrets(conn, creds);
        let fail = |error: FetchError, last: Option<LastResponse>, attempts| failure(error, last, attempts, &secrets);
        let key = Self::cache_key(conn, req);
        let (account, interval) = Self::account(conn, creds, req, rps);
        let mut report = FetchReport::default();
        let stale = if use_cache { self.cache.get(&key).await } else { None };
        let platform = conn.info().id.to_string();
        if let Some(hit) = &stale
            && hit.fetched_at.elapsed() < self.cfg.cache_ttl
        {
            metrics::counter!(m::PAGE_CACHE, "result" => "hit").increment(1);
            report.from_cache = true;
            report.body_hash = Sha256::digest(&hit.resp.body).into();
            let parsed = parse(&hit.resp).map_err(|e| fail(e, None, 0))?;
            return Ok((parsed, report));
        }
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(self.cfg.max_backoff)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.cfg.max_attempts.saturating_sub(1) as usize)
            .build();
        loop {
            report.attempts += 1;
            let t = Instant::now();
            let wait = self.budget.reserve(&account, interval).await.map_err(|e| fail(FetchError::Transient(e), None, report.attempts))?;
            tokio::time::sleep(wait).await;
            let waited = t.elapsed();
            report.limiter_wait += waited;
            if !wait.is_zero() {
                metrics::histogram!(m::RATE_LIMIT_WAIT_SECONDS, "platform" => platform.clone(), "cause" => "budget")
                    .record(waited.as_secs_f64());
            }
            let outcome = self.send(req, stale.as_ref()).await;
            let status = outcome.as_ref().map_or_else(|_| "error".to_string(), |r| r.status.to_string());
            metrics::counter!(m::UPSTREAM_REQUESTS, "platform" => platform.clone(), "status" => status).increment(1);
            if use_cache && report.attempts == 1 {
                let result = if matches!((&outcome, &stale), (Ok(r), Some(_)) if r.status == 304) { "revalidated" } else { "miss" };
                metrics::counter!(m::PAGE_CACHE, "result" => result).increment(1);
            }
            let last: Option<LastResponse>;
            let err = match outcome {
                Ok(resp) => {
                    let (resp, not_modified) = match (resp.status, &stale) {
                        (304, Some(hit)) => (hit.resp.clone(), true),
                        _ => (resp, false),
                    };
                    report.not_modified = not_modified;
                    let parsed = if (200..300).contains(&resp.status) {
                        parse(&resp)
                    } else {
                        Err(conn.classify_status(&resp).unwrap_or_else(|| classify(&resp)))
                    };
                    match parsed {
                        Ok(parsed) => {
                            report.body_hash = Sha256::digest(&resp.body).into();
                            if self.cfg.cache_max_mib > 0 && (use_cache || stale.is_none()) {
                                let etag = resp.headers.get("etag").cloned();
                                let last_modified = resp.headers.get("last-modified").cloned();
                                self.cache.insert(key, CachedPage { fetched_at: Instant::now(), etag, last_modified, resp }).await;
                            }
                            return Ok((parsed, report));
                        }
                        Err(e) => {
                            last = Some(LastResponse {
                                url: redact(req.url.as_str(), &secrets),
                                status: Some(resp.status),
                                headers: resp.headers.iter().map(|(k, v)| (k.clone(), redact(v, &secrets))).collect(),
                                body_excerpt: redacted_excerpt(&resp.body, &secrets),
                            });
                            e
                        }
                    }
                }
                Err(e) => {
                    last = Some(LastResponse {
                        url: redact(req.url.as_str(), &secrets),
                        status: None,
                        headers: BTreeMap::new(),
                        body_excerpt: redact_cut(&e.to_string(), &secrets),
                    });
                    e
                }
            };
            let wait = match &err {
                FetchError::RateLimited { retry_after: Some(d), .. } => {
                    if *d > self.cfg.max_backoff {
                        return Err(fail(err, last, report.attempts));
                    }
                    backoff.next().map(|_| *d)
                }
                FetchError::RateLimited { retry_after: None, .. } | FetchError::Transient(_) => backoff.next(),
                _ => None,
            };
            let Some(wait) = wait else {
                return Err(fail(err, last, report.attempts));
            };
            if matches!(err, FetchError::RateLimited { .. }) {
                report.rate_limit_waits.push(wait);
                metrics::histogram!(m::RATE_LIMIT_WAIT_SECONDS, "platform" => platform.clone(), "cause" => "upstream")
                    .record(wait.as_secs_f64());
            }
            metrics::counter!(m::UPSTREAM_RETRIES, "platform" => platform.clone()).increment(1);
            tracing::debug!(connector = %conn.info().id, attempt = report.attempts, wait_ms = wait.as_millis() as u64, code = err.code(), "retrying {} after {:?}", redact(req.url.path(), &secrets), wait);
            tokio::time::sleep(wait).await;
        }
    }

    async fn send(&self, req: &PageRequest, stale: Option<&CachedPage>) -> Result<RawResponse, FetchError> {
        // Literal addresses never reach the resolver: check them here.
        if let Some(why) = self.policy.refuses_literal(&req.url) {
            return Err(FetchError::TargetRefused(why));
        }
        let mut rb = self.client.get(req.url.clone());
        for (k, v) in &req.headers {
            rb = rb.header(k, v);
        }
        if let Some((u, p)) = &req.basic_auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(hit) = stale {
            if let Some(e) = &hit.etag {
                rb = rb.header("if-none-match", e);
            }
            if let Some(m) = &hit.last_modified {
                rb = rb.header("if-modified-since", m);
            }
        }
        let resp = rb.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let headers =
            resp.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))).collect();
        let body = resp.bytes().await.map_err(transport_error)?;
        Ok(RawResponse { status, headers, body })
    }
}

fn transport_error(e: reqwest::Error) -> FetchError {
    // A refusal by the address policy (resolver or redirect), wherever reqwest wrapped it.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return FetchError::TargetRefused(r.0.clone());
        }
        source = s.source();
    }
    // reqwest errors carry the URL (with API keys in the query): strip it.
    let e = e.without_url();
    if e.is_timeout() {
        FetchError::Transient(format!("timed out: {e}"))
    } else if e.is_connect() {
        FetchError::Transient(format!("cannot connect: {e}"))
    } else {
        FetchError::Transient(e.to_string())
    }
}

/// The scaffold's reading of a non-2xx status.
pub fn classify(resp: &RawResponse) -> FetchError {
    let msg = upstream_message(&resp.body);
    match resp.status {
        401 | 403 => FetchError::Unauthorized(format!("HTTP {}: {msg}", resp.status)),
        404 => FetchError::NotFound(format!("HTTP 404: {msg}")),
        429 => FetchError::RateLimited { retry_after: retry_after(&resp.headers), message: format!("HTTP 429: {msg}") },
        408 | 500..=599 => FetchError::Transient(format!("HTTP {}: {msg}", resp.status)),
        s => FetchError::InvalidPayload(format!("HTTP {s}: {msg}")),
    }
}

/// Retry-After as seconds or an HTTP date.
pub fn retry_after(headers: &BTreeMap<String, String>) -> Option<Duration> {
    let v = headers.get("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// A short readable message from an error body: a JSON `error`/`message` field, else text.
pub fn upstream_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        for ptr in ["/error/message", "/error", "/message", "/errorMessage", "/response/errorMessage"] {
            if let Some(s) = v.pointer(ptr).and_then(|x| x.as_str()) {
                return s.to_string();
            }
        }
    }
    let text = excerpt(body);
    let t = text.trim();
    if t.starts_with('<') { "(HTML or XML error page)".to_string() } else { t.chars().take(200).collect() }
}

/// The first bytes of a body with secrets removed: redacted whole, then cut, so a key that
/// straddles the cut leaves no prefix behind.
fn redacted_excerpt(body: &[u8], secrets: &[String]) -> String {
    let whole = redact(&String::from_utf8_lossy(body), secrets);
    let mut end = whole.len().min(BODY_EXCERPT_BYTES);
    while !whole.is_char_boundary(end) {
        end -= 1;
    }
    whole[..end].to_string()
}

fn excerpt(body: &[u8]) -> String {
    let end = body.len().min(BODY_EXCERPT_BYTES);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// Replaces every secret in `text` with `***`: as it is, URL-encoded (a key in a query string)
/// and JSON-escaped (a key echoed in a body, also with PHP's `\/` for `/`, as HasOffers does).
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 3 {
            let url_encoded = url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let json_escaped = serde_json::to_string(s).map(|q| q[1..q.len() - 1].to_string()).unwrap_or_default();
            let php_escaped = json_escaped.replace('/', "\\/");
            for form in [s.as_str(), &url_encoded, &json_escaped, &php_escaped] {
                if !form.is_empty() {
                    out = out.replace(form, "***");
                }
            }
        }
    }
    out
}

/// [`redact`] for text that may have been cut short (a 200-character upstream message inside
/// an error): a tail that is the first characters (4 or more) of a key is dropped too.
pub fn redact_cut(text: &str, secrets: &[String]) -> String {
    let mut out = redact(text, secrets);
    for s in secrets {
        // Byte ends of the key's prefixes of 4 or more characters (but not all of it), longest first.
        let ends: Vec<usize> = s.char_indices().skip(4).map(|(i, _)| i).collect();
        if let Some(&end) = ends.iter().rev().find(|&&end| out.ends_with(&s[..end])) {
            out.truncate(out.len() - end);
            out.push_str("***");
        }
    }
    out
}

fn failure(error: FetchError, last_response: Option<LastResponse>, attempts: u32, secrets: &[String]) -> FetchFailure {
    FetchFailure { error: redact_error(error, secrets), last_response, attempts }
}

fn redact_error(e: FetchError, secrets: &[String]) -> FetchError {
    let r = |m: String| redact_cut(&m, secrets);
    match e {
        FetchError::Unauthorized(m) => FetchError::Unauthorized(r(m)),
        FetchError::RateLimited { retry_after, message } => FetchError::RateLimited { retry_after, message: r(message) },
        FetchError::Transient(m) => FetchError::Transient(r(m)),
        FetchError::InvalidPayload(m) => FetchError::InvalidPayload(r(m)),
        FetchError::NotFound(m) => FetchError::NotFound(r(m)),
        FetchError::Config(m) => FetchError::Config(r(m)),
        FetchError::TargetRefused(m) => FetchError::TargetRefused(r(m)),
    }
}

fn redact_json(v: &mut serde_json::Value, secrets: &[String]) {
    match v {
        serde_json::Value::String(s) if secrets.iter().any(|x| s.contains(x.as_str())) => *s = redact(s, secrets),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| redact_json(x, secrets)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| redact_json(x, secrets)),
        _ => {}
    }
}

fn redact_page(mut page: Page, secrets: &[String]) -> Page {
    if secrets.is_empty() {
        return page;
    }
    for o in page.offers.iter_mut() {
        match o {
            Ok(offer) => {
                redact_json(&mut offer.raw, secrets);
                offer.name = redact(&offer.name, secrets);
                for t in [&mut offer.description_html, &mut offer.description_text].into_iter().flatten() {
                    *t = redact(t, secrets);
                }
                for u in [&mut offer.tracking_url, &mut offer.impression_url, &mut offer.preview_url].into_iter().flatten() {
                    *u = redact(u, secrets);
                }
            }
            Err(inv) => inv.reason = redact_cut(&inv.reason, secrets),
        }
    }
    page
}

/// A page as [`Scaffold::fetch_run_page`] hands it over.
pub enum RunPage {
    /// Parsed whole.
    Parsed(Page),
    /// Cut into records, not parsed yet.
    Split(SplitPage),
}

/// Walks the pages of a feed and decides when it ends; guards against loops.
#[derive(Debug)]
pub struct Pager {
    cursor: Cursor,
    seen_records: u64,
    last_hash: Option<[u8; 32]>,
}

impl Pager {
    pub fn new(page_size: u32) -> Self {
        Self { cursor: Cursor { page: 1, page_size: page_size.max(1) }, seen_records: 0, last_hash: None }
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The next cursor after `page`, or `None` when the feed is done.
    pub fn advance(&mut self, page: &Page, body_hash: [u8; 32]) -> Result<Option<Cursor>, FetchError> {
        let n = self.cursor.page;
        if page.records > 0 && self.last_hash == Some(body_hash) {
            return Err(FetchError::InvalidPayload(format!(
                "page {n} repeats page {}: the platform ignores the page parameter, stopping instead of looping",
                n - 1
            )));
        }
        self.last_hash = Some(body_hash);
        self.seen_records += page.records as u64;
        let more = if page.records == 0 {
            false
        } else if let Some(more) = page.has_more {
            more
        } else if let Some(total) = page.total_pages {
            n < total
        } else if let Some(total) = page.total_records {
            self.seen_records < total
        } else {
            page.records >= self.cursor.page_size as usize
        };
        if !more {
            return Ok(None);
        }
        if n >= MAX_PAGES {
            return Err(FetchError::InvalidPayload(format!("more than {MAX_PAGES} pages: stopping a paging loop")));
        }
        self.cursor.page += 1;
        Ok(Some(self.cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(records: usize) -> Page {
        Page { records, ..Page::default() }
    }

    #[test]
    fn short_page_ends_the_feed() {
        let mut p = Pager::new(10);
        assert_eq!(p.advance(&page(10), [1; 32]).ok().flatten().map(|c| c.page), Some(2));
        assert_eq!(p.advance(&page(3), [2; 32]).ok().flatten(), None);
    }

    #[test]
    fn totals_decide_before_the_short_page_rule() {
        let mut p = Pager::new(2);
        let pg = Page { records: 2, total_records: Some(4), ..Page::default() };
        assert!(p.advance(&pg, [1; 32]).ok().flatten().is_some());
        assert!(p.advance(&pg, [2; 32]).ok().flatten().is_none());
        let mut p = Pager::new(2);
        let pg = Page { records: 2, total_pages: Some(1), ..Page::default() };
        assert!(p.advance(&pg, [1; 32]).ok().flatten().is_none());
    }

    #[test]
    fn a_repeating_page_is_a_loop_error() {
        let mut p = Pager::new(2);
        assert!(p.advance(&page(2), [7; 32]).is_ok());
        let err = p.advance(&page(2), [7; 32]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("repeats page 1"), "{err}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = BTreeMap::new();
        h.insert("retry-after".to_string(), "7".to_string());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert("retry-after".to_string(), future);
        let d = retry_after(&h).unwrap_or_default();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
    }

    #[test]
    fn redaction_covers_plain_and_url_encoded_secrets() {
        let s = vec!["k3y/with+chars".to_string()];
        assert_eq!(redact("a k3y/with+chars b k3y%2Fwith%2Bchars", &s), "a *** b ***");
    }

    #[test]
    fn a_message_cut_inside_a_key_loses_the_key_prefix_too() {
        let s = vec!["ef-secret-key-0001".to_string()];
        assert_eq!(redact_cut("bad key ef-secret-ke", &s), "bad key ***");
        assert_eq!(redact_cut("bad key ef-secret-key-0001 again", &s), "bad key *** again");
        // Fewer than 4 characters of the key stay: too short to tell apart from text.
        assert_eq!(redact_cut("ends with ef-", &s), "ends with ef-");
        // Plain `redact` (offers, whole bodies) leaves tails alone.
        assert_eq!(redact("bad key ef-secret-ke", &s), "bad key ef-secret-ke");
    }

    #[test]
    fn redaction_covers_secrets_echoed_in_json_bodies() {
        // HasOffers echoes the request, key included, through PHP's json_encode: `/` is `\/`.
        let s = vec!["k3y/with\"quote".to_string()];
        let body = r#"{"request":{"api_key":"k3y\/with\"quote"},"other":"k3y/with\"quote"}"#;
        assert_eq!(redact(body, &s), r#"{"request":{"api_key":"***"},"other":"***"}"#);
    }

    #[test]
    fn statuses_classify() {
        let r = |status| RawResponse {
            status,
            headers: BTreeMap::new(),
            body: bytes::Bytes::from_static(b"{\"error\":\"No Authentication Method Found\"}"),
        };
        assert_eq!(classify(&r(401)), FetchError::Unauthorized("HTTP 401: No Authentication Method Found".into()));
        assert!(matches!(classify(&r(503)), FetchError::Transient(_)));
        assert!(matches!(classify(&r(429)), FetchError::RateLimited { .. }));
    }
}
