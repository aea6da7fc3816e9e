//! How records look on the wire (camelCase, Extend's field names).

use hookrelay_core::catalog::Catalog;
use hookrelay_core::cursor::{self, SortDir};
use hookrelay_core::model::{Attempt, Delivery, Endpoint, Event, Subscription};
use hookrelay_store::{ApiKeyRecord, DeliverySummary, Page, Workspace};
use serde_json::{json, Value};

pub fn list(data: Vec<Value>, page_next: Option<String>, dir: SortDir) -> Value {
    json!({
        "object": "list",
        "data": data,
        "nextPageToken": page_next.map(|id| cursor::encode(&id, dir)),
    })
}

pub fn page<T>(p: Page<T>, dir: SortDir, f: impl Fn(&T) -> Value) -> Value {
    let data = p.items.iter().map(f).collect();
    list(data, p.next, dir)
}

pub fn endpoint(e: &Endpoint) -> Value {
    json!({
        "object": "webhook_endpoint",
        "id": e.id,
        "url": e.url,
        "name": e.name,
        "status": e.status,
        "enabledEvents": e.enabled_events,
        "apiVersion": e.api_version,
        "advancedOptions": e.advanced_options,
        "createdAt": e.created_at.to_rfc3339(),
        "createdBy": e.created_by,
        "signatureScheme": e.signature_scheme,
        "retrySchedule": e.retry_schedule,
        "rateLimitPerSecond": e.rate_limit_per_second,
        "disabledReason": e.disabled_reason,
    })
}

pub fn subscription(s: &Subscription) -> Value {
    json!({
        "object": "webhook_subscription",
        "id": s.id,
        "webhookEndpointId": s.endpoint_id,
        "resourceType": s.resource_type,
        "resourceId": s.resource_id,
        "enabledEvents": s.enabled_events,
        "createdAt": s.created_at.to_rfc3339(),
    })
}

pub fn event(e: &Event) -> Value {
    json!({
        "object": "event",
        "id": e.id,
        "eventType": e.event_type,
        "createdAt": e.created_at.to_rfc3339(),
        "deliveryCount": e.delivery_count,
    })
}

pub fn event_full(e: &Event, deliveries: &[DeliverySummary]) -> Value {
    let mut v = event(e);
    let payload: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
    let prev: Value = e
        .previous_data
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    v["payload"] = payload;
    v["resource"] = json!(e.resource);
    v["previousData"] = prev;
    v["idempotencyKey"] = json!(e.idempotency_key);
    v["test"] = json!(e.test);
    v["deliveries"] = deliveries
        .iter()
        .map(|d| {
            json!({
                "id": d.delivery_id,
                "webhookEndpointId": d.endpoint_id,
                "status": d.status,
                "attemptCount": d.attempt_count,
            })
        })
        .collect();
    v
}

pub fn delivery(d: &Delivery) -> Value {
    json!({
        "object": "webhook_delivery",
        "id": d.id,
        "eventId": d.event_id,
        "eventType": d.event_type,
        "webhookEndpointId": d.endpoint_id,
        "status": d.status,
        "attemptCount": d.attempt_count,
        "nextAttemptAt": d.next_attempt_at.map(|t| t.to_rfc3339()),
        "createdAt": d.created_at.to_rfc3339(),
        "test": d.test,
    })
}

/// A delivery with its attempts. `body` is the request body as sent (the
/// event rendered for the delivery's API version).
pub fn delivery_full(d: &Delivery, attempts: &[Attempt], body: Option<&str>) -> Value {
    let mut v = delivery(d);
    v["attempts"] = attempts
        .iter()
        .map(|a| {
            json!({
                "attemptNumber": a.attempt_number,
                "startedAt": a.started_at.to_rfc3339(),
                "durationMs": a.duration_ms,
                "request": {
                    "url": a.request_url,
                    "headers": headers(&a.request_headers),
                    "body": body,
                },
                "responseStatus": a.response_status,
                "responseHeaders": headers(&a.response_headers),
                "responseBody": a.response_body,
                "errorKind": a.error_kind,
                "errorMessage": a.error_message,
            })
        })
        .collect();
    v
}

fn headers(h: &[(String, String)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in h {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(m)
}

pub fn workspace(w: &Workspace) -> Value {
    json!({
        "object": "workspace",
        "id": w.id,
        "name": w.name,
        "createdAt": w.created_at.to_rfc3339(),
    })
}

pub fn api_key(k: &ApiKeyRecord) -> Value {
    json!({
        "object": "api_key",
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "createdAt": k.created_at.to_rfc3339(),
    })
}

/// The catalog for one version, for `GET /event_types`.
pub fn event_types(catalog: &Catalog, version: &str) -> Value {
    let data: Vec<Value> = catalog
        .events_in(version)
        .map(|e| {
            let rule = &e.versions[version];
            let name = rule.name.clone().unwrap_or_else(|| e.event_type.clone());
            let example = hookrelay_core::render::render_payload(&e.example.to_string(), rule);
            json!({
                "object": "event_type",
                "name": name,
                "canonicalName": e.event_type,
                "apiVersion": version,
                "description": e.description,
                "global": e.global,
                "resourceTypes": e.resource_types,
                "examplePayload": serde_json::from_str::<Value>(&example).unwrap_or(Value::Null),
            })
        })
        .collect();
    json!({ "object": "list", "apiVersion": version, "data": data, "nextPageToken": null })
}
