//! The dashboard's pages, one module each.
//!
//! Adding a page:
//! 1. A module here with a GET handler taking [`Dash`] (the session and its
//!    workspace; read only through `dash.workspace_id()`, so another
//!    workspace's ids answer 404 like unknown ones) that returns
//!    `layout::html(StatusCode::OK, layout::page(title, &dash.chrome(Nav::…), body))`.
//!    Errors are `ApiError`s: they become HTML pages of their status.
//! 2. Its actions: POST handlers taking [`Write`](super::session::Write)
//!    (it refuses read-only sessions and checks the form's CSRF token
//!    before the handler runs; a POST handler taking `Dash` fails). Forms
//!    carry `csrf::field(dash.csrf())` and are shown only when
//!    `dash.can_write()`; a handler answers with a 303 back
//!    (`session::see_other`), or with a page when it has something to
//!    show once (a new secret).
//! 3. Its routes in `super::router()`, under `/dashboard/…`.
//! 4. If it is a section of its own: a `Nav` variant and its entry in
//!    `layout::NAV`.

pub(super) mod deliveries;
pub(super) mod endpoint;
pub(super) mod endpoints;
pub(super) mod event_types;
pub(super) mod sign_in;
pub(super) mod workspaces;

use axum::response::Response;

use super::session::{see_other, Dash};

/// `GET /dashboard`: the first section (sign-in, or the workspace picker,
/// first if needed).
pub async fn home(_dash: Dash) -> Response {
    see_other("/dashboard/endpoints", [])
}
