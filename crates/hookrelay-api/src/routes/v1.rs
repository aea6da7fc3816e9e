//! The v1 webhooks API: a simpler surface over the same store and
//! dispatcher. A v1 webhook is an endpoint with id `wh_…`, API version `v1`
//! (the v1 envelope and events), the body-HMAC profile, the v1 retry schedule
//! and disable-after-one-exhausted-delivery. They show up in
//! `/webhook_endpoints` and in the delivery history like any other endpoint.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use hookrelay_core::model::{
    AdvancedOptions, Endpoint, EndpointSecrets, EndpointStatus, SignatureScheme,
};
use hookrelay_core::parsed::ApiVersion;
use hookrelay_core::secret::{generate_signing_secret, Secret};
use hookrelay_core::validate;
use hookrelay_store::EndpointFilter;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Ctx, Json, Query};
use crate::routes::endpoints::{
    event_name_error, load_in, modify, parse_url, remove, send_test_event, set_status, Scope,
};
use crate::{accepted, ok, respond, views, AppState, PageParams};

/// The catalog version v1 webhooks use.
pub const V1_VERSION: &str = "v1";

fn check_secret(s: &str) -> ApiResult<()> {
    let (min, max) = (validate::MIN_SECRET_LEN, validate::MAX_SECRET_LEN);
    if s.len() < min || s.len() > max || s.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("secret must be {min} to {max} printable characters"),
        ));
    }
    Ok(())
}

fn check_description(d: &str) -> ApiResult<()> {
    Ok(validate::max_chars(
        "description",
        d,
        validate::MAX_NAME_LEN,
    )?)
}

fn check(state: &AppState, e: &Endpoint) -> ApiResult<()> {
    validate::event_types("events", &e.enabled_events)?;
    state
        .inner
        .catalog
        .resolve_endpoint_events(V1_VERSION, &e.enabled_events)
        .map_err(event_name_error)?;
    Ok(())
}

async fn load(state: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Endpoint> {
    load_in(state, &ctx.workspace_id, id, Scope::V1).await
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateBody>,
) -> ApiResult<Response> {
    if let Some(d) = &body.description {
        check_description(d)?;
    }
    let url = parse_url(&state, &body.url)?;
    let now = state.inner.clock.now();
    let secret = match body.secret {
        Some(s) => {
            check_secret(&s)?;
            Secret::new(s)
        }
        None => generate_signing_secret(SignatureScheme::BodyHmac),
    };
    let e = Endpoint {
        id: state.inner.ids.alt_at(now),
        workspace_id: ctx.workspace_id.clone(),
        name: body
            .description
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| body.url.clone()),
        url,
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        enabled_events: body.events,
        // The catalog's v1 (without one, the event check below refuses).
        api_version: ApiVersion::from_trusted(V1_VERSION.into()),
        advanced_options: AdvancedOptions::default(),
        signature_scheme: SignatureScheme::BodyHmac,
        retry_schedule: None,
        rate_limit_per_second: None,
        secrets: EndpointSecrets::new(secret.clone()),
        created_at: now,
        created_by: Some(ctx.created_by.clone()),
        updated_at: now,
        failing_since: None,
    };
    check(&state, &e)?;
    state
        .inner
        .directory
        .insert_endpoint(&e, Some(state.inner.config.max_endpoints_per_workspace))
        .await?;
    Ok(respond(
        StatusCode::CREATED,
        views::V1WebhookCreated {
            webhook: views::v1_webhook(&e),
            secret: secret.expose().to_owned(),
        },
    ))
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PageParams>,
) -> ApiResult<Response> {
    let page = q.to_request()?;
    let p = state
        .inner
        .store
        .list_endpoints(
            &ctx.workspace_id,
            &EndpointFilter {
                status: None,
                api_version: Some(V1_VERSION.into()),
            },
            &page,
        )
        .await?;
    Ok(ok(views::page(p, page.dir, views::v1_webhook)))
}

pub async fn get_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(ok(views::v1_webhook(&load(&state, &ctx, &id).await?)))
}

#[derive(Debug, Clone, Deserialize)]
pub struct PatchBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    status: Option<EndpointStatus>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

pub async fn patch(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<PatchBody>,
) -> ApiResult<Response> {
    if let Some(s) = &body.secret {
        check_secret(s)?;
    }
    if let Some(d) = &body.description {
        check_description(d)?;
    }
    let e = modify(&state, &ctx.workspace_id, &id, Scope::V1, |mut e| {
        let b = body.clone();
        if let Some(u) = b.url {
            e.url = parse_url(&state, &u)?;
        }
        if let Some(ev) = b.events {
            e.enabled_events = ev;
        }
        if let Some(d) = b.description {
            e.name = d;
        }
        if let Some(s) = b.secret {
            // The v1 API replaces the secret at once (no grace period); use
            // rotate_secret on /webhook_endpoints for a graceful change.
            e.secrets = EndpointSecrets::new(Secret::new(s));
        }
        if let Some(s) = b.status {
            set_status(&state, &mut e, s);
        }
        check(&state, &e)?;
        Ok(e)
    })
    .await?;
    Ok(ok(views::v1_webhook(&e)))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let e = load(&state, &ctx, &id).await?;
    remove(&state, &ctx.workspace_id, &e, "webhook").await?;
    Ok(ok(views::V1WebhookDeleted {
        id: e.id.to_string(),
        deleted: true,
    }))
}

#[derive(Debug, Deserialize)]
pub struct TestBody {
    webhook_id: String,
    #[serde(default)]
    event_type: Option<String>,
}

/// Sends the catalog example of `event_type` to one webhook.
pub async fn test(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<TestBody>,
) -> ApiResult<Response> {
    validate::max_chars("webhook_id", &body.webhook_id, validate::MAX_ID_LEN)?;
    if let Some(t) = &body.event_type {
        validate::max_chars("event_type", t, validate::MAX_EVENT_TYPE_LEN)?;
    }
    let e = load(&state, &ctx, &body.webhook_id).await?;
    let d = send_test_event(&state, &e, body.event_type, None).await?;
    Ok(accepted(views::V1TestDelivery {
        delivery_id: d.id.to_string(),
        webhook_id: e.id.to_string(),
        event_id: d.event_id.to_string(),
        event_type: d.event_type,
        status: d.status,
    }))
}
