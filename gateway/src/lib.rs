//! The GraphQL admin API: schema, one resolver file per admin area, auth, subscriptions,
//! HTTP router. The gateway never calls an advertiser API: previews, test connections and
//! "sync now" are rows the agent picks up.

pub mod auth;
pub mod error;
pub mod graphiql;
pub mod guard;
pub mod hub;
pub mod introspection;
pub mod schema;

use std::{net::SocketAddr, sync::Arc};

use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket, rejection::GraphQLRejection};
use axum::{
    Router,
    extract::{FromRequest, State, WebSocketUpgrade},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use domain::Config;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{auth::Auth, hub::Hub, schema::AppSchema};

/// The latest agent heartbeat (None: no agent ever ran) and when it was read.
pub type HeartbeatRead = (std::time::Instant, Option<chrono::DateTime<chrono::Utc>>);

/// What every resolver can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub cipher: domain::crypto::Cipher,
    pub hub: Hub,
    pub connectors: Arc<Vec<Arc<dyn agent::connectors::Connector>>>,
    /// The latest agent heartbeat as last read, and when (see `waitingForAgent`).
    pub last_heartbeat: Arc<std::sync::Mutex<Option<HeartbeatRead>>>,
}

/// Builds the state: loads the connector catalog and starts the event poller.
pub async fn state(
    db: DatabaseConnection,
    config: Arc<Config>,
    cipher: domain::crypto::Cipher,
    shutdown: CancellationToken,
) -> anyhow::Result<AppState> {
    let specs = agent::connectors::spec::load(config.agent.connectors_dir.as_deref())?;
    let connectors = Arc::new(agent::connectors::all(&specs));
    let hub = Hub::start(db.clone(), config.gateway.event_poll_interval, shutdown).await?;
    Ok(AppState { db, config, cipher, hub, connectors, last_heartbeat: Default::default() })
}

/// The router: `/graphql` (POST and GET queries, GraphiQL in a browser), `/graphql/ws`
/// (both WebSocket protocols), `/graphiql/{file}` (GraphiQL's embedded scripts and styles),
/// `/healthz`, `/readyz`, `/metrics` (Prometheus).
pub fn router(state: AppState) -> Router {
    domain::metrics::install();
    let schema = Schemas {
        main: Guarded(schema::build(state.clone())),
        introspection: Guarded(schema::build_for_introspection(state.clone())),
        plans: Default::default(),
    };
    let body_limit = state.config.gateway.max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        // GraphiQL's files, embedded in the binary (no token: the page itself sends one).
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::map_response(json_413))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(access_log))
        .with_state((state, schema))
}

/// The operation a GraphQL response answered, for the access log.
#[derive(Clone)]
struct Operation(String);

/// One line per request at INFO (target `offerbridge::access`): method, path (never the query
/// string, which may carry variables), GraphQL operation, status and duration.
async fn access_log(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // Filtered out (`log = warn`, as benchmarks run): nothing copied, nothing timed.
    if !tracing::enabled!(target: "offerbridge::access", tracing::Level::INFO) {
        return next.run(req).await;
    }
    let t = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let operation = resp.extensions().get::<Operation>().map(|o| o.0.as_str()).unwrap_or("-");
    tracing::info!(
        target: "offerbridge::access",
        method = %method,
        path = %path,
        operation = %operation,
        status = resp.status().as_u16(),
        duration_ms = (t.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        "request"
    );
    resp
}

/// `/metrics`: the process's series in the Prometheus text format (under `serve`, the
/// embedded agent's too). No token: it holds counts and durations, never data or secrets.
async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], domain::metrics::render()).into_response()
}

/// The name of a document's first operation (`query Name ...`), without parsing it: the
/// metrics and access-log label when the request names no operation.
fn first_operation_name(query: &str) -> Option<&str> {
    let mut rest = query.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        match rest.strip_prefix('#') {
            Some(comment) => rest = comment.split_once('\n').map_or("", |(_, r)| r),
            None => break,
        }
    }
    let rest = ["query", "mutation", "subscription"].iter().find_map(|k| rest.strip_prefix(k))?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The schema, the same without query limits for introspection documents, and the compiled
/// `campaigns` pages.
#[derive(Clone)]
pub struct Schemas {
    main: Guarded,
    introspection: Guarded,
    plans: schema::Plans,
}

type S = State<(AppState, Schemas)>;

/// The schema with the input guard before it and error codes after it, over HTTP and
/// WebSocket alike: a request with forbidden text or a document that does not parse never
/// reaches the schema, and every error leaves with an `extensions.code`. (As schema
/// extensions they cost two boxed futures per resolved field.)
#[derive(Clone)]
pub struct Guarded(AppSchema);

impl async_graphql::Executor for Guarded {
    async fn execute(&self, mut request: async_graphql::Request) -> async_graphql::Response {
        if let Err(e) = guard::check(&mut request) {
            return async_graphql::Response::from_errors(vec![e]);
        }
        error::classify_response(self.0.execute(request).await)
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        if let Err(e) = guard::check(&mut request) {
            return futures::stream::once(async move { async_graphql::Response::from_errors(vec![e]) }).boxed();
        }
        async_graphql::Executor::execute_stream(&self.0, request, session_data).map(error::classify_response).boxed()
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// A GraphQL answer: the schema's, or the body a compiled plan wrote.
enum Answer {
    Schema(GraphQLResponse),
    Compiled(Vec<u8>),
}

async fn execute(state: &AppState, schemas: &Schemas, headers: &HeaderMap, req: async_graphql::Request) -> (Answer, Operation) {
    let t = std::time::Instant::now();
    let token = bearer(headers);
    // A caller's introspection (GraphiQL's, codegen's) is never refused by the depth limit on
    // its own queries; it is bounded by the complexity limit and by how deep it nests
    // type-system lists. Without a token the schema is not read at all.
    let introspecting = introspection::is_bounded_introspection(&req.query, req.operation_name.as_deref());
    // A `campaigns` page the schema answered before runs its compiled plan (see
    // `schema::campaigns::compiled`), which checks the token in the page's own statement; a
    // document not yet answered is learned after the schema answers it without error.
    let compiling = !introspecting && state.config.gateway.compiled_queries;
    if compiling
        && let Some(token) = auth::presented(token.as_deref())
        && let Some(Some(plan)) = schemas.plans.get(&req.query)
        && let Some(body) = plan.run(state, token, req.operation_name.as_deref(), &req.variables).await
    {
        let operation = domain::metrics::operation_label(req.operation_name.as_deref().or_else(|| first_operation_name(&req.query)));
        metrics::counter!(domain::metrics::GRAPHQL_COMPILED, "operation" => operation.clone()).increment(1);
        metrics::histogram!(domain::metrics::GRAPHQL_SECONDS, "operation" => operation.clone(), "outcome" => "ok")
            .record(t.elapsed().as_secs_f64());
        return (Answer::Compiled(body), Operation(operation));
    }
    let auth = auth::authenticate(&state.db, token.as_deref()).await;
    // Only an authenticated caller's operation names become labels: anyone else could fill the
    // bounded set with junk.
    let operation = match &auth {
        Auth::Caller(_) => domain::metrics::operation_label(req.operation_name.as_deref().or_else(|| first_operation_name(&req.query))),
        _ => "unauthenticated".to_string(),
    };
    let learn =
        (compiling && matches!(auth, Auth::Caller(_)) && schemas.plans.get(&req.query).is_none() && schema::Plans::may_compile(&req.query))
            .then(|| (req.query.clone(), req.operation_name.clone()));
    // One batch loader per request: child rows are never cached across requests.
    let loader = async_graphql::dataloader::DataLoader::new(schema::ChildRows { db: state.db.clone() }, tokio::spawn);
    let resp = match &auth {
        Auth::Caller(_) if introspecting => schemas.introspection.execute(req.data(auth).data(loader)).await,
        // Without a token the schema is not read (GraphiQL opened without one would otherwise
        // meet the depth limit's "nested too deep"): say what is missing. `{ __typename }`
        // still answers.
        _ if introspecting && introspection::mentions_introspection(&req.query) => async_graphql::Response::from_errors(vec![
            error::coded(
                error::UNAUTHENTICATED,
                "reading the schema needs an API token: send 'Authorization: Bearer <token>' (in GraphiQL: the API token field)",
            )
            .into_server_error(async_graphql::Pos::default()),
        ]),
        Auth::Caller(_) => schemas.main.execute(req.data(auth).data(loader)).await,
        // `__schema` / `__type` inside another query are not answered either.
        _ => schemas.main.execute(req.disable_introspection().data(auth).data(loader)).await,
    };
    let outcome = if resp.is_ok() { "ok" } else { "error" };
    metrics::histogram!(domain::metrics::GRAPHQL_SECONDS, "operation" => operation.clone(), "outcome" => outcome)
        .record(t.elapsed().as_secs_f64());
    if let Some((query, operation_name)) = learn.filter(|_| resp.is_ok()) {
        schemas.plans.learn(query, operation_name.as_deref());
    }
    (Answer::Schema(resp.into()), Operation(operation))
}

async fn graphql_post(State((state, schema)): S, headers: HeaderMap, req: Result<GraphQLRequest, GraphQLRejection>) -> Response {
    // GraphQL over HTTP: a POST carries `application/json`. A form, `text/plain` or a body
    // without a content type is what a cross-site HTML form can send without a preflight: it
    // never runs, whatever it contains.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return coded_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the GraphQL request as JSON with 'Content-Type: application/json' (GET works for queries)",
        );
    }
    let req = match req {
        Ok(r) => r.into_inner(),
        Err(rej) => return bad_request(rej),
    };
    if req.query.trim().is_empty() {
        return coded_response(StatusCode::BAD_REQUEST, "the request has no query: send JSON like {\"query\": \"{ advertisers { id } }\"}");
    }
    let (resp, op) = execute(&state, &schema, &headers, req).await;
    let mut out = with_status(resp, &headers);
    out.extensions_mut().insert(op);
    out
}

/// A JSON error body coded BAD_REQUEST, for requests refused before GraphQL sees them.
fn coded_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": error::BAD_REQUEST}}]});
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
}

/// The body-size layer answers 413 in plain text before any handler runs: give it the same
/// JSON shape as every other error.
async fn json_413(resp: Response) -> Response {
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.contains("json"))
    {
        return coded_response(StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than gateway.max_body_bytes");
    }
    resp
}

/// A body that is not a GraphQL request: 400 (413 when too large) with a JSON error coded
/// BAD_REQUEST that says what to send, never Rust debug text.
fn bad_request(rej: GraphQLRejection) -> Response {
    use async_graphql::ParseRequestError as P;
    let (status, message) = match rej.0 {
        P::UnsupportedBatch => (StatusCode::BAD_REQUEST, "batched requests are not supported: send one operation per request".to_string()),
        P::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than gateway.max_body_bytes".to_string()),
        P::Io(e) if e.to_string().contains("length limit") => {
            (StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than gateway.max_body_bytes".to_string())
        }
        P::InvalidRequest(e) => (
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not a GraphQL request ({e}): send JSON like {{\"query\": \"{{ advertisers {{ id }} }}\", \"variables\": {{}}}}"
            ),
        ),
        other => (StatusCode::BAD_REQUEST, format!("the body is not a GraphQL request: {other}")),
    };
    coded_response(status, &message)
}

/// GET: GraphiQL for a browser (HTML accepted, no query), else a GraphQL query over GET.
async fn graphql_get(State((state, schema)): S, headers: HeaderMap, req: axum::extract::Request) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let has_query = req.uri().query().is_some_and(|q| q.contains("query="));
    if wants_html && !has_query {
        return graphiql::page();
    }
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let gql = match GraphQLRequest::<GraphQLRejection>::from_request(req, &()).await {
        Ok(r) => r,
        Err(rej) => return bad_request(rej),
    };
    let mut req = gql.into_inner();
    // async-graphql reads `operation_name` from a GET query string, not the `operationName`
    // GraphQL over HTTP names: read it here, or a document of several operations cannot run.
    if req.operation_name.is_none() {
        req.operation_name =
            url::form_urlencoded::parse(raw_query.as_bytes()).find(|(k, _)| k == "operationName").map(|(_, v)| v.into_owned());
    }
    // GraphQL over HTTP: only queries over GET. The operation's type is read from the parsed
    // document, so a comment line or a BOM before `mutation` does not hide it.
    if let Ok(doc) = async_graphql::parser::parse_query(&req.query) {
        use async_graphql::parser::types::{DocumentOperations, OperationType};
        let ty = match &doc.operations {
            DocumentOperations::Single(op) => Some(op.node.ty),
            DocumentOperations::Multiple(ops) => match req.operation_name.as_deref() {
                Some(name) => ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op.node.ty),
                None => ops.values().map(|op| op.node.ty).find(|t| *t != OperationType::Query),
            },
        };
        if ty.is_some_and(|t| t != OperationType::Query) {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, "POST")],
                "only queries may use GET: send mutations and subscriptions by POST",
            )
                .into_response();
        }
    }
    let (resp, op) = execute(&state, &schema, &headers, req).await;
    let mut out = with_status(resp, &headers);
    out.extensions_mut().insert(op);
    out
}

/// Content negotiation (GraphQL over HTTP): `application/graphql-response+json` when the client
/// accepts it, else `application/json` (legacy clients, `*/*`, no Accept). With the new media
/// type, a request that failed before execution (parse, validation, variables) answers 400 with
/// no `data` entry; with `application/json` every well-formed request answers 200.
fn with_status(answer: Answer, headers: &HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let new_media = accept.contains("application/graphql-response+json");
    let resp = match answer {
        Answer::Schema(resp) => resp,
        // A compiled answer is always data without errors: the same headers as the schema's.
        Answer::Compiled(body) => {
            let media = if new_media { "application/graphql-response+json" } else { "application/json; charset=utf-8" };
            return ([(header::CONTENT_TYPE, media)], body).into_response();
        }
    };
    let failed_before_execution = match &resp.0 {
        async_graphql::BatchResponse::Single(r) => {
            r.data == async_graphql::Value::Null
                && !r.errors.is_empty()
                && r.errors.iter().all(|e| {
                    e.extensions
                        .as_ref()
                        .and_then(|x| x.get("code"))
                        .is_some_and(|c| matches!(c, async_graphql::Value::String(c) if error::BEFORE_EXECUTION.contains(&c.as_str())))
                })
        }
        _ => false,
    };
    if new_media && failed_before_execution {
        let errors = match &resp.0 {
            async_graphql::BatchResponse::Single(r) => serde_json::to_value(&r.errors).unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/graphql-response+json; charset=utf-8")],
            serde_json::json!({ "errors": errors }).to_string(),
        )
            .into_response();
    }
    let mut out = resp.into_response();
    if !new_media {
        out.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json; charset=utf-8"));
    }
    out
}

/// The WebSocket read buffer (bytes); larger client messages still arrive whole.
const WS_READ_BUFFER: usize = 4096;

async fn graphql_ws(State((state, schema)): S, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    // Client messages are small; tungstenite zero-fills its whole read buffer before every read
    // of a socket, so a 128 KiB default costs 128 KiB of memset per subscriber per wake-up.
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).read_buffer_size(WS_READ_BUFFER).on_upgrade(move |stream| {
        let db = state.db.clone();
        GraphQLWebSocket::new(stream, schema.main, protocol)
            .on_connection_init(move |payload| async move {
                let token = payload
                    .get("Authorization")
                    .or_else(|| payload.get("authorization"))
                    .or_else(|| payload.get("token"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                let auth = auth::authenticate(&db, token.as_deref()).await;
                match auth {
                    Auth::Caller(_) => {
                        let mut data = Data::default();
                        data.insert(auth);
                        Ok(data)
                    }
                    Auth::Missing => Err(error::coded(error::UNAUTHENTICATED, "connection_init must carry a token")),
                    Auth::Invalid => Err(error::coded(error::UNAUTHENTICATED, "the API token is unknown or revoked")),
                }
            })
            .serve()
    })
}

async fn readyz(State((state, _)): S) -> Response {
    match domain::db::migrations_applied(&state.db).await {
        Ok(true) => (StatusCode::OK, "ready").into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let app = router(state);
    // Subscription events are small frames written as they happen: with Nagle's algorithm a
    // frame sent while the previous one is unacknowledged waits for the client's (delayed) ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// The SDL the code serves (what `offerbridge schema` prints and schema.graphql holds).
pub fn sdl() -> String {
    schema::sdl()
}
