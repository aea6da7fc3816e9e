//! What a stored record looks like, the same on every backend: the column
//! lists, each record decoded from its row, and an endpoint's bound values.
//! A backend supplies only how it reads one cell ([`Cells`]) and binds a
//! value.

use std::collections::HashMap;
use std::sync::Arc;

use hookrelay_core::ids::{ApiKeyId, DeliveryId, EndpointId, EventId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{
    Attempt, Delivery, Endpoint, EndpointSecrets, ErrorKind, Event, ResourceRef, Subscription,
};
use hookrelay_core::parsed::{ApiVersion, EndpointUrl, EventType};
use hookrelay_core::secret::{ApiKeyHash, Secret, TokenHash};
use hookrelay_core::time::Timestamp;

use crate::crypt::{Crypt, Place};
use crate::dashboard::{DashboardSession, PortalLink, SessionKind};
use crate::{ApiKeyRecord, DeliverySummary, DueDelivery, StoreError, Workspace};

pub(crate) type R<T> = std::result::Result<T, StoreError>;

/// One row as a backend reads it. Cells are typed as the PostgreSQL schema
/// types them (SQLite takes whatever it is asked for); numbers come widened
/// and the decoders narrow them, so a number out of range is the same
/// corrupt record on every backend.
pub(crate) trait Cells {
    /// A `TEXT` cell.
    fn text(&self, i: usize) -> R<String>;
    fn opt_text(&self, i: usize) -> R<Option<String>>;
    /// A `BIGINT` cell.
    fn int(&self, i: usize) -> R<i64>;
    fn opt_int(&self, i: usize) -> R<Option<i64>>;
    /// An `INTEGER` cell (32 bits on PostgreSQL).
    fn int4(&self, i: usize) -> R<i64>;
    fn opt_int4(&self, i: usize) -> R<Option<i64>>;
    /// A `BOOLEAN` cell.
    fn flag(&self, i: usize) -> R<bool>;
}

/// A cell that would not read as its type: a corrupt record, naming the
/// column.
pub(crate) fn bad_cell(
    column: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::with_source(
        crate::ErrorKind::Internal,
        format!("corrupt record: column {column}"),
        e,
    )
}

fn parse<T: std::str::FromStr>(s: String, what: &str) -> R<T> {
    s.parse()
        .map_err(|_| StoreError::corrupt(format!("bad {what}: {s:?}")))
}

/// A stored number narrowed to the type it stands for.
fn narrow<T: TryFrom<i64>>(v: i64, what: &str) -> R<T> {
    T::try_from(v).map_err(|_| StoreError::corrupt(format!("bad {what}: {v}")))
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp)
}

pub(crate) const WORKSPACE_COLS: &str = "id, name, created_at";

pub(crate) fn workspace(row: &impl Cells) -> R<Workspace> {
    Ok(Workspace {
        id: WorkspaceId::from_trusted(row.text(0)?),
        name: row.text(1)?,
        created_at: Timestamp(row.int(2)?),
    })
}

pub(crate) const API_KEY_COLS: &str =
    "id, workspace_id, name, prefix, key_hash, created_at, revoked_at";

pub(crate) fn api_key(row: &impl Cells) -> R<ApiKeyRecord> {
    let hash = row.text(4)?;
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_trusted(row.text(0)?),
        workspace_id: WorkspaceId::from_trusted(row.text(1)?),
        name: row.text(2)?,
        prefix: row.text(3)?,
        hash: ApiKeyHash::from_hex(&hash).ok_or_else(|| StoreError::corrupt("key hash"))?,
        created_at: Timestamp(row.int(5)?),
        revoked_at: ts(row.opt_int(6)?),
    })
}

pub(crate) const SESSION_COLS: &str = "token_hash, workspace_id, kind, api_key_id, read_only, \
    csrf_token, created_at, last_seen_at, idle_timeout_ms, expires_at";

fn token_hash(hex: &str) -> R<TokenHash> {
    TokenHash::from_hex(hex).ok_or_else(|| StoreError::corrupt("token hash"))
}

pub(crate) fn dashboard_session(row: &impl Cells) -> R<DashboardSession> {
    let kind = row.text(2)?;
    Ok(DashboardSession {
        token_hash: token_hash(&row.text(0)?)?,
        workspace_id: row.opt_text(1)?.map(WorkspaceId::from_trusted),
        kind: SessionKind::parse(&kind)
            .ok_or_else(|| StoreError::corrupt(format!("bad session kind: {kind:?}")))?,
        api_key_id: row.opt_text(3)?.map(ApiKeyId::from_trusted),
        read_only: row.flag(4)?,
        csrf_token: Secret::new(row.text(5)?),
        created_at: Timestamp(row.int(6)?),
        last_seen_at: Timestamp(row.int(7)?),
        idle_timeout_ms: row.int(8)?,
        expires_at: Timestamp(row.int(9)?),
    })
}

pub(crate) const PORTAL_LINK_COLS: &str =
    "token_hash, workspace_id, read_only, created_at, expires_at, used_at";

pub(crate) fn portal_link(row: &impl Cells) -> R<PortalLink> {
    Ok(PortalLink {
        token_hash: token_hash(&row.text(0)?)?,
        workspace_id: WorkspaceId::from_trusted(row.text(1)?),
        read_only: row.flag(2)?,
        created_at: Timestamp(row.int(3)?),
        expires_at: Timestamp(row.int(4)?),
        used_at: ts(row.opt_int(5)?),
    })
}

pub(crate) const ENDPOINT_COLS: &str = "id, workspace_id, url, name, status, disabled_reason, \
    enabled_events, api_version, advanced_options, signature_scheme, retry_schedule, \
    rate_limit_per_second, secret, previous_secret, previous_secret_until, created_at, \
    created_by, updated_at, failing_since";

/// Decodes an endpoint, opening its secret values with `crypt`.
pub(crate) fn endpoint(row: &impl Cells, crypt: &Crypt) -> R<Endpoint> {
    let id = row.text(0)?;
    let enabled_events = row.text(6)?;
    let advanced = row.text(8)?;
    let advanced = crypt.open_options(&id, serde_json::from_str(&advanced)?)?;
    let secret = crypt.open_str(Place::Secret(&id), &row.text(12)?)?;
    let previous = row
        .opt_text(13)?
        .map(|p| crypt.open_str(Place::PreviousSecret(&id), &p))
        .transpose()?;
    let retry = row.opt_text(10)?;
    let created_by = row.opt_text(16)?;
    let disabled_reason = row.opt_text(5)?;
    Ok(Endpoint {
        id: EndpointId::from_trusted(id),
        workspace_id: WorkspaceId::from_trusted(row.text(1)?),
        url: EndpointUrl::from_trusted(row.text(2)?),
        name: row.text(3)?,
        status: parse(row.text(4)?, "status")?,
        disabled_reason: disabled_reason
            .map(|r| parse(r, "disabled_reason"))
            .transpose()?,
        enabled_events: serde_json::from_str(&enabled_events)?,
        api_version: ApiVersion::from_trusted(row.text(7)?),
        advanced_options: advanced,
        signature_scheme: parse(row.text(9)?, "signature_scheme")?,
        retry_schedule: retry.map(|r| serde_json::from_str(&r)).transpose()?,
        rate_limit_per_second: row
            .opt_int(11)?
            .map(|r| narrow(r, "rate_limit_per_second"))
            .transpose()?,
        secrets: EndpointSecrets {
            secret: Secret::new(secret),
            previous: previous.map(Secret::new),
            previous_until: ts(row.opt_int(14)?),
        },
        created_at: Timestamp(row.int(15)?),
        created_by: created_by.map(|c| serde_json::from_str(&c)).transpose()?,
        updated_at: Timestamp(row.int(17)?),
        failing_since: ts(row.opt_int(18)?),
    })
}

/// An endpoint as bound values, in [`ENDPOINT_COLS`] order, its secret
/// values sealed.
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
    pub(crate) fn of(e: &Endpoint, crypt: &Crypt) -> R<Self> {
        let id = e.id.as_str();
        Ok(Self {
            id: e.id.to_string(),
            workspace_id: e.workspace_id.to_string(),
            url: e.url.to_string(),
            name: e.name.clone(),
            status: e.status.as_str().to_owned(),
            disabled_reason: e.disabled_reason.map(|r| r.as_str().to_owned()),
            enabled_events: serde_json::to_string(&e.enabled_events)?,
            api_version: e.api_version.to_string(),
            advanced_options: serde_json::to_string(&crypt.seal_options(id, &e.advanced_options))?,
            signature_scheme: e.signature_scheme.as_str().to_owned(),
            retry_schedule: e
                .retry_schedule
                .as_ref()
                .map(serde_json::to_string)
                .transpose()?,
            rate_limit_per_second: e.rate_limit_per_second.map(i64::from),
            secret: crypt.seal_str(Place::Secret(id), e.secrets.secret.expose()),
            previous_secret: e
                .secrets
                .previous
                .as_ref()
                .map(|s| crypt.seal_str(Place::PreviousSecret(id), s.expose())),
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

pub(crate) fn subscription(row: &impl Cells) -> R<Subscription> {
    let events = row.text(5)?;
    Ok(Subscription {
        id: SubscriptionId::from_trusted(row.text(0)?),
        workspace_id: WorkspaceId::from_trusted(row.text(1)?),
        endpoint_id: EndpointId::from_trusted(row.text(2)?),
        resource_type: parse(row.text(3)?, "resource_type")?,
        resource_id: row.text(4)?,
        enabled_events: serde_json::from_str(&events)?,
        created_at: Timestamp(row.int(6)?),
    })
}

pub(crate) const EVENT_COLS: &str = "id, workspace_id, event_type, payload, resource_type, \
    resource_id, previous_data, idempotency_key, created_at, delivery_count, test";

/// Decodes an event whose columns start at `off`.
pub(crate) fn event_at(row: &impl Cells, off: usize) -> R<Event> {
    let rt = row.opt_text(off + 4)?;
    let rid = row.opt_text(off + 5)?;
    Ok(Event {
        id: EventId::from_trusted(row.text(off)?),
        workspace_id: WorkspaceId::from_trusted(row.text(off + 1)?),
        event_type: EventType::from_trusted(row.text(off + 2)?),
        payload: row.text(off + 3)?,
        resource: match (rt, rid) {
            (Some(kind), Some(id)) => Some(ResourceRef { kind, id }),
            _ => None,
        },
        previous_data: row.opt_text(off + 6)?,
        idempotency_key: row.opt_text(off + 7)?,
        created_at: Timestamp(row.int(off + 8)?),
        delivery_count: narrow(row.int4(off + 9)?, "delivery_count")?,
        test: row.flag(off + 10)?,
    })
}

pub(crate) fn event(row: &impl Cells) -> R<Event> {
    event_at(row, 0)
}

pub(crate) const DELIVERY_COLS: &str = "id, workspace_id, event_id, endpoint_id, event_type, \
    status, attempt_count, next_attempt_at, created_at, test, manual, api_version";

/// Decodes a delivery (columns [`DELIVERY_COLS`]) and its `manual` flag.
pub(crate) fn delivery_manual(row: &impl Cells) -> R<(Delivery, bool)> {
    let d = Delivery {
        id: DeliveryId::from_trusted(row.text(0)?),
        workspace_id: WorkspaceId::from_trusted(row.text(1)?),
        event_id: EventId::from_trusted(row.text(2)?),
        endpoint_id: EndpointId::from_trusted(row.text(3)?),
        event_type: row.text(4)?,
        status: parse(row.text(5)?, "delivery status")?,
        attempt_count: narrow(row.int4(6)?, "attempt_count")?,
        next_attempt_at: ts(row.opt_int(7)?),
        created_at: Timestamp(row.int(8)?),
        test: row.flag(9)?,
        manual: row.flag(10)?,
        api_version: row.text(11)?,
    };
    let manual = d.manual;
    Ok((d, manual))
}

pub(crate) fn delivery(row: &impl Cells) -> R<Delivery> {
    Ok(delivery_manual(row)?.0)
}

/// Decodes `id, endpoint_id, status, attempt_count` of a delivery.
pub(crate) fn summary(row: &impl Cells) -> R<DeliverySummary> {
    Ok(DeliverySummary {
        delivery_id: DeliveryId::from_trusted(row.text(0)?),
        endpoint_id: EndpointId::from_trusted(row.text(1)?),
        status: parse(row.text(2)?, "delivery status")?,
        attempt_count: narrow(row.int4(3)?, "attempt_count")?,
    })
}

/// Claimed deliveries (with their `manual` flags) joined to their events,
/// oldest first as the table hands them out. A delivery whose event is
/// missing is left out.
pub(crate) fn due_deliveries(
    rows: Vec<(Delivery, bool)>,
    events: &HashMap<String, Arc<Event>>,
) -> Vec<DueDelivery> {
    let mut out = Vec::with_capacity(rows.len());
    for (delivery, manual) in rows {
        if let Some(event) = events.get(delivery.event_id.as_str()) {
            out.push(DueDelivery {
                event: event.clone(),
                delivery,
                manual,
            });
        }
    }
    out.sort_by_key(|d| (d.delivery.next_attempt_at, d.delivery.id.clone()));
    out
}

pub(crate) const ATTEMPT_COLS: &str = "attempt_number, started_at, duration_ms, request_url, \
    request_headers, response_status, response_headers, response_body, error_kind, error_message";

pub(crate) fn attempt(row: &impl Cells) -> R<Attempt> {
    let req_headers = row.text(4)?;
    let resp_headers = row.text(6)?;
    let kind = row.opt_text(8)?;
    Ok(Attempt {
        attempt_number: narrow(row.int4(0)?, "attempt_number")?,
        started_at: Timestamp(row.int(1)?),
        duration_ms: narrow(row.int(2)?, "duration_ms")?,
        request_url: row.text(3)?,
        request_headers: serde_json::from_str(&req_headers)?,
        response_status: row
            .opt_int4(5)?
            .map(|s| narrow(s, "response_status"))
            .transpose()?,
        response_headers: serde_json::from_str(&resp_headers)?,
        response_body: row.opt_text(7)?,
        error_kind: kind
            .map(|k| parse::<ErrorKind>(k, "error kind"))
            .transpose()?,
        error_message: row.opt_text(9)?,
    })
}
