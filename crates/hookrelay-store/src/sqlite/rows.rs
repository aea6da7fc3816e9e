//! Column lists and row decoding for the SQLite backend.

use rusqlite::types::Value as SqlValue;
use rusqlite::Row;

use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{
    Attempt, Delivery, Endpoint, EndpointSecrets, ErrorKind, Event, ResourceRef, Subscription,
};
use hookrelay_core::parsed::{ApiVersion, EndpointUrl, EventType};
use hookrelay_core::secret::{ApiKeyHash, Secret};
use hookrelay_core::time::Timestamp;

use crate::{ApiKeyRecord, StoreError, Workspace};

pub(crate) type R<T> = std::result::Result<T, StoreError>;

fn parse<T: std::str::FromStr>(s: String, what: &str) -> R<T> {
    s.parse()
        .map_err(|_| StoreError::corrupt(format!("bad {what}: {s:?}")))
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

pub(crate) const WORKSPACE_COLS: &str = "id, name, created_at";

pub(crate) fn workspace(row: &Row<'_>) -> R<Workspace> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        created_at: Timestamp(row.get(2)?),
    })
}

pub(crate) const API_KEY_COLS: &str =
    "id, workspace_id, name, prefix, key_hash, created_at, revoked_at";

pub(crate) fn api_key(row: &Row<'_>) -> R<ApiKeyRecord> {
    let hash: String = row.get(4)?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_trusted(row.get(0)?),
        workspace_id: WorkspaceId::from_trusted(row.get(1)?),
        name: row.get(2)?,
        prefix: row.get(3)?,
        hash: ApiKeyHash::from_hex(&hash).ok_or_else(|| StoreError::corrupt("key hash"))?,
        created_at: Timestamp(row.get(5)?),
        revoked_at: ts(row.get(6)?),
    })
}

pub(crate) const ENDPOINT_COLS: &str = "id, workspace_id, url, name, status, disabled_reason, \
    enabled_events, api_version, advanced_options, signature_scheme, retry_schedule, \
    rate_limit_per_second, secret, previous_secret, previous_secret_until, created_at, \
    created_by, updated_at, failing_since";

pub(crate) fn endpoint(row: &Row<'_>) -> R<Endpoint> {
    let enabled_events: String = row.get(6)?;
    let advanced: String = row.get(8)?;
    let retry: Option<String> = row.get(10)?;
    let created_by: Option<String> = row.get(16)?;
    let disabled_reason: Option<String> = row.get(5)?;
    Ok(Endpoint {
        id: EndpointId::from_trusted(row.get(0)?),
        workspace_id: WorkspaceId::from_trusted(row.get(1)?),
        url: EndpointUrl::from_trusted(row.get(2)?),
        name: row.get(3)?,
        status: parse(row.get(4)?, "status")?,
        disabled_reason: disabled_reason
            .map(|r| parse(r, "disabled_reason"))
            .transpose()?,
        enabled_events: serde_json::from_str(&enabled_events)?,
        api_version: ApiVersion::from_trusted(row.get(7)?),
        advanced_options: serde_json::from_str(&advanced)?,
        signature_scheme: parse(row.get(9)?, "signature_scheme")?,
        retry_schedule: retry.map(|r| serde_json::from_str(&r)).transpose()?,
        rate_limit_per_second: row.get(11)?,
        secrets: EndpointSecrets {
            secret: Secret::new(row.get(12)?),
            previous: row.get::<_, Option<String>>(13)?.map(Secret::new),
            previous_until: ts(row.get(14)?),
        },
        created_at: Timestamp(row.get(15)?),
        created_by: created_by.map(|c| serde_json::from_str(&c)).transpose()?,
        updated_at: Timestamp(row.get(17)?),
        failing_since: ts(row.get(18)?),
    })
}

/// The bound values of [`ENDPOINT_COLS`] for an endpoint, in order.
pub(crate) fn endpoint_values(e: &Endpoint) -> R<Vec<SqlValue>> {
    Ok(vec![
        SqlValue::Text(e.id.to_string()),
        SqlValue::Text(e.workspace_id.to_string()),
        SqlValue::Text(e.url.to_string()),
        SqlValue::Text(e.name.clone()),
        SqlValue::Text(e.status.as_str().into()),
        opt_text(e.disabled_reason.map(|r| r.as_str().to_owned())),
        SqlValue::Text(serde_json::to_string(&e.enabled_events)?),
        SqlValue::Text(e.api_version.to_string()),
        SqlValue::Text(serde_json::to_string(&e.advanced_options)?),
        SqlValue::Text(e.signature_scheme.as_str().into()),
        opt_text(
            e.retry_schedule
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        ),
        opt_int(e.rate_limit_per_second.map(i64::from)),
        SqlValue::Text(e.secrets.secret.expose().to_owned()),
        opt_text(e.secrets.previous.as_ref().map(|s| s.expose().to_owned())),
        opt_int(e.secrets.previous_until.map(|t| t.0)),
        SqlValue::Integer(e.created_at.0),
        opt_text(
            e.created_by
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
        ),
        SqlValue::Integer(e.updated_at.0),
        opt_int(e.failing_since.map(|t| t.0)),
    ])
}

pub(crate) fn opt_text(v: Option<String>) -> SqlValue {
    v.map_or(SqlValue::Null, SqlValue::Text)
}

pub(crate) fn opt_int(v: Option<i64>) -> SqlValue {
    v.map_or(SqlValue::Null, SqlValue::Integer)
}

pub(crate) const SUBSCRIPTION_COLS: &str =
    "id, workspace_id, endpoint_id, resource_type, resource_id, enabled_events, created_at";

pub(crate) fn subscription(row: &Row<'_>) -> R<Subscription> {
    let events: String = row.get(5)?;
    Ok(Subscription {
        id: SubscriptionId::from_trusted(row.get(0)?),
        workspace_id: WorkspaceId::from_trusted(row.get(1)?),
        endpoint_id: EndpointId::from_trusted(row.get(2)?),
        resource_type: parse(row.get(3)?, "resource_type")?,
        resource_id: row.get(4)?,
        enabled_events: serde_json::from_str(&events)?,
        created_at: Timestamp(row.get(6)?),
    })
}

pub(crate) const EVENT_COLS: &str = "id, workspace_id, event_type, payload, resource_type, \
    resource_id, previous_data, idempotency_key, created_at, delivery_count, test";

/// Decodes an event whose columns start at `off`.
pub(crate) fn event_at(row: &Row<'_>, off: usize) -> R<Event> {
    let rt: Option<String> = row.get(off + 4)?;
    let rid: Option<String> = row.get(off + 5)?;
    Ok(Event {
        id: EventId::from_trusted(row.get(off)?),
        workspace_id: WorkspaceId::from_trusted(row.get(off + 1)?),
        event_type: EventType::from_trusted(row.get(off + 2)?),
        payload: row.get(off + 3)?,
        resource: match (rt, rid) {
            (Some(kind), Some(id)) => Some(ResourceRef { kind, id }),
            _ => None,
        },
        previous_data: row.get(off + 6)?,
        idempotency_key: row.get(off + 7)?,
        created_at: Timestamp(row.get(off + 8)?),
        delivery_count: row.get(off + 9)?,
        test: row.get(off + 10)?,
    })
}

pub(crate) const DELIVERY_COLS: &str = "id, workspace_id, event_id, endpoint_id, event_type, \
    status, attempt_count, next_attempt_at, created_at, test, manual, api_version";

pub(crate) fn delivery(row: &Row<'_>) -> R<Delivery> {
    Ok(Delivery {
        id: DeliveryId::from_trusted(row.get(0)?),
        workspace_id: WorkspaceId::from_trusted(row.get(1)?),
        event_id: EventId::from_trusted(row.get(2)?),
        endpoint_id: EndpointId::from_trusted(row.get(3)?),
        event_type: row.get(4)?,
        status: parse(row.get(5)?, "delivery status")?,
        attempt_count: row.get(6)?,
        next_attempt_at: ts(row.get(7)?),
        created_at: Timestamp(row.get(8)?),
        test: row.get(9)?,
        api_version: row.get(11)?,
    })
}

pub(crate) const ATTEMPT_COLS: &str = "attempt_number, started_at, duration_ms, request_url, \
    request_headers, response_status, response_headers, response_body, error_kind, error_message";

pub(crate) fn attempt(row: &Row<'_>) -> R<Attempt> {
    let req_headers: String = row.get(4)?;
    let resp_headers: String = row.get(6)?;
    let kind: Option<String> = row.get(8)?;
    Ok(Attempt {
        attempt_number: row.get(0)?,
        started_at: Timestamp(row.get(1)?),
        duration_ms: row.get(2)?,
        request_url: row.get(3)?,
        request_headers: serde_json::from_str(&req_headers)?,
        response_status: row.get(5)?,
        response_headers: serde_json::from_str(&resp_headers)?,
        response_body: row.get(7)?,
        error_kind: kind
            .map(|k| parse::<ErrorKind>(k, "error kind"))
            .transpose()?,
        error_message: row.get(9)?,
    })
}
