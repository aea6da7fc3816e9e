//! `/webhook_deliveries`: history (with every attempt) and manual retry.

use std::str::FromStr;

use axum::extract::{Path, State};
use axum::response::Response;
use hookrelay_core::ids::{DeliveryId, EndpointId, EventId, WorkspaceId};
use hookrelay_core::model::{Attempt, Delivery, DeliveryStatus, Event};
use hookrelay_core::validate;
use hookrelay_store::DeliveryFilter;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Ctx, Query};
use crate::routes::events::time_param;
use crate::{accepted, ok, views, AppState, PageParams};

/// The filters of a delivery list as a query string names them (the API's
/// `GET /webhook_deliveries` and the dashboard's history read the same
/// parameters).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryQuery {
    pub(crate) webhook_endpoint_id: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) event_type: Option<String>,
    pub(crate) status: Option<String>,
    /// RFC 3339, inclusive.
    pub(crate) since: Option<String>,
    /// RFC 3339, exclusive.
    pub(crate) until: Option<String>,
}

impl DeliveryQuery {
    /// The store's filter for these parameters (empty ones are absent), or
    /// `None` when an id is not one of ours: no delivery can match, so the
    /// list is empty rather than an error. A bad status or time is a 400.
    pub(crate) fn filter(&self) -> ApiResult<Option<DeliveryFilter>> {
        if let Some(t) = &self.event_type {
            validate::max_chars("eventType", t, validate::MAX_EVENT_TYPE_LEN)?;
        }
        let endpoint_id = match nonempty(&self.webhook_endpoint_id) {
            None => None,
            Some(s) => match EndpointId::parse(s) {
                Some(id) => Some(id),
                None => return Ok(None),
            },
        };
        let event_id = match nonempty(&self.event_id) {
            None => None,
            Some(s) => match EventId::parse(s) {
                Some(id) => Some(id),
                None => return Ok(None),
            },
        };
        let status =
            match nonempty(&self.status) {
                None => None,
                Some(s) => Some(DeliveryStatus::from_str(s).map_err(|e| {
                    ApiError::bad_request("invalid_request", format!("status: {e}"))
                })?),
            };
        Ok(Some(DeliveryFilter {
            endpoint_id,
            event_id,
            event_type: nonempty(&self.event_type).map(str::to_owned),
            status,
            since: time_param("since", self.since.as_deref())?,
            until: time_param("until", self.until.as_deref())?,
        }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    webhook_endpoint_id: Option<String>,
    event_id: Option<String>,
    event_type: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    let page = q.page.to_request()?;
    let query = DeliveryQuery {
        webhook_endpoint_id: q.webhook_endpoint_id,
        event_id: q.event_id,
        event_type: q.event_type,
        status: q.status,
        since: q.since,
        until: q.until,
    };
    let Some(filter) = query.filter()? else {
        return Ok(ok(views::list::<views::WebhookDelivery>(
            Vec::new(),
            None,
            page.dir,
        )));
    };
    let p = state
        .inner
        .store
        .list_deliveries(&ctx.workspace_id, &filter, &page)
        .await?;
    Ok(ok(views::page(p, page.dir, views::delivery)))
}

/// A delivery of a workspace with its attempts, its event (`None` once
/// purged) and the request body as sent.
#[derive(Debug)]
pub(crate) struct DeliveryDetail {
    pub(crate) delivery: Delivery,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) event: Option<Event>,
    /// The event rendered for the delivery's API version; a signed-URL body
    /// gets a fresh URL for this view.
    pub(crate) body: Option<String>,
}

/// Reads delivery `id` of workspace `ws` (another workspace's, or a
/// malformed id, is not found).
pub(crate) async fn load_detail(
    state: &AppState,
    ws: &WorkspaceId,
    id: &str,
) -> ApiResult<DeliveryDetail> {
    let id = DeliveryId::parse(id).ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let (delivery, attempts) = state
        .inner
        .store
        .get_delivery(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let event = state
        .inner
        .store
        .get_event(ws, &delivery.event_id)
        .await?
        .map(|(ev, _)| ev);
    let body = event.as_ref().map(|ev| {
        let catalog = &state.inner.catalog;
        let endpoint = state.inner.directory.endpoint(&delivery.endpoint_id);
        let bytes = hookrelay_dispatch::delivery_body(
            catalog,
            ev,
            &delivery.api_version,
            endpoint
                .as_ref()
                .and_then(|e| e.advanced_options.payload.as_ref()),
            Some(&state.inner.signed_urls),
            || hookrelay_dispatch::render_for(catalog, ev, &delivery.api_version).into(),
            state.inner.clock.now(),
        );
        String::from_utf8_lossy(&bytes).into_owned()
    });
    Ok(DeliveryDetail {
        delivery,
        attempts,
        event,
        body,
    })
}

pub async fn get_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let d = load_detail(&state, &ctx.workspace_id, &id).await?;
    Ok(ok(views::delivery_full(
        &d.delivery,
        &d.attempts,
        d.body.as_deref(),
    )))
}

/// Sends a delivery again now, whatever its state: a new attempt with a new
/// timestamp and signature. A delivery that had finished gets exactly one
/// attempt; one still pending keeps its schedule if this attempt fails.
pub async fn retry(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = DeliveryId::parse(&id).ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let now = state.inner.clock.now();
    let delivery = state
        .inner
        .deliveries()
        .retry(&ctx.workspace_id, &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    Ok(accepted(views::delivery(&delivery)))
}
