//! `/webhook_deliveries`: history (with every attempt) and manual retry.

use std::str::FromStr;

use axum::extract::{Path, State};
use axum::response::Response;
use hookrelay_core::ids::{DeliveryId, EndpointId, EventId};
use hookrelay_core::model::DeliveryStatus;
use hookrelay_core::validate;
use hookrelay_store::DeliveryFilter;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Ctx, Query};
use crate::routes::events::time_param;
use crate::{accepted, ok, views, AppState, PageParams};

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

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    let page = q.page.to_request()?;
    if let Some(t) = &q.event_type {
        validate::max_chars("eventType", t, validate::MAX_EVENT_TYPE_LEN)?;
    }
    let empty = || {
        Ok(ok(views::list::<views::WebhookDelivery>(
            Vec::new(),
            None,
            page.dir,
        )))
    };
    let endpoint_id = match nonempty(q.webhook_endpoint_id) {
        None => None,
        Some(s) => match EndpointId::parse(&s) {
            Some(id) => Some(id),
            None => return empty(),
        },
    };
    let event_id = match nonempty(q.event_id) {
        None => None,
        Some(s) => match EventId::parse(&s) {
            Some(id) => Some(id),
            None => return empty(),
        },
    };
    let status = match nonempty(q.status) {
        None => None,
        Some(s) => Some(
            DeliveryStatus::from_str(&s)
                .map_err(|e| ApiError::bad_request("invalid_request", format!("status: {e}")))?,
        ),
    };
    let filter = DeliveryFilter {
        endpoint_id,
        event_id,
        event_type: nonempty(q.event_type),
        status,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let p = state
        .inner
        .store
        .list_deliveries(&ctx.workspace_id, &filter, &page)
        .await?;
    Ok(ok(views::page(p, page.dir, views::delivery)))
}

pub async fn get_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = DeliveryId::parse(&id).ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let (d, attempts) = state
        .inner
        .store
        .get_delivery(&ctx.workspace_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    // The body as sent: the event rendered for the delivery's API version;
    // a signed-URL body gets a fresh URL for this view.
    let body = match state
        .inner
        .store
        .get_event(&ctx.workspace_id, &d.event_id)
        .await?
    {
        Some((ev, _)) => {
            let catalog = &state.inner.catalog;
            let endpoint = state.inner.directory.endpoint(&d.endpoint_id);
            let bytes = hookrelay_dispatch::delivery_body(
                catalog,
                &ev,
                &d.api_version,
                endpoint
                    .as_ref()
                    .and_then(|e| e.advanced_options.payload.as_ref()),
                Some(&state.inner.signed_urls),
                || hookrelay_dispatch::render_for(catalog, &ev, &d.api_version).into(),
                state.inner.clock.now(),
            );
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        None => None,
    };
    Ok(ok(views::delivery_full(&d, &attempts, body.as_deref())))
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
