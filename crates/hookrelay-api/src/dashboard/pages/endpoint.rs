//! An endpoint's own page, `/dashboard/endpoints/{id}`, and its actions:
//! edit, enable/disable, resource subscriptions, the signing secret
//! (reveal, rotate), a test event, recovery of failed deliveries, and
//! deletion.
//!
//! Each action is a form POST under the page's path that goes through the
//! same functions as the JSON API (`routes::endpoints`,
//! `routes::subscriptions`). It answers with a 303 back to the page
//! carrying `?done=<what>` (the page turns the few known values into a
//! one-line notice, so a forged link can only show one of our own
//! sentences); with the page itself when it has something to show once
//! (a secret, revealed or new); or, when the input was refused, with the
//! page at status 422, that form as filled in and why.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use hookrelay_core::cursor::SortDir;
use hookrelay_core::model::{
    Endpoint, EndpointStatus, PayloadFormat, ResourceType, SignatureScheme, Subscription,
};
use hookrelay_core::time::Timestamp;
use hookrelay_core::validate;
use hookrelay_store::{PageRequest, SubscriptionFilter};
use maud::{html, Markup};
use serde::Deserialize;

use super::endpoints::global_event_names;
use crate::dashboard::chart::{self, Range};
use crate::dashboard::csrf;
use crate::dashboard::form::Form;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::session::{see_other, Dash, Write};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::endpoints::{
    self as api, load_from, recover_window, rotate, send_test_event, update_endpoint, UpdateBody,
    DEFAULT_GRACE_SECS, MAX_GRACE_SECS,
};
use crate::routes::subscriptions;
use crate::AppState;

/// The most subscriptions the page lists (the API pages through the rest).
const SUBSCRIPTIONS_SHOWN: u32 = 100;

/// Where endpoint `id`'s page is.
fn page_path(id: &str) -> String {
    format!("/dashboard/endpoints/{id}")
}

/// Where a delivery's page is.
fn delivery_path(id: &str) -> String {
    format!("/dashboard/deliveries/{id}")
}

/// What the page's query string may carry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailQuery {
    /// Which action just succeeded (a notice).
    #[serde(default)]
    done: Option<String>,
    /// How many, for `done=recovered`.
    #[serde(default)]
    n: Option<u64>,
    /// The event type whose example the test form shows.
    #[serde(default)]
    test_type: Option<String>,
    /// The activity chart's window (see `chart::Range`).
    #[serde(default)]
    range: Option<String>,
}

/// The notice for `?done=…`, if it is one of ours.
fn done_notice(done: &str, n: Option<u64>) -> Option<String> {
    Some(match done {
        "updated" => "Endpoint updated.".into(),
        "enabled" => "Endpoint enabled.".into(),
        "disabled" => "Endpoint disabled: it receives nothing until it is enabled again.".into(),
        "subscribed" => "Subscription saved.".into(),
        "unsubscribed" => "Subscription deleted.".into(),
        "recovered" => match n.unwrap_or(0) {
            0 => "No failed deliveries in that window: nothing was requeued.".into(),
            1 => "1 failed delivery requeued.".into(),
            n => format!("{n} failed deliveries requeued."),
        },
        _ => return None,
    })
}

/// Whether a refused action shows its form again (the input was wrong)
/// rather than an error page (not found, not allowed, a conflict…).
fn refused_input(err: ApiError) -> Result<String, ApiError> {
    match err.status {
        StatusCode::BAD_REQUEST
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::PAYLOAD_TOO_LARGE => Ok(err.message),
        _ => Err(err),
    }
}

/// The edit form: the endpoint's values, or as submitted.
#[derive(Debug, Default)]
struct EditForm {
    name: String,
    url: String,
    events: Vec<String>,
    rate_limit: String,
    remove_headers: Vec<String>,
    header_name: String,
    header_value: String,
}

impl EditForm {
    fn of(e: &Endpoint) -> Self {
        Self {
            name: e.name.clone(),
            url: e.url.as_str().to_owned(),
            events: e.enabled_events.clone(),
            rate_limit: e
                .rate_limit_per_second
                .map(|r| r.to_string())
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    fn submitted(form: &Form) -> Self {
        Self {
            name: form.text("name"),
            url: form.text("url"),
            events: form.all("event").map(str::to_owned).collect(),
            rate_limit: form.text("rateLimitPerSecond"),
            remove_headers: form.all("removeHeader").map(str::to_owned).collect(),
            header_name: form.text("headerName"),
            header_value: form.text("headerValue"),
        }
    }

    /// The change this form asks of `e`. Headers are only sent when one is
    /// added or removed, so an untouched form does not re-check their quota.
    fn update(&self, e: &Endpoint) -> ApiResult<UpdateBody> {
        let rate = match self.rate_limit.as_str() {
            "" => None,
            r => Some(r.parse::<u32>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_request",
                    "rateLimitPerSecond must be a whole number from 1 to 100000 (or empty for no limit)",
                )
            })?),
        };
        let advanced_options = if self.remove_headers.is_empty() && self.header_name.is_empty() {
            None
        } else {
            let mut options = e.advanced_options.clone();
            let mut headers = options.headers.take().unwrap_or_default();
            for name in &self.remove_headers {
                headers.remove(name);
            }
            if !self.header_name.is_empty() {
                headers.insert(self.header_name.clone(), self.header_value.clone());
            }
            options.headers = (!headers.is_empty()).then_some(headers);
            Some(Some(options))
        };
        Ok(UpdateBody {
            url: Some(self.url.clone()),
            name: Some(self.name.clone()),
            enabled_events: Some(self.events.clone()),
            rate_limit_per_second: Some(rate),
            advanced_options,
            ..UpdateBody::default()
        })
    }
}

/// The add-subscription form as submitted.
#[derive(Debug, Default)]
struct SubscribeForm {
    resource_type: String,
    resource_id: String,
    events: Vec<String>,
}

impl SubscribeForm {
    /// The events are those ticked for the chosen resource type (each type
    /// has its own checkboxes).
    fn submitted(form: &Form) -> Self {
        let resource_type = form.text("resourceType");
        let events = form
            .all(&format!("sub-event:{resource_type}"))
            .map(str::to_owned)
            .collect();
        Self {
            resource_type,
            resource_id: form.text("resourceId"),
            events,
        }
    }
}

/// The test-event form: the type (canonical) and the payload to send.
#[derive(Debug, Default)]
struct TestForm {
    event_type: String,
    payload: String,
}

/// The recover form as submitted.
#[derive(Debug, Default)]
struct RecoverForm {
    since: String,
    until: String,
}

/// A secret the page shows this once.
#[derive(Debug)]
enum Shown {
    /// "Reveal": the current secrets.
    Revealed,
    /// Just rotated.
    Rotated(Box<api::Rotation>),
}

/// Which form a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Edit,
    Subscribe,
    Rotate,
    Test,
    Recover,
    Delete,
}

/// Everything the page shows besides the endpoint itself.
#[derive(Debug, Default)]
struct View {
    notice: Option<String>,
    /// Why the form of that part was refused.
    error: Option<(Part, String)>,
    edit: Option<EditForm>,
    subscribe: Option<SubscribeForm>,
    test: Option<TestForm>,
    recover: Option<RecoverForm>,
    grace: Option<String>,
    secret: Option<Shown>,
    /// The activity chart's window.
    range: Range,
}

impl View {
    fn refused(part: Part, message: String) -> Self {
        Self {
            error: Some((part, message)),
            ..Self::default()
        }
    }

    fn error_of(&self, part: Part) -> Option<&str> {
        match &self.error {
            Some((p, m)) if *p == part => Some(m),
            _ => None,
        }
    }
}

/// `GET /dashboard/endpoints/{id}`: another workspace's endpoint is not
/// found, like an unknown one.
pub async fn detail(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let test_type = q
        .test_type
        .filter(|t| t.len() <= validate::MAX_EVENT_TYPE_LEN)
        .and_then(|t| canonical_test_type(&state, &e, &t));
    let view = View {
        notice: q.done.as_deref().and_then(|d| done_notice(d, q.n)),
        test: test_type.map(|t| example_form(&state, t)),
        range: Range::parse(q.range.as_deref()),
        ..View::default()
    };
    render(&state, &dash, &e, view, StatusCode::OK).await
}

/// `POST /dashboard/endpoints/{id}`: the edit form, through the same
/// update as `POST /webhook_endpoints/{id}`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let edit = EditForm::submitted(&form);
    let result = match edit.update(&e) {
        Ok(body) => update_endpoint(&state, dash.workspace_id(), &id, body).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("{}?done=updated", page_path(&id)), [])),
        Err(err) => {
            let view = View {
                edit: Some(edit),
                ..View::refused(Part::Edit, refused_input(err)?)
            };
            render(&state, &dash, &e, view, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /dashboard/endpoints/{id}/status`: enables or disables by hand,
/// like an update with `status`.
pub async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let status = form
        .text("status")
        .parse::<EndpointStatus>()
        .map_err(|e| ApiError::bad_request("invalid_request", format!("status: {e}")))?;
    let body = UpdateBody {
        status: Some(status),
        ..UpdateBody::default()
    };
    update_endpoint(&state, dash.workspace_id(), &id, body).await?;
    Ok(see_other(
        &format!("{}?done={}", page_path(&id), status.as_str()),
        [],
    ))
}

/// `POST /dashboard/endpoints/{id}/subscriptions`: adds a resource
/// subscription (or replaces the endpoint's one for that resource), like
/// `POST /webhook_subscriptions`.
pub async fn subscribe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let sub = SubscribeForm::submitted(&form);
    let result = match sub.resource_type.parse::<ResourceType>() {
        Ok(resource_type) => {
            let body = subscriptions::CreateBody {
                webhook_endpoint_id: e.id.to_string(),
                resource_type,
                resource_id: sub.resource_id.clone(),
                enabled_events: sub.events.clone(),
            };
            subscriptions::upsert(&state, dash.workspace_id(), body).await
        }
        Err(err) => Err(ApiError::bad_request(
            "invalid_request",
            format!("resourceType: {err}"),
        )),
    };
    match result {
        Ok(_) => Ok(see_other(
            &format!("{}?done=subscribed", page_path(&id)),
            [],
        )),
        Err(err) => {
            let view = View {
                subscribe: Some(sub),
                ..View::refused(Part::Subscribe, refused_input(err)?)
            };
            render(&state, &dash, &e, view, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /dashboard/endpoints/{id}/subscriptions/{sub}/delete`: a
/// subscription of another endpoint (or workspace) is not found.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path((id, sub_id)): Path<(String, String)>,
    Write { dash, .. }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let sub = subscriptions::load(&state, dash.workspace_id(), &sub_id).await?;
    if sub.endpoint_id != e.id {
        return Err(ApiError::not_found("webhook subscription"));
    }
    subscriptions::remove(&state, &sub).await?;
    Ok(see_other(
        &format!("{}?done=unsubscribed", page_path(&id)),
        [],
    ))
}

/// `POST /dashboard/endpoints/{id}/secret/reveal`: the page with the
/// signing secret shown (a POST, so a secret is never in a URL or a
/// cacheable answer).
pub async fn reveal_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, .. }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let view = View {
        secret: Some(Shown::Revealed),
        ..View::default()
    };
    render(&state, &dash, &e, view, StatusCode::OK).await
}

/// `POST /dashboard/endpoints/{id}/secret/rotate`: a new secret, like
/// `POST /webhook_endpoints/{id}/rotate_secret`, shown on the page this once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let grace = form.text("graceSeconds");
    let result = match grace.as_str() {
        "" => Ok(None),
        g => g.parse::<u64>().map(Some).map_err(|_| {
            ApiError::bad_request(
                "invalid_request",
                format!("graceSeconds must be 0 to {MAX_GRACE_SECS}"),
            )
        }),
    };
    let result = match result {
        Ok(g) => rotate(&state, dash.workspace_id(), &id, g).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(rotation) => {
            let e = rotation.endpoint.clone();
            let view = View {
                secret: Some(Shown::Rotated(Box::new(rotation))),
                ..View::default()
            };
            render(&state, &dash, &e, view, StatusCode::OK).await
        }
        Err(err) => {
            let view = View {
                grace: Some(grace),
                ..View::refused(Part::Rotate, refused_input(err)?)
            };
            render(&state, &dash, &e, view, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /dashboard/endpoints/{id}/test`: sends a test event of the chosen
/// type with the payload given (the example unless edited), like
/// `POST /webhook_endpoints/{id}/test`, and goes to its delivery. With
/// `load` (the "Load example" button) it only shows the chosen type's
/// example in the form.
pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let event_type = form.text("eventType");
    if form.get("load").is_some() {
        let view = View {
            test: canonical_test_type(&state, &e, &event_type).map(|t| example_form(&state, t)),
            ..View::default()
        };
        return render(&state, &dash, &e, view, StatusCode::OK).await;
    }
    let payload = form.get("payload").unwrap_or("").trim().to_owned();
    // The example as shown, unedited, goes out exactly as the API's test
    // event does.
    let unedited = state.inner.catalog.event(&event_type).is_some_and(|def| {
        serde_json::from_str::<serde_json::Value>(&payload).is_ok_and(|p| p == def.example)
    });
    let own_payload = (!payload.is_empty() && !unedited).then_some(payload.as_str());
    let result = match validate::max_chars("eventType", &event_type, validate::MAX_EVENT_TYPE_LEN) {
        Ok(()) => send_test_event(&state, &e, Some(event_type.clone()), own_payload).await,
        Err(err) => Err(err.into()),
    };
    match result {
        Ok(delivery) => Ok(see_other(&delivery_path(&delivery.id.to_string()), [])),
        Err(err) => {
            let view = View {
                test: Some(TestForm {
                    event_type,
                    payload,
                }),
                ..View::refused(Part::Test, refused_input(err)?)
            };
            render(&state, &dash, &e, view, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// A `datetime-local` value, read as UTC (`2026-02-01T09:30`, seconds
/// optional).
fn parse_local_utc(field: &'static str, raw: &str) -> ApiResult<Timestamp> {
    validate::max_chars(field, raw, validate::MAX_TIME_LEN)?;
    let full = match raw.len() {
        16 => format!("{raw}:00Z"),
        _ => format!("{raw}Z"),
    };
    Timestamp::parse_rfc3339(&full).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            format!("{field} must be a date and time (UTC), like 2026-02-01T09:30"),
        )
    })
}

/// The value a `datetime-local` input shows for `t` (UTC, to the minute).
fn local_utc(t: Timestamp) -> String {
    t.to_rfc3339()[..16].to_owned()
}

/// `POST /dashboard/endpoints/{id}/recover`: requeues the failed
/// deliveries created in a window, like
/// `POST /webhook_endpoints/{id}/recover`.
pub async fn recover(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    let input = RecoverForm {
        since: form.text("since"),
        until: form.text("until"),
    };
    let window = (|| {
        let since = parse_local_utc("since", &input.since)?;
        let until = match input.until.as_str() {
            "" => None,
            u => Some(parse_local_utc("until", u)?),
        };
        Ok::<_, ApiError>((since, until))
    })();
    let result = match window {
        Ok((since, until)) => recover_window(&state, &e, since, until).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(r) => Ok(see_other(
            &format!("{}?done=recovered&n={}", page_path(&id), r.requeued),
            [],
        )),
        Err(err) => {
            let view = View {
                recover: Some(input),
                ..View::refused(Part::Recover, refused_input(err)?)
            };
            render(&state, &dash, &e, view, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /dashboard/endpoints/{id}/delete`: deletes the endpoint (its
/// pending deliveries are cancelled) once the box confirming it is
/// ticked; then to the list.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let e = load_from(&state, dash.workspace_id(), &id).await?;
    if form.get("confirm") != Some("yes") {
        let view = View::refused(
            Part::Delete,
            "Tick the box to confirm that this endpoint is to be deleted.".into(),
        );
        return render(&state, &dash, &e, view, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    api::remove(&state, dash.workspace_id(), &e, "webhook endpoint").await?;
    Ok(see_other("/dashboard/endpoints?done=deleted", []))
}

/// The canonical event type `name` stands for among the endpoint's test
/// types (a canonical type in its version, or its name there).
fn canonical_test_type(state: &AppState, e: &Endpoint, name: &str) -> Option<String> {
    let catalog = &state.inner.catalog;
    let version = e.api_version.as_str();
    catalog
        .events_in(version)
        .find(|d| d.event_type == name)
        .or_else(|| {
            catalog
                .events_in(version)
                .find(|d| catalog.rendered_name(&d.event_type, version) == Some(name))
        })
        .map(|d| d.event_type.clone())
}

/// The test type shown first: the endpoint's first enabled event, like the
/// API's default, else the first of its version.
fn default_test_type(state: &AppState, e: &Endpoint) -> Option<String> {
    let catalog = &state.inner.catalog;
    let version = e.api_version.as_str();
    catalog
        .resolve_endpoint_events(version, &e.enabled_events)
        .ok()
        .and_then(|s| s.into_iter().next())
        .or_else(|| {
            catalog
                .events_in(version)
                .next()
                .map(|d| d.event_type.clone())
        })
}

/// The test form showing `event_type`'s example.
fn example_form(state: &AppState, event_type: String) -> TestForm {
    let payload = state
        .inner
        .catalog
        .event(&event_type)
        .and_then(|d| serde_json::to_string_pretty(&d.example).ok())
        .unwrap_or_default();
    TestForm {
        event_type,
        payload,
    }
}

/// The resource types the endpoint's version has events for, each with
/// those events' names there.
fn subscription_events(state: &AppState, e: &Endpoint) -> Vec<(ResourceType, Vec<String>)> {
    let catalog = &state.inner.catalog;
    let version = e.api_version.as_str();
    ResourceType::ALL
        .iter()
        .map(|rt| {
            let mut names: Vec<String> = Vec::new();
            for d in catalog
                .events_in(version)
                .filter(|d| d.resource_types.contains(rt))
            {
                if let Some(n) = catalog.rendered_name(&d.event_type, version) {
                    if !names.iter().any(|x| x == n) {
                        names.push(n.to_owned());
                    }
                }
            }
            (*rt, names)
        })
        .filter(|(_, names)| !names.is_empty())
        .collect()
}

/// Seconds as people say them: `90` → `1 min 30 s`, `86400` → `24 h`,
/// `604800` → `7 days`.
fn duration(secs: u64) -> String {
    match secs {
        s if s > 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s < 60 => format!("{s} s"),
        s if s < 3600 && s % 60 == 0 => format!("{} min", s / 60),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The page: the endpoint, its activity (one read of the rollup), its
/// subscriptions (one indexed read), and the forms a session that may
/// write gets.
async fn render(
    state: &AppState,
    dash: &Dash,
    e: &Endpoint,
    view: View,
    status: StatusCode,
) -> ApiResult<Response> {
    let page = PageRequest {
        limit: SUBSCRIPTIONS_SHOWN,
        after: None,
        dir: SortDir::Desc,
    };
    let subs = state
        .inner
        .store
        .list_subscriptions(
            dash.workspace_id(),
            &SubscriptionFilter {
                endpoint_id: Some(e.id.clone()),
                resource_id: None,
            },
            &page,
        )
        .await?;
    let (since, until) = view.range.span(state.inner.clock.now());
    let buckets = state
        .inner
        .store
        .stats(
            dash.workspace_id(),
            Some(&e.id),
            since,
            until,
            view.range.bucket(),
        )
        .await?;
    let id = e.id.to_string();
    let path = page_path(&id);
    let w = dash.can_write();
    let body = html! {
        p { a href="/dashboard/endpoints" { "← Endpoints" } }
        div.section-head {
            h1 { (e.name) }
            (layout::status_badge(e.status))
        }
        @if let Some(n) = &view.notice { (layout::notice(false, n)) }
        (overview(state, e))
        section.activity #endpoint-chart aria-labelledby="activity-title" {
            (chart::activity(&path, "this endpoint", view.range, &buckets))
        }
        @if w { (status_form(dash, e, &path)) }
        @if w { (edit_form(state, dash, e, &path, &view)) }
        (subscriptions_part(state, dash, e, &path, &subs.items, subs.next.is_some(), &view))
        (secret_part(state, dash, e, &path, &view))
        @if w {
            (test_form(state, dash, e, &path, &view))
            (recover_form(state, dash, &path, &view))
            (delete_form(dash, &path, &view))
        }
    };
    Ok(layout::html(
        status,
        layout::page(&e.name, &dash.chrome(Nav::Endpoints), body),
    ))
}

fn overview(state: &AppState, e: &Endpoint) -> Markup {
    let schedule = state.inner.dispatcher.retry_schedule(e);
    let headers: BTreeMap<String, String> = e.advanced_options.headers.clone().unwrap_or_default();
    html! {
        section aria-labelledby="overview-title" {
            h2 #overview-title .visually-hidden { "Overview" }
            div.card {
                dl.fields {
                    dt { "ID" } dd { code { (e.id) } }
                    dt { "Name" } dd { (e.name) }
                    dt { "URL" } dd { code { (e.url.as_str()) } }
                    dt { "Status" }
                    dd {
                        (layout::status_badge(e.status))
                        @if let Some(r) = e.disabled_reason {
                            " " span.muted { "(" (r.as_str()) ")" }
                        }
                    }
                    dt { "API version" } dd { (e.api_version.as_str()) }
                    dt { "Signature profile" } dd { (e.signature_scheme.as_str()) }
                    dt { "Enabled events" }
                    dd {
                        @if e.enabled_events.is_empty() {
                            span.muted { "none (resource subscriptions only)" }
                        } @else {
                            ul.plain { @for ev in &e.enabled_events { li { code { (ev) } } } }
                        }
                    }
                    dt { "Rate limit" }
                    dd {
                        @match e.rate_limit_per_second {
                            Some(r) => { (r) " per second" }
                            None => { span.muted { "none" } }
                        }
                    }
                    dt { "Retry schedule" }
                    dd {
                        (schedule.iter().map(|s| duration(u64::from(*s))).collect::<Vec<_>>().join(", "))
                        @if e.retry_schedule.is_none() { " " span.muted { "(default)" } }
                    }
                    dt { "Custom headers" }
                    dd {
                        @if headers.is_empty() {
                            span.muted { "none" }
                        } @else {
                            // Values may be credentials: shown masked.
                            ul.plain {
                                @for name in headers.keys() {
                                    li { code { (name) ": " span.muted { "••••••••" } } }
                                }
                            }
                        }
                    }
                    dt { "Payload format" }
                    dd {
                        @match &e.advanced_options.payload {
                            None => { (PayloadFormat::Json.as_str()) }
                            Some(p) => {
                                (p.format.as_str())
                                @if let Some(t) = p.url_threshold_bytes {
                                    " " span.muted { "(a URL above " (t) " bytes)" }
                                }
                            }
                        }
                    }
                    dt { "Created" } dd { (layout::time(e.created_at)) }
                    @if let Some(by) = &e.created_by {
                        dt { "Created by" } dd { (by.name) " (" (by.kind) ")" }
                    }
                    dt { "Updated" } dd { (layout::time(e.updated_at)) }
                    dt { "Failing since" }
                    dd {
                        @match e.failing_since {
                            Some(t) => { (layout::time(t)) }
                            None => { span.muted { "not failing" } }
                        }
                    }
                }
            }
        }
    }
}

fn status_form(dash: &Dash, e: &Endpoint, path: &str) -> Markup {
    let (to, label, hint) = match e.status {
        EndpointStatus::Enabled => (
            EndpointStatus::Disabled,
            "Disable endpoint",
            "A disabled endpoint receives no deliveries until it is enabled again.",
        ),
        EndpointStatus::Disabled => (
            EndpointStatus::Enabled,
            "Enable endpoint",
            "Enabling clears its failure record; deliveries start again.",
        ),
    };
    html! {
        section aria-labelledby="status-title" {
            h2 #status-title { "Status" }
            form.stack method="post" action=(format!("{path}/status")) {
                (csrf::field(dash.csrf()))
                input type="hidden" name="status" value=(to.as_str());
                p.hint { (hint) }
                button.button.button-secondary type="submit" { (label) }
            }
        }
    }
}

fn edit_form(state: &AppState, dash: &Dash, e: &Endpoint, path: &str, view: &View) -> Markup {
    let current = EditForm::of(e);
    let f = view.edit.as_ref().unwrap_or(&current);
    // The version's global events, and any enabled one the catalog no
    // longer lists (so saving does not drop it unseen).
    let mut names = global_event_names(state, e.api_version.as_str());
    for ev in &e.enabled_events {
        if !names.contains(ev) {
            names.push(ev.clone());
        }
    }
    let headers: Vec<&String> = e
        .advanced_options
        .headers
        .as_ref()
        .map(|h| h.keys().collect())
        .unwrap_or_default();
    html! {
        section #edit aria-labelledby="edit-title" {
            h2 #edit-title { "Edit" }
            @if let Some(m) = view.error_of(Part::Edit) { (layout::notice(true, m)) }
            form.stack.card method="post" action=(path) {
                (csrf::field(dash.csrf()))
                div.field {
                    label for="edit-name" { "Name" }
                    input #edit-name type="text" name="name" value=(f.name) required maxlength="256";
                }
                div.field {
                    label for="edit-url" { "URL" }
                    input #edit-url type="url" name="url" value=(f.url) required;
                }
                fieldset {
                    legend { "Enabled events (API version " (e.api_version.as_str()) ")" }
                    div.checks {
                        @for (i, name) in names.iter().enumerate() {
                            @let id = format!("edit-ev-{i}");
                            div.check {
                                input id=(id) type="checkbox" name="event" value=(name)
                                    checked[f.events.contains(name)];
                                label for=(id) { code { (name) } }
                            }
                        }
                    }
                }
                div.field {
                    label for="edit-rate" { "Rate limit (deliveries per second)" }
                    input #edit-rate type="number" name="rateLimitPerSecond" value=(f.rate_limit)
                        min="1" max="100000" step="1" inputmode="numeric" aria-describedby="edit-rate-hint";
                    p #edit-rate-hint .hint { "Empty for no limit." }
                }
                fieldset {
                    legend { "Custom headers" }
                    @if !headers.is_empty() {
                        p.hint { "Values are not shown. Tick a header to remove it." }
                        div.checks {
                            @for (i, name) in headers.iter().enumerate() {
                                @let id = format!("edit-rm-{i}");
                                div.check {
                                    input id=(id) type="checkbox" name="removeHeader" value=(name)
                                        checked[f.remove_headers.contains(name)];
                                    label for=(id) { "Remove " code { (name) } }
                                }
                            }
                        }
                    }
                    div.field {
                        label for="edit-header-name" { "Add or replace a header: name" }
                        input #edit-header-name type="text" name="headerName" value=(f.header_name)
                            maxlength="256" autocomplete="off";
                    }
                    div.field {
                        label for="edit-header-value" { "Value" }
                        input #edit-header-value type="text" name="headerValue" value=(f.header_value)
                            autocomplete="off";
                    }
                }
                button.button type="submit" { "Save changes" }
            }
        }
    }
}

fn subscriptions_part(
    state: &AppState,
    dash: &Dash,
    e: &Endpoint,
    path: &str,
    subs: &[Subscription],
    more: bool,
    view: &View,
) -> Markup {
    let by_type = subscription_events(state, e);
    let blank = SubscribeForm::default();
    let f = view.subscribe.as_ref().unwrap_or(&blank);
    html! {
        section #subscriptions aria-labelledby="subs-title" {
            h2 #subs-title { "Resource subscriptions" }
            @if subs.is_empty() {
                div.table-wrap { p.empty { "No resource subscriptions." } }
            } @else {
                div.table-wrap {
                    table.cards {
                        caption.visually-hidden { "Resource subscriptions of this endpoint, newest first" }
                        thead { tr {
                            th scope="col" { "Resource" }
                            th scope="col" { "Type" }
                            th scope="col" { "Events" }
                            th scope="col" { "Created" }
                            @if dash.can_write() { th scope="col" { span.visually-hidden { "Actions" } } }
                        } }
                        tbody {
                            @for s in subs {
                                tr {
                                    th scope="row" { code { (s.resource_id) } }
                                    td.nowrap data-label="Type" { (s.resource_type.as_str()) }
                                    td data-label="Events" {
                                        ul.plain { @for ev in &s.enabled_events { li { code { (ev) } } } }
                                    }
                                    td.nowrap data-label="Created" { (layout::time(s.created_at)) }
                                    @if dash.can_write() {
                                        td {
                                            form.inline method="post"
                                                action=(format!("{path}/subscriptions/{}/delete", s.id)) {
                                                (csrf::field(dash.csrf()))
                                                button.link type="submit" {
                                                    "Delete"
                                                    span.visually-hidden {
                                                        " the subscription to " (s.resource_type.as_str()) " " (s.resource_id)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if more {
                    p.hint { "Showing the newest " (SUBSCRIPTIONS_SHOWN) "; the API lists them all." }
                }
            }
            @if dash.can_write() {
                @if by_type.is_empty() {
                    p.muted { "API version " (e.api_version.as_str()) " has no resource-scoped events." }
                } @else {
                    h3 { "Add a subscription" }
                    @if let Some(m) = view.error_of(Part::Subscribe) { (layout::notice(true, m)) }
                    form.stack.card method="post" action=(format!("{path}/subscriptions")) {
                        (csrf::field(dash.csrf()))
                        div.field {
                            label for="sub-resource-type" { "Resource type" }
                            select #sub-resource-type name="resourceType" {
                                @for (rt, _) in &by_type {
                                    option value=(rt.as_str()) selected[rt.as_str() == f.resource_type] { (rt.as_str()) }
                                }
                            }
                        }
                        div.field {
                            label for="sub-resource-id" { "Resource ID" }
                            input #sub-resource-id type="text" name="resourceId" value=(f.resource_id)
                                required maxlength="256";
                        }
                        @for (ti, (rt, names)) in by_type.iter().enumerate() {
                            fieldset data-resource-type=(rt.as_str()) {
                                legend { "Events for a " (rt.as_str()) }
                                div.checks {
                                    @for (i, name) in names.iter().enumerate() {
                                        @let id = format!("sub-ev-{ti}-{i}");
                                        @let on = rt.as_str() == f.resource_type && f.events.contains(name);
                                        div.check {
                                            input id=(id) type="checkbox" name=(format!("sub-event:{}", rt.as_str()))
                                                value=(name) checked[on];
                                            label for=(id) { code { (name) } }
                                        }
                                    }
                                }
                            }
                        }
                        button.button type="submit" { "Add subscription" }
                    }
                }
            }
        }
    }
}

fn secret_part(state: &AppState, dash: &Dash, e: &Endpoint, path: &str, view: &View) -> Markup {
    let now = state.inner.clock.now();
    let previous = e.secrets.previous_at(now).zip(e.secrets.previous_until);
    html! {
        section #secret aria-labelledby="secret-title" {
            h2 #secret-title { "Signing secret" }
            @if let Some(m) = view.error_of(Part::Rotate) { (layout::notice(true, m)) }
            div.card {
                @match &view.secret {
                    Some(Shown::Rotated(r)) => {
                        (layout::notice(false, "New secret issued. Copy it now: this page shows it once."))
                        dl.fields {
                            dt { "New secret" } dd { code.secret { (r.secret.expose()) } }
                            dt { "Signs from" } dd { (layout::time(r.active_at)) }
                            @if r.endpoint.secrets.previous.is_some() {
                                dt { "Previous secret valid until" } dd { (layout::time(r.previous_until)) }
                            } @else {
                                dt { "Previous secret" } dd { "no longer valid" }
                            }
                        }
                    }
                    Some(Shown::Revealed) => {
                        dl.fields {
                            dt { "Secret" } dd { code.secret { (e.secrets.secret.expose()) } }
                            @if let Some((p, until)) = previous {
                                dt { "Previous secret" }
                                dd {
                                    code.secret { (p.expose()) }
                                    span.muted { "valid until " (layout::time(until)) }
                                }
                            }
                        }
                    }
                    None => {
                        dl.fields {
                            dt { "Secret" } dd { span.muted { "hidden" } }
                            @if let Some((_, until)) = previous {
                                dt { "Rotation" }
                                dd { "the previous secret stays valid until " (layout::time(until)) }
                            }
                        }
                        @if dash.can_write() {
                            form.inline method="post" action=(format!("{path}/secret/reveal")) {
                                (csrf::field(dash.csrf()))
                                button.button.button-secondary type="submit" { "Reveal secret" }
                            }
                        }
                    }
                }
            }
            @if dash.can_write() {
                h3 { "Rotate" }
                form.stack.card method="post" action=(format!("{path}/secret/rotate")) {
                    (csrf::field(dash.csrf()))
                    div.field {
                        label for="grace" { "Grace period (seconds)" }
                        input #grace type="number" name="graceSeconds" min="0" max=(MAX_GRACE_SECS) step="1"
                            inputmode="numeric"
                            value=(view.grace.clone().unwrap_or_else(|| DEFAULT_GRACE_SECS.to_string()))
                            aria-describedby="grace-hint";
                        p #grace-hint .hint {
                            "How long the current secret stays valid: " (duration(DEFAULT_GRACE_SECS))
                            " unless changed, at most " (duration(MAX_GRACE_SECS)) "; 0 replaces it at once. "
                            @if e.signature_scheme == SignatureScheme::StandardWebhooks {
                                "Deliveries are signed with both secrets meanwhile."
                            } @else {
                                "Deliveries keep being signed with the current secret until then."
                            }
                        }
                    }
                    button.button.button-secondary type="submit" { "Rotate secret" }
                }
            }
        }
    }
}

fn test_form(state: &AppState, dash: &Dash, e: &Endpoint, path: &str, view: &View) -> Markup {
    let catalog = &state.inner.catalog;
    let version = e.api_version.as_str();
    let shown = match &view.test {
        Some(t) => TestForm {
            event_type: t.event_type.clone(),
            payload: t.payload.clone(),
        },
        None => default_test_type(state, e)
            .map(|t| example_form(state, t))
            .unwrap_or_default(),
    };
    html! {
        section #test-event aria-labelledby="test-title" {
            h2 #test-title { "Send a test event" }
            @if let Some(m) = view.error_of(Part::Test) { (layout::notice(true, m)) }
            form.stack.card method="post" action=(format!("{path}/test")) {
                (csrf::field(dash.csrf()))
                div.field {
                    label for="test-type" { "Event type" }
                    select #test-type name="eventType" data-example-path=(path) {
                        @for d in catalog.events_in(version) {
                            @let name = catalog.rendered_name(&d.event_type, version).unwrap_or(&d.event_type);
                            option value=(d.event_type) selected[d.event_type == shown.event_type] {
                                (name)
                                @if name != d.event_type { " (" (d.event_type) ")" }
                            }
                        }
                    }
                }
                div.field {
                    label for="test-payload" { "Payload" }
                    textarea #test-payload .mono name="payload" rows="14" spellcheck="false"
                        aria-describedby="test-payload-hint" { (shown.payload) }
                    p #test-payload-hint .hint {
                        "The catalog's example for the type; edit it if you like. "
                        "Recorded in the delivery history as a test, attempted once."
                    }
                }
                div.actions {
                    button.button type="submit" { "Send test event" }
                    " "
                    button.button.button-secondary type="submit" name="load" value="1" formnovalidate {
                        "Load example"
                    }
                }
            }
        }
    }
}

fn recover_form(state: &AppState, dash: &Dash, path: &str, view: &View) -> Markup {
    let day_ago = state.inner.clock.now().plus_millis(-86_400_000);
    let blank = RecoverForm {
        since: local_utc(day_ago),
        until: String::new(),
    };
    let f = view.recover.as_ref().unwrap_or(&blank);
    html! {
        section #recover aria-labelledby="recover-title" {
            h2 #recover-title { "Recover failed deliveries" }
            @if let Some(m) = view.error_of(Part::Recover) { (layout::notice(true, m)) }
            form.stack.card method="post" action=(format!("{path}/recover")) {
                (csrf::field(dash.csrf()))
                p.hint { "Sends again every failed delivery created in the window. Times are in UTC." }
                div.field {
                    label for="recover-since" { "From (UTC)" }
                    input #recover-since type="datetime-local" name="since" value=(f.since) required;
                }
                div.field {
                    label for="recover-until" { "Until (UTC)" }
                    input #recover-until type="datetime-local" name="until" value=(f.until)
                        aria-describedby="recover-until-hint";
                    p #recover-until-hint .hint { "Empty for now." }
                }
                button.button.button-secondary type="submit" { "Recover" }
            }
        }
    }
}

fn delete_form(dash: &Dash, path: &str, view: &View) -> Markup {
    html! {
        section #delete aria-labelledby="delete-title" {
            h2 #delete-title { "Delete" }
            @if let Some(m) = view.error_of(Part::Delete) { (layout::notice(true, m)) }
            form.stack.card method="post" action=(format!("{path}/delete")) {
                (csrf::field(dash.csrf()))
                div.check {
                    input #delete-confirm type="checkbox" name="confirm" value="yes" required;
                    label for="delete-confirm" {
                        "Delete this endpoint, its subscriptions and its pending deliveries. This cannot be undone."
                    }
                }
                button.button.button-danger type="submit" { "Delete endpoint" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(5), "5 s");
        assert_eq!(duration(60), "1 min");
        assert_eq!(duration(90), "1 min 30 s");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(86_400), "24 h");
        assert_eq!(duration(5400), "1 h 30 min");
        assert_eq!(duration(604_800), "7 days");
    }

    #[test]
    fn datetime_local_values_are_read_as_utc() {
        let t = parse_local_utc("since", "2026-02-01T09:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-02-01T09:30:00.000Z");
        let t = parse_local_utc("since", "2026-02-01T09:30:15").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-02-01T09:30:15.000Z");
        assert_eq!(local_utc(t), "2026-02-01T09:30");
        let err = parse_local_utc("until", "yesterday").unwrap_err();
        assert!(err.message.contains("until"), "{}", err.message);
    }

    #[test]
    fn only_known_notices_are_shown() {
        assert_eq!(
            done_notice("recovered", Some(3)).as_deref(),
            Some("3 failed deliveries requeued.")
        );
        assert!(done_notice("<script>", None).is_none());
    }
}
