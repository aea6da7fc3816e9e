//! The dashboard and customer portal: HTML pages under `/dashboard`,
//! rendered on the server (maud), every action a plain form POST answered
//! with a 303 back, so nothing needs JavaScript (one small script only
//! hides event checkboxes that do not apply to what is chosen, and loads
//! a test event type's example when one is picked).
//!
//! What each part owns:
//! - `session`: the sign-in session (a cookie holding a random token; the
//!   database keeps its SHA-256), idle and absolute expiry, and the
//!   extractors every page goes through: `session::Dash` for a page (GET)
//!   and `session::Write` for an action (POST: a session that may write
//!   and the form's CSRF token). A handler reads and writes only in the
//!   session's workspace.
//! - `csrf`: the tokens forms carry back (the session's own; before
//!   sign-in a double-submit cookie).
//! - `portal`: one-time links (`POST /portal_sessions`) and opening them.
//! - `layout`: the page around every page, the navigation and small
//!   shared pieces (badges, pagination, messages).
//! - `assets`: the stylesheet and script, embedded, served under names
//!   carrying a hash of their content, cached for a year.
//! - `chart`: the activity charts (inline SVG from the statistics
//!   rollup) the endpoints list and an endpoint's page show.
//! - `pages`: one module per page.
//!
//! `pages_layer` gives every answer under `/dashboard` its security
//! headers (a strict Content-Security-Policy: no inline script or style,
//! nothing from elsewhere; no framing; no referrer, since portal tokens
//! travel in URLs; `no-store` on pages) and renders errors (an
//! `ApiError` the answer carries) as HTML pages of the same status.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::limit::RateLimiter;
use crate::AppState;

pub(crate) mod assets;
pub(crate) mod chart;
pub(crate) mod csrf;
pub(crate) mod form;
pub(crate) mod layout;
mod pages;
pub(crate) mod portal;
pub(crate) mod session;

/// Where the dashboard lives.
pub const PREFIX: &str = "/dashboard";

/// Settings of the dashboard.
#[derive(Clone, Debug)]
pub struct DashboardConfig {
    /// A session ends after this long without a request (30 minutes).
    pub idle_timeout: Duration,
    /// …and this long after sign-in, however busy (12 hours). A portal
    /// session ends when its link would have expired.
    pub session_lifetime: Duration,
    /// Sign-in attempts a client address may make at once (10)…
    pub sign_in_burst: u32,
    /// …and then one more each this often (6 s).
    pub sign_in_every: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            sign_in_burst: 10,
            sign_in_every: Duration::from_secs(6),
        }
    }
}

/// The dashboard's state in one server: the sign-in attempts per client
/// address.
#[derive(Debug)]
pub struct DashboardState {
    pub(crate) sign_ins: RateLimiter,
}

impl DashboardState {
    pub fn new(config: &DashboardConfig) -> Self {
        Self {
            sign_ins: RateLimiter::refilling(config.sign_in_burst, config.sign_in_every),
        }
    }
}

impl Default for DashboardState {
    fn default() -> Self {
        Self::new(&DashboardConfig::default())
    }
}

/// Every dashboard route. A page is a GET handler taking
/// `session::Dash`; an action is a POST handler taking
/// `session::Write` (see `pages/mod.rs` for adding one).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(pages::home))
        .route(
            "/dashboard/login",
            get(pages::sign_in::form).post(pages::sign_in::submit),
        )
        .route("/dashboard/logout", post(pages::sign_in::sign_out))
        .route(
            "/dashboard/workspaces",
            get(pages::workspaces::picker).post(pages::workspaces::pick),
        )
        .route("/dashboard/portal/{token}", get(portal::open))
        .route(
            "/dashboard/endpoints",
            get(pages::endpoints::list).post(pages::endpoints::create),
        )
        .route(
            "/dashboard/endpoints/{id}",
            get(pages::endpoint::detail).post(pages::endpoint::update),
        )
        .route(
            "/dashboard/endpoints/{id}/status",
            post(pages::endpoint::set_status),
        )
        .route(
            "/dashboard/endpoints/{id}/subscriptions",
            post(pages::endpoint::subscribe),
        )
        .route(
            "/dashboard/endpoints/{id}/subscriptions/{sub}/delete",
            post(pages::endpoint::unsubscribe),
        )
        .route(
            "/dashboard/endpoints/{id}/secret/reveal",
            post(pages::endpoint::reveal_secret),
        )
        .route(
            "/dashboard/endpoints/{id}/secret/rotate",
            post(pages::endpoint::rotate_secret),
        )
        .route(
            "/dashboard/endpoints/{id}/test",
            post(pages::endpoint::send_test),
        )
        .route(
            "/dashboard/endpoints/{id}/recover",
            post(pages::endpoint::recover),
        )
        .route(
            "/dashboard/endpoints/{id}/delete",
            post(pages::endpoint::delete),
        )
        .route("/dashboard/deliveries", get(pages::deliveries::list))
        .route("/dashboard/deliveries/{id}", get(pages::deliveries::detail))
        .route(
            "/dashboard/deliveries/{id}/retry",
            post(pages::deliveries::retry),
        )
        .route("/dashboard/event-types", get(pages::event_types::list))
        .route("/dashboard/assets/{file}", get(assets::serve))
}

/// The Content-Security-Policy of every dashboard answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

fn is_dashboard(path: &str) -> bool {
    path == PREFIX
        || path
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Wraps every request; those under `/dashboard` get the security headers
/// and, when the answer is an error, an HTML page in place of the JSON body.
/// It sits outside the rate limiter, so the limiter's 429 becomes a page too.
pub(crate) async fn pages_layer(req: Request, next: Next) -> Response {
    if !is_dashboard(req.uri().path()) {
        return next.run(req).await;
    }
    let mut resp = next.run(req).await;
    if let Some(err) = resp.extensions_mut().remove::<ApiError>() {
        let mut page = layout::error_page(&err).into_response();
        for name in [header::RETRY_AFTER, header::SET_COOKIE] {
            for v in resp.headers().get_all(&name) {
                page.headers_mut().append(name.clone(), v.clone());
            }
        }
        if let Some(status) = err.rate_limit {
            status.write_headers(page.headers_mut());
        }
        resp = page;
    }
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_the_prefix_are_the_dashboards() {
        assert!(is_dashboard("/dashboard"));
        assert!(is_dashboard("/dashboard/"));
        assert!(is_dashboard("/dashboard/endpoints"));
        assert!(!is_dashboard("/dashboards"));
        assert!(!is_dashboard("/webhook_endpoints"));
    }
}
