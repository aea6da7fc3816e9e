//! Endpoints: the list (newest first, a page at a time, each with its
//! attempts and success rate of the last 24 hours) under the workspace's
//! activity charts, and the form that creates one (through the same checks
//! as `POST /webhook_endpoints`) and then shows its signing secret once. An endpoint's own page is
//! `super::endpoint`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use hookrelay_core::cursor::{self, SortDir};
use hookrelay_core::ids::EndpointId;
use hookrelay_core::model::{Endpoint, SignatureScheme};
use hookrelay_store::{EndpointFilter, PageRequest, Totals};
use maud::{html, Markup};

use super::workspaces::{after, PageQuery};
use crate::dashboard::chart::{self, Range};
use crate::dashboard::csrf;
use crate::dashboard::form::Form;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::session::{Dash, Write};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::endpoints::{create_endpoint, CreateBody};
use crate::AppState;

const PAGE_SIZE: u32 = 25;
const PATH: &str = "/dashboard/endpoints";

/// Where an endpoint's page is.
fn href(e: &Endpoint) -> String {
    format!("{PATH}/{}", e.id)
}

/// What the new-endpoint form holds: blank, or as submitted (with why it
/// was refused).
#[derive(Debug, Default)]
struct NewForm {
    url: String,
    name: String,
    api_version: String,
    events: Vec<String>,
    scheme: String,
    error: Option<String>,
}

impl NewForm {
    fn blank(state: &AppState) -> Self {
        Self {
            api_version: state.inner.catalog.current_version().to_owned(),
            scheme: SignatureScheme::Extend.as_str().to_owned(),
            ..Self::default()
        }
    }

    /// The fields as submitted; the events are those ticked for the chosen
    /// API version (each version has its own checkboxes).
    fn submitted(form: &Form) -> Self {
        let api_version = form.text("apiVersion");
        let events = form
            .all(&format!("event:{api_version}"))
            .map(str::to_owned)
            .collect();
        Self {
            url: form.text("url"),
            name: form.text("name"),
            events,
            api_version,
            scheme: form.text("signatureScheme"),
            error: None,
        }
    }
}

/// What else the list's query string may carry: `done=deleted` after an
/// endpoint's page deleted it (a notice), and the activity chart's window
/// (`range`, see `chart::Range`).
#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    range: Option<String>,
}

/// The window of the list's volume and success-rate columns.
const TOTALS_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// `GET /dashboard/endpoints`.
pub async fn list(
    State(state): State<AppState>,
    dash: Dash,
    Query(q): Query<PageQuery>,
    Query(d): Query<DoneQuery>,
) -> ApiResult<Response> {
    let range = Range::parse(d.range.as_deref());
    let mut body = list_body(
        &state,
        &dash,
        q.after.as_deref(),
        range,
        &NewForm::blank(&state),
    )
    .await?;
    if d.done.as_deref() == Some("deleted") {
        body = html! { (layout::notice(false, "Endpoint deleted.")) (body) };
    }
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Endpoints", &dash.chrome(Nav::Endpoints), body),
    ))
}

async fn list_body(
    state: &AppState,
    dash: &Dash,
    after_token: Option<&str>,
    range: Range,
    new: &NewForm,
) -> ApiResult<Markup> {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after: after(after_token, SortDir::Desc)?,
        dir: SortDir::Desc,
    };
    let later = page.after.is_some();
    let list = state
        .inner
        .store
        .list_endpoints(dash.workspace_id(), &EndpointFilter::default(), &page)
        .await?;
    let next = list
        .next
        .as_deref()
        .map(|id| cursor::encode(id, SortDir::Desc));
    // Two reads of the rollup, whatever the number of endpoints: the
    // chart's buckets and every endpoint's totals of the last day.
    let store = &state.inner.store;
    let now = state.inner.clock.now();
    let (since, until) = range.span(now);
    let buckets = store
        .stats(dash.workspace_id(), None, since, until, range.bucket())
        .await?;
    let totals: HashMap<EndpointId, Totals> = store
        .endpoint_totals(dash.workspace_id(), now.plus_millis(-TOTALS_WINDOW_MS), now)
        .await?
        .into_iter()
        .collect();
    Ok(html! {
        div.section-head {
            h1 { "Endpoints" }
            @if dash.can_write() {
                a.button href="#new-endpoint" { "New endpoint" }
            }
        }
        section.activity #workspace-chart aria-labelledby="activity-title" {
            (chart::activity(PATH, "this workspace", range, &buckets))
        }
        @if list.items.is_empty() && !later {
            div.table-wrap {
                p.empty {
                    "No endpoints yet."
                    @if dash.can_write() { " Create one with the form below." }
                }
            }
        } @else {
            div.table-wrap {
                table.cards {
                    caption.visually-hidden { "Endpoints, newest first" }
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "URL" }
                        th scope="col" { "Status" }
                        th scope="col" { "API version" }
                        th scope="col" { "Signature profile" }
                        th scope="col" { "Created" }
                        th.num scope="col" { "24 h volume" }
                        th.num scope="col" { "Success rate" }
                    } }
                    tbody {
                        @for e in &list.items {
                            tr {
                                th scope="row" { a href=(href(e)) { (e.name) } }
                                td.url data-label="URL" { code { (e.url.as_str()) } }
                                td data-label="Status" { (layout::status_badge(e.status)) }
                                td.nowrap data-label="API version" { (e.api_version.as_str()) }
                                td.nowrap data-label="Profile" { (e.signature_scheme.as_str()) }
                                td.nowrap data-label="Created" { (layout::time(e.created_at)) }
                                @let t = totals.get(&e.id).filter(|t| t.attempts() > 0);
                                td.num data-label="24 h volume" {
                                    (t.map_or("—".into(), |t| chart::count(t.attempts())))
                                }
                                td.num data-label="Success rate" {
                                    (t.and_then(Totals::success_rate).map_or("—".into(), chart::percent))
                                }
                            }
                        }
                    }
                }
            }
            (layout::pager(PATH, later, next.as_deref()))
        }
        @if dash.can_write() {
            (new_form(state, dash, new))
        }
    })
}

/// The global events of API version `version`, by their names in it, once
/// each: what an endpoint of that version may enable.
pub(super) fn global_event_names(state: &AppState, version: &str) -> Vec<String> {
    let catalog = &state.inner.catalog;
    let mut names: Vec<String> = Vec::new();
    for e in catalog.events_in(version).filter(|e| e.global) {
        if let Some(n) = catalog.rendered_name(&e.event_type, version) {
            if !names.iter().any(|x| x == n) {
                names.push(n.to_owned());
            }
        }
    }
    names
}

/// The global events of each API version, by their names in it, once each.
fn events_by_version(state: &AppState) -> Vec<(String, Vec<String>)> {
    state
        .inner
        .catalog
        .versions()
        .iter()
        .map(|v| (v.name.clone(), global_event_names(state, &v.name)))
        .filter(|(_, names)| !names.is_empty())
        .collect()
}

fn new_form(state: &AppState, dash: &Dash, new: &NewForm) -> Markup {
    let versions = state.inner.catalog.versions();
    html! {
        section #new-endpoint aria-labelledby="new-endpoint-title" {
            h2 #new-endpoint-title { "New endpoint" }
            @if let Some(e) = &new.error { (layout::notice(true, e)) }
            form.stack.card method="post" action=(PATH) {
                (csrf::field(dash.csrf()))
                div.field {
                    label for="url" { "URL" }
                    input #url type="url" name="url" value=(new.url) required
                        placeholder="https://example.com/webhooks" aria-describedby="url-hint";
                    p #url-hint .hint { "Where deliveries are POSTed." }
                }
                div.field {
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(new.name) required maxlength="256";
                }
                div.field {
                    label for="apiVersion" { "API version" }
                    select #apiVersion name="apiVersion" {
                        @for v in versions {
                            option value=(v.name) selected[v.name == new.api_version] { (v.name) }
                        }
                    }
                }
                @for (vi, (version, names)) in events_by_version(state).iter().enumerate() {
                    fieldset data-version=(version) {
                        legend { "Events for API version " (version) }
                        div.checks {
                            @for (i, name) in names.iter().enumerate() {
                                @let id = format!("ev-{vi}-{i}");
                                @let on = *version == new.api_version && new.events.contains(name);
                                div.check {
                                    input id=(id) type="checkbox" name=(format!("event:{version}"))
                                        value=(name) checked[on];
                                    label for=(id) { code { (name) } }
                                }
                            }
                        }
                    }
                }
                div.field {
                    label for="signatureScheme" { "Signature profile" }
                    select #signatureScheme name="signatureScheme" aria-describedby="scheme-hint" {
                        @for s in SignatureScheme::ALL {
                            option value=(s.as_str()) selected[s.as_str() == new.scheme] { (s.as_str()) }
                        }
                    }
                    p #scheme-hint .hint { "How deliveries are signed; it cannot change later." }
                }
                button.button type="submit" { "Create endpoint" }
            }
        }
    }
}

/// `POST /dashboard/endpoints`: creates the endpoint and answers with its
/// signing secret (shown on this page only; the secret is not kept for a
/// redirect). A refused form is shown again, as filled in, with why.
pub async fn create(
    State(state): State<AppState>,
    Write { dash, form }: Write,
) -> ApiResult<Response> {
    let mut new = NewForm::submitted(&form);
    let created = match new.scheme.parse::<SignatureScheme>() {
        Ok(scheme) => {
            let body = CreateBody {
                url: new.url.clone(),
                name: new.name.clone(),
                enabled_events: new.events.clone(),
                api_version: new.api_version.clone(),
                signature_scheme: Some(scheme),
                ..CreateBody::default()
            };
            create_endpoint(&state, dash.workspace_id(), dash.created_by(), body).await
        }
        Err(_) => Err(ApiError::bad_request(
            "invalid_request",
            "Choose a signature profile from the list.",
        )),
    };
    let endpoint = match created {
        Ok(e) => e,
        Err(err) if err.status.is_client_error() => {
            new.error = Some(err.message.clone());
            let body = list_body(&state, &dash, None, Range::Day, &new).await?;
            return Ok(layout::html(
                err.status,
                layout::page("Endpoints", &dash.chrome(Nav::Endpoints), body),
            ));
        }
        Err(err) => return Err(err),
    };
    let body = html! {
        h1 { "Endpoint created" }
        (layout::notice(false, "Copy the signing secret now: this page shows it once."))
        div.card {
            dl.fields {
                dt { "Name" } dd { (endpoint.name) }
                dt { "URL" } dd { code { (endpoint.url.as_str()) } }
                dt { "Signing secret" }
                dd { code.secret { (endpoint.secrets.secret.expose()) } }
            }
        }
        p.actions {
            a.button href=(href(&endpoint)) { "View endpoint" }
            " "
            a.button.button-secondary href=(PATH) { "Back to endpoints" }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Endpoint created", &dash.chrome(Nav::Endpoints), body),
    ))
}
