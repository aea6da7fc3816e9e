//! The page around every dashboard page (header with the workspace, the
//! navigation, sign-out; a skip link; the stylesheet and script), the
//! navigation's entries, and small pieces pages share: status badges,
//! times, notices, pagination, error pages.
//!
//! Markup only: no inline `style` or `script` (the Content-Security-Policy
//! forbids both); looks live in `assets/style.css`.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use hookrelay_core::model::{DeliveryStatus, EndpointStatus};
use hookrelay_core::time::Timestamp;
use hookrelay_store::{DashboardSession, SessionKind, Workspace};
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::csrf;
use super::session::{Dash, PICKER};
use crate::error::{current_request_id, ApiError};

/// The product's name, as the header shows it.
pub const PRODUCT: &str = "hookrelay";

/// A section of the dashboard the navigation links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Endpoints,
    Deliveries,
    EventTypes,
}

/// The navigation, in order: `(section, label, path)`. A section gets its
/// entry when its page exists, so no link leads to a page not built yet.
pub const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Endpoints, "Endpoints", "/dashboard/endpoints"),
    (Nav::Deliveries, "Deliveries", "/dashboard/deliveries"),
    (Nav::EventTypes, "Event types", "/dashboard/event-types"),
];

/// What the header shows: who is signed in, where, and which section is
/// open.
#[derive(Debug, Clone, Copy)]
pub struct Chrome<'a> {
    pub session: &'a DashboardSession,
    /// `None` for an admin who has not picked a workspace.
    pub workspace: Option<&'a Workspace>,
    pub current: Option<Nav>,
}

impl Dash {
    /// The header of a page in section `current`.
    pub fn chrome(&self, current: Nav) -> Chrome<'_> {
        Chrome {
            session: &self.session,
            workspace: Some(&self.workspace),
            current: Some(current),
        }
    }
}

/// An HTML answer.
pub fn html(status: StatusCode, page: Markup) -> Response {
    (status, Html(page.into_string())).into_response()
}

fn head(title: &str, extra: Option<Markup>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · " (PRODUCT) }
            link rel="icon" href="data:,";
            link rel="stylesheet" href=(assets::STYLE.href());
            script src=(assets::SCRIPT.href()) defer {}
            @if let Some(extra) = extra { (extra) }
        }
    }
}

/// A page of a signed-in session: the header, then `content` (which starts
/// with the page's `h1`).
pub fn page(title: &str, chrome: &Chrome<'_>, content: Markup) -> Markup {
    let s = chrome.session;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.bar {
                        a.brand href="/dashboard" { (PRODUCT) }
                        @if let Some(ws) = chrome.workspace {
                            div.workspace {
                                span.workspace-name { (ws.name) }
                                code.workspace-id { (ws.id) }
                                @if s.read_only { span.badge.badge-muted { "read-only" } }
                                @if s.kind == SessionKind::Portal { span.badge.badge-muted { "portal" } }
                            }
                        }
                        @if chrome.workspace.is_some() {
                            nav.main-nav aria-label="Main" {
                                ul {
                                    @for (section, label, path) in NAV {
                                        li {
                                            @if chrome.current == Some(*section) {
                                                a href=(path) aria-current="page" { (label) }
                                            } @else {
                                                a href=(path) { (label) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        div.account {
                            @if s.kind == SessionKind::Admin {
                                a href=(PICKER) { "Switch workspace" }
                            }
                            form.inline method="post" action="/dashboard/logout" {
                                (csrf::field(s.csrf_token.expose()))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
            }
        }
    }
}

/// A page without a session's header: sign-in, errors, the portal's
/// hand-over. `refresh_to` sends the browser on to that path at once.
pub fn bare_page(title: &str, refresh_to: Option<&str>, content: Markup) -> Markup {
    let refresh = refresh_to.map(|to| {
        html! { meta http-equiv="refresh" content=(format!("0; url={to}")); }
    });
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, refresh))
            body.bare {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    div.bar { a.brand href="/dashboard" { (PRODUCT) } }
                }
                main #main.narrow tabindex="-1" { (content) }
            }
        }
    }
}

/// The HTML page of an error, same status.
pub fn error_page(err: &ApiError) -> Response {
    let title = match err.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::GONE => "This link no longer works",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::UNAUTHORIZED => "Sign-in needed",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    let request_id = current_request_id();
    let page = bare_page(
        title,
        None,
        html! {
            h1 { (title) }
            p.notice.notice-error role="alert" { (sentence(&err.message)) }
            @if let Some(after) = err.retry_after {
                p { "Try again in " (after) " s." }
            }
            p { a href="/dashboard" { "Back to the dashboard" } }
            @if !request_id.is_empty() {
                p.muted { "Request id: " code { (request_id) } }
            }
        },
    );
    html(err.status, page)
}

/// `message` with its first letter upper-case: API messages start in lower
/// case, which reads oddly alone on a page.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An endpoint's status as a badge.
pub fn status_badge(status: EndpointStatus) -> Markup {
    let class = match status {
        EndpointStatus::Enabled => "badge badge-ok",
        EndpointStatus::Disabled => "badge badge-off",
    };
    html! { span class=(class) { (status.as_str()) } }
}

/// A delivery's status as a badge.
pub fn delivery_badge(status: DeliveryStatus) -> Markup {
    let class = match status {
        DeliveryStatus::Pending => "badge badge-pending",
        DeliveryStatus::Succeeded => "badge badge-ok",
        DeliveryStatus::Failed => "badge badge-fail",
        DeliveryStatus::Cancelled => "badge badge-off",
    };
    html! { span class=(class) { (status.as_str()) } }
}

/// A time to the second in UTC, for records where seconds matter
/// (attempts), machine-readable in `datetime`.
pub fn time_secs(t: Timestamp) -> Markup {
    let full = t.to_rfc3339();
    let shown = format!("{} {} UTC", &full[..10], &full[11..19]);
    html! { time datetime=(full) { (shown) } }
}

/// A time, shown to the minute in UTC, machine-readable in `datetime`.
pub fn time(t: Timestamp) -> Markup {
    let full = t.to_rfc3339();
    let shown = format!("{} {} UTC", &full[..10], &full[11..16]);
    html! { time datetime=(full) { (shown) } }
}

/// A notice above a form or list: an error (announced) or a plain note.
pub fn notice(error: bool, text: &str) -> Markup {
    html! {
        @if error {
            p.notice.notice-error role="alert" { (text) }
        } @else {
            p.notice role="status" { (text) }
        }
    }
}

/// Forward pagination: a link to the next page (`?after=<token>`), and
/// back to the first from a later one.
pub fn pager(path: &str, on_later_page: bool, next: Option<&str>) -> Markup {
    html! {
        @if on_later_page || next.is_some() {
            nav.pager aria-label="Pages" {
                @if on_later_page { a href=(path) { "First page" } }
                @if let Some(token) = next {
                    a href=(format!("{path}?after={token}")) rel="next" { "Next page" }
                }
            }
        }
    }
}

/// Cursor pagination both ways, each link whole (it carries the list's
/// filters): back to the newest page, to newer records, to older ones.
pub fn pager_links(newest: Option<&str>, newer: Option<&str>, older: Option<&str>) -> Markup {
    html! {
        @if newest.is_some() || newer.is_some() || older.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(href) = newest { a href=(href) { "Newest" } }
                @if let Some(href) = newer { a href=(href) rel="prev" { "← Newer" } }
                @if let Some(href) = older { a href=(href) rel="next" { "Older →" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_minutes_in_utc() {
        let m = time(Timestamp(1_795_333_136_123)).into_string();
        assert_eq!(
            m,
            r#"<time datetime="2026-11-22T07:38:56.123Z">2026-11-22 07:38 UTC</time>"#
        );
    }

    #[test]
    fn error_messages_read_as_sentences() {
        assert_eq!(
            sentence("webhook endpoint not found"),
            "Webhook endpoint not found"
        );
        assert_eq!(sentence("Already one."), "Already one.");
        assert_eq!(sentence("ünicode"), "Ünicode");
        assert_eq!(sentence(""), "");
    }

    #[tokio::test]
    async fn error_pages_escape_the_message_and_keep_the_status() {
        let e = ApiError::not_found("<script>x</script>");
        let resp = error_page(&e);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("&lt;script&gt;x&lt;/script&gt; not found"),
            "{body}"
        );
        assert!(!body.contains("<script>x"), "{body}");
    }
}
