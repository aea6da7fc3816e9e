//! Column lists, row decoding and bound values for the PostgreSQL backend.
//! The same columns as SQLite (`sqlite/rows.rs`); only the types differ:
//! booleans are `BOOLEAN`, counts `INTEGER`, other numbers `BIGINT`.

use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{
    Attempt, Delivery, Endpoint, EndpointSecrets, ErrorKind, Event, ResourceRef, Subscription,
};
use hookrelay_core::parsed::{ApiVersion, EndpointUrl, EventType};
use hookrelay_core::secret::{ApiKeyHash, Secret};
use hookrelay_core::time::Timestamp;

use crate::{ApiKeyRecord, DeliverySummary, StoreError, Workspace};

pub(crate) type R<T> = std::result::Result<T, StoreError>;

/// Column `i` of `row`, or a corrupt-record error naming it.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> R<T> {
    row.try_get(i).map_err(|e| {
        let name = row.columns().get(i).map_or("?", |c| c.name());
        StoreError::with_source(
            crate::ErrorKind::Internal,
            format!("corrupt record: column {name}"),
            e,
        )
    })
}

fn parse<T: std::str::FromStr>(s: String, what: &str) -> R<T> {
    s.parse()
        .map_err(|_| StoreError::corrupt(format!("bad {what}: {s:?}")))
}

fn count(v: i32, what: &str) -> R<u32> {
    u32::try_from(v).map_err(|_| StoreError::corrupt(format!("bad {what}: {v}")))
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

/// Prefixes every column of a list with `alias.`.
pub(crate) fn qualified(cols: &str, alias: &str) -> String {
    cols.split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) const WORKSPACE_COLS: &str = "id, name, created_at";

pub(crate) fn workspace(row: &Row) -> R<Workspace> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(col(row, 0)?),
        name: col(row, 1)?,
        created_at: Timestamp(col(row, 2)?),
    })
}

pub(crate) const API_KEY_COLS: &str =
    "id, workspace_id, name, prefix, key_hash, created_at, revoked_at";

pub(crate) fn api_key(row: &Row) -> R<ApiKeyRecord> {
    let hash: String = col(row, 4)?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_trusted(col(row, 0)?),
        workspace_id: WorkspaceId::from_trusted(col(row, 1)?),
        name: col(row, 2)?,
        prefix: col(row, 3)?,
        hash: ApiKeyHash::from_hex(&hash).ok_or_else(|| StoreError::corrupt("key hash"))?,
        created_at: Timestamp(col(row, 5)?),
        revoked_at: ts(col(row, 6)?),
    })
}

pub(crate) const ENDPOINT_COLS: &str = "id, workspace_id, url, name, status, disabled_reason, \
    enabled_events, api_version, advanced_options, signature_scheme, retry_schedule, \
    rate_limit_per_second, secret, previous_secret, previous_secret_until, created_at, \
    created_by, updated_at, failing_since";

pub(crate) fn endpoint(row: &Row) -> R<Endpoint> {
    let enabled_events: String = col(row, 6)?;
    let advanced: String = col(row, 8)?;
    let retry: Option<String> = col(row, 10)?;
    let created_by: Option<String> = col(row, 16)?;
    let disabled_reason: Option<String> = col(row, 5)?;
    let rate: Option<i64> = col(row, 11)?;
    Ok(Endpoint {
        id: EndpointId::from_trusted(col(row, 0)?),
        workspace_id: WorkspaceId::from_trusted(col(row, 1)?),
        url: EndpointUrl::from_trusted(col(row, 2)?),
        name: col(row, 3)?,
        status: parse(col(row, 4)?, "status")?,
        disabled_reason: disabled_reason
            .map(|r| parse(r, "disabled_reason"))
            .transpose()?,
        enabled_events: serde_json::from_str(&enabled_events)?,
        api_version: ApiVersion::from_trusted(col(row, 7)?),
        advanced_options: serde_json::from_str(&advanced)?,
        signature_scheme: parse(col(row, 9)?, "signature_scheme")?,
        retry_schedule: retry.map(|r| serde_json::from_str(&r)).transpose()?,
        rate_limit_per_second: rate
            .map(|r| {
                u32::try_from(r)
                    .map_err(|_| StoreError::corrupt(format!("bad rate_limit_per_second: {r}")))
            })
            .transpose()?,
        secrets: EndpointSecrets {
            secret: Secret::new(col(row, 12)?),
            previous: col::<Option<String>>(row, 13)?.map(Secret::new),
            previous_until: ts(col(row, 14)?),
        },
        created_at: Timestamp(col(row, 15)?),
        created_by: created_by.map(|c| serde_json::from_str(&c)).transpose()?,
        updated_at: Timestamp(col(row, 17)?),
        failing_since: ts(col(row, 18)?),
    })
}

/// An endpoint as bound values, in [`ENDPOINT_COLS`] order.
pub(crate) struct EndpointValues {
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    pub name: String,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub enabled_events: String,
    pub api_version: String,
    pub advanced_options: String,
    pub signature_scheme: String,
    pub retry_schedule: Option<String>,
    pub rate_limit_per_second: Option<i64>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub updated_at: i64,
    pub failing_since: Option<i64>,
}

impl EndpointValues {
    pub(crate) fn of(e: &Endpoint) -> R<Self> {
        Ok(Self {
            id: e.id.to_string(),
            workspace_id: e.workspace_id.to_string(),
            url: e.url.to_string(),
            name: e.name.clone(),
            status: e.status.as_str().to_owned(),
            disabled_reason: e.disabled_reason.map(|r| r.as_str().to_owned()),
            enabled_events: serde_json::to_string(&e.enabled_events)?,
            api_version: e.api_version.to_string(),
            advanced_options: serde_json::to_string(&e.advanced_options)?,
            signature_scheme: e.signature_scheme.as_str().to_owned(),
            retry_schedule: e
                .retry_schedule
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            rate_limit_per_second: e.rate_limit_per_second.map(i64::from),
            secret: e.secrets.secret.expose().to_owned(),
            previous_secret: e.secrets.previous.as_ref().map(|s| s.expose().to_owned()),
            previous_secret_until: e.secrets.previous_until.map(|t| t.0),
            created_at: e.created_at.0,
            created_by: e
                .created_by
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            updated_at: e.updated_at.0,
            failing_since: e.failing_since.map(|t| t.0),
        })
    }
}

pub(crate) const SUBSCRIPTION_COLS: &str =
    "id, workspace_id, endpoint_id, resource_type, resource_id, enabled_events, created_at";

pub(crate) fn subscription(row: &Row) -> R<Subscription> {
    let events: String = col(row, 5)?;
    Ok(Subscription {
        id: SubscriptionId::from_trusted(col(row, 0)?),
        workspace_id: WorkspaceId::from_trusted(col(row, 1)?),
        endpoint_id: EndpointId::from_trusted(col(row, 2)?),
        resource_type: parse(col(row, 3)?, "resource_type")?,
        resource_id: col(row, 4)?,
        enabled_events: serde_json::from_str(&events)?,
        created_at: Timestamp(col(row, 6)?),
    })
}

pub(crate) const EVENT_COLS: &str = "id, workspace_id, event_type, payload, resource_type, \
    resource_id, previous_data, idempotency_key, created_at, delivery_count, test";

/// Decodes an event whose columns start at `off`.
pub(crate) fn event_at(row: &Row, off: usize) -> R<Event> {
    let rt: Option<String> = col(row, off + 4)?;
    let rid: Option<String> = col(row, off + 5)?;
    Ok(Event {
        id: EventId::from_trusted(col(row, off)?),
        workspace_id: WorkspaceId::from_trusted(col(row, off + 1)?),
        event_type: EventType::from_trusted(col(row, off + 2)?),
        payload: col(row, off + 3)?,
        resource: match (rt, rid) {
            (Some(kind), Some(id)) => Some(ResourceRef { kind, id }),
            _ => None,
        },
        previous_data: col(row, off + 6)?,
        idempotency_key: col(row, off + 7)?,
        created_at: Timestamp(col(row, off + 8)?),
        delivery_count: count(col(row, off + 9)?, "delivery_count")?,
        test: col(row, off + 10)?,
    })
}

pub(crate) fn event(row: &Row) -> R<Event> {
    event_at(row, 0)
}

pub(crate) const DELIVERY_COLS: &str = "id, workspace_id, event_id, endpoint_id, event_type, \
    status, attempt_count, next_attempt_at, created_at, test, manual, api_version";

/// Decodes a delivery (columns [`DELIVERY_COLS`]) and its `manual` flag.
pub(crate) fn delivery_manual(row: &Row) -> R<(Delivery, bool)> {
    let d = Delivery {
        id: DeliveryId::from_trusted(col(row, 0)?),
        workspace_id: WorkspaceId::from_trusted(col(row, 1)?),
        event_id: EventId::from_trusted(col(row, 2)?),
        endpoint_id: EndpointId::from_trusted(col(row, 3)?),
        event_type: col(row, 4)?,
        status: parse(col(row, 5)?, "delivery status")?,
        attempt_count: count(col(row, 6)?, "attempt_count")?,
        next_attempt_at: ts(col(row, 7)?),
        created_at: Timestamp(col(row, 8)?),
        test: col(row, 9)?,
        api_version: col(row, 11)?,
    };
    Ok((d, col(row, 10)?))
}

pub(crate) fn delivery(row: &Row) -> R<Delivery> {
    Ok(delivery_manual(row)?.0)
}

pub(crate) fn summary(row: &Row) -> R<DeliverySummary> {
    Ok(DeliverySummary {
        delivery_id: DeliveryId::from_trusted(col(row, 0)?),
        endpoint_id: EndpointId::from_trusted(col(row, 1)?),
        status: parse(col(row, 2)?, "delivery status")?,
        attempt_count: count(col(row, 3)?, "attempt_count")?,
    })
}

pub(crate) const ATTEMPT_COLS: &str = "attempt_number, started_at, duration_ms, request_url, \
    request_headers, response_status, response_headers, response_body, error_kind, error_message";

pub(crate) fn attempt(row: &Row) -> R<Attempt> {
    let req_headers: String = col(row, 4)?;
    let resp_headers: String = col(row, 6)?;
    let kind: Option<String> = col(row, 8)?;
    let duration: i64 = col(row, 2)?;
    let status: Option<i32> = col(row, 5)?;
    Ok(Attempt {
        attempt_number: count(col(row, 0)?, "attempt_number")?,
        started_at: Timestamp(col(row, 1)?),
        duration_ms: u32::try_from(duration)
            .map_err(|_| StoreError::corrupt(format!("bad duration_ms: {duration}")))?,
        request_url: col(row, 3)?,
        request_headers: serde_json::from_str(&req_headers)?,
        response_status: status
            .map(|s| {
                u16::try_from(s)
                    .map_err(|_| StoreError::corrupt(format!("bad response_status: {s}")))
            })
            .transpose()?,
        response_headers: serde_json::from_str(&resp_headers)?,
        response_body: col(row, 7)?,
        error_kind: kind
            .map(|k| parse::<ErrorKind>(k, "error kind"))
            .transpose()?,
        error_message: col(row, 9)?,
    })
}

/// PostgreSQL text cannot hold NUL characters; free text taken from the
/// outside world (a receiver's response body, an error message) has them
/// replaced by U+FFFD rather than failing the whole batch.
pub(crate) fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}
