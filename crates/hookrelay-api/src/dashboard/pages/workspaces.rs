//! The org admin's workspace picker: a session signed in with the admin
//! key has no workspace until it picks one here, and may switch later.
//! Other sessions never see it (404).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use hookrelay_core::cursor::{self, SortDir};
use hookrelay_core::ids::WorkspaceId;
use hookrelay_store::{PageRequest, SessionKind};
use maud::html;
use serde::Deserialize;

use crate::dashboard::csrf;
use crate::dashboard::layout::{self, Chrome};
use crate::dashboard::session::{see_other, AdminPage, SessionForm};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::AppState;

const PAGE_SIZE: u32 = 50;
const PATH: &str = "/dashboard/workspaces";

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub(super) after: Option<String>,
}

/// A page token from `?after=` (400 if it is not one of ours).
pub(super) fn after(token: Option<&str>, dir: SortDir) -> ApiResult<Option<String>> {
    match token {
        None | Some("") => Ok(None),
        Some(t) => cursor::decode(t, dir).map(Some).ok_or_else(|| {
            ApiError::bad_request("invalid_page_token", "That page link is not valid.")
        }),
    }
}

/// `GET /dashboard/workspaces`.
pub async fn picker(
    State(state): State<AppState>,
    admin: AdminPage,
    Query(q): Query<PageQuery>,
) -> ApiResult<Response> {
    let page = PageRequest {
        limit: PAGE_SIZE,
        after: after(q.after.as_deref(), SortDir::Asc)?,
        dir: SortDir::Asc,
    };
    let later = page.after.is_some();
    let list = state.inner.store.list_workspaces(&page).await?;
    let next = list
        .next
        .as_deref()
        .map(|id| cursor::encode(id, SortDir::Asc));
    let current = admin.session.workspace_id.as_ref();
    let csrf = admin.session.csrf_token.expose();
    let body = html! {
        h1 { "Choose a workspace" }
        p.muted { "Signed in with the org admin key: pick the workspace to manage. You can switch at any time." }
        @if list.items.is_empty() {
            div.table-wrap { p.empty { "There are no workspaces yet." } }
        } @else {
            div.table-wrap {
                table.cards {
                    caption.visually-hidden { "Workspaces" }
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "ID" }
                        th scope="col" { "Created" }
                        th scope="col" { span.visually-hidden { "Action" } }
                    } }
                    tbody {
                        @for ws in &list.items {
                            tr {
                                th scope="row" { (ws.name) }
                                td data-label="ID" { code { (ws.id) } }
                                td.nowrap data-label="Created" { (layout::time(ws.created_at)) }
                                td.nowrap {
                                    @if current == Some(&ws.id) {
                                        span.badge.badge-ok { "current" }
                                    } @else {
                                        form.inline method="post" action=(PATH) {
                                            (csrf::field(csrf))
                                            input type="hidden" name="workspace" value=(ws.id);
                                            button.button.button-secondary type="submit"
                                                aria-label=(format!("Open {}", ws.name)) { "Open" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (layout::pager(PATH, later, next.as_deref()))
        }
    };
    let chrome = Chrome {
        session: &admin.session,
        workspace: admin.workspace.as_ref(),
        current: None,
    };
    Ok(layout::html(
        StatusCode::OK,
        layout::page("Choose a workspace", &chrome, body),
    ))
}

/// `POST /dashboard/workspaces`: the admin session now works in the chosen
/// workspace.
pub async fn pick(
    State(state): State<AppState>,
    SessionForm { session, form }: SessionForm,
) -> ApiResult<Response> {
    if session.kind != SessionKind::Admin {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            "no such page",
        ));
    }
    let ws = WorkspaceId::parse(&form.text("workspace"))
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    if state.inner.store.get_workspace(&ws).await?.is_none() {
        return Err(ApiError::not_found("workspace"));
    }
    if !state
        .inner
        .store
        .set_dashboard_session_workspace(&session.token_hash, &ws)
        .await?
    {
        return Err(ApiError::not_found("session"));
    }
    Ok(see_other("/dashboard/endpoints", []))
}
