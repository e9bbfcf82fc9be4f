//! The GraphQL admin API: schema, one resolver file per admin area, auth, subscriptions,
//! HTTP router. The gateway never calls an advertiser API: previews, test connections and
//! "sync now" are rows the agent picks up.

pub mod auth;
pub mod error;
pub mod guard;
pub mod hub;
pub mod schema;

use std::{net::SocketAddr, sync::Arc};

use async_graphql::{Data, http::GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket, rejection::GraphQLRejection};
use axum::{
    Router,
    extract::{FromRequest, State, WebSocketUpgrade},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use domain::Config;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{auth::Auth, hub::Hub, schema::AppSchema};

/// What every resolver can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub cipher: domain::crypto::Cipher,
    pub hub: Hub,
    pub connectors: Arc<Vec<Arc<dyn agent::connectors::Connector>>>,
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
    Ok(AppState { db, config, cipher, hub, connectors })
}

/// The router: `/graphql` (POST and GET queries, GraphiQL in a browser), `/graphql/ws`
/// (both WebSocket protocols), `/healthz`, `/readyz`.
pub fn router(state: AppState) -> Router {
    let schema = schema::build(state.clone());
    let body_limit = state.config.gateway.max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::map_response(json_413))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state((state, schema))
}

type S = State<(AppState, AppSchema)>;

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn execute(state: &AppState, schema: &AppSchema, headers: &HeaderMap, req: async_graphql::Request) -> GraphQLResponse {
    let auth = auth::authenticate(&state.db, bearer(headers).as_deref()).await;
    // One batch loader per request: child rows are never cached across requests.
    let loader = async_graphql::dataloader::DataLoader::new(schema::ChildRows { db: state.db.clone() }, tokio::spawn);
    schema.execute(req.data(auth).data(loader)).await.into()
}

async fn graphql_post(State((state, schema)): S, headers: HeaderMap, req: Result<GraphQLRequest, GraphQLRejection>) -> Response {
    let req = match req {
        Ok(r) => r.into_inner(),
        Err(rej) => return bad_request(rej),
    };
    if req.query.trim().is_empty() {
        return coded_response(StatusCode::BAD_REQUEST, "the request has no query: send JSON like {\"query\": \"{ advertisers { id } }\"}");
    }
    let resp = execute(&state, &schema, &headers, req).await;
    with_status(resp, &headers)
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
        return Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").title("offerbridge").finish())
            .into_response();
    }
    let gql = match GraphQLRequest::<GraphQLRejection>::from_request(req, &()).await {
        Ok(r) => r,
        Err(rej) => return bad_request(rej),
    };
    let req = gql.into_inner();
    // GraphQL over HTTP: mutations are not allowed over GET.
    if req.query.trim_start().starts_with("mutation") {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], "mutations must use POST").into_response();
    }
    with_status(execute(&state, &schema, &headers, req).await, &headers)
}

/// Content negotiation (GraphQL over HTTP): `application/graphql-response+json` when the client
/// accepts it, else `application/json` (legacy clients, `*/*`, no Accept). With the new media
/// type, a request that failed before execution (parse, validation, variables) answers 400 with
/// no `data` entry; with `application/json` every well-formed request answers 200.
fn with_status(resp: GraphQLResponse, headers: &HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let new_media = accept.contains("application/graphql-response+json");
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
        GraphQLWebSocket::new(stream, schema, protocol)
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
    let app = router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}

/// The SDL the code serves (what `offerbridge schema` prints and schema.graphql holds).
pub fn sdl() -> String {
    schema::sdl()
}
