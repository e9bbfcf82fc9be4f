//! The GraphQL admin API: schema, one resolver file per admin area, auth, subscriptions,
//! HTTP router. The gateway never calls an advertiser API: previews, test connections and
//! "sync now" are rows the agent picks up.

pub mod auth;
pub mod error;
pub mod hub;
pub mod schema;

use std::{net::SocketAddr, sync::Arc};

use async_graphql::{Data, http::GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
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
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state((state, schema))
}

type S = State<(AppState, AppSchema)>;

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn execute(state: &AppState, schema: &AppSchema, headers: &HeaderMap, req: async_graphql::Request) -> GraphQLResponse {
    let auth = auth::authenticate(&state.db, bearer(headers).as_deref()).await;
    schema.execute(req.data(auth)).await.into()
}

async fn graphql_post(State((state, schema)): S, headers: HeaderMap, req: GraphQLRequest) -> Response {
    let resp = execute(&state, &schema, &headers, req.into_inner()).await;
    with_status(resp, &headers)
}

/// GET: GraphiQL for a browser (HTML accepted, no query), else a GraphQL query over GET.
async fn graphql_get(State((state, schema)): S, headers: HeaderMap, req: axum::extract::Request) -> Response {
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let has_query = req.uri().query().is_some_and(|q| q.contains("query="));
    if wants_html && !has_query {
        return Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").title("offerbridge").finish())
            .into_response();
    }
    let gql = match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(req, &()).await {
        Ok(r) => r,
        Err(rej) => return rej.into_response(),
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
                && r.errors.iter().all(|e| e.path.is_empty() && !e.locations.is_empty() && e.extensions.is_none())
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

async fn graphql_ws(State((state, schema)): S, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    upgrade.protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |stream| {
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
