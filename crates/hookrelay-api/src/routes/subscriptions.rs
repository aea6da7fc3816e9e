//! `/webhook_subscriptions`: resource-scoped interest, upserted per endpoint
//! and resource.

use axum::extract::{Path, State};
use axum::response::Response;
use hookrelay_core::ids::{EndpointId, SubscriptionId, WorkspaceId};
use hookrelay_core::model::{ResourceType, Subscription};
use hookrelay_core::parsed::ApiVersion;
use hookrelay_core::validate;
use hookrelay_store::SubscriptionFilter;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Ctx, Json, Query};
use crate::routes::endpoints::event_name_error;
use crate::{ok, views, AppState, PageParams};

/// A new subscription: the body of `POST /webhook_subscriptions`, and what
/// the dashboard's form fills in.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    pub(crate) webhook_endpoint_id: String,
    pub(crate) resource_type: ResourceType,
    pub(crate) resource_id: String,
    pub(crate) enabled_events: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    #[serde(default)]
    enabled_events: Option<Vec<String>>,
}

fn check_resource_id(id: &str) -> ApiResult<()> {
    Ok(validate::required_chars(
        "resourceId",
        id,
        validate::MAX_RESOURCE_ID_LEN,
    )?)
}

async fn endpoint_version(
    state: &AppState,
    ws: &WorkspaceId,
    id: &EndpointId,
) -> ApiResult<ApiVersion> {
    let e = state
        .inner
        .store
        .get_endpoint(ws, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    Ok(e.api_version)
}

/// A subscription of workspace `ws` by its id as given: 404 for a malformed
/// id, an unknown one, or another workspace's, alike.
pub(crate) async fn load(state: &AppState, ws: &WorkspaceId, id: &str) -> ApiResult<Subscription> {
    let id =
        SubscriptionId::parse(id).ok_or_else(|| ApiError::not_found("webhook subscription"))?;
    state
        .inner
        .store
        .get_subscription(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook subscription"))
}

/// Creates a subscription, or updates the one the endpoint already has for
/// the same resource.
pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateBody>,
) -> ApiResult<Response> {
    let stored = upsert(&state, &ctx.workspace_id, body).await?;
    Ok(ok(views::subscription(&stored)))
}

/// Checks and stores a subscription in workspace `ws` (within its quota),
/// replacing the endpoint's one for the same resource, whichever front
/// asked: every rule a subscription must pass is here.
pub(crate) async fn upsert(
    state: &AppState,
    ws: &WorkspaceId,
    body: CreateBody,
) -> ApiResult<Subscription> {
    validate::max_chars(
        "webhookEndpointId",
        &body.webhook_endpoint_id,
        validate::MAX_ID_LEN,
    )?;
    check_resource_id(&body.resource_id)?;
    validate::event_types("enabledEvents", &body.enabled_events)?;
    let endpoint_id = EndpointId::parse(&body.webhook_endpoint_id)
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    let version = endpoint_version(state, ws, &endpoint_id).await?;
    state
        .inner
        .catalog
        .resolve_subscription_events(&version, body.resource_type, &body.enabled_events)
        .map_err(event_name_error)?;
    let now = state.inner.clock.now();
    let sub = Subscription {
        id: state.inner.ids.at(now),
        workspace_id: ws.clone(),
        endpoint_id,
        resource_type: body.resource_type,
        resource_id: body.resource_id,
        enabled_events: body.enabled_events,
        created_at: now,
    };
    let (stored, _created) = state
        .inner
        .directory
        .upsert_subscription(
            &sub,
            Some(state.inner.config.max_subscriptions_per_workspace),
        )
        .await?;
    Ok(stored)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    webhook_endpoint_id: Option<String>,
    resource_id: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    let page = q.page.to_request()?;
    if let Some(r) = &q.resource_id {
        validate::max_chars("resourceId", r, validate::MAX_RESOURCE_ID_LEN)?;
    }
    let endpoint_id = match q.webhook_endpoint_id.as_deref() {
        None | Some("") => None,
        Some(s) => match EndpointId::parse(s) {
            Some(id) => Some(id),
            // An id that cannot exist matches nothing.
            None => {
                return Ok(ok(views::list::<views::WebhookSubscription>(
                    Vec::new(),
                    None,
                    page.dir,
                )))
            }
        },
    };
    let filter = SubscriptionFilter {
        endpoint_id,
        resource_id: q.resource_id.filter(|r| !r.is_empty()),
    };
    let p = state
        .inner
        .store
        .list_subscriptions(&ctx.workspace_id, &filter, &page)
        .await?;
    Ok(ok(views::page(p, page.dir, views::subscription)))
}

pub async fn get_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(views::subscription(
        &load(&state, &ctx.workspace_id, &id).await?,
    )))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Response> {
    if let Some(events) = &body.enabled_events {
        validate::event_types("enabledEvents", events)?;
    }
    let sub = load(&state, &ctx.workspace_id, &id).await?;
    let Some(events) = body.enabled_events else {
        return Ok(ok(views::subscription(&sub)));
    };
    let version = endpoint_version(&state, &ctx.workspace_id, &sub.endpoint_id).await?;
    state
        .inner
        .catalog
        .resolve_subscription_events(&version, sub.resource_type, &events)
        .map_err(event_name_error)?;
    let updated = state
        .inner
        .directory
        .update_subscription_events(&ctx.workspace_id, &sub.id, &events)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook subscription"))?;
    Ok(ok(views::subscription(&updated)))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let sub = load(&state, &ctx.workspace_id, &id).await?;
    remove(&state, &sub).await?;
    Ok(ok(views::DeletedObject {
        id: sub.id.to_string(),
    }))
}

/// Deletes a subscription (through the directory, so routing forgets it).
pub(crate) async fn remove(state: &AppState, sub: &Subscription) -> ApiResult<()> {
    if !state
        .inner
        .directory
        .delete_subscription(&sub.workspace_id, &sub.id)
        .await?
    {
        return Err(ApiError::not_found("webhook subscription"));
    }
    Ok(())
}
