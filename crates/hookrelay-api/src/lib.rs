//! The HTTP API: Extend-compatible management routes, hookrelay's own
//! publish/history/replay routes, and the operational endpoints; the
//! dashboard and customer portal ([`dashboard`]: HTML pages under
//! `/dashboard`); the server loop that serves them ([`server`]) and the
//! request rate limit ([`limit`]).
//!
//! **Architecture invariant:** this is the only crate that knows HTTP status
//! codes, and [`error::ApiError`] is the only way an error becomes a response
//! (the dashboard renders an `ApiError` as an HTML page, same status).
//!
//! **OpenAPI:** `openapi.json` is written by hand (it carries the prose,
//! limits and examples) and checked against the code, not generated: every
//! response is a serde type in [`views`] deriving `schemars::JsonSchema`,
//! and `tests/openapi.rs` fails when a documented response schema's fields
//! or required fields differ from its type's ([`schema::components`]
//! names the pairs), when a route is missing or extra, or when `ApiVersion`
//! stops listing the catalog's versions. Request bodies are not derived
//! yet. The integration test `schemathesis` runs a pinned Schemathesis
//! (`--checks all`) against a real server, so the document must also be
//! exact about what the server accepts and refuses.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hookrelay_core::catalog::Catalog;
use hookrelay_core::cursor::{self, SortDir};
use hookrelay_core::secret::ApiKeyHash;
use hookrelay_core::time::Clock;
use hookrelay_dispatch::Dispatcher;
use hookrelay_store::directory::Directory;
use hookrelay_store::{PageRequest, Store};
use prometheus_client::registry::Registry;
use serde::Deserialize;

pub mod dashboard;
pub mod error;
pub mod extract;
pub mod limit;
mod routes;
/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub use routes::events::fuzzing;
pub use routes::listen;
pub mod schema;
pub mod server;
pub mod views;

use error::{ApiError, REQUEST_ID};

/// Settings of the API layer.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// SHA-256 of the org admin key, if one is configured.
    pub admin_key_hash: Option<ApiKeyHash>,
    /// Dev mode: `http://` endpoint URLs are accepted.
    pub allow_http: bool,
    /// Largest `POST /events` body, and largest event (payload plus
    /// previousData) in a batch.
    pub max_event_bytes: usize,
    /// Largest `POST /events/batch` body.
    pub max_batch_bytes: usize,
    /// Largest body of every other route.
    pub max_body_bytes: usize,
    /// Most events in one batch.
    pub max_batch_events: usize,
    /// How often `/metrics` reads the backlog from the store, at most.
    pub backlog_every: std::time::Duration,
    /// How long a handler waits for a whole request body (then 408).
    pub body_read_timeout: std::time::Duration,
    /// Most live endpoints per workspace (v1 webhooks included).
    pub max_endpoints_per_workspace: u32,
    /// Most subscriptions per workspace.
    pub max_subscriptions_per_workspace: u32,
    /// Most custom headers (`advancedOptions.headers`) per endpoint.
    pub max_headers_per_endpoint: u32,
    /// The server's public base URL, for the links it hands out (portal
    /// links); `None`: the request's `Host`. An `https` URL also marks the
    /// dashboard's cookies `Secure`.
    pub public_url: Option<String>,
    /// Dashboard sessions and sign-in.
    pub dashboard: dashboard::DashboardConfig,
    /// This node's own base URL, which the other nodes reach: `hookrelay
    /// listen` endpoints on this node get `<node_url>/_listen/{id}`.
    pub node_url: Option<String>,
    /// How long a `hookrelay listen` endpoint outlives its lost connection.
    pub listen_grace: std::time::Duration,
    /// How often a `hookrelay listen` connection is pinged; three
    /// intervals without a frame from the CLI end it.
    pub listen_ping: std::time::Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            admin_key_hash: None,
            allow_http: false,
            max_event_bytes: 1024 * 1024,
            max_batch_bytes: 16 * 1024 * 1024,
            max_body_bytes: 256 * 1024,
            max_batch_events: 1000,
            backlog_every: std::time::Duration::from_secs(5),
            body_read_timeout: std::time::Duration::from_secs(30),
            max_endpoints_per_workspace: 1000,
            max_subscriptions_per_workspace: 10_000,
            max_headers_per_endpoint: 20,
            public_url: None,
            dashboard: dashboard::DashboardConfig::default(),
            node_url: None,
            listen_grace: std::time::Duration::from_secs(120),
            listen_ping: std::time::Duration::from_secs(15),
        }
    }
}

/// Gauges computed when `/metrics` is scraped: the backlog is read from the
/// store at most once per [`ApiConfig::backlog_every`], however often scrapes
/// come (counting pending deliveries reads a whole index).
#[derive(Debug, Default)]
pub struct OpsMetrics {
    pub queue_depth: prometheus_client::metrics::gauge::Gauge,
    pub oldest_pending_age:
        prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When the backlog was last read (or a read began).
    pub backlog_read_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl OpsMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "hookrelay_queue_depth",
            "Deliveries pending (waiting for an attempt, queued or in flight)",
            m.queue_depth.clone(),
        );
        registry.register(
            "hookrelay_oldest_pending_age_seconds",
            "Age of the oldest pending delivery",
            m.oldest_pending_age.clone(),
        );
        m
    }
}

pub struct AppInner {
    pub ops_metrics: OpsMetrics,
    /// Mints and checks signed payload URLs.
    pub signed_urls: Arc<hookrelay_core::signed_url::SignedUrls>,
    pub store: Arc<dyn Store>,
    pub directory: Arc<Directory>,
    pub dispatcher: Dispatcher,
    pub catalog: Arc<Catalog>,
    pub clock: Arc<dyn Clock>,
    /// Mints the ids of what the API creates (on `clock`).
    pub ids: Arc<hookrelay_core::ids::Ids>,
    pub config: ApiConfig,
    pub registry: Arc<Registry>,
    pub keys: extract::KeyCache,
    pub openapi: &'static str,
    /// Requests per API key / client address.
    pub limiter: limit::RateLimiter,
    /// The dashboard's own state (its sign-in limit).
    pub dashboard: dashboard::DashboardState,
    /// The `hookrelay listen` connections this node holds.
    pub listen: routes::listen::ListenHub,
}

impl AppInner {
    /// The service that publishes, retries and recovers deliveries.
    pub fn deliveries(&self) -> hookrelay_dispatch::Deliveries {
        self.dispatcher.deliveries(self.ids.clone())
    }
}

/// Cheap-to-clone handles to everything a request needs.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<AppInner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppState")
    }
}

/// The OpenAPI document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics))
        .route("/openapi.json", get(routes::ops::openapi))
        .route(
            "/webhook_endpoints",
            get(routes::endpoints::list).post(routes::endpoints::create),
        )
        .route(
            "/webhook_endpoints/{id}",
            get(routes::endpoints::get_one)
                .post(routes::endpoints::update)
                .delete(routes::endpoints::delete),
        )
        .route(
            "/webhook_endpoints/{id}/test",
            post(routes::endpoints::test),
        )
        .route(
            "/webhook_endpoints/{id}/recover",
            post(routes::endpoints::recover),
        )
        .route(
            "/webhook_endpoints/{id}/rotate_secret",
            post(routes::endpoints::rotate_secret),
        )
        .route(
            "/webhook_endpoints/{id}/stats",
            get(routes::stats::endpoint),
        )
        .route("/stats", get(routes::stats::workspace))
        .route(
            "/webhook_subscriptions",
            get(routes::subscriptions::list).post(routes::subscriptions::create),
        )
        .route(
            "/webhook_subscriptions/{id}",
            get(routes::subscriptions::get_one)
                .post(routes::subscriptions::update)
                .delete(routes::subscriptions::delete),
        )
        .route(
            "/events",
            get(routes::events::list).post(routes::events::publish),
        )
        .route("/events/batch", post(routes::events::publish_batch))
        .route("/events/{id}", get(routes::events::get_one))
        .route("/webhook_deliveries", get(routes::deliveries::list))
        .route("/webhook_deliveries/{id}", get(routes::deliveries::get_one))
        .route(
            "/webhook_deliveries/{id}/retry",
            post(routes::deliveries::retry),
        )
        .route("/event_types", get(routes::catalog::event_types))
        .route("/payloads/{token}", get(routes::payloads::fetch))
        .route(
            "/v1/webhooks",
            get(routes::v1::list).post(routes::v1::create),
        )
        .route("/v1/webhooks/test", post(routes::v1::test))
        .route(
            "/v1/webhooks/{id}",
            get(routes::v1::get_one)
                .patch(routes::v1::patch)
                .delete(routes::v1::delete),
        )
        .route("/workspaces", post(routes::admin::create_workspace))
        .route(
            "/admin/encryption/rotate",
            post(routes::admin::rotate_encryption),
        )
        .route(
            "/api_keys",
            get(routes::admin::list_keys).post(routes::admin::create_key),
        )
        .route(
            "/api_keys/{id}",
            axum::routing::delete(routes::admin::revoke_key),
        )
        .route("/portal_sessions", post(routes::portal::create))
        .route("/listen", get(routes::listen::connect))
        .route("/_listen/{id}", post(routes::listen::relay))
        // HTML pages under /dashboard (not part of the API document).
        .merge(dashboard::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::Extension(extract::BodyReadTimeout(
            state.inner.config.body_read_timeout,
        )))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::limit_requests,
        ))
        .layer(axum::middleware::from_fn(dashboard::pages_layer))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Gives every request an id (the caller's `x-request-id` if it is sane),
/// makes it available to error bodies and returns it as `x-request-id`.
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", ulid::Ulid::new()));
    let mut resp = REQUEST_ID.scope(id.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// `maxPageSize`, `nextPageToken`, `sortDir`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PageParams {
    pub max_page_size: Option<String>,
    pub next_page_token: Option<String>,
    pub sort_dir: Option<String>,
}

impl PageParams {
    pub fn to_request(&self) -> Result<PageRequest, ApiError> {
        let dir = match self.sort_dir.as_deref() {
            None | Some("") => SortDir::Desc,
            Some(s) => SortDir::parse(s).ok_or_else(|| {
                ApiError::bad_request("invalid_request", "sortDir must be `asc` or `desc`")
            })?,
        };
        let limit = match self.max_page_size.as_deref() {
            None | Some("") => 50,
            Some(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_request",
                        "maxPageSize must be an integer from 1 to 1000",
                    )
                })?,
        };
        let after = match self.next_page_token.as_deref() {
            None | Some("") => None,
            Some(t) => Some(cursor::decode(t, dir).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_page_token",
                    "nextPageToken is not valid (or was made for the other sortDir)",
                )
            })?),
        };
        Ok(PageRequest { limit, after, dir })
    }
}

/// `status` with `v` as JSON. The answer goes through `serde_json::Value`,
/// whose objects keep their keys sorted, so every answer lists its keys in
/// the same (alphabetical) order whatever the type's field order.
pub(crate) fn respond(status: StatusCode, v: impl serde::Serialize) -> Response {
    match serde_json::to_value(v) {
        Ok(v) => (status, axum::Json(v)).into_response(),
        Err(e) => ApiError::internal(format!("encoding the answer failed: {e}")).into_response(),
    }
}

/// Plain `200 OK` JSON.
pub(crate) fn ok(v: impl serde::Serialize) -> Response {
    respond(StatusCode::OK, v)
}

/// `201 Created` JSON.
pub(crate) fn created(v: impl serde::Serialize) -> Response {
    respond(StatusCode::CREATED, v)
}

/// `202 Accepted` JSON.
pub(crate) fn accepted(v: impl serde::Serialize) -> Response {
    respond(StatusCode::ACCEPTED, v)
}
