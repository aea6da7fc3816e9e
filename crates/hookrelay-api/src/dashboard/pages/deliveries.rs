//! Delivery history: the list (newest first; filtered by endpoint, event
//! type, status and time range through the same query parameters and
//! mapping as `GET /webhook_deliveries`; paged by cursor both ways, every
//! link carrying the filters), a delivery's own page (the delivery, its
//! event's payload, every attempt with its request and response), and its
//! Retry action (the deliveries service's manual retry, as
//! `POST /webhook_deliveries/{id}/retry`).
//!
//! Each page is a few indexed reads: one page of the list (a time range is
//! an id range in the store), the workspace's endpoints for the filter and
//! the names, or one delivery with its attempts and event.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use hookrelay_core::cursor::{self, SortDir};
use hookrelay_core::ids::{DeliveryId, EndpointId};
use hookrelay_core::model::{Attempt, Delivery, DeliveryStatus, Endpoint};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{EndpointFilter, PageRequest};
use maud::{html, Markup};
use serde::Deserialize;

use super::workspaces::after;
use crate::dashboard::csrf;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::session::{see_other, Dash, Write};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::deliveries::{load_detail, DeliveryDetail, DeliveryQuery};
use crate::AppState;

const PATH: &str = "/dashboard/deliveries";
const PAGE_SIZE: u32 = 25;
/// The most of a body or payload a page shows (history keeps no more of a
/// response body than this anyway).
const SHOWN_BYTES: usize = 16 * 1024;
/// The statuses the filter offers, in the order shown.
const STATUSES: [DeliveryStatus; 4] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Succeeded,
    DeliveryStatus::Failed,
    DeliveryStatus::Cancelled,
];

/// Where a delivery's page is.
pub(crate) fn href(id: &DeliveryId) -> String {
    format!("{PATH}/{id}")
}

fn endpoint_href(id: &EndpointId) -> String {
    format!("/dashboard/endpoints/{id}")
}

/// The history's query string: the API's delivery filters (times may also
/// be `datetime-local` values, read as UTC) and a page token, `after`
/// (older than) or `before` (newer than).
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    #[serde(flatten)]
    filter: DeliveryQuery,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    before: Option<String>,
}

/// A time from the filter form: a `datetime-local` value
/// (`2026-02-09T10:30`, seconds optional) read as UTC, or an RFC 3339 time
/// (a link made elsewhere).
fn form_time(v: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(v)
        .or_else(|| Timestamp::parse_rfc3339(&format!("{v}Z")))
        .or_else(|| Timestamp::parse_rfc3339(&format!("{v}:00Z")))
}

/// `t` as a `datetime-local` input shows it: UTC, to the minute, or to the
/// second when it has seconds.
fn local_value(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    let end = if s.get(16..19) == Some(":00") { 16 } else { 19 };
    s.get(..end).unwrap_or(&s).to_owned()
}

/// The filters as the form shows them and links carry them; empty means
/// not set.
#[derive(Debug, Default)]
struct Filters {
    endpoint: String,
    event_id: String,
    event_type: String,
    status: String,
    since: String,
    until: String,
}

impl Filters {
    /// Resolves the form's times; returns the filters as shown, the query
    /// for the store's filter (times in RFC 3339), and why a time was
    /// refused, if one was.
    fn read(q: &DeliveryQuery) -> (Self, DeliveryQuery, Option<String>) {
        let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_owned();
        let mut shown = Filters {
            endpoint: text(&q.webhook_endpoint_id),
            event_id: text(&q.event_id),
            event_type: text(&q.event_type),
            status: text(&q.status),
            since: text(&q.since),
            until: text(&q.until),
        };
        let mut query = q.clone();
        let mut error = None;
        for (label, raw, slot) in [
            ("From", &mut shown.since, &mut query.since),
            ("To", &mut shown.until, &mut query.until),
        ] {
            if raw.is_empty() {
                *slot = None;
                continue;
            }
            match form_time(raw) {
                Some(t) => {
                    *raw = local_value(t);
                    *slot = Some(t.to_rfc3339());
                }
                None => {
                    error.get_or_insert(format!(
                        "{label}: enter a date and time (UTC), such as 2026-02-09T10:30."
                    ));
                    *slot = None;
                }
            }
        }
        (shown, query, error)
    }

    /// The history's address with these filters and `extra` (a page token).
    fn href(&self, extra: Option<(&str, &str)>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("webhookEndpointId", &self.endpoint),
            ("eventId", &self.event_id),
            ("eventType", &self.event_type),
            ("status", &self.status),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some((k, v)) = extra {
            q.append_pair(k, v);
        }
        let q = q.finish();
        if q.is_empty() {
            PATH.to_owned()
        } else {
            format!("{PATH}?{q}")
        }
    }

    fn any(&self) -> bool {
        [
            &self.endpoint,
            &self.event_id,
            &self.event_type,
            &self.status,
            &self.since,
            &self.until,
        ]
        .iter()
        .any(|v| !v.is_empty())
    }
}

/// Every event type name deliveries can carry (each version's names), in
/// order, once each.
fn event_type_names(state: &AppState) -> Vec<String> {
    let catalog = &state.inner.catalog;
    let mut names: Vec<String> = catalog
        .versions()
        .iter()
        .flat_map(|v| {
            catalog
                .events_in(&v.name)
                .filter_map(|e| catalog.rendered_name(&e.event_type, &v.name))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The workspace's live endpoints (as many as a workspace may have), by
/// name: one read of the `(workspace_id, id)` index.
async fn endpoints(state: &AppState, dash: &Dash) -> ApiResult<Vec<Endpoint>> {
    let page = PageRequest {
        limit: state.inner.config.max_endpoints_per_workspace.max(1),
        after: None,
        dir: SortDir::Asc,
    };
    let mut list = state
        .inner
        .store
        .list_endpoints(dash.workspace_id(), &EndpointFilter::default(), &page)
        .await?
        .items;
    list.sort_by_cached_key(|e| (e.name.to_lowercase(), e.id.clone()));
    Ok(list)
}

/// One page of the list, newest first, and the tokens of the pages next to
/// it: `before` (newer records) and `after` (older ones).
struct Shown {
    /// Not the first page.
    later: bool,
    items: Vec<Delivery>,
    newer: Option<String>,
    older: Option<String>,
}

async fn read_page(
    state: &AppState,
    dash: &Dash,
    filter: &hookrelay_store::DeliveryFilter,
    q: &HistoryQuery,
) -> ApiResult<Shown> {
    let older_than = after(q.after.as_deref(), SortDir::Desc)?;
    let newer_than = match older_than {
        Some(_) => None,
        None => after(q.before.as_deref(), SortDir::Asc)?,
    };
    let (dir, from) = match (older_than, newer_than) {
        (Some(id), _) => (SortDir::Desc, Some(id)),
        (None, Some(id)) => (SortDir::Asc, Some(id)),
        (None, None) => (SortDir::Desc, None),
    };
    let later = from.is_some();
    let page = PageRequest {
        limit: PAGE_SIZE,
        after: from,
        dir,
    };
    let list = state
        .inner
        .store
        .list_deliveries(dash.workspace_id(), filter, &page)
        .await?;
    let mut items = list.items;
    let first_token = |items: &[Delivery]| {
        items
            .first()
            .map(|d| cursor::encode(d.id.as_str(), SortDir::Asc))
    };
    let last_token = |items: &[Delivery]| {
        items
            .last()
            .map(|d| cursor::encode(d.id.as_str(), SortDir::Desc))
    };
    Ok(match dir {
        SortDir::Desc => Shown {
            later,
            newer: if later { first_token(&items) } else { None },
            older: list.next.as_ref().and_then(|_| last_token(&items)),
            items,
        },
        SortDir::Asc => {
            // Read oldest first from the cursor up; shown newest first. The
            // cursor's own record is older, so an older page exists.
            items.reverse();
            Shown {
                later,
                newer: list.next.as_ref().and_then(|_| first_token(&items)),
                older: last_token(&items),
                items,
            }
        }
    })
}

/// `GET /dashboard/deliveries`.
pub async fn list(
    State(state): State<AppState>,
    dash: Dash,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Response> {
    let (shown, query, time_error) = Filters::read(&q.filter);
    let endpoints = endpoints(&state, &dash).await?;
    // A filter the form could not have sent (a bad time or status) is shown
    // with the form, so it can be corrected; an id that cannot be ours
    // matches nothing.
    let (filter, error) = match time_error {
        Some(e) => (None, Some(e)),
        None => match query.filter() {
            Ok(f) => (f, None),
            Err(e) if e.status.is_client_error() => (None, Some(e.message.clone())),
            Err(e) => return Err(e),
        },
    };
    let page = match (&filter, &error) {
        (_, Some(_)) => None,
        (Some(f), None) => Some(read_page(&state, &dash, f, &q).await?),
        (None, None) => Some(Shown {
            later: false,
            items: Vec::new(),
            newer: None,
            older: None,
        }),
    };
    let by_id: HashMap<&EndpointId, &Endpoint> = endpoints.iter().map(|e| (&e.id, e)).collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = html! {
        h1 { "Deliveries" }
        (filter_form(&state, &shown, &endpoints))
        @if let Some(e) = &error { (layout::notice(true, e)) }
        @if let Some(page) = &page {
            @if page.items.is_empty() {
                div.table-wrap {
                    p.empty {
                        @if shown.any() { "No deliveries match these filters." }
                        @else { "No deliveries yet." }
                    }
                }
            } @else {
                div.table-wrap {
                    table.cards {
                        caption.visually-hidden { "Deliveries, newest first" }
                        thead { tr {
                            th scope="col" { "Created" }
                            th scope="col" { "Event type" }
                            th scope="col" { "Endpoint" }
                            th scope="col" { "Status" }
                            th scope="col" { "Attempts" }
                            th scope="col" { "Next attempt" }
                        } }
                        tbody {
                            @for d in &page.items {
                                tr {
                                    th scope="row" {
                                        a href=(href(&d.id)) { (layout::time_secs(d.created_at)) }
                                    }
                                    td data-label="Event type" {
                                        code { (d.event_type) }
                                        @if d.test { " " span.badge { "test" } }
                                    }
                                    td data-label="Endpoint" { (endpoint_cell(&state, &by_id, &d.endpoint_id)) }
                                    td data-label="Status" { (layout::delivery_badge(d.status)) }
                                    td.nowrap data-label="Attempts" { (d.attempt_count) }
                                    td.nowrap data-label="Next attempt" {
                                        @match (d.status, d.next_attempt_at) {
                                            (DeliveryStatus::Pending, Some(t)) => { (layout::time_secs(t)) }
                                            _ => { span.muted { "—" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @let newest = page.later.then(|| shown.href(None));
            (layout::pager_links(
                newest.as_deref(),
                page.newer.as_deref().map(|t| shown.href(Some(("before", t)))).as_deref(),
                page.older.as_deref().map(|t| shown.href(Some(("after", t)))).as_deref(),
            ))
        }
    };
    Ok(layout::html(
        status,
        layout::page("Deliveries", &dash.chrome(Nav::Deliveries), body),
    ))
}

/// An endpoint's name linked to its page; an endpoint no longer there
/// (deleted) by its id.
fn endpoint_cell(
    state: &AppState,
    by_id: &HashMap<&EndpointId, &Endpoint>,
    id: &EndpointId,
) -> Markup {
    let name = by_id
        .get(id)
        .map(|e| e.name.clone())
        .or_else(|| state.inner.directory.endpoint(id).map(|e| e.name.clone()));
    html! {
        @match name {
            Some(name) => { a href=(endpoint_href(id)) { (name) } }
            None => { code { (id) } " " span.muted { "(deleted)" } }
        }
    }
}

fn filter_form(state: &AppState, shown: &Filters, endpoints: &[Endpoint]) -> Markup {
    let types = event_type_names(state);
    let known_endpoint =
        shown.endpoint.is_empty() || endpoints.iter().any(|e| e.id.as_str() == shown.endpoint);
    let known_type = shown.event_type.is_empty() || types.contains(&shown.event_type);
    html! {
        form.filters.card method="get" action=(PATH) aria-label="Filter deliveries" {
            @if !shown.event_id.is_empty() {
                input type="hidden" name="eventId" value=(shown.event_id);
            }
            div.field {
                label for="f-endpoint" { "Endpoint" }
                select #f-endpoint name="webhookEndpointId" {
                    option value="" { "All endpoints" }
                    @for e in endpoints {
                        option value=(e.id) selected[e.id.as_str() == shown.endpoint] { (e.name) }
                    }
                    @if !known_endpoint {
                        option value=(shown.endpoint) selected { (shown.endpoint) }
                    }
                }
            }
            div.field {
                label for="f-type" { "Event type" }
                select #f-type name="eventType" {
                    option value="" { "All event types" }
                    @for t in &types {
                        option value=(t) selected[*t == shown.event_type] { (t) }
                    }
                    @if !known_type {
                        option value=(shown.event_type) selected { (shown.event_type) }
                    }
                }
            }
            div.field {
                label for="f-status" { "Status" }
                select #f-status name="status" {
                    option value="" { "Any status" }
                    @for s in STATUSES {
                        option value=(s.as_str()) selected[s.as_str() == shown.status] { (s.as_str()) }
                    }
                }
            }
            div.field {
                label for="f-since" { "From (UTC)" }
                input #f-since type="datetime-local" name="since" step="1" value=(shown.since)
                    aria-describedby="f-time-hint";
            }
            div.field {
                label for="f-until" { "To (UTC)" }
                input #f-until type="datetime-local" name="until" step="1" value=(shown.until)
                    aria-describedby="f-time-hint";
            }
            div.filter-actions {
                button.button type="submit" { "Filter" }
                @if shown.any() {
                    a.button.button-secondary href=(PATH) { "Clear" }
                }
            }
            p #f-time-hint .hint.filter-hint {
                "Times are in UTC: from is inclusive, to is exclusive."
                @if !shown.event_id.is_empty() {
                    " Showing the deliveries of event " code { (shown.event_id) } "."
                }
            }
        }
    }
}

/// The first [`SHOWN_BYTES`] of `s` (cut at a character boundary), and
/// whether that is less than all of it.
fn clip(s: &str) -> (&str, bool) {
    if s.len() <= SHOWN_BYTES {
        return (s, false);
    }
    let mut end = SHOWN_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// Valid JSON laid out with two-space indents, its keys, strings and
/// numbers exactly as they were (re-encoding would reorder keys and respell
/// numbers).
fn pretty_json(json: &str) -> String {
    fn newline(out: &mut String, depth: usize) {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
    let mut out = String::with_capacity(json.len() + json.len() / 2);
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(char::is_ascii_whitespace) {
                    chars.next();
                }
                match chars.peek() {
                    Some(&close @ ('}' | ']')) => {
                        chars.next();
                        out.push(close);
                    }
                    _ => {
                        depth += 1;
                        newline(&mut out, depth);
                    }
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// A body in a scrollable block (at most [`SHOWN_BYTES`] of it); laid out
/// when `json` and it is whole, valid JSON. `label` names the block for
/// screen readers.
fn body_block(label: &str, body: &str, json: bool) -> Markup {
    let (shown, clipped) = clip(body);
    let valid = || serde_json::from_str::<serde::de::IgnoredAny>(shown).is_ok();
    let text = if json && !clipped && valid() {
        pretty_json(shown)
    } else {
        shown.to_owned()
    };
    html! {
        @if body.is_empty() {
            p.muted { "Empty." }
        } @else {
            pre.body-block tabindex="0" aria-label=(label) { (text) }
            @if clipped {
                p.hint { "The first 16 KiB of " (body.len()) " bytes." }
            }
        }
    }
}

fn headers_table(caption: &str, headers: &[(String, String)]) -> Markup {
    html! {
        @if headers.is_empty() {
            p.muted { "None recorded." }
        } @else {
            div.table-wrap {
                table.kv {
                    caption.visually-hidden { (caption) }
                    tbody {
                        @for (name, value) in headers {
                            tr {
                                th scope="row" { code { (name) } }
                                td { code { (value) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An attempt's result as a badge: the response status, or the error kind.
fn attempt_badge(a: &Attempt) -> Markup {
    let text = match (a.response_status, a.error_kind) {
        (Some(s), _) => s.to_string(),
        (None, Some(k)) => k.as_str().to_owned(),
        (None, None) => "no response".to_owned(),
    };
    let class = if a.succeeded() {
        "badge badge-ok"
    } else {
        "badge badge-fail"
    };
    html! { span class=(class) { (text) } }
}

fn attempt_section(a: &Attempt, body: Option<&str>) -> Markup {
    let n = a.attempt_number;
    html! {
        section.card.attempt aria-labelledby=(format!("attempt-{n}")) {
            div.section-head {
                h3 #(format!("attempt-{n}")) { "Attempt " (n) }
                (attempt_badge(a))
            }
            dl.fields {
                dt { "Started" } dd { (layout::time_secs(a.started_at)) }
                dt { "Duration" } dd { (a.duration_ms) " ms" }
                dt { "Request URL" } dd { code { (a.request_url) } }
                dt { "Response status" }
                dd {
                    @match a.response_status {
                        Some(s) => { (s) }
                        None => { span.muted { "none" } }
                    }
                }
                @if a.error_kind.is_some() || a.error_message.is_some() {
                    dt { "Error" }
                    dd {
                        @if let Some(k) = a.error_kind { code { (k.as_str()) } }
                        @if let Some(m) = &a.error_message { " " (m) }
                    }
                }
            }
            h4 { "Request headers" }
            (headers_table(&format!("Request headers of attempt {n}"), &a.request_headers))
            h4 { "Request body" }
            @match body {
                Some(b) => { (body_block(&format!("Request body of attempt {n}"), b, false)) }
                None => { p.muted { "Not available: the event is no longer kept." } }
            }
            h4 { "Response headers" }
            (headers_table(&format!("Response headers of attempt {n}"), &a.response_headers))
            h4 { "Response body" }
            @match &a.response_body {
                Some(b) => { (body_block(&format!("Response body of attempt {n}"), b, false)) }
                None => { p.muted { "None." } }
            }
        }
    }
}

fn yes_no(v: bool) -> &'static str {
    if v {
        "yes"
    } else {
        "no"
    }
}

/// `GET /dashboard/deliveries/{id}`: another workspace's delivery is not
/// found, like an unknown one.
pub async fn detail(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let DeliveryDetail {
        delivery: d,
        attempts,
        event,
        body,
    } = load_detail(&state, dash.workspace_id(), &id).await?;
    let endpoint = state
        .inner
        .store
        .get_endpoint(dash.workspace_id(), &d.endpoint_id)
        .await?;
    let title = format!("Delivery of {}", d.event_type);
    let page = html! {
        p { a href=(PATH) { "← Deliveries" } }
        div.section-head {
            div.title-group {
                h1 { "Delivery of " code { (d.event_type) } }
                (layout::delivery_badge(d.status))
            }
            @if dash.can_write() {
                form.inline method="post" action=(format!("{}/retry", href(&d.id))) {
                    (csrf::field(dash.csrf()))
                    button.button type="submit" aria-describedby="retry-hint" { "Retry" }
                }
            }
        }
        @if dash.can_write() {
            p #retry-hint .hint {
                "Retry sends it again now, with a new timestamp and signature, whatever its status."
            }
        }
        div.card {
            dl.fields {
                dt { "ID" } dd { code { (d.id) } }
                dt { "Event" } dd { code { (d.event_id) } }
                dt { "Event type" } dd { code { (d.event_type) } }
                dt { "Endpoint" }
                dd {
                    @match &endpoint {
                        Some(e) => { a href=(endpoint_href(&e.id)) { (e.name) } " " code.muted { (e.id) } }
                        None => { code { (d.endpoint_id) } " " span.muted { "(deleted)" } }
                    }
                }
                dt { "API version" } dd { (d.api_version) }
                dt { "Status" } dd { (layout::delivery_badge(d.status)) }
                dt { "Attempts" } dd { (d.attempt_count) }
                dt { "Next attempt" }
                dd {
                    @match (d.status, d.next_attempt_at) {
                        (DeliveryStatus::Pending, Some(t)) => { (layout::time_secs(t)) }
                        _ => { span.muted { "none" } }
                    }
                }
                dt { "Created" } dd { (layout::time_secs(d.created_at)) }
                dt { "Test event" } dd { (yes_no(d.test)) }
                dt { "Sent by hand" }
                dd {
                    (yes_no(d.manual))
                    @if d.manual { span.muted { " (a retry or a recovery)" } }
                }
            }
        }
        section aria-labelledby="payload-title" {
            h2 #payload-title { "Event payload" }
            @match &event {
                Some(ev) => {
                    (body_block("Event payload", &ev.payload, true))
                    @if let Some(prev) = &ev.previous_data {
                        h3 { "Previous data" }
                        (body_block("Previous data", prev, true))
                    }
                }
                None => { p.muted { "The event is no longer kept." } }
            }
        }
        section aria-labelledby="attempts-title" {
            h2 #attempts-title { "Attempts (" (attempts.len()) ")" }
            @if attempts.is_empty() {
                p.muted { "No attempts yet." }
            }
            @for a in attempts.iter().rev() {
                (attempt_section(a, body.as_deref()))
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page(&title, &dash.chrome(Nav::Deliveries), page),
    ))
}

/// `POST /dashboard/deliveries/{id}/retry`: one manual attempt now, then
/// back to the delivery's page.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Write { dash, .. }: Write,
) -> ApiResult<Response> {
    let id = DeliveryId::parse(&id).ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    let now = state.inner.clock.now();
    state
        .inner
        .deliveries()
        .retry(dash.workspace_id(), &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook delivery"))?;
    Ok(see_other(&href(&id), []))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_laid_out_without_reordering_or_respelling() {
        let got = pretty_json(r#"{"z":1.50,"a":[1, {}, [ ],"x,{\"y\"}:"],"m":{"k":null}}"#);
        assert_eq!(
            got,
            "{\n  \"z\": 1.50,\n  \"a\": [\n    1,\n    {},\n    [],\n    \"x,{\\\"y\\\"}:\"\n  ],\n  \"m\": {\n    \"k\": null\n  }\n}"
        );
    }

    #[test]
    fn bodies_are_clipped_at_a_character_boundary() {
        let s = "é".repeat(SHOWN_BYTES);
        let (shown, clipped) = clip(&s);
        assert!(clipped && shown.len() <= SHOWN_BYTES && shown.len() >= SHOWN_BYTES - 1);
        assert_eq!(clip("short"), ("short", false));
    }

    #[test]
    fn form_times_are_utc() {
        let t = form_time("2026-02-09T10:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-02-09T10:30:00.000Z");
        assert_eq!(local_value(t), "2026-02-09T10:30");
        let t = form_time("2026-02-09T10:30:15").unwrap();
        assert_eq!(local_value(t), "2026-02-09T10:30:15");
        let t = form_time("2026-02-09T12:30:00+02:00").unwrap();
        assert_eq!(local_value(t), "2026-02-09T10:30");
        assert!(form_time("yesterday").is_none());
    }
}
