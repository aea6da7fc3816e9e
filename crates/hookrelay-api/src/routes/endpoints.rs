//! `/webhook_endpoints`: create, list, get, update, delete, plus `test` and
//! `recover`.

use axum::extract::{Path, State};
use axum::response::Response;
use hookrelay_core::catalog::EventNameError;
use hookrelay_core::ids::{EndpointId, WorkspaceId};
use hookrelay_core::model::{
    AdvancedOptions, CreatedBy, Delivery, DisabledReason, Endpoint, EndpointSecrets,
    EndpointStatus, SignatureScheme,
};
use hookrelay_core::parsed::{ApiVersion, ApiVersionError, EndpointUrl, EventType};
use hookrelay_core::secret::{generate_signing_secret, Secret};
use hookrelay_core::time::Timestamp;
use hookrelay_core::validate;
use hookrelay_store::EndpointFilter;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, Ctx, Json, JsonOrEmpty, Query};
use crate::{accepted, ok, views, AppState, PageParams};

use super::double_option;

/// What a new endpoint is made of: the body of `POST /webhook_endpoints`,
/// and what the dashboard's form fills in.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) enabled_events: Vec<String>,
    pub(crate) api_version: String,
    #[serde(default)]
    pub(crate) status: Option<EndpointStatus>,
    #[serde(default)]
    pub(crate) advanced_options: Option<AdvancedOptions>,
    #[serde(default)]
    pub(crate) signature_scheme: Option<SignatureScheme>,
    #[serde(default)]
    pub(crate) retry_schedule: Option<Vec<u32>>,
    #[serde(default)]
    pub(crate) rate_limit_per_second: Option<u32>,
}

/// A change to an endpoint: the body of `POST /webhook_endpoints/{id}`, and
/// what the dashboard's forms fill in. Absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBody {
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) status: Option<EndpointStatus>,
    #[serde(default)]
    pub(crate) enabled_events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub(crate) advanced_options: Option<Option<AdvancedOptions>>,
    #[serde(default)]
    pub(crate) signature_scheme: Option<SignatureScheme>,
    #[serde(default, deserialize_with = "double_option")]
    pub(crate) retry_schedule: Option<Option<Vec<u32>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub(crate) rate_limit_per_second: Option<Option<u32>>,
    /// Accepted for symmetry with create; it cannot change.
    #[serde(default)]
    pub(crate) api_version: Option<String>,
}

pub(crate) fn event_name_error(e: EventNameError) -> ApiError {
    match e {
        EventNameError::UnknownVersion(v) => ApiError::bad_request(
            "invalid_api_version",
            format!("apiVersion {} is not supported", validate::quote(&v)),
        ),
        other => ApiError::unprocessable("invalid_event_type", other.to_string()),
    }
}

/// The custom-header quota of an endpoint (a 422, like the workspace quotas).
fn check_header_quota(state: &AppState, options: &AdvancedOptions) -> ApiResult<()> {
    let limit = state.inner.config.max_headers_per_endpoint;
    let n = options.headers.as_ref().map_or(0, |h| h.len());
    if n > limit as usize {
        return Err(ApiError::quota_exceeded(format!(
            "quota exceeded: an endpoint may have at most {limit} custom headers (advancedOptions.headers)"
        )));
    }
    Ok(())
}

fn invalid(e: validate::Invalid) -> ApiError {
    ApiError::bad_request("invalid_request", e.to_string())
}

/// An endpoint URL from a request (`http` only in dev mode).
pub(crate) fn parse_url(state: &AppState, raw: &str) -> ApiResult<EndpointUrl> {
    EndpointUrl::parse(raw, state.inner.config.allow_http).map_err(invalid)
}

/// An `apiVersion` from a request: 400 `invalid_api_version` unless the
/// catalog has it.
pub(crate) fn parse_version(state: &AppState, raw: &str) -> ApiResult<ApiVersion> {
    ApiVersion::parse(&state.inner.catalog, "apiVersion", raw).map_err(|e| match e {
        ApiVersionError::TooLong(e) => invalid(e),
        ApiVersionError::Unknown(v) => event_name_error(EventNameError::UnknownVersion(v)),
    })
}

/// Checks what an endpoint's typed fields do not already say: its name, and
/// its other fields against each other and the catalog.
pub(crate) fn check(state: &AppState, e: &Endpoint) -> ApiResult<()> {
    validate::name(&e.name).map_err(invalid)?;
    validate::event_types("enabledEvents", &e.enabled_events)?;
    state
        .inner
        .catalog
        .resolve_endpoint_events(&e.api_version, &e.enabled_events)
        .map_err(event_name_error)?;
    if let Some(h) = &e.advanced_options.headers {
        validate::custom_headers(h).map_err(invalid)?;
    }
    if let Some(s) = &e.retry_schedule {
        validate::retry_schedule(s).map_err(invalid)?;
    }
    if let Some(r) = e.rate_limit_per_second {
        if r == 0 || r > 100_000 {
            return Err(ApiError::bad_request(
                "invalid_request",
                "rateLimitPerSecond must be 1 to 100000 (or null for no limit)",
            ));
        }
    }
    Ok(())
}

/// Which endpoints a route may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every endpoint (`/webhook_endpoints`).
    Any,
    /// Only v1 webhooks, `wh_…` (`/v1/webhooks`).
    V1,
}

pub(crate) async fn load_in(
    state: &AppState,
    ws: &WorkspaceId,
    id: &str,
    scope: Scope,
) -> ApiResult<Endpoint> {
    match scope {
        Scope::Any => load_from(state, ws, id).await,
        Scope::V1 => {
            if !id.starts_with(EndpointId::ALT_PREFIX) {
                return Err(ApiError::not_found("webhook"));
            }
            load_from(state, ws, id).await.map_err(|e| match e.status {
                axum::http::StatusCode::NOT_FOUND => ApiError::not_found("webhook"),
                _ => e,
            })
        }
    }
}

pub(crate) async fn load(state: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Endpoint> {
    load_from(state, &ctx.workspace_id, id).await
}

/// A live endpoint of workspace `ws` by its id as given: 404 for a
/// malformed id, an unknown one, or another workspace's, alike.
pub(crate) async fn load_from(state: &AppState, ws: &WorkspaceId, id: &str) -> ApiResult<Endpoint> {
    let id = EndpointId::parse(id).ok_or_else(|| ApiError::not_found("webhook endpoint"))?;
    state
        .inner
        .store
        .get_endpoint(ws, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateBody>,
) -> ApiResult<Response> {
    let endpoint = create_endpoint(&state, &ctx.workspace_id, ctx.created_by.clone(), body).await?;
    Ok(ok(views::WebhookEndpointCreated {
        signing_secret: endpoint.secrets.secret.expose().to_owned(),
        endpoint: views::endpoint(&endpoint),
    }))
}

/// Checks and creates an endpoint in workspace `ws` (within its quota),
/// whichever front asked: every rule a new endpoint must pass is here.
pub(crate) async fn create_endpoint(
    state: &AppState,
    ws: &WorkspaceId,
    created_by: CreatedBy,
    body: CreateBody,
) -> ApiResult<Endpoint> {
    // In the order the checks have always answered in: url, name, apiVersion.
    let url = parse_url(state, &body.url)?;
    validate::name(&body.name).map_err(invalid)?;
    let api_version = parse_version(state, &body.api_version)?;
    let now = state.inner.clock.now();
    let scheme = body.signature_scheme.unwrap_or(SignatureScheme::Extend);
    let status = body.status.unwrap_or(EndpointStatus::Enabled);
    let endpoint = Endpoint {
        id: state.inner.ids.at(now),
        workspace_id: ws.clone(),
        url,
        name: body.name,
        status,
        disabled_reason: (status == EndpointStatus::Disabled).then_some(DisabledReason::Manual),
        enabled_events: body.enabled_events,
        api_version,
        advanced_options: body.advanced_options.unwrap_or_default(),
        signature_scheme: scheme,
        retry_schedule: body.retry_schedule,
        rate_limit_per_second: body.rate_limit_per_second,
        secrets: EndpointSecrets::new(generate_signing_secret(scheme)),
        created_at: now,
        created_by: Some(created_by),
        updated_at: now,
        failing_since: None,
    };
    check(state, &endpoint)?;
    check_header_quota(state, &endpoint.advanced_options)?;
    state
        .inner
        .directory
        .insert_endpoint(
            &endpoint,
            Some(state.inner.config.max_endpoints_per_workspace),
        )
        .await?;
    Ok(endpoint)
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<ListParams>,
) -> ApiResult<Response> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<EndpointStatus>()
                .map_err(|e| ApiError::bad_request("invalid_request", format!("status: {e}")))?,
        ),
    };
    let page = q.page.to_request()?;
    let p = state
        .inner
        .store
        .list_endpoints(
            &ctx.workspace_id,
            &EndpointFilter {
                status,
                api_version: None,
            },
            &page,
        )
        .await?;
    Ok(ok(views::page(p, page.dir, views::endpoint)))
}

pub async fn get_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let e = load(&state, &ctx, &id).await?;
    Ok(ok(views::endpoint(&e)))
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Response> {
    let e = update_endpoint(&state, &ctx.workspace_id, &id, body).await?;
    Ok(ok(views::endpoint(&e)))
}

/// Checks and applies a change to endpoint `id` of workspace `ws`, whichever
/// front asked: every rule an update must pass is here.
pub(crate) async fn update_endpoint(
    state: &AppState,
    ws: &WorkspaceId,
    id: &str,
    body: UpdateBody,
) -> ApiResult<Endpoint> {
    modify(state, ws, id, Scope::Any, |current| {
        apply_update(state, current, body.clone())
    })
    .await
}

/// Enables or disables by hand. Re-enabling forgets the failure record (the
/// store clears it too); disabling records the reason `manual`.
pub(crate) fn set_status(state: &AppState, e: &mut Endpoint, s: EndpointStatus) {
    if s == e.status {
        return;
    }
    e.status = s;
    e.disabled_reason = match s {
        EndpointStatus::Enabled => {
            state.inner.dispatcher.forget_health(&e.id);
            None
        }
        EndpointStatus::Disabled => Some(DisabledReason::Manual),
    };
}

/// Reads an endpoint, changes it, and writes it back only if nothing changed
/// it meanwhile (an auto-disable, say); tries a few times, then answers 409.
pub(crate) async fn modify(
    state: &AppState,
    ws: &WorkspaceId,
    id: &str,
    scope: Scope,
    mut change: impl FnMut(Endpoint) -> ApiResult<Endpoint>,
) -> ApiResult<Endpoint> {
    for _ in 0..5 {
        let current = load_in(state, ws, id, scope).await?;
        let before = current.updated_at;
        let mut e = change(current)?;
        e.updated_at = next_stamp(state, before);
        if state.inner.directory.update_endpoint(&e, before).await? {
            return Ok(e);
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "conflict",
        "the endpoint kept changing while it was being updated; try again",
    ))
}

/// Deletes an endpoint (cancelling its pending deliveries).
pub(crate) async fn remove(
    state: &AppState,
    ws: &WorkspaceId,
    e: &Endpoint,
    what: &str,
) -> ApiResult<()> {
    let now = state.inner.clock.now();
    if !state
        .inner
        .directory
        .delete_endpoint(ws, &e.id, now)
        .await?
    {
        return Err(ApiError::not_found(what));
    }
    Ok(())
}

/// A later `updated_at` than `before`, even within the same millisecond.
fn next_stamp(state: &AppState, before: Timestamp) -> Timestamp {
    state.inner.clock.now().max(before.plus_millis(1))
}

fn apply_update(state: &AppState, mut e: Endpoint, body: UpdateBody) -> ApiResult<Endpoint> {
    if let Some(v) = body.api_version {
        validate::max_chars("apiVersion", &v, validate::MAX_API_VERSION_LEN)?;
        if v != e.api_version.as_str() {
            return Err(ApiError::unprocessable(
                "api_version_immutable",
                "an endpoint's apiVersion cannot change; create a new endpoint for the new version",
            ));
        }
    }
    if let Some(u) = body.url {
        if e.is_listen() {
            // The server points it at the node holding the CLI's connection,
            // and its deliveries skip the destination guard.
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "listen_endpoint",
                "the URL of a `hookrelay listen` endpoint is the server's own and cannot change",
            ));
        }
        e.url = parse_url(state, &u)?;
    }
    if let Some(n) = body.name {
        e.name = n;
    }
    if let Some(ev) = body.enabled_events {
        e.enabled_events = ev;
    }
    if let Some(a) = body.advanced_options {
        e.advanced_options = a.unwrap_or_default();
        // Only when the headers are given: lowering the quota does not
        // lock existing endpoints out of other updates.
        check_header_quota(state, &e.advanced_options)?;
    }
    if let Some(s) = body.signature_scheme {
        if s != e.signature_scheme {
            // A secret's format belongs to its profile: switching profiles issues a new one.
            return Err(ApiError::unprocessable(
                "signature_scheme_immutable",
                "signatureScheme cannot change after creation; create a new endpoint",
            ));
        }
    }
    if let Some(r) = body.retry_schedule {
        e.retry_schedule = r;
    }
    if let Some(r) = body.rate_limit_per_second {
        e.rate_limit_per_second = r;
    }
    if let Some(s) = body.status {
        set_status(state, &mut e, s);
    }
    check(state, &e)?;
    Ok(e)
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let e = load(&state, &ctx, &id).await?;
    remove(&state, &ctx.workspace_id, &e, "webhook endpoint").await?;
    Ok(ok(views::DeletedObject {
        id: e.id.to_string(),
    }))
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TestBody {
    #[serde(default)]
    event_type: Option<String>,
}

/// Sends a sample event (the catalog's example payload) to this endpoint
/// only. Recorded in history with `test: true`; one attempt, no automatic
/// retries (it can be retried by hand).
pub async fn test(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<TestBody>,
) -> ApiResult<Response> {
    if let Some(t) = &body.event_type {
        validate::max_chars("eventType", t, validate::MAX_EVENT_TYPE_LEN)?;
    }
    let endpoint = load(&state, &ctx, &id).await?;
    let delivery = send_test_event(&state, &endpoint, body.event_type, None).await?;
    Ok(accepted(views::delivery(&delivery)))
}

/// A test event's own payload (the dashboard lets one edit the example):
/// a JSON object within the nesting and event size limits, like a
/// published event's.
fn check_test_payload(state: &AppState, raw: &str) -> ApiResult<()> {
    let parsed: Box<RawValue> = parse_json(raw.as_bytes())?;
    if !parsed.get().trim_start().starts_with('{') {
        return Err(ApiError::bad_request(
            "invalid_request",
            "payload must be a JSON object",
        ));
    }
    let limit = state.inner.config.max_event_bytes;
    if raw.len() > limit {
        return Err(ApiError::event_too_large(limit));
    }
    Ok(())
}

/// Publishes a test event of `event_type` (a name in the endpoint's version
/// or a canonical one; default: its first enabled event) to this endpoint
/// only, marked as a test. Its payload is `payload` if given (checked like
/// a published event's), else the catalog's example.
pub(crate) async fn send_test_event(
    state: &AppState,
    endpoint: &Endpoint,
    event_type: Option<String>,
    payload: Option<&str>,
) -> ApiResult<Delivery> {
    if let Some(p) = payload {
        check_test_payload(state, p)?;
    }
    let catalog = &state.inner.catalog;
    let version = endpoint.api_version.as_str();
    let canonical = match event_type {
        Some(name) => {
            // A name in the endpoint's version (legacy names included) or a canonical one.
            let by_name = catalog
                .events_in(version)
                .find(|e| catalog.rendered_name(&e.event_type, version) == Some(name.as_str()))
                .map(|e| e.event_type.clone());
            by_name
                .or_else(|| catalog.rule(&name, version).map(|_| name.clone()))
                .ok_or_else(|| {
                    event_name_error(EventNameError::NotInVersion {
                        name: name.clone(),
                        version: version.to_owned(),
                    })
                })?
        }
        None => {
            let first_enabled = catalog
                .resolve_endpoint_events(version, &endpoint.enabled_events)
                .ok()
                .and_then(|s| s.into_iter().next());
            first_enabled
                .or_else(|| {
                    catalog
                        .events_in(version)
                        .next()
                        .map(|e| e.event_type.clone())
                })
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "no_event_types",
                        "the catalog has no events for this apiVersion",
                    )
                })?
        }
    };
    let def = catalog
        .event(&canonical)
        .ok_or_else(|| ApiError::internal("catalog lookup failed"))?;
    let now = state.inner.clock.now();
    Ok(state
        .inner
        .deliveries()
        .send_test(
            endpoint,
            EventType::from_trusted(def.event_type.clone()),
            payload.map_or_else(|| def.example.to_string(), |p| p.trim().to_owned()),
            now,
        )
        .await?)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverBody {
    since: String,
    #[serde(default)]
    until: Option<String>,
}

/// Re-queues every failed delivery of the endpoint created in the window.
pub async fn recover(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Json(body): Json<RecoverBody>,
) -> ApiResult<Response> {
    validate::max_chars("since", &body.since, validate::MAX_TIME_LEN)?;
    if let Some(u) = &body.until {
        validate::max_chars("until", u, validate::MAX_TIME_LEN)?;
    }
    let endpoint = load(&state, &ctx, &id).await?;
    let since = Timestamp::parse_rfc3339(&body.since).ok_or_else(|| {
        ApiError::bad_request("invalid_request", "since must be an RFC 3339 time")
    })?;
    let until = match &body.until {
        Some(u) => Some(Timestamp::parse_rfc3339(u).ok_or_else(|| {
            ApiError::bad_request("invalid_request", "until must be an RFC 3339 time")
        })?),
        None => None,
    };
    let r = recover_window(&state, &endpoint, since, until).await?;
    Ok(accepted(views::Recovery {
        object: "recovery",
        webhook_endpoint_id: endpoint.id.to_string(),
        since: r.since.to_rfc3339(),
        until: r.until.to_rfc3339(),
        requeued: r.requeued,
    }))
}

/// What a recovery did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recovered {
    pub since: Timestamp,
    pub until: Timestamp,
    pub requeued: u64,
}

/// Requeues the endpoint's failed deliveries created in `[since, until)`
/// (`until` by default: now, inclusive), whichever front asked.
pub(crate) async fn recover_window(
    state: &AppState,
    endpoint: &Endpoint,
    since: Timestamp,
    until: Option<Timestamp>,
) -> ApiResult<Recovered> {
    let now = state.inner.clock.now();
    let until = until.unwrap_or(now.plus_millis(1));
    if until <= since {
        return Err(ApiError::bad_request(
            "invalid_request",
            "until must be after since",
        ));
    }
    let requeued = state
        .inner
        .deliveries()
        .recover(endpoint, since, until, now)
        .await?;
    Ok(Recovered {
        since,
        until,
        requeued,
    })
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RotateBody {
    #[serde(default)]
    grace_seconds: Option<u64>,
}

/// The grace period of a rotation that names none: 24 h.
pub const DEFAULT_GRACE_SECS: u64 = 86_400;
/// The longest grace period a rotation may ask for: 7 days.
pub const MAX_GRACE_SECS: u64 = 7 * 86_400;

/// Issues a new secret. During the grace period, standard-webhooks signs with
/// both secrets; extend and body-hmac (one signature per request) keep
/// signing with the old secret and switch when the period ends.
pub async fn rotate_secret(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<RotateBody>,
) -> ApiResult<Response> {
    let r = rotate(&state, &ctx.workspace_id, &id, body.grace_seconds).await?;
    Ok(ok(views::WebhookEndpointRotated {
        endpoint: views::endpoint(&r.endpoint),
        signing_secret: r.secret.expose().to_owned(),
        new_secret_active_at: r.active_at.to_rfc3339(),
        previous_secret_expires_at: r.previous_until.to_rfc3339(),
    }))
}

/// A rotation's outcome: the endpoint as written, its new secret, when the
/// new secret starts signing and when the old one stops being valid.
#[derive(Debug)]
pub(crate) struct Rotation {
    pub endpoint: Endpoint,
    pub secret: Secret,
    pub active_at: Timestamp,
    pub previous_until: Timestamp,
}

/// Issues a new secret for endpoint `id` of workspace `ws`, keeping the one
/// in use valid for `grace_seconds` (default [`DEFAULT_GRACE_SECS`], at
/// most [`MAX_GRACE_SECS`]), whichever front asked.
pub(crate) async fn rotate(
    state: &AppState,
    ws: &WorkspaceId,
    id: &str,
    grace_seconds: Option<u64>,
) -> ApiResult<Rotation> {
    let grace = grace_seconds.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("graceSeconds must be 0 to {MAX_GRACE_SECS}"),
        ));
    }
    let mut minted = None;
    let e = modify(state, ws, id, Scope::Any, |mut e| {
        let now = state.inner.clock.now();
        let until = now.plus_millis(grace as i64 * 1000);
        // The secret receivers can verify with right now stays valid for the grace period.
        let in_use = match e.signature_scheme {
            SignatureScheme::StandardWebhooks => e.secrets.secret.clone(),
            scheme => e.secrets.signing_secrets(scheme, now)[0].clone(),
        };
        let new = generate_signing_secret(e.signature_scheme);
        e.secrets = EndpointSecrets {
            secret: new.clone(),
            previous: (grace > 0).then_some(in_use),
            previous_until: (grace > 0).then_some(until),
        };
        minted = Some((new, now, until));
        Ok(e)
    })
    .await?;
    let (secret, now, previous_until) = minted.expect("set by the change that was written");
    let active_at = match e.signature_scheme {
        SignatureScheme::StandardWebhooks => now,
        _ => previous_until,
    };
    Ok(Rotation {
        endpoint: e,
        secret,
        active_at,
        previous_until,
    })
}
