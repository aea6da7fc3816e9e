//! The event-type catalog of one API version (chosen with a GET form; the
//! current version first): each type's name in that version, description,
//! where it goes and its example payload, from the same view as
//! `GET /event_types?apiVersion=`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use crate::dashboard::layout::{self, Nav};
use crate::dashboard::session::Dash;
use crate::error::ApiResult;
use crate::extract::Query;
use crate::routes::catalog::version_param;
use crate::{views, AppState};

const PATH: &str = "/dashboard/event-types";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionQuery {
    #[serde(default)]
    api_version: Option<String>,
}

/// `GET /dashboard/event-types[?apiVersion=]`: a version not in the catalog
/// is a 400 page.
pub async fn list(
    State(state): State<AppState>,
    dash: Dash,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Response> {
    let catalog = &state.inner.catalog;
    let asked = q
        .api_version
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| catalog.current_version().to_owned());
    let version = version_param(catalog, &asked)?;
    let list = views::event_types(catalog, &version);
    let current = catalog.current_version();
    let body = html! {
        h1 { "Event types" }
        form.filters.card method="get" action=(PATH) aria-label="Choose an API version" {
            div.field {
                label for="version" { "API version" }
                select #version name="apiVersion" {
                    @for v in catalog.versions() {
                        option value=(v.name) selected[v.name == version.as_str()] {
                            (v.name)
                            @if v.name == current { " (current)" }
                        }
                    }
                }
            }
            div.filter-actions {
                button.button type="submit" { "Show" }
            }
        }
        @if let Some(info) = catalog.version(version.as_str()) {
            @if !info.description.is_empty() { p.muted { (info.description) } }
        }
        p { (list.data.len()) " event types in API version " strong { (version.as_str()) } "." }
        @for (i, t) in list.data.iter().enumerate() {
            @let id = format!("type-{i}");
            section.card.event-type aria-labelledby=(id) {
                div.section-head {
                    h2 #(id) { code { (t.name) } }
                    span {
                        @if t.global {
                            span.badge { "global" }
                        }
                        @for r in &t.resource_types {
                            " " span.badge { "per " (r.as_str()) }
                        }
                    }
                }
                @if t.canonical_name != t.name {
                    p.hint { "Canonical name " code { (t.canonical_name) } }
                }
                @if !t.description.is_empty() { p { (t.description) } }
                h3 { "Example payload" }
                pre.body-block tabindex="0" aria-label=(format!("Example payload of {}", t.name)) {
                    (serde_json::to_string_pretty(&t.example_payload).unwrap_or_default())
                }
            }
        }
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Event types", &dash.chrome(Nav::EventTypes), body),
    ))
}
