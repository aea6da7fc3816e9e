//! How records look on the wire (camelCase, Extend's field names): one serde
//! type per response shape, named like its schema in `openapi.json`.
//!
//! Each type derives `JsonSchema`; `tests/openapi.rs` compares the fields
//! (names and which are required) of every schema in `openapi.json` that
//! [`crate::schema::components`] lists with the schema derived from the
//! type, so adding, removing or renaming a field without documenting it
//! fails there. Answers are serialized through `serde_json::Value`, whose
//! objects keep their keys sorted: the bytes on the wire do not depend on
//! the order of the fields below.

use std::collections::BTreeMap;

use hookrelay_core::catalog::Catalog;
use hookrelay_core::cursor::{self, SortDir};
use hookrelay_core::ids::EndpointId;
use hookrelay_core::model::{
    AdvancedOptions, Attempt, CreatedBy, Delivery, DeliveryStatus, DisabledReason, Endpoint,
    EndpointStatus, ErrorKind, Event, ResourceRef, ResourceType, SignatureScheme, Subscription,
};
use hookrelay_core::parsed::{ApiVersion, EndpointUrl};
use hookrelay_store::{ApiKeyRecord, DeliverySummary, Page, Window, Workspace};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// `{"object": "list", "data", "nextPageToken"}`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub object: &'static str,
    pub data: Vec<T>,
    pub next_page_token: Option<String>,
}

pub fn list<T>(data: Vec<T>, page_next: Option<String>, dir: SortDir) -> List<T> {
    List {
        object: "list",
        data,
        next_page_token: page_next.map(|id| cursor::encode(&id, dir)),
    }
}

pub fn page<T, V>(p: Page<T>, dir: SortDir, f: impl Fn(&T) -> V) -> List<V> {
    let data = p.items.iter().map(f).collect();
    list(data, p.next, dir)
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub object: &'static str,
    pub id: String,
    pub url: EndpointUrl,
    pub name: String,
    pub status: EndpointStatus,
    pub enabled_events: Vec<String>,
    pub api_version: ApiVersion,
    pub advanced_options: AdvancedOptions,
    pub created_at: String,
    pub created_by: Option<CreatedBy>,
    pub signature_scheme: SignatureScheme,
    pub retry_schedule: Option<Vec<u32>>,
    pub rate_limit_per_second: Option<u32>,
    pub disabled_reason: Option<DisabledReason>,
}

pub fn endpoint(e: &Endpoint) -> WebhookEndpoint {
    WebhookEndpoint {
        object: "webhook_endpoint",
        id: e.id.to_string(),
        url: e.url.clone(),
        name: e.name.clone(),
        status: e.status,
        enabled_events: e.enabled_events.clone(),
        api_version: e.api_version.clone(),
        advanced_options: e.advanced_options.clone(),
        created_at: e.created_at.to_rfc3339(),
        created_by: e.created_by.clone(),
        signature_scheme: e.signature_scheme,
        retry_schedule: e.retry_schedule.clone(),
        rate_limit_per_second: e.rate_limit_per_second,
        disabled_reason: e.disabled_reason,
    }
}

/// A new endpoint, with its signing secret (shown this once).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointCreated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    pub signing_secret: String,
}

/// An endpoint after a secret rotation.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointRotated {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    pub signing_secret: String,
    pub new_secret_active_at: String,
    pub previous_secret_expires_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSubscription {
    pub object: &'static str,
    pub id: String,
    pub webhook_endpoint_id: String,
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub enabled_events: Vec<String>,
    pub created_at: String,
}

pub fn subscription(s: &Subscription) -> WebhookSubscription {
    WebhookSubscription {
        object: "webhook_subscription",
        id: s.id.to_string(),
        webhook_endpoint_id: s.endpoint_id.to_string(),
        resource_type: s.resource_type,
        resource_id: s.resource_id.clone(),
        enabled_events: s.enabled_events.clone(),
        created_at: s.created_at.to_rfc3339(),
    }
}

/// `{"id"}` of a deleted object.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeletedObject {
    pub id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub object: &'static str,
    pub id: String,
    pub event_type: String,
    pub created_at: String,
    pub delivery_count: u32,
}

pub fn event(e: &Event) -> EventView {
    EventView {
        object: "event",
        id: e.id.to_string(),
        event_type: e.event_type.to_string(),
        created_at: e.created_at.to_rfc3339(),
        delivery_count: e.delivery_count,
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDeliverySummary {
    pub id: String,
    pub webhook_endpoint_id: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
}

/// An event with its payload and where it went.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    pub payload: Value,
    pub resource: Option<ResourceRef>,
    pub previous_data: Value,
    pub idempotency_key: Option<String>,
    pub test: bool,
    pub deliveries: Vec<EventDeliverySummary>,
}

pub fn event_full(e: &Event, deliveries: &[DeliverySummary]) -> EventDetail {
    EventDetail {
        event: event(e),
        payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
        resource: e.resource.clone(),
        previous_data: e
            .previous_data
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or(Value::Null),
        idempotency_key: e.idempotency_key.clone(),
        test: e.test,
        deliveries: deliveries
            .iter()
            .map(|d| EventDeliverySummary {
                id: d.delivery_id.to_string(),
                webhook_endpoint_id: d.endpoint_id.to_string(),
                status: d.status,
                attempt_count: d.attempt_count,
            })
            .collect(),
    }
}

/// `{"error": {"code", "message"}}`: a batch item that was refused.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchItemError {
    pub error: BatchItemErrorBody,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchItemErrorBody {
    pub code: &'static str,
    pub message: String,
}

/// One item of a batch answer: the event, or why it was refused.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Event(EventView),
    Error(BatchItemError),
}

/// The answer to `POST /events/batch`, item by item in request order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventBatchResult {
    pub object: &'static str,
    pub data: Vec<BatchItem>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub object: &'static str,
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub webhook_endpoint_id: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub test: bool,
}

pub fn delivery(d: &Delivery) -> WebhookDelivery {
    WebhookDelivery {
        object: "webhook_delivery",
        id: d.id.to_string(),
        event_id: d.event_id.to_string(),
        event_type: d.event_type.clone(),
        webhook_endpoint_id: d.endpoint_id.to_string(),
        status: d.status,
        attempt_count: d.attempt_count,
        next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
        created_at: d.created_at.to_rfc3339(),
        test: d.test,
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WebhookDeliveryAttemptRequest {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryAttempt {
    pub attempt_number: u32,
    pub started_at: String,
    pub duration_ms: u32,
    pub request: WebhookDeliveryAttemptRequest,
    pub response_status: Option<u16>,
    pub response_headers: BTreeMap<String, String>,
    pub response_body: Option<String>,
    pub error_kind: Option<ErrorKind>,
    pub error_message: Option<String>,
}

/// A delivery with every attempt.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WebhookDeliveryDetail {
    #[serde(flatten)]
    pub delivery: WebhookDelivery,
    pub attempts: Vec<WebhookDeliveryAttempt>,
}

/// A delivery with its attempts. `body` is the request body as sent (the
/// event rendered for the delivery's API version).
pub fn delivery_full(
    d: &Delivery,
    attempts: &[Attempt],
    body: Option<&str>,
) -> WebhookDeliveryDetail {
    WebhookDeliveryDetail {
        delivery: delivery(d),
        attempts: attempts
            .iter()
            .map(|a| WebhookDeliveryAttempt {
                attempt_number: a.attempt_number,
                started_at: a.started_at.to_rfc3339(),
                duration_ms: a.duration_ms,
                request: WebhookDeliveryAttemptRequest {
                    url: a.request_url.clone(),
                    headers: headers(&a.request_headers),
                    body: body.map(str::to_owned),
                },
                response_status: a.response_status,
                response_headers: headers(&a.response_headers),
                response_body: a.response_body.clone(),
                error_kind: a.error_kind,
                error_message: a.error_message.clone(),
            })
            .collect(),
    }
}

/// Headers as an object; a repeated name keeps its last value.
fn headers(h: &[(String, String)]) -> BTreeMap<String, String> {
    h.iter().cloned().collect()
}

/// The answer to `POST /webhook_endpoints/{id}/recover`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    pub object: &'static str,
    pub webhook_endpoint_id: String,
    pub since: String,
    pub until: String,
    pub requeued: u64,
}

/// The answer to `GET /stats` and `GET /webhook_endpoints/{id}/stats`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub object: &'static str,
    /// The endpoint, or `null` for the whole workspace.
    pub webhook_endpoint_id: Option<String>,
    pub bucket: &'static str,
    /// The first bucket's start.
    pub since: String,
    /// The last bucket's end.
    pub until: String,
    pub data: Vec<StatsBucket>,
}

/// One bucket of [`Stats`].
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsBucket {
    pub start: String,
    pub succeeded: u64,
    pub retrying: u64,
    pub failed: u64,
    pub total: u64,
    pub latency_p50_ms: Option<u32>,
    pub latency_p95_ms: Option<u32>,
}

pub fn stats(
    endpoint: Option<&EndpointId>,
    window: &Window,
    buckets: &[hookrelay_store::StatsBucket],
) -> Stats {
    Stats {
        object: "stats",
        webhook_endpoint_id: endpoint.map(|e| e.to_string()),
        bucket: window.bucket.as_str(),
        since: window.since.to_rfc3339(),
        until: window.until.to_rfc3339(),
        data: buckets
            .iter()
            .map(|b| StatsBucket {
                start: b.start.to_rfc3339(),
                succeeded: b.totals.succeeded,
                retrying: b.totals.retrying,
                failed: b.totals.failed,
                total: b.totals.attempts(),
                latency_p50_ms: b.totals.latency_p50_ms(),
                latency_p95_ms: b.totals.latency_p95_ms(),
            })
            .collect(),
    }
}

/// What `POST /admin/encryption/rotate` did and what is left.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionRotation {
    /// `encryption_rotation`.
    pub object: &'static str,
    /// The id of the newest key (8 hex digits), which rows are now sealed under.
    pub key_id: String,
    /// Rows this call re-encrypted.
    pub reencrypted: u64,
    /// Rows holding secrets (endpoints, deleted ones included, and server keys).
    pub rows: u64,
    /// Rows wholly sealed under the newest key.
    pub current: u64,
    /// Rows still in plaintext or under an older key (0 once done; more if
    /// rows changed meanwhile, which their writers sealed themselves).
    pub remaining: u64,
    /// Rows with a value sealed under each key id.
    pub by_key: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub created_at: String,
}

pub fn workspace(w: &Workspace) -> WorkspaceView {
    WorkspaceView {
        object: "workspace",
        id: w.id.to_string(),
        name: w.name.clone(),
        created_at: w.created_at.to_rfc3339(),
    }
}

/// The answer to `POST /portal_sessions`: a one-time link into the
/// dashboard, scoped to one workspace.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalSession {
    pub url: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
}

pub fn api_key(k: &ApiKeyRecord) -> ApiKey {
    ApiKey {
        object: "api_key",
        id: k.id.to_string(),
        name: k.name.clone(),
        prefix: k.prefix.clone(),
        created_at: k.created_at.to_rfc3339(),
    }
}

/// A new API key with its plaintext `key` (shown this once).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub record: ApiKey,
    pub key: String,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeView {
    pub object: &'static str,
    pub name: String,
    pub canonical_name: String,
    pub api_version: ApiVersion,
    pub description: String,
    pub global: bool,
    pub resource_types: Vec<ResourceType>,
    pub example_payload: Value,
}

/// `GET /event_types`: a list that also names its version.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeList {
    pub object: &'static str,
    pub api_version: ApiVersion,
    pub data: Vec<EventTypeView>,
    pub next_page_token: Option<String>,
}

/// The catalog for one version, for `GET /event_types`.
pub fn event_types(catalog: &Catalog, version: &ApiVersion) -> EventTypeList {
    let data = catalog
        .events_in(version)
        .map(|e| {
            let rule = &e.versions[version.as_str()];
            let name = rule.name.clone().unwrap_or_else(|| e.event_type.clone());
            let example = hookrelay_core::render::render_payload(&e.example.to_string(), rule);
            EventTypeView {
                object: "event_type",
                name,
                canonical_name: e.event_type.clone(),
                api_version: version.clone(),
                description: e.description.clone(),
                global: e.global,
                resource_types: e.resource_types.clone(),
                example_payload: serde_json::from_str::<Value>(&example).unwrap_or(Value::Null),
            }
        })
        .collect();
    EventTypeList {
        object: "list",
        api_version: version.clone(),
        data,
        next_page_token: None,
    }
}

/// `{"status"}` of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthStatus {
    pub status: &'static str,
}

/// A v1 webhook (snake_case, like the rest of the v1 API).
#[derive(Debug, Serialize, JsonSchema)]
pub struct V1Webhook {
    pub id: String,
    pub url: EndpointUrl,
    pub events: Vec<String>,
    pub status: EndpointStatus,
    pub disabled_reason: Option<DisabledReason>,
    pub created_at: String,
}

pub fn v1_webhook(e: &Endpoint) -> V1Webhook {
    V1Webhook {
        id: e.id.to_string(),
        url: e.url.clone(),
        events: e.enabled_events.clone(),
        status: e.status,
        disabled_reason: e.disabled_reason,
        created_at: e.created_at.to_rfc3339(),
    }
}

/// A new v1 webhook with its secret.
#[derive(Debug, Serialize, JsonSchema)]
pub struct V1WebhookCreated {
    #[serde(flatten)]
    pub webhook: V1Webhook,
    pub secret: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct V1WebhookDeleted {
    pub id: String,
    pub deleted: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct V1TestDelivery {
    pub delivery_id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
}
